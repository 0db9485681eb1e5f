"""Activity log: everything that happened, newest first, coloured by level.

An entry's source is the app itself (``RESERVED_NAMES``: "me", "relay", ...) or a
peer; the two look different (an italic grey tag, or the peer's name marked "peer"), so a
peer can never pass a line off as the app's own.
"""

from __future__ import annotations

import ipywidgets as widgets

from ecc_widgets.panels.common import (
    LEVEL_COLOURS,
    LINE_LIMIT,
    MONO,
    NAME_LIMIT,
    NewestFirst,
    Panel,
    clock,
    escape,
)
from ecc_widgets.text import RESERVED_NAMES

SHOWN = 200  # newest entries shown; the model keeps the rest

APP_SOURCE_STYLE = ("font-style:italic; color:#57606a; background:#eaeef2; border-radius:4px; "
                    "padding:0 4px")
PEER_MARK_STYLE = "font-size:10px; color:#8250df; border:1px solid #8250df; border-radius:4px; " \
                  "padding:0 3px"


def source_html(source: str) -> str:
    """The app's own sources as an italic tag, a peer as its name (text) marked "peer"."""
    if source in RESERVED_NAMES:
        return f'<span style="{APP_SOURCE_STYLE}" title="the app">{escape(source)}</span>'
    return (f'<span style="{PEER_MARK_STYLE}">peer</span> '
            f'<span style="color:#1f2328">{escape(source, NAME_LIMIT)}</span>')


def entry_text(entry) -> str:
    """An entry's words after its source tag: a peer's name that opens the text is said once
    ("peer bob generated keys", not "peer bob bob generated keys")."""
    text, source = entry.text, entry.source
    if source not in RESERVED_NAMES and source and text.startswith(source) \
            and text[len(source):len(source) + 1] in (" ", "'"):
        text = text[len(source):]
        return escape(text.lstrip(" ") if text.startswith(" ") else text, LINE_LIMIT)
    return escape(text, LINE_LIMIT)


def entry_html(entry) -> str:
    colour = LEVEL_COLOURS.get(entry.level, LEVEL_COLOURS["info"])
    text = entry_text(entry)
    joint = "" if text.startswith("&#x27;") else " "
    return (f'<div style="{MONO}; border-left:3px solid {colour}; padding-left:4px; '
            f'margin:1px 0"><span style="color:#8c959f">{escape(clock(entry.time))}</span> '
            f'<span style="color:{colour}; font-weight:bold">{escape(entry.level, 10)}</span> '
            f"{source_html(entry.source)}{joint}"
            f'<span style="overflow-wrap:anywhere">{text}</span></div>')


class LogPanel(Panel):
    panel = "log"
    title = "Activity log"
    watched = ("log",)
    coalesce = (4.0, 8)   # every relay event changes it: a few renders a second

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self.entries = widgets.HTML(layout=widgets.Layout(max_height="420px", overflow="auto"))
        self._list = NewestFirst(entry_html, SHOWN, "entries")
        self.children = [self.header(), self.entries]
        self._render()

    def _render(self) -> None:
        log = self.session.log
        with self._lock:
            if not log:
                self._list.clear()
                self.entries.value = "<small>Nothing yet.</small>"
                return
            self.entries.value = self._list.html(log)
