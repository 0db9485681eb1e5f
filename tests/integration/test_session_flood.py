"""Classmates who flood: what a session keeps stays bounded, a too fast peer is muted with
a notice, and a real message still arrives. Real relay, real sessions, real panels."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from ecc_widgets.app import EccApp
from ecc_widgets.session import Session
from ecc_widgets.session.records import MAX_KEPT_BYTES, MAX_PLAINTEXT, MESSAGE_BURST
from ecc_widgets.session.state import footprint
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess
from tests.support.sessions import RawPeer, texts

SENDERS = 4
EACH = 100


@pytest.fixture
def relay() -> Iterator[RelayProcess]:
    # The relay's own limits on joins and room churn are relay tests' business: here the
    # churn must reach alice's session, as it would from a relay spread over many addresses.
    server = RelayProcess("--room-churn-rate", "1000", "--room-churn-burst", "10000",
                          "--address-join-burst", "10000").start()
    yield server
    server.stop()


def test_a_flood_of_authentic_messages_is_bounded_muted_and_said(relay, sessions):
    alice = Session()
    sessions.append(alice)
    app = EccApp(alice)
    try:
        alice.join("alice", "flood", relay.url)
        wait_until(lambda: alice.joined, what="alice's join")
        alice.generate_keys()
        senders = [Session() for _ in range(SENDERS)]
        bob = Session()
        sessions.extend([*senders, bob])
        for n, s in enumerate([*senders, bob]):
            s.join(f"c{n}" if s is not bob else "bob", "flood", relay.url)
            wait_until(lambda s=s: "alice" in s.peers, what="alice in the roster")
            s.generate_keys()  # alice gives her key by herself; they answer
        wait_until(lambda: all("secure" in s.peers.get("alice", NO_CARD).statuses
                               for s in (*senders, bob)), what="keys with everyone")

        for k in range(EACH):   # as fast as a program sends: far faster than anyone types
            for n, s in enumerate(senders):
                s.send("alice", f"{n}:{k}:" + os.urandom(MAX_PLAINTEXT).hex()[:MAX_PLAINTEXT - 16])

        def arrived(n: int) -> int:
            name = f"c{n}"
            peer = alice.peers.get(name)
            return (len(texts(alice, name, "in")) + alice.trimmed.get(name, 0)
                    + (peer.muted if peer is not None else 0))

        wait_until(lambda: all(arrived(n) == EACH for n in range(SENDERS)), timeout=120,
                   what="every message kept, dropped or muted")
        kept = [m for conversation in alice.conversations.values() for m in conversation]
        assert sum(footprint(m) for m in kept) <= MAX_KEPT_BYTES
        assert sum(alice.trimmed.values()) > 0, "the oldest went to keep the bound"
        muted = {n: alice.peers[f"c{n}"].muted for n in range(SENDERS)}
        assert all(count > 0 for count in muted.values()), muted
        assert all(EACH - muted[n] >= MESSAGE_BURST for n in range(SENDERS))  # a burst passes
        warnings = [e.text for e in alice.log if e.level == "warning"]
        assert any("faster than anyone types" in w for w in warnings)
        assert any("memory bounded" in w for w in warnings)

        bob.send("alice", "a real message after the flood")
        wait_until(lambda: texts(alice, "bob", "in") == ["a real message after the flood"],
                   what="bob's message")
        app.chat_panel.to.value = "c0"
        wait_until(lambda: "muted: sent faster than anyone types"
                   in app.chat_panel.conversation.value, what="the notice in the chat")
        assert "dropped to keep this session" in app.chat_panel.conversation.value \
            or alice.trimmed.get("c0", 0) == 0
    finally:
        app.close()


NO_CARD = type("NoCard", (), {"statuses": frozenset()})()


def test_a_churning_room_costs_a_few_publications_a_second_and_a_message_still_arrives(
        relay, sessions):
    alice, bob = Session(), Session()
    sessions += [alice, bob]
    alice.join("alice", "churn", relay.url)
    bob.join("bob", "churn", relay.url)
    wait_until(lambda: "bob" in alice.peers, what="the roster")
    alice.generate_keys()
    bob.generate_keys()
    wait_until(lambda: "secure" in alice.peers.get("bob", NO_CARD).statuses,
               what="keys with bob")
    publications: list[int] = []
    alice.observe(lambda change: publications.append(len(change["new"])), names="peers")
    out_before = sum(e["direction"] == "out" for e in alice.relay_view)
    lines_before = len(alice.log)

    churns = [0]
    stop = threading.Event()

    def churn(n: int) -> None:
        k = 0
        while not stop.is_set():
            peer = RawPeer(relay.url, f"churn-{n}-{k}", "churn")
            peer.close()
            churns[0] += 1
            k += 1

    threads = [threading.Thread(target=churn, args=(n,), daemon=True) for n in range(2)]
    began = time.monotonic()
    for t in threads:
        t.start()
    wait_until(lambda: churns[0] >= 60, timeout=120, what="sixty joins and leaves")
    sent = bob.send("alice", "through the churn")
    wait_until(lambda: any(m.id == sent.id for m in alice.conversations.get("bob", ())),
               what="bob's message through the churn")
    stop.set()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - began
    wait_until(lambda: set(alice.peers) == {"bob"}, what="the churners gone")
    # coalesced: at most 4 publications a second (and the last one), not two per churner
    assert len(publications) <= 4 * elapsed + 10 < 2 * churns[0], (len(publications), churns)
    # what alice says to the room for newcomers: at most once a second
    said = [e for e in alice.relay_view[-500:] if e["direction"] == "out"]
    assert sum(e["direction"] == "out" for e in alice.relay_view) - out_before \
        <= 2 * (elapsed + 2) + 10, said[-5:]
    assert len(alice.log) - lines_before <= 2 * elapsed + 20 + 10
