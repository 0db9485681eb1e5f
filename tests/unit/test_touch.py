"""The curve you can touch, without a browser: the curve panel driven by the messages its
pictures' browser side sends (a press, moves, a release, as fractions of the picture), and
what it must refuse from a hostile one."""

from __future__ import annotations

import math
import random

import pytest

from ecc_widgets import ecmath, plots
from ecc_widgets.curves import TOY_CURVES, get_curve
from ecc_widgets.panels.curve import CurvePanel
from ecc_widgets.panels.touch import GRAB_PIXELS, Picker, TouchPlot, parse
from ecc_widgets.session import Session
from tests.support.widgets import record_comms


@pytest.fixture
def panel():
    session = Session()
    made = CurvePanel(session)
    yield made
    made.close()
    session.close()


def touch(plot: TouchPlot, kind: str, x: float, y: float, seq: int = 1) -> None:
    """What the browser sends: one message of the picture's widget."""
    plot._handle_custom_msg({"kind": kind, "x": x, "y": y, "seq": seq}, [])


def click(plot: TouchPlot, view: plots.View, point) -> None:
    fx, fy = view.to_picture(*point)
    touch(plot, "down", fx, fy)
    touch(plot, "up", fx, fy)


def drag(plot: TouchPlot, view: plots.View, start, end, steps: int = 5) -> None:
    (ax, ay), (bx, by) = view.to_picture(*start), view.to_picture(*end)
    touch(plot, "down", ax, ay)
    for i in range(1, steps + 1):
        touch(plot, "move", ax + (bx - ax) * i / steps, ay + (by - ay) * i / steps)
    touch(plot, "up", bx, by)


def field_state(panel):
    pts = panel._field_points
    P, Q = pts[panel.field_p.value], pts[panel.field_q.value]
    return P, Q, panel.field_readout.value


def expected_sum(curve, P, Q) -> str:
    total = ecmath.add(curve, ecmath.Point(*P), ecmath.Point(*Q))
    return "O, the point at infinity" if total.x is None else f"({total.x}, {total.y})"


@pytest.mark.parametrize("hostile", [
    None, [], "down", {"kind": "down"}, {"kind": "tap", "x": 0.5, "y": 0.5, "seq": 1},
    {"kind": "down", "x": float("nan"), "y": 0.5, "seq": 1},
    {"kind": "down", "x": float("inf"), "y": 0.5, "seq": 1},
    {"kind": "down", "x": "0.5", "y": 0.5, "seq": 1},
    {"kind": "down", "x": True, "y": 0.5, "seq": 1},
    {"kind": "down", "x": 0.5, "y": 0.5, "seq": True},
    {"kind": "down", "x": 0.5, "y": 0.5, "seq": "1"},
    {"kind": "down", "x": 10**400, "y": 0.5, "seq": 1},
    {"kind": "down", "x": 0.5, "y": 0.5, "seq": -1},
    {"kind": "down", "x": 0.5, "y": 0.5, "seq": 2**64},
])
def test_what_is_not_a_pointer_message_is_refused(hostile):
    assert parse(hostile) is None


def test_positions_are_clamped_to_the_picture():
    assert parse({"kind": "move", "x": -3, "y": 1e300, "seq": 2}) == ("move", 0.0, 1.0, 2)


def test_a_hostile_message_changes_nothing_and_is_not_answered(panel, monkeypatch):
    sent = record_comms(monkeypatch)
    before = field_state(panel)
    overlay = bytes(panel.field_image.overlay)
    for content in ({"kind": "down", "x": float("nan"), "y": 0, "seq": 1}, ["down", 0, 0],
                    {"kind": "down", "x": 0.5, "y": 0.5}, "x" * 10_000):
        panel.field_image._handle_custom_msg(content, [])
    assert field_state(panel) == before
    assert bytes(panel.field_image.overlay) == overlay
    assert not [m for m in sent if "ack" in str(m[1])]


def test_each_message_is_answered_so_the_browser_sends_the_next(panel, monkeypatch):
    acks = []
    monkeypatch.setattr(panel.real_image, "send", lambda content, buffers=None: acks.append(
        content))
    touch(panel.real_image, "down", 0.5, 0.5, seq=7)
    touch(panel.real_image, "move", 0.6, 0.5, seq=8)
    touch(panel.real_image, "up", 0.6, 0.5, seq=9)
    assert acks == [{"ack": 7}, {"ack": 8}, {"ack": 9}]


def test_a_press_grabs_the_point_under_it_else_places_p_then_q():
    picker = Picker()
    assert picker.down({"P": 100.0, "Q": 200.0}) == "P"  # nowhere near: P first
    picker.up()
    assert picker.down({"P": 100.0, "Q": 200.0}) == "Q"  # then Q
    picker.up()
    assert picker.down({"P": GRAB_PIXELS - 1, "Q": 1.0}) == "Q"  # on Q: the nearer, grabbed
    picker.up()
    assert picker.down({"P": 300.0, "Q": 300.0}) == "P"  # placing goes on where it was
    picker.up()
    assert picker.held is None


def test_clicks_on_the_finite_curve_pick_points_and_the_sum_is_ecmaths(panel):
    panel.dropdown.value = "toy-97"
    curve, view = TOY_CURVES["toy-97"], panel._field_view
    pts = panel._field_points
    rng = random.Random(3)
    for _ in range(25):
        P0, Q0, _ = field_state(panel)
        target = rng.choice([pt for pt in pts
                             if min(view.pixels_between(pt, o) for o in (P0, Q0))
                             > GRAB_PIXELS])
        nudged = (target[0] + 0.3, target[1] - 0.3)  # a little beside it: it snaps
        click(panel.field_image, view, nudged)
        P, Q, text = field_state(panel)
        assert target in (P, Q) and (P0 in (P, Q) or Q0 in (P, Q))
        assert f"P + Q</b> = {expected_sum(curve, P, Q)}" in text


def test_dragging_on_the_finite_curve_reaches_the_tangent_and_infinity(panel):
    panel.dropdown.value = "toy-97"
    curve, view = TOY_CURVES["toy-97"], panel._field_view
    P, Q, _ = field_state(panel)
    drag(panel.field_image, view, Q, P)  # Q onto P
    P2, Q2, text = field_state(panel)
    assert P2 == Q2 == P and "tangent" in text
    assert f"P + Q</b> = {expected_sum(curve, P, P)}" in text
    minus = (P[0], (-P[1]) % curve.p)
    drag(panel.field_image, view, P, minus)
    P3, Q3, text = field_state(panel)
    assert {P3, Q3} == {P, minus} and "point at infinity" in text
    # The sliders followed: they are the same state, for the keyboard.
    assert panel._field_points[panel.field_p.value] == P3


def real_state(panel):
    return panel._real["P"], panel._real["Q"], panel.real_readout.value


@pytest.mark.parametrize("name", ["secp256k1", "P-256", "toy-97"])
def test_a_drag_on_the_real_curve_moves_p_along_it_and_the_sum_follows(panel, name):
    panel.dropdown.value = name
    model, view = plots.real_model(get_curve(name)), panel._real_view
    P, Q, _ = real_state(panel)
    end = view.to_data(0.75, 0.25)
    drag(panel.real_image, view, P, end)
    P2, Q2, text = real_state(panel)
    assert Q2 == Q and P2 != P
    assert math.isclose(P2[1] ** 2, model.f(P2[0]), rel_tol=1e-9, abs_tol=1e-9)
    assert plots.nearest_real_point(model, view, *end) == P2
    total = plots.real_add(model, P2, Q2)
    assert f"({total.result[0]:.2f}, {total.result[1]:.2f})" in text
    (rx, ry), = [a for a in plots.shared_overlay(view, panel.theme).ax.get_children()
                 if a.get_gid() == "result"][0].get_offsets()
    assert (rx, ry) == pytest.approx(total.result)


def test_on_the_real_curve_q_lands_on_p_and_on_minus_p_when_dragged_near(panel):
    panel.dropdown.value = "secp256k1"
    view = panel._real_view
    P, Q, _ = real_state(panel)
    sx, sy = view.scale()
    near_p = (P[0] + 3 / sx, P[1] + 2 / sy)  # a few pixels off P
    drag(panel.real_image, view, Q, near_p)
    P2, Q2, text = real_state(panel)
    assert Q2 == P2 == P and "tangent at P" in text
    drag(panel.real_image, view, P, (P[0] + 2 / sx, -P[1] - 3 / sy))
    P3, Q3, text = real_state(panel)
    assert {P3, Q3} == {P, (P[0], -P[1])} and "point at infinity" in text


def test_the_sliders_still_pick_points_and_the_readout_follows(panel):
    panel.dropdown.value = "toy-97"
    panel.field_p.value = 4
    P, Q, text = field_state(panel)
    assert panel._field_points[4] == P and f"P</b> = ({P[0]}, {P[1]})" in text
    panel.real_q.value = 5
    assert panel._real["Q"] == panel._real_points[5]
    assert f"({panel._real_points[5][0]:.2f}" in panel.real_readout.value
