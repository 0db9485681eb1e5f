"""A picture you can touch: P and Q picked by clicking or dragging on the plot itself.

`TouchPlot` shows two PNGs drawn by matplotlib in the kernel, one over the other (the
curve, drawn once; what moves, drawn per move: `ecc_widgets.plots`), and sends where the
pointer went down, moved and went up, as fractions of the picture. The kernel snaps that to
the nearest point of the curve, moves P or Q there (`Picker` says which), redraws the
overlay and acknowledges; the browser sends the next move only then, so a fast drag never
queues stale work, it skips to where the finger is. Mouse, pen and touch alike (pointer
events); the sliders beside the pictures stay for the keyboard.

Why not ipympl, matplotlib's own widget backend (measured side by side by
`bench/bench_touch.py`; README, "The curve you can touch"): it works in Solara and Voila
without a CDN, and with blitting it is as fast as this; but its front-end (0.10)
listens to mouse events only, so a finger dragging on a phone moves nothing, and its canvas
keeps the figure's pixel width (500 px on a 390 px screen). Redrawing the whole figure per
move, as ipympl does without blitting, took 83-193 ms a move here. This widget is an ESM
module inside the package (anywidget, already a dependency), sent with the widget's state.

What the browser sends is checked like anything from outside: a dict with a known kind,
two finite numbers (clamped to the picture) and a counter; anything else is ignored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import anywidget
import traitlets

logger = logging.getLogger("ecc_widgets.panels")

KINDS = ("down", "move", "up")
# A press this close to P or Q (in the picture's own pixels) grabs that point.
GRAB_PIXELS = 28.0
# A point dragged this close to the other one, or to its mirror image, lands exactly on it:
# the tangent (P = Q) and the vertical line (Q = -P) are reachable by hand.
MAGNET_PIXELS = 8.0

ESM = """
export default {
  render({ model, el }) {
    const box = document.createElement("div");
    box.className = "ecc-touch-box";
    box.tabIndex = -1;
    const back = document.createElement("img");
    const over = document.createElement("img");
    back.className = "ecc-touch-back";
    over.className = "ecc-touch-over";
    for (const img of [back, over]) { img.draggable = false; img.alt = ""; }
    box.append(back, over);
    el.append(box);
    const urls = {};
    const show = (img, name) => {
      const data = model.get(name);
      if (urls[name]) URL.revokeObjectURL(urls[name]);
      urls[name] = null;
      if (!data || !data.byteLength) { img.removeAttribute("src"); return; }
      urls[name] = URL.createObjectURL(new Blob([data], { type: "image/png" }));
      img.src = urls[name];
    };
    const label = () => {
      box.setAttribute("role", "img");
      box.setAttribute("aria-label", model.get("label"));
    };
    show(back, "background"); show(over, "overlay"); label();
    const onBack = () => show(back, "background");
    const onOver = () => show(over, "overlay");
    model.on("change:background", onBack);
    model.on("change:overlay", onOver);
    model.on("change:label", label);

    // One message in flight: a move waits for the kernel's answer, and only the latest
    // position is sent then. A lost answer frees the way after a second.
    let seq = 0, acked = 0, sentAt = 0, pending = null, down = false;
    const busy = () => seq > acked && performance.now() - sentAt < 1000;
    const send = (kind, x, y) => {
      seq += 1; sentAt = performance.now();
      model.send({ kind, x, y, seq });
    };
    const where = (e) => {
      const r = back.getBoundingClientRect();
      return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height];
    };
    const onAnswer = (msg) => {
      if (!msg || typeof msg.ack !== "number") return;
      acked = Math.max(acked, msg.ack);
      if (pending && !busy()) { const [x, y] = pending; pending = null; send("move", x, y); }
    };
    model.on("msg:custom", onAnswer);
    box.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || !back.getAttribute("src")) return;
      e.preventDefault();
      down = true; pending = null;
      try { box.setPointerCapture(e.pointerId); } catch (err) { /* not capturable */ }
      send("down", ...where(e));
    });
    box.addEventListener("pointermove", (e) => {
      if (!down) return;
      e.preventDefault();
      const at = where(e);
      if (busy()) pending = at; else send("move", ...at);
    });
    const release = (e) => {
      if (!down) return;
      down = false;
      if (pending) { const [x, y] = pending; pending = null; send("move", x, y); }
      send("up", ...where(e));
    };
    box.addEventListener("pointerup", release);
    box.addEventListener("pointercancel", release);
    return () => {
      model.off("change:background", onBack);
      model.off("change:overlay", onOver);
      model.off("change:label", label);
      model.off("msg:custom", onAnswer);
      for (const name in urls) if (urls[name]) URL.revokeObjectURL(urls[name]);
    };
  },
};
"""

CSS = """
.ecc-touch-box { position: relative; width: 100%; cursor: crosshair; touch-action: none;
  user-select: none; -webkit-user-select: none; line-height: 0; }
.ecc-touch-back { width: 100%; height: auto; display: block; }
.ecc-touch-over { position: absolute; left: 0; top: 0; width: 100%; height: 100%;
  pointer-events: none; }
"""


def parse(content: object) -> tuple[str, float, float, int] | None:
    """(kind, x, y, seq) from a browser's message, or None if it is not one of ours. x and
    y are fractions of the picture's width and height from its top-left corner, clamped."""
    if not isinstance(content, dict):
        return None
    kind, x, y, seq = (content.get(k) for k in ("kind", "x", "y", "seq"))
    if (kind not in KINDS or isinstance(seq, bool) or not isinstance(seq, int)
            or not 0 <= seq < 2**53):
        return None
    numbers = []
    for value in (x, y):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        try:
            value = float(value)  # a JSON integer may be too large for a float
        except OverflowError:
            return None
        if not math.isfinite(value):
            return None
        numbers.append(min(max(value, 0.0), 1.0))
    return kind, numbers[0], numbers[1], seq


class TouchPlot(anywidget.AnyWidget):
    """Two stacked PNGs (`background`, `overlay`) and the pointer's moves over them, handed
    to `on_touch(kind, x, y)` (kind: "down", "move" or "up"; see `parse`)."""

    _esm = traitlets.Unicode(ESM).tag(sync=True)
    _css = traitlets.Unicode(CSS).tag(sync=True)
    background = traitlets.Bytes(b"").tag(sync=True)
    overlay = traitlets.Bytes(b"").tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)  # what the picture shows, in words

    def __init__(self, on_touch: Callable[[str, float, float], None], **kwargs):
        super().__init__(**kwargs)
        self._on_touch = on_touch
        self.on_msg(self._message)

    def _message(self, _widget, content, _buffers) -> None:
        parsed = parse(content)
        if parsed is None:
            return
        kind, x, y, seq = parsed
        try:
            self._on_touch(kind, x, y)
        except Exception:  # a bug in drawing must not end the page's event loop
            logger.exception("touch %s at (%.3f, %.3f) failed", kind, x, y)
        finally:
            self.send({"ack": seq})


class Picker:
    """Which of P and Q a gesture moves: a press near one of them grabs it (the nearer);
    a press elsewhere places the next one, P first, then Q, then P again."""

    def __init__(self):
        self.held: str | None = None
        self.next = "P"

    def down(self, distances: dict[str, float]) -> str:
        """`distances`: from the press to P and to Q, in pixels."""
        near = min(distances, key=distances.get)
        if distances[near] <= GRAB_PIXELS:
            self.held = near
        else:
            self.held = self.next
            self.next = "Q" if self.held == "P" else "P"
        return self.held

    def up(self) -> None:
        self.held = None

    def follow(self, kind: str, view, at, current: dict) -> str | None:
        """The point ("P" or "Q") a pointer message moves to `at`, if any. `view` is the
        picture's `plots.View`; `at` and `current` (P and Q) in the curve's coordinates."""
        if kind == "up":
            self.up()
            return None
        if kind == "down":
            self.down({name: view.pixels_between(at, point) for name, point in current.items()})
        return self.held
