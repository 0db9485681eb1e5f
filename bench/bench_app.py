"""Benchmark the app: build it, redraw the curve plot, and generate keys with playback
set to instant (from the click on "Generate keys" to the keys on screen).

No relay is needed: the session is built without connecting. Prints one JSON line per
measurement (milliseconds), e.g. ``{"bench": "app_build", "median_ms": ..., ...}``.
"""

from __future__ import annotations

import json
import statistics
import time

from ecc_widgets import plots
from ecc_widgets.app import EccApp
from ecc_widgets.session import Session


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
                   plots.field_points):
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


def main() -> None:
    bench_build(rounds=10)
    bench_redraw(rounds=10)
    bench_keygen(rounds=10)


if __name__ == "__main__":
    main()
