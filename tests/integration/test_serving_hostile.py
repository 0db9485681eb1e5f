"""A hostile class against the dashboard's Voila server (`ecc_widgets.serving`), for real.

Each test runs ``python -m ecc_widgets.serving`` on the dashboard notebook with real kernels,
attacks it as a student could with nothing but the page they were served (its kernel id and
cookies), and checks that the server keeps serving everyone else: a static file and another
page answer while the attack runs. The server's whole process tree is reaped after each test.
"""

from __future__ import annotations

import threading
import time

import pytest
import websocket

from tests.support.browser import DASHBOARD
from tests.support.polling import wait_until
from tests.support.serving import KernelSocket, ServingProcess, get

pytestmark = pytest.mark.slow

PAGE_TIMEOUT = 90.0     # a page load (Voila runs the notebook) on a loaded machine
STATIC_TIMEOUT = 5.0    # a static file, from a server that is not stuck
ATTACK_SECONDS = 15.0
MB = 1024 * 1024


def static_url(base: str) -> str:
    return f"{base}voila/static/voila.js"


def keeps_serving(server: ServingProcess, seconds: float) -> None:
    """For `seconds`, a static file answers within STATIC_TIMEOUT each second, a page loads,
    and the server's tree does not grow by hundreds of megabytes."""
    start_rss = server.rss()
    page = {}
    loader = threading.Thread(target=lambda: page.update(a=get(server.url,
                                                               timeout=PAGE_TIMEOUT)))
    loader.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = get(static_url(server.url), timeout=STATIC_TIMEOUT)
        assert answer.status == 200, "the server stopped answering static files"
        grown = (server.rss() - start_rss) / MB
        assert grown < 400, f"the server's tree grew by {grown:.0f} MB"
        time.sleep(1)
    loader.join(PAGE_TIMEOUT)
    assert page.get("a") and page["a"].status == 200, "another page did not load"
    assert "kernelId" in page["a"].body


def request_states(base: str, answer, *, v1: bool, stop: threading.Event, seen: dict) -> None:
    """As a student on their own page: a websocket to their own kernel (with their cookies),
    every widget's state asked for, the replies read until `stop`."""
    kernel_id = answer.kernel_id()
    channels = f"{base}api/kernels/{kernel_id}/channels"
    try:
        sock = KernelSocket(base, kernel_id, v1=v1, cookie=answer.cookie_for(channels))
    except websocket.WebSocketException as exc:
        seen["refused"] = str(exc)
        return
    try:
        sock.send("comm_info_request", {"target_name": "jupyter.widget"})
        comms = sock.replies("comm_info_reply")["comms"]
        seen["comms"] = len(comms)
        for comm_id in comms:
            sock.send("comm_msg", {"comm_id": comm_id, "data": {"method": "request_state"}})
        sock.ws.settimeout(1)
        while not stop.is_set():
            try:
                sock.ws.recv_data()
                seen["replies"] = seen.get("replies", 0) + 1
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                seen["closed"] = True
                return
    finally:
        sock.close()


def test_legacy_framed_websocket_cannot_stall_the_server():
    # No subprotocol: Voila 0.5.13 reads the first binary reply's 4-byte big-endian count
    # as an 8-byte little-endian one and spins over ~10^17 offsets.
    with ServingProcess(DASHBOARD, log_name="serving-legacy.log") as server:
        own = get(server.url, timeout=PAGE_TIMEOUT)
        assert own.status == 200
        stop, seen = threading.Event(), {}
        attacker = threading.Thread(target=request_states, args=(server.url, own),
                                    kwargs={"v1": False, "stop": stop, "seen": seen})
        attacker.start()
        try:
            wait_until(lambda: seen, timeout=30, what="the attacker's socket to get going")
            keeps_serving(server, ATTACK_SECONDS)
        finally:
            stop.set()
            attacker.join(10)
        # the framing the page itself uses still works: v1, the same requests, answered
        seen_v1 = {}
        stop_v1 = threading.Event()
        page = threading.Thread(target=request_states, args=(server.url, own),
                                kwargs={"v1": True, "stop": stop_v1, "seen": seen_v1})
        page.start()
        try:
            wait_until(lambda: seen_v1.get("replies", 0) > 100, timeout=60,
                       what="v1 replies to the page's own requests")
        finally:
            stop_v1.set()
            page.join(10)
        assert "refused" not in seen_v1


def test_malformed_v1_frame_cannot_stall_the_server():
    # jupyter_server reads the count of a client's v1 frame and iterates that many times.
    with ServingProcess(DASHBOARD, log_name="serving-v1.log") as server:
        own = get(server.url, timeout=PAGE_TIMEOUT)
        kernel_id = own.kernel_id()
        channels = f"{server.url}api/kernels/{kernel_id}/channels"
        sock = KernelSocket(server.url, kernel_id, v1=True, cookie=own.cookie_for(channels))
        try:
            sock.ws.send_binary((2**60).to_bytes(8, "little") + bytes(64))
            keeps_serving(server, ATTACK_SECONDS)
        finally:
            sock.close()
