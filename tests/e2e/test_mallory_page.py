"""The attacker's page in a real browser: with the teacher's link it shows the rooms and
switches an attack by its checkbox, which the students then see; without the token the relay
refuses it."""

from __future__ import annotations

from playwright.sync_api import sync_playwright

from ecc_widgets.session import REPLAYED, Session
from tests.support.browser import launch_chromium
from tests.support.mallory import TOKEN, room_state
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess


def test_mallory_page_switches_an_attack_and_refuses_without_the_token():
    server = RelayProcess("--attacks", env={"ECC_RELAY_ATTACK_TOKEN": TOKEN}).start()
    student, partner = Session(), Session()
    try:
        student.join("alice", "class", server.url)
        partner.join("bob", "class", server.url)
        wait_until(lambda: "bob" in student.peers, what="both students in the room")
        for s in (student, partner):
            s.generate_keys()
        student.share_key("bob")
        wait_until(lambda: "secure" in student.peers["bob"].statuses
                   and "secure" in partner.peers["alice"].statuses, what="a secure pair")
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page()
                page.goto(server.url + "/mallory")        # no token in the link
                page.wait_for_selector(".error", timeout=15000)
                assert "access refused" in page.inner_text("#status")
                assert page.locator("section.room").count() == 0

                page.goto(server.url + f"/mallory#token={TOKEN}")
                page.reload()                             # a new fragment alone loads nothing
                room = page.locator("section.room[data-room='class']")
                room.wait_for(timeout=15000)
                assert "alice" in room.inner_text()
                # its stylesheet applies under the page's policy (no inline style)
                assert room.evaluate("e => getComputedStyle(e).borderRadius") == "10px"
                assert not room_state(server.url, "class")["attacks"]["replay"]
                room.get_by_label("replay").check()
                wait_until(lambda: room_state(server.url, "class")["attacks"]["replay"],
                           what="the attack switched on through the page")
                # what the students see: bob's message once, then its replay refused
                partner.send("alice", "hello under attack")
                wait_until(lambda: any(m.status == "rejected" and m.reason.startswith(REPLAYED)
                                       for m in student.conversations.get("bob", ())),
                           what="the replay caught by alice")
                shown = [m.plaintext for m in student.conversations["bob"]
                         if m.status != "rejected"]
                assert shown == ["hello under attack"]
            finally:
                browser.close()
    finally:
        student.close()
        partner.close()
        server.stop()


def test_the_teacher_hands_out_one_rooms_link_and_it_opens_that_room_only():
    server = RelayProcess("--attacks", env={"ECC_RELAY_ATTACK_TOKEN": TOKEN}).start()
    here, elsewhere = Session(), Session()
    try:
        here.join("alice", "class", server.url)
        elsewhere.join("carol", "other", server.url)
        wait_until(lambda: here.joined and elsewhere.joined, what="both joined")
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                teacher = browser.new_page()
                teacher.goto(server.url + f"/mallory#token={TOKEN}")
                room = teacher.locator("section.room[data-room='class']")
                room.wait_for(timeout=15000)
                assert teacher.locator("section.room[data-room='other']").count() == 1
                room.get_by_role("button", name="Link for a student playing Mallory in "
                                                "this room").click()
                link = room.locator(".handout input")
                link.wait_for(state="visible", timeout=15000)
                url = link.input_value()
                assert url.startswith(server.url + "/mallory#token=room.")

                student = browser.new_page()
                student.goto(url)
                mine = student.locator("section.room[data-room='class']")
                mine.wait_for(timeout=15000)
                assert "alice" in mine.inner_text()
                assert "in room class only" in student.inner_text("#status")
                assert student.locator("section.room").count() == 1
                assert student.locator(".handout").count() == 0   # no links to hand out
                mine.get_by_label("drop").check()
                wait_until(lambda: room_state(server.url, "class")["attacks"]["drop"],
                           what="the student's switch in their room")
                assert not room_state(server.url, "other")["attacks"]["drop"]
            finally:
                browser.close()
    finally:
        here.close()
        elsewhere.close()
        server.stop()
