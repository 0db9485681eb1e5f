"""Benchmark the real crypto per curve: key generation, ECDH (with peer-key validation),
session-key derivation, and AES-256-GCM encrypt+decrypt of a ~300-byte chat message; beside
OpenSSL's own `openssl speed` ECDH figures when the openssl command is present.

One JSON line per measurement (microseconds, median of many runs).

    python bench/bench_crypto.py [--runs N] [--no-openssl]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import time

from ecc_widgets import crypto

MESSAGE = (b"The quick brown fox jumps over the lazy dog while Alice and Bob compare safety "
           b"numbers. " * 4)[:300]  # a ~300-byte chat message
AD = b"room=lab|from=alice|to=bob|seq=42"
# `openssl speed` algorithm names for our curves (it has no secp256k1)
OPENSSL_ALGS = {"P-256": "ecdhp256", "P-384": "ecdhp384", "P-521": "ecdhp521",
                "X25519": "ecdhx25519", "brainpoolP256r1": "ecdhbrp256r1",
                "brainpoolP384r1": "ecdhbrp384r1", "brainpoolP512r1": "ecdhbrp512r1"}


def timed_us(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    us = sorted(s * 1e6 for s in samples)
    return statistics.median(us), us[int(len(us) * 0.9)]


def report(**fields) -> None:
    print(json.dumps(fields), flush=True)


def bench_curve(name: str, runs: int) -> None:
    common = {"curve": name, "runs": runs}
    med, p90 = timed_us(lambda: crypto.generate_private_key(name), runs)
    report(bench="keygen", **common, median_us=round(med, 1), p90_us=round(p90, 1))

    alice, bob = crypto.generate_private_key(name), crypto.generate_private_key(name)
    bob_jwk = crypto.public_key_to_jwk(bob)
    alice_jwk = crypto.private_key_to_jwk(alice)
    med, p90 = timed_us(lambda: crypto.ecdh(alice, bob.public_key()), runs)
    report(bench="ecdh", **common, median_us=round(med, 1), p90_us=round(p90, 1))
    # what the chat does on receiving a key: parse and validate the JWK, then exchange
    med, p90 = timed_us(lambda: crypto.ecdh_jwk(alice_jwk, bob_jwk), runs)
    report(bench="ecdh_jwk", **common, median_us=round(med, 1), p90_us=round(p90, 1))

    secret = crypto.ecdh(alice, bob.public_key())
    pa, pb = crypto.public_bytes(alice), crypto.public_bytes(bob)
    med, p90 = timed_us(lambda: crypto.derive_session_key(secret, curve=name, public_a=pa,
                                                          public_b=pb), runs)
    report(bench="derive_session_key", **common, median_us=round(med, 1), p90_us=round(p90, 1))

    key = crypto.derive_session_key(secret, curve=name, public_a=pa, public_b=pb)

    def round_trip() -> None:
        sealed = crypto.encrypt(key, MESSAGE, associated_data=AD)
        crypto.decrypt(key, *sealed, associated_data=AD)

    med, p90 = timed_us(round_trip, runs)
    report(bench="encrypt_decrypt", **common, message_bytes=len(MESSAGE),
           median_us=round(med, 1), p90_us=round(p90, 1))


def openssl_speed(names: list[str]) -> None:
    """Parse `openssl speed -seconds 1 ecdh...`: lines like
    ' 256 bits ecdh (nistp256)   0.0000s  33154.8' (seconds per op, ops per second)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        report(bench="openssl_speed", skipped="openssl not installed")
        return
    algs = [OPENSSL_ALGS[n] for n in names if n in OPENSSL_ALGS]
    out = subprocess.run([openssl, "speed", "-seconds", "1", *algs], capture_output=True,
                         text=True, timeout=120).stdout
    version = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                    if line.startswith("version:")), "unknown")
    pattern = re.compile(r"^\s*(\d+) bits ecdh \(([^)]+)\)\s+([\d.]+)s\s+([\d.]+)\s*$")
    found = False
    for line in out.splitlines():
        m = pattern.match(line)
        if m:
            found = True
            ops = float(m.group(4))
            report(bench="openssl_speed_ecdh", openssl=version, curve=m.group(2),
                   bits=int(m.group(1)), ops_per_s=ops, us_per_op=round(1e6 / ops, 1))
    if not found:
        report(bench="openssl_speed", skipped="could not parse openssl speed output")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--no-openssl", action="store_true")
    args = parser.parse_args()
    for name in crypto.SUPPORTED_CURVES:
        bench_curve(name, args.runs)
    if not args.no_openssl:
        openssl_speed(["P-256", "P-384", "P-521", "X25519"])  # ~1 s each


if __name__ == "__main__":
    main()
