"""The relay's rules: rate limits, who may address whom, and who holds a name in a room.

Pure decisions over the roster; the server supplies the two things only it can do to a
socket (ask whether it still answers, and evict it).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ecc_widgets import protocol as P
from ecc_widgets.limits import TokenBucket
from relay.roster import Member, NameTaken, Roster, can_see, hash_token

# Socket.IO rooms are named "room:<roomId>" so a room id can never be another socket's sid
ROOM_PREFIX = "room:"
RATE_NOTICE_INTERVAL = 1.0   # seconds between "slow down" notices to a client without acks
RECLAIM_WAIT = 2.0           # seconds to wait for a remote relay to let go of a name
JOIN_RATE = 2.0              # joins and leaves per second per connection, sustained
JOIN_BURST = 5               # ... and at once: each one is sent to the whole room


def take_join(bucket: TokenBucket) -> None:
    """Joins and leaves have their own, slower limit: each one is sent to the whole room."""
    if not bucket.take():
        raise P.ProtocolError("rate limit: joining and leaving too fast")


def room_key(room: str) -> str:
    """The Socket.IO room of a protocol room."""
    return ROOM_PREFIX + room


def require_member(member: Member | None, event: str) -> Member:
    if member is None:
        raise P.ProtocolError(f"{event}: join a room first")
    return member


async def check_target(roster: Roster, me: Member, target: str, event: str) -> None:
    """A key or a message may go only to another socket in the sender's room, one the
    sender can see (``roster.can_see``: a member joined with ``visibleTo`` pairs with one)."""
    if target == me.sid:
        raise P.ProtocolError(f"{event}: 'targetSocketId' is your own socket; send to "
                              "another member of the room")
    member = roster.cached_member(target) or await roster.member(target)
    if member is None or member.room != me.room or not can_see(me, member):
        raise P.ProtocolError(f"{event}: no socket {target[:P.MAX_SOCKET_ID]!r} in your room")


async def claim_name(roster: Roster, sid: str, room: str, name: str, token: str,
                     resume: str | None, *, alive: Callable[[Member], Awaitable[bool]],
                     evict: Callable[[Member], Awaitable[None]],
                     log: Any = None, **place: Any) -> list[Member]:
    """Take ``name`` in ``room``; reclaim it from a socket that is gone or superseded.

    The seed re-sends ``join`` on every connect, so a client that reconnects meets its own
    old socket still holding the name until the relay notices it is gone. A client that
    presents the resume token it got at its first join takes the name over at once; for
    any other, the old holder is probed and loses the name only if it does not answer.
    Raises ``NameTaken`` when the holder is alive, ``RoomFull`` when the room is full.
    ``place``: the rest of ``Roster.add``'s options (visible_to, delta, limit).
    """
    try:
        return await roster.add(room, sid, name, hash_token(token), **place)
    except NameTaken as taken:
        holder = taken.holder
        superseded = bool(resume) and hash_token(resume) == holder.token_hash
        if not superseded and await alive(holder):
            raise
        if log is not None:
            log.info("name %r in room %r passes from %s (%s) to %s", name, room, holder.sid,
                     "resumed" if superseded else "gone", sid)
        await evict(holder)
    deadline = time.monotonic() + RECLAIM_WAIT
    while True:
        try:
            return await roster.add(room, sid, name, hash_token(token), **place)
        except NameTaken:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)  # a remote relay is still removing the old socket


def jwk_fingerprint(jwk: Any) -> str:
    """A short fingerprint of a public JWK for logs (never the key itself)."""
    if not isinstance(jwk, dict):
        return "-"
    material = "|".join(str(jwk.get(k, "")) for k in ("kty", "crv", "x", "y"))
    return hashlib.sha256(material.encode()).hexdigest()[:16]
