"""The demo peer: a student alone walks through the whole exchange with it."""

from __future__ import annotations

import threading

from ecc_widgets import crypto
from ecc_widgets.demo_peer import DemoPeer
from ecc_widgets.session import Session
from tests.support.polling import wait_until
from tests.support.sessions import texts


def test_demo_peer_completes_the_flow(relay):
    before = {t.ident for t in threading.enumerate()}
    student = Session(demo_peer_factory=DemoPeer)
    try:
        student.join("student", "alone", relay.url)
        student.select_curve("secp256k1")
        wait_until(lambda: student.joined, what="the join")
        demo = student.summon_demo_peer()
        # it starts once the relay has its invite token
        wait_until(lambda: demo.session.relay_url == relay.url, what="the demo peer's join")
        # it joins, takes our curve and generates keys by itself
        wait_until(lambda: "keys generated" in student.peers.get("demo-peer", _NO_PEER).statuses,
                   what="the demo peer's keys")
        assert student.peers["demo-peer"].curve == "secp256k1"
        student.generate_keys()
        student.share_key("demo-peer")
        wait_until(lambda: "secure" in student.peers["demo-peer"].statuses, what="secure")
        sent = student.send("demo-peer", "hello demo")
        wait_until(lambda: texts(student, "demo-peer", "in"), what="the reply")
        reply = texts(student, "demo-peer", "in")[0]
        # it decrypted what we sent, and saw the same ciphertext, nonce and tag
        assert "'hello demo'" in reply
        assert sent.ciphertext in reply and sent.nonce in reply and sent.tag in reply
        answer = next(m for m in student.conversations["demo-peer"] if m.direction == "in")
        assert answer.authenticated and not answer.verified and not answer.legacy
        # its processing steps show up in our log
        assert any(e.source == "demo-peer" and "Encrypted message" in e.text
                   for e in student.log)

        # the student changes curve: the demo peer follows, and a new exchange works
        student.select_curve("X25519")
        wait_until(lambda: student.peers["demo-peer"].curve == "X25519", what="following")
        student.generate_keys()
        student.share_key("demo-peer")
        wait_until(lambda: "secure" in student.peers["demo-peer"].statuses
                   and student.peers["demo-peer"].public_jwk.get("crv") == "X25519",
                   what="secure on X25519")
        student.send("demo-peer", "again")
        wait_until(lambda: len(texts(student, "demo-peer", "in")) == 2, what="second reply")
        assert "'again'" in texts(student, "demo-peer", "in")[1]
        assert crypto.public_key_from_jwk(student.peers["demo-peer"].public_jwk)
    finally:
        student.close()
    # closing the student closes the demo peer and both client threads
    assert {t.ident for t in threading.enumerate()} == before


def test_two_demo_peers_get_distinct_names(relay):
    student = Session(demo_peer_factory=DemoPeer)
    try:
        student.join("student", "crowd", relay.url)
        wait_until(lambda: student.joined, what="the join")
        first, second = student.summon_demo_peer(), student.summon_demo_peer()
        assert (first.name, second.name) == ("demo-peer", "demo-peer-2")
        wait_until(lambda: {"demo-peer", "demo-peer-2"} <= set(student.peers), what="both")
    finally:
        student.close()


class _NoPeer:
    statuses = frozenset()


_NO_PEER = _NoPeer()


def test_five_students_in_one_room_each_get_their_own_demo_peer(relay):
    students = [Session(demo_peer_factory=DemoPeer) for _ in range(5)]
    try:
        for i, s in enumerate(students):
            s.join(f"student{i}", "crowded", relay.url)
        wait_until(lambda: all(s.joined for s in students), what="the joins")
        for s in students:
            s.summon_demo_peer()
        wait_until(lambda: all("keys generated" in s.peers.get("demo-peer", _NO_PEER).statuses
                               for s in students), timeout=60, what="five demo peers")
        for s in students:
            s.generate_keys()
            s.share_key("demo-peer")
        wait_until(lambda: all("secure" in s.peers["demo-peer"].statuses for s in students),
                   timeout=60, what="five secure pairs")
        for i, s in enumerate(students):
            s.send("demo-peer", f"from {i}")
        wait_until(lambda: all(texts(s, "demo-peer", "in") for s in students), timeout=60,
                   what="five replies")
        for i, s in enumerate(students):
            assert f"'from {i}'" in texts(s, "demo-peer", "in")[0]
            assert {p for p in s.peers if p.startswith("demo")} == {"demo-peer"}
    finally:
        for s in students:
            s.close()


def test_classmates_demo_peers_are_counted_and_shown_not_hidden_silently(relay):
    from ecc_widgets.panels import PeersPanel

    alice, bob = Session(demo_peer_factory=DemoPeer), Session()
    panel = PeersPanel(bob)
    try:
        alice.join("alice", "counted", relay.url)
        wait_until(lambda: alice.joined, what="alice's join")
        assert panel.hidden.value == ""
        alice.summon_demo_peer()
        wait_until(lambda: "demo-peer" in alice.peers, what="alice's demo peer")
        bob.join("bob", "counted", relay.url)  # the relay counts hidden members in the ack
        wait_until(lambda: bob.hidden_in_room == 1, what="the count of hidden members")
        assert "demo-peer" not in bob.peers  # not bob's to see or reach ...
        wait_until(lambda: "1 demo peer<" in panel.hidden.value, what="the line")  # ... said
    finally:
        panel.close()
        alice.close()
        bob.close()


def test_the_demo_peer_comes_back_after_the_relay_restarts(relay):
    student = Session(demo_peer_factory=DemoPeer)
    try:
        student.join("student", "restart", relay.url)
        wait_until(lambda: student.joined, what="the join")
        student.summon_demo_peer()
        wait_until(lambda: "demo-peer" in student.peers, what="the demo peer")
        relay.restart()   # an empty relay: the invite token is gone with it
        wait_until(lambda: "demo-peer" not in student.peers, timeout=30, what="it gone")
        wait_until(lambda: student.joined and "demo-peer" in student.peers, timeout=60,
                   what="the demo peer back (its token registered again)")
        student.generate_keys()
        student.share_key("demo-peer")
        wait_until(lambda: "secure" in student.peers["demo-peer"].statuses, timeout=30,
                   what="secure")
        student.send("demo-peer", "still there?")
        wait_until(lambda: texts(student, "demo-peer", "in"), timeout=30, what="the reply")
    finally:
        student.close()
