"""The class's server, Solara as `ecc-lab` runs it, attacked by a classmate: a real server
process on a free loopback port, raw HTTP and websocket clients.

- a page's virtual kernel answers only the browser session that made it: a second client
  that learned the kernel id is refused, with another session's cookie, with none, with a
  forged Origin;
- a kernel websocket opened from another site is refused;
- bare GETs of the page (a `curl` loop, a cross-site `<img>`) start nothing;
- a binary message whose framing lies about its part count (Solara's own reader trusts it)
  costs the server nothing: the page is disconnected, and the class's pages still load.
"""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets

from tests.support.browser import served, tree_rss
from tests.support.processes import RelayProcess, free_port

pytestmark = pytest.mark.slow
COOKIE = "solara-session-id"


@pytest.fixture(scope="module")
def server():
    relay = RelayProcess().start()
    port = free_port()
    command = [sys.executable, "-m", "ecc_widgets.solara_serving", "--host=127.0.0.1",
               f"--port={port}"]
    try:
        with served(command, port, "solara-hostile.log",
                    env={"ECC_RELAY_URL": relay.url}) as pid:
            yield f"127.0.0.1:{port}", pid
    finally:
        relay.stop()


def session_cookie(host: str) -> str:
    with urllib.request.urlopen(f"http://{host}/", timeout=60) as resp:
        cookies = resp.headers.get_all("Set-Cookie") or []
    for cookie in cookies:
        name, _, rest = cookie.partition("=")
        if name.strip() == COOKIE:
            return rest.split(";")[0]
    raise AssertionError(f"no {COOKIE} cookie in {cookies}")


async def connect(host: str, kernel: str, *, cookie: str | None, origin: str | None):
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    return await websockets.connect(
        f"ws://{host}/jupyter/api/kernels/{kernel}/channels?session_id={uuid.uuid4()}",
        additional_headers=headers, origin=origin, open_timeout=30)


async def refused(ws) -> bool:
    """True when the server closes the socket without serving it (within 20 s)."""
    try:
        while True:
            message = await asyncio.wait_for(ws.recv(), timeout=20)
            if isinstance(message, str) and "mismatch" in message:
                return True
    except websockets.ConnectionClosed:
        return True
    except TimeoutError:
        return False


async def kernel_owned(host: str) -> None:
    own = session_cookie(host)
    kernel = str(uuid.uuid4())
    page = await connect(host, kernel, cookie=own, origin=f"http://{host}")
    try:
        await asyncio.sleep(1)  # the page's kernel exists now
        other = session_cookie(host)
        for cookie, origin in ((other, f"http://{host}"), (None, None),
                               (other, "http://evil.example"), (None, f"http://{host}")):
            try:
                intruder = await connect(host, kernel, cookie=cookie, origin=origin)
            except websockets.InvalidStatus:
                continue  # refused at the handshake
            async with intruder:
                assert await refused(intruder), f"served cookie={cookie} origin={origin}"
        # The page itself still works: it may reconnect to its own kernel.
        again = await connect(host, kernel, cookie=own, origin=f"http://{host}")
        async with again:
            assert not await asyncio.wait_for(_closed_soon(again), timeout=10)
    finally:
        await page.close()


async def _closed_soon(ws) -> bool:
    try:
        await asyncio.wait_for(ws.wait_closed(), timeout=3)
        return True
    except TimeoutError:
        return False


def test_a_kernel_answers_only_the_session_that_made_it(server):
    host, _ = server
    asyncio.run(kernel_owned(host))


def test_a_kernel_websocket_from_another_site_is_refused(server):
    host, _ = server

    async def attempt():
        ws = await connect(host, str(uuid.uuid4()), cookie=session_cookie(host),
                           origin="http://evil.example")
        async with ws:
            return await refused(ws)

    try:
        served_it = not asyncio.run(attempt())
    except websockets.InvalidStatus:
        served_it = False  # refused at the handshake: as good
    assert not served_it


def test_bare_page_loads_start_nothing(server):
    host, pid = server
    session_cookie(host)  # warm: the first request may load what every page shares
    before = tree_rss(pid)

    def get(_):
        request = urllib.request.Request(f"http://{host}/", headers={
            "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status

    with ThreadPoolExecutor(12) as pool:
        assert set(pool.map(get, range(36))) == {200}
    grown_mb = (tree_rss(pid) - before) / 2**20
    assert grown_mb < 30, f"{grown_mb:.0f} MB for 36 page loads"
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    assert children.stdout.strip() == "", "a page load started a process"


def test_a_binary_message_with_a_lying_part_count_is_refused(server):
    host, pid = server
    before = tree_rss(pid)

    async def attack():
        ws = await connect(host, str(uuid.uuid4()), cookie=session_cookie(host),
                           origin=f"http://{host}")
        async with ws:
            await asyncio.sleep(1)
            # 2**31 - 1 parts claimed, in eight bytes: Solara would build a format string of
            # that many characters to read the offsets.
            await ws.send(struct.pack("!i", 2**31 - 1) + struct.pack("!I", 8))
            return await refused(ws)

    assert asyncio.run(attack())
    start = time.monotonic()
    with urllib.request.urlopen(f"http://{host}/", timeout=30) as resp:
        assert resp.status == 200
    assert time.monotonic() - start < 5, "the server was busy with the attack"
    grown_mb = (tree_rss(pid) - before) / 2**20
    assert grown_mb < 100, f"the server grew {grown_mb:.0f} MB"
