"""Short authentication strings: Matrix's encodings, the commitment exchange (sans-IO), equal
codes on both sides, different ones under a man in the middle, and one guess for a relay that
grinds (the code space shrunk to a few bits for the count, a parameter of the test)."""

from __future__ import annotations

import json
import os
import random

import pytest

from bench.bench_sas import committed_match
from ecc_widgets import crypto, sas
from ecc_widgets import protocol as P


def test_the_emoji_table_is_matrixs_64():
    assert len(sas.EMOJI) == 64 and len({name for _e, name in sas.EMOJI}) == 64
    assert sas.EMOJI[0] == ("🐶", "Dog") and sas.EMOJI[63] == ("📌", "Pin")


def test_encodings_of_known_bytes():
    zeros = sas.from_bytes(bytes(6))
    assert zeros.names == ", ".join(["Dog"] * 7) and zeros.numbers == (1000, 1000, 1000)
    ones = sas.from_bytes(b"\xff" * 6)
    assert ones.names == ", ".join(["Pin"] * 7) and ones.numbers == (9191, 9191, 9191)
    # 6-bit groups 1, 2, ..., 7 (then 6 unused bits): Cat, Lion, Horse, ...
    groups = sum(g << (42 - 6 * i) for i, g in enumerate(range(1, 8)))
    counting = sas.from_bytes(groups.to_bytes(6, "big"))
    assert [name for _e, name in counting.emoji] == [sas.EMOJI[g][1] for g in range(1, 8)]
    # Matrix's decimal method, written out as its specification does
    b = bytes([0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC])
    assert sas.from_bytes(b).numbers == (((b[0] << 5) | (b[1] >> 3)) + 1000,
                                         (((b[1] & 0x7) << 10) | (b[2] << 2) | (b[3] >> 6))
                                         + 1000,
                                         (((b[3] & 0x3F) << 7) | (b[4] >> 1)) + 1000)
    with pytest.raises(ValueError):
        sas.from_bytes(bytes(5))



def keys(curve="X25519"):
    private = crypto.generate_private_key(curve)
    return private, crypto.public_bytes(private)


def side(name, peer, private, theirs_public, ours, theirs, curve="X25519", **kw):
    """One side's exchange, as a session makes it (`sas.Exchanges.get`)."""
    return sas.Exchange(committer=sas.is_committer(name, peer),
                        shared_secret=crypto.ecdh(private, theirs_public), curve=curve,
                        ours=ours, theirs=theirs, **kw)


def run(committer, revealer, carry=lambda kind, body: (kind, body)):
    """Carry every message between the two until neither has anything to send."""
    queue = [(revealer, m) for m in committer.start()] + [(committer, m)
                                                          for m in revealer.start()]
    while queue:
        to, (kind, body) = queue.pop(0)
        other = revealer if to is committer else committer
        kind, body = carry(kind, body)
        queue.extend((other, m) for m in to.receive(kind, body))


def honest_pair(curve="X25519"):
    a, pa = keys(curve)
    b, pb = keys(curve)
    alice = side("alice", "bob", a, b.public_key(), pa, pb, curve)
    bob = side("bob", "alice", b, a.public_key(), pb, pa, curve)
    return alice, bob


@pytest.mark.parametrize("curve", ["P-256", "X25519", "secp256k1"])
def test_both_sides_see_the_same_code_once_the_exchange_is_done(curve):
    alice, bob = honest_pair(curve)
    assert alice.committer and not bob.committer   # "alice" comes first
    assert alice.state == bob.state == sas.COMPARING and alice.code is None
    first = alice.start()
    assert [kind for kind, _ in first] == [P.SAS_COMMIT] and bob.start() == []
    nonce = bob.receive(*first[0])
    assert [kind for kind, _ in nonce] == [P.SAS_NONCE] and bob.code is None
    reveal = alice.receive(*nonce[0])
    assert [kind for kind, _ in reveal] == [P.SAS_REVEAL] and alice.state == sas.DONE
    assert bob.receive(*reveal[0]) == [] and bob.state == sas.DONE
    assert alice.code == bob.code and len(alice.code.emoji) == 7
    assert all(1000 <= n <= 9191 for n in alice.code.numbers)
    # every message passes the protocol's check of its plaintext
    for kind, body in (*first, *nonce, *reveal):
        assert P.validate_sas(kind, json.dumps(body).encode()) == body


def test_a_man_in_the_middle_forwarding_the_exchange_splits_the_code():
    a, pa = keys()
    b, pb = keys()
    m1, pm1 = keys()    # Mallory's key shown to alice as bob's
    m2, pm2 = keys()    # ...and to bob as alice's
    alice = side("alice", "bob", a, m1.public_key(), pa, pm1)
    bob = side("bob", "alice", b, m2.public_key(), pb, pm2)
    run(alice, bob)     # the same nonces reach both: the secrets still differ
    assert alice.state == bob.state == sas.DONE and alice.code != bob.code


def test_roles_are_fixed_by_the_names():
    assert sas.is_committer("alice", "bob") and not sas.is_committer("bob", "alice")
    assert sas.is_committer("Alice", "bob") and not sas.is_committer("bob", "Alice")
    for _ in range(50):
        x, y = ("".join(random.choices("abcXYZé", k=4)) for _ in range(2))
        if x != y:
            assert sas.is_committer(x, y) != sas.is_committer(y, x)


def test_the_code_binds_the_curve_the_keys_in_their_roles_and_both_nonces():
    secret, n, m = bytes(range(32)), b"n" * 32, b"m" * 32
    base = dict(curve="P-256", committer_key=b"a", revealer_key=b"b", committer_nonce=n,
                revealer_nonce=m)
    code = sas.sas_bytes(secret, **base)
    assert len(code) == sas.SAS_BYTES
    for name, other in (("curve", "P-384"), ("committer_key", b"b"), ("revealer_key", b"a"),
                        ("committer_nonce", m), ("revealer_nonce", n)):
        assert sas.sas_bytes(secret, **{**base, name: other}) != code, name
    # length-prefixed parts: moving a byte between the keys changes the result
    assert sas.sas_bytes(secret, **{**base, "committer_key": b"", "revealer_key": b"ab"}) != code
    assert sas.sas_bytes(bytes(32), **base) != code
    with pytest.raises(ValueError):
        sas.sas_bytes(b"", **base)
    # the versions offered, in their roles: a rewritten offer is another code
    offered = sas.sas_bytes(secret, **base, offers=bytes((2, 2)))
    assert offered != code
    assert sas.sas_bytes(secret, **base, offers=bytes((2, 1))) != offered
    assert sas.sas_bytes(secret, **base, offers=bytes((1, 2))) != \
        sas.sas_bytes(secret, **base, offers=bytes((2, 1)))


def test_a_revealer_answers_one_commitment_per_key_pair():
    alice, bob = honest_pair()
    commit = alice.start()[0]
    answer = bob.receive(*commit)
    assert not bob.repeated
    assert bob.receive(*commit) == answer and bob.repeated   # a re-send: the same nonce
    assert bob.pending() == answer                    # and after a reconnect
    other = (P.SAS_COMMIT, {"commit": os.urandom(32).hex()})
    assert bob.receive(*other) == [] and "one guess" in bob.problem
    assert bob.state == sas.COMPARING and bob.pending() == answer
    # the first commitment still holds: its opening completes the exchange
    bob.receive(*alice.receive(*answer[0])[0])
    assert bob.state == sas.DONE and bob.code == alice.code


def test_a_committer_takes_one_nonce_and_an_opening_that_does_not_match_fails():
    alice, bob = honest_pair()
    nonce = bob.receive(*alice.start()[0])[0]
    reveal = alice.receive(*nonce)
    assert alice.receive(*nonce) == reveal            # the same nonce again: the same reveal
    code = alice.code
    assert alice.receive(P.SAS_NONCE, {"nonce": os.urandom(32).hex()}) == []
    assert alice.code == code and "one guess" in alice.problem
    # a reveal that is not the committed nonce: no code at all, for good
    assert bob.receive(P.SAS_REVEAL, {"nonce": os.urandom(32).hex()}) == []
    assert bob.state == sas.FAILED and bob.code is None and "commitment" in bob.problem
    assert bob.receive(*reveal[0]) == [] and bob.code is None and bob.pending() == []


def test_messages_out_of_turn_are_ignored():
    alice, bob = honest_pair()
    assert bob.receive(P.SAS_REVEAL, {"nonce": "00" * 32}) == [] and bob.state == sas.COMPARING
    assert bob.receive(P.SAS_NONCE, {"nonce": "00" * 32}) == [] and "out of turn" in bob.problem
    assert alice.receive(P.SAS_COMMIT, {"commit": "00" * 32}) == []
    assert alice.receive(P.SAS_REVEAL, {"nonce": "00" * 32}) == []
    assert alice.state == bob.state == sas.COMPARING
    run(alice, bob)
    assert alice.code == bob.code is not None


def test_pending_is_what_a_reconnect_sends_again():
    alice, bob = honest_pair()
    commit = alice.start()
    assert alice.start() == [] and alice.pending() == commit   # drawn once
    reveal = alice.receive(*bob.receive(*commit[0])[0])
    assert alice.pending() == commit + reveal and bob.pending() != []
    bob.receive(*reveal[0])
    assert bob.pending() == []


def test_exchanges_are_kept_per_key_pair_and_bounded():
    store = sas.Exchanges(size=3)
    args = dict(room="lab", me="alice", peer="bob", shared_secret=b"s" * 32, curve="X25519")
    first = store.get(theirs=b"t1", ours=b"o", **args)
    assert store.get(theirs=b"t1", ours=b"o", **args) is first    # a re-join finds it
    assert store.get(theirs=b"t2", ours=b"o", **args) is not first
    for n in range(3, 6):
        store.get(theirs=b"t%d" % n, ours=b"o", **args)
    assert len(store) == 3
    assert first.committer and not store.get(theirs=b"t1", ours=b"o", **{
        **args, "me": "bob", "peer": "alice"}).committer


@pytest.mark.parametrize(("kind", "data"), [
    (P.SAS_COMMIT, b'{"nonce": "' + b"00" * 32 + b'"}'),
    (P.SAS_NONCE, b'{"nonce": "' + b"00" * 31 + b'"}'),
    (P.SAS_NONCE, b'{"nonce": "' + b"AA" * 32 + b'"}'),
    (P.SAS_REVEAL, b'{"nonce": "' + b"00" * 32 + b'", "x": 1}'),
    (P.SAS_REVEAL, b"[]"),
    (P.SAS_REVEAL, b"\xff"),
    (P.SAS_REVEAL, b'{"nonce": "' + b"0" * 200 + b'"}'),
    ("receipt", b'{"nonce": "' + b"00" * 32 + b'"}'),
])
def test_the_protocol_refuses_malformed_bodies(kind, data):
    with pytest.raises(P.ProtocolError):
        P.validate_sas(kind, data)


def test_leading_bits():
    code = sas.from_bytes(bytes([0b10110000, 0, 0, 0, 0, 0xFF]))
    assert code.leading_bits(0) == 0 and code.leading_bits(4) == 0b1011
    assert code.leading_bits(48) == int.from_bytes(code.data, "big")
    with pytest.raises(ValueError):
        code.leading_bits(49)


# ---------------------------------------------------------------- a relay that grinds

BITS = 4          # the part of the code the students compare, shrunk for counting: 1 in 16
TRIALS = 400
TRIES = 4096      # how many keys (or commitments) the grinder may try per trial


def keys_only_match(bits):
    """The code without a commitment (`sas.keys_only_bytes`): Mallory answers bob first,
    then grinds the key she shows alice until alice's code matches bob's in `bits` bits."""
    a, pa = keys()
    b, pb = keys()
    m2, pm2 = keys()
    bobs = sas.keys_only_bytes(crypto.ecdh(b, m2.public_key()), curve="X25519",
                               public_a=pb, public_b=pm2)
    for tries in range(1, TRIES + 1):
        m1, pm1 = keys()
        alices = sas.keys_only_bytes(crypto.ecdh(a, m1.public_key()), curve="X25519",
                                     public_a=pa, public_b=pm1)
        if sas.leading_bits(alices, bits) == sas.leading_bits(bobs, bits):
            return tries
    return 0


def test_without_a_commitment_a_relay_grinds_the_code_with_a_few_keys():
    tries = [keys_only_match(BITS) for _ in range(TRIALS // 8)]
    assert all(tries)                           # it always found one...
    assert sum(tries) / len(tries) < 4 * 2 ** BITS   # ...in about 2^BITS keys


def test_with_the_commitment_a_relay_matches_at_the_rate_of_one_guess():
    # Mallory's best play (bench.bench_sas): her nonce to alice (who commits) before
    # alice's is known; to bob, as many commitments as he takes, keeping a match
    matches = sum(committed_match("X25519", BITS) for _ in range(TRIALS))
    # one guess: TRIALS / 2^BITS = 25 expected; a binomial's 6 standard deviations above is
    # 54, far below what grinding gets (every trial)
    assert matches <= TRIALS / 2 ** BITS + 6 * (TRIALS * 2 ** -BITS) ** 0.5 + 1


def test_sealed_messages_open_only_as_sent():
    key, where = os.urandom(32), dict(room="lab", curve="P-256")
    body = {"commit": "ab" * 32}
    sealed = sas.seal(key, P.SAS_COMMIT, body, sender="alice", receiver="bob",
                      message_id="m1", **where)
    assert sealed["seq"] == sas.SEQ == 0 and sealed["kind"] == P.SAS_COMMIT
    assert P.validate(P.SEND_MESSAGE, {**sealed, "targetSocketId": "sid"})   # the relay's check
    assert sas.open_sealed(key, sealed, sender="alice", receiver="bob", **where) == (
        P.SAS_COMMIT, body)
    tampered = [
        (os.urandom(32), sealed, "alice", "bob"),                       # another key
        (key, sealed, "bob", "alice"),                                  # sent back (reflected)
        (key, {**sealed, "kind": P.SAS_REVEAL}, "alice", "bob"),        # another kind
        (key, {**sealed, "iv": crypto.b64encode(bytes(12))}, "alice", "bob"),
    ]
    for k, payload, sender, receiver in tampered:
        with pytest.raises(ValueError, match="^tampered"):
            sas.open_sealed(k, payload, sender=sender, receiver=receiver, **where)
    for payload, word in (({**sealed, "seq": 1}, "malformed"), ({**sealed, "v": None},
                          "malformed"), ({**sealed, "kind": "receipt"}, "malformed"),
                          ({**sealed, "curve": "P-384"}, "wrong curve"),
                          ({**sealed, "iv": "!!"}, "malformed"),
                          ({**sealed, "encryptedMessage": "AAAA" * 50}, "malformed")):
        with pytest.raises(ValueError, match=f"^{word}"):
            sas.open_sealed(key, payload, sender="alice", receiver="bob", **where)
    # a body that opens but breaks the protocol is refused too
    bad = sas.seal(key, P.SAS_NONCE, {"nonce": "zz"}, sender="alice", receiver="bob",
                   message_id="m2", **where)
    with pytest.raises(ValueError, match="^malformed"):
        sas.open_sealed(key, bad, sender="alice", receiver="bob", **where)
