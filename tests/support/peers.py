"""Raw Socket.IO peers for the relay tests: a recording python-socketio client (``Peer``) and
an Engine.IO/Socket.IO websocket speaking raw packets (``RawSocket``) for what a well-behaved
client library never sends: malformed packets, binary frames, sockets that stop answering.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

import aiohttp
import socketio

from ecc_widgets import protocol as P

JWK = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
       "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "ext": True, "key_ops": []}
B64_CT = "q83vEjRWeJA="          # 8 bytes
B64_IV = "AAECAwQFBgcICQoL"      # 12 bytes
B64_TAG = "AAECAwQFBgcICQoLDA0ODw=="  # 16 bytes


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def message(target: str, **extra: Any) -> dict:
    return {"encryptedMessage": B64_CT, "iv": B64_IV, "tag": B64_TAG,
            "targetSocketId": target, **extra}


class Peer:
    """A python-socketio client that records every event it receives."""

    def __init__(self, url: str, *, reconnection: bool = False,
                 http_session: aiohttp.ClientSession | None = None):
        self.url = url
        self.http_session = http_session   # e.g. one bound to a source address; closed too
        self.sio = socketio.AsyncClient(reconnection=reconnection, handle_sigint=False,
                                        **({"http_session": http_session}
                                           if http_session is not None else {}))
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        self.sio.on("*", self._record)

    async def _record(self, event: str, *args: Any) -> None:
        self.events.append((event, args[0] if args else None))
        self._changed.set()

    @property
    def sid(self) -> str:
        return self.sio.get_sid()

    async def connect(self, transports=("websocket",), **kwargs) -> Peer:
        await self.sio.connect(self.url, transports=list(transports), **kwargs)
        return self

    async def call(self, event: str, payload: Any = None, timeout: float = 10) -> dict:
        return await self.sio.call(event, payload, timeout=timeout)

    async def emit(self, event: str, payload: Any = None) -> None:
        await self.sio.emit(event, payload)

    async def join(self, username: str, room: str, **extra: Any) -> dict:
        ack = await self.call(P.JOIN, {"username": username, "roomId": room, **extra})
        assert ack["ok"], ack
        return ack

    def of(self, event: str) -> list:
        return [payload for name, payload in self.events if name == event]

    async def wait_for(self, event: str, pred: Callable[[Any], bool] = lambda _: True,
                       count: int = 1, timeout: float = 10) -> list:
        async def until():
            while True:
                found = [p for p in self.of(event) if pred(p)]
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(until(), timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.sio.shutdown()
        if self.http_session is not None:
            await self.http_session.close()


class RawSocket:
    """Engine.IO v4 over a websocket, speaking raw Socket.IO text packets."""

    def __init__(self, url: str, *, answer_pings: bool = True, origin: str | None = None,
                 headers: dict[str, str] | None = None):
        self.url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.answer_pings = answer_pings
        self.origin = origin
        self.headers = dict(headers or {})
        self.events: list[tuple[str, Any]] = []
        self.acks: dict[int, Any] = {}
        self.closed = asyncio.Event()
        self.sid: str | None = None
        self._changed = asyncio.Event()

    async def connect(self) -> RawSocket:
        self.session = aiohttp.ClientSession()
        headers = {**self.headers, **({"Origin": self.origin} if self.origin else {})}
        self.ws = await self.session.ws_connect(self.url, headers=headers)
        opening = await self.ws.receive_str()
        assert opening.startswith("0"), opening
        await self.ws.send_str("40")
        connected = await self.ws.receive_str()
        assert connected.startswith("40"), connected
        self.sid = json.loads(connected[2:])["sid"]
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.data
            if data == "2":
                if self.answer_pings:
                    await self.ws.send_str("3")
            elif data.startswith("42"):
                event, *args = json.loads(data[2:])
                self.events.append((event, args[0] if args else None))
            elif data.startswith("43"):
                i = 2
                while data[i].isdigit():
                    i += 1
                self.acks[int(data[2:i])] = json.loads(data[i:])[0]
            self._changed.set()
        self.closed.set()
        self._changed.set()

    async def send(self, text: str | bytes) -> None:
        if isinstance(text, bytes):
            await self.ws.send_bytes(text)
        else:
            await self.ws.send_str(text)

    async def emit(self, event: str, payload: Any = None, ack: int | None = None) -> None:
        await self.send(f"42{'' if ack is None else ack}{json.dumps([event, payload])}")

    async def call(self, event: str, payload: Any, ack: int, timeout: float = 10) -> Any:
        await self.emit(event, payload, ack)
        return await self.wait_ack(ack, timeout)

    async def wait_ack(self, ack: int, timeout: float = 10) -> Any:
        async def until():
            while ack not in self.acks:
                self._changed.clear()
                await self._changed.wait()
            return self.acks[ack]
        return await asyncio.wait_for(until(), timeout)

    async def wait_for(self, event: str, count: int = 1, timeout: float = 10) -> list:
        async def until():
            while True:
                found = [p for e, p in self.events if e == event]
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(until(), timeout)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await self.session.close()


class SilentSocket:
    """A websocket client that joins a room and then never reads again: what the relay
    sends it piles up (a small receive buffer makes the kernel's share small)."""

    def __init__(self, url: str, *, receive_buffer: int = 8192):
        self.host, port = url.split("//", 1)[1].split(":")
        self.port = int(port)
        self.receive_buffer = receive_buffer
        self.sid: str | None = None

    async def connect(self) -> SilentSocket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        assert (await self._frame()).startswith("0")   # Engine.IO open
        await self.send("40")
        connected = await self._frame()
        assert connected.startswith("40"), connected
        self.sid = json.loads(connected[2:])["sid"]
        return self

    async def _frame(self) -> str:
        first, second = await self.reader.readexactly(2)
        n = second & 0x7F
        if n == 126:
            n = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return (await self.reader.readexactly(n)).decode()

    async def send(self, text: str) -> None:
        """One masked text frame (clients must mask)."""
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        head = (bytes((0x81, 0x80 | n)) if n < 126 else
                struct.pack("!BBH", 0x81, 0xFE, n) if n < 65536 else
                struct.pack("!BBQ", 0x81, 0xFF, n))
        self.writer.write(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        await self.writer.drain()

    async def emit(self, event: str, payload: Any) -> None:
        await self.send("42" + json.dumps([event, payload]))

    def close(self) -> None:
        self.writer.transport.abort()


async def pair(url: str, room: str = "lab") -> tuple[Peer, Peer]:
    alice = await Peer(url).connect()
    bob = await Peer(url).connect()
    await alice.join("alice", room)
    await bob.join("bob", room)
    await alice.wait_for(P.USER_JOINED, lambda p: p["username"] == "bob")
    return alice, bob
