"""Two apps in one process through a real relay process, driven only through their widgets:
join, keys, share and chat both ways; a hostile name shown as text; errors in words."""

from __future__ import annotations

import html

import ipywidgets as widgets
import pytest

from ecc_widgets.app import EccApp
from ecc_widgets.demo_peer import DemoPeer
from ecc_widgets.panels.common import badge
from ecc_widgets.session import Session
from tests.support.polling import wait_until
from tests.support.processes import free_port
from tests.support.widgets import EVIL, find, press_enter, walk


def make_app():
    # No relay locator: the test's relay is the only one; nothing outlives the test.
    return EccApp(Session(demo_peer_factory=DemoPeer))


@pytest.fixture
def two_apps():
    apps = [make_app(), make_app()]
    yield apps
    for app in apps:
        app.close()
        app.session.close()


def join(app, name: str, room: str, relay_url: str) -> None:
    panel = app.join_panel
    find(panel, widgets.Text, placeholder="Your name")[0].value = name
    find(panel, widgets.Text, placeholder="Room")[0].value = room
    find(panel, widgets.Text, placeholder="Relay (default: local)")[0].value = relay_url
    find(panel, widgets.Button, description="Join")[0].click()


def card_for(app, name: str):
    return wait_until(lambda: next((c for c in app.peers_panel.cards.values()
                                    if c.peer_id.startswith(name)), None),
                      what=f"a card for {name!r}")


def generate(app, curve: str) -> None:
    find(app, widgets.Dropdown, description="Curve")[0].value = curve
    app.keys_panel.speed.value = "instant"
    find(app, widgets.Button, description="Generate keys")[0].click()
    assert app.session.public_jwk, app.keys_panel.error.value


def conversation_text(app) -> str:
    return html.unescape(app.chat_panel.conversation.value)


@pytest.mark.parametrize("curve", ["P-256", "X25519"])
def test_two_apps_join_share_keys_and_chat_both_ways(relay, two_apps, curve):
    alice, bob = two_apps
    join(alice, "alice", "lab", relay.url)
    join(bob, "bob", "lab", relay.url)
    wait_until(lambda: alice.session.joined and bob.session.joined, what="both joined")
    assert "connected" in alice.join_panel.status.value
    bob_card = card_for(alice, "bob")
    card_for(bob, "alice")

    generate(alice, curve)
    generate(bob, curve)
    find(bob_card, widgets.Button, description="Share key")[0].click()
    wait_until(lambda: "secure" in alice.session.peers["bob"].statuses
               and "secure" in bob.session.peers["alice"].statuses, what="a secure pair")
    wait_until(lambda: "safety number" in bob_card.details.value, what="the safety number")
    safety = alice.session.peers["bob"].safety_number
    assert safety and safety == bob.session.peers["alice"].safety_number
    assert safety in bob_card.details.value

    # Alice presses Enter in the Message box (the value commits), Bob answers with "Send".
    assert find(alice, widgets.Dropdown, description="To")[0].value == "bob"
    press_enter(alice.chat_panel.message, "hello bob, 1 < 2 & 3 > 2")
    assert alice.chat_panel.message.value == ""  # sent, box cleared
    wait_until(lambda: "hello bob, 1 < 2 & 3 > 2" in conversation_text(bob),
               what="bob reading alice's message")
    bob.chat_panel.message.value = "hi alice"
    find(bob, widgets.Button, description="Send")[0].click()
    wait_until(lambda: "hi alice" in conversation_text(alice), what="alice reading bob's reply")
    wait_until(lambda: all(m.status in ("sent", "received")
                           for m in alice.session.conversations["bob"]), what="acks")

    # What the relay saw: ciphertext beside the plaintext, and never the plaintext itself.
    received = bob.session.conversations["alice"][-1]
    bob.chat_panel.wire.value = True
    assert received.ciphertext in bob.chat_panel.conversation.value
    assert received.nonce in bob.chat_panel.conversation.value
    wait_until(lambda: any(e.get("event") == "receive-message"
                           for e in bob.session.relay_view), what="the relay view")
    # panels redraw a few times a second at most: the view follows the model shortly
    seen = wait_until(lambda: (lambda v: v if received.ciphertext in v else "")(
        html.unescape(bob.relay_panel.events.value)), what="the relay panel")
    assert "hello bob" not in seen

    # Ticking Verified (the safety numbers matched out of band) shows on bob's card and in
    # the log, and unticking takes it back; the box drives the model, not only itself.
    verified_badge = badge("verified")
    assert verified_badge not in bob_card.details.value
    find(bob_card, widgets.Checkbox, description="Verified")[0].value = True
    assert alice.session.peers["bob"].verified
    assert verified_badge in bob_card.details.value
    wait_until(lambda: "bob verified" in html.unescape(alice.log_panel.entries.value),
               what="the log line")
    # A message that follows is shown with the lock: it passed every check.
    bob.chat_panel.message.value = "after verifying"
    find(bob, widgets.Button, description="Send")[0].click()
    after = wait_until(lambda: next((m for m in alice.session.conversations["bob"]
                                     if m.plaintext == "after verifying"), None),
                       what="the message after verifying")
    assert after.verified
    shown = wait_until(lambda: (lambda v: v if "after verifying" in v else "")(
        alice.chat_panel.conversation.value), what="the message in the chat")
    bubble = shown[shown.rindex('<div class="ecc-bubble', 0, shown.index("after verifying")):]
    bubble = bubble[:bubble.index("</summary>")]   # its one line of details and marks
    assert 'title="bob, ' in bubble and "fa-lock" in bubble and "fa-check-circle" in bubble
    find(bob_card, widgets.Checkbox, description="Verified")[0].value = False
    assert not alice.session.peers["bob"].verified
    assert verified_badge not in bob_card.details.value
    wait_until(lambda: "bob no longer verified" in html.unescape(
        alice.log_panel.entries.value), what="the log line")


def test_hostile_name_is_shown_literally_on_the_other_side(relay, two_apps):
    alice, mallory = two_apps
    join(alice, "alice", "lab", relay.url)
    join(mallory, EVIL, "lab", relay.url)
    card = card_for(alice, EVIL)
    wait_until(lambda: any(html.escape(EVIL) in e.value for e in walk(alice.log_panel)
                           if isinstance(e, widgets.HTML)), what="the log naming the newcomer")
    assert html.escape(EVIL) in card.name_label.value  # escaped HTML: shown as text
    option_labels = [label for label, _ in alice.chat_panel.to.options]
    assert EVIL in option_labels  # a Dropdown option label: shown as text
    for w in walk(alice):
        if isinstance(w, widgets.HTML):
            assert EVIL not in w.value, f"raw markup in {w!r}"
    escaped = [w for w in walk(alice) if isinstance(w, widgets.HTML)
               and html.escape(EVIL) in w.value]
    assert len(escaped) >= 3  # the card, the log, the relay view, the empty conversation


def test_unreachable_relay_is_reported_in_the_join_panel_and_the_log():
    app = make_app()
    try:
        join(app, "alice", "lab", f"http://127.0.0.1:{free_port()}")
        wait_until(lambda: app.join_panel.error.value, timeout=20,
                   what="an error in the join panel")
        assert any(e.level == "error" for e in app.session.log)
        assert not app.session.joined
    finally:
        app.close()
        app.session.close()


def test_taken_name_is_reported_in_the_join_panel(relay, two_apps):
    first, second = two_apps
    join(first, "alice", "lab", relay.url)
    wait_until(lambda: first.session.joined, what="the first alice joined")
    join(second, "alice", "lab", relay.url)
    wait_until(lambda: second.join_panel.error.value, timeout=20, what="the name refused")
    assert "alice" in html.unescape(second.join_panel.error.value)
    assert not second.session.joined


def test_demo_peer_answers_through_the_widgets(relay):
    app = make_app()
    try:
        join(app, "student", "solo", relay.url)
        wait_until(lambda: app.session.joined, what="joined")
        generate(app, "P-256")
        find(app, widgets.Button, description="Summon demo peer")[0].click()
        card = card_for(app, "demo-peer")
        find(card, widgets.Button, description="Share key")[0].click()
        wait_until(lambda: "secure" in app.session.peers["demo-peer"].statuses,
                   timeout=20, what="a key exchange with the demo peer")
        app.chat_panel.to.value = "demo-peer"
        press_enter(app.chat_panel.message, "ping")
        # the reply, not our own "ping": the demo peer quotes what it decrypted
        reply = wait_until(lambda: next((m for m in app.session.conversations.get(
                                             "demo-peer", ()) if m.direction == "in"), None),
                           timeout=20, what="the demo peer's reply")
        assert "'ping'" in reply.plaintext and reply.authenticated and not reply.verified
        wait_until(lambda: reply.plaintext in conversation_text(app), what="the reply shown")
    finally:
        app.close()
        app.session.close()


def test_a_peer_who_leaves_loses_its_card(relay, two_apps):
    alice, bob = two_apps
    join(alice, "alice", "lab", relay.url)
    join(bob, "bob", "lab", relay.url)
    card_for(alice, "bob")
    find(bob, widgets.Button, description="Leave")[0].click()
    wait_until(lambda: not alice.peers_panel.cards, what="bob's card removed")
    assert alice.chat_panel.to.options == ()
    assert not bob.join_panel.join_button.disabled  # bob may join again
