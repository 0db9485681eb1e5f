"""Benchmark sealing and opening one chat message: the Double Ratchet versus static v1, per
curve, in the same run.

- static: AES-256-GCM under the pair's one key with v1's associated data (what v1 does per
  message, without the JSON and base64 around it);
- ratchet, same chain: a burst from one side (KDF_CK, the header, AES-GCM);
- ratchet, DH step: a back-and-forth conversation, where each message opened is the first
  of a new chain (two ECDH, one key generation, two KDF_RK, then as above);
- envelope v1 / envelope ratchet: the whole message as a session seals and opens it
  (`Channel.seal` / `Channel.open` after `pairs.agree`: header, associated data, base64,
  replay window), back and forth.

One JSON line per measurement (microseconds, median and 90th percentile of `--runs`
messages), each with the 1-minute load; the first and last lines carry `uptime`.

    python bench/bench_ratchet.py [--runs N] [--curves X25519,P-256]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time

from ecc_widgets import crypto, envelope
from ecc_widgets.ratchet import Ratchet, root_key_from_session_key
from ecc_widgets.session.channel import Channel, KeyStates
from ecc_widgets.session.pairs import Pair, agree

CURVES = ("X25519", "P-256", "P-384", "P-521", "secp256k1")
MESSAGE = (b"The quick brown fox jumps over the lazy dog while Alice and Bob compare safety "
           b"numbers. " * 4)[:300]  # a ~300-byte chat message


def report(**fields) -> None:
    print(json.dumps({**fields, "load_1min": round(os.getloadavg()[0], 2)}), flush=True)


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        one, five, fifteen = os.getloadavg()
        return f"load average: {one:.2f}, {five:.2f}, {fifteen:.2f}"


def summary(samples: list[float]) -> dict:
    us = sorted(s * 1e6 for s in samples)
    return {"median_us": round(statistics.median(us), 1),
            "p90_us": round(us[int(len(us) * 0.9)], 1), "runs": len(us)}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def pair(curve: str):
    alice, bob = crypto.generate_private_key(curve), crypto.generate_private_key(curve)
    pa, pb = crypto.public_bytes(alice), crypto.public_bytes(bob)
    key = crypto.derive_session_key(crypto.ecdh(alice, bob.public_key()), curve=curve,
                                    public_a=pa, public_b=pb)
    return key, Ratchet.alice(root_key_from_session_key(key), pb, curve), \
        Ratchet.bob(root_key_from_session_key(key), bob)


def bench_curve(curve: str, runs: int) -> None:
    key, alice, bob = pair(curve)
    ad = envelope.associated_data(room="lab", sender="alice", receiver="bob", curve=curve,
                                  seq=7)

    seal, open_ = [], []
    for _ in range(runs):
        t, sealed = timed(lambda: crypto.encrypt(key, MESSAGE, associated_data=ad))
        seal.append(t)
        t, _ = timed(lambda s=sealed: crypto.decrypt(key, *s, associated_data=ad))
        open_.append(t)
    report(bench="seal", curve=curve, mode="static v1", **summary(seal))
    report(bench="open", curve=curve, mode="static v1", **summary(open_))

    # the first message sets bob's chains up; then a burst in one chain
    first = alice.seal(MESSAGE, ad)
    bob.open(first.header, first.ciphertext, first.nonce, first.tag, ad)
    seal, open_ = [], []
    for _ in range(runs):
        t, s = timed(lambda: alice.seal(MESSAGE, ad))
        seal.append(t)
        t, _ = timed(lambda s=s: bob.open(s.header, s.ciphertext, s.nonce, s.tag, ad))
        open_.append(t)
    report(bench="seal", curve=curve, mode="ratchet, same chain", **summary(seal))
    report(bench="open", curve=curve, mode="ratchet, same chain", **summary(open_))

    # back and forth: every message opened turns the DH ratchet
    seal, open_ = [], []
    sides = [(bob, alice), (alice, bob)]
    for i in range(runs):
        sender, receiver = sides[i % 2]
        t, s = timed(lambda sender=sender: sender.seal(MESSAGE, ad))
        seal.append(t)
        t, opened = timed(lambda s=s, r=receiver: r.open(s.header, s.ciphertext, s.nonce,
                                                          s.tag, ad))
        assert opened.steps[0].kind == "dh receive"
        open_.append(t)
    report(bench="seal", curve=curve, mode="ratchet, after a DH step", **summary(seal))
    report(bench="open", curve=curve, mode="ratchet, DH step", **summary(open_))


def agreed(curve: str, version: envelope.Version) -> tuple[Channel, Channel]:
    """Alice's and Bob's channels as key agreement (`pairs.agree`) leaves them."""
    keys = {"alice": crypto.generate_private_key(curve), "bob": crypto.generate_private_key(curve)}
    out = []
    for me, peer in (("alice", "bob"), ("bob", "alice")):
        pair = Pair(peer, Channel(room="lab", me=me, peer=peer))
        pair.public_key = keys[peer].public_key()
        pair.public_raw = crypto.public_bytes(keys[peer])
        pair.offered = version
        assert agree(pair, private=keys[me], public_raw=crypto.public_bytes(keys[me]),
                     curve=curve, states=KeyStates(), offer=version)
        out.append(pair.channel)
    return out[0], out[1]


def bench_envelope(curve: str, runs: int) -> None:
    """The whole message as the session seals and opens it (header, associated data, base64,
    the replay window), back and forth: static v1 versus the ratchet (a DH step each)."""
    for version in (envelope.V1, envelope.RATCHET):
        alice, bob = agreed(curve, version)
        seal, open_ = [], []
        for i in range(runs):
            sender, receiver = (alice, bob) if i % 2 == 0 else (bob, alice)
            t, s = timed(lambda sender=sender, i=i: sender.seal(MESSAGE, message_id=f"m{i}"))
            seal.append(t)
            t, verdict = timed(lambda s=s, r=receiver: r.open(s.payload))
            assert verdict.text, verdict
            open_.append(t)
        mode = f"envelope {version.name}, back and forth"
        report(bench="seal", curve=curve, mode=mode, **summary(seal))
        report(bench="open", curve=curve, mode=mode, **summary(open_))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--curves", default=",".join(CURVES))
    args = parser.parse_args()
    report(bench="ratchet_start", uptime=uptime(), message_bytes=len(MESSAGE))
    for curve in args.curves.split(","):
        bench_curve(curve, args.runs)
        bench_envelope(curve, args.runs)
    report(bench="ratchet_end", uptime=uptime())


if __name__ == "__main__":
    main()
