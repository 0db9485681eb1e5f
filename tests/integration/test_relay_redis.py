"""Two relay processes on one real redis-server: one roster, one conversation."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import pytest

from ecc_widgets import protocol as P
from tests.support.peers import JWK, Peer, RawSocket, message, run
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess

pytestmark = pytest.mark.redis


def start_relays(redis_url: str, heartbeat_ttl: str) -> list[RelayProcess]:
    started: list[RelayProcess] = []
    try:
        for _ in range(2):
            started.append(RelayProcess("--redis-url", redis_url,
                                        "--heartbeat-ttl", heartbeat_ttl,
                                        "--probe-timeout", "0.5").start())
    except BaseException:
        for server in started:
            server.stop()
        raise
    return started


@pytest.fixture
def relays(redis_server):
    """Two relays whose heartbeat lapses fast: a dead relay is swept within seconds."""
    started = start_relays(redis_server.url, "1.5")
    yield started
    stop_all(started)


@pytest.fixture
def steady_relays(redis_server):
    """Two relays with a long heartbeat: within a test, no relay is ever swept as dead, so
    whatever happens at once was done on purpose (a goodbye, a resume token)."""
    started = start_relays(redis_server.url, "60")
    yield started
    stop_all(started)


def stop_all(servers) -> None:
    """Stop every relay, even when one of them fails to stop in time (then raise)."""
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.callback(server.stop)


def names(payload) -> list[str]:
    return [u["username"] for u in payload["usersInRoom"]]


def test_clients_on_two_relays_share_a_room(relays):
    one, two = relays

    async def scenario():
        alice = await Peer(one.url).connect()
        bob = await Peer(two.url).connect()
        carol = await Peer(two.url).connect()
        try:
            await alice.join("alice", "lab")
            ack = await bob.join("bob", "lab")
            assert names(ack) == ["alice", "bob"]
            joined = await alice.wait_for(P.USER_JOINED, lambda p: p["username"] == "bob")
            assert joined[0]["usersInRoom"] == [{"socketId": alice.sid, "username": "alice"},
                                                {"socketId": bob.sid, "username": "bob"}]
            assert one.health()["users"] == two.health()["users"] == 2
            assert one.health()["rooms"] == 1

            # a name is unique across relays: alice on relay one still answers
            taken = await carol.call(P.JOIN, {"username": "alice", "roomId": "lab"})
            assert taken["ok"] is False and "already taken" in taken["error"]

            await alice.call(P.CURVE_SELECTED, {"curve": "P-256"})
            assert (await bob.wait_for(P.PEER_CURVE_SELECTED))[0]["from"] == "alice"
            await alice.call(P.SHARE_PUBLIC_KEY, {"publicKey": JWK, "targetSocketId": bob.sid,
                                                  "isReply": False, "v": 1})
            got = await bob.wait_for(P.RECEIVE_PUBLIC_KEY)
            assert got[0]["fromSocketId"] == alice.sid and got[0]["v"] == 1
            await bob.emit(P.SHARE_PUBLIC_KEY, {"publicKey": JWK, "targetSocketId": alice.sid,
                                                "isReply": True})
            assert (await alice.wait_for(P.RECEIVE_PUBLIC_KEY))[0]["isReply"] is True

            # both ways, in order, nothing lost
            for seq in range(200):
                await alice.emit(P.SEND_MESSAGE, message(bob.sid, seq=seq))
                await bob.emit(P.SEND_MESSAGE, message(alice.sid, seq=seq))
            to_bob = await bob.wait_for(P.RECEIVE_MESSAGE, count=200)
            to_alice = await alice.wait_for(P.RECEIVE_MESSAGE, count=200)
            assert [m["seq"] for m in to_bob] == list(range(200))
            assert [m["seq"] for m in to_alice] == list(range(200))
            assert {m["fromSocketId"] for m in to_bob} == {alice.sid}

            # the room check crosses relays too
            await carol.join("carol", "elsewhere")
            ack = await carol.call(P.SEND_MESSAGE, message(alice.sid))
            assert ack["ok"] is False and "in your room" in ack["error"]

            bob_sid = bob.sid
            await bob.close()
            left = await alice.wait_for(P.USER_LEFT)
            assert left[0]["socketId"] == bob_sid and names(left[0]) == ["alice"]
            wait_until(lambda: one.health()["users"] == 2, what="alice and carol left")
        finally:
            for peer in (alice, bob, carol):
                await peer.close()
    run(scenario())


def test_a_relay_that_dies_has_its_users_removed(relays):
    one, two = relays

    async def scenario():
        alice = await Peer(one.url).connect()
        bob = await Peer(two.url).connect()
        try:
            await alice.join("alice", "lab")
            await bob.join("bob", "lab")
            await alice.wait_for(P.USER_JOINED, lambda p: p["username"] == "bob")
            two.proc.send_signal(signal.SIGKILL)   # no goodbye: only the heartbeat tells
            two.proc.wait(10)
            left = await alice.wait_for(P.USER_LEFT, timeout=15)
            assert left[0]["username"] == "bob" and names(left[0]) == ["alice"]
            assert one.health()["users"] == 1
            # bob comes back through the surviving relay under the same name
            again = await Peer(one.url).connect()
            assert names(await again.join("bob", "lab")) == ["alice", "bob"]
            await again.close()
        finally:
            await alice.close()
            await bob.close()
    run(scenario())


def test_a_relay_stopped_cleanly_tells_the_rooms_at_once(steady_relays):
    one, two = steady_relays

    async def scenario():
        alice = await Peer(one.url).connect()
        bob = await Peer(two.url).connect()
        carol = await Peer(two.url).connect()
        try:
            await alice.join("alice", "lab")
            await bob.join("bob", "lab")
            await carol.join("carol", "lab")
            await alice.wait_for(P.USER_JOINED, lambda p: p["username"] == "carol")
            assert two.stop() == 0
            # the heartbeat would take 60 s: only the stopping relay's goodbye is this fast
            left = await alice.wait_for(P.USER_LEFT, count=2, timeout=3)
            assert {p["username"] for p in left} == {"bob", "carol"}
            assert names(left[-1]) == ["alice"] and one.health()["users"] == 1
        finally:
            for peer in (alice, bob, carol):
                await peer.close()
    run(scenario())


def test_a_resume_token_takes_a_name_over_from_another_relay_at_once(steady_relays):
    one, two = steady_relays

    async def scenario():
        alice = await Peer(one.url).connect()
        bob = await Peer(two.url).connect()
        again = await Peer(one.url).connect()
        try:
            await alice.join("alice", "lab")
            first = await bob.join("bob", "lab")
            bob_sid = bob.sid
            # bob's old socket still answers on relay two: the name is held, and taken
            # only with the token bob got at his first join
            for token in (None, "guess"):
                refused = await again.call(P.JOIN, {"username": "bob", "roomId": "lab",
                                                    "resumeToken": token})
                assert refused["ok"] is False and "already taken" in refused["error"]
            ack = await again.join("bob", "lab", resumeToken=first["resumeToken"])
            assert names(ack) == ["alice", "bob"]
            left = await alice.wait_for(P.USER_LEFT, timeout=3)
            assert left[0]["socketId"] == bob_sid and names(left[0]) == ["alice"]
        finally:
            for peer in (alice, bob, again):
                await peer.close()
    run(scenario())


def test_a_name_held_on_a_dead_relay_passes_to_a_reconnecting_client(redis_server):
    # a long heartbeat: the dead relay still looks alive, so the probe has to decide
    one = RelayProcess("--redis-url", redis_server.url, "--heartbeat-ttl", "30",
                       "--probe-timeout", "0.5").start()
    two = RelayProcess("--redis-url", redis_server.url, "--heartbeat-ttl", "30").start()

    async def scenario():
        alice = await Peer(one.url).connect()
        bob = await Peer(two.url).connect()
        try:
            await alice.join("alice", "lab")
            await bob.join("bob", "lab")
            bob_sid = bob.sid
            two.proc.send_signal(signal.SIGKILL)
            two.proc.wait(10)
            again = await Peer(one.url).connect()
            ack = await again.join("bob", "lab")
            assert names(ack) == ["alice", "bob"]
            left = await alice.wait_for(P.USER_LEFT)
            assert left[0]["socketId"] == bob_sid
            await again.close()
        finally:
            await alice.close()
            await bob.close()
    try:
        run(scenario())
    finally:
        one.stop()
        two.stop()


def test_orders_survive_concurrent_joins_across_relays(relays):
    one, two = relays

    async def scenario():
        peers = [await Peer((one, two)[i % 2].url).connect() for i in range(6)]
        try:
            acks = await asyncio.gather(*(p.call(P.JOIN, {"username": "same", "roomId": "race"})
                                          for p in peers))
            assert sum(a["ok"] for a in acks) == 1   # exactly one wins the name
            assert one.health()["users"] == 1
        finally:
            for p in peers:
                await p.close()
    run(scenario())


def test_a_burst_of_joins_across_relays(relays):
    """Many joins at once must queue for Redis connections, not time out opening them."""
    one, two = relays

    async def scenario():
        socks = await asyncio.gather(*(RawSocket((one, two)[i % 2].url).connect()
                                       for i in range(120)))
        try:
            acks = await asyncio.gather(*(
                s.call(P.JOIN, {"username": f"u{i}", "roomId": f"room{i % 12}"}, ack=1)
                for i, s in enumerate(socks)))
            assert all(a["ok"] for a in acks), [a for a in acks if not a["ok"]][:3]
            health = one.health()
            assert health["users"] == 120 and health["rooms"] == 12
        finally:
            await asyncio.gather(*(s.close() for s in socks))
    run(scenario())
