"""Smart's attack: on an anomalous curve (#E = p) the discrete log is a division.

Educational, broken on purpose; never use for real secrets.

N. P. Smart, "The discrete logarithm problem on elliptic curves of trace one", J. Cryptology
12 (1999); found independently by Semaev and by Satoh and Araki.  Lift the curve and the
points from F_p to the p-adic integers (here: modulo p^2 is enough, by Hensel's lemma).  As
#E = p, p * P' lands in the kernel of reduction, where the formal-group parameter
t = -x/y is a homomorphism onto p Z_p; so t(p Q') / t(p P') = d (mod p).  Two scalar
multiplications modulo p^2: milliseconds, whatever the size of p.

``EXCEPTIONAL_CURVE`` is a published 512-bit anomalous curve: the curve of CryptoHack's
"Exceptional Curves" challenge (https://cryptohack.org/challenges/ecc/), whose author
announced it as having prime order.  It has: its order is p.  G is ours, the point with the
smallest x.
"""

from __future__ import annotations

import random
from dataclasses import replace

from .. import ecmath
from ..curves import Curve, custom_curve
from .common import AttackFailed, AttackResult, AttackStep, resolve

__all__ = ["EXCEPTIONAL_CURVE", "smart_attack", "is_anomalous"]


def _exceptional_curve() -> Curve:
    p = int("a15c4fb663a578d8b2496d3151a946119ee42695e18e13e90600192b1d0abdbb"
            "6f787f90c8d102ff88e284dd4526f5f6b6c980bf88f1d0490714b67e8a2a2b77", 16)
    a = int("5e009506fcc7eff573bc960d88638fe25e76a9b6c7caeea072a27dcd1fa46abb"
            "15b7b6210cf90caba982893ee2779669bac06e267013486b22ff3e24abae2d42", 16)
    b = int("2ce7d1ca4493b0977f088f6d30d9241f8048fdea112cc385b793bce953998caa"
            "e680864a7d3aa437ea3ffd1441ca3fb352b0b710bb3f053e980e503be9a7fece", 16)
    x = 1
    while (y := ecmath.sqrt_mod(x ** 3 + a * x + b, p)) is None:
        x += 1
    c = custom_curve(p, a, b, x, y, name="cryptohack-exceptional")
    # #E = p: asserted here, checked in the tests (p * G = O, and Hasse leaves one multiple)
    return replace(c, n=p, h=1, security_bits=0)


EXCEPTIONAL_CURVE = _exceptional_curve()


def is_anomalous(curve: Curve | str, G=None) -> bool:
    """Whether p * G is the point at infinity for a G != O: then #E = p (Hasse's window,
    of width 4 sqrt(p), holds only one multiple of the prime p)."""
    c = resolve(curve)
    G = c.G if G is None else G
    return G is not None and ecmath.scalar_mult(c, c.p, G).is_infinity


def _lift(p: int, A: int, B: int, P: tuple[int, int]) -> tuple[int, int]:
    """Hensel: the same x, and y + t p with (y + t p)^2 = x^3 + Ax + B (mod p^2)."""
    x, y = P
    rest = (x ** 3 + A * x + B - y * y) % (p * p) // p
    t = rest * pow(2 * y, -1, p) % p
    return x, y + t * p


def _add(m: int, A: int, P, Q):
    """Affine addition modulo m = p^2 (raises ValueError when a slope's denominator is
    divisible by p: the sum reduces to the point at infinity mod p)."""
    if P is None:
        return Q
    if Q is None:
        return P
    (x1, y1), (x2, y2) = P, Q
    if (x1 - x2) % m == 0 and (y1 - y2) % m == 0:
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, m) % m
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, m) % m
    x3 = (lam * lam - x1 - x2) % m
    return x3, (lam * (x1 - x3) - y1) % m


def _times_p_parameter(p: int, A: int, P: tuple[int, int]) -> tuple[int, int]:
    """t(p P) / p mod p, and the number of operations.  (p-1) P is computed mod p^2 (it
    reduces to -P, never to infinity); the last addition of P has a slope with p in its
    denominator, and t = -x/y of the sum is 1/slope: p * (x1 - x2)/p / (y1 - y2)."""
    m = p * p
    R, ops = None, 0
    for bit in bin(p - 1)[2:]:
        R = _add(m, A, R, R) if R is not None else None
        ops += R is not None
        if bit == "1":
            R = _add(m, A, R, P)
            ops += 1
    (x1, y1), (x2, y2) = R, P
    if (x1 - x2) % p or (y1 + y2) % p:
        raise AttackFailed("(p - 1) * P is not -P modulo p: the curve is not anomalous")
    return (x1 - x2) // p % p * pow(y1 - y2, -1, p) % p, ops + 1


def smart_attack(curve: Curve | str, G, Q, *, seed: int | None = None) -> AttackResult:
    """d with Q = d * G on a curve with #E = p.  ``AttackFailed`` if #E != p."""
    c = resolve(curve)
    p = c.p
    G, Q = tuple(G), tuple(Q)
    for label, P in (("G", G), ("Q", Q)):
        if not ecmath.on_curve(c, P):
            raise ValueError(f"{label} = {P} is not on {c.name}")
    if not is_anomalous(c, G):
        raise AttackFailed(f"p * G is not the point at infinity on {c.name}: #E != p, the "
                           "curve is not anomalous and Smart's attack does not apply")
    rng = random.Random(seed)
    ops = 0
    for _attempt in range(5):
        # A random lift of the curve: A = a + r p.  The one lift where the attack sees nothing
        # (the canonical lift) is hit with probability about 1/p; another r then works.
        A = c.a + rng.randrange(1, p) * p
        B = c.b
        tG, ops_g = _times_p_parameter(p, A, _lift(p, A, B, G))
        tQ, ops_q = _times_p_parameter(p, A, _lift(p, A, B, Q))
        ops += ops_g + ops_q
        if tG:
            d = tQ * pow(tG, -1, p) % p
            return AttackResult("Smart (anomalous curve)", d, p, ops, (
                AttackStep("lift G and Q to the p-adics (mod p^2)", {"A": A, "B": B}),
                AttackStep("t(pG)/p and t(pQ)/p", {"tG": tG, "tQ": tQ}),
                AttackStep("d = t(pQ) / t(pG) mod p", {"secret": d}),
            ))
    raise AttackFailed("every lift tried was degenerate")
