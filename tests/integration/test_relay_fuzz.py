"""Thousands of malformed events from many clients while a well-behaved pair keeps chatting."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from ecc_widgets import protocol as P
from tests.support.peers import JWK, Peer, RawSocket, message, pair, run

FUZZERS = 12
EVENTS_EACH = 250            # 3,000 malformed events in all
CHAT = 200                   # messages each way for the good pair


def bad_payloads(rng: random.Random, target: str) -> list:
    deep = "[" * 3000 + "]" * 3000
    return [
        None, 0, -1, 2**70, 3.5, True, "", "x" * rng.randint(1, 300), [], [1, [2, [3]]],
        {"username": rng.choice([None, 1, "", " ", "\u0000", "a" * 100, ["x"]]),
         "roomId": rng.choice([None, {}, "", "lab", "r" * 65])},
        {"curve": rng.choice([None, 5, "", "P-256; DROP", "\ud800", "c" * 40])},
        {"publicKey": rng.choice([None, "jwk", {}, {**JWK, "d": "x"}, {**JWK, "x": "!!"},
                                  {"kty": "OKP"}, {**JWK, "crv": 256}]),
         "targetSocketId": rng.choice([None, target, "", 5, "nobody"]),
         "isReply": rng.choice([None, "yes", 1, []])},
        {**message(target), rng.choice(["encryptedMessage", "iv", "tag"]):
            rng.choice([None, 7, "***", "abc", "A" * 33, {"b": 1}])},
        {**message(target), "targetSocketId": rng.choice([None, "", "nobody", 9])},
        {**message(target), **{f"extra{i}": i for i in range(20)}},
        {"step": rng.choice([None, "", 3, "s" * 201]), "details": {"nested": [1, 2]}},
        {"a": "b" * rng.choice([10, P.MAX_EVENT_BYTES + 10])},
        json.loads(deep[:200] + deep[-200:]),
    ]


def raw_packets(rng: random.Random) -> list[str | bytes]:
    return [
        "42" + "".join(rng.choice("[]{}\",:0123456789abc") for _ in range(rng.randint(0, 40))),
        "42[" + "[" * 5000 + "]" * 5000 + "]",
        "42" + '"just a string"', "42{}", "42null", "42[]", "42[7, {}]", "42[null]",
        "42999999999999999999999[\"join\", {}]", "42/other,[\"join\", {}]",
        "43[\"not an ack we asked for\"]", "4x", "46[]", "45-[]", "40", "4",
        bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))),
    ]


async def fuzzer(url: str, seed: int, targets: list[str]) -> tuple[list[int], RawSocket]:
    """Send malformed events; return the ack ids asked for, and the socket."""
    rng = random.Random(seed)
    sock = await RawSocket(url).connect()
    joined = await sock.call(P.JOIN, {"username": f"fuzz-{seed}", "roomId": "lab"}, ack=0)
    assert joined["ok"]
    asked = []
    # not `leave`: the fuzzers stay in the room, so room broadcasts are fuzzed too
    names = [e for e in P.CLIENT_EVENTS if e != P.LEAVE]
    names += ["", "user-joined", "connect", "disconnect", "x" * 100]
    for i in range(1, EVENTS_EACH + 1):
        kind = rng.random()
        if kind < 0.7:
            payload = rng.choice(bad_payloads(rng, rng.choice(targets)))
            await sock.emit(rng.choice(names), payload, ack=i)
            asked.append(i)
        elif kind < 0.9:
            await sock.send(rng.choice(raw_packets(rng)))
        else:
            await sock.emit(rng.choice(names), rng.choice(bad_payloads(rng, "nobody")))
        if i % 50 == 0:
            await asyncio.sleep(0)
    return asked, sock


@pytest.mark.lean_transport  # malformed packets are the lean transport's to read
def test_fuzz_while_a_pair_keeps_chatting(relay):
    async def scenario():
        alice, bob = await pair(relay.url)
        targets = [alice.sid, bob.sid]

        async def chat(sender: Peer, receiver: Peer) -> list[dict]:
            acks = []
            for seq in range(CHAT):
                acks.append(await sender.call(P.SEND_MESSAGE, message(receiver.sid, seq=seq)))
            return acks

        fuzz = [fuzzer(relay.url, seed, targets) for seed in range(FUZZERS)]
        results = await asyncio.gather(chat(alice, bob), chat(bob, alice), *fuzz)
        try:
            for acks in results[:2]:
                assert all(a["ok"] for a in acks)
            got_bob = await bob.wait_for(P.RECEIVE_MESSAGE, lambda m: m["fromSocketId"] ==
                                         alice.sid, count=CHAT)
            got_alice = await alice.wait_for(P.RECEIVE_MESSAGE, lambda m: m["fromSocketId"] ==
                                             bob.sid, count=CHAT)
            assert [m["seq"] for m in got_bob] == list(range(CHAT))
            assert [m["seq"] for m in got_alice] == list(range(CHAT))
            total = 0
            for asked, sock in results[2:]:
                # every event that asked for an answer got one; nearly all are errors
                acks = [await sock.wait_ack(i) for i in asked]
                errors = [a for a in acks if a["ok"] is False and a["error"]]
                assert len(errors) > 0.9 * len(acks)
                assert all(a["ok"] is True for a in acks if a not in errors)
                total += len(asked)
            assert total > FUZZERS * EVENTS_EACH // 2
            health = relay.health()
            assert health["ok"] and health["users"] == 2 + FUZZERS
            # the fuzzers' connections live on: each can still talk
            for _, sock in results[2:]:
                assert not sock.closed.is_set()
                assert (await sock.call(P.KEYS_GENERATED, {}, ack=10**6))["ok"]
        finally:
            for _, sock in results[2:]:
                await sock.close()
            await alice.close()
            await bob.close()
    run(scenario())
