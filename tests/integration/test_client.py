"""The relay client thread and zero-configuration relay discovery, against real relays."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from ecc_widgets import localrelay, protocol
from ecc_widgets.client import ClientClosedError, RelayClient
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess, free_port


class Recorder:
    """Collects what a RelayClient reports (on its own thread)."""

    def __init__(self):
        self.events: list[tuple[str, object]] = []
        self.states: list[tuple[str, str]] = []
        self.connects: list[str] = []
        self.errors: list[str] = []
        self.acks: list[object] = []

    def client(self, url: str, **kwargs) -> RelayClient:
        return RelayClient(url, on_event=lambda e, p: self.events.append((e, p)),
                           on_connect=self.connects.append,
                           on_state=lambda s, p: self.states.append((s, p)),
                           on_error=self.errors.append, **kwargs)

    def named(self, event: str) -> list:
        return [p for e, p in self.events if e == event]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_client_joins_gets_acks_and_events(relay, recorder):
    before = threading.active_count()
    handler = signal.getsignal(signal.SIGINT)
    client = recorder.client(relay.url).start()
    try:
        wait_until(lambda: recorder.connects, what="the connection")
        assert client.state == "connected" and client.sid == recorder.connects[0]
        assert signal.getsignal(signal.SIGINT) is handler  # Interrupt stays the kernel's
        assert client.thread.name == "ecc-relay-client" and client.thread is not \
            threading.current_thread()
        done = client.emit(protocol.JOIN, {"username": "ann", "roomId": "r"},
                           callback=recorder.acks.append)
        assert done.result(timeout=5) is True
        wait_until(lambda: recorder.acks and recorder.named(protocol.USER_JOINED),
                   what="ack and roster")
        assert recorder.acks[0]["ok"] is True and recorder.acks[0]["username"] == "ann"
        assert recorder.named(protocol.USER_JOINED)[0]["usersInRoom"] == [
            {"socketId": client.sid, "username": "ann"}]
        # a refused event is acknowledged with the relay's reason
        client.emit(protocol.SEND_MESSAGE, {"nonsense": 1}, callback=recorder.acks.append)
        wait_until(lambda: len(recorder.acks) == 2, what="the refusal")
        assert recorder.acks[1]["ok"] is False and recorder.acks[1]["error"]
    finally:
        client.close()
    assert not client.thread.is_alive()
    assert threading.active_count() == before
    assert client.state == "closed"
    assert client.emit(protocol.JOIN, {}).result(timeout=1) is False
    with pytest.raises(ClientClosedError):
        client.start()


@pytest.mark.parametrize("how", ["graceful", "crash"])
def test_client_reconnects_after_relay_restart(recorder, how):
    relay = RelayProcess().start()
    client = recorder.client(relay.url, reconnect_delay=0.05).start()
    try:
        wait_until(lambda: recorder.connects, what="the first connection")
        if how == "crash":
            relay.proc.kill()
            relay.proc.wait()
        relay.restart()
        wait_until(lambda: len(recorder.connects) == 2, timeout=30, what="the reconnection")
        assert recorder.connects[0] != recorder.connects[1]
        assert client.connections == 2 and client.state == "connected"
        states = [s for s, _ in recorder.states]
        assert states[:2] == ["connecting", "connected"]
        assert "reconnecting" in states[2:] and states[-1] == "connected"
        # and the new connection works
        client.emit(protocol.JOIN, {"username": "bo", "roomId": "r"},
                    callback=recorder.acks.append)
        wait_until(lambda: recorder.acks, what="the ack")
        assert recorder.acks[0]["ok"]
    finally:
        client.close()
        relay.stop()


def test_client_keeps_trying_an_unreachable_relay_and_closes_promptly(recorder):
    before = threading.active_count()
    client = recorder.client(f"http://127.0.0.1:{free_port()}", reconnect_delay=0.05).start()
    wait_until(lambda: any("relay unreachable" in p for _, p in recorder.states),
               what="the problem in words")
    assert client.state == "connecting" and client.sid is None
    assert client.emit("anything", {}).result(timeout=5) is False  # nothing to send it on
    client.close()
    assert threading.active_count() == before


def test_a_failing_callback_does_not_kill_the_client(relay, recorder):
    calls = []

    def explode(event, payload):
        calls.append(event)
        raise RuntimeError("boom")

    client = RelayClient(relay.url, on_event=explode, on_connect=recorder.connects.append,
                         on_error=recorder.errors.append).start()
    try:
        wait_until(lambda: recorder.connects, what="the connection")
        client.emit(protocol.JOIN, {"username": "cy", "roomId": "r"},
                    callback=lambda ack: 1 / 0)
        wait_until(lambda: len(recorder.errors) >= 2, what="both failures reported")
        assert any("boom" in e for e in recorder.errors)
        assert any("ZeroDivisionError" in e for e in recorder.errors)
        # still alive: a later event still arrives (joining another room sends user-joined)
        assert calls == [protocol.USER_JOINED]
        client.emit(protocol.JOIN, {"username": "cy", "roomId": "elsewhere"})
        wait_until(lambda: len(calls) == 2, what="the next event")
        assert client.thread.is_alive() and client.state == "connected"
    finally:
        client.close()


@pytest.mark.parametrize("url", ["", "127.0.0.1:80", "ws://x", None, 5])
def test_client_refuses_a_bad_url(url):
    with pytest.raises(ValueError, match="http:// or https://"):
        RelayClient(url, on_event=print)


# ----------------------------------------------------------------------------- localrelay

@pytest.fixture
def started_here(tmp_path, monkeypatch) -> Iterator[list]:
    """Relays started by ensure_local_relay in this test, stopped afterwards."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(localrelay.ENV_URL, raising=False)
    already = set(map(id, localrelay.started_relays()))
    fresh: list = []
    yield fresh
    for proc in localrelay.started_relays():
        if id(proc) not in already:
            fresh.append(proc)
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


def test_relay_url_precedence(monkeypatch):
    monkeypatch.delenv(localrelay.ENV_URL, raising=False)
    assert localrelay.relay_url() == localrelay.DEFAULT_URL == "http://127.0.0.1:8765"
    monkeypatch.setenv(localrelay.ENV_URL, "http://relay.example:9000/")
    assert localrelay.relay_url() == "http://relay.example:9000"
    assert localrelay.relay_url("https://other:1") == "https://other:1"
    with pytest.raises(ValueError, match="http://host:port"):
        localrelay.relay_url("relay.example:9000")


def test_a_running_relay_is_used_not_started(relay, started_here):
    before = localrelay.started_relays()
    assert localrelay.ensure_local_relay(relay.url) == relay.url
    assert localrelay.ensure_local_relay(relay.url) == relay.url
    assert localrelay.started_relays() == before  # nothing spawned, by either call
    assert localrelay.relay_health(relay.url)["ok"] is True


def test_a_remote_url_is_not_started(started_here):
    url = "http://192.0.2.1:9"  # TEST-NET: nothing answers, and it is not ours to start
    assert localrelay.is_local(url) is False
    before = len(localrelay.started_relays())
    # health check fails quickly or times out; nothing is spawned either way
    assert localrelay.ensure_local_relay(url) == url
    assert len(localrelay.started_relays()) == before


def test_missing_local_relay_is_started_detached_and_outlives_us(started_here, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(localrelay.ENV_URL, url)
    assert localrelay.relay_health(url) is None
    assert localrelay.ensure_local_relay() == url
    assert localrelay.relay_health(url)["ok"] is True
    proc = localrelay.started_relays()[-1]
    assert proc.poll() is None
    assert os.getsid(proc.pid) == proc.pid != os.getsid(0)  # its own session
    log = localrelay.log_path(int(url.rsplit(":", 1)[1]))
    assert log.exists() and "relay started" in log.read_text()
    # a second call (a second notebook) meets the same relay
    assert localrelay.ensure_local_relay(url) == url
    assert sum(p.poll() is None for p in localrelay.started_relays()) == 1


def test_two_sessions_racing_end_with_one_relay(started_here):
    url = f"http://127.0.0.1:{free_port()}"
    results: list[str] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            results.append(localrelay.ensure_local_relay(url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    racers = [threading.Thread(target=start) for _ in range(2)]
    for t in racers:
        t.start()
    for t in racers:
        t.join(60)
    assert not failures and results == [url, url]
    mine = [p for p in localrelay.started_relays() if p.args[-1] == url.rsplit(":", 1)[1]]
    assert 1 <= len(mine) <= 2
    # whoever lost the race exits (its bind fails); exactly one relay serves
    wait_until(lambda: sum(p.poll() is None for p in mine) == 1, what="one relay left")
    assert localrelay.relay_health(url)["ok"] is True


def test_a_relay_that_cannot_start_is_explained(started_here, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PYTHONPATH", "")
    monkeypatch.setattr(localrelay.sys, "executable", "/bin/false")
    with pytest.raises(localrelay.RelayUnavailableError, match="starting one failed"):
        localrelay.ensure_local_relay(url, timeout=8)


def test_a_session_without_relay_address_starts_one(started_here, monkeypatch):
    from ecc_widgets.app import local_session

    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(localrelay.ENV_URL, url)
    first, second = local_session(), local_session()
    try:
        first.join("one", "zero-config")
        second.join("two", "zero-config")
        wait_until(lambda: first.joined and second.joined and "two" in first.peers,
                   timeout=30, what="both sessions in one room")
        assert first.relay_url == second.relay_url == url
    finally:
        first.close()
        second.close()
    assert localrelay.relay_health(url)["ok"] is True  # the relay outlives the sessions
