"""A leaner Engine.IO websocket transport for the relay (the per-message hot path).

Profiling the relay under load showed most time outside our code: python-engineio's
websocket loop creates a task and a timeout per received message, wraps every message in a
packet object and looks its handler up with ``inspect`` each time, and its writer does one
``write()`` system call per outgoing packet. This module keeps Engine.IO's behaviour (the
handshake, upgrades from polling, ping/pong, close) and changes how the bytes move:

- the reader hands Socket.IO messages straight to the server's message handler;
- the writer takes everything queued for a client and writes it as one batch of websocket
  frames (one system call) with flow control (it waits while the client's buffer is full);
- permessage-deflate is off, as in Node's Socket.IO server: compressing 300-byte
  ciphertexts costs CPU and saves nothing.

A socket becomes a ``LeanSocket`` when Engine.IO reports the connection (see
``RelayServer._handle_eio_connect``); the aiohttp websocket driver is ``LeanWebSocket``.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

from aiohttp import WSMsgType
from aiohttp.web import WebSocketResponse
from engineio import exceptions, packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket

_TEXT, _BINARY = 0x1, 0x2
MAX_POLL_PACKETS = 16


def ws_frame(payload: bytes, opcode: int) -> bytes:
    """One unmasked websocket frame (servers never mask), FIN set."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def encode_frame(pkt: packet.Packet) -> bytes:
    data = pkt.encode()
    if isinstance(data, str):
        return ws_frame(data.encode(), _TEXT)
    return ws_frame(bytes(data), _BINARY)


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


class LeanSocket(AsyncSocket):
    """An Engine.IO socket whose websocket loops do less per message."""

    on_message = None   # the Socket.IO server's handler, set when the class is swapped in

    async def poll(self):
        """The packets for one long-polling answer: at most 16 (python-engineio's client
        refuses more in one answer); the rest wait for the next poll."""
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
        return packets

    async def send(self, pkt):
        if self.closed:
            raise exceptions.SocketIsClosedError()
        if not await self.check_ping_timeout():
            return
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
                transport.write(b"".join(frames) if len(frames) > 1 else frames[0])
                if protocol._paused:   # the client reads slower than we write: wait
                    await protocol._drain_helper()
                if stop:
                    break
        except Exception:  # noqa: BLE001 - a broken connection ends the writer
            pass
        finally:
            while not queue.empty():   # nothing will send these any more
                queue.get_nowait()
                queue.task_done()
            await sock.close()
