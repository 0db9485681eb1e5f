"""The relay's transport: how Socket.IO messages move between the relay and its clients.

This is the one module that touches python-engineio, and the only one that touches private
attributes of python-engineio, python-socketio and aiohttp. The relay server picks one
transport object at start-up (``open_transport``, ``--transport``) and asks it everything
that depends on Engine.IO: a socket's session, delivery, whether a client still answers,
dropping a session, shutdown. Two transports:

``lean`` (the default)
    Profiling the relay under load showed most time outside our code: python-engineio's
    websocket loop creates a task and a timeout per received message, wraps every message in
    a packet object and looks its handler up with ``inspect`` each time, and its writer does
    one ``write()`` system call per outgoing packet. The lean transport keeps Engine.IO's
    behaviour (the handshake, upgrades from polling, ping/pong, close) and changes how the
    bytes move: the reader hands Socket.IO messages straight to the relay; the writer takes
    everything queued for a client and writes it as one batch of websocket frames (one
    system call) with flow control; permessage-deflate is off, as in Node's Socket.IO server.
    The relay reads event packets itself (``relay.wire``), queues ready-made frames, pings a
    socket to learn whether it still answers, and drops transports without a CLOSE packet at
    shutdown so that clients reconnect.

``stock``
    Plain python-socketio and python-engineio through their public API only: slower, and
    with the differences listed in docs/architecture.md, but independent of their internals.

``check()`` runs when the lean transport is opened (``relay.app.create_app`` builds the
server) and fails with the installed versions and the supported range when something the
lean transport relies on is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable
from importlib import metadata
from typing import Any

from aiohttp import WSMsgType
from aiohttp.base_protocol import BaseProtocol
from aiohttp.web import WebSocketResponse
from engineio import exceptions, packet
from engineio import payload as engineio_payload
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket

from relay.config import TRANSPORTS
from relay.wire import NAMESPACE, WS_BINARY, WS_TEXT, ws_frame

__all__ = ["TRANSPORTS", "IncompatibleVersionError", "LeanSocket", "LeanTransport",
           "StockTransport", "Transport", "check", "limit_connections", "open_transport"]

log = logging.getLogger("relay")

# What the lean transport was written against; pyproject.toml bounds the same range.
SUPPORTED = {
    "python-engineio": ">=4.12.3,<4.16",
    "python-socketio": ">=5.16.2,<5.19",
    "aiohttp": ">=3.13.3,<3.15",
}
MAX_POLL_PACKETS = 16     # per long-polling answer: python-engineio's client refuses more
MAX_POST_PACKETS = 4096   # per long-polling POST (Engine.IO's default is 16; Node has none)


class IncompatibleVersionError(RuntimeError):
    """An installed package lacks something the lean transport relies on."""


def _requirements(sio: Any) -> list[tuple[str, bool]]:
    """(what, present) for every internal the lean transport uses."""
    import socketio

    probe_ws = WebSocketResponse()
    return [
        ("engineio.AsyncServer._async['websocket']",
         isinstance(getattr(sio.eio, "_async", None), dict) and "websocket" in sio.eio._async),
        ("engineio.AsyncServer.generate_id", callable(getattr(sio.eio, "generate_id", None))),
        ("socketio.AsyncServer._handle_eio_connect",
         callable(getattr(socketio.AsyncServer, "_handle_eio_connect", None))),
        ("socketio.AsyncServer._handle_eio_message",
         callable(getattr(socketio.AsyncServer, "_handle_eio_message", None))),
        *((f"engineio.async_socket.AsyncSocket.{name}", callable(getattr(AsyncSocket, name, None)))
          for name in ("_websocket_handler", "check_ping_timeout", "receive", "send", "close",
                       "poll")),
        ("engineio.async_drivers.aiohttp.WebSocket",
         callable(getattr(eio_aiohttp, "WebSocket", None))),
        ("engineio.payload.Payload.max_decode_packets",
         isinstance(getattr(engineio_payload.Payload, "max_decode_packets", None), int)),
        ("aiohttp.web.WebSocketResponse._writer", hasattr(probe_ws, "_writer")),
        ("aiohttp.base_protocol.BaseProtocol._drain_helper",
         callable(getattr(BaseProtocol, "_drain_helper", None))),
        ("aiohttp.base_protocol.BaseProtocol.writing_paused",
         hasattr(BaseProtocol, "writing_paused")),
    ]


def versions() -> str:
    found = []
    for name in SUPPORTED:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def check(sio: Any) -> None:
    """Fail clearly if the installed packages lack what the lean transport relies on."""
    missing = [what for what, present in _requirements(sio) if not present]
    if missing:
        wanted = ", ".join(f"{name}{spec}" for name, spec in SUPPORTED.items())
        raise IncompatibleVersionError(
            f"the relay's lean transport needs {', '.join(missing)}, which the installed "
            f"{versions()} lack; it supports {wanted}. Install those versions, or run the "
            "relay with --transport stock (plain python-socketio, slower).")


def install(sio: Any, on_message: Callable[[str, Any], Awaitable[None]],
            on_overflow: Callable[[str, str], None] | None = None, *,
            max_queued_bytes: int = 4 * 1024 * 1024, max_paused: float = 10.0
            ) -> Callable[[str, Any], Awaitable[None]]:
    """Put the lean transport under ``sio``; every Engine.IO message goes to ``on_message``.

    A socket with more than ``max_queued_bytes`` queued for it and not yet taken by the
    client, or whose writer has waited more than ``max_paused`` seconds for the client to
    read, is dropped at the next thing sent to it; ``on_overflow(eio_sid, why)`` is told.

    Returns python-socketio's own message handler, for the packets the relay does not read
    itself (connect, disconnect). Also lifts Engine.IO's limit of 16 packets per long-polling
    POST (process-wide: the relay's own): the browser's socket.io-client starts polling and
    sends what it queued in one POST; the POST stays bounded by max_http_buffer_size.
    """
    engineio_payload.Payload.max_decode_packets = MAX_POST_PACKETS
    sio.eio._async = {**sio.eio._async, "websocket": LeanWebSocket}
    socketio_connect = sio._handle_eio_connect
    socketio_message = sio._handle_eio_message

    async def on_connect(eio_sid: str, environ: dict) -> Any:
        sock = sio.eio.sockets.get(eio_sid)
        if sock is not None and type(sock) is AsyncSocket:
            sock.__class__ = LeanSocket
            sock.on_message = on_message
            sock.on_overflow = on_overflow
            sock.max_queued = max_queued_bytes
            sock.max_paused = max_paused
        return await socketio_connect(eio_sid, environ)

    sio.eio.on("connect", on_connect)
    sio.eio.on("message", on_message)
    return socketio_message


async def _answers_ping(sock: Any, timeout: float) -> bool:
    """Send an Engine.IO PING; does anything come back from the client within ``timeout``?"""
    if sock.closed or sock.closing:
        return False
    heard = asyncio.Event()
    original = sock.receive

    async def receive(pkt):  # anything from the client proves it is there
        heard.set()
        return await original(pkt)

    sock.receive = receive
    try:
        await sock.send(packet.Packet(packet.PING))
        await asyncio.wait_for(heard.wait(), timeout)
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        if sock.receive is receive:
            del sock.receive  # back to the class's method


async def _drop(sock: Any) -> None:
    """Close a (possibly half-open) transport now, without waiting for the client."""
    await sock.close(wait=False)
    sock.queue.put_nowait(None)  # the writer sends the CLOSE packet, then the socket ends


async def _drop_all(sockets: list[Any], flush_timeout: float = 2.0) -> None:
    """Send what is queued, then drop every transport without an Engine.IO CLOSE packet,
    so clients see a dropped connection and reconnect by themselves."""
    for sock in sockets:
        sock.queue.put_nowait(None)   # the writer sends what is queued, then closes
    if sockets:  # give writers a moment to flush, then close what is left
        await asyncio.wait([asyncio.ensure_future(s.queue.join()) for s in sockets],
                           timeout=flush_timeout)
    for sock in sockets:
        with contextlib.suppress(Exception):  # closing anyway
            await sock.close(wait=False, abort=True)


BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n"
        b"\r\n")


def limit_connections(server: Any, limit: int, *, exempt_loopback: bool = True,
                      exempt: Callable[[str], bool] = lambda _ip: False) -> None:
    """At most ``limit`` open connections per client address on aiohttp's ``server``
    (``web.Server``, every connection of both transports), checked as each is accepted:
    one more gets a 503 and is closed before aiohttp reads anything from it. Addresses
    for which ``exempt`` is true (trusted proxies: they carry a whole class) are not
    counted here; the sessions they carry are, per the address they name."""
    open_by_ip: dict[str, int] = {}
    counted: dict[Any, str] = {}     # request handler -> its client's address
    warned: set[str] = set()         # addresses refused since they were last under the cap
    accept = server.connection_made
    lost = server.connection_lost

    def connection_made(handler: Any, transport: Any) -> None:
        peer = transport.get_extra_info("peername")
        ip = peer[0] if isinstance(peer, tuple) and peer else ""
        if ip and not (exempt_loopback and _loopback(ip)) and not exempt(ip):
            n = open_by_ip.get(ip, 0)
            if n >= limit:
                if ip not in warned:
                    warned.add(ip)
                    log.warning("refusing connections from %s: %d open (cap %d)", ip, n,
                                limit)
                transport.write(BUSY)
                transport.close()
            else:
                open_by_ip[ip] = n + 1
                counted[handler] = ip
        accept(handler, transport)

    def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
        ip = counted.pop(handler, None)
        if ip is not None:
            n = open_by_ip.pop(ip) - 1
            if n:
                open_by_ip[ip] = n
            warned.discard(ip)
        lost(handler, exc)

    server.connection_made = connection_made   # web.Server has no hook for this
    server.connection_lost = connection_lost


def _loopback(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


# --- the transports --------------------------------------------------------------------------
class Transport:
    """What the relay server asks of Engine.IO, whichever transport carries its sockets.

    ``conns`` given to ``deliver`` are the server's connections: each has the ``eio_sid``
    of its session and the ``sock`` that ``socket_of`` gave for it.
    """

    name = ""

    def __init__(self, sio: Any):
        self.sio = sio
        self.eio = sio.eio

    def session_of(self, sid: str) -> str:
        """The Engine.IO session id of a Socket.IO socket of our namespace."""
        return self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)

    def socket_of(self, eio_sid: str) -> Any:
        """What ``deliver`` keeps for a session (None: nothing)."""
        return None

    def open_sessions(self) -> int:
        """Engine.IO sessions open now (joined or not)."""
        return len(self.eio.sockets)

    async def deliver(self, conns: Iterable[Any], text: str) -> None:
        """One encoded Socket.IO packet to each of these connections."""
        send = self.eio.send
        for conn in conns:
            await send(conn.eio_sid, text)

    async def answers(self, eio_sid: str, timeout: float) -> bool:
        """Does the client of a session still answer (within ``timeout``)?"""
        return True   # the stock transport cannot ping: connected counts as alive

    async def drop(self, eio_sid: str) -> None:
        """Close a (possibly half-open) session now, without waiting for its client."""
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None and not sock.closed:
            await _drop(sock)

    async def evict(self, eio_sid: str) -> None:
        """End the session of a socket just disconnected to free the name it held."""
        await self.eio.disconnect(eio_sid)

    async def close_all(self) -> None:
        """Shutdown: the transports end without a CLOSE packet, so that clients reconnect."""
        # python-socketio's shutdown would close every session for good (clients would
        # not reconnect): leave the transports to the web server's own shutdown, after a
        # moment for Engine.IO's writers to send what is queued
        await asyncio.sleep(0.2)

    def watch_sessions(self, connect: Callable[[str, dict], Awaitable[bool]],
                       disconnect: Callable[[str], None]) -> None:
        """Call ``connect(eio_sid, environ)`` as each Engine.IO session opens (False refuses
        it, before Socket.IO sees it) and ``disconnect(eio_sid)`` as each one ends."""
        eio = self.eio
        opened, closed = eio.handlers["connect"], eio.handlers["disconnect"]

        async def on_connect(eio_sid: str, environ: dict) -> Any:
            if not await connect(eio_sid, environ):
                return False
            return await opened(eio_sid, environ)

        async def on_disconnect(eio_sid: str, *args: Any) -> Any:
            try:
                return await closed(eio_sid, *args)
            finally:
                disconnect(eio_sid)

        eio.on("connect", on_connect)
        eio.on("disconnect", on_disconnect)

    def name_sessions(self, name: str) -> None:
        """Every Engine.IO session id this server makes starts with ``name-``: a proxy that
        reads the ``sid`` of a request routes it to the relay holding the session
        (python-engineio's ``generate_id``, which the handshake calls)."""
        eio = self.eio
        generate = eio.generate_id

        def generate_id() -> str:
            return f"{name}-{generate()}"

        eio.generate_id = generate_id

    @staticmethod
    def peer_of(environ: dict) -> tuple[str, str | None]:
        """The TCP peer's address of an Engine.IO session, and its X-Forwarded-For header
        (python-engineio's environ says 127.0.0.1 whatever the peer; aiohttp's request
        knows)."""
        request = environ.get("aiohttp.request")
        transport = getattr(request, "transport", None)
        peer = transport.get_extra_info("peername") if transport is not None else None
        ip = peer[0] if isinstance(peer, tuple) and peer else ""
        return ip, environ.get("HTTP_X_FORWARDED_FOR")


class StockTransport(Transport):
    """python-socketio as it comes: it parses each event and calls ``on_event(event, sid,
    *args)``, whose return value is the acknowledgement."""

    name = "stock"

    def __init__(self, sio: Any, on_event: Callable[..., Awaitable[Any]]):
        super().__init__(sio)
        sio.on("*", on_event)


class LeanTransport(Transport):
    """The relay's own websocket path (``LeanSocket``): every Engine.IO message of every
    client goes to ``on_message(eio_sid, data)``, which hands what it does not read itself
    to ``pass_on``; ``on_overflow(eio_sid, why)`` is told when a socket is dropped for not
    reading what is sent to it."""

    name = "lean"

    def __init__(self, sio: Any, on_message: Callable[[str, Any], Awaitable[None]],
                 on_overflow: Callable[[str, str], None] | None = None, *,
                 max_queued_bytes: int = 4 * 1024 * 1024, max_paused: float = 10.0):
        super().__init__(sio)
        check(sio)
        # python-socketio's own message handler, for the packets the relay does not read
        self.pass_on = install(sio, on_message, on_overflow,
                               max_queued_bytes=max_queued_bytes, max_paused=max_paused)

    def socket_of(self, eio_sid: str) -> Any:
        """The Engine.IO socket of a session, or None when it is gone or closed."""
        sock = self.eio.sockets.get(eio_sid)
        return None if sock is None or sock.closed else sock

    async def deliver(self, conns: Iterable[Any], text: str) -> None:
        """On an upgraded websocket the frame is built here, once for all, and queued as
        bytes for the batching writer; otherwise it goes through Engine.IO's own send."""
        frame = None
        for conn in conns:
            sock = conn.sock
            if sock is not None:
                if sock.closed:
                    continue
                # an upgraded lean websocket takes frames (an Engine.IO MESSAGE in each)
                if type(sock) is LeanSocket and sock.upgraded and not sock.upgrading:
                    if frame is None:
                        frame = ws_frame(("4" + text).encode())
                    sock.send_frame(frame)
                    continue
            await self.eio.send(conn.eio_sid, text)

    async def answers(self, eio_sid: str, timeout: float) -> bool:
        sock = self.socket_of(eio_sid)
        return sock is not None and await _answers_ping(sock, timeout)

    async def evict(self, eio_sid: str) -> None:
        await self.drop(eio_sid)   # it may be half-open: do not wait for it

    async def close_all(self) -> None:
        await _drop_all([s for s in self.eio.sockets.values() if not s.closed])
        await self.sio.shutdown()


def open_transport(name: str, sio: Any, *, on_message: Callable[[str, Any], Awaitable[None]],
                   on_event: Callable[..., Awaitable[Any]],
                   on_overflow: Callable[[str, str], None] | None = None,
                   max_queued_bytes: int = 4 * 1024 * 1024,
                   max_paused: float = 10.0) -> Transport:
    """The transport ``name`` (one of ``TRANSPORTS``) under the Socket.IO server ``sio``:
    the lean one calls ``on_message`` with each Engine.IO message, the stock one
    ``on_event`` with each parsed event."""
    if name == "lean":
        return LeanTransport(sio, on_message, on_overflow, max_queued_bytes=max_queued_bytes,
                             max_paused=max_paused)
    if name == "stock":
        return StockTransport(sio, on_event)
    raise ValueError(f"transport must be one of {TRANSPORTS}, not {name!r}")


def encode_frame(pkt: packet.Packet) -> bytes:
    data = pkt.encode()
    if isinstance(data, str):
        return ws_frame(data.encode(), WS_TEXT)
    return ws_frame(bytes(data), WS_BINARY)


class LeanWebSocket(eio_aiohttp.WebSocket):
    """Engine.IO's aiohttp websocket driver, without permessage-deflate."""

    async def __call__(self, environ):
        request = environ["aiohttp.request"]
        self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size,
                                       compress=False)
        await self._sock.prepare(request)
        self.environ = environ
        await self.handler(self)
        return self._sock


def queued_size(item: Any) -> int:
    """Bytes an item of a socket's queue holds: a frame, or a packet's data (about)."""
    if type(item) is bytes:
        return len(item)
    data = getattr(item, "data", None)
    return len(data) if isinstance(data, (str, bytes)) else 0


class LeanSocket(AsyncSocket):
    """An Engine.IO socket whose websocket loops do less per message, and whose memory is
    bounded: ``queued`` counts the bytes sent to it that the client has not taken yet
    (queued, or written while the kernel's buffer is full); over ``max_queued``, or with
    the writer paused more than ``max_paused`` seconds, the socket is dropped."""

    # set when the class is swapped in (``install``)
    on_message = None        # the relay's message handler
    on_overflow = None       # told why a socket is dropped
    max_queued = 4 * 1024 * 1024
    max_paused = 10.0
    queued = 0               # bytes
    paused_since = 0.0       # loop time the writer began waiting for the client; 0: not
    overflowed = False
    _transport = None        # the websocket's TCP transport, once the writer runs

    def _admit(self, size: int) -> bool:
        """Count ``size`` more bytes for this socket; False (and drop it) when over a cap."""
        if self.overflowed:
            return False
        self.queued += size
        if self.queued > self.max_queued:
            why = f"{self.queued} bytes queued for it (cap {self.max_queued})"
        elif self.paused_since and (
                asyncio.get_running_loop().time() - self.paused_since > self.max_paused):
            why = (f"it has not read for more than {self.max_paused:g} s "
                   f"({self.queued} bytes queued for it)")
        else:
            return True
        self._overflow(why)
        return False

    def _overflow(self, why: str) -> None:
        self.overflowed = True
        if self.on_overflow is not None:
            self.on_overflow(self.sid, why)
        while not self.queue.empty():   # free the memory now
            self.queue.get_nowait()
            self.queue.task_done()
        self.queued = 0
        if self._transport is not None:
            self._transport.abort()   # the reader ends and closes the session
        else:
            asyncio.ensure_future(self.close(wait=False, abort=True,
                                             reason=self.server.reason.TRANSPORT_CLOSE))

    def send_frame(self, frame: bytes) -> None:
        """Queue a ready-made websocket frame (only once upgraded: not while polling)."""
        if self._admit(len(frame)):
            self.queue.put_nowait(frame)

    async def poll(self):
        """The packets for one long-polling answer: at most 16; the rest wait for the next."""
        queue = self.queue
        try:
            first = await asyncio.wait_for(
                queue.get(), self.server.ping_interval + self.server.ping_timeout)
            queue.task_done()
        except (asyncio.TimeoutError, asyncio.CancelledError):
            raise exceptions.QueueEmpty() from None
        if first is None:
            return []
        packets = [first]
        while len(packets) < MAX_POLL_PACKETS and not queue.empty():
            pkt = queue.get_nowait()
            queue.task_done()
            if pkt is None:
                queue.put_nowait(None)   # the end stays queued for the next poll
                break
            packets.append(pkt)
        self.queued = max(0, self.queued - sum(queued_size(p) for p in packets))
        return packets

    async def send(self, pkt):
        if self.closed:
            raise exceptions.SocketIsClosedError()
        if not await self.check_ping_timeout():
            return
        if self._admit(queued_size(pkt)):
            self.queue.put_nowait(pkt)

    async def close(self, wait=True, abort=False, reason=None):
        was_open = not self.closed and not self.closing
        await super().close(wait=False, abort=abort, reason=reason)
        if was_open:
            # websocket: the writer flushes (CLOSE included), then ends; long-polling: a
            # pending poll returns now instead of at the ping timeout
            self.queue.put_nowait(None)
        if wait:   # bounded: a writer that already ended would never empty the queue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.queue.join(), 5.0)

    async def _websocket_handler(self, ws):
        sock: WebSocketResponse = ws._sock
        if self.connected:
            # an upgrade from polling: the probe exchange, as Engine.IO does it
            self.upgrading = True
            try:
                pkt = packet.Packet(encoded_packet=await ws.wait())
            except (OSError, ValueError, IndexError):
                self.upgrading = False
                return
            if pkt.packet_type != packet.PING or pkt.data != "probe":
                self.upgrading = False
                return
            await ws.send(packet.Packet(packet.PONG, data="probe").encode())
            await self.queue.put(packet.Packet(packet.NOOP))  # ends the pending poll
            try:
                pkt = packet.Packet(encoded_packet=await ws.wait())
            except (OSError, ValueError, IndexError):
                self.upgrading = False
                return
            if pkt.packet_type != packet.UPGRADE:
                self.upgraded = False
                self.upgrading = False
                return
            self.upgraded = True
            self.upgrading = False
        else:
            self.connected = True
            self.upgraded = True

        writer = asyncio.ensure_future(self._writer(sock))
        on_message = self.on_message
        sid = self.sid
        try:
            while True:
                msg = await sock.receive()
                kind = msg.type
                if kind is WSMsgType.TEXT:
                    data = msg.data
                    if data[:1] == "4":   # an Engine.IO MESSAGE: straight to Socket.IO
                        await on_message(sid, data[1:])
                        continue
                elif kind is WSMsgType.BINARY:
                    await on_message(sid, msg.data)
                    continue
                else:
                    break   # closed, closing or a protocol error
                try:
                    pkt = packet.Packet(encoded_packet=data)
                except (ValueError, IndexError):
                    continue  # not an Engine.IO packet: dropped
                try:
                    await self.receive(pkt)
                except exceptions.SocketIsClosedError:
                    break
                except Exception:  # noqa: BLE001 - an unknown packet type: dropped
                    continue
        except Exception:  # noqa: BLE001 - log it and close this connection properly
            self.server.logger.exception("websocket receive error")
        finally:
            self.queue.put_nowait(None)
            await writer
            await self.close(wait=False, abort=True,
                             reason=self.server.reason.TRANSPORT_CLOSE)

    async def _writer(self, sock: WebSocketResponse) -> None:
        queue = self.queue
        ws_writer = sock._writer
        protocol = ws_writer.protocol
        self._transport = ws_writer.transport
        loop = asyncio.get_running_loop()
        try:
            while True:
                pkt = await queue.get()
                queue.task_done()
                if pkt is None:
                    break
                # the relay queues ready-made frames (bytes); Engine.IO queues packets
                frames = [pkt if type(pkt) is bytes else encode_frame(pkt)]
                stop = False
                while not queue.empty():
                    pkt = queue.get_nowait()
                    queue.task_done()
                    if pkt is None:
                        stop = True
                        break
                    frames.append(pkt if type(pkt) is bytes else encode_frame(pkt))
                transport = ws_writer.transport
                if transport is None or transport.is_closing():
                    break
                data = b"".join(frames) if len(frames) > 1 else frames[0]
                transport.write(data)
                if protocol.writing_paused:   # the client reads slower than we write: wait
                    self.paused_since = loop.time()
                    await protocol._drain_helper()
                    self.paused_since = 0.0
                # what the kernel took is off the count (the frames' headers roughly
                # match Engine.IO packets' missing ones)
                self.queued = max(0, self.queued - len(data))
                if stop:
                    break
        except Exception:  # noqa: BLE001 - a broken connection ends the writer
            pass
        finally:
            while not queue.empty():   # nothing will send these any more
                queue.get_nowait()
                queue.task_done()
            await sock.close()
