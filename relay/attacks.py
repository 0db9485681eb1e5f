"""Attack mode, for teaching: Mallory (ecc_widgets.mitm) in the relay's delivery path, and
the attacker's page and HTTP API that switch its attacks per room.

Off unless the operator starts the relay with ``--attacks`` (or ``--attack ROOM``); then
`install` builds one `AttackMode`, sets it as the server's ``attacks``, and registers:

- ``GET /mallory``: the attacker's page (relay/static/mallory.html, .js and .css);
- ``GET /mallory/api/state``: every room (or the token's one), its members, its attacks and
  what Mallory read, and ``scope`` (``"all"`` or the room);
- ``POST /mallory/api/attack`` ``{"room", "attack", "on"}``: switch one attack;
- ``POST /mallory/api/edit`` ``{"room", "replace"}``: the next message Mallory relays in the
  room carries ``replace`` instead of its text (null cancels);
- ``POST /mallory/api/room-token`` ``{"room"}``: the teacher's only: a token that opens that
  one room, to hand to a student playing Mallory there (``{"token", "link"}``).

The API wants ``Authorization: Bearer <token>`` (403 otherwise). The teacher's token comes
from ``ECC_RELAY_ATTACK_TOKEN`` or is generated and printed at start-up with the page's
URL, and opens every room; a room's token (derived from the teacher's with HMAC, so the
relay stores none) opens that room's attacks and intercepted messages only.
Without attack mode none of these routes exist (404) and the delivery path is unchanged.
One relay process only: Mallory's keys live in this process (``--redis-url`` is refused).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from ecc_widgets import protocol as P
from ecc_widgets.mitm import ATTACKS, Mallory
from relay import webapi
from relay.roster import Member, can_see
from relay.webapi import json_body as _json_body
from relay.webapi import room_of as _room
from relay.webapi import shown_host

if TYPE_CHECKING:
    from relay.config import Config
    from relay.server import RelayServer

log = logging.getLogger("relay")

STATIC = Path(__file__).resolve().parent / "static"
MAX_REPLACEMENT = 30 * 1024     # characters: a message's own limit (session MAX_PLAINTEXT)
PAGE_HEADERS = {
    **webapi.PAGE_HEADERS,
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
                               "style-src 'self'; frame-ancestors 'none'",
}


ALL = "\0all"   # the teacher's scope (no room name can be it: rooms are text)


def label(member: Member) -> str:
    """How Mallory tells members apart: by name, and a demo peer (each summoner has its
    own ``demo-peer``, seen by that summoner alone) by its name and socket."""
    return f"{member.username} [{member.sid}]" if member.visible_to else member.username


class AttackMode:
    """Mallory for one relay process, and the token that lets a teacher drive it."""

    def __init__(self, token: str | None = None, rooms: tuple[str, ...] = ()):
        self.token = token or secrets.token_urlsafe(16)
        self.generated = not token
        self.mallory = Mallory()
        for room in rooms:
            self.mallory.set_attack(room, "mitm", True)
        # the teacher's console (relay.teacher): Mallory put in (True) or taken out (False)
        # of one pair, whatever the room's mitm switch says: room -> {pair of labels: on}
        self.pairs: dict[str, dict[frozenset, bool]] = {}
        # where Mallory's key stands in: room -> {(victim, posing as)}, seen on delivery
        self.middle: dict[str, set[tuple[str, str]]] = {}

    # ------------------------------------------------------------------ the delivery path

    async def deliver(self, server: RelayServer, sender: Member, target_sid: str, event: str,
                      payload: dict) -> None:
        """What the relay delivers instead of `payload` (`event`) to `target_sid`."""
        members = {label(m): m.sid for m in server.local_members(sender.room)
                   if can_see(sender, m)}
        target = server.local_member(target_sid)
        if target is None or target.room != sender.room:
            await server.send_to(target_sid, event, payload)
            return
        room, src, dst = sender.room, label(sender), label(target)
        override = self.pairs.get(room, {}).get(frozenset((src, dst)))
        room_on = self.mallory.attacks(room)["mitm"]
        if override is not None and override != room_on:   # this pair only, this once
            self.mallory.set_attack(room, "mitm", override)
            try:
                out = self.mallory.rewrite(room, event, payload, src, dst, list(members))
            finally:
                self.mallory.set_attack(room, "mitm", room_on)
        else:
            out = self.mallory.rewrite(room, event, payload, src, dst, list(members))
        for name, out_event, out_payload in out:
            if event == P.RECEIVE_PUBLIC_KEY and name == dst:
                self._seen_key(room, dst, src, out_payload.get("publicKey")
                               != payload.get("publicKey"))
            sid = members.get(name)
            if sid is not None:
                await server.send_to(sid, out_event, out_payload)

    def _seen_key(self, room: str, victim: str, posing_as: str, fake: bool) -> None:
        middle = self.middle.setdefault(room, set())
        if fake:
            if len(middle) >= 4096 or len(self.middle) > 256:   # bounded, like Mallory
                middle.clear()
            middle.add((victim, posing_as))
        else:
            middle.discard((victim, posing_as))
            if not middle:
                self.middle.pop(room, None)

    def set_pair(self, room: str, a: str, b: str, on: bool) -> None:
        """The teacher's console: Mallory in the middle of the pair ``a``, ``b`` (or out of
        it) from its next key share on, whatever the room's mitm switch says."""
        self.pairs.setdefault(room, {})[frozenset((a, b))] = on

    def in_middle(self, room: str, a: Member, b: Member) -> bool:
        """Does either of ``a`` and ``b`` hold a key of Mallory's in place of the other's?"""
        middle = self.middle.get(room)
        if not middle:
            return False
        x, y = label(a), label(b)
        return (x, y) in middle or (y, x) in middle

    # ------------------------------------------------------------------ the HTTP side

    def room_token(self, room: str) -> str:
        """The token that opens ``room`` alone: the room and an HMAC of it under the
        teacher's token (nothing to store; a new teacher token voids every room's)."""
        name = base64.urlsafe_b64encode(room.encode()).decode().rstrip("=")
        return f"room.{name}.{self._mac(room)}"

    def _mac(self, room: str) -> str:
        digest = hmac.new(self.token.encode(), b"mallory room\0" + room.encode(),
                          hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode()

    def scope(self, request: web.Request) -> str | None:
        """What the request's token opens: ``ALL`` (the teacher's), one room, or None."""
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        given = given.strip()
        if scheme.lower() != "bearer" or not given or len(given) > 512:
            return None
        if hmac.compare_digest(given.encode(), self.token.encode()):
            return ALL
        kind, _, rest = given.partition(".")
        name, _, mac = rest.partition(".")
        if kind != "room" or not name or not mac:
            return None
        try:
            room = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        if not room or len(room) > P.MAX_ROOM_ID:
            return None
        return room if hmac.compare_digest(mac.encode(), self._mac(room).encode()) else None

    def state(self, server: RelayServer, scope: str = "") -> dict:
        """What a token sees: every room (the teacher's), or its one room."""
        scope = scope or ALL
        rooms: dict[str, list[str]] = {}
        if scope != ALL:
            rooms[scope] = []
        for member in server.local_members(None if scope == ALL else scope):
            rooms.setdefault(member.room, []).append(label(member))
        state = self.mallory.state(rooms)
        if scope != ALL:
            state["rooms"] = {scope: state["rooms"][scope]}
        state["scope"] = "all" if scope == ALL else scope
        return state

    def announce(self, scheme: str, host: str, port: int) -> None:
        """Print where the attacker's page is (stdout, not the log: the token is a secret)."""
        shown = shown_host(host)
        token = self.token if self.generated else "<ECC_RELAY_ATTACK_TOKEN>"
        print(f"ATTACK MODE: Mallory's page is {scheme}://{shown}:{port}/mallory#token={token}",
              flush=True)
        log.warning("ATTACK MODE is on: this relay can read and alter messages in the rooms "
                    "where a teacher switches attacks on (for teaching only)")


def install(app: web.Application, server: RelayServer, config: Config) -> AttackMode:
    """Switch attack mode on for `server` and register the attacker's routes on `app`."""
    mode = AttackMode(config.attack_token, config.attack_rooms)
    server.attacks = mode

    def refused(why: str) -> web.Response:
        return web.json_response({"ok": False, "error": why}, status=403,
                                 headers={"Cache-Control": "no-store"})

    def guarded(handler, *, teacher_only: bool = False):
        async def check(request: web.Request) -> web.StreamResponse:
            scope = mode.scope(request)
            if scope is None:
                return refused("a valid token is needed (Authorization: Bearer ...)")
            if teacher_only and scope != ALL:
                return refused("only the teacher's token can do this")
            return await handler(request, scope)
        return check

    def own_room(body: dict, scope: str) -> str:
        room = _room(body)
        if scope not in (ALL, room):
            raise web.HTTPForbidden(text="this token opens another room")
        return room

    async def page(_request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "mallory.html", headers={
            **PAGE_HEADERS, "Content-Type": "text/html; charset=utf-8"})

    async def script(_request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "mallory.js", headers={
            **PAGE_HEADERS, "Content-Type": "application/javascript; charset=utf-8"})

    async def style(_request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "mallory.css", headers={
            **PAGE_HEADERS, "Content-Type": "text/css; charset=utf-8"})

    async def state(_request: web.Request, scope: str) -> web.Response:
        return web.json_response(mode.state(server, scope),
                                 headers={"Cache-Control": "no-store"})

    async def room_token(request: web.Request, _scope: str) -> web.Response:
        room = _room(await _json_body(request))
        token = mode.room_token(room)
        return web.json_response({"ok": True, "room": room, "token": token,
                                  "link": f"/mallory#token={token}"},
                                 headers={"Cache-Control": "no-store"})

    async def attack(request: web.Request, scope: str) -> web.Response:
        body = await _json_body(request)
        room, name, on = own_room(body, scope), body.get("attack"), body.get("on")
        if name not in ATTACKS:
            raise web.HTTPBadRequest(text=f"'attack' must be one of {', '.join(ATTACKS)}")
        if not isinstance(on, bool):
            raise web.HTTPBadRequest(text="'on' must be true or false")
        attacks = mode.mallory.set_attack(room, name, on)
        log.info("attack %s %s in room %r", name, "on" if on else "off", room)
        return web.json_response({"ok": True, "attacks": attacks})

    async def edit(request: web.Request, scope: str) -> web.Response:
        body = await _json_body(request)
        room, replace = own_room(body, scope), body.get("replace")
        if replace is not None and not (isinstance(replace, str)
                                        and len(replace) <= MAX_REPLACEMENT):
            raise web.HTTPBadRequest(text="'replace' must be text (or null to cancel)")
        mode.mallory.replace_next(room, replace)
        return web.json_response({"ok": True, "replace": replace})

    app.router.add_get("/mallory", page)
    app.router.add_get("/mallory/mallory.js", script)
    app.router.add_get("/mallory/mallory.css", style)
    app.router.add_get("/mallory/api/state", guarded(state))
    app.router.add_post("/mallory/api/attack", guarded(attack))
    app.router.add_post("/mallory/api/edit", guarded(edit))
    app.router.add_post("/mallory/api/room-token", guarded(room_token, teacher_only=True))
    return mode

