"""Sessions talking through a real relay process: keys, messages, restarts, attacks, legacy.

Crafted traffic (tampered, replayed, wrong-curve, seed-protocol) comes from plain
python-socketio clients, which send exactly what a hostile or old client would.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

from ecc_widgets import crypto, envelope, protocol
from ecc_widgets.envelope import associated_data
from ecc_widgets.session import (
    DOWNGRADE,
    LEGACY_NOTE,
    REORDERED,
    REPLAYED,
    TAMPERED,
    WRONG_CURVE,
    Session,
    SessionError,
)
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess, free_port
from tests.support.sessions import RawPeer, texts


def secure_pair(a: Session, b: Session, room: str, url: str, curve: str = "P-256") -> None:
    """Join both, pick `curve`, generate keys, and share a's key (b answers by itself)."""
    a.join("alice", room, url)
    b.join("bob", room, url)
    wait_until(lambda: "bob" in a.peers and "alice" in b.peers, what="the roster")
    for s in (a, b):
        s.select_curve(curve)
        s.generate_keys()
    a.share_key("bob")
    wait_until(lambda: "secure" in a.peers["bob"].statuses
               and "secure" in b.peers["alice"].statuses, what="a secure pair")


@pytest.fixture(scope="module")
def shared_relay() -> Iterator[RelayProcess]:
    server = RelayProcess().start()
    yield server
    server.stop()


@pytest.fixture
def pair() -> Iterator[tuple[Session, Session]]:
    a, b = Session(), Session()
    yield a, b
    a.close()
    b.close()


# ----------------------------------------------------------------------------- the happy path

@pytest.mark.parametrize("curve", ["P-256", "P-521", "secp256k1", "X25519"])
def test_two_sessions_exchange_keys_and_messages(shared_relay, pair, curve):
    a, b = pair
    room = f"room-{curve}"
    secure_pair(a, b, room, shared_relay.url, curve)
    assert a.joined and b.joined and a.connection == "connected"
    assert a.my_id and b.my_id and a.my_id != b.my_id
    bob, alice = a.peers["bob"], b.peers["alice"]
    assert bob.curve == alice.curve == curve
    assert {"joined", "keys generated", "key received", "secure"} <= bob.statuses
    assert "curve mismatch" not in bob.statuses and not bob.legacy
    assert bob.fingerprint == b.fingerprint and alice.fingerprint == a.fingerprint
    assert bob.safety_number == alice.safety_number != ""
    assert bob.public_jwk == b.public_jwk

    sent = [a.send("bob", f"hello {i} from alice on {curve} ✓") for i in range(3)]
    replies = [b.send("alice", "hi alice"), b.send("alice", "x" * 5000)]
    wait_until(lambda: len(texts(b, "alice", "in")) == 3 and len(texts(a, "bob", "in")) == 2,
               what="messages both ways")
    assert texts(b, "alice", "in") == [m.plaintext for m in sent]
    assert texts(a, "bob", "in") == [m.plaintext for m in replies]
    received = next(m for m in b.conversations["alice"] if m.direction == "in")
    assert received.id == sent[0].id and received.authenticated and received.status == "received"
    assert not received.verified  # nobody compared safety numbers
    assert (received.ciphertext, received.nonce, received.tag) == \
        (sent[0].ciphertext, sent[0].nonce, sent[0].tag)
    assert json.loads(received.associated_data) == {
        "v": envelope.CURRENT.number, "room": room, "from": "alice", "to": "bob",
        "curve": curve, "seq": 1}   # the ratchet's: v1's associated data with its own v
    wait_until(lambda: all(m.status == "sent" and m.authenticated for m in a.conversations["bob"]
                           if m.direction == "out"), what="acknowledgements and receipts")
    # what the relay carried for us, as the "relay view" shows it
    carried = [e for e in b.relay_view if e["event"] == protocol.RECEIVE_MESSAGE
               and e["payload"].get("kind") not in protocol.SAS_KINDS]   # the short code's
    assert carried[0]["payload"]["encryptedMessage"] == sent[0].ciphertext
    assert carried[0]["payload"]["from"] == "alice" and carried[0]["direction"] == "in"
    assert any(e["direction"] == "out" and e["event"] == protocol.SEND_MESSAGE
               and e["payload"]["id"] == sent[0].id for e in a.relay_view)
    # peers' processing steps reach the log
    assert any(e.source == "alice" and "Encrypted message" in e.text for e in b.log)


@pytest.mark.parametrize("how", ["graceful", "crash"])
def test_relay_restart_loses_and_duplicates_nothing(pair, how):
    relay = RelayProcess().start()
    try:
        a, b = pair
        secure_pair(a, b, "restart", relay.url)
        for i in range(10):
            a.send("bob", f"a{i}")
            b.send("alice", f"b{i}")
        wait_until(lambda: len(texts(b, "alice", "in")) >= 3, what="the first messages")
        connections = []
        a.observe(lambda change: connections.append(change["new"]), names="connection")
        if how == "crash":  # no goodbye: the connections just break
            relay.proc.kill()
            relay.proc.wait()
        relay.restart()  # same port, empty relay: both must rejoin and re-send
        for i in range(10, 20):
            a.send("bob", f"a{i}")
            b.send("alice", f"b{i}")
        wait_until(lambda: len(texts(b, "alice", "in")) >= 20
                   and len(texts(a, "bob", "in")) >= 20, timeout=30, what="every message")
        wait_until(lambda: all(m.status == "sent" and m.authenticated
                               for s, p in ((a, "bob"), (b, "alice"))
                               for m in s.conversations[p] if m.direction == "out"),
                   timeout=45, what="every receipt")  # receipts follow the rejoin: slower
                                                      # than the messages on a busy machine
        assert texts(b, "alice", "in") == [f"a{i}" for i in range(20)]
        assert texts(a, "bob", "in") == [f"b{i}" for i in range(20)]
        assert not any(m.status == "rejected" for m in b.conversations["alice"])
        assert "reconnecting" in connections and connections[-1] == "connected"
        assert "secure" in a.peers["bob"].statuses and "key changed" not in a.peers["bob"].statuses
    finally:
        relay.stop()


class DroppingProxy:
    """A TCP proxy in front of the relay whose client side can be cut, as a network drop.

    `drop()` closes the sockets towards the clients but leaves the ones towards the relay
    open and silent, so the relay still believes the old connections are alive.
    """

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.threads: list[threading.Thread] = []
        self.stale: list[socket.socket] = []
        self._start(self._accept)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.pairs.append((client, upstream))
            self._start(self._pump, client, upstream)
            self._start(self._pump, upstream, client)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass

    def drop(self) -> None:
        pairs, self.pairs = self.pairs, []
        for client, upstream in pairs:
            self.stale.append(upstream)
            client.shutdown(socket.SHUT_RDWR)
            client.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self.server.close()
        for sock in [s for pair in self.pairs for s in pair] + self.stale:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self.threads:
            thread.join(5)


def test_network_drop_rejoins_under_the_same_name(shared_relay, pair):
    a, b = pair
    proxy = DroppingProxy(shared_relay.port)
    try:
        a.join("alice", "drop", proxy.url)
        b.join("bob", "drop", shared_relay.url)
        wait_until(lambda: "bob" in a.peers and "alice" in b.peers, what="the roster")
        a.generate_keys()
        b.generate_keys()
        a.share_key("bob")
        wait_until(lambda: "secure" in a.peers["bob"].statuses
                   and "secure" in b.peers["alice"].statuses, what="a secure pair")
        a.send("bob", "before")
        wait_until(lambda: texts(b, "alice", "in") == ["before"], what="the first message")
        states = []
        a.observe(lambda change: states.append(change["new"]), names="connection")
        proxy.drop()  # the relay still holds alice's old socket, and her name
        a.send("bob", "during")
        b.send("alice", "while you were away")
        wait_until(lambda: "reconnecting" in states and a.joined, what="alice back")
        wait_until(lambda: texts(b, "alice", "in") == ["before", "during"]
                   and texts(a, "bob", "in") == ["while you were away"], what="messages")
        assert "join" not in a.errors and a.username == "alice"
        assert not any("join refused" in e.text for e in a.log)
    finally:
        a.close()  # before the proxy goes, or alice would reconnect through it
        proxy.close()


# ----------------------------------------------------------------------------- attacks

def test_tampered_replayed_and_wrong_curve_messages_are_rejected(shared_relay, pair):
    alice, _ = pair
    alice.join("alice", "attacks", shared_relay.url)
    mallory = RawPeer(shared_relay.url, "mallory", "attacks")
    try:
        wait_until(lambda: "mallory" in alice.peers, what="mallory in the roster")
        alice.generate_keys()
        key = crypto.generate_private_key("P-256")
        mallory.emit(protocol.SHARE_PUBLIC_KEY, {
            "publicKey": crypto.public_key_to_jwk(key), "targetSocketId": alice.my_id,
            "isReply": False, "v": 1, "curve": "P-256"})
        wait_until(lambda: mallory.received(protocol.RECEIVE_PUBLIC_KEY), what="the answer")
        answer = mallory.received(protocol.RECEIVE_PUBLIC_KEY)[0]
        # our key offers the ratchet; mallory offers v1, so v1 is what the pair speaks
        assert answer["isReply"] is True and answer["v"] == envelope.CURRENT.number
        assert "d" not in answer["publicKey"]
        theirs = crypto.public_key_from_jwk(answer["publicKey"])
        session_key = crypto.derive_session_key(
            crypto.ecdh(key, theirs), curve="P-256", public_a=crypto.public_bytes(key),
            public_b=crypto.public_bytes(theirs))

        def message(seq: int, text: str, *, curve: str = "P-256", message_id: str = "") -> dict:
            ad = associated_data(room="attacks", sender="mallory", receiver="alice",
                                 curve=curve, seq=seq)
            sealed = crypto.encrypt(session_key, text.encode(), associated_data=ad)
            return {"encryptedMessage": crypto.b64encode(sealed.ciphertext),
                    "iv": crypto.b64encode(sealed.nonce), "tag": crypto.b64encode(sealed.tag),
                    "targetSocketId": alice.my_id, "v": 1, "id": message_id or uuid.uuid4().hex,
                    "seq": seq, "curve": curve}

        def conversation() -> tuple:
            return alice.conversations.get("mallory", ())

        first = message(1, "genuine")
        tampered = message(2, "pay 10 euros")
        raw = bytearray(crypto.b64decode(tampered["encryptedMessage"]))
        raw[4] ^= 0x01
        tampered["encryptedMessage"] = crypto.b64encode(bytes(raw))
        seed_style = {k: first[k] for k in ("encryptedMessage", "iv", "tag", "targetSocketId")}
        sends = [
            first,                                   # accepted
            dict(first),                             # same id: a re-send, dropped quietly
            {**first, "id": uuid.uuid4().hex},       # same seq, new id: a replay
            tampered,                                # one bit flipped
            message(3, "wrong curve", curve="P-384"),
            message(100, "far ahead"),               # accepted
            message(30, "far behind"),               # older than the window allows
            seed_style,                              # v1 peer suddenly without version
            message(101, "still fine"),              # accepted: nothing broke
        ]
        for payload in sends:
            assert mallory.emit(protocol.SEND_MESSAGE, payload)["ok"]
        wait_until(lambda: len(conversation()) == 8, what="eight conversation entries")
        got = [(m.status, m.plaintext, m.reason.split(":")[0]) for m in conversation()]
        assert got == [
            ("received", "genuine", ""),
            ("rejected", "", REPLAYED),
            ("rejected", "", TAMPERED),
            ("rejected", "", WRONG_CURVE),
            ("received", "far ahead", ""),
            ("rejected", "", f"{REORDERED} past the window"),
            ("rejected", "", DOWNGRADE),
            ("received", "still fine", ""),
        ]
        assert all(m.authenticated and not m.verified
                   for m in conversation() if m.status == "received")
        assert any("duplicate of message #1" in e.text for e in alice.log)
        for reason in (REPLAYED, TAMPERED, WRONG_CURVE, DOWNGRADE):
            assert any(e.level == "error" and reason in e.text for e in alice.log), reason
        assert alice.connection == "connected"
        # alice confirmed what she accepted with authenticated receipts, and only that
        def confirmed() -> set[str]:
            ids: set[str] = set()
            for r in mallory.received(protocol.RECEIVE_MESSAGE):
                if r.get("kind") != "receipt":
                    continue
                ad = associated_data(room="attacks", sender="alice", receiver="mallory",
                                     curve="P-256", seq=r["seq"], kind="receipt")
                ids.update(json.loads(crypto.decrypt(
                    session_key, crypto.b64decode(r["encryptedMessage"]),
                    crypto.b64decode(r["iv"]), crypto.b64decode(r["tag"]),
                    associated_data=ad)))
            return ids

        accepted = {sends[0]["id"], sends[5]["id"], sends[8]["id"]}
        wait_until(lambda: confirmed() == accepted, what="receipts for what was accepted")

        # the same key again without `v` (a relay stripping it) does not make mallory legacy
        mallory.emit(protocol.SHARE_PUBLIC_KEY, {
            "publicKey": crypto.public_key_to_jwk(key), "targetSocketId": alice.my_id,
            "isReply": True})
        wait_until(lambda: any(f"{DOWNGRADE} refused" in e.text for e in alice.log),
                   what="the downgrade refused")
        assert not alice.peers["mallory"].legacy
        assert alice.send("mallory", "still v1").associated_data
    finally:
        mallory.close()


def test_private_key_never_reaches_the_relay(tmp_path, pair):
    capture = tmp_path / "relay-capture.jsonl"
    relay = RelayProcess(env={"ECC_RELAY_CAPTURE": str(capture)}).start()
    try:
        a, b = pair
        secure_pair(a, b, "secrets", relay.url, "X25519")
        a.send("bob", "first")
        b.send("alice", "second")
        wait_until(lambda: texts(b, "alice", "in") and texts(a, "bob", "in"), what="messages")
        b.select_curve("P-521")  # a second key pair per side, on another curve
        a.select_curve("P-521")
        a.generate_keys()
        b.generate_keys()
        a.share_key("bob")
        wait_until(lambda: "secure" in a.peers["bob"].statuses
                   and a.peers["bob"].curve == "P-521", what="P-521 keys")
        a.send("bob", "third")
        wait_until(lambda: len(texts(b, "alice", "in")) == 2, what="the third message")
        secrets = []
        for s in (a, b):
            private = s._core._private   # the key, held by the core alone
            jwk = crypto.private_key_to_jwk(private)
            d = crypto.private_value(private)
            secrets += [jwk["d"], f"{d:x}", str(d), crypto.b64encode(
                d.to_bytes((d.bit_length() + 7) // 8, "big"))]
        wait_until(lambda: capture.exists()
                   and capture.read_text().count(f'"{protocol.SEND_MESSAGE}"') >= 3,
                   what="the capture")
    finally:
        relay.stop()
    seen = capture.read_text()
    # The capture is real: it holds our public keys and ciphertext ...
    assert a.public_jwk["x"] in seen and b.public_jwk["x"] in seen
    assert a.conversations["bob"][0].ciphertext in seen
    # ... and no form of either private key, nor any plaintext.
    for secret in secrets:
        assert secret not in seen
    for text in ("first", "second", "third"):
        assert text not in seen


def test_invalid_keys_are_refused_in_words(shared_relay, pair):
    alice, _ = pair
    alice.join("alice", "bad-keys", shared_relay.url)
    mallory = RawPeer(shared_relay.url, "mallory", "bad-keys")
    try:
        wait_until(lambda: "mallory" in alice.peers, what="mallory in the roster")
        alice.generate_keys()
        good = crypto.public_key_to_jwk(crypto.generate_private_key("P-256"))
        off_curve = {**good, "y": good["x"]}  # (x, x) is not on P-256
        mallory.emit(protocol.SHARE_PUBLIC_KEY, {"publicKey": off_curve,
                                                 "targetSocketId": alice.my_id, "v": 1})
        wait_until(lambda: "peers" in alice.errors, what="the refusal")
        assert "invalid key from mallory" in alice.errors["peers"]
        assert "not on P-256" in alice.errors["peers"]
        mallory.emit(protocol.SHARE_PUBLIC_KEY, {"publicKey": good, "curve": "P-384",
                                                 "targetSocketId": alice.my_id, "v": 1})
        wait_until(lambda: "share says P-384" in alice.errors["peers"], what="the mismatch")
        # nothing was accepted, nothing answered, and alice carries on
        assert "key received" not in alice.peers["mallory"].statuses
        assert not mallory.received(protocol.RECEIVE_PUBLIC_KEY)
        mallory.emit(protocol.SHARE_PUBLIC_KEY, {"publicKey": good, "curve": "P-256",
                                                 "targetSocketId": alice.my_id, "v": 1})
        wait_until(lambda: "secure" in alice.peers["mallory"].statuses, what="a good key")
    finally:
        mallory.close()


# ----------------------------------------------------------------------------- legacy peers

def test_seed_protocol_peer_chats_with_a_session(shared_relay, pair):
    session, _ = pair
    session.join("alice", "seed-room", shared_relay.url)
    seed = RawPeer(shared_relay.url, "browser", "seed-room")
    try:
        wait_until(lambda: "browser" in session.peers, what="the seed peer in the roster")
        session.generate_keys()
        # exactly what the seed's browser sent: no version, a Web Crypto JWK
        seed.emit(protocol.CURVE_SELECTED, {"curve": "P-256"})
        seed.emit(protocol.KEYS_GENERATED, {})
        key = crypto.generate_private_key("P-256")
        jwk = {**crypto.public_key_to_jwk(key), "ext": True, "key_ops": []}
        seed.emit(protocol.SHARE_PUBLIC_KEY, {"publicKey": jwk, "targetSocketId": session.my_id,
                                              "isReply": False})
        wait_until(lambda: seed.received(protocol.RECEIVE_PUBLIC_KEY), what="the answer")
        theirs = crypto.public_key_from_jwk(seed.received(protocol.RECEIVE_PUBLIC_KEY)[0]
                                            ["publicKey"])
        message_key = crypto.seed_message_key(crypto.ecdh(key, theirs))
        # offered, not used: nothing flows until the user allows the seed's protocol
        wait_until(lambda: "legacy offered" in session.peers["browser"].statuses,
                   what="the legacy offer")
        peer = session.peers["browser"]
        assert peer.legacy and not peer.legacy_allowed and peer.curve == "P-256"
        assert "secure" not in peer.statuses and not peer.safety_number
        with pytest.raises(SessionError, match="allow legacy"):
            session.send("browser", "too early")
        session.allow_legacy("browser")
        peer = session.peers["browser"]
        assert peer.legacy_allowed and "legacy" in peer.statuses
        assert "secure" not in peer.statuses and "legacy offered" not in peer.statuses

        sealed = crypto.encrypt(message_key, b"hello from the seed")
        seed.emit(protocol.SEND_MESSAGE, {
            "encryptedMessage": crypto.b64encode(sealed.ciphertext),
            "iv": crypto.b64encode(sealed.nonce), "tag": crypto.b64encode(sealed.tag),
            "targetSocketId": session.my_id})
        wait_until(lambda: session.conversations.get("browser"), what="the seed's message")
        got = session.conversations["browser"][0]
        assert (got.plaintext, got.status, got.legacy) == ("hello from the seed", "received",
                                                           True)
        assert got.reason == LEGACY_NOTE and not got.verified and got.associated_data == ""
        assert got.authenticated  # sealed under the pair's key, which is all the seed proves

        reply = session.send("browser", "hello, old browser")
        assert reply.legacy
        wait_until(lambda: seed.received(protocol.RECEIVE_MESSAGE), what="the reply")
        wire = seed.received(protocol.RECEIVE_MESSAGE)[0]
        # the seed's format only: nothing a Web Crypto client would not expect
        assert set(wire) == {"encryptedMessage", "iv", "tag", "from", "fromSocketId",
                             "timestamp"}
        plain = crypto.decrypt(message_key, crypto.b64decode(wire["encryptedMessage"]),
                               crypto.b64decode(wire["iv"]), crypto.b64decode(wire["tag"]))
        assert plain.decode() == "hello, old browser"

        # the same IV again (a relay replaying the seed's message) is caught
        seed.emit(protocol.SEND_MESSAGE, {
            "encryptedMessage": crypto.b64encode(sealed.ciphertext),
            "iv": crypto.b64encode(sealed.nonce), "tag": crypto.b64encode(sealed.tag),
            "targetSocketId": session.my_id})
        wait_until(lambda: len(session.conversations["browser"]) == 3, what="the replay")
        assert session.conversations["browser"][2].reason.startswith(REPLAYED)
    finally:
        seed.close()


# ----------------------------------------------------------------------------- flags, errors

def test_key_change_is_flagged_until_verified(shared_relay, pair):
    a, b = pair
    secure_pair(a, b, "key-change", shared_relay.url)
    a.set_verified("bob", True)
    assert a.peers["bob"].verified
    old = a.peers["bob"].fingerprint
    b.generate_keys()  # b shares the new key with alice by itself (they had a session)
    wait_until(lambda: "key changed" in a.peers["bob"].statuses, what="the key change")
    bob = a.peers["bob"]
    assert not bob.verified and bob.fingerprint != old and "secure" in bob.statuses
    assert "key changed" in a.errors["peers"]
    a.send("bob", "still talking")
    wait_until(lambda: texts(b, "alice", "in") == ["still talking"], what="the message")
    a.set_verified("bob", True)
    assert "key changed" not in a.peers["bob"].statuses and a.peers["bob"].verified


def test_curve_mismatch_is_flagged_not_used(shared_relay, pair):
    a, b = pair
    a.join("alice", "mismatch", shared_relay.url)
    b.join("bob", "mismatch", shared_relay.url)
    wait_until(lambda: "bob" in a.peers and "alice" in b.peers, what="the roster")
    a.select_curve("P-256")
    b.select_curve("P-384")
    a.generate_keys()
    b.generate_keys()
    a.share_key("bob")
    wait_until(lambda: "key received" in a.peers["bob"].statuses
               and "key received" in b.peers["alice"].statuses, what="both keys")
    for s, other in ((a, "bob"), (b, "alice")):
        assert {"curve mismatch"} <= s.peers[other].statuses
        assert "secure" not in s.peers[other].statuses
        with pytest.raises(SessionError, match="curve mismatch"):
            s.send(other, "hello?")
    assert "curve mismatch" in a.errors["chat"]


def test_name_taken_and_unreachable_relay_are_errors_in_words(shared_relay, pair):
    a, b = pair
    a.join("same", "names", shared_relay.url)
    wait_until(lambda: a.joined, what="the first join")
    b.join("same", "names", shared_relay.url)
    wait_until(lambda: "join" in b.errors, what="the refusal")
    assert "same" in b.errors["join"] and "taken" in b.errors["join"]
    assert not b.joined and b.connection == "connected"
    b.join("other", "names", shared_relay.url)  # a second try with another name works
    wait_until(lambda: b.joined, what="the second join")
    assert "join" not in b.errors

    lonely = Session()
    try:
        lonely.join("x", "y", f"http://127.0.0.1:{free_port()}")
        wait_until(lambda: "join" in lonely.errors, what="unreachable")
        assert "relay unreachable" in lonely.errors["join"]
        assert lonely.connection == "connecting" and not lonely.joined
    finally:
        lonely.close()


def test_close_leaves_no_thread_behind(shared_relay):
    before = {t.ident for t in threading.enumerate()}
    a, b = Session(), Session()
    secure_pair(a, b, "threads", shared_relay.url)
    a.send("bob", "bye")
    wait_until(lambda: texts(b, "alice", "in"), what="the message")
    assert len(threading.enumerate()) > len(before)
    a.close()
    b.close()
    assert {t.ident for t in threading.enumerate()} == before
    assert a.connection == "disconnected" and not a.joined


def test_leave_and_join_another_room(shared_relay, pair):
    a, b = pair
    secure_pair(a, b, "first-room", shared_relay.url)
    a.send("bob", "before leaving")
    wait_until(lambda: texts(b, "alice", "in"), what="the message")
    a.join("alice", "first-room", shared_relay.url)  # the same join again changes nothing
    assert a.joined and texts(a, "bob", "out") == ["before leaving"]
    a.leave()
    assert not a.joined and a.peers == {}
    wait_until(lambda: "alice" not in b.peers, what="alice gone from bob's roster")
    assert texts(b, "alice", "in") == ["before leaving"]  # the history stays
    a.join("alice", "second-room")  # same relay, another room
    b.join("bob", "second-room")
    wait_until(lambda: "bob" in a.peers and "alice" in b.peers, what="the new room")
    assert a.room == "second-room" and a.conversations == {}
    # keys are per room: the message waits for bob's key in this room (or goes out under
    # the key the two exchange here by themselves), and arrives
    out = a.send("bob", "keys are per room")
    assert out.status in ("waiting", "sending")
    wait_until(lambda: texts(b, "alice", "in") == ["keys are per room"], what="the message")


def test_a_failing_observer_does_not_stop_the_session(shared_relay, pair):
    a, b = pair
    secure_pair(a, b, "faulty-view", shared_relay.url)

    def broken_view(change):
        raise RuntimeError("a panel bug")

    b.observe(broken_view, names="conversations")
    a.send("bob", "one")
    wait_until(lambda: any("a panel bug" in e.text for e in b.log), what="the error logged")
    b.unobserve(broken_view, names="conversations")
    a.send("bob", "two")
    wait_until(lambda: "two" in texts(b, "alice", "in"), what="the next message")
    assert b.connection == "connected"
