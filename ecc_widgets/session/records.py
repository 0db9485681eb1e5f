"""The model's vocabulary: the records it publishes, the words it uses, its one error type.

Records are frozen: the model replaces them (and the tuples and dicts holding them) so that
every change fires its trait's observers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecc_widgets.envelope import (  # noqa: F401 - the rejection words, re-exported
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
from ecc_widgets.sas import ShortAuthString

# A peer's statuses, in the order a reader meets them.
JOINED = "joined"
KEYS_GENERATED = "keys generated"
KEY_RECEIVED = "key received"
SECURE = "secure"
KEY_CHANGED = "key changed"
CURVE_MISMATCH = "curve mismatch"
# The peer offers only the seed's protocol; no key is used with it until the user allows
# it, and then the pair is "legacy", never "secure".
LEGACY_OFFERED = "legacy offered"
LEGACY = "legacy"
# The peer left and came back (a reload, a new tab): its old key is gone with it, and the
# one it brings is compared with the last we knew (a different one is "key changed").
REJOINED = "rejoined: waiting for a new key"
STATUSES = (JOINED, REJOINED, KEYS_GENERATED, KEY_RECEIVED, SECURE, KEY_CHANGED,
            CURVE_MISMATCH, LEGACY_OFFERED, LEGACY)

# What `errors` is keyed by: the topic of the action (or relay event) that went wrong.
TOPICS = ("join", "curve", "keys", "peers", "chat")

MAX_PLAINTEXT = 30 * 1024   # bytes we send; characters we keep of a received message
MAX_HISTORY = 500           # messages kept per conversation (the newest)
MAX_REJECTED_KEPT = 5       # rejected messages kept in a conversation; the rest are counted
MAX_WAITING = 100           # our messages waiting for a peer's key, in all
# What a session keeps of all its conversations together (texts and what the wire carried,
# as Python holds them): beyond it the oldest messages of any conversation go, counted in
# `Session.trimmed` (a classmate's flood cannot fill the kernel).
MAX_KEPT_BYTES = 8 * 1024 * 1024
# Authentic messages a peer may send us, sustained and at once: faster than anyone types,
# the rest is muted (opened and counted, not kept nor shown), with a notice.
MESSAGES_PER_SECOND = 5.0
MESSAGE_BURST = 40

LEGACY_NOTE = ("legacy peer (seed protocol): the key is raw ECDH output with no key "
               "derivation, and nothing binds a message to its sender, receiver, room or "
               "order, so a relay could replay or reorder it unnoticed (only a repeated IV, or "
               "our own message sent back to us, is caught)")
MISMATCH_NOTE = ("the codes differ: someone is in the middle (a relay swapping keys); do not "
                 "trust this conversation")


class SessionError(ValueError):
    """An action that cannot be done now, said in words (also in `errors` and the log)."""


@dataclass(frozen=True)
class Peer:
    """Someone in the room. `id` is stable for the room (the user name, unique there)."""

    id: str
    name: str
    curve: str = ""
    public_jwk: dict = field(default_factory=dict)
    fingerprint: str = ""
    safety_number: str = ""
    statuses: frozenset = frozenset()
    verified: bool = False
    legacy: bool = False             # the peer offers only the seed's protocol
    legacy_allowed: bool = False     # ...and the user allowed it (`Session.allow_legacy`)
    rejected: int = 0                # messages from this peer refused so far
    # seven emoji and three numbers from our ECDH secret with this peer and both sides'
    # nonces (`ecc_widgets.sas`): the same on both screens unless someone in the middle
    # swapped keys; None until the exchange is done (`sas_status`)
    sas: ShortAuthString | None = None
    sas_status: str = ""             # "" (no key), "comparing", "done", "failed" or "none"
                                     # (a legacy key: the seed's protocol has no exchange)
    sas_problem: str = ""            # what the exchange refused or why it failed
    # the user compared the codes with this peer and found them different (for the keys in
    # use now; a new key on either side clears it): someone in the middle swapped keys
    mismatch: bool = False
    exchange_ms: float = 0.0         # our last ECDH + key derivation with them, measured
    muted: int = 0                   # their authentic messages muted: sent too fast


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation; wire fields are the base64 strings the relay carried,
    and (`*_raw`, `*_bytes`) their bytes and byte counts.

    `authenticated` is what the cryptography proved: a received message passed every check
    (authentic, in order, on the agreed curve), or the peer's authenticated receipt says a
    sent one arrived. `verified` says more: authenticated, and the peer's key at that moment
    is the one the user verified (compared the safety number). `reason` says why one was
    rejected, or for a legacy message what protection it lacks.
    """

    id: str
    peer_id: str
    direction: str               # "out" | "in"
    plaintext: str
    ciphertext: str = ""
    nonce: str = ""
    tag: str = ""
    # the same three decoded (once, by the envelope): what a view shows in hex
    ciphertext_raw: bytes = field(default=b"", repr=False)
    nonce_raw: bytes = field(default=b"", repr=False)
    tag_raw: bytes = field(default=b"", repr=False)
    associated_data: str = ""
    time: float = 0.0
    # "waiting" (for the peer's key: sealed and sent when it comes) | "sending" | "sent" |
    # "received" | "rejected"
    status: str = "sending"
    reason: str = ""
    legacy: bool = False
    verified: bool = False
    authenticated: bool = False
    # Measured, not estimated: the bytes the AEAD took and gave (the wire carries them in
    # base64), and the time of the AEAD call alone (ours sealed, theirs opened).
    plaintext_bytes: int = 0
    ciphertext_bytes: int = 0
    nonce_bytes: int = 0
    tag_bytes: int = 0
    ad_bytes: int = 0
    seal_ms: float = 0.0
    open_ms: float = 0.0

    @property
    def overhead_bytes(self) -> int:
        """What encryption adds to the text on the wire: nonce and tag (GCM adds no padding)."""
        return self.ciphertext_bytes + self.nonce_bytes + self.tag_bytes - self.plaintext_bytes


@dataclass(frozen=True)
class LogEntry:
    time: float
    level: str                   # "info" | "success" | "warning" | "error"
    source: str
    text: str


def wire_fields(payload: dict, box: Any = None) -> dict:
    """A `ChatMessage`'s wire fields: the base64 strings as the relay carried them and,
    from `box` (a parsed `Envelope` or a `Sealed`: the base64 decoded once), their bytes
    and byte counts (none for a payload that did not parse)."""
    ciphertext, nonce, tag = (box.ciphertext, box.nonce, box.tag) if box is not None \
        else (b"", b"", b"")
    return {"ciphertext": payload.get("encryptedMessage", ""), "nonce": payload.get("iv", ""),
            "tag": payload.get("tag", ""), "ciphertext_raw": ciphertext, "nonce_raw": nonce,
            "tag_raw": tag, "ciphertext_bytes": len(ciphertext), "nonce_bytes": len(nonce),
            "tag_bytes": len(tag)}
