"""The teacher's console over two relays on one real redis-server: a class of 30 (raw
Socket.IO peers and real Sessions) spread over both, every change on the console within 2 s
whichever relay serves it, and the actions reaching members on the other relay."""

from __future__ import annotations

import contextlib
import time

import pytest

from ecc_widgets import protocol as P
from ecc_widgets.session import Session
from tests.support.peers import JWK
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess
from tests.support.sessions import RawPeer
from tests.support.teacher import CONSOLE_TOKEN, class_view, console, students

pytestmark = pytest.mark.redis

LIVE = 2.0          # seconds within which the console shows a change (the console's promise)
RAW = 26            # raw Socket.IO peers; with the 4 Sessions, a class of 30
SESSIONS = ("ann", "ben", "cat", "dan")


@pytest.fixture
def relays(redis_server, tmp_path):
    started: list[RelayProcess] = []
    with contextlib.ExitStack() as stack:
        for i in range(2):
            server = RelayProcess("--teacher", "--redis-url", redis_server.url,
                                  "--heartbeat-ttl", "60",
                                  env={"ECC_RELAY_TEACHER_TOKEN": CONSOLE_TOKEN},
                                  log=tmp_path / f"relay{i}.log")
            stack.callback(server.stop)
            started.append(server.start())
        yield started


@pytest.fixture
def raw_peers():
    made: list[RawPeer] = []
    yield made
    for peer in made:
        with contextlib.suppress(Exception):
            peer.close()


def shown(url: str, room: str, name: str, check, what: str) -> dict:
    """Wait (at most LIVE seconds) until the console at ``url`` shows ``name`` in ``room``
    as ``check`` wants; the row."""
    return wait_until(lambda: (row := students(url, room).get(name)) is not None
                      and check(row) and row, timeout=LIVE, what=what)


def pair_with(row: dict, peer: str) -> dict:
    return next((p for p in row["pairs"] if p["peer"] == peer), {})


def test_a_class_of_30_on_two_relays_live_on_either_console(relays, raw_peers, sessions):
    one, two = relays
    urls = (one.url, two.url)
    rooms = {}
    for i in range(RAW):
        name, room = f"s{i:02d}", "lab" if i < 16 else "lab2"
        raw_peers.append(RawPeer(urls[i % 2], name, room))
        rooms[name] = room
    for i, name in enumerate(SESSIONS):
        session = Session()
        sessions.append(session)
        session.join(name, "lab", urls[i % 2])
        rooms[name] = "lab"
    wait_until(lambda: all(s.joined for s in sessions), what="the sessions joined")
    peer = {p.name: p for p in raw_peers}
    by_name = dict(zip(SESSIONS, sessions, strict=True))

    # everyone, on the console of either relay, within LIVE of the last join
    for url in urls:
        view = wait_until(lambda u=url: (v := class_view(u)["rooms"])
                          and sum(len(r["students"]) for r in v.values()) == 30 and v,
                          timeout=LIVE, what="all 30 on the console")
        listed = {s["name"]: room for room, r in view.items() for s in r["students"]}
        assert listed == rooms
        relays_seen = {s["relay"] for r in view.values() for s in r["students"]}
        assert len(relays_seen) == 2    # students on both relays

    # a curve chosen on relay one shows on relay two's console
    assert peer["s00"].emit(P.CURVE_SELECTED, {"curve": "P-384"})["ok"]
    shown(two.url, "lab", "s00", lambda r: r["curve"] == "P-384", "s00's curve")

    # a key exchange across the relays: one side's record on each relay, merged
    s00, s01 = peer["s00"], peer["s01"]
    assert s00.emit(P.SHARE_PUBLIC_KEY, {"publicKey": JWK, "targetSocketId": s01.sid,
                                         "v": 1})["ok"]
    row = shown(one.url, "lab", "s01", lambda r: pair_with(r, "s00").get("keys") == "received",
                "s01 got s00's key")
    assert row["fingerprint"] == ""     # s01 has not published a key yet
    assert s01.emit(P.SHARE_PUBLIC_KEY, {"publicKey": JWK, "targetSocketId": s00.sid,
                                         "isReply": True, "v": 1})["ok"]
    for url in urls:
        shown(url, "lab", "s00", lambda r: pair_with(r, "s01").get("keys") == "exchanged",
              "the exchange complete")
    # s00 reports on its own pair; s02 may not report on it (no pair with s00)
    assert s00.emit(P.CODE_COMPARED, {"peerSocketId": s01.sid, "result": "match",
                                      "verified": True})["ok"]
    shown(two.url, "lab", "s00", lambda r: r["verified"] and pair_with(r, "s01")["code"]
          == "match", "s00's report")
    refused = peer["s02"].emit(P.CODE_COMPARED, {"peerSocketId": s01.sid, "result": "differ",
                                                 "verified": False})
    assert refused["ok"] is False and "only your own pairs" in refused["error"]

    # a seed page's key share (no version): shown as a client that reports nothing
    assert peer["s04"].emit(P.SHARE_PUBLIC_KEY, {"publicKey": JWK,
                                                 "targetSocketId": s01.sid})["ok"]
    row = shown(one.url, "lab", "s04", lambda r: r["client"] == "seed", "a seed client")
    assert row["reports"] is False

    # the real Sessions exchange keys among themselves and report what their users pressed
    for s in sessions:
        s.generate_keys()
    wait_until(lambda: all("secure" in by_name[a].peers[b].statuses
                           for a in SESSIONS for b in SESSIONS if a != b
                           and b in by_name[a].peers) and all(len(s.peers) >= 3
                                                              for s in sessions),
               timeout=45, what="the sessions' keys exchanged")  # not the console's 2 s:
    # four sessions' key exchanges among 30 members, on a machine busy with all of them
    by_name["ann"].set_verified("ben", True)
    row = shown(two.url, "lab", "ann", lambda r: pair_with(r, "ben").get("code") == "match",
                "ann verified ben")
    assert row["client"] == "v2" and row["reports"] and row["verified"]
    by_name["cat"].report_mismatch("dan")
    shown(one.url, "lab", "cat", lambda r: pair_with(r, "dan").get("code") == "differ",
          "cat found the codes different")
    # every key share the sessions made, on both relays' records, within LIVE
    totals = wait_until(lambda: (t := class_view(one.url)["rooms"]["lab"]["totals"])
                        ["pairs"] == 1 + 6 and t, timeout=LIVE, what="the sessions' pairs")
    assert totals["students"] == 20 and totals["compared"] == 3 and totals["seedClients"] == 1

    # a member leaving is gone from both consoles
    peer["s03"].close()
    for url in urls:
        wait_until(lambda u=url: "s03" not in students(u, "lab"), timeout=LIVE,
                   what="s03 gone")
        wait_until(lambda u=url: [g["name"] for g in class_view(u)["rooms"]["lab"]["left"]]
                   == ["s03"], timeout=LIVE, what="s03 listed as left")

    # actions from relay one's console reach members on relay two
    s05 = peer["s05"]       # on relay two
    assert console(one.url, "remove", {"room": "lab", "socketId": s05.sid},
                   token=None)[0] == 401
    assert console(one.url, "remove", {"room": "lab", "socketId": s05.sid})[0] == 200
    wait_until(lambda: any(n["kind"] == "removed" for n in s05.received(P.TEACHER_NOTICE)),
               timeout=LIVE, what="s05 told, on the other relay")
    wait_until(lambda: "s05" not in students(two.url, "lab"), timeout=LIVE, what="s05 out")
    again = s05.emit(P.JOIN, {"username": "s05", "roomId": "lab"})
    assert again["ok"] is False and "removed" in again["error"]

    assert console(two.url, "lock", {"room": "lab", "locked": True})[0] == 200
    late = RawPeer(one.url, "late", "lobby")
    raw_peers.append(late)
    locked = late.emit(P.JOIN, {"username": "late", "roomId": "lab"})
    assert locked["ok"] is False and "locked" in locked["error"]
    assert class_view(one.url)["rooms"]["lab"]["locked"] is True

    lab2 = [p for p in raw_peers if rooms.get(p.name) == "lab2"]
    assert console(two.url, "notice", {"room": "lab2", "text": "five minutes left"})[0] == 200
    for p in lab2:
        wait_until(lambda p=p: p.received(P.TEACHER_NOTICE), timeout=LIVE,
                   what=f"the notice on {p.name}'s page")
    assert not peer["s00"].received(P.TEACHER_NOTICE)
    started = time.monotonic()
    assert console(one.url, "clear", {"room": "lab2"})[0] == 200
    for p in lab2:
        wait_until(lambda p=p: any(n["kind"] == "cleared" for n in p.received(
            P.TEACHER_NOTICE)), timeout=LIVE, what=f"{p.name} cleared out")
    wait_until(lambda: "lab2" not in class_view(two.url)["rooms"],
               timeout=LIVE - (time.monotonic() - started) + LIVE, what="lab2 empty")
    assert len(students(two.url, "lab")) == 18
