"""The session core: everything a notebook peer knows and does, sans-IO.

In the manner of h11's `Connection`: inputs in (the user's actions here, the relay's
events in `events`, acknowledgements and timers as the callables it hands out), state and
typed effects out (`take()`: the `Emit`s and `Later`s to carry out, the published values
that changed). No traitlets, no client, no thread, no clock of its own (`clock` is given),
no lock: the traitlets `Session` (`model`) is the adapter that feeds it, under its lock,
and publishes its state. The parts it composes each do one job: `link.Membership` (what
joining says), `pairs` (each peer and key agreement), `channel` (message protection),
`delivery` (the outbox), `shortcode` (the short code's exchange), `keygen` (the educational
trace of Q = d x G, checked equal to the real public key).

`errors` is keyed by topic ("join", "curve", "keys", "peers", "chat": the action, or the
relay event, that went wrong); views decide where to show each.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from typing import Any

from ecc_widgets import crypto, envelope, protocol
from ecc_widgets.client import DISCONNECTED
from ecc_widgets.curves import get_curve
from ecc_widgets.ratchet import ITEMS
from ecc_widgets.session.classroom import report_pair
from ecc_widgets.session.delivery import Outgoing
from ecc_widgets.session.effects import Changes
from ecc_widgets.session.events import RelayEvents
from ecc_widgets.session.keygen import KeygenTrace, keygen_trace
from ecc_widgets.session.records import (
    LEGACY_NOTE,
    MAX_PLAINTEXT,
    MAX_WAITING,
    MISMATCH_NOTE,
    ChatMessage,
    SessionError,
    wire_fields,
)
from ecc_widgets.session.state import PUBLISHED


class SessionCore(RelayEvents):
    """One notebook peer's protocol: identity, curve, keys, peers, conversations, log."""

    def __init__(self, *, clock: Callable[[], float] = time.time, share_steps: bool = True,
                 message_version: str = "ratchet"):
        super().__init__(clock=clock, share_steps=share_steps)
        if message_version not in envelope.BY_NAME:
            raise ValueError(f"message_version must be one of {sorted(envelope.BY_NAME)}, "
                             f"not {message_version!r}")
        # what our key shares offer: the Double Ratchet, or "static" (v1, one key)
        self.offer = envelope.BY_NAME[message_version]
        self._taken = {name: getattr(self, name) for name in PUBLISHED}

    def take(self) -> Changes:
        """The effects left since the last call, in order, and the published values that
        were replaced since then."""
        effects, self._effects = tuple(self._effects), []
        published = {}
        changed, self._changed = self._changed, {}
        for name in changed:   # in the order of their latest change
            value = getattr(self, name)
            if self._taken[name] is not value:
                self._taken[name] = published[name] = value
        return Changes(effects, published)

    def overwrite(self, name: str, value: Any) -> None:
        """A published value replaced from outside: the core goes on from it."""
        setattr(self, name, value)
        self._taken[name] = value
        self._changed.pop(name, None)

    def fail(self, topic: str, text: str) -> SessionError:
        """Say that an action cannot be done (in `errors` and the log); the error to raise."""
        return self._fail(topic, text)

    def check_open(self, topic: str) -> None:
        self._check_open(topic)

    # ------------------------------------------------------------------ joining

    def check_join(self, username: str, room: str, *, visible_to: str | None = None,
                   invite_token: str | None = None) -> dict:
        """The cleaned ``join`` payload, or a SessionError in words."""
        try:
            invite = {"visibleTo": visible_to, "inviteToken": invite_token} \
                if visible_to or invite_token else {}
            return protocol.validate(protocol.JOIN, {"username": username, "roomId": room,
                                                     **invite})
        except protocol.ProtocolError as exc:
            raise self._fail("join", str(exc)) from None

    def in_room(self, cleaned: dict, url: str) -> bool:
        """Already in (or on the way into) this room as this name through `url`."""
        return self._member.want_join and (cleaned["username"], cleaned["roomId"], url) == \
            (self.username, self.room, self.relay_url)

    def enter(self, cleaned: dict, url: str, *, visible_to: str | None = None,
              invite_token: str | None = None) -> None:
        """Leave the room we are in (if any) and ask for `cleaned`'s: the join itself goes
        out when connected (`connected`, or `send_join` on a connection already up)."""
        if self.joined and self.attached:
            self._emit(protocol.LEAVE, {})
        self._forget_room()
        self.username, self.room, self.relay_url = cleaned["username"], cleaned["roomId"], url
        self._member.start_room()
        self._member.visible_to = visible_to or ""
        self._member.invite_token = invite_token or ""
        self._set_error("join", "")
        self._clear_stale(("peers", "chat"), "join a room first")
        self._log("info", "me", f"joining room {self.room!r} as {self.username!r} via {url}")

    # ------------------------------------------------------------------ actions

    def select_curve(self, name: str) -> None:
        """Choose the curve for our keys and tell the room. Existing keys are dropped."""
        self._check_open("curve")
        try:
            canonical = get_curve(name).name
        except (KeyError, TypeError) as exc:
            raise self._fail("curve", str(exc).strip('"')) from None
        if canonical not in crypto.SUPPORTED_CURVES:
            raise self._fail("curve", f"{canonical} cannot hold real keys; choose one of "
                                      f"{', '.join(crypto.SUPPORTED_CURVES)}")
        if canonical != self.curve and self._private is not None:
            self._private, self._public_raw = None, b""
            self._keys_dropped = True
            self.public_jwk, self.fingerprint, self.keygen = {}, "", None
            self._log("warning", "me", f"keys dropped: they were for {self.curve}, "
                                       f"now {canonical} is chosen")
        self.curve = canonical
        self._set_error("curve", "")
        self._rederive_all()
        self._announce_curve()
        self._log("info", "me", f"curve {canonical} selected")

    def generate_keys(self) -> KeygenTrace:
        """Generate our key pair on the chosen curve, with the maths' trace of Q = d x G."""
        self._check_open("keys")
        curve = self.curve
        if curve not in crypto.SUPPORTED_CURVES:
            raise self._fail("keys", f"choose a curve first ({curve!r} cannot hold keys)")
        began = time.perf_counter()
        key = crypto.generate_private_key(curve)
        took = time.perf_counter() - began
        try:
            trace = dataclasses.replace(keygen_trace(key), keygen_ms=took * 1000)
        except ValueError as exc:
            raise self._fail("keys", f"the educational maths disagrees with the library: "
                                     f"{exc}") from None
        changed = self._private is not None or self._keys_dropped
        self._keys_dropped = False
        self._private = key
        self._public_raw = crypto.public_bytes(key)
        self.keygen = trace
        self.public_jwk = crypto.public_key_to_jwk(key)
        self.fingerprint = crypto.fingerprint(self._public_raw)
        self._set_error("keys", "")
        self._clear_stale(("peers", "chat"), "generate your keys first")
        self._log("success", "me",
                  f"{'new ' if changed else ''}key pair on {curve}: Q = d x G computed in "
                  f"{len(trace.steps)} steps, equal to the library's public key")
        self._step("Generated key pair", f"{curve}, fingerprint {self.fingerprint}")
        if self.joined:  # otherwise the join announces it
            self._emit(protocol.KEYS_GENERATED, {})
        self._rederive_all()
        # Answer keys received before we had one; re-share a changed key with peers
        # we had a session with, so they can flag the change and answer.
        for pair in self._pairs.values():
            if pair.present and (pair.wants_reply or (changed and pair.shared_ours)):
                self._share(pair, is_reply=pair.wants_reply)
                pair.wants_reply = False
        self._publish_peers()
        return trace

    def share_key(self, peer_id: str) -> None:
        """Send our public key (JWK with the curve) to one peer."""
        self._check_open("peers")
        pair = self._pairs.get(peer_id)
        if pair is None or not pair.present:
            raise self._fail("peers", f"{peer_id!r} is not in the room")
        if self._private is None:
            raise self._fail("peers", "generate your keys first, then share them")
        self._set_error("peers", "")
        self._share(pair, is_reply=False)
        self._publish_peers()

    def send(self, peer_id: str, text: str) -> ChatMessage:
        """Encrypt `text` for one peer and send it; returns the message (status "sending")."""
        self._check_open("chat")
        if not isinstance(text, str) or not text:
            raise self._fail("chat", "type a message first")
        data = text.encode()
        if len(data) > MAX_PLAINTEXT:
            raise self._fail("chat", f"message too long ({len(data)} bytes; at most "
                                     f"{MAX_PLAINTEXT})")
        if not self.joined and not self._member.ever_joined:
            raise self._fail("chat", "join a room first")
        pair = self._pairs.get(peer_id)
        if pair is None:
            raise self._fail("chat", f"{peer_id!r} is not in the room")
        if self._private is None:
            raise self._fail("chat", "generate your keys first")
        if not pair.key and pair.public_key is None:
            return self._send_later(pair, text, data)
        if not pair.key:
            raise self._fail("chat", pair.channel.problem or
                             f"no key for {pair.name} yet: share keys first")
        message_id = uuid.uuid4().hex
        sealed = pair.channel.seal(data, message_id=message_id)
        payload = sealed.payload
        message = ChatMessage(
            id=message_id, peer_id=pair.name, direction="out", plaintext=text,
            associated_data=sealed.associated_data, time=self._clock(), status="sending",
            reason=LEGACY_NOTE if pair.legacy else "", legacy=pair.legacy,
            plaintext_bytes=len(data), ad_bytes=len(sealed.associated_data.encode()),
            seal_ms=sealed.seal_ms, **wire_fields(payload, sealed))
        self._append_message(message)
        self._set_error("chat", "")
        self._step("Encrypted message", f"AES-256-GCM, {len(data)} bytes"
                   + (", seed format" if pair.legacy else f", seq {sealed.seq}"))
        self._outbox.add(Outgoing(message_id, pair.name, payload, pair.channel.epoch,
                                  receipts=pair.channel.version.receipts, data=data))
        if not pair.present or not self.joined:
            self._log("info", "me", f"{pair.name} is not reachable right now; the message "
                                    "goes out when both of us are back in the room")
        self._flush()
        return message

    def _send_later(self, pair: Any, text: str, data: bytes) -> ChatMessage:
        """A message to a peer whose key has not come (yet, or again after a reload): it
        waits, and says so, and is sealed and sent when the key arrives (lock held)."""
        if self._outbox.waiting() >= MAX_WAITING:
            raise self._fail("chat", f"{MAX_WAITING} messages already wait for a key; "
                                     "wait for them to go out")
        message = ChatMessage(id=uuid.uuid4().hex, peer_id=pair.name, direction="out",
                              plaintext=text, time=self._clock(), status="waiting",
                              reason=f"waiting for {pair.name}'s key",
                              plaintext_bytes=len(data))
        self._append_message(message)
        self._outbox.add(Outgoing(message.id, pair.name, {}, b"", data=data))
        self._set_error("chat", "")
        self._log("info", "me", f"waiting for {pair.name}'s key: the message is sealed and "
                                "sent when it arrives")
        self._flush()
        return message

    def set_verified(self, peer_id: str, verified: bool) -> None:
        """Record that the safety number was (or was not) compared out of band."""
        pair = self._pairs.get(peer_id)
        if pair is None:
            raise self._fail("peers", f"{peer_id!r} is not in the room")
        if verified and not (pair.key and self._public_raw):
            raise self._fail("peers", f"no safety number with {pair.name} yet: exchange "
                                      "keys first")
        pair.verified = bool(verified)
        if verified:
            pair.key_changed = False
            pair.mismatch_keys = None  # compared again, and equal: the user's latest word
        if pair.public_raw:
            self._remember_key(pair, v1=False)
        self._set_error("peers", "")
        self._log("success" if verified else "info", "me",
                  f"{pair.name} {'verified' if verified else 'no longer verified'}")
        report_pair(self, pair)   # for a teacher's console
        self._publish_peers()

    def ratchet_view(self, peer_id: str) -> envelope.RatchetView | None:
        """The Double Ratchet with `peer_id` as a view shows it (None: no ratchet with
        them, e.g. a static or legacy pair, or no key yet)."""
        pair = self._pairs.get(peer_id)
        if pair is None or not pair.key:
            return None
        extra = pair.channel.state.extra
        return extra.view() if isinstance(extra, envelope.RatchetPair) else None

    def steal(self, peer_id: str, item: str) -> tuple[Any, int]:
        """The lesson's thief in this kernel: take `item` ("message", "sending",
        "receiving", "state"; `ratchet.ITEMS`) of our ratchet with `peer_id` now; with the
        number of messages logged so far, for `exposure`. Never sent anywhere."""
        extra = self._ratchet_of(peer_id)
        if item not in ITEMS:
            raise self._fail("chat", f"item must be one of {', '.join(ITEMS)}")
        try:
            return extra.steal(item, self.username)
        except ValueError as exc:
            raise self._fail("chat", str(exc)) from None

    def exposure(self, peer_id: str, stolen: Any, theft_at: int) -> list:
        """What `stolen` opens of the conversation with `peer_id` as the relay carried it
        (every logged message tried; `ratchet.Verdict` each, with the reason)."""
        return self._ratchet_of(peer_id).exposure(stolen, theft_at)

    def _ratchet_of(self, peer_id: str) -> envelope.RatchetPair:
        pair = self._pairs.get(peer_id)
        extra = pair.channel.state.extra if pair is not None and pair.key else None
        if not isinstance(extra, envelope.RatchetPair):
            raise self._fail("chat", f"no ratchet with {peer_id!r}")
        return extra

    def report_mismatch(self, peer_id: str) -> None:
        """Record that the codes (safety number, emoji, numbers) differ on the two screens.

        Each side then shares a secret with whoever sits in the middle, not with the other:
        every message still decrypts, and the intermediary reads them all. The pair is no
        longer verified, and the mark holds until either side has a new key.
        """
        pair = self._pairs.get(peer_id)
        if pair is None:
            raise self._fail("peers", f"{peer_id!r} is not in the room")
        if not (pair.key and self._public_raw):
            raise self._fail("peers", f"no codes to compare with {pair.name} yet: "
                                      "exchange keys first")
        pair.verified = False
        pair.mismatch_keys = (pair.public_raw, self._public_raw)
        if pair.public_raw:
            self._remember_key(pair, v1=False)
        self._set_error("peers", "")
        self._log("error", "me", f"{pair.name}: {MISMATCH_NOTE}")
        report_pair(self, pair)   # for a teacher's console
        self._publish_peers()

    def allow_legacy(self, peer_id: str, allowed: bool = True) -> None:
        """Chat with a peer that offers only the seed's protocol (or stop: `allowed=False`).

        The seed's format has one raw key for both directions and nothing binding a
        message to its sender, receiver or order; the pair shows "legacy", never "secure".
        """
        pair = self._pairs.get(peer_id)
        if pair is None:
            raise self._fail("peers", f"{peer_id!r} is not in the room")
        if allowed and not pair.offers_legacy:
            raise self._fail("peers", f"{pair.name} speaks protocol v1: there is no "
                                      "legacy mode to allow")
        pair.legacy_allowed = bool(allowed)
        self._set_error("peers", "")
        self._log("warning" if allowed else "info", "me",
                  f"legacy (seed protocol) with {pair.name} "
                  + (f"allowed: {LEGACY_NOTE}" if allowed else "turned off"))
        self._derive(pair)
        self._flush()
        self._publish_peers()

    def leave(self) -> None:
        """Leave the room (the connection stays open for a later join)."""
        if self._member.want_join and self.joined:
            self._emit(protocol.LEAVE, {})
        if self._member.want_join:
            self._log("info", "me", f"left room {self.room!r}")
        self._member.want_join = False
        self._forget_room()
        self.invites = []

    def close(self) -> None:
        """Closed for good: nothing more is sent, and relay events are ignored."""
        self.closed = True
        self.attached = False
        self.connection = DISCONNECTED

    def say(self, level: str, source: str, text: str) -> None:
        """A line in the log from outside the protocol (the adapter's own news)."""
        self._log(level, source, text)

    def demo_refused(self, reason: str) -> None:
        self._set_error("peers", f"could not summon the demo peer: "
                                 f"{reason or 'the relay refused'}")
        self._log("error", "relay", f"demo peer refused: {reason or 'no answer'}")

    def report_error(self, topic: str, message: str) -> None:
        """Show a problem found outside the model (e.g. by a view) like the model's own."""
        self._set_error(topic, message)
        self._log("error", topic or "app", message)
