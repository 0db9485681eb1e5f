"""The invalid-curve attack: a victim that does not check that a public point is on its curve.

Educational, broken on purpose; never use for real secrets.

The addition and doubling formulas for y^2 = x^3 + ax + b use a but never b.  So a victim that
multiplies whatever point it receives by its private d is really computing on the curve
y^2 = x^3 + ax + b' that this point happens to lie on, with b' = y^2 - x^3 - ax.  An attacker
picks b' so that this other curve has a point P of small order q, sends P, and learns from the
shared secret x(d*P) the value d mod q (up to sign: x(kP) = x(-kP)).  A handful of such points
and the Chinese remainder theorem give d; the public key settles the signs.

The defence is one line: refuse a point that is not on the curve (``ecmath.decode_point`` and
``cryptography`` both do).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from itertools import product

from .. import ecmath
from ..curves import Curve
from .common import (
    AttackFailed,
    AttackResult,
    AttackStep,
    add,
    crt,
    factor,
    mul,
    neg,
    resolve,
)
from .counting import count_points, random_point

__all__ = ["unsafe_ecdh", "invalid_curve_attack", "small_order_points", "encode_unchecked"]


def encode_unchecked(curve: Curve | str, P: tuple[int, int]) -> bytes:
    """SEC1 uncompressed bytes for any pair (x, y), on the curve or not."""
    c = resolve(curve)
    return b"\x04" + P[0].to_bytes(c.byte_length, "big") + P[1].to_bytes(c.byte_length, "big")


def unsafe_ecdh(curve: Curve | str, private_value: int, public_point: bytes) -> bytes:
    """UNSAFE ECDH, broken on purpose: ``ecmath.ecdh`` without the point validation.

    Takes an uncompressed SEC1 point, multiplies it by ``private_value`` with the usual
    formulas and returns the x-coordinate as big-endian bytes (all zero for the point at
    infinity, as naive code gives).  Never checks that the point is on the curve, which is
    exactly what the invalid-curve attack needs."""
    c = resolve(curve)
    size = c.byte_length
    data = bytes(public_point)
    if len(data) != 1 + 2 * size or data[0] != 4:
        raise ValueError(f"expected an uncompressed {c.name} point of {1 + 2 * size} bytes")
    P = (int.from_bytes(data[1:1 + size], "big"), int.from_bytes(data[1 + size:], "big"))
    S = mul(c.p, c.a, private_value, P)  # no on-curve check: the whole bug
    return (0 if S is None else S[0]).to_bytes(size, "big")


def small_order_points(curve: Curve | str, *, seed: int = 0) -> list[dict]:
    """Points of order 2 and 3 on curves y^2 = x^3 + ax + b' (b' != b), for any curve,
    even P-256, found from the division polynomials rather than by counting points:
    (x, 0) has order 2 when b' = -x^3 - ax; x is the abscissa of a point of order 3 when
    3x^4 + 6ax^2 + 12b'x - a^2 = 0, which is linear in b'."""
    c = resolve(curve)
    p, a = c.p, c.a
    rng = random.Random(seed)
    x = rng.randrange(1, p)
    found = [{"order": 2, "b": (-x ** 3 - a * x) % p, "point": (x, 0)}]
    while True:
        x = rng.randrange(1, p)
        b2 = (a * a - 3 * x ** 4 - 6 * a * x * x) * pow(12 * x, -1, p) % p
        y = ecmath.sqrt_mod(x ** 3 + a * x + b2, p)
        if y and b2 != c.b:
            found.append({"order": 3, "b": b2, "point": (x, y)})
            return found


def _log_by_x(p: int, a: int, P: tuple[int, int], q: int, x: int) -> tuple[int, int]:
    """k in [0, q/2] with x(k*P) = x (0 for the point at infinity), by walking; (k, adds)."""
    R = None
    for k in range(q // 2 + 1):
        if (0 if R is None else R[0]) == x:
            return k, k
        R = add(p, a, R, P)
    raise AttackFailed(f"no multiple of the order-{q} point has x = {x}: "
                       "the victim is not computing d * P")


def invalid_curve_attack(oracle: Callable[[bytes], bytes], curve: Curve | str,
                         public_key: tuple[int, int], *, max_order: int = 1 << 12,
                         seed: int = 0, max_curves: int = 500) -> AttackResult:
    """Recover the victim's d from ``oracle(point_bytes) -> shared x bytes``.

    For random b', count the points of y^2 = x^3 + ax + b' (the victim's a), take a point P
    of each new small prime order q <= ``max_order``, and learn d = +-k (mod q) from
    oracle(P).  Once the product of the q's reaches n, try the sign combinations with the CRT
    and keep the one with d * G = ``public_key``.  ``AttackFailed`` if the victim refuses an
    invalid point (it validates, as it should)."""
    c = resolve(curve)
    p, a, n = c.p, c.a, c.n
    if n is None or c.G is None:
        raise ValueError(f"{c.name} needs a base point and its order")
    rng = random.Random(seed)
    leaks: list[tuple[int, int]] = []
    steps: list[AttackStep] = []
    modulus, operations = 1, 0
    for tried in range(max_curves):
        if modulus >= n:
            break
        b2 = rng.randrange(p)
        if b2 == c.b % p or (4 * a ** 3 + 27 * b2 * b2) % p == 0:
            continue
        group = count_points(p, a, b2, seed=tried)
        for q in factor(group):
            if modulus >= n:
                break
            if q > max_order or modulus % q == 0:
                continue
            P = mul(p, a, group // q, random_point(p, a, b2, rng))
            if P is None:
                continue
            sent = encode_unchecked(c, P)
            try:
                shared = oracle(sent)
            except ValueError as exc:
                raise AttackFailed(
                    f"the victim refused a point of order {q} on y^2 = x^3 + {a}x + {b2} "
                    f"({exc}): it validates public points, so this attack gets nothing"
                ) from exc
            k, adds = _log_by_x(p, a, P, q, int.from_bytes(shared, "big"))
            operations += adds
            leaks.append((q, k))
            modulus *= q
            steps.append(AttackStep(f"point of order {q}", {
                "b": b2, "group_order": group, "q": q, "point": P, "sent": sent,
                "shared_x": int.from_bytes(shared, "big"), "residue": k}))
    else:
        raise AttackFailed(f"{max_curves} invalid curves gave only d mod {modulus} < n")
    # d = +-k (mod q) for each q: try the signs (k = 0 or q = 2 have one) against the key.
    choices = [sorted({k, -k % q}) for q, k in leaks]
    moduli = [q for q, _ in leaks]
    target = tuple(public_key)
    for residues in product(*choices):
        d, _ = crt(list(residues), moduli)
        d %= n
        operations += 1
        if d and mul(p, a, d, c.G) == target:
            steps.append(AttackStep("signs chosen by the public key", {
                "residues": list(residues), "moduli": moduli, "secret": d}))
            return AttackResult("invalid-curve", d, n, operations, tuple(steps))
        if d and mul(p, a, d, c.G) == neg(p, target):  # the mirror combination: -d
            steps.append(AttackStep("signs chosen by the public key", {
                "residues": [-r % q for r, q in zip(residues, moduli, strict=True)],
                "moduli": moduli, "secret": n - d}))
            return AttackResult("invalid-curve", n - d, n, operations, tuple(steps))
    raise AttackFailed("no combination of the leaked residues matches the public key")
