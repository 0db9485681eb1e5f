"""What the key trace tells a view: the scalar the steps walk and the encoded public key."""

from __future__ import annotations

import pytest

from ecc_widgets import crypto, ecmath
from ecc_widgets.session.keygen import keygen_trace


@pytest.mark.parametrize("curve", ["P-256", "secp256k1", "X25519"])
def test_the_trace_carries_the_scalar_and_the_public_key_as_sent(curve):
    key = crypto.generate_private_key(curve)
    trace = keygen_trace(key)
    assert trace.public_hex == crypto.public_bytes(key).hex()
    if curve == "X25519":  # the ladder walks the clamped value: bit 254 set, low 3 clear
        assert trace.scalar == ecmath.clamp_x25519(trace.private_value)
        assert trace.scalar >> 254 == 1 and trace.scalar % 8 == 0
    else:
        assert trace.scalar == trace.private_value
    assert trace.toy.scalar == trace.toy.private_value
