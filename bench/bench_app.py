"""Benchmark the app: build it, redraw the curve plot, and generate keys with playback
set to instant (from the click on "Generate keys" to the keys on screen); and what the
first paint costs, before and after (``--first-paint``, ``--browser``).

No relay is needed: the session is built without connecting. Prints one JSON line per
measurement (milliseconds), e.g. ``{"bench": "app_build", "median_ms": ..., ...}``.

First paint, for this checkout and another (``--before``, e.g. the main branch), A B A B:

- ``first_paint_state`` (headless, a fresh process each): the widget models and bytes a
  browser is sent for the first screen (what ipywidgets' ``request_states`` answers: every
  model's full state and its binary buffers), the process RSS, the import time
  (``python -X importtime``) and whether numpy, matplotlib and cryptography were imported;
  the same after the first sight (the curve's pictures) and after every tab was opened.
- ``first_usable_browser`` (``--browser``; Voila and Debian's chromium): from navigation
  to "Your name" editable, and the websocket frames and bytes received until then.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/...` works

from ecc_widgets import plots  # noqa: E402
from ecc_widgets.app import EccApp  # noqa: E402
from ecc_widgets.session import Session  # noqa: E402

HERE = Path(__file__).resolve().parent.parent
# Run in a fresh interpreter with the checkout to measure first on its path.
STATE_PROBE = r"""
import json, resource, sys, time
start = time.perf_counter()
from ipywidgets.widgets.widget import _instances, _remove_buffers
from ecc_widgets.app import EccApp

def sent():
    state = {w.model_id: {"model_name": w._model_name, "model_module": w._model_module,
                          "model_module_version": w._model_module_version,
                          "state": w.get_state()}
             for w in list(_instances.values())}
    state, paths, buffers = _remove_buffers(state)
    return {"models": len(state),
            "bytes": len(json.dumps({"method": "update_states", "states": state,
                                     "buffer_paths": paths})) + sum(map(len, buffers))}

def rss_mb():
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return round(kb / 1024, 1)

app = EccApp()
built = time.perf_counter() - start
out = {"first": sent(), "build_ms": round(built * 1000, 1), "rss_mb": rss_mb(),
       "imported": [m for m in ("numpy", "matplotlib", "cryptography") if m in sys.modules]}
probe = getattr(app, "first_sight", None)
if probe is not None:
    probe.probe.value = probe.probe.step  # what the browser's link does
out["seen"] = sent()
out["seen_rss_mb"] = rss_mb()
for title in ("Curve", "Keys", "Numbers", "Log", "What the relay sees"):
    app.show_step(title)
out["all_tabs"] = sent()
print(json.dumps(out))
"""


def report(name: str, samples: list[float], **extra) -> None:
    ms = sorted(s * 1000 for s in samples)
    print(json.dumps({
        "bench": name,
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p90_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.9))], 3),
        "min_ms": round(ms[0], 3),
        **extra,
    }), flush=True)


def clear_plot_caches() -> None:
    for cached in (plots.real_addition_png, plots.field_png, plots.path_png,
                   plots.field_points, plots.real_background_png, plots.field_background_png,
                   plots.shared_overlay):
        cached.cache_clear()


def bench_build(rounds: int) -> None:
    samples = []
    for _ in range(rounds):
        clear_plot_caches()
        session = Session()
        start = time.perf_counter()
        app = EccApp(session)
        samples.append(time.perf_counter() - start)
        app.close()
        session.close()
    report("app_build", samples, note="EccApp(session) with cold plot caches")


def bench_redraw(rounds: int) -> None:
    session = Session()
    app = EccApp(session)
    app.show_step("Curve")  # the pictures are drawn when shown
    panel = app.curve_panel
    cold, warm, slider = [], [], []
    names = ["toy-97", "secp256k1"]
    for i in range(rounds):
        clear_plot_caches()
        start = time.perf_counter()
        panel.dropdown.value = names[i % 2]
        cold.append(time.perf_counter() - start)
    for i in range(rounds):
        start = time.perf_counter()
        panel.dropdown.value = names[i % 2]
        warm.append(time.perf_counter() - start)
    for i in range(rounds):
        clear_plot_caches()
        start = time.perf_counter()
        panel.real_q.value = (panel.real_q.value + 1 + i) % (panel.real_q.max + 1)
        slider.append(time.perf_counter() - start)
    report("curve_redraw_cold", cold, note="curve change, both plots rendered anew")
    report("curve_redraw_cached", warm, note="curve change, plots from the cache")
    report("real_plot_redraw", slider, note="moving Q: only the real-number plot redraws")
    app.close()
    session.close()


def bench_keygen(rounds: int) -> None:
    for curve in ("P-256", "P-521", "secp256k1", "X25519"):
        session = Session()
        app = EccApp(session)
        app.curve_panel.dropdown.value = curve
        app.keys_panel.speed.value = "instant"
        samples = []
        for _ in range(rounds):
            app.keys_panel.public.value = ""
            start = time.perf_counter()
            app.keys_panel.generate.click()
            if not app.keys_panel.public.value:
                raise RuntimeError(f"keys not displayed on {curve}: {app.keys_panel.error.value}")
            samples.append(time.perf_counter() - start)
        report("generate_keys_instant", samples, curve=curve,
               note='click "Generate keys" to keys displayed, speed instant')
        app.close()
        session.close()


def _env(checkout: Path) -> dict:
    """This interpreter, with `checkout`'s ecc_widgets first on the path."""
    return {**os.environ, "PYTHONPATH": str(checkout)}


def import_ms(checkout: Path) -> dict:
    """`python -X importtime` of the first screen (import the app, build it): the app
    module's cumulative import time, and the time spent in numpy's, matplotlib's and
    cryptography's own modules (the sum of their self times; 0 when not imported)."""
    code = "from ecc_widgets.app import EccApp; EccApp()"
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd="/",
                         env=_env(checkout), capture_output=True, text=True, check=True).stderr
    out = {"app_import_ms": 0.0, "numpy_import_ms": 0.0, "matplotlib_import_ms": 0.0,
           "cryptography_import_ms": 0.0}
    for line in err.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| *(\S+)$", line)
        if not found:
            continue
        own, total, name = int(found.group(1)), int(found.group(2)), found.group(3)
        if name == "ecc_widgets.app":
            out["app_import_ms"] = round(total / 1000, 1)
        package = name.split(".")[0]
        if f"{package}_import_ms" in out:
            out[f"{package}_import_ms"] = round(out[f"{package}_import_ms"] + own / 1000, 1)
    return out


def first_paint_state(checkout: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", STATE_PROBE], cwd="/", env=_env(checkout),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_first_paint(checkouts: dict[str, Path], rounds: int) -> None:
    for _ in range(rounds):
        for label, checkout in checkouts.items():  # A B A B
            print(json.dumps({"bench": "first_paint_state", "checkout": label,
                              **first_paint_state(checkout), **import_ms(checkout),
                              "load": os.getloadavg()[0]}), flush=True)


def bench_first_usable_browser(checkouts: dict[str, Path], rounds: int,
                               engines: tuple[str, ...]) -> None:
    """Each checkout's dashboard served by `ecc-lab` with each engine, all servers up at
    once, page loads alternating (A B A B); per load, the ms from navigation to "Your name"
    editable and the websocket frames and bytes received until then. A server's first page
    (it imports the app) is reported apart, as `cold`."""
    import contextlib

    from playwright.sync_api import sync_playwright

    from bench.bench_browser import close_page, open_page, server_command, usable_ms
    from tests.support.browser import launch_chromium, served
    from tests.support.processes import RelayProcess, free_port

    def load(browser, url: str) -> dict:
        frames = {"n": 0, "bytes": 0, "usable": False}

        def count(payload) -> None:
            if not frames["usable"]:
                frames["n"] += 1
                frames["bytes"] += len(payload)

        page = open_page(browser, url)
        page.on("websocket", lambda ws: ws.on("framereceived", count))
        try:
            ms = round(usable_ms(page), 1)
        except AssertionError:  # never usable within the timeout: counted as lost
            ms = None
        frames["usable"] = True
        close_page(page)
        return {"ms": ms, "frames": frames["n"], "bytes": frames["bytes"]}

    relay = RelayProcess().start()
    try:
        with sync_playwright() as pw, contextlib.ExitStack() as stack:  # the browser first
            urls = {}
            for engine in engines:
                for label, checkout in checkouts.items():
                    port = free_port()
                    saved = os.environ.get("PYTHONPATH")
                    os.environ["PYTHONPATH"] = str(checkout)  # the server's code is this one's
                    try:
                        stack.enter_context(served(
                            server_command(engine, port, relay.url, pool=1), port,
                            f"bench-app-{engine}-{label}.log"))
                    finally:
                        if saved is None:
                            os.environ.pop("PYTHONPATH", None)
                        else:
                            os.environ["PYTHONPATH"] = saved
                    urls[engine, label] = f"http://127.0.0.1:{port}/"
            browser = launch_chromium(pw)
            stack.callback(browser.close)
            samples: dict[tuple[str, str], list[dict]] = {key: [] for key in urls}
            for round_ in range(rounds + 1):
                for (engine, label), url in urls.items():  # A B A B
                    sample = load(browser, url)
                    print(json.dumps({"bench": "first_usable_browser_load", "engine": engine,
                                      "checkout": label, "cold": round_ == 0, **sample,
                                      "load": round(os.getloadavg()[0], 2)}), flush=True)
                    if round_:
                        samples[engine, label].append(sample)
            for (engine, label), every in samples.items():
                got = [g for g in every if g["ms"] is not None] or [{"ms": 0, "frames": 0,
                                                                     "bytes": 0}]
                report("first_usable_browser", [g["ms"] / 1000 for g in got], engine=engine,
                       lost=sum(g["ms"] is None for g in every),
                       checkout=label, frames=statistics.median(g["frames"] for g in got),
                       bytes=statistics.median(g["bytes"] for g in got),
                       load=round(os.getloadavg()[0], 2),
                       note='warm server: navigation to "Your name" editable, 1400x1000')
    finally:
        relay.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first-paint", action="store_true",
                        help="only the first-paint figures (headless)")
    parser.add_argument("--browser", action="store_true",
                        help="with --first-paint: also in Voila and chromium")
    parser.add_argument("--before", type=Path, default=None,
                        help="another checkout to compare with (e.g. the main branch)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", default="solara,voila",
                        help="with --browser: the ecc-lab engines, comma-separated")
    args = parser.parse_args(argv)
    if args.first_paint:
        checkouts = {"after": HERE}
        if args.before is not None:
            checkouts = {"before": args.before.resolve(), **checkouts}
        bench_first_paint(checkouts, args.rounds)
        if args.browser:
            bench_first_usable_browser(checkouts, args.rounds,
                                       tuple(args.engines.split(",")))
        return
    bench_build(rounds=10)
    bench_redraw(rounds=10)
    bench_keygen(rounds=10)


if __name__ == "__main__":
    main()
