"""Mallory's panel and client against a test double of the relay's attack API.

`FakeAttackApi` is a stand-in for the contract (``/mallory/api/state``, ``attack``, ``edit``,
a bearer token, 403 on a wrong one), not the relay: it keeps rooms in a dict and records what
it was asked, so these tests pin what the client sends and how the panel shows the answers.
The relay's own attack mode is tested against real sessions elsewhere.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import ipywidgets as widgets
import pytest

from ecc_widgets.mallory_panel import (
    ATTACKS,
    MalloryClient,
    MalloryError,
    MalloryPanel,
    parse_state,
)
from ecc_widgets.panels.common import escape
from tests.support.polling import wait_until
from tests.support.widgets import EVIL, find, walk

TOKEN = "s3cret-token"


class FakeAttackApi:
    """The attack API's contract on a free loopback port, with rooms held in a dict."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        self.attack_mode = True
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                api.requests.append((method, self.path, body))
                if not api.attack_mode:
                    return self._answer(404, {"error": "not found"})
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._answer(403, {"error": "forbidden"})
                if (method, self.path) == ("GET", "/mallory/api/state"):
                    return self._answer(200, {"rooms": api.rooms})
                if (method, self.path) == ("POST", "/mallory/api/attack"):
                    attacks = api.rooms[body["room"]]["attacks"]
                    attacks[body["attack"]] = body["on"]
                    return self._answer(200, {"ok": True, "attacks": attacks})
                if (method, self.path) == ("POST", "/mallory/api/edit"):
                    api.rooms[body["room"]]["replace"] = body["replace"]
                    return self._answer(200, {"ok": True})
                return self._answer(404, {"error": "not found"})

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_room(self, room: str, members: list[str], **attacks: bool) -> dict:
        self.rooms[room] = {"members": members,
                            "attacks": {name: attacks.get(name, False) for name in ATTACKS},
                            "intercepted": []}
        return self.rooms[room]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def api() -> Iterator[FakeAttackApi]:
    server = FakeAttackApi()
    yield server
    server.close()


def test_the_client_speaks_the_contract(api):
    api.add_room("lab", ["alice", "bob"], mitm=True)
    client = MalloryClient(api.url, TOKEN)
    rooms = client.state()
    assert rooms["lab"]["members"] == ["alice", "bob"] and rooms["lab"]["attacks"]["mitm"]
    assert client.set_attack("lab", "replay", True) == {**{a: False for a in ATTACKS},
                                                        "mitm": True, "replay": True}
    client.edit("lab", "meet me at noon")
    client.edit("lab", None)
    assert api.requests[1:] == [
        ("POST", "/mallory/api/attack", {"room": "lab", "attack": "replay", "on": True}),
        ("POST", "/mallory/api/edit", {"room": "lab", "replace": "meet me at noon"}),
        ("POST", "/mallory/api/edit", {"room": "lab", "replace": None})]
    with pytest.raises(MalloryError, match="no attack called"):
        client.set_attack("lab", "rm -rf", True)


def test_the_client_says_what_went_wrong_in_words(api):
    with pytest.raises(MalloryError, match="refused the attack token"):
        MalloryClient(api.url, "wrong").state()
    api.attack_mode = False
    with pytest.raises(MalloryError, match="no attack mode"):
        MalloryClient(api.url, TOKEN).state()
    with pytest.raises(MalloryError, match="cannot reach"):
        MalloryClient("http://127.0.0.1:9", TOKEN, timeout=1).state()


@pytest.mark.parametrize("answer", [None, [], {"rooms": 3}, "rooms"])
def test_a_malformed_state_is_an_error(answer):
    with pytest.raises(MalloryError):
        parse_state(answer)


def test_a_hostile_state_is_cut_to_what_the_panel_shows():
    rooms = parse_state({"rooms": {"lab": {
        "members": ["alice", 7, None], "attacks": {"mitm": "yes", "drop": True, "evil": True},
        "intercepted": [{"time": "now", "from": ["x"], "text": "t" * 10_000, "edited": 1},
                        "not a message"]},
        "junk": 42}})
    assert set(rooms) == {"lab"}
    lab = rooms["lab"]
    assert lab["members"] == ["alice", "7", ""]
    assert lab["attacks"] == {**{a: False for a in ATTACKS}, "drop": True}  # only true is on
    (message,) = lab["intercepted"]
    assert message["time"] == 0.0 and not message["edited"] and len(message["text"]) <= 2000


def test_the_panel_shows_rooms_attacks_and_what_mallory_read(api):
    room = api.add_room("lab", ["alice", EVIL])
    room["intercepted"].append({"time": 1.7e9, "from": "alice", "to": EVIL,
                                "text": "our secret: $\\href{x}{y}$", "attack": "mitm",
                                "edited": False})
    panel = MalloryPanel(api.url, TOKEN, interval=0.05)
    try:
        controls = wait_until(lambda: panel.rooms.get("lab"), what="the room on the panel")
        shown = controls.intercepted.value
        assert escape("our secret: $\\href{x}{y}$") in shown and "\\href" not in shown
        assert EVIL not in controls.title.value and escape(EVIL) in controls.title.value
        for w in walk(panel):
            assert not isinstance(w, (widgets.Label, widgets.HTMLMath))

        # a tick goes to the relay; the relay's answer is what the boxes show
        box = find(controls, widgets.Checkbox, description="mitm")[0]
        box.value = True
        assert api.rooms["lab"]["attacks"]["mitm"]
        # a change made elsewhere (another Mallory, the command line) shows up at the next poll
        api.rooms["lab"]["attacks"]["drop"] = True
        wait_until(lambda: controls.attacks["drop"].value, what="the drop attack shown")

        controls.replace.value = "pay Mallory"
        find(controls, widgets.Button, description="Edit the next message")[0].click()
        assert api.rooms["lab"]["replace"] == "pay Mallory"

        api.rooms["lab"]["intercepted"].append({"time": 1.7e9 + 1, "from": EVIL, "to": "alice",
                                                "text": "pay Mallory", "attack": "mitm",
                                                "edited": True})
        wait_until(lambda: "pay Mallory" in controls.intercepted.value, what="the edit")
        assert controls.intercepted.value.index("pay Mallory") < \
            controls.intercepted.value.index("our secret")  # newest first
        assert "edited" in controls.intercepted.value
    finally:
        panel.close()
    assert not panel._thread.is_alive()
    assert all(w.comm is None for w in walk(panel))


def test_the_panel_shows_failures_and_recovers(api):
    panel = MalloryPanel(api.url, "wrong", interval=0.05)
    try:
        wait_until(lambda: "refused the attack token" in panel.error.value, what="the error")
        panel.client.token = TOKEN
        api.add_room("lab", ["alice"])
        wait_until(lambda: "lab" in panel.rooms and panel.error.value == "",
                   what="the panel to recover")
        # a refused switch puts the box back and says why
        controls = panel.rooms["lab"]
        panel.client.token = "wrong again"
        controls.attacks["replay"].value = True
        assert not controls.attacks["replay"].value
        assert "refused" in panel.error.value
    finally:
        panel.close()
        panel.close()  # idempotent
