"""Relay benchmark: our relay and the seed's Node.js relay side by side, in one run.

Both relays are started and warmed up first; then the runs alternate between them (ours,
node, ours, node, ...) ``--repeat`` times, and the summary gives each figure's median over
the runs. The figure that isolates the relay comes first: its CPU time per message
(``relay_cpu_us_per_msg``), the least disturbed by the load generators sharing the cores.
A ratio (ours / node) is printed only when both sides delivered every message in order in
every run: with a message lost, throughput and p99 over the delivered ones flatter the
loser, so the ratio is refused and the reason printed instead.

Scenarios (each prints JSON lines):
  pairs    N room pairs; each sender streams M messages (~300 bytes of base64 ciphertext,
           as the seed's clients send) to its peer, at most W outstanding; messages per
           second, p50/p99 latency, lost and out-of-order counts (both must be 0)
  memory   idle relay memory per connected, joined client at 1,000 and 5,000 clients
  redis    the pairs again, senders on one of our relays and receivers on another, over
           one redis-server (skipped when redis-server is not installed)
  fanout   one room of K members; once every member has seen the full roster, one member
           broadcasts B processing-steps that the relay fans out to the K-1 others:
           deliveries per second and latency

The load generator runs in several processes with a lean raw-websocket client
(bench/relay_wire.py), and the relay's own CPU use is printed (``relay_cpu``: CPU seconds
per wall second; near 1.0 means the relay, not the generator, was the limit) with its CPU
time per message (``relay_cpu_us_per_msg``), the figure least disturbed by other work on a
shared machine.

    python bench/bench_relay.py                      # everything, default sizes
    python bench/bench_relay.py --scenarios pairs --pairs 50 --messages 2000 --repeat 5
    ECC_BENCH_ANCHOR=path/to/seed-node-relay python bench/bench_relay.py

The Node anchor defaults to ../shared/anchors/seed-node-relay next to the repository; it is
copied to a temporary folder and `npm ci`-ed there.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/...` works

import aiohttp  # noqa: E402

from bench.relay_servers import (  # noqa: E402
    BENCH_OPTIONS,
    DEFAULT_ANCHOR,
    Server,
    node,
    ours,
    start_redis,
)
from bench.relay_wire import WireClient  # noqa: E402

CONNECT_BATCH = 50     # connections opened at once per worker (gentle on accept queues)


def emit_json(record: dict) -> None:
    print(json.dumps({"bench": "relay", **record}), flush=True)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _batched(coros, size: int = CONNECT_BATCH):
    results = []
    for start in range(0, len(coros), size):
        results += await asyncio.gather(*coros[start:start + size])
    return results


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def _wait_go(go) -> None:
    while not go.is_set():
        await asyncio.sleep(0.01)


# --- scenario: pairs --------------------------------------------------------------------------
class Pair:
    """A sender streaming to a receiver in their own room, at most ``window`` in flight."""

    def __init__(self, index: int, messages: int, window: int, size: int, tag: str = ""):
        self.index = index
        self.room = f"bench-{tag}{index}"
        self.messages = messages
        self.window = window
        self.ciphertext = base64.b64encode(os.urandom(size * 3 // 4)).decode()
        self.tag = base64.b64encode(os.urandom(16)).decode()
        self.sent_at = [0.0] * messages
        self.latencies: list[float] = []
        self.expected = 0
        self.out_of_order = 0
        self.received = 0

    async def setup(self, session: aiohttp.ClientSession, url: str,
                    receiver_url: str | None = None) -> None:
        self.wake = asyncio.Event()
        self.done = asyncio.Event()
        self.joined = asyncio.Event()
        self.sender = await WireClient(session, url, self._on_sender).connect()
        self.receiver = await WireClient(session, receiver_url or url,
                                         on_text=self._on_receiver).connect()
        await self.receiver.emit("join", {"username": "receiver", "roomId": self.room})
        await self.sender.emit("join", {"username": "sender", "roomId": self.room})
        await asyncio.wait_for(self.joined.wait(), 30)

    def _on_sender(self, event, payload) -> None:
        if event == "user-joined" and len(payload.get("usersInRoom", ())) == 2:
            self.joined.set()

    def _on_receiver(self, text: str) -> None:
        # only the sequence number (carried in the IV) is needed: no full JSON parse
        if not text.startswith('42["receive-message"'):
            return
        now = time.monotonic()
        at = text.find('"iv":"') + 6
        seq = int.from_bytes(base64.b64decode(text[at:at + 16])[:8], "big")
        self.latencies.append(now - self.sent_at[seq])
        if seq != self.expected:
            self.out_of_order += 1
        self.expected = seq + 1
        self.received += 1
        self.wake.set()
        if self.received == self.messages:
            self.done.set()

    async def run(self) -> None:
        # the JSON the seed's client sends, built by concatenation (the IV varies)
        head = ('2["send-message",{"encryptedMessage":"' + self.ciphertext + '","iv":"')
        tail = ('","tag":"' + self.tag + '","targetSocketId":"' + self.receiver.sid + '"}]')
        zeros = b"\0\0\0\0"
        seq = 0
        while seq < self.messages:
            free = self.window - (seq - self.received)
            if free <= 0:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), 10)
                except asyncio.TimeoutError:
                    break   # messages were lost: stop sending, the count shows it
                continue
            now = time.monotonic()
            batch = []
            for k in range(seq, min(seq + free, self.messages)):
                self.sent_at[k] = now
                iv = base64.b64encode(k.to_bytes(8, "big") + zeros).decode()
                batch.append(head + iv + tail)
            seq += len(batch)
            self.sender.send_texts(batch)
            await asyncio.sleep(0)
        # wait for the tail; give up after 5 s without progress (the rest counts as lost)
        last = -1
        while not self.done.is_set() and last != self.received:
            last = self.received
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.done.wait(), 5)

    async def close(self) -> None:
        await self.sender.close()
        await self.receiver.close()


def pairs_worker(url, indices, params, ready, go, results) -> None:
    async def main():
        async with _session() as session:
            pairs = [Pair(i, params["messages"], params["window"], params["size"],
                          params.get("tag", "")) for i in indices]
            await _batched([p.setup(session, url, params.get("receiver_url"))
                            for p in pairs])
            ready.put(len(pairs))
            await _wait_go(go)
            start = time.monotonic()
            await asyncio.gather(*(p.run() for p in pairs))
            end = time.monotonic()
            results.put({
                "start": start, "end": end,
                "sent": sum(p.messages for p in pairs),
                "received": sum(p.received for p in pairs),
                "out_of_order": sum(p.out_of_order for p in pairs),
                "latencies": [x for p in pairs for x in p.latencies],
            })
            await asyncio.gather(*(p.close() for p in pairs))
    asyncio.run(main())


# --- scenario: idle memory --------------------------------------------------------------------
def idle_worker(url, indices, params, ready, go, results) -> None:
    async def main():
        async with _session() as session:
            clients = await _batched([WireClient(session, url).connect() for _ in indices])
            for i, client in zip(indices, clients, strict=True):
                await client.emit("join", {"username": f"u{i}", "roomId": f"idle-{i // 10}"})
            ready.put(len(clients))
            await _wait_go(go)
            await asyncio.gather(*(c.close() for c in clients))
            results.put({})
    asyncio.run(main())


# --- scenario: room fan-out -------------------------------------------------------------------
def fanout_worker(url, indices, params, ready, go, results) -> None:
    async def main():
        latencies: list[float] = []
        last = [0.0]
        members = params["members"]
        full_roster: set[int] = set()   # clients here that have seen all members joined
        out_of_order = [0]

        def on_event_for(client: int):
            seen = [-1]

            def on_event(event, payload):
                if event == "peer-processing-step":
                    now = time.monotonic()
                    latencies.append(now - payload["details"]["t"])
                    last[0] = now
                    if payload["details"]["b"] != seen[0] + 1:
                        out_of_order[0] += 1
                    seen[0] = payload["details"]["b"]
                elif event == "user-joined" and len(payload["usersInRoom"]) == members:
                    full_roster.add(client)
            return on_event

        async with _session() as session:
            clients = await _batched([WireClient(session, url, on_event_for(i)).connect()
                                      for i in indices])
            room = f"fanout-{params.get('tag', '')}"
            for i, client in zip(indices, clients, strict=True):
                await client.emit("join", {"username": f"m{i}", "roomId": room})
            # the last join's broadcast is the last join traffic: wait for it, not a guess
            deadline = time.monotonic() + 120
            while len(full_roster) < len(indices):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(full_roster)} of {len(indices)} members saw "
                                       "the full roster")
                await asyncio.sleep(0.01)
            ready.put(len(clients))
            await _wait_go(go)
            start = time.monotonic()
            if 0 in indices:           # member 0 is the broadcaster
                sender = clients[indices.index(0)]
                for b in range(params["broadcasts"]):
                    await sender.emit("processing-step", {
                        "step": "fan-out", "details": {"b": b, "t": time.monotonic()}})
                    await asyncio.sleep(params["interval"])
            expected = params["broadcasts"] * (len(indices) - (1 if 0 in indices else 0))
            deadline = time.monotonic() + 30
            while len(latencies) < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            results.put({"start": start, "end": last[0] or time.monotonic(),
                         "expected": expected, "received": len(latencies),
                         "out_of_order": out_of_order[0], "latencies": latencies})
            await asyncio.gather(*(c.close() for c in clients))
    asyncio.run(main())


# --- orchestration ----------------------------------------------------------------------------
def run_workers(target, url: str, count: int, procs: int, params: dict, *,
                on_ready=None) -> list[dict]:
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    shares = [list(range(i, count, procs)) for i in range(procs)]
    shares = [s for s in shares if s]
    workers = [ctx.Process(target=target, args=(url, share, params, ready, go, results),
                           daemon=True) for share in shares]
    for w in workers:
        w.start()
    def collect(queue, what: str, limit: float) -> list:
        got, deadline = [], time.monotonic() + limit
        while len(got) < len(workers):
            try:
                got.append(queue.get(timeout=1))
            except Exception:  # noqa: BLE001 - queue.Empty: check the workers, go on
                if any(w.exitcode not in (None, 0) for w in workers):
                    raise RuntimeError(f"a load generator died before {what}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"load generators not {what} in {limit}s") from None
        return got

    collect(ready, "ready", 180)
    if on_ready is not None:
        on_ready()
    go.set()
    out = collect(results, "done", 600)
    for w in workers:
        w.join(30)
    return out


def run_pairs(server: Server, pairs: int, args, receiver: Server | None = None, *,
              messages: int | None = None, tag: str = "") -> dict:
    """Pairs through ``server``; with ``receiver``, receivers connect there (over Redis)."""
    params = {"messages": messages or args.messages, "window": args.window, "size": args.size,
              "receiver_url": receiver.url if receiver else None, "tag": tag}
    servers = [server] + ([receiver] if receiver else [])
    cpu = {}

    def mark():
        cpu["before"] = sum(s.cpu_seconds() for s in servers)

    parts = run_workers(pairs_worker, server.url, pairs, args.procs, params, on_ready=mark)
    relay_cpu = sum(s.cpu_seconds() for s in servers) - cpu["before"]
    start = min(p["start"] for p in parts)
    end = max(p["end"] for p in parts)
    lat = sorted(x for p in parts for x in p["latencies"])
    sent = sum(p["sent"] for p in parts)
    received = sum(p["received"] for p in parts)
    seconds = end - start
    return {"scenario": "pairs", "target": server.name + ("+redis" if receiver else ""),
            "pairs": pairs,
            "relay_cpu_us_per_msg": round(relay_cpu / max(received, 1) * 1e6, 2),
            "messages_per_sender": params["messages"], "window": args.window,
            "payload_chars": len(Pair(0, 1, 1, args.size).ciphertext),
            "sent": sent, "received": received, "lost": sent - received,
            "out_of_order": sum(p["out_of_order"] for p in parts),
            "seconds": round(seconds, 3), "msgs_per_s": round(received / seconds, 1),
            "p50_ms": round(percentile(lat, 0.50) * 1000, 2),
            "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
            "relay_cpu": round(relay_cpu / seconds, 2),
            "load1": round(os.getloadavg()[0], 2)}


def run_memory(server: Server, clients: int, args) -> dict:
    time.sleep(0.5)
    before = server.rss_bytes()
    measured = {}

    def measure():
        time.sleep(1.0)   # let the last joins settle
        measured["rss"] = server.rss_bytes()
        measured["health"] = server.health()

    run_workers(idle_worker, server.url, clients, args.procs, {}, on_ready=measure)
    users = measured["health"].get("users") or 0
    return {"scenario": "memory", "target": server.name, "clients": clients,
            "users_reported": users, "lost": clients - users,
            "rss_before_mb": round(before / 2**20, 1),
            "rss_after_mb": round(measured["rss"] / 2**20, 1),
            "kb_per_client": round((measured["rss"] - before) / clients / 1024, 1)}


def run_fanout(server: Server, members: int, args, *, broadcasts: int | None = None,
               tag: str = "") -> dict:
    params = {"broadcasts": broadcasts or args.broadcasts, "interval": args.broadcast_interval,
              "members": members, "tag": tag}
    cpu = {}

    def mark():
        cpu["before"] = server.cpu_seconds()

    parts = run_workers(fanout_worker, server.url, members, args.procs, params, on_ready=mark)
    relay_cpu = server.cpu_seconds() - cpu["before"]
    start = min(p["start"] for p in parts)
    end = max(p["end"] for p in parts)
    lat = sorted(x for p in parts for x in p["latencies"])
    received = sum(p["received"] for p in parts)
    return {"scenario": "fanout", "target": server.name, "members": members,
            "relay_cpu_us_per_msg": round(relay_cpu / max(received, 1) * 1e6, 2),
            "broadcasts": params["broadcasts"], "deliveries": received,
            "lost": sum(p["expected"] for p in parts) - received,
            "out_of_order": sum(p["out_of_order"] for p in parts),
            "deliveries_per_s": round(received / (end - start), 1),
            "p50_ms": round(percentile(lat, 0.50) * 1000, 2),
            "p99_ms": round(percentile(lat, 0.99) * 1000, 2)}


def with_server(make, fn, *fn_args):
    server = make().start()
    try:
        return fn(server, *fn_args)
    except Exception:
        sys.stderr.write(f"--- {server.name} relay log ---\n{server.log_tail()}\n")
        raise
    finally:
        server.stop()


def refusal(records: dict[str, list[dict]]) -> str | None:
    """Why the targets' figures cannot be compared, or None when every run of every target
    delivered everything in order (dropped slow messages would flatter throughput and p99)."""
    for name, runs in records.items():
        for i, run in enumerate(runs, 1):
            flaws = [f"{run[k]} {k.replace('_', '-')}" for k in ("lost", "out_of_order")
                     if run.get(k)]
            if flaws:
                return f"{name} run {i}: {' and '.join(flaws)} messages"
    return None


def summary(runs: list[dict], keys: tuple[str, ...]) -> dict:
    """Medians over the runs of one target (and the spread, to judge the noise)."""
    out = {"runs": len(runs)}
    for key in keys:
        values = [r[key] for r in runs]
        out[key] = round(statistics.median(values), 2)
        out[key + "_range"] = [min(values), max(values)]
    return out


def compare(records: dict[str, list[dict]], keys: tuple[str, ...]) -> dict:
    """Each target's medians, and ours / node per key unless refused."""
    medians = {name: summary(runs, keys) for name, runs in records.items()}
    out: dict = {"median": medians}
    if "node" in records and len(records) > 1:
        why = refusal(records)
        if why:
            out["ratio"] = None
            out["ratio_refused"] = why
        else:  # "ratio" is ours / node; another checkout's relay gets "ratio_before"
            for name in (n for n in records if n != "node"):
                out["ratio" if name == "ours" else f"ratio_{name}"] = {
                    key: round(medians[name][key] / medians["node"][key], 2)
                    if medians["node"][key] else None for key in keys}
    return out


def alternating(makers: dict, fn, repeat: int, warm_up, *fn_args) -> dict[str, list[dict]]:
    """Start every target, warm each up with `warm_up`, then run `fn` on them in turn (A B A B
    ...), `repeat` rounds; returns each target's records in order."""
    servers = {}
    records: dict[str, list[dict]] = {name: [] for name in makers}
    try:
        for name, make in makers.items():
            servers[name] = make().start()
        for server in servers.values():
            warm_up(server, "warm")
        for round_ in range(repeat):
            for name, server in servers.items():
                record = fn(server, *fn_args, tag=f"r{round_}-")
                records[name].append(record)
                emit_json({**record, "run": round_ + 1})
    except Exception:
        for server in servers.values():
            sys.stderr.write(f"--- {server.name} relay log ---\n{server.log_tail()}\n")
        raise
    finally:
        for server in servers.values():
            server.stop()
    return records


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", default="pairs,redis,memory,fanout")
    p.add_argument("--targets", default="ours,node")
    p.add_argument("--pairs", default="50,200", help="comma separated pair counts")
    p.add_argument("--messages", type=int, default=3000, help="messages per sender")
    p.add_argument("--window", type=int, default=16, help="outstanding messages per sender")
    p.add_argument("--size", type=int, default=300, help="base64 characters per message")
    p.add_argument("--procs", type=int, default=2, help="load generator processes")
    p.add_argument("--repeat", type=int, default=3,
                   help="measured runs per target and size, alternating targets")
    p.add_argument("--clients", default="1000,5000", help="idle clients for memory")
    p.add_argument("--members", type=int, default=200, help="room size for fan-out")
    p.add_argument("--broadcasts", type=int, default=200)
    p.add_argument("--broadcast-interval", type=float, default=0.0,
                   help="seconds between broadcasts (0: back to back)")
    p.add_argument("--anchor", default=os.environ.get("ECC_BENCH_ANCHOR", str(DEFAULT_ANCHOR)),
                   help="the Node anchor's folder (env ECC_BENCH_ANCHOR)")
    p.add_argument("--relay-arg", action="append", default=[],
                   help="extra argument for our relay (repeatable)")
    p.add_argument("--profile", type=Path, default=None,
                   help="run our relay under cProfile and write its stats to this file")
    p.add_argument("--before", type=Path, default=None,
                   help="also run the relay of another checkout (e.g. the last release) as "
                        "the target 'before', alternating with the others")
    args = p.parse_args(argv)

    makers = {}
    targets = args.targets.split(",")
    if "ours" in targets:
        makers["ours"] = lambda: ours(*args.relay_arg, profile=args.profile)
    if args.before is not None:
        root = args.before.resolve()
        makers["before"] = lambda: Server(
            "before", [sys.executable, "-m", "relay", "--host", "127.0.0.1", "--port",
                       "{port}", *BENCH_OPTIONS, *args.relay_arg],
            cwd=root, env={"PYTHONPATH": str(root)})
    if "node" in targets:
        try:
            node(Path(args.anchor))   # prepare (npm ci) once, outside the timings
            makers["node"] = lambda: node(Path(args.anchor))
        except (OSError, RuntimeError, Exception) as exc:  # noqa: BLE001 - say why, go on
            emit_json({"target": "node", "skipped": f"{type(exc).__name__}: {exc}"})
    emit_json({"setup": {"cpus": os.cpu_count(), "load1": os.getloadavg()[0],
                         "procs": args.procs, "python": sys.version.split()[0]}})

    scenarios = args.scenarios.split(",")
    pair_keys = ("relay_cpu_us_per_msg", "msgs_per_s", "p50_ms", "p99_ms")
    if "pairs" in scenarios:
        for n in (int(x) for x in args.pairs.split(",")):
            def warm_pairs(server, tag, n=n):
                run_pairs(server, n, args, messages=min(args.messages, 300), tag=tag)
            records = alternating(makers, run_pairs, args.repeat, warm_pairs, n, args)
            emit_json({"scenario": "pairs", "pairs": n, **compare(records, pair_keys)})
    if "redis" in scenarios:
        # scale-out: senders on one relay, receivers on another, one Redis between them
        try:
            redis = start_redis()
        except (OSError, RuntimeError) as exc:
            emit_json({"scenario": "redis", "skipped": f"{type(exc).__name__}: {exc}"})
        else:
            try:
                for n in (int(x) for x in args.pairs.split(",")):
                    one = ours("--redis-url", redis.url, *args.relay_arg).start()
                    two = ours("--redis-url", redis.url, *args.relay_arg).start()
                    try:
                        emit_json({**run_pairs(one, n, args, receiver=two),
                                   "relays": 2})
                    finally:
                        one.stop()
                        two.stop()
            finally:
                redis.stop()
    if "memory" in scenarios:
        for n in (int(x) for x in args.clients.split(",")):
            records = {}
            for name, make in makers.items():   # a fresh relay each: memory from the start
                records[name] = [with_server(make, run_memory, n, args)]
                emit_json(records[name][0])
            emit_json({"scenario": "memory", "clients": n,
                       **compare(records, ("kb_per_client",))})
    if "fanout" in scenarios:
        def warm_fanout(server, tag):
            run_fanout(server, args.members, args, broadcasts=min(args.broadcasts, 20),
                       tag=tag)
        records = alternating(makers, run_fanout, args.repeat, warm_fanout, args.members, args)
        emit_json({"scenario": "fanout", "members": args.members,
                   **compare(records, ("relay_cpu_us_per_msg", "deliveries_per_s",
                                       "p50_ms", "p99_ms"))})
    return 0


if __name__ == "__main__":
    sys.exit(main())
