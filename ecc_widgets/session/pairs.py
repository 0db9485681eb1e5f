"""What we know about each peer: its key, key agreement with it, and the `Peer` we publish.

Peers are keyed by user name, which the relay keeps unique in a room: socket ids change at
every reconnect, names do not, so a conversation survives a relay restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecc_widgets import crypto
from ecc_widgets.session.channel import Channel
from ecc_widgets.session.records import (
    CURVE_MISMATCH,
    JOINED,
    KEY_CHANGED,
    KEY_RECEIVED,
    KEYS_GENERATED,
    SECURE,
    Peer,
)


@dataclass
class Pair:
    """One peer, kept across leaves and reconnects (for as long as we stay in the room)."""

    name: str
    channel: Channel
    sid: str = ""
    present: bool = False
    announced_curve: str = ""
    keys_generated: bool = False
    public_key: Any = None
    public_raw: bytes = b""
    public_jwk: dict = field(default_factory=dict)
    key_changed: bool = False
    verified: bool = False
    wants_reply: bool = False         # sent us a key (not a reply) before we had keys
    shared_ours: bytes = b""          # which of our public keys we last sent them

    @property
    def key(self) -> bytes:
        return self.channel.key

    @property
    def legacy(self) -> bool:
        return self.channel.legacy


def agree(pair: Pair, *, private: Any, public_raw: bytes, curve: str) -> bool:
    """(Re)compute the pair's message key from our key and theirs, or say why not.

    True when a new key was derived (the caller tells the room).
    """
    before = pair.key
    if pair.public_key is None:
        pair.channel.drop_key(f"no key from {pair.name} yet: share keys first")
        return False
    theirs = crypto.curve_of(pair.public_key)
    if theirs != curve:
        pair.channel.drop_key(f"curve mismatch: {pair.name}'s key is on {theirs}, yours "
                              f"on {curve}; choose the same curve")
        return False
    if private is None:
        pair.channel.drop_key("generate your keys first")
        return False
    try:
        shared = crypto.ecdh(private, pair.public_key)
    except crypto.InvalidKeyError as exc:
        pair.channel.drop_key(f"key agreement with {pair.name} failed: {exc}")
        return False
    if pair.legacy:
        key = crypto.seed_message_key(shared)
    else:
        key = crypto.derive_session_key(shared, curve=theirs, public_a=public_raw,
                                        public_b=pair.public_raw)
    pair.channel.set_key(key, curve=theirs)
    return key != before


def peer_record(pair: Pair, *, curve: str, public_raw: bytes) -> Peer:
    """The `Peer` a view shows for `pair`, given our curve and public key."""
    statuses = {JOINED}
    if pair.keys_generated:
        statuses.add(KEYS_GENERATED)
    if pair.public_key is not None:
        statuses.add(KEY_RECEIVED)
        if crypto.curve_of(pair.public_key) != curve:
            statuses.add(CURVE_MISMATCH)
    elif pair.announced_curve and pair.announced_curve != curve:
        statuses.add(CURVE_MISMATCH)
    if pair.key and pair.shared_ours == public_raw:
        statuses.add(SECURE)
    if pair.key_changed:
        statuses.add(KEY_CHANGED)
    # the latest word: an announcement after the key means a new key is coming
    their_curve = pair.announced_curve or (crypto.curve_of(pair.public_key)
                                           if pair.public_key is not None else "")
    return Peer(
        id=pair.name, name=pair.name, curve=their_curve, public_jwk=dict(pair.public_jwk),
        fingerprint=crypto.fingerprint(pair.public_raw) if pair.public_raw else "",
        safety_number=(crypto.safety_number(public_raw, pair.public_raw) if pair.key else ""),
        statuses=frozenset(statuses), verified=pair.verified, legacy=pair.legacy)
