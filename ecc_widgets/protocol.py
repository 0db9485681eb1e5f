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

import json
import math
import re
from typing import Any

from ecc_widgets.text import (  # noqa: F401 - RESERVED_NAMES and name_key: re-exported
    DEMO_PEER_NAME,
    RESERVED_NAMES,
    TextProblem,
    is_demo_peer_name,
    is_reserved,
    name_key,
    text_problem,
)
from ecc_widgets.text import normalize_name as _normalized_name

# --- event names: client -> server (the seed's) -------------------------------------------
JOIN = "join"
CURVE_SELECTED = "curve-selected"
KEYS_GENERATED = "keys-generated"
SHARE_PUBLIC_KEY = "share-public-key"
SEND_MESSAGE = "send-message"
PROCESSING_STEP = "processing-step"
# our additions: leave the room without disconnecting; register a invite token with the
# relay, so that a demo peer presenting it may join seen by us alone
LEAVE = "leave"
INVITE = "invite"

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
# the teacher's console (relay --teacher): a member reports what only its client knows
# about one of its own pairs (an enum and a flag, no text), and the relay tells a room
# what the teacher did (a notice, the member's removal, the room cleared)
CODE_COMPARED = "code-compared"
TEACHER_NOTICE = "teacher-notice"
CODE_RESULTS = ("pending", "match", "differ")
NOTICE_KINDS = ("notice", "removed", "cleared")
MAX_NOTICE = 280             # characters of a teacher's notice

CLIENT_EVENTS = (JOIN, CURVE_SELECTED, KEYS_GENERATED, SHARE_PUBLIC_KEY, SEND_MESSAGE,
                 PROCESSING_STEP, LEAVE, INVITE, CODE_COMPARED)
SERVER_EVENTS = (USER_JOINED, USER_LEFT, PEER_CURVE_SELECTED, PEER_KEYS_GENERATED,
                 RECEIVE_PUBLIC_KEY, RECEIVE_MESSAGE, PEER_PROCESSING_STEP, RELAY_ERROR,
                 RELAY_SHUTDOWN, TEACHER_NOTICE)

# The kinds of v1 message (``send-message``'s ``kind``) of the short code's exchange
# (``ecc_widgets.sas``): the committer's commitment, the revealer's nonce, the committer's
# nonce. Sealed like a chat message; their plaintext is checked by `validate_sas`.
SAS_COMMIT = "sas-commit"
SAS_NONCE = "sas-nonce"
SAS_REVEAL = "sas-reveal"
SAS_KINDS = (SAS_COMMIT, SAS_NONCE, SAS_REVEAL)
SAS_FIELDS = {SAS_COMMIT: "commit", SAS_NONCE: "nonce", SAS_REVEAL: "nonce"}
SAS_HEX = 64                 # characters: 32 bytes, lowercase hex
MAX_SAS_BODY = 128           # bytes of a sas message's plaintext (JSON)

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
MAX_DETAILS_BYTES = 1024     # a processing-step's ``details`` as compact UTF-8 JSON
MAX_DETAILS_DEPTH = 4        # levels of arrays/objects in ``details``
MAX_B64_FIELD = 32         # characters of ``iv`` / ``tag`` (12 and 16 bytes need 16 and 24)
MAX_CIPHERTEXT = 48 * 1024   # characters of base64 ``encryptedMessage`` (36 KiB of ciphertext)
MAX_JWK_FIELD = 256          # characters of one JWK member
MAX_EXTRA_FIELDS = 16        # extra top-level fields our clients may add
MIN_INVITE_TOKEN = 22        # characters of a invite token (base64url: 128 bits and more)
MAX_INVITE_TOKEN = 128
MAX_DEMO_PEERS = 3              # demo peers one member may invite into its room
# Whole Socket.IO packet as received; bigger events get an error and are dropped. The
# Engine.IO limit (which closes the connection) sits well above this.
MAX_EVENT_BYTES = 64 * 1024
ENGINEIO_MAX_BUFFER = 1024 * 1024

# Fields the relay sets itself; a client that sends them has them overwritten or dropped.
SERVER_FIELDS = frozenset({"from", "fromSocketId", "socketId", "timestamp"})

_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_CURVE = re.compile(r"[A-Za-z0-9._-]+")
_SOCKET_ID = re.compile(r"[A-Za-z0-9_-]+")   # what Socket.IO sids are made of
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")

# ``join``'s optional ``roster``: "delta" = user-joined / user-left without usersInRoom
ROSTER_MODES = ("full", "delta")


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


# --- text: the rules live in ecc_widgets.text; here they name the event and field ---------
def _check_text(value: str, where: str, field: str = "", *, name: bool = False) -> str:
    """``value`` if it is text, else a :class:`ProtocolError` naming ``where``/``field``."""
    if value.isascii() and value.isprintable():
        return value
    problem = text_problem(value, name=name)
    if problem is not None:
        raise _refused(where, field, problem)
    return value


def _refused(where: str, field: str, problem: str) -> ProtocolError:
    return ProtocolError(f"{where}: '{field}' {problem}" if field else f"{where} {problem}")


def normalize_name(text: str, where: str = "name", field: str = "") -> str:
    """``ecc_widgets.text.normalize_name``, refusing with a :class:`ProtocolError` that names
    ``where`` (an event) and ``field``."""
    try:
        return _normalized_name(text)
    except TextProblem as problem:
        raise _refused(where, field, str(problem)) from None


# --- field checks ---------------------------------------------------------------------------
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
    return _check_text(value, event, field)


def _name(event: str, payload: dict, field: str, limit: int) -> str:
    name = normalize_name(_text(event, payload, field, limit), event, field)
    if len(name) > limit:   # NFKC can lengthen (one ligature, several letters)
        raise ProtocolError(f"{event}: '{field}' is longer than {limit} characters")
    return name


def _details(where: str, details: Any) -> Any:
    """Check a processing-step's ``details``: small JSON, shallow, displayable strings.

    One iterative walk checks types and depth and sums a lower and an upper bound of the
    encoded size, before anything is encoded: a thousand-deep or 60 KiB value is refused
    after a few steps, and a small one (the usual case) is never encoded at all.
    """
    if details is None:
        return None
    if type(details) is str and len(details) < MAX_DETAILS_BYTES // 6:   # the usual case
        return _check_text(details, where)
    low = high = 0      # bounds of the compact UTF-8 JSON's bytes
    strings = []
    stack = [(details, 0)]
    while stack:
        value, depth = stack.pop()
        low += 1
        if isinstance(value, str):
            low += len(value)
            high += 6 * len(value) + 3   # "\u001f" escapes at worst; quotes; a comma
            strings.append(value)
        elif value is None or isinstance(value, bool):
            high += 6
        elif isinstance(value, int):
            bits = value.bit_length()
            low += max(bits - 1, 0) // 4   # fewer than its decimal digits
            high += bits // 3 + 3
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ProtocolError(f"{where} must not contain NaN or infinity")
            high += 25
        elif isinstance(value, (dict, list)):
            if depth >= MAX_DETAILS_DEPTH:
                raise ProtocolError(f"{where} is nested deeper than {MAX_DETAILS_DEPTH} "
                                    "levels")
            low += len(value)   # a comma or bracket per item
            high += 3
            if low > MAX_DETAILS_BYTES:
                break
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise ProtocolError(f"{where} must be JSON (object keys are strings)")
                    low += len(key)
                    high += 6 * len(key) + 3
                    strings.append(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
        else:
            raise ProtocolError(f"{where} must be JSON, got {type(value).__name__}")
        if low > MAX_DETAILS_BYTES:
            break
    if low <= MAX_DETAILS_BYTES:
        for text in strings:
            _check_text(text, where)
        if high > MAX_DETAILS_BYTES:   # the bounds do not decide: measure
            low = len(json.dumps(details, ensure_ascii=False, separators=(",", ":"))
                      .encode("utf-8"))
    if low > MAX_DETAILS_BYTES:
        raise ProtocolError(f"{where} is larger than {MAX_DETAILS_BYTES} bytes as JSON")
    return details


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


def _shown_extras(event: str, fields: dict) -> None:
    """Extra fields may end up on screen (a ``curve``, an ``id``): their names and top-level
    string values must be text too. Nested values are forwarded unchecked."""
    for key, value in fields.items():   # inlined ASCII test: this is send-message's path
        if not (key.isascii() and key.isprintable()):
            _check_text(key, f"{event}: an extra field's name")
        if type(value) is str and not (value.isascii() and value.isprintable()):
            _check_text(value, event, key[:40])


def validate_jwk(jwk: Any, *, where: str = "publicKey") -> dict:
    """Check that ``jwk`` looks like a public JWK (EC or OKP) and carries no private part."""
    if not isinstance(jwk, dict):
        raise ProtocolError(f"{where} must be a JWK object, got {type(jwk).__name__}")
    if "d" in jwk:
        raise ProtocolError(f"{where} contains a private key member 'd'; refusing to send it")
    kty = jwk.get("kty")
    if kty not in ("EC", "OKP"):
        raise ProtocolError(f"{where}: 'kty' must be \"EC\" or \"OKP\", got {kty!r:.40}")
    if len(jwk) > 16:
        raise ProtocolError(f"{where}: too many members")
    _shown_extras(where, jwk)
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
    return jwk


# --- client -> server payloads -------------------------------------------------------------
def _join(payload: Any) -> dict:
    """Names come back normalised (see :func:`normalize_name`): the relay stores and
    compares that form, so ``bob`` and ``bob `` are one name."""
    p = _obj(JOIN, payload)
    username = _name(JOIN, p, "username", MAX_USERNAME)
    if is_reserved(username):
        raise ProtocolError(f"{JOIN}: the name {username!r} is reserved for the app's own "
                            "messages; choose another name")
    out = {"username": username, "roomId": _name(JOIN, p, "roomId", MAX_ROOM_ID)}
    token = p.get("resumeToken")
    if token is not None:
        if not isinstance(token, str) or not 0 < len(token) <= 128:
            raise ProtocolError(f"{JOIN}: 'resumeToken' must be a string of 1 to 128 "
                                "characters")
        out["resumeToken"] = _check_text(token, JOIN, "resumeToken")
    if p.get("visibleTo") is not None:   # listed to, and paired with, that one member only
        out["visibleTo"] = _name(JOIN, p, "visibleTo", MAX_USERNAME)
    if p.get("inviteToken") is not None:
        out["inviteToken"] = _invite_token(JOIN, p)
    if ("visibleTo" in out) != ("inviteToken" in out):
        raise ProtocolError(f"{JOIN}: 'visibleTo' and 'inviteToken' go together: a member "
                            "seen by one other only is that member's demo peer, let in with the "
                            "token it registered ('invite')")
    if is_demo_peer_name(username) != ("inviteToken" in out):
        raise ProtocolError(f"{JOIN}: names like {DEMO_PEER_NAME!r} are kept for demo peers "
                            "(a invite token is needed); choose another name"
                            if "inviteToken" not in out else
                            f"{JOIN}: a demo peer's name is {DEMO_PEER_NAME!r} (or "
                            f"'{DEMO_PEER_NAME}-2', ...)")
    roster = p.get("roster")
    if roster is not None:
        if roster not in ROSTER_MODES:
            raise ProtocolError(f"{JOIN}: 'roster' must be one of {', '.join(ROSTER_MODES)}")
        out["roster"] = roster
    return out


def _invite_token(event: str, p: dict) -> str:
    token = p.get("inviteToken")
    if not (isinstance(token, str) and MIN_INVITE_TOKEN <= len(token) <= MAX_INVITE_TOKEN
            and _TOKEN.fullmatch(token)):
        raise ProtocolError(f"{event}: 'inviteToken' must be {MIN_INVITE_TOKEN} to "
                            f"{MAX_INVITE_TOKEN} characters of base64url")
    return token


def _invite(payload: Any) -> dict:
    return {"inviteToken": _invite_token(INVITE, _obj(INVITE, payload))}


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
    # send-message's extras are left to the receiver (receive-message), to keep the relay's
    # busiest path as fast as it was
    _shown_extras(SHARE_PUBLIC_KEY, out)
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
    details = _details(f"{PROCESSING_STEP}: 'details'", p.get("details"))
    return {"step": step, "details": details}


def _code_compared(payload: Any) -> dict:
    """``{peerSocketId, result, verified}``: nothing else (no names: the relay binds the
    report to its sender, and the peer to the sender's room)."""
    p = _obj(CODE_COMPARED, payload)
    extra = sorted(set(p) - {"peerSocketId", "result", "verified"})
    if extra:
        raise ProtocolError(f"{CODE_COMPARED}: unknown field {str(extra[0])[:40]!r}")
    peer = p.get("peerSocketId")
    if not (isinstance(peer, str) and 0 < len(peer) <= MAX_SOCKET_ID
            and _SOCKET_ID.fullmatch(peer)):
        raise ProtocolError(f"{CODE_COMPARED}: 'peerSocketId' must be a socket id")
    result = p.get("result")
    if result not in CODE_RESULTS:
        raise ProtocolError(f"{CODE_COMPARED}: 'result' must be one of "
                            f"{', '.join(CODE_RESULTS)}")
    verified = p.get("verified")
    if not isinstance(verified, bool):
        raise ProtocolError(f"{CODE_COMPARED}: 'verified' must be true or false")
    return {"peerSocketId": peer, "result": result, "verified": verified}


_CLIENT_VALIDATORS = {
    JOIN: _join,
    CURVE_SELECTED: _curve_selected,
    KEYS_GENERATED: _keys_generated,
    SHARE_PUBLIC_KEY: _share_public_key,
    SEND_MESSAGE: _send_message,
    PROCESSING_STEP: _processing_step,
    LEAVE: _leave,
    INVITE: _invite,
    CODE_COMPARED: _code_compared,
}


# --- server -> client payloads (for clients checking what they receive) --------------------
# A relay may be hostile too: every string a client shows (names, curve, step, details,
# errors) must be text, or the event is refused before anything renders it.
def _need(event: str, p: dict, fields: dict) -> dict:
    for name, kind in fields.items():
        if not isinstance(p.get(name), kind):
            raise ProtocolError(f"{event}: '{name}' is missing or of the wrong type")
        if kind is str:
            _check_text(p[name], event, name)
    return p


def _roster(event: str, value: Any) -> list:
    if not isinstance(value, list):
        raise ProtocolError(f"{event}: 'usersInRoom' must be a list")
    for entry in value:
        if not (isinstance(entry, dict) and isinstance(entry.get("socketId"), str)
                and isinstance(entry.get("username"), str)):
            raise ProtocolError(f"{event}: 'usersInRoom' entries need socketId and username")
        _check_text(entry["username"], f"{event}: a 'usersInRoom' username")
        _check_text(entry["socketId"], f"{event}: a 'usersInRoom' socketId")
    return value


def _user_change(event: str):
    def check(payload: Any) -> dict:
        p = _need(event, _obj(event, payload), {"username": str, "socketId": str})
        _roster(event, p.get("usersInRoom"))
        hidden = p.get("hiddenInRoom")
        if hidden is not None and not (type(hidden) is int and 0 <= hidden <= 1_000_000):
            raise ProtocolError(f"{event}: 'hiddenInRoom' must be a count")
        return p
    return check


def _check_server(event: str, fields: dict):
    def check(payload: Any) -> dict:
        return _need(event, _obj(event, payload), fields)
    return check


_RECEIVED_KNOWN = frozenset({"publicKey", "isReply", "encryptedMessage", "iv", "tag"})


def _receive_public_key(payload: Any) -> dict:
    p = _need(RECEIVE_PUBLIC_KEY, _obj(RECEIVE_PUBLIC_KEY, payload),
              {"from": str, "fromSocketId": str})
    validate_jwk(p.get("publicKey"), where=f"{RECEIVE_PUBLIC_KEY}: publicKey")
    _shown_extras(RECEIVE_PUBLIC_KEY, {k: v for k, v in p.items() if k not in _RECEIVED_KNOWN})
    return p


def _receive_message(payload: Any) -> dict:
    p = _need(RECEIVE_MESSAGE, _obj(RECEIVE_MESSAGE, payload),
              {"encryptedMessage": str, "iv": str, "tag": str, "from": str,
               "fromSocketId": str, "timestamp": (int, float)})
    _shown_extras(RECEIVE_MESSAGE, {k: v for k, v in p.items() if k not in _RECEIVED_KNOWN})
    return p


def _peer_processing_step(payload: Any) -> dict:
    p = _need(PEER_PROCESSING_STEP, _obj(PEER_PROCESSING_STEP, payload),
              {"step": str, "from": str, "socketId": str})
    _details(f"{PEER_PROCESSING_STEP}: 'details'", p.get("details"))
    return p


def _relay_error(payload: Any) -> dict:
    p = _need(RELAY_ERROR, _obj(RELAY_ERROR, payload), {"error": str})
    if isinstance(p.get("event"), str):
        _check_text(p["event"], RELAY_ERROR, "event")
    return p


def _relay_shutdown(payload: Any) -> dict:
    p = _obj(RELAY_SHUTDOWN, payload, optional=True)
    if isinstance(p.get("reason"), str):
        _check_text(p["reason"], RELAY_SHUTDOWN, "reason")
    return p


def _teacher_notice(payload: Any) -> dict:
    p = _need(TEACHER_NOTICE, _obj(TEACHER_NOTICE, payload), {"kind": str, "text": str})
    if p["kind"] not in NOTICE_KINDS:
        raise ProtocolError(f"{TEACHER_NOTICE}: 'kind' must be one of {', '.join(NOTICE_KINDS)}")
    if len(p["text"]) > MAX_NOTICE:
        raise ProtocolError(f"{TEACHER_NOTICE}: 'text' is longer than {MAX_NOTICE} characters")
    return p


def validate_notice(text: Any, where: str = TEACHER_NOTICE) -> str:
    """A teacher's notice (or a removal's reason): text of 1 to ``MAX_NOTICE`` characters."""
    return _text(where, {"text": text}, "text", MAX_NOTICE)


_SERVER_VALIDATORS = {
    USER_JOINED: _user_change(USER_JOINED),
    USER_LEFT: _user_change(USER_LEFT),
    PEER_CURVE_SELECTED: _check_server(PEER_CURVE_SELECTED,
                                       {"curve": str, "from": str, "socketId": str}),
    PEER_KEYS_GENERATED: _check_server(PEER_KEYS_GENERATED, {"from": str, "socketId": str}),
    RECEIVE_PUBLIC_KEY: _receive_public_key,
    RECEIVE_MESSAGE: _receive_message,
    PEER_PROCESSING_STEP: _peer_processing_step,
    RELAY_ERROR: _relay_error,
    RELAY_SHUTDOWN: _relay_shutdown,
    TEACHER_NOTICE: _teacher_notice,
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


# --- the short code's messages (their envelope: ecc_widgets.envelope) ------------------
_HEX = re.compile(r"[0-9a-f]+")


def validate_sas(kind: str, data: bytes) -> dict:
    """The decrypted plaintext of a short-code message: ``{"commit": hex}`` for
    ``sas-commit``, ``{"nonce": hex}`` for the other two, 32 bytes in lowercase hex, nothing
    else, at most MAX_SAS_BODY bytes. Returns the object or raises :class:`ProtocolError`."""
    field = SAS_FIELDS.get(kind)
    if field is None:
        raise ProtocolError(f"unknown short-code message kind {kind!r:.40}")
    if len(data) > MAX_SAS_BODY:
        raise ProtocolError(f"{kind}: larger than {MAX_SAS_BODY} bytes")
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"{kind}: not JSON") from None
    if not isinstance(body, dict) or set(body) != {field}:
        raise ProtocolError(f"{kind}: must be an object with '{field}' only")
    value = body[field]
    if not (isinstance(value, str) and len(value) == SAS_HEX and _HEX.fullmatch(value)):
        raise ProtocolError(f"{kind}: '{field}' must be {SAS_HEX} lowercase hex digits")
    return body
