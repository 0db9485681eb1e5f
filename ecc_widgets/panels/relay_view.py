"""What the relay sees: every event as it crossed the relay, newest first.

The point of the view: names, curves and public keys are in the clear, messages are only
ciphertext, nonce and tag, and a private key appears nowhere.
"""

from __future__ import annotations

import json

import ipywidgets as widgets

from ecc_widgets.panels.common import (
    LINE_LIMIT,
    MONO,
    NAME_LIMIT,
    NewestFirst,
    Panel,
    clock,
    escape,
    plain,
)

SHOWN = 100
DEPTH = 6    # nesting shown of a payload; deeper parts are elided
ITEMS = 50   # keys or list items shown per level


def shown_payload(value, depth: int = DEPTH):
    """A payload bounded for display: long strings cut, deep or wide parts elided, so a
    hostile event costs the same to show as an ordinary one."""
    if isinstance(value, str):
        return plain(value, LINE_LIMIT)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if depth <= 0:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())
        out = {plain(k, NAME_LIMIT): shown_payload(v, depth - 1) for k, v in items[:ITEMS]}
        if len(items) > ITEMS:
            out["…"] = f"{len(items) - ITEMS} more"
        return out
    if isinstance(value, (list, tuple)):
        out = [shown_payload(v, depth - 1) for v in value[:ITEMS]]
        return out + [f"… {len(value) - ITEMS} more"] if len(value) > ITEMS else out
    return plain(repr(value), LINE_LIMIT)


def event_html(event: dict) -> str:
    name = event.get("event", "?")
    direction = event.get("direction", "")
    arrow = {"out": "me → relay", "in": "relay → me"}.get(direction) or escape(direction, 20)
    when = clock(event.get("time"))
    payload = event.get("payload", {k: v for k, v in event.items()
                                    if k not in ("event", "direction", "time")})
    text = json.dumps(shown_payload(payload), indent=1, sort_keys=True, default=str)
    return (f'<div style="margin:2px 0"><small>{escape(when)} {arrow}</small> '
            f"<b>{escape(name, NAME_LIMIT)}</b>"
            f'<pre style="{MONO}; white-space:pre-wrap; word-break:break-all; margin:0">'
            f"{escape(text)}</pre></div>")


class RelayView(Panel):
    panel = "relay"
    title = "What the relay sees"
    watched = ("relay_view",)
    coalesce = (4.0, 8)   # every relay event changes it: a few renders a second

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self.intro = self.shared.html(
            "<small>Everything the relay carried for you. Names, curves and public keys "
            "travel in the clear; messages are only ciphertext, nonce and tag. Nothing here "
            "lets the relay read a message or learn a private key.</small>")
        self.events = widgets.HTML(layout=widgets.Layout(max_height="420px", overflow="auto"))
        self._list = NewestFirst(event_html, SHOWN, "events")
        self.children = [self.header(), self.intro, self.events]
        self._render()

    def _render(self) -> None:
        seen = self.session.relay_view
        with self._lock:
            if not seen:
                self._list.clear()
                self.events.value = "<small>No traffic yet.</small>"
                return
            self.events.value = self._list.html(seen)
