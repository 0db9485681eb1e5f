"""Reading a session model the way a user reads the chat."""

from __future__ import annotations

from ecc_widgets.session import Session


def texts(session: Session, peer: str, direction: str) -> list[str]:
    """The plaintexts exchanged with `peer` in one direction ("in" or "out"), rejected ones
    left out."""
    return [m.plaintext for m in session.conversations.get(peer, ())
            if m.direction == direction and m.status != "rejected"]
