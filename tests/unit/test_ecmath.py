"""The educational maths: agreement with `cryptography` on every named curve, the standards'
known answers, the traces, and refusal of every kind of invalid point."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from ecc_widgets import ecmath
from ecc_widgets.curves import NAMED_CURVES, TOY_CURVES, get_curve, points
from ecc_widgets.ecmath import INFINITY, Point
from tests.support.vectors import hexbytes, load_vectors

LIB_CURVES = {
    "P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1,
    "secp256k1": ec.SECP256K1, "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpoolP384r1": ec.BrainpoolP384R1, "brainpoolP512r1": ec.BrainpoolP512R1,
}
WEIERSTRASS = list(LIB_CURVES)
FEW = settings(max_examples=25, deadline=None)


def lib_public(name: str, d: int) -> bytes:
    """cryptography's SEC1 uncompressed public key for the private value d."""
    key = ec.derive_private_key(d, LIB_CURVES[name]())
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


def raw(pub) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# ---------------------------------------------------------------- agreement with cryptography

@pytest.mark.parametrize("name", WEIERSTRASS)
@FEW
@given(data=st.data())
def test_public_key_equals_cryptography_on_every_weierstrass_curve(name, data):
    n = NAMED_CURVES[name].n
    d = data.draw(st.integers(1, n - 1))
    Q, steps = ecmath.scalar_mult_trace(name, d)
    assert ecmath.encode_point(name, Q) == lib_public(name, d)
    assert steps[-1].point == Q
    assert ecmath.scalar_mult(name, d) == Q


@pytest.mark.parametrize("name", WEIERSTRASS)
@FEW
@given(data=st.data())
def test_ecdh_equals_cryptography_exchange_on_every_weierstrass_curve(name, data):
    n = NAMED_CURVES[name].n
    d = data.draw(st.integers(1, n - 1))
    e = data.draw(st.integers(1, n - 1))
    compressed = data.draw(st.booleans())
    mine = ec.derive_private_key(d, LIB_CURVES[name]())
    theirs = ec.derive_private_key(e, LIB_CURVES[name]())
    peer = ecmath.encode_point(name, ecmath.scalar_mult(name, e), compressed=compressed)
    assert ecmath.ecdh(name, d, peer) == mine.exchange(ec.ECDH(), theirs.public_key())


@FEW
@given(k=st.binary(min_size=32, max_size=32), peer=st.binary(min_size=32, max_size=32))
def test_x25519_ladder_equals_cryptography(k, peer):
    lib = x25519.X25519PrivateKey.from_private_bytes(k)
    Q, steps = ecmath.x25519_ladder_trace(k)
    assert ecmath.encode_point("X25519", Q) == raw(lib.public_key())
    assert len(steps) == 255 and steps[-1].point == Q
    # the contract's int form: the 32 bytes read little-endian, clamped inside
    assert ecmath.x25519_ladder_trace(int.from_bytes(k, "little"))[0] == Q
    other = x25519.X25519PrivateKey.from_private_bytes(peer)
    expected = lib.exchange(other.public_key())
    assert ecmath.ecdh("X25519", int.from_bytes(k, "little"), raw(other.public_key())) == expected


# ---------------------------------------------------------------- known answers

@pytest.mark.parametrize("v", load_vectors("rfc5903_ecdh.txt"), ids=lambda v: v["section"])
def test_rfc5903_ecdh_vectors(v):
    name = v["section"]
    size = get_curve(name).byte_length
    i, r = int(v["i"], 16), int(v["r"], 16)
    gi, gr = ecmath.scalar_mult(name, i), ecmath.scalar_mult(name, r)
    if "gix" in v:
        assert gi == Point(int(v["gix"], 16), int(v["giy"], 16))
        assert gr == Point(int(v["grx"], 16), int(v["gry"], 16))
    girx = hexbytes(v["girx"])
    assert len(girx) == size
    assert ecmath.ecdh(name, i, ecmath.encode_point(name, gr)) == girx
    assert ecmath.ecdh(name, r, ecmath.encode_point(name, gi, compressed=True)) == girx


X25519_VECTORS = load_vectors("rfc7748_x25519.txt")


def _of(section):
    return [v for v in X25519_VECTORS if v["section"] == section]


@pytest.mark.parametrize("v", _of("function"))
def test_rfc7748_x25519_function_vectors(v):
    assert ecmath.x25519(hexbytes(v["scalar"]), hexbytes(v["u"])) == hexbytes(v["out"])


def test_rfc7748_iterated_vector_one_round():
    (one,) = [v for v in _of("iterated") if v["iterations"] == "1"]
    k = u = bytes([9]) + bytes(31)
    assert ecmath.x25519(k, u) == hexbytes(one["k"])


def test_rfc7748_diffie_hellman_vector():
    (v,) = _of("diffie-hellman")
    a, b = hexbytes(v["alice_private"]), hexbytes(v["bob_private"])
    a_pub = ecmath.encode_point("X25519", ecmath.x25519_ladder_trace(a)[0])
    b_pub = ecmath.encode_point("X25519", ecmath.x25519_ladder_trace(b)[0])
    assert a_pub == hexbytes(v["alice_public"]) and b_pub == hexbytes(v["bob_public"])
    shared = hexbytes(v["shared"])
    assert ecmath.ecdh("X25519", int.from_bytes(a, "little"), b_pub) == shared
    assert ecmath.ecdh("X25519", int.from_bytes(b, "little"), a_pub) == shared


@pytest.mark.parametrize("v", _of("low-order"), ids=lambda v: v["u"][:8])
def test_x25519_low_order_points_are_refused(v):
    u = hexbytes(v["u"])
    point = ecmath.decode_point("X25519", u)
    # these points have order dividing 8: the ladder by 8 reaches the point at infinity
    assert ecmath.scalar_mult("X25519", 8, point).is_infinity
    assert ecmath.x25519(bytes(range(32)), u) == bytes(32)
    with pytest.raises(ValueError, match="all zero"):
        ecmath.ecdh("X25519", 12345, u)


# ---------------------------------------------------------------- traces

@pytest.mark.parametrize("name,k", [("toy-17", 1), ("toy-17", 18), ("toy-97", 13),
                                    ("toy-1021", 0b1011001), ("P-256", 2**200 + 12345),
                                    ("secp256k1", 7)])
def test_trace_is_the_real_double_and_add(name, k):
    c = get_curve(name)
    Q, steps = ecmath.scalar_mult_trace(c, k)
    bits = bin(k)[2:]
    assert [s.op for s in steps].count("double") == len(bits) - 1
    assert [s.op for s in steps].count("add") == bits.count("1")
    assert steps[0].op == "add" and steps[0].multiple == 1 and steps[0].index == len(bits) - 1
    for s in steps:
        assert s.bit == int(bits[len(bits) - 1 - s.index])
        assert s.point == ecmath.scalar_mult(c, s.multiple)
    assert steps[-1].multiple == k and (steps[-1].point == Q)
    # MSB first: each double doubles the running multiple, each add adds one
    for prev, s in zip(steps, steps[1:], strict=False):
        expected = prev.multiple * 2 if s.op == "double" else prev.multiple + 1
        assert s.multiple == expected


def test_trace_steps_are_frozen_comparable_and_readable():
    _, steps = ecmath.scalar_mult_trace("toy-17", 6)
    step = steps[1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.op = "add"
    assert step == ecmath.Step.of(step.index, step.bit, step.op, step.multiple, step.point, 17)
    assert hash(step) == hash(ecmath.Step.of(step.index, step.bit, step.op, step.multiple,
                                             step.point, 17))
    assert "point=Point(x=" in repr(step) and "op='double'" in repr(step)


def test_ladder_trace_records_each_rung():
    c = get_curve("X25519")
    k = 0b110101
    Q, steps = ecmath.montgomery_ladder_trace(c, k, 9)
    assert [s.bit for s in steps] == [int(b) for b in bin(k)[2:]]
    assert all(s.op == "ladder" for s in steps)
    for s in steps:
        assert s.point == ecmath.scalar_mult(c, s.multiple)
    assert steps[-1].point == Q and steps[-1].multiple == k


def test_scalar_mult_edge_cases():
    c = TOY_CURVES["toy-23"]
    G = c.G
    assert ecmath.scalar_mult(c, 0) == INFINITY
    assert ecmath.scalar_mult_trace(c, 0) == (INFINITY, [])
    assert ecmath.scalar_mult(c, -3) == ecmath.negate(c, ecmath.scalar_mult(c, 3))
    assert ecmath.scalar_mult(c, 5, INFINITY) == INFINITY
    with pytest.raises(TypeError):
        ecmath.scalar_mult(c, 2.0)
    with pytest.raises(ValueError, match="not on"):
        ecmath.scalar_mult(c, 2, (G[0], G[1] + 1))


# ---------------------------------------------------------------- the group law

def _repeated_add(c, k, P):
    R = INFINITY
    for _ in range(k):
        R = ecmath.add(c, R, P)
    return R


@pytest.mark.parametrize("name", list(TOY_CURVES))
def test_scalar_mult_matches_repeated_addition_on_every_point_of_small_curves(name):
    c = TOY_CURVES[name]
    pts = points(c) if c.p < 100 else points(c)[::37]
    for P in pts:
        R = INFINITY
        for k in range(0, c.h * c.n + 2):
            assert ecmath.scalar_mult(c, k, P) == R, (P, k)
            R = ecmath.add(c, R, P)


toy_97 = TOY_CURVES["toy-97"]
toy_points = st.sampled_from(points(toy_97) + [INFINITY])


@FEW
@given(P=toy_points, Q=toy_points, R=toy_points)
def test_group_axioms_on_a_toy_curve(P, Q, R):
    c = toy_97
    assert ecmath.add(c, P, Q) == ecmath.add(c, Q, P)
    assert ecmath.add(c, ecmath.add(c, P, Q), R) == ecmath.add(c, P, ecmath.add(c, Q, R))
    assert ecmath.add(c, P, INFINITY) == P
    assert ecmath.add(c, P, ecmath.negate(c, P)) == INFINITY
    assert ecmath.double(c, P) == ecmath.add(c, P, P)
    assert ecmath.on_curve(c, ecmath.add(c, P, Q))


def test_montgomery_affine_law_agrees_with_the_ladder():
    c = get_curve("X25519")
    G = c.G
    G2 = ecmath.double(c, G)
    G3 = ecmath.add(c, G2, G)
    assert ecmath.on_curve(c, G2) and ecmath.on_curve(c, G3)
    assert G2.x == ecmath.scalar_mult(c, 2).x and G3.x == ecmath.scalar_mult(c, 3).x
    assert ecmath.add(c, G, ecmath.negate(c, G)) == INFINITY


def test_add_refuses_points_off_the_curve():
    c = TOY_CURVES["toy-17"]
    with pytest.raises(ValueError, match="not on"):
        ecmath.add(c, (5, 1), (5, 2))
    with pytest.raises(ValueError, match="not on"):
        ecmath.double(c, (1, 1))
    with pytest.raises(TypeError):
        ecmath.add(c, (5, 1), 5)


def test_on_curve_checks_ranges_and_the_twist():
    c = TOY_CURVES["toy-17"]
    assert ecmath.on_curve(c, INFINITY)
    assert not ecmath.on_curve(c, (5 + 17, 1))   # same residue, but not a field element
    assert not ecmath.on_curve(c, (5, -16))
    x25519_curve = get_curve("X25519")
    assert ecmath.on_curve(x25519_curve, Point(9, None))
    # 2 is on the twist of Curve25519: u^3 + Au^2 + u is not a square for u = 2
    assert not ecmath.on_curve(x25519_curve, Point(2, None))


@pytest.mark.parametrize("p", [17, 97, 1021, 2**255 - 19, NAMED_CURVES["P-256"].p])
def test_sqrt_mod_for_every_kind_of_prime(p):
    for a in range(1, 60):
        r = ecmath.sqrt_mod(a, p)
        if r is None:
            assert pow(a, (p - 1) // 2, p) == p - 1
        else:
            assert r * r % p == a % p


# ---------------------------------------------------------------- SEC1 decoding

P256 = NAMED_CURVES["P-256"]


def _p256_pub(compressed=False):
    return ecmath.encode_point(P256, ecmath.scalar_mult(P256, 0xC0FFEE), compressed=compressed)


def _non_square_x(c):
    x = 1
    while ecmath.sqrt_mod(x**3 + c.a * x + c.b, c.p) is not None:
        x += 1
    return x


@pytest.mark.parametrize("name", WEIERSTRASS + list(TOY_CURVES))
def test_encode_decode_round_trip(name):
    c = get_curve(name)
    for k in (1, 2, 3, c.n - 1):
        P = ecmath.scalar_mult(c, k)
        for compressed in (False, True):
            assert ecmath.decode_point(c, ecmath.encode_point(c, P, compressed)) == P


def test_decode_refuses_every_malformed_encoding():
    good = _p256_pub()
    size = P256.byte_length
    x_twist = _non_square_x(P256)
    bad = {
        "empty": b"",
        "prefix 05": b"\x05" + good[1:],
        "uncompressed too short": good[:-1],
        "uncompressed too long": good + b"\x00",
        "compressed too long": b"\x02" + good[1:],
        "compressed too short": b"\x03" + good[1:size],
        "x = p": b"\x04" + P256.p.to_bytes(size, "big") + good[1 + size:],
        "y = p": good[:1 + size] + P256.p.to_bytes(size, "big"),
        "off curve": good[:-1] + bytes([good[-1] ^ 1]),
        "twist x, compressed": b"\x02" + x_twist.to_bytes(size, "big"),
        "infinity": b"\x00",
        "infinity with trailing bytes": b"\x00" + good[1:],
    }
    for label, data in bad.items():
        with pytest.raises(ValueError):
            ecmath.decode_point(P256, data)
            pytest.fail(label)
    assert ecmath.decode_point(P256, b"\x00", allow_infinity=True) == INFINITY
    with pytest.raises(ValueError, match="bytes"):
        ecmath.decode_point(P256, good.hex())


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=70))
def test_decode_never_fails_other_than_with_value_error(data):
    try:
        P = ecmath.decode_point(P256, data)
    except ValueError:
        return
    assert ecmath.on_curve(P256, P)


def test_compressed_decoding_on_p_1_mod_4_uses_tonelli_shanks():
    c = TOY_CURVES["toy-1021"]   # 1021 = 1 (mod 4)
    for P in points(c)[::50]:
        assert ecmath.decode_point(c, ecmath.encode_point(c, P, compressed=True)) == P


# ---------------------------------------------------------------- ecdh refusals

def test_ecdh_refuses_invalid_points_and_private_values():
    pub = _p256_pub()
    with pytest.raises(ValueError, match="not on"):
        ecmath.ecdh("P-256", 5, pub[:-1] + bytes([pub[-1] ^ 1]))
    for d in (0, P256.n, -1):
        with pytest.raises(ValueError, match=r"\[1, n-1\]"):
            ecmath.ecdh("P-256", d, pub)
    with pytest.raises(ValueError, match="unknown curve"):
        ecmath.ecdh("P-192", 5, pub)
    with pytest.raises(ValueError, match="32 bytes"):
        ecmath.ecdh("X25519", 5, bytes(31))
    with pytest.raises(ValueError):
        ecmath.ecdh("P-384", 5, pub)  # a P-256 point is the wrong length for P-384


def test_ecdh_refuses_small_subgroup_points_on_a_cofactor_curve():
    c = TOY_CURVES["toy-23"]  # h = 4
    outside = next(P for P in points(c) if not ecmath.scalar_mult(c, c.n, P).is_infinity)
    with pytest.raises(ValueError, match="subgroup"):
        ecmath.ecdh("toy-23", 3, ecmath.encode_point(c, outside))
    inside = ecmath.encode_point(c, ecmath.scalar_mult(c, 2))
    assert len(ecmath.ecdh("toy-23", 3, inside)) == c.byte_length


def test_the_module_says_it_is_not_for_real_secrets():
    assert "NOT CONSTANT-TIME, NOT FOR REAL SECRETS" in ecmath.__doc__


@pytest.mark.parametrize("name", ["P-256", "secp256k1", "toy-251", "X25519"])
def test_resolving_every_step_at_once_gives_the_points_one_by_one(name):
    c = get_curve(name)
    k = 0x5DEECE66D % (c.n - 1) + 1
    if name == "X25519":
        _, steps = ecmath.x25519_ladder_trace(k)
        _, again = ecmath.x25519_ladder_trace(k)
    else:
        _, steps = ecmath.scalar_mult_trace(c, k)
        _, again = ecmath.scalar_mult_trace(c, k)
    ecmath.resolve_points(steps)
    assert all("point" in s.__dict__ for s in steps)
    assert [s.point for s in steps] == [s.point for s in again]  # lazily, one inversion each
