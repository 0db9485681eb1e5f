"""The curve you can touch, in chromium: P and Q picked by clicking, tapping and dragging on
the real-curve and the F_p pictures of the dashboard, with each engine `ecc-lab` offers, on
a laptop (mouse) and a phone (touch taps, mouse drags).

The readout under each picture must follow: the point clicked (snapped to the nearest point
of the curve), the other one unchanged, P + Q equal to ecmath's addition (F_p) or to the
chord-and-tangent over the reals, the tangent when P = Q and the point at infinity when
Q = -P. The P marker must be drawn where the pointer went (read from a screenshot, so a
mapping that is wrong both ways still fails). Nothing the page loads comes from another
host. Screenshots: test-artifacts/touch-<engine>-<device>.png.
"""

from __future__ import annotations

import io
import json
import math
import re

import pytest
from playwright.sync_api import expect, sync_playwright

from ecc_widgets import ecmath, plots
from ecc_widgets.curves import TOY_CURVES, get_curve
from ecc_widgets.panels.curve import TOY_ANALOGUE
from tests.support.browser import (
    APP_READY_MS,
    dashboard_with_relay,
    dropdown,
    elsewhere,
    jupyterlab_server,
    jupyterlab_settings,
    launch_chromium,
    run_all_cells,
    screenshot,
)
from tests.support.polling import wait_until
from tests.support.processes import require_binary

pytestmark = pytest.mark.slow

SIZES = {"laptop": (1400, 1000), "phone": (390, 844)}
P_COLOUR = (0x1A, 0x7F, 0x37)  # plots.THEMES["light"]["P"]
POINT = r"\(([-\d.]+), ([-\d.]+)\)"


@pytest.fixture(scope="module", params=["solara", "voila"])
def dashboard(request):
    """The dashboard as `ecc-lab` serves it, with each engine."""
    with dashboard_with_relay(request.param, f"ecc-lab-touch-{request.param}.log") as served:
        yield served


def number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def readout(page, which: str) -> dict[str, tuple[float, float] | None]:
    """P, Q and P + Q (None: the point at infinity) as the readout under a picture says."""
    text = page.locator(f".ecc-readout-{which}").inner_text()
    found = {}
    for name, pattern in (("P", rf"^P = {POINT}"), ("Q", rf"· Q = {POINT}")):
        match = re.search(pattern, text)
        assert match, f"no {name} in {text!r}"
        found[name] = (number(match[1]), number(match[2]))
    match = re.search(rf"P \+ Q = (?:{POINT}|(O), the point at infinity)", text)
    assert match, f"no P + Q in {text!r}"
    found["sum"] = None if match[3] else (number(match[1]), number(match[2]))
    found["text"] = text
    return found


def wait_readout(page, which: str, condition, what: str) -> dict:
    return wait_until(lambda: (lambda r: r if condition(r) else None)(readout(page, which)),
                      timeout=30, what=what)


class Picture:
    """One touchable picture on the page: data coordinates to screen positions, through
    the picture's view (the same layout the server drew it with)."""

    def __init__(self, page, which: str, view: plots.View):
        self.page, self.view = page, view
        self.box = page.locator(f".ecc-touch-{which} .ecc-touch-box")

    def at(self, x: float, y: float, nudge: tuple[float, float] = (0, 0)) -> tuple[float, float]:
        self.box.scroll_into_view_if_needed()
        rect = self.box.bounding_box()
        fx, fy = self.view.to_picture(x, y)
        return rect["x"] + fx * rect["width"] + nudge[0], rect["y"] + fy * rect["height"] + nudge[1]

    def click(self, x, y, touch: bool, nudge=(0, 0)) -> tuple[float, float]:
        sx, sy = self.at(x, y, nudge)
        if touch:
            self.page.touchscreen.tap(sx, sy)
        else:
            self.page.mouse.click(sx, sy)
        return sx, sy

    def drag(self, start, end, steps: int = 8) -> tuple[float, float]:
        (ax, ay), (bx, by) = self.at(*start), self.at(*end)
        mouse = self.page.mouse
        mouse.move(ax, ay)
        mouse.down()
        for i in range(1, steps + 1):
            mouse.move(ax + (bx - ax) * i / steps, ay + (by - ay) * i / steps)
        mouse.up()
        return bx, by

    def marker_near(self, sx: float, sy: float, colour=P_COLOUR, window: int = 40) -> float:
        """Distance in CSS pixels from (sx, sy) to the centre of the `colour` marker drawn
        near it, read from a screenshot of the picture."""
        from PIL import Image

        rect = self.box.bounding_box()
        shot = Image.open(io.BytesIO(self.box.screenshot())).convert("RGB")
        ratio = shot.width / rect["width"]
        cx, cy = (sx - rect["x"]) * ratio, (sy - rect["y"]) * ratio
        hits = [(x, y) for x in range(max(0, int(cx - window)), min(shot.width, int(cx + window)))
                for y in range(max(0, int(cy - window)), min(shot.height, int(cy + window)))
                if sum(abs(a - b) for a, b in zip(shot.getpixel((x, y)), colour, strict=True)) < 60]
        assert len(hits) > 10, f"no marker of colour {colour} near ({sx:.0f}, {sy:.0f})"
        mx = sum(x for x, _ in hits) / len(hits)
        my = sum(y for _, y in hits) / len(hits)
        return math.hypot(mx - cx, my - cy) / ratio


def far_from(points, *others, count=1):
    """Points of the list far (in index order, a spread) from the others."""
    chosen = [pt for pt in points if all(abs(pt[0] - o[0]) > 8 for o in others)]
    return chosen[len(chosen) // 3::max(1, len(chosen) // 3)][:count]


def check_field(page, touch: bool) -> None:
    toy = TOY_CURVES[TOY_ANALOGUE]  # the default curve, P-256, has no drawable group
    _png, view = plots.field_background_png(toy)
    picture = Picture(page, "field", view)
    pts = plots.field_points(toy)

    def add(P, Q):
        total = ecmath.add(toy, ecmath.Point(*P), ecmath.Point(*Q))
        return None if total.x is None else (total.x, total.y)

    def matches(P, Q):
        return lambda r: r["P"] == P and r["Q"] == Q and r["sum"] == add(P, Q)

    start = readout(page, "field")
    assert start["sum"] == add(start["P"], start["Q"])
    # First click (a little off the point: it snaps) places P; the next places Q.
    target, = far_from(pts, start["P"], start["Q"])
    sx, sy = picture.click(*target, touch=touch, nudge=(2, -2))
    wait_readout(page, "field", matches(target, start["Q"]), f"P at {target}")
    assert picture.marker_near(sx, sy) < 6, "P is drawn where the pointer went"
    second, = far_from(pts, target, start["Q"])
    picture.click(*second, touch=touch)
    wait_readout(page, "field", matches(target, second), f"Q at {second}")
    # Drag P to a third point: Q stays.
    third, = far_from(pts, target, second)
    end = picture.drag(target, third)
    wait_readout(page, "field", matches(third, second), f"P dragged to {third}")
    assert picture.marker_near(*end) < 6
    # Drag Q onto P: the tangent; then onto -P: the point at infinity.
    picture.drag(second, third)
    r = wait_readout(page, "field", matches(third, third), "Q dragged onto P")
    assert "tangent" in r["text"]
    minus = (third[0], (-third[1]) % toy.p)
    picture.drag(third, minus)  # grabs Q (drawn over P), its nearer point... either is fine
    r = wait_readout(page, "field", lambda r: {r["P"], r["Q"]} == {third, minus}, "Q at -P")
    assert r["sum"] is None and "infinity" in r["text"]


def check_real(page, curve_name: str, touch: bool) -> None:
    model = plots.real_model(get_curve(curve_name))
    _png, view = plots.real_background_png(model)
    picture = Picture(page, "real", view)
    start = readout(page, "real")
    (x0, x1), _ = view.xlim, view.ylim

    def on_curve(point, tol=0.02):
        x, y = point
        return math.isclose(y * y, model.f(x), rel_tol=tol, abs_tol=tol * 10)

    def sum_of(r):
        """P + Q from the readout's (rounded) P and Q, by the chord over the reals."""
        P = (r["P"][0], math.copysign(math.sqrt(max(model.f(r["P"][0]), 0)), r["P"][1]))
        Q = (r["Q"][0], math.copysign(math.sqrt(max(model.f(r["Q"][0]), 0)), r["Q"][1]))
        return plots.real_add(model, P, Q).result

    def close(a, b, tol=0.08):
        return a is not None and b is not None and all(
            math.isclose(u, v, rel_tol=tol, abs_tol=tol) for u, v in zip(a, b, strict=True))

    assert on_curve(start["P"]) and on_curve(start["Q"])

    def spot(sign, *avoid):
        """A point of the upper (sign 1) or lower branch far from `avoid` on the picture."""
        for i in range(40, 95):
            x = x0 + i / 100 * (x1 - x0)
            if model.f(x) > 0:
                point = (x, sign * math.sqrt(model.f(x)))
                if all(view.pixels_between(point, a) > 60 for a in avoid):
                    return point
        raise AssertionError("no free spot on the curve")

    # A click a few pixels beside the upper branch snaps onto it.
    target = spot(1, start["P"], start["Q"])
    sx, sy = picture.click(*target, touch=touch, nudge=(0, -4))
    r = wait_readout(page, "real", lambda r: close(r["P"], target, 0.05), f"P at {target}")
    assert r["Q"] == start["Q"] and on_curve(r["P"])
    assert close(r["sum"], sum_of(r)), r["text"]
    assert picture.marker_near(sx, sy) < 8
    # The next click, on the lower branch, places Q.
    second = spot(-1, target, start["Q"], (target[0], -target[1]))
    picture.click(*second, touch=touch)
    r = wait_readout(page, "real", lambda r: close(r["Q"], second, 0.05), f"Q at {second}")
    assert close(r["P"], target, 0.05) and close(r["sum"], sum_of(r)), r["text"]
    # Drag Q near P: it lands on P, the line is the tangent there.
    picture.drag(second, target)
    r = wait_readout(page, "real", lambda r: r["Q"] == r["P"], "Q onto P")
    assert "tangent" in r["text"] and close(r["sum"], sum_of(r)), r["text"]
    # Drag it straight below P: the vertical line, P + Q = O.
    picture.drag(target, (target[0], -target[1]))
    r = wait_readout(page, "real", lambda r: r["sum"] is None, "Q at -P")
    assert r["Q"] == (r["P"][0], -r["P"][1]) and "infinity" in r["text"]


def pose(page, curve_name: str, touch: bool) -> None:
    """Two more clicks on each picture (they place P, then Q): a chord, its third point and
    P + Q in view, for the screenshot."""
    toy = TOY_CURVES[TOY_ANALOGUE]
    field = Picture(page, "field", plots.field_background_png(toy)[1])
    for point in (plots.field_points(toy)[30], plots.field_points(toy)[70]):
        field.click(*point, touch=touch)
        wait_readout(page, "field", lambda r, point=point: point in (r["P"], r["Q"]),
                     f"a point at {point}")
    model = plots.real_model(get_curve(curve_name))
    view = plots.real_background_png(model)[1]
    real = Picture(page, "real", view)
    (x0, x1) = view.xlim
    for fraction, sign in ((0.3, -1), (0.55, 1)):
        x = x0 + fraction * (x1 - x0)
        point = (x, sign * math.sqrt(max(model.f(x), 0.0)))
        real.click(*point, touch=touch)
        wait_readout(page, "real", lambda r, x=x: any(abs(p[0] - x) < 0.15
                                                        for p in (r["P"], r["Q"])),
                     f"a point at x = {x:.2f}")


@pytest.mark.parametrize("device", list(SIZES))
def test_points_follow_clicks_taps_and_drags_on_both_pictures(dashboard, device):
    engine, url = dashboard
    width, height = SIZES[device]
    touch = device == "phone"
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          has_touch=touch)
            page = context.new_page()
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url)
            for which in ("real", "field"):
                expect(page.locator(f".ecc-touch-{which} img.ecc-touch-over[src]")).to_have_count(
                    1, timeout=APP_READY_MS)
            curve_name = dropdown(page, "Curve").input_value()
            check_field(page, touch)
            check_real(page, curve_name, touch)
            pose(page, curve_name, touch)
            screenshot(page, f"touch-{engine}-{device}.png",
                       element=page.locator(".ecc-touch-field" if touch else ".ecc-touch-real"))
            assert requests and not elsewhere(requests, url), elsewhere(requests, url)
        finally:
            browser.close()


def test_points_follow_clicks_and_drags_in_jupyterlab(tmp_path):
    require_binary("chromium")
    root = tmp_path / "lab"
    root.mkdir()
    source = ("from ecc_widgets.panels.curve import CurvePanel\n"
              "from ecc_widgets.session import Session\n"
              "CurvePanel(Session())")
    (root / "touch.ipynb").write_text(json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": source}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))
    with jupyterlab_server(root, env=jupyterlab_settings(tmp_path),
                           log_name="jupyterlab-touch.log") as (base, token), \
            sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(f"{base}/lab/tree/touch.ipynb?token={token}")
            expect(page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\bIdle\b"))
                   ).to_be_visible(timeout=APP_READY_MS)
            run_all_cells(page)
            for which in ("real", "field"):
                expect(page.locator(f".ecc-touch-{which} img.ecc-touch-over[src]")).to_have_count(
                    1, timeout=APP_READY_MS)
            check_field(page, touch=False)
            check_real(page, "P-256", touch=False)
            screenshot(page, "touch-jupyterlab-laptop.png",
                       element=page.locator(".ecc-touch-field"))
            assert requests and not elsewhere(requests, base), elsewhere(requests, base)
        finally:
            browser.close()
