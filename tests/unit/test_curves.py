"""Curves as data: named domain parameters, aliases, toy curves with computed orders."""

from __future__ import annotations

import math

import pytest

from ecc_widgets import ecmath
from ecc_widgets.curves import (
    COUNTING_LIMIT,
    NAMED_CURVES,
    TOY_CURVES,
    Curve,
    custom_curve,
    find_generator,
    get_curve,
    group_order,
    is_prime,
    points,
)

CANONICAL = ["P-256", "P-384", "P-521", "secp256k1", "X25519",
             "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"]


SECURITY = {"P-256": 128, "P-384": 192, "P-521": 256, "secp256k1": 128, "X25519": 128,
            "brainpoolP256r1": 128, "brainpoolP384r1": 192, "brainpoolP512r1": 256}


def test_the_named_curves_are_exactly_the_documented_set():
    assert list(NAMED_CURVES) == CANONICAL


@pytest.mark.parametrize("name", CANONICAL)
def test_named_curve_parameters_are_consistent(name):
    c = NAMED_CURVES[name]
    assert is_prime(c.p) and is_prime(c.n)
    assert c.bits == c.p.bit_length()
    assert c.security_bits == SECURITY[name]
    assert ecmath.on_curve(c, (c.gx, c.gy))
    # Hasse: |#E - (p + 1)| <= 2 sqrt(p)
    assert abs(c.h * c.n - (c.p + 1)) <= 2 * math.isqrt(c.p) + 2
    # n * G = O (the ladder for X25519, double-and-add for the rest)
    assert ecmath.scalar_mult(c, c.n).is_infinity


def test_x25519_is_the_rfc7748_montgomery_curve():
    c = NAMED_CURVES["X25519"]
    assert (c.form, c.p, c.a, c.b, c.gx, c.h) == ("montgomery", 2**255 - 19, 486662, 1, 9, 8)
    assert c.gy == 14781619447589544791020593568409986887264606134616475288964881837755586237401


@pytest.mark.parametrize("alias,name", [
    ("secp256r1", "P-256"), ("prime256v1", "P-256"), ("NIST P-256", "P-256"), ("p256", "P-256"),
    ("secp384r1", "P-384"), ("nist p-384", "P-384"), ("secp521r1", "P-521"),
    ("SECP256K1", "secp256k1"), ("curve25519", "X25519"), ("x25519", "X25519"),
    ("brainpoolp256r1", "brainpoolP256r1"), ("brainpoolP384r1", "brainpoolP384r1"),
    ("toy-97", "toy-97"), ("TOY 17", "toy-17"),
])
def test_aliases_resolve_to_the_canonical_curve(alias, name):
    assert get_curve(alias).name == name


def test_unknown_curve_names_fail_clearly():
    with pytest.raises(KeyError, match="unknown curve 'P-192'.*P-256"):
        get_curve("P-192")
    with pytest.raises(TypeError, match="string"):
        get_curve(256)


def test_a_curve_is_hashable_printable_and_passes_through_get_curve():
    c = get_curve("P-256")
    assert {c: "ok"}[get_curve("prime256v1")] == "ok"
    assert get_curve(c) is c
    assert "P-256" in str(c) and "128-bit security" in str(c)
    toy = TOY_CURVES["toy-17"]
    assert str(toy) == "toy-17: y^2 = x^3 + 2x + 2 over F_17, G = (5, 1), n = 19, h = 1"
    with pytest.raises(AttributeError):
        c.p = 7  # frozen


def _brute_force_count(p, a, b):
    return 1 + sum(1 for x in range(p) for y in range(p) if (y * y - x**3 - a * x - b) % p == 0)


@pytest.mark.parametrize("name", list(TOY_CURVES))
def test_toy_curves_have_counted_orders_and_prime_order_generators(name):
    c = TOY_CURVES[name]
    pts = points(c)
    assert len(pts) == len(set(pts)) and pts == sorted(pts)
    assert all(ecmath.on_curve(c, P) for P in pts)
    assert len(pts) + 1 == group_order(c) == c.h * c.n
    if c.p < 300:  # the independent O(p^2) count stays cheap
        assert group_order(c) == _brute_force_count(c.p, c.a, c.b)
    assert is_prime(c.n)
    assert ecmath.scalar_mult(c, c.n).is_infinity
    assert not ecmath.scalar_mult(c, 1).is_infinity
    assert abs(group_order(c) - (c.p + 1)) <= 2 * math.sqrt(c.p)


def test_toy_curves_include_prime_order_groups_and_cofactors():
    cofactors = {c.h for c in TOY_CURVES.values()}
    assert 1 in cofactors and any(h > 1 for h in cofactors)
    assert len(TOY_CURVES) >= 4
    # The textbook examples keep their familiar generators.
    assert TOY_CURVES["toy-17"].G == (5, 1) and TOY_CURVES["toy-97"].G == (3, 6)
    assert TOY_CURVES["toy-97"].n == 5 and TOY_CURVES["toy-97"].h == 20


def test_find_generator_is_deterministic_and_has_prime_order():
    (G, n, h) = find_generator(1009, 1, 1)
    assert (G, n, h) == find_generator(1009, 1, 1)
    c = custom_curve(1009, 1, 1)
    assert c.G == G and (c.n, c.h) == (n, h)
    assert is_prime(n) and n * h == _count_quick(1009, 1, 1)
    assert ecmath.scalar_mult(c, n).is_infinity


def _count_quick(p, a, b):
    """#E by Euler's criterion per x: 1 point where the right side is 0, 2 where a square."""
    total = 1
    for x in range(p):
        rhs = (x**3 + a * x + b) % p
        total += 1 if rhs == 0 else 2 if pow(rhs, (p - 1) // 2, p) == 1 else 0
    return total


def test_custom_curve_with_a_given_generator_computes_its_order():
    c = custom_curve(97, 2, 3, 3, 6)
    assert (c.n, c.h) == (5, 20)
    big = custom_curve(NAMED_CURVES["P-256"].p, -3, NAMED_CURVES["P-256"].b,
                       NAMED_CURVES["P-256"].gx, NAMED_CURVES["P-256"].gy)
    assert big.n is None and big.p > COUNTING_LIMIT  # too large to count: no order claimed
    assert big.a == big.p - 3


@pytest.mark.parametrize("args,message", [
    ((15, 1, 1), "not prime"),
    ((1, 1, 1), "not prime"),
    ((3, 1, 1), "p > 3"),
    ((23, 0, 0), "singular"),
    ((23, -3, 2), "singular"),       # 4(-3)^3 + 27*2^2 = 0
    ((97, 2, 3, 3, 7), "not on"),
    ((97, 2, 3, 3), "both gx and gy"),
])
def test_custom_curve_refuses_bad_parameters_with_a_clear_message(args, message):
    with pytest.raises(ValueError, match=message):
        custom_curve(*args)


def test_custom_curve_refuses_non_integers():
    with pytest.raises(TypeError):
        custom_curve(23.0, 1, 1)
    with pytest.raises(TypeError):
        custom_curve(23, True, 1)


def test_points_refuses_montgomery_and_large_curves():
    with pytest.raises(ValueError, match="Montgomery|montgomery"):
        points(NAMED_CURVES["X25519"])
    with pytest.raises(ValueError, match="too large"):
        points(NAMED_CURVES["P-256"])


def test_is_prime():
    small = [n for n in range(200) if is_prime(n)]
    assert small == [n for n in range(2, 200) if all(n % d for d in range(2, n))]
    assert is_prime(2**255 - 19) and not is_prime(2**255 - 21) and not is_prime(561)
    assert not is_prime(-7) and not is_prime(True)


def test_curve_dataclass_has_the_contract_fields():
    fields = set(Curve.__dataclass_fields__)
    assert {"name", "p", "a", "b", "gx", "gy", "n", "h", "bits", "security_bits", "aliases",
            "form"} <= fields


def test_find_generator_on_a_non_cyclic_prime_part():
    # #E = 1029 = 3 * 7^3 and the 7-part is not cyclic: h*P is infinity for every P, so the
    # generator must come from (ord(P)/n)*P instead.
    c = custom_curve(1009, 0, 7)
    assert (c.n, c.h) == (7, 147) and c.n * c.h == _count_quick(1009, 0, 7)
    assert not ecmath.scalar_mult(c, 1, c.G).is_infinity
    assert ecmath.scalar_mult(c, c.n, c.G).is_infinity
