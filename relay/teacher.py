"""The teacher's console: the whole class, live, on one page (``--teacher``).

What it shows comes from what the relay already routes (joins, curves, key shares and to
whom, attack mode's own state) and from one small client event, ``code-compared``
(``ecc_widgets.protocol``), for what only a client knows: the codes compared with one of its
own pairs, the result, and whether it verified that pair. No message content, no private
key: the relay never has them, and the console adds nothing to a message's path.

Off unless the operator starts the relay with ``--teacher``; then `install` builds one
`Console`, sets it as the server's ``teacher`` and registers:

- ``GET /teacher``: the page (relay/static/teacher.html and teacher.js);
- ``GET /teacher/api/rooms``: every room, its students and their pairs, room totals and
  the debrief's anonymised figures; ``GET /teacher/api/log``: the actions taken;
- ``POST /teacher/api/lock`` ``{"room", "locked"}``, ``/remove`` ``{"room", "socketId",
  "reason"?}``, ``/clear`` ``{"room"}``, ``/notice`` ``{"room", "text"}``, and with attack
  mode ``/mallory`` ``{"room", "pair": [name, name], "on"}``.

The API wants ``Authorization: Bearer <token>`` (401 otherwise; compared in constant time,
failures limited per address). The token comes from ``ECC_RELAY_TEACHER_TOKEN`` or is
generated and printed with the page's address (``/teacher#token=...``). It is not attack
mode's token, nor is attack mode's token this one. Without ``--teacher`` none of these
routes exist (404).

Several relays over Redis: each relay keeps what it saw of its own sockets (a `Student`
each) and writes it to Redis (``ecc:teacher:relay:<id>``, a JSON snapshot, soon after each
change); the console reads the roster (every relay's members) and every live relay's
snapshot. Locks and removals are kept in Redis too, and an action for a socket on another
relay goes to it on the ``ecc-relay:teacher`` channel. Start every relay with
``--teacher`` (the same ``ECC_RELAY_TEACHER_TOKEN``): a relay without it neither reports
nor enforces a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import statistics
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ecc_widgets import protocol as P
from ecc_widgets.text import name_key
from relay import webapi, wire
from relay.admission import client_address
from relay.policy import TokenBucket, jwk_fingerprint, require_member, room_key
from relay.roster import Member, can_see
from relay.webapi import json_body, room_of, shown_host

if TYPE_CHECKING:
    from relay.config import Config
    from relay.server import RelayServer

log = logging.getLogger("relay.teacher")

STATIC = Path(__file__).resolve().parent / "static"
PAGE_HEADERS = {
    **webapi.PAGE_HEADERS,
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
                               "style-src 'self'; img-src 'none'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
}
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
CHANNEL = "ecc-relay:teacher"         # actions for sockets on another relay
SNAPSHOT_PREFIX = "ecc:teacher:relay:"
LOCKED_KEY = "ecc:teacher:locked"     # set of locked rooms
BANNED_PREFIX = "ecc:teacher:banned:"  # + room: set of name keys removed from it
SNAPSHOT_TTL = 30                     # seconds a relay's snapshot outlives its relay
SNAPSHOT_EVERY = 0.25                 # seconds between snapshots while things change
SNAPSHOT_REFRESH = 10.0               # seconds between snapshots when nothing changes
MAX_PAIRS = 256                       # peers one student's record keeps
MAX_LOG = 500                         # actions kept for GET /teacher/api/log
MAX_LEFT = 200                        # students who left, kept per relay (the newest)
FAIL_RATE, FAIL_BURST = 0.2, 10       # wrong tokens per address: per second, at once
MAX_FAIL_ADDRESSES = 4096
REMOVED = "the teacher removed you from the room"
CLEARED = "the teacher cleared the room"


@dataclass
class Student:
    """What this relay saw of one of its sockets in a room (never a message)."""

    sid: str
    name: str
    room: str
    joined: float                       # epoch seconds
    demo: bool = False                  # a demo peer (seen by one member only)
    curve: str = ""
    fingerprint: str = ""               # of the last public key it shared
    client: str = ""                    # "v1", "v2" (the version its key share offers) or "seed"
    keys_to: OrderedDict = field(default_factory=OrderedDict)   # peer sid -> fingerprint
    # peer sid -> {"result", "verified", "mallory": in the middle when reported, "at"}
    reports: OrderedDict = field(default_factory=OrderedDict)
    verified_at: float | None = None    # the first pair it verified

    def as_json(self) -> dict:
        return {"sid": self.sid, "name": self.name, "room": self.room, "joined": self.joined,
                "demo": self.demo, "curve": self.curve, "fingerprint": self.fingerprint,
                "client": self.client, "keysTo": dict(self.keys_to),
                "reports": dict(self.reports), "verifiedAt": self.verified_at}


def _put(table: OrderedDict, key: str, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > MAX_PAIRS:
        table.popitem(last=False)


class Console:
    """The teacher's console of one relay process: its students, and the token."""

    def __init__(self, server: RelayServer, token: str | None = None):
        self.server = server
        self.token = token or secrets.token_urlsafe(24)
        self.generated = not token
        self.students: dict[str, Student] = {}    # by sid: this relay's sockets
        self.actions: deque = deque(maxlen=MAX_LOG)
        self.departed: deque = deque(maxlen=MAX_LEFT)   # who left: {name, room, joined, left}
        self.locked: set[str] = set()              # one relay: locked rooms
        self.banned: dict[str, set[str]] = {}      # one relay: room -> removed name keys
        self.redis = getattr(server.roster, "redis", None)   # with --redis-url
        self._failures: OrderedDict[str, TokenBucket] = OrderedDict()
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    # ------------------------------------------------------------------ hooks (the server)

    async def admit(self, room: str, name: str) -> None:
        """Refuse a join into a locked room, or under a name removed from the room."""
        if self.redis is not None:
            async with self.redis.pipeline(transaction=False) as pipe:
                locked, banned = await (pipe.sismember(LOCKED_KEY, room)
                                        .sismember(BANNED_PREFIX + room, name_key(name))
                                        .execute())
        else:
            locked = room in self.locked
            banned = name_key(name) in self.banned.get(room, ())
        if banned:
            raise P.ProtocolError(f"{P.JOIN}: the teacher removed {name!r} from room {room!r}")
        if locked:
            raise P.ProtocolError(f"{P.JOIN}: the teacher has locked room {room!r}: no new "
                                  "members")

    def joined(self, member: Member) -> None:
        self.students[member.sid] = Student(member.sid, member.username, member.room,
                                            time.time(), demo=bool(member.visible_to))
        self._changed()

    def left(self, sid: str) -> None:
        student = self.students.pop(sid, None)
        if student is not None:
            if not student.demo:
                self.departed.append({"name": student.name, "room": student.room,
                                      "joined": student.joined, "left": time.time()})
            self._changed()

    def curve(self, sid: str, curve: str) -> None:
        student = self.students.get(sid)
        if student is not None and student.curve != curve:
            student.curve = curve
            self._changed()

    def key_shared(self, sid: str, target: str, share: dict) -> None:
        student = self.students.get(sid)
        if student is None:
            return
        fingerprint = jwk_fingerprint(share["publicKey"])
        student.fingerprint = fingerprint
        offered = share.get("v")
        student.client = (f"v{offered}" if type(offered) is int and 0 < offered < 100
                          else "seed" if "v" not in share else "unknown")
        _put(student.keys_to, target, fingerprint)
        self._changed()

    async def code_compared(self, member: Member | None, payload: Any) -> dict:
        """A member's ``code-compared``: only about a pair it is in, with a peer in its room
        that it gave its key to (a report about anyone else's pair is refused)."""
        p = P.validate(P.CODE_COMPARED, payload)
        me = require_member(member, P.CODE_COMPARED)
        peer_sid = p["peerSocketId"]
        if peer_sid == me.sid:
            raise P.ProtocolError(f"{P.CODE_COMPARED}: a pair is you and another member")
        roster = self.server.roster
        peer = roster.cached_member(peer_sid) or await roster.member(peer_sid)
        if peer is None or peer.room != me.room or not can_see(me, peer):
            raise P.ProtocolError(f"{P.CODE_COMPARED}: no socket {peer_sid!r} in your room")
        student = self.students.get(me.sid)
        if student is None or peer_sid not in student.keys_to:
            raise P.ProtocolError(f"{P.CODE_COMPARED}: you have not shared a key with "
                                  f"{peer.username!r}: only your own pairs can be reported")
        now = time.time()
        mallory = self._in_middle(me.room, me, peer)
        _put(student.reports, peer_sid, {"result": p["result"], "verified": p["verified"],
                                         "mallory": mallory, "at": now})
        if p["verified"] and student.verified_at is None:
            student.verified_at = now
        self._changed()
        return P.ack_ok()

    def _in_middle(self, room: str, a: Member, b: Member) -> bool:
        attacks = self.server.attacks
        return attacks is not None and attacks.in_middle(room, a, b)

    # ------------------------------------------------------------------ snapshots (Redis)

    def _changed(self) -> None:
        self._dirty.set()

    def snapshot(self) -> dict:
        return {"relay": self.server.relay_id, "time": time.time(),
                "students": [s.as_json() for s in self.students.values()],
                "left": list(self.departed)}

    async def start(self) -> None:
        if self.redis is not None:
            self._tasks = [asyncio.create_task(self._publish_snapshots()),
                           asyncio.create_task(self._listen())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.delete(SNAPSHOT_PREFIX + self.server.relay_id)

    async def _publish_snapshots(self) -> None:
        key = SNAPSHOT_PREFIX + self.server.relay_id
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), SNAPSHOT_REFRESH)
            self._dirty.clear()
            try:
                await self.redis.set(key, wire.dumps(self.snapshot()), ex=SNAPSHOT_TTL)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a Redis hiccup: the next one will do
                log.warning("could not write the console's snapshot: %s", exc)
            await asyncio.sleep(SNAPSHOT_EVERY)

    async def _snapshots(self) -> list[dict]:
        if self.redis is None:
            return [self.snapshot()]
        relays = sorted(await self.redis.smembers("ecc:relays"))
        if not relays:
            return [self.snapshot()]
        raws = await self.redis.mget([SNAPSHOT_PREFIX + r for r in relays])
        out = [self.snapshot()]   # ours, as it is now
        for relay_id, raw in zip(relays, raws, strict=True):
            if raw and relay_id != self.server.relay_id:
                with contextlib.suppress(ValueError):
                    out.append(json.loads(raw))
        return out

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        with contextlib.suppress(ValueError, KeyError, TypeError):
                            await self._on_order(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening after a Redis hiccup
                log.warning("console channel failed (%s); resubscribing", exc)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _on_order(self, order: dict) -> None:
        """An action another relay's console took, for the sockets this relay holds."""
        if order.get("op") == "remove":
            sid = str(order["sid"])
            if self.server.local_member(sid) is not None:
                await self._take_out(sid, "removed", str(order["text"]))
        elif order.get("op") == "clear":
            await self._clear_local(str(order["room"]), str(order["text"]))

    # ------------------------------------------------------------------ the view

    async def rooms(self) -> dict:
        """Every room with members: its students, their pairs, totals and the debrief."""
        roster = self.server.roster
        records: dict[str, dict] = {}
        departed: dict[str, dict[str, dict]] = {}   # room -> name key -> the latest leave
        for snap in await self._snapshots():
            for record in snap.get("students", ()):
                if isinstance(record, dict) and isinstance(record.get("sid"), str):
                    records[record["sid"]] = {**record, "relay": snap.get("relay", "")}
            for gone in snap.get("left", ()):
                with contextlib.suppress(KeyError, TypeError, AttributeError):
                    seen = departed.setdefault(gone["room"], {})
                    key = name_key(gone["name"])
                    if key not in seen or seen[key]["left"] < gone["left"]:
                        seen[key] = gone
        names = await roster.rooms()
        locked = await self._locked_rooms()
        out = {}
        for room in sorted(set(names) | locked):
            members = await roster.members(room)
            out[room] = self._room(room, members, records, room in locked)
            here = {m.key for m in members}
            out[room]["left"] = sorted(
                ({"name": g["name"], "joined": g["joined"], "left": g["left"]}
                 for k, g in departed.get(room, {}).items() if k not in here),
                key=lambda g: g["left"])
        return {"relay": self.server.relay_id, "time": time.time(),
                "attackMode": self.server.attacks is not None, "rooms": out,
                "debrief": _debrief(out.values())}

    async def _locked_rooms(self) -> set[str]:
        if self.redis is not None:
            return set(await self.redis.smembers(LOCKED_KEY))
        return set(self.locked)

    def _room(self, room: str, members: list[Member], records: dict, locked: bool) -> dict:
        by_sid = {m.sid: m for m in members}
        rows, pairs = [], {}
        for m in members:
            if m.visible_to:
                continue     # a demo peer: seen by its summoner only, not a student
            rec = records.get(m.sid) or {}
            row = {"socketId": m.sid, "name": m.username, "relay": m.relay_id,
                   "joined": rec.get("joined"), "curve": rec.get("curve", ""),
                   "fingerprint": rec.get("fingerprint", ""),
                   "client": rec.get("client", ""), "reports": bool(rec.get("reports")),
                   "verified": False, "verifiedAt": rec.get("verifiedAt"), "pairs": []}
            for peer_sid in _peers_of(m.sid, rec, records, by_sid):
                peer = by_sid[peer_sid]
                mine = (rec.get("reports") or {}).get(peer_sid) or {}
                theirs = ((records.get(peer_sid) or {}).get("reports") or {}).get(m.sid) or {}
                sent = peer_sid in (rec.get("keysTo") or {})
                got = m.sid in ((records.get(peer_sid) or {}).get("keysTo") or {})
                middle = self._in_middle(room, m, peer)
                entry = {"peer": peer.username, "peerSocketId": peer_sid,
                         "demo": bool(peer.visible_to),
                         "keys": "exchanged" if sent and got else "sent" if sent
                         else "received" if got else "none",
                         "code": mine.get("result", "pending"),
                         "verified": bool(mine.get("verified")), "mallory": middle,
                         "outcome": _outcome(mine, middle)}
                row["pairs"].append(entry)
                row["verified"] = row["verified"] or entry["verified"]
                if not peer.visible_to:
                    key = tuple(sorted((m.sid, peer_sid)))
                    pair = pairs.setdefault(key, {"exchanged": entry["keys"] == "exchanged",
                                                  "outcomes": set(), "codes": set(),
                                                  "mallory": middle})
                    pair["codes"].update({mine.get("result", "pending"),
                                          theirs.get("result", "pending")})
                    pair["outcomes"].update({_outcome(mine, middle),
                                             _outcome(theirs, middle)})
            rows.append(row)
        exchanged = [p for p in pairs.values() if p["exchanged"]]
        compared = [p for p in exchanged if p["codes"] & {"match", "differ"}]
        caught = [p for p in exchanged if "caught" in p["outcomes"]]
        fooled = [p for p in exchanged if "fooled" in p["outcomes"]
                  and "caught" not in p["outcomes"]]
        waits = [r["verifiedAt"] - r["joined"] for r in rows
                 if r["verifiedAt"] is not None and r["joined"] is not None]
        totals = {"students": len(rows),
                  "withKeys": sum(1 for r in rows if r["fingerprint"]),
                  "pairs": len(exchanged), "compared": len(compared),
                  "verified": sum(1 for r in rows if r["verified"]),
                  "underMallory": sum(1 for p in exchanged if p["mallory"]),
                  "caught": len(caught), "fooled": len(fooled),
                  "seedClients": sum(1 for r in rows if r["client"] == "seed"),
                  "medianJoinToVerified": statistics.median(waits) if waits else None}
        return {"locked": locked, "students": rows, "totals": totals, "_waits": waits}

    # ------------------------------------------------------------------ the actions

    def address(self, request: web.Request) -> str:
        """The client's address (through a trusted proxy, as for sockets)."""
        return client_address(request.remote or "?", request.headers.get("X-Forwarded-For"),
                              self.server.trusted_proxies)

    def record(self, request: web.Request, action: str, **what: Any) -> None:
        """Log an action: who (the address), what, when; never a message's content."""
        who = self.address(request)
        entry = {"time": time.time(), "from": who, "action": action, **what}
        self.actions.append(entry)
        log.info("teacher console: %s %s (from %s)", action,
                 " ".join(f"{k}={v!r}" for k, v in what.items()), who)

    async def lock(self, room: str, on: bool) -> None:
        if self.redis is not None:
            await (self.redis.sadd if on else self.redis.srem)(LOCKED_KEY, room)
        elif on:
            self.locked.add(room)
        else:
            self.locked.discard(room)

    async def notice(self, room: str, text: str) -> int:
        """A notice every page in the room shows; how many members it went to."""
        members = await self.server.roster.members(room)
        await self.server.emit(P.TEACHER_NOTICE, {"kind": "notice", "text": text,
                                                  "roomId": room},
                               room=room_key(room))
        return len(members)

    async def remove(self, room: str, sid: str, text: str) -> bool:
        """Take ``sid`` out of ``room`` and keep its name out (until the room is cleared)."""
        member = await self.server.roster.member(sid)
        if member is None or member.room != room:
            return False
        if self.redis is not None:
            await self.redis.sadd(BANNED_PREFIX + room, member.key)
        else:
            self.banned.setdefault(room, set()).add(member.key)
        if not await self._take_out(sid, "removed", text) and self.redis is not None:
            await self.redis.publish(CHANNEL, json.dumps({"op": "remove", "sid": sid,
                                                          "text": text}))
        return True

    async def clear(self, room: str) -> int:
        """Everyone out of ``room`` (told why); the room's removals are forgiven."""
        members = await self.server.roster.members(room)
        if self.redis is not None:
            await self.redis.delete(BANNED_PREFIX + room)
            await self.redis.publish(CHANNEL, json.dumps({"op": "clear", "room": room,
                                                          "text": CLEARED}))
        else:
            self.banned.pop(room, None)
        await self._clear_local(room, CLEARED)
        return len([m for m in members if not m.visible_to])

    async def _clear_local(self, room: str, text: str) -> None:
        for member in self.server.local_members(room):
            await self._take_out(member.sid, "cleared", text)

    async def _take_out(self, sid: str, kind: str, text: str) -> bool:
        """Tell one of our sockets why, then take it out of its room (its socket stays
        open); False when the socket is not ours."""
        member = self.server.local_member(sid)
        return await self.server.take_out(sid, P.TEACHER_NOTICE, {
            "kind": kind, "text": text, "roomId": member.room if member is not None else ""})

    # ------------------------------------------------------------------ the token

    def authorised(self, request: web.Request) -> bool | None:
        """True for the right token, False for a wrong or missing one, None when this
        address has failed too often lately (refused without looking at the token)."""
        address = self.address(request)
        bucket = self._failures.get(address)
        now = time.monotonic()
        if bucket is not None and not bucket.has(now):
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        given = given.strip()
        ok = (scheme.lower() == "bearer" and 0 < len(given) <= 512
              and hmac.compare_digest(given.encode(), self.token.encode()))
        if not ok:
            if bucket is None:
                bucket = self._failures[address] = TokenBucket(FAIL_RATE, FAIL_BURST, now)
                while len(self._failures) > MAX_FAIL_ADDRESSES:
                    self._failures.popitem(last=False)
            bucket.take(now)
        return ok

    def announce(self, scheme: str, host: str, port: int) -> None:
        """Print where the console is (stdout, not the log: the token is a secret)."""
        shown = shown_host(host)
        token = self.token if self.generated else "<ECC_RELAY_TEACHER_TOKEN>"
        print(f"TEACHER'S CONSOLE: {scheme}://{shown}:{port}/teacher#token={token}", flush=True)
        log.info("the teacher's console is on at /teacher")


def _peers_of(sid: str, rec: dict, records: dict, by_sid: dict) -> list[str]:
    """The members ``sid`` shared a key with or got one from, still in the room."""
    peers = [p for p in (rec.get("keysTo") or {}) if p in by_sid and p != sid]
    for other, orec in records.items():
        if other in by_sid and other != sid and other not in peers \
                and sid in (orec.get("keysTo") or {}):
            peers.append(other)
    return peers


def _outcome(report: dict, middle: bool) -> str:
    """Under Mallory: caught (they differ), fooled (they match), or not yet ("")."""
    if not (middle or report.get("mallory")):
        return ""
    if report.get("result") == "differ":
        return "caught"
    if report.get("result") == "match" or report.get("verified"):
        return "fooled"
    return ""


def _debrief(rooms) -> dict:
    """The class's anonymised totals, for the projector: no name, no socket."""
    rooms = list(rooms)
    waits = [w for r in rooms for w in r.pop("_waits")]
    total = {k: sum(r["totals"][k] for r in rooms)
             for k in ("students", "pairs", "compared", "caught", "fooled", "underMallory",
                       "verified")}
    total["medianJoinToVerified"] = statistics.median(waits) if waits else None
    median = total["medianJoinToVerified"]
    total["text"] = (f"{total['compared']} of {total['pairs']} pairs compared codes; "
                     f"{total['caught']} caught Mallory, {total['fooled']} "
                     f"{'was' if total['fooled'] == 1 else 'were'} fooled; "
                     + (f"median time from join to verified {median:.0f} s" if median
                        is not None else "nobody verified yet"))
    return total


# ---------------------------------------------------------------------- the HTTP side

def _text(value: Any, what: str) -> str:
    try:
        return P.validate_notice(value, what)
    except P.ProtocolError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


def install(app: web.Application, server: RelayServer, config: Config) -> Console:
    """Switch the console on for ``server`` and register its routes on ``app``."""
    console = Console(server, config.teacher_token)
    server.teacher = console

    def guarded(handler):
        async def check(request: web.Request) -> web.StreamResponse:
            ok = console.authorised(request)
            if ok is None:
                return web.json_response(
                    {"ok": False, "error": "too many wrong tokens from your address; wait"},
                    status=429, headers={**API_HEADERS, "Retry-After": "10"})
            if not ok:
                return web.json_response(
                    {"ok": False, "error": "the teacher's token is needed "
                                           "(Authorization: Bearer ...)"},
                    status=401, headers={**API_HEADERS, "WWW-Authenticate": "Bearer"})
            return await handler(request)
        return check

    def answer(**fields: Any) -> web.Response:
        return web.json_response({"ok": True, **fields}, headers=API_HEADERS)

    def static(name: str, kind: str):
        async def serve(_request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC / name, headers={**PAGE_HEADERS,
                                                            "Content-Type": kind})
        return serve

    async def rooms(_request: web.Request) -> web.Response:
        return answer(**await console.rooms())

    async def actions(_request: web.Request) -> web.Response:
        return answer(actions=list(console.actions))

    async def lock(request: web.Request) -> web.Response:
        body = await json_body(request, 4096)
        room, on = room_of(body), body.get("locked")
        if not isinstance(on, bool):
            raise web.HTTPBadRequest(text="'locked' must be true or false")
        await console.lock(room, on)
        console.record(request, "lock" if on else "unlock", room=room)
        return answer(room=room, locked=on)

    async def remove(request: web.Request) -> web.Response:
        body = await json_body(request, 4096)
        room, sid = room_of(body), body.get("socketId")
        if not isinstance(sid, str) or not 0 < len(sid) <= P.MAX_SOCKET_ID:
            raise web.HTTPBadRequest(text="'socketId' must be a member's socket id")
        reason = body.get("reason")
        text = REMOVED if reason in (None, "") else f"{REMOVED}: {_text(reason, 'reason')}"
        if len(text) > P.MAX_NOTICE:
            raise web.HTTPBadRequest(text="'reason' is too long")
        member = await server.roster.member(sid)
        if not await console.remove(room, sid, text):
            raise web.HTTPNotFound(text=f"no member {sid!r} in room {room!r}")
        console.record(request, "remove", room=room,
                       name=member.username if member else "", reason=bool(reason))
        return answer(room=room, removed=sid)

    async def clear(request: web.Request) -> web.Response:
        room = room_of(await json_body(request, 4096))
        count = await console.clear(room)
        console.record(request, "clear", room=room, members=count)
        return answer(room=room, cleared=count)

    async def notice(request: web.Request) -> web.Response:
        body = await json_body(request, 4096)
        room, text = room_of(body), _text(body.get("text"), "text")
        count = await console.notice(room, text)
        console.record(request, "notice", room=room, length=len(text))
        return answer(room=room, members=count)

    async def mallory(request: web.Request) -> web.Response:
        if server.attacks is None:
            raise web.HTTPConflict(text="attack mode is off on this relay (--attacks)")
        body = await json_body(request, 4096)
        room, pair, on = room_of(body), body.get("pair"), body.get("on")
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(n, str) and 0 < len(n) <= P.MAX_USERNAME for n in pair)
                and pair[0] != pair[1]):
            raise web.HTTPBadRequest(text="'pair' must be two members' names")
        if not isinstance(on, bool):
            raise web.HTTPBadRequest(text="'on' must be true or false")
        server.attacks.set_pair(room, pair[0], pair[1], on)
        console.record(request, "mallory in" if on else "mallory out", room=room,
                       pair=list(pair))
        return answer(room=room, pair=pair, on=on)

    app.router.add_get("/teacher", static("teacher.html", "text/html; charset=utf-8"))
    app.router.add_get("/teacher/teacher.js",
                       static("teacher.js", "application/javascript; charset=utf-8"))
    app.router.add_get("/teacher/teacher.css", static("teacher.css", "text/css; charset=utf-8"))
    app.router.add_get("/teacher/api/rooms", guarded(rooms))
    app.router.add_get("/teacher/api/log", guarded(actions))
    app.router.add_post("/teacher/api/lock", guarded(lock))
    app.router.add_post("/teacher/api/remove", guarded(remove))
    app.router.add_post("/teacher/api/clear", guarded(clear))
    app.router.add_post("/teacher/api/notice", guarded(notice))
    app.router.add_post("/teacher/api/mallory", guarded(mallory))
    return console
