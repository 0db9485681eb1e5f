"""Educational elliptic-curve maths in pure Python.

NOT CONSTANT-TIME, NOT FOR REAL SECRETS.  The running time here depends on the bits of the
scalar, and Python integers leak timing in every operation.  This module exists to *show*
what key generation and ECDH compute; the chat's real keys are made and used by
``ecc_widgets.crypto`` (over ``cryptography``/OpenSSL).  The tests check that both agree.

What is here:
- ``Point`` with ``INFINITY``; ``on_curve``, ``add``, ``double``, ``negate`` (affine formulas,
  as in a textbook, for Weierstrass and Montgomery curves);
- ``scalar_mult`` / ``scalar_mult_trace``: double-and-add, most significant bit first.  The
  trace is the real computation as data: one ``Step`` per double and per add.  Internally the
  points are kept in Jacobian coordinates (no inversion per step), and a step converts its
  point to affine only when ``step.point`` is first read, so the trace costs almost nothing
  unless someone looks at it;
- the X25519 Montgomery ladder (RFC 7748) with its trace;
- SEC1 point encoding and decoding with full validation, and ``ecdh``.

Conventions for X25519: a point is its u-coordinate, ``Point(u, None)``; encoded as 32 bytes
little-endian.  ``ecdh("X25519", private_value, public_point)`` takes the private key's 32
bytes read little-endian as an int (unclamped, as ``crypto.private_value`` gives it) and
clamps it as RFC 7748 says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from .curves import Curve, chord_slope, get_curve

__all__ = [
    "Point",
    "INFINITY",
    "Step",
    "on_curve",
    "add",
    "double",
    "negate",
    "scalar_mult",
    "scalar_mult_trace",
    "montgomery_ladder_trace",
    "x25519_ladder_trace",
    "x25519",
    "clamp_x25519",
    "encode_point",
    "decode_point",
    "sqrt_mod",
    "ecdh",
]


class Point(NamedTuple):
    """An affine point.  ``INFINITY`` is ``Point(None, None)``; a Montgomery (X25519) point
    known only by its u-coordinate is ``Point(u, None)``."""

    x: int | None
    y: int | None

    @property
    def is_infinity(self) -> bool:
        return self.x is None

    def __str__(self) -> str:
        if self.x is None:
            return "O (the point at infinity)"
        if self.y is None:
            return f"(u = {self.x})"
        return f"({self.x}, {self.y})"


INFINITY = Point(None, None)

CurveLike = Curve | str


def _curve(curve: CurveLike) -> Curve:
    return get_curve(curve)


def _point(curve: Curve, P: Point | tuple | None) -> Point:
    if P is None:
        if curve.gx is None:
            raise ValueError(f"{curve.name} has no base point G; pass a point")
        return Point(curve.gx, curve.gy)
    if not isinstance(P, tuple) or len(P) != 2:
        raise TypeError(f"a point is a pair (x, y), got {P!r}")
    return P if isinstance(P, Point) else Point(*P)


# ---------------------------------------------------------------- field helpers

def _legendre(a: int, p: int) -> int:
    """1 if a is a non-zero square mod p, p-1 if a non-square, 0 if a == 0."""
    return pow(a, (p - 1) // 2, p)


def sqrt_mod(a: int, p: int) -> int | None:
    """A square root of a modulo the odd prime p, or None when a is not a square.

    p = 3 (mod 4) (P-256, P-384, P-521, secp256k1, brainpool) needs one exponentiation;
    other primes (5 mod 8 as 2^255 - 19, or toy primes such as 17 and 97) use Tonelli-Shanks.
    """
    a %= p
    if a == 0:
        return 0
    if _legendre(a, p) != 1:
        return None
    if p % 4 == 3:
        return pow(a, (p + 1) // 4, p)
    # Tonelli-Shanks: p - 1 = q * 2^s with q odd.
    q, s = p - 1, 0
    while q % 2 == 0:
        q //= 2
        s += 1
    z = 2
    while _legendre(z, p) != p - 1:
        z += 1
    m, c, t, r = s, pow(z, q, p), pow(a, q, p), pow(a, (q + 1) // 2, p)
    while t != 1:
        i, t2 = 0, t
        while t2 != 1:
            t2 = t2 * t2 % p
            i += 1
        b = pow(c, 1 << (m - i - 1), p)
        m, c, t, r = i, b * b % p, t * b * b % p, r * b % p
    return r


def _rhs(curve: Curve, x: int) -> int:
    """The right-hand side: x^3 + ax + b, or (u^3 + Au^2 + u) / B for Montgomery."""
    p = curve.p
    if curve.form == "montgomery":
        return (x * x * x + curve.a * x * x + x) * pow(curve.b, -1, p) % p
    return (x * x * x + curve.a * x + curve.b) % p


# ---------------------------------------------------------------- affine group law

def on_curve(curve: CurveLike, P: Point | tuple) -> bool:
    """Whether P is a point of the curve (INFINITY is).  For a Montgomery point given by u
    alone: whether u belongs to the curve rather than to its quadratic twist."""
    c = _curve(curve)
    P = _point(c, P)
    if P.is_infinity:
        return True
    x, y = P
    if not isinstance(x, int) or not 0 <= x < c.p:
        return False
    if y is None:
        return c.form == "montgomery" and _legendre(_rhs(c, x), c.p) != c.p - 1
    if not isinstance(y, int) or not 0 <= y < c.p:
        return False
    return (y * y - _rhs(c, x)) % c.p == 0


def _check(c: Curve, P: Point) -> None:
    if P.y is None and not P.is_infinity:
        raise ValueError("add/double need both coordinates; use the ladder for u-only points")
    if not on_curve(c, P):
        raise ValueError(f"{P} is not on {c.name}")


def negate(curve: CurveLike, P: Point | tuple) -> Point:
    """-P = (x, -y)."""
    c = _curve(curve)
    P = _point(c, P)
    if P.is_infinity:
        return INFINITY
    _check(c, P)
    return Point(P.x, -P.y % c.p)


def add(curve: CurveLike, P: Point | tuple, Q: Point | tuple) -> Point:
    """P + Q by the chord-and-tangent rule (affine; one inversion)."""
    c = _curve(curve)
    P, Q = _point(c, P), _point(c, Q)
    _check(c, P)
    _check(c, Q)
    if P.is_infinity:
        return Q
    if Q.is_infinity:
        return P
    p = c.p
    if P.x == Q.x:
        if (P.y + Q.y) % p == 0:
            return INFINITY  # Q = -P (also P = Q of order 2)
        return double(c, P)
    lam = chord_slope(p, c.a, P, Q)  # the chord's slope is the same in both forms
    return _finish(c, lam, P, Q)


def double(curve: CurveLike, P: Point | tuple) -> Point:
    """2P by the tangent at P."""
    c = _curve(curve)
    P = _point(c, P)
    _check(c, P)
    if P.is_infinity or P.y == 0:
        return INFINITY
    p = c.p
    if c.form == "montgomery":
        lam = (3 * P.x * P.x + 2 * c.a * P.x + 1) * pow(2 * c.b * P.y, -1, p) % p
    else:
        lam = chord_slope(p, c.a, P, P)
    return _finish(c, lam, P, P)


def _finish(c: Curve, lam: int, P: Point, Q: Point) -> Point:
    p = c.p
    if c.form == "montgomery":
        x3 = (c.b * lam * lam - c.a - P.x - Q.x) % p
    else:
        x3 = (lam * lam - P.x - Q.x) % p
    return Point(x3, (lam * (P.x - x3) - P.y) % p)


# ---------------------------------------------------------------- traces

@dataclass(frozen=True, eq=False)
class Step:
    """One step of a scalar multiplication.

    ``index`` is the position of the scalar bit being processed (0 = least significant),
    ``bit`` its value, ``op`` what was done ("double", "add", or "ladder" for one rung of the
    Montgomery ladder), ``multiple`` the m with ``point`` = m * P after this step, and
    ``point`` the intermediate result, converted to affine on first access.
    """

    index: int
    bit: int
    op: str
    multiple: int
    _coords: tuple = field(repr=False)  # Jacobian (X, Y, Z), or ladder (X, Z)
    _p: int = field(repr=False)

    @classmethod
    def of(cls, index: int, bit: int, op: str, multiple: int, point: Point, p: int) -> Step:
        """A step from an affine point."""
        coords = (0, 1, 0) if point.is_infinity else (point.x, point.y, 1)
        return cls(index, bit, op, multiple, coords, p)

    @cached_property
    def point(self) -> Point:
        p = self._p
        if len(self._coords) == 2:
            X, Z = self._coords
            return INFINITY if Z % p == 0 else Point(X * pow(Z, -1, p) % p, None)
        return _to_affine(p, *self._coords)

    def _key(self) -> tuple:
        return (self.index, self.bit, self.op, self.multiple, self.point)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Step) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Step(index={self.index}, bit={self.bit}, op={self.op!r}, "
                f"multiple={self.multiple}, point={self.point!r})")


def resolve_points(steps: list[Step] | tuple[Step, ...]) -> None:
    """Convert every step's point to affine at once, with one field inversion in all
    (Montgomery's trick) instead of one per step, for a view that shows every step."""
    todo = [s for s in steps if "point" not in s.__dict__ and s._coords[-1] % s._p]
    if not todo:
        return
    p = todo[0]._p
    prefix, acc = [], 1
    for s in todo:                 # prefix[i] = Z_0 * ... * Z_(i-1)
        prefix.append(acc)
        acc = acc * s._coords[-1] % p
    inv = pow(acc, -1, p)          # 1 / (Z_0 * ... * Z_n)
    for s, before in zip(reversed(todo), reversed(prefix), strict=True):
        Z = s._coords[-1]
        zi, inv = inv * before % p, inv * Z % p   # 1/Z_i, then drop Z_i from the product
        if len(s._coords) == 2:
            point = Point(s._coords[0] * zi % p, None)
        else:
            zi2 = zi * zi % p
            point = Point(s._coords[0] * zi2 % p, s._coords[1] * zi2 * zi % p)
        s.__dict__["point"] = point  # what the cached property would have computed


def _jacobian_mult(c: Curve, k: int, x: int, y: int, steps: list | None) -> tuple[int, int, int]:
    """k * (x, y) by double-and-add, MSB first, in Jacobian coordinates (x = X/Z^2,
    y = Y/Z^3): no inversion inside the loop, which is what makes it fast in Python.
    Appends a Step per operation to ``steps`` unless it is None.  k >= 1."""
    p, a = c.p, c.a % c.p
    minus3 = a == p - 3
    bits = bin(k)[3:]  # the leading 1 is the start R = P
    top = len(bits)
    X, Y, Z = x, y, 1
    m = 1
    if steps is not None:
        steps.append(Step(top, 1, "add", 1, (X, Y, Z), p))
    for i, bit in enumerate(bits):
        index = top - 1 - i
        # --- double: R = 2R
        if Z:
            if minus3:  # a = -3 (P-256/384/521): 3X^2 - 3Z^4 = 3(X - Z^2)(X + Z^2)
                delta = Z * Z % p
                gamma = Y * Y % p
                beta = X * gamma % p
                alpha = 3 * (X - delta) * (X + delta) % p
                X3 = (alpha * alpha - 8 * beta) % p
                Z = ((Y + Z) * (Y + Z) - gamma - delta) % p
                Y = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
                X = X3
            else:
                YY = Y * Y % p
                S = 4 * X * YY % p
                M = 3 * X * X
                if a:
                    ZZ = Z * Z % p
                    M += a * ZZ * ZZ
                M %= p
                X3 = (M * M - 2 * S) % p
                Z = 2 * Y * Z % p
                Y = (M * (S - X3) - 8 * YY * YY) % p
                X = X3
        m *= 2
        if steps is not None:
            steps.append(Step(index, int(bit), "double", m, (X, Y, Z), p))
        if bit == "1":
            # --- mixed add: R = R + (x, y, 1)
            if Z == 0:
                X, Y, Z = x, y, 1
            else:
                ZZ = Z * Z % p
                H = (x * ZZ - X) % p
                r = (y * ZZ * Z - Y) % p
                if H == 0:
                    if r == 0:  # R == P: double P instead (happens on tiny groups)
                        X, Y, Z = _jacobian_mult(c, 2, x, y, None)
                    else:       # R == -P
                        X, Y, Z = 0, 1, 0
                else:
                    HH = H * H % p
                    HHH = H * HH % p
                    V = X * HH % p
                    X3 = (r * r - HHH - 2 * V) % p
                    Y = (r * (V - X3) - Y * HHH) % p
                    Z = Z * H % p
                    X = X3
            m += 1
            if steps is not None:
                steps.append(Step(index, 1, "add", m, (X, Y, Z), p))
    return X, Y, Z


def _to_affine(p: int, X: int, Y: int, Z: int) -> Point:
    """Jacobian (X, Y, Z) to affine (X / Z^2, Y / Z^3); Z = 0 is the point at infinity."""
    if Z % p == 0:
        return INFINITY
    zi = pow(Z, -1, p)
    zi2 = zi * zi % p
    return Point(X * zi2 % p, Y * zi2 * zi % p)


def _scalar(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"a scalar must be an int, got {type(k).__name__}")
    return k


def scalar_mult_trace(curve: CurveLike, k: int, P: Point | tuple | None = None,
                      ) -> tuple[Point, list[Step]]:
    """k * P (P defaults to G) and the trace of the double-and-add that computed it.

    The first step is the leading 1 bit (R = O + P = P, op "add"); then, for every further
    bit, a "double" and, when the bit is 1, an "add".  A negative k multiplies -P.  On a
    Montgomery curve this is the ladder on u (see ``montgomery_ladder_trace``).
    """
    c = _curve(curve)
    k = _scalar(k)
    P = _point(c, P)
    if c.form == "montgomery":
        return montgomery_ladder_trace(c, abs(k), P.x)
    if not P.is_infinity and not on_curve(c, P):
        raise ValueError(f"{P} is not on {c.name}")
    if k < 0:
        k, P = -k, negate(c, P)
    if k == 0 or P.is_infinity:
        return INFINITY, []
    steps: list[Step] = []
    X, Y, Z = _jacobian_mult(c, k, P.x, P.y, steps)
    return _to_affine(c.p, X, Y, Z), steps


def scalar_mult(curve: CurveLike, k: int, P: Point | tuple | None = None) -> Point:
    """k * P (P defaults to G), without keeping a trace."""
    c = _curve(curve)
    k = _scalar(k)
    P = _point(c, P)
    if c.form == "montgomery":
        return montgomery_ladder_trace(c, abs(k), P.x, trace=False)[0]
    if not P.is_infinity and not on_curve(c, P):
        raise ValueError(f"{P} is not on {c.name}")
    if k < 0:
        k, P = -k, negate(c, P)
    if k == 0 or P.is_infinity:
        return INFINITY
    return _to_affine(c.p, *_jacobian_mult(c, k, P.x, P.y, None))


# ---------------------------------------------------------------- Montgomery ladder

def montgomery_ladder_trace(curve: CurveLike, k: int, u: int, *, bits: int | None = None,
                            trace: bool = True) -> tuple[Point, list[Step]]:
    """k * (u) on a Montgomery curve with the x-only ladder of RFC 7748 section 5.

    Each rung processes one bit: the pair (R0, R1) = (m*P, (m+1)*P) becomes (2R0, R0+R1) for
    a 0 bit and (R0+R1, 2R1) for a 1 bit, so the difference stays P.  Each Step records R0.
    ``bits`` fixes the number of rungs (255 for X25519); by default k's bit length.
    """
    c = _curve(curve)
    if c.form != "montgomery":
        raise ValueError(f"{c.name} is not a Montgomery curve")
    k = _scalar(k)
    if k < 0:
        raise ValueError("the ladder takes a non-negative scalar")
    if not isinstance(u, int):
        raise TypeError("u must be an int")
    p = c.p
    x1 = u % p
    a24 = (c.a - 2) * pow(4, -1, p) % p
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    m = 0
    steps: list[Step] = []
    for t in reversed(range(bits if bits is not None else k.bit_length())):
        kt = (k >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        A = x2 + z2
        AA = A * A % p
        B = x2 - z2
        BB = B * B % p
        E = AA - BB
        C = x3 + z3
        D = x3 - z3
        DA = D * A % p
        CB = C * B % p
        x3 = (DA + CB) * (DA + CB) % p
        z3 = x1 * (DA - CB) * (DA - CB) % p
        x2 = AA * BB % p
        z2 = E * (AA + a24 * E) % p
        m = 2 * m + kt
        if trace:
            R0 = (x3, z3) if kt else (x2, z2)
            steps.append(Step(t, kt, "ladder", m, R0, p))
    if swap:
        x2, z2 = x3, z3
    result = INFINITY if z2 % p == 0 else Point(x2 * pow(z2, -1, p) % p, None)
    return result, steps


def clamp_x25519(k: bytes | int) -> int:
    """decodeScalar25519: clear the 3 low bits (a multiple of the cofactor 8), clear bit 255
    and set bit 254 (a fixed ladder length).  An int is the 32 bytes read little-endian."""
    if isinstance(k, (bytes, bytearray)):
        if len(k) != 32:
            raise ValueError(f"an X25519 scalar is 32 bytes, got {len(k)}")
        k = int.from_bytes(k, "little")
    k = _scalar(k)
    if not 0 <= k < 1 << 256:
        raise ValueError("an X25519 scalar must fit in 32 bytes")
    return (k & ~7 & ((1 << 255) - 1)) | (1 << 254)


def x25519_ladder_trace(k: bytes | int, u: int = 9) -> tuple[Point, list[Step]]:
    """X25519(k, u) as RFC 7748 computes it, with the ladder's 255 rungs as the trace.
    ``k`` (32 bytes, or an int read from them little-endian) is clamped first."""
    c = get_curve("X25519")
    return montgomery_ladder_trace(c, clamp_x25519(k), u % c.p, bits=255)


def x25519(k: bytes | int, u: bytes) -> bytes:
    """The RFC 7748 X25519 function: k is 32 bytes (or an int read from them little-endian),
    u 32 bytes; the result is 32 bytes.  No all-zero check here; ``ecdh`` has it."""
    if not isinstance(u, (bytes, bytearray)) or len(u) != 32:
        raise ValueError("an X25519 u-coordinate is 32 bytes")
    point, _ = montgomery_ladder_trace(get_curve("X25519"), clamp_x25519(k),
                                       _decode_u(u), bits=255, trace=False)
    return (0 if point.is_infinity else point.x).to_bytes(32, "little")


def _decode_u(data: bytes) -> int:
    # RFC 7748 section 5: ignore the top bit, accept non-canonical values (reduce mod p).
    return (int.from_bytes(data, "little") & ((1 << 255) - 1)) % ((1 << 255) - 19)


# ---------------------------------------------------------------- SEC1 encoding

def encode_point(curve: CurveLike, P: Point | tuple, compressed: bool = False) -> bytes:
    """SEC1: 0x04 || x || y, or 0x02/0x03 || x (y's parity); INFINITY is 0x00.  For a
    Montgomery curve the 32-byte little-endian u (``compressed`` does not apply)."""
    c = _curve(curve)
    P = _point(c, P)
    size = c.byte_length
    if c.form == "montgomery":
        if P.is_infinity:
            raise ValueError("the point at infinity has no u-coordinate encoding")
        return P.x.to_bytes(size, "little")
    if P.is_infinity:
        return b"\x00"
    if not on_curve(c, P):
        raise ValueError(f"{P} is not on {c.name}")
    x = P.x.to_bytes(size, "big")
    if compressed:
        return bytes([2 + (P.y & 1)]) + x
    return b"\x04" + x + P.y.to_bytes(size, "big")


def decode_point(curve: CurveLike, data: bytes, *, allow_infinity: bool = False) -> Point:
    """A validated point from its SEC1 encoding (or 32-byte u for X25519).

    Checks the type, the prefix, the exact length, that each coordinate is below p, that the
    point is on the curve, and for compressed points that x^3 + ax + b has a square root.
    The point at infinity (0x00) is refused unless ``allow_infinity``.
    """
    c = _curve(curve)
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"point encoding must be bytes, got {type(data).__name__}")
    data = bytes(data)
    size = c.byte_length
    if c.form == "montgomery":
        if len(data) != size:
            raise ValueError(f"a {c.name} u-coordinate is {size} bytes, got {len(data)}")
        return Point(_decode_u(data), None)
    if not data:
        raise ValueError("empty point encoding")
    prefix = data[0]
    if prefix == 0:
        if len(data) != 1:
            raise ValueError("the point at infinity is the single byte 0x00")
        if not allow_infinity:
            raise ValueError("the point at infinity is not a valid public key")
        return INFINITY
    if prefix not in (2, 3, 4):
        raise ValueError(f"unknown SEC1 prefix {prefix:#04x} (expected 0x02, 0x03 or 0x04)")
    expected = 1 + size if prefix in (2, 3) else 1 + 2 * size
    if len(data) != expected:
        raise ValueError(f"a {c.name} point with prefix {prefix:#04x} is {expected} bytes, "
                         f"got {len(data)}")
    x = int.from_bytes(data[1:1 + size], "big")
    if x >= c.p:
        raise ValueError(f"x is not below p of {c.name}")
    if prefix == 4:
        y = int.from_bytes(data[1 + size:], "big")
        if y >= c.p:
            raise ValueError(f"y is not below p of {c.name}")
        P = Point(x, y)
        if not on_curve(c, P):
            raise ValueError(f"the point is not on {c.name}")
        return P
    y = sqrt_mod(_rhs(c, x), c.p)
    if y is None:
        raise ValueError(f"no point on {c.name} has this x (x^3 + ax + b is not a square)")
    if (y & 1) != (prefix & 1):
        y = (c.p - y) % c.p
    if y & 1 != prefix & 1:  # y = 0 has no odd twin
        raise ValueError("compressed point with y = 0 must use prefix 0x02")
    return Point(x, y)


# ---------------------------------------------------------------- ECDH

def ecdh(curve: str, private_value: int, public_point: bytes) -> bytes:
    """The raw ECDH output computed by this module's maths.

    Weierstrass curves: ``private_value`` d in [1, n-1], ``public_point`` SEC1 (compressed or
    uncompressed), result the x-coordinate of d*Q as ``byte_length`` big-endian bytes.  On a
    curve with a cofactor, Q must lie in the subgroup of order n.
    X25519: ``private_value`` is the 32-byte private key read little-endian (clamped here),
    ``public_point`` the 32-byte u; the result is 32 bytes little-endian.
    ``ValueError`` for an invalid point, a bad private value or an all-zero result.
    """
    try:
        c = get_curve(curve)
    except (KeyError, TypeError) as exc:
        raise ValueError(exc.args[0] if exc.args else str(exc)) from None
    private_value = _scalar(private_value)
    Q = decode_point(c, public_point)
    if c.form == "montgomery":
        if c.name != "X25519":
            raise ValueError(f"ECDH on {c.name} is not supported")
        result = x25519(private_value, bytes(public_point))
        if not any(result):
            raise ValueError("X25519 result is all zero: the public point has small order")
        return result
    if c.n is None or c.h is None:
        raise ValueError(f"{c.name} has no known group order; ECDH needs one")
    if not 1 <= private_value < c.n:
        raise ValueError(f"the private value must be in [1, n-1] for {c.name}")
    if c.h != 1 and not scalar_mult(c, c.n, Q).is_infinity:
        raise ValueError(f"the point is not in the order-{c.n} subgroup of {c.name}")
    S = scalar_mult(c, private_value, Q)
    if S.is_infinity:
        raise ValueError("the shared point is the point at infinity")
    return S.x.to_bytes(c.byte_length, "big")
