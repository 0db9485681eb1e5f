"""Tabs come and go in a class: in chromium, on the dashboard served by `ecc-lab`, with
each engine it offers.

A reloaded tab rejoins by itself under its name (the page remembers it) and the other tab
sees one peer, not two; a closed tab leaves the room within 15 s; when the server goes away,
the open tab says it is disconnected and how to recover. One test per engine, since every
page load costs seconds.
"""

from __future__ import annotations

import contextlib
import secrets

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support.browser import (
    APP_READY_MS,
    expect_joined,
    join,
    lab_server,
    launch_chromium,
    peer_card,
    screenshot,
    text_box,
)
from tests.support.processes import RelayProcess, require_binary

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("engine", ["solara", "voila"])
def test_reloaded_tab_gets_its_name_back_closed_tab_leaves_lost_server_is_said(engine):
    require_binary("chromium")
    relay = RelayProcess().start()
    room = f"tabs-{secrets.token_hex(3)}"
    try:
        with contextlib.ExitStack() as stack, sync_playwright() as pw:
            url = stack.enter_context(lab_server(
                f"--engine={engine}", relay_url=relay.url,
                log_name=f"ecc-lab-tabs-{engine}.log")).url
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

                bob.reload()  # nothing typed: the page remembers its name and room
                expect_joined(bob, "bob", room)  # and the name is not "already taken"
                expect(text_box(bob, "Your name")).to_have_value("bob")
                expect(peer_card(alice, "bob")).to_have_count(1, timeout=5_000)

                bob.close(run_before_unload=True)  # as closing a tab does
                expect(peer_card(alice, "bob")).to_have_count(0, timeout=15_000)

                stack.close()  # the Voila server stops under the open tab
                banner = alice.get_by_role("alert").filter(
                    has_text="Disconnected from the server: reload the page to rejoin")
                expect(banner).to_be_visible(timeout=15_000)
                screenshot(alice, f"tabs-disconnected-{engine}.png")
            finally:
                browser.close()
    finally:
        relay.stop()
