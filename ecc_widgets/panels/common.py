"""What every panel shares: escaping, the error line, and the link to the session model.

User names and messages are text, never markup. Panels prefer ``Label`` and ``Text``
widgets, which the browser shows as text; where an ``HTML`` widget is needed (colour, a
table), every piece of outside text goes through ``escape`` first. One helper, used
everywhere, so a name like ``<img src=x onerror=alert(1)>`` is shown literally.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from ecc_widgets.session import SessionError

LEVEL_COLOURS = {
    "info": "#0969da",
    "success": "#1a7f37",
    "warning": "#9a6700",
    "error": "#cf222e",
}
STATUS_COLOURS = {
    "joined": "#57606a",
    "keys generated": "#0969da",
    "key received": "#8250df",
    "secure": "#1a7f37",
    "key changed": "#cf222e",
    "curve mismatch": "#cf222e",
    "verified": "#1a7f37",
    "legacy": "#9a6700",
}
MONO = "font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px"


def escape(value: object) -> str:
    """Any outside value as text safe to place inside an HTML widget."""
    return html.escape(str(value), quote=True)


def badge(text: str, colour: str | None = None) -> str:
    colour = colour or STATUS_COLOURS.get(text, "#57606a")
    return (f'<span style="display:inline-block; margin:1px 3px 1px 0; padding:0 6px; '
            f'border-radius:8px; background:{colour}; color:#ffffff; font-size:11px">'
            f"{escape(text)}</span>")


def clock(timestamp: float | None) -> str:
    """Local wall-clock time of a timestamp (seconds or milliseconds since the epoch)."""
    if not timestamp:
        return ""
    if timestamp > 1e11:  # the seed's relay speaks milliseconds
        timestamp /= 1000
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def shorten(value: object, keep: int = 16) -> str:
    """A long number or string cut in the middle, so a line stays readable."""
    text = str(value)
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-keep:]}"


def newest_first(items: Sequence, shown: int, render: Callable[[Any], str], noun: str) -> str:
    """The newest `shown` of `items` as HTML, newest first (visible without scrolling),
    then how many older ones are left out (the model keeps them all)."""
    older = len(items) - shown
    return "".join(render(item) for item in reversed(items[-shown:])) + (
        f"<small>… and {older} older {noun}</small>" if older > 0 else "")


def close_tree(widget: widgets.Widget) -> None:
    """Close a widget and everything inside it (a Box closes only itself)."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widgets.Widget.close(widget)


class Panel(widgets.VBox):
    """A Box linked to the session model; ``_render`` redraws it from the model's traits.

    Observers fire on the client's thread as well as the kernel's, so ``_render`` only sets
    widget traits (``.value``, ``.children``) and holds a lock, never displays anything.
    """

    panel = ""  # this panel's name (its CSS class is ecc-<panel>)
    topic = ""  # the model's topic (session.errors key) whose problems this panel shows
    title = ""
    watched: tuple[str, ...] = ()  # session traits whose change calls _render

    def __init__(self, session, **kwargs):
        super().__init__(**kwargs)
        self.session = session
        self._lock = threading.RLock()
        self.error = widgets.HTML(value="")
        self.add_class("ecc-panel")
        self.add_class(f"ecc-{self.panel or 'view'}")
        self.layout.border = "1px solid #d0d7de"
        self.layout.padding = "6px 10px"
        self.layout.min_width = "0"
        self._observers: list[tuple[Callable, list[str]]] = []
        self.watch(self._on_errors, "errors")
        if self.watched:
            self.watch(self._on_change, *self.watched)

    def watch(self, handler: Callable, *names: str) -> None:
        """Observe session traits until this panel is closed."""
        self.session.observe(handler, names=list(names))
        self._observers.append((handler, list(names)))

    def close(self) -> None:
        # A closed panel stops listening, so the model never drives dead widgets.
        for handler, names in getattr(self, "_observers", ()):
            self.session.unobserve(handler, names=names)
        self._observers = []
        close_tree(self)

    def header(self) -> widgets.HTML:
        return widgets.HTML(f"<b>{escape(self.title)}</b>")

    def _on_change(self, change) -> None:
        self._render()

    def _on_errors(self, change) -> None:
        self.show_error((change["new"] or {}).get(self.topic, "") if self.topic else "")

    def show_error(self, text: str) -> None:
        self.error.value = (
            f'<div style="color:{LEVEL_COLOURS["error"]}">⚠ {escape(text)}</div>' if text else ""
        )

    def complain(self, text: str) -> None:
        """A problem found by the panel itself: said here and in the activity log."""
        report = getattr(self.session, "report_error", None)
        if callable(report):
            report(self.topic or self.panel, text)  # sets errors[topic], shown here
        if self.error.value == "" or text not in self.error.value:
            self.show_error(text)

    def act(self, action: Callable[..., Any], *args: Any, what: str = "") -> Any:
        """Run a session action; a failure is shown here in words and in the log.

        The model records its own refusals (``SessionError``) in ``errors[topic]`` and the
        log, and this panel shows them; anything else that escapes is reported the same
        way, so no failure is silent and none reaches the kernel as a traceback.
        """
        try:
            return action(*args)
        except SessionError as exc:
            if str(exc) not in self.error.value:
                self.show_error(str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure becomes words in the panel
            self.complain(f"{what}: {exc}" if what else str(exc))
        return None

    def _render(self) -> None:  # pragma: no cover - every panel overrides it
        raise NotImplementedError
