"""The relay on its own: installed without the notebook stack, checking the internals its
lean transport relies on, and exiting when idle if asked to."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import pytest

from tests.support import ROOT
from tests.support.peers import Peer, run
from tests.support.processes import RelayProcess

# Imports of the notebook stack fail in the child, as on a relay host without it.
BLOCKER = textwrap.dedent("""
    import sys
    BLOCKED = {"ipywidgets", "matplotlib", "numpy", "traitlets", "ipykernel", "cryptography"}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is not installed on a relay host")
            return None

    sys.meta_path.insert(0, Blocker())
""")


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_the_relay_needs_no_notebook_stack():
    done = run_blocked("""
        import runpy, sys
        import ecc_widgets.protocol, relay.app, relay.server, relay.transport, relay.cluster
        assert "ipywidgets" not in sys.modules and "numpy" not in sys.modules
        sys.argv = ["relay", "--help"]
        runpy.run_module("relay", run_name="__main__")
    """)
    assert done.returncode == 0, done.stderr
    assert "--transport" in done.stdout and "--idle-exit" in done.stdout
    # the blocker works: the notebook side does need the stack
    done = run_blocked("import ecc_widgets.crypto")
    assert done.returncode != 0 and "not installed on a relay host" in done.stderr


def test_a_missing_internal_stops_the_lean_transport_with_the_versions(monkeypatch):
    from engineio.async_socket import AsyncSocket

    from relay import transport
    from relay.roster import MemoryRoster
    from relay.server import RelayServer

    monkeypatch.delattr(AsyncSocket, "_websocket_handler")
    with pytest.raises(transport.IncompatibleVersionError) as err:
        RelayServer(MemoryRoster())
    text = str(err.value)
    assert "AsyncSocket._websocket_handler" in text and "python-engineio 4." in text
    assert "--transport stock" in text and "<4.16" in text
    RelayServer(MemoryRoster(), transport="stock")   # the stock transport needs none of it


def _exits_within(server: RelayProcess, seconds: float) -> bool:
    try:
        server.proc.wait(seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_idle_exit_after_the_last_client_leaves():
    server = RelayProcess("--idle-exit", "2").start()
    try:
        async def scenario():
            peer = await Peer(server.url).connect()
            try:
                await peer.join("alice", "lab")
                await asyncio.sleep(3.5)   # connected: past the idle time
                assert server.proc.poll() is None
            finally:
                await peer.close()
        run(scenario())
        started = time.monotonic()
        assert _exits_within(server, 10), "the relay did not exit once idle"
        assert server.proc.returncode == 0
        assert time.monotonic() - started >= 1.0   # it waited for the idle time
    finally:
        server.stop()


def test_without_idle_exit_the_relay_keeps_running():
    server = RelayProcess().start()
    try:
        assert not _exits_within(server, 4)
        assert server.health()["ok"] is True
    finally:
        server.stop()
