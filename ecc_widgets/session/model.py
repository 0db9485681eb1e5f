"""The headless session model: everything a notebook peer knows, with no widgets in it.

A `Session` is a `traitlets.HasTraits`; panels observe its traits and call its actions.
This module holds the actions and the dispatch of relay events; the parts it composes each
do one job: `link` (the relay client and (re)joining), `pairs` (each peer and key
agreement), `channel` (message protection, sans-IO), `delivery` (the outbox), `keygen`
(the educational trace of Q = d x G, checked equal to the real public key).

Threads: actions run on the caller's thread and never wait for the network; relay events are
handled on the client's thread. Both change state under one lock, and every trait is
replaced, never mutated in place, so observers fire (on whichever thread changed it).

`errors` is keyed by topic ("join", "curve", "keys", "peers", "chat": the action, or the
relay event, that went wrong); views decide where to show each.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, HasTraits, Tuple, Unicode

from ecc_widgets import crypto, protocol
from ecc_widgets.client import CONNECTED, DISCONNECTED, RelayClient
from ecc_widgets.curves import get_curve
from ecc_widgets.session import delivery
from ecc_widgets.session.channel import RECEIPT, Accepted, Channel, Duplicate, kind_of
from ecc_widgets.session.delivery import Outbox, Outgoing
from ecc_widgets.session.keygen import KeygenTrace, keygen_trace
from ecc_widgets.session.link import REJOIN_DELAY, Link, RelayLocator
from ecc_widgets.session.pairs import Pair, agree, peer_record
from ecc_widgets.session.records import (
    DOWNGRADE,
    LEGACY_NOTE,
    MALFORMED,
    ChatMessage,
    LogEntry,
    SessionError,
)

MAX_VIEW = 1000             # entries kept in `log` and `relay_view` (the newest)
MAX_PLAINTEXT = 30 * 1024   # bytes; the relay refuses ciphertext much beyond this
RECEIPT_DELAY = 0.02        # seconds to gather received ids into one receipt
DEFAULT_CURVE = "P-256"

# Which topic a relay refusal belongs to, by the event it refused.
REFUSED_TOPIC = {protocol.JOIN: "join", protocol.CURVE_SELECTED: "curve",
                 protocol.KEYS_GENERATED: "keys", protocol.SHARE_PUBLIC_KEY: "peers",
                 protocol.SEND_MESSAGE: "chat"}


class Session(HasTraits):
    """One notebook peer: identity, curve, keys, peers, conversations and the activity log.

    `client_factory` builds the relay client (`RelayClient`'s signature); `relay_locator`
    chooses the relay (default: the address given to `join`); `demo_peer_factory` builds
    the peer `summon_demo_peer` brings (default: none). `ecc_widgets.app.local_session()`
    gives a session with all three set for this machine.
    """

    username = Unicode("")
    room = Unicode("")
    my_id = Unicode("")
    relay_url = Unicode("")
    connection = Unicode(DISCONNECTED)
    joined = Bool(False)
    curve = Unicode(DEFAULT_CURVE)
    public_jwk = Dict()
    fingerprint = Unicode("")
    keygen = AnyTrait(None, allow_none=True)
    peers = Dict()
    conversations = Dict()
    log = Tuple()
    # every event as the relay carried it: {"time", "direction" ("out" to the relay, "in"
    # from it), "event", "payload"}; the newest MAX_VIEW
    relay_view = Tuple()
    errors = Dict()

    def __init__(self, *, client_factory: Callable[..., Any] = RelayClient,
                 relay_locator: RelayLocator | None = None,
                 demo_peer_factory: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.time, share_steps: bool = True,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self._clock = clock
        self._share_steps = share_steps   # tell the room about our processing steps
        self._demo_peer_factory = demo_peer_factory
        self._lock = threading.RLock()
        self._link = Link(client_factory, relay_locator)
        self._private: Any = None         # our private key object: never leaves this object
        self._keys_dropped = False        # keys were dropped for a new curve: re-share new ones
        self._public_raw = b""
        self._pairs: dict[str, Pair] = {}
        self._outbox = Outbox()
        self._positions: dict[str, tuple[str, int]] = {}  # message id -> (peer, index)
        self._announced_curve = ""
        self._demo_peers: list[Any] = []

    # ------------------------------------------------------------------ actions

    def join(self, username: str, room: str, relay_url: str | None = None) -> None:
        """Join `room` as `username` through the relay (the locator says which).

        Returns at once; `connection` and `joined` change as it happens, and a refusal
        (name taken, relay unreachable) appears in `errors["join"]` and the log.
        """
        self._check_open("join")
        link = self._link
        try:
            cleaned = protocol.validate(protocol.JOIN, {"username": username, "roomId": room})
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
            self._set_error("join", "")
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
        key = crypto.generate_private_key(curve)
        try:
            trace = keygen_trace(key)
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
            if not pair.key:
                raise self._fail("chat", pair.channel.problem or
                                 f"no key for {pair.name} yet: share keys first")
            message_id = uuid.uuid4().hex
            sealed = pair.channel.seal(data, message_id=message_id)
            payload = sealed.payload
            message = ChatMessage(
                id=message_id, peer_id=pair.name, direction="out", plaintext=text,
                ciphertext=payload["encryptedMessage"], nonce=payload["iv"],
                tag=payload["tag"], associated_data=sealed.associated_data,
                time=self._clock(), status="sending",
                reason=LEGACY_NOTE if pair.legacy else "", legacy=pair.legacy)
            self._append_message(message)
            self._set_error("chat", "")
            self._step("Encrypted message", f"AES-256-GCM, {len(data)} bytes"
                       + (", seed format" if pair.legacy else f", seq {sealed.seq}"))
            self._outbox.add(Outgoing(message_id, pair.name, payload, pair.key,
                                      legacy=pair.legacy))
            if not pair.present or not self.joined:
                self._log("info", "me", f"{pair.name} is not reachable right now; the message "
                                        "goes out when both of us are back in the room")
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
            self._set_error("peers", "")
            self._log("success" if verified else "info", "me",
                      f"{pair.name} {'verified' if verified else 'no longer verified'}")
            self._publish_peers()

    def summon_demo_peer(self, name: str = "demo-peer") -> Any:
        """Bring a built-in peer into our room (same relay, same curve) on its own thread."""
        self._check_open("peers")
        with self._lock:
            if not self._link.want_join or not self.relay_url:
                raise self._fail("peers", "join a room first, then summon the demo peer")
            if self._demo_peer_factory is None:
                raise self._fail("peers", "this session has no demo peer (build it with "
                                          "ecc_widgets.app.local_session())")
            taken = set(self._pairs) | {self.username}
            taken |= {d.name for d in self._demo_peers}
            unique, n = name, 2
            while unique in taken:
                unique, n = f"{name}-{n}", n + 1
            demo = self._demo_peer_factory(self.room, relay_url=self.relay_url, name=unique,
                                           curve=self.curve, follow=self.username)
            self._demo_peers.append(demo)
            self._log("info", "me", f"summoned the demo peer {unique!r}")
        demo.start()
        return demo

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

    # ------------------------------------------------------------------ client callbacks

    def _on_state(self, state: str, problem: str) -> None:
        with self._lock:
            if self._link.closed:
                return
            self.connection = state
            if state != CONNECTED:
                self.my_id = ""
                if self.joined:
                    self.joined = False
                    for pair in self._pairs.values():
                        pair.present = False
                    self._publish_peers()
            if problem:
                self._log("error" if "unreachable" in problem else "warning", "relay", problem)
                if self._link.want_join:
                    self._set_error("join", problem)
            elif state == CONNECTED:
                self._log("info", "relay", f"connected to {self.relay_url}")

    def _on_client_error(self, text: str) -> None:
        with self._lock:
            self._log("error", "client", text)

    def _on_connect(self, sid: str) -> None:
        with self._lock:
            self.my_id = sid
            self._announced_curve = ""
            self._outbox.new_connection()
        self._send_join()

    def _send_join(self) -> None:
        with self._lock:
            if not self._link.want_join or self._link.client is None:
                return
            room, name = self.room, self.username
            self._emit(protocol.JOIN, self._link.join_payload(name, room),
                       callback=lambda ack: self._on_join_ack(ack, room, name))

    def _on_join_ack(self, ack: Any, room: str, name: str) -> None:
        with self._lock:
            link = self._link
            if (room, name) != (self.room, self.username) or not link.want_join:
                return
            if isinstance(ack, dict) and not ack.get("ok", True):
                reason = str(ack.get("error") or "refused")
                self._set_error("join", f"could not join {room!r} as {name!r}: {reason}")
                self._log("error", "relay", f"join refused: {reason}")
                if link.ever_joined and link.client is not None:
                    # After a network drop the relay may still hold our old socket (and
                    # name) until it times out: try again shortly.
                    link.later(REJOIN_DELAY, self._send_join)
                else:
                    link.want_join = False
                return
            link.joined(ack)
            self.joined = True
            self._outbox.joined()
            self._set_error("join", "")
            self._log("success", "relay", f"joined room {room!r} as {name!r}")
            self._announce_curve()
            if self._private is not None:
                self._emit(protocol.KEYS_GENERATED, {})
            for pair in self._pairs.values():
                if pair.present:
                    self._reshare(pair)
            self._flush()
            self._send_receipts()

    def _on_event(self, event: str, payload: Any) -> None:
        with self._lock:
            if self._link.closed:
                return
            self._view("in", event, payload)
            handler = self._HANDLERS.get(event)
            if handler is None:
                self._log("warning", "relay", f"unknown event {event!r} ignored")
                return
            try:
                cleaned = protocol.validate(event, payload)
            except protocol.ProtocolError as exc:
                self._log("warning", "relay", f"{MALFORMED} {event} ignored: {exc}")
                return
            handler(self, cleaned)

    # ------------------------------------------------------------------ relay events

    def _roster(self, payload: dict, *, left: str = "") -> None:
        users = {u["username"]: u["socketId"] for u in payload["usersInRoom"]
                 if u["socketId"] != self.my_id}
        users.pop(self.username, None)
        changed = arrived = False
        for name, sid in users.items():
            pair = self._pairs.get(name)
            if pair is None:
                pair = self._pairs[name] = self._new_pair(name)
            if not pair.present or pair.sid != sid:
                returning = bool(pair.sid) and pair.sid != sid
                pair.present, pair.sid = True, sid
                pair.shared_ours = b""  # the new socket has not been sent our key
                self._outbox.peer_moved(name)
                self._log("info", name, f"{name} {'is back in' if returning else 'joined'} "
                                        f"the room")
                if self.joined:
                    self._reshare(pair)
                changed = arrived = True
        for name, pair in self._pairs.items():
            if pair.present and name not in users:
                pair.present = False
                changed = True
                if name == left:
                    self._log("info", name, f"{name} left the room")
        if arrived and self.joined:
            # Newcomers missed our earlier announcements (the relay keeps no history).
            self._announced_curve = ""
            self._announce_curve()
            if self._private is not None:
                self._emit(protocol.KEYS_GENERATED, {})
        if changed:
            self._publish_peers()
            self._flush()
            self._send_receipts()

    def _on_user_joined(self, p: dict) -> None:
        self._roster(p)

    def _on_user_left(self, p: dict) -> None:
        self._roster(p, left=p["username"])

    def _on_peer_curve(self, p: dict) -> None:
        pair = self._pair_for(p["from"])
        if pair is None:
            return
        pair.announced_curve = p["curve"]
        self._log("info", pair.name, f"{pair.name} chose {p['curve']}")
        self._derive(pair)
        self._publish_peers()

    def _on_peer_keys(self, p: dict) -> None:
        pair = self._pair_for(p["from"])
        if pair is None:
            return
        pair.keys_generated = True
        self._log("info", pair.name, f"{pair.name} generated keys")
        self._publish_peers()

    def _on_public_key(self, p: dict) -> None:
        pair = self._pair_for(p["from"], p.get("fromSocketId"))
        if pair is None:
            return
        name = pair.name
        try:
            public = crypto.public_key_from_jwk(p["publicKey"])
            curve = crypto.curve_of(public)
            if "curve" in p and p["curve"] != curve:
                raise crypto.InvalidKeyError(f"the key is on {curve} but the share says "
                                             f"{p['curve']}")
        except (crypto.InvalidKeyError, ValueError, TypeError) as exc:
            self._set_error("peers", f"invalid key from {name}: {exc}")
            self._log("error", name, f"invalid key from {name} refused: {exc}")
            return
        raw = crypto.public_bytes(public)
        legacy = "v" not in p
        if legacy and pair.public_raw == raw and pair.public_key is not None and \
                not pair.legacy:
            # The same key, now without `v`: a relay stripping the field to push us into the
            # seed's weaker format. The key stays v1.
            legacy = False
            self._log("warning", name, f"{DOWNGRADE} refused: {name}'s known v1 key arrived "
                                       "without a version; staying on v1")
        if pair.public_raw and pair.public_raw != raw:
            pair.key_changed, pair.verified = True, False
            pair.channel.restart_replay()
            self._set_error("peers", f"{name}'s key changed: compare the new safety number")
            self._log("warning", name, f"{name}'s key CHANGED (new fingerprint "
                                       f"{crypto.fingerprint(raw)}); verify it again")
        elif not pair.public_raw:
            self._log("info", name, f"received {name}'s {curve} key, fingerprint "
                                    f"{crypto.fingerprint(raw)}")
        if legacy and not pair.legacy:
            self._log("warning", name, f"{name} speaks the seed protocol: {LEGACY_NOTE}")
        pair.public_key, pair.public_raw = public, raw
        pair.announced_curve = curve
        pair.public_jwk = dict(p["publicKey"])
        pair.channel.legacy = legacy
        pair.keys_generated = True
        self._derive(pair)
        if not p.get("isReply"):
            if self._private is not None:
                self._share(pair, is_reply=True)
            else:
                pair.wants_reply = True
                self._log("info", name, f"{name} sent their key: generate yours to answer")
        self._publish_peers()

    def _on_message(self, p: dict) -> None:
        pair = self._pair_for(p["from"], p.get("fromSocketId"))
        if pair is None:
            return
        verdict = pair.channel.open(p)
        if kind_of(p) == RECEIPT:  # receipts never enter the conversation
            if isinstance(verdict, Accepted):
                for message_id in self._outbox.confirmed(pair.name, verdict.receipt_ids):
                    # status "sent" too if the relay's acknowledgement was lost (not the message)
                    self._update_message(message_id, status="sent", verified=True)
            elif not isinstance(verdict, Duplicate):
                self._log("warning", pair.name,
                          f"receipt from {pair.name} ignored: {verdict.reason}")
            return
        message_id = p["id"] if isinstance(p.get("id"), str) else uuid.uuid4().hex
        if isinstance(verdict, Duplicate):
            self._log("info", pair.name, f"duplicate of message #{verdict.seq} from "
                                         f"{pair.name} dropped (re-sent after a reconnect)")
            self._confirm(pair, message_id)  # our first receipt may have been lost
            return
        message = ChatMessage(id=message_id, peer_id=pair.name, direction="in", plaintext="",
                              ciphertext=p["encryptedMessage"], nonce=p["iv"], tag=p["tag"],
                              associated_data=verdict.associated_data, time=self._clock(),
                              status="received", legacy="v" not in p)
        if not isinstance(verdict, Accepted):
            self._append_message(dataclasses.replace(message, status="rejected",
                                                     reason=verdict.reason))
            self._log("error", pair.name, f"message from {pair.name} rejected: "
                                          f"{verdict.reason}")
            self._step("Rejected message", f"from {pair.name}: {verdict.reason.split(':')[0]}",
                       log=False)
            return
        reason = LEGACY_NOTE if verdict.legacy else ""
        self._append_message(dataclasses.replace(message, plaintext=verdict.text,
                                                 reason=reason, verified=not reason))
        self._log("success", pair.name, f"message from {pair.name} decrypted"
                  + (" (legacy, unauthenticated context)" if reason else " and verified"))
        self._step("Decrypted message", f"from {pair.name}, AES-256-GCM, "
                   + ("seed format" if reason else "associated data verified"), log=False)
        if not verdict.legacy:
            self._confirm(pair, message_id)

    def _on_peer_step(self, p: dict) -> None:
        details = p.get("details")
        text = p["step"] + (f": {details}" if details not in (None, "", {}, []) else "")
        self._log("info", p["from"], text)

    def _on_relay_error(self, p: dict) -> None:
        event = str(p.get("event") or "")
        topic = REFUSED_TOPIC.get(event)
        if topic is not None:
            self._set_error(topic, f"relay: {p['error']}")
        self._log("error", "relay", f"{event or 'event'} refused: {p['error']}")

    def _on_relay_shutdown(self, p: dict) -> None:
        self._log("warning", "relay", "the relay is shutting down; reconnecting when it is "
                                      "back")

    _HANDLERS: dict[str, Callable[[Session, dict], None]] = {
        protocol.USER_JOINED: _on_user_joined,
        protocol.USER_LEFT: _on_user_left,
        protocol.PEER_CURVE_SELECTED: _on_peer_curve,
        protocol.PEER_KEYS_GENERATED: _on_peer_keys,
        protocol.RECEIVE_PUBLIC_KEY: _on_public_key,
        protocol.RECEIVE_MESSAGE: _on_message,
        protocol.PEER_PROCESSING_STEP: _on_peer_step,
        protocol.RELAY_ERROR: _on_relay_error,
        protocol.RELAY_SHUTDOWN: _on_relay_shutdown,
    }

    # ------------------------------------------------------------------ helpers (lock held)

    def _new_pair(self, name: str, sid: str = "") -> Pair:
        channel = Channel(room=self.room, me=self.username, peer=name)
        return Pair(name, channel, sid=sid, present=bool(sid))

    def _pair_for(self, name: str, sid: str | None = None) -> Pair | None:
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
        if agree(pair, private=self._private, public_raw=self._public_raw, curve=self.curve):
            self._step("Derived shared secret",
                       f"ECDH on {pair.channel.curve} with {pair.name}, "
                       + ("first 32 bytes (seed format)" if pair.legacy else "HKDF-SHA256"))

    def _rederive_all(self) -> None:
        for pair in self._pairs.values():
            self._derive(pair)
        self._publish_peers()

    def _share(self, pair: Pair, *, is_reply: bool) -> None:
        if self._private is None or not pair.sid:
            return
        payload = {"publicKey": dict(self.public_jwk), "targetSocketId": pair.sid,
                   "isReply": is_reply, "v": protocol.PROTOCOL_VERSION, "curve": self.curve}
        self._emit(protocol.SHARE_PUBLIC_KEY, payload)
        pair.shared_ours = self._public_raw
        self._log("info", "me", f"{'answered' if is_reply else 'shared'} my key "
                                f"{'to' if is_reply else 'with'} {pair.name}")

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
        return (pair.sid, pair.key) if pair is not None and pair.present else None

    def _flush(self) -> None:
        """Send every unconfirmed message whose peer is here, in order."""
        if not self.joined or self._link.client is None:
            return
        due, dropped = self._outbox.due(self._reach)
        for out, sid in due:
            self._emit(protocol.SEND_MESSAGE, {**out.payload, "targetSocketId": sid},
                       callback=lambda ack, mid=out.id, sid=sid: self._on_sent(mid, sid, ack))
        for out in dropped:
            self._update_message(out.id, status="rejected",
                                 reason="not sent: the keys changed before it could be "
                                        "delivered; send it again")

    def _on_sent(self, message_id: str, sid: str, ack: Any) -> None:
        with self._lock:
            out = self._outbox.get(message_id)
            if out is None:
                return
            pair = self._pairs.get(out.peer)
            moved = pair is not None and (not pair.present or pair.sid != sid)
            outcome, reason = self._outbox.acknowledged(message_id, ack, peer_moved=moved)
            if outcome == delivery.SENT:
                self._update_message(message_id, status="sent")
            elif outcome == delivery.REFUSED:
                self._update_message(message_id, status="rejected", reason=f"relay: {reason}")
                self._set_error("chat", f"the relay refused a message: {reason}")
                self._log("error", "relay", f"message refused: {reason}")

    def _confirm(self, pair: Pair, message_id: str) -> None:
        """Queue a receipt for a received message; receipts go out in small batches."""
        if pair.channel.queue_receipt(message_id):
            self._link.later(RECEIPT_DELAY, self._send_receipts)

    def _send_receipts(self) -> None:
        with self._lock:
            if not self.joined or self._link.client is None:
                return  # sent after the next join
            for pair in self._pairs.values():
                if not pair.present:
                    continue
                for sealed in pair.channel.seal_receipts():
                    self._emit(protocol.SEND_MESSAGE,
                               {**sealed.payload, "targetSocketId": pair.sid})

    def _emit(self, event: str, payload: dict, callback: Callable | None = None) -> None:
        client = self._link.client
        if client is None:
            return
        self._view("out", event, payload)
        client.emit(event, payload, callback=callback)

    def _step(self, step: str, details: str, *, log: bool = True) -> None:
        """Tell the room what we just did, as the seed's client did (never a secret)."""
        if log:
            self._log("info", "me", f"{step}: {details}")
        if self._share_steps and self.joined:
            self._emit(protocol.PROCESSING_STEP, {"step": step, "details": details})

    def _append_message(self, message: ChatMessage) -> None:
        current = self.conversations.get(message.peer_id, ())
        self._positions[message.id] = (message.peer_id, len(current))
        self.conversations = {**self.conversations, message.peer_id: (*current, message)}

    def _update_message(self, message_id: str, **changes: Any) -> None:
        where = self._positions.get(message_id)
        if where is None:
            return
        peer, index = where
        current = self.conversations.get(peer, ())
        if index >= len(current) or current[index].id != message_id:
            return
        updated = dataclasses.replace(current[index], **changes)
        self.conversations = {**self.conversations,
                              peer: (*current[:index], updated, *current[index + 1:])}

    def _publish_peers(self) -> None:
        peers = {name: peer_record(pair, curve=self.curve, public_raw=self._public_raw)
                 for name, pair in self._pairs.items() if pair.present}
        if peers != self.peers:
            self.peers = peers

    def _forget_room(self) -> None:
        self._pairs.clear()
        self._outbox.clear()
        self._positions.clear()
        self._announced_curve = ""
        self.joined = False
        self.peers = {}
        self.conversations = {}

    def _view(self, direction: str, event: str, payload: Any) -> None:
        entry = {"time": self._clock(), "direction": direction, "event": event,
                 "payload": payload}
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

    def _fail(self, topic: str, text: str) -> SessionError:
        with self._lock:
            self._set_error(topic, text)
            self._log("error", "me", text)
        return SessionError(text)

    def _check_open(self, topic: str) -> None:
        if self._link.closed:
            raise self._fail(topic, "this session was closed; create a new one")
