"""Zero configuration: find the relay, or start one on this machine that outlives the kernel.

The relay address comes from the argument, else the ``ECC_RELAY_URL`` environment variable,
else the default local address. If nothing answers ``/healthz`` at a local address, a relay
(``python -m relay``) is started there in its own session, detached from the kernel, with its
output in a log file under the user's cache directory; so the second notebook on the machine
meets the first one's relay without anyone starting anything. That relay exits by itself once
no client has been connected for ``IDLE_EXIT`` seconds (``--idle-exit``), so it does not
outlive the notebooks, Voila and Jupyter by more than that.

``spawn_relay`` is the one way a relay process is started from Python (here, by ``ecc-lab``
and by the benchmarks).

Two notebooks racing to start one both spawn a relay; the loser cannot bind the port and
exits, and both end up talking to the winner (each re-checks ``/healthz``, never its own
child's status alone).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from ecc_widgets.protocol import LOCAL_HOSTS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
ENV_URL = "ECC_RELAY_URL"
IDLE_EXIT = 600   # seconds without connections after which a relay started here exits

# Relays started by this process (kept so they are not reported as leaked child processes,
# and so tests can stop the ones they caused).
_started: list[subprocess.Popen] = []


class RelayUnavailableError(RuntimeError):
    """No relay answers and none could be started; the message says why."""


def relay_url(url: str | None = None) -> str:
    """The relay address to use: `url`, else $ECC_RELAY_URL, else the default local one."""
    chosen = url or os.environ.get(ENV_URL) or DEFAULT_URL
    chosen = chosen.strip().rstrip("/")
    parts = urlsplit(chosen)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"relay URL must look like http://host:port, got {chosen!r}")
    return chosen


def is_local(url: str) -> bool:
    return urlsplit(url).hostname in LOCAL_HOSTS


def relay_health(url: str, timeout: float = 1.0) -> dict | None:
    """The relay's /healthz answer, or None when nothing (or something else) answers."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout) as resp:
            answer = json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return answer if isinstance(answer, dict) else None


def log_path(port: int) -> Path:
    """Where a relay started here writes its output."""
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    folder = Path(base) / "ecc-chat-lab"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir()) / "ecc-chat-lab"
        folder.mkdir(parents=True, exist_ok=True)
    return folder / f"relay-{port}.log"


def relay_command(host: str, port: int | str, *options: str,
                  python: list[str] | None = None) -> list[str]:
    """The command line of a relay process (``python -m relay``); the port comes last."""
    return [*(python or [sys.executable]), "-m", "relay", *options,
            "--host", host, "--port", str(port)]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        # As the servers bind: a port left in TIME_WAIT by a previous run is free to them.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def pick_port(host: str, preferred: int = 0) -> int:
    """`preferred` if it is free on `host`, else (or when it is 0) one the OS picks."""
    if preferred and port_is_free(host, preferred):
        return preferred
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def spawn_relay(host: str, port: int | str, *options: str, python: list[str] | None = None,
                env: dict | None = None, **popen) -> subprocess.Popen:
    """Start a relay process; ``popen`` goes to ``subprocess.Popen``.

    From a source checkout the child imports ``relay`` from the same tree.
    """
    env = dict(os.environ if env is None else env)
    root = Path(__file__).resolve().parent.parent
    if (root / "relay" / "__init__.py").exists():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return subprocess.Popen(relay_command(host, port, *options, python=python), env=env,
                            **popen)


def start_local_relay(url: str) -> subprocess.Popen:
    """Start a relay for a local `url`, detached (own session), logging to a file; it exits
    after `IDLE_EXIT` seconds without connections."""
    parts = urlsplit(url)
    if parts.hostname not in LOCAL_HOSTS:
        raise ValueError(f"can only start a relay on this machine, not at {url}")
    if parts.scheme != "http":
        raise ValueError(f"a relay started here speaks http, not {parts.scheme}: {url}")
    port = parts.port or 80
    host = "::1" if parts.hostname == "::1" else DEFAULT_HOST
    path = log_path(port)
    with open(path, "ab") as log:
        log.write(f"\n--- relay started {time.strftime('%Y-%m-%d %H:%M:%S')} on {url}\n"
                  .encode())
        log.flush()
        proc = spawn_relay(
            host, port, "--idle-exit", str(IDLE_EXIT),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=tempfile.gettempdir(), start_new_session=True, close_fds=True,
        )
    _started.append(proc)
    return proc


def started_relays() -> list[subprocess.Popen]:
    """The relay processes this Python process started (alive or not)."""
    return list(_started)


def ensure_local_relay(url: str | None = None, *, timeout: float = 30.0) -> str:
    """Return the relay URL to use, starting a local relay first if none answers there.

    A non-local URL is returned as given (it cannot be started from here; the client keeps
    retrying and says it is unreachable). Raises `RelayUnavailableError` if a local relay
    could not be started, with the end of its log.
    """
    url = relay_url(url)
    if relay_health(url) is not None or not is_local(url):
        return url
    proc = start_local_relay(url)
    deadline = time.monotonic() + timeout
    died_at: float | None = None
    while time.monotonic() < deadline:
        if relay_health(url, timeout=0.5) is not None:
            return url
        if died_at is None and proc.poll() is not None:
            # Lost a race (port taken by another starter) or failed; the winner may still be
            # starting, so keep polling /healthz a little before giving up.
            died_at = time.monotonic()
        # A loser dies only once the winner has bound the port, so the winner answers soon.
        if died_at is not None and time.monotonic() - died_at > 2.0:
            break
        time.sleep(0.1)
    tail = _tail(log_path(urlsplit(url).port or 80))
    raise RelayUnavailableError(
        f"no relay answers at {url} and starting one failed"
        + (f" (exit code {proc.returncode})" if proc.poll() is not None else " (timed out)")
        + (f"; its log ends with:\n{tail}" if tail else ""))


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
