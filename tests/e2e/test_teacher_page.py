"""The teacher's console in a real browser: it shows the class (hostile names as text), its
buttons act, the token stays in the fragment, and without the token nothing is shown."""

from __future__ import annotations

import contextlib

from playwright.sync_api import sync_playwright

from ecc_widgets import protocol as P
from ecc_widgets.session import Session
from tests.support.browser import launch_chromium
from tests.support.peers import JWK
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess
from tests.support.sessions import RawPeer
from tests.support.teacher import CONSOLE_TOKEN, class_view, students

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"
TEX = "$\\text{bold}$"


def test_the_console_page_shows_the_class_and_acts():
    server = RelayProcess("--teacher", env={"ECC_RELAY_TEACHER_TOKEN": CONSOLE_TOKEN}).start()
    peers: list[RawPeer] = []
    try:
        for name in ("alice", "bob", HOSTILE, TEX):
            peers.append(RawPeer(server.url, name, "lab"))
        alice, bob = peers[0], peers[1]
        alice.emit(P.CURVE_SELECTED, {"curve": "P-256"})
        alice.emit(P.SHARE_PUBLIC_KEY, {"publicKey": JWK, "targetSocketId": bob.sid, "v": 1})
        bob.emit(P.SHARE_PUBLIC_KEY, {"publicKey": JWK, "targetSocketId": alice.sid, "v": 1})
        alice.emit(P.CODE_COMPARED, {"peerSocketId": bob.sid, "result": "match",
                                     "verified": True})
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page()
                requests: list[tuple[str, str]] = []
                page.on("request", lambda r: requests.append(
                    (r.url, r.headers.get("authorization", ""))))
                page.goto(server.url + "/teacher")          # no token: refused, nothing shown
                page.wait_for_selector("#status.error", timeout=15000)
                assert page.locator("section.room").count() == 0

                page.goto(server.url + f"/teacher#token={CONSOLE_TOKEN}")
                page.reload()
                room = page.locator("section.room[data-room='lab']")
                room.wait_for(timeout=15000)
                rows = room.locator("tr[data-name]")
                wait_until(lambda: rows.count() == 4, what="four rows")
                names = room.locator("td.name").all_inner_texts()
                assert sorted(names) == sorted(["alice", "bob", HOSTILE, TEX])
                assert page.locator("section.room img").count() == 0   # text, not markup
                assert page.title() != "pwned"
                alice_row = room.locator("tr[data-name='alice']")
                assert "P-256" in alice_row.inner_text()
                assert "they match" in alice_row.inner_text()
                assert "bob" in alice_row.inner_text()
                # the token went in a header, never in a request line; the address bar
                # forgot it
                assert requests and all(CONSOLE_TOKEN not in url for url, _ in requests)
                assert f"Bearer {CONSOLE_TOKEN}" in {auth for _, auth in requests}
                assert CONSOLE_TOKEN not in page.url

                # a notice, typed and sent
                room.locator("input[type=text]").fill("pens down, please")
                room.locator("button[data-action=notice]").click()
                wait_until(lambda: bob.received(P.TEACHER_NOTICE), what="the notice")
                assert bob.received(P.TEACHER_NOTICE)[0]["text"] == "pens down, please"

                # lock, by its button
                room.locator("button[data-action=lock]").click()
                wait_until(lambda: class_view(server.url)["rooms"]["lab"]["locked"],
                           what="the room locked")
                page.locator("section.room[data-room='lab'] .locked").wait_for(timeout=15000)

                # remove the hostile name, with a reason typed into the prompt
                page.once("dialog", lambda d: d.accept("name"))
                rows.filter(has_text=HOSTILE).locator("button[data-action=remove]").click()
                wait_until(lambda: HOSTILE not in students(server.url, "lab"),
                           what="the member removed")
                left = page.locator("section.room[data-room='lab'] p.left")
                left.wait_for(timeout=15000)
                assert HOSTILE in left.inner_text()    # who left, as text
                removed = peers[2].received(P.TEACHER_NOTICE)
                assert removed[-1]["kind"] == "removed"
                assert removed[-1]["text"].endswith(": name")

                # the debrief view: totals, no names
                page.get_by_label("Debrief view").check()
                debrief = page.locator("#debrief-text")
                wait_until(lambda: "pairs compared codes" in debrief.inner_text(),
                           what="the debrief")
                assert "1 of 1 pairs compared codes" in debrief.inner_text()
                assert "alice" not in page.locator("#debrief").inner_text()

                # clear, confirmed
                page.get_by_label("Debrief view").uncheck()
                page.once("dialog", lambda d: d.accept())
                page.locator("section.room[data-room='lab'] button[data-action=clear]").click()
                wait_until(lambda: not students(server.url, "lab"),
                           what="the room cleared (still listed: it is locked)")
                assert any(n["kind"] == "cleared" for n in alice.received(P.TEACHER_NOTICE))
                log = page.locator("#log")
                wait_until(lambda: "clear" in log.inner_text(), what="the action log")
            finally:
                browser.close()
    finally:
        for peer in peers:
            peer.close()
        server.stop()


def test_the_page_shows_a_class_of_30_on_two_relays(redis_server, sessions):
    relays = []
    peers: list[RawPeer] = []
    try:
        for _ in range(2):
            relays.append(RelayProcess("--teacher", "--redis-url", redis_server.url,
                                       "--heartbeat-ttl", "60",
                                       env={"ECC_RELAY_TEACHER_TOKEN": CONSOLE_TOKEN}).start())
        urls = [r.url for r in relays]
        for i in range(27):
            peers.append(RawPeer(urls[i % 2], f"student-{i:02d}", "lab" if i < 20 else "lab2"))
        for i, name in enumerate(("ann", "ben", "cat")):
            session = Session()
            sessions.append(session)
            session.join(name, "lab", urls[i % 2])
        wait_until(lambda: all(s.joined for s in sessions), what="the sessions joined")
        for s in sessions:
            s.generate_keys()
        wait_until(lambda: "secure" in getattr(sessions[0].peers.get("ben"), "statuses", ()),
                   what="ann and ben's keys")
        sessions[0].set_verified("ben", True)
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page()
                page.goto(urls[1] + f"/teacher#token={CONSOLE_TOKEN}")
                rows = page.locator("tr[data-name]")
                wait_until(lambda: rows.count() == 30, what="30 rows on the page")
                assert page.locator("section.room[data-room='lab'] tr[data-name]").count() == 23
                assert page.locator("section.room[data-room='lab2'] tr[data-name]").count() == 7
                ann = page.locator("tr[data-name='ann']")
                wait_until(lambda: "they match" in ann.inner_text(), what="ann's report shown")
            finally:
                browser.close()
    finally:
        with contextlib.ExitStack() as stack:   # every relay stopped, even if one fails to
            for relay in relays:
                stack.callback(relay.stop)
            for peer in peers:
                peer.close()
