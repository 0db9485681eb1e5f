"""What the relay tells a session, typed: one record per server event, read from a
payload `protocol.validate` passed, so the core's handlers read fields, not dicts.

Names and strings are as the relay sent them (checked to be text); the handlers decide
how to show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecc_widgets import protocol


@dataclass(frozen=True)
class RosterChange:
    """``user-joined`` / ``user-left``: who, and everyone in the room now."""

    username: str
    socket_id: str
    users: tuple[tuple[str, str], ...]     # (socket id, username) of every member
    hidden: int | None = None              # members only their summoners see
    left: bool = False


@dataclass(frozen=True)
class PeerCurve:
    sender: str
    socket_id: str
    curve: str


@dataclass(frozen=True)
class PeerKeys:
    sender: str
    socket_id: str


@dataclass(frozen=True)
class KeyShare:
    """``receive-public-key``; `share` is the whole payload (its version, the envelope's
    to read)."""

    sender: str
    socket_id: str
    public_jwk: dict
    says_curve: bool                       # the share names a curve (`curve`)
    curve: Any
    is_reply: bool
    share: dict


@dataclass(frozen=True)
class Message:
    """``receive-message``; `payload` is the sealed message (the envelope's to read)."""

    sender: str
    socket_id: str
    payload: dict


@dataclass(frozen=True)
class PeerStep:
    sender: str
    step: str
    details: Any = None


@dataclass(frozen=True)
class RelayError:
    event: str
    error: str


@dataclass(frozen=True)
class RelayShutdown:
    reason: str = ""


@dataclass(frozen=True)
class TeacherNotice:
    """``teacher-notice``: a notice to the room, or this member taken out of it."""

    kind: str                              # one of protocol.NOTICE_KINDS
    text: str


Inbound = (RosterChange | PeerCurve | PeerKeys | KeyShare | Message | PeerStep | RelayError
           | RelayShutdown | TeacherNotice)


def _roster(event: str, p: dict) -> RosterChange:
    hidden = p.get("hiddenInRoom")
    return RosterChange(p["username"], p["socketId"],
                        tuple((u["socketId"], u["username"]) for u in p["usersInRoom"]),
                        hidden if type(hidden) is int else None,
                        left=event == protocol.USER_LEFT)


def _text_or_empty(value: Any) -> str:
    return value if isinstance(value, str) else ""


_READERS = {
    protocol.USER_JOINED: lambda p: _roster(protocol.USER_JOINED, p),
    protocol.USER_LEFT: lambda p: _roster(protocol.USER_LEFT, p),
    protocol.PEER_CURVE_SELECTED: lambda p: PeerCurve(p["from"], p["socketId"], p["curve"]),
    protocol.PEER_KEYS_GENERATED: lambda p: PeerKeys(p["from"], p["socketId"]),
    protocol.RECEIVE_PUBLIC_KEY: lambda p: KeyShare(
        p["from"], p["fromSocketId"], p["publicKey"],
        "curve" in p, p.get("curve"), bool(p.get("isReply")), p),
    protocol.RECEIVE_MESSAGE: lambda p: Message(p["from"], p["fromSocketId"], p),
    protocol.PEER_PROCESSING_STEP: lambda p: PeerStep(p["from"], p["step"], p.get("details")),
    protocol.RELAY_ERROR: lambda p: RelayError(str(p.get("event") or ""), p["error"]),
    protocol.RELAY_SHUTDOWN: lambda p: RelayShutdown(_text_or_empty(p.get("reason"))),
    protocol.TEACHER_NOTICE: lambda p: TeacherNotice(p["kind"], p["text"]),
}
EVENTS = frozenset(_READERS)   # the server events a session takes


def read(event: str, payload: Any) -> Inbound:
    """The typed record of one server event; `protocol.ProtocolError` for a payload the
    protocol refuses (a KeyError cannot happen: `validate` checked every field read)."""
    return _READERS[event](protocol.validate(event, payload))
