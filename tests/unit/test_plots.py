"""The pictures show the real computation: read the points back from the figures' artists."""

from __future__ import annotations

import math

import pytest

from ecc_widgets import ecmath, plots
from ecc_widgets.curves import NAMED_CURVES, TOY_CURVES, get_curve, points

PNG = b"\x89PNG\r\n\x1a\n"


def artist(fig, gid):
    found = [a for a in fig.axes[0].get_children() if a.get_gid() == gid]
    assert found, f"no artist with gid {gid!r}"
    return found[0]


def offsets(fig, gid) -> set[tuple[int, int]]:
    return {(round(x), round(y)) for x, y in artist(fig, gid).get_offsets()}


@pytest.mark.parametrize("name", sorted(TOY_CURVES))
def test_toy_curve_plots_every_point_once(name):
    curve = TOY_CURVES[name]
    fig = plots.field_figure(curve)
    drawn = artist(fig, "curve-points").get_offsets()
    # The group has n*h elements; the point at infinity has no place in the plane.
    assert len(drawn) == curve.n * curve.h - 1
    assert {(round(x), round(y)) for x, y in drawn} == set(points(curve))


def test_field_addition_draws_p_q_and_their_sum():
    curve = TOY_CURVES["toy-97"]
    pts = sorted(points(curve))
    P, Q = pts[3], pts[40]
    fig = plots.field_figure(curve, P, Q)
    total = ecmath.add(curve, ecmath.Point(*P), ecmath.Point(*Q))
    assert offsets(fig, "P") == {P}
    assert offsets(fig, "Q") == {Q}
    assert offsets(fig, "result") == {(total.x, total.y)}
    line = offsets(fig, "line")
    # The wrapped line passes through P and Q and through the reflection of P + Q.
    assert {P, Q, (total.x, (-total.y) % curve.p)} <= line
    assert len(line) == curve.p


def test_field_doubling_uses_the_tangent():
    curve = TOY_CURVES["toy-251"]
    G = (curve.gx, curve.gy)
    fig = plots.field_figure(curve, G, G)
    double = ecmath.add(curve, ecmath.Point(*G), ecmath.Point(*G))
    assert offsets(fig, "result") == {(double.x, double.y)}
    assert (double.x, (-double.y) % curve.p) in offsets(fig, "line")


def test_field_sum_at_infinity_is_said_not_drawn():
    curve = TOY_CURVES["toy-23"]
    x, y = sorted(points(curve))[1]
    fig = plots.field_figure(curve, (x, y), (x, (-y) % curve.p))
    assert "point at infinity" in fig.axes[0].get_title()
    assert not [a for a in fig.axes[0].get_children() if a.get_gid() == "result"]


def test_big_curve_field_plot_is_refused_in_words():
    with pytest.raises(ValueError, match="cannot be drawn"):
        plots.field_figure(NAMED_CURVES["P-256"])


@pytest.mark.parametrize("name", ["toy-97", "secp256k1", "P-256", "X25519", "brainpoolP384r1"])
def test_real_chord_meets_the_curve_three_times(name):
    model = plots.real_model(get_curve(name))
    candidates = plots.real_points(model)
    P, Q = candidates[1], candidates[len(candidates) // 3]
    total = plots.real_add(model, P, Q)
    x3, y3 = total.result
    assert math.isclose(y3 * y3, model.f(x3), rel_tol=1e-6, abs_tol=1e-6)
    # The third meeting point lies on the line through P and Q.
    tx, ty = total.third
    assert math.isclose(ty, P[1] + total.slope * (tx - P[0]), rel_tol=1e-6, abs_tol=1e-6)
    fig = plots.real_addition_figure(model, P, Q)
    (rx, ry), = artist(fig, "result").get_offsets()
    assert math.isclose(rx, x3) and math.isclose(ry, y3)


def test_real_model_is_honest_about_big_curves():
    assert plots.real_model(TOY_CURVES["toy-97"]).exact
    assert plots.real_model(NAMED_CURVES["secp256k1"]).exact  # y^2 = x^3 + 7 is drawable
    p256 = plots.real_model(NAMED_CURVES["P-256"])
    assert not p256.exact and "256 bits" in p256.note
    assert not plots.real_model(NAMED_CURVES["X25519"]).exact


def test_real_tangent_and_vertical_line():
    model = plots.real_model(TOY_CURVES["toy-97"])
    P = plots.real_points(model)[2]
    doubled = plots.real_add(model, P, P)
    assert math.isclose(doubled.result[1] ** 2, model.f(doubled.result[0]), rel_tol=1e-6)
    opposite = plots.real_add(model, P, (P[0], -P[1]))
    assert opposite.result is None and opposite.slope is None


def test_real_point_off_the_curve_is_refused():
    model = plots.real_model(TOY_CURVES["toy-97"])
    with pytest.raises(ValueError, match="not on"):
        plots.real_add(model, (0.0, 100.0), plots.real_points(model)[0])


def test_path_draws_each_intermediate_point():
    curve = TOY_CURVES["toy-251"]
    G = ecmath.Point(curve.gx, curve.gy)
    result, steps = ecmath.scalar_mult_trace(curve, 200, G)
    path = (G, *(s.point for s in steps))
    fig = plots.path_figure(curve, path)
    xs, ys = artist(fig, "path").get_data()
    assert len(xs) == len(path)
    assert (round(xs[-1]), round(ys[-1])) == (result.x, result.y)
    assert offsets(fig, "current") == {(result.x, result.y)}


def test_png_is_cached_and_themed():
    curve = TOY_CURVES["toy-97"]
    light = plots.field_png(curve, theme="light")
    assert light.startswith(PNG)
    assert plots.field_png(curve, theme="light") is light  # cached by its inputs
    dark = plots.field_png(curve, theme="dark")
    assert dark.startswith(PNG) and dark != light
    fig = plots.field_figure(curve, theme="dark")
    assert fig.get_facecolor()[:3] != (1.0, 1.0, 1.0)  # explicit background, not transparent
    with pytest.raises(ValueError, match="unknown theme"):
        plots.field_png(curve, theme="purple")


# --- the pictures you can touch --------------------------------------------------------

OVAL = plots.RealModel(0.0, -3.0, 1.0, exact=True, note="two pieces")  # an egg and a branch


def brute_nearest(model, view, x, y, samples=40_000):
    import numpy as np

    sx, sy = view.scale()
    xs = np.linspace(*view.xlim, samples)
    fx = model.f(xs)
    xs, ys = xs[fx >= 0], np.sqrt(fx[fx >= 0])
    d = np.minimum(((xs - x) * sx) ** 2 + ((ys - y) * sy) ** 2,
                   ((xs - x) * sx) ** 2 + ((-ys - y) * sy) ** 2)
    return math.sqrt(float(d.min()))


@pytest.mark.parametrize("model", [plots.real_model(get_curve("secp256k1")),
                                   plots.real_model(NAMED_CURVES["P-256"]), OVAL],
                         ids=["secp256k1", "P-256-shape", "oval"])
def test_a_click_snaps_to_the_nearest_point_exactly_on_the_real_curve(model):
    import random

    _fig, view = plots.real_background(model)
    rng = random.Random(7)
    for _ in range(60):
        x, y = view.to_data(rng.uniform(0.1, 0.95), rng.uniform(0.05, 0.8))
        px, py = plots.nearest_real_point(model, view, x, y)
        assert view.xlim[0] <= px <= view.xlim[1]
        assert math.isclose(py * py, model.f(px), rel_tol=1e-9, abs_tol=1e-9), "on the curve"
        # No point of the curve is nearer on the picture (to a tenth of a pixel).
        assert view.pixels_between((px, py), (x, y)) <= brute_nearest(model, view, x, y) + 0.1
        plots.real_add(model, (px, py), plots.real_points(model)[0])  # accepted as on it


def test_a_click_snaps_to_the_nearest_point_of_the_finite_curve():
    curve = TOY_CURVES["toy-97"]
    _fig, view = plots.field_background(curve)
    pts = points(curve)
    for fx, fy in [(0.1, 0.1), (0.5, 0.5), (0.93, 0.2), (0.31, 0.77)]:
        x, y = view.to_data(fx, fy)
        found = plots.nearest_field_point(curve, view, x, y)
        assert found in pts
        best = min(view.pixels_between(pt, (x, y)) for pt in pts)
        assert view.pixels_between(found, (x, y)) == best


def test_the_overlay_lies_exactly_over_the_background():
    model = plots.real_model(get_curve("secp256k1"))
    fig, view = plots.real_background(model)
    overlay = plots.Overlay(view)
    P, Q = plots.real_points(model)[2], plots.real_points(model)[8]
    plots.real_overlay(overlay, model, P, Q)
    # Where P lands in pixels: the same on both figures, and where the view says.
    back = fig.axes[0].transData.transform(P)
    over = overlay.ax.transData.transform(P)
    assert abs(back[0] - over[0]) < 0.5 and abs(back[1] - over[1]) < 0.5
    fx, fy = view.to_picture(*P)
    assert abs(fx * view.size[0] - back[0]) < 0.5
    assert abs((1 - fy) * view.size[1] - back[1]) < 0.5
    assert view.to_data(fx, fy) == pytest.approx(P)
    png = overlay.png()
    assert png.startswith(PNG)
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png))
    assert image.size == view.size == tuple(round(v) for v in fig.get_size_inches() * 100)
    assert image.getpixel((0, 0))[3] == 0, "transparent where nothing moves"


def test_the_overlays_draw_what_ecmath_and_the_chord_compute():
    curve = TOY_CURVES["toy-97"]
    _fig, view = plots.field_background(curve)
    overlay = plots.Overlay(view)
    pts = sorted(points(curve))
    for P, Q in [(pts[3], pts[40]), (pts[5], pts[5]),
                 (pts[7], (pts[7][0], (-pts[7][1]) % curve.p))]:
        total = plots.field_overlay(overlay, curve, P, Q)
        assert total == ecmath.add(curve, ecmath.Point(*P), ecmath.Point(*Q))
        fig = overlay.figure
        assert offsets(fig, "P") == {P} and offsets(fig, "Q") == {Q}
        drawn = [a for a in fig.axes[0].get_children() if a.get_gid() == "result"]
        if total.x is None:
            assert not drawn
        else:
            assert offsets(fig, "result") == {(total.x, total.y)}
    model = plots.real_model(get_curve("secp256k1"))
    _fig, view = plots.real_background(model)
    overlay = plots.Overlay(view)
    P, Q = plots.real_points(model)[2], plots.real_points(model)[8]
    total = plots.real_overlay(overlay, model, P, Q)
    (rx, ry), = artist(overlay.figure, "result").get_offsets()
    assert (rx, ry) == pytest.approx(total.result)
    assert len([a for a in overlay.ax.get_children() if a.get_gid() == "P"]) == 1, \
        "each move replaces what the last one drew"
