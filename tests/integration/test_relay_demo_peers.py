"""Demo peers: each student's own, seen by that student alone, and nobody else's to fake.

A member joined with ``visibleTo`` is seen by one other member only. The relay lets one in
only with a invite token that very member registered (``invite``) in that room, under
a demo peer's name (``demo-peer``, ``demo-peer-2``), which no ordinary join may take; each
summoner's are held apart, a few each, and not counted against the room's cap.
"""

from __future__ import annotations

import asyncio

import pytest

from ecc_widgets import protocol as P
from tests.support.peers import Peer, message, run
from tests.support.processes import RelayProcess


def token(n: int) -> str:
    return f"invite-token-number-{n:04d}"


@pytest.fixture
def small_relay(tmp_path):
    server = RelayProcess("--max-room-size", "4", log=tmp_path / "relay.log").start()
    yield server
    server.stop()


async def demo_peer(url: str, summoner: str, tok: str, name: str = "demo-peer",
                 room: str = "lab") -> tuple[Peer, dict]:
    peer = await Peer(url).connect()
    ack = await peer.call(P.JOIN, {"username": name, "roomId": room, "visibleTo": summoner,
                                   "inviteToken": tok})
    return peer, ack


async def close_all(peers) -> None:
    await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)


def test_every_student_gets_a_demo_peer_of_their_own(relay):
    async def scenario():
        students = [await Peer(relay.url).connect() for _ in range(5)]
        demos = []
        try:
            for i, s in enumerate(students):
                await s.join(f"student{i}", "lab")
            for i, s in enumerate(students):
                assert (await s.call(P.INVITE, {"inviteToken": token(i)}))["ok"]
                demo, ack = await demo_peer(relay.url, f"student{i}", token(i))
                assert ack["ok"], ack
                assert [u["username"] for u in ack["usersInRoom"]] == [
                    *(f"student{j}" for j in range(5) if j == i), "demo-peer"]
                demos.append(demo)
            for i, (s, demo) in enumerate(zip(students, demos, strict=True)):
                joined = await s.wait_for(P.USER_JOINED, lambda p: p["username"] == "demo-peer")
                assert [p["socketId"] for p in joined] == [demo.sid]   # its own, only
                assert (await demo.call(P.SEND_MESSAGE, message(s.sid, n=i)))["ok"]
                got = await s.wait_for(P.RECEIVE_MESSAGE)
                assert [m["n"] for m in got] == [i] and got[0]["from"] == "demo-peer"
                other = students[(i + 1) % 5]
                ack = await demo.call(P.SEND_MESSAGE, message(other.sid))
                assert ack["ok"] is False and "in your room" in ack["error"]
            # everyone is told how many demo peers the room has, never who
            late = await Peer(relay.url).connect()
            students.append(late)
            ack = await late.join("teacher", "lab")
            assert ack["hiddenInRoom"] == 5 and len(ack["usersInRoom"]) == 6
            assert relay.health()["hidden"] == 5
        finally:
            await close_all(students + demos)

    run(scenario())


def test_nobody_can_squat_fake_or_hide_behind_a_name(relay):
    async def scenario():
        alice, bob, mallory = [await Peer(relay.url).connect() for _ in range(3)]
        extra = []
        try:
            await alice.join("alice", "lab")
            await bob.join("bob", "lab")
            await mallory.join("mallory", "lab")
            # the demo peer's names are not for ordinary joins, in any spelling
            for name in ("demo-peer", "Demo Peer", "demo_peer-2", "d\u0435mo-peer"):
                p = await Peer(relay.url).connect()
                extra.append(p)
                ack = await p.call(P.JOIN, {"username": name, "roomId": "lab"})
                assert ack["ok"] is False, (name, ack)
            # visibleTo without a token, or with one the member it names never registered
            assert (await mallory.call(P.INVITE, {"inviteToken": token(1)}))["ok"]
            p, ack = await demo_peer(relay.url, "alice", "x" * 30)
            extra.append(p)
            assert ack["ok"] is False and "not registered by 'alice'" in ack["error"], ack
            p, ack = await demo_peer(relay.url, "alice", token(1))   # mallory's token
            extra.append(p)
            assert ack["ok"] is False and "not registered by 'alice'" in ack["error"], ack
            p = await Peer(relay.url).connect()
            extra.append(p)
            ack = await p.call(P.JOIN, {"username": "bob", "roomId": "lab", "visibleTo": "alice"})
            assert ack["ok"] is False and "go together" in ack["error"], ack
            # a hidden member cannot hold a classmate's name, even with a real token
            p, ack = await demo_peer(relay.url, "mallory", token(1), name="carol")
            extra.append(p)
            assert ack["ok"] is False and "a demo peer's name is 'demo-peer'" in ack["error"]
            carol = await Peer(relay.url).connect()
            extra.append(carol)
            await carol.join("carol", "lab")
            # mallory's own demo peer takes nothing from alice's
            mdemo, ack = await demo_peer(relay.url, "mallory", token(1))
            extra.append(mdemo)
            assert ack["ok"], ack
            assert (await alice.call(P.INVITE, {"inviteToken": token(2)}))["ok"]
            ademo, ack = await demo_peer(relay.url, "alice", token(2))
            extra.append(ademo)
            assert ack["ok"], ack
            # a token lets in one demo peer: mallory's cannot bring a second name
            p, ack = await demo_peer(relay.url, "mallory", token(1), name="demo-peer-2")
            extra.append(p)
            assert ack["ok"] is False and "for another demo peer" in ack["error"], ack
            # nor a token from another room
            assert (await bob.call(P.INVITE, {"inviteToken": token(3)}))["ok"]
            p, ack = await demo_peer(relay.url, "bob", token(3), room="other")
            extra.append(p)
            assert ack["ok"] is False, ack
            # a summoner that leaves takes its demo peers along, and their tokens
            await mallory.call(P.LEAVE, {})
            left = await alice.wait_for(P.USER_LEFT, lambda e: e["username"] == "mallory")
            assert left
            await asyncio.wait_for(_until_disconnected(mdemo), 10)
            p, ack = await demo_peer(relay.url, "mallory", token(1))
            extra.append(p)
            assert ack["ok"] is False, ack
        finally:
            await close_all([alice, bob, mallory, *extra])

    run(scenario())


async def _until_disconnected(peer: Peer) -> None:
    while peer.sio.connected:
        await asyncio.sleep(0.05)


def test_hidden_members_cannot_fill_a_room_against_the_class(small_relay):
    async def scenario():
        peers = []
        try:
            squatter = await Peer(small_relay.url).connect()
            peers.append(squatter)
            await squatter.join("squatter", "class")
            for i in range(P.MAX_DEMO_PEERS):
                assert (await squatter.call(P.INVITE, {"inviteToken": token(i)}))["ok"]
                p, ack = await demo_peer(small_relay.url, "squatter", token(i), room="class",
                                      name="demo-peer" if i == 0 else f"demo-peer-{i + 1}")
                peers.append(p)
                assert ack["ok"], ack
            ack = await squatter.call(P.INVITE, {"inviteToken": token(99)})
            assert ack["ok"] is False and f"at most {P.MAX_DEMO_PEERS}" in ack["error"], ack
            # the cap (4) counts the class, not the hidden members
            for name in ("teacher", "alice", "bob"):
                p = await Peer(small_relay.url).connect()
                peers.append(p)
                ack = await p.join(name, "class")
            assert ack["hiddenInRoom"] == P.MAX_DEMO_PEERS
            assert [u["username"] for u in ack["usersInRoom"]] == \
                ["squatter", "teacher", "alice", "bob"]
            p = await Peer(small_relay.url).connect()
            peers.append(p)
            ack = await p.call(P.JOIN, {"username": "late", "roomId": "class"})
            assert ack == {"ok": False, "error": "room 'class' is full (4 members)"}
        finally:
            await close_all(peers)

    run(scenario())
