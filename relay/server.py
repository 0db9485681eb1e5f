"""The relay's Socket.IO server: the seed's events, handled in one place, and delivery.

Every client event goes through ``handle_event``, which checks rate, shape and room (with
``relay.policy``) before anything is forwarded; every event the relay sends goes out through
``deliver``, encoded once (``relay.wire``) however many sockets receive it. Everything that
depends on Engine.IO goes through one transport object (``relay.transport``, the server's
``carrier``), chosen at start-up. On the lean transport the relay reads event packets
itself, so the common case (one message to one socket) costs a single JSON decode and a
single JSON encode; on the stock transport python-socketio parses them and calls
``handle_event`` through a catch-all handler.

Handlers run inline in each client's read loop (``async_handlers=False``): one client's
events are handled strictly in the order it sent them, while clients run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio
from socketio.async_pubsub_manager import AsyncPubSubManager

from ecc_widgets import protocol as P
from ecc_widgets.text import name_key
from relay import policy, wire
from relay.admission import Admission, IPNetwork, client_address
from relay.cluster import Cluster, SingleRelay, Upcalls
from relay.config import Config
from relay.policy import TokenBucket, jwk_fingerprint, require_member, room_key
from relay.roster import Member, NameTaken, RoomFull, Roster, can_see, hash_token, roster_entries
from relay.transport import Transport, open_transport

log = logging.getLogger("relay")

NAMESPACE = wire.NAMESPACE


@dataclass
class Connection:
    sid: str
    eio_sid: str
    sock: Any                         # what the transport keeps for it (``socket_of``)
    bucket: TokenBucket
    joins: TokenBucket                # joins and leaves: each is sent to the whole room
    member: Member | None = None
    token: str | None = None          # the resume token handed to this socket at join
    last_notice: float = 0.0
    address: str = ""                 # the client's address (through a trusted proxy)
    grants: list[str] = field(default_factory=list)   # hashes of the invite tokens it invited


Handler = Callable[[Connection, Any], Awaitable[dict]]


class RelayServer(socketio.AsyncServer):
    """Socket.IO server speaking the seed's protocol, with acks, limits and rooms."""

    def __init__(self, roster: Roster, *, transport: str = "lean",
                 cluster: Callable[[Upcalls], Cluster] | None = None,
                 rate: float = 200.0, burst: int = 1000, probe_timeout: float = 3.0,
                 capture: Path | None = None, cors: Any = None, client_manager: Any = None,
                 ping_interval: float = 10.0, ping_timeout: float = 10.0,
                 max_room_size: int = 200, join_rate: float = policy.JOIN_RATE,
                 join_burst: int = policy.JOIN_BURST,
                 max_queued_bytes: int = 4 * 1024 * 1024, max_paused: float = 10.0,
                 admission: Admission | None = None,
                 trusted_proxies: tuple[IPNetwork, ...] = ()):
        super().__init__(
            async_mode="aiohttp",
            client_manager=client_manager,
            json=wire.FastJson,
            async_handlers=False,           # keep each client's events in order
            cors_allowed_origins=cors,
            max_http_buffer_size=P.ENGINEIO_MAX_BUFFER,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            logger=False,
            engineio_logger=False,          # engineio logs packet data at INFO: keep it off
        )
        # everything Engine.IO (relay.transport); not `self.transport`, which would hide
        # python-socketio's own `transport(sid)`
        self.carrier: Transport = open_transport(
            transport, self, on_message=self._on_eio_message, on_event=self._on_stock_event,
            on_overflow=self._on_overflow, max_queued_bytes=max_queued_bytes,
            max_paused=max_paused)
        # ``deliver(conns, text)``, the one way a packet reaches our sockets: encoded once,
        # queued for each by the transport (on an upgraded lean websocket, one ready-made
        # frame for all); bound here, not wrapped: it is on every message's path
        self.deliver: Callable[[Iterable[Connection], str], Awaitable[None]] = \
            self.carrier.deliver
        self.roster = roster
        self.relay_id = roster.relay_id
        # the channel to other relays hands events up through these three callables
        upcalls = Upcalls(deliver=self.deliver_local, probe=self.probe_local,
                          member_left=self.announce_left)
        self.cluster: Cluster = cluster(upcalls) if cluster is not None else SingleRelay()
        self.rate = rate
        self.burst = burst
        self.join_rate = join_rate
        self.join_burst = join_burst
        self.max_room_size = max_room_size
        self.probe_timeout = probe_timeout
        self.capture = wire.Capture(capture) if capture else None
        self._pubsub = isinstance(self.manager, AsyncPubSubManager)
        self.conns: dict[str, Connection] = {}       # by Socket.IO sid
        self.by_eio: dict[str, Connection] = {}      # by Engine.IO sid
        self.shutting_down = False
        self.attacks: Any = None   # relay.attacks.AttackMode, only with --attacks
        self.teacher: Any = None   # relay.teacher.Console, only with --teacher
        self._handlers: dict[str, Handler] = {
            P.JOIN: self.on_join,
            P.LEAVE: self.on_leave,
            P.INVITE: self.on_invite,
            P.CURVE_SELECTED: self.on_curve_selected,
            P.KEYS_GENERATED: self.on_keys_generated,
            P.PROCESSING_STEP: self.on_processing_step,
            P.SHARE_PUBLIC_KEY: self.on_share_public_key,
            P.SEND_MESSAGE: self.on_send_message,
            P.CODE_COMPARED: self.on_code_compared,
        }
        self.on("connect", self._on_connect)
        self.on("disconnect", self._on_disconnect)
        self.admission = admission or Admission.from_config(Config())
        self.trusted_proxies = trusted_proxies
        self._idle_sweep: asyncio.Task | None = None
        self.carrier.watch_sessions(self._admit_session, self.admission.gone)

    # --- connection lifecycle ---------------------------------------------------------------
    async def _admit_session(self, eio_sid: str, environ: dict) -> bool:
        """An Engine.IO session opens: counted per client address; refused over the cap;
        the oldest never-joined sessions of that address closed over theirs."""
        if self.shutting_down:
            return False
        peer, forwarded = self.carrier.peer_of(environ)
        address = client_address(peer, forwarded, self.trusted_proxies)
        ok, evict = self.admission.admit(eio_sid, address)
        if not ok:
            log.warning("refusing a session from %s: %d open (cap %d)", address,
                        self.admission.sockets.get(address, 0), self.admission.max_sockets)
            return False
        for sid in evict:
            asyncio.ensure_future(self._close_session(sid))
        if evict:
            log.info("closed %d sessions from %s that never joined a room (cap %d)",
                     len(evict), address, self.admission.max_idle)
        if self._idle_sweep is None:
            self._idle_sweep = asyncio.ensure_future(self._sweep_idle())
        return True

    async def _close_session(self, eio_sid: str) -> None:
        self.admission.joined(eio_sid)   # not idle any more: it is on its way out
        with contextlib.suppress(Exception):   # it may be gone already
            await self.carrier.drop(eio_sid)

    async def _sweep_idle(self) -> None:
        """Close the sessions that have not joined a room within the join timeout."""
        every = max(0.2, min(1.0, self.admission.join_timeout / 4))
        while not self.shutting_down:
            await asyncio.sleep(every)
            expired = self.admission.expired()
            for sid in expired:
                await self._close_session(sid)
            if expired:
                log.info("closed %d sessions that joined no room within %g s", len(expired),
                         self.admission.join_timeout)

    async def _on_connect(self, sid: str, environ: dict, auth: Any = None) -> bool:
        if self.shutting_down:
            return False
        eio_sid = self.carrier.session_of(sid)
        conn = Connection(sid, eio_sid, self.carrier.socket_of(eio_sid),
                          TokenBucket(self.rate, self.burst),
                          TokenBucket(self.join_rate, self.join_burst))
        conn.address = self.admission.address_of.get(eio_sid, "")
        self.conns[sid] = conn
        self.by_eio[eio_sid] = conn
        log.debug("connect %s from %s", sid, conn.address or "?")
        return True

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.conns.pop(sid, None)
        if conn is not None:
            self.by_eio.pop(conn.eio_sid, None)
            await self._leave_room(conn)
        log.debug("disconnect %s (%s)", sid, reason)

    def _on_overflow(self, eio_sid: str, why: str) -> None:
        """Lean transport: a socket is being dropped for not reading what is sent to it."""
        conn = self.by_eio.get(eio_sid)
        log.warning("disconnecting %s: %s", conn.sid if conn is not None else eio_sid, why)

    # --- the one door every client event comes through --------------------------------------
    async def _on_eio_message(self, eio_sid: str, data: Any) -> None:
        """Lean transport: every Engine.IO message of every client."""
        if isinstance(data, str) and data[:1] == "2":
            conn = self.by_eio.get(eio_sid)
            header = wire.read_event_header(data) if conn is not None else None
            if header is None:
                return  # not connected to our namespace: nothing to answer to
            ack_id, body = header
            if len(data) > P.MAX_EVENT_BYTES or not conn.bucket.take():
                error, throttle = self._refusal(len(data))
                await self._reply(conn, ack_id, "?", error, throttle=throttle)
                return
            try:
                event, payload = wire.decode_event_body(data[body:])
            except wire.MalformedEvent as exc:
                if self.capture:
                    self.capture.write(conn.sid, None, raw=data)
                await self._reply(conn, ack_id, "?", P.ack_error(str(exc)))
                return
            result = await self.handle_event(conn, event, payload)
            await self._reply(conn, ack_id, event if event in self._handlers else event[:40],
                              result)
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
            await self.carrier.pass_on(eio_sid, data)
        except Exception as exc:  # noqa: BLE001 - a bad packet must not end the read loop
            log.debug("dropped a malformed packet from %s: %s", eio_sid, exc)

    async def _on_stock_event(self, event: str, sid: str, *args: Any) -> dict | None:
        """Stock transport: python-socketio read the packet; the return value is the ack."""
        conn = self.conns.get(sid)
        if conn is None:
            return None
        size = len(event) + len(wire.dumps(args))
        if size > P.MAX_EVENT_BYTES or not conn.bucket.take():
            result, throttle = self._refusal(size)
        else:
            payload = args[0] if args else None
            result, throttle = await self.handle_event(conn, event, payload), False
        if not result.get("ok"):
            # python-socketio does not say whether the client asked for an ack: an error
            # goes both ways, so that a client without acks (the seed's) hears it too
            await self._reply(conn, None, event if event in self._handlers else event[:40],
                              result, throttle=throttle)
        return result

    def _refusal(self, size: int) -> tuple[dict, bool]:
        """Why an event was refused (too large, else over the rate limit), and whether the
        notice is throttled (rate-limit notices are)."""
        if size > P.MAX_EVENT_BYTES:
            return P.ack_error(f"event is larger than {P.MAX_EVENT_BYTES} bytes; dropped"), False
        return P.ack_error(f"rate limit: more than {self.rate:g} events per second; "
                           "dropped"), True

    async def handle_event(self, conn: Connection, event: str, payload: Any) -> dict:
        """Handle one client event; the acknowledgement (``ok`` or an ``error``)."""
        if self.capture:
            self.capture.write(conn.sid, event, payload)
        handler = self._handlers.get(event)
        if handler is None:
            return P.ack_error(f"unknown event {event[:40]!r}")
        try:
            return await handler(conn, payload)
        except P.ProtocolError as exc:
            return P.ack_error(str(exc))
        except Exception:  # noqa: BLE001 - one bad event must not take the relay down
            log.exception("internal error while handling %r from %s", event, conn.sid)
            return P.ack_error("internal relay error; the event was dropped")

    async def _reply(self, conn: Connection, ack_id: int | None, event: str, result: dict,
                     *, throttle: bool = False) -> None:
        """Acknowledge if asked; otherwise tell the client about an error, if there was one."""
        if ack_id is not None:
            await self.deliver((conn,), wire.encode_ack(ack_id, result))
        elif not result.get("ok"):
            now = time.monotonic()
            if throttle and now - conn.last_notice < policy.RATE_NOTICE_INTERVAL:
                return
            conn.last_notice = now
            await self.deliver((conn,), wire.encode_event(
                P.RELAY_ERROR, P.relay_error(event, result.get("error", ""))))

    # --- delivery ---------------------------------------------------------------------------
    async def send_to(self, sid: str, event: str, payload: dict) -> None:
        """One event to one socket: directly when it is ours, else through the cluster."""
        conn = self.conns.get(sid)
        if conn is not None:
            await self.deliver((conn,), wire.encode_event(event, payload))
            return
        owner = self.roster.owner(sid)
        if owner is not None and owner != self.relay_id:
            # straight to the relay that holds the socket, encoded once, in order
            self.cluster.send_direct(owner, sid, wire.encode_event(event, payload))
        else:
            await self.emit(event, payload, to=sid)

    async def deliver_local(self, sid: str, text: str) -> None:
        """An encoded event from another relay for one of our sockets."""
        conn = self.conns.get(sid)
        if conn is not None:
            await self.deliver((conn,), text)

    async def to_peers(self, me: Member, event: str, payload: dict) -> None:
        """An event from ``me`` to the others in its room that it can see (``can_see``)."""
        text = wire.encode_event(event, payload)
        if not self._pubsub:
            conns = self.conns
            peers = []
            for sid, _ in self.manager.get_participants(NAMESPACE, room_key(me.room)):
                conn = conns.get(sid)
                if (sid != me.sid and conn is not None and conn.member is not None
                        and can_see(me, conn.member)):
                    peers.append(conn)
            await self.deliver(peers, text)
            return
        members = await self.roster.members(me.room)
        if me.visible_to or any(m.visible_to for m in members):
            await self._deliver_to_members(
                [m for m in members if m.sid != me.sid and can_see(me, m)], text)
        else:   # other relays have members too: the manager publishes
            await self.emit(event, payload, room=room_key(me.room), skip_sid=me.sid)

    async def _deliver_to_members(self, members: list[Member], text: str) -> None:
        """An encoded event to these members, ours directly, others' through the cluster."""
        await self.deliver([c for m in members if (c := self.conns.get(m.sid)) is not None],
                           text)
        for m in members:
            if m.sid not in self.conns and m.relay_id != self.relay_id:
                self.cluster.send_direct(m.relay_id, m.sid, text)

    async def announce(self, event: str, who: Member, members: list[Member]) -> None:
        """``user-joined`` / ``user-left`` for ``who`` to ``members`` (the room after it).

        Each member hears of ``who`` only if it can see it, with the room as it may see it
        (``visibleTo``) and as it asked: the whole list, or only the change ("delta"). Each
        distinct payload is encoded once, whatever the size of the room.
        """
        build = P.user_joined if event == P.USER_JOINED else P.user_left
        hidden = bool(who.visible_to) or any(m.visible_to for m in members)
        if self._pubsub and not hidden and not any(m.delta for m in members):
            await self.emit(event, build(who.username, who.sid, roster_entries(members)),
                            room=room_key(who.room))
            return
        count = _hidden(members) if hidden else 0
        groups: dict[tuple[bool, str], list[Member]] = {}
        for m in members:
            if can_see(m, who):
                # what a member sees depends on who can see it: its name, or itself if hidden
                view = "" if m.delta or not hidden else (m.sid if m.visible_to else m.key)
                groups.setdefault((m.delta, view), []).append(m)
        for (delta, _), group in groups.items():
            if delta:
                payload = {"username": who.username, "socketId": who.sid}
            else:
                payload = build(who.username, who.sid, roster_entries(members, group[0]))
                if count:
                    payload["hiddenInRoom"] = count
            await self._deliver_to_members(group, wire.encode_event(event, payload))

    async def announce_left(self, member: Member, rest: list[Member]) -> None:
        await self.announce(P.USER_LEFT, member, rest)

    # --- our members, for the attack mode and the teacher's console ------------------------
    def local_member(self, sid: str) -> Member | None:
        """The member a socket of this relay is, or None (not ours, or in no room)."""
        conn = self.conns.get(sid)
        return conn.member if conn is not None else None

    def local_members(self, room: str | None = None) -> list[Member]:
        """The members this relay's sockets are (in ``room``, or in any)."""
        return [conn.member for conn in self.conns.values() if conn.member is not None
                and (room is None or conn.member.room == room)]

    async def take_out(self, sid: str, event: str, payload: dict) -> bool:
        """Tell one of our sockets ``event``, then take it out of its room (the socket stays
        open); False when the socket is not ours."""
        conn = self.conns.get(sid)
        if conn is None:
            return False
        await self.deliver((conn,), wire.encode_event(event, payload))
        await self._leave_room(conn)
        return True

    # --- handlers (each returns the acknowledgement) -----------------------------------------
    async def on_join(self, conn: Connection, payload: Any) -> dict:
        p = P.validate(P.JOIN, payload)
        room, name = p["roomId"], p["username"]
        current = conn.member
        if current is not None and current.room == room and current.username == name:
            members = await self.roster.members(room)
            return P.ack_ok(socketId=conn.sid, roomId=room, username=name,
                            usersInRoom=roster_entries(members, current),
                            hiddenInRoom=_hidden(members), resumeToken=conn.token)
        policy.take_join(conn.joins)
        busy = self.admission.take_join(conn.address, room)
        if busy is not None:
            return P.ack_error(busy)
        visible_to = ""
        if "inviteToken" in p:   # a demo peer: seen only by the member that invited it
            visible_to = await self._check_invite(p["inviteToken"], room, name,
                                                  p["visibleTo"])
        if self.teacher is not None:   # a room the teacher locked, a name removed from it
            await self.teacher.admit(room, name)
        if current is not None:
            await self._leave_room(conn)
        token = secrets.token_urlsafe(18)
        delta = p.get("roster") == "delta"
        try:
            members = await policy.claim_name(
                self.roster, conn.sid, room, name, token, p.get("resumeToken"),
                alive=self._alive, evict=self._evict, log=log,
                visible_to=visible_to, delta=delta, limit=self.max_room_size)
        except NameTaken as taken:
            return P.ack_error(f"{taken}; choose another name")
        except RoomFull as full:
            return P.ack_error(str(full))
        me = conn.member = Member(conn.sid, name, room, self.relay_id, hash_token(token),
                                  visible_to, delta)
        conn.token = token
        self.admission.joined(conn.eio_sid)
        await self.enter_room(conn.sid, room_key(room))
        await self.announce(P.USER_JOINED, me, members)
        if self.teacher is not None:
            self.teacher.joined(me)
        log.info("%s joined room %r as %r (%d in room)", conn.sid, room, name, len(members))
        return P.ack_ok(socketId=conn.sid, roomId=room, username=name,
                        usersInRoom=roster_entries(members, me),
                        hiddenInRoom=_hidden(members), resumeToken=token)

    async def _check_invite(self, invite_token: str, room: str, name: str,
                            summoner: str) -> str:
        """A demo peer's join: the token must be one ``summoner`` registered in ``room`` and
        still holds there, and each token lets in one name. Its ``visible_to``."""
        token_hash = hash_token(invite_token)
        grant = await self.roster.grant_of(token_hash)
        key = name_key(summoner)
        if grant is None or grant.get("room") != room or grant.get("key") != key:
            raise P.ProtocolError(f"{P.JOIN}: this invite token was not registered by "
                                  f"{summoner!r} in room {room!r}")
        holder = await self.roster.member(grant["sid"])
        if holder is None or holder.room != room or holder.key != key:
            raise P.ProtocolError(f"{P.JOIN}: {summoner!r} who registered this invite token "
                                  "has left the room")
        bound = grant.get("name")
        if bound is None:
            await self.roster.grant(token_hash, {**grant, "name": name_key(name)})
        elif bound != name_key(name):
            raise P.ProtocolError(f"{P.JOIN}: this invite token is for another demo peer")
        return key

    async def on_invite(self, conn: Connection, payload: Any) -> dict:
        """A member registers a invite token: the demo peer it hands it to may join the
        room seen by that member alone (``_check_invite``)."""
        p = P.validate(P.INVITE, payload)
        me = require_member(conn.member, P.INVITE)
        if me.visible_to:
            raise P.ProtocolError(f"{P.INVITE}: a demo peer cannot invite demo peers")
        token_hash = hash_token(p["inviteToken"])
        if token_hash not in conn.grants:
            if len(conn.grants) >= P.MAX_DEMO_PEERS:
                raise P.ProtocolError(f"{P.INVITE}: at most {P.MAX_DEMO_PEERS} demo "
                                      "peers each")
            await self.roster.grant(token_hash, {"sid": conn.sid, "room": me.room,
                                                 "key": me.key})
            conn.grants.append(token_hash)
        return P.ack_ok(demoPeers=len(conn.grants))

    async def _alive(self, holder: Member) -> bool:
        """Does the socket holding a name still answer? (an Engine.IO ping, bounded wait)"""
        if holder.relay_id != self.relay_id:
            if not await self.roster.relay_alive(holder.relay_id):
                return False
            return await self.cluster.probe_remote(holder, self.probe_timeout)
        return await self.probe_local(holder.sid, self.probe_timeout)

    async def probe_local(self, sid: str, timeout: float) -> bool:
        conn = self.conns.get(sid)
        if conn is None:
            return False
        return await self.carrier.answers(conn.eio_sid, timeout)

    async def _evict(self, holder: Member) -> None:
        conn = self.conns.get(holder.sid)
        if conn is not None:
            await self.disconnect(holder.sid)
            await self.carrier.evict(conn.eio_sid)
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
            await self.announce_left(*removed)

    async def on_leave(self, conn: Connection, payload: Any) -> dict:
        P.validate(P.LEAVE, payload)
        member = require_member(conn.member, P.LEAVE)
        policy.take_join(conn.joins)
        await self._leave_room(conn)
        return P.ack_ok(roomId=member.room)

    async def _leave_room(self, conn: Connection) -> None:
        member, conn.member, conn.token = conn.member, None, None
        if member is None:
            return
        grants, conn.grants = conn.grants, []
        if grants:   # its demo peers go with it: nobody else could see them
            await self.roster.revoke(grants)
            for hidden in await self.roster.members(member.room):
                if hidden.visible_to == member.key and hidden.sid != conn.sid:
                    await self._evict(hidden)
        removed = await self.roster.remove(conn.sid)
        if self.teacher is not None:
            self.teacher.left(conn.sid)
        with contextlib.suppress(KeyError, ValueError):  # already gone from the manager
            await self.leave_room(conn.sid, room_key(member.room))
        if removed is None:
            return  # already taken out (a relay sweep, an eviction)
        self.admission.left(member.room)
        await self.announce_left(*removed)
        log.info("%s left room %r (%d remain)", conn.sid, member.room, len(removed[1]))

    async def on_curve_selected(self, conn: Connection, payload: Any) -> dict:
        p = P.validate(P.CURVE_SELECTED, payload)
        me = require_member(conn.member, P.CURVE_SELECTED)
        if self.teacher is not None:
            self.teacher.curve(conn.sid, p["curve"])
        await self.to_peers(me, P.PEER_CURVE_SELECTED,
                            P.peer_curve_selected(p["curve"], me.username, conn.sid))
        return P.ack_ok()

    async def on_keys_generated(self, conn: Connection, payload: Any) -> dict:
        P.validate(P.KEYS_GENERATED, payload)
        me = require_member(conn.member, P.KEYS_GENERATED)
        await self.to_peers(me, P.PEER_KEYS_GENERATED,
                            P.peer_keys_generated(me.username, conn.sid))
        return P.ack_ok()

    async def on_processing_step(self, conn: Connection, payload: Any) -> dict:
        p = P.validate(P.PROCESSING_STEP, payload)
        me = require_member(conn.member, P.PROCESSING_STEP)
        await self.to_peers(me, P.PEER_PROCESSING_STEP,
                            P.peer_processing_step(p["step"], p["details"], me.username,
                                                   conn.sid))
        return P.ack_ok()

    async def on_share_public_key(self, conn: Connection, payload: Any) -> dict:
        p = P.validate(P.SHARE_PUBLIC_KEY, payload)
        me = require_member(conn.member, P.SHARE_PUBLIC_KEY)
        target = p["targetSocketId"]
        await policy.check_target(self.roster, me, target, P.SHARE_PUBLIC_KEY)
        out = P.receive_public_key(p, me.username, conn.sid)
        if self.attacks is not None:   # attack mode (--attacks): Mallory rewrites it
            await self.attacks.deliver(self, me, target, P.RECEIVE_PUBLIC_KEY, out)
        else:
            await self.send_to(target, P.RECEIVE_PUBLIC_KEY, out)
        if self.teacher is not None:
            self.teacher.key_shared(conn.sid, target, p)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("key %s from %s to %s", jwk_fingerprint(p["publicKey"]), conn.sid, target)
        return P.ack_ok()

    async def on_send_message(self, conn: Connection, payload: Any) -> dict:
        p = P.validate(P.SEND_MESSAGE, payload)
        me = require_member(conn.member, P.SEND_MESSAGE)
        target = p["targetSocketId"]
        await policy.check_target(self.roster, me, target, P.SEND_MESSAGE)
        timestamp = int(time.time() * 1000)
        out = P.receive_message(p, me.username, conn.sid, timestamp)
        if self.attacks is not None:   # attack mode (--attacks): Mallory rewrites it
            await self.attacks.deliver(self, me, target, P.RECEIVE_MESSAGE, out)
        else:
            await self.send_to(target, P.RECEIVE_MESSAGE, out)
        return P.ack_ok(timestamp=timestamp)

    async def on_code_compared(self, conn: Connection, payload: Any) -> dict:
        """What only a client knows of one of its pairs, for the teacher's console (the
        relay checks it and, without --teacher, keeps nothing)."""
        if self.teacher is not None:
            return await self.teacher.code_compared(conn.member, payload)
        P.validate(P.CODE_COMPARED, payload)
        require_member(conn.member, P.CODE_COMPARED)
        return P.ack_ok()

    # --- shutdown --------------------------------------------------------------------------
    async def close_all(self, reason: str = "the relay is shutting down") -> None:
        """Tell every client, take our users out of the roster, then close the transports.

        Transports are closed without an Engine.IO CLOSE packet, so clients see a dropped
        connection and reconnect by themselves (to this relay once it is back, or another).
        """
        self.shutting_down = True
        if self._idle_sweep is not None:
            self._idle_sweep.cancel()
        conns = list(self.conns.values())
        await self.deliver(conns, wire.encode_event(P.RELAY_SHUTDOWN, {"reason": reason}))
        for conn in conns:
            await self._leave_room(conn)
        await self.carrier.close_all()
        if self.capture:
            self.capture.close()

    async def health(self) -> dict:
        counts = await self.roster.counts()
        return {"ok": True, **counts, "connections": len(self.conns),
                "idle": self.admission.idle_count(), "relay": self.relay_id}


def _hidden(members: list[Member]) -> int:
    """Members seen by one other only (demo peers): counted for everyone, never named."""
    return sum(1 for m in members if m.visible_to)
