"""The attacks recover keys where they are meant to, and fail with a clear error where the
defence holds.  Known answers from RFC 6979 and a published anomalous curve; the
educational ECDSA checked against `cryptography` both ways."""

from __future__ import annotations

import hashlib
import random

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ecc_widgets import crypto, ecmath
from ecc_widgets.attacks import (
    EXCEPTIONAL_CURVE,
    AttackFailed,
    bsgs,
    count_points,
    crt,
    ecdsa_nonce_reuse,
    embedding_degree,
    encode_unchecked,
    factor,
    find_curve,
    hash_to_int,
    hasse_window,
    invalid_curve_attack,
    mov_attack,
    pohlig_hellman,
    pollard_rho,
    rfc6979_nonce,
    sign,
    singular_curve,
    singular_dlog,
    singular_kind,
    small_order_points,
    smart_attack,
    supersingular_curve,
    tate_pairing,
    unsafe_ecdh,
    verify,
)
from ecc_widgets.attacks.common import mul
from ecc_widgets.attacks.counting import _count_by_orders
from ecc_widgets.attacks.singular import fp2_group
from ecc_widgets.curves import custom_curve, get_curve, group_order, is_prime, points

RNG = random.Random(20261127)


def _key(curve, d):
    return tuple(ecmath.scalar_mult(curve, d))


# ---------------------------------------------------------------- helpers the attacks use

def test_counting_by_point_orders_agrees_with_listing_every_point():
    for p, a, b in [(4099, 3, 7), (10007, 11, 5), (65537, 1, 1), (65521, 0, 7)]:
        assert _count_by_orders(p, a, b, seed=1, attempts=30) == group_order(
            custom_curve(p, a, b))


def test_crt_and_factor():
    assert crt([2, 3, 1], [3, 5, 7]) == (8, 105)
    with pytest.raises(AttackFailed):
        crt([1, 2], [4, 6])
    n = 1_000_003 * 999_983 * 2 ** 3 * 7
    assert factor(n) == {2: 3, 7: 1, 999_983: 1, 1_000_003: 1}


@pytest.fixture(scope="module")
def prime_order_curves():
    return [find_curve(bits, seed=seed, prime_order=True) for bits, seed in
            ((20, 1), (24, 2), (28, 3))]


@pytest.fixture(scope="module")
def smooth_curves():
    return [find_curve(bits, seed=seed, smooth_bound=1 << 10) for bits, seed in
            ((24, 1), (32, 2), (36, 3))]


def test_found_curves_have_the_order_asked_for(prime_order_curves, smooth_curves):
    for c in prime_order_curves:
        assert is_prime(c.n) and c.h == 1 and ecmath.scalar_mult(c, c.n).is_infinity
        lo, hi = hasse_window(c.p)
        assert lo <= c.n <= hi
    for c in smooth_curves:
        assert max(factor(c.n)) <= 1 << 10 and ecmath.scalar_mult(c, c.n).is_infinity
        assert c.n == count_points(c.p, c.a, c.b, seed=7)


# ---------------------------------------------------------------- generic discrete logs

@pytest.mark.parametrize("attack", [bsgs, pollard_rho])
def test_generic_logs_recover_random_secrets(attack, prime_order_curves):
    for c in [get_curve("toy-251"), get_curve("toy-1021"), *prime_order_curves]:
        for _ in range(2):
            d = RNG.randrange(1, c.n)
            result = attack(c, c.G, _key(c, d))
            assert result.secret == d and result.modulus == c.n
            assert 0 < result.operations < 8 * c.n ** 0.5 + 2000
            assert result.steps


def test_rho_walk_is_kept_as_data(prime_order_curves):
    c = prime_order_curves[-1]
    result = pollard_rho(c, c.G, _key(c, 12345), seed=3)
    walk, collision = result.steps
    assert walk.values["x"] and walk.values["length"] == collision.values["tail"] + \
        collision.values["cycle"]


def test_generic_logs_fail_cleanly_when_q_is_not_a_multiple_of_g():
    c = get_curve("toy-97")                      # G has order 5 among 100 points
    outside = next(P for P in points(c) if not ecmath.scalar_mult(c, 5, P).is_infinity)
    with pytest.raises(AttackFailed, match="not a multiple"):
        bsgs(c, c.G, outside)


def test_pohlig_hellman_recovers_secrets_on_smooth_curves(smooth_curves):
    for c in smooth_curves:
        for _ in range(3):
            d = RNG.randrange(1, c.n)
            result = pohlig_hellman(c, c.G, _key(c, d))
            assert result.secret == d
            subgroups = [s for s in result.steps if "q" in s.values]
            assert {s.values["q"] for s in subgroups} == set(factor(c.n))
            # far fewer operations than a generic attack on the whole group
            assert result.operations < c.n ** 0.5


def test_pohlig_hellman_refuses_a_prime_order_group(prime_order_curves):
    for c in [get_curve("P-256"), get_curve("toy-251"), *prime_order_curves]:
        with pytest.raises(AttackFailed, match="prime order"):
            pohlig_hellman(c, c.G, _key(c, 5))


# ---------------------------------------------------------------- invalid-curve attack

@pytest.fixture(scope="module")
def victims():
    return [find_curve(bits, seed=seed, prime_order=True) for bits, seed in
            ((32, 11), (40, 3))]


def test_invalid_curve_attack_recovers_the_key_of_an_unsafe_victim(victims):
    for c in victims:
        d = RNG.randrange(1, c.n)
        result = invalid_curve_attack(lambda data, c=c, d=d: unsafe_ecdh(c, d, data), c,
                                      _key(c, d), seed=RNG.randrange(1 << 30))
        assert result.secret == d
        sent = [s.values for s in result.steps if "sent" in s.values]
        assert sent and all(not ecmath.on_curve(c, s["point"]) for s in sent)
        # a validating victim (the educational ECDH) refuses every one of those points
        for s in sent:
            with pytest.raises(ValueError, match="not on"):
                ecmath.ecdh(c, d, s["sent"])


def test_invalid_curve_attack_fails_cleanly_against_a_validating_victim(victims):
    c = victims[0]
    d = RNG.randrange(1, c.n)
    with pytest.raises(AttackFailed, match="refused"):
        invalid_curve_attack(lambda data: ecmath.ecdh(c, d, data), c, _key(c, d))


@pytest.mark.parametrize("name", ["P-256", "secp256k1", "P-384"])
def test_small_order_points_leak_d_to_an_unsafe_victim_and_the_libraries_refuse_them(name):
    c = get_curve(name)
    d = RNG.randrange(1, c.n)
    for found in small_order_points(c, seed=RNG.randrange(1 << 30)):
        P, q = found["point"], found["order"]
        assert not ecmath.on_curve(c, P)
        assert mul_is_infinity(c, q, P)
        data = encode_unchecked(c, P)
        leaked = int.from_bytes(unsafe_ecdh(c, d, data), "big")
        expected = 0 if d % q == 0 else P[0]       # x(d P) is x(P) or x(2P) = x(-P) for q = 3
        assert leaked == expected
        with pytest.raises(ValueError):
            ecmath.ecdh(c, d, data)
        with pytest.raises(crypto.InvalidKeyError):
            crypto.public_key_from_bytes(name, data)
        with pytest.raises(ValueError):
            ec.EllipticCurvePublicKey.from_encoded_point(
                {"P-256": ec.SECP256R1(), "secp256k1": ec.SECP256K1(),
                 "P-384": ec.SECP384R1()}[name], data)


def mul_is_infinity(c, q, P):
    return mul(c.p, c.a, q, P) is None and mul(c.p, c.a, 1, P) is not None


# ---------------------------------------------------------------- ECDSA

# RFC 6979 appendix A.2.5: P-256, SHA-256.
RFC6979_KEY = 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721
RFC6979_PUBLIC = (0x60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6,
                  0x7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299)
RFC6979_VECTORS = [
    (b"sample", 0xA6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60,
     0xEFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716,
     0xF7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8),
    (b"test", 0xD16B6AE827F17175E040871A1C7EC3500192C4C92677336EC2537ACAEE0008E0,
     0xF1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367,
     0x019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083),
]


@pytest.mark.parametrize(("message", "k", "r", "s"), RFC6979_VECTORS)
def test_rfc6979_p256_sha256_vectors(message, k, r, s):
    assert _key("P-256", RFC6979_KEY) == RFC6979_PUBLIC
    h = hash_to_int("P-256", message)
    assert rfc6979_nonce("P-256", RFC6979_KEY, h) == k
    assert sign("P-256", RFC6979_KEY, h, k) == (r, s)
    assert verify("P-256", RFC6979_PUBLIC, h, (r, s))


LIB_CURVES = {"P-256": ec.SECP256R1, "secp256k1": ec.SECP256K1}


@pytest.mark.parametrize("name", sorted(LIB_CURVES))
def test_educational_ecdsa_and_cryptography_verify_each_other(name):
    rng = random.Random(name)
    for _ in range(5):
        key = crypto.generate_private_key(name)
        d, public = crypto.private_value(key), _key(name, crypto.private_value(key))
        message = rng.randbytes(rng.randrange(0, 200))
        h = hash_to_int(name, message)
        # ours -> cryptography
        ours = sign(name, d, h, rng.randrange(1, get_curve(name).n))
        key.public_key().verify(encode_dss_signature(*ours), message, ec.ECDSA(hashes.SHA256()))
        with pytest.raises(InvalidSignature):
            key.public_key().verify(encode_dss_signature(*ours), message + b"!",
                                    ec.ECDSA(hashes.SHA256()))
        # cryptography -> ours
        theirs = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        assert verify(name, public, h, theirs)
        assert not verify(name, public, h ^ 1, theirs)
        # the same k gives the same signature: RFC 6979 nonces on both sides
        deterministic = key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        assert decode_dss_signature(deterministic) == sign(name, d, h,
                                                           rfc6979_nonce(name, d, h))


@pytest.mark.parametrize("name", ["P-256", "secp256k1", "toy-1021"])
def test_nonce_reuse_gives_the_private_key(name):
    c = get_curve(name)
    for _ in range(3):
        d, k = RNG.randrange(1, c.n), RNG.randrange(1, c.n)
        h1, h2 = (hash_to_int(c, RNG.randbytes(16)) for _ in range(2))
        (r, s1), (_, s2) = sign(c, d, h1, k), sign(c, d, h2, k)
        assert ecdsa_nonce_reuse(c, _key(c, d), (h1, r, s1), (h2, r, s2)).secret == d
        # a signer normalising s to the lower half negates some: still broken
        assert ecdsa_nonce_reuse(c, _key(c, d), (h1, r, s1), (h2, r, c.n - s2)).secret == d


def test_nonce_reuse_fails_cleanly_without_a_reused_nonce():
    c = get_curve("P-256")
    d = RNG.randrange(1, c.n)
    h1, h2 = hash_to_int(c, b"one"), hash_to_int(c, b"two")
    first = (h1, *sign(c, d, h1, rfc6979_nonce(c, d, h1)))
    second = (h2, *sign(c, d, h2, rfc6979_nonce(c, d, h2)))
    with pytest.raises(AttackFailed, match="different r"):
        ecdsa_nonce_reuse(c, _key(c, d), first, second)
    with pytest.raises(AttackFailed, match="same hash"):
        ecdsa_nonce_reuse(c, _key(c, d), first, first)


# ---------------------------------------------------------------- singular curves

def _node(p, x0, t):
    """y^2 = (x - x0)^2 (x + 2 x0), and the point with y = t (x - x0)."""
    a, b = -3 * x0 * x0 % p, 2 * x0 ** 3 % p
    X = (t * t - 3 * x0) % p
    return singular_curve(p, a, b, ((X + x0) % p, t * X % p))


@pytest.mark.parametrize("p", [10007, 1000003, 2 ** 61 - 1])
def test_singular_curves_give_up_their_logs(p):
    kinds = set()
    cusp = singular_curve(p, 0, 0, (25, 125))       # y^2 = x^3 at t = 5: (t^2, t^3)
    curves_ = [cusp] + [_node(p, x0, 11) for x0 in (1, 2, 3, 5, 6, 7)]
    for c in curves_:
        kinds.add(singular_kind(c))
        d = RNG.randrange(1, p)
        result = singular_dlog(c, c.G, ecmath_mul(c, d, c.G))
        assert ecmath_mul(c, result.secret, c.G) == ecmath_mul(c, d, c.G)
        assert d % result.modulus == result.secret
        if c is cusp:
            assert result.operations == 1
    assert kinds == {"cusp", "split node", "non-split node"}


def ecmath_mul(c, k, P):
    return mul(c.p, c.a, k, P)


def test_singular_curves_are_refused_and_the_map_needs_one():
    with pytest.raises(ValueError, match="singular"):
        custom_curve(10007, 0, 0)
    c = get_curve("toy-1021")
    with pytest.raises(AttackFailed, match="not singular"):
        singular_dlog(c, c.G, c.G)


# ---------------------------------------------------------------- anomalous curves

def test_the_published_curve_is_anomalous():
    c = EXCEPTIONAL_CURVE
    assert c.p.bit_length() == 512 and is_prime(c.p)
    assert ecmath.on_curve(c, c.G) and ecmath.scalar_mult(c, c.p).is_infinity
    # G != O has prime order p, so p divides #E; Hasse's window holds one multiple of p
    lo, hi = hasse_window(c.p)
    assert [m for m in (c.p, 2 * c.p) if lo <= m <= hi] == [c.p]


# Small anomalous curves (found by counting points of random curves; the test recounts them).
SMALL_ANOMALOUS = [(919, 0, 15), (1009, 66, 339), (3001, 2762, 982), (65537, 16407, 24894)]


def test_smart_attack_recovers_keys_on_anomalous_curves():
    for c in [EXCEPTIONAL_CURVE, *(custom_curve(*params) for params in SMALL_ANOMALOUS)]:
        if c is not EXCEPTIONAL_CURVE:
            assert group_order(c) == c.p
        for _ in range(2):
            d = RNG.randrange(1, c.p)
            assert smart_attack(c, c.G, _key(c, d), seed=d).secret == d


def test_smart_attack_refuses_curves_that_are_not_anomalous(prime_order_curves):
    for c in [get_curve("P-256"), get_curve("toy-251"), prime_order_curves[0]]:
        with pytest.raises(AttackFailed, match="not anomalous"):
            smart_attack(c, c.G, _key(c, 7))


def test_hash_to_int_keeps_the_leftmost_bits():
    digest = hashlib.sha512(b"x").digest()
    assert hash_to_int("P-256", b"x", hashlib.sha512) == int.from_bytes(digest[:32], "big")


# ---------------------------------------------------------------- MOV

@pytest.fixture(scope="module")
def supersingular_curves():
    return [supersingular_curve(bits, seed=seed) for bits, seed in ((20, 1), (24, 2), (28, 3))]


def test_the_tate_pairing_is_bilinear_and_not_degenerate(supersingular_curves):
    for c in supersingular_curves:
        assert embedding_degree(c) == 2 and c.n * c.h == c.p + 1
        field = fp2_group(c.p, c.p - 1)
        g = tate_pairing(c, c.G, c.G)
        assert g != field.identity and field.power(c.n, g) == field.identity
        a, b = RNG.randrange(1, c.n), RNG.randrange(1, c.n)
        aG, bG = mul(c.p, c.a, a, c.G), mul(c.p, c.a, b, c.G)
        assert tate_pairing(c, aG, bG) == field.power(a * b, g)


def test_mov_recovers_keys_on_supersingular_curves(supersingular_curves):
    for c in supersingular_curves:
        for _ in range(2):
            d = RNG.randrange(1, c.n)
            assert mov_attack(c, c.G, _key(c, d)).secret == d


def test_mov_refuses_curves_of_large_embedding_degree(prime_order_curves):
    for c in [get_curve("P-256"), get_curve("secp256k1"), prime_order_curves[1]]:
        assert embedding_degree(c) is None
        with pytest.raises(AttackFailed, match="embedding degree"):
            mov_attack(c, c.G, _key(c, 3))
