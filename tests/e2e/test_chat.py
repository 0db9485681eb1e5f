"""The chat as a messenger in chromium, on the dashboard `ecc-lab` serves with each engine, on
a laptop and on a phone: after eight messages both ways the newest bubble is the lowest one
and in view, the message box is in view, eight bubbles (five on a phone) are in view at once,
each bubble's full detail is one click away, a reader scrolled up to older messages stays
there when a new one comes; on a laptop the chat stays in view while the
steps scroll; after "They differ" the card says so, and nowhere "secure". Screenshots land
in test-artifacts/ (chat-*.png)."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support.browser import (
    APP_READY_MS,
    ARTIFACTS,
    NETWORK_MS,
    button,
    dashboard_with_relay,
    in_viewport,
    join,
    launch_chromium,
    make_keys,
    peer_card,
    text_box,
)

pytestmark = pytest.mark.slow

# (width, height, bubbles at least in view at once)
SIZES = {"laptop": (1400, 1000, 8), "phone": (390, 844, 5)}
MESSAGES = 8

# Every page-wide scroller back to the top; the conversation keeps its own scroll (its
# newest message is at the end).
SCROLL_TO_TOP = """() => { window.scrollTo(0, 0);
  for (const e of document.querySelectorAll('*'))
    if (!e.classList.contains('ecc-conversation')) e.scrollTop = 0; }"""
# Where the bubbles are, against the conversation's visible box.
BUBBLES = """() => { const c = document.querySelector('.ecc-conversation');
  const r = c.getBoundingClientRect();
  const boxes = [...c.querySelectorAll('.ecc-bubble')].map(b => {
    const x = b.getBoundingClientRect();
    return {top: x.top, bottom: x.bottom, text: b.querySelector('.ecc-text').innerText}; });
  return {top: r.top, bottom: r.bottom, boxes,
          inView: boxes.filter(b => b.top >= r.top - 1 && b.bottom <= r.bottom + 1).length}; }"""

# The ancestors of the chat's column that clip or scroll (they would hold it in place).
CLIPPING = """() => { const out = []; let e = document.querySelector('.ecc-side');
  for (; e; e = e.parentElement) { const s = getComputedStyle(e);
    if (s.overflowY !== 'visible') out.push(`${e.className} ${s.overflowY}`); }
  return out; }"""


@pytest.fixture(scope="module", params=["solara", "voila"])
def dashboard(request):
    """The dashboard as `ecc-lab` serves it, with each engine."""
    with dashboard_with_relay(request.param, f"ecc-lab-chat-{request.param}.log") as served:
        yield served


@pytest.mark.parametrize("device", list(SIZES))
def test_the_chat_reads_like_a_messenger_and_they_differ_is_one_red_state(dashboard, device):
    engine, url = dashboard
    width, height, at_least = SIZES[device]
    room = f"chat-{secrets.token_hex(3)}"
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            alice, bob = context.new_page(), context.new_page()
            hosts: set = set()
            alice.on("request", lambda request: hosts.add(urlsplit(request.url).hostname)
                     if request.url.startswith(("http:", "https:", "ws:", "wss:")) else None)
            for page in (alice, bob):
                page.goto(url)
            for page in (alice, bob):
                expect(text_box(page, "Your name")).to_be_editable(timeout=APP_READY_MS)
            assert alice.title() == "ECC Chat Lab"
            # the one stylesheet, once, from the package: the page asked no other host
            expect(alice.locator("style.ecc-stylesheet")).to_have_count(1)
            expect(alice.locator(".ecc-app")).to_have_css("container-type", "inline-size")
            join(alice, "alice", room)
            join(bob, "bob", room)
            chat = alice.locator(".ecc-chat")
            expect(chat.get_by_text("Share key")).to_be_visible(timeout=NETWORK_MS)
            for page in (alice, bob):
                make_keys(page)
            card = peer_card(alice, "bob")
            expect(card.get_by_text("secure", exact=True)).to_be_visible(timeout=NETWORK_MS)
            expect(chat.get_by_text("Share key")).to_have_count(0)  # the hint went

            for i in range(MESSAGES):
                sender, receiver = (alice, bob) if i % 2 == 0 else (bob, alice)
                text_box(sender, "Message").fill(f"hello number {i}")
                button(sender, "Send").click()
                expect(receiver.locator(".ecc-conversation").get_by_text(
                    f"hello number {i}", exact=True)).to_be_visible(timeout=NETWORK_MS)
            alice.evaluate(SCROLL_TO_TOP)
            expect(alice.locator(".ecc-bubble")).to_have_count(MESSAGES)
            seen = alice.evaluate(BUBBLES)
            lowest = max(seen["boxes"], key=lambda b: b["bottom"])
            assert lowest["text"] == f"hello number {MESSAGES - 1}", seen
            assert seen["top"] - 1 <= lowest["top"] and lowest["bottom"] <= seen["bottom"] + 1, \
                f"the newest message is not in view: {seen}"
            assert seen["inView"] >= at_least, f"{seen['inView']} bubbles in view on {device}"
            message = text_box(alice, "Message")
            assert in_viewport(alice, message), f"the message box is off screen on {device}"
            alice.screenshot(path=str(ARTIFACTS / f"chat-{device}-{engine}.png"))

            # the full detail of a bubble, one click away
            newest = alice.locator(".ecc-bubble").last
            expect(newest.get_by_text("nonce", exact=True)).to_be_hidden()
            newest.locator("summary").click()
            expect(newest.get_by_text("nonce", exact=True)).to_be_visible()

            # a reader who scrolled up to read is not pulled down by a new message (on a
            # phone, where eight messages are more than the conversation shows)
            conversation = alice.locator(".ecc-conversation")
            if device == "phone":
                assert conversation.evaluate("c => c.scrollHeight > c.clientHeight + 100")
                conversation.evaluate("c => { c.scrollTop = -(c.scrollHeight - c.clientHeight); }")
                assert alice.evaluate(BUBBLES)["boxes"][0]["top"] >= seen["top"] - 1  # the oldest
                text_box(bob, "Message").fill("one more")
                button(bob, "Send").click()
                expect(conversation.get_by_text("one more", exact=True)).to_be_attached(
                    timeout=NETWORK_MS)
                now = alice.evaluate(BUBBLES)
                assert now["boxes"][0]["bottom"] > now["top"], \
                    f"the oldest message went out of view when a new one came: {now}"
                conversation.evaluate("c => { c.scrollTop = 0; }")  # back to the newest
                expect(conversation.get_by_text("one more", exact=True)).to_be_in_viewport()

            if device == "laptop":  # scrolling the steps keeps the chat in view
                alice.mouse.move(width * 0.25, height * 0.7)
                alice.mouse.wheel(0, 2000)
                expect(message).to_be_in_viewport()
                assert in_viewport(alice, message), "the message box scrolled away"
                assert in_viewport(alice, conversation), (
                    f"the conversation scrolled away: {conversation.bounding_box()}"
                    f"; clipping ancestors: {alice.evaluate(CLIPPING)}")

            alice.evaluate(SCROLL_TO_TOP)
            card.get_by_role("button", name="They differ").click()
            expect(card.get_by_text("someone in the middle", exact=True)).to_be_visible(
                timeout=NETWORK_MS)
            expect(card.get_by_text("secure", exact=True)).to_have_count(0)
            expect(chat.get_by_text("read in the middle").first).to_be_visible()
            assert chat.locator(".ecc-lock").count() == 0  # no lock alone says "all is well"
            alice.screenshot(path=str(ARTIFACTS / f"chat-differ-{device}-{engine}.png"))
            assert hosts == {"127.0.0.1"}, f"the page loaded from {hosts}"
        finally:
            browser.close()
