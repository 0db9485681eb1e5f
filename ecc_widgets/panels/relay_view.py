"""What the relay sees: every event as it crossed the relay, newest first.

The point of the view: names, curves and public keys are in the clear, messages are only
ciphertext, nonce and tag, and a private key appears nowhere.
"""

from __future__ import annotations

import json

import ipywidgets as widgets

from ecc_widgets.panels.common import MONO, Panel, clock, escape, newest_first

SHOWN = 100


def event_html(event: dict) -> str:
    name = event.get("event", "?")
    direction = event.get("direction", "")
    arrow = {"out": "me → relay", "in": "relay → me"}.get(direction, escape(direction))
    when = clock(event.get("time"))
    payload = event.get("payload", {k: v for k, v in event.items()
                                    if k not in ("event", "direction", "time")})
    text = json.dumps(payload, indent=1, sort_keys=True, default=str)
    return (f'<div style="margin:2px 0"><small>{escape(when)} {arrow}</small> '
            f"<b>{escape(name)}</b>"
            f'<pre style="{MONO}; white-space:pre-wrap; word-break:break-all; margin:0">'
            f"{escape(text)}</pre></div>")


class RelayView(Panel):
    panel = "relay"
    title = "What the relay sees"
    watched = ("relay_view",)

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self.intro = widgets.HTML(
            "<small>Everything the relay carried for you. Names, curves and public keys "
            "travel in the clear; messages are only ciphertext, nonce and tag. Nothing here "
            "lets the relay read a message or learn a private key.</small>")
        self.events = widgets.HTML(layout=widgets.Layout(max_height="420px", overflow="auto"))
        self.children = [self.header(), self.intro, self.events]
        self._render()

    def _render(self) -> None:
        seen = self.session.relay_view
        with self._lock:
            if not seen:
                self.events.value = "<small>No traffic yet.</small>"
                return
            self.events.value = newest_first(seen, SHOWN, event_html, "events")
