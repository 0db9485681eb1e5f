"""Mallory's control panel: drive a relay's attack mode from a notebook, and watch it work.

A relay started with ``--attacks`` (and a token in ``ECC_RELAY_ATTACK_TOKEN``) can sit in the
middle of a room: swap the keys two peers exchange (``mitm``) and read, edit, replay, reorder,
drop, corrupt, strip or redirect what they send. Its HTTP API, under ``/mallory/api/``:

- ``GET state``: ``{"rooms": {room: {"members", "attacks": {name: bool}, "intercepted"}}}``
- ``POST attack`` ``{"room", "attack", "on"}``: switch one attack in one room
- ``POST edit`` ``{"room", "replace"}``: the next message read in the middle carries
  ``replace`` instead (``None`` cancels)
- ``POST room-token`` ``{"room"}``: (the teacher's token only) a token that opens that one
  room's attacks and messages, for a student playing Mallory there; the teacher's opens all

`MalloryClient` speaks it (standard library only); `MalloryPanel` shows it as widgets;
`start_attack_relay` starts such a relay on this machine, for a student alone.

Everything the API returns is treated as hostile text: names, rooms and messages are shown
escaped and cut, and a malformed answer is an error in words, never an exception in a view.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from typing import Any

import ipywidgets as widgets

from ecc_widgets.localrelay import log_path, pick_port, relay_health, spawn_relay
from ecc_widgets.mitm import ATTACKS  # the attacks and what each does
from ecc_widgets.panels.common import (
    LEVEL_COLOURS,
    NAME_LIMIT,
    NO_TYPESETTING,
    badge,
    clock,
    close_tree,
    escape,
)
from ecc_widgets.polled_panel import PolledPanel, call_api
from ecc_widgets.style import Styled
from ecc_widgets.text import safe_text

TOKEN_ENV = "ECC_RELAY_ATTACK_TOKEN"
API = "/mallory/api"
MAX_ROOMS = 50          # rooms shown (the relay may hold more)
MAX_INTERCEPTED = 50    # intercepted messages shown per room (the newest)
MAX_TEXT = 2000         # characters of an intercepted message shown


class MalloryError(RuntimeError):
    """The attack API could not be used; the message says why, in words."""


def _text(value: Any, limit: int = NAME_LIMIT) -> str:
    return safe_text(str(value), limit) if value is not None else ""


def parse_state(answer: Any) -> dict[str, dict]:
    """The rooms of a ``state`` answer, checked and reduced to what the panel shows:
    ``{room: {"members": [str], "attacks": {name: bool}, "intercepted": [dict]}}``."""
    if not isinstance(answer, dict) or not isinstance(answer.get("rooms"), dict):
        raise MalloryError("the relay's answer has no rooms")
    rooms: dict[str, dict] = {}
    for room, info in list(answer["rooms"].items())[:MAX_ROOMS]:
        if not isinstance(info, dict):
            continue
        members = info.get("members") if isinstance(info.get("members"), list) else []
        attacks = info.get("attacks") if isinstance(info.get("attacks"), dict) else {}
        intercepted = info.get("intercepted")
        intercepted = intercepted[-MAX_INTERCEPTED:] if isinstance(intercepted, list) else []
        rooms[_text(room)] = {
            "members": [_text(m) for m in members[:100]],
            "attacks": {name: attacks.get(name) is True for name in ATTACKS},
            "intercepted": [{
                "time": m.get("time") if isinstance(m.get("time"), (int, float)) else 0.0,
                "from": _text(m.get("from")), "to": _text(m.get("to")),
                "text": _text(m.get("text"), MAX_TEXT), "attack": _text(m.get("attack")),
                "edited": m.get("edited") is True,
            } for m in intercepted if isinstance(m, dict)],
        }
    return rooms


class MalloryClient:
    """The attack mode's HTTP API at `relay_url`, with `token` (blocking calls)."""

    def __init__(self, relay_url: str, token: str, timeout: float = 5.0):
        self.url = relay_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def state(self) -> dict[str, dict]:
        """Every room the relay sits in: members, attacks on, messages read (see
        `parse_state`)."""
        return parse_state(self._call("GET", "state"))

    def set_attack(self, room: str, attack: str, on: bool) -> dict[str, bool]:
        """Switch `attack` on or off in `room`; returns the room's attacks as they now are."""
        if attack not in ATTACKS:
            raise MalloryError(f"no attack called {attack!r}; one of {', '.join(ATTACKS)}")
        answer = self._call("POST", "attack", {"room": room, "attack": attack, "on": bool(on)})
        attacks = answer.get("attacks") if isinstance(answer, dict) else None
        if not isinstance(attacks, dict):
            raise MalloryError("the relay's answer has no attacks")
        return {name: attacks.get(name) is True for name in ATTACKS}

    def edit(self, room: str, replace: str | None) -> None:
        """The next message read in the middle of `room` carries `replace` instead (None:
        forward it as it was)."""
        self._call("POST", "edit", {"room": room, "replace": replace})

    def room_token(self, room: str) -> str:
        """A token that opens `room` alone (the teacher's token is needed to get one): hand
        it, or ``{relay}/mallory#token=<it>``, to a student playing Mallory in that room."""
        answer = self._call("POST", "room-token", {"room": room})
        token = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token.isascii() or len(token) > 512:
            raise MalloryError("the relay's answer has no room token")
        return token

    def _call(self, method: str, name: str, body: dict | None = None) -> Any:
        return call_api(self.url + API, self.token, method, name, body, timeout=self.timeout,
                        error=MalloryError, refusals={
                            403: "the relay refused the attack token",
                            404: "this relay has no attack mode (start it with --attacks "
                                 f"and {TOKEN_ENV})"})


def intercepted_html(message: dict) -> str:
    edited = badge("edited", LEVEL_COLOURS["error"]) if message["edited"] else ""
    return (f'<div class="ecc-intercepted"><small>{clock(message["time"])}</small> '
            f'<b>{escape(message["from"])}</b> → <b>{escape(message["to"])}</b> '
            f'{badge(message["attack"] or "read", LEVEL_COLOURS["error"])}{edited}'
            f'<div class="ecc-text">{escape(message["text"], MAX_TEXT)}</div></div>')


class RoomControls(widgets.VBox):
    """One room: who is in it, a checkbox per attack, what was read, the next edit."""

    def __init__(self, panel: MalloryPanel, room: str):
        super().__init__()
        self.add_class("ecc-mallory-room")
        self.panel = panel
        self.room = room
        self.title = widgets.HTML()
        # descriptions are our own words (the attack names), never the relay's text
        self.attacks = {name: widgets.Checkbox(description=name, value=False, indent=False,
                                               tooltip=words,
                                               layout=widgets.Layout(width="auto"))
                        for name, words in ATTACKS.items()}
        self._updating = False
        for name, box in self.attacks.items():
            box.observe(lambda change, name=name: self._toggle(name, change), names="value")
        self.replace = widgets.Text(placeholder="Edit the next message: the text to put in",
                                    layout=widgets.Layout(width="60%"))
        self.edit = widgets.Button(description="Edit the next message", icon="pencil",
                                   button_style="danger", layout=widgets.Layout(width="auto"))
        self.edit.on_click(lambda _: self.panel.act(self.panel.client.edit, self.room,
                                                    self.replace.value or None))
        self.intercepted = widgets.HTML()
        edit_row = widgets.HBox([self.replace, self.edit])
        edit_row.add_class("ecc-mallory-edit")  # wraps on a phone (the stylesheet)
        self.children = [self.title, widgets.HBox(list(self.attacks.values()),
                                                  layout=widgets.Layout(flex_flow="row wrap")),
                         edit_row, self.intercepted]

    def _toggle(self, attack: str, change) -> None:
        if self._updating:
            return
        attacks = self.panel.act(self.panel.client.set_attack, self.room, attack,
                                 change["new"])
        if attacks is not None:
            self.show_attacks(attacks)
        else:  # refused: the box goes back to what the relay last said
            self.show_attacks({attack: not change["new"]})

    def show_attacks(self, attacks: dict[str, bool]) -> None:
        self._updating = True
        try:
            for name, on in attacks.items():
                if name in self.attacks:
                    self.attacks[name].value = bool(on)
        finally:
            self._updating = False

    def update(self, info: dict) -> None:
        members = ", ".join(escape(m) for m in info["members"]) or "nobody"
        self.title.value = (f'<div class="ecc-panel-title">room {escape(self.room)} '
                            f"<small>({members})</small></div>")
        self.show_attacks(info["attacks"])
        read = info["intercepted"]
        self.intercepted.value = (
            "".join(intercepted_html(m) for m in reversed(read)) if read else
            "<small>nothing read yet (switch on mitm, and let them talk)</small>")


class MalloryPanel(Styled, PolledPanel):
    """The attack mode of the relay at `relay_url`, polled every `interval` seconds on a
    background thread until `close()`. Failures are shown on the panel, never raised."""

    api_error = MalloryError
    thread_name = "ecc-mallory-panel"

    def __init__(self, relay_url: str, token: str, *, interval: float = 1.0,
                 client: MalloryClient | None = None, **kwargs: Any):
        super().__init__(client or MalloryClient(relay_url, token), interval, **kwargs)
        self.rooms: dict[str, RoomControls] = {}
        self.rooms_box = widgets.VBox()
        self.empty = widgets.HTML("<small>No room yet: Mallory waits for people to join.</small>")
        self.add_class("ecc-mallory")
        for name in NO_TYPESETTING:
            self.add_class(name)
        self.children = [widgets.HTML('<div class="ecc-mallory-title">😈 Mallory, in the '
                                      "relay</div>"), self.error,
                         self.empty, self.rooms_box]
        self.last_state: dict[str, dict] = {}
        self.start_polling()

    def refresh(self) -> dict[str, dict] | None:
        """Ask the relay once and show the answer; returns the rooms (None on failure)."""
        rooms = self.act(self.client.state)
        if rooms is None or self._stop.is_set():
            return rooms
        try:
            with self._lock:
                for gone in set(self.rooms) - set(rooms):
                    close_tree(self.rooms.pop(gone))
                for room, info in rooms.items():
                    controls = self.rooms.get(room)
                    if controls is None:
                        controls = self.rooms[room] = RoomControls(self, room)
                    controls.update(info)
                self.rooms_box.children = [self.rooms[r] for r in rooms]
                self.empty.layout.display = "none" if rooms else None
                self.last_state = rooms
                self.show_error("")
        except Exception as exc:  # noqa: BLE001 - a display error is shown, never raised
            self.show_error(f"could not display the relay's state: {type(exc).__name__}: "
                            f"{exc}")
        return rooms


def start_attack_relay(room: str | None = None, *, host: str = "127.0.0.1",
                       timeout: float = 30.0,
                       idle_exit: float = 600.0) -> tuple[str, str, subprocess.Popen]:
    """Start a relay in attack mode on a free loopback port: ``(url, token, process)``.

    With `room`, the full man in the middle is on in that room from the start. Its output
    goes to a log file (`ecc_widgets.localrelay.log_path`), not into the notebook. A fresh
    token is made for it (pass it to `MalloryPanel`/`MalloryClient`). Stopping the relay is the
    caller's job (``process.terminate()``); one left running exits after `idle_exit` seconds
    without connections.
    """
    token = secrets.token_urlsafe(24)
    port = pick_port(host)
    options = ["--attacks", "--idle-exit", str(idle_exit)]
    if room is not None:
        options += ["--attack", room]
    # Its log goes to a file, not into the notebook: students read red lines as errors.
    path = log_path(port)
    with open(path, "ab") as log:
        log.write(f"\n--- attack relay started {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log.flush()
        process = spawn_relay(host, port, *options, env={**os.environ, TOKEN_ENV: token},
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MalloryError(f"the attack relay exited with code {process.returncode} "
                               f"while starting (its log: {path})")
        if relay_health(url, timeout=0.5) is not None:
            return url, token, process
        time.sleep(0.1)
    process.terminate()
    process.wait(10)
    raise MalloryError(f"the attack relay did not answer at {url} within {timeout:.0f}s")
