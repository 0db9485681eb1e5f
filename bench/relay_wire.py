"""A lean Socket.IO v4 client for load generation: raw Engine.IO over one aiohttp websocket.

It speaks just enough of the protocol for the benchmark (open, namespace connect, ping/pong,
text events) with one JSON decode per event, so a few load-generator processes can keep a
relay busy. Not a general client: no polling, no reconnects, no binary, no acks.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

import aiohttp

try:
    import orjson

    def dumps(obj: Any) -> str:
        return orjson.dumps(obj).decode()

    loads = orjson.loads
except ImportError:  # pragma: no cover
    import json

    dumps = json.dumps
    loads = json.loads


class WireClient:
    """One Socket.IO connection; ``on_event(event, payload)`` is called for every event."""

    def __init__(self, session: aiohttp.ClientSession, url: str,
                 on_event: Callable[[str, Any], None] | None = None,
                 on_text: Callable[[str], None] | None = None):
        self.session = session
        self.url = url.replace("http", "ws", 1).rstrip("/") + \
            "/socket.io/?EIO=4&transport=websocket"
        self.on_event = on_event or (lambda event, payload: None)
        # on_text: the raw Socket.IO event text, for callers that parse only what they need
        self.on_text = on_text
        self.sid: str | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None

    async def connect(self) -> WireClient:
        self.ws = await self.session.ws_connect(self.url, autoping=True, max_msg_size=0,
                                                compress=0)
        opening = await self.ws.receive_str()
        if not opening.startswith("0"):
            raise ConnectionError(f"unexpected Engine.IO open packet: {opening[:80]}")
        await self.ws.send_str("40")
        while True:
            text = await self.ws.receive_str()
            if text.startswith("40"):
                self.sid = loads(text[2:])["sid"]
                break
            if text.startswith("44"):
                raise ConnectionError(f"connection refused: {text[2:]}")
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        ws = self.ws
        on_event = self.on_event
        on_text = self.on_text
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            data = msg.data
            if data[:2] == "42":
                if on_text is not None:
                    on_text(data)
                    continue
                event, *args = loads(data[2:])
                on_event(event, args[0] if args else None)
            elif data == "2":
                await ws.send_str("3")

    def send_texts(self, texts: list[str]) -> None:
        """Several Engine.IO messages in one write (client frames, all-zero mask key).

        RFC 6455 wants clients to mask; the key's value is the client's choice, and a zero
        key spares the load generator the XOR without changing what the relay must do.
        """
        frames = []
        for text in texts:
            payload = ("4" + text).encode()
            n = len(payload)
            if n < 126:
                header = bytes((0x81, 0x80 | n))
            elif n < 65536:
                header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
            else:
                header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
            frames.append(header + b"\0\0\0\0" + payload)
        self.ws._writer.transport.write(b"".join(frames))

    async def emit(self, event: str, payload: Any = None) -> None:
        await self.ws.send_str("42" + dumps([event, payload]))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
