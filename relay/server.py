"""The relay's Socket.IO side: the seed's events, our rules, and a lean path per message.

``RelayServer`` is a python-socketio ``AsyncServer`` that takes over the parsing of event
packets (``_handle_eio_message``) so that every client event goes through one place that
checks size, rate, shape and room before anything is forwarded, and so that the common case
(one message to one socket) costs a single JSON decode and a single JSON encode.

Handlers run inline in each client's read loop (``async_handlers=False``): one client's
events are handled strictly in the order it sent them, while clients run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json as _stdjson
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import socketio
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio.async_pubsub_manager import AsyncPubSubManager

from ecc_widgets import protocol as P
from relay.roster import Member, MemoryRoster, NameTaken, hash_token
from relay.transport import LeanSocket, LeanWebSocket, ws_frame

try:  # orjson is several times faster than json for the small packets we forward
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    orjson = None

log = logging.getLogger("relay")

NAMESPACE = "/"
# Socket.IO rooms are named "room:<roomId>" so a room id can never be another socket's sid
ROOM_PREFIX = "room:"
RATE_NOTICE_INTERVAL = 1.0   # seconds between "slow down" notices to a client without acks


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


class TokenBucket:
    """Per-connection rate limit: ``rate`` events per second, bursts up to ``burst``."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int, now: float | None = None):
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic() if now is None else now

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens < 1.0:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1.0
        return True


@dataclass
class Connection:
    sid: str
    eio_sid: str
    sock: Any                         # its Engine.IO socket
    bucket: TokenBucket
    member: Member | None = None
    token: str | None = None          # the resume token handed to this socket at join
    last_notice: float = 0.0


def jwk_fingerprint(jwk: Any) -> str:
    """A short fingerprint of a public JWK for logs (never the key itself)."""
    if not isinstance(jwk, dict):
        return "-"
    material = "|".join(str(jwk.get(k, "")) for k in ("kty", "crv", "x", "y"))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


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


Handler = Callable[[Connection, Any], Awaitable[dict]]


class RelayServer(socketio.AsyncServer):
    """Socket.IO server speaking the seed's protocol, with acks, limits and rooms."""

    def __init__(self, roster: MemoryRoster, *, rate: float = 200.0, burst: int = 1000,
                 probe_timeout: float = 3.0, capture: Path | None = None,
                 cors: Any = None, client_manager: Any = None,
                 ping_interval: float = 10.0, ping_timeout: float = 10.0):
        super().__init__(
            async_mode="aiohttp",
            client_manager=client_manager,
            json=FastJson,
            async_handlers=False,           # keep each client's events in order
            cors_allowed_origins=cors,
            max_http_buffer_size=P.ENGINEIO_MAX_BUFFER,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            logger=False,
            engineio_logger=False,          # engineio logs packet data at INFO: keep it off
        )
        # the lean websocket transport (see relay.transport): same protocol, less work
        self.eio._async = {**self.eio._async, "websocket": LeanWebSocket}
        self.roster = roster
        self.relay_id = roster.relay_id
        self.rate = rate
        self.burst = burst
        self.probe_timeout = probe_timeout
        self.capture = Capture(capture) if capture else None
        self._pubsub = isinstance(self.manager, AsyncPubSubManager)
        self.conns: dict[str, Connection] = {}       # by Socket.IO sid
        self.by_eio: dict[str, Connection] = {}      # by Engine.IO sid
        self.shutting_down = False
        self._handlers: dict[str, Handler] = {
            P.JOIN: self.on_join,
            P.LEAVE: self.on_leave,
            P.CURVE_SELECTED: self.on_curve_selected,
            P.KEYS_GENERATED: self.on_keys_generated,
            P.PROCESSING_STEP: self.on_processing_step,
            P.SHARE_PUBLIC_KEY: self.on_share_public_key,
            P.SEND_MESSAGE: self.on_send_message,
        }
        self.on("connect", self._on_connect)
        self.on("disconnect", self._on_disconnect)

    # --- connection lifecycle ---------------------------------------------------------------
    async def _handle_eio_connect(self, eio_sid: str, environ: dict) -> None:
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None and type(sock) is AsyncSocket:
            sock.__class__ = LeanSocket
            sock.on_message = self._handle_eio_message
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _on_connect(self, sid: str, environ: dict, auth: Any = None) -> bool:
        if self.shutting_down:
            return False
        eio_sid = self.manager.eio_sid_from_sid(sid, NAMESPACE)
        conn = Connection(sid, eio_sid, self.eio.sockets.get(eio_sid),
                          TokenBucket(self.rate, self.burst))
        self.conns[sid] = conn
        self.by_eio[eio_sid] = conn
        log.debug("connect %s from %s", sid, environ.get("REMOTE_ADDR", "?"))
        return True

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.conns.pop(sid, None)
        if conn is not None:
            self.by_eio.pop(conn.eio_sid, None)
            await self._leave_room(conn)
        log.debug("disconnect %s (%s)", sid, reason)

    # --- packet parsing: the one door every client event comes through ---------------------
    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if isinstance(data, str) and data[:1] == "2":
            await self._on_event_packet(eio_sid, data)
            return
        if isinstance(data, str) and data[:1] == "3":
            return  # an ACK: the relay never asks clients for one, so there is nothing to match
        if isinstance(data, bytes) or data[:1] in ("5", "6"):
            # binary events are not part of the protocol; attachments are ignored
            conn = self.by_eio.get(eio_sid)
            if conn is not None and isinstance(data, str):
                await self._reply(conn, None, "?", P.ack_error(
                    "binary events are not supported; send JSON"))
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception as exc:  # noqa: BLE001 - a bad packet must not end the read loop
            log.debug("dropped a malformed packet from %s: %s", eio_sid, exc)

    async def _on_event_packet(self, eio_sid: str, data: str) -> None:
        conn = self.by_eio.get(eio_sid)
        if conn is None:
            return  # not connected to our namespace: nothing to answer to
        sid = conn.sid
        # "2" [ "/nsp," ] [ ack id ] json
        start = 1
        if data.startswith("/", 1):
            comma = data.find(",", 1)
            if comma < 0 or data[1:comma] != NAMESPACE:
                return  # another namespace: we serve only "/"
            start = comma + 1
        end = start
        limit = min(len(data), start + 12)
        while end < limit and "0" <= data[end] <= "9":
            end += 1
        ack_id = int(data[start:end]) if end > start else None

        if len(data) > P.MAX_EVENT_BYTES:
            await self._reply(conn, ack_id, "?", P.ack_error(
                f"event is larger than {P.MAX_EVENT_BYTES} bytes; dropped"))
            return
        if not conn.bucket.take():
            await self._reply(conn, ack_id, "?", P.ack_error(
                f"rate limit: more than {self.rate:g} events per second; dropped"),
                throttle=True)
            return
        try:
            decoded = loads(data[end:])
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            if self.capture:
                self.capture.write(sid, None, raw=data)
            await self._reply(conn, ack_id, "?", P.ack_error("malformed packet: not JSON"))
            return
        if not isinstance(decoded, list) or not decoded or not isinstance(decoded[0], str):
            if self.capture:
                self.capture.write(sid, None, raw=data)
            await self._reply(conn, ack_id, "?", P.ack_error(
                "malformed event: expected [name, payload]"))
            return
        event = decoded[0]
        payload = decoded[1] if len(decoded) > 1 else None
        if self.capture:
            self.capture.write(sid, event, payload)
        handler = self._handlers.get(event)
        if handler is None:
            await self._reply(conn, ack_id, event[:40], P.ack_error(
                f"unknown event {event[:40]!r}"))
            return
        try:
            result = await handler(conn, payload)
        except P.ProtocolError as exc:
            result = P.ack_error(str(exc))
        except Exception:  # noqa: BLE001 - one bad event must not take the relay down
            log.exception("internal error while handling %r from %s", event, sid)
            result = P.ack_error("internal relay error; the event was dropped")
        await self._reply(conn, ack_id, event, result)

    async def _reply(self, conn: Connection, ack_id: int | None, event: str, result: dict,
                     *, throttle: bool = False) -> None:
        """Acknowledge if asked; otherwise tell the client about an error, if there was one."""
        if ack_id is not None:
            await deliver(conn.sock, f"3{ack_id}{dumps([result])}")
        elif not result.get("ok"):
            now = time.monotonic()
            if throttle and now - conn.last_notice < RATE_NOTICE_INTERVAL:
                return
            conn.last_notice = now
            await deliver(conn.sock, "2" + dumps(
                [P.RELAY_ERROR, P.relay_error(event, result.get("error", ""))]))

    async def send_to(self, sid: str, event: str, payload: dict) -> None:
        """One event to one socket: directly when it is ours, else through the manager."""
        conn = self.conns.get(sid)
        if conn is not None:
            await deliver(conn.sock, "2" + dumps([event, payload]))
            return
        owner = self.roster.owner(sid)
        if owner is not None and owner != self.relay_id:
            # straight to the relay that holds the socket, encoded once, in order
            self.roster.send_direct(owner, sid, "2" + dumps([event, payload]))
        else:
            await self.emit(event, payload, to=sid)

    async def deliver_local(self, sid: str, text: str) -> None:
        """An encoded event from another relay for one of our sockets."""
        conn = self.conns.get(sid)
        if conn is not None:
            await deliver(conn.sock, text)

    async def to_room(self, room: str, event: str, payload: dict,
                      skip_sid: str | None = None) -> None:
        if self._pubsub:   # other relays have members too: the manager publishes
            await self.emit(event, payload, room=ROOM_PREFIX + room, skip_sid=skip_sid)
            return
        # one relay: encode once, queue the same frame for every member
        text = "2" + dumps([event, payload])
        frame = None
        for sid, _ in self.manager.get_participants(NAMESPACE, ROOM_PREFIX + room):
            conn = self.conns.get(sid)
            if sid == skip_sid or conn is None or conn.sock is None or conn.sock.closed:
                continue
            sock = conn.sock
            if sock.upgraded and not sock.upgrading and type(sock) is LeanSocket:
                if frame is None:
                    frame = ws_frame(("4" + text).encode(), 1)
                sock.queue.put_nowait(frame)
            else:
                await sock.send(eio_packet.Packet(eio_packet.MESSAGE, text))

    # --- handlers (each returns the acknowledgement) -----------------------------------------
    def _member(self, conn: Connection, event: str) -> Member:
        if conn.member is None:
            raise P.ProtocolError(f"{event}: join a room first")
        return conn.member

    async def on_join(self, conn: Connection, payload: Any) -> dict:
        p = P.validate(P.JOIN, payload)
        room, name = p["roomId"], p["username"]
        current = conn.member
        if current is not None and current.room == room and current.username == name:
            members = await self.roster.members(room)
            return P.ack_ok(socketId=conn.sid, roomId=room, username=name,
                            usersInRoom=_roster(members), resumeToken=conn.token)
        if current is not None:
            await self._leave_room(conn)
        token = secrets.token_urlsafe(18)
        try:
            members = await self._claim(conn, room, name, token, p.get("resumeToken"))
        except NameTaken as taken:
            return P.ack_error(f"{taken}; choose another name")
        conn.member = Member(conn.sid, name, room, self.relay_id, hash_token(token))
        conn.token = token
        await self.enter_room(conn.sid, ROOM_PREFIX + room)
        users = _roster(members)
        await self.to_room(room, P.USER_JOINED, P.user_joined(name, conn.sid, users))
        log.info("%s joined room %r as %r (%d in room)", conn.sid, room, name, len(users))
        return P.ack_ok(socketId=conn.sid, roomId=room, username=name, usersInRoom=users,
                        resumeToken=token)

    async def _claim(self, conn: Connection, room: str, name: str, token: str,
                     resume: str | None) -> list[Member]:
        """Take ``name`` in ``room``; reclaim it from a socket that is gone or superseded.

        The seed re-sends ``join`` on every connect, so a client that reconnects meets its own
        old socket still holding the name until the relay notices it is gone. A client that
        presents the resume token it got at its first join takes the name over at once; for
        any other, the old holder is probed and loses the name only if it does not answer.
        """
        try:
            return await self.roster.add(room, conn.sid, name, hash_token(token))
        except NameTaken as taken:
            holder = taken.holder
            superseded = bool(resume) and hash_token(resume) == holder.token_hash
            if not superseded and await self._alive(holder):
                raise
            log.info("name %r in room %r passes from %s (%s) to %s", name, room, holder.sid,
                     "resumed" if superseded else "gone", conn.sid)
            await self._evict(holder)
        deadline = time.monotonic() + 2.0
        while True:
            try:
                return await self.roster.add(room, conn.sid, name, hash_token(token))
            except NameTaken:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)  # a remote relay is still removing the old socket

    async def _alive(self, holder: Member) -> bool:
        """Does the socket holding a name still answer? (an Engine.IO ping, bounded wait)"""
        if holder.relay_id != self.relay_id:
            if not await self.roster.relay_alive(holder.relay_id):
                return False
            return await self.roster.probe_remote(holder, self.probe_timeout)
        return await self.probe_local(holder.sid, self.probe_timeout)

    async def probe_local(self, sid: str, timeout: float) -> bool:
        eio_sid = self.manager.eio_sid_from_sid(sid, NAMESPACE)
        if eio_sid is None or sid not in self.conns:
            return False
        try:
            sock = self.eio._get_socket(eio_sid)
        except KeyError:
            return False
        if sock.closed or sock.closing:
            return False
        heard = asyncio.Event()
        original = sock.receive

        async def receive(pkt):  # anything from the client proves it is there
            heard.set()
            return await original(pkt)

        sock.receive = receive
        try:
            await sock.send(eio_packet.Packet(eio_packet.PING))
            await asyncio.wait_for(heard.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            if sock.receive is receive:
                del sock.receive  # back to the class's method

    async def _evict(self, holder: Member) -> None:
        conn = self.conns.get(holder.sid)
        if conn is not None:
            await self.disconnect(holder.sid)
            await self.close_transport(conn.eio_sid)  # it may be half-open: do not wait
            return
        if holder.relay_id != self.relay_id and await self.roster.relay_alive(holder.relay_id):
            await self.disconnect(holder.sid)  # the manager asks the owning relay
            for _ in range(50):
                if await self.roster.member(holder.sid) is None:
                    return
                await asyncio.sleep(0.02)
        # the owner is gone (or silent): take the socket out of the roster ourselves
        removed = await self.roster.remove(holder.sid)
        if removed is not None:
            member, rest = removed
            await self.to_room(member.room, P.USER_LEFT,
                               P.user_left(member.username, member.sid, _roster(rest)))

    async def close_transport(self, eio_sid: str) -> None:
        try:
            sock = self.eio._get_socket(eio_sid)
        except KeyError:
            return
        await sock.close(wait=False)
        sock.queue.put_nowait(None)  # the writer sends the CLOSE packet, then the socket ends

    async def on_leave(self, conn: Connection, payload: Any) -> dict:
        P.validate(P.LEAVE, payload)
        member = self._member(conn, P.LEAVE)
        await self._leave_room(conn)
        return P.ack_ok(roomId=member.room)

    async def _leave_room(self, conn: Connection) -> None:
        member, conn.member, conn.token = conn.member, None, None
        if member is None:
            return
        removed = await self.roster.remove(conn.sid)
        with contextlib.suppress(KeyError, ValueError):  # already gone from the manager
            await self.leave_room(conn.sid, ROOM_PREFIX + member.room)
        if removed is None:
            return  # already taken out (a relay sweep, an eviction)
        _, rest = removed
        await self.to_room(member.room, P.USER_LEFT,
                           P.user_left(member.username, conn.sid, _roster(rest)))
        log.info("%s left room %r (%d remain)", conn.sid, member.room, len(rest))

    async def on_curve_selected(self, conn: Connection, payload: Any) -> dict:
        p = P.validate(P.CURVE_SELECTED, payload)
        me = self._member(conn, P.CURVE_SELECTED)
        await self.to_room(me.room, P.PEER_CURVE_SELECTED,
                           P.peer_curve_selected(p["curve"], me.username, conn.sid),
                           skip_sid=conn.sid)
        return P.ack_ok()

    async def on_keys_generated(self, conn: Connection, payload: Any) -> dict:
        P.validate(P.KEYS_GENERATED, payload)
        me = self._member(conn, P.KEYS_GENERATED)
        await self.to_room(me.room, P.PEER_KEYS_GENERATED,
                           P.peer_keys_generated(me.username, conn.sid), skip_sid=conn.sid)
        return P.ack_ok()

    async def on_processing_step(self, conn: Connection, payload: Any) -> dict:
        p = P.validate(P.PROCESSING_STEP, payload)
        me = self._member(conn, P.PROCESSING_STEP)
        await self.to_room(me.room, P.PEER_PROCESSING_STEP,
                           P.peer_processing_step(p["step"], p["details"], me.username,
                                                  conn.sid),
                           skip_sid=conn.sid)
        return P.ack_ok()

    async def _target(self, me: Member, target: str, event: str) -> None:
        room = self.roster.cached_room(target)
        if room is None:
            member = await self.roster.member(target)
            room = member.room if member is not None else None
        if room != me.room:
            raise P.ProtocolError(f"{event}: no socket {target[:P.MAX_SOCKET_ID]!r} in your "
                                  "room")

    async def on_share_public_key(self, conn: Connection, payload: Any) -> dict:
        p = P.validate(P.SHARE_PUBLIC_KEY, payload)
        me = self._member(conn, P.SHARE_PUBLIC_KEY)
        target = p["targetSocketId"]
        await self._target(me, target, P.SHARE_PUBLIC_KEY)
        await self.send_to(target, P.RECEIVE_PUBLIC_KEY,
                           P.receive_public_key(p, me.username, conn.sid))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("key %s from %s to %s", jwk_fingerprint(p["publicKey"]), conn.sid, target)
        return P.ack_ok()

    async def on_send_message(self, conn: Connection, payload: Any) -> dict:
        p = P.validate(P.SEND_MESSAGE, payload)
        me = self._member(conn, P.SEND_MESSAGE)
        target = p["targetSocketId"]
        await self._target(me, target, P.SEND_MESSAGE)
        timestamp = int(time.time() * 1000)
        await self.send_to(target, P.RECEIVE_MESSAGE,
                           P.receive_message(p, me.username, conn.sid, timestamp))
        return P.ack_ok(timestamp=timestamp)

    # --- shutdown --------------------------------------------------------------------------
    async def close_all(self, reason: str = "the relay is shutting down") -> None:
        """Tell every client, take our users out of the roster, then close the transports.

        Transports are closed without an Engine.IO CLOSE packet, so clients see a dropped
        connection and reconnect by themselves (to this relay once it is back, or another).
        """
        self.shutting_down = True
        notice = "2" + dumps([P.RELAY_SHUTDOWN, {"reason": reason}])
        conns = list(self.conns.values())
        for conn in conns:
            await deliver(conn.sock, notice)
        for conn in conns:
            await self._leave_room(conn)
        sockets = [s for s in self.eio.sockets.values() if not s.closed]
        for sock in sockets:
            sock.queue.put_nowait(None)   # the writer sends what is queued, then closes
        if sockets:  # give writers a moment to flush the notice, then close what is left
            await asyncio.wait([asyncio.ensure_future(s.queue.join()) for s in sockets],
                               timeout=2.0)
        for sock in sockets:
            with contextlib.suppress(Exception):  # closing anyway
                await sock.close(wait=False, abort=True)
        await self.shutdown()
        if self.capture:
            self.capture.close()

    async def health(self) -> dict:
        counts = await self.roster.counts()
        return {"ok": True, **counts, "connections": len(self.conns),
                "relay": self.relay_id}


async def deliver(sock: Any, text: str) -> None:
    """Queue one Socket.IO packet (text) for an Engine.IO socket.

    On an upgraded lean websocket the frame is encoded here, once, and queued as bytes for
    the batching writer; otherwise it goes through Engine.IO's own send.
    """
    if sock is None or sock.closed:
        return
    if sock.upgraded and not sock.upgrading and type(sock) is LeanSocket:
        sock.queue.put_nowait(ws_frame(("4" + text).encode(), 1))
    else:
        await sock.send(eio_packet.Packet(eio_packet.MESSAGE, text))


def _roster(members: list[Member]) -> list[dict]:
    return [P.roster_entry(m.sid, m.username) for m in members]
