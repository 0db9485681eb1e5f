"""The short code's exchange with each peer (`ecc_widgets.sas`), on top of the key share.

Once both sides hold a v1 key, the committer sends its commitment, the revealer its nonce,
the committer its own; each is a v1 message of its own kind, sealed under the pair's message
key with the kind in the associated data and sequence number 0: outside the chat's counter
(so it never makes a chat message look reordered), never shown in the conversation, no
receipt. A replay is harmless: each step answers the same thing again (at most once a
second), and a message from an earlier key does not open. The code is published only when
the exchange is done. A reconnect re-sends what the peer may still need of the same
exchange; only a new key pair starts a new one (`sas.Exchanges` keeps them for the
session's life).
"""

from __future__ import annotations

import uuid

from ecc_widgets import envelope, protocol, sas
from ecc_widgets.session.pairs import Pair
from ecc_widgets.session.records import NO_KEY
from ecc_widgets.session.state import SessionState

ANSWER_AGAIN_AFTER = 1.0  # seconds before answering the same step again


class ShortCodes(SessionState):
    """Sending and taking the short code's messages (lock held)."""

    def _sas_go(self, pair: Pair, *, again: bool = False) -> None:
        """Start the exchange with `pair` when both sides can take part; with `again`, send
        what the peer may still need (after a reconnect, or when it shared its key again)."""
        exchange = pair.exchange
        if exchange is None or not pair.channel.version.short_code \
                or pair.shared_ours != self._public_raw:
            return  # no v1 key, or the peer does not have our key yet
        if not (self.joined and pair.present and pair.sid and pair.key):
            return  # later: joining or the peer's return calls this again
        started = exchange.started
        out = exchange.start()
        if again and started:
            out = exchange.pending()
        if not started and exchange.started:
            self._log("info", pair.name, f"short code with {pair.name}: "
                      + ("committing to our nonce" if exchange.committer else
                         f"waiting for {pair.name}'s commitment"))
        self._sas_send(pair, out)

    def _sas_send(self, pair: Pair, messages: list[sas.Message]) -> None:
        if not (messages and self.joined and pair.present and pair.sid and pair.key):
            return
        for kind, body in messages:
            payload = sas.seal(pair.key, kind, body, room=pair.channel.room,
                               sender=pair.channel.me, receiver=pair.name,
                               curve=pair.channel.curve, message_id=uuid.uuid4().hex)
            self._emit(protocol.SEND_MESSAGE, {**payload, "targetSocketId": pair.sid})

    def _on_sas(self, pair: Pair, kind: str, p: dict | envelope.Envelope) -> None:
        """One short-code message from `pair`."""
        exchange = pair.exchange
        if exchange is None or not pair.key:
            self._rejected(pair, kind, f"{NO_KEY}: no v1 key with {pair.name} for a {kind}")
            return
        try:
            _kind, body = sas.open_sealed(pair.key, p, room=pair.channel.room,
                                          sender=pair.name, receiver=pair.channel.me,
                                          curve=pair.channel.curve)
        except ValueError as exc:
            try:
                env = p if isinstance(p, envelope.Envelope) else envelope.parse(p)
            except envelope.EnvelopeError:
                env = None
            if env is not None and pair.channel.sealed_under_previous(env):
                # a step of the exchange under the key just replaced: that exchange is over
                self._log("info", pair.name, f"{kind} from {pair.name} under the previous "
                                             "key dropped (the keys changed since)")
                return
            self._rejected(pair, kind, str(exc))
            return
        state, problem = exchange.state, exchange.problem
        out = exchange.receive(kind, body)
        if out and exchange.repeated:
            # the same step again (a re-send, or a replay): answered at most once a second
            now = self._clock()
            if now - pair.sas_answered_at < ANSWER_AGAIN_AFTER:
                return
            pair.sas_answered_at = now
        self._sas_send(pair, out)
        if exchange.problem and exchange.problem != problem:
            level = "error" if exchange.state == sas.FAILED else "warning"
            self._log(level, pair.name, f"short code with {pair.name}: {exchange.problem}")
        if exchange.state == sas.DONE and state != sas.DONE:
            self._log("success", pair.name, f"short code with {pair.name} ready: compare all "
                                            "of it with theirs")
        if (exchange.state, exchange.problem) != (state, problem):
            self._publish_peer(pair)
