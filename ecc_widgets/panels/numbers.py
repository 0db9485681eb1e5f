"""Numbers: what the keys and the messages cost, measured in this kernel.

Key sizes come from the keys themselves (the private value's fixed-length encoding, the
public key as the wire carries it, its JWK as shared); times from the model's
measurements of the library calls alone (key generation, ECDH + key derivation per peer,
and each message's AEAD call). Nothing is estimated from base64 lengths.
"""

from __future__ import annotations

import json

from ecc_widgets.panels.common import NAME_LIMIT, Panel, escape, size_text


def key_sizes(trace, public_jwk: dict) -> dict:
    """Bytes of our keys: the private value, the public key as sent (SEC1 uncompressed or
    X25519's raw u), its JWK as shared (compact JSON), and private + public."""
    public = len(bytes.fromhex(trace.public_hex))
    jwk = len(json.dumps(public_jwk, separators=(",", ":")).encode()) if public_jwk else 0
    return {"private": trace.private_bytes, "public": public, "jwk": jwk,
            "total": trace.private_bytes + public}


def _row(label: str, value: str, hint: str = "") -> str:
    hint = f' <small style="color:#57606a">{hint}</small>' if hint else ""
    return (f'<tr><td style="padding-right:10px; vertical-align:top">{label}</td>'
            f"<td><b>{value}</b>{hint}</td></tr>")


def _mean(values) -> float:
    values = [v for v in values if v]
    return sum(values) / len(values) if values else 0.0


class NumbersPanel(Panel):
    panel = "numbers"
    title = "Numbers"
    watched = ("keygen", "public_jwk", "peers", "conversations")

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self.sizes = self.shared.html()
        self.times = self.shared.html()
        self.children = [self.header(), self.sizes, self.times]
        self._render()

    def _render(self) -> None:
        s = self.session
        with self._lock:
            trace = s.keygen
            if trace is None:
                self.sizes.value = ("<small>Generate your keys to see their sizes on "
                                    f"{escape(s.curve)}.</small>")
            else:
                sizes = key_sizes(trace, s.public_jwk)
                self.sizes.value = (
                    f"<b>Key sizes on {escape(trace.curve)}</b><table>"
                    + _row("private key", size_text(sizes["private"]), "held by this kernel")
                    + _row("public key", size_text(sizes["public"]),
                           "as sent: raw u" if trace.curve == "X25519"
                           else "as sent: SEC1 uncompressed, 04 || x || y")
                    + _row("total", size_text(sizes["total"]))
                    + _row("public key as JWK", size_text(sizes["jwk"]), "the JSON shared")
                    + "</table>")
            rows = []
            if trace is not None and trace.keygen_ms:
                rows.append(_row("key generation", f"{trace.keygen_ms:.2f} ms"))
            for peer in s.peers.values():
                if peer.exchange_ms:
                    rows.append(_row(f"key exchange with {escape(peer.name, NAME_LIMIT)}",
                                     f"{peer.exchange_ms:.2f} ms", "ECDH + HKDF"))
            messages = [m for ms in s.conversations.values() for m in ms]
            sealed = _mean(m.seal_ms for m in messages)
            opened = _mean(m.open_ms for m in messages)
            if sealed:
                rows.append(_row("encryption, mean", f"{sealed:.3f} ms", "AES-256-GCM"))
            if opened:
                rows.append(_row("decryption, mean", f"{opened:.3f} ms", "AES-256-GCM"))
            self.times.value = (f"<b>Times, measured here</b><table>{''.join(rows)}</table>"
                                if rows else "")
