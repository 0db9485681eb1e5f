"""Start the relays under test (ours and the Node anchor) and read their CPU time and memory."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support.processes import RedisProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: its own ecc_widgets
from ecc_widgets.localrelay import spawn_relay  # noqa: E402

DEFAULT_ANCHOR = ROOT.parent / "shared" / "anchors" / "seed-node-relay"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Server:
    """A relay process on a loopback port."""

    def __init__(self, name: str, cmd: list[str] | None = None, *, cwd: Path,
                 env: dict | None = None, spawn=None):
        self.name = name
        self.port = free_port()
        self.cmd = cmd            # a command line ("{port}" is replaced), or
        self.spawn = spawn        # a function (port, **popen) -> Popen
        self.cwd = cwd
        self.env = {**os.environ, **(env or {}), "PORT": str(self.port)}
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Server:
        # the log goes to a file: a pipe nobody reads would block the relay once full
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the OS at exit
        popen = dict(cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log)
        if self.spawn is not None:
            self.proc = self.spawn(self.port, **popen)
        else:
            cmd = [part.replace("{port}", str(self.port)) for part in self.cmd]
            self.proc = subprocess.Popen(cmd, **popen)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.log_tail()
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {err}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    json.loads(resp.read())
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{self.name} did not answer /healthz within {timeout}s")

    def log_tail(self, limit: int = 2000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-limit:]

    def health(self) -> dict:
        with urllib.request.urlopen(self.url + "/healthz", timeout=5) as resp:
            return json.loads(resp.read())

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS   # utime + stime

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# the limiter stays on (its cost is measured) but high enough not to drop bench traffic
BENCH_OPTIONS = ("--rate", "1000000", "--burst", "1000000", "--log-level", "warning")


def ours(*extra: str, profile: Path | None = None) -> Server:
    """Our relay; with ``profile``, under cProfile (stats written there at shutdown)."""
    python = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile else [])
    options = (*BENCH_OPTIONS, *extra)
    return Server("ours", spawn=lambda port, **popen: spawn_relay(
        "127.0.0.1", port, *options, python=python, **popen), cwd=ROOT)


def prepare_anchor(anchor: Path) -> Path:
    """Copy the Node anchor to a temporary folder and `npm ci` it there (cached by lock)."""
    if not (anchor / "server.js").is_file():
        raise FileNotFoundError(f"no server.js in the anchor folder {anchor}")
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"{tool} is not installed")
    lock = anchor / "package-lock.json"
    digest = hashlib.sha256((lock if lock.is_file() else anchor / "package.json")
                            .read_bytes()).hexdigest()[:12]
    work = Path(tempfile.gettempdir()) / f"ecc-bench-anchor-{digest}"
    work.mkdir(exist_ok=True)
    for name in ("server.js", "package.json", "package-lock.json"):
        if (anchor / name).is_file():
            shutil.copy2(anchor / name, work / name)
    if not (work / "node_modules" / "socket.io").is_dir():
        cmd = ["npm", "ci" if lock.is_file() else "install", "--no-audit", "--no-fund",
               "--loglevel=error"]
        subprocess.run(cmd, cwd=work, check=True, stdout=subprocess.DEVNULL)
    return work


def node(anchor: Path) -> Server:
    work = prepare_anchor(anchor)
    return Server("node", ["node", "server.js"], cwd=work, env={"HOST": "127.0.0.1"})


def start_redis() -> RedisProcess:
    """A throw-away redis-server on a loopback port, nothing saved to disk."""
    return RedisProcess()
