"""The roster in Redis, shared by several relay processes.

Implements `relay.roster.Roster`. Joins and leaves are Lua scripts, so a name is unique in its
room across every relay. Each relay owns the sockets connected to it and keeps a heartbeat key
alive; a relay whose heartbeat expires (it crashed or was killed) has its users removed by
whichever live relay sweeps first (`sweep`, run by `relay.cluster.RedisCluster`, which tells
the rest of their rooms).

Keys (all under ``ecc:``):
  room:<roomId>    hash  sid -> {"u": name, "r": relay, "t": token hash, "s": join order,
                         "v": visible to (a name key), "d": 1 for delta rosters}
  names:<roomId>   hash  name slot (``relay.roster.name_slots``: two per member) -> sid
  hidden:<roomId>  set   sids of hidden members (demo peers: not counted against the cap)
  sid:<sid>        string {"room", "u", "k", "k2": its name slots, "r", "t", "v", "d"}
  grant:<hash>     string a invite token's grant (JSON), expiring after a day
  rooms, users     sets of room ids / sids (for /healthz); hidden: sids of demo peers
  relays           set of relay ids; relay:<id>:alive (TTL) and relay:<id>:sids (set)
A leave is published on ``ecc-relay:roster`` (``ROSTER_CHANNEL``) so that every relay drops
the sid from its caches (``forget``); `relay.cluster` listens.
"""

from __future__ import annotations

import contextlib
import json
import logging

import redis.asyncio as aioredis

from relay.roster import Member, NameTaken, RoomFull, name_slots

log = logging.getLogger("relay.redis")

ROSTER_CHANNEL = "ecc-relay:roster"
MAX_CONNECTIONS = 16             # to Redis, per relay (plus the pubsub and manager ones)
GRANT_TTL = 24 * 3600            # seconds a invite token's grant outlives a lost summoner

_JOIN = """
local room, sid, name, relay, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key, visible, delta, limit = ARGV[6], ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local key2 = ARGV[10]
local roomkey, names = 'ecc:room:' .. room, 'ecc:names:' .. room
local hidden = 'ecc:hidden:' .. room
for _, slot in ipairs({key, key2}) do
  local holder = redis.call('HGET', names, slot)
  if holder and holder ~= sid then
    local entry = redis.call('HGET', roomkey, holder)
    if entry then return {0, holder, entry} end
  end
end
if limit > 0 and visible == '' and redis.call('HEXISTS', roomkey, sid) == 0
   and redis.call('HLEN', roomkey) - redis.call('SCARD', hidden) >= limit then
  return {2}
end
local seq = redis.call('INCR', 'ecc:seq')
redis.call('HSET', names, key, sid)
redis.call('HSET', names, key2, sid)
if visible ~= '' then
  redis.call('SADD', hidden, sid)
  redis.call('SADD', 'ecc:hidden', sid)
end
redis.call('HSET', roomkey, sid,
           cjson.encode({u = name, r = relay, t = token, s = seq, v = visible, d = delta}))
redis.call('SET', 'ecc:sid:' .. sid, cjson.encode({room = room, u = name, k = key, k2 = key2,
                                                   r = relay, t = token, v = visible,
                                                   d = delta}))
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
for _, slot in ipairs({info.k or info.u, info.k2 or ''}) do
  if redis.call('HGET', names, slot) == sid then redis.call('HDEL', names, slot) end
end
redis.call('SREM', 'ecc:hidden:' .. info.room, sid)
redis.call('SREM', 'ecc:hidden', sid)
redis.call('DEL', 'ecc:sid:' .. sid)
redis.call('SREM', 'ecc:relay:' .. info.r .. ':sids', sid)
redis.call('SREM', 'ecc:users', sid)
if redis.call('HLEN', roomkey) == 0 then
  redis.call('SREM', 'ecc:rooms', info.room)
  redis.call('DEL', names)
  redis.call('DEL', 'ecc:hidden:' .. info.room)
end
redis.call('PUBLISH', KEYS[1], sid)
return {1, raw, redis.call('HGETALL', roomkey)}
"""


def _member(sid: str, room: str, e: dict) -> Member:
    return Member(sid, e["u"], room, e["r"], e["t"], e.get("v") or "", bool(e.get("d")))


def _members(room: str, flat: list) -> list[Member]:
    entries = []
    for sid, raw in zip(flat[::2], flat[1::2], strict=True):
        e = json.loads(raw)
        entries.append((e["s"], _member(sid, room, e)))
    return [m for _, m in sorted(entries, key=lambda pair: pair[0])]


class RedisRoster:
    """Rooms shared by every relay on one Redis."""

    news_channel = ROSTER_CHANNEL   # where a leave is published (the sid)

    def __init__(self, url: str, relay_id: str, *, heartbeat_ttl: float):
        self.url = url
        self.relay_id = relay_id
        self.heartbeat_ttl = heartbeat_ttl   # seconds a relay counts as alive after a beat
        # a bounded pool that makes callers wait: a burst of joins must not open hundreds of
        # connections at once (they time out connecting, and the joins fail)
        pool = aioredis.BlockingConnectionPool.from_url(
            url, decode_responses=True, max_connections=MAX_CONNECTIONS, timeout=30)
        self.redis = aioredis.Redis(connection_pool=pool)
        self._cache: dict[str, Member] = {}   # sid -> member, a cache for the message path

    async def start(self) -> None:
        await self.redis.ping()
        self._join = self.redis.register_script(_JOIN)
        self._leave = self.redis.register_script(_LEAVE)
        await self.heartbeat()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            # our users were taken out one by one at shutdown; anything left is swept
            await self.remove_relay(self.relay_id)
            await self.redis.delete(f"ecc:relay:{self.relay_id}:alive")
        await self.redis.aclose()

    # --- the roster interface ------------------------------------------------------------
    async def add(self, room: str, sid: str, username: str, token_hash: str, *,
                  visible_to: str = "", delta: bool = False, limit: int = 0) -> list[Member]:
        slot, slot2 = name_slots(username, visible_to)
        result = await self._join(args=[room, sid, username, self.relay_id, token_hash,
                                        slot, visible_to, int(delta), limit, slot2])
        if result[0] == 0:
            raise NameTaken(room, username, _member(result[1], room, json.loads(result[2])))
        if result[0] == 2:
            raise RoomFull(room, limit)
        members = _members(room, result[1])
        self._cache.update((m.sid, m) for m in members if m.sid == sid)
        return members

    async def remove(self, sid: str) -> tuple[Member, list[Member]] | None:
        self.forget(sid)
        result = await self._leave(keys=[ROSTER_CHANNEL], args=[sid])
        if result[0] == 0:
            return None
        info = json.loads(result[1])
        return _member(sid, info["room"], info), _members(info["room"], result[2])

    async def members(self, room: str) -> list[Member]:
        return _members(room, _flatten(await self.redis.hgetall(f"ecc:room:{room}")))

    async def member(self, sid: str) -> Member | None:
        raw = await self.redis.get(f"ecc:sid:{sid}")
        if raw is None:
            return None
        info = json.loads(raw)
        member = self._cache[sid] = _member(sid, info["room"], info)
        return member

    async def rooms(self) -> list[str]:
        return sorted(await self.redis.smembers("ecc:rooms"))

    def cached_member(self, sid: str) -> Member | None:
        return self._cache.get(sid)

    def owner(self, sid: str) -> str | None:
        member = self._cache.get(sid)
        return member.relay_id if member is not None else None

    def forget(self, sid: str) -> None:
        """Drop ``sid`` from the caches (it left, on this relay or another)."""
        self._cache.pop(sid, None)

    async def relay_alive(self, relay_id: str) -> bool:
        return bool(await self.redis.exists(f"ecc:relay:{relay_id}:alive"))

    async def counts(self) -> dict:
        async with self.redis.pipeline(transaction=False) as pipe:
            rooms, users, hidden = await (pipe.scard("ecc:rooms").scard("ecc:users")
                                          .scard("ecc:hidden").execute())
        return {"rooms": rooms, "users": users, "hidden": hidden}

    async def grant(self, token_hash: str, grant: dict) -> None:
        await self.redis.set(f"ecc:grant:{token_hash}", json.dumps(grant), ex=GRANT_TTL)

    async def grant_of(self, token_hash: str) -> dict | None:
        raw = await self.redis.get(f"ecc:grant:{token_hash}")
        return json.loads(raw) if raw else None

    async def revoke(self, token_hashes: list[str]) -> None:
        if token_hashes:
            await self.redis.delete(*(f"ecc:grant:{h}" for h in token_hashes))

    # --- relays: heartbeat and sweep ------------------------------------------------------
    async def heartbeat(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd("ecc:relays", self.relay_id)
            pipe.set(f"ecc:relay:{self.relay_id}:alive", "1",
                     px=int(self.heartbeat_ttl * 1000))
            await pipe.execute()

    async def sweep(self) -> list[tuple[Member, list[Member]]]:
        """Remove the users of relays whose heartbeat has expired; what was removed."""
        removed: list[tuple[Member, list[Member]]] = []
        for relay_id in await self.redis.smembers("ecc:relays"):
            if relay_id == self.relay_id or await self.relay_alive(relay_id):
                continue
            # SREM is the lock: only the relay that removes the id cleans up after it
            if await self.redis.srem("ecc:relays", relay_id):
                gone = await self.remove_relay(relay_id)
                log.info("relay %s is gone: removed its %d users", relay_id, len(gone))
                removed += gone
        return removed

    async def remove_relay(self, relay_id: str) -> list[tuple[Member, list[Member]]]:
        removed = []
        for sid in await self.redis.smembers(f"ecc:relay:{relay_id}:sids"):
            entry = await self.remove(sid)
            if entry is not None:
                removed.append(entry)
        await self.redis.delete(f"ecc:relay:{relay_id}:sids")
        await self.redis.srem("ecc:relays", relay_id)
        return removed


def _flatten(mapping: dict) -> list:
    return [item for pair in mapping.items() for item in pair]
