"""A class behind one address, and classmates who churn: the limits per client address.

Each test starts a real relay that trusts loopback as its reverse proxy (as ``deploy/``
trusts its nginx), so that a client's ``X-Forwarded-For`` header names the address it
comes from: a whole class shares one, as behind a school's NAT.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from ecc_widgets import protocol as P
from tests.support.peers import Peer, RawSocket, run
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess

SCHOOL = "203.0.113.7"          # the class's one public address
OTHER = "198.51.100.20"


@pytest.fixture
def start_relay(tmp_path):
    started: list[RelayProcess] = []

    def start(*args: str) -> RelayProcess:
        server = RelayProcess("--trusted-proxies", "127.0.0.1", "--cap-loopback", *args,
                              log=tmp_path / f"relay-{len(started)}.log").start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def behind(address: str) -> dict:
    return {"headers": {"X-Forwarded-For": address}}


async def connect_all(url: str, n: int, address: str) -> list[Peer]:
    return list(await asyncio.gather(*(Peer(url).connect(**behind(address)) for _ in range(n))))


async def close_all(peers) -> None:
    await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)


def test_a_class_behind_one_address_joins_and_idle_sockets_lock_nobody_out(start_relay):
    relay = start_relay("--join-timeout", "2")

    async def scenario():
        idle, raw, class_ = [], [], []
        try:
            # one student holds 50 sockets that never join, and 50 bare TCP connections
            idle = [await RawSocket(relay.url, headers={"X-Forwarded-For": SCHOOL}).connect()
                    for _ in range(50)]
            raw = [socket.create_connection(("127.0.0.1", relay.port)) for _ in range(50)]
            # 30 students and their 30 demo peers, all at once, behind the same address
            class_ = await connect_all(relay.url, 60, SCHOOL)
            acks = await asyncio.gather(*(
                p.call(P.JOIN, {"username": f"{'student' if i < 30 else 'peer'}{i % 30}",
                                "roomId": "class"}) for i, p in enumerate(class_)))
            assert all(a["ok"] for a in acks), [a for a in acks if not a["ok"]][:3]
            late = await Peer(relay.url).connect(**behind(SCHOOL))
            class_.append(late)
            ack = await late.call(P.JOIN, {"username": "latecomer", "roomId": "class"})
            assert ack["ok"], ack
            assert len(ack["usersInRoom"]) == 61
            # the sockets that never joined are closed after the join timeout
            await asyncio.wait_for(asyncio.gather(*(s.closed.wait() for s in idle)), 20)
            health = relay.health()
            assert health["users"] == 61 and health["idle"] == 0, health
            # another address is unaffected, and the class still talks
            other = await Peer(relay.url).connect(**behind(OTHER))
            class_.append(other)
            await other.join("visitor", "class")
        finally:
            await close_all(class_ + idle)
            for s in raw:
                s.close()

    run(scenario())


def test_idle_sockets_of_one_address_are_capped_oldest_first(start_relay):
    relay = start_relay("--max-idle-per-ip", "10", "--join-timeout", "30")

    async def scenario():
        idle = []
        try:
            idle = [await RawSocket(relay.url, headers={"X-Forwarded-For": SCHOOL}).connect()
                    for _ in range(15)]
            await asyncio.wait_for(asyncio.gather(*(s.closed.wait() for s in idle[:5])), 10)
            assert not any(s.closed.is_set() for s in idle[5:])
            assert relay.health()["idle"] == 10
            student = await Peer(relay.url).connect(**behind(SCHOOL))
            idle.append(student)
            await student.join("student", "class")
        finally:
            await close_all(idle)

    run(scenario())


def test_sessions_per_address_are_capped_through_the_proxy(start_relay):
    relay = start_relay("--max-connections-per-ip", "5")

    async def scenario():
        peers = []
        try:
            peers = await connect_all(relay.url, 5, SCHOOL)
            with pytest.raises(Exception):   # noqa: B017,PT011 - refused at the handshake
                await Peer(relay.url).connect(**behind(SCHOOL))
            peers.append(await Peer(relay.url).connect(**behind(OTHER)))
        finally:
            await close_all(peers)

    run(scenario())


def test_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path):
    relay = RelayProcess("--max-connections-per-ip", "3", "--cap-loopback",
                         "--max-idle-per-ip", "3", log=tmp_path / "relay.log").start()

    async def scenario():
        peers = []
        try:
            # no proxy is trusted: the header is the client's own claim, and ignored
            for i in range(3):
                peers.append(await Peer(relay.url).connect(**behind(f"192.0.2.{i}")))
            with pytest.raises(Exception):   # noqa: B017,PT011 - refused at the handshake
                await Peer(relay.url).connect(**behind("192.0.2.99"))
        finally:
            await close_all(peers)

    try:
        run(scenario())
    finally:
        relay.stop()


def test_join_churn_from_fresh_sockets_is_limited_per_address_and_per_room(start_relay):
    relay = start_relay("--address-join-rate", "1", "--address-join-burst", "5",
                        "--room-churn-rate", "1", "--room-churn-burst", "8")

    async def scenario():
        watcher = await Peer(relay.url).connect(**behind(OTHER))
        try:
            await watcher.join("watcher", "lab")

            async def churn(address: str, n: int) -> list[dict]:
                acks = []
                for i in range(n):   # a fresh socket each time: no per-connection limit
                    p = await Peer(relay.url).connect(**behind(address))
                    acks.append(await p.call(P.JOIN, {"username": f"c{i}", "roomId": "lab"}))
                    await p.close()
                return acks

            acks = await churn(SCHOOL, 10)
            ok = [a for a in acks if a["ok"]]
            assert len(ok) <= 6, acks    # the address's burst, and a refill at most
            assert any("from your address" in a.get("error", "") for a in acks), acks
            # other addresses churning the same room meet the room's bucket
            acks = [a for n in range(8) for a in await churn(f"192.0.2.{n}", 2)]
            assert any("leave and join room 'lab' too fast" in a.get("error", "")
                       for a in acks), acks
            await asyncio.sleep(0.5)
            announced = watcher.of(P.USER_JOINED) + watcher.of(P.USER_LEFT)
            assert len(announced) <= 1 + 2 * (6 + 8 + 4), len(announced)
            # other rooms are not affected
            other = await Peer(relay.url).connect(**behind("192.0.2.200"))
            try:
                await other.join("fresh", "elsewhere")
            finally:
                await other.close()
        finally:
            await watcher.close()

    run(scenario())
    wait_until(lambda: relay.health()["users"] == 0, what="everyone gone")


def test_idle_sockets_that_close_themselves_are_not_counted_any_more(start_relay):
    relay = start_relay("--max-idle-per-ip", "5", "--join-timeout", "30")

    async def scenario():
        first = [await RawSocket(relay.url, headers={"X-Forwarded-For": SCHOOL}).connect()
                 for _ in range(5)]
        await close_all(first)
        wait_until(lambda: relay.health()["idle"] == 0, what="the closed ones forgotten")
        second = [await RawSocket(relay.url, headers={"X-Forwarded-For": SCHOOL}).connect()
                  for _ in range(5)]
        try:
            await asyncio.sleep(0.5)
            assert not any(s.closed.is_set() for s in second)   # nobody evicted for them
            assert relay.health()["idle"] == 5
        finally:
            await close_all(second)

    run(scenario())
