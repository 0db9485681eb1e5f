"""Steal a key, then really try every logged ciphertext: what forward secrecy and healing mean.

A thief takes one item from one student at one moment: a message key, a sending or receiving
chain key, the whole ratchet state, or (static mode) the pair key. `exposure` then tries to
open each logged message (header, ciphertext, associated data) with what that item gives,
the way an attacker would: KDF_CK steps forward along a stolen chain, the stored skipped keys,
and, with the whole state, the peer's next DH step (the stolen DHs private key and RK follow
it) - until the victim's next fresh DH, which the thief cannot follow. Each message gets a
`Verdict`: opened or not, and why.

`compare_schemes` runs one conversation three ways (static key, symmetric-key ratchet only,
Double Ratchet), steals at the same moment and counts what each theft exposes.

Pure functions: no I/O, no clock; randomness from a seeded `random.Random` when asked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ecc_widgets import crypto
from ecc_widgets.curves import get_curve
from ecc_widgets.ratchet.core import (
    ALICE,
    BOB,
    Header,
    Ratchet,
    RatchetState,
    StaticPair,
    SymmetricRatchet,
    concat,
    kdf_ck,
    kdf_rk,
    root_key_from_session_key,
)

MAX_THIEF_STEPS = 4096   # KDF_CK steps the thief takes along one chain for one message

SCHEMES = ("static", "symmetric", "double")
ITEMS = ("message", "sending", "receiving", "state")

ONE_WAY = "chain keys are one-way: earlier messages stay closed"


@dataclass(frozen=True)
class Logged:
    """One ciphertext as a relay saw it pass, with its sender's name (for the reasons)."""

    header: Header
    ciphertext: bytes
    nonce: bytes
    tag: bytes
    ad: bytes = b""
    sender: str = ""


@dataclass(frozen=True)
class StolenMessageKey:
    owner: str
    dh: bytes
    n: int
    key: bytes


@dataclass(frozen=True)
class StolenChainKey:
    owner: str
    direction: str   # "sending" or "receiving"
    dh: bytes        # the ratchet public key its messages carry
    n: int           # the number of the next message it will key
    key: bytes


@dataclass(frozen=True)
class StolenState:
    owner: str
    state: RatchetState


@dataclass(frozen=True)
class StolenPairKey:
    owner: str
    key: bytes


Stolen = StolenMessageKey | StolenChainKey | StolenState | StolenPairKey


@dataclass(frozen=True)
class Verdict:
    index: int
    sender: str
    opened: bool
    reason: str
    before_theft: bool
    plaintext: bytes | None = None


# ---------------------------------------------------------------- taking

def steal_message_key(owner: str, ratchet: Ratchet, direction: str = "sending",
                      ) -> StolenMessageKey:
    """The key of the next message `owner` sends (or, "receiving", the next one in the
    chain it receives); derived, not used: the owner goes on unaware."""
    header, key = ratchet.peek_message_key(direction)
    if header is None:
        st = ratchet.state
        assert st.DHr is not None
        return StolenMessageKey(owner, st.DHr, st.Nr, key)
    return StolenMessageKey(owner, header.dh, header.n, key)


def steal_chain_key(owner: str, ratchet: Ratchet, direction: str) -> StolenChainKey:
    st = ratchet.state
    if direction == "sending":
        if st.CKs is None:
            raise ValueError(f"{owner} has no sending chain yet")
        return StolenChainKey(owner, direction, st.public, st.Ns, st.CKs)
    if direction == "receiving":
        if st.CKr is None or st.DHr is None:
            raise ValueError(f"{owner} has no receiving chain yet")
        return StolenChainKey(owner, direction, st.DHr, st.Nr, st.CKr)
    raise ValueError(f"direction must be 'sending' or 'receiving', not {direction!r}")


def steal_state(owner: str, ratchet: Ratchet) -> StolenState:
    return StolenState(owner, ratchet.snapshot())


def steal(item: str, owner: str, party: Ratchet | StaticPair) -> Stolen:
    """One of `ITEMS` from a party; in static mode every item is the pair key."""
    if isinstance(party, StaticPair):
        return StolenPairKey(owner, party.key)
    if item == "message":
        return steal_message_key(owner, party)
    if item in ("sending", "receiving"):
        return steal_chain_key(owner, party, item)
    if item == "state":
        return steal_state(owner, party)
    raise ValueError(f"item must be one of {', '.join(ITEMS)}, not {item!r}")


# ---------------------------------------------------------------- trying

class _Chain:
    def __init__(self, n0: int, ck: bytes, label: str):
        self.n0, self.label = n0, label
        self._ck, self._n, self._keys = ck, n0, {}

    def key(self, n: int) -> bytes | None:
        if n < self.n0 or n - self.n0 > MAX_THIEF_STEPS:
            return None
        while self._n <= n:
            self._ck, mk = kdf_ck(self._ck)
            self._keys[self._n] = mk
            self._n += 1
        return self._keys[n]


def _steps(k: int) -> str:
    return f"{k} KDF step{'s' if k != 1 else ''}"


class _Thief:
    def __init__(self, stolen: Stolen):
        self.owner = stolen.owner
        self.pair: bytes | None = None
        self.keys: dict[tuple[bytes, int], tuple[bytes, str]] = {}
        self.chains: dict[bytes, _Chain] = {}
        self.root: tuple[bytes, dict[bytes, crypto.PrivateKey]] | None = None
        self.curve = ""
        self.healer = ""
        self.one_key_chain = b""
        if isinstance(stolen, StolenPairKey):
            self.pair = stolen.key
        elif isinstance(stolen, StolenMessageKey):
            self.keys[(stolen.dh, stolen.n)] = (stolen.key, "the stolen message key")
            self.one_key_chain = stolen.dh
        elif isinstance(stolen, StolenChainKey):
            self.chains[stolen.dh] = _Chain(stolen.n, stolen.key,
                                            f"stolen {stolen.direction} chain key")
        elif isinstance(stolen, StolenState):
            st = stolen.state
            self.curve = st.curve
            for slot, mk in st.MKSKIPPED.items():
                self.keys[slot] = (mk, "a skipped key the victim kept for a delayed message")
            if st.CKs is not None:
                self.chains[st.public] = _Chain(st.Ns, st.CKs, "stolen sending chain key")
            if st.CKr is not None and st.DHr is not None:
                self.chains[st.DHr] = _Chain(st.Nr, st.CKr, "stolen receiving chain key")
            if st.RK is not None:
                self.root = (st.RK, {st.public: st.DHs})
        else:
            raise TypeError(f"not a stolen item: {type(stolen).__name__}")
        self.root_known = self.root is not None

    @staticmethod
    def _try(key: bytes, m: Logged) -> bytes | None:
        try:
            return crypto.decrypt(key, m.ciphertext, m.nonce, m.tag,
                                  associated_data=concat(m.ad, m.header))
        except crypto.DecryptionError:
            return None

    def judge(self, i: int, m: Logged, before: bool, known_before: set[bytes]) -> Verdict:
        h = m.header
        sender = m.sender or "the sender"

        def verdict(plaintext: bytes | None, reason: str) -> Verdict:
            return Verdict(i, m.sender, plaintext is not None, reason, before, plaintext)

        if self.pair is not None:
            pt = self._try(self.pair, m)
            return verdict(pt, "the pair key opens every message, before and after the theft"
                           if pt is not None else "not sealed under the stolen pair key")
        slot = self.keys.get((h.dh, h.n))
        if slot is not None and (pt := self._try(slot[0], m)) is not None:
            return verdict(pt, slot[1])
        chain = self.chains.get(h.dh)
        if chain is not None:
            key = chain.key(h.n)
            if key is not None and (pt := self._try(key, m)) is not None:
                return verdict(pt, f"{_steps(h.n - chain.n0)} from the {chain.label}")
            if h.n < chain.n0:
                return verdict(None, ONE_WAY)
        elif self.root is not None:
            rk, privates = self.root
            for private in privates.values():
                try:
                    peer = crypto.public_key_from_bytes(self.curve, h.dh)
                    rk2, ck = kdf_rk(rk, crypto.ecdh(private, peer))
                except crypto.InvalidKeyError:
                    continue
                follow = _Chain(0, ck, f"chain {sender} started with a fresh key")
                key = follow.key(h.n)
                if key is not None and (pt := self._try(key, m)) is not None:
                    self.chains[h.dh] = follow
                    # the victim answers this key with a fresh one of its own: the thief
                    # knows the new root key but not that private key, so it is stuck
                    self.root = None
                    return verdict(pt, f"{self.owner}'s stolen ratchet key and root key "
                                       f"follow {sender}'s DH step ({_steps(h.n)} into "
                                       "the new chain)")
        if h.dh == self.one_key_chain:
            return verdict(None, "a message key opens its own message only")
        if before:
            return verdict(None, ONE_WAY)
        if chain is not None:
            return verdict(None, "the derived key does not open it (tampered?)")
        if h.dh in known_before and h.dh not in self.chains:
            return verdict(None, "another chain than the stolen one")
        if not self.root_known:
            return verdict(None, f"healed: a fresh DH from {sender}")
        if not self.healer:   # the first fresh key the stolen state could not follow
            self.healer = sender
        return verdict(None, f"healed: a fresh DH from {self.healer}")


def exposure(stolen: Stolen, log: list[Logged], *, theft_at: int) -> list[Verdict]:
    """Try each logged message with what `stolen` gives; `theft_at` is the number of
    messages the log held when the item was taken (those are "before the theft")."""
    thief = _Thief(stolen)
    known_before = {m.header.dh for m in log[:theft_at]}
    return [thief.judge(i, m, i < theft_at, known_before) for i, m in enumerate(log)]


# ---------------------------------------------------------------- comparing schemes

def random_key(curve: str, rng: random.Random) -> crypto.PrivateKey:
    """A private key drawn from `rng` (for reproducible lessons and tests, not for secrets)."""
    name = get_curve(curve).name
    if name == "X25519":
        return crypto.private_key_from_value(name, rng.getrandbits(256))
    return crypto.private_key_from_value(name, rng.randrange(1, get_curve(name).n))


def _parties(scheme: str, curve: str, rng: random.Random) -> dict:
    def generate(c: str) -> crypto.PrivateKey:
        return random_key(c, rng)

    a, b = generate(curve), generate(curve)
    pa, pb = crypto.public_bytes(a), crypto.public_bytes(b)
    session_key = crypto.derive_session_key(crypto.ecdh(a, b.public_key()), curve=curve,
                                            public_a=pa, public_b=pb)
    if scheme == "static":
        return {ALICE: StaticPair(session_key, a), BOB: StaticPair(session_key, b)}
    sk = root_key_from_session_key(session_key)
    if scheme == "symmetric":
        return {ALICE: SymmetricRatchet.create(sk, ALICE, a, pb),
                BOB: SymmetricRatchet.create(sk, BOB, b, pa)}
    if scheme == "double":
        return {ALICE: Ratchet.alice(sk, pb, curve, generate=generate),
                BOB: Ratchet.bob(sk, b, generate=generate)}
    raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}")


def converse(scheme: str, script: list[str], *, theft_at: int, victim: str = ALICE,
             item: str = "state", curve: str = "X25519", seed: int = 0,
             ) -> tuple[list[Logged], Stolen]:
    """Run `script` (the sender of each message, in order, each delivered at once) under
    `scheme`; steal `item` from `victim` just before message `theft_at` is sealed.
    Returns the relay's log and the stolen item."""
    rng = random.Random(seed)
    parties = _parties(scheme, curve, rng)
    if victim not in parties:
        raise ValueError(f"victim must be {ALICE!r} or {BOB!r}")
    log: list[Logged] = []
    stolen = None
    for i, sender in enumerate(script):
        if sender not in parties:
            raise ValueError(f"a sender must be {ALICE!r} or {BOB!r}, not {sender!r}")
        if i == theft_at:
            stolen = steal(item, victim, parties[victim])
        receiver = BOB if sender == ALICE else ALICE
        ad = f"lesson|{sender}|{receiver}".encode()
        sealed = parties[sender].seal(f"message {i} from {sender}".encode(), ad)
        log.append(Logged(sealed.header, sealed.ciphertext, sealed.nonce, sealed.tag, ad,
                          sender))
        parties[receiver].open(sealed.header, sealed.ciphertext, sealed.nonce, sealed.tag, ad)
    if stolen is None:
        stolen = steal(item, victim, parties[victim])
    return log, stolen


def compare_schemes(script: list[str], *, theft_at: int, victim: str = ALICE,
                    item: str = "state", curve: str = "X25519", seed: int = 0,
                    ) -> dict[str, list[Verdict]]:
    """The same conversation and the same theft under each scheme: the verdicts per scheme
    (count ``v.opened`` for the headline: messages exposed per theft)."""
    out = {}
    for scheme in SCHEMES:
        log, stolen = converse(scheme, script, theft_at=theft_at, victim=victim, item=item,
                               curve=curve, seed=seed)
        out[scheme] = exposure(stolen, log, theft_at=theft_at)
    return out
