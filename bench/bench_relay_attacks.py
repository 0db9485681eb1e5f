"""Relay benchmark under a hostile classmate: memory and a good pair's latency (JSON lines).

Scenarios:
  slow-reader  a socket joins and never reads (it answers pings blindly, as an attacker
               would); a flooder in its room sends it 36 KiB messages at 100 per second,
               and opens a new silent socket whenever the relay drops the last one. The
               relay's RSS is sampled every 2 s; a good pair in another room exchanges 20
               messages per second (p95 latency, messages lost).
  churn        IDLE sockets sit in room A while one socket toggles join/leave in A as fast
               as the relay lets it; a good pair in room B as above. Bytes the relay wrote
               (psutil write_chars of the relay process) and bytes the idle sockets read.
  fresh-churn  a room of 50 (48 idle members asking for the whole roster, and a good pair
               exchanging 5 messages a second); LOOPS loops each open a fresh socket, join
               the room, and close, as fast as they can, for CHURN_SECONDS (20). Bytes each
               idle member read (most and mean), joins the relay let in, the good pair's
               latency (p95, max) and the relay's CPU time.

``--relay-root`` runs the relay of another checkout (its ``relay`` and ``ecc_widgets``), so
the same load can be compared before and after a change:

    python bench/bench_relay_attacks.py
    python bench/bench_relay_attacks.py --relay-root ../before --label before
    python bench/bench_relay_attacks.py --before-root ../before --scenarios fresh-churn
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/...` works

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from bench.relay_servers import ROOT, Server  # noqa: E402
from bench.relay_wire import WireClient  # noqa: E402
from ecc_widgets import protocol as P  # noqa: E402
from tests.support.peers import Peer, RawSocket, SilentSocket, message  # noqa: E402

BIG = "A" * (48 * 1024)   # the largest ciphertext the protocol allows: 36 KiB


def emit_json(record: dict) -> None:
    print(json.dumps({"bench": "relay-attacks", **record}), flush=True)


def relay(root: Path, label: str, *extra: str) -> Server:
    cmd = [sys.executable, "-m", "relay", "--host", "127.0.0.1", "--port", "{port}",
           "--log-level", "warning", *extra]
    return Server(label, cmd, cwd=root, env={"PYTHONPATH": str(root)}).start()


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


class GoodPair:
    """Alice sends to Bob ``rate`` messages per second; latency of each, and losses."""

    def __init__(self, url: str, room: str, rate: float = 20.0):
        self.url, self.room, self.rate = url, room, rate
        self.sent = 0
        self.latencies: list[float] = []

    async def start(self) -> None:
        self.alice = await Peer(self.url).connect()
        self.bob = await Peer(self.url).connect()
        await self.alice.join("alice", self.room)
        await self.bob.join("bob", self.room)
        self.bob.sio.on(P.RECEIVE_MESSAGE, self._received)
        self.task = asyncio.create_task(self._send())

    async def _received(self, payload: dict) -> None:
        self.latencies.append(time.monotonic() - payload["t"])

    async def _send(self) -> None:
        while True:
            with_sid = message(self.bob.sid, t=time.monotonic())
            await self.alice.emit(P.SEND_MESSAGE, with_sid)
            self.sent += 1
            await asyncio.sleep(1 / self.rate)

    async def stop(self) -> dict:
        self.task.cancel()
        await asyncio.sleep(1.0)   # the last ones arrive
        result = {"good_sent": self.sent, "good_lost": self.sent - len(self.latencies),
                  "good_p95_ms": round(p95(self.latencies) * 1000, 2),
                  "good_p50_ms": round(statistics.median(self.latencies) * 1000, 2)
                  if self.latencies else None}
        await self.alice.close()
        await self.bob.close()
        return result


async def slow_reader(server: Server, seconds: float) -> dict:
    good = GoodPair(server.url, "good")
    await good.start()
    flood = await Peer(server.url).connect()
    await flood.join("flood", "attack")
    sinks: list[SilentSocket] = []
    dropped = 0

    async def new_sink() -> SilentSocket:
        sink = await SilentSocket(server.url).connect()
        await sink.emit(P.JOIN, {"username": f"sink{len(sinks)}", "roomId": "attack"})
        sinks.append(sink)
        await asyncio.sleep(0.05)
        return sink

    async def attack() -> None:
        nonlocal dropped
        sink = await new_sink()
        last_pong = time.monotonic()
        while True:
            if any(p["socketId"] == sink.sid for p in flood.of(P.USER_LEFT)):
                dropped += 1
                sink.close()
                sink = await new_sink()
            if time.monotonic() - last_pong > 5:   # answers pings it never read
                await sink.send("3")
                last_pong = time.monotonic()
            await flood.emit(P.SEND_MESSAGE, message(sink.sid, encryptedMessage=BIG))
            await asyncio.sleep(0.01)

    attacker = asyncio.create_task(attack())
    samples = []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        samples.append(round(server.rss_bytes() / 2**20, 1))
        emit_json({"scenario": "slow-reader", "relay": server.name,
                   "t": round(time.monotonic() - started), "rss_mb": samples[-1]})
        await asyncio.sleep(2)
    attacker.cancel()
    result = await good.stop()
    for sink in sinks:
        sink.close()
    await flood.close()
    return {"rss_mb_start": samples[0], "rss_mb_max": max(samples),
            "rss_mb_end": samples[-1], "sinks_dropped": dropped, **result}


async def churn(server: Server, idle: int, seconds: float) -> dict:
    received = 0
    announced = 0   # user-joined / user-left of the churner, as the idle sockets saw them

    def count(text: str) -> None:
        nonlocal received, announced
        received += len(text)
        if '"username":"churn"' in text:
            announced += 1

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    clients = []
    for start in range(0, idle, 50):
        batch = [WireClient(session, server.url, on_text=count).connect()
                 for _ in range(start, min(idle, start + 50))]
        clients += await asyncio.gather(*batch)
    for i, client in enumerate(clients):
        await client.emit(P.JOIN, {"username": f"idle{i}", "roomId": "A"})
    last = -1
    while received != last:   # until the rosters of those joins have all arrived
        last = received
        await asyncio.sleep(1)
    good = GoodPair(server.url, "B")
    await good.start()
    churner = await Peer(server.url).connect()
    proc = psutil.Process(server.proc.pid)
    written = proc.io_counters().write_chars
    received = announced = 0
    toggles = refused = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        ack = await churner.call(P.JOIN, {"username": "churn", "roomId": "A"})
        ack2 = await churner.call(P.LEAVE, {})
        toggles += 1
        refused += (not ack["ok"]) + (not ack2["ok"])
        if not ack["ok"] or not ack2["ok"]:
            await asyncio.sleep(0.01)   # over the limit: try again soon
    elapsed = time.monotonic() - started
    written = proc.io_counters().write_chars - written   # misses sendmsg(): a lower bound
    read = received
    result = await good.stop()
    await churner.close()
    for client in clients:
        await client.close()
    await session.close()
    return {"idle": idle, "seconds": round(elapsed, 1), "toggles": toggles,
            "refused": refused, "announced_per_idle": round(announced / idle, 1),
            "relay_written_mb": round(written / 2**20, 1),
            "idle_read_mb": round(read / 2**20, 1), **result}


async def fresh_churn(server: Server, loops: int, seconds: float) -> dict:
    idle_count = 48
    received = [0] * idle_count

    def counter(i: int):
        def count(text: str) -> None:
            received[i] += len(text)
        return count

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    clients = [await WireClient(session, server.url, on_text=counter(i)).connect()
               for i in range(idle_count)]
    for i, client in enumerate(clients):
        await client.emit(P.JOIN, {"username": f"idle{i}", "roomId": "A"})
        await asyncio.sleep(0.02)
    good = GoodPair(server.url, "A", rate=5.0)
    await good.start()
    last = -1
    while sum(received) != last:   # until the rosters of those joins have all arrived
        last = sum(received)
        await asyncio.sleep(1)
    for i in range(idle_count):
        received[i] = 0
    good.latencies.clear()
    good.sent = 0
    joins = refused = failed = 0
    stop = time.monotonic() + seconds

    async def loop(n: int) -> None:
        nonlocal joins, refused, failed
        i = 0
        while time.monotonic() < stop:
            i += 1
            try:
                raw = await RawSocket(server.url).connect()
            except Exception:  # noqa: BLE001 - refused at the door: try again
                failed += 1
                await asyncio.sleep(0.01)
                continue
            try:
                ack = await raw.call(P.JOIN, {"username": f"churn{n}-{i}", "roomId": "A"},
                                     ack=1, timeout=5)
                joins += bool(ack.get("ok"))
                refused += not ack.get("ok")
            except Exception:  # noqa: BLE001 - no answer in time
                failed += 1
            finally:
                await raw.close()

    cpu = server.cpu_seconds()
    started = time.monotonic()
    await asyncio.gather(*(loop(n) for n in range(loops)))
    elapsed = time.monotonic() - started
    cpu = server.cpu_seconds() - cpu
    latencies = sorted(good.latencies)
    result = await good.stop()
    for client in clients:
        await client.close()
    await session.close()
    return {"loops": loops, "room": idle_count + 2, "seconds": round(elapsed, 1),
            "joins_let_in": joins, "joins_refused": refused, "attempts_failed": failed,
            "idle_read_mb_max": round(max(received) / 2**20, 2),
            "idle_read_mb_mean": round(sum(received) / idle_count / 2**20, 2),
            "good_max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
            "relay_cpu_s": round(cpu, 1), **result}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--relay-root", type=Path, default=ROOT,
                    help="the checkout whose relay to run (default: this one)")
    ap.add_argument("--label", default="this")
    ap.add_argument("--before-root", type=Path, default=None,
                    help="also run each scenario first on this checkout's relay, labelled "
                         "'before' (one run, the same load, before and after)")
    ap.add_argument("--scenarios", default="slow-reader,churn,fresh-churn")
    ap.add_argument("--seconds", type=float, default=60.0, help="slow-reader duration")
    ap.add_argument("--churn-seconds", type=float, default=12.0)
    ap.add_argument("--idle", type=int, default=300, help="idle sockets in the churn room")
    ap.add_argument("--loops", type=int, default=4, help="fresh-churn: connect/join/close "
                    "loops")
    ap.add_argument("--fresh-churn-seconds", type=float, default=20.0)
    ap.add_argument("--relay-args", default="",
                    help="more options for the relay, e.g. '--max-room-size 400'")
    args = ap.parse_args()
    load = os.getloadavg()
    runs = [(args.label, args.relay_root)]
    if args.before_root is not None:
        runs.insert(0, ("before", args.before_root))
    for label, root in runs:
        emit_json({"label": label, "relay_root": str(root),
                   "load": [round(x, 2) for x in load]})
    for scenario in args.scenarios.split(","):
        for label, root in runs:
            run_scenario(scenario, label, root, args)


def run_scenario(scenario: str, label: str, root: Path, args: argparse.Namespace) -> None:
    server = relay(root.resolve(), label, *args.relay_args.split())
    try:
        if scenario == "slow-reader":
            result = asyncio.run(slow_reader(server, args.seconds))
        elif scenario == "churn":
            result = asyncio.run(churn(server, args.idle, args.churn_seconds))
        elif scenario == "fresh-churn":
            result = asyncio.run(fresh_churn(server, args.loops, args.fresh_churn_seconds))
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
    finally:
        server.stop()
    emit_json({"scenario": scenario, "relay": label, "summary": True, **result,
               "load_after": [round(x, 2) for x in os.getloadavg()]})


if __name__ == "__main__":
    main()
