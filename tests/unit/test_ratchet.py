"""The Double Ratchet (ecc_widgets.ratchet): its KDFs against the standards' vectors, both
sides converging over random conversations with loss and reordering, every hostile input
refused with its reason and the state untouched, and what each theft exposes."""

from __future__ import annotations

import hashlib
import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as chmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from ecc_widgets import crypto, ecmath
from ecc_widgets.curves import get_curve
from ecc_widgets.ratchet import core
from ecc_widgets.ratchet.core import (
    BAD_KEY,
    MALFORMED,
    NO_CHAIN,
    REPLAYED,
    TAMPERED,
    TOO_FAR,
    Header,
    Ratchet,
    RatchetRefused,
    concat,
    kdf_ck,
    kdf_rk,
    root_key_from_session_key,
    short_fingerprint,
)
from ecc_widgets.ratchet.steal import (
    ONE_WAY,
    Logged,
    StolenMessageKey,
    compare_schemes,
    converse,
    exposure,
    random_key,
    steal_chain_key,
    steal_message_key,
    steal_state,
)
from tests.support.vectors import hexbytes, load_vectors

CURVES = ["P-256", "P-384", "P-521", "secp256k1", "X25519"]
AD = b'{"curve":"X25519","from":"alice","room":"lab","seq":0,"to":"bob","v":1}'


# ---------------------------------------------------------------- KDFs

def _hmac_by_hand(key: bytes, data: bytes) -> bytes:
    """RFC 2104 from hashlib alone, checked against RFC 4231 below."""
    key = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    inner = hashlib.sha256(bytes(k ^ 0x36 for k in key) + data).digest()
    return hashlib.sha256(bytes(k ^ 0x5C for k in key) + inner).digest()


def _hkdf_by_hand(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 extract-then-expand over the hand-made HMAC, checked against appendix A."""
    prk = _hmac_by_hand(salt or b"\0" * 32, ikm)
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = _hmac_by_hand(prk, block + info + bytes([i]))
        out, i = out + block, i + 1
    return out[:length]


@pytest.mark.parametrize("v", load_vectors("rfc4231_hmac.txt"), ids=lambda v: v["section"])
def test_the_reference_hmac_meets_rfc4231(v):
    key, data, mac = hexbytes(v["key"]), hexbytes(v["data"]), hexbytes(v["mac"])
    assert _hmac_by_hand(key, data) == mac
    h = chmac.HMAC(key, hashes.SHA256())
    h.update(data)
    assert h.finalize() == mac


@pytest.mark.parametrize("v", load_vectors("rfc5869_hkdf.txt"), ids=lambda v: v["section"])
def test_the_reference_hkdf_meets_rfc5869(v):
    assert _hkdf_by_hand(hexbytes(v["ikm"]), hexbytes(v["salt"]), hexbytes(v["info"]),
                         int(v["L"])) == hexbytes(v["okm"])


def test_vector_files_for_the_ratchet_hold_every_record():
    assert [v["section"] for v in load_vectors("rfc4231_hmac.txt")] == ["4.2", "4.3"]
    assert [v["section"] for v in load_vectors("rfc5869_hkdf.txt")] == ["A.1", "A.2", "A.3"]


@settings(max_examples=50, deadline=None)
@given(rk=st.binary(min_size=32, max_size=32), dh=st.binary(min_size=32, max_size=66))
def test_kdf_rk_is_hkdf_sha256_with_rk_as_salt(rk, dh):
    new_rk, ck = kdf_rk(rk, dh)
    both = _hkdf_by_hand(dh, rk, core.RK_INFO, 64)
    assert (new_rk, ck) == (both[:32], both[32:])
    lib = HKDF(algorithm=hashes.SHA256(), length=64, salt=rk, info=core.RK_INFO).derive(dh)
    assert new_rk + ck == lib


@settings(max_examples=50, deadline=None)
@given(ck=st.binary(min_size=32, max_size=32))
def test_kdf_ck_is_hmac_sha256_with_constants_1_and_2(ck):
    next_ck, mk = kdf_ck(ck)
    assert mk == _hmac_by_hand(ck, b"\x01")
    assert next_ck == _hmac_by_hand(ck, b"\x02")
    assert next_ck != mk


def test_known_answers_pin_the_key_schedule():
    rk, ck = kdf_rk(bytes(range(32)), bytes(range(32, 64)))
    next_ck, mk = kdf_ck(ck)
    got = hashlib.sha256(rk + ck + next_ck + mk).hexdigest()
    # from the hand-made HKDF/HMAC above, so the pinned value is not the code checking itself
    both = _hkdf_by_hand(bytes(range(32, 64)), bytes(range(32)), core.RK_INFO, 64)
    want = both[32:]
    assert (rk, ck) == (both[:32], want)
    assert (next_ck, mk) == (_hmac_by_hand(want, b"\x02"), _hmac_by_hand(want, b"\x01"))
    assert got == hashlib.sha256(both + next_ck + mk).hexdigest()


def test_header_encoding_and_concat_are_unambiguous():
    h = Header(b"\x04" + b"\x11" * 64, 3, 7)
    assert h.encode() == b"\x00\x41" + h.dh + b"\x00\x00\x00\x03" + b"\x00\x00\x00\x07"
    assert concat(b"ad", h) == b"\x00\x00\x00\x02ad" + h.encode()
    # moving a byte between the associated data and the header changes the result
    assert concat(b"ad\x00", Header(h.dh[1:], 3, 7)) != concat(b"ad", h)
    assert Header.from_wire(h.to_wire(), "P-256") == h
    assert h.to_wire() == {"dh": crypto.b64encode(h.dh), "n": 7, "pn": 3}


def test_root_key_from_the_session_key_is_separated():
    k = bytes(range(32))
    rk = root_key_from_session_key(k)
    assert len(rk) == 32 and rk != k
    assert rk == _hkdf_by_hand(k, b"", core.ROOT_FROM_SESSION_INFO, 32)
    assert short_fingerprint(rk) == short_fingerprint(rk) != short_fingerprint(k)
    assert len(short_fingerprint(rk)) == 9 and short_fingerprint(None) == "-"


# ---------------------------------------------------------------- two honest sides

def pair(curve: str = "X25519", seed: int = 1, **kwargs) -> tuple[Ratchet, Ratchet]:
    rng = random.Random(seed)

    def generate(c):
        return random_key(c, rng)

    bob_key = generate(curve)
    sk = hashlib.sha256(b"root %d" % seed).digest()
    alice = Ratchet.alice(sk, crypto.public_bytes(bob_key), curve, generate=generate, **kwargs)
    bob = Ratchet.bob(sk, bob_key, generate=generate, **kwargs)
    return alice, bob


def send(r: Ratchet, text: bytes, ad: bytes = AD) -> Logged:
    s = r.seal(text, ad)
    return Logged(s.header, s.ciphertext, s.nonce, s.tag, ad)


def recv(r: Ratchet, m: Logged) -> bytes:
    return r.open(m.header, m.ciphertext, m.nonce, m.tag, m.ad).plaintext


def assert_converged(sender: Ratchet, receiver: Ratchet) -> None:
    """After `receiver` opened `sender`'s latest message: the same chain on both sides, and
    the receiver's new sending chain is the root chain's next step from the sender's root."""
    a, b = sender.state, receiver.state
    assert a.CKs == b.CKr and a.Ns == b.Nr and a.public == b.DHr
    rk, cks = kdf_rk(a.RK, crypto.ecdh(a.DHs, crypto.public_key_from_bytes(a.curve, b.public)))
    assert (rk, cks) == (b.RK, b.CKs) and b.Ns == 0 and b.PN >= 0


@pytest.mark.parametrize("curve", CURVES)
def test_a_conversation_on_every_curve_turns_the_dh_ratchet(curve):
    alice, bob = pair(curve)
    assert not bob.can_send
    with pytest.raises(RatchetRefused, match=NO_CHAIN):
        bob.seal(b"too early")
    m0 = send(alice, b"hi bob")
    opened = bob.open(m0.header, m0.ciphertext, m0.nonce, m0.tag, AD)
    assert opened.plaintext == b"hi bob"
    kinds = [s.kind for s in opened.steps]
    assert kinds == ["dh receive", "receive", "dh send"]
    fresh = opened.steps[-1].dh            # the fresh Q = d x G the app shows
    assert crypto.public_bytes(crypto.public_key_from_bytes(curve, fresh)) == fresh
    x, y = core.coordinates(curve, fresh)
    if curve == "X25519":
        assert y is None and x == int.from_bytes(fresh, "little")
    else:
        size = get_curve(curve).byte_length
        assert fresh == b"\x04" + x.to_bytes(size, "big") + y.to_bytes(size, "big")
        assert ecmath.on_curve(curve, (x, y))
    assert fresh == bob.state.public
    m1 = send(bob, b"hi alice")
    assert m1.header.dh == fresh and m1.header.n == 0 and m1.header.pn == 0
    assert recv(alice, m1) == b"hi alice"
    m2 = send(alice, b"again")
    assert m2.header.dh != m0.header.dh and m2.header.pn == 1 and m2.header.n == 0
    assert recv(bob, m2) == b"again"
    assert_converged(alice, bob)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), ops=st.lists(
    st.tuples(st.sampled_from(["alice", "bob"]), st.integers(1, 4),
              st.floats(0, 1), st.floats(0, 0.3)), min_size=1, max_size=12))
def test_both_sides_converge_over_random_conversations_with_loss_and_reordering(seed, ops):
    """Bursts of messages; each burst is delivered shuffled, some messages dropped and some
    held back to arrive after later ones (even after DH steps). Every delivered message opens
    once, to its text; a copy is refused; and after one clean exchange both sides agree."""
    rng = random.Random(seed)
    alice, bob = pair("X25519", seed)
    parties = {"alice": alice, "bob": bob}
    other = {"alice": "bob", "bob": "alice"}
    held: dict[str, list[tuple[Logged, bytes]]] = {"alice": [], "bob": []}  # by receiver
    bob_heard = False
    count = 0
    for sender, burst, shuffle, loss in ops:
        if sender == "bob" and not bob_heard:
            sender = "alice"
        receiver = other[sender]
        sent = []
        for _ in range(burst):
            text = b"m%d" % count
            count += 1
            sent.append((send(parties[sender], text), text))
        if rng.random() < shuffle:
            rng.shuffle(sent)
        for m, text in sent:
            r = rng.random()
            if r < loss:
                continue                      # lost for good
            if r < loss + 0.2:
                held[receiver].append((m, text))  # arrives later
                continue
            assert recv(parties[receiver], m) == text
            if receiver == "bob":
                bob_heard = True
            if rng.random() < 0.1:            # the relay sends it again
                with pytest.raises(RatchetRefused, match=REPLAYED):
                    recv(parties[receiver], m)
        for name in ("alice", "bob"):         # some held messages come in now
            if held[name] and rng.random() < 0.5:
                m, text = held[name].pop(rng.randrange(len(held[name])))
                assert recv(parties[name], m) == text
                if name == "bob":
                    bob_heard = True
    for name in ("alice", "bob"):
        for m, text in held[name]:
            assert recv(parties[name], m) == text
    if not bob_heard:
        assert recv(bob, send(alice, b"hello")) == b"hello"
    assert recv(alice, send(bob, b"sync")) == b"sync"
    assert recv(bob, send(alice, b"sync")) == b"sync"
    assert_converged(alice, bob)
    a, b = alice.state, bob.state
    assert len(a.MKSKIPPED) <= core.MAX_SKIPPED_KEYS and len(b.MKSKIPPED) <= core.MAX_SKIPPED_KEYS


def test_a_message_from_an_earlier_chain_opens_with_its_skipped_key_once():
    alice, bob = pair()
    late = send(alice, b"late")
    assert recv(bob, send(alice, b"first")) == b"first"     # skips #0: its key is kept
    assert (late.header.dh, 0) in bob.state.MKSKIPPED
    assert recv(alice, send(bob, b"reply")) == b"reply"
    assert recv(bob, send(alice, b"new chain")) == b"new chain"
    opened = bob.open(late.header, late.ciphertext, late.nonce, late.tag, AD)
    assert opened.plaintext == b"late" and opened.steps[0].kind == "skipped key used"
    assert (late.header.dh, 0) not in bob.state.MKSKIPPED
    with pytest.raises(RatchetRefused, match=REPLAYED):
        recv(bob, late)


# ---------------------------------------------------------------- hostile input

def refused(r: Ratchet, m: Logged, reason: str, *, header: Header | None = None,
            ad: bytes | None = None, ciphertext: bytes | None = None) -> str:
    before = r.snapshot()
    with pytest.raises(RatchetRefused) as info:
        r.open(header or m.header, m.ciphertext if ciphertext is None else ciphertext,
               m.nonce, m.tag, m.ad if ad is None else ad)
    assert info.value.reason.startswith(reason), info.value.reason
    assert r.state == before     # nothing changed
    return info.value.reason


def test_n_skipping_past_max_skip_is_refused_and_the_state_is_untouched():
    alice, bob = pair(max_skip=8, max_kept=16)
    assert recv(bob, send(alice, b"0")) == b"0"
    m = send(alice, b"1")
    far = m.header._replace(n=1 + 8 + 1)
    reason = refused(bob, m, TOO_FAR, header=far)
    assert "would skip 9 message keys (at most 8)" in reason
    # at the bound it is only a forgery (the tag fails), and still nothing changes
    refused(bob, m, TAMPERED, header=m.header._replace(n=1 + 8))
    assert recv(bob, m) == b"1"  # the honest message still opens


def test_pn_skipping_past_max_skip_and_a_new_chain_far_ahead_are_refused():
    alice, bob = pair(max_skip=8, max_kept=16)
    assert recv(bob, send(alice, b"0")) == b"0"
    assert recv(alice, send(bob, b"1")) == b"1"
    m = send(alice, b"2")                          # a new chain: header.pn = 1
    refused(bob, m, TOO_FAR, header=m.header._replace(pn=1 + 8 + 1))
    reason = refused(bob, m, TOO_FAR, header=m.header._replace(n=9))
    assert reason.startswith(f"{TOO_FAR}: n 9")
    assert recv(bob, m) == b"2"


def test_a_new_chain_far_ahead_is_refused_before_any_dh_work(monkeypatch):
    alice, bob = pair(max_skip=8, max_kept=16)
    m = send(alice, b"0")
    calls = []
    monkeypatch.setattr(core, "_public_key", lambda *a: calls.append(a))
    refused(bob, m, TOO_FAR, header=m.header._replace(n=9))
    assert calls == []


def test_forged_messages_cost_bounded_work_and_no_key_generation(monkeypatch):
    alice, bob = pair(max_skip=8, max_kept=16)
    assert recv(bob, send(alice, b"0")) == b"0"
    assert recv(alice, send(bob, b"1")) == b"1"
    m = send(alice, b"2")                           # a new chain, pn 1
    generated, steps, dhs = [], [], []
    bob._generate = lambda c: generated.append(c)
    real_ck, real_dh = core.kdf_ck, core._dh
    monkeypatch.setattr(core, "kdf_ck", lambda ck: steps.append(1) or real_ck(ck))
    monkeypatch.setattr(core, "_dh", lambda *a: dhs.append(1) or real_dh(*a))
    refused(bob, m, TAMPERED, header=m.header._replace(pn=1 + 8, n=8))
    assert len(steps) <= 2 * 8 + 1 and len(dhs) == 1 and generated == []


@pytest.mark.parametrize("curve", CURVES)
def test_a_ratchet_key_not_on_the_curve_is_refused_with_the_reason(curve):
    alice, bob = pair(curve)
    m = send(alice, b"0")
    if curve == "X25519":
        bad = bytes(32)        # a low-order point: the ECDH result is all zero
        reason = refused(bob, m, BAD_KEY, header=m.header._replace(dh=bad))
        assert "ECDH" in reason  # OpenSSL (or the all-zero check) refuses it
    else:
        size = (len(m.header.dh) - 1) // 2
        x = m.header.dh[1:1 + size]
        y = (int.from_bytes(m.header.dh[1 + size:], "big") ^ 1).to_bytes(size, "big")
        reason = refused(bob, m, BAD_KEY, header=m.header._replace(dh=b"\x04" + x + y))
        assert "not on" in reason
    assert recv(bob, m) == b"0"


def test_ratchet_keys_of_the_wrong_shape_are_refused_on_the_wire():
    good = Header(b"\x04" + b"\x01" * 64, 0, 0).to_wire()
    cases = [
        ("not a dict", MALFORMED),
        ({**good, "n": -1}, MALFORMED),
        ({**good, "n": True}, MALFORMED),
        ({**good, "pn": 2**32}, MALFORMED),
        ({**good, "pn": "1"}, MALFORMED),
        ({**good, "dh": 12}, MALFORMED),
        ({**good, "dh": "***"}, MALFORMED),
        ({**good, "dh": "A" * 2000}, MALFORMED),
        ({**good, "dh": crypto.b64encode(b"\x02" + b"\x01" * 32)}, BAD_KEY),  # compressed
        ({**good, "dh": crypto.b64encode(b"\x04" + b"\x01" * 63)}, BAD_KEY),
    ]
    for fields, reason in cases:
        with pytest.raises(RatchetRefused) as info:
            Header.from_wire(fields, "P-256")
        assert info.value.reason.startswith(reason), (fields, info.value.reason)
    assert Header.from_wire(good, "P-256").dh == b"\x04" + b"\x01" * 64


def test_replays_are_refused_whether_the_key_was_used_dropped_or_of_an_earlier_chain():
    alice, bob = pair(max_skip=4, max_kept=4)
    m0 = send(alice, b"0")
    assert recv(bob, m0) == b"0"
    refused(bob, m0, REPLAYED)                           # used: deleted
    held = [send(alice, b"%d" % i) for i in range(1, 4)]
    assert recv(bob, send(alice, b"4")) == b"4"          # three skipped and kept
    held += [send(alice, b"%d" % i) for i in range(5, 8)]
    assert recv(bob, send(alice, b"8")) == b"8"          # three more: the oldest two go
    assert len(bob.state.MKSKIPPED) == 4
    reason = refused(bob, held[0], REPLAYED)             # dropped past the bound
    assert "used (or dropped)" in reason
    assert recv(bob, held[-1]) == b"7"                   # a kept one opens
    assert recv(alice, send(bob, b"reply")) == b"reply"
    assert recv(bob, send(alice, b"new chain")) == b"new chain"
    old_chain_copy = m0
    refused(bob, old_chain_copy, REPLAYED)               # an earlier ratchet key


def test_tampering_with_the_header_ciphertext_or_associated_data_is_refused():
    alice, bob = pair()
    assert recv(bob, send(alice, b"0")) == b"0"
    m = send(alice, b"1")
    refused(bob, m, TAMPERED, header=m.header._replace(n=2))
    refused(bob, m, TAMPERED, header=m.header._replace(pn=5))
    refused(bob, m, TAMPERED, ciphertext=bytes([m.ciphertext[0] ^ 1]) + m.ciphertext[1:])
    refused(bob, m, TAMPERED, ad=AD.replace(b"alice", b"carol"))
    other = crypto.public_bytes(random_key("X25519", random.Random(9)))
    refused(bob, m, TAMPERED, header=m.header._replace(dh=other))  # a DH step, then no tag
    assert recv(bob, m) == b"1"


def test_a_tampered_delayed_message_keeps_its_skipped_key_for_the_real_one():
    alice, bob = pair()
    held = send(alice, b"held")
    assert recv(bob, send(alice, b"1")) == b"1"
    refused(bob, held, TAMPERED, ciphertext=bytes([held.ciphertext[0] ^ 4]) + held.ciphertext[1:])
    assert (held.header.dh, 0) in bob.state.MKSKIPPED
    assert recv(bob, held) == b"held"


def test_our_own_message_sent_back_is_refused():
    alice, bob = pair()
    m = send(alice, b"0")
    refused(alice, m, TAMPERED)
    assert recv(bob, m) == b"0"


def test_the_skipped_keys_kept_are_bounded_and_the_oldest_go_first():
    alice, bob = pair(max_skip=8, max_kept=8)
    for _ in range(3):
        msgs = [send(alice, b"x") for _ in range(6)]
        opened = bob.open(msgs[-1].header, msgs[-1].ciphertext, msgs[-1].nonce,
                          msgs[-1].tag, AD)
        assert len(bob.state.MKSKIPPED) <= 8
    assert [s.kind for s in opened.steps].count("skipped key dropped") == 5  # 15 - 8 - 2
    assert list(bob.state.MKSKIPPED)[0] == (msgs[0].header.dh, 8)
    with pytest.raises(ValueError):
        pair(max_skip=8, max_kept=4)


# ---------------------------------------------------------------- steal and exposure

SCRIPT = ["alice", "alice", "bob", "bob", "alice", "bob", "alice", "alice", "bob", "alice",
          "bob", "bob"]


@pytest.mark.parametrize("curve", CURVES)
def test_messages_exposed_per_theft_static_symmetric_double(curve):
    got = compare_schemes(SCRIPT, theft_at=4, curve=curve)
    exposed = {scheme: [v.index for v in verdicts if v.opened] for scheme, verdicts in got.items()}
    assert exposed["static"] == list(range(len(SCRIPT)))             # all, before and after
    assert exposed["symmetric"] == list(range(4, len(SCRIPT)))        # everything after
    # alice's current chain (#4), and bob's answer to it (#5) through her stolen DHs and RK;
    # then alice's fresh DH heals
    assert exposed["double"] == [4, 5]
    double = got["double"]
    assert all(v.reason == ONE_WAY for v in double[:4])
    assert double[4].reason == "0 KDF steps from the stolen sending chain key"
    assert "follow bob's DH step" in double[5].reason
    assert all(v.reason == "healed: a fresh DH from alice" for v in double[6:])
    for v in double[4:6]:
        assert v.plaintext == b"message %d from %s" % (v.index, v.sender.encode())


def test_a_stolen_chain_key_opens_its_later_messages_only():
    log, stolen = converse("double", SCRIPT, theft_at=7, item="sending")
    # alice's chain at #7 began at #6 (after bob's #5): the thief holds it from n = 1
    verdicts = exposure(stolen, log, theft_at=7)
    opened = [v.index for v in verdicts if v.opened]
    assert opened == [7]
    assert verdicts[7].reason == "0 KDF steps from the stolen sending chain key"
    assert verdicts[6].reason == ONE_WAY
    assert verdicts[8].reason == "healed: a fresh DH from bob"
    assert verdicts[9].reason == "healed: a fresh DH from alice"
    log, stolen = converse("double", ["alice", "bob", "bob"], theft_at=2, item="sending")
    assert exposure(stolen, log, theft_at=2)[2].reason == "another chain than the stolen one"
    # more steps along the same chain: alice sends three more in a row
    script = ["alice", "bob", "alice", "alice", "alice", "alice", "alice"]
    log, stolen = converse("double", script, theft_at=3, item="sending", victim="alice")
    verdicts = exposure(stolen, log, theft_at=3)
    assert [v.index for v in verdicts if v.opened] == [3, 4, 5, 6]
    assert verdicts[6].reason == "3 KDF steps from the stolen sending chain key"
    assert verdicts[2].reason == ONE_WAY


def test_a_stolen_receiving_chain_key_and_a_stolen_message_key():
    log, stolen = converse("double", SCRIPT, theft_at=3, item="receiving")
    verdicts = exposure(stolen, log, theft_at=3)
    assert [v.index for v in verdicts if v.opened] == [3]   # bob's #3 in alice's chain
    log, stolen = converse("double", SCRIPT, theft_at=6, item="message")
    verdicts = exposure(stolen, log, theft_at=6)
    assert [v.index for v in verdicts if v.opened] == [6]
    assert verdicts[6].reason == "the stolen message key"
    assert verdicts[7].reason == "a message key opens its own message only"
    assert verdicts[5].reason == ONE_WAY and verdicts[8].reason.startswith("healed")


def test_skipped_keys_cost_secrecy_delayed_messages_open_after_a_theft():
    alice, bob = pair()
    log = [send(alice, b"0")]
    assert recv(bob, log[0]) == b"0"
    delayed = [send(alice, b"held %d" % i) for i in range(3)]   # the relay holds them back
    log += delayed
    last = send(alice, b"4")
    log.append(last)
    assert recv(bob, last) == b"4"                              # bob keeps 3 skipped keys
    stolen = steal_state("bob", bob)
    assert len(stolen.state.MKSKIPPED) == 3
    verdicts = exposure(stolen, log, theft_at=len(log))
    assert [v.index for v in verdicts if v.opened] == [1, 2, 3]
    assert all(v.before_theft and "skipped key" in v.reason for v in verdicts[1:4])
    assert [v.plaintext for v in verdicts[1:4]] == [b"held 0", b"held 1", b"held 2"]
    # a theft before the keys were skipped opens none of them
    alice, bob = pair()
    assert recv(bob, send(alice, b"0")) == b"0"
    early = steal_chain_key("bob", bob, "receiving")
    assert early.n == 1
    mk = steal_message_key("alice", alice)
    assert (mk.dh, mk.n) == (alice.state.public, 1)
    incoming = steal_message_key("bob", bob, "receiving")
    assert incoming == StolenMessageKey("bob", alice.state.public, 1, mk.key)
    m = send(alice, b"next")
    verdicts = exposure(incoming, [m, send(alice, b"after")], theft_at=0)
    assert [v.opened for v in verdicts] == [True, False]
    assert verdicts[0].plaintext == b"next"
    with pytest.raises(ValueError):
        steal_message_key("bob", bob, "upwards")


def test_the_theft_changes_nothing_for_the_victim():
    alice, bob = pair()
    assert recv(bob, send(alice, b"0")) == b"0"
    before = bob.snapshot()
    steal_state("bob", bob)
    steal_chain_key("bob", bob, "sending")
    steal_chain_key("bob", bob, "receiving")
    steal_message_key("bob", bob)
    assert bob.state == before
    assert recv(alice, send(bob, b"on")) == b"on"


def test_bad_requests_for_the_lesson_are_refused():
    alice, bob = pair()
    with pytest.raises(ValueError):
        steal_chain_key("bob", bob, "sending")        # bob has no sending chain yet
    with pytest.raises(ValueError):
        steal_chain_key("alice", alice, "sideways")
    with pytest.raises(TypeError):
        Ratchet.bob(bytes(32), bob.state.DHs.public_key())
    with pytest.raises(ValueError):
        Ratchet.bob(bytes(31), bob.state.DHs)
    with pytest.raises(ValueError):
        converse("quantum", SCRIPT, theft_at=1)
    with pytest.raises(ValueError):
        converse("double", ["carol"], theft_at=0)


def test_an_active_thief_with_the_whole_state_impersonates_and_never_heals():
    alice, bob = pair()
    assert recv(bob, send(alice, b"0")) == b"0"
    assert recv(alice, send(bob, b"1")) == b"1"
    stolen = steal_state("alice", alice)
    rng = random.Random(7)
    mallory = Ratchet.from_state(stolen.state, generate=lambda c: random_key(c, rng))
    assert mallory.state is not stolen.state
    for i in range(4):     # she speaks as alice and reads bob's answers, DH step after DH step
        assert recv(bob, send(mallory, b"from 'alice' %d" % i)) == b"from 'alice' %d" % i
        assert recv(mallory, send(bob, b"to alice %d" % i)) == b"to alice %d" % i
    assert_converged(bob, mallory)      # she holds the pair's ratchet now, not alice
    # and alice's own next message, in the chain mallory used, is refused by bob
    with pytest.raises(RatchetRefused, match=REPLAYED):
        recv(bob, send(alice, b"it is me"))


def test_the_ratchet_view_summary_shows_fingerprints_and_counters_only():
    alice, bob = pair()
    assert recv(bob, send(alice, b"0")) == b"0"
    view = bob.summary()
    assert view["Nr"] == 1 and view["Ns"] == 0 and view["skipped"] == 0
    assert view["RK"] == short_fingerprint(bob.state.RK) and view["DHr"] == alice.state.public
    assert bob.state.RK not in view.values() and bob.state.CKr not in view.values()


def test_a_header_built_by_hand_with_bad_numbers_is_malformed():
    alice, bob = pair()
    m = send(alice, b"0")
    for bad in (m.header._replace(n=-1), m.header._replace(pn=2**32), m.header._replace(n=True),
                m.header._replace(dh="text"), (m.header.dh, 0, 0)):
        with pytest.raises(RatchetRefused, match=MALFORMED):
            bob.open(bad, m.ciphertext, m.nonce, m.tag, AD)
    assert recv(bob, m) == b"0"


@settings(max_examples=40, deadline=None)
@given(script=st.lists(st.sampled_from(["alice", "bob"]), min_size=1, max_size=14),
       theft=st.integers(0, 14), victim=st.sampled_from(["alice", "bob"]),
       item=st.sampled_from(["state", "sending", "receiving", "message"]))
def test_each_theft_exposes_no_more_with_more_ratcheting(script, theft, victim, item):
    script = ["alice", *script]
    theft = min(theft, len(script))
    try:
        got = compare_schemes(script, theft_at=theft, victim=victim, item=item)
    except ValueError:     # that chain does not exist yet at that moment (bob before alice)
        return
    exposed = {k: {v.index for v in verdicts if v.opened} for k, verdicts in got.items()}
    assert exposed["static"] == set(range(len(script)))
    # delivered in order, nothing kept skipped: nothing before the theft opens
    assert all(i >= theft for i in exposed["symmetric"] | exposed["double"])
    assert exposed["double"] <= exposed["symmetric"]
    for verdicts in got.values():
        for v in verdicts:
            assert v.opened == (v.plaintext is not None) and v.reason
            if v.opened:
                assert v.plaintext == b"message %d from %s" % (v.index, v.sender.encode())
