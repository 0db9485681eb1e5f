"""A built-in peer, so that one student alone can walk through the whole exchange.

It is an ordinary `Session` (its own relay client, on its own thread) driven by observers:
it joins the room, takes the curve of the person who summoned it (and follows it when that
person changes curve), generates keys, answers key shares (the session does that for any
peer), and replies to each message by echoing what it decrypted together with the ciphertext,
nonce and tag it received, so the student can compare both ends.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ecc_widgets import crypto
from ecc_widgets.protocol import DEMO_PEER_NAME
from ecc_widgets.session import DEFAULT_CURVE, Session, SessionError


class DemoPeer:
    """A peer that lives in this Python process; `close()` takes it out of the room."""

    def __init__(self, room: str, *, relay_url: str, name: str = DEMO_PEER_NAME,
                 curve: str = DEFAULT_CURVE, follow: str | None = None,
                 invite_token: str | None = None):
        self.name = name
        self.room = room
        self.relay_url = relay_url
        self.follow = follow           # who summoned it: it is seen by, and follows, them
        self.invite_token = invite_token   # what `follow` registered with the relay
        self.session = Session()
        self._curve = curve
        self._answered: set[str] = set()
        self._started = False

    def start(self) -> DemoPeer:
        if self._started:
            return self
        self._started = True
        s = self.session
        s.observe(self._on_joined, names="joined")
        s.observe(self._on_peers, names="peers")
        s.observe(self._on_conversations, names="conversations")
        s.select_curve(self._curve)
        # Seen by (and talking with) the one who summoned it, not by the whole class: the
        # relay lets it in so only with the token the summoner registered.
        s.join(self.name, self.room, self.relay_url, visible_to=self.follow or None,
               invite_token=self.invite_token)
        return self

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> DemoPeer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- behaviour (observers run on the demo session's client thread) -----------------------

    def _on_joined(self, change: dict) -> None:
        if change["new"] and self.session.keygen is None:
            self._keys_on(self.session.curve)

    def _on_peers(self, change: dict) -> None:
        for peer in change["new"].values():
            if self.follow and peer.name != self.follow:
                continue
            if peer.curve and peer.curve != self.session.curve and \
                    peer.curve in crypto.SUPPORTED_CURVES:
                self._keys_on(peer.curve)
                return

    def _keys_on(self, curve: str) -> None:
        try:
            self.session.select_curve(curve)
            self.session.generate_keys()
        except SessionError:
            pass  # already in the demo session's log and errors

    def _on_conversations(self, change: dict) -> None:
        for peer_id, messages in change["new"].items():
            for message in messages:
                if message.direction != "in" or message.id in self._answered:
                    continue
                self._answered.add(message.id)
                self._reply(peer_id, message)

    def _reply(self, peer_id: str, message: Any) -> None:
        if message.status == "rejected":
            text = f"I could not accept your message: {message.reason}"
        else:
            wire = message.ciphertext
            if len(wire) > 96:
                wire = f"{wire[:48]}...{wire[-16:]} ({len(wire)} characters)"
            said = message.plaintext if len(message.plaintext) <= 2000 else \
                message.plaintext[:2000] + "..."
            text = (f"You said: {said!r}. On the wire it was ciphertext {wire}, "
                    f"nonce {message.nonce}, tag {message.tag}.")
        with contextlib.suppress(SessionError):  # already in the demo session's log
            self.session.send(peer_id, text)
