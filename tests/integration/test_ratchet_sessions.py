"""The Double Ratchet between two real Sessions, through a relay that drops, reorders,
rewrites and replays: both keep converging, every hostile header is refused with its
reason and costs the honest pair nothing, and a stripped ratchet offer is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ecc_widgets import crypto, envelope
from ecc_widgets import protocol as P
from ecc_widgets.ratchet import BAD_KEY, MAX_SKIP, ONE_WAY, TOO_FAR
from ecc_widgets.session import (
    DOWNGRADE,
    REORDERED,
    REPLAYED,
    TAMPERED,
    Session,
    SessionError,
)
from tests.support.malicious_relay import Delivery, MaliciousRelay
from tests.support.polling import wait_until
from tests.support.sessions import codes_ready, pair_up, texts


@pytest.fixture
def relay() -> Iterator[MaliciousRelay]:
    with MaliciousRelay() as server:
        yield server


def secure(a: Session, b: Session, relay: MaliciousRelay) -> None:
    pair_up(a, b, relay.url, "lab")


def chat(d: Delivery, sender: str) -> bool:
    return d.event == P.RECEIVE_MESSAGE and d.sender == sender and "kind" not in d.payload


def refused(session: Session, peer: str) -> list[str]:
    return [m.reason for m in session.conversations.get(peer, ())
            if m.direction == "in" and m.status == "rejected"]


def test_a_conversation_both_ways_survives_loss_and_reordering(relay, sessions):
    a, b = Session(), Session()
    sessions += [a, b]
    secure(a, b, relay)
    held: list[Delivery] = []
    count = {"alice": 0, "bob": 0}

    def lossy(d: Delivery) -> list[Delivery]:
        for who in ("alice", "bob"):
            if chat(d, who):
                count[who] += 1
                n = count[who]
                if n == 2:
                    return []                    # lost
                if n in (3, 6):
                    held.append(d)               # held back, delivered after the next
                    return []
                out, held[:] = [d, *held], []
                return out
        return [d]

    relay.rewrite = lossy
    for i in range(8):
        a.send("bob", f"alice {i}")
        b.send("alice", f"bob {i}")
        # each waits for the other's message of this round: every round is a DH step
        wait_until(lambda i=i: f"bob {i}" in texts(a, "bob", "in") or i in (1, 2, 5),
                   what=f"bob's message {i}")
    wait_until(lambda: len(texts(b, "alice", "in")) == 7 and len(texts(a, "bob", "in")) == 7,
               what="every message not lost")
    expected = [f"{{}} {i}" for i in (0, 3, 2, 4, 6, 5, 7)]   # 1 lost, 2 and 5 held back
    assert sorted(texts(b, "alice", "in")) == sorted(e.format("alice") for e in expected)
    assert sorted(texts(a, "bob", "in")) == sorted(e.format("bob") for e in expected)
    late = [m for m in b.conversations["alice"] if m.direction == "in" and m.reason]
    assert late and all(m.reason.startswith(REORDERED) for m in late)
    assert not refused(a, "bob") and not refused(b, "alice")
    # every message on the wire was a ratchet message, each with its own header
    wire = [d.payload for d in relay.forwarded if chat(d, "alice")]
    assert all(envelope.version_of(p) is envelope.RATCHET for p in wire)
    # DH steps: her first key, and a fresh one once bob's first message came (more depend on
    # whether each side's send crossed the other's: both send at once)
    assert len({p["dh"] for p in wire}) >= 2
    # delivery ticks: bob's receipts confirm what arrived
    wait_until(lambda: sum(m.authenticated for m in a.conversations["bob"]
                           if m.direction == "out") == 7, what="alice's delivery ticks")
    # the Ratchet view: complementary roles, and a timeline with each DH step and the key
    # skipped for the lost message
    views = a.ratchet_view("bob"), b.ratchet_view("alice")
    assert {v.role for v in views} == {"alice", "bob"}
    for view in views:
        kinds = {step.kind for step in view.timeline}
        assert {"send", "receive", "dh receive", "dh send", "skip"} <= kinds, kinds
        assert all(len(step.rk) < 16 for step in view.timeline)   # fingerprints only
    assert views[0].summary["DHs"] == views[1].summary["DHr"] or \
        views[1].summary["DHs"] == views[0].summary["DHr"]


def spoil(payload: dict, what: str) -> dict:
    out = dict(payload)
    if what == "n past MAX_SKIP":
        out["n"] = MAX_SKIP + 1
    elif what == "key off the curve":
        raw = bytearray(crypto.b64decode(out["dh"]))
        raw[-1] ^= 1
        out["dh"] = crypto.b64encode(bytes(raw))
    elif what == "tampered header":
        out["pn"] += 1
    return out


def test_hostile_headers_are_refused_with_their_reason_and_the_pair_goes_on(relay, sessions):
    a, b = Session(), Session()
    sessions += [a, b]
    secure(a, b, relay)
    b.send("alice", "hello alice")
    wait_until(lambda: texts(a, "bob", "in") == ["hello alice"], what="bob's first")
    # alice's next message starts a new chain (a DH step): spoil copies of it, in front of it
    cases = [("n past MAX_SKIP", TOO_FAR), ("key off the curve", BAD_KEY),
             ("tampered header", TAMPERED)]

    def hostile(d: Delivery) -> list[Delivery]:
        if chat(d, "alice") and d.payload.get("n") == 0:
            relay.rewrite = lambda d: [d]
            spoiled = [d.replace(payload={**spoil(d.payload, what), "id": what})
                       for what, _ in cases]
            return [*spoiled, d]
        return [d]

    relay.rewrite = hostile
    a.send("bob", "the genuine one")
    wait_until(lambda: texts(b, "alice", "in") == ["the genuine one"]
               and len(refused(b, "alice")) == 3, what="three refused, the genuine one read")
    reasons = refused(b, "alice")
    assert [r.split(":")[0] for r in reasons] == [reason for _, reason in cases], reasons
    # a replay of the message just read, as a new message (another id and number): its
    # message key was deleted
    genuine = next(d for d in relay.forwarded if chat(d, "alice") and "id" in d.payload
                   and d.payload["id"] not in dict(cases))
    relay.send(genuine.replace(payload={**genuine.payload, "id": "again",
                                        "seq": genuine.payload["seq"] + 10}))
    wait_until(lambda: len(refused(b, "alice")) == 4, what="the replay refused")
    assert refused(b, "alice")[-1].startswith(REPLAYED)
    assert "deleted" in refused(b, "alice")[-1]
    # nothing lost for the honest pair, in either direction
    a.send("bob", "still here")
    b.send("alice", "me too")
    wait_until(lambda: texts(b, "alice", "in")[-1:] == ["still here"]
               and texts(a, "bob", "in")[-1:] == ["me too"], what="both go on")


def test_a_stripped_ratchet_offer_and_a_static_message_are_downgrades(relay, sessions):
    a, b = Session(), Session()
    sessions += [a, b]
    secure(a, b, relay)
    # the relay shows bob alice's known key again, offering only static v1
    share = next(d for d in relay.forwarded if d.event == P.RECEIVE_PUBLIC_KEY
                 and d.sender == "alice")
    assert share.payload["v"] == envelope.RATCHET.number
    relay.send(share.replace(payload={**share.payload, "v": envelope.V1.number,
                                      "isReply": True}))
    wait_until(lambda: any(f"{DOWNGRADE} refused" in e.text for e in b.log),
               what="the stripped offer refused")
    a.send("bob", "still the ratchet")
    wait_until(lambda: texts(b, "alice", "in") == ["still the ratchet"], what="the message")
    # a message passed off as static v1 (a stripped header) is a downgrade
    sent = next(d for d in relay.forwarded if chat(d, "alice"))
    static = {k: v for k, v in sent.payload.items() if k not in ("dh", "n", "pn")}
    relay.send(sent.replace(payload={**static, "v": envelope.V1.number, "id": "static"}))
    wait_until(lambda: refused(b, "alice"), what="the static copy refused")
    assert refused(b, "alice")[0].startswith(DOWNGRADE)


def test_static_is_selectable_and_a_ratchet_client_speaks_it_with_a_static_one(relay,
                                                                              sessions):
    a, b = Session(), Session(message_version="static")
    sessions += [a, b]
    secure(a, b, relay)
    a.send("bob", "to a static peer")
    b.send("alice", "from a static peer")
    wait_until(lambda: texts(b, "alice", "in") == ["to a static peer"]
               and texts(a, "bob", "in") == ["from a static peer"], what="both messages")
    wire = [d.payload for d in relay.forwarded if chat(d, "alice") or chat(d, "bob")]
    assert wire and all(p["v"] == envelope.V1.number and "dh" not in p for p in wire)
    received = next(m for m in a.conversations["bob"] if m.direction == "in")
    assert json.loads(received.associated_data)["v"] == envelope.V1.number
    assert a.ratchet_view("bob") is None and b.ratchet_view("alice") is None
    with pytest.raises(SessionError, match="no ratchet"):
        a.steal("bob", "state")
    with pytest.raises(ValueError, match="message_version"):
        Session(message_version="rot13")


def test_offers_stripped_from_the_first_shares_make_the_codes_differ(relay, sessions):
    # A relay rewriting both key shares' v from the ratchet's 2 to static 1 at first
    # contact (nothing known to compare with yet): the pair speaks static, and the short
    # codes, which bind the offers as each side received them, differ.
    a, b = Session(), Session()
    sessions += [a, b]

    def strip(d: Delivery) -> list[Delivery]:
        if d.event == P.RECEIVE_PUBLIC_KEY:
            return [d.replace(payload={**d.payload, "v": envelope.V1.number})]
        return [d]

    relay.rewrite = strip
    secure(a, b, relay)
    wait_until(lambda: codes_ready(a, b), what="both short codes")
    assert a.ratchet_view("bob") is None and b.ratchet_view("alice") is None   # static
    assert a.peers["bob"].safety_number == b.peers["alice"].safety_number      # real keys
    assert a.peers["bob"].sas != b.peers["alice"].sas


def test_a_static_peer_and_a_ratchet_peer_show_the_same_code(relay, sessions):
    a, b = Session(), Session(message_version="static")
    sessions += [a, b]
    secure(a, b, relay)
    wait_until(lambda: codes_ready(a, b), what="both short codes")
    assert a.peers["bob"].sas == b.peers["alice"].sas


def test_steal_in_the_middle_of_a_real_chat_and_watch_what_it_opens(relay, sessions):
    # The lesson's thief in the kernel: alice's whole state, taken between two messages
    # of a real conversation; then every ciphertext the relay carried is really tried.
    a, b = Session(), Session()
    sessions += [a, b]
    secure(a, b, relay)

    def say(sender: Session, to: str, receiver: Session, name: str, text: str) -> None:
        sender.send(to, text)
        wait_until(lambda: text in texts(receiver, name, "in"), what=repr(text))

    say(a, "bob", b, "alice", "before 1")
    say(b, "alice", a, "bob", "before 2")
    stolen, theft_at = a.steal("bob", "state")
    assert theft_at == 2
    say(a, "bob", b, "alice", "after 1")      # alice's sending chain: the thief follows
    say(b, "alice", a, "bob", "after 2")      # bob's DH step: followed with alice's DHs
    say(a, "bob", b, "alice", "after 3")      # alice's fresh key: healed
    say(b, "alice", a, "bob", "after 4")
    verdicts = a.exposure("bob", stolen, theft_at)
    assert [v.opened for v in verdicts] == [False, False, True, True, False, False], verdicts
    assert [v.plaintext for v in verdicts if v.opened] == [b"after 1", b"after 2"]
    assert verdicts[-1].reason.startswith("healed")
    # bob's receiving chain key, now: one-way, it opens nothing already sent
    chain, at = b.steal("alice", "receiving")
    verdicts = b.exposure("alice", chain, at)
    assert len(verdicts) == 6 and not any(v.opened for v in verdicts)
    assert verdicts[4].reason == ONE_WAY                  # "after 3", in that very chain
