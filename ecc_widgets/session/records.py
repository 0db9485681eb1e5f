"""The model's vocabulary: the records it publishes, the words it uses, its one error type.

Records are frozen: the model replaces them (and the tuples and dicts holding them) so that
every change fires its trait's observers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A peer's statuses, in the order a reader meets them.
JOINED = "joined"
KEYS_GENERATED = "keys generated"
KEY_RECEIVED = "key received"
SECURE = "secure"
KEY_CHANGED = "key changed"
CURVE_MISMATCH = "curve mismatch"
STATUSES = (JOINED, KEYS_GENERATED, KEY_RECEIVED, SECURE, KEY_CHANGED, CURVE_MISMATCH)

# What `errors` is keyed by: the topic of the action (or relay event) that went wrong.
TOPICS = ("join", "curve", "keys", "peers", "chat")
PANELS = TOPICS  # the former name

# Rejection reasons start with these words, so a reader (and a test) can tell them apart.
TAMPERED = "tampered"
REPLAYED = "replayed"
REORDERED = "reordered"
WRONG_CURVE = "wrong curve"
DOWNGRADE = "downgrade"
NO_KEY = "no key"
MALFORMED = "malformed"

LEGACY_NOTE = ("legacy peer (seed protocol): the key is raw ECDH output with no key "
               "derivation, and nothing binds a message to its sender, receiver, room or "
               "order, so a relay could replay or reorder it unnoticed (only a repeated IV is "
               "caught)")


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
    legacy: bool = False


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation; wire fields are the base64 strings the relay carried.

    `verified` is true for a received message that passed every check (authentic, in
    order, on the agreed curve), and for a sent one once the peer's authenticated receipt
    says it arrived; `reason` says why one was rejected, or for a legacy message what
    protection it lacks.
    """

    id: str
    peer_id: str
    direction: str               # "out" | "in"
    plaintext: str
    ciphertext: str = ""
    nonce: str = ""
    tag: str = ""
    associated_data: str = ""
    time: float = 0.0
    status: str = "sending"      # "sending" | "sent" | "received" | "rejected"
    reason: str = ""
    legacy: bool = False
    verified: bool = False


@dataclass(frozen=True)
class LogEntry:
    time: float
    level: str                   # "info" | "success" | "warning" | "error"
    source: str
    text: str
