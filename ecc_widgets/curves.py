"""Elliptic curves as pure data: named standard curves, toy curves and user-defined curves.

Short Weierstrass curves are y^2 = x^3 + a*x + b over F_p.  X25519 is the Montgomery curve
B*v^2 = u^3 + A*u^2 + u (``a`` holds A, ``b`` holds B, ``gx`` the base u).

Toy curves live over small primes so that every point can be listed and drawn.  Their group
order, cofactor and a generator of prime order are *computed* here (by counting points), not
typed in, so they are right by construction.

Nothing here imports the educational maths (``ecmath`` imports this module); the few lines of
small-field point arithmetic needed to find a toy generator are private to this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "Curve",
    "NAMED_CURVES",
    "TOY_CURVES",
    "COUNTING_LIMIT",
    "get_curve",
    "custom_curve",
    "points",
    "group_order",
    "find_generator",
    "is_prime",
]

# Counting points is O(p); beyond this a user-defined curve gets no computed order.
COUNTING_LIMIT = 1 << 20


@dataclass(frozen=True)
class Curve:
    """Domain parameters of one curve.  Frozen and hashable, so usable as a dict key.

    ``n`` is the prime order of the base point G and ``h`` the cofactor (#E = h * n).
    ``security_bits`` is the rough cost of the best known attack (Pollard rho: n / 2 bits).
    """

    name: str
    p: int
    a: int
    b: int
    gx: int | None
    gy: int | None
    n: int | None
    h: int | None
    bits: int
    security_bits: int
    aliases: tuple[str, ...] = ()
    form: str = "weierstrass"
    toy: bool = field(default=False, compare=False)

    @property
    def G(self) -> tuple[int, int] | None:  # noqa: N802 - G is the standard name
        if self.gx is None:
            return None
        return (self.gx, self.gy)

    @property
    def byte_length(self) -> int:
        """Bytes in one encoded field element (coordinate)."""
        return (self.p.bit_length() + 7) // 8

    @property
    def equation(self) -> str:
        if self.form == "montgomery":
            b = "" if self.b == 1 else str(self.b)
            return f"{b}v^2 = u^3 + {self.a}u^2 + u"
        terms = ["y^2 = x^3"]
        if self.a:
            terms.append(f"{self.a}x" if self.a != 1 else "x")
        if self.b:
            terms.append(str(self.b))
        return " + ".join(terms)

    def __str__(self) -> str:
        if self.toy:
            gen = f", G = ({self.gx}, {self.gy})" if self.gx is not None else ""
            order = f", n = {self.n}, h = {self.h}" if self.n is not None else ""
            return f"{self.name}: {self.equation} over F_{self.p}{gen}{order}"
        return f"{self.name} ({self.bits}-bit {self.form}, ~{self.security_bits}-bit security)"


def _h(text: str) -> int:
    """A hex constant written across lines (whitespace ignored)."""
    return int("".join(text.split()), 16)


# Domain parameters as published in SEC 2 v2 (P-256/384/521 = secp256r1/384r1/521r1,
# secp256k1), RFC 5639 (brainpool) and RFC 7748 (X25519).  The tests check every one of
# them against `cryptography` (public key of a random scalar), so a typo cannot hide.
_NAMED = [
    Curve(
        name="P-256",
        p=_h("FFFFFFFF 00000001 00000000 00000000 00000000 FFFFFFFF FFFFFFFF FFFFFFFF"),
        a=_h("FFFFFFFF 00000001 00000000 00000000 00000000 FFFFFFFF FFFFFFFF FFFFFFFC"),
        b=_h("5AC635D8 AA3A93E7 B3EBBD55 769886BC 651D06B0 CC53B0F6 3BCE3C3E 27D2604B"),
        gx=_h("6B17D1F2 E12C4247 F8BCE6E5 63A440F2 77037D81 2DEB33A0 F4A13945 D898C296"),
        gy=_h("4FE342E2 FE1A7F9B 8EE7EB4A 7C0F9E16 2BCE3357 6B315ECE CBB64068 37BF51F5"),
        n=_h("FFFFFFFF 00000000 FFFFFFFF FFFFFFFF BCE6FAAD A7179E84 F3B9CAC2 FC632551"),
        h=1, bits=256, security_bits=128,
        aliases=("secp256r1", "prime256v1", "NIST P-256", "P256", "ES256"),
    ),
    Curve(
        name="P-384",
        p=_h("""FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFE
                FFFFFFFF 00000000 00000000 FFFFFFFF"""),
        a=_h("""FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFE
                FFFFFFFF 00000000 00000000 FFFFFFFC"""),
        b=_h("""B3312FA7 E23EE7E4 988E056B E3F82D19 181D9C6E FE814112 0314088F 5013875A
                C656398D 8A2ED19D 2A85C8ED D3EC2AEF"""),
        gx=_h("""AA87CA22 BE8B0537 8EB1C71E F320AD74 6E1D3B62 8BA79B98 59F741E0 82542A38
                 5502F25D BF55296C 3A545E38 72760AB7"""),
        gy=_h("""3617DE4A 96262C6F 5D9E98BF 9292DC29 F8F41DBD 289A147C E9DA3113 B5F0B8C0
                 0A60B1CE 1D7E819D 7A431D7C 90EA0E5F"""),
        n=_h("""FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF C7634D81 F4372DDF
                581A0DB2 48B0A77A ECEC196A CCC52973"""),
        h=1, bits=384, security_bits=192,
        aliases=("secp384r1", "NIST P-384", "P384", "ES384"),
    ),
    Curve(
        name="P-521",
        p=(1 << 521) - 1,
        a=(1 << 521) - 4,
        b=_h("""0051 953EB961 8E1C9A1F 929A21A0 B68540EE A2DA725B 99B315F3 B8B48991 8EF109E1
                56193951 EC7E937B 1652C0BD 3BB1BF07 3573DF88 3D2C34F1 EF451FD4 6B503F00"""),
        gx=_h("""00C6 858E06B7 0404E9CD 9E3ECB66 2395B442 9C648139 053FB521 F828AF60 6B4D3DBA
                 A14B5E77 EFE75928 FE1DC127 A2FFA8DE 3348B3C1 856A429B F97E7E31 C2E5BD66"""),
        gy=_h("""0118 39296A78 9A3BC004 5C8A5FB4 2C7D1BD9 98F54449 579B4468 17AFBD17 273E662C
                 97EE7299 5EF42640 C550B901 3FAD0761 353C7086 A272C240 88BE9476 9FD16650"""),
        n=_h("""01FF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFA
                51868783 BF2F966B 7FCC0148 F709A5D0 3BB5C9B8 899C47AE BB6FB71E 91386409"""),
        h=1, bits=521, security_bits=256,
        aliases=("secp521r1", "NIST P-521", "P521", "ES512"),
    ),
    Curve(
        name="secp256k1",
        p=(1 << 256) - (1 << 32) - 977,
        a=0,
        b=7,
        gx=_h("79BE667E F9DCBBAC 55A06295 CE870B07 029BFCDB 2DCE28D9 59F2815B 16F81798"),
        gy=_h("483ADA77 26A3C465 5DA4FBFC 0E1108A8 FD17B448 A6855419 9C47D08F FB10D4B8"),
        n=_h("FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFE BAAEDCE6 AF48A03B BFD25E8C D0364141"),
        h=1, bits=256, security_bits=128,
        aliases=("K-256", "bitcoin", "ES256K"),
    ),
    Curve(
        name="X25519",
        p=(1 << 255) - 19,
        a=486662,
        b=1,
        gx=9,
        gy=_h("20AE19A1 B8A086B4 E01EDD2C 7748D14C 923D4D7E 6D7C61B2 29E9C5A2 7ECED3D9"),
        n=(1 << 252) + 27742317777372353535851937790883648493,
        h=8, bits=255, security_bits=128,
        aliases=("Curve25519", "x25519"),
        form="montgomery",
    ),
    Curve(
        name="brainpoolP256r1",
        p=_h("A9FB57DB A1EEA9BC 3E660A90 9D838D72 6E3BF623 D5262028 2013481D 1F6E5377"),
        a=_h("7D5A0975 FC2C3057 EEF67530 417AFFE7 FB8055C1 26DC5C6C E94A4B44 F330B5D9"),
        b=_h("26DC5C6C E94A4B44 F330B5D9 BBD77CBF 95841629 5CF7E1CE 6BCCDC18 FF8C07B6"),
        gx=_h("8BD2AEB9 CB7E57CB 2C4B482F FC81B7AF B9DE27E1 E3BD23C2 3A4453BD 9ACE3262"),
        gy=_h("547EF835 C3DAC4FD 97F8461A 14611DC9 C2774513 2DED8E54 5C1D54C7 2F046997"),
        n=_h("A9FB57DB A1EEA9BC 3E660A90 9D838D71 8C397AA3 B561A6F7 901E0E82 974856A7"),
        h=1, bits=256, security_bits=128,
        aliases=("brainpool256r1", "bp256"),
    ),
    Curve(
        name="brainpoolP384r1",
        p=_h("""8CB91E82 A3386D28 0F5D6F7E 50E641DF 152F7109 ED5456B4 12B1DA19 7FB71123
                ACD3A729 901D1A71 87470013 3107EC53"""),
        a=_h("""7BC382C6 3D8C150C 3C72080A CE05AFA0 C2BEA28E 4FB22787 139165EF BA91F90F
                8AA5814A 503AD4EB 04A8C7DD 22CE2826"""),
        b=_h("""04A8C7DD 22CE2826 8B39B554 16F0447C 2FB77DE1 07DCD2A6 2E880EA5 3EEB62D5
                7CB43902 95DBC994 3AB78696 FA504C11"""),
        gx=_h("""1D1C64F0 68CF45FF A2A63A81 B7C13F6B 8847A3E7 7EF14FE3 DB7FCAFE 0CBD10E8
                 E826E034 36D646AA EF87B2E2 47D4AF1E"""),
        gy=_h("""8ABE1D75 20F9C2A4 5CB1EB8E 95CFD552 62B70B29 FEEC5864 E19C054F F9912928
                 0E464621 77918111 42820341 263C5315"""),
        n=_h("""8CB91E82 A3386D28 0F5D6F7E 50E641DF 152F7109 ED5456B3 1F166E6C AC0425A7
                CF3AB6AF 6B7FC310 3B883202 E9046565"""),
        h=1, bits=384, security_bits=192,
        aliases=("brainpool384r1", "bp384"),
    ),
    Curve(
        name="brainpoolP512r1",
        p=_h("""AADD9DB8 DBE9C48B 3FD4E6AE 33C9FC07 CB308DB3 B3C9D20E D6639CCA 70330871
                7D4D9B00 9BC66842 AECDA12A E6A380E6 2881FF2F 2D82C685 28AA6056 583A48F3"""),
        a=_h("""7830A331 8B603B89 E2327145 AC234CC5 94CBDD8D 3DF91610 A83441CA EA9863BC
                2DED5D5A A8253AA1 0A2EF1C9 8B9AC8B5 7F1117A7 2BF2C7B9 E7C1AC4D 77FC94CA"""),
        b=_h("""3DF91610 A83441CA EA9863BC 2DED5D5A A8253AA1 0A2EF1C9 8B9AC8B5 7F1117A7
                2BF2C7B9 E7C1AC4D 77FC94CA DC083E67 984050B7 5EBAE5DD 2809BD63 8016F723"""),
        gx=_h("""81AEE4BD D82ED964 5A21322E 9C4C6A93 85ED9F70 B5D916C1 B43B62EE F4D0098E
                 FF3B1F78 E2D0D48D 50D1687B 93B97D5F 7C6D5047 406A5E68 8B352209 BCB9F822"""),
        gy=_h("""7DDE385D 566332EC C0EABFA9 CF7822FD F209F700 24A57B1A A000C55B 881F8111
                 B2DCDE49 4A5F485E 5BCA4BD8 8A2763AE D1CA2B2F A8F05406 78CD1E0F 3AD80892"""),
        n=_h("""AADD9DB8 DBE9C48B 3FD4E6AE 33C9FC07 CB308DB3 B3C9D20E D6639CCA 70330870
                553E5C41 4CA92619 41866119 7FAC1047 1DB1D381 085DDADD B5879682 9CA90069"""),
        h=1, bits=512, security_bits=256,
        aliases=("brainpool512r1", "bp512"),
    ),
]

NAMED_CURVES: dict[str, Curve] = {c.name: c for c in _NAMED}


# ---------------------------------------------------------------- small-number helpers

def is_prime(n: int) -> bool:
    """Miller-Rabin with the first 20 primes as bases: exact for n < 3.3e24; beyond that a
    strong probable-prime test (enough to check published curve parameters)."""
    if not isinstance(n, int) or n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71)
    for q in small:
        if n % q == 0:
            return n == q
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in small:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _factor(n: int) -> list[int]:
    """Prime factors of a small n (with multiplicity), by trial division."""
    out, d = [], 2
    while d * d <= n:
        while n % d == 0:
            out.append(d)
            n //= d
        d += 1
    if n > 1:
        out.append(n)
    return out


def _count_points(p: int, a: int, b: int) -> int:
    """#E(F_p) including the point at infinity: one pass over x with a table of square roots."""
    roots = [0] * p
    for y in range(p):
        roots[y * y % p] += 1
    return 1 + sum(roots[(x * x * x + a * x + b) % p] for x in range(p))


def chord_slope(p: int, a: int, P: tuple[int, int], Q: tuple[int, int]) -> int:
    """The slope mod p of the line through P and Q on y^2 = x^3 + a x + b: the tangent when
    P == Q, the chord otherwise. The caller handles the vertical line (x1 == x2, P != Q, or
    y1 == 0), where P + Q is the point at infinity."""
    (x1, y1), (x2, y2) = P, Q
    if P == Q:
        return (3 * x1 * x1 + a) * pow(2 * y1, -1, p) % p
    return (y2 - y1) * pow(x2 - x1, -1, p) % p


def _add(p: int, a: int, P, Q):
    """Affine addition for the small-field helpers below (None is infinity)."""
    if P is None:
        return Q
    if Q is None:
        return P
    (x1, y1), (x2, y2) = P, Q
    if x1 == x2 and (y1 + y2) % p == 0:
        return None
    lam = chord_slope(p, a, P, Q)
    x3 = (lam * lam - x1 - x2) % p
    return (x3, (lam * (x1 - x3) - y1) % p)


def _mul(p: int, a: int, k: int, P):
    R = None
    for bit in bin(k)[2:]:
        R = _add(p, a, R, R)
        if bit == "1":
            R = _add(p, a, R, P)
    return R


def _check_small(p: int) -> None:
    if p > COUNTING_LIMIT:
        raise ValueError(
            f"p = {p} is too large to enumerate points (limit {COUNTING_LIMIT}); "
            "use a small prime for toy curves")


def _affine_points(p: int, a: int, b: int) -> list[tuple[int, int]]:
    _check_small(p)
    roots: dict[int, list[int]] = {}
    for y in range(p):
        roots.setdefault(y * y % p, []).append(y)
    return [(x, y) for x in range(p) for y in roots.get((x * x * x + a * x + b) % p, ())]


@lru_cache(maxsize=64)
def _points_cached(p: int, a: int, b: int) -> tuple[tuple[int, int], ...]:
    return tuple(_affine_points(p, a, b))


def points(curve: Curve) -> list[tuple[int, int]]:
    """Every affine point of a small Weierstrass curve, sorted by (x, y); infinity excluded."""
    if curve.form != "weierstrass":
        raise ValueError(f"{curve.name} is a {curve.form} curve; points() lists Weierstrass curves")
    return list(_points_cached(curve.p, curve.a, curve.b))


def group_order(curve: Curve) -> int:
    """#E(F_p), the number of points including infinity (h * n for curves with a generator)."""
    if curve.n is not None and curve.h is not None:
        return curve.n * curve.h
    if curve.form != "weierstrass":
        raise ValueError(f"group order of {curve.name} is not known")
    _check_small(curve.p)
    return _count_points(curve.p, curve.a, curve.b)


def _point_order(p: int, a: int, P, group: int) -> int:
    """Order of P: the smallest divisor d of the group order with d*P = infinity."""
    order = group
    for q in set(_factor(group)):
        while order % q == 0 and _mul(p, a, order // q, P) is None:
            order //= q
    return order


def find_generator(p: int, a: int, b: int) -> tuple[tuple[int, int], int, int]:
    """A generator of the largest prime-order subgroup of a small curve.

    Returns ``((gx, gy), n, h)``: G has prime order n and #E = h * n.  Deterministic: the
    first suitable point in (x, y) order, so a curve always gets the same generator.
    """
    _check_small(p)
    group = _count_points(p, a % p, b % p)
    n = max(_factor(group)) if group > 1 else 1
    if n == 1:
        raise ValueError(f"y^2 = x^3 + {a}x + {b} over F_{p} has no points besides infinity")
    h = group // n
    for P in _points_cached(p, a % p, b % p):
        # h*P has order n or 1; the first P with h*P of order n gives a generator.  But when
        # n^2 divides #E the n-part need not be cyclic and h*P can be infinity for every P
        # (y^2 = x^3 + 7 over F_1009); then (ord(P)/n)*P, which has order exactly n.
        Q = _mul(p, a % p, h, P)
        if Q is not None:
            return Q if h != 1 else P, n, h
    for P in _points_cached(p, a % p, b % p):
        order = _point_order(p, a % p, P, group)
        if order % n == 0:
            return _mul(p, a % p, order // n, P), n, h
    raise AssertionError("unreachable: by Cauchy's theorem some point has order n")


def custom_curve(p: int, a: int, b: int, gx: int | None = None, gy: int | None = None,
                 *, name: str | None = None) -> Curve:
    """A user-defined curve y^2 = x^3 + a*x + b over F_p.

    Refuses non-prime p, p in (2, 3) (the short Weierstrass form needs characteristic > 3),
    singular curves (4a^3 + 27b^2 = 0 mod p) and a G that is not on the curve.  For
    p <= COUNTING_LIMIT the group order is counted and, when no G is given, a generator of
    prime order is found; for larger p, n and h stay None unless nothing needs them.
    """
    for label, value in (("p", p), ("a", a), ("b", b)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{label} must be an integer, got {type(value).__name__}")
    if (gx is None) != (gy is None):
        raise ValueError("give both gx and gy, or neither")
    if not is_prime(p):
        raise ValueError(f"p = {p} is not prime: the field F_p needs a prime modulus")
    if p <= 3:
        raise ValueError(f"p = {p}: curves y^2 = x^3 + ax + b need a prime p > 3")
    a, b = a % p, b % p
    if (4 * a ** 3 + 27 * b ** 2) % p == 0:
        raise ValueError(
            f"singular curve: 4a^3 + 27b^2 = 0 (mod {p}) for a = {a}, b = {b}; "
            "it has a cusp or a node, so its points do not form a group")
    n = h = None
    if gx is not None:
        gx, gy = gx % p, gy % p
        if (gy * gy - (gx ** 3 + a * gx + b)) % p:
            raise ValueError(f"G = ({gx}, {gy}) is not on y^2 = x^3 + {a}x + {b} over F_{p}")
        if p <= COUNTING_LIMIT:
            group = _count_points(p, a, b)
            n = _point_order(p, a, (gx, gy), group)
            h = group // n if group % n == 0 else None
    elif p <= COUNTING_LIMIT:
        (gx, gy), n, h = find_generator(p, a, b)
    bits = p.bit_length()
    security = (n.bit_length() // 2) if n else bits // 2
    return Curve(name=name or f"custom-{p}-{a}-{b}", p=p, a=a, b=b, gx=gx, gy=gy, n=n, h=h,
                 bits=bits, security_bits=security, toy=True)


def _toy(p: int, a: int, b: int, gx: int | None = None, gy: int | None = None) -> Curve:
    return custom_curve(p, a, b, gx, gy, name=f"toy-{p}")


# Small curves for teaching and drawing.  Orders are counted at import (a few ms in all).
TOY_CURVES: dict[str, Curve] = {c.name: c for c in (
    _toy(17, 2, 2, 5, 1),    # 19 points, prime order: every point but infinity generates
    _toy(23, 1, 1),          # 28 points = 4 * 7: a cofactor of 4
    _toy(97, 2, 3, 3, 6),    # 100 points; G = (3, 6) has order 5, cofactor 20
    _toy(251, 1, 4),         # 271 points, prime order
    _toy(1021, 1, 1),        # 1042 points = 2 * 521: cofactor 2
)}


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_INDEX: dict[str, Curve] = {}
for _c in (*NAMED_CURVES.values(), *TOY_CURVES.values()):
    for _alias in (_c.name, *_c.aliases):
        _INDEX[_normalise(_alias)] = _c


def get_curve(name: str | Curve) -> Curve:
    """The curve called ``name``: canonical names, aliases (case, spaces and dashes ignored)."""
    if isinstance(name, Curve):
        return name
    if not isinstance(name, str):
        raise TypeError(f"curve name must be a string, got {type(name).__name__}")
    try:
        return _INDEX[_normalise(name)]
    except KeyError:
        known = ", ".join([*NAMED_CURVES, *TOY_CURVES])
        raise KeyError(f"unknown curve {name!r}; known curves: {known}") from None
