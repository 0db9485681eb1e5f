"""The sealed message's envelope: every version of the format in one table.

On the wire a message is the seed's three base64 fields (``encryptedMessage``, ``iv``,
``tag``) plus the header fields of its version. `parse` reads a received payload once: it
picks the version (`version_of`, the one place that looks at ``v``) and decodes the
base64, so everything after it reads bytes. Each `Version` in `VERSIONS` says what it
sends (`fields`), what its tag authenticates (`associated_data`), how one pair seals and
opens (`seal`, `open`: they take the pair's `KeyState`, and may consult and advance it),
and what identifies the keys a message was sealed under (`epoch`).

- ``legacy`` (the seed's): no header, no associated data, one raw ECDH key both ways; only
  a repeated IV, or our own message sent back to us, is caught.
- ``v1``: AES-256-GCM under the HKDF session key, the associated data binding version,
  room, sender, receiver, curve, a per-pair sequence number and the kind (see
  docs/protocol.md, "Message protection (v1)").

A new version is a subclass of `Version` registered in `VERSIONS` (plus its tests). Pure:
no I/O, no clock but the AEAD's own timing, shown to students.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ecc_widgets import crypto
from ecc_widgets.protocol import PROTOCOL_VERSION, SAS_KINDS
from ecc_widgets.ratchet import core as ratchet_core
from ecc_widgets.ratchet.steal import Logged, exposure, steal

VERSION_FIELD = "v"         # on messages and key shares; absent: the seed's format
WIRE_FIELDS = ("encryptedMessage", "iv", "tag")   # ciphertext, nonce, tag (base64)
RECEIPT = "receipt"         # the `kind` of a delivery receipt
CHAT_KINDS = ("", RECEIPT)  # what a conversation carries ("" is a chat message)

REPLAY_WINDOW = 64          # how far behind the newest sequence number a message may arrive
REMEMBER_IVS = 4096         # legacy IVs remembered per key pair, received and sent

# Rejection reasons start with these words, so a reader (and a test) can tell them apart.
TAMPERED = "tampered"
REPLAYED = "replayed"
REORDERED = "reordered"
WRONG_CURVE = "wrong curve"
DOWNGRADE = "downgrade"
NO_KEY = "no key"
MALFORMED = "malformed"
REFLECTED = "reflected"     # one of our own messages sent back to us as the peer's
STALE = "stale"             # sealed under the pair's previous key: sent before a key change


# ---------------------------------------------------------------------------- per-pair state

class ReplayWindow:
    """Accepts each sequence number once, and none older than `size` behind the newest.

    `check` returns None (accept), "duplicate" (the same message id again: a re-send after
    a reconnect, dropped quietly), or a rejection reason.
    """

    def __init__(self, size: int = REPLAY_WINDOW, remember: int = 4096, floor: int = 0):
        self.size = size
        self.highest = floor
        self.floor = floor   # everything up to here was seen once (details forgotten)
        self._seen: OrderedDict[int, str] = OrderedDict()  # seq -> message id
        self._remember = remember

    def check(self, seq: int, message_id: str) -> str | None:
        seen = self._seen.get(seq)
        if seen is not None:
            if seen == message_id:
                return "duplicate"
            return f"{REPLAYED}: sequence number {seq} was already received"
        if seq <= self.floor:
            return f"{REPLAYED}: sequence number {seq} is from an earlier use of this key"
        if seq <= self.highest - self.size:
            return (f"{REORDERED} past the window: #{seq} arrived after #{self.highest} "
                    f"(window {self.size})")
        return None

    def accept(self, seq: int, message_id: str) -> None:
        self._seen[seq] = message_id
        self.highest = max(self.highest, seq)
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)


class RecentSet:
    """The newest `size` strings added (a set that forgets its oldest)."""

    def __init__(self, size: int = REMEMBER_IVS):
        self.size = size
        self._items: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, item: str) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: str) -> None:
        self._items[item] = None
        self._items.move_to_end(item)
        if len(self._items) > self.size:
            self._items.popitem(last=False)


@dataclass
class KeyState:
    """What one key pair (theirs, ours) with one peer has seen and sent: kept while the
    session lives, so a key that comes back (a relay bouncing keys) finds its history.
    `extra` is a version's own state (a ratchet's chains), None for legacy and v1."""

    window: ReplayWindow = field(default_factory=ReplayWindow)
    seen_ivs: RecentSet = field(default_factory=RecentSet)   # legacy IVs received
    sent_ivs: RecentSet = field(default_factory=RecentSet)   # IVs we sealed with
    send_seq: int = 0
    extra: Any = None


# ---------------------------------------------------------------------------- records

@dataclass(frozen=True)
class Context:
    """Who a message is from and for, where, on which curve: what both ends agree on."""

    room: str
    sender: str
    receiver: str
    curve: str


@dataclass(frozen=True)
class Envelope:
    """A received message, read once: its version, header and decoded wire fields."""

    version: Version
    payload: dict                # as received
    ciphertext: bytes
    nonce: bytes
    tag: bytes
    kind: str = ""
    seq: int | None = None       # None: absent, or not a number
    message_id: str | None = None
    curve: str | None = None

    @property
    def iv(self) -> str:
        """The nonce as the wire carried it (legacy IV memory compares these)."""
        return self.payload["iv"]


@dataclass(frozen=True)
class Sealed:
    """A message ready for the wire (without `targetSocketId`: the socket id changes),
    with what a view shows of it: the associated data and the sizes the AEAD gave."""

    payload: dict
    associated_data: str = ""
    seq: int = 0
    ciphertext: bytes = field(default=b"", compare=False, repr=False)
    nonce: bytes = field(default=b"", compare=False, repr=False)
    tag: bytes = field(default=b"", compare=False, repr=False)
    seal_ms: float = field(default=0.0, compare=False)       # the encryption alone


@dataclass(frozen=True)
class Opened:
    """What `Version.open` gives for an authentic, new message: the plaintext bytes."""

    data: bytes
    kind: str = ""
    seq: int = 0
    associated_data: str = ""
    note: str = ""               # accepted, with a warning (reordered inside the window)
    open_ms: float = 0.0


@dataclass(frozen=True)
class Rejected:
    """Refused; `reason` starts with one of the words above (tampered, ...)."""

    reason: str
    kind: str = ""
    associated_data: str = ""


@dataclass(frozen=True)
class Duplicate:
    """The same message (same id, same number) again: a re-send after a reconnect."""

    seq: int
    kind: str = ""


class EnvelopeError(ValueError):
    """A payload that is not a message of a version we speak; the text starts with a
    rejection word (malformed)."""


# ---------------------------------------------------------------------------- the versions

class Version:
    """One version of the format. Subclasses set the class attributes and implement
    `encrypt`/`decrypt` (one message under a given key, no state) and `seal`/`open` (one
    pair's protocol: they may consult and advance its `KeyState`)."""

    name: ClassVar[str]
    number: ClassVar[int | None]       # the wire's ``v`` (None: the field is absent)
    rank: ClassVar[int]                # a message of a lower rank than the pair's: downgrade
    fields: ClassVar[tuple[str, ...]]  # header fields sent besides WIRE_FIELDS
    kinds: ClassVar[tuple[str, ...]] = ("",)   # kinds a conversation carries in it
    receipts: ClassVar[bool] = False   # the receiver confirms what arrived
    short_code: ClassVar[bool] = False  # the pair runs the short code's exchange (sas)
    key_derivation: ClassVar[str] = ""  # what `derive_key` does, in words (for the log)
    stateful: ClassVar[bool] = False   # `start` sets up per-pair state (a ratchet)

    def __repr__(self) -> str:
        return f"<envelope version {self.name}>"

    def derive_key(self, shared_secret: bytes, *, curve: str, ours: bytes,
                   theirs: bytes) -> bytes:
        """The pair's key from the ECDH secret and both public keys (the same on both
        sides): what `seal` and `open` are given as `key`."""
        raise NotImplementedError

    def start(self, key: bytes, state: KeyState, *, private: Any, ours: bytes, theirs: bytes,
              peer_public: Any, curve: str) -> None:
        """Set up what the version keeps per key pair in `state.extra`, once, at key
        agreement (our private key is used here and not kept beyond the version's own
        state). ValueError if the pair cannot go on."""

    def associated_data(self, ctx: Context, *, seq: int = 0, kind: str = "") -> bytes:
        return b""

    def epoch(self, key: bytes, state: KeyState) -> bytes:
        """What identifies the keys a message is sealed under: a message sealed in one
        epoch is sent as it is while the pair stays in it (the outbox compares these)."""
        return hashlib.blake2s(self.name.encode() + b"\0" + key, digest_size=16).digest()

    def complete(self, env: Envelope) -> bool:
        """The header has what `decrypt` needs (types, not values)."""
        return True

    def encrypt(self, key: bytes, data: bytes, ctx: Context, *, message_id: str = "",
                seq: int = 0, kind: str = "", nonce: bytes | None = None) -> Sealed:
        raise NotImplementedError

    def decrypt(self, key: bytes, env: Envelope, ctx: Context) -> bytes:
        """The plaintext of `env` under `key` (its own header as associated data), or
        crypto.DecryptionError."""
        return crypto.decrypt(key, env.ciphertext, env.nonce, env.tag,
                              associated_data=self.associated_data(
                                  ctx, seq=env.seq or 0, kind=env.kind))

    def _timed_decrypt(self, key: bytes, env: Envelope, ctx: Context) -> tuple[bytes, float]:
        """`decrypt`, and how long it took in ms (shown to students)."""
        began = time.perf_counter()
        data = self.decrypt(key, env, ctx)
        return data, (time.perf_counter() - began) * 1000

    def reseal(self, key: bytes, data: bytes, env: Envelope, ctx: Context) -> dict:
        """`env`'s payload with `data` sealed again under `key` (same header, fresh nonce):
        what a relay in the middle delivers."""
        sealed = self.encrypt(key, data, ctx, message_id=env.message_id or "",
                              seq=env.seq or 0, kind=env.kind)
        return {**env.payload, **{k: sealed.payload[k] for k in WIRE_FIELDS}}

    def seal(self, key: bytes, state: KeyState, data: bytes, ctx: Context, *,
             message_id: str, kind: str = "", nonce: bytes | None = None) -> Sealed:
        raise NotImplementedError

    def open(self, key: bytes, state: KeyState, env: Envelope,
             ctx: Context) -> Opened | Rejected | Duplicate:
        raise NotImplementedError


def _wire(payload: dict, box: crypto.Encrypted) -> dict:
    payload.update(encryptedMessage=crypto.b64encode(box.ciphertext),
                   iv=crypto.b64encode(box.nonce), tag=crypto.b64encode(box.tag))
    return payload


def _timed_encrypt(key: bytes, data: bytes, ad: bytes,
                   nonce: bytes | None) -> tuple[crypto.Encrypted, float]:
    began = time.perf_counter()
    box = crypto.encrypt(key, data, associated_data=ad, nonce=nonce)
    return box, (time.perf_counter() - began) * 1000


class LegacyFormat(Version):
    """The seed's format."""

    name, number, rank, fields = "legacy", None, 0, ()
    key_derivation = "first 32 bytes (seed format)"

    def derive_key(self, shared_secret: bytes, *, curve: str, ours: bytes,
                   theirs: bytes) -> bytes:
        return crypto.seed_message_key(shared_secret)

    def encrypt(self, key: bytes, data: bytes, ctx: Context, *, message_id: str = "",
                seq: int = 0, kind: str = "", nonce: bytes | None = None) -> Sealed:
        if kind:
            raise ValueError(f"a legacy peer takes no {kind}")
        box, took = _timed_encrypt(key, data, b"", nonce)
        return Sealed(_wire({}, box), "", 0, *box, seal_ms=took)

    def seal(self, key: bytes, state: KeyState, data: bytes, ctx: Context, *,
             message_id: str, kind: str = "", nonce: bytes | None = None) -> Sealed:
        sealed = self.encrypt(key, data, ctx, kind=kind, nonce=nonce)
        # One raw key serves both directions: remembering our IVs is how a message of ours
        # sent back to us "from the peer" is recognised.
        state.sent_ivs.add(sealed.payload["iv"])
        return sealed

    def open(self, key: bytes, state: KeyState, env: Envelope,
             ctx: Context) -> Opened | Rejected | Duplicate:
        try:
            data, took = self._timed_decrypt(key, env, ctx)
        except crypto.DecryptionError:
            return Rejected(f"{TAMPERED}: authentication failed (wrong key, or the "
                            "ciphertext, IV or tag was changed)")
        if env.iv in state.sent_ivs:
            return Rejected(f"{REFLECTED}: this is a message we sent, sent back to us as "
                            f"{ctx.sender}'s")
        if env.iv in state.seen_ivs:
            return Rejected(f"{REPLAYED}: this IV was already used by an earlier message")
        state.seen_ivs.add(env.iv)
        return Opened(data, open_ms=took)


def associated_data(*, room: str, sender: str, receiver: str, curve: str, seq: int,
                    version: int = PROTOCOL_VERSION, kind: str = "") -> bytes:
    """What a v1 message's tag authenticates besides the text; both sides build it alike.

    `kind` is "" for a chat message (no ``kind`` key at all) and "receipt" for a delivery
    receipt, so neither can be passed off as the other.
    """
    fields: dict[str, Any] = {"v": version, "room": room, "from": sender, "to": receiver,
                              "curve": curve, "seq": seq}
    if kind:
        fields["kind"] = kind
    return json.dumps(fields, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


class V1Format(Version):
    """Protocol v1: associated data, sequence numbers, a replay window, receipts."""

    name, number, rank = "v1", PROTOCOL_VERSION, 1
    fields = ("v", "id", "seq", "curve", "kind")
    kinds = CHAT_KINDS
    receipts = True
    short_code = True
    key_derivation = "HKDF-SHA256"

    def derive_key(self, shared_secret: bytes, *, curve: str, ours: bytes,
                   theirs: bytes) -> bytes:
        return crypto.derive_session_key(shared_secret, curve=curve, public_a=ours,
                                         public_b=theirs)

    def associated_data(self, ctx: Context, *, seq: int = 0, kind: str = "") -> bytes:
        return associated_data(room=ctx.room, sender=ctx.sender, receiver=ctx.receiver,
                               curve=ctx.curve, seq=seq, version=self.number, kind=kind)

    def complete(self, env: Envelope) -> bool:
        return env.seq is not None and env.curve is not None

    def encrypt(self, key: bytes, data: bytes, ctx: Context, *, message_id: str = "",
                seq: int = 0, kind: str = "", nonce: bytes | None = None) -> Sealed:
        ad = self.associated_data(ctx, seq=seq, kind=kind)
        box, took = _timed_encrypt(key, data, ad, nonce)
        payload: dict[str, Any] = {"v": self.number, "id": message_id, "seq": seq,
                                   "curve": ctx.curve}
        if kind:
            payload["kind"] = kind
        return Sealed(_wire(payload, box), ad.decode(), seq, *box, seal_ms=took)

    def seal(self, key: bytes, state: KeyState, data: bytes, ctx: Context, *,
             message_id: str, kind: str = "", nonce: bytes | None = None) -> Sealed:
        state.send_seq += 1
        sealed = self.encrypt(key, data, ctx, message_id=message_id, seq=state.send_seq,
                              kind=kind, nonce=nonce)
        state.sent_ivs.add(sealed.payload["iv"])
        return sealed

    def open(self, key: bytes, state: KeyState, env: Envelope,
             ctx: Context) -> Opened | Rejected | Duplicate:
        kind, seq = env.kind, env.seq
        if seq is None or seq < 1 or env.message_id is None:
            return Rejected(f"{MALFORMED}: a v1 message needs an id and a sequence number "
                            ">= 1", kind)
        if env.payload.get("curve") != ctx.curve:
            return Rejected(f"{WRONG_CURVE}: the message says {env.payload.get('curve')!r} "
                            f"but the keys with {ctx.sender} are on {ctx.curve}", kind)
        ad = self.associated_data(ctx, seq=seq, kind=kind).decode()
        try:
            data, took = self._timed_decrypt(key, env, ctx)
        except crypto.DecryptionError:
            return Rejected(f"{TAMPERED}: authentication failed (the ciphertext, nonce, tag "
                            "or associated data was changed, or it was not sealed for us)",
                            kind, ad)
        verdict = state.window.check(seq, env.message_id)
        if verdict == "duplicate":
            return Duplicate(seq, kind)
        if verdict is not None:
            return Rejected(verdict, kind, ad)
        newest = state.window.highest
        state.window.accept(seq, env.message_id)
        note = (f"{REORDERED}: #{seq} arrived after #{newest} (accepted: inside the replay "
                "window)") if seq < newest else ""
        return Opened(data, kind, seq, ad, note, took)


RATCHET_TIMELINE = 256      # steps of the ratchet kept per pair, for a view
RATCHET_TAGS = 256          # tags of accepted messages kept, to tell a re-send from a replay
RATCHET_LOGGED = 128        # chat messages kept per pair as a relay saw them (the lesson's thief)


@dataclass
class RatchetPair:
    """What the ratchet version keeps in a pair's `KeyState.extra`: the Double Ratchet
    (`ecc_widgets.ratchet.Ratchet`), our role, what each message did to it (`timeline`,
    newest last, bounded) and the tags of the messages accepted (a re-send is the same
    message again; its key is deleted, so it is recognised by its tag)."""

    ratchet: ratchet_core.Ratchet
    role: str
    timeline: deque = field(default_factory=lambda: deque(maxlen=RATCHET_TIMELINE))
    tags: OrderedDict = field(default_factory=OrderedDict)   # seq -> (message id, tag)
    # the chat messages both ways as the relay carried them (ciphertext, header, associated
    # data: nothing secret), newest last, and how many were ever logged
    logged: deque = field(default_factory=lambda: deque(maxlen=RATCHET_LOGGED))
    logged_total: int = 0

    def log(self, header: ratchet_core.Header, box: Any, ad: bytes, sender: str,
            kind: str) -> None:
        if kind:
            return      # receipts: not the conversation
        self.logged.append(Logged(header, box.ciphertext, box.nonce, box.tag,
                                                ad, sender))
        self.logged_total += 1

    def steal(self, item: str, owner: str) -> tuple[Any, int]:
        """The lesson's theft (`ratchet.steal`: one of "message", "sending", "receiving",
        "state") now, and the number of messages logged so far (the moment of the theft)."""
        return steal(item, owner, self.ratchet), self.logged_total

    def exposure(self, stolen: Any, theft_at: int) -> list:
        """`ratchet.exposure` of `stolen` over the messages logged (still kept)."""
        first = self.logged_total - len(self.logged)
        return exposure(stolen, list(self.logged),
                                      theft_at=max(theft_at - first, 0))

    def accepted(self, seq: int, message_id: str, tag: bytes) -> None:
        self.tags[seq] = (message_id, tag)
        while len(self.tags) > RATCHET_TAGS:
            self.tags.popitem(last=False)

    def view(self) -> RatchetView:
        """What a "Ratchet" view shows (fingerprints and public keys only)."""
        return RatchetView(self.role, self.ratchet.summary(), tuple(self.timeline))


@dataclass(frozen=True)
class RatchetView:
    """One pair's ratchet for display: our role, `Ratchet.summary()` (RK, CKs, CKr as
    fingerprints, Ns, Nr, PN, our and their ratchet public keys, skipped keys kept) and the
    newest steps (`ratchet.Step`: send, receive, skip, dh receive, dh send, ...)."""

    role: str
    summary: dict
    timeline: tuple


def start_ratchet(key: bytes, *, private: Any, ours: bytes, theirs: bytes,
                  peer_public: Any, curve: str,
                  generate: Any = None) -> RatchetPair:
    """Both ends' Double Ratchet from the pair's v1 session key, no message needed.

    Roles come from the two public keys (the smaller encoding is Alice), so each side
    knows its own without a word. The root key is `root_key_from_session_key(key)`. Alice's
    first ratchet key is her long-term key pair and Bob's initial one his (section 3.3's
    "Bob's ratchet public key" is his long-term key, as with a signed prekey): Alice starts
    as RatchetInitAlice does (RK, CKs = KDF_RK(SK, DH(a, B))); Bob starts as if her first
    message had already arrived (RK, CKr = KDF_RK(SK, DH(b, A)), then a fresh DHs and
    RK, CKs = KDF_RK(RK, DH(DHs, A))). So either can send first, and Bob's first message
    is already a DH step that Alice's next reply answers with hers.
    """
    if ours == theirs:
        raise ValueError("our own key as the peer's: no ratchet")
    make = generate or crypto.generate_private_key
    sk = ratchet_core.root_key_from_session_key(key)
    static = crypto.ecdh(private, peer_public)
    rk, ck = ratchet_core.kdf_rk(sk, static)
    if ours < theirs:   # Alice
        state = ratchet_core.RatchetState(curve, private, bytes(theirs), rk, ck, None)
        role = ratchet_core.ALICE
    else:               # Bob
        dhs = make(curve)
        rk2, cks = ratchet_core.kdf_rk(rk, crypto.ecdh(dhs, peer_public))
        state = ratchet_core.RatchetState(curve, dhs, bytes(theirs), rk2, cks, ck)
        role = ratchet_core.BOB
    return RatchetPair(ratchet_core.Ratchet(state, generate=generate), role)


class RatchetFormat(V1Format):
    """The Double Ratchet (``ecc_widgets.ratchet``): v1's header, associated data, sequence
    numbers, replay window and receipts, plus the ratchet header ``dh``, ``pn``, ``n``; every
    message under its own message key, the header authenticated with v1's associated data
    (CONCAT(ad, header)). The pair key (`derive_key`, v1's) gives the first root key and the
    short code; the ratchet lives in `KeyState.extra` (`start`)."""

    name, number, rank = "ratchet", 2, 2
    fields = ("v", "id", "seq", "curve", "kind", "dh", "pn", "n")
    key_derivation = "HKDF-SHA256, then the Double Ratchet"
    stateful = True

    def start(self, key: bytes, state: KeyState, *, private: Any, ours: bytes, theirs: bytes,
              peer_public: Any, curve: str) -> None:
        if state.extra is not None:
            return          # the key pair came back: its ratchet goes on
        if state.send_seq or state.window.highest:
            # its ratchet was forgotten (evicted): starting it again would reuse keys
            raise ValueError("the ratchet of this key pair was forgotten: generate new keys")
        state.extra = start_ratchet(key, private=private, ours=ours, theirs=theirs,
                                    peer_public=peer_public, curve=curve)

    def encrypt(self, key: bytes, data: bytes, ctx: Context, *, message_id: str = "",
                seq: int = 0, kind: str = "", nonce: bytes | None = None) -> Sealed:
        raise TypeError("a ratchet message is sealed by the pair's ratchet (seal)")

    def seal(self, key: bytes, state: KeyState, data: bytes, ctx: Context, *,
             message_id: str, kind: str = "", nonce: bytes | None = None) -> Sealed:
        pair = state.extra
        if not isinstance(pair, RatchetPair):
            raise ValueError(f"no ratchet with {ctx.receiver}")
        seq = state.send_seq + 1
        ad = self.associated_data(ctx, seq=seq, kind=kind)
        began = time.perf_counter()
        try:
            out = pair.ratchet.seal(data, ad, nonce=nonce)
        except ratchet_core.RatchetRefused as exc:
            raise ValueError(exc.reason) from None
        took = (time.perf_counter() - began) * 1000
        state.send_seq = seq
        pair.timeline.extend(out.steps)
        payload: dict[str, Any] = {"v": self.number, "id": message_id, "seq": seq,
                                   "curve": ctx.curve}
        if kind:
            payload["kind"] = kind
        payload.update(out.header.to_wire())
        box = crypto.Encrypted(out.ciphertext, out.nonce, out.tag)
        state.sent_ivs.add(crypto.b64encode(out.nonce))
        pair.log(out.header, box, ad, ctx.sender, kind)
        return Sealed(_wire(payload, box), ad.decode(), seq, *box, seal_ms=took)

    def open(self, key: bytes, state: KeyState, env: Envelope,
             ctx: Context) -> Opened | Rejected | Duplicate:
        kind, seq = env.kind, env.seq
        if seq is None or seq < 1 or env.message_id is None:
            return Rejected(f"{MALFORMED}: a ratchet message needs an id and a sequence "
                            "number >= 1", kind)
        if env.payload.get("curve") != ctx.curve:
            return Rejected(f"{WRONG_CURVE}: the message says {env.payload.get('curve')!r} "
                            f"but the keys with {ctx.sender} are on {ctx.curve}", kind)
        pair = state.extra
        if not isinstance(pair, RatchetPair):
            return Rejected(f"{NO_KEY}: no ratchet with {ctx.sender} (this pair speaks "
                            "another version)", kind)
        ad = self.associated_data(ctx, seq=seq, kind=kind)
        verdict = state.window.check(seq, env.message_id)
        if verdict == "duplicate":
            if pair.tags.get(seq) == (env.message_id, env.tag):
                return Duplicate(seq, kind)     # the same message, re-sent
        elif verdict is not None:
            return Rejected(verdict, kind, ad.decode())
        began = time.perf_counter()
        try:
            header = ratchet_core.Header.from_wire(
                {f: env.payload.get(f) for f in ("dh", "n", "pn")}, ctx.curve)
            opened = pair.ratchet.open(header, env.ciphertext, env.nonce, env.tag, ad)
        except ratchet_core.RatchetRefused as exc:
            return Rejected(exc.reason, kind, ad.decode())
        took = (time.perf_counter() - began) * 1000
        if verdict is not None:     # cannot be: a new message key under a number seen
            return Rejected(f"{REPLAYED}: sequence number {seq} was already received",
                            kind, ad.decode())
        pair.timeline.extend(opened.steps)
        pair.log(header, env, ad, ctx.sender, kind)
        newest = state.window.highest
        state.window.accept(seq, env.message_id)
        pair.accepted(seq, env.message_id, env.tag)
        note = (f"{REORDERED}: #{seq} arrived after #{newest} (accepted: inside the replay "
                "window)") if seq < newest else ""
        return Opened(opened.plaintext, kind, seq, ad.decode(), note, took)


LEGACY, V1, RATCHET = LegacyFormat(), V1Format(), RatchetFormat()
# The table: the wire's ``v`` -> the version (None: no ``v``, the seed's format).
VERSIONS: dict[int | None, Version] = {v.number: v for v in (LEGACY, V1, RATCHET)}
CURRENT = RATCHET           # what our own clients speak unless a peer offers only less
STATIC = V1                 # the lesson's comparison: one key for the whole conversation
BY_NAME = {"ratchet": RATCHET, "static": V1}   # what a Session may be told to offer


def version_of(payload: dict) -> Version | None:
    """The version a message or a key share is in (None: one we do not speak). The one
    place that reads ``v``."""
    if VERSION_FIELD not in payload:
        return LEGACY
    number = payload[VERSION_FIELD]
    if type(number) is not int:
        return None
    return VERSIONS.get(number)


def kind_of(payload: dict) -> str:
    """The `kind` a message claims: "" (chat), "receipt", a short code's step; a version
    without kinds (legacy) has none."""
    version = version_of(payload)
    if version is not None and "kind" not in version.fields:
        return ""
    return payload.get("kind", "")


def downgraded(payload: dict) -> dict:
    """`payload` without any version's header: passed off as a seed-format message."""
    header = {f for v in VERSIONS.values() for f in v.fields}
    return {k: v for k, v in payload.items() if k not in header}


def parse(payload: dict, *, kinds: tuple[str, ...] | None = None) -> Envelope:
    """Read a received message once: its version, header and decoded base64 fields.
    `kinds`: the kinds accepted (default: every kind of its version and the short code's).
    EnvelopeError (its text starts with "malformed") for anything else."""
    version = version_of(payload)
    if version is None:
        raise EnvelopeError(f"{MALFORMED}: unsupported protocol version "
                            f"{payload.get(VERSION_FIELD)!r:.40}")
    kind = kind_of(payload)
    allowed = kinds if kinds is not None else (*version.kinds, *SAS_KINDS)
    if kind not in allowed:
        raise EnvelopeError(f"{MALFORMED}: unknown message kind {kind!r:.40}")
    try:
        ciphertext, nonce, tag = (crypto.b64decode(payload[f]) for f in WIRE_FIELDS)
    except (KeyError, ValueError) as exc:
        raise EnvelopeError(f"{MALFORMED}: {exc}") from None
    seq = payload.get("seq")
    if type(seq) is not int:
        seq = None
    message_id = payload.get("id")
    curve = payload.get("curve")
    return Envelope(version, payload, ciphertext, nonce, tag, kind, seq,
                    message_id if isinstance(message_id, str) else None,
                    curve if isinstance(curve, str) else None)
