"""Tabs come and go in a class: in chromium, on the dashboard served as `ecc-lab` serves it.

A reloaded tab rejoins under its name within 5 s and the other tab sees one peer, not two; a
closed tab leaves the room within 10 s; when the server goes away, the open tab says it is
disconnected and how to recover. One test, since every page load costs seconds.
"""

from __future__ import annotations

import contextlib
import secrets

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support.browser import (
    APP_READY_MS,
    DASHBOARD,
    expect_joined,
    join,
    launch_chromium,
    peer_card,
    screenshot,
    text_box,
    voila_server,
)
from tests.support.processes import RelayProcess, require_binary

pytestmark = pytest.mark.slow


def test_reloaded_tab_gets_its_name_back_closed_tab_leaves_lost_server_is_said():
    require_binary("chromium")
    relay = RelayProcess().start()
    room = f"tabs-{secrets.token_hex(3)}"
    try:
        with contextlib.ExitStack() as stack, sync_playwright() as pw:
            url = stack.enter_context(voila_server(
                DASHBOARD, env={"ECC_RELAY_URL": relay.url}, log_name="voila-tabs.log",
                module="ecc_widgets.serving"))
            browser = launch_chromium(pw)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                alice, bob = context.new_page(), context.new_page()
                for page in (alice, bob):
                    page.goto(url)
                for page in (alice, bob):
                    expect(text_box(page, "Your name")).to_be_editable(timeout=APP_READY_MS)
                join(alice, "alice", room)
                join(bob, "bob", room)
                expect(peer_card(alice, "bob")).to_be_visible()

                bob.reload()
                expect(text_box(bob, "Your name")).to_be_editable(timeout=APP_READY_MS)
                text_box(bob, "Your name").fill("bob")
                text_box(bob, "Room").fill(room)
                bob.get_by_role("button", name="Join").click()
                expect_joined(bob, "bob", room)  # the name is not "already taken"
                expect(peer_card(alice, "bob")).to_have_count(1, timeout=5_000)

                bob.close(run_before_unload=True)  # as closing a tab does
                expect(peer_card(alice, "bob")).to_have_count(0, timeout=10_000)

                stack.close()  # the Voila server stops under the open tab
                banner = alice.get_by_role("alert").filter(
                    has_text="Disconnected from the server: reload the page to rejoin")
                expect(banner).to_be_visible(timeout=15_000)
                screenshot(alice, "tabs-disconnected.png")
            finally:
                browser.close()
    finally:
        relay.stop()
