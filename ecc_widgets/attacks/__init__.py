"""Attacks on weak and deliberately weakened elliptic-curve settings, run by the student.

EDUCATIONAL, BROKEN ON PURPOSE; NEVER USE FOR REAL SECRETS.  Everything here exists to show
why the defences exist: a large prime-order group (``bsgs``, ``pollard_rho``,
``pohlig_hellman``), point validation (``invalid_curve_attack`` against ``unsafe_ecdh``),
fresh or deterministic ECDSA nonces (``ecdsa_nonce_reuse``, ``rfc6979_nonce``), a
non-singular, non-anomalous curve of large embedding degree (``singular_dlog``,
``smart_attack``, ``mov_attack``).

Conventions, as in ``ecmath``: a curve is a name ("P-256") or a ``Curve``; points are
``(x, y)`` tuples; message hashes are integers.  Every attack returns an ``AttackResult``
whose ``secret`` is the recovered integer and whose ``steps`` are data for plots and
widgets; an attack that does not apply raises ``AttackFailed`` (a ``ValueError``) saying why.

Modules: ``common`` (results, number theory, raw point arithmetic), ``counting`` (point
counting for 40-64-bit curves, weak curves found by it), ``dlog``, ``invalid_curve``,
``ecdsa``, ``singular``, ``anomalous``, ``mov``.
"""

from .anomalous import EXCEPTIONAL_CURVE, is_anomalous, smart_attack
from .common import AttackFailed, AttackResult, AttackStep, crt, factor
from .counting import count_points, find_curve, hasse_window, weak_curve
from .dlog import bsgs, pohlig_hellman, pollard_rho
from .ecdsa import ecdsa_nonce_reuse, hash_to_int, rfc6979_nonce, sign, verify
from .invalid_curve import (
    encode_unchecked,
    invalid_curve_attack,
    small_order_points,
    unsafe_ecdh,
)
from .mov import embedding_degree, mov_attack, supersingular_curve, tate_pairing
from .singular import singular_curve, singular_dlog, singular_kind, singular_map

__all__ = [
    "AttackFailed",
    "AttackResult",
    "AttackStep",
    "EXCEPTIONAL_CURVE",
    "bsgs",
    "count_points",
    "crt",
    "ecdsa_nonce_reuse",
    "encode_unchecked",
    "factor",
    "find_curve",
    "hash_to_int",
    "hasse_window",
    "invalid_curve_attack",
    "is_anomalous",
    "embedding_degree",
    "mov_attack",
    "supersingular_curve",
    "tate_pairing",
    "pohlig_hellman",
    "pollard_rho",
    "rfc6979_nonce",
    "sign",
    "singular_curve",
    "singular_dlog",
    "singular_kind",
    "singular_map",
    "small_order_points",
    "smart_attack",
    "unsafe_ecdh",
    "verify",
    "weak_curve",
]
