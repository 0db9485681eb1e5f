"""The envelope's table of versions, with no relay, thread or clock: each version seals and
opens alike, `parse` reads a payload once, and a new version is one more entry."""

from __future__ import annotations

import hashlib
import json
from typing import ClassVar

import pytest

from ecc_widgets import crypto, envelope, protocol
from ecc_widgets.envelope import (
    LEGACY,
    MALFORMED,
    REPLAYED,
    TAMPERED,
    V1,
    VERSIONS,
    Context,
    Duplicate,
    EnvelopeError,
    KeyState,
    Opened,
    Rejected,
    Sealed,
)
from ecc_widgets.session.channel import Accepted, Channel
from ecc_widgets.session.delivery import Outbox, Outgoing

KEY = bytes(range(32))
OUT = Context("lab", "alice", "bob", "P-256")
IN = Context("lab", "alice", "bob", "P-256")   # as the receiver names it: same sender


def started(version: envelope.Version) -> tuple[KeyState, KeyState]:
    """Alice's and Bob's states of one key pair, as key agreement leaves them."""
    sent, received = KeyState(), KeyState()
    alice, bob = crypto.generate_private_key("P-256"), crypto.generate_private_key("P-256")
    for state, me, peer in ((sent, alice, bob), (received, bob, alice)):
        version.start(KEY, state, private=me, ours=crypto.public_bytes(me),
                      theirs=crypto.public_bytes(peer), peer_public=peer.public_key(),
                      curve="P-256")
    return sent, received


@pytest.mark.parametrize("version", list(VERSIONS.values()), ids=lambda v: v.name)
def test_every_version_seals_and_opens_and_counts_what_the_wire_carries(version):
    sent, received = started(version)
    sealed = version.seal(KEY, sent, b"hello", OUT, message_id="m1")
    payload = sealed.payload
    assert set(payload) == {*envelope.WIRE_FIELDS, *(f for f in version.fields
                                                     if f != "kind")}
    assert envelope.version_of(payload) is version
    env = envelope.parse(payload)
    # the base64 decoded once, by `parse`; the sealer had the bytes already
    assert (env.ciphertext, env.nonce, env.tag) == (sealed.ciphertext, sealed.nonce,
                                                     sealed.tag)
    assert [len(crypto.b64decode(payload[f])) for f in envelope.WIRE_FIELDS] == \
        [len(sealed.ciphertext), 12, 16]
    opened = version.open(KEY, received, env, IN)
    assert isinstance(opened, Opened) and opened.data == b"hello"
    assert opened.associated_data == sealed.associated_data
    # the same message again is caught by every version (as a re-send or a replay)
    again = version.open(KEY, received, envelope.parse(payload), IN)
    assert isinstance(again, Duplicate) or again.reason.startswith(REPLAYED)


@pytest.mark.parametrize("version", list(VERSIONS.values()), ids=lambda v: v.name)
def test_every_version_derives_the_same_key_on_both_sides(version):
    alice, bob = crypto.generate_private_key("P-256"), crypto.generate_private_key("P-256")
    a, b = crypto.public_bytes(alice), crypto.public_bytes(bob)
    mine = version.derive_key(crypto.ecdh(alice, bob.public_key()), curve="P-256", ours=a,
                              theirs=b)
    theirs = version.derive_key(crypto.ecdh(bob, alice.public_key()), curve="P-256", ours=b,
                                theirs=a)
    assert mine == theirs and len(mine) == 32
    assert version.key_derivation


def test_the_version_is_read_in_one_place():
    assert envelope.version_of({"encryptedMessage": "", "iv": "", "tag": ""}) is LEGACY
    assert envelope.version_of({"v": 1}) is V1
    assert envelope.version_of({"v": 99}) is None and envelope.version_of({"v": "1"}) is None
    with pytest.raises(EnvelopeError, match=f"^{MALFORMED}: unsupported protocol version"):
        envelope.parse({"v": 99, "encryptedMessage": "AA==", "iv": "AA==", "tag": "AA=="})
    # a legacy message has no kind, whatever it carries
    assert envelope.kind_of({"kind": "receipt"}) == ""
    assert envelope.kind_of({"v": 1, "kind": "receipt"}) == envelope.RECEIPT


def test_parse_refuses_what_is_not_a_message():
    sealed = V1.seal(KEY, KeyState(), b"x", OUT, message_id="m").payload
    for payload in ({**sealed, "iv": "!!"}, {**sealed, "kind": "nonsense"},
                    {k: v for k, v in sealed.items() if k != "tag"}):
        with pytest.raises(EnvelopeError, match=f"^{MALFORMED}"):
            envelope.parse(payload)


def test_a_downgraded_message_has_no_header_left_and_is_refused_by_a_v1_pair():
    alice, bob = Channel(room="lab", me="alice", peer="bob"), \
        Channel(room="lab", me="bob", peer="alice")
    for c in (alice, bob):
        c.set_key(KEY, curve="P-256")
    payload = alice.seal(b"hi", message_id="m1", kind="").payload
    stripped = envelope.downgraded(payload)
    assert set(stripped) == set(envelope.WIRE_FIELDS)
    assert envelope.version_of(stripped) is LEGACY
    verdict = bob.open(stripped)
    assert isinstance(verdict, Rejected) and verdict.reason.startswith("downgrade")


def test_a_key_epoch_names_the_keys_never_is_them_and_differs_by_version():
    state = KeyState()
    assert V1.epoch(KEY, state) != LEGACY.epoch(KEY, state)
    assert KEY not in (V1.epoch(KEY, state), LEGACY.epoch(KEY, state))
    before = V1.epoch(KEY, state)
    V1.seal(KEY, state, b"x", OUT, message_id="m")
    assert V1.epoch(KEY, state) == before        # sealing stays in the epoch


def test_mallory_reseals_under_another_key_with_the_same_header():
    payload = V1.seal(KEY, KeyState(), b"secret", OUT, message_id="m1", kind="").payload
    env = envelope.parse(payload)
    other = bytes(32)
    again = V1.reseal(other, V1.decrypt(KEY, env, IN), env, IN)
    assert {k: again[k] for k in V1.fields if k in again} == \
        {k: payload[k] for k in V1.fields if k in payload}
    assert again["iv"] != payload["iv"]
    assert V1.decrypt(other, envelope.parse(again), IN) == b"secret"
    with pytest.raises(crypto.DecryptionError):
        V1.decrypt(KEY, envelope.parse(again), IN)


# -- a new version is one entry in the table: a stateful one, each message under its own key

class HashChain(envelope.Version):
    """A toy version whose key moves on at every message (as a ratchet's chain does): the
    message key is hash(chain key, n), the state holds each direction's counter."""

    name, number, rank = "chain", 7, 2
    fields: ClassVar[tuple[str, ...]] = ("v", "id", "seq", "curve", "kind")
    kinds: ClassVar[tuple[str, ...]] = envelope.CHAT_KINDS
    receipts = True

    def associated_data(self, ctx: Context, *, seq: int = 0, kind: str = "") -> bytes:
        return json.dumps([self.number, ctx.room, ctx.sender, ctx.receiver, seq, kind]).encode()

    def epoch(self, key: bytes, state: KeyState) -> bytes:
        return hashlib.sha256(b"chain epoch" + key).digest()[:16]   # the chain, not a step

    @staticmethod
    def step(key: bytes, n: int) -> bytes:
        return hashlib.sha256(key + n.to_bytes(8, "big")).digest()

    def encrypt(self, key, data, ctx, *, message_id="", seq=0, kind="", nonce=None):
        box = crypto.encrypt(self.step(key, seq), data, nonce=nonce,
                             associated_data=self.associated_data(ctx, seq=seq, kind=kind))
        payload = {"v": self.number, "id": message_id, "seq": seq, "curve": ctx.curve}
        if kind:
            payload["kind"] = kind
        payload.update(zip(envelope.WIRE_FIELDS, map(crypto.b64encode, box), strict=True))
        return Sealed(payload, "", seq, *box)

    def decrypt(self, key, env, ctx):
        return crypto.decrypt(self.step(key, env.seq), env.ciphertext, env.nonce, env.tag,
                              associated_data=self.associated_data(ctx, seq=env.seq,
                                                                   kind=env.kind))

    def seal(self, key, state, data, ctx, *, message_id, kind="", nonce=None):
        state.extra = (state.extra or 0) + 1     # the chain moves on
        return self.encrypt(key, data, ctx, message_id=message_id, seq=state.extra,
                            kind=kind, nonce=nonce)

    def open(self, key, state, env, ctx):
        try:
            data = self.decrypt(key, env, ctx)
        except crypto.DecryptionError:
            return Rejected(f"{TAMPERED}: chain", env.kind)
        verdict = state.window.check(env.seq, env.message_id)
        if verdict is not None:
            return Duplicate(env.seq, env.kind) if verdict == "duplicate" else \
                Rejected(verdict, env.kind)
        state.window.accept(env.seq, env.message_id)
        return Opened(data, env.kind, env.seq)


def test_a_new_stateful_version_is_one_table_entry(monkeypatch):
    chain = HashChain()
    monkeypatch.setitem(VERSIONS, chain.number, chain)
    alice, bob = Channel(room="lab", me="alice", peer="bob"), \
        Channel(room="lab", me="bob", peer="alice")
    for c in (alice, bob):
        c.set_key(KEY, curve="P-256")
        c.version = chain
    epoch = alice.epoch
    box = Outbox()
    box.add(Outgoing("m1", "bob", {}, b"", data=b"typed early"))
    box.joined()
    first = alice.seal(b"one", message_id="m1")
    box.sealed(box.get("m1"), first.payload, alice.epoch, receipts=True)
    second = alice.seal(b"two", message_id="m2")
    assert first.payload["seq"] == 1 and second.payload["seq"] == 2
    assert first.ciphertext != second.ciphertext
    # each message has its own key, yet the pair stays in one epoch: nothing queued drops
    assert alice.epoch == epoch
    send, dropped = box.due(lambda peer: ("sid-bob", alice.epoch))
    assert [o.id for o, _ in send] == ["m1"] and dropped == []
    assert bob.open(second.payload) == Accepted("two", "", 2)
    assert bob.open(first.payload) == Accepted("one", "", 1)   # out of order: each opens
    assert isinstance(bob.open(first.payload), Duplicate)
    # receipts ride the new version too, and a v1 message is now a downgrade
    bob.queue_receipt("m2")
    (receipt,) = bob.seal_receipts()
    assert alice.open(receipt.payload).receipt_ids == ("m2",)
    v1 = Channel(room="lab", me="alice", peer="bob")
    v1.set_key(KEY, curve="P-256")
    assert bob.open(v1.seal(b"old", message_id="m9").payload).reason.startswith("downgrade")
    assert protocol.validate(protocol.SEND_MESSAGE, {**second.payload,
                                                     "targetSocketId": "sid"})
