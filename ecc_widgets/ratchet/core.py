"""The Double Ratchet (Signal's specification, revision 1, section 3), sans-IO.

State as the specification names it: DHs (our ratchet key pair), DHr (the peer's ratchet
public key), RK (root key), CKs / CKr (sending and receiving chain keys), Ns / Nr (message
numbers in those chains), PN (messages in our previous sending chain) and MKSKIPPED (message
keys of messages that have not arrived yet, by ratchet public key and message number).

The functions (section 5.2's recommendations):

- KDF_RK(rk, dh_out) = HKDF-SHA256(salt = rk, ikm = dh_out, info = RK_INFO), 64 bytes: the
  new root key, then the new chain key;
- KDF_CK(ck): the message key is HMAC-SHA256(ck, 0x01), the next chain key HMAC-SHA256(ck,
  0x02);
- ENCRYPT(mk, plaintext, CONCAT(ad, header)): AES-256-GCM with mk as the key, a random
  12-byte nonce sent along (the specification allows a nonce "chosen randomly and
  transmitted"), and associated data u32(len(ad)) || ad || u16(len(dh)) || dh || u32(pn) ||
  u32(n), big-endian;
- DH on the pair's curve (P-256, P-384, P-521, secp256k1, X25519, ...): ``crypto.ecdh`` with
  its full validation of the peer's key; each DH step makes a fresh key pair Q = d x G.

No I/O, no clock. Randomness (key generation, nonces) can be passed in. A message that is
refused leaves the state exactly as it was: `Ratchet.open` works on local copies and
commits only after the AEAD tag checks (section 3.5: "changes to the state object are
discarded"). Work per message is bounded: at most MAX_SKIP key derivations for the previous
chain and MAX_SKIP for the new one, one key generation and two ECDH.

The symmetric-key ratchet alone (`SymmetricRatchet`, no DH steps) and one static key
(`StaticPair`, today's v1) share the header and the sealing, for the lesson's comparison.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from ecc_widgets import crypto
from ecc_widgets.curves import get_curve

MAX_SKIP = 256            # message keys one header may make us skip, per chain (MAX_SKIP)
MAX_SKIPPED_KEYS = 1024   # skipped message keys kept in all; the oldest go first
PEER_KEYS_REMEMBERED = 64 # earlier ratchet keys of the peer, to name a replay from one
MAX_N = 2**32 - 1         # n and pn are u32 in the associated data

RK_INFO = b"ecc-chat-lab ratchet v1 root"
ROOT_FROM_SESSION_INFO = b"ecc-chat-lab ratchet v1 initial root key"
SYMMETRIC_INFO = b"ecc-chat-lab symmetric ratchet v1 chains"
MESSAGE_KEY_CONSTANT = b"\x01"
CHAIN_KEY_CONSTANT = b"\x02"

# Why a message is refused: each reason starts with one of these (the session's words)
TAMPERED = "tampered"
REPLAYED = "replayed"
MALFORMED = "malformed"
TOO_FAR = "too far ahead"
BAD_KEY = "bad ratchet key"
NO_CHAIN = "no sending chain"

ALICE, BOB = "alice", "bob"

Generate = Callable[[str], crypto.PrivateKey]


class RatchetRefused(Exception):
    """A message (or header) refused, with its reason; the state did not change."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------- KDFs

def kdf_rk(rk: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    """KDF_RK: (new root key, new chain key) from HKDF-SHA256, rk as salt, dh_out as input."""
    out = crypto.hkdf_sha256(dh_out, salt=rk, info=RK_INFO, length=64)
    return out[:32], out[32:]


def kdf_ck(ck: bytes) -> tuple[bytes, bytes]:
    """KDF_CK: (next chain key, message key) = (HMAC(ck, 0x02), HMAC(ck, 0x01))."""
    return (hmac.new(ck, CHAIN_KEY_CONSTANT, hashlib.sha256).digest(),
            hmac.new(ck, MESSAGE_KEY_CONSTANT, hashlib.sha256).digest())


def root_key_from_session_key(session_key: bytes) -> bytes:
    """The ratchet's first root key from today's v1 session key (ECDH + HKDF with the curve
    and both public keys bound, `crypto.derive_session_key`): one more HKDF with its own
    info, so the static key and the ratchet's root never coincide."""
    return crypto.hkdf_sha256(session_key, info=ROOT_FROM_SESSION_INFO, length=32)


def short_fingerprint(key: bytes | None) -> str:
    """Eight hex digits naming a root, chain or message key on screen (a hash: it reveals
    nothing of the key)."""
    if key is None:
        return "-"
    digest = hashlib.sha256(b"ecc-chat-lab ratchet fingerprint\0" + key).hexdigest()
    return f"{digest[:4]} {digest[4:8]}"


# ---------------------------------------------------------------- header

def _dh_length(curve: str) -> int:
    name = get_curve(curve).name
    return 32 if name == "X25519" else 1 + 2 * get_curve(name).byte_length


class Header(NamedTuple):
    """HEADER(dh, pn, n): the sender's ratchet public key (``crypto.public_bytes``), the
    length of its previous sending chain, and the message's number in this chain."""

    dh: bytes
    pn: int
    n: int

    def encode(self) -> bytes:
        return (len(self.dh).to_bytes(2, "big") + self.dh + self.pn.to_bytes(4, "big")
                + self.n.to_bytes(4, "big"))

    def to_wire(self) -> dict:
        """``{"dh": base64, "n": int, "pn": int}``: the fields a ratchet message carries."""
        return {"dh": crypto.b64encode(self.dh), "n": self.n, "pn": self.pn}

    @classmethod
    def from_wire(cls, fields: object, curve: str) -> Header:
        """The header from a message's ``dh``, ``n``, ``pn``: shape, ranges and the key's
        length are checked here (whether the key is on the curve, when a DH step needs it);
        `RatchetRefused` ("malformed: ...") otherwise."""
        if not isinstance(fields, dict):
            raise RatchetRefused(f"{MALFORMED}: the ratchet header is not an object")
        n, pn, dh = fields.get("n"), fields.get("pn"), fields.get("dh")
        for name, value in (("n", n), ("pn", pn)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_N:
                raise RatchetRefused(f"{MALFORMED}: '{name}' must be an integer in [0, {MAX_N}]")
        if not isinstance(dh, str) or len(dh) > 4 * 200:
            raise RatchetRefused(f"{MALFORMED}: 'dh' must be a base64 string")
        try:
            raw = base64.b64decode(dh.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise RatchetRefused(f"{MALFORMED}: 'dh' is not valid base64") from None
        want = _dh_length(curve)
        if len(raw) != want:
            raise RatchetRefused(f"{BAD_KEY}: a {curve} ratchet key is {want} bytes "
                                 f"(uncompressed), got {len(raw)}")
        return cls(raw, pn, n)


def coordinates(curve: str, dh: bytes) -> tuple[int, int | None]:
    """The ratchet public key Q = d x G as the app plots it: (x, y), or (u, None) on X25519
    (RFC 7748's little-endian u). No validation: for display of keys already accepted."""
    if get_curve(curve).name == "X25519":
        return int.from_bytes(dh, "little"), None
    size = (len(dh) - 1) // 2
    return int.from_bytes(dh[1:1 + size], "big"), int.from_bytes(dh[1 + size:], "big")


def concat(ad: bytes, header: Header) -> bytes:
    """CONCAT(ad, header): the caller's associated data, length-prefixed, then the header."""
    return len(ad).to_bytes(4, "big") + ad + header.encode()


def _public_key(curve: str, dh: bytes) -> crypto.PublicKey:
    """The peer's ratchet key, validated; refused with the reason if it is not usable."""
    try:
        key = crypto.public_key_from_bytes(curve, dh)
    except crypto.InvalidKeyError as exc:
        raise RatchetRefused(f"{BAD_KEY}: {exc}") from None
    if crypto.public_bytes(key) != dh:
        raise RatchetRefused(f"{BAD_KEY}: not the uncompressed encoding of its point")
    return key


def _dh(private: crypto.PrivateKey, public: crypto.PublicKey) -> bytes:
    try:
        return crypto.ecdh(private, public)
    except crypto.InvalidKeyError as exc:
        raise RatchetRefused(f"{BAD_KEY}: {exc}") from None


# ---------------------------------------------------------------- what each message did

@dataclass(frozen=True)
class Step:
    """One change to the state, for the app's timeline. Keys appear only as fingerprints.

    kind: "send" (a message key from CKs), "receive" (one from CKr), "skip" (a message key
    stored for a message not yet arrived), "skipped key used", "skipped key dropped" (the
    oldest, past MAX_SKIPPED_KEYS), "dh receive" (RK, CKr from DH(DHs, the peer's new key)),
    "dh send" (a fresh DHs = d x G, then RK, CKs).
    """

    kind: str
    dh: bytes = b""      # the ratchet public key concerned (for "dh send": the fresh Q)
    n: int = -1
    rk: str = ""         # fingerprints after the step
    ck: str = ""
    mk: str = ""


@dataclass(frozen=True)
class Sealed:
    header: Header
    ciphertext: bytes
    nonce: bytes
    tag: bytes
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Opened:
    plaintext: bytes
    header: Header
    steps: tuple[Step, ...]


# ---------------------------------------------------------------- the state

@dataclass
class RatchetState:
    """The specification's state variables, plus what bounds and explains them."""

    curve: str
    DHs: crypto.PrivateKey
    DHr: bytes | None
    RK: bytes | None
    CKs: bytes | None
    CKr: bytes | None
    Ns: int = 0
    Nr: int = 0
    PN: int = 0
    MKSKIPPED: OrderedDict[tuple[bytes, int], bytes] = field(default_factory=OrderedDict)
    # the peer's earlier ratchet keys (newest last), so a replay from one is named as such
    old_DHr: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    _public: bytes = field(default=b"", repr=False, compare=False)
    _public_of: object = field(default=None, repr=False, compare=False)

    @property
    def public(self) -> bytes:
        """Our current ratchet public key, as it goes in the header's ``dh``."""
        if self._public_of is not self.DHs:   # computed once per key pair
            self._public, self._public_of = crypto.public_bytes(self.DHs), self.DHs
        return self._public

    def copy(self) -> RatchetState:
        """A snapshot (the private key object is immutable and shared)."""
        return RatchetState(self.curve, self.DHs, self.DHr, self.RK, self.CKs, self.CKr,
                            self.Ns, self.Nr, self.PN, OrderedDict(self.MKSKIPPED),
                            OrderedDict(self.old_DHr))


class Ratchet:
    """One side of a Double Ratchet with one peer.

    ``Ratchet.alice(sk, bob_public, curve)`` sends first (RatchetInitAlice);
    ``Ratchet.bob(sk, bob_private)`` (RatchetInitBob) can send once Alice's first message
    has arrived (`can_send`). ``seal`` gives a header and AES-GCM output; ``open`` the
    plaintext, or raises `RatchetRefused` with the reason and no change of state.
    """

    dh_steps = True

    def __init__(self, state: RatchetState, *, generate: Generate | None = None,
                 max_skip: int = MAX_SKIP, max_kept: int = MAX_SKIPPED_KEYS):
        if max_skip < 0 or max_kept < max_skip:
            raise ValueError("need 0 <= max_skip <= max_kept")
        self.state = state
        self.max_skip = max_skip
        self.max_kept = max_kept
        self._generate = generate or crypto.generate_private_key

    # -------------------------------------------------------- initialisation (section 3.3)
    @classmethod
    def alice(cls, sk: bytes, bob_public: bytes, curve: str, **kwargs) -> Ratchet:
        """RatchetInitAlice: a fresh DHs, DHr = Bob's ratchet public key, and
        RK, CKs = KDF_RK(SK, DH(DHs, DHr))."""
        _check_key(sk)
        curve = get_curve(curve).name
        peer = _public_key(curve, bytes(bob_public))
        dhs = (kwargs.get("generate") or crypto.generate_private_key)(curve)
        rk, cks = kdf_rk(bytes(sk), _dh(dhs, peer))
        self = cls(RatchetState(curve, dhs, bytes(bob_public), rk, cks, None), **kwargs)
        return self

    @classmethod
    def bob(cls, sk: bytes, bob_private: crypto.PrivateKey, **kwargs) -> Ratchet:
        """RatchetInitBob: DHs = Bob's key pair (whose public key Alice used), RK = SK."""
        _check_key(sk)
        crypto.private_value(bob_private)   # TypeError unless a private key
        return cls(RatchetState(crypto.curve_of(bob_private), bob_private, None, bytes(sk),
                                None, None), **kwargs)

    @property
    def can_send(self) -> bool:
        return self.state.CKs is not None

    # -------------------------------------------------------- encrypting (section 3.4)
    def seal(self, plaintext: bytes, ad: bytes = b"", *, nonce: bytes | None = None) -> Sealed:
        """RatchetEncrypt: CKs, mk = KDF_CK(CKs); header (DHs, PN, Ns); Ns += 1."""
        st = self.state
        if st.CKs is None:
            raise RatchetRefused(f"{NO_CHAIN}: waiting for the first message from the peer")
        if st.Ns > MAX_N:
            raise RatchetRefused(f"{NO_CHAIN}: this chain is full ({MAX_N} messages)")
        cks, mk = kdf_ck(st.CKs)
        header = Header(st.public, st.PN, st.Ns)
        out = crypto.encrypt(mk, plaintext, associated_data=concat(bytes(ad), header),
                             nonce=nonce)
        st.CKs, st.Ns = cks, st.Ns + 1
        step = Step("send", header.dh, header.n, short_fingerprint(st.RK),
                    short_fingerprint(cks), short_fingerprint(mk))
        return Sealed(header, out.ciphertext, out.nonce, out.tag, (step,))

    # -------------------------------------------------------- decrypting (section 3.5)
    def open(self, header: Header, ciphertext: bytes, nonce: bytes, tag: bytes,
             ad: bytes = b"") -> Opened:
        """RatchetDecrypt, as a transaction: the plaintext, or `RatchetRefused` (tampered,
        replayed, too far ahead, bad ratchet key) with the state untouched."""
        st = self.state
        if not (isinstance(header, Header) and isinstance(header.dh, bytes)
                and all(type(v) is int and 0 <= v <= MAX_N for v in (header.n, header.pn))):
            raise RatchetRefused(f"{MALFORMED}: not a ratchet header")
        full_ad = concat(bytes(ad), header)

        def decrypt(mk: bytes) -> bytes:
            try:
                return crypto.decrypt(mk, ciphertext, nonce, tag, associated_data=full_ad)
            except crypto.DecryptionError:
                raise RatchetRefused(f"{TAMPERED}: the ciphertext, its header or its "
                                     "associated data was changed, or it was sealed under "
                                     "another key") from None

        # TrySkippedMessageKeys
        slot = (header.dh, header.n)
        mk = st.MKSKIPPED.get(slot)
        if mk is not None:
            plaintext = decrypt(mk)
            del st.MKSKIPPED[slot]
            return Opened(plaintext, header, (Step("skipped key used", header.dh, header.n,
                                                   mk=short_fingerprint(mk)),))
        if header.dh == st.DHr and header.n < st.Nr:
            raise RatchetRefused(f"{REPLAYED}: the key of message #{header.n} in this chain "
                                 "was used (or dropped) and deleted")
        if header.dh in st.old_DHr:
            raise RatchetRefused(f"{REPLAYED}: from an earlier ratchet key of the peer, "
                                 "whose message keys are deleted")
        if header.dh == st.public:
            raise RatchetRefused(f"{TAMPERED}: our own ratchet key, sent back to us")

        # everything below works on locals and is committed only after the tag checks
        steps: list[Step] = []
        skipped: list[tuple[tuple[bytes, int], bytes]] = []
        rk, dhr, ckr, nr = st.RK, st.DHr, st.CKr, st.Nr
        peer = None

        def skip(until: int, what: str) -> None:
            # SkipMessageKeys
            nonlocal ckr, nr
            if nr + self.max_skip < until:
                raise RatchetRefused(f"{TOO_FAR}: {what} {until} would skip "
                                     f"{until - nr} message keys (at most {self.max_skip})")
            if ckr is not None:
                while nr < until:
                    ckr, key = kdf_ck(ckr)
                    skipped.append(((dhr, nr), key))
                    steps.append(Step("skip", dhr, nr, ck=short_fingerprint(ckr),
                                      mk=short_fingerprint(key)))
                    nr += 1

        new_chain = header.dh != dhr
        if new_chain:
            if not self.dh_steps:
                raise RatchetRefused(f"{BAD_KEY}: not the peer's chain (this ratchet has no "
                                     "DH steps)")
            if header.n > self.max_skip:  # the check below, made before any DH work
                raise RatchetRefused(f"{TOO_FAR}: n {header.n} would skip {header.n} "
                                     f"message keys (at most {self.max_skip})")
            peer = _public_key(st.curve, header.dh)
            skip(header.pn, "pn")
            # DHRatchet, first half: the receiving chain (the second, a fresh DHs, waits
            # for the tag to check, so a forged message costs no key generation)
            dhr, nr = header.dh, 0
            rk, ckr = kdf_rk(rk, _dh(st.DHs, peer))
            steps.append(Step("dh receive", dhr, 0, short_fingerprint(rk),
                              short_fingerprint(ckr)))
        skip(header.n, "n")
        if ckr is None:
            # only a message sealed for someone else (or forged) names a chain we never had
            raise RatchetRefused(f"{TAMPERED}: no receiving chain for this message (it was "
                                 "not sealed for us)")
        ckr, mk = kdf_ck(ckr)
        plaintext = decrypt(mk)
        steps.append(Step("receive", dhr, nr, short_fingerprint(rk), short_fingerprint(ckr),
                          short_fingerprint(mk)))
        nr += 1

        # commit
        if new_chain:
            if st.DHr is not None:
                st.old_DHr[st.DHr] = None
                while len(st.old_DHr) > PEER_KEYS_REMEMBERED:
                    st.old_DHr.popitem(last=False)
            dhs = self._generate(st.curve)
            rk, cks = kdf_rk(rk, _dh(dhs, peer))
            st.PN, st.Ns, st.DHs, st.CKs = st.Ns, 0, dhs, cks
            steps.append(Step("dh send", st.public, 0, short_fingerprint(rk),
                              short_fingerprint(cks)))
        st.RK, st.DHr, st.CKr, st.Nr = rk, dhr, ckr, nr
        st.MKSKIPPED.update(skipped)
        while len(st.MKSKIPPED) > self.max_kept:
            (old_dh, old_n), _ = st.MKSKIPPED.popitem(last=False)
            steps.append(Step("skipped key dropped", old_dh, old_n))
        return Opened(plaintext, header, tuple(steps))

    # -------------------------------------------------------- for the lesson
    def summary(self) -> dict:
        """What a "Ratchet" view shows: the keys as fingerprints, the counters, our ratchet
        public key and the peer's, and how many skipped keys are kept."""
        st = self.state
        return {"curve": st.curve, "DHs": st.public, "DHr": st.DHr,
                "RK": short_fingerprint(st.RK), "CKs": short_fingerprint(st.CKs),
                "CKr": short_fingerprint(st.CKr), "Ns": st.Ns, "Nr": st.Nr, "PN": st.PN,
                "skipped": len(st.MKSKIPPED)}

    @classmethod
    def from_state(cls, state: RatchetState, **kwargs) -> Ratchet:
        """A ratchet that goes on from a copy of `state`: how an active thief with the whole
        state impersonates its owner (and makes the fresh DH keys herself, so no healing)."""
        return cls(state.copy(), **kwargs)

    def snapshot(self) -> RatchetState:
        """A copy of the whole state (what a thief of the device's memory gets)."""
        return self.state.copy()

    def peek_message_key(self, direction: str = "sending") -> tuple[Header | None, bytes]:
        """The message key the next message in `direction` will use, without using it:
        (sending: the header it will carry; receiving: None) and the key."""
        st = self.state
        if direction not in ("sending", "receiving"):
            raise ValueError(f"direction must be 'sending' or 'receiving', not {direction!r}")
        ck = st.CKs if direction == "sending" else st.CKr
        if ck is None:
            raise ValueError(f"no {direction} chain yet")
        mk = kdf_ck(ck)[1]
        return (Header(st.public, st.PN, st.Ns) if direction == "sending" else None), mk

    def __deepcopy__(self, memo):  # a copy with its own state
        dup = copy.copy(self)
        dup.state = self.state.copy()
        return dup


def _check_key(sk: object) -> None:
    if not isinstance(sk, (bytes, bytearray)) or len(sk) != 32:
        raise ValueError("the shared root key must be 32 bytes")


# ---------------------------------------------------------------- the lesson's comparisons

class SymmetricRatchet(Ratchet):
    """The symmetric-key ratchet alone: one chain per direction from the shared key, never
    a DH step (forward secrecy, no healing). The header's ``dh`` is the sender's long-term
    public key, ``pn`` is 0."""

    dh_steps = False

    @classmethod
    def create(cls, sk: bytes, role: str, own: crypto.PrivateKey, peer_public: bytes,
               **kwargs) -> SymmetricRatchet:
        _check_key(sk)
        keys = crypto.hkdf_sha256(bytes(sk), info=SYMMETRIC_INFO, length=64)
        first, second = keys[:32], keys[32:]
        cks, ckr = (first, second) if role == ALICE else (second, first)
        return cls(RatchetState(crypto.curve_of(own), own, bytes(peer_public), None, cks, ckr),
                   **kwargs)


class StaticPair:
    """Today's v1 in the lesson's terms: every message under the one pair key (the header
    carries the sender's public key and its sequence number as ``n``)."""

    def __init__(self, key: bytes, own: crypto.PrivateKey):
        _check_key(key)
        self.key = bytes(key)
        self.public = crypto.public_bytes(own)
        self.n = 0

    def seal(self, plaintext: bytes, ad: bytes = b"", *, nonce: bytes | None = None) -> Sealed:
        header = Header(self.public, 0, self.n)
        out = crypto.encrypt(self.key, plaintext, associated_data=concat(ad, header),
                             nonce=nonce)
        self.n += 1
        return Sealed(header, out.ciphertext, out.nonce, out.tag,
                      (Step("send", header.dh, header.n, mk=short_fingerprint(self.key)),))

    def open(self, header: Header, ciphertext: bytes, nonce: bytes, tag: bytes,
             ad: bytes = b"") -> Opened:
        try:
            plaintext = crypto.decrypt(self.key, ciphertext, nonce, tag,
                                       associated_data=concat(ad, header))
        except crypto.DecryptionError:
            raise RatchetRefused(f"{TAMPERED}: the message was changed") from None
        return Opened(plaintext, header, (Step("receive", header.dh, header.n),))
