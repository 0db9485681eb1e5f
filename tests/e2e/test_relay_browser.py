"""A seed-style page in a real browser: served with --static, loads /socket.io/socket.io.js
from the relay, calls io() with no address, and chats with a Python peer."""

from __future__ import annotations

import threading

import socketio
from playwright.sync_api import sync_playwright

from ecc_widgets import protocol as P
from tests.support.browser import launch_chromium
from tests.support.processes import RelayProcess

PAGE = """<!doctype html>
<script src="/socket.io/socket.io.js"></script>
<script>
  window.events = [];
  const socket = io();   // the origin that served the page, as the seed's page did
  socket.onAny((event, payload) => window.events.push([event, payload]));
  socket.on("connect", () => {
    window.mySid = socket.id;
    socket.emit("join", {username: "browser", roomId: "lab"});   // no callback: the seed's
  });
  window.send = (target) => socket.emit("send-message", {
    encryptedMessage: "q83vEjRWeJA=", iv: "AAECAwQFBgcICQoL",
    tag: "AAECAwQFBgcICQoLDA0ODw==", targetSocketId: target});
</script>
"""


def test_seed_page_in_chromium_talks_through_the_relay(tmp_path):
    (tmp_path / "index.html").write_text(PAGE)
    server = RelayProcess("--static", str(tmp_path)).start()
    peer = socketio.Client(reconnection=False)
    received: list[dict] = []
    got = threading.Event()

    @peer.on(P.RECEIVE_MESSAGE)
    def on_message(payload):
        received.append(payload)
        got.set()

    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page()
                page.goto(server.url + "/")
                page.wait_for_function("window.events.some(e => e[0] === 'user-joined')",
                                       timeout=15000)
                browser_sid = page.evaluate("window.mySid")
                peer.connect(server.url, transports=["websocket"])
                ack = peer.call(P.JOIN, {"username": "python", "roomId": "lab"}, timeout=10)
                assert [u["username"] for u in ack["usersInRoom"]] == ["browser", "python"]
                assert peer.call(P.SEND_MESSAGE, {
                    "encryptedMessage": "AAAA", "iv": "AAECAwQFBgcICQoL",
                    "tag": "AAECAwQFBgcICQoLDA0ODw==", "targetSocketId": browser_sid,
                    "v": 1, "seq": 1}, timeout=10)["ok"]
                page.wait_for_function(
                    "window.events.some(e => e[0] === 'receive-message')", timeout=15000)
                event = page.evaluate(
                    "window.events.find(e => e[0] === 'receive-message')[1]")
                assert event["from"] == "python" and event["seq"] == 1
                page.evaluate(f"window.send({peer.get_sid()!r})")
                assert got.wait(10)
                assert received[0]["from"] == "browser"
                assert received[0]["fromSocketId"] == browser_sid
                # the browser upgraded from long-polling to a websocket, as socket.io does
                page.wait_for_function("socket.io.engine.transport.name === 'websocket'",
                                       timeout=15000)
            finally:
                browser.close()
    finally:
        if peer.connected:
            peer.disconnect()
        server.stop()
