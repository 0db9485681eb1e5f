"""What a hostile classmate can do to the relay, and the limits that stop it.

Each test starts a real relay with small limits so that it runs in seconds: a socket that
never reads, a crowded room, join/leave churn, slow HTTP headers, DNS rebinding, look-alike
names, and the ``visibleTo`` pairing the demo peer uses.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import time

import aiohttp
import pytest

from ecc_widgets import protocol as P
from tests.support.peers import Peer, RawSocket, SilentSocket, message, pair, run
from tests.support.processes import RelayProcess, require_binary

BIG = "A" * (40 * 1024)    # base64 of 30 KiB of "ciphertext"
TOKEN = "invite-token-of-the-summoner"


@pytest.fixture
def start_relay(tmp_path):
    started: list[RelayProcess] = []

    def start(*args: str) -> RelayProcess:
        server = RelayProcess(*args, log=tmp_path / f"relay-{len(started)}.log").start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def log_of(server: RelayProcess) -> str:
    return server.log.read_text(errors="replace")


@pytest.mark.lean_transport   # the stock transport cannot see its queues (docs/protocol.md)
def test_a_socket_that_does_not_read_is_dropped_and_another_room_loses_nothing(start_relay):
    relay = start_relay("--max-queued-bytes", "262144")

    async def scenario():
        sink = await SilentSocket(relay.url).connect()
        await sink.emit(P.JOIN, {"username": "sink", "roomId": "attack"})
        flood = await Peer(relay.url).connect()
        alice, bob = await pair(relay.url, "good")
        try:
            await flood.join("flood", "attack")

            async def attack():
                for _ in range(300):    # 9 MB for a socket that reads nothing
                    if flood.of(P.USER_LEFT):
                        return
                    await flood.emit(P.SEND_MESSAGE, message(sink.sid, encryptedMessage=BIG))
                    await asyncio.sleep(0.002)

            async def chat():
                for i in range(100):
                    ack = await alice.call(P.SEND_MESSAGE, message(bob.sid, n=i))
                    assert ack["ok"], ack

            await asyncio.gather(attack(), chat())
            left = await flood.wait_for(P.USER_LEFT, timeout=15)
            assert left[0]["socketId"] == sink.sid
            got = await bob.wait_for(P.RECEIVE_MESSAGE, count=100)
            assert [m["n"] for m in got] == list(range(100))   # nothing lost, in order
            assert relay.health()["users"] == 3
        finally:
            sink.close()
            for peer in (flood, alice, bob):
                await peer.close()

    run(scenario())
    text = log_of(relay)
    assert "bytes queued for it (cap 262144)" in text, text[-2000:]


def test_a_socket_cannot_send_to_itself(relay):
    async def scenario():
        alice = await Peer(relay.url).connect()
        try:
            await alice.join("alice", "lab")
            ack = await alice.call(P.SEND_MESSAGE, message(alice.sid))
            assert ack["ok"] is False and "your own socket" in ack["error"], ack
            ack = await alice.call(P.SHARE_PUBLIC_KEY,
                                   {"publicKey": {"kty": "EC"}, "targetSocketId": alice.sid})
            assert ack["ok"] is False
            assert not alice.of(P.RECEIVE_MESSAGE)
        finally:
            await alice.close()
    run(scenario())


def test_a_full_room_refuses_one_more(start_relay):
    relay = start_relay("--max-room-size", "3")

    async def scenario():
        peers = [await Peer(relay.url).connect() for _ in range(4)]
        try:
            for i, peer in enumerate(peers[:3]):
                await peer.join(f"student{i}", "class")
            ack = await peers[3].call(P.JOIN, {"username": "late", "roomId": "class"})
            assert ack == {"ok": False, "error": "room 'class' is full (3 members)"}
            await peers[3].join("late", "other room")   # other rooms are not affected
            assert (await peers[0].call(P.LEAVE, {}))["ok"]
            await peers[3].join("late", "class")
        finally:
            for peer in peers:
                await peer.close()
    run(scenario())


def test_joining_and_leaving_fast_is_limited_apart_from_messages(start_relay):
    relay = start_relay("--join-rate", "1", "--join-burst", "3")

    async def scenario():
        watcher = await Peer(relay.url).connect()
        churn = await RawSocket(relay.url).connect()
        try:
            await watcher.join("watcher", "lab")
            acks = []
            for i in range(5):
                acks.append(await churn.call(P.JOIN, {"username": "c", "roomId": "lab"},
                                             ack=2 * i))
                acks.append(await churn.call(P.LEAVE, {}, ack=2 * i + 1))
            refused = [a for a in acks if not a["ok"]]
            assert refused and all(a["error"] in ("rate limit: joining and leaving too fast",
                                                  "leave: join a room first")
                                   for a in refused), acks
            assert any(a["error"] == "rate limit: joining and leaving too fast"
                       for a in refused)
            await asyncio.sleep(0.3)
            announced = watcher.of(P.USER_JOINED) + watcher.of(P.USER_LEFT)
            assert 2 <= len(announced) <= 5, announced   # watcher's own join + at most 4
            # other events still pass: the join limit is a bucket of its own
            assert (await watcher.call(P.CURVE_SELECTED, {"curve": "P-256"}))["ok"]
        finally:
            await watcher.close()
            await churn.close()
    run(scenario())


def test_a_client_may_ask_for_roster_changes_without_the_whole_list(relay):
    async def scenario():
        delta = await Peer(relay.url).connect()
        full = await Peer(relay.url).connect()
        carol = await Peer(relay.url).connect()
        try:
            ack = await delta.join("delta", "lab", roster="delta")
            assert ack["usersInRoom"] == [{"socketId": delta.sid, "username": "delta"}]
            await full.join("full", "lab")
            await carol.join("carol", "lab")
            carol_sid = carol.sid
            await carol.close()
            for peer in (delta, full):
                await peer.wait_for(P.USER_LEFT)
            assert delta.of(P.USER_JOINED)[-1] == {"username": "carol", "socketId": carol_sid}
            assert delta.of(P.USER_LEFT) == [{"username": "carol", "socketId": carol_sid}]
            assert [u["username"] for u in full.of(P.USER_JOINED)[-1]["usersInRoom"]] == \
                ["delta", "full", "carol"]
            assert [u["username"] for u in full.of(P.USER_LEFT)[0]["usersInRoom"]] == \
                ["delta", "full"]
            bad = await full.call(P.JOIN, {"username": "x", "roomId": "lab", "roster": "some"})
            assert bad["ok"] is False and "'roster' must be one of full, delta" in bad["error"]
        finally:
            for peer in (delta, full):
                await peer.close()
    run(scenario())


def test_slow_headers_are_timed_out_and_capped_per_address(start_relay):
    relay = start_relay("--cap-loopback", "--max-connections-per-ip", "20",
                        "--idle-timeout", "1")
    slow = []
    try:
        for _ in range(60):
            s = socket.create_connection(("127.0.0.1", relay.port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(s)
        started = time.monotonic()
        for s in slow:
            s.settimeout(5)
        answers = [s.recv(64) for s in slow]   # the relay ends every one of them
        assert time.monotonic() - started < 3, "unfinished requests were not timed out"
        busy = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        assert len(busy) >= 40, answers   # over the cap: refused at once
        started = time.monotonic()
        assert relay.health()["ok"]
        assert time.monotonic() - started < 1
        assert "refusing connections from 127.0.0.1: 20 open (cap 20)" in log_of(relay)
    finally:
        for s in slow:
            s.close()


def _get(port: int, path: str, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.putheader("Origin", f"http://{host}")
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_relay_on_loopback_answers_only_requests_addressed_to_loopback(relay):
    port = relay.port
    polling = "/socket.io/?EIO=4&transport=polling"
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        assert _get(port, "/healthz", host) == 403, host
        assert _get(port, polling, host) == 403, host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}",
                 f"127.0.0.2:{port}"):
        assert _get(port, "/healthz", host) == 200, host
    assert _get(port, polling, f"localhost:{port}") == 200

    async def scenario():   # a websocket from the rebinding page is refused too
        evil = f"evil.example:{port}"
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(
                    f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
                    headers={"Host": evil, "Origin": f"http://{evil}"})
            assert refused.value.status == 403
    run(scenario())


def test_names_differing_only_in_case_are_one_name(relay):
    async def scenario():
        first = await Peer(relay.url).connect()
        other = await Peer(relay.url).connect()
        try:
            ack = await first.join("Straße", "lab")
            assert ack["username"] == "Straße"   # shown as typed
            for twin in ("straße", "STRASSE", "strasse"):
                ack = await other.call(P.JOIN, {"username": twin, "roomId": "lab"})
                assert ack["ok"] is False and "already taken" in ack["error"], (twin, ack)
            ack = await other.join("Bob", "lab")
            assert [u["username"] for u in ack["usersInRoom"]] == ["Straße", "Bob"]
        finally:
            await first.close()
            await other.close()
    run(scenario())


def test_a_member_visible_to_one_name_pairs_with_that_member_only(relay):
    async def scenario():
        alice = await Peer(relay.url).connect()
        bob = await Peer(relay.url).connect()
        demo = await Peer(relay.url).connect()
        carol = await Peer(relay.url).connect()
        try:
            await alice.join("Alice", "lab")
            await bob.join("bob", "lab")
            assert (await alice.call(P.INVITE, {"inviteToken": TOKEN}))["ok"]
            ack = await demo.join("demo-peer", "lab", visibleTo="alice", inviteToken=TOKEN)
            assert [u["username"] for u in ack["usersInRoom"]] == ["Alice", "demo-peer"]
            ack = await carol.join("carol", "lab")
            assert [u["username"] for u in ack["usersInRoom"]] == ["Alice", "bob", "carol"]
            joined = await alice.wait_for(P.USER_JOINED, lambda p: p["username"] == "carol")
            assert [u["username"] for u in joined[0]["usersInRoom"]] == \
                ["Alice", "bob", "demo-peer", "carol"]
            assert [p["username"] for p in alice.of(P.USER_JOINED)] == \
                ["Alice", "bob", "demo-peer", "carol"]
            assert "demo-peer" not in [p["username"] for p in bob.of(P.USER_JOINED)]
            assert all("demo-peer" not in [u["username"] for u in p["usersInRoom"]]
                       for p in bob.of(P.USER_JOINED))
            assert [p["username"] for p in demo.of(P.USER_JOINED)] == ["demo-peer"]

            for sender, target in ((demo, bob), (bob, demo), (carol, demo)):
                ack = await sender.call(P.SEND_MESSAGE, message(target.sid))
                assert ack["ok"] is False and "in your room" in ack["error"], ack
                ack = await sender.call(P.SHARE_PUBLIC_KEY, {
                    "publicKey": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
                    "targetSocketId": target.sid})
                assert ack["ok"] is False and "in your room" in ack["error"], ack
            assert (await demo.call(P.SEND_MESSAGE, message(alice.sid)))["ok"]
            assert (await alice.call(P.SEND_MESSAGE, message(demo.sid)))["ok"]
            await alice.wait_for(P.RECEIVE_MESSAGE)
            await demo.wait_for(P.RECEIVE_MESSAGE)

            assert (await demo.call(P.CURVE_SELECTED, {"curve": "P-256"}))["ok"]
            assert (await demo.call(P.KEYS_GENERATED, {}))["ok"]
            assert (await demo.call(P.PROCESSING_STEP, {"step": "s", "details": {}}))["ok"]
            assert (await bob.call(P.CURVE_SELECTED, {"curve": "P-384"}))["ok"]
            await alice.wait_for(P.PEER_PROCESSING_STEP)
            await carol.wait_for(P.PEER_CURVE_SELECTED)
            await asyncio.sleep(0.2)
            assert [p["from"] for p in alice.of(P.PEER_CURVE_SELECTED)] == ["demo-peer", "bob"]
            assert [p["from"] for p in carol.of(P.PEER_CURVE_SELECTED)] == ["bob"]
            assert not bob.of(P.PEER_KEYS_GENERATED) and not carol.of(P.PEER_PROCESSING_STEP)
            assert not demo.of(P.PEER_CURVE_SELECTED)   # bob's is not for it

            await demo.close()
            left = await alice.wait_for(P.USER_LEFT)
            assert left[0]["username"] == "demo-peer"
            await carol.close()
            await bob.wait_for(P.USER_LEFT)
            assert [p["username"] for p in bob.of(P.USER_LEFT)] == ["carol"]
        finally:
            for peer in (alice, bob, demo, carol):
                await peer.close()
    run(scenario())


@pytest.mark.redis
def test_limits_hold_across_relays_sharing_redis(tmp_path):
    from tests.support.processes import RedisProcess

    redis = RedisProcess(require_binary("redis-server"), tmp_path)
    relays = [RelayProcess("--redis-url", redis.url, "--max-room-size", "3")
              for _ in range(2)]

    async def scenario():
        a = await Peer(relays[0].url).connect()
        b = await Peer(relays[1].url).connect()
        demo = await Peer(relays[1].url).connect()
        extra = await Peer(relays[0].url).connect()
        try:
            await a.join("Bob", "lab")
            ack = await b.call(P.JOIN, {"username": "bob", "roomId": "lab"})
            assert ack["ok"] is False and "already taken" in ack["error"]
            await b.join("carol", "lab")
            assert (await a.call(P.INVITE, {"inviteToken": TOKEN}))["ok"]
            await demo.join("demo-peer", "lab", visibleTo="BOB", inviteToken=TOKEN)
            await extra.join("dave", "lab")   # the demo peer is not counted against the cap
            late = await Peer(relays[1].url).connect()
            ack = await late.call(P.JOIN, {"username": "erin", "roomId": "lab"})
            await late.close()
            assert ack == {"ok": False, "error": "room 'lab' is full (3 members)"}
            joined = await a.wait_for(P.USER_JOINED, lambda p: p["username"] == "demo-peer")
            assert [u["username"] for u in joined[0]["usersInRoom"]] == \
                ["Bob", "carol", "demo-peer"]
            ack = await b.call(P.SEND_MESSAGE, message(demo.sid))
            assert ack["ok"] is False and "in your room" in ack["error"]
            assert (await demo.call(P.SEND_MESSAGE, message(a.sid)))["ok"]
            await a.wait_for(P.RECEIVE_MESSAGE)
            assert "demo-peer" not in [p["username"] for p in b.of(P.USER_JOINED)]
            assert relays[0].health()["hidden"] == 1
        finally:
            for peer in (a, b, demo, extra):
                await peer.close()
    try:
        for r in relays:
            r.start()
        run(scenario())
    finally:
        for r in relays:
            r.stop()
        redis.stop()
