"""Pictures of the real computation, drawn with matplotlib's object API.

Three figures:

- ``real_addition_figure``: the curve's equation over the real numbers with the
  chord-and-tangent construction of P + Q;
- ``field_figure``: every point of a small curve over its prime field, with the same
  addition (the chord becomes a line that wraps around modulo p);
- ``path_figure``: the intermediate points of Q = d x G on a toy curve, step by step.

Each ``*_figure`` returns a ``matplotlib.figure.Figure`` (never pyplot, so nothing touches
a global state or a GUI backend); each ``*_png`` renders the same figure to PNG bytes and
is cached by its inputs, so a panel that asks again for an unchanged picture gets it for free.
Backgrounds are painted explicitly, so a picture stays readable in light and dark themes.

numpy and matplotlib are imported by the first call that draws (or samples the real curve),
not with this module: a page that shows no picture yet does not pay for them.
"""

from __future__ import annotations

import io
import math
import textwrap
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from ecc_widgets import ecmath
from ecc_widgets.curves import Curve, chord_slope, points

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _numpy():
    import numpy

    return numpy


# Enumerating a curve's points is only sensible (and only readable) for small fields.
MAX_FIELD_PRIME = 5000
# Beyond this size a coefficient cannot be drawn as a real number meaningfully.
MAX_REAL_COEFFICIENT = 10_000

THEMES = {
    "light": {
        "face": "#ffffff", "ink": "#1f2328", "grid": "#d0d7de", "curve": "#0969da",
        "points": "#57606a", "P": "#1a7f37", "Q": "#8250df", "R": "#cf222e",
        "line": "#bc4c00", "path": "#0969da",
    },
    "dark": {
        "face": "#0d1117", "ink": "#e6edf3", "grid": "#30363d", "curve": "#58a6ff",
        "points": "#8b949e", "P": "#3fb950", "Q": "#d2a8ff", "R": "#ff7b72",
        "line": "#ffa657", "path": "#58a6ff",
    },
}


def _palette(theme: str) -> dict[str, str]:
    try:
        return THEMES[theme]
    except KeyError:
        raise ValueError(f"unknown theme {theme!r}; choose one of {sorted(THEMES)}") from None


def _new_figure(theme: str, width: float = 5.0, height: float = 4.0):
    from matplotlib.figure import Figure

    colours = _palette(theme)
    fig = Figure(figsize=(width, height), dpi=100, facecolor=colours["face"],
                 layout="constrained")
    ax = fig.add_subplot(1, 1, 1, facecolor=colours["face"])
    for spine in ax.spines.values():
        spine.set_color(colours["grid"])
    ax.tick_params(colors=colours["ink"], labelsize=8)
    ax.grid(True, color=colours["grid"], linewidth=0.5)
    return fig, ax, colours


def _title(ax, text: str, colours: dict[str, str]) -> None:
    lines = [wrapped for line in text.split("\n") for wrapped in textwrap.wrap(line, 64)]
    ax.set_title("\n".join(lines), color=colours["ink"], fontsize=9)


def _legend(ax, colours: dict[str, str]) -> None:
    if ax.get_legend_handles_labels()[0]:
        # Below the axes, so it never hides a point.
        legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=4, fontsize=7,
                           facecolor=colours["face"], edgecolor=colours["grid"])
        for text in legend.get_texts():
            text.set_color(colours["ink"])


def to_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor=fig.get_facecolor())
    return buffer.getvalue()


def _xy(point) -> tuple[int, int] | None:
    """Affine coordinates of a point, or None for the point at infinity."""
    if point is None or point == ecmath.INFINITY:
        return None
    x, y = (point.x, point.y) if hasattr(point, "x") else point
    if x is None or y is None:
        return None
    return int(x), int(y)


# --- the curve over the real numbers -------------------------------------------------------


@dataclass(frozen=True)
class RealModel:
    """y^2 = x^3 + c2 x^2 + c1 x + c0 over the reals, and whether it is the curve itself."""

    c2: float
    c1: float
    c0: float
    exact: bool
    note: str

    @property
    def equation(self) -> str:
        terms = ["x³"]
        for coefficient, power in ((self.c2, "x²"), (self.c1, "x"), (self.c0, "")):
            if coefficient:
                sign = "-" if coefficient < 0 else "+"
                magnitude = abs(coefficient)
                shown = "" if magnitude == 1 and power else f"{magnitude:g}"
                terms.append(f"{sign} {shown}{power}")
        return "y² = " + " ".join(terms)

    def f(self, x):
        return x**3 + self.c2 * x**2 + self.c1 * x + self.c0


def _centred(value: int, p: int) -> int:
    """The representative of value mod p closest to zero (p - 3 reads as -3)."""
    value %= p
    return value - p if value > p // 2 else value


def real_model(curve: Curve) -> RealModel:
    """The curve's equation read over the reals, or an honest stand-in with its shape.

    A curve over a 256-bit field has coefficients hundreds of digits long and its points
    are scattered over a square of side 2^256: no picture of that group is possible. Its
    equation still has a shape over the reals, which is what the stand-in shows.
    """
    if curve.form == "montgomery":
        # B y^2 = x^3 + A x^2 + x; the shape with a small A (B = 1) looks the same.
        big = abs(_centred(curve.a, curve.p)) > MAX_REAL_COEFFICIENT
        a = 3.0 if big else float(_centred(curve.a, curve.p))
        note = (f"{curve.name} is a Montgomery curve with A = {curve.a}: its shape drawn with "
                f"A = {a:g}" if big else f"{curve.name} over the reals")
        return RealModel(a, 1.0, 0.0, exact=not big, note=note)
    a, b = _centred(curve.a, curve.p), _centred(curve.b, curve.p)
    if max(abs(a), abs(b)) <= MAX_REAL_COEFFICIENT:
        exact = curve.bits <= 16 or (a, b) == (0, 7)
        note = (f"{curve.name}: the same equation over the reals" if exact else
                f"{curve.name}: its equation over the reals (its own group is not drawable)")
        return RealModel(0.0, float(a), float(b), exact=True, note=note)
    shown_a = float(a) if abs(a) <= MAX_REAL_COEFFICIENT else -3.0
    return RealModel(0.0, shown_a, 5.0, exact=False,
                     note=f"{curve.name}: b has {curve.bits} bits; shape drawn with "
                          f"a = {shown_a:g}, b = 5")


def _real_roots(model: RealModel) -> list[float]:
    roots = _numpy().roots([1.0, model.c2, model.c1, model.c0])
    return sorted(float(r.real) for r in roots if abs(r.imag) < 1e-9)


def real_points(model: RealModel, count: int = 24) -> list[tuple[float, float]]:
    """Evenly spread points on the real curve (upper branch, then lower), for choosing P, Q."""
    low = _real_roots(model)[0]
    xs = _numpy().linspace(low, low + max(4.0, 2 * abs(low) + 2), count // 2)
    upper = [(float(x), math.sqrt(max(model.f(x), 0.0))) for x in xs if model.f(x) >= 0]
    lower = [(x, -y) for x, y in reversed(upper) if y > 0]
    return upper + lower


@dataclass(frozen=True)
class RealSum:
    slope: float | None  # None: vertical line, P + Q is the point at infinity
    third: tuple[float, float] | None  # the line's third meeting point, -(P + Q)
    result: tuple[float, float] | None  # P + Q


def real_add(model: RealModel, P: tuple[float, float], Q: tuple[float, float]) -> RealSum:
    """Chord-and-tangent over the reals: the same formulas as over a prime field."""
    for name, (x, y) in (("P", P), ("Q", Q)):
        if not math.isclose(y * y, model.f(x), rel_tol=1e-6, abs_tol=1e-6):
            raise ValueError(f"{name} = ({x:g}, {y:g}) is not on {model.equation}")
    (x1, y1), (x2, y2) = P, Q
    same = math.isclose(x1, x2, abs_tol=1e-12)
    if same and (not math.isclose(y1, y2, abs_tol=1e-12) or abs(y1) < 1e-12):
        return RealSum(None, None, None)
    if same:  # tangent at P
        slope = (3 * x1 * x1 + 2 * model.c2 * x1 + model.c1) / (2 * y1)
    else:
        slope = (y2 - y1) / (x2 - x1)
    x3 = slope * slope - model.c2 - x1 - x2
    y3 = slope * (x1 - x3) - y1
    return RealSum(slope, (x3, -y3), (x3, y3))


def _draw_real_sum(ax, model: RealModel, P, Q, colours, xlim, labels: bool = True) -> str:
    """The line through P and Q (the tangent when P == Q), its third meeting point, the
    reflection and P + Q, on `ax`; returns the caption. With `labels`, legend entries with
    the coordinates (a picture of its own); without, none (an overlay on a legend drawn once).
    """
    np = _numpy()
    total = real_add(model, P, Q)

    def label(text):
        return text if labels else None

    if total.slope is None:
        ax.axvline(P[0], color=colours["line"], linestyle="--", linewidth=1, gid="line")
        caption = "vertical line: P + Q = O, the point at infinity"
    else:
        line_x = np.array(xlim)
        ax.plot(line_x, P[1] + total.slope * (line_x - P[0]), color=colours["line"],
                linewidth=1, gid="line",
                label=label("tangent at P" if P == Q else "line through P, Q"))
        (x3, minus_y3), (_, y3) = total.third, total.result
        ax.plot([x3, x3], [minus_y3, y3], color=colours["R"], linestyle=":", linewidth=1,
                gid="reflection")
        ax.scatter([x3], [minus_y3], s=30, facecolors="none", edgecolors=colours["R"],
                   gid="third", zorder=3)
        ax.scatter([x3], [y3], s=50, color=colours["R"], label=label("P + Q"), gid="result",
                   zorder=4)
        caption = f"P + Q = ({x3:.3g}, {y3:.3g})"
    ax.scatter([P[0]], [P[1]], s=50, color=colours["P"],
               label=label(f"P = ({P[0]:.2f}, {P[1]:.2f})"), gid="P", zorder=4)
    ax.scatter([Q[0]], [Q[1]], s=50, color=colours["Q"],
               label=label(f"Q = ({Q[0]:.2f}, {Q[1]:.2f})"), gid="Q", zorder=4)
    return caption


def _draw_real_curve(ax, model: RealModel, colours, low: float, high: float) -> None:
    np = _numpy()
    roots = _real_roots(model)
    xs = np.union1d(np.linspace(low, high, 800), [r for r in roots if low <= r <= high])
    fx = model.f(xs)
    ys = np.sqrt(np.where(fx >= 0, fx, np.nan))
    ax.plot(xs, ys, color=colours["curve"], linewidth=1.6, label=model.equation, gid="curve")
    ax.plot(xs, -ys, color=colours["curve"], linewidth=1.6, gid="curve")


def real_addition_figure(model: RealModel, P: tuple[float, float], Q: tuple[float, float],
                         theme: str = "light") -> Figure:
    fig, ax, colours = _new_figure(theme)
    total = real_add(model, P, Q)
    xs_of_interest = [P[0], Q[0]] + ([total.third[0]] if total.third else [])
    roots = _real_roots(model)
    low, high = roots[0] - 0.5, max(max(xs_of_interest) + 1.0, roots[-1] + 2.0)
    _draw_real_curve(ax, model, colours, low, high)
    caption = _draw_real_sum(ax, model, P, Q, colours, (low, high))
    span = max(abs(v) for v in [P[1], Q[1], *(total.result or (0, 0))]) + 2
    ax.set_ylim(-span * 1.2, span * 1.2)
    ax.set_xlim(low, high)
    _title(ax, f"{model.note}\n{caption}", colours)
    _legend(ax, colours)
    return fig


@lru_cache(maxsize=64)
def real_addition_png(model: RealModel, P: tuple[float, float], Q: tuple[float, float],
                      theme: str = "light") -> bytes:
    return to_png(real_addition_figure(model, P, Q, theme))


# --- the curve over a small prime field ----------------------------------------------------


def _require_small(curve: Curve) -> None:
    if curve.p > MAX_FIELD_PRIME:
        raise ValueError(f"{curve.name} has a {curve.bits}-bit field: its points cannot be "
                         f"drawn (only fields up to {MAX_FIELD_PRIME} can); use a toy curve")


@lru_cache(maxsize=32)
def field_points(curve: Curve) -> tuple[tuple[int, int], ...]:
    _require_small(curve)
    return tuple(sorted((int(x), int(y)) for x, y in points(curve)))


def _wrapped_line(curve: Curve, P: tuple[int, int], Q: tuple[int, int]) -> list[tuple[int, int]]:
    """The line through P and Q (tangent when P == Q) at each x, taken mod p."""
    p = curve.p
    (x1, y1), (x2, y2) = P, Q
    if x1 == x2 and (y1 != y2 or y1 == 0):
        return [(x1, y) for y in range(p)]
    slope = chord_slope(p, curve.a, P, Q)
    return [(x, (y1 + slope * (x - x1)) % p) for x in range(p)]


def _draw_field_sum(ax, curve: Curve, P, Q, colours, labels: bool = True) -> str:
    """The wrapped line through P and Q, P + Q and its reflection, on `ax`; the caption."""
    result = _xy(ecmath.add(curve, ecmath.Point(*P), ecmath.Point(*Q)))

    def label(text):
        return text if labels else None

    if curve.form == "weierstrass":
        line = _wrapped_line(curve, P, Q)
        ax.scatter([x for x, _ in line], [y for _, y in line], s=3, color=colours["line"],
                   alpha=0.6, label=label("the line, mod p"), gid="line", zorder=1)
    if result is None:
        caption = "P + Q = O, the point at infinity"
    else:
        x3, y3 = result
        ax.plot([x3, x3], [(-y3) % curve.p, y3], color=colours["R"], linestyle=":",
                linewidth=1, gid="reflection")
        ax.scatter([x3], [(-y3) % curve.p], s=30, facecolors="none", edgecolors=colours["R"],
                   gid="third", zorder=3)
        ax.scatter([x3], [y3], s=60, color=colours["R"], label=label("P + Q"), gid="result",
                   zorder=4)
        caption = f"P + Q = ({x3}, {y3})"
    ax.scatter([P[0]], [P[1]], s=60, color=colours["P"], label=label(f"P = {P}"), gid="P",
               zorder=5)
    ax.scatter([Q[0]], [Q[1]], s=60, color=colours["Q"], label=label(f"Q = {Q}"), gid="Q",
               zorder=5)
    return caption


def _draw_field_points(ax, curve: Curve, colours) -> str:
    pts = field_points(curve)
    ax.scatter([x for x, _ in pts], [y for _, y in pts], s=10, color=colours["points"],
               label=f"{len(pts)} points (+ O)", gid="curve-points", zorder=2)
    return f"{curve.name} over F_{curve.p}: group order {len(pts) + 1}"


def field_figure(curve: Curve, P=None, Q=None, theme: str = "light") -> Figure:
    """Every affine point of a small curve; with P and Q, the addition P + Q drawn on them."""
    fig, ax, colours = _new_figure(theme)
    caption = _draw_field_points(ax, curve, colours)
    P, Q = _xy(P), _xy(Q)
    if P is not None and Q is not None:
        caption += "\n" + _draw_field_sum(ax, curve, P, Q, colours)
    ax.set_xlim(-1, curve.p)
    ax.set_ylim(-1, curve.p)
    _title(ax, caption, colours)
    _legend(ax, colours)
    return fig


@lru_cache(maxsize=64)
def field_png(curve: Curve, P=None, Q=None, theme: str = "light") -> bytes:
    return to_png(field_figure(curve, P, Q, theme))


# --- the path of a scalar multiplication ---------------------------------------------------


def path_figure(curve: Curve, path: tuple, theme: str = "light") -> Figure:
    """The intermediate points of a scalar multiplication, joined in the order computed.

    ``path`` holds the points after each double or add (the point at infinity is skipped:
    it has no place in the plane). The last one is drawn large: it is the current result.
    """
    pts = field_points(curve)
    fig, ax, colours = _new_figure(theme)
    ax.scatter([x for x, _ in pts], [y for _, y in pts], s=8, color=colours["points"],
               alpha=0.5, gid="curve-points", zorder=1)
    drawn = [xy for xy in (_xy(point) for point in path) if xy is not None]
    if drawn:
        ax.plot([x for x, _ in drawn], [y for _, y in drawn], color=colours["path"],
                linewidth=1, marker="o", markersize=4, gid="path", zorder=2)
        ax.scatter([drawn[-1][0]], [drawn[-1][1]], s=80, color=colours["R"], gid="current",
                   label=f"current point {drawn[-1]}", zorder=3)
    ax.set_xlim(-1, curve.p)
    ax.set_ylim(-1, curve.p)
    _title(ax, f"{curve.name}: {len(path)} operations so far", colours)
    _legend(ax, colours)
    return fig


@lru_cache(maxsize=256)
def path_png(curve: Curve, path: tuple, theme: str = "light") -> bytes:
    return to_png(path_figure(curve, path, theme))


# --- pictures you can touch: a background drawn once, an overlay per move ------------------
#
# A picture a student drags a point on is two PNGs of the same size, one over the other: the
# background (the curve or its points, axes, grid, title, legend), drawn once per curve and
# theme, and a transparent overlay with what moves (P, Q, the line, the third point, P + Q),
# drawn per move in a few milliseconds where the whole figure takes a hundred or more. Both
# share one `View`, which also maps a position on the picture back to the curve's plane.


@dataclass(frozen=True)
class View:
    """What a touchable picture shows and where: the axes' data limits, the axes' box in
    the figure (left, bottom, width, height, as fractions, matplotlib's convention) and the
    picture's size in pixels."""

    xlim: tuple[float, float]
    ylim: tuple[float, float]
    box: tuple[float, float, float, float]
    size: tuple[int, int] = (500, 400)

    def to_data(self, fx: float, fy: float) -> tuple[float, float]:
        """A position on the picture (fractions of its width and height from its top-left
        corner, as a browser measures) in the curve's coordinates."""
        left, bottom, width, height = self.box
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        u = (fx - left) / width
        v = ((1.0 - fy) - bottom) / height
        return x0 + u * (x1 - x0), y0 + v * (y1 - y0)

    def to_picture(self, x: float, y: float) -> tuple[float, float]:
        """The inverse of `to_data`."""
        left, bottom, width, height = self.box
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        return (left + (x - x0) / (x1 - x0) * width,
                1.0 - (bottom + (y - y0) / (y1 - y0) * height))

    def scale(self) -> tuple[float, float]:
        """Pixels per unit along x and y: distances on the picture, as the eye sees them."""
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        return (self.size[0] * self.box[2] / (x1 - x0), self.size[1] * self.box[3] / (y1 - y0))

    def pixels_between(self, a: tuple[float, float], b: tuple[float, float]) -> float:
        sx, sy = self.scale()
        return math.hypot((a[0] - b[0]) * sx, (a[1] - b[1]) * sy)


def real_limits(model: RealModel) -> tuple[tuple[float, float], tuple[float, float]]:
    """A fixed window on the real curve, holding every point the sliders offer: a picture
    that does not rescale under the student's finger."""
    roots = _real_roots(model)
    offered = real_points(model)
    low = roots[0] - 0.5
    high = max(roots[-1] + 2.0, max(x for x, _ in offered) + 0.5)
    xs = _numpy().linspace(low, high, 400)
    top = float(_numpy().sqrt(_numpy().clip(model.f(xs), 0, None)).max())
    span = max(top, 1.0) * 1.15
    return (float(low), float(high)), (-span, span)


def _frozen(fig, ax, size: tuple[int, int]) -> View:
    """Lay the figure out once (constrained layout), then keep that layout: the overlay
    and the mapping of clicks rely on the axes never moving."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    box = tuple(float(v) for v in ax.get_position().bounds)
    xlim, ylim = (tuple(float(v) for v in lim) for lim in (ax.get_xlim(), ax.get_ylim()))
    return View(xlim, ylim, box, size)


def _legend_proxies(ax, colours, line_label: str) -> None:
    """Legend entries for what the overlay draws, so the legend is drawn once."""
    ax.plot([], [], color=colours["line"], linewidth=1, label=line_label)
    for key, label in (("P", "P"), ("Q", "Q"), ("R", "P + Q")):
        ax.scatter([], [], s=40, color=colours[key], label=label)


def real_background(model: RealModel, theme: str = "light") -> tuple[Figure, View]:
    """The real curve in its fixed window, for points to be dragged on (see `real_overlay`)."""
    fig, ax, colours = _new_figure(theme)
    (low, high), ylim = real_limits(model)
    _draw_real_curve(ax, model, colours, low, high)
    _legend_proxies(ax, colours, "line through P, Q")
    ax.set_xlim(low, high)
    ax.set_ylim(*ylim)
    _title(ax, model.note, colours)
    _legend(ax, colours)
    view = _frozen(fig, ax, _pixels(fig))
    return fig, view


def field_background(curve: Curve, theme: str = "light") -> tuple[Figure, View]:
    """Every point of a small curve, for P and Q to be picked among (see `field_overlay`)."""
    fig, ax, colours = _new_figure(theme)
    caption = _draw_field_points(ax, curve, colours)
    _legend_proxies(ax, colours, "the line, mod p")
    ax.set_xlim(-1, curve.p)
    ax.set_ylim(-1, curve.p)
    _title(ax, caption, colours)
    _legend(ax, colours)
    return fig, _frozen(fig, ax, _pixels(fig))


def _pixels(fig) -> tuple[int, int]:
    width, height = fig.get_size_inches() * fig.dpi
    return round(width), round(height)


@lru_cache(maxsize=32)
def real_background_png(model: RealModel, theme: str = "light") -> tuple[bytes, View]:
    fig, view = real_background(model, theme)
    return to_png(fig), view


@lru_cache(maxsize=32)
def field_background_png(curve: Curve, theme: str = "light") -> tuple[bytes, View]:
    fig, view = field_background(curve, theme)
    return to_png(fig), view


@lru_cache(maxsize=16)
def shared_overlay(view: View, theme: str = "light") -> Overlay:
    """One overlay per picture and theme for every page of a process (each page drawing
    on it holds its `lock`): what a page adds is its PNGs, not a canvas of its own."""
    return Overlay(view, theme)


class Overlay:
    """A transparent figure the size of a background, its axes at the same place: what
    moves is drawn on it, and only it is rendered per move (`png`)."""

    def __init__(self, view: View, theme: str = "light"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.view = view
        self.colours = _palette(theme)
        self.lock = threading.Lock()
        width, height = view.size
        self.figure = Figure(figsize=(width / 100, height / 100), dpi=100,
                             facecolor=(0, 0, 0, 0))
        self.canvas = FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_axes(view.box)
        self.ax.set_axis_off()
        self.ax.patch.set_alpha(0)

    def clear(self) -> None:
        for artist in list(self.ax.lines) + list(self.ax.collections):
            artist.remove()
        self.ax.set_xlim(*self.view.xlim)
        self.ax.set_ylim(*self.view.ylim)

    def png(self) -> bytes:
        """The overlay as PNG, with the fastest compression (it is mostly transparent)."""
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", facecolor=(0, 0, 0, 0),
                            pil_kwargs={"compress_level": 1})
        return buffer.getvalue()


def real_overlay(overlay: Overlay, model: RealModel, P, Q) -> RealSum:
    """Draw P, Q and their sum on `overlay` (over `real_background`); returns the sum."""
    overlay.clear()
    _draw_real_sum(overlay.ax, model, P, Q, overlay.colours, overlay.view.xlim, labels=False)
    overlay.ax.set_xlim(*overlay.view.xlim)
    overlay.ax.set_ylim(*overlay.view.ylim)
    return real_add(model, P, Q)


def field_overlay(overlay: Overlay, curve: Curve, P, Q) -> ecmath.Point:
    """Draw P, Q and their sum on `overlay` (over `field_background`); returns P + Q as
    ecmath computes it (the point at infinity included)."""
    overlay.clear()
    _draw_field_sum(overlay.ax, curve, P, Q, overlay.colours, labels=False)
    overlay.ax.set_xlim(*overlay.view.xlim)
    overlay.ax.set_ylim(*overlay.view.ylim)
    return ecmath.add(curve, ecmath.Point(*P), ecmath.Point(*Q))


def nearest_real_point(model: RealModel, view: View, x: float, y: float
                       ) -> tuple[float, float]:
    """The point of the real curve nearest to (x, y) as the eye measures it on the picture
    (pixels, not units: the two axes have different scales). Exactly on the curve
    (y = ±sqrt(f(x))), within the picture's x range."""
    np = _numpy()
    sx, sy = view.scale()
    x0, x1 = view.xlim
    roots = [r for r in _real_roots(model) if x0 <= r <= x1]
    grid = np.union1d(np.linspace(x0, x1, 2001), roots)
    fx = model.f(grid)
    ok = fx >= -1e-9
    ys = np.sqrt(np.clip(fx, 0, None))
    best, best_d = None, math.inf
    for sign in (1.0, -1.0):
        d = np.where(ok, ((grid - x) * sx) ** 2 + ((sign * ys - y) * sy) ** 2, np.inf)
        i = int(np.argmin(d))
        if d[i] < best_d:
            best, best_d = (i, sign), float(d[i])
    if best is None:
        raise ValueError(f"{model.equation} has no point in this picture")
    i, sign = best

    def on_branch(t: float) -> tuple[float, float]:
        return t, sign * math.sqrt(max(model.f(t), 0.0))

    def dist(t: float) -> float:
        px, py = on_branch(t)
        return ((px - x) * sx) ** 2 + ((py - y) * sy) ** 2

    # Refine between the neighbouring samples on the same piece of the curve.
    lo = float(grid[i - 1]) if i > 0 and ok[i - 1] else float(grid[i])
    hi = float(grid[i + 1]) if i + 1 < len(grid) and ok[i + 1] else float(grid[i])
    for _ in range(40):
        m1, m2 = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if dist(m1) <= dist(m2):
            hi = m2
        else:
            lo = m1
    t = (lo + hi) / 2
    if dist(t) > dist(float(grid[i])):
        t = float(grid[i])
    if model.f(t) < 0:  # a hair outside the curve's range, at a root: the root itself
        return t, 0.0
    return on_branch(t)


def nearest_field_point(curve: Curve, view: View, x: float, y: float) -> tuple[int, int]:
    """The point of the finite curve nearest to (x, y) on the picture."""
    pts = field_points(curve)
    sx, sy = view.scale()
    return min(pts, key=lambda pt: ((pt[0] - x) * sx) ** 2 + ((pt[1] - y) * sy) ** 2)
