"""The page guard in front of the class's Solara server, over a stand-in ASGI app and a
clock the test moves: no server, no sockets."""

from __future__ import annotations

import asyncio

from ecc_widgets.solara_serving.guard import MESSAGE_BURST, TOO_MANY, PageGuard


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class StandIn:
    """Solara's app: accepts, then reads every message until the client disconnects."""

    def __init__(self):
        self.served = 0
        self.messages = 0

    async def __call__(self, scope, receive, send):
        self.served += 1
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (await receive())["type"] == "websocket.receive":
            self.messages += 1


def page(address: str, *, origin: str | None = None, host: str = "lab:8866") -> dict:
    headers = [(b"host", host.encode())]
    if origin:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "path": "/jupyter/api/kernels/k1/channels",
            "client": (address, 5000), "headers": headers}


async def visit(guard, scope, messages: int = 0) -> list[dict]:
    """One websocket visit: connect, send `messages`, disconnect; what the server sent."""
    incoming = [{"type": "websocket.connect"}]
    incoming += [{"type": "websocket.receive", "text": "{}"}] * messages
    incoming.append({"type": "websocket.disconnect", "code": 1000})
    sent: list[dict] = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    await guard(scope, receive, send)
    return sent


def closed_with(sent: list[dict]) -> int | None:
    return next((m["code"] for m in sent if m["type"] == "websocket.close"), None)


def test_new_pages_from_one_address_are_limited_to_a_burst_then_a_rate():
    app, clock = StandIn(), Clock()
    guard = PageGuard(app, clock=clock, page_burst=3, page_rate=1.0)
    codes = [closed_with(asyncio.run(visit(guard, page("10.0.0.7")))) for _ in range(5)]
    assert codes == [None, None, None, TOO_MANY, TOO_MANY]
    assert closed_with(asyncio.run(visit(guard, page("10.0.0.8")))) is None  # another address
    clock.now += 1.0
    assert closed_with(asyncio.run(visit(guard, page("10.0.0.7")))) is None  # one more a second
    assert app.served == 5


def test_pages_open_at_once_are_capped_for_the_whole_server():
    app, clock = StandIn(), Clock()
    guard = PageGuard(app, clock=clock, max_pages=2)
    guard.open = 2  # two pages connected now
    assert closed_with(asyncio.run(visit(guard, page("10.0.0.9")))) == TOO_MANY
    guard.open = 1
    assert closed_with(asyncio.run(visit(guard, page("10.0.0.9")))) is None
    assert guard.open == 1  # the visit's own count went when it disconnected


def test_a_page_from_another_site_is_refused_its_own_origin_is_not():
    app = StandIn()
    guard = PageGuard(app, clock=Clock())
    foreign = page("10.0.0.7", origin="http://evil.example")
    own = page("10.0.0.7", origin="http://lab:8866")
    assert closed_with(asyncio.run(visit(guard, foreign)))
    assert closed_with(asyncio.run(visit(guard, own))) is None
    assert app.served == 1


def test_a_page_sending_faster_than_anyone_types_is_disconnected():
    app = StandIn()
    guard = PageGuard(app, clock=Clock())  # the clock stands still: no refill
    sent = asyncio.run(visit(guard, page("10.0.0.7"), messages=MESSAGE_BURST + 50))
    assert closed_with(sent) == TOO_MANY
    assert app.messages == MESSAGE_BURST


def test_other_requests_pass_untouched():
    app = StandIn()
    guard = PageGuard(app, clock=Clock(), max_pages=0)
    scope = {"type": "websocket", "path": "/_solara/api/other", "client": ("10.0.0.7", 1),
             "headers": []}
    assert closed_with(asyncio.run(visit(guard, scope))) is None


def frame(*parts: bytes) -> bytes:
    count = len(parts)
    offsets, at = [], 4 * (count + 1)
    for part in parts:
        offsets.append(at)
        at += len(part)
    return b"".join([count.to_bytes(4, "big"), *(o.to_bytes(4, "big") for o in offsets),
                     *parts])


def test_binary_framing_is_checked_before_solara_reads_it():
    from ecc_widgets.solara_serving.guard import binary_frame_ok

    assert binary_frame_ok(frame(b'{"header": {}}', b"\x00\x01"))
    assert not binary_frame_ok((2**31 - 1).to_bytes(4, "big") + (8).to_bytes(4, "big"))
    assert not binary_frame_ok((-5).to_bytes(4, "big", signed=True) + bytes(8))
    assert not binary_frame_ok((0).to_bytes(4, "big") + bytes(8))
    good = frame(b"{}", b"ab")
    assert not binary_frame_ok(good[:4] + (1000).to_bytes(4, "big") + good[8:])  # past the end
    assert not binary_frame_ok(good[:8] + (3).to_bytes(4, "big") + good[12:])  # decreasing
    assert not binary_frame_ok(b"\x00\x00\x00")


def test_a_page_sending_a_lying_frame_is_disconnected():
    from ecc_widgets.solara_serving.guard import REFUSED

    app = StandIn()
    guard = PageGuard(app, clock=Clock())
    lie = {"type": "websocket.receive",
           "bytes": (2**31 - 1).to_bytes(4, "big") + (8).to_bytes(4, "big")}
    incoming = [{"type": "websocket.connect"}, lie, {"type": "websocket.disconnect"}]
    sent: list[dict] = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(guard(page("10.0.0.7"), receive, send))
    assert closed_with(sent) == REFUSED and app.messages == 0
