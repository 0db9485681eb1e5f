"""The channel between relay processes: events for a socket on another relay, name probes,
roster news and relay liveness.

The cluster layer hands what it receives up through the ``Upcalls`` it is built with (three
callables); it knows nothing of the Socket.IO server above it. ``SingleRelay`` is the channel
of a relay on its own (there is nobody to talk to); ``RedisCluster`` the one over Redis
pub/sub, next to a `relay.redis_roster.RedisRoster`.

Channels: ``ecc-relay:roster`` (a sid left: drop it from caches), ``ecc-relay:probe`` (is this
socket of yours still there?), ``ecc-relay:to:<relay id>`` (encoded events for one socket on
that relay, sent in order by one publisher task).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from relay.roster import Member

if TYPE_CHECKING:  # the redis package is optional: only RedisCluster needs it
    from relay.redis_roster import RedisRoster

log = logging.getLogger("relay.redis")

PROBE_CHANNEL = "ecc-relay:probe"
DIRECT_PREFIX = "ecc-relay:to:"   # + relay id: events for one socket on that relay
PUBLISH_BATCH = 256               # direct events sent to Redis in one round trip


@dataclass(frozen=True)
class Upcalls:
    """What the cluster hands up to the relay that owns the sockets."""

    deliver: Callable[[str, str], Awaitable[None]]        # (sid, encoded event) for our socket
    probe: Callable[[str, float], Awaitable[bool]]        # does our socket sid still answer?
    member_left: Callable[[Member, list[Member]], Awaitable[None]]  # a gone relay's user


class Cluster(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...

    def send_direct(self, relay_id: str, sid: str, text: str) -> None:
        """Queue one encoded event for socket ``sid`` on relay ``relay_id``."""

    async def probe_remote(self, holder: Member, timeout: float) -> bool:
        """Does ``holder``'s socket, on another relay, still answer?"""


class SingleRelay:
    """One relay process: no other relay to send to or to ask."""

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release."""

    def send_direct(self, relay_id: str, sid: str, text: str) -> None:  # pragma: no cover
        raise RuntimeError("one relay process has no other relay to send to")

    async def probe_remote(self, holder: Member, timeout: float) -> bool:
        return False


class RedisCluster:
    """Relays sharing one Redis: direct events, probes, roster news, heartbeat and sweep."""

    def __init__(self, roster: RedisRoster, upcalls: Upcalls):
        self.roster = roster
        self.redis = roster.redis
        self.relay_id = roster.relay_id
        self.upcalls = upcalls
        self._direct = DIRECT_PREFIX + self.relay_id
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self._probes: dict[str, asyncio.Future] = {}
        self._probe_ids = itertools.count(1)
        self._pubsub = None

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.roster.news_channel, PROBE_CHANNEL, self._direct)
        self._tasks = [asyncio.create_task(self._listen()),
                       asyncio.create_task(self._keep_alive()),
                       asyncio.create_task(self._publisher())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()

    # --- sending ---------------------------------------------------------------------------
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
    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.roster.heartbeat_ttl / 5)
            try:
                await self.roster.heartbeat()
                for member, rest in await self.roster.sweep():
                    await self.upcalls.member_left(member, rest)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis hiccup: try again next beat
                log.warning("heartbeat/sweep failed: %s", exc)

    async def _listen(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    channel = message["channel"]
                    if channel == self._direct:
                        sid, _, text = message["data"].partition("\n")
                        await self.upcalls.deliver(sid, text)
                    elif channel == self.roster.news_channel:
                        self.roster.forget(message["data"])
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
        if msg.get("op") == "probe" and msg.get("relay") == self.relay_id:
            task = asyncio.create_task(self._answer_probe(msg))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        elif msg.get("op") == "answer":
            future = self._probes.get(msg.get("id"))
            if future is not None and not future.done():
                future.set_result(bool(msg.get("alive")))

    async def _answer_probe(self, msg: dict[str, Any]) -> None:
        alive = await self.upcalls.probe(str(msg.get("sid")), float(msg.get("timeout", 3)))
        await self.redis.publish(PROBE_CHANNEL, json.dumps(
            {"op": "answer", "id": msg.get("id"), "alive": alive}))
