"""The session core's state and the ways it changes: what it publishes, peers, outbox,
emission.

The helpers the actions (`core`) and the relay's events (`events`) share. Every published
value is replaced, never mutated in place, so the adapter sees each change.
"""

from __future__ import annotations

import dataclasses
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ecc_widgets import envelope, protocol, sas
from ecc_widgets.client import DISCONNECTED
from ecc_widgets.limits import TokenBucket
from ecc_widgets.session.channel import Channel, KeyStates
from ecc_widgets.session.delivery import REFUSED, SENT, Outbox
from ecc_widgets.session.effects import Effect, Emit, Later
from ecc_widgets.session.link import Membership
from ecc_widgets.session.pairs import KnownKey, Pair, agree, peer_record
from ecc_widgets.session.records import (
    LEGACY_NOTE,
    MAX_HISTORY,
    MAX_KEPT_BYTES,
    MAX_REJECTED_KEPT,
    ChatMessage,
    LogEntry,
    SessionError,
    wire_fields,
)
from ecc_widgets.text import safe_text

MAX_VIEW = 1000             # entries kept in `log` and `relay_view` (the newest)
RECEIPT_DELAY = 0.02        # seconds to gather received ids into one receipt
DEFAULT_CURVE = "P-256"
MAX_KNOWN_KEYS = 4096       # (room, name) whose key we remember
MAX_VIEW_DEPTH = 8          # levels of a relay payload shown in `relay_view`
MAX_VIEW_STRING = 2048      # characters of one string kept in `relay_view` (the view cuts
                            # at 300; a 30 KiB ciphertext x 1000 entries would be 41 MB)
MESSAGE_OVERHEAD = 600      # bytes of a kept ChatMessage besides its strings
MAX_GONE_PAIRS = 256        # peers who left whose pair we keep (a churning room of fresh
                            # names must not grow the session; their keys stay known)
ROSTER_LINES_PER_SECOND = 2.0   # "joined" / "left" lines in the log, sustained...
ROSTER_LINES_BURST = 10         # ...and at once
STEPS_PER_SECOND = 10.0     # processing steps we tell the room, sustained...
STEP_BURST = 30             # ...and at once
SHARES_PER_SECOND = 5.0     # keys we give by ourselves to peers who announce theirs...
SHARE_BURST = 20            # ...and at once (a churning room is not a stream of our keys)
MAX_DEPARTED = 20           # names of peers who left, shown as left (the newest)

def displayable(value: Any, depth: int = 0, limit: int | None = None) -> Any:
    """A payload from the network with every string a widget can encode (lone surrogates
    and the like replaced by U+FFFD; cut at `limit` characters if given, an ellipsis
    marking the cut), nested at most MAX_VIEW_DEPTH deep."""
    if isinstance(value, str):
        if limit is not None and len(value) > limit:
            value = value[:limit - 1] + "\u2026"
        if value.isascii():
            return value
        return safe_text(value, len(value)) if _unencodable(value) else value
    if depth >= MAX_VIEW_DEPTH and isinstance(value, (dict, list, tuple)):
        return "\u2026"
    if isinstance(value, dict):
        return {displayable(k, depth + 1, limit): displayable(v, depth + 1, limit)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [displayable(v, depth + 1, limit) for v in value]
    return value


def footprint(message: ChatMessage) -> int:
    """About what one kept message costs in memory: its strings as Python holds them."""
    return (sys.getsizeof(message.plaintext) + sys.getsizeof(message.ciphertext)
            + sys.getsizeof(message.ciphertext_raw)
            + sys.getsizeof(message.associated_data) + sys.getsizeof(message.reason)
            + MESSAGE_OVERHEAD)


# The one token bucket, under the name the chat panel's coalescing imports.
Budget = TokenBucket


def peer_name(name: str) -> str:
    """A name as the relay gave it, shown and used as the peer's id: text, not too long."""
    return safe_text(name, protocol.MAX_USERNAME)


def _unencodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


# What a session publishes (the traitlets `Session`'s traits), as the core holds them.
PUBLISHED = ("username", "room", "my_id", "relay_url", "connection", "curve", "public_jwk",
             "fingerprint", "keygen", "joined", "hidden_in_room", "peers", "departed",
             "conversations", "trimmed", "errors", "log", "relay_view")


_PUBLISHED = frozenset(PUBLISHED)


class SessionState:
    """What a session knows: the published state (`PUBLISHED`, replaced, never mutated in
    place) and the private state, with the helpers that change them. No traitlets, no
    client, no clock of its own (`clock` is injected), no lock (the adapter holds one):
    what is to be sent or done later is collected as effects (`Emit`, `Later`)."""

    def __init__(self, *, clock: Callable[[], float], share_steps: bool = True):
        self.username = self.room = self.my_id = self.relay_url = ""
        self.connection = DISCONNECTED
        self.joined = False
        self.curve = DEFAULT_CURVE
        self.public_jwk: dict = {}
        self.fingerprint = ""
        self.keygen: Any = None
        self.peers: dict = {}
        self.conversations: dict = {}
        self.log: tuple = ()
        # every event as the relay carried it: {"time", "direction" ("out" to the relay,
        # "in" from it), "event", "payload"}; the newest MAX_VIEW
        self.relay_view: tuple = ()
        self.errors: dict = {}
        # names of peers who left the room while we were in it (the newest MAX_DEPARTED),
        # until they come back
        self.departed: tuple = ()
        # {peer: messages dropped from that conversation, oldest first, to keep the
        # session's memory bounded (per conversation MAX_HISTORY, all together
        # MAX_KEPT_BYTES)}
        self.trimmed: dict = {}
        # members of the room only their summoners see (classmates' demo peers), as the
        # relay counts them
        self.hidden_in_room = 0

        self._clock = clock
        self._share_steps = share_steps   # tell the room about our processing steps
        self._effects: list[Effect] = []  # what to send and do later, for the adapter
        self.attached = False             # the adapter has a client (emits go somewhere)
        self.closed = False
        self._member = Membership()
        self.invites: list[str] = []      # invite tokens of our demo peers (re-sent at joins)
        self._private: Any = None         # our private key object: never leaves the kernel
        # the envelope version our key shares offer (the ratchet; v1 "static" if asked)
        self.offer: envelope.Version = envelope.CURRENT
        self._keys_dropped = False        # keys were dropped for a new curve: re-share new ones
        self._public_raw = b""
        self._pairs: dict[str, Pair] = {}
        self._outbox = Outbox()
        self._positions: dict[str, str] = {}  # our message's id -> peer, while it is kept
        # Kept for the session's life, across leaves and re-joins: the counters of every
        # key pair (a bounced key finds its history), and each (room, name)'s last key.
        self._key_states = KeyStates()
        self._exchanges = sas.Exchanges()    # the short code's exchange of each key pair
        self._known_keys: OrderedDict[tuple[str, str], KnownKey] = OrderedDict()
        # Steps told to the room, many of them answers to what peers send: bounded, so a
        # flood of junk does not spend our rate at the relay (informational, dropped first).
        self._step_budget = TokenBucket(STEPS_PER_SECOND, STEP_BURST)
        self._share_budget = TokenBucket(SHARES_PER_SECOND, SHARE_BURST)
        self._announced_curve = ""
        self._kept_bytes = 0              # footprint of every kept message
        # Roster work a churning room causes, coalesced: what is due soon, by kind (when it
        # was asked for), the last time each kind ran, and the join/leave lines unsaid.
        self._due: dict[str, float] = {}
        self._ran: dict[str, float] = {}
        self._roster_log_budget = TokenBucket(ROSTER_LINES_PER_SECOND, ROSTER_LINES_BURST)
        self._roster_unlisted = 0
        self._changed: dict[str, None] = {}   # published names assigned, in that order

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PUBLISHED:   # remembered in the order of their latest change
            changed = self.__dict__.get("_changed")
            if changed is not None:
                changed.pop(name, None)
                changed[name] = None
        object.__setattr__(self, name, value)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run `fn` (a core input) after `delay` s, on the adapter's scheduler: dropped if
        the client goes meanwhile."""
        if self.attached:
            self._effects.append(Later(delay, fn))

    # ------------------------------------------------------------------ helpers

    def _new_pair(self, name: str, sid: str = "") -> Pair:
        channel = Channel(room=self.room, me=self.username, peer=name)
        return Pair(name, channel, sid=sid, present=bool(sid))

    def _pair_for(self, name: str, sid: str | None = None) -> Pair | None:
        name = peer_name(name)
        if name == self.username:
            return None
        pair = self._pairs.get(name)
        if pair is None:
            # An event from someone the roster has not shown us yet.
            pair = self._pairs[name] = self._new_pair(name, sid or "")
        elif sid and pair.sid != sid:
            pair.sid, pair.present = sid, True
        return pair

    def _derive(self, pair: Pair) -> None:
        if agree(pair, private=self._private, public_raw=self._public_raw, curve=self.curve,
                 states=self._key_states, exchanges=self._exchanges, offer=self.offer):
            self._clear_stale(("chat",), f"no key for {pair.name} yet")
            self._step("Derived shared secret",
                       f"ECDH on {pair.channel.curve} with {pair.name}, "
                       + pair.channel.version.key_derivation)
        self._sas_go(pair)

    def _rederive_all(self) -> None:
        for pair in self._pairs.values():
            self._derive(pair)
        self._publish_peers()

    def _share(self, pair: Pair, *, is_reply: bool) -> None:
        if self._private is None or not pair.sid:
            return
        payload = {"publicKey": dict(self.public_jwk), "targetSocketId": pair.sid,
                   "isReply": is_reply, "curve": self.curve,
                   envelope.VERSION_FIELD: self.offer.number}   # the version we speak
        self._emit(protocol.SHARE_PUBLIC_KEY, payload)
        pair.shared_ours = self._public_raw
        self._log("info", "me", f"{'answered' if is_reply else 'shared'} my key "
                                f"{'to' if is_reply else 'with'} {pair.name}")
        self._sas_go(pair, again=is_reply)

    def _sas_go(self, pair: Pair, *, again: bool = False) -> None:
        """The short code's exchange (session.shortcode)."""

    def _reshare(self, pair: Pair) -> None:
        """After a (re)connect: give a peer our key again if we had a session with them."""
        if self._private is not None and pair.public_raw and pair.sid:
            self._share(pair, is_reply=True)

    def _announce_curve(self) -> None:
        if self.joined and self._announced_curve != self.curve:
            self._emit(protocol.CURVE_SELECTED, {"curve": self.curve})
            self._announced_curve = self.curve

    def _reach(self, name: str) -> tuple[str, bytes] | None:
        pair = self._pairs.get(name)
        if pair is not None and pair.present and pair.key:
            return pair.sid, pair.channel.epoch
        return None

    def _seal_waiting(self) -> None:
        """Seal the messages that waited for their peer's key, now that it is here."""
        def epoch_of(name: str) -> bytes:
            pair = self._pairs.get(name)
            return pair.channel.epoch if pair is not None else b""

        for out in self._outbox.to_seal(epoch_of):
            pair = self._pairs[out.peer]
            sealed = pair.channel.seal(out.data, message_id=out.id)
            self._outbox.sealed(out, sealed.payload, pair.channel.epoch,
                                receipts=pair.channel.version.receipts)
            self._update_message(
                out.id, status="sending", associated_data=sealed.associated_data,
                reason=LEGACY_NOTE if pair.legacy else "", legacy=pair.legacy,
                ad_bytes=len(sealed.associated_data.encode()), seal_ms=sealed.seal_ms,
                **wire_fields(sealed.payload, sealed))
            self._log("info", "me", f"{pair.name}'s key is here: a waiting message is sealed "
                                    "and sent")

    def _flush(self) -> None:
        """Seal what waited for a key, then send every unconfirmed message whose peer is
        here, in order, and the receipts held back (for a join, the peer, or its key)."""
        self._seal_waiting()
        if not self.joined or not self.attached:
            return
        due, dropped = self._outbox.due(self._reach)
        for out, sid in due:
            self._emit(protocol.SEND_MESSAGE, {**out.payload, "targetSocketId": sid},
                       callback=lambda ack, mid=out.id, sid=sid: self._on_sent(mid, sid, ack))
        for out in dropped:
            self._update_message(out.id, status="rejected",
                                 reason="not sent: the keys changed before it could be "
                                        "delivered; send it again")
        self._send_receipts()

    def _on_sent(self, message_id: str, sid: str, ack: Any) -> None:
        out = self._outbox.get(message_id)
        if out is None:
            return
        pair = self._pairs.get(out.peer)
        moved = pair is not None and (not pair.present or pair.sid != sid)
        outcome, reason = self._outbox.acknowledged(message_id, ack, peer_moved=moved)
        if outcome == SENT:
            self._update_message(message_id, status="sent")
        elif outcome == REFUSED:
            self._update_message(message_id, status="rejected", reason=f"relay: {reason}")
            self._set_error("chat", f"the relay refused a message: {reason}")
            self._log("error", "relay", f"message refused: {reason}")

    def _confirm(self, pair: Pair, message_id: str) -> None:
        """Queue a receipt for a received message; receipts go out in small batches."""
        if pair.channel.queue_receipt(message_id):
            self._later(RECEIPT_DELAY, self._send_receipts)

    def _send_receipts(self) -> None:
        if not self.joined or not self.attached:
            return  # sent after the next join
        for pair in self._pairs.values():
            if not pair.present:
                continue
            for sealed in pair.channel.seal_receipts():
                self._emit(protocol.SEND_MESSAGE,
                           {**sealed.payload, "targetSocketId": pair.sid})

    def _emit(self, event: str, payload: dict, callback: Callable | None = None) -> None:
        """Send `event` (shown in `relay_view`); `callback`, a core input, gets the ack."""
        if not self.attached:
            return
        self._view("out", event, payload)
        self._effects.append(Emit(event, payload, callback))

    def _step(self, step: str, details: str, *, log: bool = True) -> None:
        """Tell the room what we just did, as the seed's client did (never a secret)."""
        if log:
            self._log("info", "me", f"{step}: {details}")
        if self._share_steps and self.joined and self._step_budget.take(self._clock()):
            self._emit(protocol.PROCESSING_STEP, {"step": step, "details": details})

    def _append_message(self, message: ChatMessage) -> None:
        """Add `message` to its conversation: only that peer's tuple is rebuilt, and it
        keeps the newest MAX_HISTORY messages, of them at most MAX_REJECTED_KEPT rejected
        (the peer's `rejected` counts them all). All conversations together keep at most
        MAX_KEPT_BYTES: beyond it the oldest message of any conversation goes first, and
        `trimmed` counts what went."""
        peer = message.peer_id
        conversations = dict(self.conversations)
        kept = [*conversations.get(peer, ()), message]
        dropped: list[ChatMessage] = []
        if message.status == "rejected":
            rejected = [i for i, m in enumerate(kept) if m.status == "rejected"]
            drop = set(rejected[:-MAX_REJECTED_KEPT])
            if drop:
                dropped += [m for i, m in enumerate(kept) if i in drop]
                kept = [m for i, m in enumerate(kept) if i not in drop]
        dropped += kept[:-MAX_HISTORY]
        conversations[peer] = tuple(kept[-MAX_HISTORY:])
        self._kept_bytes += footprint(message) - sum(footprint(m) for m in dropped)
        trimmed = {peer: sum(m.status != "rejected" for m in dropped)}
        while self._kept_bytes > MAX_KEPT_BYTES:
            oldest = min((c for c, ms in conversations.items() if ms),
                         key=lambda c: conversations[c][0].time)
            first = conversations[oldest][0]
            if first is message:
                break  # the newest message stays, whatever it costs
            conversations[oldest] = conversations[oldest][1:]
            self._kept_bytes -= footprint(first)
            dropped.append(first)
            trimmed[oldest] = trimmed.get(oldest, 0) + 1
        for old in dropped:
            if old.direction == "out":
                self._positions.pop(old.id, None)
        if message.direction == "out":
            self._positions[message.id] = peer
        self.conversations = conversations
        trimmed = {c: n for c, n in trimmed.items() if n}
        if trimmed:
            if any(c not in self.trimmed for c in trimmed):
                self._log("warning", "me", "older messages are dropped to keep this "
                                           "session's memory bounded (with "
                                           + ", ".join(sorted(trimmed)) + ")")
            self.trimmed = {**self.trimmed, **{c: self.trimmed.get(c, 0) + n
                                               for c, n in trimmed.items()}}

    def _update_message(self, message_id: str, **changes: Any) -> None:
        """Change one of our messages (an incoming one may carry the same id: a relay
        reflecting ours, so only outgoing ones are looked at)."""
        peer = self._positions.get(message_id)
        if peer is None:
            return
        current = self.conversations.get(peer, ())
        # updates are for recent messages (receipts, acknowledgements): search from the end
        for index in range(len(current) - 1, -1, -1):
            if current[index].id == message_id and current[index].direction == "out":
                break
        else:
            return
        updated = dataclasses.replace(current[index], **changes)
        if updated == current[index]:
            return
        self._kept_bytes += footprint(updated) - footprint(current[index])
        conversations = dict(self.conversations)
        conversations[peer] = (*current[:index], updated, *current[index + 1:])
        self.conversations = conversations

    def _remember_key(self, pair: Pair, *, v1: bool, rank: int = 0) -> None:
        """Keep what we know of `pair`'s key beyond this room visit (leave, re-join)."""
        key = (self.room, pair.name)
        known = self._known_keys.get(key)
        same = known is not None and known.public_raw == pair.public_raw
        v1 = v1 or (same and known.v1)
        rank = max(rank, known.rank if same else 0)
        self._known_keys[key] = KnownKey(pair.public_raw, pair.verified, v1, rank)
        self._known_keys.move_to_end(key)
        while len(self._known_keys) > MAX_KNOWN_KEYS:
            self._known_keys.popitem(last=False)

    def _known_key(self, name: str) -> KnownKey | None:
        return self._known_keys.get((self.room, name))

    def _publish_peers(self) -> None:
        peers = {name: peer_record(pair, curve=self.curve, public_raw=self._public_raw)
                 for name, pair in self._pairs.items() if pair.present}
        if peers != self.peers:
            self.peers = peers

    def _publish_peer(self, pair: Pair) -> None:
        """Publish one peer's record (cheaper than `_publish_peers` for a hot path)."""
        if pair.present:
            record = peer_record(pair, curve=self.curve, public_raw=self._public_raw)
            if self.peers.get(pair.name) != record:
                self.peers = {**self.peers, pair.name: record}

    def _soon(self, kind: str, rate: float, fn: Callable[[], None]) -> None:
        """Run `fn` now if `kind` did not run in the last 1/`rate` s, else once when that
        time is up (however often it is asked meanwhile)."""
        now = self._clock()
        asked = self._due.get(kind)
        if asked is not None and now - asked < 2.0 / rate:
            return  # already due (a stale entry, its client gone, is asked again)
        wait = self._ran.get(kind, float("-inf")) + 1.0 / rate - now
        if wait <= 0 or not self.attached:
            self._due.pop(kind, None)
            self._ran[kind] = now
            fn()
            return
        self._due[kind] = now

        def run() -> None:
            self._due.pop(kind, None)
            self._ran[kind] = self._clock()
            fn()

        self._later(wait, run)

    def _drop_gone_pairs(self) -> None:
        """Keep the newest MAX_GONE_PAIRS peers who left (their keys stay known)."""
        gone = [name for name, pair in self._pairs.items() if not pair.present]
        for name in gone[:max(len(gone) - MAX_GONE_PAIRS, 0)]:
            del self._pairs[name]

    def _depart(self, name: str, gone: bool) -> None:
        """Show `name` as left (`gone`) or back."""
        kept = tuple(n for n in self.departed if n != name)
        if gone:
            kept = (*kept, name)[-MAX_DEPARTED:]
        if kept != self.departed:
            self.departed = kept

    def _forget_room(self) -> None:
        self.departed = ()
        self._pairs.clear()
        self._outbox.clear()
        self._positions.clear()
        self._announced_curve = ""
        self.joined = False
        self.peers = {}
        self.conversations = {}
        self.trimmed = {}
        self._kept_bytes = 0

    def _view(self, direction: str, event: str, payload: Any) -> None:
        entry = {"time": self._clock(), "direction": direction, "event": event,
                 "payload": displayable(payload, limit=MAX_VIEW_STRING)}
        self.relay_view = (*self.relay_view[-(MAX_VIEW - 1):], entry)

    def _log(self, level: str, source: str, text: str) -> None:
        entry = LogEntry(self._clock(), level, source, text)
        self.log = (*self.log[-(MAX_VIEW - 1):], entry)

    def _set_error(self, topic: str, text: str) -> None:
        if self.errors.get(topic, "") != text:
            errors = {k: v for k, v in self.errors.items() if k != topic}
            if text:
                errors[topic] = text
            self.errors = errors

    def _clear_stale(self, topics: tuple[str, ...], *phrases: str) -> None:
        """Clear the errors of `topics` that say one of `phrases`: their condition is gone
        (an error stays until something clears it, and a stale one misleads)."""
        for topic in topics:
            if any(phrase in self.errors.get(topic, "") for phrase in phrases):
                self._set_error(topic, "")

    def _fail(self, topic: str, text: str) -> SessionError:
        self._set_error(topic, text)
        self._log("error", "me", text)
        return SessionError(text)

    def _check_open(self, topic: str) -> None:
        if self.closed:
            raise self._fail(topic, "this session was closed; create a new one")
