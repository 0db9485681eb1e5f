"""The MOV attack: a pairing carries the discrete log from a curve into F_p^2*.

Educational, broken on purpose; never use for real secrets.

Menezes, Okamoto and Vanstone (1993).  A pairing e is bilinear: e(dG, R) = e(G, R)^d.  So
Q = dG on the curve becomes h = g^d in a finite field, with g = e(G, R) and h = e(Q, R).  For
most curves that field is astronomically large (its degree, the *embedding degree* k, the
smallest k with n | p^k - 1, is about n), but for supersingular curves k <= 6, and for
y^2 = x^3 + x over p = 3 (mod 4), #E = p + 1 and k = 2: the log lands in F_p^2*, where
index-calculus methods take subexponential time.  Here the toy field log is solved with the
generic baby-step giant-step, to check that the map is right.

The pairing is the reduced Tate pairing e(P, psi(Q)) computed by Miller's algorithm, with the
distortion map psi(x, y) = (-x, i y) (i^2 = -1), which makes e(G, psi(G)) != 1.
"""

from __future__ import annotations

import random

from ..curves import Curve, is_prime
from .common import AttackFailed, AttackResult, AttackStep, RawPoint, add, neg, resolve
from .counting import random_point, weak_curve
from .dlog import generic_bsgs
from .singular import fp2_group

__all__ = ["supersingular_curve", "embedding_degree", "tate_pairing", "mov_attack"]


def supersingular_curve(bits: int, *, seed: int) -> Curve:
    """y^2 = x^3 + x over a ``bits``-bit prime p = 3 (mod 4) with p + 1 = 4n, n prime:
    a supersingular curve with #E = p + 1 and a base point of prime order n."""
    rng = random.Random(seed)
    while True:
        p = rng.randrange(1 << (bits - 1), 1 << bits) | 3
        if p % 4 == 3 and is_prime(p) and is_prime((p + 1) // 4):
            G = None
            while G is None:
                R = random_point(p, 1, 0, rng)
                G = add(p, 1, add(p, 1, R, R), add(p, 1, R, R))  # 4R: order n or 1
            return weak_curve(p, 1, 0, G, order=p + 1, name=f"supersingular-{bits}-bit")


def embedding_degree(curve: Curve | str, limit: int = 12) -> int | None:
    """The smallest k <= limit with n | p^k - 1, or None (for P-256 it is about n)."""
    c = resolve(curve)
    for k in range(1, limit + 1):
        if (pow(c.p, k, c.n) - 1) % c.n == 0:
            return k
    return None


def tate_pairing(curve: Curve | str, P: RawPoint, Q: RawPoint) -> tuple[int, int]:
    """e(P, psi(Q)) = f_{n,P}(psi(Q))^((p^2 - 1)/n), an element u + v i of F_p^2.

    Miller's loop builds f_{n,P} one bit of n at a time from the lines of double-and-add,
    evaluated at psi(Q) = (-x_Q, i y_Q).  Vertical lines take values in F_p, which the final
    power (a multiple of p - 1) sends to 1, so they are left out."""
    c = resolve(curve)
    p, a, n = c.p, c.a, c.n
    field = fp2_group(p, p - 1)
    xq, yq = Q

    def line(T, slope):  # y - y_T - slope (x - x_T) at (-x_Q, i y_Q)
        return ((-T[1] + slope * (xq + T[0])) % p, yq % p)

    f, T = (1, 0), P
    for bit in bin(n)[3:]:
        slope = (3 * T[0] * T[0] + a) * pow(2 * T[1], -1, p) % p
        f = field.op(field.op(f, f), line(T, slope))
        T = add(p, a, T, T)
        if bit == "1":
            if neg(p, P) == T:  # the last step: T + P = O, a vertical line
                T = None
                continue
            slope = (P[1] - T[1]) * pow(P[0] - T[0], -1, p) % p
            f = field.op(f, line(T, slope))
            T = add(p, a, T, P)
    return field.power((p * p - 1) // n, f)


def mov_attack(curve: Curve | str, G, Q) -> AttackResult:
    """d with Q = d G on y^2 = x^3 + x over p = 3 (mod 4), through the Tate pairing into
    F_p^2*.  ``AttackFailed`` for any other curve (its embedding degree is not 2, or there is
    no distortion map here)."""
    c = resolve(curve)
    p = c.p
    if (c.a % p, c.b % p) != (1, 0) or p % 4 != 3 or c.n is None:
        k = embedding_degree(c) if c.n else None
        raise AttackFailed(
            f"{c.name} is not the supersingular y^2 = x^3 + x over p = 3 (mod 4) "
            f"(embedding degree {k if k else 'above 12'}): the pairing would land in "
            "F_p^k* with k far too large for the log there to be any easier")
    G, Q = tuple(G), tuple(Q)
    field = fp2_group(p, p - 1)
    g = tate_pairing(c, G, G)
    h = tate_pairing(c, Q, G)
    if g == field.identity:
        raise AttackFailed("the pairing of G with itself is 1: G does not have order n")
    d, ops, info = generic_bsgs(field, g, h, c.n)
    return AttackResult("MOV (Tate pairing)", d, c.n, ops, (
        AttackStep("pair into F_p^2*", {"g": g, "h": h, "embedding_degree": 2}),
        AttackStep("log in F_p^2* (baby-step giant-step)", {"secret": d, "m": info["m"]}),
    ))
