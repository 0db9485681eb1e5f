"""What one page, or one address, may cost the process that serves the whole class.

Every student's page lives in one Solara process, so anything a page (or a script posing as
one) can make that process do, it does to the whole class. This ASGI wrapper bounds it before
Solara sees a connection:

- Solara makes a virtual kernel (an `EccApp`, a few MB and some CPU) for every kernel
  websocket with a new id, and the id is the client's choice: new kernel connections are
  limited per client address (a burst a class behind one school address needs, then a steady
  rate) and in total; a refused connection is closed with 1013 "too many pages".
- A kernel websocket opened by another site's page (a cross-site `<iframe>` or script riding
  the student's cookie) is refused: its Origin must be this server's own.
- Messages from one page are limited in size (uvicorn's `ws_max_size`, set by `main`) and in
  rate: a page sending faster than any person clicks and types is disconnected.
- A binary message must be framed as Jupyter's binary websocket messages are (a count of
  parts, their offsets, the parts). Solara 1.58's `deserialize_binary_message` trusts the
  count: an 8-byte message claiming 2**31 parts makes it build a 2 GB `struct` format string
  in the process every student shares (docs/upstream-solara-binary-framing.md). A page whose
  frame does not add up is disconnected before Solara reads it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from ecc_widgets.limits import TokenBucket

KERNEL_PATH = re.compile(r"^/jupyter/api/kernels/[^/]+(/channels)?$")
MAX_PAGES = 300          # kernel websockets open at once, the whole server
PAGE_BURST = 60          # new pages one address may open at once: a class behind one NAT...
PAGE_RATE = 1.0          # ... then one a second
MESSAGE_BURST = 400      # messages a page may send at once (a burst of typing, a slider) ...
MESSAGE_RATE = 50.0      # ... then this many a second
MAX_MESSAGE = 1 << 20    # bytes in one websocket message from a page
TOO_MANY = 1013          # websocket close code: try again later
REFUSED = 1008           # websocket close code: policy violation
MAX_PARTS = 64           # parts in one binary message: a header and a few buffers


def binary_frame_ok(data: bytes) -> bool:
    """Jupyter's binary framing: a 32-bit big-endian count n, n 32-bit offsets (the first
    right after them), increasing, within the message."""
    if len(data) < 8:
        return False
    count = int.from_bytes(data[:4], "big", signed=True)
    if not 1 <= count <= MAX_PARTS or len(data) < 4 * (count + 1):
        return False
    offsets = [int.from_bytes(data[4 * i:4 * i + 4], "big") for i in range(1, count + 1)]
    return (offsets[0] == 4 * (count + 1) and offsets == sorted(offsets)
            and offsets[-1] <= len(data))


def same_origin(headers: dict[bytes, bytes]) -> bool:
    """No Origin (not a browser: it carries no student's cookie), or this server's own."""
    origin = headers.get(b"origin")
    if origin is None:
        return True
    host = headers.get(b"host", b"").decode("latin-1").lower()
    return urlsplit(origin.decode("latin-1")).netloc.lower() == host


class PageGuard:
    """ASGI middleware in front of Solara's app (see the module's notes)."""

    def __init__(self, app, *, clock: Callable[[], float] = time.monotonic,
                 max_pages: int = MAX_PAGES, page_burst: float = PAGE_BURST,
                 page_rate: float = PAGE_RATE):
        self.app, self.clock = app, clock
        self.max_pages, self.page_burst, self.page_rate = max_pages, page_burst, page_rate
        self.open = 0
        self.by_address: dict[str, TokenBucket] = {}
        self.lock = threading.Lock()

    def admit(self, address: str) -> bool:
        now = self.clock()
        with self.lock:
            if self.open >= self.max_pages:
                return False
            if len(self.by_address) > 10_000:  # forget full buckets: they are new again
                self.by_address = {a: b for a, b in self.by_address.items()
                                   if not b.full(now)}
            bucket = self.by_address.get(address)
            if bucket is None:
                bucket = self.by_address[address] = TokenBucket(self.page_rate,
                                                                self.page_burst, now)
            if not bucket.take(now):
                return False
            self.open += 1
            return True

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket" or not KERNEL_PATH.match(scope.get("path", "")):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if not same_origin(headers):
            return await refuse(receive, send, REFUSED)
        address = (scope.get("client") or ("?", 0))[0]
        if not self.admit(address):
            return await refuse(receive, send, TOO_MANY)
        bucket = TokenBucket(MESSAGE_RATE, MESSAGE_BURST, self.clock())

        async def limited_receive():
            message = await receive()
            if message["type"] != "websocket.receive":
                return message
            code = None
            if not bucket.take(self.clock()):
                code = TOO_MANY
            elif message.get("bytes") is not None and not binary_frame_ok(message["bytes"]):
                code = REFUSED
            if code is None:
                return message
            await send({"type": "websocket.close", "code": code})
            return {"type": "websocket.disconnect", "code": code}

        try:
            return await self.app(scope, limited_receive, send)
        finally:
            with self.lock:
                self.open -= 1


async def refuse(receive, send, code: int) -> None:
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": code})
