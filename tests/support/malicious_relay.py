"""A hostile relay for tests: it routes like ours, and can rewrite, drop, replay and inject.

It is a plain python-socketio server (no validation beyond what routing needs) on a free
loopback port, run on its own thread and event loop, so that real `Session` objects can be
driven through their public API while the relay attacks them. Everything it forwards is kept
in `forwarded`, so a test can replay it later.

    with MaliciousRelay() as relay:
        relay.rewrite = lambda d: [d.replace(payload={**d.payload, "v": None})]
        alice.join("alice", "lab", relay.url)
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import socketio
from aiohttp import web

from ecc_widgets import protocol as P


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One event the relay is about to send: `event` with `payload` to the socket `to`."""

    event: str
    payload: dict
    to: str           # target socket id
    sender: str = ""  # the sending user's name ("" for events the relay makes itself)

    def replace(self, **changes: Any) -> Delivery:
        return dataclasses.replace(self, **changes)


class MaliciousRelay:
    """Rooms, names and routing as the seed's relay, with `rewrite` in front of every send.

    `rewrite(delivery)` returns the deliveries to make instead (an empty list drops it);
    the default forwards it unchanged.
    """

    def __init__(self) -> None:
        self.rewrite: Callable[[Delivery], list[Delivery]] = lambda d: [d]
        self.forwarded: list[Delivery] = []
        self.members: dict[str, tuple[str, str]] = {}   # sid -> (room, name)
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="malicious-relay",
                                        daemon=True)
        self.sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
        self._handlers()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> MaliciousRelay:
        app = web.Application()
        self.sio.attach(app)
        self._thread.start()

        async def serve() -> None:
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            await self.sio.shutdown()
            if self._runner is not None:
                await self._runner.cleanup()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> MaliciousRelay:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ what tests call

    def sid_of(self, name: str) -> str:
        for sid, (_room, member) in self.members.items():
            if member == name:
                return sid
        raise KeyError(name)

    def send(self, delivery: Delivery) -> None:
        """Send a delivery as it is (no `rewrite`): an injection or a replay."""
        asyncio.run_coroutine_threadsafe(
            self.sio.emit(delivery.event, delivery.payload, to=delivery.to), self._loop,
        ).result(10)

    def sent(self, event: str, sender: str | None = None) -> list[Delivery]:
        return [d for d in self.forwarded
                if d.event == event and (sender is None or d.sender == sender)]

    # ------------------------------------------------------------------ routing

    async def _deliver(self, delivery: Delivery) -> None:
        for d in self.rewrite(delivery):
            self.forwarded.append(d)
            await self.sio.emit(d.event, d.payload, to=d.to)

    def _roster(self, room: str) -> list[dict]:
        return [{"socketId": sid, "username": name}
                for sid, (r, name) in self.members.items() if r == room]

    async def _to_room(self, room: str, event: str, payload: dict, *, but: str = "",
                       sender: str = "") -> None:
        for sid, (r, _name) in list(self.members.items()):
            if r == room and sid != but:
                await self._deliver(Delivery(event, payload, sid, sender))

    async def _leave(self, sid: str) -> None:
        member = self.members.pop(sid, None)
        if member is not None:
            room, name = member
            await self._to_room(room, P.USER_LEFT, {"username": name, "socketId": sid,
                                                    "usersInRoom": self._roster(room)})

    def _handlers(self) -> None:
        sio = self.sio

        @sio.on(P.JOIN)
        async def join(sid, data):
            await self._leave(sid)
            room, name = data["roomId"], data["username"]
            self.members[sid] = (room, name)
            roster = self._roster(room)
            await self._to_room(room, P.USER_JOINED,
                                {"username": name, "socketId": sid, "usersInRoom": roster})
            return {"ok": True, "socketId": sid, "roomId": room, "username": name,
                    "usersInRoom": roster, "resumeToken": "t-" + sid}

        @sio.on(P.LEAVE)
        async def leave(sid, data=None):
            room = self.members.get(sid, ("", ""))[0]
            await self._leave(sid)
            return {"ok": True, "roomId": room}

        @sio.on(P.CURVE_SELECTED)
        async def curve_selected(sid, data):
            room, name = self.members[sid]
            await self._to_room(room, P.PEER_CURVE_SELECTED,
                                {"curve": data["curve"], "from": name, "socketId": sid},
                                but=sid, sender=name)
            return {"ok": True}

        @sio.on(P.KEYS_GENERATED)
        async def keys_generated(sid, data=None):
            room, name = self.members[sid]
            await self._to_room(room, P.PEER_KEYS_GENERATED, {"from": name, "socketId": sid},
                                but=sid, sender=name)
            return {"ok": True}

        @sio.on(P.PROCESSING_STEP)
        async def processing_step(sid, data):
            room, name = self.members[sid]
            await self._to_room(room, P.PEER_PROCESSING_STEP,
                                {**data, "from": name, "socketId": sid}, but=sid, sender=name)
            return {"ok": True}

        @sio.on(P.SHARE_PUBLIC_KEY)
        async def share(sid, data):
            _room, name = self.members[sid]
            payload = {k: v for k, v in data.items() if k != "targetSocketId"}
            await self._deliver(Delivery(P.RECEIVE_PUBLIC_KEY,
                                         {**payload, "from": name, "fromSocketId": sid},
                                         data["targetSocketId"], name))
            return {"ok": True}

        @sio.on(P.SEND_MESSAGE)
        async def message(sid, data):
            _room, name = self.members[sid]
            stamp = int(time.time() * 1000)
            payload = {k: v for k, v in data.items() if k != "targetSocketId"}
            await self._deliver(Delivery(P.RECEIVE_MESSAGE,
                                         {**payload, "from": name, "fromSocketId": sid,
                                          "timestamp": stamp},
                                         data["targetSocketId"], name))
            return {"ok": True, "timestamp": stamp}

        @sio.event
        async def disconnect(sid, *args):
            await self._leave(sid)
