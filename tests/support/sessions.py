"""Reading a session model the way a user reads the chat, and a raw peer to talk to it."""

from __future__ import annotations

from typing import Any

import socketio

from ecc_widgets import crypto, protocol
from ecc_widgets.session import Session
from tests.support.polling import wait_until


def texts(session: Session, peer: str, direction: str) -> list[str]:
    """The plaintexts exchanged with `peer` in one direction ("in" or "out"), rejected ones
    left out."""
    return [m.plaintext for m in session.conversations.get(peer, ())
            if m.direction == direction and m.status != "rejected"]


class RawPeer:
    """A plain python-socketio client that records what it receives."""

    def __init__(self, url: str, name: str, room: str):
        self.name = name
        self.events: list[tuple[str, dict]] = []
        self.sio = socketio.Client(reconnection=False, handle_sigint=False)
        self.sio.on("*", lambda event, data=None: self.events.append((event, data)))
        self.sio.connect(url, wait_timeout=5)
        ack = self.sio.call(protocol.JOIN, {"username": name, "roomId": room}, timeout=5)
        assert ack["ok"], ack
        self.sid = ack["socketId"]

    def received(self, event: str) -> list[dict]:
        return [data for name, data in self.events if name == event]

    def emit(self, event: str, payload: dict) -> dict:
        return self.sio.call(event, payload, timeout=5)

    def close(self) -> None:
        self.sio.disconnect()


def codes_ready(a: Session, b: Session) -> bool:
    """Both sides' short codes for each other are out of their exchange (done or failed)."""
    peer_a, peer_b = a.peers.get(b.username), b.peers.get(a.username)
    return (peer_a is not None and peer_b is not None
            and {peer_a.sas_status, peer_b.sas_status} <= {"done", "failed"})


def pair_up(a: Session, b: Session, url: str, room: str) -> None:
    """`a` as alice and `b` as bob join `room`, make keys and exchange them; returns once
    the pair is secure on both sides and both short codes are out of their exchange."""
    a.join("alice", room, url)
    b.join("bob", room, url)
    wait_until(lambda: "bob" in a.peers and "alice" in b.peers, what="the roster")
    a.generate_keys()
    b.generate_keys()
    a.share_key("bob")
    wait_until(lambda: "secure" in a.peers["bob"].statuses
               and "secure" in b.peers["alice"].statuses, what="a secure pair")
    wait_until(lambda: codes_ready(a, b), what="both short codes")


def legacy_pair(session: Session, seed: RawPeer) -> Any:
    """`seed` shares a P-256 key the seed's way (no version) with `session`, which allows
    the seed's protocol with it; returns the seed's private key."""
    key = crypto.generate_private_key("P-256")
    seed.emit(protocol.SHARE_PUBLIC_KEY, {"publicKey": crypto.public_key_to_jwk(key),
                                          "targetSocketId": session.my_id, "isReply": False})
    wait_until(lambda: "legacy offered" in getattr(session.peers.get(seed.name), "statuses",
                                                   ()), what="the legacy offer")
    session.allow_legacy(seed.name)
    return key
