"""What the relay tells a session: the client's callbacks and the relay's events.

Everything here runs on the client's thread, under the session's lock.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

from ecc_widgets import crypto, protocol
from ecc_widgets.client import CONNECTED
from ecc_widgets.session.channel import RECEIPT, Accepted, Duplicate, kind_of
from ecc_widgets.session.records import DOWNGRADE, LEGACY_NOTE, MALFORMED, ChatMessage
from ecc_widgets.session.state import SessionState

# Which topic a relay refusal belongs to, by the event it refused.
REFUSED_TOPIC = {protocol.JOIN: "join", protocol.CURVE_SELECTED: "curve",
                 protocol.KEYS_GENERATED: "keys", protocol.SHARE_PUBLIC_KEY: "peers",
                 protocol.SEND_MESSAGE: "chat"}


class RelayEvents(SessionState):
    """The session's reactions to its relay client and to the room."""

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
            if (room, name) != (self.room, self.username):
                return
            if not link.want_join:
                if not (isinstance(ack, dict) and not ack.get("ok", True)):
                    # We left while the join was on its way: the relay let us in, so leave.
                    self._emit(protocol.LEAVE, {})
                return
            if isinstance(ack, dict) and not ack.get("ok", True):
                reason = str(ack.get("error") or "refused")
                self._set_error("join", f"could not join {room!r} as {name!r}: {reason}")
                self._log("error", "relay", f"join refused: {reason}")
                if link.ever_joined and link.client is not None:
                    # After a network drop the relay may still hold our old socket (and
                    # name) until it times out: try again shortly.
                    link.rejoin_later(self._send_join)
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

    _HANDLERS: dict[str, Callable[[RelayEvents, dict], None]] = {
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

