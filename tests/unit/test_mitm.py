"""Mallory without a relay: real key shares and real sealed messages through `rewrite`.

Each side is a `Channel` keyed exactly as a session keys it (ECDH with the key it received,
then HKDF, or the seed's raw key for a legacy pair), so what opens here opens in a session.
"""

from __future__ import annotations

import pytest

from ecc_widgets import crypto, sas
from ecc_widgets import protocol as P
from ecc_widgets.mitm import ATTACKS, INTERCEPTED_PER_ROOM, Mallory
from ecc_widgets.session.channel import Accepted, Channel, Rejected
from ecc_widgets.session.records import DOWNGRADE, REORDERED, REPLAYED, TAMPERED

ROOM = "lab"
MEMBERS = ["alice", "bob", "carol"]


class Side:
    """One student: a key pair and a channel with each peer, keyed from what arrived."""

    def __init__(self, name: str, legacy: bool = False):
        self.name, self.legacy = name, legacy
        self.private = crypto.generate_private_key("P-256")
        self.public = crypto.public_bytes(self.private)
        self.channels: dict[str, Channel] = {}

    def share(self, to: str) -> dict:
        payload = {"publicKey": crypto.public_key_to_jwk(self.private), "isReply": False,
                   "from": self.name, "fromSocketId": "sid-" + self.name}
        if not self.legacy:
            payload.update(v=P.PROTOCOL_VERSION, curve="P-256")
        return payload

    def receive_key(self, peer: str, payload: dict) -> bytes:
        theirs = crypto.public_key_from_jwk(payload["publicKey"])
        shared = crypto.ecdh(self.private, theirs)
        channel = Channel(room=ROOM, me=self.name, peer=peer)
        channel.legacy = "v" not in payload
        key = crypto.seed_message_key(shared) if channel.legacy else crypto.derive_session_key(
            shared, curve="P-256", public_a=self.public, public_b=crypto.public_bytes(theirs))
        channel.set_key(key, curve="P-256")
        self.channels[peer] = channel
        return crypto.public_bytes(theirs)

    def send(self, to: str, text: str, message_id: str = "m", kind: str = "") -> dict:
        sealed = self.channels[to].seal(text.encode(), message_id=message_id, kind=kind)
        return {**sealed.payload, "from": self.name, "fromSocketId": "sid-" + self.name,
                "timestamp": 1}


def exchange(mallory: Mallory, a: Side, b: Side) -> tuple[bytes, bytes]:
    """a shares with b, b answers: b's view of a's public key, and a's view of b's."""
    seen = {}
    for x, y in ((a, b), (b, a)):
        [(to, event, out)] = mallory.rewrite(ROOM, P.RECEIVE_PUBLIC_KEY, x.share(y.name),
                                             x.name, y.name, MEMBERS)
        assert (to, event) == (y.name, P.RECEIVE_PUBLIC_KEY)
        seen[y.name] = y.receive_key(x.name, out)
    return seen[b.name], seen[a.name]


def through(mallory: Mallory, sender: Side, to: str, payload: dict) -> list:
    return mallory.rewrite(ROOM, P.RECEIVE_MESSAGE, payload, sender.name, to, MEMBERS)


@pytest.fixture
def mallory() -> Mallory:
    return Mallory(clock=lambda: 1234.5)


@pytest.fixture
def alice() -> Side:
    return Side("alice")


@pytest.fixture
def bob() -> Side:
    return Side("bob")


def test_no_attack_changes_nothing(mallory, alice, bob):
    bob_seen, alice_seen = exchange(mallory, alice, bob)
    assert (bob_seen, alice_seen) == (alice.public, bob.public)
    payload = alice.send("bob", "hello")
    assert through(mallory, alice, "bob", payload) == [("bob", P.RECEIVE_MESSAGE, payload)]
    assert mallory.intercepted(ROOM) == []


def test_the_man_in_the_middle_reads_and_relays_both_ways(mallory, alice, bob):
    mallory.set_attack(ROOM, "mitm", True)
    bob_seen, alice_seen = exchange(mallory, alice, bob)
    # each side holds a key of Mallory's: the safety numbers differ
    assert bob_seen != alice.public and alice_seen != bob.public
    assert crypto.safety_number(alice.public, alice_seen) != \
        crypto.safety_number(bob.public, bob_seen)

    for i in range(1, 3):
        [(to, _, out)] = through(mallory, alice, "bob", alice.send("bob", f"hi bob {i}", f"a{i}"))
        verdict = bob.channels["alice"].open(out)
        assert to == "bob" and isinstance(verdict, Accepted) and verdict.text == f"hi bob {i}"
        assert verdict.seq == i   # the same sequence numbers, so nothing looks out of order
    [(_, _, out)] = through(mallory, bob, "alice", bob.send("alice", "hi alice", "b1"))
    assert alice.channels["bob"].open(out).text == "hi alice"
    # receipts are carried too (delivery ticks keep working) and not logged
    [(_, _, out)] = through(mallory, bob, "alice", bob.send("alice", '["a1"]', "r1",
                                                            kind="receipt"))
    assert alice.channels["bob"].open(out).receipt_ids == ("a1",)

    log = [(e.sender, e.receiver, e.text, e.attack) for e in mallory.intercepted(ROOM)]
    assert log == [("alice", "bob", "hi bob 1", "mitm"), ("alice", "bob", "hi bob 2", "mitm"),
                   ("bob", "alice", "hi alice", "mitm")]
    assert mallory.state({ROOM: MEMBERS})["rooms"][ROOM]["intercepted"][0] == {
        "time": 1234.5, "from": "alice", "to": "bob", "text": "hi bob 1", "attack": "mitm",
        "edited": False}


def test_mallory_edits_the_next_message_then_every_one(mallory, alice, bob):
    mallory.set_attack(ROOM, "mitm", True)
    exchange(mallory, alice, bob)
    mallory.replace_next(ROOM, "send the money to mallory")
    [(_, _, out)] = through(mallory, alice, "bob", alice.send("bob", "do not pay", "a1"))
    assert bob.channels["alice"].open(out).text == "send the money to mallory"
    [(_, _, out)] = through(mallory, alice, "bob", alice.send("bob", "ok?", "a2"))
    assert bob.channels["alice"].open(out).text == "ok?"   # only the next one
    mallory.edit(ROOM, str.upper)
    [(_, _, out)] = through(mallory, alice, "bob", alice.send("bob", "quiet", "a3"))
    assert bob.channels["alice"].open(out).text == "QUIET"
    first = mallory.intercepted(ROOM)[0]
    assert (first.text, first.edited, first.delivered) == ("do not pay", True,
                                                          "send the money to mallory")


def test_the_seed_protocol_cannot_tell(mallory):
    seed, other = Side("alice", legacy=True), Side("bob", legacy=True)
    mallory.set_attack(ROOM, "mitm", True)
    exchange(mallory, seed, other)
    [(_, _, out)] = through(mallory, seed, "bob", seed.send("bob", "raw ecdh"))
    verdict = other.channels["alice"].open(out)
    assert isinstance(verdict, Accepted) and verdict.legacy and verdict.text == "raw ecdh"
    assert [e.text for e in mallory.intercepted(ROOM)] == ["raw ecdh"]


def test_keys_shared_before_the_attack_stay_unreadable(mallory, alice, bob):
    exchange(mallory, alice, bob)
    mallory.set_attack(ROOM, "mitm", True)
    payload = alice.send("bob", "private")
    [(_, _, out)] = through(mallory, alice, "bob", payload)
    assert out == payload and bob.channels["alice"].open(out).text == "private"
    assert "unreadable" in mallory.intercepted(ROOM)[0].text


def secure_with(mallory, attack, alice, bob) -> None:
    exchange(mallory, alice, bob)
    mallory.set_attack(ROOM, attack, True)


def test_replay_is_caught(mallory, alice, bob):
    secure_with(mallory, "replay", alice, bob)
    first, again = through(mallory, alice, "bob", alice.send("bob", "pay 10"))
    assert isinstance(bob.channels["alice"].open(first[2]), Accepted)
    verdict = bob.channels["alice"].open(again[2])
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(REPLAYED)


def test_reorder_holds_one_back_and_is_noticed(mallory, alice, bob):
    secure_with(mallory, "reorder", alice, bob)
    assert through(mallory, alice, "bob", alice.send("bob", "first", "a1")) == []
    second, first = through(mallory, alice, "bob", alice.send("bob", "second", "a2"))
    assert bob.channels["alice"].open(second[2]).text == "second"
    late = bob.channels["alice"].open(first[2])
    assert late.text == "first" and late.note.startswith(REORDERED)


def test_drop_delivers_nothing(mallory, alice, bob):
    secure_with(mallory, "drop", alice, bob)
    assert through(mallory, alice, "bob", alice.send("bob", "lost")) == []
    assert mallory.intercepted(ROOM)[0].attack == "drop"


def test_bitflip_rotates_through_every_part_and_each_is_tampered(mallory, alice, bob):
    secure_with(mallory, "bitflip", alice, bob)
    for i in range(4):
        [(_, _, out)] = through(mallory, alice, "bob", alice.send("bob", f"#{i}", f"a{i}"))
        verdict = bob.channels["alice"].open(out)
        assert isinstance(verdict, Rejected) and verdict.reason.startswith(TAMPERED)
    said = [e.text for e in mallory.intercepted(ROOM)]
    assert [s.split()[4] if "bit" in s else "seq" for s in said] == [
        "ciphertext", "nonce", "tag", "seq"]


def test_strip_downgrades_key_shares_and_messages(mallory, alice, bob):
    exchange(mallory, alice, bob)
    mallory.set_attack(ROOM, "strip", True)
    [(_, _, share)] = mallory.rewrite(ROOM, P.RECEIVE_PUBLIC_KEY, alice.share("bob"), "alice",
                                      "bob", MEMBERS)
    assert "v" not in share and share["publicKey"] == alice.share("bob")["publicKey"]
    [(_, _, out)] = through(mallory, alice, "bob", alice.send("bob", "v1 message"))
    verdict = bob.channels["alice"].open(out)
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(DOWNGRADE)


def test_redirect_sends_it_to_someone_else_who_rejects_it(mallory, alice, bob):
    carol = Side("carol")
    exchange(mallory, alice, carol)
    secure_with(mallory, "redirect", alice, bob)
    [(to, _, out)] = through(mallory, alice, "bob", alice.send("bob", "for bob only"))
    assert to == "carol" and out["from"] == "alice"
    verdict = carol.channels["alice"].open(out)
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(TAMPERED)


def test_controls_and_bounds(mallory, alice, bob):
    with pytest.raises(ValueError, match="unknown attack"):
        mallory.set_attack(ROOM, "nuke", True)
    assert mallory.set_attack(ROOM, "drop", True) == {a: a == "drop" for a in ATTACKS}
    exchange(mallory, alice, bob)
    for i in range(INTERCEPTED_PER_ROOM + 20):
        through(mallory, alice, "bob", alice.send("bob", "x", f"m{i}"))
    assert len(mallory.intercepted(ROOM)) == INTERCEPTED_PER_ROOM
    state = mallory.state({"other": ["zoe"]})
    assert state["rooms"]["other"] == {"members": ["zoe"], "attacks": dict.fromkeys(
        ATTACKS, False), "intercepted": []}


def sas_side(side: Side, peer: str, theirs: bytes) -> sas.Exchange:
    """`side`'s short-code exchange with `peer`, keyed as a session keys it."""
    public = crypto.public_key_from_bytes("P-256", theirs)
    return sas.Exchange(committer=sas.is_committer(side.name, peer),
                        shared_secret=crypto.ecdh(side.private, public), curve="P-256",
                        ours=side.public, theirs=theirs)


@pytest.mark.parametrize("also", ["", "bitflip", "replay", "drop", "reorder", "redirect"])
def test_mallory_carries_the_short_codes_exchange_and_the_codes_differ(mallory, alice, bob,
                                                                      also):
    mallory.set_attack(ROOM, "mitm", True)
    if also:
        mallory.set_attack(ROOM, also, True)   # the other attacks leave the exchange alone
    bob_seen, alice_seen = exchange(mallory, alice, bob)
    sides = {"alice": (alice, sas_side(alice, "bob", alice_seen)),
             "bob": (bob, sas_side(bob, "alice", bob_seen))}
    queue = [("alice", "bob", m) for m in sides["alice"][1].start()]
    n = 0
    while queue:
        frm, to, (kind, body) = queue.pop(0)
        n += 1
        sealed = sas.seal(sides[frm][0].channels[to].key, kind, body, room=ROOM, sender=frm,
                          receiver=to, curve="P-256", message_id=f"s{n}")
        payload = {**sealed, "from": frm, "fromSocketId": "sid-" + frm, "timestamp": 1}
        [(target, event, out)] = through(mallory, sides[frm][0], to, payload)
        assert (target, event, out["kind"]) == (to, P.RECEIVE_MESSAGE, kind)
        assert out["encryptedMessage"] != payload["encryptedMessage"]   # sealed again
        got = sas.open_sealed(sides[to][0].channels[frm].key, out, room=ROOM, sender=frm,
                              receiver=to, curve="P-256")
        assert got == (kind, body)
        queue.extend((to, frm, m) for m in sides[to][1].receive(*got))
    assert n == 3
    codes = [ex.code for _side, ex in sides.values()]
    assert all(ex.state == sas.DONE for _side, ex in sides.values()) and codes[0] != codes[1]
    assert mallory.intercepted(ROOM) == []   # not messages: nothing in her log


def test_a_new_key_behind_mallory_is_a_new_key_in_front_of_her(mallory, alice, bob):
    mallory.set_attack(ROOM, "mitm", True)
    bob_seen, alice_seen = exchange(mallory, alice, bob)
    again = exchange(mallory, alice, bob)          # the same keys shared again: the same fakes
    assert again == (bob_seen, alice_seen)
    bob.private = crypto.generate_private_key("P-256")   # bob makes a new key...
    bob.public = crypto.public_bytes(bob.private)
    [(_, _, out)] = mallory.rewrite(ROOM, P.RECEIVE_PUBLIC_KEY, bob.share("alice"), "bob",
                                    "alice", MEMBERS)
    # ...so alice sees a new key too, as she would without Mallory: both sides then run a
    # new exchange of the short code, which Mallory carries
    assert alice.receive_key("bob", out) not in (alice_seen, bob.public)
