"""A reload is a rejoin with new keys, in chromium on the dashboard `ecc-lab` serves: nobody
presses Share key, alice's next message reaches the reloaded bob, and alice's card for bob
never shows "verified" again once he is gone (every change of the page is watched)."""

from __future__ import annotations

import contextlib
import secrets

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support.browser import (
    APP_READY_MS,
    NETWORK_MS,
    button,
    join,
    lab_server,
    launch_chromium,
    open_step,
    peer_card,
    screenshot,
    text_box,
)
from tests.support.processes import RelayProcess, require_binary

pytestmark = pytest.mark.slow

# Records, at every change of the page, whether the card of `bob` shows the "verified" badge.
WATCH = """
() => {
  window.__verified = [];
  const shown = () => {
    for (const name of document.querySelectorAll('.ecc-peer-name')) {
      if (!name.textContent.trim().startsWith('bob')) continue;
      const card = name.closest('.widget-vbox');
      for (const el of card.querySelectorAll('span'))
        if (el.textContent.trim() === 'verified') return true;
    }
    return false;
  };
  window.__verified.push(shown());
  new MutationObserver(() => {
    const now = shown();
    if (now !== window.__verified[window.__verified.length - 1]) window.__verified.push(now);
  }).observe(document.body, {subtree: true, childList: true, characterData: true,
                             attributes: true});
}
"""


@pytest.mark.parametrize("size", [(1400, 1000), (390, 844)], ids=["desktop", "phone"])
def test_a_reloaded_partner_gets_new_keys_by_itself_and_is_never_shown_verified(size):
    require_binary("chromium")
    relay = RelayProcess().start()
    room = f"reload-{secrets.token_hex(3)}"
    try:
        with contextlib.ExitStack() as stack, sync_playwright() as pw:
            url = stack.enter_context(lab_server(relay_url=relay.url,
                                                 log_name="ecc-lab-reload-keys.log")).url
            browser = launch_chromium(pw)
            try:
                context = browser.new_context(viewport={"width": size[0], "height": size[1]})
                alice, bob = context.new_page(), context.new_page()
                for page in (alice, bob):
                    page.goto(url)
                for page in (alice, bob):
                    expect(text_box(page, "Your name")).to_be_editable(timeout=APP_READY_MS)
                join(alice, "alice", room)
                join(bob, "bob", room)
                for page in (alice, bob):
                    open_step(page, "Keys")
                    button(page, "instant").click()
                    button(page, "Generate keys").click()
                card = peer_card(alice, "bob")
                # nobody presses Share key: the keys are exchanged by themselves
                expect(card.get_by_text("secure", exact=True)).to_be_visible(timeout=NETWORK_MS)
                card.get_by_role("checkbox", name="Verified").check()
                expect(card.get_by_text("verified", exact=True)).to_be_visible()
                alice.evaluate(WATCH)

                bob.reload()  # the page rejoins under its name and makes new keys
                expect(text_box(bob, "Your name")).to_have_value("bob", timeout=APP_READY_MS)
                card = peer_card(alice, "bob")
                expect(card.get_by_text("key changed", exact=True)).to_be_visible(
                    timeout=NETWORK_MS)
                # one state, read aloud as it is: not "key changed" and "secure" at once
                expect(card.get_by_text("secure", exact=True)).to_have_count(0)
                text_box(alice, "Message").fill("hello again, new bob")
                button(alice, "Send").click()
                expect(bob.get_by_text("hello again, new bob")).to_be_visible(
                    timeout=NETWORK_MS)
                screenshot(alice, f"reload-keys-alice-{size[0]}.png")
                seen = alice.evaluate("() => window.__verified")
                assert seen[0] is True and False in seen, seen
                assert True not in seen[seen.index(False):], \
                    f"alice's card showed 'verified' for bob after he left: {seen}"
            finally:
                browser.close()
    finally:
        relay.stop()
