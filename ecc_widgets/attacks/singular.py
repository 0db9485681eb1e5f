"""Singular "curves": the discrete log moves into the field, where it is easy.

Educational, broken on purpose; never use for real secrets.

When 4a^3 + 27b^2 = 0 (mod p), x^3 + ax + b has a double root x0, and y^2 = x^3 + ax + b has
a singular point at (x0, 0).  The chord-and-tangent rule still makes a group of the other
points, but that group is an old friend in disguise.  Shift x by x0, so that the curve reads
y^2 = X^2 (X + alpha) with alpha = 3 x0:
- a cusp (alpha = 0, i.e. a = b = 0): (X, y) -> X / y is an isomorphism onto (F_p, +), so
  the "discrete log" is one division;
- a node (alpha != 0): with s^2 = alpha, (X, y) -> (y + sX) / (y - sX) is an isomorphism
  onto a subgroup of F_p* (alpha a square) or of the norm-1 elements of F_p^2* (not a
  square, s lives in F_p^2), where the log is an ordinary finite-field log (Pohlig-Hellman
  when p - 1 or p + 1 is smooth).

``ecmath`` and ``curves.custom_curve`` refuse singular curves; ``singular_curve`` builds the
record anyway, on purpose.
"""

from __future__ import annotations

from .. import ecmath
from ..curves import Curve, is_prime
from .common import AttackFailed, AttackResult, AttackStep, factor, mul, resolve
from .dlog import Group, generic_pohlig_hellman

__all__ = ["singular_curve", "singular_kind", "singular_map", "singular_dlog", "fp2_group"]


def singular_curve(p: int, a: int, b: int, G: tuple[int, int], *, name: str | None = None,
                   ) -> Curve:
    """A curve record for y^2 = x^3 + ax + b with 4a^3 + 27b^2 = 0 (mod p): not a real
    elliptic curve, so ``custom_curve`` would refuse it.  G must be a non-singular point."""
    a, b = a % p, b % p
    if not is_prime(p) or p <= 3:
        raise ValueError(f"p = {p} must be a prime > 3")
    if (4 * a ** 3 + 27 * b ** 2) % p:
        raise ValueError("4a^3 + 27b^2 != 0: this curve is not singular")
    gx, gy = G[0] % p, G[1] % p
    if (gy * gy - gx ** 3 - a * gx - b) % p or gy == 0:
        raise ValueError(f"G = {G} is not a non-singular point of the curve")
    return Curve(name=name or f"singular-{p}-{a}-{b}", p=p, a=a, b=b, gx=gx, gy=gy, n=None,
                 h=None, bits=p.bit_length(), security_bits=0, toy=True)


def _shift(c: Curve) -> tuple[int, int]:
    """(x0, alpha): the double root of x^3 + ax + b and alpha = 3 x0."""
    p = c.p
    if (4 * c.a ** 3 + 27 * c.b ** 2) % p:
        raise AttackFailed(f"{c.name} is not singular (4a^3 + 27b^2 != 0): a real elliptic "
                           "curve, where this map does not exist")
    x0 = 0 if c.a % p == 0 else -3 * c.b * pow(2 * c.a, -1, p) % p
    return x0, 3 * x0 % p


def singular_kind(curve: Curve | str) -> str:
    """"cusp", "split node" (the group maps into F_p*) or "non-split node" (into F_p^2*)."""
    c = resolve(curve)
    _, alpha = _shift(c)
    if alpha == 0:
        return "cusp"
    return "split node" if ecmath.sqrt_mod(alpha, c.p) is not None else "non-split node"


def fp2_group(p: int, alpha: int) -> Group:
    """F_p^2 = F_p(s) with s^2 = alpha: elements (u, v) = u + v s."""

    def op(x, y):
        return ((x[0] * y[0] + alpha * x[1] * y[1]) % p, (x[0] * y[1] + x[1] * y[0]) % p)

    def inverse(x):
        norm = (x[0] * x[0] - alpha * x[1] * x[1]) % p
        i = pow(norm, -1, p)
        return (x[0] * i % p, -x[1] * i % p)

    def power(k, x):
        if k < 0:
            k, x = -k, inverse(x)
        result = (1, 0)
        for bit in bin(k)[2:]:
            result = op(result, result)
            if bit == "1":
                result = op(result, x)
        return result

    return Group(op=op, identity=(1, 0), inverse=inverse, power=power, key=lambda x: x[0])


def _fp_star(p: int) -> Group:
    return Group(op=lambda x, y: x * y % p, identity=1, inverse=lambda x: pow(x, -1, p),
                 power=lambda k, x: pow(x, k, p), key=lambda x: x)


def singular_map(curve: Curve | str, P: tuple[int, int]):
    """The image of P: an element of F_p (cusp), F_p* (split node) or F_p^2 as (u, v)."""
    c = resolve(curve)
    p = c.p
    x0, alpha = _shift(c)
    X, y = (P[0] - x0) % p, P[1] % p
    if X == 0 and y == 0:
        raise ValueError("the singular point itself is not in the group")
    if alpha == 0:
        return X * pow(y, -1, p) % p
    s = ecmath.sqrt_mod(alpha, p)
    if s is not None:
        return (y + s * X) * pow(y - s * X, -1, p) % p
    group = fp2_group(p, alpha)
    return group.op((y, X), group.inverse((y, -X % p)))  # (y + sX) / (y - sX)


def singular_dlog(curve: Curve | str, G: tuple[int, int], Q: tuple[int, int]) -> AttackResult:
    """d with Q = d * G on a singular curve, through the map into the field.

    Cusp: d = t(Q) / t(G) mod p, one division.  Node: a log in F_p* (order p - 1) or in the
    norm-1 subgroup of F_p^2* (order p + 1), by Pohlig-Hellman on that order."""
    c = resolve(curve)
    p = c.p
    kind = singular_kind(c)
    g, h = singular_map(c, G), singular_map(c, Q)
    mapped = AttackStep(f"map into the field ({kind})", {"kind": kind, "g": g, "h": h})
    if kind == "cusp":
        d = h * pow(g, -1, p) % p
        steps = (mapped, AttackStep("one division: d = t(Q) / t(G)", {"secret": d}))
        result = AttackResult("singular cusp", d, p, 1, steps)
    else:
        group = _fp_star(p) if kind == "split node" else fp2_group(p, _shift(c)[1])
        order = p - 1 if kind == "split node" else p + 1
        # the order of g: the group order with every unneeded prime divided out
        factors = factor(order)
        for q in list(factors):
            while factors[q] and group.power(order // q, g) == group.identity:
                order //= q
                factors[q] -= 1
        factors = {q: e for q, e in factors.items() if e}
        if max(factors, default=1) > 1 << 44:
            raise AttackFailed(f"the field log needs a subgroup of order {max(factors)}")
        d, ops, ph_steps = generic_pohlig_hellman(group, g, h, order, factors)
        result = AttackResult(f"singular {kind}", d, order, ops, (mapped, *ph_steps))
    if mul(p, c.a, result.secret, tuple(G)) != tuple(Q):
        raise AttackFailed("Q is not a multiple of G")
    return result
