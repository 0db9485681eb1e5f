"""The short code's exchange with each peer (`ecc_widgets.sas`), on top of the key share.

Once both sides hold a v1 key, the committer sends its commitment, the revealer its nonce,
the committer its own; each is a v1 message of its own kind (sealed like a chat message,
never shown in the conversation, no receipt). The code is published only when the exchange
is done. A reconnect re-sends what the peer may still need of the same exchange; only a new
key pair starts a new one (`sas.Exchanges` keeps them for the session's life).
"""

from __future__ import annotations

import json
import uuid

from ecc_widgets import protocol, sas
from ecc_widgets.session.channel import Accepted, Duplicate, Verdict
from ecc_widgets.session.pairs import Pair
from ecc_widgets.session.records import MALFORMED
from ecc_widgets.session.state import SessionState


class ShortCodes(SessionState):
    """Sending and taking the short code's messages (lock held)."""

    def _sas_go(self, pair: Pair, *, again: bool = False) -> None:
        """Start the exchange with `pair` when both sides can take part; with `again`, send
        what the peer may still need (after a reconnect, or when it shared its key again)."""
        exchange = pair.exchange
        if exchange is None or pair.legacy or pair.shared_ours != self._public_raw:
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
            sealed = pair.channel.seal(json.dumps(body, separators=(",", ":")).encode(),
                                       message_id=uuid.uuid4().hex, kind=kind)
            self._emit(protocol.SEND_MESSAGE, {**sealed.payload, "targetSocketId": pair.sid})

    def _on_sas(self, pair: Pair, kind: str, verdict: Verdict) -> None:
        """One short-code message from `pair`, opened (or refused) by its channel."""
        if isinstance(verdict, Duplicate):
            return
        if not isinstance(verdict, Accepted):
            self._rejected(pair, kind, verdict.reason)
            return
        exchange = pair.exchange
        if exchange is None:
            self._log("warning", pair.name, f"{kind} from {pair.name} ignored: no v1 key")
            return
        try:
            body = protocol.validate_sas(kind, verdict.text.encode())
        except protocol.ProtocolError as exc:
            self._rejected(pair, kind, f"{MALFORMED}: {exc}")
            return
        state, problem = exchange.state, exchange.problem
        self._sas_send(pair, exchange.receive(kind, body))
        if exchange.problem and exchange.problem != problem:
            level = "error" if exchange.state == sas.FAILED else "warning"
            self._log(level, pair.name, f"short code with {pair.name}: {exchange.problem}")
        if exchange.state == sas.DONE and state != sas.DONE:
            self._log("success", pair.name, f"short code with {pair.name} ready: compare all "
                                            "of it with theirs")
        if (exchange.state, exchange.problem) != (state, problem):
            self._publish_peer(pair)
