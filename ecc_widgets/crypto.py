"""Real cryptography for the chat, as small recipes over ``cryptography``: bytes in, bytes out.

- keys on every named curve, JWK export/import (RFC 7518 "EC", RFC 8037 "OKP" for X25519),
  which is the seed protocol's key format;
- ECDH with full validation of the peer's key (``InvalidKeyError`` for anything wrong);
- a session key from HKDF-SHA256 bound to the protocol version, the curve and both public
  keys, and the seed-compatible message key (first 32 bytes of raw ECDH, as Web Crypto's
  ``deriveKey(ECDH -> AES-GCM-256)`` gives);
- AES-256-GCM with associated data; ``DecryptionError`` is the one exception for every
  decryption failure, so a caller cannot tell (or leak) which check failed;
- a short fingerprint per key and a "safety number" per pair of keys, to compare out of band.

Randomness comes from the OS by default; nonces can be passed in so tests are deterministic.
NEVER reuse a nonce with the same key: AES-GCM then leaks the XOR of the plaintexts and
lets an attacker forge tags.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .curves import get_curve
from .protocol import PROTOCOL_VERSION  # also in the session key's HKDF info

__all__ = [
    "PROTOCOL_VERSION",
    "SUPPORTED_CURVES",
    "InvalidKeyError",
    "DecryptionError",
    "Encrypted",
    "generate_private_key",
    "private_key_from_value",
    "private_value",
    "private_key_size",
    "curve_of",
    "public_bytes",
    "public_key_from_bytes",
    "private_key_to_jwk",
    "public_key_to_jwk",
    "private_key_from_jwk",
    "public_key_from_jwk",
    "ecdh",
    "ecdh_jwk",
    "hkdf_sha256",
    "derive_session_key",
    "seed_message_key",
    "encrypt",
    "decrypt",
    "fingerprint",
    "safety_number",
    "b64encode",
    "b64decode",
]

KEY_SIZE = 32     # AES-256
NONCE_SIZE = 12   # the GCM standard nonce; Web Crypto's client uses the same
TAG_SIZE = 16

_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpoolP384r1": ec.BrainpoolP384R1,
    "brainpoolP512r1": ec.BrainpoolP512R1,
}
# cryptography's curve.name ("secp256r1", ...) -> our canonical name
_FROM_LIB = {cls.name: name for name, cls in _EC_CURVES.items()}

SUPPORTED_CURVES: tuple[str, ...] = (*_EC_CURVES, "X25519")

PrivateKey = ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | x25519.X25519PublicKey


class InvalidKeyError(ValueError):
    """A key that must not be used: off the curve, wrong curve, bad encoding, infinity, ..."""


class DecryptionError(Exception):
    """Any failure to decrypt: wrong key, tampered ciphertext/tag/nonce/associated data,
    wrong lengths or types.  Deliberately one type with no detail about which check failed."""


class Encrypted(NamedTuple):
    """AES-GCM output with the tag split off, as the seed's wire format carries it."""

    ciphertext: bytes
    nonce: bytes
    tag: bytes


# ---------------------------------------------------------------- base64

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64encode(data: bytes) -> str:
    """Standard, padded base64 (the seed's ``encryptedMessage``, ``iv`` and ``tag``)."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict standard base64; ``ValueError`` for anything else."""
    if not isinstance(text, str):
        raise ValueError(f"expected a base64 string, got {type(text).__name__}")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"not valid base64: {exc}") from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(value: object, what: str, length: int | None = None) -> bytes:
    """Decode an unpadded base64url JWK member (RFC 7515 section 2), checking its length."""
    if not isinstance(value, str):
        raise InvalidKeyError(f"JWK member {what!r} must be a base64url string")
    if not _B64URL.fullmatch(value) or len(value) % 4 == 1:
        raise InvalidKeyError(f"JWK member {what!r} is not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InvalidKeyError(f"JWK member {what!r} is not unpadded base64url") from None
    if _b64url(raw) != value:  # non-canonical trailing bits
        raise InvalidKeyError(f"JWK member {what!r} is not canonical base64url")
    if length is not None and len(raw) != length:
        raise InvalidKeyError(
            f"JWK member {what!r} must be {length} bytes for this curve, got {len(raw)}")
    return raw


# ---------------------------------------------------------------- keys

def _canonical(curve: str) -> str:
    try:
        name = get_curve(curve).name
    except (KeyError, TypeError) as exc:
        raise InvalidKeyError(exc.args[0] if exc.args else str(exc)) from None
    if name not in SUPPORTED_CURVES:
        raise InvalidKeyError(
            f"{name} is not usable for real keys; supported: {', '.join(SUPPORTED_CURVES)}")
    return name


def generate_private_key(curve: str) -> PrivateKey:
    """A fresh private key on ``curve`` (a name or alias from ``SUPPORTED_CURVES``)."""
    name = _canonical(curve)
    if name == "X25519":
        return x25519.X25519PrivateKey.generate()
    return ec.generate_private_key(_EC_CURVES[name]())


def private_key_from_value(curve: str, value: int) -> PrivateKey:
    """The private key with scalar ``value`` (for X25519: the 32 bytes read little-endian,
    unclamped, as ``private_value`` returns it).  For teaching and tests."""
    name = _canonical(curve)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidKeyError("a private value must be an integer")
    if name == "X25519":
        if not 0 <= value < 1 << 256:
            raise InvalidKeyError("an X25519 private value must fit in 32 bytes")
        return x25519.X25519PrivateKey.from_private_bytes(value.to_bytes(32, "little"))
    n = get_curve(name).n
    if not 1 <= value < n:
        raise InvalidKeyError(f"a {name} private value must be in [1, n-1]")
    return ec.derive_private_key(value, _EC_CURVES[name]())


def private_value(key: PrivateKey) -> int:
    """The private scalar d (for X25519 the raw 32 bytes read little-endian, unclamped)."""
    if isinstance(key, x25519.X25519PrivateKey):
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        return int.from_bytes(raw, "little")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.private_numbers().private_value
    raise TypeError(f"expected a private key, got {type(key).__name__}")


def private_key_size(key: PrivateKey) -> int:
    """Bytes of the private value as it is stored and exchanged: JWK "d" (RFC 7518: the
    fixed length of the group order, 66 for P-521) or X25519's raw 32 bytes."""
    return len(_unb64url(private_key_to_jwk(key)["d"], "d"))


def curve_of(key: PrivateKey | PublicKey) -> str:
    """Canonical curve name of a private or public key."""
    if isinstance(key, (x25519.X25519PrivateKey, x25519.X25519PublicKey)):
        return "X25519"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        try:
            return _FROM_LIB[key.curve.name]
        except KeyError:
            raise InvalidKeyError(f"unsupported curve {key.curve.name}") from None
    raise TypeError(f"expected a key object, got {type(key).__name__}")


def _public(key: PrivateKey | PublicKey) -> PublicKey:
    if isinstance(key, (x25519.X25519PrivateKey, ec.EllipticCurvePrivateKey)):
        return key.public_key()
    if isinstance(key, (x25519.X25519PublicKey, ec.EllipticCurvePublicKey)):
        return key
    raise TypeError(f"expected a key object, got {type(key).__name__}")


def public_bytes(key: PrivateKey | PublicKey) -> bytes:
    """SEC1 uncompressed point (0x04 || x || y), or the raw 32-byte u for X25519."""
    pub = _public(key)
    if isinstance(pub, x25519.X25519PublicKey):
        return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return pub.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def public_key_from_bytes(curve: str, data: bytes) -> PublicKey:
    """A validated public key from SEC1 (compressed or uncompressed) or raw X25519 bytes."""
    name = _canonical(curve)
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidKeyError(f"public key bytes expected, got {type(data).__name__}")
    data = bytes(data)
    if name == "X25519":
        if len(data) != 32:
            raise InvalidKeyError(f"an X25519 public key is 32 bytes, got {len(data)}")
        return x25519.X25519PublicKey.from_public_bytes(data)
    size = get_curve(name).byte_length
    if not data or data[0] not in (2, 3, 4):
        raise InvalidKeyError("not a SEC1 point: the first byte must be 0x02, 0x03 or 0x04"
                              + (" (0x00 is the point at infinity)" if data[:1] == b"\0" else ""))
    expected = 1 + size if data[0] in (2, 3) else 1 + 2 * size
    if len(data) != expected:
        raise InvalidKeyError(f"a {name} SEC1 point with prefix {data[0]:#04x} is "
                              f"{expected} bytes, got {len(data)}")
    p = get_curve(name).p
    if int.from_bytes(data[1:1 + size], "big") >= p or (
            data[0] == 4 and int.from_bytes(data[1 + size:], "big") >= p):
        raise InvalidKeyError(f"a coordinate is not below the {name} field prime")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_EC_CURVES[name](), data)
    except ValueError:
        raise InvalidKeyError(f"the point is not on {name}") from None


# ---------------------------------------------------------------- JWK

def public_key_to_jwk(key: PrivateKey | PublicKey) -> dict:
    """RFC 7518 ``{"kty": "EC", "crv", "x", "y"}`` or RFC 8037 ``{"kty": "OKP", "crv":
    "X25519", "x"}``; coordinates are fixed-length, base64url without padding."""
    pub = _public(key)
    name = curve_of(pub)
    raw = public_bytes(pub)
    if name == "X25519":
        return {"kty": "OKP", "crv": "X25519", "x": _b64url(raw)}
    size = (len(raw) - 1) // 2
    return {"kty": "EC", "crv": name, "x": _b64url(raw[1:1 + size]),
            "y": _b64url(raw[1 + size:])}


def private_key_to_jwk(key: PrivateKey) -> dict:
    """The public JWK plus ``d`` (fixed-length; little-endian raw bytes for X25519)."""
    if isinstance(key, x25519.X25519PrivateKey):
        d = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                              serialization.NoEncryption())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        size = get_curve(curve_of(key)).n.bit_length() + 7 >> 3
        d = key.private_numbers().private_value.to_bytes(size, "big")
    else:
        raise TypeError(f"expected a private key, got {type(key).__name__}")
    return {**public_key_to_jwk(key), "d": _b64url(d)}


def _jwk_curve(jwk: object) -> str:
    if not isinstance(jwk, dict):
        raise InvalidKeyError(f"a JWK must be a JSON object, got {type(jwk).__name__}")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty not in ("EC", "OKP"):
        raise InvalidKeyError(f"JWK kty must be 'EC' or 'OKP', got {kty!r}")
    if not isinstance(crv, str):
        raise InvalidKeyError("JWK is missing its 'crv'")
    if kty == "OKP":
        if crv != "X25519":
            raise InvalidKeyError(f"OKP JWK crv {crv!r} is not supported (only 'X25519')")
        return "X25519"
    if crv not in _EC_CURVES:
        raise InvalidKeyError(
            f"EC JWK crv {crv!r} is not supported; use one of {', '.join(_EC_CURVES)}")
    return crv


def public_key_from_jwk(jwk: dict) -> PublicKey:
    """A validated public key from a JWK.  Extra members (ext, key_ops, kid, ...) are ignored,
    as Web Crypto adds some; ``InvalidKeyError`` for anything malformed or off the curve."""
    name = _jwk_curve(jwk)
    size = get_curve(name).byte_length
    x = _unb64url(jwk.get("x"), "x", 32 if name == "X25519" else size)
    if name == "X25519":
        if "y" in jwk:
            raise InvalidKeyError("an OKP (X25519) JWK has no 'y'")
        return public_key_from_bytes(name, x)
    y = _unb64url(jwk.get("y"), "y", size)
    return public_key_from_bytes(name, b"\x04" + x + y)


def private_key_from_jwk(jwk: dict) -> PrivateKey:
    """A private key from a JWK with ``d``; its x (and y) must match the public key of d."""
    name = _jwk_curve(jwk)
    if "d" not in jwk:
        raise InvalidKeyError("a private JWK needs its 'd'")
    if name == "X25519":
        d = _unb64url(jwk["d"], "d", 32)
        key = x25519.X25519PrivateKey.from_private_bytes(d)
    else:
        d = _unb64url(jwk["d"], "d", get_curve(name).n.bit_length() + 7 >> 3)
        key = private_key_from_value(name, int.from_bytes(d, "big"))
    if public_bytes(key) != public_bytes(public_key_from_jwk(jwk)):
        raise InvalidKeyError("JWK 'd' does not belong to its public coordinates")
    return key


# ---------------------------------------------------------------- ECDH and key derivation

def ecdh(private_key: PrivateKey, public_key: PublicKey) -> bytes:
    """Raw ECDH output: the shared point's x-coordinate (fixed length), or u for X25519."""
    try:
        mine, theirs = curve_of(private_key), curve_of(public_key)
    except TypeError as exc:
        raise InvalidKeyError(str(exc)) from None
    if not isinstance(private_key, (ec.EllipticCurvePrivateKey, x25519.X25519PrivateKey)):
        raise InvalidKeyError("the first argument must be a private key")
    if not isinstance(public_key, (ec.EllipticCurvePublicKey, x25519.X25519PublicKey)):
        raise InvalidKeyError("the second argument must be a public key")
    if mine != theirs:
        raise InvalidKeyError(f"curve mismatch: private key on {mine}, public key on {theirs}")
    try:
        if isinstance(private_key, x25519.X25519PrivateKey):
            secret = private_key.exchange(public_key)
        else:
            secret = private_key.exchange(ec.ECDH(), public_key)
    except ValueError as exc:
        raise InvalidKeyError(f"ECDH failed: {exc}") from None
    # An all-zero u from X25519 means the peer sent a low-order point (RFC 7748, section 6.1).
    # On the prime-order NIST curves x = 0 is an ordinary point, so there it is a valid secret.
    if isinstance(private_key, x25519.X25519PrivateKey) and not any(secret):
        raise InvalidKeyError("ECDH result is all zero: the peer sent a low-order point")
    return secret


def ecdh_jwk(private_jwk: dict, public_jwk: dict) -> bytes:
    """Raw ECDH output for JWK keys; ``InvalidKeyError`` for any invalid key or mismatch."""
    return ecdh(private_key_from_jwk(private_jwk), public_key_from_jwk(public_jwk))


def _as_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, got {type(value).__name__}")
    return bytes(value)


def hkdf_sha256(ikm: bytes, *, salt: bytes = b"", info: bytes = b"", length: int = KEY_SIZE,
                ) -> bytes:
    """RFC 5869 HKDF with SHA-256 (an empty salt means HashLen zero bytes, as the RFC says)."""
    ikm = _as_bytes(ikm, "ikm")
    salt = _as_bytes(salt, "salt")
    info = _as_bytes(info, "info")
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 255 * 32:
        raise ValueError("HKDF-SHA256 length must be in [1, 8160]")
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None,
                info=info).derive(ikm)


def derive_session_key(shared_secret: bytes, *, curve: str, public_a: bytes,
                       public_b: bytes, length: int = KEY_SIZE) -> bytes:
    """HKDF-SHA256 session key.  ``info`` binds the protocol version, the curve and both
    public keys, sorted so that both peers derive the same key whoever is "a"; a relay that
    swaps a public key therefore changes the key, and the messages stop decrypting.

    Exactly (for other implementations): salt empty (HashLen zero bytes), and
    info = b"ecc-chat-lab session key v1" || u16(len(curve)) || curve
    || u16(len(k1)) || k1 || u16(len(k2)) || k2, with u16 big-endian, curve the canonical
    name in ASCII ("P-256") and k1 <= k2 the two ``public_bytes`` compared bytewise."""
    secret = _as_bytes(shared_secret, "shared_secret")
    if not secret:
        raise ValueError("shared_secret is empty")
    keys = sorted((_as_bytes(public_a, "public_a"), _as_bytes(public_b, "public_b")))
    name = _canonical(curve).encode()
    info = b"ecc-chat-lab session key v%d" % PROTOCOL_VERSION
    for part in (name, *keys):  # length-prefixed, so no two inputs give the same info
        info += len(part).to_bytes(2, "big") + part
    return hkdf_sha256(secret, info=info, length=length)


def seed_message_key(shared_secret: bytes) -> bytes:
    """The seed client's AES key: the first 32 bytes of raw ECDH, no KDF (Web Crypto's
    ``deriveKey`` from ECDH to AES-GCM-256).  Kept for compatibility; prefer the session key."""
    secret = _as_bytes(shared_secret, "shared_secret")
    if len(secret) < KEY_SIZE:
        raise ValueError(f"shared_secret must be at least {KEY_SIZE} bytes, got {len(secret)}")
    return secret[:KEY_SIZE]


# ---------------------------------------------------------------- AES-256-GCM

def encrypt(key: bytes, plaintext: bytes, *, associated_data: bytes = b"",
            nonce: bytes | None = None) -> Encrypted:
    """AES-256-GCM.  The nonce defaults to 12 random bytes from the OS; pass one only in
    tests, and never the same one twice with one key."""
    key = _as_bytes(key, "key")
    if len(key) != KEY_SIZE:
        raise ValueError(f"key must be {KEY_SIZE} bytes (AES-256), got {len(key)}")
    plaintext = _as_bytes(plaintext, "plaintext")
    associated_data = _as_bytes(associated_data, "associated_data")
    nonce = os.urandom(NONCE_SIZE) if nonce is None else _as_bytes(nonce, "nonce")
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
    out = AESGCM(key).encrypt(nonce, plaintext, associated_data)
    return Encrypted(out[:-TAG_SIZE], nonce, out[-TAG_SIZE:])


def decrypt(key: bytes, ciphertext: bytes, nonce: bytes, tag: bytes, *,
            associated_data: bytes = b"") -> bytes:
    """The plaintext, or ``DecryptionError`` for any failure whatsoever."""
    try:
        key, ciphertext, nonce, tag, associated_data = (
            _as_bytes(v, "argument") for v in (key, ciphertext, nonce, tag, associated_data))
        if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE or len(tag) != TAG_SIZE:
            raise ValueError("wrong length")
        return AESGCM(key).decrypt(nonce, ciphertext + tag, associated_data)
    except (InvalidTag, TypeError, ValueError, OverflowError):
        raise DecryptionError("decryption failed: wrong key or tampered message") from None


# ---------------------------------------------------------------- fingerprints

def fingerprint(public: bytes) -> str:
    """Short fingerprint of one public key: the first 16 bytes of SHA-256 of its bytes
    (``public_bytes``), as 8 groups of 4 hex digits."""
    digest = hashlib.sha256(_as_bytes(public, "public")).hexdigest()[:32]
    return " ".join(digest[i:i + 4] for i in range(0, 32, 4))


def _half_safety_number(public: bytes) -> list[str]:
    digest = hashlib.sha512(b"ecc-chat-lab safety number v1\0" + public).digest()
    # Signal's scheme: 5 bytes -> a 5-digit group (mod 100000), 6 groups per key.
    return [f"{int.from_bytes(digest[i:i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)]


def safety_number(public_a: bytes, public_b: bytes) -> str:
    """12 groups of 5 digits for a pair of public keys, the same on both sides: each key gives
    6 groups (SHA-512 of the key), and the two halves are put in sorted order."""
    halves = sorted((_half_safety_number(_as_bytes(public_a, "public_a")),
                     _half_safety_number(_as_bytes(public_b, "public_b"))))
    return " ".join(halves[0] + halves[1])
