"""Attack mode: a real relay started with --attacks, real sessions through their public API.

In the room started with ``--attack lab`` Mallory is in the middle and both students chat
on, seeing nothing wrong until they compare their codes; each other attack, switched on
alone through the teacher's API, is caught by the clients and named. A relay started
without --attacks has no /mallory at all.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from ecc_widgets import crypto, envelope
from ecc_widgets import protocol as P
from ecc_widgets.mitm import ATTACKS
from ecc_widgets.session import DOWNGRADE, REORDERED, REPLAYED, TAMPERED, Session
from tests.support.mallory import TOKEN, call, room_state
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess
from tests.support.sessions import RawPeer, codes_ready, legacy_pair, texts


@pytest.fixture(scope="module")
def attack_relay() -> Iterator[RelayProcess]:
    server = RelayProcess("--attacks", "--attack", "lab",
                          env={"ECC_RELAY_ATTACK_TOKEN": TOKEN}).start()
    yield server
    server.stop()


@pytest.fixture
def sessions() -> Iterator[list[Session]]:
    made = [Session(), Session(), Session()]
    yield made
    for s in made:
        s.close()


def secure(a: Session, b: Session, room: str, url: str) -> None:
    a.join("alice", room, url)
    b.join("bob", room, url)
    wait_until(lambda: "bob" in a.peers and "alice" in b.peers, what="the roster")
    for s in (a, b):
        s.generate_keys()
    a.share_key("bob")
    wait_until(lambda: "secure" in a.peers["bob"].statuses
               and "secure" in b.peers["alice"].statuses, what="a secure pair")


def chat_both_ways(a: Session, b: Session) -> None:
    a.send("bob", "meet at noon")
    b.send("alice", "ok, at the library")
    wait_until(lambda: texts(b, "alice", "in") == ["meet at noon"]
               and texts(a, "bob", "in") == ["ok, at the library"], what="both messages")
    # the delivery ticks come back too: each sender holds the other's authenticated receipt
    wait_until(lambda: all(m.authenticated for s, peer in ((a, "bob"), (b, "alice"))
                           for m in s.conversations[peer] if m.direction == "out"),
               what="both receipts")


def test_mallory_in_the_middle_reads_everything_until_the_codes_are_compared(attack_relay,
                                                                            sessions):
    a, b, _ = sessions
    assert room_state(attack_relay.url, "lab")["attacks"]["mitm"]   # from --attack lab
    secure(a, b, "lab", attack_relay.url)
    chat_both_ways(a, b)
    seen = room_state(attack_relay.url, "lab")
    assert sorted(seen["members"]) == ["alice", "bob"]
    # (the two were sent at once from two clients: either may reach the relay first)
    assert sorted((e["from"], e["to"], e["text"], e["attack"])
                  for e in seen["intercepted"]) == [
        ("alice", "bob", "meet at noon", "mitm"), ("bob", "alice", "ok, at the library", "mitm")]
    # nothing looked wrong to either student...
    assert all(m.status != "rejected" for s, p in ((a, "bob"), (b, "alice"))
               for m in s.conversations[p])
    # ...until they compare: two different keys, so different numbers and emoji
    wait_until(lambda: codes_ready(a, b), what="both short codes")
    alice_view, bob_view = a.peers["bob"], b.peers["alice"]
    assert alice_view.sas_status == bob_view.sas_status == "done"
    assert alice_view.safety_number and bob_view.safety_number
    assert alice_view.safety_number != bob_view.safety_number
    assert alice_view.sas != bob_view.sas

    # Mallory may also rewrite the next message
    status, _ = call(attack_relay.url, "/mallory/api/edit",
                     {"room": "lab", "replace": "change of plan: meet at the station"})
    assert status == 200
    a.send("bob", "see you there")
    wait_until(lambda: len(texts(b, "alice", "in")) == 2, what="the edited message")
    assert texts(b, "alice", "in")[1] == "change of plan: meet at the station"
    last = room_state(attack_relay.url, "lab")["intercepted"][-1]
    assert (last["text"], last["edited"]) == ("see you there", True)


def test_mallory_runs_two_ratchets_and_reads_every_dh_step(attack_relay, sessions):
    # The pair speaks the Double Ratchet: each reply is a DH step, each with Mallory, who
    # keeps a ratchet with each side and reads every message.
    a, b, _ = sessions
    secure(a, b, "lab", attack_relay.url)
    script = [(a, b, "bob", "alice", f"alice {i}") if i % 2 == 0 else
              (b, a, "alice", "bob", f"bob {i}") for i in range(6)]
    for sender, receiver, to, name, text in script:
        sender.send(to, text)
        wait_until(lambda r=receiver, n=name, t=text: t in texts(r, n, "in"),
                   what=f"{text!r} delivered")
    received = [m for m in b.conversations["alice"] if m.direction == "in"]
    assert all(json.loads(m.associated_data)["v"] == envelope.RATCHET.number
               for m in received)
    seen = [e["text"] for e in room_state(attack_relay.url, "lab")["intercepted"]
            if e["attack"] == "mitm"]
    assert seen[-6:] == [text for *_, text in script]
    assert all(m.status != "rejected" for s, p in ((a, "bob"), (b, "alice"))
               for m in s.conversations[p])
    wait_until(lambda: codes_ready(a, b), what="both short codes")
    assert a.peers["bob"].sas != b.peers["alice"].sas   # only the codes tell


def test_another_room_on_the_same_relay_is_left_alone(attack_relay, sessions):
    a, b, _ = sessions
    secure(a, b, "honest", attack_relay.url)
    chat_both_ways(a, b)
    assert a.peers["bob"].safety_number == b.peers["alice"].safety_number
    wait_until(lambda: codes_ready(a, b), what="both short codes")
    assert a.peers["bob"].sas is not None and a.peers["bob"].sas == b.peers["alice"].sas
    seen = room_state(attack_relay.url, "honest")
    assert sorted(seen["members"]) == ["alice", "bob"] and seen["intercepted"] == []
    assert not any(seen["attacks"].values())


def switch(url: str, room: str, attack: str, on: bool = True) -> None:
    status, body = call(url, "/mallory/api/attack", {"room": room, "attack": attack, "on": on})
    assert status == 200 and body["ok"] and body["attacks"][attack] is on


def rejected(session: Session, peer: str) -> list:
    return [m for m in session.conversations.get(peer, ()) if m.status == "rejected"]


@pytest.mark.parametrize("attack,reason", [("replay", REPLAYED), ("bitflip", TAMPERED)])
def test_rewritten_ciphertext_is_rejected_and_named(attack_relay, sessions, attack, reason):
    a, b, _ = sessions
    room = f"room-{attack}"
    secure(a, b, room, attack_relay.url)
    switch(attack_relay.url, room, attack)
    count = 4 if attack == "bitflip" else 1   # bitflip: ciphertext, nonce, tag, then seq
    for i in range(count):
        a.send("bob", f"message {i}")
    wait_until(lambda: len(rejected(b, "alice")) == count, what="the rejections")
    assert all(m.reason.startswith(reason) and not m.plaintext and not m.authenticated
               for m in rejected(b, "alice"))
    genuine = texts(b, "alice", "in")
    assert genuine == (["message 0"] if attack == "replay" else [])
    assert b.peers["alice"].rejected == count


def test_reorder_is_shown_as_reordered(attack_relay, sessions):
    a, b, _ = sessions
    secure(a, b, "room-reorder", attack_relay.url)
    switch(attack_relay.url, "room-reorder", "reorder")
    a.send("bob", "first")
    a.send("bob", "second")
    wait_until(lambda: len(texts(b, "alice", "in")) == 2, what="both messages")
    got = [m for m in b.conversations["alice"] if m.direction == "in"]
    assert [m.plaintext for m in got] == ["second", "first"]
    assert got[1].reason.startswith(REORDERED) and not got[0].reason


def test_a_dropped_message_stays_unconfirmed(attack_relay, sessions):
    a, b, _ = sessions
    secure(a, b, "room-drop", attack_relay.url)
    switch(attack_relay.url, "room-drop", "drop")
    sent = a.send("bob", "you will never see this")
    wait_until(lambda: room_state(attack_relay.url, "room-drop")["intercepted"], what="a drop")
    switch(attack_relay.url, "room-drop", "drop", on=False)
    a.send("bob", "but this one")
    wait_until(lambda: texts(b, "alice", "in") == ["but this one"], what="the next message")
    wait_until(lambda: a.conversations["bob"][1].authenticated, what="its receipt")
    assert not next(m for m in a.conversations["bob"] if m.id == sent.id).authenticated


def test_strip_cannot_make_a_pair_secure_in_the_seed_format(attack_relay, sessions):
    a, b, _ = sessions
    room = "room-strip"
    switch(attack_relay.url, room, "strip")
    a.join("alice", room, attack_relay.url)
    b.join("bob", room, attack_relay.url)
    wait_until(lambda: "bob" in a.peers and "alice" in b.peers, what="the roster")
    for s in (a, b):
        s.generate_keys()
    a.share_key("bob")
    wait_until(lambda: "legacy offered" in b.peers["alice"].statuses
               and "legacy offered" in a.peers["bob"].statuses, what="the downgraded offers")
    assert "secure" not in b.peers["alice"].statuses and "secure" not in a.peers["bob"].statuses
    # a pair already on v1 refuses a message passed off as the seed's
    a2, b2, _ = Session(), Session(), None
    try:
        secure(a2, b2, "room-strip-later", attack_relay.url)
        switch(attack_relay.url, "room-strip-later", "strip")
        a2.send("bob", "downgrade me")
        wait_until(lambda: rejected(b2, "alice"), what="the rejection")
        assert rejected(b2, "alice")[0].reason.startswith(DOWNGRADE)
        assert texts(b2, "alice", "in") == []
    finally:
        a2.close()
        b2.close()


def test_a_redirected_message_is_rejected_by_the_third_member(attack_relay, sessions):
    a, b, c = sessions
    room = "room-redirect"
    secure(a, b, room, attack_relay.url)
    c.join("carol", room, attack_relay.url)
    wait_until(lambda: "carol" in a.peers and "alice" in c.peers, what="carol")
    c.generate_keys()
    a.share_key("carol")
    wait_until(lambda: "secure" in c.peers["alice"].statuses, what="alice and carol")
    switch(attack_relay.url, room, "redirect")
    a.send("bob", "for bob's eyes only")
    wait_until(lambda: rejected(c, "alice"), what="carol's rejection")
    assert rejected(c, "alice")[0].reason.startswith(TAMPERED)
    assert texts(c, "alice", "in") == [] and texts(b, "alice", "in") == []


def test_mallory_reads_a_seed_protocol_peer_and_the_seed_cannot_tell(attack_relay, sessions):
    session = sessions[0]
    session.join("alice", "lab-seed", attack_relay.url)
    seed = RawPeer(attack_relay.url, "browser", "lab-seed")
    try:
        switch(attack_relay.url, "lab-seed", "mitm")
        wait_until(lambda: "browser" in session.peers, what="the seed peer")
        session.generate_keys()
        key = legacy_pair(session, seed)
        wait_until(lambda: seed.received(P.RECEIVE_PUBLIC_KEY), what="the session's answer")
        answer = seed.received(P.RECEIVE_PUBLIC_KEY)[-1]
        assert answer["publicKey"]["x"] != session.public_jwk["x"]   # Mallory's key
        # the seed derives its raw ECDH key with what arrived: Mallory's
        message_key = crypto.seed_message_key(
            crypto.ecdh(key, crypto.public_key_from_jwk(answer["publicKey"])))
        sealed = crypto.encrypt(message_key, b"my password is hunter2")
        seed.emit(P.SEND_MESSAGE, {"encryptedMessage": crypto.b64encode(sealed.ciphertext),
                                   "iv": crypto.b64encode(sealed.nonce),
                                   "tag": crypto.b64encode(sealed.tag),
                                   "targetSocketId": session.my_id})
        wait_until(lambda: texts(session, "browser", "in") == ["my password is hunter2"],
                   what="the seed's message, through Mallory")
        session.send("browser", "got it")
        wait_until(lambda: seed.received(P.RECEIVE_MESSAGE), what="the reply")
        wire = seed.received(P.RECEIVE_MESSAGE)[0]
        plain = crypto.decrypt(message_key, crypto.b64decode(wire["encryptedMessage"]),
                               crypto.b64decode(wire["iv"]), crypto.b64decode(wire["tag"]))
        assert plain == b"got it"   # the seed's check passes: it cannot tell
        assert [e["text"] for e in room_state(attack_relay.url, "lab-seed")["intercepted"]] \
            == ["my password is hunter2", "got it"]
    finally:
        seed.close()


def test_the_api_wants_the_token_and_checks_what_it_is_given(attack_relay):
    url = attack_relay.url
    for token in (None, "wrong", TOKEN + "x"):
        assert call(url, "/mallory/api/state", token=token)[0] == 403
        assert call(url, "/mallory/api/attack", {"room": "lab", "attack": "drop", "on": True},
                    token=token)[0] == 403
        assert call(url, "/mallory/api/edit", {"room": "lab", "replace": "x"},
                    token=token)[0] == 403
    assert not room_state(url, "lab")["attacks"]["drop"]
    assert call(url, "/mallory/api/attack", {"room": "lab", "attack": "nuke", "on": True})[0] \
        == 400
    assert call(url, "/mallory/api/attack", {"room": "lab", "attack": "drop", "on": 1})[0] == 400
    assert call(url, "/mallory/api/edit", {"room": "", "replace": None})[0] == 400
    with urllib.request.urlopen(url + "/mallory", timeout=5) as resp:
        page = resp.read().decode()
        assert "Mallory" in page and "innerHTML" not in page
        policy = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self';" in policy  # no inline
        assert "<style" not in page and 'href="/mallory/mallory.css"' in page
    with urllib.request.urlopen(url + "/mallory/mallory.js", timeout=5) as resp:
        assert "innerHTML" not in resp.read().decode()
    with urllib.request.urlopen(url + "/mallory/mallory.css", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/css") and b".room" in resp.read()


def test_a_room_token_opens_that_room_and_no_other(attack_relay, sessions):
    url = attack_relay.url
    status, answer = call(url, "/mallory/api/room-token", {"room": "scoped"})
    assert status == 200 and answer["link"] == f"/mallory#token={answer['token']}"
    student_mallory = answer["token"]
    assert call(url, "/mallory/api/state")[1]["scope"] == "all"
    # the class chats in another room, where the teacher has Mallory in the middle
    assert call(url, "/mallory/api/attack", {"room": "side", "attack": "mitm", "on": True}
                )[0] == 200
    a, b, _ = sessions
    secure(a, b, "side", url)
    chat_both_ways(a, b)
    assert sorted(e["text"] for e in room_state(url, "side")["intercepted"]) == \
        ["meet at noon", "ok, at the library"]   # both ways at once: either order
    status, state = call(url, "/mallory/api/state", token=student_mallory)
    assert status == 200 and state["scope"] == "scoped"
    assert list(state["rooms"]) == ["scoped"] and not state["rooms"]["scoped"]["intercepted"]
    for path, body in (("/mallory/api/attack", {"room": "side", "attack": "drop", "on": True}),
                       ("/mallory/api/edit", {"room": "side", "replace": "x"}),
                       ("/mallory/api/room-token", {"room": "side"}),
                       ("/mallory/api/room-token", {"room": "scoped"})):
        assert call(url, path, body, token=student_mallory)[0] == 403, path
    assert not room_state(url, "side")["attacks"]["drop"]
    assert call(url, "/mallory/api/attack", {"room": "scoped", "attack": "drop", "on": True},
                token=student_mallory)[0] == 200
    assert room_state(url, "scoped")["attacks"]["drop"]
    # a token for another room made from this one's code is refused
    _, name, mac = student_mallory.split(".")
    forged = "room." + base64.urlsafe_b64encode(b"side").decode().rstrip("=") + "." + mac
    assert call(url, "/mallory/api/state", token=forged)[0] == 403
    assert call(url, "/mallory/api/attack", {"room": "scoped", "attack": "drop", "on": False}
                )[0] == 200


def test_a_relay_without_attack_mode_has_no_mallory(sessions):
    server = RelayProcess(env={"ECC_RELAY_ATTACK_TOKEN": TOKEN}).start()
    try:
        for path in ("/mallory", "/mallory/mallory.js", "/mallory/mallory.css",
                     "/mallory/api/state"):
            assert call(server.url, path)[0] == 404
        for path, body in (("/mallory/api/attack", {"room": "lab", "attack": a, "on": True})
                           for a in ATTACKS):
            assert call(server.url, path, body)[0] == 404
        assert call(server.url, "/mallory/api/edit", {"room": "lab", "replace": "x"})[0] == 404
        # and a conversation in "lab" (the room attack mode would take) is end to end
        a, b, _ = sessions
        secure(a, b, "lab", server.url)
        chat_both_ways(a, b)
        assert a.peers["bob"].safety_number == b.peers["alice"].safety_number
    finally:
        server.stop()


def test_attack_mode_is_refused_with_redis():
    done = subprocess.run([sys.executable, "-m", "relay", "--attack", "lab", "--redis-url",
                           "redis://127.0.0.1:1/0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "single relay process" in done.stderr
