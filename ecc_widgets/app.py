"""The app: every panel over one session model, in a layout that fits a notebook cell
and fills a Voila page.

    from ecc_widgets.app import EccApp
    app = EccApp()   # builds its own Session (and finds or starts the local relay on join)
    app

This is also where the parts are put together: the session model gets its relay client,
its relay locator (find the relay, or start one on this machine) and its demo peer from
here (`local_session`), so the model itself decides none of that.
"""

from __future__ import annotations

import ipywidgets as widgets

from ecc_widgets import kernel_hooks, localrelay
from ecc_widgets.panels import (
    ChatPanel,
    CurvePanel,
    JoinPanel,
    KeysPanel,
    LogPanel,
    PeersPanel,
    RelayView,
)
from ecc_widgets.panels.common import NO_TYPESETTING, close_tree

# HTML widgets inherit the form controls' tall line height; text panels read better tighter.
STYLE = """<style>
.ecc-app .widget-html-content { line-height: 1.45; }
.ecc-app .ecc-panel { border-radius: 6px; }
</style>"""

# Columns of at least this width, as many as fit: one in a narrow cell, two or three full-page.
COLUMN = "minmax(min(100%, 440px), 1fr)"


class LocalRelay:
    """Zero configuration: the relay at the given address, else $ECC_RELAY_URL, else the
    local default; with `start`, one is started there when nothing answers (see
    `ecc_widgets.localrelay`)."""

    def __init__(self, *, start: bool = True):
        self.prepare = self._find_or_start if start else None

    def address(self, url: str | None) -> str:
        return localrelay.relay_url(url)

    @staticmethod
    def _find_or_start(url: str) -> None:
        localrelay.ensure_local_relay(url)


def local_session(**kwargs):
    """A `Session` wired for this machine: it finds (or starts) the local relay and can
    summon the built-in demo peer. `kwargs` go to `Session` (e.g. `relay_locator`)."""
    from ecc_widgets.demo_peer import DemoPeer  # the model, built only when needed
    from ecc_widgets.session import Session

    kwargs.setdefault("relay_locator", LocalRelay())
    kwargs.setdefault("demo_peer_factory", DemoPeer)
    return Session(**kwargs)


class EccApp(widgets.VBox):
    def __init__(self, session=None, theme: str = "light", **kwargs):
        super().__init__(**kwargs)
        self._owns_session = session is None
        if session is None:
            session = local_session()
        self.session = session
        kernel_hooks.close_at_exit(session)  # a closed tab's kernel leaves the room at once
        self.join_panel = JoinPanel(session)
        self.curve_panel = CurvePanel(session, theme=theme)
        self.keys_panel = KeysPanel(session, theme=theme)
        self.peers_panel = PeersPanel(session)
        self.chat_panel = ChatPanel(session)
        self.log_panel = LogPanel(session)
        self.relay_panel = RelayView(session)
        self.panels = (self.join_panel, self.curve_panel, self.keys_panel, self.peers_panel,
                       self.chat_panel, self.log_panel, self.relay_panel)
        self.add_class("ecc-app")
        for name in NO_TYPESETTING:  # peers' names and messages are text, never TeX
            self.add_class(name)
        self.layout.width = "100%"
        grid = widgets.GridBox(
            list(self.panels[1:]),
            layout=widgets.Layout(grid_template_columns=f"repeat(auto-fit, {COLUMN})",
                                  grid_gap="10px", width="100%"),
        )
        self.children = [
            widgets.HTML(STYLE + "<h3 style='margin:4px 0'>ECC Chat Lab</h3><small>Elliptic-curve "
                         "keys, ECDH and an end-to-end encrypted chat you can watch.</small>"),
            self.join_panel,
            grid,
        ]

    def close(self) -> None:
        """Stop the key playback (and the session, when this app made it), close the widgets."""
        # Also reached from Widget.__del__, possibly on a half-built app.
        keys = getattr(self, "keys_panel", None)
        if keys is not None:
            keys.stop()
        close_session = getattr(getattr(self, "session", None), "close", None)
        if getattr(self, "_owns_session", False) and callable(close_session):
            close_session()
        for panel in getattr(self, "panels", ()):
            panel.close()
        close_tree(self)
