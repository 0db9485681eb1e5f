"""The numbers the dashboard shows, checked against what really went through a relay:
message sizes against the bytes in the relay view, key sizes against the key shared, and
the demo peer seen only by the one who summoned it."""

from __future__ import annotations

import json

import pytest

from ecc_widgets import crypto, protocol
from ecc_widgets.demo_peer import DemoPeer
from ecc_widgets.panels.numbers import key_sizes
from ecc_widgets.session import Session
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess

# bytes of a public key as sent, and of the private value, per curve (SEC1 / RFC 7748)
KEY_BYTES = {"P-256": (32, 65), "X25519": (32, 32), "P-521": (66, 133)}


@pytest.fixture(scope="module")
def relay():
    server = RelayProcess().start()
    yield server
    server.stop()


def _views(session: Session, event: str, direction: str) -> list[dict]:
    return [v["payload"] for v in session.relay_view
            if v["event"] == event and v["direction"] == direction]


def _jwk_public_bytes(jwk: dict) -> int:
    """The public key's length as sent, from the JWK the relay carried."""
    x = crypto.b64decode(_padded(jwk["x"]))
    return len(x) if jwk["kty"] == "OKP" else 1 + 2 * len(x)


def _padded(b64url: str) -> str:
    return b64url.replace("-", "+").replace("_", "/") + "=" * (-len(b64url) % 4)


@pytest.mark.parametrize("curve", list(KEY_BYTES))
def test_message_and_key_numbers_agree_with_what_the_relay_carried(relay, curve):
    alice, bob = Session(), Session()
    try:
        room = f"numbers-{curve}"
        alice.join("alice", room, relay.url)
        bob.join("bob", room, relay.url)
        wait_until(lambda: "bob" in alice.peers and "alice" in bob.peers, what="the roster")
        for s in (alice, bob):
            s.select_curve(curve)
            s.generate_keys()
        alice.share_key("bob")
        wait_until(lambda: "secure" in alice.peers["bob"].statuses
                   and "secure" in bob.peers["alice"].statuses, what="a secure pair")
        text = "héllo, Bob: twelve+ bytes"
        first = alice.send("bob", text)
        second = alice.send("bob", text)
        wait_until(lambda: len([m for m in bob.conversations.get("alice", ())
                                if m.direction == "in"]) == 2, what="both messages")

        # what left alice's kernel, as the relay view shows it, decoded byte by byte
        carried = {p["id"]: p for p in _views(alice, protocol.SEND_MESSAGE, "out")}
        received = {m.id: m for m in bob.conversations["alice"]}
        for sent in (first, second):
            wire = carried[sent.id]
            ciphertext = crypto.b64decode(wire["encryptedMessage"])
            nonce, tag = crypto.b64decode(wire["iv"]), crypto.b64decode(wire["tag"])
            for message in (sent, received[sent.id]):
                assert message.plaintext_bytes == len(text.encode()) == len(ciphertext)
                assert message.ciphertext_bytes == len(ciphertext)
                assert (message.nonce_bytes, message.tag_bytes) == (len(nonce), len(tag))
                assert message.nonce_bytes == crypto.NONCE_SIZE
                assert message.tag_bytes == crypto.TAG_SIZE
                assert message.overhead_bytes == len(nonce) + len(tag)
                assert message.ad_bytes == len(message.associated_data.encode()) > 0
            assert sent.seal_ms > 0 and received[sent.id].open_ms > 0
        # the same text twice: two different ciphertexts, because the nonce is fresh
        assert first.nonce != second.nonce and first.ciphertext != second.ciphertext

        # key sizes: the curve's, and the public key's the very one the relay carried
        private, public = KEY_BYTES[curve]
        shared = _views(alice, protocol.SHARE_PUBLIC_KEY, "out")[-1]["publicKey"]
        for s in (alice, bob):
            sizes = key_sizes(s.keygen, s.public_jwk)
            assert (sizes["private"], sizes["public"]) == (private, public)
            assert sizes["total"] == private + public
            assert s.keygen.keygen_ms > 0
        assert _jwk_public_bytes(shared) == public
        assert key_sizes(alice.keygen, alice.public_jwk)["jwk"] == len(
            json.dumps(shared, separators=(",", ":")).encode())
        assert alice.peers["bob"].exchange_ms > 0 and bob.peers["alice"].exchange_ms > 0
    finally:
        alice.close()
        bob.close()


def test_demo_peer_is_seen_only_by_the_student_who_summoned_it(relay):
    """The demo peer joins with `visibleTo`: a class's rosters do not list it."""
    alice = Session(demo_peer_factory=DemoPeer)
    carol = Session()
    try:
        alice.join("alice", "class-of-thirty", relay.url)
        carol.join("carol", "class-of-thirty", relay.url)
        wait_until(lambda: "carol" in alice.peers and "alice" in carol.peers, what="roster")
        alice.summon_demo_peer()
        wait_until(lambda: "keys generated" in getattr(alice.peers.get("demo-peer"),
                                                        "statuses", ()), what="the demo peer")
        alice.generate_keys()
        alice.share_key("demo-peer")
        wait_until(lambda: "secure" in alice.peers["demo-peer"].statuses, what="secure")
        alice.send("demo-peer", "only for me")
        wait_until(lambda: any(m.direction == "in"
                               for m in alice.conversations.get("demo-peer", ())),
                   what="the demo peer's answer")
        # carol's roster never listed it, and no event of it reached her (alice's own steps
        # may name it: they are alice's to share)
        assert "demo-peer" not in carol.peers
        received = [v["payload"] for v in carol.relay_view if v["direction"] == "in"]
        assert received and not any(
            "demo-peer" in (p.get("from"), p.get("username"))
            or any(u.get("username") == "demo-peer" for u in p.get("usersInRoom", ()))
            for p in received if isinstance(p, dict))
    finally:
        alice.close()
        carol.close()


def test_alice_and_bob_in_one_page_show_the_same_codes(relay):
    from ecc_widgets.app import PairApp
    from ecc_widgets.panels.compare import SAME

    pair = PairApp(relay_url=relay.url)
    try:
        alice, bob = pair.sessions
        wait_until(lambda: alice.joined and bob.joined and "bob" in alice.peers,
                   what="both in the room")
        assert alice.room == bob.room == pair.room
        for s in (alice, bob):
            s.generate_keys()
        alice.share_key("bob")
        wait_until(lambda: pair.codes.verdict == SAME, what="the codes compared")
        sas = alice.peers["bob"].sas
        assert sas is not None and sas == bob.peers["alice"].sas
        for side in pair.codes.sides:  # each screen's code for the other, side by side
            assert all(name in side.value for _symbol, name in sas.emoji)
    finally:
        pair.close()
    assert all(s.connection == "disconnected" for s in pair.sessions)
