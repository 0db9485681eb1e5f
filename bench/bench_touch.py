"""Benchmark the curve you can touch: how long one move of a dragged point takes to show,
each way the project weighed, side by side in one run (options and engines alternate).

Options (`bench/touch_pages.py`): ``overlay`` (ours: `ecc_widgets.panels.touch`, the curve
drawn once and what moves drawn per move on a transparent overlay) and ``ipympl``
(matplotlib's widget backend, the whole figure redrawn per move) and ``ipympl-blit`` (the
same with matplotlib's blitting: only what moves drawn and sent); the ipympl ones are
measured only where ipympl is installed (`pip install ipympl`): it is not a dependency.
Engines: ``solara`` and ``voila``, each serving a page with that one picture.

JSON lines, machine load (`uptime`'s first figure) in each:

- kernel_move: in this process, without a browser, the drawing work of one move: the old
  way (a whole new figure per move: ``figure_png``), a kept figure drawn again in full
  (``redraw_png``, what ipympl's backend does, plus encoding the PNG), ours (``overlay_png``).
- page_ready: navigation to the picture drawn; requests the page made, their bytes, and any
  that left the server (a CDN: must be none); or why the picture never came.
- move_latency: a point held down and moved `--moves` times over the picture; per move, the
  time from the browser's pointer event to the next picture drawn (an overlay image decoded,
  or a canvas painted: `drawImage`), waiting for each before the next move.
- server_cpu_per_move_ms: CPU seconds the serving process tree spent per move meanwhile.
- phone: at 390x844 with touch, the picture's width, whether the page got wider than the
  screen, and how many pictures were drawn while a finger dragged over it (0: the drag
  does nothing).

    python bench/bench_touch.py --rounds 2 --moves 30 >> bench/touch.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python bench/...` works

from tests.support.browser import elsewhere, launch_chromium, served, tree_cpu  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

TIMEOUT_MS = 120_000
VIEWPORT = {"width": 1400, "height": 1000}
# Every picture drawn (an <img> decoded, a canvas painted) and every pointer move, timed in
# the page itself.
PROBE = """
window.__paints = []; window.__moves = [];
const drawImage = CanvasRenderingContext2D.prototype.drawImage;
CanvasRenderingContext2D.prototype.drawImage = function (...args) {
  window.__paints.push(performance.now()); return drawImage.apply(this, args); };
document.addEventListener("load", (e) => {
  if (e.target && e.target.tagName === "IMG") window.__paints.push(performance.now()); }, true);
window.addEventListener("pointermove", () => window.__moves.push(performance.now()), true);
"""
SELECTORS = {"overlay": ".ecc-touch-real .ecc-touch-box", "ipympl": ".bench-ipympl canvas",
             "ipympl-blit": ".bench-ipympl canvas"}
READY = {"overlay": ".ecc-touch-real img.ecc-touch-over[src]", "ipympl": ".bench-ipympl canvas",
         "ipympl-blit": ".bench-ipympl canvas"}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def report(name: str, samples_ms: list[float] | None = None, **extra) -> None:
    line: dict = {"bench": name}
    if samples_ms:
        ms = sorted(samples_ms)
        line.update(n=len(ms), median_ms=round(statistics.median(ms), 1),
                    p90_ms=round(ms[min(len(ms) - 1, int(len(ms) * 0.9))], 1),
                    min_ms=round(ms[0], 1), max_ms=round(ms[-1], 1))
    print(json.dumps({**line, **extra, "load": load()}), flush=True)


def has_ipympl() -> bool:
    try:
        import ipympl  # noqa: F401
    except ImportError:
        return False
    return True


# --- the drawing work alone ----------------------------------------------------------------

def bench_kernel(moves: int) -> None:
    from ecc_widgets import plots
    from ecc_widgets.curves import get_curve

    model = plots.real_model(get_curve("secp256k1"))
    fig, view = plots.real_background(model)
    Q = plots.real_points(model)[8]
    targets = [plots.nearest_real_point(model, view, *view.to_data(0.2 + 0.6 * i / moves, 0.3))
               for i in range(moves)]
    overlay = plots.Overlay(view)
    ax, kept = fig.axes[0], []

    def redraw(P):
        for artist in kept:
            artist.remove()
        before = set(ax.get_children())
        plots._draw_real_sum(ax, model, P, Q, overlay.colours, view.xlim, labels=False)
        kept[:] = [a for a in ax.get_children() if a not in before]
        return plots.to_png(fig)

    ways = {
        "figure_png": lambda P: plots.to_png(plots.real_addition_figure(model, P, Q)),
        "redraw_png": redraw,
        "overlay_png": lambda P: (plots.real_overlay(overlay, model, P, Q), overlay.png()),
    }
    for name, way in ways.items():
        samples = []
        for P in targets:
            start = time.perf_counter()
            way(P)
            samples.append((time.perf_counter() - start) * 1000)
        report("kernel_move", samples, way=name)


# --- in the browser ------------------------------------------------------------------------

def server(engine: str, option: str, port: int, folder: Path) -> tuple[list[str], dict]:
    env = {"PYTHONPATH": str(ROOT), "TOUCH_OPTION": option}
    if engine == "solara":
        env["SOLARA_APP"] = "bench.touch_pages"
        return [sys.executable, "-m", "ecc_widgets.solara_serving", f"--port={port}"], env
    notebook = folder / f"touch-{option}.ipynb"
    source = f"from bench.touch_pages import page\npage({option!r})"
    notebook.write_text(json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": source}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))
    return [sys.executable, "-m", "ecc_widgets.serving", str(notebook), "--no-browser",
            f"--port={port}", "--Voila.ip=127.0.0.1"], env


def one_round(pw, engine: str, option: str, round_: int, args, folder: Path) -> None:
    port = free_port()
    command, env = server(engine, option, port, folder)
    tags = {"engine": engine, "option": option, "round": round_}
    with served(command, port, f"bench-touch-{engine}-{option}.log", env=env) as pid:
        url = f"http://127.0.0.1:{port}/"
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.add_init_script(PROBE)
            page = context.new_page()
            requests, sizes = [], []
            page.on("request", lambda r: requests.append(r.url))
            page.on("response", lambda r: sizes.append(int(r.headers.get("content-length", 0))))
            page.goto(url, wait_until="commit")
            try:
                page.wait_for_selector(READY[option], timeout=args.ready_ms)
            except Exception as exc:  # noqa: BLE001 - a picture that never came is a result
                report("page_ready", **tags, ready=False, requests=len(requests),
                       off_host=elsewhere(requests, url)[:5], error=str(exc).split("\n")[0])
                return
            ready = page.evaluate("() => performance.now()")
            page.wait_for_timeout(1500)  # the first pictures settle
            report("page_ready", **tags, ready=True, ready_ms=round(ready, 1),
                   requests=len(requests), kb=round(sum(sizes) / 1024, 1),
                   off_host=elsewhere(requests, url)[:5])
            target = page.locator(SELECTORS[option]).last
            target.scroll_into_view_if_needed()
            box = target.bounding_box()
            mouse = page.mouse
            mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"])
            mouse.down()
            page.wait_for_timeout(500)
            latencies, cpu = [], tree_cpu(pid)
            for i in range(args.moves):
                fx = 0.2 + 0.6 * ((i * 7) % args.moves) / args.moves
                mouse.move(box["x"] + fx * box["width"], box["y"] + 0.3 * box["height"])
                moved = page.evaluate("() => window.__moves.at(-1)")
                try:
                    page.wait_for_function("(t) => window.__paints.some(p => p > t)",
                                           arg=moved, timeout=10_000)
                except Exception:  # noqa: BLE001 - counted as lost
                    continue
                painted = page.evaluate("(t) => window.__paints.find(p => p > t)", moved)
                latencies.append(painted - moved)
                page.wait_for_timeout(60)  # let a late second paint land before the next move
            spent = tree_cpu(pid) - cpu
            mouse.up()
            report("move_latency", latencies, **tags, moves=args.moves,
                   lost=args.moves - len(latencies),
                   server_cpu_per_move_ms=round(spent / args.moves * 1000, 1))
            phone(browser, url, option, tags)
        finally:
            browser.close()


def phone(browser, url: str, option: str, tags: dict) -> None:
    """On a phone (390x844, touch): does the picture fit the screen, and does a finger
    dragging over it move the point (pictures drawn during the drag)?"""
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True)
    context.add_init_script(PROBE)
    page = context.new_page()
    page.goto(url, wait_until="commit")
    page.wait_for_selector(READY[option], timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)
    target = page.locator(SELECTORS[option]).last
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    cdp = context.new_cdp_session(page)
    y = box["y"] + 0.3 * box["height"]
    before = page.evaluate("() => window.__paints.length")

    def touch(kind: str, x: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": x, "y": y}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", box["x"] + 0.3 * box["width"])
    for i in range(1, 11):
        touch("touchMove", box["x"] + (0.3 + 0.04 * i) * box["width"])
        page.wait_for_timeout(100)
    touch("touchEnd", 0)
    page.wait_for_timeout(1500)
    report("phone", **tags, picture_width=round(box["width"]),
           page_wider_than_screen=page.evaluate(
               "() => document.documentElement.scrollWidth > window.innerWidth"),
           pictures_drawn_during_touch_drag=page.evaluate("() => window.__paints.length")
           - before)
    context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="solara,voila")
    parser.add_argument("--options", default="overlay,ipympl,ipympl-blit")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--ready-ms", type=int, default=60_000,
                        help="how long a page may take to draw its picture")
    parser.add_argument("--no-browser", action="store_true", help="kernel_move only")
    args = parser.parse_args(argv)
    report("machine", cpus=os.cpu_count(), ipympl=has_ipympl())
    bench_kernel(args.moves)
    if args.no_browser:
        return 0
    options = [o for o in args.options.split(",")
               if not o.startswith("ipympl") or has_ipympl()]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, tempfile.TemporaryDirectory() as folder:
        for round_ in range(1, args.rounds + 1):
            for engine in args.engines.split(","):
                for option in options:
                    one_round(pw, engine, option, round_, args, Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
