"""Join: your name, a room and (optionally) a relay address."""

from __future__ import annotations

from urllib.parse import urlsplit

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import TextStyle

from ecc_widgets.panels.common import LEVEL_COLOURS, Panel, badge, escape
from ecc_widgets.panels.memory import PageMemory, clean
from ecc_widgets.protocol import LOCAL_HOSTS

CONNECTION_COLOURS = {
    "connected": LEVEL_COLOURS["success"],
    "connecting": LEVEL_COLOURS["warning"],
    "reconnecting": LEVEL_COLOURS["warning"],
    "disconnected": "#57606a",
}


def relay_words(url: str) -> str:
    """Where the relay is, in words: beside this app (on its machine), or its host; no
    ports, no ids."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    if host in LOCAL_HOSTS:
        return "through the relay running beside this app"
    return f"through the relay at {escape(host or url, 100)}"


class JoinPanel(Panel):
    panel = "join"
    topic = "join"
    title = "Join a room"
    watched = ("joined", "connection", "username", "room", "my_id", "relay_url")

    def __init__(self, session, *, remember: bool = True, **kwargs):
        super().__init__(session, **kwargs)
        # The first screen: one layout, style and row for widgets that look alike, not one
        # model each (their layouts and styles never change).
        auto, text_style = widgets.Layout(width="auto"), TextStyle()
        row = widgets.Layout(flex_flow="row wrap", align_items="center")
        self.name_box, self.room_box, self.relay_box = (
            widgets.Text(placeholder=words, layout=auto, style=text_style)
            for words in ("Your name", "Room", "Relay (default: local)"))
        button_style = widgets.ButtonStyle()
        self.join_button = widgets.Button(description="Join", button_style="primary",
                                          icon="sign-in", layout=self.shared.plain,
                                          style=button_style)
        self.leave_button = widgets.Button(description="Leave", icon="sign-out",
                                           layout=self.shared.plain, style=button_style)
        self.join_button.add_class("ecc-join-button")
        self.leave_button.add_class("ecc-leave-button")
        self.status = self.shared.html()
        self.status.add_class("ecc-status")
        self.join_button.on_click(self._join)
        self.leave_button.on_click(self._leave)
        # A reloaded tab comes back under its name, in its room, with new keys on its curve.
        self.memory = PageMemory() if remember else None
        if self.memory is not None:
            self.memory.observe(self._restore, "restored")
            self.watch(self._keep, "joined", "username", "room", "relay_url", "public_jwk")
        # A login card until joined; then one line: who, where, and Leave (the stylesheet
        # hides the rest by the ecc-joined class).
        fields = widgets.HBox([self.name_box, self.room_box, self.relay_box], layout=row)
        fields.add_class("ecc-login-fields")
        actions = widgets.HBox([self.join_button, self.leave_button, self.status], layout=row)
        actions.add_class("ecc-login-actions")
        self.children = [
            *([self.memory] if self.memory is not None else []),
            self.header(), fields, actions, self.error,
        ]
        self._render()

    def _join(self, _button=None) -> None:
        name, room = self.name_box.value.strip(), self.room_box.value.strip()
        relay = self.relay_box.value.strip() or None
        if not name or not room:
            missing = " and ".join(w for w, v in (("your name", name), ("a room", room)) if not v)
            self.complain(f"Type {missing} first.")
            return
        self.act(self.session.join, name, room, relay, what="Could not join")

    def _leave(self, _button=None) -> None:
        if self.memory is not None:
            self.memory.remember = {}  # a student who left is not brought back by a reload
        self.act(self.session.leave, what="Leave")

    def _restore(self, change) -> None:
        found = clean(change["new"])
        for box, field in ((self.name_box, "name"), (self.room_box, "room"),
                           (self.relay_box, "relay")):
            if field in found and not box.value:
                box.value = found[field]
        if not found.get("rejoin") or self.session.joined:
            return
        if "curve" in found:  # it had keys: new ones on the same curve (never the old key)
            self.act(self.session.select_curve, found["curve"], what="Could not restore")
            self.act(self.session.generate_keys, what="Could not make keys")
        self._join()

    def _keep(self, change) -> None:
        s = self.session
        if not (s.joined and s.username and s.room):
            return
        kept = {"name": s.username, "room": s.room, "rejoin": True}
        if self.relay_box.value.strip():
            kept["relay"] = self.relay_box.value.strip()
        if s.public_jwk:
            kept["curve"] = s.curve
        self.memory.remember = kept

    def _render(self) -> None:
        s = self.session
        with self._lock:
            joined = bool(s.joined)
            for box in (self.name_box, self.room_box, self.relay_box):
                box.disabled = joined
            self.join_button.disabled = joined
            self.leave_button.disabled = not joined
            if joined:
                # Show what the model holds (a relay may have normalised the name).
                self.name_box.value = s.username or self.name_box.value
                self.room_box.value = s.room or self.room_box.value
            (self.add_class if joined else self.remove_class)("ecc-joined")
            state = s.connection or "disconnected"
            words = [badge(state, CONNECTION_COLOURS.get(state))]
            if joined:
                words.append(f"as <b>{escape(s.username)}</b> in room <b>{escape(s.room)}</b>")
            if s.relay_url:  # a detail a narrow screen leaves out (the stylesheet)
                words.append(f'<span class="ecc-detail">{relay_words(s.relay_url)}</span>')
            self.status.value = " ".join(words)
