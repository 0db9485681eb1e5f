"""Who is in which room: the ``Roster`` interface, and its store in memory for one relay.

The roster is the single authority on user names being unique per room. ``MemoryRoster``
serves one relay process; ``relay.redis_roster.RedisRoster`` implements the same interface
for several relay processes sharing one Redis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from ecc_widgets import protocol as P
from ecc_widgets.text import name_key, name_keys


class RoomFull(Exception):
    """The room already has as many members as the relay allows."""

    def __init__(self, room: str, limit: int):
        super().__init__(f"room {room!r} is full ({limit} members)")
        self.room = room
        self.limit = limit


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
    visible_to: str = ""   # name_key of the one member who may see it ("" = everyone)
    delta: bool = False    # it asked for roster changes without the whole list

    @property
    def key(self) -> str:
        """The form under which two names are one name (``ecc_widgets.text.name_key``)."""
        return name_key(self.username)

    @property
    def slots(self) -> tuple[str, str]:
        return name_slots(self.username, self.visible_to)


def name_slots(username: str, visible_to: str = "") -> tuple[str, str]:
    """Where a name is held in its room: under both its keys (``name_keys``). A hidden
    member's name (a demo peer's) is held apart, under the one member who sees it: it
    takes no name from anyone else, and each summoner's demo peer has its own."""
    prefix = visible_to + "\x00" if visible_to else ""
    lower, upper = name_keys(username)
    return prefix + "l:" + lower, prefix + "u:" + upper


def can_see(a: Member, b: Member) -> bool:
    """May ``a`` and ``b`` see (and address) each other? Symmetric: a member joined with
    ``visibleTo`` pairs only with that one member (and is always visible to itself)."""
    if a.sid == b.sid:
        return True
    return ((not a.visible_to or a.visible_to == b.key)
            and (not b.visible_to or b.visible_to == a.key))


def hash_token(token: str | None) -> str:
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


def roster_entries(members: list[Member], viewer: Member | None = None) -> list[dict]:
    """The ``usersInRoom`` list the protocol sends, in join order (as ``viewer`` sees it)."""
    return [P.roster_entry(m.sid, m.username) for m in members
            if viewer is None or can_see(viewer, m)]


class Roster(Protocol):
    """Rooms, their members and the names they hold (async: the store may be remote)."""

    relay_id: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    async def add(self, room: str, sid: str, username: str, token_hash: str, *,
                  visible_to: str = "", delta: bool = False, limit: int = 0) -> list[Member]:
        """Put ``sid`` in ``room`` as ``username``; the room's members after it.

        Names compare by ``name_slots`` (``Bob``, ``bob`` and a Cyrillic ``Воb`` are one
        name). Raises ``NameTaken`` when another socket holds the name, ``RoomFull`` when
        the room has ``limit`` visible members already (0: no limit); hidden members
        (``visible_to``, demo peers: a few per summoner) do not count against it."""

    async def remove(self, sid: str) -> tuple[Member, list[Member]] | None:
        """Take ``sid`` out of its room; ``(member, rest of the room)`` or None."""

    async def members(self, room: str) -> list[Member]: ...
    async def member(self, sid: str) -> Member | None: ...

    async def rooms(self) -> list[str]:
        """Every room with members (on every relay): the teacher's console lists them."""

    def cached_member(self, sid: str) -> Member | None:
        """The member ``sid`` if known without any I/O (hot path of every message)."""

    def owner(self, sid: str) -> str | None:
        """The relay ``sid`` is connected to, if known without I/O."""

    async def relay_alive(self, relay_id: str) -> bool: ...
    async def counts(self) -> dict: ...

    async def grant(self, token_hash: str, grant: dict) -> None:
        """Store a invite token's grant (who invited it, in which room, for which name)."""

    async def grant_of(self, token_hash: str) -> dict | None: ...
    async def revoke(self, token_hashes: list[str]) -> None: ...


class MemoryRoster:
    """Rooms of one relay process. Insertion order is join order, as the seed's Set was."""

    def __init__(self, relay_id: str = "local"):
        self.relay_id = relay_id
        self._rooms: dict[str, dict[str, Member]] = {}   # room -> sid -> member
        self._names: dict[str, dict[str, str]] = {}      # room -> name_key -> sid
        self._members: dict[str, Member] = {}            # sid -> member
        self._hidden: dict[str, int] = {}                # room -> hidden members
        self._grants: dict[str, dict] = {}               # invite token hash -> grant

    async def start(self) -> None:
        """Nothing to connect to; the Redis store's counterpart does."""

    async def close(self) -> None:
        """Nothing to release."""

    async def add(self, room: str, sid: str, username: str, token_hash: str, *,
                  visible_to: str = "", delta: bool = False, limit: int = 0) -> list[Member]:
        """Put ``sid`` in ``room`` as ``username``; the room's members after it."""
        slots = name_slots(username, visible_to)
        names = self._names.get(room, {})
        for slot in slots:
            holder = names.get(slot)
            if holder is not None and holder != sid:
                raise NameTaken(room, username, self._members[holder])
        members = self._rooms.get(room, {})
        if (limit and not visible_to and sid not in members
                and len(members) - self._hidden.get(room, 0) >= limit):
            raise RoomFull(room, limit)
        member = Member(sid, username, room, self.relay_id, token_hash, visible_to, delta)
        names = self._names.setdefault(room, {})
        for slot in slots:
            names[slot] = sid
        if visible_to and sid not in members:
            self._hidden[room] = self._hidden.get(room, 0) + 1
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
        for slot in member.slots:
            if names.get(slot) == sid:
                del names[slot]
        if member.visible_to:
            self._hidden[member.room] = self._hidden.get(member.room, 1) - 1
        if not room:
            self._rooms.pop(member.room, None)
            self._names.pop(member.room, None)
            self._hidden.pop(member.room, None)
        return member, list(room.values())

    async def members(self, room: str) -> list[Member]:
        return list(self._rooms.get(room, {}).values())

    async def member(self, sid: str) -> Member | None:
        return self._members.get(sid)

    async def rooms(self) -> list[str]:
        return list(self._rooms)

    def cached_member(self, sid: str) -> Member | None:
        return self._members.get(sid)

    def owner(self, sid: str) -> str | None:
        member = self._members.get(sid)
        return member.relay_id if member is not None else None

    async def relay_alive(self, relay_id: str) -> bool:
        return relay_id == self.relay_id

    async def counts(self) -> dict:
        return {"rooms": len(self._rooms), "users": len(self._members),
                "hidden": sum(self._hidden.values())}

    async def grant(self, token_hash: str, grant: dict) -> None:
        self._grants[token_hash] = grant

    async def grant_of(self, token_hash: str) -> dict | None:
        return self._grants.get(token_hash)

    async def revoke(self, token_hashes: list[str]) -> None:
        for h in token_hashes:
            self._grants.pop(h, None)
