"""Benchmark what grinding the short code costs a relay in the middle, with and without the
commitment exchange (ecc_widgets.sas).

Without a commitment (`sas.keys_only_bytes`) Mallory tries keys for one side until its code
matches the other's in the compared bits: one try is a key generation, an ECDH and an HKDF,
so the rate below gives the time to match the first emoji (6 bits), the first number (13),
three emoji (18) and all seven (42) on one core. With the commitment she plays the exchange
as best she can (her nonce to the committer first, as many commitments to the revealer as
it takes, which is one) and the match rate is measured over many exchanges.

One JSON line per measurement, with the machine's load.

    python bench/bench_sas.py [--seconds S] [--trials N]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from ecc_widgets import crypto, sas

BITS = {"first emoji": 6, "first number": 13, "three emoji": 18, "all seven emoji": 42}


def report(**fields) -> None:
    print(json.dumps({**fields, "load_1min": round(os.getloadavg()[0], 2)}), flush=True)


def keys_only_rate(curve: str, seconds: float) -> float:
    alice = crypto.generate_private_key(curve)
    tries, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        fake = crypto.generate_private_key(curve)
        sas.keys_only_bytes(crypto.ecdh(fake, alice.public_key()), curve=curve,
                            public_a=crypto.public_bytes(fake),
                            public_b=crypto.public_bytes(alice))
        tries += 1
    return tries / (time.perf_counter() - began)


def side(me: str, peer: str, private, public, curve: str) -> sas.Exchange:
    return sas.Exchange(committer=sas.is_committer(me, peer),
                        shared_secret=crypto.ecdh(private, public.public_key()), curve=curve,
                        ours=crypto.public_bytes(private), theirs=crypto.public_bytes(public))


def committed_match(curve: str, bits: int) -> bool:
    a, b, m1, m2 = (crypto.generate_private_key(curve) for _ in range(4))
    alice, bob = side("alice", "bob", a, m1, curve), side("bob", "alice", b, m2, curve)
    as_bob = side("bob", "alice", m1, a, curve)          # Mallory reveals to alice...
    as_bob.receive(*alice.receive(*as_bob.receive(*alice.start()[0])[0])[0])
    target, chosen = alice.code.leading_bits(bits), None
    for _ in range(1 << bits):                           # ...and commits to bob, again and again
        as_alice = side("alice", "bob", m2, b, curve)
        answer = bob.receive(*as_alice.start()[0])
        if not answer:
            break                                        # one commitment per key pair
        as_alice.receive(*answer[0])
        chosen = as_alice
        if as_alice.code.leading_bits(bits) == target:
            break
    bob.receive(*chosen.pending()[-1])
    return bob.code is not None and bob.code.leading_bits(bits) == target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args()
    for curve in ("X25519", "P-256"):
        rate = keys_only_rate(curve, args.seconds)
        report(bench="keys_only_grinding", curve=curve, tries_per_second=round(rate, 1),
               **{f"seconds_to_match_{name.replace(' ', '_')}": round(2 ** bits / rate, 3)
                  for name, bits in BITS.items()})
    bits = BITS["first emoji"]
    matches = sum(committed_match("X25519", bits) for _ in range(args.trials))
    report(bench="committed_matches", curve="X25519", bits=bits, trials=args.trials,
           matches=matches, rate=round(matches / args.trials, 4),
           one_guess_rate=round(2 ** -bits, 4))


if __name__ == "__main__":
    main()
