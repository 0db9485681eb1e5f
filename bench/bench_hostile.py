"""A hostile room member: what each junk event costs the model, and the delay it adds.

Starts a local relay on a free port (rate limit raised for the first part), joins alice
and bob (a secure pair) and mallory, a plain python-socketio client with a valid key.

1. Cost per hostile event: mallory sends junk messages (random ciphertext under a v1
   header: authentication fails), junk key shares (a new valid key each time) and junk
   processing steps (long text), one kind after another; alice's handler for each relay
   event is timed (the model alone; with --app, alice's app widget observes it, so the
   panels' work is in the time too). One JSON line per kind with the median time after
   0, 50 and 500 earlier junk events of that kind.
2. Show latency during a flood: a fresh pair; mallory floods junk messages at the
   relay's default rate limit (200 events/s) while bob sends a message every 0.25 s; the
   time from bob's `send()` to the message in alice's `conversations`. One JSON line.

    python bench/bench_hostile.py [--flood-seconds 10] [--rate 200] [--app]

(To measure other code, e.g. an older checkout: PYTHONPATH=<its root> python
bench/bench_hostile.py; the relay is this checkout's.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import socketio

# The package under test first: with PYTHONPATH set, it is the one measured (bench_session
# puts this checkout first on the path, for its own imports only).
from ecc_widgets import crypto
from ecc_widgets import protocol as P
from ecc_widgets.session import Session

sys.path.append(str(Path(__file__).resolve().parent))
from bench_session import start_relay, wait  # noqa: E402

MARKS = (0, 50, 500)    # earlier junk events of the kind
SAMPLE = 20             # events timed at each mark


VIEWS: list[object] = []  # the app widgets observing alice (--app), kept alive


def timed_session(durations: dict[str, list[float]], *, app: bool = False) -> Session:
    """A session whose relay-event handler records how long each event took (ms)."""
    session = Session()
    if app:
        from ecc_widgets.app import EccApp
        VIEWS.append(EccApp(session=session))
    handle = session._on_event

    def on_event(event: str, payload: object) -> None:
        t0 = time.perf_counter()
        handle(event, payload)
        durations.setdefault(event, []).append((time.perf_counter() - t0) * 1000)

    session._on_event = on_event  # the client is built at join, with this handler
    return session


def secure_pair(url: str, room: str, alice: Session, bob: Session) -> None:
    alice.join("alice", room, url)
    bob.join("bob", room, url)
    wait(lambda: "bob" in alice.peers and "alice" in bob.peers, 20, "the roster")
    for s in (alice, bob):
        s.generate_keys()
    alice.share_key("bob")
    wait(lambda: "secure" in alice.peers["bob"].statuses
         and "secure" in bob.peers["alice"].statuses, 20, "a secure pair")


class Mallory:
    """A room member sending junk: a plain Socket.IO client with a valid P-256 key."""

    def __init__(self, url: str, room: str, alice: Session):
        self.sio = socketio.Client(reconnection=False, handle_sigint=False)
        self.sio.connect(url, wait_timeout=5)
        ack = self.sio.call(P.JOIN, {"username": "mallory", "roomId": room}, timeout=5)
        assert ack["ok"], ack
        self.alice = alice
        wait(lambda: "mallory" in alice.peers, 20, "mallory in the roster")
        self.share(is_reply=True)
        wait(lambda: alice.peers["mallory"].safety_number, 20, "mallory's key")
        self.seq = 0

    def share(self, *, is_reply: bool = False) -> None:
        key = crypto.generate_private_key("P-256")
        self.sio.emit(P.SHARE_PUBLIC_KEY, {
            "publicKey": crypto.public_key_to_jwk(key), "targetSocketId": self.alice.my_id,
            "isReply": is_reply, "v": 1, "curve": "P-256"})

    def message(self) -> None:
        self.seq += 1
        self.sio.emit(P.SEND_MESSAGE, {
            "encryptedMessage": crypto.b64encode(os.urandom(64)),
            "iv": crypto.b64encode(os.urandom(12)), "tag": crypto.b64encode(os.urandom(16)),
            "targetSocketId": self.alice.my_id, "v": 1, "id": uuid.uuid4().hex,
            "seq": self.seq, "curve": "P-256"})

    def step(self) -> None:
        self.sio.emit(P.PROCESSING_STEP, {"step": "S" * P.MAX_STEP, "details": "d" * 150})

    def close(self) -> None:
        self.sio.disconnect()


def cost_per_event(url: str, room: str, *, app: bool) -> list[dict]:
    durations: dict[str, list[float]] = {}
    alice, bob = timed_session(durations, app=app), Session()
    results = []
    try:
        secure_pair(url, room, alice, bob)
        mallory = Mallory(url, room, alice)
        kinds = (("junk message", P.RECEIVE_MESSAGE, mallory.message),
                 ("junk key share", P.RECEIVE_PUBLIC_KEY, mallory.share),
                 ("junk step", P.PEER_PROCESSING_STEP, mallory.step))
        for kind, event, send in kinds:
            durations.pop(event, None)
            total = MARKS[-1] + SAMPLE
            for _ in range(total):
                send()
                time.sleep(0.001)
            wait(lambda e=event, n=total: len(durations.get(e, ())) >= n, 120, kind)
            times = durations[event]
            result = {"bench": "hostile_event_cost", "kind": kind,
                      "observed_by": "app" if app else "nothing"}
            for mark in MARKS:
                result[f"median_ms_after_{mark}"] = round(
                    statistics.median(times[mark:mark + SAMPLE]), 3)
            results.append(result)
        mallory.close()
    finally:
        alice.close()
        bob.close()
    return results


def show_latency(url: str, room: str, *, seconds: float, rate: float, app: bool) -> dict:
    alice, bob = timed_session({}, app=app), Session()
    sent_at: dict[str, float] = {}
    shown_at: dict[str, float] = {}

    def on_conversations(change) -> None:
        now = time.perf_counter()
        for m in change["new"].get("bob", ())[-10:]:
            if m.direction == "in" and m.status == "received" and m.id not in shown_at:
                shown_at[m.id] = now

    try:
        secure_pair(url, room, alice, bob)
        mallory = Mallory(url, room, alice)
        alice.observe(on_conversations, names="conversations")
        stop = threading.Event()

        def flood() -> None:
            start, n = time.perf_counter(), 0
            while not stop.is_set():
                mallory.message()
                n += 1
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)

        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            time.sleep(0.25)
            t0 = time.perf_counter()
            sent_at[bob.send("alice", "a good message").id] = t0
        stop.set()
        flooder.join(10)
        with contextlib.suppress(TimeoutError):  # reported as good_shown < good_sent
            wait(lambda: all(m in shown_at for m in sent_at), 120, "every good message")
        latencies = sorted((shown_at[m] - sent_at[m]) * 1000 for m in sent_at if m in shown_at)
        mallory.close()
        return {"bench": "hostile_flood_show_latency", "observed_by": "app" if app else
                "nothing", "junk_per_s": rate,
                "seconds": seconds, "junk_sent": mallory.seq, "good_sent": len(sent_at),
                "good_shown": len(latencies),
                "median_ms": round(statistics.median(latencies), 1) if latencies else None,
                "max_ms": round(latencies[-1], 1) if latencies else None}
    finally:
        alice.close()
        bob.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0,
                        help="junk messages per second in the flood (the relay's default "
                             "per-connection limit)")
    parser.add_argument("--app", action="store_true",
                        help="alice's app widget observes her session (panels included)")
    args = parser.parse_args(argv)
    proc, url = start_relay()
    try:
        for result in cost_per_event(url, f"hostile-{os.getpid()}-cost", app=args.app):
            print(json.dumps(result), flush=True)
        print(json.dumps(show_latency(url, f"hostile-{os.getpid()}-flood", app=args.app,
                                      seconds=args.flood_seconds, rate=args.rate)),
              flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
