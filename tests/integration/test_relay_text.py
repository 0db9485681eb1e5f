"""Text a hostile client sends the relay: refused with a clear error, never passed on.

A raw Socket.IO frame carries the JSON escape of a lone surrogate, as an attacker would
write it by hand (a client library's encoder may refuse to produce it).
"""

from __future__ import annotations

from ecc_widgets import protocol as P
from tests.support.peers import Peer, RawSocket, run


def test_a_lone_surrogate_in_a_name_is_refused_and_reaches_nobody(relay):
    async def scenario():
        alice = await Peer(relay.url).connect()
        raw = await RawSocket(relay.url).connect()
        try:
            await alice.join("alice", "lab")
            await raw.send('421["join",{"username":"\\ud800mallory","roomId":"lab"}]')
            ack = await raw.wait_ack(1)
            assert ack == {"ok": False, "error": "join: 'username' contains a lone UTF-16 "
                                                 "surrogate, which is not text (U+D800)"}
            await raw.send('42["processing-step",{"step":"x\\ud800"}]')   # not joined
            await raw.send('422["join",{"username":"mallory","roomId":"\\u202elab"}]')
            assert "invisible or direction-changing character (U+202E)" in \
                (await raw.wait_ack(2))["error"]
            assert relay.health()["users"] == 1
            assert await raw.call(P.JOIN, {"username": "mallory", "roomId": "lab"}, ack=3)
            await raw.send('424["processing-step",{"step":"s","details":{"a":"\\udfff"}}]')
            assert "'details' contains a lone UTF-16 surrogate" in \
                (await raw.wait_ack(4))["error"]
            deep = "[" * 900 + "]" * 900
            await raw.send(f'425["processing-step",{{"step":"s","details":{deep}}}]')
            assert "nested deeper than 4 levels" in (await raw.wait_ack(5))["error"]
            await raw.send('426["processing-step",{"step":"ok","details":{"n":1}}]')
            assert (await raw.wait_ack(6))["ok"]
            steps = await alice.wait_for(P.PEER_PROCESSING_STEP)
            assert [s["step"] for s in steps] == ["ok"]   # nothing refused reached alice
            for event, payload in alice.events:
                P.validate(event, payload)   # all of it displayable
        finally:
            await alice.close()
            await raw.close()
    run(scenario())


def test_names_that_look_like_bob_cannot_join_beside_bob(relay):
    async def scenario():
        bob = await Peer(relay.url).connect()
        other = await Peer(relay.url).connect()
        try:
            await bob.join("bob", "lab")
            for twin, reason in [("bob ", "the name 'bob' is already taken in room 'lab'"),
                                 ("\uff42\uff4f\uff42", "the name 'bob' is already taken"),
                                 ("bob\u200b", "invisible or direction-changing character "
                                               "(U+200B)"),
                                 ("b\u043eb", "mixes Latin and Cyrillic letters"),
                                 ("relay", "reserved for the app's own messages")]:
                ack = await other.call(P.JOIN, {"username": twin, "roomId": "lab"})
                assert ack["ok"] is False and reason in ack["error"], (twin, ack)
            assert relay.health()["users"] == 1
            ack = await other.join(" al  ice ", " lab ")
            assert (ack["username"], ack["roomId"]) == ("al ice", "lab")
            assert [u["username"] for u in ack["usersInRoom"]] == ["bob", "al ice"]
        finally:
            await bob.close()
            await other.close()
    run(scenario())


def test_names_wholly_in_another_script_cannot_join_beside_the_latin_name(relay):
    async def scenario():
        holders = [await Peer(relay.url).connect() for _ in range(4)]
        twins = [await Peer(relay.url).connect() for _ in range(4)]
        try:
            for peer, name in zip(holders, ("alice", "joe", "eve", "ECC"), strict=True):
                await peer.join(name, "lab")
            for peer, twin in zip(twins, ("\u0430\u04cf\u0456\u0441\u0435", "\u0458\u043e\u0435",
                                          "\u0435\u0475\u0435", "\u0415\u0421\u0421"),
                                  strict=True):
                ack = await peer.call(P.JOIN, {"username": twin, "roomId": "lab"})
                assert ack["ok"] is False and "already taken" in ack["error"], (twin, ack)
            ack = await twins[0].join("\u0411\u043e\u0440\u0438\u0441", "lab")   # Борис
            assert len(ack["usersInRoom"]) == 5
        finally:
            for peer in holders + twins:
                await peer.close()
    run(scenario())
