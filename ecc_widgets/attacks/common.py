"""What every attack shares: the result record, small number theory, and raw point arithmetic.

Educational, broken on purpose; never use for real secrets.

The attacks work on points as plain ``(x, y)`` tuples with ``None`` for the point at infinity,
and add them with the curve module's private affine formulas, which take ``(p, a)`` only:
they never read ``b``.  That is exactly the weakness the invalid-curve attack uses, and it is
what makes millions of additions affordable in pure Python.  This module is the one place
that reaches into those private helpers (``curves._add``, ``curves._mul``,
``ecmath._jacobian_mult``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from .. import curves, ecmath
from ..curves import Curve, get_curve, is_prime

__all__ = [
    "AttackFailed",
    "AttackStep",
    "AttackResult",
    "RawPoint",
    "add",
    "neg",
    "mul",
    "on_curve",
    "crt",
    "factor",
    "point_order",
    "resolve",
]

RawPoint = tuple[int, int] | None  # None is the point at infinity


class AttackFailed(ValueError):
    """The attack does not apply to this setting (and says why)."""


@dataclass(frozen=True)
class AttackStep:
    """One stage of an attack, as data: a short label and the numbers a plot or widget needs."""

    what: str
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AttackResult:
    """``secret`` is the recovered integer, known modulo ``modulus`` (the order of the base
    point, or of the group the attack mapped it into); ``operations`` counts group operations
    (point additions and doublings, or field multiplications for the singular curves)."""

    attack: str
    secret: int
    modulus: int
    operations: int
    steps: tuple[AttackStep, ...]


def resolve(curve: Curve | str) -> Curve:
    return get_curve(curve)


# ---------------------------------------------------------------- raw point arithmetic

def add(p: int, a: int, P: RawPoint, Q: RawPoint) -> RawPoint:
    """P + Q with the affine chord-and-tangent formulas (which never read b)."""
    return curves._add(p, a, P, Q)


def neg(p: int, P: RawPoint) -> RawPoint:
    return None if P is None else (P[0], -P[1] % p)


def mul(p: int, a: int, k: int, P: RawPoint) -> RawPoint:
    """k * P by double-and-add in Jacobian coordinates (the maths module's own loop)."""
    if P is None or k == 0:
        return None
    if k < 0:
        k, P = -k, neg(p, P)
    X, Y, Z = ecmath._jacobian_mult(Curve("raw", p, a, 0, None, None, None, None, 0, 0),
                                    k, P[0], P[1], None)
    point = ecmath._to_affine(p, X, Y, Z)
    return None if point.is_infinity else (point.x, point.y)


def on_curve(p: int, a: int, b: int, P: RawPoint) -> bool:
    return P is None or (P[1] * P[1] - (P[0] ** 3 + a * P[0] + b)) % p == 0


# ---------------------------------------------------------------- number theory

def crt(residues: list[int], moduli: list[int]) -> tuple[int, int]:
    """The x modulo lcm(moduli) with x = r_i (mod m_i) for every i: (x, lcm).
    ``AttackFailed`` if the congruences contradict each other."""
    x, m = 0, 1
    for r, mi in zip(residues, moduli, strict=True):
        g = math.gcd(m, mi)
        if (r - x) % g:
            raise AttackFailed(f"{x} mod {m} and {r} mod {mi} contradict each other")
        lcm = m // g * mi
        t = ((r - x) // g) * pow(m // g, -1, mi // g) % (mi // g) if mi // g > 1 else 0
        x, m = (x + m * t) % lcm, lcm
    return x, m


def _pollard_brent(n: int, rng: random.Random) -> int:
    """A non-trivial factor of the composite n (Pollard's rho with Brent's cycle finding)."""
    if n % 2 == 0:
        return 2
    while True:
        y, c, m = rng.randrange(1, n), rng.randrange(1, n), 128
        g = r = q = 1
        while g == 1:
            x = y
            for _ in range(r):
                y = (y * y + c) % n
            k = 0
            while k < r and g == 1:
                ys = y
                for _ in range(min(m, r - k)):
                    y = (y * y + c) % n
                    q = q * abs(x - y) % n
                g = math.gcd(q, n)
                k += m
            r *= 2
        if g == n:
            g = 1
            while g == 1:
                ys = (ys * ys + c) % n
                g = math.gcd(abs(x - ys), n)
        if g != n:
            return g


def factor(n: int) -> dict[int, int]:
    """The prime factorisation {q: e} of n >= 1 (trial division, then Pollard's rho; fine for
    the 64-bit numbers met here)."""
    out: dict[int, int] = {}
    for q in (2, 3, 5):
        while n % q == 0:
            out[q] = out.get(q, 0) + 1
            n //= q
    q = 7
    while q * q <= n and q < 1 << 12:
        while n % q == 0:
            out[q] = out.get(q, 0) + 1
            n //= q
        q += 2
    stack = [n] if n > 1 else []
    rng = random.Random(n)
    while stack:
        m = stack.pop()
        if is_prime(m):
            out[m] = out.get(m, 0) + 1
        else:
            f = _pollard_brent(m, rng)
            stack += [f, m // f]
    return dict(sorted(out.items()))


def point_order(p: int, a: int, P: RawPoint, multiple: int) -> int:
    """The order of P, given any ``multiple`` with multiple * P = infinity."""
    if mul(p, a, multiple, P) is not None:
        raise ValueError(f"{multiple} * P is not the point at infinity")
    order = multiple
    for q in factor(multiple):
        while order % q == 0 and mul(p, a, order // q, P) is None:
            order //= q
    return order
