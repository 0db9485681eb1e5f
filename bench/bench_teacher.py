"""The teacher's console's cost to the relay: CPU per message with the console open or not.

One relay started with ``--teacher`` carries the pairs scenario of bench/bench_relay.py
(N pairs, each in its own room, streaming messages); the runs alternate between the console
closed and open (a client polling ``GET /teacher/api/rooms`` and ``/log`` every second, as
the page does), on the same relay process, ``--repeat`` rounds, and a relay started without
``--teacher`` is alternated in too. The summary gives each case's median
``relay_cpu_us_per_msg`` (the relay's CPU time per delivered message) and the ratios
open / closed and closed / without the flag; the console's promise is that open stays within
5% of closed. Every run must deliver every message in order.

    python bench/bench_teacher.py                            # 50 pairs, 3000 messages, 5 rounds
    python bench/bench_teacher.py --pairs 100 --repeat 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/...` works

from bench.bench_relay import idle_worker, run_pairs, run_workers  # noqa: E402
from bench.relay_servers import ours  # noqa: E402

TOKEN = "bench-console-token-0123456789"
POLL_EVERY = 1.0   # seconds, as the page polls
KEYS = ("relay_cpu_us_per_msg", "msgs_per_s", "p50_ms", "p99_ms")


def emit_json(record: dict) -> None:
    print(json.dumps({"bench": "teacher", **record}), flush=True)


class Console(threading.Thread):
    """The console page's traffic: its two API calls every second, until stopped."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.polls = 0
        self.students_seen = 0

    def _get(self, path: str) -> dict:
        request = urllib.request.Request(self.url + "/teacher/api/" + path,
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def run(self) -> None:
        while not self.stop.is_set():
            state = self._get("rooms")
            self._get("log")
            self.polls += 1
            self.students_seen = max(self.students_seen, sum(
                len(r["students"]) for r in state["rooms"].values()))
            self.stop.wait(POLL_EVERY)


def measured(server, pairs: int, args, *, console: bool, tag: str) -> dict:
    poller = Console(server.url) if console else None
    if poller is not None:
        poller.start()
    try:
        record = run_pairs(server, pairs, args, tag=tag)
    finally:
        if poller is not None:
            poller.stop.set()
            poller.join(15)
    record["console"] = "open" if console else "closed"
    if poller is not None:
        record["polls"] = poller.polls
        record["students_seen"] = poller.students_seen
    return record


def poll_cost(server, students: int, args, polls: int = 50) -> dict:
    """The relay's CPU per console poll (rooms and log) with ``students`` joined (rooms of
    ten), no other traffic: the console's whole cost, measured directly."""
    measured = {}

    def measure():
        time.sleep(1.0)   # let the joins and the records settle
        console = Console(server.url)
        before = server.cpu_seconds()
        started = time.monotonic()
        for _ in range(polls):
            state = console._get("rooms")
            console._get("log")
        measured["cpu"] = server.cpu_seconds() - before
        measured["seconds"] = time.monotonic() - started
        measured["students"] = sum(len(r["students"]) for r in state["rooms"].values())

    run_workers(idle_worker, server.url, students, args.procs, {}, on_ready=measure)
    return {"scenario": "poll", "students_listed": measured["students"], "polls": polls,
            "relay_cpu_ms_per_poll": round(measured["cpu"] / polls * 1000, 2),
            "ms_per_poll_wall": round(measured["seconds"] / polls * 1000, 2),
            "load1": round(os.getloadavg()[0], 2)}


def live_latency(changes: int = 40) -> dict:
    """Seconds from a change (a curve chosen, acknowledged) to relay one's console showing
    it, for students on relay one and on relay two, over one redis-server."""
    from bench.relay_servers import start_redis
    from tests.support.sessions import RawPeer

    redis = start_redis()
    relays = [ours("--teacher", "--redis-url", redis.url) for _ in range(2)]
    peers = []
    try:
        for relay in relays:
            relay.env["ECC_RELAY_TEACHER_TOKEN"] = TOKEN
            relay.start()
        peers = [RawPeer(relays[i % 2].url, f"s{i}", "live") for i in range(20)]
        console = Console(relays[0].url)
        seen: dict[str, list[float]] = {"same relay": [], "other relay": []}
        for k in range(changes):
            peer = peers[k % len(peers)]
            curve = ("P-256", "P-384")[k // len(peers) % 2]
            peer.emit("curve-selected", {"curve": curve})
            started = time.monotonic()
            while True:
                rows = console._get("rooms")["rooms"]["live"]["students"]
                if any(r["name"] == peer.name and r["curve"] == curve for r in rows):
                    break
                if time.monotonic() - started > 10:
                    raise TimeoutError(f"{peer.name}'s curve never showed")
                time.sleep(0.005)
            seen["same relay" if k % 2 == 0 else "other relay"].append(
                time.monotonic() - started)
        return {"scenario": "live", "changes": changes, **{
            where: {"median_s": round(statistics.median(v), 3),
                    "max_s": round(max(v), 3)} for where, v in seen.items()},
            "load1": round(os.getloadavg()[0], 2)}
    finally:
        for peer in peers:
            peer.close()
        for relay in relays:
            relay.stop()
        redis.stop()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=50)
    p.add_argument("--messages", type=int, default=3000, help="messages per sender")
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--size", type=int, default=300)
    p.add_argument("--procs", type=int, default=2, help="load generator processes")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--students", type=int, default=200,
                   help="students joined for the direct cost of one poll")
    p.add_argument("--live-only", action="store_true",
                   help="only how soon a change shows on the console, over two relays")
    args = p.parse_args(argv)
    emit_json({"live": live_latency()})
    if args.live_only:
        return 0
    emit_json({"setup": {"cpus": os.cpu_count(), "load1": os.getloadavg()[0],
                         "pairs": args.pairs, "messages": args.messages,
                         "python": sys.version.split()[0]}})

    teacher = ours("--teacher")
    teacher.env["ECC_RELAY_TEACHER_TOKEN"] = TOKEN
    plain = ours()
    records: dict[str, list[dict]] = {"closed": [], "open": [], "no-flag": []}
    try:
        teacher.start()
        plain.start()
        for server in (teacher, plain):   # warm up
            run_pairs(server, args.pairs, argparse.Namespace(**{**vars(args),
                                                                "messages": 300}),
                      tag="warm-")
        for round_ in range(args.repeat):
            cases = ("closed", "open", "no-flag")   # each case first, second, last in turn
            for case in cases[round_ % 3:] + cases[:round_ % 3]:
                server = plain if case == "no-flag" else teacher
                record = measured(server, args.pairs, args, console=case == "open",
                                  tag=f"r{round_}{case}-")
                record["case"] = case
                records[case].append(record)
                emit_json({**record, "run": round_ + 1})
        poll = poll_cost(teacher, args.students, args)
        emit_json(poll)
    finally:
        teacher.stop()
        plain.stop()

    flawed = [f"{case} run {i}: {r['lost']} lost, {r['out_of_order']} out of order"
              for case, runs in records.items() for i, r in enumerate(runs, 1)
              if r["lost"] or r["out_of_order"]]
    medians = {case: {key: round(statistics.median(r[key] for r in runs), 2) for key in KEYS}
               for case, runs in records.items()}
    for case, runs in records.items():
        values = [r["relay_cpu_us_per_msg"] for r in runs]
        medians[case]["relay_cpu_us_per_msg_range"] = [min(values), max(values)]
    cpu = {case: m["relay_cpu_us_per_msg"] for case, m in medians.items()}
    out = {"scenario": "console", "pairs": args.pairs, "median": medians,
           "load1_after": round(os.getloadavg()[0], 2)}
    if flawed:
        out["ratio"] = None
        out["ratio_refused"] = "; ".join(flawed)
    else:
        out["ratio"] = {"open_over_closed": round(cpu["open"] / cpu["closed"], 3),
                        "closed_over_no_flag": round(cpu["closed"] / cpu["no-flag"], 3)}
        out["within_5_percent"] = cpu["open"] <= 1.05 * cpu["closed"]
    # the direct figure: one poll a second, against the relay's CPU at the closed runs' rate
    busy = cpu["closed"] * 1e-6 * medians["closed"]["msgs_per_s"]   # CPU s per second
    out["poll_share_of_relay_cpu"] = round(poll["relay_cpu_ms_per_poll"] / 1000 / busy, 4)
    emit_json(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
