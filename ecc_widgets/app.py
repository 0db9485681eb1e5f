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
from collections.abc import Callable

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
    Panel,
    Shared,
    close_tree,
)
from ecc_widgets.panels.compare import CompareCodes
from ecc_widgets.panels.numbers import NumbersPanel
from ecc_widgets.ratchet_panel import RatchetPanel
from ecc_widgets.style import Styled

# The layout is CSS (ecc_widgets/templates/voila/templates/ecc/ecc-lab.css, see
# `ecc_widgets.style`), not widget traits: a container query, so it follows the width the app
# gets (a notebook cell, a Voila page, a phone), not the window's. Wide: the steps in tabs on
# the left, the chat (then the peers) on the right, held in view while the steps scroll.
# Narrow: one column, the chat and the peers first (under the join row), the tabs below.
TITLE = ("<h1>ECC Chat Lab <small>Elliptic-curve keys, ECDH and an end-to-end encrypted chat "
         "you can watch.</small></h1>")

# Tab titles are names students (and the browser tests) click.
STEPS = ("Curve", "Keys", "Ratchet", "Numbers", "Log", "What the relay sees")


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


class FirstSight:
    """Calls `callback` once, when a browser has built this page's widgets.

    No JavaScript of ours: ipywidgets' own front-end link (``jsdlink``) copies a counter's
    step (1) into its value (0) the moment the browser creates the link, and that change
    comes back to the kernel like any other. So work the first screen does not need (the
    curve's pictures, and matplotlib with them) starts after the page is up, in Voila, in
    JupyterLab and in any ipywidgets front end alike.
    """

    def __init__(self, callback: Callable[[], None], shared: Shared):
        self._callback: Callable[[], None] | None = callback
        self.probe = widgets.IntText(value=0, step=1, layout=shared.plain,
                                     style=shared.html_style)
        self.link = widgets.jsdlink((self.probe, "step"), (self.probe, "value"))
        self.probe.observe(self._seen, names="value")

    def _seen(self, _change=None) -> None:
        callback, self._callback = self._callback, None
        self.close()
        if callback is not None:
            callback()

    def close(self) -> None:
        for widget in (self.link, self.probe):
            widgets.Widget.close(widget)


class EccApp(Styled, widgets.VBox):
    """The dashboard: the join row on top; the steps (curve, keys, numbers, log, relay
    view) in tabs; the chat and the peers always in view beside them (below on a phone).

    Light at first paint: a step's panel is built when its tab is first opened (or its
    attribute, e.g. ``app.keys_panel``, first read), and the curve's pictures are drawn
    once a browser shows the page (``FirstSight``) or the Curve tab is opened again.
    Widgets that keep their defaults share one layout and style (``Shared``).
    """

    def __init__(self, session=None, theme: str = "light", **kwargs):
        super().__init__(**kwargs)
        self._owns_session = session is None
        if session is None:
            session = local_session()
        self.session = session
        self.theme = theme
        kernel_hooks.close_at_exit(session)  # a closed tab's kernel leaves the room at once
        self.shared = shared = Shared()
        self.join_panel = JoinPanel(session, shared=shared)
        self.curve_panel = CurvePanel(session, theme=theme, shared=shared, pictures=False)
        self.peers_panel = PeersPanel(session, shared=shared)
        self.chat_panel = ChatPanel(session, shared=shared)
        self._built: dict[str, Panel] = {"Curve": self.curve_panel}
        # One empty box per step not built yet; the panel goes into it when opened.
        self._places = {name: widgets.VBox(layout=shared.plain) for name in STEPS[1:]}
        self._places[STEPS[0]] = self.curve_panel
        self.add_class("ecc-app")
        for name in NO_TYPESETTING:  # peers' names and messages are text, never TeX
            self.add_class(name)
        # The keys panel walks on the toy curve the student is looking at.
        self.curve_panel.dropdown.observe(self._on_curve_pick, names="value")
        self.steps = widgets.Tab([self._places[name] for name in STEPS], titles=STEPS,
                                 selected_index=0)
        self.steps.add_class("ecc-steps")
        self.steps.observe(self._on_step, names="selected_index")
        side = widgets.VBox([self.chat_panel, self.peers_panel], layout=shared.plain)
        side.add_class("ecc-side")
        main = widgets.GridBox([self.steps, side], layout=shared.plain)
        main.add_class("ecc-main")
        title = shared.html(TITLE)
        title.add_class("ecc-title")
        self.children = [title, self.join_panel, main]
        self.first_sight = FirstSight(self._on_first_sight, shared)

    # --- steps, built when first opened -----------------------------------------------------

    def _make(self, name: str) -> Panel:
        s, shared = self.session, self.shared
        if name == "Keys":
            panel = KeysPanel(s, theme=self.theme, shared=shared)
            panel.use_toy_curve(self.curve_panel.dropdown.value)
            return panel
        if name == "Ratchet":   # the ratchet with whoever the chat writes to
            ratchet = RatchetPanel(s, self.chat_panel.to.value or "", shared=shared)
            self.chat_panel.to.observe(lambda change: ratchet.show(change["new"]),
                                       names="value")
            return ratchet
        if name == "Numbers":
            return NumbersPanel(s, shared=shared)
        if name == "Log":
            return LogPanel(s, shared=shared)
        return RelayView(s, shared=shared)

    def step(self, name: str) -> Panel:
        """One step's panel (by its title, as in `STEPS`), built now if it was not yet."""
        panel = self._built.get(name)
        if panel is None:
            if name not in STEPS:
                raise KeyError(name)
            if self.comm is None:
                raise RuntimeError("this app is closed")
            panel = self._built[name] = self._make(name)
            self._places[name].children = [panel]
        return panel

    @property
    def keys_panel(self) -> KeysPanel:
        return self.step("Keys")

    @property
    def ratchet_panel(self) -> RatchetPanel:
        return self.step("Ratchet")

    @property
    def numbers_panel(self) -> NumbersPanel:
        return self.step("Numbers")

    @property
    def log_panel(self) -> LogPanel:
        return self.step("Log")

    @property
    def relay_panel(self) -> RelayView:
        return self.step("What the relay sees")

    @property
    def panels(self) -> tuple[Panel, ...]:
        """The panels built so far."""
        return (self.join_panel, self.peers_panel, self.chat_panel, *self._built.values())

    def _on_step(self, change) -> None:
        index = change["new"]
        if index is not None and 0 <= index < len(STEPS):
            self._open(STEPS[index])

    def _open(self, name: str) -> None:
        panel = self.step(name)
        if panel is self.curve_panel:
            panel.show_pictures()

    def _on_first_sight(self) -> None:
        index = self.steps.selected_index
        if index is not None and STEPS[index] == "Curve":
            self.curve_panel.show_pictures()

    def _on_curve_pick(self, change) -> None:
        keys = self._built.get("Keys")
        if keys is not None:
            keys.use_toy_curve(change["new"])

    def show_step(self, name: str) -> None:
        """Bring one step's tab to the front (by its title, as in `STEPS`), built and drawn."""
        self.steps.selected_index = STEPS.index(name)
        self._open(name)

    def close(self) -> None:
        """Stop the key playback (and the session, when this app made it), close the widgets."""
        # Also reached from Widget.__del__, possibly on a half-built app.
        built = getattr(self, "_built", {})
        keys = built.get("Keys")
        if keys is not None:
            keys.stop()
        close_session = getattr(getattr(self, "session", None), "close", None)
        if getattr(self, "_owns_session", False) and callable(close_session):
            close_session()
        if getattr(self, "first_sight", None) is not None:
            self.first_sight.close()
        if built:
            for panel in self.panels:
                panel.close()
        close_tree(self)
        if getattr(self, "shared", None) is not None:
            self.shared.close()


class PairApp(Styled, widgets.VBox):
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
