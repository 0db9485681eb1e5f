"""Message protection with one peer, sans-IO: seal what we send, judge what arrives.

Protocol v1 (see docs/protocol.md, "Message protection (v1)"): every message is AES-256-GCM
under the pair's message key, with associated data binding version, room, sender,
receiver, curve, a per-pair sequence number and (for a delivery receipt) the kind, so a
relay can neither alter, redirect, replay nor reorder one unnoticed. A legacy peer (the
seed's protocol) gets the seed's format: no associated data, only a repeated IV is caught.

A `Channel` does no I/O and reads no clock (it times its AEAD calls, for display): it
takes wire payloads and gives back wire payloads and verdicts (`Accepted`, `Rejected`
with a reason, `Duplicate`). Chat messages and receipts go through the same `seal` and
`open`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from ecc_widgets import crypto, protocol
from ecc_widgets.protocol import associated_data, kind_of  # noqa: F401 - re-exported
from ecc_widgets.session.records import (
    DOWNGRADE,
    MALFORMED,
    MAX_PLAINTEXT,
    NO_KEY,
    REFLECTED,
    REORDERED,
    REPLAYED,
    TAMPERED,
    WRONG_CURVE,
)

REPLAY_WINDOW = 64          # how far behind the newest sequence number a message may arrive
RECEIPT = "receipt"         # the `kind` of a delivery receipt
MAX_RECEIPT_IDS = 256       # ids per receipt
REMEMBER_IVS = 4096         # legacy IVs remembered per key pair, received and sent
KEYS_PER_PEER = 16          # key pairs per peer whose replay state is kept whole


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
    """The counters of one key pair (theirs, ours) with one peer: kept while the session
    lives, so a key that comes back (a relay bouncing keys) finds its history."""

    window: ReplayWindow = field(default_factory=ReplayWindow)
    seen_ivs: RecentSet = field(default_factory=RecentSet)   # legacy IVs received
    sent_ivs: RecentSet = field(default_factory=RecentSet)   # IVs we sealed with
    send_seq: int = 0


class KeyStates:
    """`KeyState` by (room, peer, their public key, our public key), bounded per peer.

    The newest KEYS_PER_PEER key pairs of a peer are kept whole; an older one keeps only
    its highest sequence numbers, so even after many bounces nothing it accepted is new
    again (`ReplayWindow.floor`).
    """

    def __init__(self, per_peer: int = KEYS_PER_PEER, floors: int = 4096):
        self.per_peer = per_peer
        self._states: OrderedDict[tuple, KeyState] = OrderedDict()
        self._floors: OrderedDict[tuple, tuple[int, int]] = OrderedDict()
        self._max_floors = floors

    def get(self, *, room: str, peer: str, theirs: bytes, ours: bytes) -> KeyState:
        key = (room, peer, theirs, ours)
        state = self._states.get(key)
        if state is None:
            floor, sent = self._floors.pop(key, (0, 0))
            state = KeyState(window=ReplayWindow(floor=floor), send_seq=sent)
            self._states[key] = state
            self._evict(room, peer)
        self._states.move_to_end(key)
        return state

    def _evict(self, room: str, peer: str) -> None:
        mine = [k for k in self._states if k[:2] == (room, peer)]
        for old in mine[:-self.per_peer]:
            state = self._states.pop(old)
            if state.window.highest or state.send_seq:
                self._floors[old] = (state.window.highest, state.send_seq)
                while len(self._floors) > self._max_floors:
                    self._floors.popitem(last=False)


# ---------------------------------------------------------------------------- verdicts

@dataclass(frozen=True)
class Accepted:
    """Authentic (v1: and new, in order, on the agreed curve). `receipt_ids` for a receipt."""

    text: str
    kind: str = ""
    seq: int = 0                 # 0 for a legacy message
    associated_data: str = ""
    legacy: bool = False
    receipt_ids: tuple[str, ...] = ()
    # why an accepted message is shown with a warning: it arrived after a newer one (inside
    # the replay window it is still accepted, but a relay delivers one sender's messages in
    # order, so only a relay holding it back explains it)
    note: str = ""
    # measurements for display, not part of the verdict
    plaintext_bytes: int = field(default=0, compare=False)   # what the AEAD gave back
    open_ms: float = field(default=0.0, compare=False)       # the decryption alone


@dataclass(frozen=True)
class Rejected:
    """Refused; `reason` starts with one of the words in `records` (tampered, ...)."""

    reason: str
    kind: str = ""
    associated_data: str = ""


@dataclass(frozen=True)
class Duplicate:
    """The same message (same id, same number) again: a re-send after a reconnect."""

    seq: int
    kind: str = ""


@dataclass(frozen=True)
class Sealed:
    """A message ready for the wire (without `targetSocketId`: the socket id changes)."""

    payload: dict
    associated_data: str = ""
    seq: int = 0
    seal_ms: float = field(default=0.0, compare=False)       # the encryption alone


def wire_sizes(payload: dict) -> dict:
    """The byte counts of a message's ciphertext, nonce and tag: its base64 fields
    decoded, so what is counted is what the relay carried (malformed fields count 0)."""
    sizes = {}
    for name, field_name in (("ciphertext_bytes", "encryptedMessage"), ("nonce_bytes", "iv"),
                             ("tag_bytes", "tag")):
        try:
            sizes[name] = len(crypto.b64decode(payload.get(field_name, "")))
        except ValueError:
            sizes[name] = 0
    return sizes


Verdict = Accepted | Rejected | Duplicate


# ---------------------------------------------------------------------------- the channel

class Channel:
    """Us (`me`) and one peer in one room: the message key and the per-pair counters.

    The key is (re)set by key agreement (`set_key`) together with the counters of that
    key pair (`KeyState`: our sequence number, the window for theirs, the IVs seen and
    sent). The caller keeps those per key pair for the session's life (`KeyStates`), so a
    key that comes back brings its history with it and nothing is new twice.
    """

    def __init__(self, *, room: str, me: str, peer: str):
        self.room, self.me, self.peer = room, me, peer
        self.key = b""
        self.curve = ""              # the agreed curve (the peer's key's curve)
        self.legacy = False          # we speak the seed's protocol with this peer
        self.problem = ""            # why there is no key (curve mismatch, ...)
        self.state = KeyState()
        self.receipts: list[str] = []  # ids received, to confirm to the sender

    @property
    def window(self) -> ReplayWindow:
        return self.state.window

    @property
    def send_seq(self) -> int:
        return self.state.send_seq

    def set_key(self, key: bytes, *, curve: str, state: KeyState | None = None) -> None:
        """Use `key` with the counters `state` of its key pair (fresh ones if not given)."""
        self.key, self.curve, self.problem = key, curve, ""
        self.state = state if state is not None else KeyState()

    def drop_key(self, problem: str) -> None:
        self.key, self.problem = b"", problem

    # -- sending -----------------------------------------------------------------------------

    def seal(self, data: bytes, *, message_id: str, kind: str = "",
             nonce: bytes | None = None) -> Sealed:
        """Encrypt `data` for the peer (v1, or the seed's format for a legacy peer)."""
        if not self.key:
            raise ValueError(self.problem or f"no key for {self.peer} yet")
        if self.legacy:
            if kind:
                raise ValueError(f"a legacy peer takes no {kind}")
            began = time.perf_counter()
            sealed = crypto.encrypt(self.key, data, nonce=nonce)
            took = time.perf_counter() - began
            ad, payload = b"", {}
        else:
            self.state.send_seq += 1
            ad = associated_data(room=self.room, sender=self.me, receiver=self.peer,
                                 curve=self.curve, seq=self.send_seq, kind=kind)
            began = time.perf_counter()
            sealed = crypto.encrypt(self.key, data, associated_data=ad, nonce=nonce)
            took = time.perf_counter() - began
            payload = {"v": protocol.PROTOCOL_VERSION, "id": message_id,
                       "seq": self.send_seq, "curve": self.curve}
            if kind:
                payload["kind"] = kind
        payload.update(encryptedMessage=crypto.b64encode(sealed.ciphertext),
                       iv=crypto.b64encode(sealed.nonce), tag=crypto.b64encode(sealed.tag))
        # One raw key serves both directions in the seed's format: remembering our IVs is
        # how a message of ours sent back to us "from the peer" is recognised.
        self.state.sent_ivs.add(payload["iv"])
        return Sealed(payload, ad.decode(), 0 if self.legacy else self.send_seq,
                      seal_ms=took * 1000)

    def queue_receipt(self, message_id: str) -> bool:
        """Remember to confirm `message_id`; True when it starts a new batch."""
        self.receipts.append(message_id)
        return len(self.receipts) == 1

    def seal_receipts(self, new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                      nonce: Callable[[], bytes | None] = lambda: None) -> list[Sealed]:
        """The queued confirmations as receipts, at most MAX_RECEIPT_IDS ids each."""
        if self.legacy or not self.key:
            return []  # legacy peers get none; the rest wait for the key
        out = []
        while self.receipts:
            ids, self.receipts = self.receipts[:MAX_RECEIPT_IDS], self.receipts[MAX_RECEIPT_IDS:]
            out.append(self.seal(json.dumps(ids).encode(), message_id=new_id(),
                                 kind=RECEIPT, nonce=nonce()))
        return out

    # -- receiving ---------------------------------------------------------------------------

    def open(self, p: dict) -> Verdict:
        """Judge one received message (a payload `protocol.validate` passed)."""
        versioned = "v" in p
        kind = kind_of(p)
        if kind not in ("", RECEIPT):
            return Rejected(f"{MALFORMED}: unknown message kind {kind!r:.40}")
        try:
            ciphertext = crypto.b64decode(p["encryptedMessage"])
            nonce, tag = crypto.b64decode(p["iv"]), crypto.b64decode(p["tag"])
        except ValueError as exc:
            return Rejected(f"{MALFORMED}: {exc}", kind)
        if not self.key:
            return Rejected(f"{NO_KEY}: {self.problem or 'no key exchanged with ' + self.peer}",
                            kind)
        if not versioned:
            return self._open_legacy(p, ciphertext, nonce, tag)
        seq, curve, message_id = p.get("seq"), p.get("curve"), p.get("id")
        if p.get("v") != protocol.PROTOCOL_VERSION:
            return Rejected(f"{MALFORMED}: unsupported protocol version {p.get('v')!r}", kind)
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or \
                not isinstance(message_id, str):
            return Rejected(f"{MALFORMED}: a v1 message needs an id and a sequence number "
                            ">= 1", kind)
        if curve != self.curve:
            return Rejected(f"{WRONG_CURVE}: the message says {curve!r} but the keys with "
                            f"{self.peer} are on {self.curve}", kind)
        ad = associated_data(room=self.room, sender=self.peer, receiver=self.me,
                             curve=self.curve, seq=seq, kind=kind)
        try:
            began = time.perf_counter()
            data = crypto.decrypt(self.key, ciphertext, nonce, tag, associated_data=ad)
            took = time.perf_counter() - began
        except crypto.DecryptionError:
            return Rejected(f"{TAMPERED}: authentication failed (the ciphertext, nonce, tag "
                            "or associated data was changed, or it was not sealed for us)",
                            kind, ad.decode())
        verdict = self.window.check(seq, message_id)
        if verdict == "duplicate":
            return Duplicate(seq, kind)
        if verdict is not None:
            return Rejected(verdict, kind, ad.decode())
        newest = self.window.highest
        self.window.accept(seq, message_id)
        note = (f"{REORDERED}: #{seq} arrived after #{newest} (accepted: inside the replay "
                "window)") if seq < newest else ""
        if kind == RECEIPT:
            try:
                ids = json.loads(data)
                if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                    raise ValueError("not a list of message ids")
            except ValueError as exc:
                return Rejected(str(exc), kind, ad.decode())
            return Accepted("", kind, seq, ad.decode(), receipt_ids=tuple(ids))
        return Accepted(_text(data), kind, seq, ad.decode(), note=note,
                        plaintext_bytes=len(data), open_ms=took * 1000)

    def _open_legacy(self, p: dict, ciphertext: bytes, nonce: bytes, tag: bytes) -> Verdict:
        if not self.legacy:
            return Rejected(f"{DOWNGRADE}: {self.peer} speaks protocol v1 but this message "
                            "has no version (no associated data, no sequence number)")
        try:
            began = time.perf_counter()
            data = crypto.decrypt(self.key, ciphertext, nonce, tag)
            took = time.perf_counter() - began
        except crypto.DecryptionError:
            return Rejected(f"{TAMPERED}: authentication failed (wrong key, or the "
                            "ciphertext, IV or tag was changed)")
        if p["iv"] in self.state.sent_ivs:
            return Rejected(f"{REFLECTED}: this is a message we sent, sent back to us as "
                            f"{self.peer}'s")
        if p["iv"] in self.state.seen_ivs:
            return Rejected(f"{REPLAYED}: this IV was already used by an earlier message")
        self.state.seen_ivs.add(p["iv"])
        return Accepted(_text(data), legacy=True, plaintext_bytes=len(data),
                        open_ms=took * 1000)


def _text(data: bytes) -> str:
    """The text of a decrypted message: bytes that are not UTF-8 (a lone surrogate's
    encoding among them) become U+FFFD, and at most MAX_PLAINTEXT characters are kept."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = data.decode(errors="replace")
    return text if len(text) <= MAX_PLAINTEXT else text[:MAX_PLAINTEXT - 1] + "\u2026"

