"""Point counting for curves too big to list (40-64 bits), and weak curves found by it.

Educational, broken on purpose; never use for real secrets.

``curves`` counts points one x at a time, O(p): fine up to 2^20.  Beyond that we use Hasse's
theorem, #E = p + 1 - t with |t| <= 2 sqrt(p): a point's order divides #E, so a
baby-step giant-step search over that window of width 4 sqrt(p) finds a multiple of its order
in about 4 p^(1/4) additions (Mestre's method).  Once the lowest common multiple of a few point
orders has a single multiple in the window, that multiple is #E.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

from .. import ecmath
from ..curves import Curve, custom_curve, group_order, is_prime
from .common import AttackFailed, RawPoint, add, factor, mul, neg, point_order

# Below this, list the points (Mestre's argument needs p > 229); above, point orders are
# much faster than the O(p) listing.
LISTING_LIMIT = 1 << 12

__all__ = ["hasse_window", "random_point", "count_points", "find_curve", "weak_curve"]


def hasse_window(p: int) -> tuple[int, int]:
    """The interval [p + 1 - 2 sqrt(p), p + 1 + 2 sqrt(p)] that holds #E(F_p)."""
    t = math.isqrt(4 * p)
    return p + 1 - t, p + 1 + t


def random_point(p: int, a: int, b: int, rng: random.Random) -> tuple[int, int]:
    """A random affine point of y^2 = x^3 + ax + b (any b: the curve need not be ours)."""
    while True:
        x = rng.randrange(p)
        y = ecmath.sqrt_mod(x * x * x + a * x + b, p)
        if y is not None:
            return (x, y if rng.random() < 0.5 else -y % p)


def _multiple_in_window(p: int, a: int, P: RawPoint, lo: int, hi: int) -> int:
    """Some m in [lo, hi] with m * P = infinity, by baby-step giant-step."""
    s = math.isqrt(hi - lo) + 1
    baby: dict[RawPoint, int] = {}
    R = None
    for j in range(s):
        baby.setdefault(R, j)
        R = add(p, a, R, P)
    # R = s*P now; walk T = (lo + i*s) * P and look for T + j*P = infinity.
    T = mul(p, a, lo, P)
    for i in range((hi - lo) // s + 1):
        j = baby.get(neg(p, T))
        if j is not None and lo + i * s + j <= hi:
            return lo + i * s + j
        T = add(p, a, T, R)
    raise AttackFailed("no multiple of the point's order in the Hasse window: is p prime?")


def count_points(p: int, a: int, b: int, *, seed: int = 0, attempts: int = 30) -> int:
    """#E(F_p) for y^2 = x^3 + ax + b, including infinity.  Exact: by listing for
    p < 2^12, otherwise from point orders in the Hasse window."""
    a, b = a % p, b % p
    if (4 * a ** 3 + 27 * b ** 2) % p == 0:
        raise ValueError("singular curve: its points do not form a group")
    if p < LISTING_LIMIT:
        return group_order(custom_curve(p, a, b))
    return _count_by_orders(p, a, b, seed=seed, attempts=attempts)


def _count_by_orders(p: int, a: int, b: int, *, seed: int, attempts: int) -> int:
    lo, hi = hasse_window(p)
    rng = random.Random(seed)
    lcm = 1
    for _ in range(attempts):
        P = random_point(p, a, b, rng)
        order = point_order(p, a, P, _multiple_in_window(p, a, P, lo, hi))
        lcm = math.lcm(lcm, order)
        first = -(-lo // lcm) * lcm
        if first + lcm > hi:
            return first
    raise AttackFailed(f"could not pin down #E for y^2 = x^3 + {a}x + {b} over F_{p} "
                       f"(the group's exponent has several multiples in the Hasse window)")


def weak_curve(p: int, a: int, b: int, G: tuple[int, int] | None = None, *,
               name: str | None = None, order: int | None = None) -> Curve:
    """A ``Curve`` record for a curve of any size whose order we counted ourselves.

    ``n`` is the order of G, which, on these curves weakened on purpose, need not be prime
    (``h`` = #E / n).  With no G, a point of the largest order among a few random ones.
    """
    group = order if order is not None else count_points(p, a, b)
    if G is None:
        rng = random.Random(p ^ a ^ b)
        best, best_order = None, 0
        for _ in range(8):
            P = random_point(p, a, b, rng)
            n = point_order(p, a % p, P, group)
            if n > best_order:
                best, best_order = P, n
            if n == group:
                break
        G = best
    n = point_order(p, a % p, G, group)
    c = custom_curve(p, a, b, *G, name=name or f"weak-{p}-{a % p}-{b % p}")
    largest = max(factor(n)) if n > 1 else 1
    return replace(c, n=n, h=group // n, security_bits=largest.bit_length() // 2)


def find_curve(bits: int, *, seed: int, prime_order: bool = False,
               smooth_bound: int | None = None) -> Curve:
    """A random curve over a ``bits``-bit prime field, found by counting points, whose group
    has prime order (``prime_order``) or every prime factor <= ``smooth_bound`` (with G of
    order #E).  Deterministic for a given seed."""
    if prime_order == (smooth_bound is not None):
        raise ValueError("ask for exactly one of prime_order or smooth_bound")
    rng = random.Random(seed)
    while True:
        p = rng.randrange(1 << (bits - 1), 1 << bits) | 1
        if not is_prime(p):
            continue
        a, b = rng.randrange(p), rng.randrange(p)
        if (4 * a ** 3 + 27 * b ** 2) % p == 0:
            continue
        group = count_points(p, a, b, seed=seed)
        if prime_order and is_prime(group):
            return weak_curve(p, a, b, random_point(p, a, b, rng), order=group,
                              name=f"prime-order-{bits}-bit")
        if smooth_bound is not None and max(factor(group)) <= smooth_bound:
            curve = weak_curve(p, a, b, order=group, name=f"smooth-{bits}-bit")
            if curve.n == group:
                return curve
