"""A hostile class against the dashboard's Voila server (`ecc_widgets.serving`), for real.

Each test runs ``python -m ecc_widgets.serving`` on the dashboard notebook with real kernels,
attacks it as a student could with nothing but the page they were served (its kernel id and
cookies), and checks that the server keeps serving everyone else: a static file and another
page answer while the attack runs. The server's whole process tree is reaped after each test.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time

import pytest
import websocket

from tests.support.browser import DASHBOARD
from tests.support.polling import wait_until
from tests.support.processes import free_port
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


def xsrf_of(answer) -> str:
    return next(c.value for c in answer.cookies if c.name == "_xsrf")


def test_a_kernel_answers_only_the_page_that_started_it():
    with ServingProcess(DASHBOARD, log_name="serving-owner.log") as server:
        victim = get(server.url, timeout=PAGE_TIMEOUT)
        attacker = get(server.url, timeout=PAGE_TIMEOUT)  # a page, an _xsrf of its own
        kernel_id = victim.kernel_id()
        kernel = f"{server.url}api/kernels/{kernel_id}"
        channels = f"{kernel}/channels"
        shutdown = f"{server.url}voila/api/shutdown/{kernel_id}"

        # a second client that knows the id: no cookie, the attacker's cookies, a forged one
        forged = {"Cookie": f"ecc_kernel={'x' * 43}"}
        for headers in ({}, {"Cookie": attacker.cookie_for(kernel)}, forged):
            assert get(kernel, headers=headers).status == 403
        assert get(kernel, cookies=attacker.cookies).status == 403
        for origin in (server.url.rstrip("/"), None):  # a forged Origin, and none
            for cookie in ("", attacker.cookie_for(channels), forged["Cookie"]):
                with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                    KernelSocket(server.url, kernel_id, v1=True, cookie=cookie, origin=origin)
                assert refused.value.status_code == 403

        # the attacker's own _xsrf (cookie and form field agree) does not shut the victim down
        token = xsrf_of(attacker)
        assert get(shutdown, cookies=attacker.cookies, method="POST",
                   data=f"_xsrf={token}".encode()).status == 403
        assert get(kernel, cookies=attacker.cookies, method="DELETE",
                   headers={"X-XSRFToken": token}).status == 403
        assert get(kernel, cookies=victim.cookies).status == 200, "the victim lost its kernel"

        # the page itself: its kernel's model, its websocket, and its shutdown on unload
        assert victim.cookie_for(channels) and victim.cookie_for(shutdown)
        sock = KernelSocket(server.url, kernel_id, v1=True, cookie=victim.cookie_for(channels))
        try:
            sock.send("kernel_info_request", {})
            assert sock.replies("kernel_info_reply")["status"] == "ok"
        finally:
            sock.close()
        assert get(shutdown, cookies=victim.cookies, method="POST",
                   data=f"_xsrf={xsrf_of(victim)}".encode()).status == 204
        wait_until(lambda: get(kernel, cookies=victim.cookies).status == 403, timeout=30,
                   what="the page's kernel to be gone after its own shutdown")


def test_bare_page_loads_are_limited_and_dropped_a_real_page_still_works():
    # 12 GETs at once from one address, none of them ever connecting its kernel (curl in a
    # loop): most answer "too many pages", the served ones' kernels are shut down.
    with ServingProcess(DASHBOARD, log_name="serving-bare.log") as server:
        get(static_url(server.url))
        before = server.rss()
        answers = []
        loads = [threading.Thread(target=lambda: answers.append(get(server.url,
                                                                    timeout=PAGE_TIMEOUT)))
                 for _ in range(12)]
        for load in loads:
            load.start()
        for load in loads:
            load.join(PAGE_TIMEOUT + 10)
        wait_until(lambda: not server.kernels(), timeout=50,
                   what="the kernels of pages that never connected to be shut down")
        grown = (server.rss() - before) / MB
        assert grown < 150, f"the server's tree is {grown:.0f} MB larger after the loads"
        statuses = sorted(a.status for a in answers)
        assert statuses.count(429) >= 4, statuses
        assert all(s in (200, 429) for s in statuses), statuses
        assert all("Too many pages" in a.body for a in answers if a.status == 429)

        page = get(server.url, timeout=PAGE_TIMEOUT)  # the address may open pages again
        assert page.status == 200
        kernel_id = page.kernel_id()
        channels = f"{server.url}api/kernels/{kernel_id}/channels"
        sock = KernelSocket(server.url, kernel_id, v1=True, cookie=page.cookie_for(channels))
        try:
            sock.send("kernel_info_request", {})
            assert sock.replies("kernel_info_reply")["status"] == "ok"
        finally:
            sock.close()


def test_a_page_of_another_site_gets_no_kernel_a_slow_page_keeps_its_own():
    with ServingProcess(DASHBOARD, log_name="serving-embedded.log") as server:
        evil = "http://evil.example"
        for headers in (
            {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Mode": "navigate",
             "Sec-Fetch-Site": "cross-site", "Referer": f"{evil}/"},
            {"Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors",
             "Sec-Fetch-Site": "cross-site"},
            {"Origin": evil},
            {"Referer": f"{evil}/page.html"},  # a browser without fetch metadata
        ):
            answer = get(server.url, headers=headers)
            assert answer.status == 403, headers
            assert "not served inside other sites' pages" in answer.body
        assert not server.kernels(), "a refused page started a kernel"

        # a student following the course page's link (a cross-site navigation) gets the
        # page, and connects its kernel late (a slow machine): the kernel stays its own
        link = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Site": "cross-site", "Referer": "http://course.example/week3"}
        page = get(server.url, headers=link, timeout=PAGE_TIMEOUT)
        assert page.status == 200
        kernel_id = page.kernel_id()
        channels = f"{server.url}api/kernels/{kernel_id}/channels"
        time.sleep(20)  # the slow student, not a synchronisation: connects 20 s after
        sock = KernelSocket(server.url, kernel_id, v1=True, cookie=page.cookie_for(channels))
        try:
            sock.send("kernel_info_request", {})
            assert sock.replies("kernel_info_reply")["status"] == "ok"
            time.sleep(25)  # past the time a page has to connect: still its kernel
            sock.send("kernel_info_request", {})
            assert sock.replies("kernel_info_reply")["status"] == "ok"
            assert len(server.kernels()) == 1
        finally:
            sock.close()


@pytest.mark.parametrize("path", [
    "voila/templates/..%2f..%2f..%2fapp.py",
    "voila/templates/%2e%2e/static/x",
    "voila/templates/lab/static/..%2f..%2f..%2f..%2fapp.py",
    "voila/static/..%2f..%2fapp.py",
    "voila/files/..%2f..%2fetc%2fpasswd",
    "voila/files/img%5c..%5c..%5capp.png",
])
def test_a_path_out_of_its_folder_is_not_found(path, shared_server):
    assert get(shared_server.url + path).status == 404
    assert get(shared_server.url + "voila/templates/lab/static/index.css").status == 200


@pytest.fixture(scope="module")
def shared_server():
    with ServingProcess(DASHBOARD, log_name="serving-paths.log") as server:
        yield server


def test_jupyter_server_configured_for_the_class_drops_a_malformed_frame(tmp_path):
    # Binder's way (binder/jupyter_server_config.py): a Jupyter server with `configure(c)`.
    # Its own kernel websocket keeps both framings; a frame that lies about its parts is
    # closed before jupyter_server iterates over them.
    config = tmp_path / "jupyter_server_config.py"
    config.write_text("from ecc_widgets.serving import configure\nconfigure(c)\n")
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}/"
    cmd = [sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={tmp_path}", f"--config={config}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    auth = {"Authorization": f"token {token}"}
    with ServingProcess.of(cmd, port, log_name="serving-jupyter-server.log") as server:
        started = get(f"{base}api/kernels", method="POST", data=b"{}", headers=auth)
        assert started.status == 201, started
        kernel_id = json.loads(started.body)["id"]
        for v1 in (True, False):  # JupyterLab's framing, and the legacy one, both served
            sock = KernelSocket(base, kernel_id, v1=v1, headers=[f"Authorization: token {token}"])
            try:
                sock.send("kernel_info_request", {})
                assert sock.replies("kernel_info_reply")["status"] == "ok"
            finally:
                sock.close()
        sock = KernelSocket(base, kernel_id, v1=True, headers=[f"Authorization: token {token}"])
        try:
            sock.ws.send_binary((2**60).to_bytes(8, "little") + bytes(64))
            with pytest.raises((websocket.WebSocketException, OSError)):
                sock.replies("kernel_info_reply", timeout=20)  # closed, not answered
            answer = get(f"{base}api/kernels/{kernel_id}", headers=auth, timeout=STATIC_TIMEOUT)
            assert answer.status == 200, "the server stopped answering"
        finally:
            sock.close()
        assert server.rss() < 1024 * MB


def test_voila_with_configure_alone_refuses_the_legacy_framing():
    # Voila's own app with `configure(c)` (a deployment's Voila config), without the
    # handlers `main` puts in front: the connection class still refuses the legacy framing.
    script = ("import sys\nfrom traitlets.config import Config\nfrom voila.app import Voila\n"
              "from ecc_widgets.serving import configure\nc = Config()\nconfigure(c)\n"
              "Voila.launch_instance(argv=sys.argv[1:], config=c)\n")
    port = free_port()
    cmd = [sys.executable, "-c", script, str(DASHBOARD), "--no-browser", f"--port={port}",
           "--Voila.ip=127.0.0.1"]
    with ServingProcess.of(cmd, port, log_name="serving-configure.log") as server:
        own = get(server.url, timeout=PAGE_TIMEOUT)
        kernel_id = own.kernel_id()
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            KernelSocket(server.url, kernel_id)
        assert refused.value.status_code == 400
        sock = KernelSocket(server.url, kernel_id, v1=True)
        try:
            sock.send("kernel_info_request", {})
            assert sock.replies("kernel_info_reply")["status"] == "ok"
        finally:
            sock.close()
        assert get(static_url(server.url), timeout=STATIC_TIMEOUT).status == 200
