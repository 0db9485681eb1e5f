"""The roster in Redis, shared by several relay processes.

Same interface as `relay.roster.MemoryRoster`. Joins and leaves are Lua scripts, so a name is
unique in its room across every relay. Each relay owns the sockets connected to it and keeps
a heartbeat key alive; a relay whose heartbeat expires (it crashed or was killed) has its users
removed by whichever live relay sweeps first, and the rest of their rooms get ``user-left``.

Keys (all under ``ecc:``):
  room:<roomId>    hash  sid -> {"u": name, "r": relay, "t": token hash, "s": join order}
  names:<roomId>   hash  name -> sid
  sid:<sid>        string {"room", "u", "r", "t"}
  rooms, users     sets of room ids / sids (for /healthz)
  relays           set of relay ids; relay:<id>:alive (TTL) and relay:<id>:sids (set)
Channels: ``ecc-relay:roster`` (a sid left: drop it from caches), ``ecc-relay:probe``
(is this socket of yours still there?), ``ecc-relay:to:<relay id>`` (encoded events for one
socket on that relay, sent in order by one publisher task).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from typing import Any

import redis.asyncio as aioredis

from ecc_widgets import protocol as P
from relay.roster import Member, NameTaken

log = logging.getLogger("relay.redis")

HEARTBEAT_TTL = 10.0      # seconds a relay counts as alive after its last heartbeat
ROSTER_CHANNEL = "ecc-relay:roster"
PROBE_CHANNEL = "ecc-relay:probe"
DIRECT_PREFIX = "ecc-relay:to:"   # + relay id: events for one socket on that relay
MAX_CONNECTIONS = 16             # to Redis, per relay (plus the pubsub and manager ones)
PUBLISH_BATCH = 256               # direct events sent to Redis in one round trip

_JOIN = """
local room, sid, name, relay, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local roomkey, names = 'ecc:room:' .. room, 'ecc:names:' .. room
local holder = redis.call('HGET', names, name)
if holder and holder ~= sid then
  local entry = redis.call('HGET', roomkey, holder)
  if entry then return {0, holder, entry} end
end
local seq = redis.call('INCR', 'ecc:seq')
redis.call('HSET', names, name, sid)
redis.call('HSET', roomkey, sid, cjson.encode({u = name, r = relay, t = token, s = seq}))
redis.call('SET', 'ecc:sid:' .. sid, cjson.encode({room = room, u = name, r = relay, t = token}))
redis.call('SADD', 'ecc:relay:' .. relay .. ':sids', sid)
redis.call('SADD', 'ecc:rooms', room)
redis.call('SADD', 'ecc:users', sid)
return {1, redis.call('HGETALL', roomkey)}
"""

_LEAVE = """
local sid = ARGV[1]
local raw = redis.call('GET', 'ecc:sid:' .. sid)
if not raw then return {0} end
local info = cjson.decode(raw)
local roomkey, names = 'ecc:room:' .. info.room, 'ecc:names:' .. info.room
redis.call('HDEL', roomkey, sid)
if redis.call('HGET', names, info.u) == sid then redis.call('HDEL', names, info.u) end
redis.call('DEL', 'ecc:sid:' .. sid)
redis.call('SREM', 'ecc:relay:' .. info.r .. ':sids', sid)
redis.call('SREM', 'ecc:users', sid)
if redis.call('HLEN', roomkey) == 0 then
  redis.call('SREM', 'ecc:rooms', info.room)
  redis.call('DEL', names)
end
redis.call('PUBLISH', KEYS[1], sid)
return {1, raw, redis.call('HGETALL', roomkey)}
"""


def _members(room: str, flat: list) -> list[Member]:
    entries = []
    for sid, raw in zip(flat[::2], flat[1::2], strict=True):
        e = json.loads(raw)
        entries.append((e["s"], Member(sid, e["u"], room, e["r"], e["t"])))
    return [m for _, m in sorted(entries, key=lambda pair: pair[0])]


class RedisRoster:
    """Rooms shared by every relay on one Redis."""

    def __init__(self, url: str, relay_id: str, heartbeat_ttl: float = HEARTBEAT_TTL):
        self.url = url
        self.relay_id = relay_id
        self.heartbeat_ttl = heartbeat_ttl
        self._background: set[asyncio.Task] = set()
        # a bounded pool that makes callers wait: a burst of joins must not open hundreds of
        # connections at once (they time out connecting, and the joins fail)
        pool = aioredis.BlockingConnectionPool.from_url(
            url, decode_responses=True, max_connections=MAX_CONNECTIONS, timeout=30)
        self.redis = aioredis.Redis(connection_pool=pool)
        self.sio = None
        self._rooms: dict[str, str] = {}      # sid -> room, a cache for the message path
        self._owners: dict[str, str] = {}     # sid -> relay id, the same cache's other half
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._direct = DIRECT_PREFIX + relay_id
        self._tasks: list[asyncio.Task] = []
        self._probes: dict[str, asyncio.Future] = {}
        self._probe_ids = itertools.count(1)
        self._pubsub = None

    def attach(self, sio) -> None:
        """The relay server, for probing local sockets and telling rooms about sweeps."""
        self.sio = sio

    async def start(self) -> None:
        await self.redis.ping()
        self._join = self.redis.register_script(_JOIN)
        self._leave = self.redis.register_script(_LEAVE)
        await self._heartbeat()
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(ROSTER_CHANNEL, PROBE_CHANNEL, self._direct)
        self._tasks = [asyncio.create_task(self._listen()),
                       asyncio.create_task(self._keep_alive()),
                       asyncio.create_task(self._publisher())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            # our users were taken out one by one at shutdown; anything left is swept
            await self._remove_relay(self.relay_id)
            await self.redis.delete(f"ecc:relay:{self.relay_id}:alive")
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        await self.redis.aclose()

    # --- the roster interface ------------------------------------------------------------
    async def add(self, room: str, sid: str, username: str, token_hash: str) -> list[Member]:
        result = await self._join(args=[room, sid, username, self.relay_id, token_hash])
        if result[0] == 0:
            entry = json.loads(result[2])
            holder = Member(result[1], entry["u"], room, entry["r"], entry["t"])
            raise NameTaken(room, username, holder)
        self._rooms[sid] = room
        self._owners[sid] = self.relay_id
        return _members(room, result[1])

    async def remove(self, sid: str) -> tuple[Member, list[Member]] | None:
        self._rooms.pop(sid, None)
        self._owners.pop(sid, None)
        result = await self._leave(keys=[ROSTER_CHANNEL], args=[sid])
        if result[0] == 0:
            return None
        info = json.loads(result[1])
        member = Member(sid, info["u"], info["room"], info["r"], info["t"])
        return member, _members(info["room"], result[2])

    async def members(self, room: str) -> list[Member]:
        return _members(room, _flatten(await self.redis.hgetall(f"ecc:room:{room}")))

    async def member(self, sid: str) -> Member | None:
        raw = await self.redis.get(f"ecc:sid:{sid}")
        if raw is None:
            return None
        info = json.loads(raw)
        self._rooms[sid] = info["room"]
        self._owners[sid] = info["r"]
        return Member(sid, info["u"], info["room"], info["r"], info["t"])

    def cached_room(self, sid: str) -> str | None:
        return self._rooms.get(sid)

    def owner(self, sid: str) -> str | None:
        """The relay a socket is connected to, if known without I/O."""
        return self._owners.get(sid)

    def send_direct(self, relay_id: str, sid: str, text: str) -> None:
        """Queue one Socket.IO event (encoded) for a socket on another relay.

        One publisher task sends the queue in order, many events per round trip, so a
        sender never waits for Redis and what one client sends stays in order.
        """
        self._outbox.put_nowait((DIRECT_PREFIX + relay_id, f"{sid}\n{text}"))

    async def _publisher(self) -> None:
        outbox = self._outbox
        while True:
            batch = [await outbox.get()]
            while not outbox.empty() and len(batch) < PUBLISH_BATCH:
                batch.append(outbox.get_nowait())
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for channel, data in batch:
                        pipe.publish(channel, data)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis hiccup: these events are lost
                log.warning("could not forward %d events to other relays: %s", len(batch), exc)

    async def relay_alive(self, relay_id: str) -> bool:
        return bool(await self.redis.exists(f"ecc:relay:{relay_id}:alive"))

    async def counts(self) -> dict:
        async with self.redis.pipeline(transaction=False) as pipe:
            rooms, users = await pipe.scard("ecc:rooms").scard("ecc:users").execute()
        return {"rooms": rooms, "users": users}

    async def probe_remote(self, holder: Member, timeout: float) -> bool:
        """Ask the relay that owns ``holder`` whether its socket still answers."""
        probe_id = f"{self.relay_id}:{next(self._probe_ids)}"
        answer = asyncio.get_running_loop().create_future()
        self._probes[probe_id] = answer
        try:
            await self.redis.publish(PROBE_CHANNEL, json.dumps(
                {"op": "probe", "id": probe_id, "relay": holder.relay_id, "sid": holder.sid,
                 "timeout": timeout}))
            return await asyncio.wait_for(answer, timeout + 1.0)
        except asyncio.TimeoutError:
            return False  # its relay did not answer in time: as good as gone
        finally:
            self._probes.pop(probe_id, None)

    # --- background: heartbeat, sweep, pubsub ---------------------------------------------
    async def _heartbeat(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd("ecc:relays", self.relay_id)
            pipe.set(f"ecc:relay:{self.relay_id}:alive", "1",
                     px=int(self.heartbeat_ttl * 1000))
            await pipe.execute()

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_ttl / 5)
            try:
                await self._heartbeat()
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis hiccup: try again next beat
                log.warning("heartbeat/sweep failed: %s", exc)

    async def sweep(self) -> None:
        """Remove the users of relays whose heartbeat has expired."""
        for relay_id in await self.redis.smembers("ecc:relays"):
            if relay_id == self.relay_id or await self.relay_alive(relay_id):
                continue
            # SREM is the lock: only the relay that removes the id cleans up after it
            if await self.redis.srem("ecc:relays", relay_id):
                count = await self._remove_relay(relay_id)
                log.info("relay %s is gone: removed its %d users", relay_id, count)

    async def _remove_relay(self, relay_id: str) -> int:
        sids = await self.redis.smembers(f"ecc:relay:{relay_id}:sids")
        count = 0
        for sid in sids:
            removed = await self.remove(sid)
            if removed is None:
                continue
            count += 1
            member, rest = removed
            if self.sio is not None and relay_id != self.relay_id:
                await self.sio.to_room(member.room, P.USER_LEFT, P.user_left(
                    member.username, sid, [P.roster_entry(m.sid, m.username) for m in rest]))
        await self.redis.delete(f"ecc:relay:{relay_id}:sids")
        await self.redis.srem("ecc:relays", relay_id)
        return count

    async def _listen(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    channel = message["channel"]
                    if channel == self._direct:
                        sid, _, text = message["data"].partition("\n")
                        await self.sio.deliver_local(sid, text)
                    elif channel == ROSTER_CHANNEL:
                        self._rooms.pop(message["data"], None)
                        self._owners.pop(message["data"], None)
                    else:
                        await self._on_probe_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening after a Redis hiccup
                log.warning("roster channel failed (%s); resubscribing", exc)
                await asyncio.sleep(0.5)

    async def _on_probe_message(self, data: str) -> None:
        try:
            msg = json.loads(data)
        except ValueError:
            return
        if msg.get("op") == "probe" and msg.get("relay") == self.relay_id and self.sio:
            task = asyncio.create_task(self._answer_probe(msg))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        elif msg.get("op") == "answer":
            future = self._probes.get(msg.get("id"))
            if future is not None and not future.done():
                future.set_result(bool(msg.get("alive")))

    async def _answer_probe(self, msg: dict[str, Any]) -> None:
        alive = await self.sio.probe_local(str(msg.get("sid")), float(msg.get("timeout", 3)))
        await self.redis.publish(PROBE_CHANNEL, json.dumps(
            {"op": "answer", "id": msg.get("id"), "alive": alive}))


def _flatten(mapping: dict) -> list:
    return [item for pair in mapping.items() for item in pair]
