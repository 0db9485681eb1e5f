"""The session with its client injected: joining, resuming and re-joining, on one scheduler.

A stand-in client records what the session emits and runs nothing by itself; the test
plays the relay's part (connects, acknowledgements) and the client's scheduler.
"""

from __future__ import annotations

import threading

import pytest

from ecc_widgets import protocol
from ecc_widgets.client import CONNECTED, RECONNECTING
from ecc_widgets.session import Session, SessionError


class ScriptedClient:
    """`RelayClient`'s surface, with the network and the thread left out."""

    made: list[ScriptedClient] = []

    def __init__(self, url, *, on_event, on_connect, on_state, on_error, prepare, name):
        self.url, self.on_event, self.on_connect, self.on_state = url, on_event, on_connect, \
            on_state
        self.prepare = prepare
        self.state, self.closed, self.started = "disconnected", False, False
        self.sent: list[tuple[str, dict, object]] = []
        self.scheduled: list[tuple[float, object]] = []
        ScriptedClient.made.append(self)

    def start(self):
        self.started = True
        return self

    def close(self):
        self.closed = True

    def emit(self, event, payload, callback=None):
        self.sent.append((event, payload, callback))

    def call_soon(self, fn, *args):
        fn(*args)

    def call_later(self, delay, fn, *args):
        self.scheduled.append((delay, lambda: fn(*args)))

    def connect(self, sid: str) -> None:
        self.state = CONNECTED
        self.on_state(CONNECTED, "")
        self.on_connect(sid)

    def drop(self) -> None:
        self.state = RECONNECTING
        self.on_state(RECONNECTING, "connection lost")

    def last(self, event: str):
        return next(s for s in reversed(self.sent) if s[0] == event)


def test_join_resume_and_a_refused_rejoin_retry_through_the_clients_scheduler():
    threads = threading.active_count()
    s = Session(client_factory=ScriptedClient)
    s.join("alice", "lab", "http://relay.test:1")
    client = ScriptedClient.made[-1]
    assert client.started and client.url == "http://relay.test:1"
    assert client.prepare is None  # no locator: nothing to find or start

    client.connect("sid-1")
    event, payload, ack = client.last(protocol.JOIN)
    assert payload == {"username": "alice", "roomId": "lab"}
    ack({"ok": True, "resumeToken": "token-1"})
    assert s.joined and s.errors == {}

    client.drop()
    assert not s.joined
    client.connect("sid-2")
    _, payload, ack = client.last(protocol.JOIN)
    assert payload["resumeToken"] == "token-1"  # our stale socket may still hold the name
    ack({"ok": False, "error": "name taken"})
    assert "name taken" in s.errors["join"]
    assert [delay for delay, _ in client.scheduled] == [1.0]  # no thread, no timer

    joins = sum(e == protocol.JOIN for e, _, _ in client.sent)
    client.scheduled.pop()[1]()
    assert sum(e == protocol.JOIN for e, _, _ in client.sent) == joins + 1
    client.last(protocol.JOIN)[2]({"ok": True})
    assert s.joined and "join" not in s.errors
    s.close()
    assert client.closed and threading.active_count() == threads


def test_a_newer_refusal_replaces_a_pending_rejoin_and_a_replaced_client_is_ignored():
    s = Session(client_factory=ScriptedClient)
    s.join("bob", "lab", "http://relay.test:1")
    first = ScriptedClient.made[-1]
    first.connect("sid-1")
    first.last(protocol.JOIN)[2]({"ok": True})
    for sid in ("sid-2", "sid-3"):
        first.drop()
        first.connect(sid)
        first.last(protocol.JOIN)[2]({"ok": False, "error": "name taken"})
    joins = sum(e == protocol.JOIN for e, _, _ in first.sent)
    for _, run in first.scheduled:
        run()
    assert sum(e == protocol.JOIN for e, _, _ in first.sent) == joins + 1  # one, not two

    s.join("bob", "lab", "http://other.test:2")  # another relay: a new client
    second = ScriptedClient.made[-1]
    assert second is not first and first.closed
    first.on_event(protocol.USER_JOINED, {"username": "eve", "usersInRoom": []})
    assert not any(e["event"] == protocol.USER_JOINED for e in s.relay_view)
    s.close()


def test_the_model_finds_no_relay_by_itself():
    s = Session(client_factory=ScriptedClient)
    with pytest.raises(SessionError, match="no relay address"):
        s.join("carol", "lab")
    with pytest.raises(SessionError, match="http://host:port"):
        s.join("carol", "lab", "relay.test:1")
    with pytest.raises(TypeError, match="local_session"):
        Session(start_relay=True)  # starting a relay is the composition root's decision
    s.close()


def test_leaving_while_the_join_is_on_its_way_leaves_the_room_once_let_in():
    s = Session(client_factory=ScriptedClient)
    s.join("dave", "lab", "http://relay.test:1")
    client = ScriptedClient.made[-1]
    client.connect("sid-1")
    ack = client.last(protocol.JOIN)[2]
    s.leave()
    assert [e for e, _, _ in client.sent] == [protocol.JOIN]  # not in yet: nothing to leave
    ack({"ok": True})
    assert [e for e, _, _ in client.sent] == [protocol.JOIN, protocol.LEAVE]
    assert not s.joined
    s.close()
