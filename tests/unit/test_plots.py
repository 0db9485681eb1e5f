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
