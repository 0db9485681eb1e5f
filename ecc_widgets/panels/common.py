"""What every panel shares: escaping, guarded observers, cached lists, the error line.

User names and messages are text, never markup. Every string that may come from the network
is shown in an ``HTML`` widget through ``escape`` (or, as a Dropdown option, through
``plain``), never in a ``Label`` or a ``description``: their views typeset TeX, so a peer
named ``$\\href{...}{click}$`` would become a link. One helper, used everywhere, so a name
like ``<img src=x onerror=alert(1)>`` is shown literally.

Displaying is never part of handling a relay event: observers go through ``observe``, which
logs a display error instead of raising it into the model's trait assignment.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle

from ecc_widgets.session import SessionError
from ecc_widgets.session.state import Budget
from ecc_widgets.style import Styled
from ecc_widgets.text import safe_text

logger = logging.getLogger("ecc_widgets.panels")

# Longest outside text shown, in characters (an ellipsis marks the cut): a name, one line
# of the log or a value in the relay view, and anything else (a message is at most 30 KiB).
NAME_LIMIT = 64
LINE_LIMIT = 300
TEXT_LIMIT = 32 * 1024
# Keeps MathJax (where a notebook page runs it over the whole page) away from our panels.
NO_TYPESETTING = ("tex2jax_ignore", "mathjax_ignore")

LEVEL_COLOURS = {
    "info": "#0969da",
    "success": "#1a7f37",
    "warning": "#9a6700",
    "error": "#cf222e",
}
STATUS_COLOURS = {
    "joined": "#57606a",
    "rejoined: waiting for a new key": "#9a6700",
    "keys generated": "#0969da",
    "key received": "#8250df",
    "secure": "#1a7f37",
    "key changed": "#cf222e",
    "curve mismatch": "#cf222e",
    "verified": "#1a7f37",
    "legacy offered": "#9a6700",
    "legacy": "#9a6700",
}
MONO = "font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px"


def plain(value: object, limit: int = TEXT_LIMIT) -> str:
    """Any outside value as displayable text: non-text (a lone surrogate, which no
    message to the browser can carry, controls, invisible marks) replaced, long text cut;
    line breaks kept (a message may have several lines)."""
    text = str(value)
    if "\n" not in text:
        return safe_text(text, limit)
    if len(text) > limit:
        text = text[:max(limit - 1, 0)] + "\u2026"
    return "\n".join(safe_text(line, limit) for line in text.split("\n"))


def escape(value: object, limit: int = TEXT_LIMIT) -> str:
    """Any outside value as text safe to place inside an HTML widget: ``plain``, then
    HTML-escaped, with ``$`` and ``\\`` as entities so no TeX delimiter appears in the markup."""
    return (html.escape(plain(value, limit), quote=True)
            .replace("$", "&#36;").replace("\\", "&#92;"))


def badge(text: str, colour: str | None = None) -> str:
    colour = colour or STATUS_COLOURS.get(text, "#57606a")
    return f'<span class="ecc-badge" style="background:{colour}">{escape(text)}</span>'


def step_title(title: str) -> str:
    """A panel's title without a step number: the page puts the steps in one order on a
    laptop (two columns) and in another on a phone (one), so numbers would contradict it."""
    number, dot, rest = title.partition(". ")
    return rest if dot and number.isdigit() else title


def grouped_hex(data: bytes | str, group: int = 4, sep: str = " ") -> str:
    """Hex in groups of `group` digits, `sep` between them, so a long value wraps between
    groups (never mid-group) and never needs a horizontal scrollbar. ``sep="<wbr>"`` breaks
    the line there without a space, so a copied key stays one string."""
    text = data.hex() if isinstance(data, bytes) else str(data)
    return sep.join(text[i:i + group] for i in range(0, len(text), group))


def signed_coefficient(value: int, p: int) -> int:
    """A coefficient mod p in signed form when that is a small number: P-256's a = p - 3
    is -3 (a large one stays as it is: its negative is no easier to read)."""
    negative = p - value
    return -negative if negative < value and negative.bit_length() <= 32 else value


def size_text(count: int) -> str:
    return f"{count:,} B"


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


def observe(session, handler: Callable, names: Sequence[str],
            on_error: Callable[[Exception], None] | None = None) -> Callable:
    """Observe `names` of `session` with `handler`; returns the observer (to unobserve).

    The model assigns its traits while it handles a relay event; an exception from a view
    must not abort that handling, so it is logged (and passed to `on_error`) instead.
    """
    def guarded(change) -> None:
        try:
            handler(change)
        except Exception as exc:  # noqa: BLE001 - a display error is the display's problem
            logger.exception("display of %s failed", ", ".join(names))
            if on_error is not None:
                try:
                    on_error(exc)
                except Exception:  # noqa: BLE001
                    logger.exception("could not show a display error")

    session.observe(guarded, names=list(names))
    return guarded


class NewestFirst:
    """The newest `shown` items of a growing sequence as HTML, newest first (visible
    without scrolling), then how many older ones are left out (the model keeps them).
    With ``newest_last`` (a messenger's order), how many were left out comes first, then
    the items oldest first.

    Each item is rendered once: the HTML is cached per item object (records are frozen
    and replaced when they change), so a new item costs one render and a join, however
    long the list. A render error shows in place of that item only.
    """

    def __init__(self, render: Callable[[Any], str], shown: int, noun: str, *,
                 newest_last: bool = False):
        self.render = render
        self.shown = shown
        self.noun = noun
        self.newest_last = newest_last
        self._cache: dict[int, tuple[Any, str]] = {}  # id(item) -> (item, html); holds item

    def clear(self) -> None:
        self._cache = {}

    def html(self, items: Sequence) -> str:
        old, cache, parts = self._cache, {}, []
        for item in reversed(items[-self.shown:]):
            hit = old.get(id(item))
            if hit is None or hit[0] is not item:
                hit = (item, self._render_one(item))
            cache[id(item)] = hit
            parts.append(hit[1])
        self._cache = cache
        older = len(items) - self.shown
        note = (f'<div class="ecc-note"><small>… and {older} older {self.noun}</small></div>'
                if older > 0 else "")
        if self.newest_last:
            return note + "".join(reversed(parts))
        return "".join(parts) + note

    def _render_one(self, item: Any) -> str:
        try:
            return self.render(item)
        except Exception:  # noqa: BLE001 - one bad item must not hide the others
            logger.exception("could not display one of the %s", self.noun)
            return (f"<div><small><i>(one of the {self.noun} could not be displayed)</i>"
                    "</small></div>")


class Coalesced:
    """Call `fn` at most `rate` times a second (`burst` at once): a change when the budget
    allows is drawn at once (a message shows promptly), one beyond it is drawn once, later,
    with everything newer (a flood or a churning room costs a few renders a second, and as
    many widget updates, not one each). `schedule(delay, call)` runs `call` later (by
    default on a timer thread); `clock` is monotonic seconds. Errors of `fn` go to
    `on_error`.
    """

    def __init__(self, fn: Callable[[], None], *, rate: float = 4.0, burst: int = 8,
                 clock: Callable[[], float] = time.monotonic,
                 schedule: Callable[[float, Callable[[], None]], Any] | None = None,
                 on_error: Callable[[Exception], None] | None = None):
        self.fn, self.rate = fn, rate
        self._budget = Budget(rate, burst)
        self._clock = clock
        self._schedule = schedule or _timer
        self._on_error = on_error
        self._lock = threading.Lock()
        self._pending: Any = None      # what `schedule` returned for the coming call
        self.closed = False

    def __call__(self) -> None:
        with self._lock:
            if self.closed or self._pending is not None:
                return  # the coming call draws this change too
            if not self._budget.take(self._clock()):
                self._pending = self._schedule(1.0 / self.rate, self._later)
                return
        self._run()

    def _later(self) -> None:
        with self._lock:
            self._pending = None
            if self.closed:
                return
            self._budget.take(self._clock())
        self._run()

    def _run(self) -> None:
        try:
            self.fn()
        except Exception as exc:  # noqa: BLE001 - a display error is the display's problem
            logger.exception("a coalesced render failed")
            if self._on_error is not None:
                self._on_error(exc)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            pending, self._pending = self._pending, None
        cancel = getattr(pending, "cancel", None)
        if callable(cancel):
            cancel()


def _timer(delay: float, call: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(delay, call)
    timer.daemon = True
    timer.start()
    return timer


def close_tree(widget: widgets.Widget) -> None:
    """Close a widget and everything inside it (a Box closes only itself)."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widgets.Widget.close(widget)


class Shared:
    """Layouts and a style that many widgets of one app share: each is one model for the
    browser to build and one state to send, however many widgets use it.

    One per app (or per panel built alone), never one per process: a server that runs many
    pages in one process (a virtual kernel per page) must not hand one page's models to
    another. Only for widgets whose layout or style is never changed afterwards.
    """

    def __init__(self):
        self.plain = widgets.Layout()
        self.html_style = HTMLStyle()
        self.panel = widgets.Layout(min_width="0")  # the card itself is the stylesheet's

    def html(self, value: str = "", **kwargs) -> widgets.HTML:
        """An HTML widget with the shared layout and style (3 models become 1)."""
        return widgets.HTML(value, layout=self.plain, style=self.html_style, **kwargs)

    def close(self) -> None:
        for widget in (self.plain, self.html_style, self.panel):
            widgets.Widget.close(widget)


class Panel(Styled, widgets.VBox):
    """A Box linked to the session model; ``_render`` redraws it from the model's traits.

    Observers fire on the client's thread as well as the kernel's, so ``_render`` only sets
    widget traits (``.value``, ``.children``) and holds a lock, never displays anything.
    """

    panel = ""  # this panel's name (its CSS class is ecc-<panel>)
    topic = ""  # the model's topic (session.errors key) whose problems this panel shows
    title = ""
    watched: tuple[str, ...] = ()  # session traits whose change calls _render
    # renders a second (sustained, at once) for a panel whose traits the network drives
    # (a flood, a churning room); None: every change renders at once
    coalesce: tuple[float, int] | None = None

    def __init__(self, session, shared: Shared | None = None, **kwargs):
        # The app hands every panel its Shared; a panel built alone makes its own.
        self._owns_shared = shared is None
        self.shared = Shared() if shared is None else shared
        kwargs.setdefault("layout", self.shared.panel)
        super().__init__(**kwargs)
        self.session = session
        self._lock = threading.RLock()
        self.error = self.shared.html()
        self.add_class("ecc-panel")
        self.add_class(f"ecc-{self.panel or 'view'}")
        self.add_class(NO_TYPESETTING[0])
        self.add_class(NO_TYPESETTING[1])
        self._observers: list[tuple[Callable, list[str]]] = []
        self._coalesced = (Coalesced(lambda: self._render(), rate=self.coalesce[0],
                                     burst=self.coalesce[1], on_error=self._display_failed)
                           if self.coalesce else None)
        self.watch(self._on_errors, "errors")
        # A panel built after a problem arose (a tab opened late) shows it too.
        self._on_errors({"new": getattr(session, "errors", None)})
        if self.watched:
            self.watch(self._on_change, *self.watched)

    def watch(self, handler: Callable, *names: str) -> None:
        """Observe session traits until this panel is closed; a display error is logged
        and shown on this panel's error line, never raised into the model."""
        guarded = observe(self.session, handler, names, on_error=self._display_failed)
        self._observers.append((guarded, list(names)))

    def _display_failed(self, exc: Exception) -> None:
        self.show_error(f"could not display the latest change ({type(exc).__name__}); "
                        "the session goes on")

    def close(self) -> None:
        # A closed panel stops listening, so the model never drives dead widgets.
        for handler, names in getattr(self, "_observers", ()):
            self.session.unobserve(handler, names=names)
        self._observers = []
        if getattr(self, "_coalesced", None) is not None:
            self._coalesced.close()
        close_tree(self)
        error = getattr(self, "error", None)
        if error is not None:  # a panel may not show it among its children
            widgets.Widget.close(error)
        if getattr(self, "_owns_shared", False):
            self.shared.close()

    def header(self) -> widgets.HTML:
        return self.shared.html(f'<div class="ecc-panel-title">{escape(step_title(self.title))}'
                                "</div>")

    def _on_change(self, change) -> None:
        if self._coalesced is not None:
            self._coalesced()
        else:
            self._render()

    def _on_errors(self, change) -> None:
        self.show_error((change["new"] or {}).get(self.topic, "") if self.topic else "")

    def show_error(self, text: str) -> None:
        self.error.value = (f'<div style="color:{LEVEL_COLOURS["error"]}">⚠ '
                            f"{escape(text, 2 * LINE_LIMIT)}</div>" if text else "")

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
