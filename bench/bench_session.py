"""Session latency: from `send()` on one session to the decrypted message in the other's model.

Starts a local relay on a free port (its per-connection rate limit raised, since one sender
here streams thousands of events), joins two sessions, exchanges keys, then sends messages
and times each one until it appears, decrypted and authenticated, in the receiver's
`conversations`. Prints one JSON line per run: p50/p99/mean latency in milliseconds,
messages per second, and the count lost or duplicated (both must be 0).

    python bench/bench_session.py [--messages 3000] [--window 1 16] [--curve P-256]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/...` works

from ecc_widgets.session import Session  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402
from tests.support.processes import RelayProcess  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(url: str, *, messages: int, window: int, curve: str, size: int, room: str) -> dict:
    sender, receiver = Session(), Session()
    arrived: dict[str, float] = {}
    counts = {"in": 0, "duplicates": 0}
    done = threading.Condition()

    def on_conversations(change) -> None:
        incoming = change["new"].get("alice", ())
        if len(incoming) > counts["in"]:
            now = time.perf_counter()
            with done:
                for message in incoming[counts["in"]:]:
                    if message.status == "received" and message.authenticated:
                        if message.id in arrived:
                            counts["duplicates"] += 1
                        else:
                            arrived[message.id] = now
                counts["in"] = len(incoming)
                done.notify_all()

    try:
        sender.join("alice", room, url)
        receiver.join("bob", room, url)
        wait_until(lambda: "bob" in sender.peers and "alice" in receiver.peers, 20,
                   what="the roster")
        for s in (sender, receiver):
            s.select_curve(curve)
            s.generate_keys()
        sender.share_key("bob")
        wait_until(lambda: "secure" in sender.peers["bob"].statuses
                   and "secure" in receiver.peers["alice"].statuses, 20, what="key exchange")
        receiver.observe(on_conversations, names="conversations")
        text = "m" * size
        sent_at: dict[str, float] = {}
        order: list[str] = []
        started = time.perf_counter()
        for i in range(messages):
            with done:
                # keep at most `window` messages in flight
                if not done.wait_for(lambda: len(order) - len(arrived) < window, timeout=30):
                    raise TimeoutError(f"message {i} never left the window")
            t0 = time.perf_counter()
            message = sender.send("bob", text)
            sent_at[message.id] = t0
            order.append(message.id)
        with done:
            done.wait_for(lambda: all(m in arrived for m in order), timeout=60)
        elapsed = time.perf_counter() - started
        latencies = [(arrived[m] - sent_at[m]) * 1000 for m in order if m in arrived]
        shown = [m.id for m in receiver.conversations.get("alice", ()) if m.direction == "in"]
        return {
            "bench": "session_send_to_model", "curve": curve, "messages": messages,
            "window": window, "plaintext_bytes": size,
            "p50_ms": round(percentile(latencies, 0.50), 3),
            "p99_ms": round(percentile(latencies, 0.99), 3),
            "mean_ms": round(statistics.fmean(latencies), 3),
            "msgs_per_s": round(len(latencies) / elapsed, 1),
            "lost": messages - len(latencies),
            "duplicates": counts["duplicates"] + len(shown) - len(set(shown)),
        }
    finally:
        sender.close()
        receiver.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--window", type=int, nargs="+", default=[1, 16],
                        help="messages in flight at once (1 = pure latency)")
    parser.add_argument("--curve", default="P-256")
    parser.add_argument("--size", type=int, default=200, help="plaintext bytes per message")
    parser.add_argument("--relay-url", help="use this relay instead of starting one")
    args = parser.parse_args(argv)
    relay = None
    url = args.relay_url
    if url is None:
        # the per-connection rate limit raised: one sender here streams thousands of events
        relay = RelayProcess("--rate", "1000000", "--burst", "1000000",
                             "--log-level", "warning", log=Path(os.devnull)).start()
        url = relay.url
    try:
        for n, window in enumerate(args.window):
            result = run(url, messages=args.messages, window=window, curve=args.curve,
                         size=args.size, room=f"bench-{os.getpid()}-{n}")
            print(json.dumps(result), flush=True)
    finally:
        if relay is not None:
            relay.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
