"""Generic discrete logarithms: baby-step giant-step, Pollard's rho, Pohlig-Hellman.

Educational, broken on purpose; never use for real secrets.

"Generic" means they use nothing but the group operation, so they work the same in any group:
here on toy elliptic curves, and (in ``singular``) in F_p* and F_p^2* once a singular curve
has been mapped there.  Both need about sqrt(n) operations for a group of prime order n:
2^128 for P-256, which is the whole point of choosing n that large and prime.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from .. import ecmath
from ..curves import COUNTING_LIMIT, Curve, group_order, is_prime
from .common import (
    AttackFailed,
    AttackResult,
    AttackStep,
    RawPoint,
    add,
    crt,
    factor,
    mul,
    neg,
    point_order,
    resolve,
)
from .counting import count_points

__all__ = ["Group", "curve_group", "bsgs", "pollard_rho", "pohlig_hellman",
           "generic_bsgs", "generic_rho", "generic_pohlig_hellman", "RHO_WALK_SAMPLE"]

RHO_WALK_SAMPLE = 4000  # walk points kept in the result, for plots


@dataclass(frozen=True)
class Group:
    """A group given by its operation: enough for every generic algorithm here."""

    op: Callable[[Hashable, Hashable], Hashable]
    identity: Hashable
    inverse: Callable[[Hashable], Hashable]
    power: Callable[[int, Hashable], Hashable]
    key: Callable[[Hashable], int]  # a number that splits elements into walk classes


def curve_group(curve: Curve) -> Group:
    p, a = curve.p, curve.a
    return Group(op=lambda P, Q: add(p, a, P, Q), identity=None,
                 inverse=lambda P: neg(p, P), power=lambda k, P: mul(p, a, k, P),
                 key=lambda P: 0 if P is None else P[0])


class _Counted:
    """The group with its operations counted (powers count their doublings and adds)."""

    def __init__(self, group: Group):
        self.group, self.count = group, 0

    def op(self, x, y):
        self.count += 1
        return self.group.op(x, y)

    def power(self, k, x):
        self.count += max(1, 2 * abs(k).bit_length() - 1)
        return self.group.power(k, x)


def generic_bsgs(group: Group, g, h, n: int) -> tuple[int, int, dict]:
    """x in [0, n) with g^x = h, by baby-step giant-step: (x, operations, details).

    Baby steps store g^j for j < m = ceil(sqrt(n)); giant steps walk h * g^(-m*i) until it
    meets the table: then x = i*m + j.  At most about 2 sqrt(n) operations."""
    counted = _Counted(group)
    m = math.isqrt(n - 1) + 1
    table: dict = {}
    R = group.identity
    for j in range(m):
        table.setdefault(R, j)
        R = counted.op(R, g)
    stride = group.inverse(R)  # g^(-m)
    gamma = h
    for i in range(m):
        j = table.get(gamma)
        if j is not None:
            return (i * m + j) % n, counted.count, {"m": m, "baby": m, "giant": i, "i": i, "j": j}
        gamma = counted.op(gamma, stride)
    raise AttackFailed("Q is not a multiple of G: there is no discrete logarithm to find")


def generic_rho(group: Group, g, h, n: int, *, seed: int | None = None,
                branches: int = 20) -> tuple[int, int, dict]:
    """x with g^x = h by Pollard's rho: a pseudo-random walk X -> X * M_i (M_i = g^a_i h^b_i,
    i chosen by X) until it revisits a point (after about sqrt(pi n / 2) steps, the birthday
    bound); the two ways of reaching that point give a_1 + x b_1 = a_2 + x b_2 (mod n)."""
    rng = random.Random(seed)
    counted = _Counted(group)
    for attempt in range(20):
        coeffs = [(rng.randrange(n), rng.randrange(n)) for _ in range(branches)]
        steps = [counted.op(counted.power(s, g), counted.power(t, h)) for s, t in coeffs]
        a0, b0 = rng.randrange(n), rng.randrange(n)
        X = counted.op(counted.power(a0, g), counted.power(b0, h))
        a, b = a0, b0
        seen: dict = {}
        walk: list[int] = []
        while X not in seen:
            seen[X] = (a, b, len(seen))
            if len(walk) < RHO_WALK_SAMPLE:
                walk.append(group.key(X))
            i = group.key(X) % branches
            X = counted.op(X, steps[i])
            a, b = (a + coeffs[i][0]) % n, (b + coeffs[i][1]) % n
        a1, b1, tail = seen[X]
        db, da = (b - b1) % n, (a1 - a) % n
        d = math.gcd(db, n)
        if da % d == 0 and d <= 1 << 16:
            base = da // d * pow(db // d, -1, n // d) % (n // d) if n // d > 1 else 0
            for k in range(d):
                x = base + k * (n // d)
                if group.power(x, g) == h:
                    details = {"walk_length": len(seen), "tail": tail,
                               "cycle": len(seen) - tail, "walk_keys": walk,
                               "expected": math.sqrt(math.pi * n / 2), "restarts": attempt}
                    return x, counted.count, details
    raise AttackFailed("Pollard's rho found no logarithm: is Q a multiple of G?")


def generic_pohlig_hellman(group: Group, g, h, n: int, factors: dict[int, int],
                           ) -> tuple[int, int, list[AttackStep]]:
    """x mod n from x mod q^e for each prime power q^e of n, and the CRT.  In the subgroup of
    order q^e the log is found one base-q digit at a time, each a log in a group of order q."""
    counted = _Counted(group)
    residues, moduli, steps = [], [], []
    for q, e in factors.items():
        before = counted.count
        cofactor = n // q ** e
        g_q = counted.power(cofactor, g)            # order q^e
        h_q = counted.power(cofactor, h)
        gamma = counted.power(q ** (e - 1), g_q)    # order q
        x_q = 0
        for k in range(e):
            # strip the digits found so far, then look at the k-th digit alone
            rest = counted.op(h_q, counted.power(-x_q, g_q))
            target = counted.power(q ** (e - 1 - k), rest)
            digit, ops, _ = generic_bsgs(group, gamma, target, q)
            counted.count += ops
            x_q += digit * q ** k
        residues.append(x_q)
        moduli.append(q ** e)
        steps.append(AttackStep(f"subgroup of order {q}^{e}", {
            "q": q, "e": e, "residue": x_q, "modulus": q ** e,
            "operations": counted.count - before}))
    x, modulus = crt(residues, moduli)
    steps.append(AttackStep("Chinese remainder theorem", {
        "residues": residues, "moduli": moduli, "secret": x, "modulus": modulus}))
    return x, counted.count, steps


# ---------------------------------------------------------------- on elliptic curves

def _setting(curve: Curve | str, G, Q, order: int | None) -> tuple[Curve, RawPoint, RawPoint, int]:
    c = resolve(curve)
    if c.form != "weierstrass":
        raise ValueError(f"{c.name} is a {c.form} curve; these attacks take Weierstrass curves")
    for label, P in (("G", G), ("Q", Q)):
        if not ecmath.on_curve(c, P):
            raise ValueError(f"{label} = {P} is not on {c.name}")
    G, Q = tuple(G), tuple(Q)
    if order is None:
        if c.G == G and c.n:
            order = c.n
        else:
            if c.n and c.h:
                group = c.n * c.h
            elif c.p <= COUNTING_LIMIT:
                group = group_order(c)
            else:
                group = count_points(c.p, c.a, c.b)
            order = point_order(c.p, c.a, G, group)
    return c, G, Q, order


def bsgs(curve: Curve | str, G, Q, *, order: int | None = None) -> AttackResult:
    """d with Q = d * G by baby-step giant-step (time and memory ~ sqrt of G's order)."""
    c, G, Q, n = _setting(curve, G, Q, order)
    d, ops, info = generic_bsgs(curve_group(c), G, Q, n)
    return AttackResult("baby-step giant-step", d, n, ops, (
        AttackStep("baby steps: j*G for j < m", {"m": info["m"], "stored": info["baby"]}),
        AttackStep("giant steps: Q - i*m*G", {"giant": info["giant"]}),
        AttackStep("match: Q = (i*m + j) * G", {"i": info["i"], "j": info["j"], "secret": d}),
    ))


def pollard_rho(curve: Curve | str, G, Q, *, order: int | None = None,
                seed: int | None = None) -> AttackResult:
    """d with Q = d * G by Pollard's rho (time ~ sqrt(pi n / 2); the walk is kept for a
    plot: its x-coordinates, the tail before the cycle and the cycle length)."""
    c, G, Q, n = _setting(curve, G, Q, order)
    d, ops, info = generic_rho(curve_group(c), G, Q, n, seed=seed)
    return AttackResult("Pollard's rho", d, n, ops, (
        AttackStep("random walk", {"x": info["walk_keys"], "length": info["walk_length"],
                                   "expected": info["expected"], "restarts": info["restarts"]}),
        AttackStep("collision", {"tail": info["tail"], "cycle": info["cycle"], "secret": d}),
    ))


# Beyond this the subgroup logs themselves are out of reach for pure Python.
PH_LARGEST_FACTOR = 1 << 44


def pohlig_hellman(curve: Curve | str, G, Q, *, order: int | None = None) -> AttackResult:
    """d with Q = d * G when G's order n is smooth: the log in each prime-power subgroup,
    then the CRT.  Costs about sum(e * sqrt(q)) instead of sqrt(n).  ``AttackFailed`` when n
    is prime (there are no subgroups to split into) or its largest factor is too big."""
    c, G, Q, n = _setting(curve, G, Q, order)
    if is_prime(n):
        raise AttackFailed(
            f"G has prime order n = {n}: there is no smaller subgroup to split the log into, "
            "so Pohlig-Hellman is no better than rho. That is why standard curves use a base "
            "point of prime order.")
    factors = factor(n)
    if max(factors) > PH_LARGEST_FACTOR:
        raise AttackFailed(f"n = {n} has the prime factor {max(factors)}: too large a subgroup "
                           "(the log there costs its square root)")
    d, ops, steps = generic_pohlig_hellman(curve_group(c), G, Q, n, factors)
    return AttackResult("Pohlig-Hellman", d, n, ops, tuple(steps))
