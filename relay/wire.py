"""Socket.IO packets as text: the one place the relay encodes and decodes them.

The relay speaks Socket.IO v4 over Engine.IO v4 (see docs/protocol.md). Every event it sends
is built by ``encode_event`` and every acknowledgement by ``encode_ack``; every event packet
a client sends is read by ``read_event_header`` and ``decode_event_body``. ``ws_frame``
wraps an Engine.IO message in a websocket frame for the lean transport (``relay.transport``),
which writes frames itself.
"""

from __future__ import annotations

import json as _stdjson
import struct
import time
from pathlib import Path
from typing import Any

try:  # orjson is several times faster than json for the small packets we forward
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    orjson = None

NAMESPACE = "/"
WS_TEXT, WS_BINARY = 0x1, 0x2


class FastJson:
    """A ``json``-like module over orjson, for python-socketio's ``json=`` option."""

    @staticmethod
    def dumps(obj: Any, **_ignored: Any) -> str:
        if orjson is None:  # pragma: no cover
            return _stdjson.dumps(obj, separators=(",", ":"))
        try:
            return orjson.dumps(obj).decode()
        except TypeError:  # e.g. an integer beyond 64 bits, which orjson refuses
            return _stdjson.dumps(obj, separators=(",", ":"))

    @staticmethod
    def loads(text: str | bytes, **_ignored: Any) -> Any:
        if orjson is None:  # pragma: no cover
            return _stdjson.loads(text)
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            # orjson refuses integers beyond 64 bits that json accepts; anything else
            # that json also refuses raises ValueError (json.JSONDecodeError) from here
            return _stdjson.loads(text)


dumps = FastJson.dumps
loads = FastJson.loads


def encode_event(event: str, payload: Any) -> str:
    """A Socket.IO EVENT packet for the default namespace: ``2["event",payload]``."""
    return "2" + dumps([event, payload])


def encode_ack(ack_id: int, result: Any) -> str:
    """A Socket.IO ACK packet: ``3<id>[result]``."""
    return f"3{ack_id}{dumps([result])}"


class MalformedEvent(ValueError):
    """An event packet that cannot be read; the message is the client's error text."""


def read_event_header(data: str) -> tuple[int | None, int] | None:
    """An EVENT packet's ack id and where its JSON starts; None for another namespace.

    The packet is ``2`` [ ``/nsp,`` ] [ ack id ] json.
    """
    if data[1:2] == "[":
        return None, 1   # the common case: default namespace, no ack asked
    start = 1
    if data.startswith("/", 1):
        comma = data.find(",", 1)
        if comma < 0 or data[1:comma] != NAMESPACE:
            return None   # we serve only "/"
        start = comma + 1
    end = start
    limit = min(len(data), start + 12)
    while end < limit and "0" <= data[end] <= "9":
        end += 1
    return (int(data[start:end]) if end > start else None), end


def decode_event_body(body: str) -> tuple[str, Any]:
    """The ``[name, payload]`` JSON of an event packet; raises ``MalformedEvent``."""
    try:
        decoded = orjson.loads(body) if orjson is not None else loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        try:   # orjson refuses integers beyond 64 bits that json accepts
            decoded = _stdjson.loads(body)
        except (ValueError, RecursionError):
            raise MalformedEvent("malformed packet: not JSON") from None
    if not isinstance(decoded, list) or not decoded or not isinstance(decoded[0], str):
        raise MalformedEvent("malformed event: expected [name, payload]")
    return decoded[0], decoded[1] if len(decoded) > 1 else None


def ws_frame(payload: bytes, opcode: int = WS_TEXT) -> bytes:
    """One unmasked websocket frame (servers never mask), FIN set."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


class Capture:
    """Tests only: append every received event as a JSON line (off unless configured)."""

    def __init__(self, path: Path):
        self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def write(self, sid: str, event: Any, payload: Any = None, raw: str | None = None) -> None:
        record = {"time": time.time(), "sid": sid, "event": event, "payload": payload}
        if raw is not None:
            record["raw"] = raw
        self._file.write(dumps(record) + "\n")

    def close(self) -> None:
        self._file.close()
