"""Q = d x G as the maths computed it, checked against the library, with what a view shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecc_widgets import crypto
from ecc_widgets.curves import TOY_CURVES, get_curve

TOY_CURVE = "toy-251"       # prime order 271: every step of the toy trace is drawable


@dataclass(frozen=True)
class KeygenTrace:
    """Q = d x G as the maths computed it, step by step (`steps` are `ecmath.Step`s).

    `toy` is the same walk on a toy curve small enough to draw (None on the toy trace).
    """

    curve: str
    private_value: int
    public_point: Any
    steps: tuple
    toy: KeygenTrace | None = None
    keygen_ms: float = 0.0      # the library's key generation alone, measured by the model
    private_bytes: int = 0      # the private value's fixed-length encoding (JWK "d")

    @property
    def scalar(self) -> int:
        """The scalar the steps walk through: X25519 clamps its 32 random bytes first."""
        from ecc_widgets import ecmath

        ladder = bool(self.steps) and self.steps[0].op == "ladder"
        return ecmath.clamp_x25519(self.private_value) if ladder else self.private_value

    @property
    def public_hex(self) -> str:
        """The public key as the wire encodes it (SEC1 or RFC 7748), in hex."""
        from ecc_widgets import ecmath

        return ecmath.encode_point(get_curve(self.curve), self.public_point).hex()


def keygen_trace(private_key: Any) -> KeygenTrace:
    """The maths' Q = d x G for a real key, checked equal to the library's public key.

    Raises ValueError if they differ. Adds a small trace on a toy curve for drawing.
    """
    from ecc_widgets import ecmath  # the maths are only needed when keys are generated

    curve = crypto.curve_of(private_key)
    d = crypto.private_value(private_key)
    expected = crypto.public_bytes(private_key)
    if curve == "X25519":
        point, steps = ecmath.x25519_ladder_trace(d)   # clamps d as RFC 7748 does
    else:
        point, steps = ecmath.scalar_mult_trace(get_curve(curve), d)
    ecmath.resolve_points(steps)   # the keys panel shows every step: one inversion for all
    computed = ecmath.encode_point(get_curve(curve), point)
    if computed != expected:
        raise ValueError(f"Q = d x G on {curve} gave {computed.hex()[:16]}..., the library "
                         f"{expected.hex()[:16]}...")
    return KeygenTrace(curve, d, point, tuple(steps), toy_walk(d),
                       private_bytes=crypto.private_key_size(private_key))


def toy_walk(d: int, toy_curve: str = TOY_CURVE) -> KeygenTrace:
    """The same double-and-add on a toy curve, with d' = d mod (n - 1) + 1 (n: the order of
    the toy G): a private value of the toy curve, in [1, n - 1], that follows from d."""
    from ecc_widgets import ecmath

    curve = TOY_CURVES[toy_curve]
    toy_d = d % (curve.n - 1) + 1
    point, steps = ecmath.scalar_mult_trace(curve, toy_d)
    ecmath.resolve_points(steps)
    return KeygenTrace(curve.name, toy_d, point, tuple(steps))
