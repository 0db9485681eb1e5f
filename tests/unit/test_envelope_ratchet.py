"""The Double Ratchet as an envelope version, with no relay: two channels keyed as key
agreement keys them converge over random conversations with loss and reordering, and
hostile headers are refused with their reason, changing nothing for the honest pair."""

from __future__ import annotations

import random

import pytest

from ecc_widgets import crypto, envelope
from ecc_widgets import protocol as P
from ecc_widgets.envelope import RATCHET, V1, KeyState
from ecc_widgets.mitm import Mallory
from ecc_widgets.ratchet import BAD_KEY, MAX_SKIP, TOO_FAR
from ecc_widgets.session.channel import Accepted, Channel, Duplicate, Rejected
from ecc_widgets.session.records import DOWNGRADE, NO_KEY, REPLAYED, TAMPERED

ROOM = "lab"


def keyed(curve: str = "P-256", version: envelope.Version = RATCHET,
          keys: tuple | None = None) -> tuple[Channel, Channel]:
    """Alice's channel with bob and bob's with alice, as `pairs.agree` leaves them."""
    a, b = keys or (crypto.generate_private_key(curve), crypto.generate_private_key(curve))
    out = []
    for me, peer, mine, theirs in (("alice", "bob", a, b), ("bob", "alice", b, a)):
        ours_raw, theirs_raw = crypto.public_bytes(mine), crypto.public_bytes(theirs)
        key = version.derive_key(crypto.ecdh(mine, theirs.public_key()), curve=curve,
                                 ours=ours_raw, theirs=theirs_raw)
        state = KeyState()
        version.start(key, state, private=mine, ours=ours_raw, theirs=theirs_raw,
                      peer_public=theirs.public_key(), curve=curve)
        channel = Channel(room=ROOM, me=me, peer=peer)
        channel.version = version
        channel.set_key(key, curve=curve, state=state)
        out.append(channel)
    return out[0], out[1]


def send(channel: Channel, text: str, message_id: str) -> dict:
    return channel.seal(text.encode(), message_id=message_id).payload


@pytest.mark.parametrize("curve", ["P-256", "X25519", "secp256k1"])
def test_either_side_may_send_first_and_each_message_has_its_own_key(curve):
    for first in (0, 1):
        pair = keyed(curve)
        x, y = pair[first], pair[1 - first]
        one, two = send(x, "one", "m1"), send(x, "two", "m2")
        assert one["dh"] == two["dh"] and (one["n"], two["n"]) == (0, 1)
        assert y.open(one).text == "one" and y.open(two).text == "two"
        back = send(y, "back", "m3")
        assert x.open(back).text == "back"
        again = send(x, "again", "m4")
        assert again["dh"] != one["dh"]       # a DH step: a fresh ratchet key
        assert y.open(again).text == "again"
        assert RATCHET.epoch(x.key, x.state) == RATCHET.epoch(y.key, y.state)


def test_random_conversations_with_loss_and_reordering_converge():
    rng = random.Random(20)
    for _ in range(25):
        alice, bob = keyed()
        sides = {"alice": (alice, bob), "bob": (bob, alice)}
        in_flight: list[tuple[str, dict, str]] = []
        delivered = 0
        for i in range(rng.randint(5, 60)):
            who = rng.choice(("alice", "bob"))
            text = f"{who} {i}"
            in_flight.append((who, send(sides[who][0], text, f"{who}-{i}"), text))
            while in_flight and rng.random() < 0.6:
                # deliver one of the oldest few (reordering), or lose it
                who, payload, text = in_flight.pop(rng.randrange(min(4, len(in_flight))))
                if rng.random() < 0.15:
                    continue                       # lost
                verdict = sides[who][1].open(payload)
                assert isinstance(verdict, Accepted) and verdict.text == text, verdict
                delivered += 1
        for who, payload, text in in_flight:
            assert sides[who][1].open(payload).text == text
        assert delivered


def test_the_same_message_again_is_a_re_send_and_with_another_id_a_replay():
    alice, bob = keyed()
    payload = send(alice, "once", "m1")
    assert bob.open(payload).text == "once"
    assert isinstance(bob.open(dict(payload)), Duplicate)
    again = bob.open({**payload, "id": "m1-again"})
    assert isinstance(again, Rejected) and again.reason.startswith(REPLAYED)


def hostile(payload: dict, what: str) -> dict:
    out = dict(payload)
    if what == "past MAX_SKIP":
        out["n"] = MAX_SKIP + 5
    elif what == "off the curve":
        raw = bytearray(crypto.b64decode(out["dh"]))
        raw[-1] ^= 1                               # (x, y + 1) is not on P-256
        out["dh"] = crypto.b64encode(bytes(raw))
    elif what == "tampered header":
        out["pn"] = out["pn"] + 1
    elif what == "key deleted":
        out["seq"], out["id"] = out["seq"] + 500, "fresh-id"   # a message already opened
    return out


@pytest.mark.parametrize("what,reason", [
    ("past MAX_SKIP", TOO_FAR), ("off the curve", BAD_KEY), ("tampered header", TAMPERED),
    ("key deleted", REPLAYED)])
def test_hostile_headers_are_refused_with_their_reason_and_nothing_is_lost(what, reason):
    alice, bob = keyed()
    assert alice.open(send(bob, "hello", "b1")).text == "hello"     # alice's next is a DH step
    first = send(alice, "first", "a1")
    # the message to spoil: a new chain for the off-curve key, the one opened for a replay
    target = first if what in ("off the curve", "key deleted") else send(alice, "x", "a2")
    if what == "key deleted":
        assert bob.open(first).text == "first"
    before = bob.state.extra.ratchet.summary()
    verdict = bob.open(hostile(target, what))
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(reason), verdict
    assert bob.state.extra.ratchet.summary() == before            # nothing changed
    if what != "key deleted":
        assert bob.open(first).text == "first"
    later = send(alice, "later", "a3")
    assert bob.open(later).text == "later"
    assert alice.open(send(bob, "reply", "b2")).text == "reply"


def test_a_ratchet_pair_refuses_v1_and_a_v1_pair_refuses_ratchet_messages():
    keys = (crypto.generate_private_key("P-256"), crypto.generate_private_key("P-256"))
    alice, bob = keyed(keys=keys)
    static_alice, static_bob = keyed(version=V1, keys=keys)
    v1 = static_alice.seal(b"static", message_id="s1").payload
    verdict = bob.open(v1)
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(DOWNGRADE)
    verdict = static_bob.open(send(alice, "ratchet", "r1"))
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(NO_KEY)


def test_an_evicted_ratchet_is_not_started_again():
    state = KeyState(send_seq=3)   # what KeyStates keeps of an evicted key pair
    a, b = crypto.generate_private_key("P-256"), crypto.generate_private_key("P-256")
    with pytest.raises(ValueError, match="forgotten"):
        RATCHET.start(bytes(32), state, private=a, ours=crypto.public_bytes(a),
                      theirs=crypto.public_bytes(b), peer_public=b.public_key(),
                      curve="P-256")


# -- Mallory with two ratchets, as in tests/unit/test_mitm.py

def test_mallory_runs_two_ratchets_and_reads_both_ways_across_dh_steps():
    mallory = Mallory(clock=lambda: 1.0)
    mallory.set_attack(ROOM, "mitm", True)
    members = ["alice", "bob"]
    private = {n: crypto.generate_private_key("P-256") for n in members}
    channels: dict[str, Channel] = {}
    for sender, target in (("alice", "bob"), ("bob", "alice")):
        share = {"publicKey": crypto.public_key_to_jwk(private[sender]), "isReply": False,
                 "v": RATCHET.number, "curve": "P-256", "from": sender}
        [(_to, _event, out)] = mallory.rewrite(ROOM, P.RECEIVE_PUBLIC_KEY, share, sender,
                                               target, members)
        fake = crypto.public_key_from_jwk(out["publicKey"])
        mine = private[target]
        ours, theirs = crypto.public_bytes(mine), crypto.public_bytes(fake)
        assert theirs != crypto.public_bytes(private[sender])   # her key, not the sender's
        key = RATCHET.derive_key(crypto.ecdh(mine, fake), curve="P-256", ours=ours,
                                 theirs=theirs)
        state = KeyState()
        RATCHET.start(key, state, private=mine, ours=ours, theirs=theirs, peer_public=fake,
                      curve="P-256")
        channel = channels[target] = Channel(room=ROOM, me=target, peer=sender)
        channel.version = RATCHET
        channel.set_key(key, curve="P-256", state=state)
    script = [("alice", "bob", "hi bob"), ("bob", "alice", "hi alice"),
              ("alice", "bob", "a DH step"), ("alice", "bob", "same chain"),
              ("bob", "alice", "another step")]
    for i, (sender, target, text) in enumerate(script):
        payload = {**send(channels[sender], text, f"m{i}"), "from": sender}
        [(to, _event, out)] = mallory.rewrite(ROOM, P.RECEIVE_MESSAGE, payload, sender,
                                              target, members)
        assert to == target and out["dh"] != payload["dh"]     # her ratchet's key
        assert channels[target].open(out).text == text
        # a re-send of the same message is delivered as she delivered it the first time
        [(_to, _event, again)] = mallory.rewrite(ROOM, P.RECEIVE_MESSAGE, dict(payload),
                                                 sender, target, members)
        assert again == out and isinstance(channels[target].open(again), Duplicate)
    assert [e.text for e in mallory.intercepted(ROOM)] == [t for _s, _t, t in script]


def test_a_session_offers_the_ratchet_unless_told_static(monkeypatch):
    from ecc_widgets.session import Session
    from ecc_widgets.session.model import MESSAGE_VERSION_ENV

    monkeypatch.delenv(MESSAGE_VERSION_ENV, raising=False)
    made = [Session(), Session(message_version="static")]
    monkeypatch.setenv(MESSAGE_VERSION_ENV, "static")
    made += [Session(), Session(message_version="ratchet")]
    try:
        assert [s._core.offer for s in made] == [RATCHET, V1, V1, RATCHET]
    finally:
        for s in made:
            s.close()
    monkeypatch.setenv(MESSAGE_VERSION_ENV, "rot13")
    with pytest.raises(ValueError, match="message_version"):
        Session()


def test_the_chat_start_is_the_specification_s_start_after_alice_s_first_message():
    # start_ratchet's Bob is RatchetInitBob after a message from RatchetInitAlice whose
    # first ratchet key is Alice's long-term key: the same root, chains and keys.
    from ecc_widgets.ratchet import Ratchet, kdf_ck, root_key_from_session_key

    for curve in ("P-256", "X25519"):
        keys = sorted((crypto.generate_private_key(curve) for _ in range(2)),
                      key=crypto.public_bytes)
        a, b = keys                       # the smaller public key is Alice
        A, B = crypto.public_bytes(a), crypto.public_bytes(b)
        key = RATCHET.derive_key(crypto.ecdh(a, b.public_key()), curve=curve, ours=A,
                                 theirs=B)
        fresh = crypto.generate_private_key(curve)
        bob = envelope.start_ratchet(key, private=b, ours=B, theirs=A,
                                     peer_public=a.public_key(), curve=curve,
                                     generate=lambda c, k=fresh: k)
        alice = envelope.start_ratchet(key, private=a, ours=A, theirs=B,
                                       peer_public=b.public_key(), curve=curve)
        assert (alice.role, bob.role) == ("alice", "bob")

        sk = root_key_from_session_key(key)
        spec_alice = Ratchet.alice(sk, B, curve, generate=lambda c, k=a: k)
        spec_bob = Ratchet.bob(sk, b, generate=lambda c, k=fresh: k)
        first = spec_alice.seal(b"first", b"")
        spec_bob.open(first.header, first.ciphertext, first.nonce, first.tag, b"")
        mine, spec = bob.ratchet.state, spec_bob.state
        assert (mine.RK, mine.CKs, mine.DHr, mine.public) == \
            (spec.RK, spec.CKs, spec.DHr, spec.public)
        assert kdf_ck(mine.CKr)[0] == spec.CKr               # one message further
        assert kdf_ck(alice.ratchet.state.CKs)[0] == spec_alice.state.CKs   # one sent
        assert alice.ratchet.state.RK == spec_alice.state.RK
