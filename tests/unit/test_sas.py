"""Short authentication strings: Matrix's encodings, equal on both sides, different under a
man in the middle."""

from __future__ import annotations

import pytest

from ecc_widgets import crypto, sas


def test_the_emoji_table_is_matrixs_64():
    assert len(sas.EMOJI) == 64 and len({name for _e, name in sas.EMOJI}) == 64
    assert sas.EMOJI[0] == ("🐶", "Dog") and sas.EMOJI[63] == ("📌", "Pin")


def test_encodings_of_known_bytes():
    zeros = sas.from_bytes(bytes(6))
    assert zeros.names == ", ".join(["Dog"] * 7) and zeros.numbers == (1000, 1000, 1000)
    ones = sas.from_bytes(b"\xff" * 6)
    assert ones.names == ", ".join(["Pin"] * 7) and ones.numbers == (9191, 9191, 9191)
    # 6-bit groups 1, 2, ..., 7 (then 6 unused bits): Cat, Lion, Horse, ...
    groups = sum(g << (42 - 6 * i) for i, g in enumerate(range(1, 8)))
    counting = sas.from_bytes(groups.to_bytes(6, "big"))
    assert [name for _e, name in counting.emoji] == [sas.EMOJI[g][1] for g in range(1, 8)]
    # Matrix's decimal method, written out as its specification does
    b = bytes([0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC])
    assert sas.from_bytes(b).numbers == (((b[0] << 5) | (b[1] >> 3)) + 1000,
                                         (((b[1] & 0x7) << 10) | (b[2] << 2) | (b[3] >> 6))
                                         + 1000,
                                         (((b[3] & 0x3F) << 7) | (b[4] >> 1)) + 1000)
    with pytest.raises(ValueError):
        sas.from_bytes(bytes(5))


@pytest.mark.parametrize("curve", ["P-256", "X25519", "secp256k1"])
def test_both_sides_see_the_same_code_and_a_man_in_the_middle_splits_it(curve):
    alice, bob, mallory = (crypto.generate_private_key(curve) for _ in range(3))
    pa, pb, pm = (crypto.public_bytes(k.public_key()) for k in (alice, bob, mallory))
    seen_by_alice = sas.short_auth_string(crypto.ecdh(alice, bob.public_key()), curve=curve,
                                          public_a=pa, public_b=pb)
    seen_by_bob = sas.short_auth_string(crypto.ecdh(bob, alice.public_key()), curve=curve,
                                        public_a=pb, public_b=pa)
    assert seen_by_alice == seen_by_bob
    assert len(seen_by_alice.emoji) == 7 and all(1000 <= n <= 9191
                                                  for n in seen_by_alice.numbers)
    # Mallory answers each side with its own key: each side's secret is shared with Mallory
    alice_under_mitm = sas.short_auth_string(crypto.ecdh(alice, mallory.public_key()),
                                             curve=curve, public_a=pa, public_b=pm)
    bob_under_mitm = sas.short_auth_string(crypto.ecdh(bob, mallory.public_key()),
                                           curve=curve, public_a=pb, public_b=pm)
    assert alice_under_mitm != bob_under_mitm
    assert alice_under_mitm != seen_by_alice


def test_the_code_binds_the_curve_and_the_keys():
    secret = bytes(range(32))
    base = sas.sas_bytes(secret, curve="P-256", public_a=b"a", public_b=b"b")
    assert base == sas.sas_bytes(secret, curve="P-256", public_a=b"b", public_b=b"a")
    assert base != sas.sas_bytes(secret, curve="P-384", public_a=b"a", public_b=b"b")
    assert base != sas.sas_bytes(secret, curve="P-256", public_a=b"a", public_b=b"c")
    # length-prefixed parts: moving a byte between the keys changes the result
    assert base != sas.sas_bytes(secret, curve="P-256", public_a=b"", public_b=b"ab")
    with pytest.raises(ValueError):
        sas.sas_bytes(b"", curve="P-256", public_a=b"a", public_b=b"b")
