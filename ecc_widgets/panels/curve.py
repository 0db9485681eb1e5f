"""Curve: choose a curve, read its parameters, and watch point addition on it."""

from __future__ import annotations

import re

import ipywidgets as widgets

from ecc_widgets import plots
from ecc_widgets.crypto import SUPPORTED_CURVES
from ecc_widgets.curves import NAMED_CURVES, TOY_CURVES, Curve, get_curve
from ecc_widgets.panels.common import MONO, Panel, escape, signed_coefficient
from ecc_widgets.panels.touch import MAGNET_PIXELS, Picker, TouchPlot

# The small curve that stands in for a big one, where a picture of the group is impossible.
TOY_ANALOGUE = "toy-97"


def format_int(value: int | None) -> str:
    if value is None:
        return "-"
    if value.bit_length() <= 32:
        return str(value)
    text = f"{value:x}"
    return "0x" + " ".join(text[i:i + 8] for i in range(0, len(text), 8))


def format_coefficient(value: int | None, p: int) -> str:
    """A curve coefficient, negative when that is shorter (the standards write a = -3)."""
    if value is None:
        return "-"
    signed = signed_coefficient(value, p)
    return f"-{format_int(-signed)}" if signed < 0 else format_int(signed)


def equation_text(curve: Curve) -> str:
    """The equation with small coefficients in signed form and long ones by name."""
    if curve.form != "weierstrass":
        return curve.equation
    terms = "y^2 = x^3"
    for value, name, power in ((curve.a, "a", "x"), (curve.b, "b", "")):
        signed = signed_coefficient(value, curve.p)
        if signed == 0:
            continue
        shown = str(abs(signed)) if abs(signed).bit_length() <= 32 else name
        if shown == "1" and power:
            shown = ""
        terms += f" {'-' if signed < 0 else '+'} {shown}{power}"
    return terms


def parameters_html(curve: Curve) -> str:
    """The domain parameters as a readable table (long numbers in hex, grouped)."""
    security = (f"about 2<sup>{curve.security_bits}</sup> operations to break (Pollard rho)"
                if not curve.toy else "none: every point can be listed by hand")
    rows = [
        ("equation", equation_text(curve)),
        ("p (field prime)", format_int(curve.p)),
        ("a", format_coefficient(curve.a, curve.p)),
        ("b", format_coefficient(curve.b, curve.p)),
        ("G (base point)", f"({format_int(curve.gx)},<br>&nbsp;{format_int(curve.gy)})"
         if curve.gy is not None else f"u = {format_int(curve.gx)}"),
        ("n (order of G)", format_int(curve.n)),
        ("h (cofactor)", format_int(curve.h)),
        ("bits", str(curve.bits)),
        ("security level", security),
    ]
    # Numbers in a monospace font that may break anywhere; words as ordinary text.
    body = "".join(
        f'<tr><td style="padding-right:8px; vertical-align:top"><b>{escape(k)}</b></td>'
        + (f"<td>{v}</td>" if k == "security level" else
           f'<td style="{MONO}; overflow-wrap:anywhere">'
           f"{v if k == 'G (base point)' else escape(v)}</td>")
        + "</tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"


class CurvePanel(Panel):
    panel = "curve"
    topic = "curve"
    title = "2. Choose a curve"

    def __init__(self, session, theme: str = "light", pictures: bool = True, **kwargs):
        super().__init__(session, **kwargs)
        self.theme = theme
        names = [*NAMED_CURVES, *TOY_CURVES]
        start = session.curve if session.curve in names else names[0]
        self.dropdown = widgets.Dropdown(options=names, value=start, description="Curve")
        self.note = self.shared.html()
        self.parameters = self.shared.html()
        self._real_points: list[tuple[float, float]] = []
        self._model: plots.RealModel | None = None
        self._toy: Curve | None = None
        self._field_points: tuple[tuple[int, int], ...] = ()
        self._quiet = False  # set while sliders are re-ranged, so each plot draws once
        self.drawn = False  # the pictures (and their sliders) exist once shown
        self.dropdown.observe(self._on_pick, names="value")
        self.watch(self._on_session_curve, "curve")
        # The pictures come when shown (show_pictures): until then an empty box.
        self.pictures = widgets.VBox(layout=self.shared.plain)
        self.children = [self.header(), self.dropdown, self.note, self.error,
                         widgets.Accordion([self.parameters], titles=("Parameters",),
                                           selected_index=0),
                         self.pictures]
        self._render()
        if pictures:
            self.show_pictures()

    def show_pictures(self) -> None:
        """Build the two pictures and their sliders, and draw them (once; later calls do
        nothing). The first call imports matplotlib and numpy.

        P and Q are picked on the pictures themselves (click, or drag a point: `TouchPlot`)
        or with the sliders (the keyboard's way); the readout under each picture says where
        they are and where P + Q is, in words."""
        with self._lock:
            if self.drawn:
                return
            self.drawn = True
            self._real_picker, self._field_picker = Picker(), Picker()
            self.real_image = TouchPlot(self._on_real_touch)
            self.real_image.add_class("ecc-touch-real")
            self.real_note = self.shared.html()
            self.real_readout = self.shared.html()
            self.real_readout.add_class("ecc-readout-real")
            # Sliders pick a point from a list; the readout says which point it is.
            self.real_p = widgets.IntSlider(description="P", min=0, max=1, value=0,
                                            continuous_update=False, readout=False)
            self.real_q = widgets.IntSlider(description="Q", min=0, max=1, value=1,
                                            continuous_update=False, readout=False)
            self.field_image = TouchPlot(self._on_field_touch)
            self.field_image.add_class("ecc-touch-field")
            self.field_note = self.shared.html()
            self.field_readout = self.shared.html()
            self.field_readout.add_class("ecc-readout-field")
            self.field_p = widgets.IntSlider(description="P", min=0, max=1, value=0,
                                             continuous_update=False, readout=False)
            self.field_q = widgets.IntSlider(description="Q", min=0, max=1, value=1,
                                             continuous_update=False, readout=False)
            for slider in (self.real_p, self.real_q):
                slider.observe(self._on_real_slider, names="value")
            for slider in (self.field_p, self.field_q):
                slider.observe(self._on_field_slider, names="value")
            curve = self.curve
            self._setup_real(curve)
            self._setup_field(curve)
            self.pictures.children = [widgets.GridBox(
                [
                    widgets.VBox([self.real_note, self.real_image, self.real_readout,
                                  self.real_p, self.real_q], layout=self.shared.plain),
                    widgets.VBox([self.field_note, self.field_image, self.field_readout,
                                  self.field_p, self.field_q], layout=self.shared.plain),
                ],
                layout=widgets.Layout(
                    grid_template_columns="repeat(auto-fit, minmax(min(100%, 280px), 1fr))",
                    grid_gap="8px"),
            )]

    @property
    def curve(self) -> Curve:
        return get_curve(self.dropdown.value)

    def _on_pick(self, change) -> None:
        name = change["new"]
        if name in SUPPORTED_CURVES and name != self.session.curve:
            self.act(self.session.select_curve, name, what=f"Could not select {name}")
        self._render()

    def _on_session_curve(self, change) -> None:
        # The model's curve changed elsewhere: follow it, unless a toy curve is being explored.
        if change["new"] in self.dropdown.options and self.dropdown.value in SUPPORTED_CURVES:
            self.dropdown.value = change["new"]
        self._render_note()

    def _render_note(self) -> None:
        curve, chosen = self.curve, self.session.curve
        if curve.toy or curve.name != chosen:
            self.note.value = (f"{escape(curve.name)} is here for exploring; keys are made on "
                               f"<b>{escape(chosen)}</b>.")
        else:
            self.note.value = f"Keys will be made on <b>{escape(curve.name)}</b>."

    def _render(self) -> None:
        with self._lock:
            curve = self.curve
            self._render_note()
            self.parameters.value = parameters_html(curve)
            if self.drawn:
                self._setup_real(curve)
                self._setup_field(curve)

    def _setup_real(self, curve: Curve) -> None:
        self._model = plots.real_model(curve)
        self._real_points = plots.real_points(self._model)
        background, self._real_view = plots.real_background_png(self._model, self.theme)
        self._range(((self.real_p, 2), (self.real_q, len(self._real_points) // 3)),
                    len(self._real_points) - 1)
        self._real = {"P": self._real_points[self.real_p.value],
                      "Q": self._real_points[self.real_q.value]}
        note = ("Over the real numbers: the line through P and Q meets the curve a third "
                "time; reflecting that point gives P + Q. Click the curve to place P, then "
                "Q, or drag them.")
        if not self._model.exact:
            note = (f"No picture of {escape(curve.name)}'s own group is possible: its points "
                    f"are scattered over a {curve.bits}-bit square. Below, the shape of its "
                    "equation over the reals (drag P and Q on it), and a toy curve that adds "
                    "points the same way.")
        self.real_note.value = f"<small>{note}</small>"
        self.real_image.background = background
        self._draw_real()

    def _setup_field(self, curve: Curve) -> None:
        toy = curve if curve.p <= plots.MAX_FIELD_PRIME else TOY_CURVES[TOY_ANALOGUE]
        self._toy = toy
        self._field_points = plots.field_points(toy)
        background, self._field_view = plots.field_background_png(toy, self.theme)
        self._range(((self.field_p, 0), (self.field_q, len(self._field_points) // 2)),
                    len(self._field_points) - 1)
        where = ("its points over the prime field" if toy is curve
                 else f"a toy analogue, {escape(toy.name)}")
        self.field_note.value = (f"<small>The same addition on {where}: the line wraps "
                                 "around modulo p. Click a point to pick P, then Q, or drag "
                                 "them.</small>")
        self.field_image.background = background
        self._draw_field()

    def _range(self, sliders, last: int) -> None:
        self._quiet = True
        try:
            for slider, start in sliders:
                slider.max = last
                slider.value = min(start, last)
        finally:
            self._quiet = False

    def _set_quietly(self, slider, value: int) -> None:
        self._quiet = True
        try:
            slider.value = value
        finally:
            self._quiet = False

    # --- the real curve: P and Q anywhere on it ------------------------------------------

    def _on_real_slider(self, change) -> None:
        if self._quiet or not self._real_points:
            return
        which = "P" if change["owner"] is self.real_p else "Q"
        self._real[which] = self._real_points[change["new"]]
        self._draw_real()

    def _on_real_touch(self, kind: str, fx: float, fy: float) -> None:
        with self._lock:
            if self._model is None:
                return
            view = self._real_view
            at = view.to_data(fx, fy)
            held = self._real_picker.follow(kind, view, at, self._real)
            if held is None:
                return
            point = plots.nearest_real_point(self._model, view, *at)
            other = self._real["Q" if held == "P" else "P"]
            for special in (other, (other[0], -other[1])):
                if view.pixels_between(point, special) <= MAGNET_PIXELS:
                    point = special
            self._real[held] = point
            # The slider goes to the offered point nearest to it, without redrawing.
            slider = self.real_p if held == "P" else self.real_q
            self._set_quietly(slider, min(range(len(self._real_points)), key=lambda i:
                                          view.pixels_between(self._real_points[i], point)))
            self._draw_real()

    def _draw_real(self) -> None:
        if self._quiet or self._model is None or not self._real_points:
            return
        P, Q = self._real["P"], self._real["Q"]
        overlay = plots.shared_overlay(self._real_view, self.theme)
        try:
            with overlay.lock:
                total = plots.real_overlay(overlay, self._model, P, Q)
                png = overlay.png()
        except ValueError as exc:
            self.complain(f"Cannot draw this addition: {exc}")
            return
        self.real_image.overlay = png
        self.real_readout.value = real_readout(P, Q, total, self._real_view, self.theme)
        self.real_image.label = plain_text(self.real_readout.value)

    # --- the finite curve: P and Q among its points --------------------------------------

    def _on_field_slider(self, _change) -> None:
        self._draw_field()

    def _on_field_touch(self, kind: str, fx: float, fy: float) -> None:
        with self._lock:
            if self._toy is None or not self._field_points:
                return
            view = self._field_view
            at = view.to_data(fx, fy)
            current = {"P": self._field_point(self.field_p), "Q": self._field_point(self.field_q)}
            held = self._field_picker.follow(kind, view, at, current)
            if held is None:
                return
            point = plots.nearest_field_point(self._toy, view, *at)
            slider = self.field_p if held == "P" else self.field_q
            index = self._field_points.index(point)
            if slider.value != index:
                slider.value = index  # draws, through the slider's observer

    def _field_point(self, slider) -> tuple[int, int]:
        return self._field_points[min(slider.value, len(self._field_points) - 1)]

    def _draw_field(self) -> None:
        if self._quiet or self._toy is None or not self._field_points:
            return
        P, Q = self._field_point(self.field_p), self._field_point(self.field_q)
        overlay = plots.shared_overlay(self._field_view, self.theme)
        with overlay.lock:
            total = plots.field_overlay(overlay, self._toy, P, Q)
            png = overlay.png()
        self.field_image.overlay = png
        self.field_readout.value = field_readout(P, Q, total, self.theme)
        self.field_image.label = plain_text(self.field_readout.value)


def _fmt(point: tuple[float, float]) -> str:
    return f"({point[0]:.2f}, {point[1]:.2f})"


def _inside(view: plots.View, point: tuple[float, float]) -> bool:
    (x0, x1), (y0, y1) = view.xlim, view.ylim
    return x0 <= point[0] <= x1 and y0 <= point[1] <= y1


def _names(theme: str) -> tuple[str, str, str]:
    colours = plots.THEMES.get(theme, plots.THEMES["light"])
    return tuple(f'<b style="color:{colours[key]}">{name}</b>'
                 for key, name in (("P", "P"), ("Q", "Q"), ("R", "P + Q")))


def real_readout(P, Q, total: plots.RealSum, view: plots.View, theme: str = "light") -> str:
    """Where P, Q and P + Q are on the real curve, in words (numbers only: no outside text)."""
    line = "the tangent at P" if P == Q else "the line through P and Q"
    if total.result is None:
        result = "O, the point at infinity (the line is vertical)"
    else:
        result = _fmt(total.result) + ("" if _inside(view, total.result)
                                       else " (beyond the picture)")
    p, q, r = _names(theme)
    return (f'<span class="ecc-readout">{p} = {_fmt(P)} · {q} = {_fmt(Q)} · '
            f"{r} = {result}; {line}</span>")


def field_readout(P, Q, total, theme: str = "light") -> str:
    """Where P, Q and P + Q (as ecmath adds them) are on the finite curve, in words."""
    result = "O, the point at infinity" if total.x is None else f"({total.x}, {total.y})"
    line = " (P = Q: the tangent)" if P == Q else ""
    p, q, r = _names(theme)
    return (f'<span class="ecc-readout">{p} = ({P[0]}, {P[1]}) · {q} = ({Q[0]}, {Q[1]}) · '
            f"{r} = {result}{line}</span>")


def plain_text(markup: str) -> str:
    """The words of a readout, for the picture's text alternative."""
    return re.sub(r"<[^>]+>", "", markup)
