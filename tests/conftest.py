"""Shared fixtures: real relay processes and a real redis-server on free loopback ports.

Tests that need a system binary (redis-server, chromium) skip with a reason on a laptop
that lacks it, and fail in CI (CI=true), where a missing dependency is a defect.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--relay-transport", choices=("lean", "stock"), default=None,
                     help="run every relay these tests start on this transport "
                          "(default: the relay's own default, lean)")


def pytest_configure(config):
    transport = config.getoption("--relay-transport")
    if transport:   # relay processes inherit the environment
        os.environ["ECC_RELAY_TRANSPORT"] = transport


def pytest_collection_modifyitems(config, items):
    if os.environ.get("ECC_RELAY_TRANSPORT", "lean") == "lean":
        return
    skip = pytest.mark.skip(reason="about the lean transport (relay.compat)")
    for item in items:
        if "lean_transport" in item.keywords:
            item.add_marker(skip)


def require_binary(name: str) -> str:
    """Path of a system binary, or skip (locally) / fail (in CI) with a clear reason."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install {name})"
        if os.environ.get("CI"):
            pytest.fail(f"CI must have every dependency: {reason}")
        pytest.skip(reason)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> dict:
    """Poll a JSON endpoint until it answers; fail early if the process died."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return json.loads(resp.read())
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last}")


class RelayProcess:
    """A real relay (`python -m relay`) on a free loopback port."""

    def __init__(self, *extra_args: str, port: int | None = None, env: dict | None = None,
                 log: Path | None = None):
        self.port = port or free_port()
        self.extra_args = extra_args
        self.env = {**os.environ, **(env or {})}
        self.log = log  # where the relay's output goes (appended); inherited when None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RelayProcess:
        cmd = [sys.executable, "-m", "relay", "--host", "127.0.0.1", "--port", str(self.port),
               *self.extra_args]
        if self.log is None:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env)
        else:
            with open(self.log, "ab") as out:
                self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out,
                                             stderr=subprocess.STDOUT)
        wait_for_http(self.url + "/healthz", proc=self.proc)
        return self

    def health(self) -> dict:
        return wait_for_http(self.url + "/healthz", timeout=5)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def restart(self) -> RelayProcess:
        self.stop()
        return self.start()


class RedisProcess:
    """A real redis-server on a free loopback port, with nothing saved to disk."""

    def __init__(self, binary: str, tmp: Path):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


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
