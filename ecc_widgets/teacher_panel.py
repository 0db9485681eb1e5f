"""The teacher's console inside JupyterLab: the same view as the relay's ``/teacher`` page.

A relay started with ``--teacher`` (and a token in ``ECC_RELAY_TEACHER_TOKEN``) answers
``GET /teacher/api/rooms`` with every room and student live (docs/protocol.md);
`TeacherClient` speaks that API (standard library only), `TeacherPanel` polls it and shows
one table per room, the room's totals, and the debrief's anonymised line, with the room's
actions (lock, notice, clear).

Everything the API returns is treated as hostile text: names and rooms are shown escaped
(``panels.common.escape``: no HTML, no TeX) and cut, and a malformed answer is an error in
words on the panel, never an exception in a view.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from ecc_widgets.panels.common import LEVEL_COLOURS, NO_TYPESETTING, close_tree, escape
from ecc_widgets.polled_panel import PolledPanel, call_api

TOKEN_ENV = "ECC_RELAY_TEACHER_TOKEN"
API = "/teacher/api"
MAX_ANSWER = 8 * 1024 * 1024     # bytes of an answer read
MAX_ROOMS = 50                   # rooms shown
MAX_ROWS = 300                   # students shown per room
CODE_WORDS = {"match": "they match", "differ": "they differ"}


class TeacherError(RuntimeError):
    """The console's API could not be used; the message says why, in words."""


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def parse_rooms(answer: Any) -> dict:
    """``GET rooms``'s answer, checked: ``{"rooms": {name: {"locked", "students",
    "totals"}}, "debrief": str, "attackMode": bool}``, with wrong types made harmless."""
    if not isinstance(answer, dict) or not isinstance(answer.get("rooms"), dict):
        raise TeacherError("the relay's answer has no rooms")
    rooms = {}
    for name, room in list(answer["rooms"].items())[:MAX_ROOMS]:
        if not isinstance(room, dict):
            continue
        rows = []
        for s in (room.get("students") if isinstance(room.get("students"), list) else [])[
                :MAX_ROWS]:
            if not isinstance(s, dict):
                continue
            pairs = [p for p in s.get("pairs", ()) if isinstance(p, dict)] \
                if isinstance(s.get("pairs"), list) else []
            rows.append({"name": _str(s.get("name"), "?"), "curve": _str(s.get("curve")),
                         "fingerprint": _str(s.get("fingerprint")),
                         "client": _str(s.get("client")), "reports": s.get("reports") is True,
                         "verified": s.get("verified") is True,
                         "socketId": _str(s.get("socketId")),
                         "pairs": [{"peer": _str(p.get("peer"), "?"),
                                    "keys": _str(p.get("keys")),
                                    "code": _str(p.get("code"), "pending"),
                                    "verified": p.get("verified") is True,
                                    "mallory": p.get("mallory") is True,
                                    "outcome": _str(p.get("outcome"))} for p in pairs]})
        totals = room.get("totals") if isinstance(room.get("totals"), dict) else {}
        rooms[str(name)] = {"locked": room.get("locked") is True, "students": rows,
                            "totals": {k: v for k, v in totals.items()
                                       if isinstance(v, (int, float)) and not isinstance(
                                           v, bool)}}
    debrief = answer.get("debrief") if isinstance(answer.get("debrief"), dict) else {}
    return {"rooms": rooms, "debrief": _str(debrief.get("text")),
            "attackMode": answer.get("attackMode") is True}


class TeacherClient:
    """The console's HTTP API at ``relay_url``, with ``token`` (blocking calls)."""

    def __init__(self, relay_url: str, token: str, timeout: float = 5.0):
        self.url = relay_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def rooms(self) -> dict:
        return parse_rooms(self._call("GET", "rooms"))

    def lock(self, room: str, locked: bool) -> None:
        self._call("POST", "lock", {"room": room, "locked": bool(locked)})

    def notice(self, room: str, text: str) -> None:
        self._call("POST", "notice", {"room": room, "text": text})

    def remove(self, room: str, socket_id: str, reason: str = "") -> None:
        self._call("POST", "remove", {"room": room, "socketId": socket_id, "reason": reason})

    def clear(self, room: str) -> None:
        self._call("POST", "clear", {"room": room})

    def mallory(self, room: str, a: str, b: str, on: bool) -> None:
        self._call("POST", "mallory", {"room": room, "pair": [a, b], "on": bool(on)})

    def _call(self, method: str, name: str, body: dict | None = None) -> Any:
        refused = "the relay refused the console's token"
        return call_api(self.url + API, self.token, method, name, body, timeout=self.timeout,
                        error=TeacherError, limit=MAX_ANSWER, refusals={
                            401: refused, 429: refused + " (too many wrong tries: wait)",
                            404: "this relay has no teacher's console (start it with "
                                 f"--teacher and {TOKEN_ENV})"})


def _pair_html(p: dict) -> str:
    code = CODE_WORDS.get(p["code"], "pending")
    parts = [f"{escape(p['peer'])}: keys {escape(p['keys'] or 'none')}, code {escape(code)}"]
    if p["verified"]:
        parts.append("verified")
    if p["mallory"]:
        parts.append("<b>Mallory in the middle</b>")
    if p["outcome"]:
        colour = LEVEL_COLOURS["error"] if p["outcome"] == "fooled" else "#a05a00"
        parts.append(f'<b style="color:{colour}">{escape(p["outcome"])}</b>')
    return ", ".join(parts)


def room_html(name: str, room: dict) -> str:
    """One room as an HTML table (every outside string escaped)."""
    t = room["totals"]
    locked = ' <b style="color:#b00020">(locked)</b>' if room["locked"] else ""
    head = (f"<b>Room {escape(name)}</b>{locked}<br><small>{t.get('students', 0)} students, "
            f"{t.get('pairs', 0)} pairs exchanged keys, {t.get('compared', 0)} compared "
            f"codes, {t.get('verified', 0)} verified; {t.get('caught', 0)} caught Mallory, "
            f"{t.get('fooled', 0)} fooled</small>")
    rows = []
    for s in room["students"]:
        client = ("seed's page: reports nothing" if s["client"] == "seed" else
                  "reports codes" if s["reports"] else "")
        pairs = "<br>".join(_pair_html(p) for p in s["pairs"]) or "no key exchange yet"
        rows.append(f"<tr><td>{escape(s['name'])}</td><td>{escape(s['curve'] or '—')}</td>"
                    f"<td><code>{escape(s['fingerprint'] or 'no key yet')}</code></td>"
                    f"<td>{escape(client)}</td><td>{pairs}</td>"
                    f"<td>{'yes' if s['verified'] else 'no'}</td></tr>")
    return (f"{head}<table style='border-collapse:collapse;width:100%'><tr><th>Student</th>"
            "<th>Curve</th><th>Key</th><th>Client</th><th>Pairs</th><th>Verified</th></tr>"
            + "".join(rows) + "</table>")


class RoomView(widgets.VBox):
    """One room: its table, lock, clear and a notice."""

    def __init__(self, panel: TeacherPanel, room: str):
        super().__init__(layout=widgets.Layout(border="1px solid #d0d7de", padding="4px 8px",
                                               margin="4px 0"))
        self.panel, self.room = panel, room
        self.table = widgets.HTML()
        self.locked = False
        self.lock = widgets.Button(description="Lock room", layout=widgets.Layout(width="auto"))
        self.lock.on_click(lambda _: self.panel.act(self.panel.client.lock, self.room,
                                                    not self.locked))
        self.clear = widgets.Button(description="Clear room", button_style="danger",
                                    layout=widgets.Layout(width="auto"))
        self.clear.on_click(lambda _: self.panel.act(self.panel.client.clear, self.room))
        self.text = widgets.Text(placeholder="A notice for every page in the room",
                                 layout=widgets.Layout(width="50%"))
        self.send = widgets.Button(description="Send notice",
                                   layout=widgets.Layout(width="auto"))
        self.send.on_click(lambda _: self.panel.act(self.panel.client.notice, self.room,
                                                    self.text.value))
        self.children = [self.table, widgets.HBox([self.lock, self.clear, self.text,
                                                   self.send])]

    def update(self, room: dict) -> None:
        self.locked = room["locked"]
        self.lock.description = "Unlock room" if self.locked else "Lock room"
        value = room_html(self.room, room)
        if self.table.value != value:
            self.table.value = value


class TeacherPanel(PolledPanel):
    """The console of the relay at ``relay_url``, polled every ``interval`` seconds on a
    background thread until ``close()``. Failures are shown on the panel, never raised."""

    api_error = TeacherError
    thread_name = "ecc-teacher-panel"

    def __init__(self, relay_url: str, token: str, *, interval: float = 1.0,
                 client: TeacherClient | None = None, **kwargs: Any):
        super().__init__(client or TeacherClient(relay_url, token), interval, **kwargs)
        self.rooms: dict[str, RoomView] = {}
        self.debrief = widgets.HTML()
        self.rooms_box = widgets.VBox()
        self.add_class("ecc-teacher")
        for name in NO_TYPESETTING:
            self.add_class(name)
        self.children = [widgets.HTML("<b>Teacher's console</b>"), self.error, self.debrief,
                         self.rooms_box]
        self.last: dict = {}
        self.start_polling()

    def refresh(self) -> dict | None:
        """Ask the relay once and show the answer; returns it (None on failure)."""
        state = self.act(self.client.rooms)
        if state is None or self._stop.is_set():
            return state
        try:
            with self._lock:
                for gone in set(self.rooms) - set(state["rooms"]):
                    close_tree(self.rooms.pop(gone))
                for name, room in state["rooms"].items():
                    view = self.rooms.get(name)
                    if view is None:
                        view = self.rooms[name] = RoomView(self, name)
                    view.update(room)
                self.rooms_box.children = [self.rooms[r] for r in state["rooms"]]
                self.debrief.value = (f"<p style='font-size:1.3em'><b>"
                                      f"{escape(state['debrief'])}</b></p>")
                self.last = state
                self.show_error("")
        except Exception as exc:  # noqa: BLE001 - a display error is shown, never raised
            self.show_error(f"could not display the console: {type(exc).__name__}")
        return state
