"""The outbox: sealed messages kept until the peer confirms them, re-sent after a reconnect.

The relay's acknowledgement only says it passed a message on (a relay going down can still
lose it); a v1 peer's receipt says it arrived. Legacy peers send no receipts, so for them
the relay's acknowledgement is the end of it.

Each join of a connection is a round: a message goes out at most once per round, and
again in the next one (or when its peer comes back on a new socket) until confirmed. No
I/O here: the model asks what is due and emits it.

A message is sealed in a key epoch (`Channel.epoch`: an id of the pair's keys, never the
key itself; a version that changes its key at every message keeps one epoch). A message
typed while the peer has no key (none yet, or it left and came back with a new one) waits
unsealed (`epoch` empty, `data` kept) and is sealed when the key comes (`to_seal`); so is
one sealed in an epoch the relay never passed on (the peer went away with its key).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SENT = "sent"          # the relay passed it on (first time)
RETRY = "retry"        # refused because the peer moved: re-sent when it is back
REFUSED = "refused"    # the relay refused it for good


@dataclass
class Outgoing:
    """A message the peer has not confirmed yet."""

    id: str
    peer: str
    payload: dict                     # without targetSocketId (the socket id changes)
    epoch: bytes                      # the key epoch it was sealed in (b"": not sealed yet)
    receipts: bool = True             # its version sends receipts (the seed's does not)
    data: bytes = b""                 # the plaintext, to seal (again) under a new key
    acked: bool = False               # the relay acknowledged it
    sent_to: str = ""                 # socket id it was last emitted to in this connection
    sent_in: int = -1                 # the round it was last emitted in


class Outbox:
    def __init__(self) -> None:
        self._items: OrderedDict[str, Outgoing] = OrderedDict()
        self.round = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, message_id: str) -> Outgoing | None:
        return self._items.get(message_id)

    def add(self, out: Outgoing) -> None:
        self._items[out.id] = out

    def clear(self) -> None:
        self._items.clear()

    def waiting(self) -> int:
        """How many messages wait for a key (not sealed yet)."""
        return sum(1 for out in self._items.values() if not out.epoch)

    def to_seal(self, epoch_of: Callable[[str], bytes]) -> list[Outgoing]:
        """The messages to seal now, in order: unsealed ones, and ones sealed in another
        epoch that the relay never passed on, whose peer has a key (`epoch_of(peer)`, b""
        for none). The caller seals each and calls `sealed`."""
        out_list = []
        for out in self._items.values():
            epoch = epoch_of(out.peer)
            if epoch and out.data and (not out.epoch or (out.epoch != epoch
                                                         and not out.acked)):
                out_list.append(out)
        return out_list

    @staticmethod
    def sealed(out: Outgoing, payload: dict, epoch: bytes, *, receipts: bool) -> None:
        out.payload, out.epoch, out.receipts, out.sent_in = payload, epoch, receipts, -1

    def joined(self) -> None:
        """A new join: everything unconfirmed is due again."""
        self.round += 1

    def new_connection(self) -> None:
        """Nothing is in flight on a new connection."""
        for out in self._items.values():
            out.sent_in = -1

    def peer_moved(self, peer: str) -> None:
        """`peer` is on a new socket: its messages are due again."""
        for out in self._items.values():
            if out.peer == peer:
                out.sent_in = -1

    def due(self, reach: Callable[[str], tuple[str, bytes] | None]
            ) -> tuple[list[tuple[Outgoing, str]], list[Outgoing]]:
        """What to send now, in order, as (message, socket id); and what was dropped.

        `reach(peer)` gives the peer's (socket id, current key epoch), or None when it is
        away. A message sealed in an epoch that is no longer the pair's is dropped (reported
        when the relay had not even acknowledged it).
        """
        send, stale = [], []
        for out in self._items.values():
            where = reach(out.peer)
            if where is None or out.sent_in == self.round or not out.epoch:
                continue
            sid, epoch = where
            if epoch != out.epoch:
                stale.append(out.id)
                continue
            out.sent_in, out.sent_to = self.round, sid
            send.append((out, sid))
        dropped = [out for out in (self._items.pop(i) for i in stale) if not out.acked]
        return send, dropped

    def acknowledged(self, message_id: str, ack: Any, *, peer_moved: bool) -> tuple[str, str]:
        """The relay's answer to an emitted message: (SENT | RETRY | REFUSED | "", reason)."""
        out = self._items.get(message_id)
        if out is None:
            return "", ""
        if ack is None or (isinstance(ack, dict) and ack.get("ok", True)):
            first, out.acked = not out.acked, True
            if not out.receipts:
                del self._items[message_id]  # no receipt will come
            return (SENT if first else ""), ""
        reason = str(ack.get("error") if isinstance(ack, dict) else ack)
        if peer_moved:
            out.sent_in = -1
            return RETRY, reason
        del self._items[message_id]
        return REFUSED, reason

    def confirmed(self, peer: str, ids: tuple[str, ...] | list[str]) -> list[str]:
        """The peer's receipt: the ids of ours it confirms are done."""
        done = []
        for message_id in ids:
            out = self._items.get(message_id)
            if out is not None and out.peer == peer:
                del self._items[message_id]
                done.append(message_id)
        return done
