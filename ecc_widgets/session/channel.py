"""Message protection with one peer, sans-IO: seal what we send, judge what arrives.

The format itself (versions, headers, associated data, seal and open) lives in
`ecc_widgets.envelope`; a `Channel` holds what one pair needs to use it: the message key,
the version spoken with the peer (v1, or the seed's for a legacy peer), and the counters
of the key pair in use (`KeyState`, kept per key pair by `KeyStates`).

A `Channel` does no I/O and reads no clock (the envelope times its AEAD calls, for
display): it takes wire payloads (or envelopes already parsed) and gives back wire
payloads and verdicts (`Accepted`, `Rejected` with a reason, `Duplicate`). Chat messages
and receipts go through the same `seal` and `open`.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from ecc_widgets import crypto
from ecc_widgets.envelope import (  # noqa: F401 - re-exported
    CHAT_KINDS,
    CURRENT,
    LEGACY,
    RECEIPT,
    REPLAY_WINDOW,
    STALE,
    TAMPERED,
    V1,
    Context,
    Duplicate,
    Envelope,
    EnvelopeError,
    KeyState,
    Opened,
    RecentSet,
    Rejected,
    ReplayWindow,
    Sealed,
    Version,
    associated_data,
    kind_of,
    parse,
)
from ecc_widgets.session.records import DOWNGRADE, MALFORMED, MAX_PLAINTEXT, NO_KEY

MAX_RECEIPT_IDS = 256       # ids per receipt
KEYS_PER_PEER = 16          # key pairs per peer whose replay state is kept whole


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


Verdict = Accepted | Rejected | Duplicate


# ---------------------------------------------------------------------------- the channel

class Channel:
    """Us (`me`) and one peer in one room: the message key, the version spoken and the
    per-pair counters.

    The key is (re)set by key agreement (`set_key`) together with the counters of that
    key pair (`KeyState`: our sequence number, the window for theirs, the IVs seen and
    sent). The caller keeps those per key pair for the session's life (`KeyStates`), so a
    key that comes back brings its history with it and nothing is new twice.
    """

    def __init__(self, *, room: str, me: str, peer: str):
        self.room, self.me, self.peer = room, me, peer
        self.key = b""
        self.curve = ""              # the agreed curve (the peer's key's curve)
        # what key agreement chose (`pairs.agree`): the ratchet, v1, or LEGACY (the seed's)
        self.version: Version = V1
        self.problem = ""            # why there is no key (curve mismatch, ...)
        self.state = KeyState()
        self.receipts: list[str] = []  # ids received, to confirm to the sender
        # the key replaced last, and its curve: what the peer sealed before it saw our new
        # key (or we theirs) is then told apart from a forgery, never accepted
        self.previous: tuple[bytes, str] = (b"", "")

    @property
    def legacy(self) -> bool:
        return self.version is LEGACY

    @legacy.setter
    def legacy(self, value: bool) -> None:
        self.version = LEGACY if value else V1

    @property
    def window(self) -> ReplayWindow:
        return self.state.window

    @property
    def send_seq(self) -> int:
        return self.state.send_seq

    @property
    def epoch(self) -> bytes:
        """What identifies the keys in use (b"" without a key): the outbox sends a message
        sealed in another epoch again, sealed anew, or drops it."""
        return self.version.epoch(self.key, self.state) if self.key else b""

    def set_key(self, key: bytes, *, curve: str, state: KeyState | None = None) -> None:
        """Use `key` with the counters `state` of its key pair (fresh ones if not given)."""
        if self.key and self.key != key:
            self.previous = (self.key, self.curve)
        self.key, self.curve, self.problem = key, curve, ""
        self.state = state if state is not None else KeyState()

    def drop_key(self, problem: str) -> None:
        if self.key:
            self.previous = (self.key, self.curve)
        self.key, self.problem = b"", problem

    def sealed_under_previous(self, env: Envelope) -> bool:
        """`env` is authentic under the previous key (one decryption more, and only for a
        message the current key refused)."""
        key, curve = self.previous
        if not key or env.version.stateful:   # a ratchet's keys are per message, not per pair
            return False
        try:
            env.version.decrypt(key, env, Context(self.room, self.peer, self.me, curve))
        except crypto.DecryptionError:
            return False
        return True

    def outgoing(self) -> Context:
        return Context(self.room, self.me, self.peer, self.curve)

    def incoming(self) -> Context:
        return Context(self.room, self.peer, self.me, self.curve)

    # -- sending -----------------------------------------------------------------------------

    def seal(self, data: bytes, *, message_id: str, kind: str = "",
             nonce: bytes | None = None) -> Sealed:
        """Encrypt `data` for the peer in the pair's version."""
        if not self.key:
            raise ValueError(self.problem or f"no key for {self.peer} yet")
        return self.version.seal(self.key, self.state, data, self.outgoing(),
                                 message_id=message_id, kind=kind, nonce=nonce)

    def queue_receipt(self, message_id: str) -> bool:
        """Remember to confirm `message_id`; True when it starts a new batch."""
        self.receipts.append(message_id)
        return len(self.receipts) == 1

    def seal_receipts(self, new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                      nonce: Callable[[], bytes | None] = lambda: None) -> list[Sealed]:
        """The queued confirmations as receipts, at most MAX_RECEIPT_IDS ids each."""
        if not self.version.receipts or not self.key:
            return []  # legacy peers get none; the rest wait for the key
        out = []
        while self.receipts:
            ids, self.receipts = self.receipts[:MAX_RECEIPT_IDS], self.receipts[MAX_RECEIPT_IDS:]
            out.append(self.seal(json.dumps(ids).encode(), message_id=new_id(),
                                 kind=RECEIPT, nonce=nonce()))
        return out

    # -- receiving ---------------------------------------------------------------------------

    def open(self, message: dict | Envelope) -> Verdict:
        """Judge one received message: a payload `protocol.validate` passed, or its
        envelope (`envelope.parse`)."""
        if isinstance(message, Envelope):
            env = message
        else:
            try:
                env = parse(message)
            except EnvelopeError as exc:
                kind = kind_of(message)
                return Rejected(str(exc), kind if kind in CHAT_KINDS else "")
        kind = env.kind
        if kind not in CHAT_KINDS:
            return Rejected(f"{MALFORMED}: unknown message kind {kind!r:.40}")
        if not self.key:
            return Rejected(f"{NO_KEY}: {self.problem or 'no key exchanged with ' + self.peer}",
                            kind)
        if env.version.rank < self.version.rank:
            return Rejected(f"{DOWNGRADE}: {self.peer} speaks protocol {self.version.name} "
                            f"but this message is in {env.version.name} (no associated data, "
                            "no sequence number)", kind)
        opened = env.version.open(self.key, self.state, env, self.incoming())
        if isinstance(opened, Rejected) and opened.reason.startswith(TAMPERED) \
                and self.sealed_under_previous(env):
            return Rejected(f"{STALE}: sealed under the key {self.peer} and you had before "
                            "the last key change (sent before the new key arrived); not "
                            "accepted: ask for it again", kind, opened.associated_data)
        if not isinstance(opened, Opened):
            return opened
        if kind == RECEIPT:
            try:
                ids = json.loads(opened.data)
                if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                    raise ValueError("not a list of message ids")
            except ValueError as exc:
                return Rejected(str(exc), kind, opened.associated_data)
            return Accepted("", kind, opened.seq, opened.associated_data,
                            receipt_ids=tuple(ids))
        return Accepted(_text(opened.data), kind, opened.seq, opened.associated_data,
                        legacy=env.version is LEGACY, note=opened.note,
                        plaintext_bytes=len(opened.data), open_ms=opened.open_ms)


def _text(data: bytes) -> str:
    """The text of a decrypted message: bytes that are not UTF-8 (a lone surrogate's
    encoding among them) become U+FFFD, and at most MAX_PLAINTEXT characters are kept."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = data.decode(errors="replace")
    return text if len(text) <= MAX_PLAINTEXT else text[:MAX_PLAINTEXT - 1] + "\u2026"
