"""The wire protocol: event names, payload shapes, limits and validation.

This is the one module that spells event names. The relay validates what clients send with
it, and the notebook client builds and checks its payloads with it, so both sides agree by
construction. Pure Python: no socketio, no crypto, no I/O.

The seed's protocol (Socket.IO v4, default namespace) is kept exactly; our additions are
optional acknowledgements, extra fields on ``share-public-key`` / ``send-message`` that the
relay forwards untouched, the ``leave`` event, and the ``relay-error`` / ``relay-shutdown``
notices. See docs/protocol.md.
"""

from __future__ import annotations

import re
from typing import Any

# --- event names: client -> server (the seed's) -------------------------------------------
JOIN = "join"
CURVE_SELECTED = "curve-selected"
KEYS_GENERATED = "keys-generated"
SHARE_PUBLIC_KEY = "share-public-key"
SEND_MESSAGE = "send-message"
PROCESSING_STEP = "processing-step"
# our addition: leave the room without disconnecting
LEAVE = "leave"

# --- event names: server -> client (the seed's) -------------------------------------------
USER_JOINED = "user-joined"
USER_LEFT = "user-left"
PEER_CURVE_SELECTED = "peer-curve-selected"
PEER_KEYS_GENERATED = "peer-keys-generated"
RECEIVE_PUBLIC_KEY = "receive-public-key"
RECEIVE_MESSAGE = "receive-message"
PEER_PROCESSING_STEP = "peer-processing-step"
# our additions: an error for a client that asked for no acknowledgement, and a notice
# that the relay is going away (sent before it disconnects everyone)
RELAY_ERROR = "relay-error"
RELAY_SHUTDOWN = "relay-shutdown"

CLIENT_EVENTS = (JOIN, CURVE_SELECTED, KEYS_GENERATED, SHARE_PUBLIC_KEY, SEND_MESSAGE,
                 PROCESSING_STEP, LEAVE)
SERVER_EVENTS = (USER_JOINED, USER_LEFT, PEER_CURVE_SELECTED, PEER_KEYS_GENERATED,
                 RECEIVE_PUBLIC_KEY, RECEIVE_MESSAGE, PEER_PROCESSING_STEP, RELAY_ERROR,
                 RELAY_SHUTDOWN)

# The version our own clients put in the optional ``v`` field (the seed sent none), and
# the one in the session key's HKDF info (``crypto.derive_session_key``).
PROTOCOL_VERSION = 1

# Host names that mean this machine: the relay trusts their origins by default, and a
# notebook starts a relay only at one of them.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# --- limits ---------------------------------------------------------------------------------
MAX_USERNAME = 64            # characters
MAX_ROOM_ID = 64             # characters
MAX_SOCKET_ID = 64           # characters (Socket.IO sids are 20)
MAX_CURVE_NAME = 32          # characters
MAX_STEP = 200               # characters of a processing-step's ``step``
MAX_B64_FIELD = 32         # characters of ``iv`` / ``tag`` (12 and 16 bytes need 16 and 24)
MAX_CIPHERTEXT = 48 * 1024   # characters of base64 ``encryptedMessage`` (36 KiB of ciphertext)
MAX_JWK_FIELD = 256          # characters of one JWK member
MAX_EXTRA_FIELDS = 16        # extra top-level fields our clients may add
# Whole Socket.IO packet as received; bigger events get an error and are dropped. The
# Engine.IO limit (which closes the connection) sits well above this.
MAX_EVENT_BYTES = 64 * 1024
ENGINEIO_MAX_BUFFER = 1024 * 1024

# Fields the relay sets itself; a client that sends them has them overwritten or dropped.
SERVER_FIELDS = frozenset({"from", "fromSocketId", "socketId", "timestamp"})

_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_CURVE = re.compile(r"[A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SOCKET_ID = re.compile(r"[A-Za-z0-9_-]+")   # what Socket.IO sids are made of


class ProtocolError(ValueError):
    """A payload that breaks the protocol; the message says what and why."""


def ack_ok(**fields: Any) -> dict:
    """A positive acknowledgement: ``{"ok": True, ...fields}``."""
    return {"ok": True, **fields}


def ack_error(reason: str) -> dict:
    """A negative acknowledgement: ``{"ok": False, "error": reason}``."""
    return {"ok": False, "error": str(reason)}


# --- field checks ---------------------------------------------------------------------------
def _obj(event: str, payload: Any, *, optional: bool = False) -> dict:
    if payload is None and optional:
        return {}
    if not isinstance(payload, dict):
        kind = "nothing" if payload is None else type(payload).__name__
        raise ProtocolError(f"{event}: payload must be a JSON object, got {kind}")
    return payload


def _text(event: str, payload: dict, field: str, limit: int) -> str:
    value = payload.get(field)
    if not isinstance(value, str):
        if value is None:
            raise ProtocolError(f"{event}: '{field}' is missing")
        raise ProtocolError(f"{event}: '{field}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ProtocolError(f"{event}: '{field}' must not be empty")
    if len(value) > limit:
        raise ProtocolError(f"{event}: '{field}' is longer than {limit} characters")
    if _CONTROL.search(value):
        raise ProtocolError(f"{event}: '{field}' must not contain control characters")
    return value


def _b64(event: str, payload: dict, field: str, limit: int) -> str:
    value = payload.get(field)
    if not isinstance(value, str):
        if value is None:
            raise ProtocolError(f"{event}: '{field}' is missing")
        raise ProtocolError(f"{event}: '{field}' must be a base64 string, "
                            f"got {type(value).__name__}")
    if len(value) > limit:
        raise ProtocolError(f"{event}: '{field}' is longer than {limit} characters")
    if not value or len(value) % 4 or not _B64.fullmatch(value):
        raise ProtocolError(f"{event}: '{field}' must be base64 (standard alphabet, padded)")
    return value


def _extras(event: str, payload: dict, known: frozenset) -> dict:
    """Fields beyond the seed's, forwarded untouched; server-set fields are dropped."""
    extra = {k: v for k, v in payload.items() if k not in known and k not in SERVER_FIELDS}
    if len(extra) > MAX_EXTRA_FIELDS:
        raise ProtocolError(f"{event}: more than {MAX_EXTRA_FIELDS} extra fields")
    return extra


def validate_jwk(jwk: Any, *, where: str = "publicKey") -> dict:
    """Check that ``jwk`` looks like a public JWK (EC or OKP) and carries no private part."""
    if not isinstance(jwk, dict):
        raise ProtocolError(f"{where} must be a JWK object, got {type(jwk).__name__}")
    if "d" in jwk:
        raise ProtocolError(f"{where} contains a private key member 'd'; refusing to send it")
    kty = jwk.get("kty")
    if kty not in ("EC", "OKP"):
        raise ProtocolError(f"{where}: 'kty' must be \"EC\" or \"OKP\", got {kty!r:.40}")
    members = ("crv", "x", "y") if kty == "EC" else ("crv", "x")
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str) or not value:
            raise ProtocolError(f"{where}: '{name}' must be a non-empty string")
        if len(value) > MAX_JWK_FIELD:
            raise ProtocolError(f"{where}: '{name}' is longer than {MAX_JWK_FIELD} characters")
        if name != "crv" and not _B64URL.fullmatch(value):
            raise ProtocolError(f"{where}: '{name}' must be base64url without padding")
    if not _CURVE.fullmatch(jwk["crv"]):
        raise ProtocolError(f"{where}: 'crv' has characters a curve name cannot have")
    if len(jwk) > 16:
        raise ProtocolError(f"{where}: too many members")
    return jwk


# --- client -> server payloads -------------------------------------------------------------
def _join(payload: Any) -> dict:
    p = _obj(JOIN, payload)
    out = {"username": _text(JOIN, p, "username", MAX_USERNAME),
           "roomId": _text(JOIN, p, "roomId", MAX_ROOM_ID)}
    token = p.get("resumeToken")
    if token is not None:
        if not isinstance(token, str) or not 0 < len(token) <= 128:
            raise ProtocolError(f"{JOIN}: 'resumeToken' must be a string of 1 to 128 "
                                "characters")
        out["resumeToken"] = token
    return out


def _curve_selected(payload: Any) -> dict:
    p = _obj(CURVE_SELECTED, payload)
    curve = _text(CURVE_SELECTED, p, "curve", MAX_CURVE_NAME)
    if not _CURVE.fullmatch(curve):
        raise ProtocolError(f"{CURVE_SELECTED}: 'curve' has characters a curve name "
                            "cannot have")
    return {"curve": curve}


def _keys_generated(payload: Any) -> dict:
    _obj(KEYS_GENERATED, payload, optional=True)
    return {}


def _leave(payload: Any) -> dict:
    _obj(LEAVE, payload, optional=True)
    return {}


_SHARE_KNOWN = frozenset({"publicKey", "targetSocketId", "isReply"})


def _share_public_key(payload: Any) -> dict:
    p = _obj(SHARE_PUBLIC_KEY, payload)
    target = _text(SHARE_PUBLIC_KEY, p, "targetSocketId", MAX_SOCKET_ID)
    jwk = validate_jwk(p.get("publicKey"), where=f"{SHARE_PUBLIC_KEY}: publicKey")
    is_reply = p.get("isReply", False)
    if not isinstance(is_reply, (bool, type(None))):
        raise ProtocolError(f"{SHARE_PUBLIC_KEY}: 'isReply' must be true or false")
    out = _extras(SHARE_PUBLIC_KEY, p, _SHARE_KNOWN)
    out.update(publicKey=jwk, targetSocketId=target, isReply=bool(is_reply))
    return out


_MESSAGE_KNOWN = frozenset({"encryptedMessage", "iv", "tag", "targetSocketId"})


def _send_message(payload: Any) -> dict:
    # fast path for the relay's most frequent event: one pass of cheap checks; anything
    # unusual falls through to the field-by-field checks below, which name the problem
    if type(payload) is dict:
        ct = payload.get("encryptedMessage")
        iv = payload.get("iv")
        tag = payload.get("tag")
        target = payload.get("targetSocketId")
        if (type(ct) is str and type(iv) is str and type(tag) is str and type(target) is str
                and 0 < len(ct) <= MAX_CIPHERTEXT and 0 < len(iv) <= MAX_B64_FIELD
                and 0 < len(tag) <= MAX_B64_FIELD and 0 < len(target) <= MAX_SOCKET_ID
                and not (len(ct) | len(iv) | len(tag)) & 3
                and _B64.fullmatch(ct) and _B64.fullmatch(iv) and _B64.fullmatch(tag)
                and _SOCKET_ID.fullmatch(target)):
            if len(payload) == 4:
                return payload
            out = _extras(SEND_MESSAGE, payload, _MESSAGE_KNOWN)
            out.update(encryptedMessage=ct, iv=iv, tag=tag, targetSocketId=target)
            return out
    p = _obj(SEND_MESSAGE, payload)
    out = _extras(SEND_MESSAGE, p, _MESSAGE_KNOWN)
    out.update(
        encryptedMessage=_b64(SEND_MESSAGE, p, "encryptedMessage", MAX_CIPHERTEXT),
        iv=_b64(SEND_MESSAGE, p, "iv", MAX_B64_FIELD),
        tag=_b64(SEND_MESSAGE, p, "tag", MAX_B64_FIELD),
        targetSocketId=_text(SEND_MESSAGE, p, "targetSocketId", MAX_SOCKET_ID),
    )
    return out


def _processing_step(payload: Any) -> dict:
    p = _obj(PROCESSING_STEP, payload)
    step = _text(PROCESSING_STEP, p, "step", MAX_STEP)
    details = p.get("details")
    if not isinstance(details, (str, int, float, bool, dict, list, type(None))):
        raise ProtocolError(f"{PROCESSING_STEP}: 'details' must be JSON")
    return {"step": step, "details": details}


_CLIENT_VALIDATORS = {
    JOIN: _join,
    CURVE_SELECTED: _curve_selected,
    KEYS_GENERATED: _keys_generated,
    SHARE_PUBLIC_KEY: _share_public_key,
    SEND_MESSAGE: _send_message,
    PROCESSING_STEP: _processing_step,
    LEAVE: _leave,
}


# --- server -> client payloads (for clients checking what they receive) --------------------
def _roster(event: str, value: Any) -> list:
    if not isinstance(value, list):
        raise ProtocolError(f"{event}: 'usersInRoom' must be a list")
    for entry in value:
        if not (isinstance(entry, dict) and isinstance(entry.get("socketId"), str)
                and isinstance(entry.get("username"), str)):
            raise ProtocolError(f"{event}: 'usersInRoom' entries need socketId and username")
    return value


def _need(event: str, p: dict, fields: dict) -> dict:
    for name, kind in fields.items():
        if not isinstance(p.get(name), kind):
            raise ProtocolError(f"{event}: '{name}' is missing or of the wrong type")
    return p


def _user_change(event: str):
    def check(payload: Any) -> dict:
        p = _need(event, _obj(event, payload), {"username": str, "socketId": str})
        _roster(event, p.get("usersInRoom"))
        return p
    return check


_SERVER_VALIDATORS = {
    USER_JOINED: _user_change(USER_JOINED),
    USER_LEFT: _user_change(USER_LEFT),
    PEER_CURVE_SELECTED: lambda p: _need(PEER_CURVE_SELECTED, _obj(PEER_CURVE_SELECTED, p),
                                         {"curve": str, "from": str, "socketId": str}),
    PEER_KEYS_GENERATED: lambda p: _need(PEER_KEYS_GENERATED, _obj(PEER_KEYS_GENERATED, p),
                                         {"from": str, "socketId": str}),
    RECEIVE_PUBLIC_KEY: lambda p: _need(
        RECEIVE_PUBLIC_KEY, {**_obj(RECEIVE_PUBLIC_KEY, p),
                             "publicKey": validate_jwk(_obj(RECEIVE_PUBLIC_KEY, p)
                                                       .get("publicKey"))},
        {"from": str, "fromSocketId": str}),
    RECEIVE_MESSAGE: lambda p: _need(
        RECEIVE_MESSAGE, _obj(RECEIVE_MESSAGE, p),
        {"encryptedMessage": str, "iv": str, "tag": str, "from": str, "fromSocketId": str,
         "timestamp": (int, float)}),
    PEER_PROCESSING_STEP: lambda p: _need(PEER_PROCESSING_STEP, _obj(PEER_PROCESSING_STEP, p),
                                          {"step": str, "from": str, "socketId": str}),
    RELAY_ERROR: lambda p: _need(RELAY_ERROR, _obj(RELAY_ERROR, p), {"error": str}),
    RELAY_SHUTDOWN: lambda p: _obj(RELAY_SHUTDOWN, p, optional=True),
}


def validate(event: Any, payload: Any = None) -> dict:
    """Check one event's payload; return a cleaned copy or raise :class:`ProtocolError`.

    Client events come back with only the fields the relay may forward (server-set fields
    such as ``from`` removed, extras kept); server events come back as they are once their
    shape is checked.
    """
    if not isinstance(event, str):
        raise ProtocolError(f"an event name must be a string, got {type(event).__name__}")
    check = _CLIENT_VALIDATORS.get(event) or _SERVER_VALIDATORS.get(event)
    if check is None:
        raise ProtocolError(f"unknown event {event[:40]!r}")
    return check(payload)


# --- server -> client payload builders ------------------------------------------------------
def roster_entry(socket_id: str, username: str) -> dict:
    return {"socketId": socket_id, "username": username}


def user_joined(username: str, socket_id: str, users: list[dict]) -> dict:
    return {"username": username, "socketId": socket_id, "usersInRoom": users}


def user_left(username: str, socket_id: str, users: list[dict]) -> dict:
    return {"username": username, "socketId": socket_id, "usersInRoom": users}


def peer_curve_selected(curve: str, sender: str, socket_id: str) -> dict:
    return {"curve": curve, "from": sender, "socketId": socket_id}


def peer_keys_generated(sender: str, socket_id: str) -> dict:
    return {"from": sender, "socketId": socket_id}


def peer_processing_step(step: str, details: Any, sender: str, socket_id: str) -> dict:
    return {"step": step, "details": details, "from": sender, "socketId": socket_id}


def receive_public_key(cleaned: dict, sender: str, sender_sid: str) -> dict:
    """``receive-public-key`` from a validated ``share-public-key`` (extras kept)."""
    out = {k: v for k, v in cleaned.items() if k != "targetSocketId"}
    out["from"] = sender
    out["fromSocketId"] = sender_sid
    return out


def receive_message(cleaned: dict, sender: str, sender_sid: str, timestamp_ms: int) -> dict:
    """``receive-message`` from a validated ``send-message`` (extras kept)."""
    out = {k: v for k, v in cleaned.items() if k != "targetSocketId"}
    out["from"] = sender
    out["fromSocketId"] = sender_sid
    out["timestamp"] = timestamp_ms
    return out


def relay_error(event: str, reason: str) -> dict:
    return {"event": event, "error": reason}
