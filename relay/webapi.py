"""What the relay's teaching pages' JSON APIs share (relay.attacks, relay.teacher): a
request's body as a JSON object, a room named in it, and the host a printed address shows."""

from __future__ import annotations

import json

from aiohttp import web

from ecc_widgets import protocol as P

# every teaching page: never cached, never framed, no referrer (the token is in the
# fragment: keep it home), no type sniffing; each page adds its Content-Security-Policy
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


def room_of(body: dict) -> str:
    """The body's ``room``: a name of 1 to ``MAX_ROOM_ID`` characters, else a 400."""
    room = body.get("room")
    if not isinstance(room, str) or not room or len(room) > P.MAX_ROOM_ID:
        raise web.HTTPBadRequest(text=f"'room' must be a name of 1 to {P.MAX_ROOM_ID} "
                                      "characters")
    return room


async def json_body(request: web.Request, limit: int | None = None) -> dict:
    """The request's body, a JSON object (of at most ``limit`` bytes, if given), else a 400
    (or 413)."""
    if limit is not None and request.content_length is not None \
            and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    try:
        body = json.loads(await request.text())
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def shown_host(host: str) -> str:
    """The host to print in a page's address for a relay listening on ``host``."""
    return "[::1]" if host == "::1" else ("127.0.0.1" if host in ("", "0.0.0.0") else host)
