"""Fixtures for every test, and the kind of each test by its folder.

tests/unit         pure code, no processes: runs in seconds (`pytest tests/unit`)
tests/integration  real relay, redis-server, kernels and servers as child processes
tests/e2e          Debian's chromium driving the app through Playwright

Helpers shared with the benchmarks live in tests/support; tests import them from there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import RedisProcess, RelayProcess, require_binary

KINDS = ("unit", "integration", "e2e")
HERE = Path(__file__).resolve().parent


def pytest_addoption(parser):
    parser.addoption("--relay-transport", choices=("lean", "stock"), default=None,
                     help="run every relay these tests start on this transport "
                          "(default: the relay's own default, lean)")


def pytest_configure(config):
    transport = config.getoption("--relay-transport")
    if transport:   # relay processes inherit the environment
        os.environ["ECC_RELAY_TRANSPORT"] = transport


def pytest_collection_modifyitems(config, items: list[pytest.Item]) -> None:
    stock = os.environ.get("ECC_RELAY_TRANSPORT", "lean") != "lean"
    skip = pytest.mark.skip(reason="about the lean transport (relay.transport)")
    for item in items:
        path = Path(item.path).resolve()
        kind = path.relative_to(HERE).parts[0] if HERE in path.parents else None
        if kind in KINDS:
            item.add_marker(getattr(pytest.mark, kind))
        if stock and "lean_transport" in item.keywords:
            item.add_marker(skip)


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


@pytest.fixture
def sessions() -> Iterator[list]:
    """Sessions a test makes (append them); each is closed after the test, pass or fail."""
    made: list = []
    yield made
    for s in made:
        s.close()
