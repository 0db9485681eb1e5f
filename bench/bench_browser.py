"""Benchmark the dashboard in a real browser (Debian's chromium through Playwright).

- dashboard_first_interactive: from navigating to the Voila page to the first widget that
  takes input ("Your name" editable): kernel start, the notebook run, widgets rendered.
- send_to_displayed: between two pages joined in one room with keys shared, from the Enter
  key pressed in one page's "Message" box to the decrypted text appearing in the other page
  (Voila kernel, encryption, relay, the other kernel, widget update, DOM). Both ends are
  timestamped inside the one browser (a keydown listener, a MutationObserver), so the
  harness's own polling does not count.

Prints one JSON line per measurement (milliseconds). Needs chromium; starts its own relay
and Voila server on free loopback ports.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/...` works

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.support import ROOT  # noqa: E402
from tests.support.browser import (  # noqa: E402
    button,
    launch_chromium,
    open_step,
    text_box,
    voila_server,
)
from tests.support.processes import RelayProcess  # noqa: E402

DASHBOARD = ROOT / "notebooks" / "dashboard.ipynb"
TIMEOUT_MS = 120_000

# Records when the Enter key goes down in the message box (capture phase: before the widget).
SENDER_PROBE = """() => {
  window.__sent = {};
  document.addEventListener('keydown', (e) => {
    const box = e.target;
    if (e.key === 'Enter' && box.placeholder === 'Message') window.__sent[box.value] = Date.now();
  }, true);
}"""
# Records when each awaited text first appears anywhere in the page.
RECEIVER_PROBE = """() => {
  window.__wanted = new Set();
  window.__seen = {};
  new MutationObserver(() => {
    if (!window.__wanted.size) return;
    const text = document.body.textContent;
    for (const w of [...window.__wanted]) {
      if (text.includes(w)) { window.__seen[w] = Date.now(); window.__wanted.delete(w); }
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(q * (len(sorted_ms) - 1)))]


def report(name: str, samples_ms: list[float], **extra) -> None:
    ms = sorted(samples_ms)
    print(json.dumps({
        "bench": name,
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(percentile(ms, 0.90), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "min_ms": round(ms[0], 1),
        "max_ms": round(ms[-1], 1),
        **extra,
    }), flush=True)


def open_dashboard(context, url: str) -> tuple[object, float]:
    """A new page on the dashboard and the ms until its first widget takes input."""
    page = context.new_page()
    page.goto(url, wait_until="commit")
    start = page.evaluate("() => performance.timeOrigin")
    expect(text_box(page, "Your name")).to_be_editable(timeout=TIMEOUT_MS)
    ready = page.evaluate("() => performance.timeOrigin + performance.now()")
    return page, ready - start


def pair_up(alice, bob, room: str) -> None:
    for page, name in ((alice, "alice"), (bob, "bob")):
        text_box(page, "Your name").fill(name)
        text_box(page, "Room").fill(room)
        button(page, "Join").click()
        expect(page.locator(".widget-html", has_text=f"as {name} in room {room}")
               ).to_be_visible(timeout=TIMEOUT_MS)
    for page in (alice, bob):
        open_step(page, "Keys")  # a dashboard in tabs; one without shows every step
        button(page, "instant").click()
        button(page, "Generate keys").click()
    card = alice.locator(".widget-vbox").filter(has=button(alice, "Share key")).last
    expect(card.get_by_text("keys generated")).to_be_visible(timeout=TIMEOUT_MS)
    button(card, "Share key").click()
    for page in (alice, bob):
        expect(page.get_by_text("secure", exact=True)).to_be_visible(timeout=TIMEOUT_MS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=3, help="dashboard page loads to time")
    parser.add_argument("--messages", type=int, default=50, help="messages to time")
    args = parser.parse_args(argv)

    relay = RelayProcess().start()
    try:
        with voila_server(DASHBOARD, env={"ECC_RELAY_URL": relay.url},
                          log_name="voila-bench.log") as url, sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                loads = []
                for _ in range(args.loads):
                    page, ms = open_dashboard(context, url)
                    loads.append(ms)
                    page.close()
                report("dashboard_first_interactive", loads)

                (alice, _), (bob, _) = open_dashboard(context, url), open_dashboard(context, url)
                pair_up(alice, bob, f"bench-{secrets.token_hex(3)}")
                alice.evaluate(SENDER_PROBE)
                bob.evaluate(RECEIVER_PROBE)
                box = text_box(alice, "Message")
                latencies = []
                for i in range(args.messages):
                    text = f"bench message {i} {secrets.token_hex(4)}"
                    bob.evaluate("(w) => window.__wanted.add(w)", text)
                    box.fill(text)
                    box.press("Enter")
                    bob.wait_for_function("(w) => w in window.__seen", arg=text,
                                          timeout=TIMEOUT_MS)
                    sent = alice.evaluate("(w) => window.__sent[w]", text)
                    seen = bob.evaluate("(w) => window.__seen[w]", text)
                    latencies.append(seen - sent)
                    # The kernel empties the box after sending; typing before that lands
                    # would be wiped by it.
                    expect(box).to_have_value("", timeout=TIMEOUT_MS)
                report("send_to_displayed", latencies, curve="P-256")
            finally:
                browser.close()
    finally:
        relay.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
