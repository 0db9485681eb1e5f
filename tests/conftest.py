"""Fixtures for every test, and the kind of each test by its folder.

tests/unit         pure code, no processes: runs in seconds (`pytest tests/unit`)
tests/integration  real relay, redis-server, kernels and servers as child processes
tests/e2e          Debian's chromium driving the app through Playwright

Helpers shared with the benchmarks live in tests/support; tests import them from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import RedisProcess, RelayProcess, require_binary

KINDS = ("unit", "integration", "e2e")
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path).resolve()
        kind = path.relative_to(HERE).parts[0] if HERE in path.parents else None
        if kind in KINDS:
            item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture
def relay() -> Iterator[RelayProcess]:
    server = RelayProcess().start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisProcess]:
    server = RedisProcess(require_binary("redis-server"), tmp_path)
    yield server
    server.stop()
