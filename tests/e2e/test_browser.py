"""End to end in a real browser: Debian's chromium driven by Playwright.

1. The Voila dashboard, opened in two pages (two peers), through the real UI: join one room,
   pick P-384, generate keys, share them, chat both ways; then the relay restarts under them
   and the conversation carries on, nothing lost and nothing shown twice; a message written
   while the relay is down is refused in words, kept, and delivered once it is back.
2. Markup typed as a name or a message shows as text and never runs in the page.
3. Notebook 03 in JupyterLab: run every cell, then finish a chat with the demo peer.

Screenshots land in test-artifacts/ (kept by CI as artifacts, ignored by git).
"""

from __future__ import annotations

import re
import secrets
import shutil

import pytest
from playwright.sync_api import (  # a declared test dependency: missing is an error
    expect,
    sync_playwright,
)

from tests.support import ROOT
from tests.support.browser import (
    APP_READY_MS,
    DASHBOARD,
    NETWORK_MS,
    button,
    dropdown,
    expect_joined,
    join,
    jupyterlab_server,
    jupyterlab_settings,
    launch_chromium,
    open_step,
    peer_card,
    run_all_cells,
    screenshot,
    text_box,
    voila_server,
)
from tests.support.processes import RelayProcess, require_binary

pytestmark = pytest.mark.slow

NOTEBOOK_03 = ROOT / "notebooks" / "03_secure_chat.ipynb"


def send(page, text: str) -> None:
    text_box(page, "Message").fill(text)
    button(page, "Send").click()


def conversation(page):
    """The conversation view of the chat panel (newest message last)."""
    return page.locator(".ecc-conversation")


def expect_message(page, text: str) -> None:
    """`text` shown exactly once in the page's conversation, as plain text."""
    shown = conversation(page).locator(".ecc-text", has_text=text)
    expect(shown).to_have_count(1, timeout=NETWORK_MS)


def test_two_pages_chat_through_the_dashboard_across_a_relay_restart():
    require_binary("chromium")
    relay = RelayProcess().start()
    room = f"browser-{secrets.token_hex(3)}"
    try:
        with voila_server(DASHBOARD, env={"ECC_RELAY_URL": relay.url},
                          log_name="voila-dashboard.log") as url, \
                sync_playwright() as pw:
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
                expect(peer_card(alice, "bob")).to_be_visible(timeout=NETWORK_MS)
                expect(peer_card(bob, "alice")).to_be_visible(timeout=NETWORK_MS)

                for page in (alice, bob):
                    dropdown(page, "Curve").select_option("P-384")
                    expect(dropdown(page, "Curve").locator("option:checked")).to_have_text(
                        "P-384")
                    open_step(page, "Keys")
                    button(page, "instant").click()
                    button(page, "Generate keys").click()
                # Both made keys: they are exchanged by themselves, as the seed's were.
                for page, other in ((alice, "bob"), (bob, "alice")):
                    card = peer_card(page, other)
                    expect(card.get_by_text("secure", exact=True)).to_be_visible(
                        timeout=NETWORK_MS)
                    expect(card.get_by_text("curve: P-384")).to_be_visible()

                send(alice, "Hello Bob, this is Alice on P-384")
                expect_message(bob, "Hello Bob, this is Alice on P-384")
                send(bob, "Hi Alice <b>not bold</b>")
                expect_message(alice, "Hi Alice <b>not bold</b>")  # shown as text, not markup
                screenshot(alice, "dashboard-alice.png")
                screenshot(bob, "dashboard-bob.png")

                relay.restart()
                expect_joined(alice, "alice", room)
                expect_joined(bob, "bob", room)
                send(alice, "Still there after the restart?")
                expect_message(bob, "Still there after the restart?")
                send(bob, "Yes, same keys, same room")
                expect_message(alice, "Yes, same keys, same room")
                # Nothing lost, nothing shown twice.
                for page, texts in ((bob, ["Hello Bob, this is Alice on P-384",
                                           "Still there after the restart?"]),
                                    (alice, ["Hi Alice <b>not bold</b>",
                                             "Yes, same keys, same room"])):
                    for text in texts:
                        expect_message(page, text)
                screenshot(alice, "dashboard-alice-after-restart.png")
                screenshot(bob, "dashboard-bob-after-restart.png")

                # While the relay is down nobody is reachable: Send says so in words and
                # keeps the text; once the relay is back, Send delivers it, once.
                relay.stop()
                expect(alice.get_by_text(re.compile(r"^(re)?connecting$"))).to_be_visible(
                    timeout=NETWORK_MS)
                send(alice, "Written while the relay was down")
                # said in the chat panel (the log, in its tab, says it too)
                expect(alice.locator(".ecc-chat").get_by_text("Pick a peer to write to first")
                       ).to_be_visible(timeout=NETWORK_MS)
                expect(text_box(alice, "Message")).to_have_value(
                    "Written while the relay was down")
                relay.start()
                expect_joined(alice, "alice", room)
                expect(peer_card(alice, "bob").get_by_text("secure", exact=True)).to_be_visible(
                    timeout=NETWORK_MS)
                button(alice, "Send").click()
                expect_message(bob, "Written while the relay was down")
            finally:
                browser.close()
    finally:
        relay.stop()


def test_markup_in_names_and_messages_never_runs_in_the_page():
    # Headless widget tests check the escaped strings; only a browser shows nothing runs.
    require_binary("chromium")
    relay = RelayProcess().start()
    name = '<img src=x onerror="window.__pwned=1">'
    room = f"xss-{secrets.token_hex(3)}"
    try:
        with voila_server(DASHBOARD, env={"ECC_RELAY_URL": relay.url},
                          log_name="voila-markup.log") as url, \
                sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url)
                expect(text_box(page, "Your name")).to_be_editable(timeout=APP_READY_MS)
                join(page, name, room)
                button(page, "Summon demo peer").click()
                card = peer_card(page, "demo-peer")
                expect(card.get_by_text("keys generated")).to_be_visible(timeout=NETWORK_MS)
                open_step(page, "Keys")
                button(page, "Generate keys").click()
                button(card, "Share key").click()
                expect(card.get_by_text("secure", exact=True)).to_be_visible(timeout=NETWORK_MS)
                send(page, "<script>window.__pwned=2</script>"
                           '<img src=y onerror="window.__pwned=3">')
                reply = "You said: '<script>window.__pwned=2</script>"
                expect(conversation(page).locator(".ecc-text", has_text=reply)
                       ).to_have_count(1, timeout=NETWORK_MS)
                expect(page.get_by_text(f"as {name} in room {room}")).to_be_visible()
                assert page.evaluate("() => window.__pwned") is None
                assert page.locator("img[src=x], img[src=y], script:text('__pwned')").count() == 0
            finally:
                browser.close()
    finally:
        relay.stop()


def test_notebook_03_runs_in_jupyterlab_and_chats_with_the_demo_peer(tmp_path):
    require_binary("chromium")
    # A copy, so JupyterLab's autosave never writes outputs into the checkout.
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(NOTEBOOK_03, root / "notebooks" / NOTEBOOK_03.name)
    relay = RelayProcess().start()
    env = {"ECC_RELAY_URL": relay.url, **jupyterlab_settings(tmp_path)}
    try:
        with jupyterlab_server(root, env=env) as (base, token), \
                sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                page.goto(f"{base}/lab/tree/notebooks/{NOTEBOOK_03.name}?token={token}")
                status = page.locator("#jp-main-statusbar")
                expect(status.get_by_text(re.compile(r"\bIdle\b"))).to_be_visible(
                    timeout=APP_READY_MS)

                run_all_cells(page)

                # The last code cell checks the relay's view; its words mean every cell ran.
                # In an output, not the cell's source (on screen from the start).
                expect(page.locator(".jp-OutputArea-output").get_by_text(
                    "no plaintext and no private key in anything")
                       ).to_be_visible(timeout=APP_READY_MS)
                expect(page.locator(".jp-OutputArea-output[data-mime-type*='error']")
                       ).to_have_count(0)
                expect(page.get_by_text("demo peer says: You said:")).to_be_visible()

                # Now by hand, in the app the cells drove: one more message and its answer.
                app = page.locator(".ecc-app")
                expect(text_box(app, "Message")).to_be_editable()
                expect(dropdown(app, "To")).to_have_value(re.compile("demo-peer"))
                send(app, "Typed in JupyterLab, sent with the Send button")
                answer = "You said: 'Typed in JupyterLab, sent with the Send button'"
                expect(app.locator(".ecc-text", has_text=answer)).to_have_count(
                    1, timeout=NETWORK_MS)
                # the app's stylesheet came with its output: the messenger's order
                expect(app.locator(".ecc-conversation")).to_have_css(
                    "flex-direction", "column-reverse")
                expect(page.locator("style.ecc-stylesheet").first).to_be_attached()
                screenshot(page, "jupyterlab-notebook-03.png",
                           element=app.get_by_text("Chat, end-to-end encrypted", exact=True))
            finally:
                browser.close()
    finally:
        relay.stop()
