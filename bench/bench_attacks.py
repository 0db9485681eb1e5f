"""Benchmark the generic discrete-log attacks against group size, and extrapolate to P-256.

One JSON line per measurement: baby-step giant-step and Pollard's rho on curves of prime
order with 16 to 32 bits (median operations and seconds over random keys), the measured cost
of one P-256 addition with the same pure-Python formulas, and the honest extrapolation: rho on
P-256 needs about sqrt(pi n / 2) ~ 2^128 additions at that cost.  Also Smart's attack on the
published 512-bit anomalous curve and the invalid-curve attack on a 48-bit victim.

    python bench/bench_attacks.py [--runs N] [--max-bits B]
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import statistics
import time

from ecc_widgets import ecmath
from ecc_widgets.attacks import (
    EXCEPTIONAL_CURVE,
    bsgs,
    find_curve,
    invalid_curve_attack,
    pollard_rho,
    smart_attack,
    unsafe_ecdh,
)
from ecc_widgets.attacks.common import add
from ecc_widgets.curves import get_curve

YEAR = 365.25 * 24 * 3600


def report(**fields) -> None:
    print(json.dumps(fields), flush=True)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-bits", type=int, default=32)
    args = parser.parse_args()

    for bits in range(16, args.max_bits + 1, 4):
        curve = find_curve(bits, seed=bits, prime_order=True)
        for name, attack in (("bsgs", bsgs), ("pollard_rho", pollard_rho)):
            ops, seconds = [], []
            for _ in range(args.runs):
                d = secrets.randbelow(curve.n - 1) + 1
                Q = tuple(ecmath.scalar_mult(curve, d))
                result, elapsed = timed(attack, curve, curve.G, Q)
                assert result.secret == d
                ops.append(result.operations)
                seconds.append(elapsed)
            med_ops, med_s = statistics.median(ops), statistics.median(seconds)
            report(bench="dlog", attack=name, group_bits=round(math.log2(curve.n), 2),
                   sqrt_n=math.isqrt(curve.n), runs=args.runs, median_operations=med_ops,
                   median_ms=round(med_s * 1000, 3),
                   us_per_operation=round(med_s / med_ops * 1e6, 3))

    p256 = get_curve("P-256")
    A = tuple(ecmath.scalar_mult(p256, secrets.randbelow(p256.n - 1) + 1))
    B = tuple(ecmath.scalar_mult(p256, secrets.randbelow(p256.n - 1) + 1))
    samples = []
    for _ in range(21):
        start = time.perf_counter()
        for _ in range(500):
            add(p256.p, p256.a, A, B)
        samples.append((time.perf_counter() - start) / 500)
    p256_add = statistics.median(samples)
    report(bench="p256_addition", impl="attacks.common.add (affine, pure Python)",
           median_us=round(p256_add * 1e6, 3), repeats=21)
    rho_ops = math.sqrt(math.pi * p256.n / 2)
    report(bench="extrapolation", attack="pollard_rho", curve="P-256",
           operations_log2=round(math.log2(rho_ops), 2),
           seconds_per_operation=p256_add, years=f"{rho_ops * p256_add / YEAR:.2e}")

    c = EXCEPTIONAL_CURVE
    d = secrets.randbelow(c.p - 1) + 1
    result, elapsed = timed(smart_attack, c, c.G, tuple(ecmath.scalar_mult(c, d)))
    assert result.secret == d
    report(bench="smart_attack", curve=c.name, p_bits=c.p.bit_length(),
           ms=round(elapsed * 1000, 1))

    victim, found = timed(find_curve, 48, seed=1, prime_order=True)
    d = secrets.randbelow(victim.n - 1) + 1
    result, elapsed = timed(invalid_curve_attack, lambda data: unsafe_ecdh(victim, d, data),
                            victim, tuple(ecmath.scalar_mult(victim, d)))
    assert result.secret == d
    report(bench="invalid_curve_attack", victim_bits=48, find_curve_ms=round(found * 1000, 1),
           attack_ms=round(elapsed * 1000, 1), points_sent=len(result.steps) - 1)


if __name__ == "__main__":
    main()
