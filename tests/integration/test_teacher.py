"""The teacher's console on one relay: off is 404, its token (and only its token) opens it,
every action works and is refused without the token, reports are bound to their sender,
and Mallory goes in and out of one chosen pair."""

from __future__ import annotations

import re
import urllib.request

import pytest

from ecc_widgets import protocol as P
from ecc_widgets.session import Session
from tests.support.mallory import TOKEN as ATTACK_TOKEN
from tests.support.mallory import call
from tests.support.peers import JWK
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess
from tests.support.sessions import RawPeer, pair_up
from tests.support.teacher import CONSOLE_TOKEN, class_view, console, students

ENV = {"ECC_RELAY_TEACHER_TOKEN": CONSOLE_TOKEN}
HOSTILE = ["<img src=x onerror=alert(1)>", "$\\text{pwned}$", "Robert'); DROP TABLE--"]


@pytest.fixture
def console_relay(tmp_path):
    server = RelayProcess("--teacher", env=ENV, log=tmp_path / "relay.log").start()
    yield server
    server.stop()


@pytest.fixture
def peers():
    made: list[RawPeer] = []
    yield made
    for peer in made:
        peer.close()


def status_of(url: str, method: str = "GET", headers: dict | None = None) -> int:
    request = urllib.request.Request(url, method=method, headers=headers or {},
                                     data=b"{}" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_every_teacher_path_is_404_without_the_flag(relay):
    for path in ("/teacher", "/teacher/teacher.js", "/teacher/api/rooms", "/teacher/api/log"):
        assert status_of(relay.url + path) == 404, path
    for action in ("lock", "remove", "clear", "notice", "mallory"):
        assert status_of(relay.url + "/teacher/api/" + action, "POST",
                         {"Authorization": f"Bearer {CONSOLE_TOKEN}"}) == 404, action


def test_a_generated_token_is_printed_as_a_fragment_and_opens_the_console(tmp_path):
    log = tmp_path / "relay.log"
    server = RelayProcess("--teacher", log=log).start()
    try:
        printed = wait_until(lambda: re.search(r"/teacher#token=([\w-]+)", log.read_text()),
                             what="the console's address on standard output")
        token = printed.group(1)
        assert len(token) >= 22
        assert console(server.url, "rooms", token=token)[0] == 200
        assert console(server.url, "rooms", token=token[:-1])[0] == 401
        assert console(server.url, "rooms", token=None)[0] == 401
    finally:
        server.stop()
    # the token never reaches the log lines (only the one printed address)
    assert log.read_text().count(token) == 1


def test_the_console_and_attack_mode_each_open_with_their_own_token_only():
    server = RelayProcess("--teacher", "--attacks",
                          env={**ENV, "ECC_RELAY_ATTACK_TOKEN": ATTACK_TOKEN}).start()
    try:
        assert console(server.url, "rooms")[0] == 200
        assert console(server.url, "rooms", token=ATTACK_TOKEN)[0] == 401
        assert call(server.url, "/mallory/api/state", token=ATTACK_TOKEN)[0] == 200
        assert call(server.url, "/mallory/api/state", token=CONSOLE_TOKEN)[0] == 403
    finally:
        server.stop()
    same = RelayProcess("--teacher", "--attacks",
                        env={"ECC_RELAY_TEACHER_TOKEN": CONSOLE_TOKEN,
                             "ECC_RELAY_ATTACK_TOKEN": CONSOLE_TOKEN})
    with pytest.raises(RuntimeError, match="exited"):
        same.start()   # one token for both is refused at start-up
    same.stop()


def test_the_page_loads_nothing_from_elsewhere_under_a_strict_policy(console_relay):
    for path in ("/teacher", "/teacher/teacher.js", "/teacher/teacher.css"):
        with urllib.request.urlopen(console_relay.url + path, timeout=5) as resp:
            policy = resp.headers["Content-Security-Policy"]
            body = resp.read().decode()
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe" not in policy and "frame-ancestors 'none'" in policy
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert "http:" not in body and "https:" not in body and "//" not in body.replace(
            "// ", "")
        assert "innerHTML" not in body and "insertAdjacentHTML" not in body


def test_wrong_tokens_are_rate_limited_per_address(console_relay):
    codes = [console(console_relay.url, "rooms", token=f"guess-{i}")[0] for i in range(12)]
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]
    # while limited, even the right token is refused (nothing to learn by timing it)
    assert console(console_relay.url, "rooms")[0] == 429


def test_every_action_works_and_is_refused_without_the_token(console_relay, peers):
    url = console_relay.url
    alice, bob, carol = (RawPeer(url, n, "lab") for n in ("alice", "bob", "carol"))
    peers += [alice, bob, carol]
    dave = RawPeer(url, "dave", "other")
    peers.append(dave)
    wait_until(lambda: set(students(url, "lab")) == {"alice", "bob", "carol"},
               what="the room on the console")

    bodies = {"notice": {"room": "lab", "text": "pens down"},
              "lock": {"room": "lab", "locked": True},
              "remove": {"room": "lab", "socketId": bob.sid, "reason": "wrong room"},
              "clear": {"room": "lab"}}
    for action, body in bodies.items():   # without the token (or with a wrong one): nothing
        assert console(url, action, body, token=None)[0] == 401
        assert console(url, action, body, token="not-the-token-at-all")[0] == 401
    assert not alice.received(P.TEACHER_NOTICE)
    assert class_view(url)["rooms"]["lab"]["locked"] is False
    assert set(students(url, "lab")) == {"alice", "bob", "carol"}

    # a notice: every page in the room shows it, no other room's
    assert console(url, "notice", bodies["notice"]) == (200, {"ok": True, "room": "lab",
                                                              "members": 3})
    for peer in (alice, bob, carol):
        wait_until(lambda p=peer: p.received(P.TEACHER_NOTICE), what="the notice")
        assert P.validate(P.TEACHER_NOTICE, peer.received(P.TEACHER_NOTICE)[0]) == {
            "kind": "notice", "text": "pens down", "roomId": "lab"}
    assert not dave.received(P.TEACHER_NOTICE)
    assert console(url, "notice", {"room": "lab", "text": "a\u202eb"})[0] == 400

    # lock: no new member; unlock: in again
    assert console(url, "lock", bodies["lock"])[0] == 200
    assert class_view(url)["rooms"]["lab"]["locked"] is True
    erin = RawPeer(url, "erin", "other")
    peers.append(erin)
    refused = erin.emit(P.JOIN, {"username": "erin", "roomId": "lab"})
    assert refused["ok"] is False and "locked" in refused["error"]
    assert console(url, "lock", {"room": "lab", "locked": False})[0] == 200
    assert erin.emit(P.JOIN, {"username": "erin", "roomId": "lab"})["ok"]

    # remove: bob's page is told why, the room sees him go, his name stays out
    assert console(url, "remove", bodies["remove"])[0] == 200
    wait_until(lambda: any(n["kind"] == "removed" for n in bob.received(P.TEACHER_NOTICE)),
               what="bob told he was removed")
    removed = [n for n in bob.received(P.TEACHER_NOTICE) if n["kind"] == "removed"][0]
    assert removed["text"] == "the teacher removed you from the room: wrong room"
    wait_until(lambda: any(e["username"] == "bob" for e in alice.received(P.USER_LEFT)),
               what="bob gone from alice's roster")
    again = bob.emit(P.JOIN, {"username": "bob", "roomId": "lab"})
    assert again["ok"] is False and "removed" in again["error"]
    assert "bob" not in students(url, "lab")
    assert console(url, "remove", {"room": "lab", "socketId": bob.sid})[0] == 404

    # clear: everyone out, told why; the room's removals are forgiven
    assert console(url, "clear", bodies["clear"])[0] == 200
    for peer in (alice, carol, erin):
        wait_until(lambda p=peer: any(n["kind"] == "cleared"
                                      for n in p.received(P.TEACHER_NOTICE)),
                   what="the room cleared")
    wait_until(lambda: "lab" not in class_view(url)["rooms"], what="an empty room")
    assert set(students(url, "other")) == {"dave"}
    assert bob.emit(P.JOIN, {"username": "bob", "roomId": "lab"})["ok"]

    # each action is in the relay's log and the console's, without the notice's words
    status, log = console(url, "log")
    assert status == 200
    assert [a["action"] for a in log["actions"]] == ["notice", "lock", "unlock", "remove",
                                                    "clear"]
    text = (console_relay.log).read_text()
    assert text.count("teacher console:") == 5
    assert "pens down" not in text and "wrong room" not in text


def test_a_report_is_only_about_the_senders_own_pairs(console_relay, peers):
    url = console_relay.url
    alice, bob, carol = (RawPeer(url, n, "lab") for n in ("alice", "bob", "carol"))
    peers += [alice, bob, carol]
    outsider = RawPeer(url, "mallet", "elsewhere")
    peers.append(outsider)
    assert alice.emit(P.SHARE_PUBLIC_KEY, {"publicKey": JWK, "targetSocketId": bob.sid,
                                           "v": 1})["ok"]
    assert bob.emit(P.SHARE_PUBLIC_KEY, {"publicKey": JWK, "targetSocketId": alice.sid,
                                         "isReply": True, "v": 1})["ok"]
    good = {"peerSocketId": bob.sid, "result": "differ", "verified": False}
    # carol has no pair with bob: she cannot report on alice and bob's, nor on her own
    # sid, nor name anyone, nor add free text; an outsider cannot reach the room at all
    refusals = [
        (carol, good),
        (carol, {**good, "peerSocketId": alice.sid}),
        (carol, {**good, "peerSocketId": carol.sid}),
        (carol, {**good, "from": "alice"}),
        (alice, {**good, "note": "free text"}),
        (alice, {**good, "result": "they match"}),
        (alice, {**good, "verified": "yes"}),
        (alice, {**good, "peerSocketId": "<b>x</b>"}),
        (outsider, good),
    ]
    for sender, payload in refusals:
        ack = sender.emit(P.CODE_COMPARED, payload)
        assert ack["ok"] is False and ack["error"].startswith("code-compared:"), (payload, ack)
    view = students(url, "lab")
    assert all(p["code"] == "pending" for s in view.values() for p in s["pairs"])

    assert alice.emit(P.CODE_COMPARED, good) == {"ok": True}
    view = wait_until(lambda: (v := students(url, "lab"))["alice"]["pairs"][0]["code"]
                      == "differ" and v, what="alice's report on the console")
    assert view["alice"]["pairs"][0]["keys"] == "exchanged"
    assert view["bob"]["pairs"][0]["code"] == "pending"    # bob's own word, not alice's
    assert view["carol"]["pairs"] == []


def test_hostile_names_come_back_as_they_were_typed(console_relay, peers):
    url = console_relay.url
    for name in HOSTILE:
        peers.append(RawPeer(url, name, "lab"))
    assert set(students(url, "lab")) == set(HOSTILE)


def test_sessions_report_and_mallory_goes_in_and_out_of_one_pair(sessions):
    server = RelayProcess("--teacher", "--attacks",
                          env={**ENV, "ECC_RELAY_ATTACK_TOKEN": ATTACK_TOKEN}).start()
    try:
        alice, bob, carol = Session(), Session(), Session()
        sessions += [alice, bob, carol]
        pair_up(alice, bob, server.url, "lab")
        carol.join("carol", "lab", server.url)
        carol.generate_keys()
        wait_until(lambda: all("secure" in getattr(carol.peers.get(n), "statuses", ())
                               for n in ("alice", "bob")), what="carol's keys with both")
        wait_until(lambda: class_view(server.url)["rooms"]["lab"]["totals"]["pairs"] == 3,
                   what="three pairs on the console")
        alice.set_verified("bob", True)   # a genuine pair, verified: no Mallory
        view = wait_until(lambda: (v := students(server.url, "lab"))["alice"]["verified"]
                          and v, what="alice verified on the console")
        row = {p["peer"]: p for p in view["alice"]["pairs"]}
        assert row["bob"] == {**row["bob"], "keys": "exchanged", "code": "match",
                              "verified": True, "mallory": False, "outcome": ""}
        assert view["alice"]["client"] == "v2" and view["alice"]["reports"]
        assert view["alice"]["fingerprint"] and view["alice"]["curve"]

        # Mallory into alice and bob's pair only, from their next key share
        assert console(server.url, "mallory", {"room": "lab", "pair": ["alice", "bob"],
                                               "on": True})[0] == 200
        alice.share_key("bob")
        wait_until(lambda: any(p["mallory"] for p in students(server.url, "lab")["alice"]
                               ["pairs"] if p["peer"] == "bob"), what="Mallory in the middle")
        carol.share_key("alice")   # carol's pair stays genuine
        wait_until(lambda: "key changed" in bob.peers["alice"].statuses,
                   what="bob sees a new key")
        alice.report_mismatch("bob")      # the codes differ: caught
        bob.set_verified("alice", True)   # bob pressed "They match": fooled
        view = wait_until(lambda: (v := students(server.url, "lab"))["bob"]["pairs"]
                          and any(p["outcome"] == "fooled" for p in v["bob"]["pairs"]) and v,
                          what="both outcomes")
        outcome = {(s, p["peer"]): (p["mallory"], p["outcome"])
                   for s, row in view.items() for p in row["pairs"]}
        assert outcome[("alice", "bob")] == (True, "caught")
        assert outcome[("bob", "alice")] == (True, "fooled")
        assert outcome[("alice", "carol")] == (False, "")
        room = class_view(server.url)
        assert room["rooms"]["lab"]["totals"]["caught"] == 1    # a pair, counted once
        assert room["debrief"]["text"].startswith("1 of 3 pairs compared codes; 1 caught")
        assert "alice" not in str(room["debrief"])    # anonymised

        # and out again: the next genuine key share takes her out
        assert console(server.url, "mallory", {"room": "lab", "pair": ["bob", "alice"],
                                               "on": False})[0] == 200
        alice.share_key("bob")
        wait_until(lambda: not any(p["mallory"] for p in students(server.url, "lab")
                                   ["alice"]["pairs"]), what="Mallory out of the pair")
        assert console(server.url, "mallory", {"room": "lab", "pair": ["bob", "alice"],
                                               "on": True}, token=None)[0] == 401
    finally:
        server.stop()


def test_mallory_needs_attack_mode(console_relay):
    assert console(console_relay.url, "mallory", {"room": "lab", "pair": ["a", "b"],
                                                  "on": True})[0] == 409


def test_a_session_shows_the_notice_and_its_removal_and_stays_out(console_relay, sessions):
    url = console_relay.url
    alice, bob = Session(), Session()
    sessions += [alice, bob]
    alice.join("alice", "lab", url)
    bob.join("bob", "lab", url)
    wait_until(lambda: "bob" in alice.peers and alice.joined, what="both in the room")
    assert console(url, "notice", {"room": "lab", "text": "<b>pens down</b>"})[0] == 200
    wait_until(lambda: "pens down" in alice.errors.get("chat", ""), what="the notice shown")
    assert alice.errors["chat"] == "notice from the teacher: <b>pens down</b>"
    wait_until(lambda: any("notice from the teacher" in e.text for e in bob.log),
               what="bob's page shows it too")

    assert console(url, "remove", {"room": "lab", "socketId": alice.my_id,
                                   "reason": "wrong group"})[0] == 200
    wait_until(lambda: not alice.joined, what="alice out")
    assert alice.errors["join"] == ("out of room 'lab': the teacher removed you from the "
                                    "room: wrong group")
    wait_until(lambda: "alice" not in students(url, "lab"), what="alice gone")
    wait_until(lambda: "alice" in bob.departed, what="bob saw alice go")
    assert "alice" not in students(url, "lab")   # she did not join again by herself
