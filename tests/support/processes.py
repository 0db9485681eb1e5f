"""Real processes on free loopback ports: the relay, redis-server, and waiting for servers.

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
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support import ROOT


def require_binary(name: str) -> str:
    """Path of a system binary, or skip (locally) / fail (in CI) with a clear reason."""
    import pytest  # only a test asks for this; the benchmarks raise instead

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


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until something listens on 127.0.0.1:port; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {timeout}s")


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

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop it (SIGTERM, then SIGKILL after `timeout`: it is never left running; a relay
        that needed killing still fails the test)."""
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
    """A real redis-server on a free loopback port, with nothing saved to disk.

    `binary` defaults to the redis-server on PATH (FileNotFoundError without one); `data_dir`
    to a temporary folder removed on stop.
    """

    def __init__(self, binary: str | None = None, data_dir: Path | None = None):
        binary = binary or shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        self._own_dir = data_dir is None
        self.dir = Path(data_dir or tempfile.mkdtemp(prefix="ecc-redis-"))
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
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
        self.stop()
        raise TimeoutError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
