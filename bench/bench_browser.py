"""Benchmark the dashboard in a real browser (Debian's chromium through Playwright), served
each way a class could be served, side by side: the engines alternate round by round
(A B A B), each round on a fresh server started as a teacher would (`ecc-lab`).

Engines: ``solara`` (ecc-lab's default: every page in one process), ``voila`` (a kernel per
page, `ecc-lab --engine voila`), ``voila-preheat`` (Voila with a pool of kernels that have
already run the dashboard; Voila refuses a pre-launch hook with it, so it runs without
ecc-lab's serving settings: a measurement, not an option ecc-lab offers) and, with
``--before DIR``, ``before``: another checkout's `ecc-lab` as it serves by default (for a
before/after in one run).

Per engine and round, one JSON line each:

- first_usable: navigation to the "Your name" box taking input, one page at a time on a
  warm server (`--loads` pages; the server's first page, which imports the app, apart as
  `cold_ms`).
- class_burst: `--burst` pages opened at once, each its own browser context: the time until
  the last is usable, and how many never were (`lost`); and the CPU seconds the serving
  process tree spent per page meanwhile (`server_cpu_per_page_s`): the browser shares this
  machine's two cores in the benchmark, while in a class each page renders on a student's
  own device, so this is the part the teacher's laptop pays.
- memory_per_student: RSS of the whole serving process tree after one page joined a room
  and made keys, and after all the burst's pages did; the difference per extra page.
- send_to_displayed: two of the pages chatting, from the Enter key in one page's message
  box to the decrypted text appearing in the other (timestamped inside the browser); with
  `--message-versions ratchet,static` each round runs once per version (the server's
  pages speak it: $ECC_MESSAGE_VERSION), alternating, so the two are in one run.

Machine load (os.getloadavg) is in every line. Needs chromium; starts its own relay.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/...` works

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from ecc_widgets.envelope import BY_NAME  # noqa: E402
from ecc_widgets.session.model import MESSAGE_VERSION_ENV  # noqa: E402
from tests.support.browser import (  # noqa: E402
    DASHBOARD,
    join,
    launch_chromium,
    make_keys,
    peer_card,
    served,
    text_box,
    tree_cpu,
    tree_rss,
)
from tests.support.processes import RelayProcess, free_port  # noqa: E402

ENGINES = ("solara", "voila", "voila-preheat")
TIMEOUT_MS = 120_000
VIEWPORT = {"width": 1400, "height": 1000}

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


def server_command(engine: str, port: int, relay_url: str, pool: int) -> list[str]:
    if engine == "before":
        return [sys.executable, "-m", "ecc_widgets.lab", f"--port={port}",
                f"--relay-url={relay_url}"]
    if engine == "voila-preheat":
        return [sys.executable, "-m", "voila", str(DASHBOARD), "--no-browser",
                f"--port={port}", "--Voila.ip=127.0.0.1", "--preheat_kernel=True",
                f"--pool_size={pool}", "--Voila.log_level=WARN"]
    return [sys.executable, "-m", "ecc_widgets.lab", f"--engine={engine}", f"--port={port}",
            f"--relay-url={relay_url}"]


def load() -> float:
    return round(os.getloadavg()[0], 2)


def report(name: str, engine: str, round_: int, samples_ms: list[float] | None = None,
           **extra) -> None:
    line: dict = {"bench": name, "engine": engine, "round": round_}
    if samples_ms:
        ms = sorted(samples_ms)
        line.update(n=len(ms), median_ms=round(statistics.median(ms), 1),
                    min_ms=round(ms[0], 1), max_ms=round(ms[-1], 1))
    print(json.dumps({**line, **extra, "load": load()}), flush=True)


def usable_ms(page) -> float:
    """ms from the page's navigation to its "Your name" box taking input."""
    expect(text_box(page, "Your name")).to_be_editable(timeout=TIMEOUT_MS)
    return page.evaluate("() => performance.now()")


def open_page(browser, url: str):
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(url, wait_until="commit")
    return page


def close_page(page) -> None:
    # As a tab closes: the unload handlers run (Voila shuts the page's kernel down).
    page.close(run_before_unload=True)
    page.context.close()


def send_to_displayed(alice, bob, messages: int) -> list[float]:
    # the keys are exchanged by themselves once both have made theirs
    expect(peer_card(alice, "bob").get_by_text("secure", exact=True)).to_be_visible(
        timeout=TIMEOUT_MS)
    expect(peer_card(bob, "alice").get_by_text("secure", exact=True)).to_be_visible(
        timeout=TIMEOUT_MS)
    alice.evaluate(SENDER_PROBE)
    bob.evaluate(RECEIVER_PROBE)
    box = text_box(alice, "Message")
    latencies = []
    for i in range(messages):
        text = f"bench message {i} {secrets.token_hex(4)}"
        bob.evaluate("(w) => window.__wanted.add(w)", text)
        box.fill(text)
        box.press("Enter")
        bob.wait_for_function("(w) => w in window.__seen", arg=text, timeout=TIMEOUT_MS)
        latencies.append(bob.evaluate("(w) => window.__seen[w]", text)
                         - alice.evaluate("(w) => window.__sent[w]", text))
        expect(box).to_have_value("", timeout=TIMEOUT_MS)  # the kernel empties it after sending
    return latencies


def one_round(pw, engine: str, round_: int, relay_url: str, args,
              message_version: str = "") -> None:
    port = free_port()
    command = server_command(engine, port, relay_url, pool=args.burst + 1)
    where: dict = {"env": {MESSAGE_VERSION_ENV: message_version}} if message_version else {}
    if engine == "before":  # that checkout's code, run from there
        where = {"cwd": args.before, "env": {"PYTHONPATH": str(args.before)}}
    with served(command, port, f"bench-{engine}.log", **where) as pid:
        url = f"http://127.0.0.1:{port}/"
        browser = launch_chromium(pw)
        try:
            if engine == "voila-preheat":
                time.sleep(args.preheat_wait)  # the pool runs the notebook before it serves
            first = open_page(browser, url)
            cold = usable_ms(first)
            close_page(first)
            loads = []
            for _ in range(args.loads):
                page = open_page(browser, url)
                loads.append(usable_ms(page))
                close_page(page)
            report("first_usable", engine, round_, loads, cold_ms=round(cold, 1))

            room = f"bench-{secrets.token_hex(3)}"
            alice = open_page(browser, url)
            usable_ms(alice)
            join(alice, "alice", room)
            make_keys(alice, TIMEOUT_MS)
            time.sleep(2)
            one = tree_rss(pid)

            start, cpu = time.monotonic(), tree_cpu(pid)
            burst = [open_page(browser, url) for _ in range(args.burst)]
            lost = 0
            for page in burst:
                try:
                    usable_ms(page)
                except AssertionError:
                    lost += 1
            report("class_burst", engine, round_, pages=args.burst, lost=lost,
                   all_usable_ms=round((time.monotonic() - start) * 1000, 1),
                   server_cpu_per_page_s=round((tree_cpu(pid) - cpu) / args.burst, 3))
            if lost:
                return
            for i, page in enumerate(burst):
                join(page, "bob" if i == 0 else f"student{i}", room)
                make_keys(page, TIMEOUT_MS)
            time.sleep(2)
            everyone = tree_rss(pid)
            report("memory_per_student", engine, round_, pages=args.burst + 1,
                   rss_one_mb=round(one / 2**20, 1), rss_all_mb=round(everyone / 2**20, 1),
                   per_extra_student_mb=round((everyone - one) / args.burst / 2**20, 1))
            if args.messages:
                report("send_to_displayed", engine, round_,
                       send_to_displayed(alice, burst[0], args.messages),
                       **({"message_version": message_version} if message_version else {}))
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="solara,voila",
                        help=f"comma-separated, of {', '.join(ENGINES)}")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per engine (A B A B)")
    parser.add_argument("--loads", type=int, default=3, help="single page loads to time")
    parser.add_argument("--burst", type=int, default=10, help="pages opened at once")
    parser.add_argument("--messages", type=int, default=10, help="messages to time")
    parser.add_argument("--before", type=Path, default=None,
                        help="another checkout, served as engine 'before'")
    parser.add_argument("--message-versions", default="",
                        help="comma-separated, of ratchet, static: a round per version")
    parser.add_argument("--preheat-wait", type=float, default=60.0,
                        help="seconds voila-preheat is given to fill its pool")
    args = parser.parse_args(argv)
    engines = args.engines.split(",") + (["before"] if args.before else [])
    unknown = set(engines) - {*ENGINES, "before"}
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")
    versions = args.message_versions.split(",") if args.message_versions else [""]
    if set(versions) - {"", *BY_NAME}:
        parser.error(f"message versions are of {', '.join(BY_NAME)}")

    relay = RelayProcess().start()
    try:
        with sync_playwright() as pw:
            for round_ in range(1, args.rounds + 1):
                for engine in engines:
                    for version in versions:
                        one_round(pw, engine, round_, relay.url, args, version)
    finally:
        relay.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
