"""Who is in which room: the roster store, in memory for one relay process.

The store is the single authority on user names being unique per room. The Redis store
(`relay.redis_roster`) has the same async interface for several relay processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


class NameTaken(Exception):
    """The user name is held by another socket in the room."""

    def __init__(self, room: str, username: str, holder: Member):
        super().__init__(f"the name {username!r} is already taken in room {room!r}")
        self.room = room
        self.username = username
        self.holder = holder


@dataclass(frozen=True)
class Member:
    sid: str
    username: str
    room: str
    relay_id: str
    token_hash: str  # sha256 of the resume token handed out at join (never the token)


def hash_token(token: str | None) -> str:
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


class MemoryRoster:
    """Rooms of one relay process. Insertion order is join order, as the seed's Set was."""

    def __init__(self, relay_id: str = "local"):
        self.relay_id = relay_id
        self._rooms: dict[str, dict[str, Member]] = {}   # room -> sid -> member
        self._names: dict[str, dict[str, str]] = {}      # room -> username -> sid
        self._members: dict[str, Member] = {}            # sid -> member

    async def start(self) -> None:
        """Nothing to connect to; the Redis store's counterpart does."""

    async def close(self) -> None:
        """Nothing to release."""

    async def add(self, room: str, sid: str, username: str, token_hash: str) -> list[Member]:
        """Put ``sid`` in ``room`` as ``username``; the room's members after it."""
        names = self._names.setdefault(room, {})
        holder = names.get(username)
        if holder is not None and holder != sid:
            raise NameTaken(room, username, self._members[holder])
        member = Member(sid, username, room, self.relay_id, token_hash)
        names[username] = sid
        self._rooms.setdefault(room, {})[sid] = member
        self._members[sid] = member
        return list(self._rooms[room].values())

    async def remove(self, sid: str) -> tuple[Member, list[Member]] | None:
        """Take ``sid`` out of its room; ``(member, rest of the room)`` or None."""
        member = self._members.pop(sid, None)
        if member is None:
            return None
        room = self._rooms.get(member.room, {})
        room.pop(sid, None)
        names = self._names.get(member.room, {})
        if names.get(member.username) == sid:
            del names[member.username]
        if not room:
            self._rooms.pop(member.room, None)
            self._names.pop(member.room, None)
        return member, list(room.values())

    async def members(self, room: str) -> list[Member]:
        return list(self._rooms.get(room, {}).values())

    async def member(self, sid: str) -> Member | None:
        return self._members.get(sid)

    def cached_room(self, sid: str) -> str | None:
        """The room of ``sid`` if known without any I/O (hot path of every message)."""
        member = self._members.get(sid)
        return member.room if member is not None else None

    def owner(self, sid: str) -> str | None:
        """The relay of a socket on another relay: never, with one process."""
        return None

    def send_direct(self, relay_id: str, sid: str, text: str) -> None:  # pragma: no cover
        raise RuntimeError("one relay process has no other relay to send to")

    async def relay_alive(self, relay_id: str) -> bool:
        return relay_id == self.relay_id

    async def counts(self) -> dict:
        return {"rooms": len(self._rooms), "users": len(self._members)}
