"""Benchmark the chat, log and relay-view panels under a flood of junk messages.

One junk message from a flooding peer changes four traits, as the model publishes them:
the conversation (a rejected message), the peer (its rejected count), the log and the
relay view. This times the panels' share of that (the model's work is not counted) after
0, 50, 500 and 2000 earlier junk messages, with every widget update JSON-encoded as a
kernel would send it. No relay is needed. Prints one JSON line per measurement.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import comm

from ecc_widgets.app import EccApp
from ecc_widgets.session import ChatMessage, LogEntry, Peer, Session

PREVIOUS = (0, 50, 500, 2000)
ROUNDS = 100
KEEP = 1000  # the model keeps the newest 1000 log and relay-view entries


class JsonComm(comm.DummyComm):
    """A comm that encodes what it would send, as the kernel's session does."""

    kernel = True  # widgets send their state only over a comm that has a kernel

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        json.dumps(data, default=str)


def junk(i: int):
    ciphertext = "A" * 400
    message = ChatMessage(id=f"junk-{i}", peer_id="mallory", direction="in", plaintext="",
                          ciphertext=ciphertext, nonce="AAAAAAAAAAAAAAAA", tag="A" * 22,
                          time=time.time(), status="rejected",
                          reason="tampered: the tag does not match")
    entry = LogEntry(time.time(), "error", "mallory",
                     f"message from mallory rejected: tampered: the tag does not match #{i}")
    view = {"time": time.time(), "direction": "in", "event": "receive-message",
            "payload": {"from": "mallory", "encryptedMessage": ciphertext,
                        "iv": "AAAAAAAAAAAAAAAA", "tag": "A" * 22, "v": 1, "seq": i}}
    return message, entry, view


def bench(previous: int) -> list[float]:
    session = Session()
    app = EccApp(session)
    history = [junk(i) for i in range(previous)]
    session.peers = {"mallory": Peer(id="mallory", name="mallory", curve="P-256",
                                     statuses=frozenset({"joined", "secure"}))}
    session.conversations = {"mallory": tuple(m for m, _, _ in history)}
    session.log = tuple(e for _, e, _ in history)[-KEEP:]
    session.relay_view = tuple(v for _, _, v in history)[-KEEP:]
    samples = []
    for r in range(ROUNDS):
        message, entry, view = junk(previous + r)
        conversation = session.conversations["mallory"]
        peers = {"mallory": Peer(id="mallory", name="mallory", curve="P-256",
                                 statuses=frozenset({"joined", "secure", f"r{r}"}))}
        start = time.perf_counter()
        session.relay_view = (*session.relay_view[-(KEEP - 1):], view)
        session.conversations = {"mallory": (*conversation, message)}
        session.peers = peers
        session.log = (*session.log[-(KEEP - 1):], entry)
        samples.append(time.perf_counter() - start)
    app.close()
    session.close()
    return samples


def main() -> None:
    comm.create_comm = JsonComm
    load = os.getloadavg()[0]
    for previous in PREVIOUS:
        ms = sorted(s * 1000 for s in bench(previous))
        print(json.dumps({"bench": "panels_junk_event", "previous": previous, "n": len(ms),
                          "median_ms": round(statistics.median(ms), 3),
                          "p90_ms": round(ms[int(len(ms) * 0.9)], 3), "min_ms": round(ms[0], 3),
                          "load1": round(load, 2)}), flush=True)


if __name__ == "__main__":
    main()
