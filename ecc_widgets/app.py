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

import secrets

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
from ecc_widgets.panels.common import (
    NO_TYPESETTING,
    close_tree,
)
from ecc_widgets.panels.compare import CompareCodes
from ecc_widgets.panels.numbers import NumbersPanel

# The layout is CSS, not widget traits: a container query, so it follows the width the app
# gets (a notebook cell, a Voila page, a phone), not the window's. Wide: the steps in tabs
# on the left, the chat and the peers always in view on the right. Narrow: one column, the
# chat and the peers first (under the join row), the tabs below.
STYLE = """<style>
.ecc-app { container-type: inline-size; container-name: ecc-app; }
.ecc-app .widget-html-content { line-height: 1.45; }
.ecc-app .ecc-panel { border-radius: 6px; }
.ecc-app img { max-width: calc(100% - 4px); height: auto; }  /* 2px margins */
.ecc-app .widget-slider, .ecc-app .widget-dropdown, .ecc-app .widget-text,
.ecc-app .widget-toggle-buttons { max-width: 100%; }
.ecc-app .widget-toggle-buttons .widget-toggle-buttons { flex-wrap: wrap; }
.ecc-main { display: grid !important; gap: 10px; width: 100%;
  grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); grid-template-areas: "steps side"; }
.ecc-main > .ecc-steps { grid-area: steps; min-width: 0; }
.ecc-main > .ecc-side { grid-area: side; min-width: 0; }
.ecc-app .ecc-conversation { max-height: 42vh !important; }
.ecc-app .ecc-title small { color: #57606a; }
.ecc-app .widget-inline-hbox { max-width: calc(100% - 4px); min-width: 0; }
.ecc-app .ecc-join .widget-text { flex: 1 1 120px; min-width: 0; max-width: 280px; }
.ecc-app .ecc-chat .widget-dropdown { flex: 1 1 140px; width: auto; }
.ecc-app .ecc-steps > .lm-TabBar { height: auto; }
.ecc-app .ecc-steps .lm-TabBar-content { flex-wrap: wrap; }
.ecc-app .ecc-steps .lm-TabBar-tab { flex: 0 1 auto; min-width: 0; }
@container ecc-app (max-width: 820px) {
  .ecc-main { grid-template-columns: minmax(0, 1fr); grid-template-areas: "side" "steps"; }
  .ecc-app .ecc-conversation { max-height: 24vh !important; }
  .ecc-app .ecc-title small, .ecc-app .ecc-detail, .ecc-app .ecc-join > .widget-html:first-child
    { display: none; }
  .ecc-app .ecc-join .widget-text { flex: 1 1 90px; }
}
</style>"""

# Tab titles are names students (and the browser tests) click.
STEPS = ("Curve", "Keys", "Numbers", "Log", "What the relay sees")


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
    """The dashboard: the join row on top; the steps (curve, keys, numbers, log, relay
    view) in tabs; the chat and the peers always in view beside them (below on a phone)."""

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
        self.numbers_panel = NumbersPanel(session)
        self.peers_panel = PeersPanel(session)
        self.chat_panel = ChatPanel(session)
        self.log_panel = LogPanel(session)
        self.relay_panel = RelayView(session)
        self.panels = (self.join_panel, self.curve_panel, self.keys_panel, self.peers_panel,
                       self.chat_panel, self.log_panel, self.relay_panel, self.numbers_panel)
        self.add_class("ecc-app")
        for name in NO_TYPESETTING:  # peers' names and messages are text, never TeX
            self.add_class(name)
        self.layout.width = "100%"
        # The keys panel walks on the toy curve the student is looking at.
        self.curve_panel.dropdown.observe(
            lambda change: self.keys_panel.use_toy_curve(change["new"]), names="value")
        self.keys_panel.use_toy_curve(self.curve_panel.dropdown.value)
        self.steps = widgets.Tab(
            [self.curve_panel, self.keys_panel, self.numbers_panel, self.log_panel,
             self.relay_panel], titles=STEPS, selected_index=0)
        self.steps.add_class("ecc-steps")
        side = widgets.VBox([self.chat_panel, self.peers_panel])
        side.add_class("ecc-side")
        main = widgets.GridBox([self.steps, side])
        main.add_class("ecc-main")
        title = widgets.HTML(STYLE + "<h3 style='margin:2px 0'>ECC Chat Lab <small style="
                             "'font-size:60%; font-weight:normal'>Elliptic-curve keys, ECDH "
                             "and an end-to-end encrypted chat you can watch.</small></h3>")
        title.add_class("ecc-title")
        self.children = [title, self.join_panel, main]

    def show_step(self, name: str) -> None:
        """Bring one step's tab to the front (by its title, as in `STEPS`)."""
        self.steps.selected_index = STEPS.index(name)

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


class PairApp(widgets.VBox):
    """Alice and Bob in one page: two dashboards, each with its own session, joined to one
    fresh room on the relay, with the codes both see for each other in a strip on top.
    For a student alone, or a teacher at a projector."""

    def __init__(self, names: tuple[str, str] = ("alice", "bob"), room: str | None = None,
                 relay_url: str | None = None, theme: str = "light", **kwargs):
        super().__init__(**kwargs)
        self.room = room or f"pair-{secrets.token_hex(3)}"
        self.apps = tuple(EccApp(local_session(), theme=theme) for _ in names)
        for app in self.apps:
            app._owns_session = True  # made here, closed with the app
        self.codes = CompareCodes(*(app.session for app in self.apps))
        grid = widgets.GridBox(list(self.apps), layout=widgets.Layout(
            grid_template_columns="repeat(auto-fit, minmax(min(100%, 560px), 1fr))",
            grid_gap="12px", width="100%"))
        self.add_class("ecc-pair")
        for name in NO_TYPESETTING:
            self.add_class(name)
        self.children = [self.codes, grid]
        for app, name in zip(self.apps, names, strict=True):
            app.session.join(name, self.room, relay_url)

    @property
    def sessions(self) -> tuple:
        return tuple(app.session for app in self.apps)

    def close(self) -> None:
        codes = getattr(self, "codes", None)
        if codes is not None:
            codes.close()
        for app in getattr(self, "apps", ()):
            app.close()
        close_tree(self)
