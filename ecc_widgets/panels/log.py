"""Activity log: everything that happened, newest first, coloured by level."""

from __future__ import annotations

import ipywidgets as widgets

from ecc_widgets.panels.common import LEVEL_COLOURS, MONO, Panel, clock, escape, newest_first

SHOWN = 200  # newest entries shown; the model keeps the rest


def entry_html(entry) -> str:
    colour = LEVEL_COLOURS.get(entry.level, LEVEL_COLOURS["info"])
    return (f'<div style="{MONO}; border-left:3px solid {colour}; padding-left:4px; '
            f'margin:1px 0"><span style="color:#8c959f">{escape(clock(entry.time))}</span> '
            f'<span style="color:{colour}; font-weight:bold">{escape(entry.level)}</span> '
            f'<span style="color:#8c959f">[{escape(entry.source)}]</span> '
            f"{escape(entry.text)}</div>")


class LogPanel(Panel):
    panel = "log"
    title = "Activity log"
    watched = ("log",)

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self.entries = widgets.HTML(layout=widgets.Layout(max_height="420px", overflow="auto"))
        self.children = [self.header(), self.entries]
        self._render()

    def _render(self) -> None:
        log = self.session.log
        with self._lock:
            if not log:
                self.entries.value = "<small>Nothing yet.</small>"
                return
            self.entries.value = newest_first(log, SHOWN, entry_html, "entries")
