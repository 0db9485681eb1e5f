"""Message protection rules, one peer at a time, with no relay, no threads and no clock.

Each test seals with one `Channel` and opens with another, as Alice and Bob would, then
changes what a hostile relay could change and checks the verdict and its reason.
"""

from __future__ import annotations

import json

import pytest

from ecc_widgets import crypto
from ecc_widgets.session.channel import (
    MAX_RECEIPT_IDS,
    RECEIPT,
    REPLAY_WINDOW,
    Accepted,
    Channel,
    Duplicate,
    KeyStates,
    Rejected,
    associated_data,
)
from ecc_widgets.session.records import (
    DOWNGRADE,
    MALFORMED,
    NO_KEY,
    REFLECTED,
    REORDERED,
    REPLAYED,
    STALE,
    TAMPERED,
    WRONG_CURVE,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NONCE = bytes(12)


def channel(me: str, peer: str, *, room: str = "lab", key: bytes = KEY,
            curve: str = "P-256", legacy: bool = False) -> Channel:
    c = Channel(room=room, me=me, peer=peer)
    c.legacy = legacy
    c.set_key(key, curve=curve)
    return c


@pytest.fixture
def alice() -> Channel:
    return channel("alice", "bob")


@pytest.fixture
def bob() -> Channel:
    return channel("bob", "alice")


def nonces():
    n = 0
    while True:
        n += 1
        yield n.to_bytes(12, "big")


def sealed(sender: Channel, text: str = "hi", *, message_id: str = "m1", **kw) -> dict:
    return sender.seal(text.encode(), message_id=message_id, **kw).payload


def test_a_sealed_message_opens_with_its_text_and_context(alice, bob):
    out = alice.seal(b"hello bob", message_id="m1", nonce=NONCE)
    assert out.seq == 1 and out.payload["seq"] == 1 and out.payload["id"] == "m1"
    assert out.payload["v"] == 1 and out.payload["curve"] == "P-256"
    assert "kind" not in out.payload
    assert json.loads(out.associated_data) == {"v": 1, "room": "lab", "from": "alice",
                                               "to": "bob", "curve": "P-256", "seq": 1}
    verdict = bob.open(out.payload)
    assert verdict == Accepted("hello bob", "", 1, out.associated_data)


def test_sealing_is_deterministic_given_the_nonce(alice):
    twin = channel("alice", "bob")
    one = alice.seal(b"same", message_id="m", nonce=NONCE).payload
    two = twin.seal(b"same", message_id="m", nonce=NONCE).payload
    assert one == two
    assert alice.seal(b"same", message_id="m", nonce=NONCE).payload["seq"] == 2


@pytest.mark.parametrize(("field", "value"), [
    ("room", "another-room"), ("sender", "mallory"), ("receiver", "carol"),
    ("kind", RECEIPT)])
def test_every_associated_data_field_is_bound(alice, field, value):
    """Opened by someone whose idea of the context differs in one field: tampered."""
    payload = sealed(alice)
    context = {"room": "lab", "me": "bob", "peer": "alice"}
    if field == "room":
        context["room"] = value
    elif field == "sender":
        context["peer"] = value
    elif field == "receiver":
        context["me"] = value
    else:
        payload = {**payload, "kind": value}  # a chat message passed off as a receipt
    receiver = channel(context["me"], context["peer"], room=context["room"])
    verdict = receiver.open(payload)
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(TAMPERED)
    assert verdict.associated_data  # the message shows what was checked


def test_a_changed_sequence_number_is_tampering(alice, bob):
    verdict = bob.open({**sealed(alice), "seq": 5})
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(TAMPERED)
    assert json.loads(verdict.associated_data)["seq"] == 5


def test_a_changed_curve_is_refused_before_decryption(alice, bob):
    verdict = bob.open({**sealed(alice), "curve": "P-384"})
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(WRONG_CURVE)
    # a receiver whose keys are on the other curve cannot be fooled either
    verdict = channel("bob", "alice", curve="P-384").open({**sealed(alice), "curve": "P-384"})
    assert verdict.reason.startswith(TAMPERED)


@pytest.mark.parametrize("field", ["encryptedMessage", "iv", "tag"])
def test_a_flipped_wire_byte_is_tampering(alice, bob, field):
    payload = sealed(alice, "attack at dawn")
    raw = bytearray(crypto.b64decode(payload[field]))
    raw[0] ^= 1
    verdict = bob.open({**payload, field: crypto.b64encode(bytes(raw))})
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(TAMPERED)


def test_the_wrong_key_is_tampering(alice):
    verdict = channel("bob", "alice", key=OTHER_KEY).open(sealed(alice))
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(TAMPERED)


def test_a_message_sealed_before_the_last_key_change_is_stale_not_tampered(alice):
    # sent under the pair's key just before bob's new key reached alice: authentic, but of
    # a key the pair no longer uses; said so (not "tampered") and still not accepted
    bob = channel("bob", "alice")
    before = sealed(alice)
    bob.set_key(OTHER_KEY, curve="P-256")
    verdict = bob.open(before)
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(STALE)
    forged = channel("alice", "bob", key=bytes(32))
    verdict = bob.open(sealed(forged))
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(TAMPERED)
    # only the key replaced last counts: one more change and it is a wrong key again
    bob.set_key(bytes(range(2, 34)), curve="P-256")
    verdict = bob.open(before)
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(TAMPERED)
    # a peer who left took the key with them: what it sealed is still told apart
    bob = channel("bob", "alice")
    bob.drop_key("alice left the room")
    bob.set_key(OTHER_KEY, curve="P-256")
    assert bob.open(sealed(alice, message_id="m2")).reason.startswith(STALE)


def test_no_key_says_why(alice):
    bob = Channel(room="lab", me="bob", peer="alice")
    bob.drop_key("curve mismatch: choose the same curve")
    verdict = bob.open(sealed(alice))
    assert verdict == Rejected(f"{NO_KEY}: curve mismatch: choose the same curve")
    with pytest.raises(ValueError, match="curve mismatch"):
        bob.seal(b"x", message_id="m")


def test_the_same_message_again_is_a_duplicate_and_a_replay_is_refused(alice, bob):
    payload = sealed(alice)
    assert isinstance(bob.open(payload), Accepted)
    assert bob.open(payload) == Duplicate(1)  # a re-send after a reconnect
    verdict = bob.open({**payload, "id": "another id"})  # same number, other id
    assert isinstance(verdict, Rejected)
    assert verdict.reason.startswith(REPLAYED)


def test_reordering_inside_the_window_is_fine_past_it_refused(alice, bob):
    first = sealed(alice, "first", message_id="m1")
    late = [sealed(alice, f"#{i}", message_id=f"m{i}") for i in range(2, REPLAY_WINDOW + 2)]
    assert isinstance(bob.open(late[-1]), Accepted)          # #REPLAY_WINDOW+1 first
    assert isinstance(bob.open(late[0]), Accepted)           # #2: inside the window
    verdict = bob.open(first)                                # #1: one too far behind
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(REORDERED)


def test_each_key_pair_has_its_counters_and_a_key_that_comes_back_finds_them(alice, bob):
    states = KeyStates()

    def use(c: Channel, key: bytes, theirs: bytes, ours: bytes) -> None:
        c.set_key(key, curve="P-256", state=states.get(room="lab", peer=c.peer,
                                                      theirs=theirs, ours=ours))

    use(alice, KEY, b"B1", b"A1")
    use(bob, KEY, b"A1", b"B1")
    first = sealed(alice, message_id="a")
    assert isinstance(bob.open(first), Accepted)
    use(alice, OTHER_KEY, b"B2", b"A1")   # a key "from Bob" (the relay's): new counters
    use(bob, OTHER_KEY, b"A1", b"B2")
    assert sealed(alice, message_id="b")["seq"] == 1
    use(bob, KEY, b"A1", b"B1")           # Bob's real key again: its history with it
    verdict = bob.open({**first, "id": "replayed"})
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(REPLAYED)
    use(alice, KEY, b"B1", b"A1")
    assert sealed(alice, message_id="c")["seq"] == 2


def test_forgotten_key_pairs_keep_their_highest_numbers():
    states = KeyStates(per_peer=2)
    old = states.get(room="lab", peer="bob", theirs=b"B1", ours=b"A1")
    old.window.accept(7, "m7")
    old.send_seq = 3
    for n in range(2, 5):                 # three more keys push B1 out of the whole ones
        states.get(room="lab", peer="bob", theirs=b"B%d" % n, ours=b"A1")
    back = states.get(room="lab", peer="bob", theirs=b"B1", ours=b"A1")
    assert back is not old and back.send_seq == 3
    assert back.window.check(7, "m7-again").startswith(REPLAYED)
    assert back.window.check(5, "m5").startswith(REPLAYED)
    assert back.window.check(8, "m8") is None


def test_our_own_legacy_message_sent_back_is_reflected_not_accepted():
    mine, theirs = channel("alice", "bob", legacy=True), channel("bob", "alice", legacy=True)
    out = mine.seal(b"my own words", message_id="ignored").payload
    assert isinstance(theirs.open(out), Accepted)   # the one raw key works both ways...
    verdict = mine.open(out)                        # ...so only our IVs give it away
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(REFLECTED)


def test_our_own_v1_message_sent_back_fails_authentication(alice):
    verdict = alice.open(sealed(alice, "my own words"))   # sender and receiver are bound
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(TAMPERED)


def test_invalid_utf8_plaintext_is_replaced_not_passed_on(alice, bob):
    lone_surrogate = "\ud800".encode("utf-8", "surrogatepass")
    verdict = bob.open(alice.seal(b"a" + lone_surrogate + b"b", message_id="x").payload)
    assert isinstance(verdict, Accepted) and verdict.text == "a\ufffd\ufffd\ufffdb"
    verdict.text.encode()  # a widget can send it


@pytest.mark.parametrize(("change", "words"), [
    ({"v": 99}, "unsupported protocol version 99"),
    ({"seq": 0}, "sequence number >= 1"),
    ({"seq": True}, "sequence number >= 1"),
    ({"seq": "1"}, "sequence number >= 1"),
    ({"id": 7}, "needs an id"),
    ({"kind": "ping"}, "unknown message kind 'ping'"),
    ({"iv": "not base64!"}, ""),
])
def test_malformed_messages_are_refused_in_words(alice, bob, change, words):
    verdict = bob.open({**sealed(alice), **change})
    assert isinstance(verdict, Rejected)
    assert verdict.reason.startswith(MALFORMED) and words in verdict.reason


def test_a_version_stripped_message_is_a_downgrade(alice, bob):
    payload = {k: v for k, v in sealed(alice).items() if k not in ("v", "seq", "id", "curve")}
    verdict = bob.open(payload)
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(DOWNGRADE)


def test_legacy_messages_are_the_seeds_format_and_only_a_repeated_iv_is_caught():
    old, new = channel("alice", "bob", legacy=True), channel("bob", "alice", legacy=True)
    out = old.seal(b"hello", message_id="ignored", nonce=NONCE)
    assert set(out.payload) == {"encryptedMessage", "iv", "tag"}
    assert out.associated_data == "" and out.seq == 0
    assert crypto.decrypt(KEY, *(crypto.b64decode(out.payload[k])
                                 for k in ("encryptedMessage", "iv", "tag"))) == b"hello"
    assert new.open(out.payload) == Accepted("hello", legacy=True)
    verdict = new.open(out.payload)
    assert isinstance(verdict, Rejected) and verdict.reason.startswith(REPLAYED)
    tampered = {**out.payload, "tag": crypto.b64encode(bytes(16))}
    assert new.open(tampered).reason.startswith(TAMPERED)
    with pytest.raises(ValueError, match="no receipt"):
        old.seal(b"[]", message_id="r", kind=RECEIPT)
    old.queue_receipt("m1")
    assert old.seal_receipts() == []  # legacy peers get no receipts


def test_receipts_are_batched_sealed_like_messages_and_opened_to_ids(alice, bob):
    ids = [f"id{i}" for i in range(MAX_RECEIPT_IDS + 3)]
    assert bob.queue_receipt(ids[0]) is True      # the first one starts a batch
    for i in ids[1:]:
        assert bob.queue_receipt(i) is False
    fresh = nonces()
    numbers = iter(["r1", "r2"])
    receipts = bob.seal_receipts(new_id=lambda: next(numbers), nonce=lambda: next(fresh))
    assert [r.payload["kind"] for r in receipts] == [RECEIPT, RECEIPT]
    assert [r.seq for r in receipts] == [1, 2] and bob.receipts == []
    assert json.loads(receipts[0].associated_data)["kind"] == RECEIPT
    opened = [alice.open(r.payload) for r in receipts]
    assert all(isinstance(v, Accepted) and v.kind == RECEIPT for v in opened)
    assert [i for v in opened for i in v.receipt_ids] == ids
    assert alice.open(receipts[0].payload) == Duplicate(1, RECEIPT)


def test_a_receipt_cannot_pass_for_a_message_nor_carry_garbage(alice, bob):
    bob.queue_receipt("m1")
    receipt = bob.seal_receipts()[0].payload
    as_chat = {k: v for k, v in receipt.items() if k != "kind"}
    assert alice.open(as_chat).reason.startswith(TAMPERED)
    garbage = bob.seal(b'{"not": "a list"}', message_id="r9", kind=RECEIPT).payload
    verdict = alice.open(garbage)
    assert verdict == Rejected("not a list of message ids", RECEIPT, verdict.associated_data)


def test_associated_data_is_the_documented_json():
    ad = associated_data(room="r", sender="a", receiver="b", curve="X25519", seq=3,
                         kind=RECEIPT)
    assert ad == b'{"curve":"X25519","from":"a","kind":"receipt","room":"r","seq":3,' \
                 b'"to":"b","v":1}'
