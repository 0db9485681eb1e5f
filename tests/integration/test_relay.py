"""The relay, end to end: a real relay process, real python-socketio clients, and raw
Engine.IO/Socket.IO websockets (tests.support.peers) for what a client library never sends.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request

import aiohttp
import pytest

from ecc_widgets import protocol as P
from tests.support import ROOT
from tests.support.peers import B64_CT, B64_IV, B64_TAG, JWK, Peer, RawSocket, message, pair, run
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess, free_port


def get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


# --- the seed's flow -------------------------------------------------------------------------
def test_full_seed_flow(relay):
    async def scenario():
        alice = await Peer(relay.url).connect()
        bob = await Peer(relay.url).connect()
        carol = await Peer(relay.url).connect()
        try:
            ack = await alice.join("alice", "lab")
            assert ack["socketId"] == alice.sid
            assert ack["usersInRoom"] == [{"socketId": alice.sid, "username": "alice"}]
            # a seed client sends join without a callback
            await bob.emit(P.JOIN, {"username": "bob", "roomId": "lab"})
            await carol.join("carol", "elsewhere")
            joined = await alice.wait_for(P.USER_JOINED, lambda p: p["username"] == "bob")
            assert joined[0] == {"username": "bob", "socketId": bob.sid, "usersInRoom": [
                {"socketId": alice.sid, "username": "alice"},
                {"socketId": bob.sid, "username": "bob"}]}
            # the joiner gets user-joined too
            await bob.wait_for(P.USER_JOINED, lambda p: p["socketId"] == bob.sid)

            assert (await alice.call(P.CURVE_SELECTED, {"curve": "P-256"}))["ok"]
            got = await bob.wait_for(P.PEER_CURVE_SELECTED)
            assert got[0] == {"curve": "P-256", "from": "alice", "socketId": alice.sid}

            assert (await alice.call(P.KEYS_GENERATED, {}))["ok"]
            got = await bob.wait_for(P.PEER_KEYS_GENERATED)
            assert got[0] == {"from": "alice", "socketId": alice.sid}

            # the seed's share with reply; a forged "from" is overwritten by the relay
            share = {"publicKey": JWK, "targetSocketId": bob.sid, "isReply": False,
                     "from": "mallory", "v": 1, "curve": "P-256"}
            assert (await alice.call(P.SHARE_PUBLIC_KEY, share))["ok"]
            got = await bob.wait_for(P.RECEIVE_PUBLIC_KEY)
            assert got[0] == {"publicKey": JWK, "from": "alice", "fromSocketId": alice.sid,
                              "isReply": False, "v": 1, "curve": "P-256"}
            await bob.emit(P.SHARE_PUBLIC_KEY, {"publicKey": JWK, "targetSocketId": alice.sid,
                                                "isReply": True})
            got = await alice.wait_for(P.RECEIVE_PUBLIC_KEY)
            assert got[0]["isReply"] is True and got[0]["fromSocketId"] == bob.sid

            ack = await alice.call(P.SEND_MESSAGE, message(bob.sid, id="m1", seq=1,
                                                           fromSocketId="forged"))
            assert ack["ok"] and isinstance(ack["timestamp"], int)
            got = (await bob.wait_for(P.RECEIVE_MESSAGE))[0]
            assert got == {"encryptedMessage": B64_CT, "iv": B64_IV, "tag": B64_TAG,
                           "id": "m1", "seq": 1, "from": "alice", "fromSocketId": alice.sid,
                           "timestamp": ack["timestamp"]}

            await alice.emit(P.PROCESSING_STEP, {"step": "ecdh", "details": "x-coordinate"})
            got = await bob.wait_for(P.PEER_PROCESSING_STEP)
            assert got[0] == {"step": "ecdh", "details": "x-coordinate", "from": "alice",
                              "socketId": alice.sid}

            # nothing leaked into the other room, nothing echoed to the sender
            assert [e for e, _ in carol.events] == [P.USER_JOINED]
            assert not alice.of(P.PEER_CURVE_SELECTED) and not alice.of(P.RECEIVE_MESSAGE)
            assert relay.health()["users"] == 3 and relay.health()["rooms"] == 2

            # leave (our addition) and disconnect (the seed's way) both tell the rest
            assert (await bob.call(P.LEAVE))["ok"]
            left = await alice.wait_for(P.USER_LEFT)
            assert left[0] == {"username": "bob", "socketId": bob.sid, "usersInRoom": [
                {"socketId": alice.sid, "username": "alice"}]}
            await bob.join("bob", "lab")
            await bob.close()
            left = await alice.wait_for(P.USER_LEFT, count=2)
            assert left[1]["usersInRoom"] == [{"socketId": alice.sid, "username": "alice"}]
            assert relay.health()["users"] == 2
        finally:
            for peer in (alice, bob, carol):
                await peer.close()
    run(scenario())


def test_healthz_and_browser_library(relay):
    health = relay.health()
    assert health["ok"] is True and health["rooms"] == 0 and health["users"] == 0
    status, body, headers = get(relay.url + "/socket.io/socket.io.js")
    assert status == 200
    assert headers["Content-Type"].startswith("application/javascript")
    assert b"Socket.IO v4" in body[:200]


def test_static_folder_is_served(tmp_path):
    (tmp_path / "index.html").write_text("<script src='/socket.io/socket.io.js'></script>")
    (tmp_path / "app.js").write_text("io();")
    server = RelayProcess("--static", str(tmp_path)).start()
    try:
        status, body, _ = get(server.url + "/")
        assert status == 200 and b"socket.io.js" in body
        assert get(server.url + "/app.js")[:2] == (200, b"io();")
        assert get(server.url + "/../secret")[0] == 404
        assert get(server.url + "/healthz")[0] == 200
    finally:
        server.stop()


# --- the rules ---------------------------------------------------------------------------------
def test_join_before_anything_else(relay):
    async def scenario():
        peer = await Peer(relay.url).connect()
        try:
            for event, payload in [(P.CURVE_SELECTED, {"curve": "P-256"}),
                                   (P.KEYS_GENERATED, {}),
                                   (P.PROCESSING_STEP, {"step": "x", "details": None}),
                                   (P.SHARE_PUBLIC_KEY, {"publicKey": JWK,
                                                         "targetSocketId": peer.sid}),
                                   (P.SEND_MESSAGE, message(peer.sid)),
                                   (P.LEAVE, {})]:
                ack = await peer.call(event, payload)
                assert ack == {"ok": False, "error": f"{event}: join a room first"}
        finally:
            await peer.close()
    run(scenario())


def test_only_sockets_in_own_room_can_be_addressed(relay):
    async def scenario():
        alice, bob = await pair(relay.url, "one")
        eve = await Peer(relay.url).connect()
        try:
            await eve.join("eve", "two")
            for target in (alice.sid, "no-such-socket"):
                ack = await eve.call(P.SEND_MESSAGE, message(target))
                assert ack["ok"] is False and "in your room" in ack["error"]
                ack = await eve.call(P.SHARE_PUBLIC_KEY, {"publicKey": JWK,
                                                          "targetSocketId": target})
                assert ack["ok"] is False and "in your room" in ack["error"]
            # a room id equal to another socket's id does not reach that socket
            await eve.call(P.LEAVE)
            await eve.join("eve", alice.sid)
            await eve.call(P.CURVE_SELECTED, {"curve": "P-384"})
            assert (await alice.call(P.SEND_MESSAGE, message(bob.sid)))["ok"]
            await bob.wait_for(P.RECEIVE_MESSAGE)
            assert not alice.of(P.RECEIVE_MESSAGE) and not alice.of(P.PEER_CURVE_SELECTED)
        finally:
            for peer in (alice, bob, eve):
                await peer.close()
    run(scenario())


@pytest.mark.parametrize("payload, reason", [
    (None, "payload must be a JSON object, got nothing"),
    ("alice", "payload must be a JSON object, got str"),
    ({"roomId": "lab"}, "'username' is missing"),
    ({"username": "alice"}, "'roomId' is missing"),
    ({"username": "", "roomId": "lab"}, "'username' must not be empty"),
    ({"username": "   ", "roomId": "lab"}, "'username' must not be empty"),
    ({"username": "alice", "roomId": 7}, "'roomId' must be a string, got int"),
    ({"username": "a" * (P.MAX_USERNAME + 1), "roomId": "lab"}, "longer than 64"),
    ({"username": "alice", "roomId": "r" * (P.MAX_ROOM_ID + 1)}, "longer than 64"),
    ({"username": "al\nice", "roomId": "lab"}, "control characters"),
])
def test_join_validation(relay, payload, reason):
    async def scenario():
        peer = await Peer(relay.url).connect()
        try:
            ack = await peer.call(P.JOIN, payload)
            assert ack["ok"] is False and reason in ack["error"], ack
            assert relay.health()["users"] == 0
        finally:
            await peer.close()
    run(scenario())


def test_user_names_are_unique_per_room(relay):
    async def scenario():
        alice = await Peer(relay.url).connect()
        twin = await Peer(relay.url).connect()
        try:
            await alice.join("alice", "lab")
            ack = await twin.call(P.JOIN, {"username": "alice", "roomId": "lab"})
            assert ack == {"ok": False, "error": "the name 'alice' is already taken in room "
                                                 "'lab'; choose another name"}
            # a seed client (no callback) hears it as relay-error
            await twin.emit(P.JOIN, {"username": "alice", "roomId": "lab"})
            err = await twin.wait_for(P.RELAY_ERROR)
            assert err[0]["event"] == P.JOIN and "already taken" in err[0]["error"]
            # the same name in another room is fine
            await twin.join("alice", "other")
            assert relay.health()["users"] == 2
        finally:
            await alice.close()
            await twin.close()
    run(scenario())


@pytest.mark.lean_transport  # stock Engine.IO waits for the client to close after CLOSE
def test_reconnect_with_resume_token_takes_the_name_over_at_once(relay):
    async def scenario():
        old = await RawSocket(relay.url, answer_pings=True).connect()
        bob = await Peer(relay.url).connect()
        new = await Peer(relay.url).connect()
        try:
            first = await old.call(P.JOIN, {"username": "alice", "roomId": "lab"}, ack=1)
            await bob.join("bob", "lab")
            # the old socket still answers, but the token proves it is the same client
            ack = await new.join("alice", "lab", resumeToken=first["resumeToken"])
            assert [u["username"] for u in ack["usersInRoom"]] == ["bob", "alice"]
            left = await bob.wait_for(P.USER_LEFT)
            assert left[0]["socketId"] == old.sid
            await asyncio.wait_for(old.closed.wait(), 10)
            # a wrong token does not help
            other = await Peer(relay.url).connect()
            ack = await other.call(P.JOIN, {"username": "alice", "roomId": "lab",
                                            "resumeToken": "guess"})
            assert ack["ok"] is False and "already taken" in ack["error"]
            await other.close()
        finally:
            await old.close()
            await bob.close()
            await new.close()
    run(scenario())


@pytest.mark.lean_transport  # the stock transport cannot ping a socket
def test_name_passes_to_a_reconnecting_seed_client_when_old_socket_is_dead():
    server = RelayProcess("--probe-timeout", "0.5").start()

    async def scenario():
        # a half-open connection: the socket is there but nobody answers pings any more
        dead = await RawSocket(server.url, answer_pings=False).connect()
        alive = await RawSocket(server.url, answer_pings=True).connect()
        bob = await Peer(server.url).connect()
        new = await Peer(server.url).connect()
        try:
            await dead.call(P.JOIN, {"username": "alice", "roomId": "lab"}, ack=1)
            await alive.call(P.JOIN, {"username": "carol", "roomId": "lab"}, ack=1)
            await bob.join("bob", "lab")
            ack = await new.join("alice", "lab")   # no token: as the seed's client
            assert sorted(u["username"] for u in ack["usersInRoom"]) == ["alice", "bob",
                                                                         "carol"]
            left = await bob.wait_for(P.USER_LEFT)
            assert left[0]["socketId"] == dead.sid and left[0]["username"] == "alice"
            # a live holder keeps its name
            ack = await (await Peer(server.url).connect()).call(
                P.JOIN, {"username": "carol", "roomId": "lab"})
            assert ack["ok"] is False and "already taken" in ack["error"]
        finally:
            for sock in (dead, alive):
                await sock.close()
            await bob.close()
            await new.close()
    try:
        run(scenario())
    finally:
        server.stop()


def test_messages_arrive_in_the_order_sent(relay):
    async def scenario():
        alice, bob = await pair(relay.url)
        try:
            # emit without waiting: python-socketio writes them back to back
            for seq in range(300):
                await alice.emit(P.SEND_MESSAGE, message(bob.sid, seq=seq))
            got = await bob.wait_for(P.RECEIVE_MESSAGE, count=300)
            assert [m["seq"] for m in got] == list(range(300))
        finally:
            await alice.close()
            await bob.close()
    run(scenario())


@pytest.mark.parametrize("event, payload, reason", [
    (P.SEND_MESSAGE, None, "payload must be a JSON object, got nothing"),
    (P.SEND_MESSAGE, [1, 2], "payload must be a JSON object, got list"),
    (P.SEND_MESSAGE, {"iv": B64_IV, "tag": B64_TAG, "targetSocketId": "x"},
     "'encryptedMessage' is missing"),
    (P.SEND_MESSAGE, {**message("x"), "iv": 12}, "'iv' must be a base64 string"),
    (P.SEND_MESSAGE, {**message("x"), "tag": "not base64!"}, "'tag' must be base64"),
    (P.SEND_MESSAGE, {**message("x"), "encryptedMessage": "A" * (P.MAX_CIPHERTEXT + 4)},
     "'encryptedMessage' is longer than"),
    (P.SHARE_PUBLIC_KEY, {"publicKey": "abc", "targetSocketId": "x"}, "must be a JWK object"),
    (P.SHARE_PUBLIC_KEY, {"publicKey": {**JWK, "d": "secret"}, "targetSocketId": "x"},
     "private key member 'd'"),
    (P.SHARE_PUBLIC_KEY, {"publicKey": {**JWK, "kty": "RSA"}, "targetSocketId": "x"},
     "'kty' must be"),
    (P.SHARE_PUBLIC_KEY, {"publicKey": JWK, "targetSocketId": "x", "isReply": "yes"},
     "'isReply' must be true or false"),
    (P.CURVE_SELECTED, {"curve": "<script>"}, "characters a curve name cannot have"),
    (P.CURVE_SELECTED, {}, "'curve' is missing"),
    (P.PROCESSING_STEP, {"details": "x"}, "'step' is missing"),
    ("no-such-event", {}, "unknown event 'no-such-event'"),
])
def test_bad_payloads_get_a_clear_error_and_the_connection_lives_on(relay, event, payload,
                                                                    reason):
    async def scenario():
        alice, bob = await pair(relay.url)
        try:
            ack = await alice.call(event, payload)
            assert ack["ok"] is False and reason in ack["error"], ack
            assert (await alice.call(P.SEND_MESSAGE, message(bob.sid)))["ok"]
            assert len(await bob.wait_for(P.RECEIVE_MESSAGE)) == 1
        finally:
            await alice.close()
            await bob.close()
    run(scenario())


@pytest.mark.lean_transport  # the relay reads packets itself
def test_malformed_packets_oversized_events_and_binary_are_dropped(relay):
    async def scenario():
        raw = await RawSocket(relay.url).connect()
        bob = await Peer(relay.url).connect()
        try:
            assert (await raw.call(P.JOIN, {"username": "raw", "roomId": "lab"}, ack=1))["ok"]
            await bob.join("bob", "lab")
            await raw.send("4211{not json")
            assert (await raw.wait_ack(11))["error"] == "malformed packet: not JSON"
            await raw.send("422[]")
            assert "expected [name, payload]" in (await raw.wait_ack(2))["error"]
            await raw.send("423[42, {}]")
            assert "expected [name, payload]" in (await raw.wait_ack(3))["error"]
            await raw.send("424{\"a\": 1")
            assert (await raw.wait_ack(4))["error"] == "malformed packet: not JSON"
            big = "A" * (P.MAX_EVENT_BYTES + 100)
            await raw.emit(P.SEND_MESSAGE, message(bob.sid, padding=big), ack=5)
            assert "larger than" in (await raw.wait_ack(5))["error"]
            await raw.send("451-[\"send-message\",{\"_placeholder\":true,\"num\":0}]")
            await raw.send(b"\x00\x01binary")
            await raw.send("9 unknown engine.io packet")
            await raw.send("49 unknown socket.io packet")
            # no ack asked: the error comes as relay-error
            await raw.send("42[\"send-message\",5]")
            errors = await raw.wait_for(P.RELAY_ERROR, count=2)
            assert any("binary events are not supported" in e["error"] for e in errors)
            assert any("got int" in e["error"] for e in errors)
            ack = await raw.call(P.SEND_MESSAGE, message(bob.sid, seq=1), ack=6)
            assert ack["ok"] is True
            got = await bob.wait_for(P.RECEIVE_MESSAGE)
            assert [m["seq"] for m in got] == [1]
            assert not raw.closed.is_set()
        finally:
            await raw.close()
            await bob.close()
    run(scenario())


def test_rate_limit_drops_a_burst_and_recovers():
    rate, burst = 20, 10
    server = RelayProcess("--rate", str(rate), "--burst", str(burst)).start()

    async def send_burst(raw: RawSocket, first: int, count: int) -> dict:
        """Send `count` events back to back: how many the limiter let through, and when the
        first send, the last send and the last answer happened."""
        times = {"first_sent": time.monotonic()}
        for i in range(first, first + count):
            await raw.emit(P.KEYS_GENERATED, {}, ack=i)
        times["last_sent"] = time.monotonic()
        acks = [await raw.wait_ack(i) for i in range(first, first + count)]
        times["answered"] = time.monotonic()
        # an event let through is answered by the next rule: join a room first
        assert all(not a["ok"] for a in acks), acks
        through = ["rate limit" not in a["error"] for a in acks]
        return {"through": sum(through), **times}

    async def scenario():
        raw = await RawSocket(server.url).connect()
        try:
            one = await send_burst(raw, 1, 40)
            # a full bucket lets a whole burst through, then only what refills meanwhile
            assert burst <= one["through"] <= burst + 1 + rate * (
                one["answered"] - one["first_sent"]), one
            await asyncio.sleep(0.25)   # refills 5 tokens at 20 per second
            two = await send_burst(raw, 100, 20)
            # the refill lasted at least from the last answer to the next first send, and
            # at most from the last send to the last answer after the pause
            least = min(burst, int(rate * (two["first_sent"] - one["answered"])))
            most = 1 + rate * (two["answered"] - one["last_sent"])
            assert least <= two["through"] <= most, (least, two, most)
            await asyncio.sleep(1.0)
            ack = await raw.call(P.JOIN, {"username": "calm", "roomId": "lab"}, ack=999)
            assert ack["ok"] is True
        finally:
            await raw.close()
    try:
        run(scenario())
        wait_until(lambda: server.health()["users"] == 0, what="the limited socket gone")
    finally:
        server.stop()


def test_origins_same_origin_and_localhost_by_default(relay):
    async def handshake(url, origin):
        raw = RawSocket(url, origin=origin)
        try:
            await raw.connect()
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        finally:
            if hasattr(raw, "_reader"):
                await raw.close()
            elif hasattr(raw, "session"):
                await raw.session.close()
        return 101

    async def scenario():
        assert await handshake(relay.url, None) == 101
        assert await handshake(relay.url, f"http://localhost:{relay.port}") == 101
        assert await handshake(relay.url, "http://localhost:8866") == 101
        assert await handshake(relay.url, "http://127.0.0.1:8888") == 101
        assert await handshake(relay.url, "https://evil.example") == 400
        other = RelayProcess("--cors", "https://class.example").start()
        try:
            assert await handshake(other.url, "https://class.example") == 101
            assert await handshake(other.url, "https://evil.example") == 400
        finally:
            other.stop()
    run(scenario())


def test_sigterm_tells_clients_and_exits_cleanly():
    server = RelayProcess().start()

    async def scenario():
        peer = Peer(server.url, reconnection=True)
        peer.sio.reconnection_delay = 0.1
        peer.sio.reconnection_delay_max = 0.2
        await peer.connect()
        reconnected = asyncio.Event()
        peer.sio.on("connect", reconnected.set)
        try:
            await peer.join("alice", "lab")
            reconnected.clear()
            server.proc.send_signal(signal.SIGTERM)
            notice = await peer.wait_for(P.RELAY_SHUTDOWN)
            assert "shutting down" in notice[0]["reason"]
            code = await asyncio.to_thread(server.proc.wait, 10)
            assert code == 0
            # the transport was dropped, not closed for good: the client comes back
            server.start()
            await asyncio.wait_for(reconnected.wait(), 15)
            await peer.join("alice", "lab")
        finally:
            await peer.close()
    try:
        run(scenario())
    finally:
        server.stop()


def test_sigint_with_no_clients_exits_zero():
    server = RelayProcess().start()
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(10) == 0


def test_nothing_secret_is_logged_even_at_debug_level(tmp_path):
    log = tmp_path / "relay.log"
    server = RelayProcess("--log-level", "debug", log=log).start()

    async def scenario():
        alice, bob = await pair(server.url)
        try:
            assert (await alice.call(P.SHARE_PUBLIC_KEY, {
                "publicKey": JWK, "targetSocketId": bob.sid, "isReply": False}))["ok"]
            assert (await alice.call(P.SEND_MESSAGE, message(bob.sid)))["ok"]
            await bob.wait_for(P.RECEIVE_MESSAGE)
        finally:
            await alice.close()
            await bob.close()
    try:
        run(scenario())
    finally:
        server.stop()
    text = log.read_text()
    assert "joined room 'lab'" in text and "key " in text  # the log did record the flow
    for secret in (B64_CT, B64_IV, B64_TAG, JWK["x"], JWK["y"]):
        assert secret not in text


def test_capture_records_received_events_for_tests(tmp_path):
    capture = tmp_path / "traffic.jsonl"
    server = RelayProcess(env={"ECC_RELAY_CAPTURE": str(capture)}).start()

    async def scenario():
        alice, bob = await pair(server.url)
        try:
            await alice.call(P.SEND_MESSAGE, message(bob.sid, seq=7))
        finally:
            await alice.close()
            await bob.close()
    try:
        run(scenario())
    finally:
        server.stop()
    records = [json.loads(line) for line in capture.read_text().splitlines()]
    assert [r["event"] for r in records] == [P.JOIN, P.JOIN, P.SEND_MESSAGE]
    assert records[2]["payload"]["seq"] == 7 and records[2]["payload"]["iv"] == B64_IV


@pytest.mark.parametrize("transports", [
    pytest.param(["polling"], marks=pytest.mark.lean_transport),  # 50 packets in one POST
    ["polling", "websocket"]])
def test_long_polling_and_upgrade_as_a_browser_starts(relay, transports):
    """socket.io-client in a browser starts on long-polling and upgrades to a websocket.

    Bursts of 50 go both ways: python-engineio refuses more than 16 packets in one poll, so
    the relay accepts big POSTs and answers a poll with at most 16 packets.
    """
    async def scenario():
        alice = await Peer(relay.url).connect(transports=transports)
        bob = await Peer(relay.url).connect()
        try:
            await alice.join("alice", "lab")
            await bob.join("bob", "lab")
            if len(transports) == 2:
                for _ in range(100):   # the upgrade happens in the background
                    if alice.sio.transport() == "websocket":
                        break
                    await asyncio.sleep(0.05)
                assert alice.sio.transport() == "websocket"
            for seq in range(50):
                await alice.emit(P.SEND_MESSAGE, message(bob.sid, seq=seq))
                await bob.emit(P.SEND_MESSAGE, message(alice.sid, seq=seq))
            got = await alice.wait_for(P.RECEIVE_MESSAGE, count=50)
            assert [m["seq"] for m in got] == list(range(50))
            got = await bob.wait_for(P.RECEIVE_MESSAGE, count=50)
            assert [m["seq"] for m in got] == list(range(50))
        finally:
            await alice.close()
            await bob.close()
    run(scenario())


def _self_signed(tmp_path) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(certfile), str(keyfile)


def test_tls_with_certfile_and_keyfile(tmp_path):
    import ssl
    import subprocess
    import sys

    certfile, keyfile = _self_signed(tmp_path)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "relay", "--host", "127.0.0.1", "--port",
                             str(port), "--certfile", certfile, "--keyfile", keyfile], cwd=ROOT)
    url = f"https://localhost:{port}"
    ctx = ssl.create_default_context(cafile=certfile)
    try:
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(url + "/healthz", context=ctx, timeout=1) as r:
                    return json.loads(r.read())["ok"]
            except OSError:
                return False
        wait_until(healthy, timeout=20, what="the TLS relay's /healthz")

        async def scenario():
            peer = Peer(url)
            peer.sio.eio.ssl_verify = False   # self-signed, trusted above for /healthz only
            await peer.connect()
            try:
                ack = await peer.join("alice", "lab")
                assert ack["usersInRoom"] == [{"socketId": peer.sid, "username": "alice"}]
            finally:
                await peer.close()
        run(scenario())
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
