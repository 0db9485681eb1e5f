"""Educational ECDSA, RFC 6979 deterministic nonces, and the nonce-reuse attack.

Educational, broken on purpose; never use for real secrets.  Not constant-time, and ``sign``
takes the nonce k as an argument so that a student can reuse one and watch the key fall out.

ECDSA over a curve with base point G of prime order n, private key d, public key Q = d*G,
message hash h (the leftmost bits of the digest, as an integer):
    sign:   r = x(k*G) mod n,  s = k^-1 (h + r*d) mod n
    verify: u1 = h/s, u2 = r/s, and x(u1*G + u2*Q) mod n == r
Two signatures with the same k share r, and s1 - s2 = k^-1 (h1 - h2): so k, then d, follow.
"""

from __future__ import annotations

import hashlib
import hmac

from .. import ecmath
from ..curves import Curve
from .common import AttackFailed, AttackResult, AttackStep, resolve

__all__ = ["hash_to_int", "sign", "verify", "rfc6979_nonce", "ecdsa_nonce_reuse"]


def _params(curve: Curve | str) -> Curve:
    c = resolve(curve)
    if c.form != "weierstrass" or c.n is None or c.G is None:
        raise ValueError(f"ECDSA needs a Weierstrass curve with a base point: {c.name}")
    return c


def hash_to_int(curve: Curve | str, message: bytes, hashfunc=hashlib.sha256) -> int:
    """bits2int(H(message)): the digest as an integer, cut to the bit length of n."""
    c = _params(curve)
    digest = hashfunc(message).digest()
    h = int.from_bytes(digest, "big")
    excess = 8 * len(digest) - c.n.bit_length()
    return h >> excess if excess > 0 else h


def sign(curve: Curve | str, private_value: int, h: int, k: int) -> tuple[int, int]:
    """(r, s) for hash h with the nonce k.  Whoever knows k, or sees it reused, knows d."""
    c = _params(curve)
    n = c.n
    if not 1 <= k < n or not 1 <= private_value < n:
        raise ValueError("k and the private value must be in [1, n-1]")
    R = ecmath.scalar_mult(c, k)
    r = R.x % n
    s = pow(k, -1, n) * (h + r * private_value) % n
    if r == 0 or s == 0:
        raise ValueError("r or s is zero: pick another k")
    return r, s


def verify(curve: Curve | str, public_key: tuple[int, int], h: int,
           signature: tuple[int, int]) -> bool:
    """Whether (r, s) is a valid signature of hash h under the public key."""
    c = _params(curve)
    n = c.n
    r, s = signature
    if not (1 <= r < n and 1 <= s < n) or not ecmath.on_curve(c, public_key):
        return False
    w = pow(s, -1, n)
    R = ecmath.add(c, ecmath.scalar_mult(c, h * w % n), ecmath.scalar_mult(c, r * w % n,
                                                                          public_key))
    return not R.is_infinity and R.x % n == r


def rfc6979_nonce(curve: Curve | str, private_value: int, h: int,
                  hashfunc=hashlib.sha256) -> int:
    """The deterministic nonce of RFC 6979 section 3.2 for the hash h = bits2int(H(m)).

    k is an HMAC-DRBG output seeded with the private key and the message hash: the same
    message always gets the same k, and different messages get unrelated ones, so a k is
    never reused and never depends on a random generator that might fail."""
    c = _params(curve)
    n = c.n
    qlen = n.bit_length()
    rlen = (qlen + 7) // 8
    size = hashfunc().digest_size

    def bits2int(data: bytes) -> int:
        v = int.from_bytes(data, "big")
        return v >> (8 * len(data) - qlen) if 8 * len(data) > qlen else v

    seed = private_value.to_bytes(rlen, "big") + (h % n).to_bytes(rlen, "big")
    V, K = b"\x01" * size, b"\x00" * size
    K = hmac.new(K, V + b"\x00" + seed, hashfunc).digest()
    V = hmac.new(K, V, hashfunc).digest()
    K = hmac.new(K, V + b"\x01" + seed, hashfunc).digest()
    V = hmac.new(K, V, hashfunc).digest()
    while True:
        T = b""
        while len(T) < rlen:
            V = hmac.new(K, V, hashfunc).digest()
            T += V
        k = bits2int(T[:rlen])
        if 1 <= k < n:
            return k
        K = hmac.new(K, V + b"\x00", hashfunc).digest()
        V = hmac.new(K, V, hashfunc).digest()


def ecdsa_nonce_reuse(curve: Curve | str, public_key: tuple[int, int],
                      first: tuple[int, int, int], second: tuple[int, int, int],
                      ) -> AttackResult:
    """The private key from two signatures (h1, r, s1) and (h2, r, s2) made with one nonce.

    k = (h1 - h2) / (s1 - s2) and d = (s1 k - h1) / r (mod n).  A signer that normalises s
    to the lower half (as Bitcoin does) may have negated one s, so s1 + s2 is tried as well;
    the public key says which d is right.  ``AttackFailed`` for different r (different
    nonces) or two signatures of the same hash (nothing to subtract)."""
    c = _params(curve)
    n = c.n
    (h1, r1, s1), (h2, r2, s2) = first, second
    if r1 != r2:
        raise AttackFailed("the two signatures have different r, so different nonces: "
                           "nothing to solve")
    r = r1
    if (h1 - h2) % n == 0:
        raise AttackFailed("both signatures sign the same hash: subtracting them gives 0 = 0")
    target = ecmath.Point(*public_key)
    for sign_of_s2 in (1, -1):
        ds = (s1 - sign_of_s2 * s2) % n
        if ds == 0:
            continue
        k = (h1 - h2) * pow(ds, -1, n) % n
        d = (s1 * k - h1) * pow(r, -1, n) % n
        if d and ecmath.scalar_mult(c, d) == target:
            return AttackResult("ECDSA nonce reuse", d, n, 2, (
                AttackStep("same r: same nonce", {"r": r}),
                AttackStep("k = (h1 - h2) / (s1 - s2)", {"k": k, "s2_negated": sign_of_s2 < 0}),
                AttackStep("d = (s1 k - h1) / r", {"secret": d}),
            ))
    raise AttackFailed("no key fits: these signatures were not made with one nonce by this key")
