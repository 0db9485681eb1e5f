"""The headless session model: everything a notebook peer knows, with no widgets in it.

A `Session` is a `traitlets.HasTraits`; panels observe its traits and call its actions.
This module holds the actions (what the user does); `events` what the relay tells us,
`state` the traits and the helpers both share. The parts they compose each do one job:
`link` (the relay client and (re)joining), `pairs` (each peer and key agreement),
`channel` (message protection, sans-IO), `delivery` (the outbox), `keygen` (the
educational trace of Q = d x G, checked equal to the real public key).

Threads: actions run on the caller's thread and never wait for the network; relay events are
handled on the client's thread. Both change state under one lock, and every trait is
replaced, never mutated in place, so observers fire (on whichever thread changed it).

`errors` is keyed by topic ("join", "curve", "keys", "peers", "chat": the action, or the
relay event, that went wrong); views decide where to show each.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from typing import Any

from ecc_widgets import crypto, protocol
from ecc_widgets.client import CONNECTED, DISCONNECTED
from ecc_widgets.curves import get_curve
from ecc_widgets.session.delivery import Outgoing
from ecc_widgets.session.events import RelayEvents
from ecc_widgets.session.keygen import KeygenTrace, keygen_trace
from ecc_widgets.session.records import (
    LEGACY_NOTE,
    MAX_PLAINTEXT,
    MAX_WAITING,
    MISMATCH_NOTE,
    ChatMessage,
    wire_fields,
)


class Session(RelayEvents):
    """One notebook peer: identity, curve, keys, peers, conversations and the activity log.

    `client_factory` builds the relay client (`RelayClient`'s signature); `relay_locator`
    chooses the relay (default: the address given to `join`); `demo_peer_factory` builds
    the peer `summon_demo_peer` brings (default: none). `ecc_widgets.app.local_session()`
    gives a session with all three set for this machine.
    """

    # ------------------------------------------------------------------ actions

    def join(self, username: str, room: str, relay_url: str | None = None, *,
             visible_to: str | None = None, invite_token: str | None = None) -> None:
        """Join `room` as `username` through the relay (the locator says which).

        With `visible_to` and the `invite_token` that user registered with the relay, the
        relay lists us to that user only, and lets us talk with nobody else (the demo
        peer: summoned by one student, invisible to the class; see `summon_demo_peer`).

        Returns at once; `connection` and `joined` change as it happens, and a refusal
        (name taken, relay unreachable) appears in `errors["join"]` and the log.
        """
        self._check_open("join")
        link = self._link
        try:
            invite = {"visibleTo": visible_to, "inviteToken": invite_token} \
                if visible_to or invite_token else {}
            cleaned = protocol.validate(protocol.JOIN, {"username": username, "roomId": room,
                                                        **invite})
            url = link.locator.address(relay_url or self.relay_url or None)
        except (protocol.ProtocolError, ValueError) as exc:
            raise self._fail("join", str(exc)) from None
        old = None
        with self._lock:
            if link.want_join and (cleaned["username"], cleaned["roomId"], url) == \
                    (self.username, self.room, self.relay_url) and link.client is not None:
                return  # already in (or on the way into) this room: nothing to redo
            if link.client is not None and not link.reusable(url):
                old = link.detach()
            if self.joined and link.client is not None:
                self._emit(protocol.LEAVE, {})
            self._forget_room()
            self.username, self.room, self.relay_url = cleaned["username"], cleaned["roomId"], url
            link.start_room()
            link.visible_to, link.invite_token = visible_to or "", invite_token or ""
            self._set_error("join", "")
            self._clear_stale(("peers", "chat"), "join a room first")
            self._log("info", "me", f"joining room {self.room!r} as {self.username!r} via {url}")
            client = link.client
            if client is None:
                client = link.connect(url, name=f"ecc-relay-client-{username}",
                                      on_event=self._on_event, on_connect=self._on_connect,
                                      on_state=self._on_state, on_error=self._on_client_error)
                fresh = True
            else:
                fresh = False
        if old is not None:
            old.close()
        if fresh:
            client.start()
        elif client.state == CONNECTED:
            client.call_soon(self._send_join)

    def rejoin(self, username: str, room: str, relay_url: str | None = None, *,
               curve: str | None = None, keys: bool = True) -> KeygenTrace | None:
        """A reloaded page's way back: join `room` as `username` and, if the page had keys
        (`keys`), make new ones, on `curve` if given (a private key never outlives its
        session, so they are new). Nobody presses anything else: the partners see
        "rejoined: waiting for a new key", keys are exchanged by themselves (with the key
        change flagged) and what they typed meanwhile goes out sealed under the new key.
        """
        self.join(username, room, relay_url)
        if curve:
            self.select_curve(curve)
        return self.generate_keys() if keys else None

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
        with self._lock:
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
        with self._lock:
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
        with self._lock:
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
        with self._lock:
            if not self.joined and not self._link.ever_joined:
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
                                      legacy=pair.legacy, data=data))
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
        with self._lock:
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
            self._publish_peers()

    def report_mismatch(self, peer_id: str) -> None:
        """Record that the codes (safety number, emoji, numbers) differ on the two screens.

        Each side then shares a secret with whoever sits in the middle, not with the other:
        every message still decrypts, and the intermediary reads them all. The pair is no
        longer verified, and the mark holds until either side has a new key.
        """
        with self._lock:
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
            self._publish_peers()

    def allow_legacy(self, peer_id: str, allowed: bool = True) -> None:
        """Chat with a peer that offers only the seed's protocol (or stop: `allowed=False`).

        The seed's format has one raw key for both directions and nothing binding a
        message to its sender, receiver or order; the pair shows "legacy", never "secure".
        """
        with self._lock:
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

    def summon_demo_peer(self, name: str = protocol.DEMO_PEER_NAME) -> Any:
        """Bring a built-in peer into our room (same relay, same curve) on its own thread.

        Seen by us alone: we register a one-time invite token with the relay
        (``invite``) and hand it to the demo peer, which joins with it; its name is
        one no classmate may take, and each student's demo peer has its own. It starts
        once the relay has the token; returned at once."""
        self._check_open("peers")
        with self._lock:
            if not self.joined or not self.relay_url or self._link.client is None:
                raise self._fail("peers", "join a room first, then summon the demo peer")
            if self._demo_peer_factory is None:
                raise self._fail("peers", "this session has no demo peer (build it with "
                                          "ecc_widgets.app.local_session())")
            if len(self._demo_peers) >= protocol.MAX_DEMO_PEERS:
                raise self._fail("peers", f"at most {protocol.MAX_DEMO_PEERS} demo peers")
            taken = {d.name for d in self._demo_peers}
            unique, n = name, 2
            while unique in taken:
                unique, n = f"{name}-{n}", n + 1
            token = secrets.token_urlsafe(24)
            demo = self._demo_peer_factory(self.room, relay_url=self.relay_url, name=unique,
                                           curve=self.curve, follow=self.username,
                                           invite_token=token)
            self._demo_peers.append(demo)
            self._log("info", "me", f"summoning the demo peer {unique!r}")
            # straight to the client, not through _emit: the relay view must not show it
            self._link.client.emit(protocol.INVITE, {"inviteToken": token},
                                   callback=lambda ack: self._on_invite_ack(ack, demo))
        return demo

    def _reinvite_demo_peers(self) -> None:
        """After a (re)join: the relay voided our invite tokens when our old socket went, so
        register them again, and our demo peers, rejoining, are let in (caller holds the
        lock)."""
        client = self._link.client
        for demo in self._demo_peers if client is not None else ():
            token = getattr(demo, "invite_token", None)
            if token:
                client.emit(protocol.INVITE, {"inviteToken": token})

    def _on_invite_ack(self, ack: Any, demo: Any) -> None:
        """The relay has the demo peer's token (or refused it): start it, or say why not."""
        with self._lock:
            if demo not in self._demo_peers:
                return   # we left meanwhile
            if not (isinstance(ack, dict) and ack.get("ok")):
                self._demo_peers.remove(demo)
                reason = ack.get("error") if isinstance(ack, dict) else None
                self._set_error("peers", f"could not summon the demo peer: "
                                         f"{reason or 'the relay refused'}")
                self._log("error", "relay", f"demo peer refused: {reason or 'no answer'}")
                return
            self._log("info", "me", f"summoned the demo peer {demo.name!r}")
        demo.start()

    def leave(self) -> None:
        """Leave the room (the connection stays open for a later join)."""
        with self._lock:
            if self._link.want_join and self.joined:
                self._emit(protocol.LEAVE, {})
            if self._link.want_join:
                self._log("info", "me", f"left room {self.room!r}")
            self._link.want_join = False
            self._forget_room()
            demos, self._demo_peers = self._demo_peers, []
        for demo in demos:
            demo.close()

    def close(self) -> None:
        """Leave, disconnect, and stop the client thread (and any demo peers). Idempotent."""
        if self._link.closed:
            return
        self.leave()
        with self._lock:
            self._link.closed = True
            client = self._link.detach()
        if client is not None:
            client.close()
        self.connection = DISCONNECTED

    def report_error(self, topic: str, message: str) -> None:
        """Show a problem found outside the model (e.g. by a view) like the model's own."""
        with self._lock:
            self._set_error(topic, message)
            self._log("error", topic or "app", message)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
