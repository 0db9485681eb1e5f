"""Our Double Ratchet against an independent one: the `doubleratchet` package (python-
doubleratchet, a test-only dependency), configured with the same choices: KDF_RK =
HKDF-SHA256 with our info, KDF_CK = HMAC-SHA256 with 0x02 (next chain key) and 0x01 (message
key), AES-256-GCM with the nonce sent in front, CONCAT(ad, header) as ours, DH on our curves.

Both sides of both implementations draw their ratchet keys from the same seeded sources and
seal with the same nonces, so every ciphertext must agree byte for byte, and so must RK, CKs,
CKr, the chain lengths and the skipped message keys after every step, over a few thousand
random conversations with loss, reordering and copies.

Where the two differ (checked below): a header whose pn would skip more than MAX_SKIP keys
is refused here, as the specification's SkipMessageKeys says; the package warns, stores none
of those keys and opens the message. A copy of a message from an earlier ratchet key is
refused by both, here before any DH work, by the package after a DH step (and a key drawn)
on a copy of its state; such copies therefore stay out of the lock-step runs, whose key
sources would drift apart.
"""

from __future__ import annotations

import asyncio
import functools
import random
import warnings

import doubleratchet as dr
import pytest
from doubleratchet.recommended import HashFunction, kdf_hkdf, kdf_separate_hmacs

from ecc_widgets import crypto
from ecc_widgets.ratchet import core
from ecc_widgets.ratchet.core import TOO_FAR, Header, Ratchet, RatchetRefused
from ecc_widgets.ratchet.steal import random_key

CONVERSATIONS = {"X25519": 1550, "P-256": 300, "secp256k1": 50, "P-384": 60, "P-521": 40}


class RootKDF(kdf_hkdf.KDF):
    @staticmethod
    def _get_hash_function() -> HashFunction:
        return HashFunction.SHA_256

    @staticmethod
    def _get_info() -> bytes:
        return core.RK_INFO


class ChainKDF(kdf_separate_hmacs.KDF):
    @staticmethod
    def _get_hash_function() -> HashFunction:
        return HashFunction.SHA_256


CHAIN_CONSTANT = b"\x02\x01"  # HMAC(ck, 0x02) is the next chain key, HMAC(ck, 0x01) the message key


class Sources:
    """The package's key generation and AEAD are static methods: what they draw from is set
    here before each call (the party acting, its seeded source, the next nonce)."""

    curve = "X25519"
    party = "alice"
    keys: dict[str, random.Random] = {}
    nonces: list[bytes] = []


def _encode(key: crypto.PrivateKey) -> bytes:
    return crypto.private_value(key).to_bytes(66, "big")


def _decode(data: bytes) -> crypto.PrivateKey:
    return _decode_on(Sources.curve, data)


@functools.lru_cache(maxsize=256)
def _decode_on(curve: str, data: bytes) -> crypto.PrivateKey:
    return crypto.private_key_from_value(curve, int.from_bytes(data, "big"))


class DH(dr.DiffieHellmanRatchet):
    @staticmethod
    def _generate_priv() -> bytes:
        return _encode(random_key(Sources.curve, Sources.keys[Sources.party]))

    @staticmethod
    def _derive_pub(priv: bytes) -> bytes:
        return crypto.public_bytes(_decode(priv))

    @staticmethod
    def _perform_diffie_hellman(own_priv: bytes, other_pub: bytes) -> bytes:
        return crypto.ecdh(_decode(own_priv), crypto.public_key_from_bytes(Sources.curve,
                                                                           other_pub))


class GCM(dr.AEAD):
    @staticmethod
    async def encrypt(plaintext: bytes, key: bytes, associated_data: bytes) -> bytes:
        sealed = crypto.encrypt(key, plaintext, associated_data=associated_data,
                                nonce=Sources.nonces.pop(0))
        return sealed.nonce + sealed.ciphertext + sealed.tag

    @staticmethod
    async def decrypt(ciphertext: bytes, key: bytes, associated_data: bytes) -> bytes:
        try:
            return crypto.decrypt(key, ciphertext[12:-16], ciphertext[:12], ciphertext[-16:],
                                  associated_data=associated_data)
        except crypto.DecryptionError:
            raise dr.AuthenticationFailedException("tag check failed") from None


class Theirs(dr.DoubleRatchet):
    @staticmethod
    def _build_associated_data(associated_data: bytes, header: dr.Header) -> bytes:
        return core.concat(associated_data, Header(header.ratchet_pub,
                                                   header.previous_sending_chain_length,
                                                   header.sending_chain_length))


def _config(max_skip: int, max_kept: int) -> tuple:
    return (DH, RootKDF, ChainKDF, CHAIN_CONSTANT, max_skip, max_kept, GCM)


def _same_state(mine: Ratchet, theirs: Theirs) -> None:
    st, model = mine.state, theirs.model
    dhr = model.diffie_hellman_ratchet
    sym = dhr.symmetric_key_ratchet
    assert dhr.root_chain.key == st.RK
    assert dhr.other_ratchet_pub == st.DHr
    assert crypto.public_bytes(_decode(dhr.own_ratchet_priv)) == st.public
    assert (sym.sending_chain.key, sym.sending_chain.length) == (st.CKs, st.Ns)
    if st.CKr is None:
        assert sym.receiving_chain is None
    else:
        assert (sym.receiving_chain.key, sym.receiving_chain.length) == (st.CKr, st.Nr)
    assert (sym.previous_sending_chain_length or 0) == st.PN
    assert [(k.ratchet_pub, k.index, k.message_key) for k in model.skipped_message_keys] == \
        [(dh, n, mk) for (dh, n), mk in st.MKSKIPPED.items()]


async def _conversation(seed: int, curve: str, max_skip: int, max_kept: int) -> dict:
    rng = random.Random(seed)
    Sources.curve = curve
    key_seed = rng.getrandbits(64)
    Sources.keys = {"alice": random.Random(key_seed), "bob": random.Random(key_seed + 1)}
    Sources.nonces = []
    ours = {"alice": random.Random(key_seed), "bob": random.Random(key_seed + 1)}
    bob_key = random_key(curve, random.Random(key_seed + 2))
    bob_public = crypto.public_bytes(bob_key)
    sk = rng.randbytes(32)
    mine: dict[str, Ratchet | None] = {
        "alice": None,
        "bob": Ratchet.bob(sk, bob_key, generate=lambda c: random_key(c, ours["bob"]),
                           max_skip=max_skip, max_kept=max_kept)}
    theirs: dict[str, Theirs | None] = {"alice": None, "bob": None}
    pending: dict[str, list] = {"alice": [], "bob": []}    # by receiver
    stats = {"sent": 0, "opened": 0, "lost": 0, "copies": 0, "late": 0, "refused": 0,
             "dropped": 0, "refused both": 0}
    other = {"alice": "bob", "bob": "alice"}

    async def deliver(receiver: str, index: int, lose: bool) -> None:
        sealed, em, ad, text = pending[receiver].pop(index)
        stats["late"] += index > 0
        if lose:
            stats["lost"] += 1
            return
        r = mine[receiver]
        try:
            opened = r.open(sealed.header, sealed.ciphertext, sealed.nonce, sealed.tag, ad)
        except RatchetRefused as exc:
            # past the window, or its key dropped from the store (a tight one): refused
            stats["refused"] += 1
            assert exc.reason.startswith((TOO_FAR, core.REPLAYED)), exc.reason
            if exc.reason.startswith(core.REPLAYED) and sealed.header.dh == r.state.DHr:
                # the package refuses it too, and neither changes
                with pytest.raises(dr.DuplicateMessageException):
                    await theirs[receiver].decrypt_message(em, ad)
                _same_state(r, theirs[receiver])
                stats["refused both"] += 1
            # otherwise not given to the package: it would make a DH step (and draw a
            # key) before finding the tag wrong, and its sources would run ahead of ours
            return
        stats["dropped"] += sum(s.kind == "skipped key dropped" for s in opened.steps)
        Sources.party = receiver
        if theirs[receiver] is None:
            theirs[receiver], theirs_plain = await Theirs.decrypt_initial_message(
                *_config(max_skip, max_kept), sk, _encode(bob_key), em, ad)
        else:
            theirs_plain = await theirs[receiver].decrypt_message(em, ad)
        assert opened.plaintext == theirs_plain == text
        if opened.steps[0].kind != "receive" or rng.random() < 0.2:
            _same_state(r, theirs[receiver])   # after every DH step and skip, some others
        stats["opened"] += 1
        if rng.random() < 0.15 and sealed.header.dh == r.state.DHr:
            # a copy from the relay: both refuse it, neither changes
            stats["copies"] += 1
            with pytest.raises(RatchetRefused, match=core.REPLAYED):
                r.open(sealed.header, sealed.ciphertext, sealed.nonce, sealed.tag, ad)
            with pytest.raises((dr.DuplicateMessageException, dr.AuthenticationFailedException)):
                await theirs[receiver].decrypt_message(em, ad)
            _same_state(r, theirs[receiver])

    for _ in range(rng.randint(2, 16)):
        action = rng.random()
        if action < 0.5:
            sender = rng.choice(["alice", "bob"])
            if mine[sender] is None and sender == "bob" or (
                    sender == "bob" and not mine["bob"].can_send):
                sender = "alice"
            text, ad, nonce = rng.randbytes(rng.randint(0, 40)), rng.randbytes(
                rng.randint(0, 24)), rng.randbytes(12)
            Sources.party = sender
            Sources.nonces.append(nonce)
            if mine[sender] is None:
                mine[sender] = Ratchet.alice(sk, bob_public, curve,
                                             generate=lambda c: random_key(c, ours["alice"]),
                                             max_skip=max_skip, max_kept=max_kept)
                theirs[sender], em = await Theirs.encrypt_initial_message(
                    *_config(max_skip, max_kept), sk, bob_public, text, ad)
            else:
                em = await theirs[sender].encrypt_message(text, ad)
            sealed = mine[sender].seal(text, ad, nonce=nonce)
            h = sealed.header
            assert tuple(em.header) == (h.dh, h.pn, h.n)
            assert em.ciphertext == sealed.nonce + sealed.ciphertext + sealed.tag
            pending[other[sender]].append((sealed, em, ad, text))
            stats["sent"] += 1
            continue
        receiver = rng.choice(["alice", "bob"])
        if pending[receiver]:
            # reordering: any waiting message may come next; some are lost
            index = rng.randrange(len(pending[receiver])) if rng.random() < 0.4 else 0
            await deliver(receiver, index, lose=rng.random() < 0.1)
    for receiver in ("alice", "bob"):    # the rest arrive, in any order
        while pending[receiver]:
            await deliver(receiver, rng.randrange(len(pending[receiver])), lose=False)
    for name in ("alice", "bob"):
        if theirs[name] is not None:
            _same_state(mine[name], theirs[name])
    return stats


def test_agrees_byte_for_byte_with_the_doubleratchet_package_over_random_conversations():
    async def run() -> dict:
        total: dict[str, int] = {}
        seed = 0
        for curve, count in CONVERSATIONS.items():
            for _ in range(count):
                seed += 1
                # a tight window and store now and then, so skips past it and dropped
                # skipped keys occur too
                tight = seed % 4 == 0
                stats = await _conversation(seed, curve, 3 if tight else core.MAX_SKIP,
                                            3 if tight else core.MAX_SKIPPED_KEYS)
                for k, v in stats.items():
                    total[k] = total.get(k, 0) + v
        return total

    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no warning from the package in these runs
        total = asyncio.run(run())
    assert sum(CONVERSATIONS.values()) >= 2000
    # the conversations did exercise what they were for (about 9200 sent, 8800 opened,
    # 2700 late, 300 lost, 1300 copies, 70 refused, 27 kept keys dropped)
    assert total["sent"] > 8000 and total["opened"] > 7000 and total["late"] > 2000
    assert total["lost"] > 200 and total["copies"] > 1000
    assert total["refused"] > 30 and total["refused both"] > 5 and total["dropped"] > 10


def test_a_previous_chain_skipped_past_max_skip_is_where_the_two_differ():
    """The specification's SkipMessageKeys raises when pn is more than MAX_SKIP ahead; the
    package warns, keeps none of those keys, and opens the message."""
    Sources.curve = "X25519"
    Sources.keys = {"alice": random.Random(1), "bob": random.Random(2)}
    ours = {"alice": random.Random(1), "bob": random.Random(2)}
    bob_key = random_key("X25519", random.Random(3))
    sk = bytes(32)
    mine = {"alice": Ratchet.alice(sk, crypto.public_bytes(bob_key), "X25519",
                                   generate=lambda c: random_key(c, ours["alice"]),
                                   max_skip=2, max_kept=4),
            "bob": Ratchet.bob(sk, bob_key, generate=lambda c: random_key(c, ours["bob"]),
                               max_skip=2, max_kept=4)}
    theirs: dict = {}
    nonces = (bytes([i]) * 12 for i in range(100))

    async def send(sender: str, text: bytes) -> tuple:
        nonce = next(nonces)
        Sources.party, Sources.nonces = sender, [nonce]
        if sender not in theirs:
            theirs[sender], em = await Theirs.encrypt_initial_message(
                *_config(2, 4), sk, crypto.public_bytes(bob_key), text, b"")
        else:
            em = await theirs[sender].encrypt_message(text, b"")
        return mine[sender].seal(text, nonce=nonce), em

    async def receive(receiver: str, message: tuple) -> bytes:
        s, em = message
        Sources.party = receiver
        plaintext = mine[receiver].open(s.header, s.ciphertext, s.nonce, s.tag).plaintext
        if receiver not in theirs:
            theirs[receiver], theirs_plain = await Theirs.decrypt_initial_message(
                *_config(2, 4), sk, _encode(bob_key), em, b"")
        else:
            theirs_plain = await theirs[receiver].decrypt_message(em, b"")
        assert plaintext == theirs_plain
        return plaintext

    async def run() -> None:
        first = await send("alice", b"a0")
        assert await receive("bob", first) == b"a0"
        assert await receive("alice", await send("bob", b"b0")) == b"b0"
        chain = [await send("alice", b"a%d" % i) for i in range(1, 5)]  # a new chain of 4
        assert await receive("bob", chain[0]) == b"a1"     # only the first arrives
        assert await receive("alice", await send("bob", b"b1")) == b"b1"
        s, em = await send("alice", b"next chain")
        assert s.header.pn == 4 and em.header.previous_sending_chain_length == 4
        # bob has received 1 of that chain of 4: skipping 3 is past max_skip = 2
        before = mine["bob"].snapshot()
        with pytest.raises(RatchetRefused, match=TOO_FAR):
            mine["bob"].open(s.header, s.ciphertext, s.nonce, s.tag)
        assert mine["bob"].state == before
        Sources.party = "bob"
        with pytest.warns(UserWarning, match="message keys skipped"):
            assert await theirs["bob"].decrypt_message(em, b"") == b"next chain"
        assert theirs["bob"].model.skipped_message_keys == []
        # a copy of a message from an earlier ratchet key: both refuse it (we by the key,
        # before any DH work; the package after a DH step on a copy of its state)
        s, em = first
        with pytest.raises(RatchetRefused, match=core.REPLAYED):
            mine["bob"].open(s.header, s.ciphertext, s.nonce, s.tag)
        with pytest.raises(dr.AuthenticationFailedException):
            await theirs["bob"].decrypt_message(em, b"")

    asyncio.run(run())
