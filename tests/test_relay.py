"""The relay, end to end: a real relay process, real python-socketio clients.

Also a raw Engine.IO/Socket.IO websocket client (``RawSocket``) for what a well-behaved
client library never sends: malformed packets, binary frames, sockets that stop answering.
The helpers here are imported by the other ``test_relay_*`` modules.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import socketio
from conftest import RelayProcess

from ecc_widgets import protocol as P

JWK = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
       "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "ext": True, "key_ops": []}
B64_CT = "q83vEjRWeJA="          # 8 bytes
B64_IV = "AAECAwQFBgcICQoL"      # 12 bytes
B64_TAG = "AAECAwQFBgcICQoLDA0ODw=="  # 16 bytes


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def message(target: str, **extra: Any) -> dict:
    return {"encryptedMessage": B64_CT, "iv": B64_IV, "tag": B64_TAG,
            "targetSocketId": target, **extra}


class Peer:
    """A python-socketio client that records every event it receives."""

    def __init__(self, url: str, *, reconnection: bool = False):
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=reconnection, handle_sigint=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        self.sio.on("*", self._record)

    async def _record(self, event: str, *args: Any) -> None:
        self.events.append((event, args[0] if args else None))
        self._changed.set()

    @property
    def sid(self) -> str:
        return self.sio.get_sid()

    async def connect(self, transports=("websocket",), **kwargs) -> Peer:
        await self.sio.connect(self.url, transports=list(transports), **kwargs)
        return self

    async def call(self, event: str, payload: Any = None, timeout: float = 10) -> dict:
        return await self.sio.call(event, payload, timeout=timeout)

    async def emit(self, event: str, payload: Any = None) -> None:
        await self.sio.emit(event, payload)

    async def join(self, username: str, room: str, **extra: Any) -> dict:
        ack = await self.call(P.JOIN, {"username": username, "roomId": room, **extra})
        assert ack["ok"], ack
        return ack

    def of(self, event: str) -> list:
        return [payload for name, payload in self.events if name == event]

    async def wait_for(self, event: str, pred: Callable[[Any], bool] = lambda _: True,
                       count: int = 1, timeout: float = 10) -> list:
        async def until():
            while True:
                found = [p for p in self.of(event) if pred(p)]
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(until(), timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.sio.shutdown()


class RawSocket:
    """Engine.IO v4 over a websocket, speaking raw Socket.IO text packets."""

    def __init__(self, url: str, *, answer_pings: bool = True, origin: str | None = None):
        self.url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.answer_pings = answer_pings
        self.origin = origin
        self.events: list[tuple[str, Any]] = []
        self.acks: dict[int, Any] = {}
        self.closed = asyncio.Event()
        self.sid: str | None = None
        self._changed = asyncio.Event()

    async def connect(self) -> RawSocket:
        self.session = aiohttp.ClientSession()
        headers = {"Origin": self.origin} if self.origin else {}
        self.ws = await self.session.ws_connect(self.url, headers=headers)
        opening = await self.ws.receive_str()
        assert opening.startswith("0"), opening
        await self.ws.send_str("40")
        connected = await self.ws.receive_str()
        assert connected.startswith("40"), connected
        self.sid = json.loads(connected[2:])["sid"]
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.data
            if data == "2":
                if self.answer_pings:
                    await self.ws.send_str("3")
            elif data.startswith("42"):
                event, *args = json.loads(data[2:])
                self.events.append((event, args[0] if args else None))
            elif data.startswith("43"):
                i = 2
                while data[i].isdigit():
                    i += 1
                self.acks[int(data[2:i])] = json.loads(data[i:])[0]
            self._changed.set()
        self.closed.set()
        self._changed.set()

    async def send(self, text: str | bytes) -> None:
        if isinstance(text, bytes):
            await self.ws.send_bytes(text)
        else:
            await self.ws.send_str(text)

    async def emit(self, event: str, payload: Any = None, ack: int | None = None) -> None:
        await self.send(f"42{'' if ack is None else ack}{json.dumps([event, payload])}")

    async def call(self, event: str, payload: Any, ack: int, timeout: float = 10) -> Any:
        await self.emit(event, payload, ack)
        return await self.wait_ack(ack, timeout)

    async def wait_ack(self, ack: int, timeout: float = 10) -> Any:
        async def until():
            while ack not in self.acks:
                self._changed.clear()
                await self._changed.wait()
            return self.acks[ack]
        return await asyncio.wait_for(until(), timeout)

    async def wait_for(self, event: str, count: int = 1, timeout: float = 10) -> list:
        async def until():
            while True:
                found = [p for e, p in self.events if e == event]
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(until(), timeout)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await self.session.close()


async def pair(url: str, room: str = "lab") -> tuple[Peer, Peer]:
    alice = await Peer(url).connect()
    bob = await Peer(url).connect()
    await alice.join("alice", room)
    await bob.join("bob", room)
    await alice.wait_for(P.USER_JOINED, lambda p: p["username"] == "bob")
    return alice, bob


def eventually(check: Callable[[], bool], timeout: float = 10) -> bool:
    """Poll ``check`` until it holds (the relay handles a disconnect asynchronously)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


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
    server = RelayProcess("--rate", "20", "--burst", "10").start()

    async def scenario():
        raw = await RawSocket(server.url).connect()
        try:
            for i in range(1, 41):
                await raw.emit(P.KEYS_GENERATED, {}, ack=i)
            acks = [await raw.wait_ack(i) for i in range(1, 41)]
            limited = [a for a in acks if not a["ok"] and "rate limit" in a["error"]]
            assert 10 <= len(limited) < 40
            await asyncio.sleep(1.0)
            ack = await raw.call(P.JOIN, {"username": "calm", "roomId": "lab"}, ack=99)
            assert ack["ok"] is True
        finally:
            await raw.close()
    try:
        run(scenario())
        assert eventually(lambda: server.health()["users"] == 0)
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

    from conftest import ROOT, free_port

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
        assert eventually(healthy, timeout=20)

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
