"""The session core alone: no relay, no client, no thread, no clock but the test's.

Two `SessionCore`s are wired by the test, h11-style: what one leaves (`take()`: `Emit`s,
`Later`s, changed values) is handed to the other as the relay would hand it on, and time
moves only when the test says so.
"""

from __future__ import annotations

from typing import Any

from ecc_widgets import protocol as P
from ecc_widgets.client import CONNECTED
from ecc_widgets.session.core import SessionCore
from ecc_widgets.session.effects import Emit, Later
from ecc_widgets.session.state import RECEIPT_DELAY


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Wire:
    """The relay's part, in memory and by the protocol's own builders: each side's emits
    are checked (`protocol.validate`) and delivered to the other, acknowledged at once."""

    def __init__(self, clock: Clock, *names: str) -> None:
        self.clock = clock
        self.cores = {name: SessionCore(clock=clock, share_steps=False) for name in names}
        self.sids = {name: f"sid-{name}" for name in names}
        self.names = {sid: name for name, sid in self.sids.items()}
        self.later: list[tuple[float, Any]] = []
        self.sent: dict[str, list[Emit]] = {name: [] for name in names}
        self.published: dict[str, dict] = {name: {} for name in names}

    def connect(self) -> None:
        for name, core in self.cores.items():
            core.attached = True
            core.enter(core.check_join(name, "lab"), "http://relay.test")
            core.connection_changed(CONNECTED, "")
            core.connected(self.sids[name])
        self.settle()

    def roster(self) -> list[dict]:
        return [P.roster_entry(sid, name) for name, sid in self.sids.items()]

    def settle(self) -> None:
        """Carry out everything every core left, until nothing is left."""
        busy = True
        while busy:
            busy = False
            for name, core in self.cores.items():
                changes = core.take()
                self.published[name].update(changes.published)
                for effect in changes.effects:
                    busy = True
                    if isinstance(effect, Later):
                        self.later.append((self.clock.now + effect.delay, effect.run))
                    else:
                        self.sent[name].append(effect)
                        self.deliver(name, effect)

    def deliver(self, sender: str, emit: Emit) -> None:
        cleaned = P.validate(emit.event, emit.payload)   # what a relay accepts
        ack = P.ack_ok()
        sid = self.sids[sender]
        if emit.event == P.JOIN:
            for core in self.cores.values():
                core.received(P.USER_JOINED, P.user_joined(sender, sid, self.roster()))
            ack = P.ack_ok(usersInRoom=self.roster())
        elif emit.event in (P.SHARE_PUBLIC_KEY, P.SEND_MESSAGE):
            target = self.cores[self.names[cleaned["targetSocketId"]]]
            if emit.event == P.SHARE_PUBLIC_KEY:
                target.received(P.RECEIVE_PUBLIC_KEY, P.receive_public_key(cleaned, sender, sid))
            else:
                target.received(P.RECEIVE_MESSAGE, P.receive_message(
                    cleaned, sender, sid, int(self.clock.now * 1000)))
        elif emit.event == P.KEYS_GENERATED:
            for name, core in self.cores.items():
                if name != sender:
                    core.received(P.PEER_KEYS_GENERATED, P.peer_keys_generated(sender, sid))
        elif emit.event == P.CURVE_SELECTED:
            for name, core in self.cores.items():
                if name != sender:
                    core.received(P.PEER_CURVE_SELECTED,
                                  P.peer_curve_selected(cleaned["curve"], sender, sid))
        if emit.on_ack is not None:
            emit.on_ack(ack)

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        due = [run for at, run in self.later if at <= self.clock.now]
        self.later = [(at, run) for at, run in self.later if at > self.clock.now]
        for run in due:
            run()
        self.settle()


def secure(wire: Wire) -> tuple[SessionCore, SessionCore]:
    wire.connect()
    alice, bob = wire.cores["alice"], wire.cores["bob"]
    alice.generate_keys()
    bob.generate_keys()
    wire.settle()
    alice.share_key("bob")
    wire.settle()
    assert "secure" in alice.peers["bob"].statuses and "secure" in bob.peers["alice"].statuses
    return alice, bob


def test_a_message_is_sealed_delivered_confirmed_with_no_relay_thread_or_clock():
    wire = Wire(Clock(), "alice", "bob")
    alice, bob = secure(wire)
    out = alice.send("bob", "hello bob")
    assert out.status == "sending" and out.ciphertext_raw and out.nonce_raw and out.tag_raw
    wire.settle()
    (got,) = bob.conversations["alice"]
    assert (got.plaintext, got.status, got.authenticated) == ("hello bob", "received", True)
    # what the wire carried, decoded once: the same bytes on both sides
    assert (got.ciphertext_raw, got.nonce_raw, got.tag_raw) == \
        (out.ciphertext_raw, out.nonce_raw, out.tag_raw)
    assert got.ciphertext_bytes == len(out.ciphertext_raw)
    # the relay's acknowledgement: sent; bob's receipt waits for its batch (a timer the
    # test runs), then the message is confirmed
    assert alice.conversations["bob"][0].status == "sent"
    assert not alice.conversations["bob"][0].authenticated
    receipts_before = len(wire.sent["bob"])
    wire.advance(RECEIPT_DELAY)
    (receipt,) = wire.sent["bob"][receipts_before:]
    assert receipt.event == P.SEND_MESSAGE and receipt.payload["kind"] == "receipt"
    assert alice.conversations["bob"][0].authenticated
    # every change was published, in typed results, never as traits
    assert wire.published["bob"]["conversations"] is bob.conversations


def test_the_same_delivery_twice_is_one_message_and_a_core_without_a_client_sends_nothing():
    wire = Wire(Clock(), "alice", "bob")
    alice, bob = secure(wire)
    alice.send("bob", "once")
    changes = alice.take()
    (emit,) = [e for e in changes.effects if isinstance(e, Emit) and e.event == P.SEND_MESSAGE]
    wire.deliver("alice", emit)
    wire.deliver("alice", emit)          # a re-send after a reconnect, or a relay's echo
    wire.settle()
    assert [m.plaintext for m in bob.conversations["alice"]] == ["once"]
    assert any("duplicate" in e.text for e in bob.log)
    # detached (no client): actions change the state, and nothing is emitted
    alice.attached = False
    alice.send("bob", "later")
    assert [e for e in alice.take().effects if isinstance(e, Emit)] == []
    assert alice.conversations["bob"][-1].plaintext == "later"


def test_published_values_come_in_the_order_of_their_latest_change():
    core = SessionCore(clock=Clock())
    core.take()
    core.generate_keys()
    names = list(core.take().published)
    assert names.index("keygen") < names.index("public_jwk") < names.index("log")
    assert core.take().published == {}  # nothing twice
