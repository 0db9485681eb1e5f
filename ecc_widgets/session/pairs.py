"""What we know about each peer: its key, key agreement with it, and the `Peer` we publish.

Peers are keyed by user name, which the relay keeps unique in a room: socket ids change at
every reconnect, names do not, so a conversation survives a relay restart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ecc_widgets import crypto, envelope, sas
from ecc_widgets.session.channel import Channel, KeyStates
from ecc_widgets.session.records import (
    CURVE_MISMATCH,
    JOINED,
    KEY_CHANGED,
    KEY_RECEIVED,
    KEYS_GENERATED,
    LEGACY,
    LEGACY_OFFERED,
    REJOINED,
    SECURE,
    Peer,
)


class KnownKey(NamedTuple):
    """What we knew of a (room, name)'s key, kept across leaves and re-joins."""

    public_raw: bytes
    verified: bool
    v1: bool            # it came with a protocol version: without one it is a downgrade
    rank: int = 0       # the highest version rank it came with: a lower one is a downgrade


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
    offers_legacy: bool = False       # their key came without a version: the seed's protocol
    offered: Any = None               # the envelope version their key share offered
    legacy_allowed: bool = False      # the user allowed the seed's protocol with them
    rejected: int = 0                 # their messages refused so far
    rejected_step_at: float = float("-inf")  # when we last told the room about a refusal
    answered_at: float = float("-inf")       # when we last answered their key share
    # the short code's exchange for the key pair in use (`ecc_widgets.sas`): the code to
    # compare aloud, once both nonces are in; None without a v1 key
    exchange: sas.Exchange | None = None
    sas_answered_at: float = float("-inf")   # when we last answered a step again
    # (their key, ours) when the user found the codes different: a new key on either side
    # is a new comparison, so the mark holds only while both keys stay the same
    mismatch_keys: tuple[bytes, bytes] | None = None
    exchange_ms: float = 0.0          # the last ECDH + key derivation with them
    rejoining: bool = False           # they left: what they bring back is a new visit
    inflow: Any = None                # the token bucket of their messages (the session's)
    muted: int = 0                    # their authentic messages muted: faster than typing
    muted_at: float = float("-inf")   # when we last said so
    muted_later: bool = False         # the newest count is due to be said

    @property
    def key(self) -> bytes:
        return self.channel.key

    @property
    def legacy(self) -> bool:
        """We speak the seed's protocol with them (offered, and allowed by the user)."""
        return self.channel.legacy


def spoken(offer: envelope.Version, offered: Any) -> envelope.Version:
    """The version two of our clients speak: the lower of what each offers (a version we
    do not know is taken as ours)."""
    if not isinstance(offered, envelope.Version) or offered.rank >= offer.rank:
        return offer
    return offered


def agree(pair: Pair, *, private: Any, public_raw: bytes, curve: str,
          states: KeyStates, exchanges: sas.Exchanges | None = None,
          offer: envelope.Version = envelope.CURRENT) -> bool:
    """(Re)compute the pair's message key from our key and theirs, or say why not.

    The version spoken is the lower of ours (`offer`) and theirs (`Pair.offered`), or the
    seed's if they offer only that and the user allowed it. The key comes with the
    counters of this key pair from `states` (and a stateful version's state, started
    here). True when a new key was derived (the caller tells the room).
    """
    before = pair.key
    pair.exchange = None
    pair.channel.version = (envelope.LEGACY if pair.offers_legacy and pair.legacy_allowed
                            else spoken(offer, pair.offered))
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
    if pair.offers_legacy and not pair.legacy_allowed:
        pair.channel.drop_key(f"{pair.name} offers only the seed's legacy protocol (no "
                              "protection against a relay replaying, reordering or "
                              "reflecting messages): allow legacy on their card to chat")
        return False
    began = time.perf_counter()
    try:
        shared = crypto.ecdh(private, pair.public_key)
    except crypto.InvalidKeyError as exc:
        pair.channel.drop_key(f"key agreement with {pair.name} failed: {exc}")
        return False
    version = pair.channel.version
    key = version.derive_key(shared, curve=theirs, ours=public_raw, theirs=pair.public_raw)
    pair.exchange_ms = (time.perf_counter() - began) * 1000   # ECDH + derivation alone
    if version.short_code and exchanges is not None:   # the seed's page takes part in none
        # the two offers as we received them go into the code: a relay that rewrote
        # either (the ratchet stripped to static) makes the two screens differ
        offered = pair.offered.number if isinstance(pair.offered, envelope.Version) and \
            pair.offered.number is not None else offer.number
        pair.exchange = exchanges.get(room=pair.channel.room, me=pair.channel.me,
                                      peer=pair.name, theirs=pair.public_raw, ours=public_raw,
                                      shared_secret=shared, curve=theirs,
                                      offers=(offer.number, offered))
    state = states.get(room=pair.channel.room, peer=pair.name, theirs=pair.public_raw,
                       ours=public_raw)
    try:
        version.start(key, state, private=private, ours=public_raw, theirs=pair.public_raw,
                      peer_public=pair.public_key, curve=theirs)
    except (ValueError, crypto.InvalidKeyError) as exc:
        pair.exchange = None
        pair.channel.drop_key(f"{version.name} with {pair.name}: {exc}")
        return False
    pair.channel.set_key(key, curve=theirs, state=state)
    return key != before


def forget_key(pair: Pair) -> None:
    """They left the room (or came back on another socket, a reload): their key and
    everything derived from it go with them, so nothing shows "secure" or "verified" for a
    key that may no longer exist. The session still remembers the last key it knew and
    whether the user verified it (`KnownKey`): a returning peer's key is compared with it.
    """
    pair.public_key, pair.public_raw, pair.public_jwk = None, b"", {}
    pair.announced_curve, pair.keys_generated = "", False
    pair.key_changed = pair.verified = pair.wants_reply = False
    pair.offers_legacy = pair.legacy_allowed = False
    pair.offered = None
    pair.shared_ours, pair.answered_at = b"", float("-inf")
    pair.exchange, pair.exchange_ms = None, 0.0
    pair.sas_answered_at = float("-inf")
    pair.rejoining = True
    pair.channel.drop_key(f"{pair.name} left the room: waiting for {pair.name}'s key")


def peer_record(pair: Pair, *, curve: str, public_raw: bytes) -> Peer:
    """The `Peer` a view shows for `pair`, given our curve and public key."""
    statuses = {JOINED}
    if pair.rejoining and pair.public_key is None:
        statuses.add(REJOINED)
    if pair.keys_generated:
        statuses.add(KEYS_GENERATED)
    if pair.public_key is not None:
        statuses.add(KEY_RECEIVED)
        if crypto.curve_of(pair.public_key) != curve:
            statuses.add(CURVE_MISMATCH)
    elif pair.announced_curve and pair.announced_curve != curve:
        statuses.add(CURVE_MISMATCH)
    if pair.key and pair.shared_ours == public_raw:
        statuses.add(LEGACY if pair.legacy else SECURE)   # a legacy pair is never "secure"
    elif pair.offers_legacy and not pair.legacy_allowed and pair.public_key is not None:
        statuses.add(LEGACY_OFFERED)
    if pair.key_changed:
        statuses.add(KEY_CHANGED)
    # the latest word: an announcement after the key means a new key is coming
    their_curve = pair.announced_curve or (crypto.curve_of(pair.public_key)
                                           if pair.public_key is not None else "")
    exchange = pair.exchange if pair.key else None
    return Peer(
        id=pair.name, name=pair.name, curve=their_curve, public_jwk=dict(pair.public_jwk),
        fingerprint=crypto.fingerprint(pair.public_raw) if pair.public_raw else "",
        safety_number=(crypto.safety_number(public_raw, pair.public_raw) if pair.key else ""),
        statuses=frozenset(statuses), verified=pair.verified, legacy=pair.offers_legacy,
        legacy_allowed=pair.legacy_allowed, rejected=pair.rejected,
        sas=exchange.code if exchange else None,
        sas_status=exchange.state if exchange else (sas.NONE if pair.key else ""),
        sas_problem=exchange.problem if exchange else "",
        exchange_ms=pair.exchange_ms if pair.key else 0.0,
        mismatch=bool(pair.key) and pair.mismatch_keys == (pair.public_raw, public_raw),
        muted=pair.muted)
