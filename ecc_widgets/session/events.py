"""What the relay tells a session core: the client's news and the relay's events.

The core's inputs from the relay side (`connection_changed`, `connected`, `received`,
`client_error`); the adapter calls them on the client's thread, under its lock.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

from ecc_widgets import crypto, envelope, protocol
from ecc_widgets.client import CONNECTED
from ecc_widgets.envelope import LEGACY, RECEIPT, kind_of
from ecc_widgets.limits import TokenBucket
from ecc_widgets.session import inbound
from ecc_widgets.session.channel import Accepted, Duplicate
from ecc_widgets.session.classroom import on_teacher_notice
from ecc_widgets.session.effects import Emit
from ecc_widgets.session.link import REJOIN_DELAY
from ecc_widgets.session.pairs import Pair, forget_key
from ecc_widgets.session.records import (
    DOWNGRADE,
    LEGACY_NOTE,
    MALFORMED,
    MESSAGE_BURST,
    MESSAGES_PER_SECOND,
    ChatMessage,
    wire_fields,
)
from ecc_widgets.session.shortcode import ShortCodes
from ecc_widgets.session.state import displayable, peer_name
from ecc_widgets.text import safe_text

MAX_SHOWN = 160             # characters of a peer's words (a step, a reason) in the log
REJECTION_STEP_EVERY = 1.0  # seconds between "Rejected message" steps told to the room
ANSWER_AGAIN_AFTER = 1.0    # seconds before answering again a peer that has our key
MUTED_NOTICE_EVERY = 1.0    # seconds between updates of a muted peer's count
ROSTER_PUBLISHES_PER_SECOND = 4.0   # `peers` after roster changes, at most (then coalesced)
ANNOUNCEMENTS_PER_SECOND = 1.0      # our curve and keys told again to newcomers, at most

# Which topic a relay refusal belongs to, by the event it refused.
REFUSED_TOPIC = {protocol.JOIN: "join", protocol.CURVE_SELECTED: "curve",
                 protocol.KEYS_GENERATED: "keys", protocol.SHARE_PUBLIC_KEY: "peers",
                 protocol.SEND_MESSAGE: "chat"}


class RelayEvents(ShortCodes):
    """The session's reactions to its relay client and to the room."""

    # ------------------------------------------------------------------ the client's news

    def connection_changed(self, state: str, problem: str) -> None:
        if self.closed:
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
            if self._member.want_join:
                self._set_error("join", problem)
        elif state == CONNECTED:
            self._log("info", "relay", f"connected to {self.relay_url}")

    def client_error(self, text: str) -> None:
        self._log("error", "client", text)

    def connected(self, sid: str) -> None:
        self.my_id = sid
        self._announced_curve = ""
        self._outbox.new_connection()
        self.send_join()

    def send_join(self) -> None:
        if not self._member.want_join or not self.attached:
            return
        room, name = self.room, self.username
        self._emit(protocol.JOIN, self._member.join_payload(name, room),
                   callback=lambda ack: self._on_join_ack(ack, room, name))

    def _on_join_ack(self, ack: Any, room: str, name: str) -> None:
        link = self._member
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
            if link.ever_joined and self.attached:
                # After a network drop the relay may still hold our old socket (and
                # name) until it times out: try again shortly.
                self._rejoin_later()
            else:
                link.want_join = False
            return
        link.joined(ack)
        self._count_hidden(ack.get("hiddenInRoom") if isinstance(ack, dict) else None)
        for token in self.invites if self.attached else ():
            # the relay voided our invite tokens when our old socket went: register them
            # again, so that our demo peers, rejoining, are let in (not in `relay_view`)
            self._effects.append(Emit(protocol.INVITE, {"inviteToken": token}, shown=False))
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

    def _rejoin_later(self) -> None:
        """Ask for the room again after REJOIN_DELAY; replaces a re-join already pending."""
        self._member.rejoin += 1
        asked = self._member.rejoin

        def rejoin() -> None:
            if asked == self._member.rejoin:
                self.send_join()

        self._later(REJOIN_DELAY, rejoin)

    def received(self, event: str, payload: Any) -> None:
        """One event from the relay, as it came: checked, then handled."""
        if self.closed:
            return
        self._view("in", event, payload)
        if event not in inbound.EVENTS:
            self._log("warning", "relay", f"unknown event {event!r} ignored")
            return
        try:
            news = inbound.read(event, payload)
        except protocol.ProtocolError as exc:
            self._log("warning", "relay", f"{MALFORMED} {event} ignored: {exc}")
            return
        self._HANDLERS[type(news)](self, news)

    # ------------------------------------------------------------------ relay events

    def _roster(self, change: inbound.RosterChange, *, left: str = "") -> None:
        users = {peer_name(username): sid for sid, username in change.users
                 if sid != self.my_id}
        users.pop(self.username, None)
        changed = arrived = False
        for name, sid in users.items():
            pair = self._pairs.get(name)
            if pair is None:
                pair = self._pairs[name] = self._new_pair(name)
            if not pair.present or pair.sid != sid:
                returning = bool(pair.sid) and pair.sid != sid
                if pair.present:
                    # Here on another socket without leaving first (a reload whose old
                    # socket the relay handed over): a new visit, maybe with a new key.
                    forget_key(pair)
                pair.present, pair.sid = True, sid
                self._depart(name, False)
                pair.shared_ours = b""  # the new socket has not been sent our key
                self._outbox.peer_moved(name)
                self._roster_log(name, f"{name} {'is back in' if returning else 'joined'} "
                                       "the room")
                if self.joined:
                    self._reshare(pair)
                changed = arrived = True
        for name, pair in self._pairs.items():
            if pair.present and name not in users:
                # Gone while we are here: so is their key (a reload brings a new one).
                pair.present = False
                forget_key(pair)
                self._depart(name, True)
                changed = True
                if name == left:
                    self._roster_log(name, f"{name} left the room")
        self._drop_gone_pairs()
        if arrived and self.joined:
            # Newcomers missed our earlier announcements (the relay keeps no history).
            self._soon("announce", ANNOUNCEMENTS_PER_SECOND, self._announce_to_newcomers)
        if changed:
            # A churning room is a few publications a second, not one per join or leave.
            self._soon("roster", ROSTER_PUBLISHES_PER_SECOND, self._publish_peers)
            self._flush()

    def _announce_to_newcomers(self) -> None:
        if not self.joined:
            return
        self._announced_curve = ""
        self._announce_curve()
        if self._private is not None:
            self._emit(protocol.KEYS_GENERATED, {})

    def _roster_log(self, name: str, text: str) -> None:
        """Say who came and went; in a churning room, a few a second and how many more."""
        if not self._roster_log_budget.take(self._clock()):
            self._roster_unlisted += 1
            return
        if self._roster_unlisted:
            text += (f" (and {self._roster_unlisted} more arrivals and departures not "
                     "listed: a busy room)")
            self._roster_unlisted = 0
        self._log("info", name, text)

    def _on_roster(self, change: inbound.RosterChange) -> None:
        self._count_hidden(change.hidden)
        self._roster(change, left=peer_name(change.username) if change.left else "")

    def _count_hidden(self, hidden: Any) -> None:
        if type(hidden) is int and 0 <= hidden <= 1_000_000 and hidden != self.hidden_in_room:
            self.hidden_in_room = hidden

    def _on_peer_curve(self, news: inbound.PeerCurve) -> None:
        pair = self._pair_for(news.sender)
        if pair is None:
            return
        pair.announced_curve = safe_text(news.curve, protocol.MAX_CURVE_NAME)
        self._log("info", pair.name, f"{pair.name} chose {pair.announced_curve}")
        self._derive(pair)
        self._publish_peers()

    def _on_peer_keys(self, news: inbound.PeerKeys) -> None:
        pair = self._pair_for(news.sender)
        if pair is None:
            return
        pair.keys_generated = True
        self._log("info", pair.name, f"{pair.name} generated keys")
        if self._private is not None and pair.present and pair.sid \
                and pair.shared_ours != self._public_raw \
                and self._share_budget.take(self._clock()):
            # The seed's automatic exchange: they have keys and not ours (a newcomer, or one
            # back from a reload): give ours, they answer with theirs.
            self._share(pair, is_reply=False)
        self._publish_peers()

    def _on_public_key(self, share: inbound.KeyShare) -> None:
        pair = self._pair_for(share.sender, share.socket_id)
        if pair is None:
            return
        name = pair.name
        try:
            public = crypto.public_key_from_jwk(share.public_jwk)
            curve = crypto.curve_of(public)
            if share.says_curve and share.curve != curve:
                raise crypto.InvalidKeyError(f"the key is on {curve} but the share says "
                                             f"{share.curve}")
        except (crypto.InvalidKeyError, ValueError, TypeError) as exc:
            problem = safe_text(str(exc), MAX_SHOWN)
            self._set_error("peers", f"invalid key from {name}: {problem}")
            self._log("error", name, f"invalid key from {name} refused: {problem}")
            return
        raw = crypto.public_bytes(public)
        offered = envelope.version_of(share.share)   # None: a version we do not know
        legacy = offered is LEGACY
        # What we knew of this name's key, in this visit or an earlier one (a re-join).
        known = self._known_key(name)
        previous = pair.public_raw or (known.public_raw if known is not None else b"")
        if legacy and known is not None and known.public_raw == raw and known.v1:
            # The same key, now without `v`: a relay stripping the field to push us into the
            # seed's weaker format. The key stays v1.
            legacy = False
            self._log("warning", name, f"{DOWNGRADE} refused: {name}'s known v1 key arrived "
                                       "without a version; staying on v1")
        if known is not None and known.public_raw == raw and offered is not None \
                and offered.rank < known.rank:
            # The same key offering less than it did (the ratchet, now static v1): a relay
            # rewriting `v`. Our clients offer one version per key; we stay on the higher.
            was = next(v for v in envelope.VERSIONS.values() if v.rank == known.rank)
            self._log("warning", name, f"{DOWNGRADE} refused: {name}'s known key offered "
                                       f"{was.name} and now {offered.name}; staying on "
                                       f"{was.name}")
            offered, legacy = was, False
        if previous and previous != raw:
            pair.key_changed, pair.verified = True, False
            self._set_error("peers", f"{name}'s key changed: compare the new safety number")
            self._log("warning", name, f"{name}'s key CHANGED (new fingerprint "
                                       f"{crypto.fingerprint(raw)}); verify it again")
        elif not pair.public_raw:
            if known is not None:  # the key we knew before a re-join: so is its verification
                pair.verified = known.verified
            self._log("info", name, f"received {name}'s {curve} key, fingerprint "
                                    f"{crypto.fingerprint(raw)}")
        if legacy and not pair.offers_legacy:
            self._log("warning", name, f"{name} offers only the seed protocol: {LEGACY_NOTE}. "
                                       "Nothing is sent or accepted until you allow legacy "
                                       f"with {name}")
        elif not legacy and pair.offers_legacy:
            pair.legacy_allowed = False  # back on v1: a later legacy offer asks again
        pair.public_key, pair.public_raw = public, raw
        pair.announced_curve = curve
        pair.public_jwk = displayable(share.public_jwk)
        pair.offers_legacy = legacy
        pair.offered = offered
        pair.keys_generated = True
        pair.rejoining = False
        self._remember_key(pair, v1=not legacy,
                           rank=offered.rank if offered is not None else 0)
        self._derive(pair)
        if not share.is_reply:
            if self._private is None:
                pair.wants_reply = True
                self._log("info", name, f"{name} sent their key: generate yours to answer")
            elif pair.shared_ours != self._public_raw or \
                    self._clock() - pair.answered_at >= ANSWER_AGAIN_AFTER:
                # They may lack our key: answer. One who has it already gets an answer at
                # most once a second, so a stream of key shares is not a stream of ours.
                pair.answered_at = self._clock()
                self._share(pair, is_reply=True)
            else:
                self._log("info", name, f"{name} sent their key again; they have ours")
        self._publish_peers()
        self._flush()  # what waited for their key goes out now

    def _on_message(self, news: inbound.Message) -> None:
        pair = self._pair_for(news.sender, news.socket_id)
        if pair is None:
            return
        p = news.payload
        try:
            env: envelope.Envelope | None = envelope.parse(p)   # base64 decoded here, once
        except envelope.EnvelopeError:
            env = None   # the channel says why; the conversation shows what came
        kind = env.kind if env is not None else kind_of(p)
        if kind in protocol.SAS_KINDS:   # the short code's exchange (shortcode.py)
            self._on_sas(pair, kind, env or p)
            return
        verdict = pair.channel.open(env or p)
        if kind == RECEIPT:  # receipts never enter the conversation
            if isinstance(verdict, Accepted):
                for message_id in self._outbox.confirmed(pair.name, verdict.receipt_ids):
                    # status "sent" too if the relay's acknowledgement was lost (not the message)
                    self._update_message(message_id, status="sent", authenticated=True,
                                         verified=pair.verified)
            elif not isinstance(verdict, Duplicate):
                self._rejected(pair, "receipt", verdict.reason)
            return
        message_id = (env.message_id if env is not None else None) or uuid.uuid4().hex
        if isinstance(verdict, Duplicate):
            self._log("info", pair.name, f"duplicate of message #{verdict.seq} from "
                                         f"{pair.name} dropped (re-sent after a reconnect)")
            self._confirm(pair, message_id)  # our first receipt may have been lost
            return
        version = env.version if env is not None else envelope.version_of(p)
        message = ChatMessage(id=message_id, peer_id=pair.name, direction="in", plaintext="",
                              associated_data=verdict.associated_data, time=self._clock(),
                              status="received", legacy=version is LEGACY,
                              ad_bytes=len(verdict.associated_data.encode()),
                              **wire_fields(p, env))
        if not isinstance(verdict, Accepted):
            reason = safe_text(verdict.reason, MAX_SHOWN)
            self._append_message(dataclasses.replace(message, status="rejected",
                                                     reason=reason))
            self._rejected(pair, "message", reason)
            return
        if pair.inflow is None:
            pair.inflow = TokenBucket(MESSAGES_PER_SECOND, MESSAGE_BURST)
        if not pair.inflow.take(self._clock()):
            self._muted(pair)  # authentic, but faster than anyone types: not kept
            return
        reason = LEGACY_NOTE if verdict.legacy else verdict.note
        # authenticated: what the cryptography proved (for a legacy message, only that it
        # was sealed under the pair's key); verified: and the key is the one the user checked
        self._append_message(dataclasses.replace(
            message, plaintext=verdict.text, reason=reason, authenticated=True,
            verified=pair.verified, plaintext_bytes=verdict.plaintext_bytes,
            open_ms=verdict.open_ms))
        if verdict.note:
            self._log("warning", pair.name, f"message from {pair.name}: {verdict.note}")
        self._log("success", pair.name, f"message from {pair.name} decrypted"
                  + (" (legacy, unauthenticated context)" if reason else " and authenticated")
                  + (", key verified" if pair.verified else ""))
        self._step("Decrypted message", f"from {pair.name}, AES-256-GCM, "
                   + ("seed format" if reason else "associated data verified"), log=False)
        if env is not None and env.version.receipts:   # the seed's format has none
            self._confirm(pair, message_id)

    def _muted(self, pair: Pair) -> None:
        """Count a message muted for its rate; say so at most once a second per peer (the
        card and the chat show the count)."""
        pair.muted += 1
        now = self._clock()
        if now - pair.muted_at >= MUTED_NOTICE_EVERY:
            if pair.muted_at == float("-inf"):
                self._log("warning", pair.name, f"{pair.name} sends faster than anyone types: "
                                                "their messages beyond "
                                                f"{MESSAGES_PER_SECOND:g} a second are muted "
                                                "(counted, not kept nor shown)")
            pair.muted_at = now
            self._publish_peer(pair)
        elif not pair.muted_later:  # the count after the last notice is published too
            pair.muted_later = True

            def publish(name: str = pair.name) -> None:
                current = self._pairs.get(name)
                if current is not None:
                    current.muted_later = False
                    self._publish_peer(current)

            self._later(MUTED_NOTICE_EVERY, publish)

    def _rejected(self, pair: Pair, what: str, reason: str) -> None:
        """Count a refused message or receipt and say so; the room hears of it at most once
        a second per peer, so a flood of junk does not become a flood of our own events."""
        pair.rejected += 1
        self._log("error" if what == "message" else "warning", pair.name,
                  f"{what} from {pair.name} rejected: {reason}")
        now = self._clock()
        if now - pair.rejected_step_at >= REJECTION_STEP_EVERY:
            pair.rejected_step_at = now
            self._step("Rejected message", f"from {pair.name}: {reason.split(':')[0]}",
                       log=False)
        self._publish_peer(pair)

    def _on_peer_step(self, news: inbound.PeerStep) -> None:
        details = news.details
        text = news.step + (f": {details}" if details not in (None, "", {}, []) else "")
        self._log("info", peer_name(news.sender), safe_text(text, MAX_SHOWN))

    def _on_relay_error(self, news: inbound.RelayError) -> None:
        event = safe_text(news.event, MAX_SHOWN)
        error = safe_text(news.error, MAX_SHOWN)
        topic = REFUSED_TOPIC.get(event)
        if topic is not None:
            self._set_error(topic, f"relay: {error}")
        self._log("error", "relay", f"{event or 'event'} refused: {error}")

    def _on_relay_shutdown(self, news: inbound.RelayShutdown) -> None:
        self._log("warning", "relay", "the relay is shutting down; reconnecting when it is "
                                      "back")

    _HANDLERS: dict[type, Callable[[RelayEvents, Any], None]] = {
        inbound.RosterChange: _on_roster,
        inbound.PeerCurve: _on_peer_curve,
        inbound.PeerKeys: _on_peer_keys,
        inbound.KeyShare: _on_public_key,
        inbound.Message: _on_message,
        inbound.PeerStep: _on_peer_step,
        inbound.RelayError: _on_relay_error,
        inbound.RelayShutdown: _on_relay_shutdown,
        inbound.TeacherNotice: on_teacher_notice,
    }
