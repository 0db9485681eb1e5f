"""The dashboard's layout in a real browser, on a laptop and on a phone: once keys are
shared, the message box and the peers are on screen without scrolling, and nothing needs a
horizontal scrollbar. Screenshots land in test-artifacts/ (layout-*.png)."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support.browser import (
    APP_READY_MS,
    ARTIFACTS,
    NETWORK_MS,
    button,
    dashboard_with_relay,
    in_viewport,
    launch_chromium,
    open_step,
    step_tab,
    text_box,
)

pytestmark = pytest.mark.slow

SIZES = {"laptop": (1400, 1000), "phone": (390, 844)}

# Every scroller back to the top: Playwright scrolls what it clicks into view.
SCROLL_TO_TOP = """() => { window.scrollTo(0, 0);
  for (const e of document.querySelectorAll('*')) { e.scrollTop = 0; e.scrollLeft = 0; } }"""
# (the conversation's 0 is its end: its newest message, at the bottom)
# Boxes whose content is wider than they are show a horizontal scrollbar.
OVERFLOWING = """() => [...document.querySelectorAll('.ecc-app *')]
  .filter(e => e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0
          && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
  .map(e => `${e.className} ${e.scrollWidth}>${e.clientWidth}: ${e.innerText.slice(0, 60)}`)"""


@pytest.fixture(scope="module", params=["solara", "voila"])
def dashboard(request):
    """The dashboard as `ecc-lab` serves it, with each engine."""
    with dashboard_with_relay(request.param, f"ecc-lab-layout-{request.param}.log") as served:
        yield served


@pytest.mark.parametrize("device", list(SIZES))
def test_message_box_and_peers_in_view_after_keys_are_shared(dashboard, device):
    engine, url = dashboard
    width, height = SIZES[device]
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            expect(text_box(page, "Your name")).to_be_editable(timeout=APP_READY_MS)
            name, room = f"student-{device}", f"layout-{secrets.token_hex(3)}"
            text_box(page, "Your name").fill(name)
            text_box(page, "Room").fill(room)
            button(page, "Join").click()
            expect(page.get_by_text(f"as {name} in room {room}")).to_be_visible(
                timeout=NETWORK_MS)
            button(page, "Summon demo peer").click()
            card = page.locator(".widget-vbox").filter(
                has=page.locator(".ecc-peer-name", has_text=re.compile(r"^demo-peer"))
            ).filter(has=button(page, "Share key")).last
            expect(card.get_by_text("keys generated")).to_be_visible(timeout=NETWORK_MS)
            open_step(page, "Keys")
            button(page, "instant").click()
            button(page, "Generate keys").click()
            button(card, "Share key").click()
            expect(card.get_by_text("secure", exact=True)).to_be_visible(timeout=NETWORK_MS)
            for _ in range(2):  # the kernel empties the box once it sent; then type again
                text_box(page, "Message").fill("same words")
                button(page, "Send").click()
                expect(text_box(page, "Message")).to_have_value("", timeout=NETWORK_MS)
            # one line per bubble, the measured numbers in it; the rest one click away
            newest = page.locator(".ecc-bubble.ecc-ours").last  # (the demo peer answers)
            expect(newest.locator("summary")).to_contain_text(
                re.compile(r"10 B → 38 B · sealed \d+\.\d+ ms"), timeout=NETWORK_MS)
            # (a new message redraws the conversation, closing what was open: the answers first)
            expect(page.locator(".ecc-bubble.ecc-theirs")).to_have_count(2, timeout=NETWORK_MS)
            newest.locator("summary").click()
            expect(newest.get_by_text("same text, different ciphertext (fresh nonce)")
                   ).to_be_visible()
            expect(newest.get_by_text(re.compile(r"^10 B -> 10\+12\+16 B \(\+28 B, 280%\)$"))
                   ).to_be_visible()

            page.evaluate(SCROLL_TO_TOP)
            message, peer = text_box(page, "Message"), card.locator(".ecc-peer-name")
            expect(message).to_be_visible()
            expect(peer).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / f"layout-{device}-{engine}.png"))
            assert in_viewport(page, message), f"the message box is off screen on {device}"
            assert in_viewport(page, peer), f"the peers are off screen on {device}"
            # the steps stay one click away, by their names
            for title in ("Curve", "Keys", "Numbers", "Log", "What the relay sees"):
                expect(step_tab(page, title)).to_have_count(1)
            open_step(page, "Numbers")
            expect(page.get_by_text("Key sizes on P-256")).to_be_visible()
            open_step(page, "Curve")
            expect(page.get_by_text("y^2 = x^3 - 3x + b")).to_be_visible()
            assert page.evaluate(OVERFLOWING) == [], "a horizontal scrollbar in the app"
            page.screenshot(path=str(ARTIFACTS / f"layout-{device}-{engine}-curve.png"))
        finally:
            browser.close()
