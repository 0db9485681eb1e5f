"""The light first screen in chromium, with each engine `ecc-lab` offers: the join row is
usable, the curve's pictures come once the page is up (the browser's link tells the kernel),
the Keys tab is built when clicked and plays the walk, and the private value appears in the
page only after "Show my private value", which then says so."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support.browser import (
    APP_READY_MS,
    NETWORK_MS,
    button,
    lab_server,
    launch_chromium,
    open_step,
    text_box,
)
from tests.support.processes import RelayProcess, require_binary

pytestmark = pytest.mark.slow

D_SHOWN = re.compile(r"d = 0x[0-9a-f]")


@pytest.mark.parametrize("engine", ["solara", "voila"])
def test_pictures_after_first_paint_tabs_when_opened_d_only_when_asked(engine):
    require_binary("chromium")
    relay = RelayProcess().start()
    try:
        with lab_server(f"--engine={engine}", relay_url=relay.url,
                        log_name=f"ecc-lab-first-paint-{engine}.log") as lab, \
                sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(lab.url)
                expect(text_box(page, "Your name")).to_be_editable(timeout=APP_READY_MS)
                curve = page.locator(".ecc-curve")
                expect(curve.get_by_text("Keys will be made on")).to_be_visible()
                # Drawn once the page is up, without anyone pressing anything: two
                # pictures, each the curve and the overlay P and Q move on
                expect(curve.locator("img")).to_have_count(4, timeout=NETWORK_MS)
                expect(page.locator(".ecc-keys")).to_have_count(0)  # not built yet

                open_step(page, "Keys")
                keys = page.locator(".ecc-keys")
                button(keys, "instant").click()
                button(keys, "Generate keys").click()
                expect(keys.get_by_text("Shareable: your public key")).to_be_visible(
                    timeout=NETWORK_MS)
                expect(keys.locator("img")).to_have_count(1)  # the toy walk, drawn
                expect(keys.get_by_text("it is not in this page").first).to_be_visible()
                assert not D_SHOWN.search(keys.inner_text())

                button(keys, "Show my private value").click()
                expect(keys.get_by_text("d is now in this page")).to_be_visible(
                    timeout=NETWORK_MS)
                assert D_SHOWN.search(keys.inner_text())
                button(keys, "Show my private value").click()
                expect(keys.get_by_text("d was shown in this page")).to_be_visible(
                    timeout=NETWORK_MS)
                assert not D_SHOWN.search(keys.inner_text())
            finally:
                browser.close()
    finally:
        relay.stop()
