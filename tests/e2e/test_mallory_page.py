"""The attacker's page in a real browser: with the teacher's link it shows the rooms and
switches an attack by its checkbox; without the token the relay refuses it."""

from __future__ import annotations

from playwright.sync_api import sync_playwright

from ecc_widgets.session import Session
from tests.support.browser import launch_chromium
from tests.support.mallory import TOKEN, room_state
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess


def test_mallory_page_switches_an_attack_and_refuses_without_the_token():
    server = RelayProcess("--attacks", env={"ECC_RELAY_ATTACK_TOKEN": TOKEN}).start()
    student = Session()
    try:
        student.join("alice", "class", server.url)
        wait_until(lambda: student.joined, what="the student in the room")
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
                assert not room_state(server.url, "class")["attacks"]["replay"]
                room.get_by_label("replay").check()
                wait_until(lambda: room_state(server.url, "class")["attacks"]["replay"],
                           what="the attack switched on through the page")
            finally:
                browser.close()
    finally:
        student.close()
        server.stop()
