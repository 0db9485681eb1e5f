"""Headless tests of the panels over a real session model (no browser, no relay):
set values, click buttons, check the model and the widgets' state."""

from __future__ import annotations

import dataclasses
import html
import io
import json
import logging
import threading
import time

import ipywidgets as widgets
import matplotlib.image
import pytest

from ecc_widgets import crypto, ecmath, sas
from ecc_widgets.app import STEPS, EccApp
from ecc_widgets.curves import NAMED_CURVES, TOY_CURVES, get_curve
from ecc_widgets.panels import chat, compare, keys, log, peers
from ecc_widgets.panels.common import badge, escape
from ecc_widgets.session import ChatMessage, LogEntry, Peer, Session
from tests.support.polling import wait_until
from tests.support.widgets import EVIL, find, press_enter, walk

HOSTILE = [r"$\text{bob}$", r"$\href{http://x}{click to verify}$", EVIL, "bad\ud800name"]

@pytest.fixture
def app():
    session = Session()
    application = EccApp(session)
    yield application
    application.close()
    session.close()

def test_labels_users_and_tests_rely_on(app):
    for title in STEPS:  # a step is built when its tab is first opened
        app.show_step(title)
    for label in ("Join", "Generate keys", "Send", "Summon demo peer"):
        assert len(find(app, widgets.Button, description=label)) == 1
    for placeholder in ("Your name", "Room", "Message", "Relay (default: local)"):
        assert len(find(app, widgets.Text, placeholder=placeholder)) == 1
    curve = find(app, widgets.Dropdown, description="Curve")[0]
    assert set(curve.options) == set(NAMED_CURVES) | set(TOY_CURVES)
    find(app, widgets.Dropdown, description="To")

def show_everywhere(session, name: str) -> None:
    """What a peer called `name` puts on screen: card, chat, log, relay view, an error."""
    session.peers = {name: Peer(id=name, name=name, curve="P-256",
                                statuses=frozenset({"joined"}))}
    msg = ChatMessage(id="m1", peer_id=name, direction="in", plaintext=name, ciphertext="AA==",
                      nonce="AA==", tag="AA==", associated_data=name, time=time.time(),
                      status="received", reason=name)
    session.conversations = {name: (msg,)}
    session.log = (LogEntry(time=time.time(), level="info", source=name, text=f"{name} joined"),)
    session.relay_view = ({"event": "user-joined", "direction": "in", "time": time.time(),
                           "payload": {"username": name}},)
    session.errors = {"chat": name, "peers": name}

@pytest.mark.parametrize("name", HOSTILE)
def test_network_text_is_escaped_text_everywhere_never_markup_nor_tex(app, name):
    for title in STEPS:
        app.show_step(title)
    show_everywhere(app.session, name)
    app.chat_panel.wire.value = True
    shown = escape(name, 64)
    assert "$" not in shown and "\\" not in shown and "<" not in shown
    escaped = 0
    for w in walk(app):
        # Label and description are typeset as TeX by their views: no outside text there.
        assert not isinstance(w, (widgets.Label, widgets.HTMLMath)), f"{w!r} typesets TeX"
        assert name not in str(getattr(w, "description", "")), f"{w!r}'s description"
        # Every widget's state can travel to the browser (no lone surrogate in it).
        json.dumps(w.get_state(), ensure_ascii=False, default=repr).encode("utf-8")
        if isinstance(w, widgets.HTML):
            assert name not in w.value, f"unescaped text in {w!r}"
            assert "\\" not in w.value, f"a TeX command could start in {w!r}"
            escaped += shown in w.value
    # the card's name, the chat (name, message, reason, AD, error), log, relay view, errors
    assert escaped >= 5
    options = [label for label, _ in app.chat_panel.to.options]
    assert len(options) == 1 and options[0].replace("\ufffd", "") == name.replace("\ud800", "")
    assert "tex2jax_ignore" in app._dom_classes and "mathjax_ignore" in app._dom_classes

def test_a_display_error_never_aborts_the_model_nor_other_panels(app, monkeypatch, caplog):
    def broken():
        raise RuntimeError("display bug")

    # The peers panel observes `peers` before the chat panel does.
    monkeypatch.setattr(app.peers_panel, "_render", broken)
    with caplog.at_level(logging.ERROR, logger="ecc_widgets.panels"):
        app.session.peers = {"bob": Peer(id="bob", name="bob")}  # must not raise
    assert app.session.peers["bob"].name == "bob"
    assert [pid for _, pid in app.chat_panel.to.options] == ["bob"]  # the next observer ran
    assert "could not display" in app.peers_panel.error.value
    assert any("display bug" in (r.exc_text or "") for r in caplog.records)
    monkeypatch.setattr(log, "entry_html", lambda entry: 1 / 0)  # a broken entry
    app.log_panel._list.render = log.entry_html
    app.session.log = (LogEntry(time.time(), "info", "me", "hello"),)
    assert "could not be displayed" in app.log_panel.entries.value

def counting(panel_list):
    calls = []
    render = panel_list.render
    panel_list.render = lambda item: calls.append(item) or render(item)
    return calls

def test_lists_render_only_what_is_new_or_changed(app):
    s = app.session
    calls = counting(app.log_panel._list)
    s.log = tuple(LogEntry(float(i), "info", "me", f"entry {i}") for i in range(500))
    assert len(calls) == log.SHOWN
    calls.clear()
    s.log = (*s.log[1:], LogEntry(500.0, "error", "mallory", "junk"))  # the window slides
    assert len(calls) == 1 and "junk" in app.log_panel.entries.value
    assert app.log_panel.entries.value.count("entry ") == log.SHOWN - 1

    s.peers = {"bob": Peer(id="bob", name="bob")}
    messages = tuple(ChatMessage(id=str(i), peer_id="bob", direction="out", plaintext=f"m{i}",
                                 status="sending") for i in range(300))
    s.conversations = {"bob": messages}
    calls = counting(app.chat_panel._list)
    s.conversations = {"bob": (*messages[:-1], dataclasses.replace(messages[-1], status="sent"))}
    assert len(calls) == 1 and calls[0].status == "sent"
    calls.clear()
    s.conversations = {**s.conversations, "carol": ()}  # another conversation changed
    assert calls == []

def test_rejected_messages_are_counted_not_listed(app):
    s = app.session
    s.peers = {"bob": Peer(id="bob", name="bob", rejected=37)}
    s.conversations = {"bob": tuple(
        ChatMessage(id=str(i), peer_id="bob", direction="in", plaintext="", status="rejected",
                    reason="tampered: the tag does not match") for i in range(5))}
    shown = html.unescape(app.chat_panel.conversation.value)
    assert "37 rejected messages from bob (newest 5 shown)" in shown

def test_join_without_a_name_says_so_in_the_join_panel(app):
    app.join_panel.room_box.value = "lab"
    find(app, widgets.Button, description="Join")[0].click()
    assert "your name" in app.join_panel.error.value
    assert not app.session.joined

def test_model_errors_reach_their_panel(app):
    app.session.errors = {"keys": "the curve is not supported", "peers": "no such peer"}
    assert "the curve is not supported" in app.keys_panel.error.value
    assert "no such peer" in app.peers_panel.error.value
    assert app.chat_panel.error.value == ""
    app.session.errors = {}
    assert app.keys_panel.error.value == ""

def test_send_without_a_peer_is_refused_in_words(app):
    press_enter(app.chat_panel.message, "hello?")
    assert "Pick a peer" in app.chat_panel.error.value
    assert app.chat_panel.message.value == "hello?"  # kept, so nothing typed is lost

def test_curve_dropdown_selects_key_curves_and_explores_toys(app):
    app.show_step("Curve")  # the pictures are drawn when shown
    panel = app.curve_panel
    panel.dropdown.value = "P-384"
    assert app.session.curve == "P-384"
    assert "0x" in panel.parameters.value and "security level" in panel.parameters.value
    assert "No picture" in panel.real_note.value  # 384-bit: only the shape and a toy
    before = bytes(panel.field_image.background)
    panel.dropdown.value = "toy-17"
    assert app.session.curve == "P-384"  # toy curves are for exploring, not for keys
    assert "exploring" in panel.note.value
    assert bytes(panel.field_image.background) != before
    assert panel.field_p.max == len(ecmath_points("toy-17")) - 1
    real, field = bytes(panel.real_image.overlay), bytes(panel.field_image.overlay)
    background = bytes(panel.field_image.background)
    panel.field_q.value = 3
    assert bytes(panel.field_image.overlay).startswith(b"\x89PNG")
    assert bytes(panel.field_image.overlay) != field  # what moves is drawn again
    assert bytes(panel.field_image.background) == background  # the curve is not
    assert bytes(panel.real_image.overlay) == real  # only the plot whose inputs changed

def ecmath_points(name):
    from ecc_widgets.curves import points

    return points(get_curve(name))

def test_model_curve_change_moves_the_dropdown(app):
    app.session.select_curve("secp256k1")
    assert app.curve_panel.dropdown.value == "secp256k1"

def revealed(keys_panel) -> str:
    """The secret box once the student pressed "Show my private value"."""
    keys_panel.reveal.value = True
    return keys_panel.secret.value.replace("<wbr>", "")

def shown_jwk(keys_panel) -> dict:
    text = html.unescape(keys_panel.public.value)
    start = text.index("{")
    return json.loads(text[start:text.index("</pre>", start)])

@pytest.mark.parametrize("curve", ["P-256", "X25519"])
def test_generate_keys_instant_shows_the_keys_used(app, curve):
    app.curve_panel.dropdown.value = curve
    panel = app.keys_panel
    panel.speed.value = "instant"
    find(app, widgets.Button, description="Generate keys")[0].click()
    trace = app.session.keygen
    assert trace is not None and not panel.playing
    assert panel.progress.value == panel.progress.max == len(trace.steps)
    assert hex(trace.private_value) in revealed(panel)
    assert shown_jwk(panel) == app.session.public_jwk
    assert app.session.fingerprint in panel.public.value
    # The public key on screen is d x G for the d on screen, and it is the session's key.
    public = crypto.public_key_from_jwk(app.session.public_jwk)
    expected = ecmath.scalar_mult(get_curve(curve), trace.private_value)
    assert crypto.public_bytes(public) == ecmath.encode_point(get_curve(curve), expected)
    assert crypto.public_bytes(public).hex() in panel.public.value.replace("<wbr>", "")

def test_generate_keys_plays_back_without_blocking(app, monkeypatch):
    monkeypatch.setitem(keys.SPEEDS, "fast", 0.6)  # a short playback keeps the suite quick
    panel = app.keys_panel
    panel.speed.value = "fast"
    panel.generate.click()
    trace = app.session.keygen
    assert panel.playing or panel.progress.value == len(trace.steps)
    seen = set()
    wait_until(lambda: seen.add(panel.progress.value) or not panel.playing, timeout=15,
               what="the playback to finish")
    assert len(seen) > 2, "the progress bar should move through the steps"
    assert panel.progress.value == len(trace.steps)
    assert hex(trace.private_value) in revealed(panel)
    assert "doubles" in panel.step2.value and "adds" in panel.step2.value
    assert bytes(panel.path_image.value).startswith(b"\x89PNG")  # the toy walk, drawn
    assert f"d' = {trace.toy.private_value}" in panel.toy_note.value

def test_a_new_generation_stops_the_old_playback(app):
    panel = app.keys_panel
    panel.speed.value = "slow"
    panel.generate.click()
    first = panel._thread
    assert panel.playing, "the click returns while the playback runs on its own thread"
    panel.speed.value = "instant"
    panel.generate.click()
    assert first is not None and not first.is_alive()
    assert hex(app.session.keygen.private_value) in revealed(panel)

def test_keys_made_elsewhere_are_shown_and_dropped_keys_disappear(app):
    panel = app.keys_panel
    trace = app.session.generate_keys()  # a notebook cell calling the model directly
    assert hex(trace.private_value) in revealed(panel)
    assert shown_jwk(panel) == app.session.public_jwk
    app.curve_panel.dropdown.value = "P-521"  # the model drops keys made for P-256
    assert app.session.keygen is None
    assert panel.secret.value == "" and panel.public.value == ""
    assert "P-521" in panel.step1.value

def test_closing_the_app_stops_the_playback_thread(app):
    app.keys_panel.speed.value = "slow"
    app.keys_panel.generate.click()
    assert app.keys_panel.playing
    app.close()
    assert not [t for t in threading.enumerate() if t.name == "ecc-keys-playback"]

def test_a_closed_app_no_longer_follows_the_model(app):
    keys = app.keys_panel
    app.close()
    app.session.errors = {"keys": "after close"}  # must not raise nor touch closed widgets
    assert keys.error.value == ""
    assert all(w.comm is None for w in walk(app))
    with pytest.raises(RuntimeError, match="closed"):
        app.step("Log")  # nothing new is built for a closed app

def test_badges_say_authenticated_for_the_crypto_and_verified_for_the_user(app):
    s = app.session
    s.peers = {"bob": Peer(id="bob", name="bob", curve="P-256")}
    now = time.time()
    proved = ChatMessage(id="1", peer_id="bob", direction="in", plaintext="all good",
                    time=now, status="received", authenticated=True, verified=False,
                    ciphertext="Y2lwaGVy", ciphertext_raw=b"cipher")
    s.conversations = {"bob": (proved,)}
    shown = app.chat_panel.conversation.value
    assert "fa-lock" in shown and "authenticated" in shown
    assert "verified" not in shown  # the user has not compared the safety number
    s.conversations = {"bob": (
        dataclasses.replace(proved, verified=True),
        ChatMessage(id="2", peer_id="bob", direction="in", plaintext="", time=now,
                    status="rejected", reason="tampered: the tag does not match"),
        ChatMessage(id="3", peer_id="bob", direction="in", plaintext="old client",
               time=now, status="received", legacy=True, authenticated=False,
               reason="no associated data"),
        ChatMessage(id="4", peer_id="bob", direction="out", plaintext="mine", time=now,
               status="sent", authenticated=False),
    )}
    shown = app.chat_panel.conversation.value
    assert shown.index("all good") < shown.index("mine")  # newest last, as messengers do
    assert "fa-check-circle" in shown and "verified" in shown
    assert "rejected" in shown and "tampered: the tag does not match" in shown
    assert "legacy" in shown and "legacy: no associated data" in shown
    assert shown.count("fa-lock") == 1  # neither the legacy nor the unconfirmed message
    assert "Y2lwaGVy" not in shown  # the wire is hidden until asked for
    app.chat_panel.wire.value = True
    assert "Y2lwaGVy" in app.chat_panel.conversation.value

def test_legacy_is_allowed_on_the_card_with_one_labelled_click(app):
    s = app.session
    calls = []
    s.allow_legacy = lambda peer_id, allowed=True: calls.append((peer_id, allowed))
    s.peers = {"old": Peer(id="old", name="old", legacy=True, legacy_allowed=False,
                             statuses=frozenset({"joined", "key received", "secure"})),
               "new": Peer(id="new", name="new", statuses=frozenset({"secure"}))}
    card = app.peers_panel.cards["old"]
    assert badge("secure") not in card.details.value  # a legacy pair is never "secure"
    assert badge("legacy offered") in card.details.value
    assert "no key derivation" in card.details.value and "replays" in card.details.value
    assert card.legacy.layout.display != "none"
    assert "legacy" in card.legacy.description.lower()
    assert app.peers_panel.cards["new"].legacy.layout.display == "none"
    assert badge("secure") in app.peers_panel.cards["new"].details.value
    card.legacy.click()
    assert calls == [("old", True)]
    s.peers = {**s.peers, "old": Peer(id="old", name="old", legacy=True,
                                        legacy_allowed=True,
                                        statuses=frozenset({"joined", "legacy"}))}
    assert card.legacy.description == peers.STOP_LEGACY and "legacy" in card.details.value
    card.legacy.click()
    assert calls[-1] == ("old", False)

def test_the_card_shows_the_codes_to_compare_and_asks_for_the_verdict(app):
    s = app.session
    calls = []
    s.set_verified = lambda peer_id, verified: calls.append(("verified", peer_id, verified))
    s.report_mismatch = lambda peer_id: calls.append(("mismatch", peer_id))
    s.peers = {"bob": Peer(id="bob", name="bob", statuses=frozenset({"key received"}))}
    card = app.peers_panel.cards["bob"]
    assert card.compare.layout.display == "none" and card.codes.value == ""  # no key yet
    code = sas.from_bytes(bytes([0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC]))
    bob = Peer(id="bob", name="bob", statuses=frozenset({"secure"}), safety_number="12345 67890",
               sas=code)
    s.peers = {"bob": bob}
    shown = card.codes.value
    for symbol, name in code.emoji:
        assert escape(symbol) in shown and escape(name) in shown
    assert code.numbers_text in shown and "12345 67890" in card.details.value
    assert shown.index(code.emoji[0][1]) < shown.index(code.numbers_text)
    assert card.compare.layout.display is None and card.banner.value == ""
    find(card, widgets.Button, description=peers.MATCH)[0].click()
    find(card, widgets.Button, description=peers.DIFFER)[0].click()
    assert calls == [("verified", "bob", True), ("mismatch", "bob")]
    find(card, widgets.Checkbox, description="Verified")  # the tick stays, for un-verifying
    s.peers = {"bob": dataclasses.replace(bob, mismatch=True)}
    assert "someone is in the middle" in card.banner.value
    assert "do not trust this conversation" in card.banner.value
    s.peers = {"bob": dataclasses.replace(bob, sas=sas.from_bytes(bytes(6)))}  # a new key
    assert card.banner.value == "" and code.numbers_text not in card.codes.value

def test_log_sets_the_apps_own_sources_apart_from_peers(app):
    app.session.log = (LogEntry(1.0, "info", "me", "key pair generated"),
                       LogEntry(2.0, "info", "relay", "connected"),
                       LogEntry(3.0, "info", "mallory", "key pair generated"))
    entries = app.log_panel.entries.value.split("</div>")
    mallory, relay, me = entries[0], entries[1], entries[2]
    for own in (me, relay):
        assert log.APP_SOURCE_STYLE in own and log.PEER_MARK_STYLE not in own
    assert log.PEER_MARK_STYLE in mallory and log.APP_SOURCE_STYLE not in mallory
    assert ">peer</span>" in mallory

def test_only_enter_or_send_sends_a_message(app):
    sent = []
    app.session.send = lambda peer, text: sent.append((peer, text)) or object()
    app.session.peers = {"bob": Peer(id="bob", name="bob")}
    chat = app.chat_panel
    chat.message.value = "a draft"  # the box lost focus: a draft, not a message
    assert sent == [] and chat.message.value == "a draft"
    press_enter(chat.message)  # Enter on unchanged text: no value comes, the box's is sent
    wait_until(lambda: sent, what="the message sent after Enter")
    assert sent == [("bob", "a draft")] and chat.message.value == ""
    press_enter(chat.message, "second")  # Enter on new text: sent as the value arrives
    assert sent[-1] == ("bob", "second")
    chat.message.value = "third"
    find(chat, widgets.Button, description="Send")[0].click()
    assert sent[-1] == ("bob", "third") and len(sent) == 3

def background_and_brightest(png: bytes) -> tuple[float, float]:
    """Brightness (0 black, 1 white) of a picture's corner pixel and of its brightest pixel."""
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
    brightness = pixels.mean(axis=-1)
    return float(brightness[0, 0]), float(brightness.max())

@pytest.mark.parametrize("theme", ["dark", "light"])
def test_the_theme_paints_the_pictures_background(theme):
    session = Session()
    app = EccApp(session, theme=theme)
    try:
        assert app.curve_panel.theme == app.keys_panel.theme == theme
        app.show_step("Curve")
        app.keys_panel.speed.value = "instant"
        app.keys_panel.generate.click()   # draws the toy walk too
        panel = app.curve_panel
        for png in (panel.real_image.background, panel.field_image.background,
                    app.keys_panel.path_image.value):
            background, brightest = background_and_brightest(bytes(png))
            if theme == "dark":
                assert background < 0.15, "a dark theme draws on a dark background"
                assert brightest > 0.6, "and draws in light ink"
            else:
                assert background > 0.95
    finally:
        app.close()
        session.close()

def test_a_long_conversation_shows_the_newest_messages(app):
    app.session.peers = {"bob": Peer(id="bob", name="bob")}
    app.session.conversations = {"bob": tuple(
        ChatMessage(id=str(i), peer_id="bob", direction="in", plaintext=f"message #{i}#",
                    status="received") for i in range(chat.SHOWN + 50))}
    shown = app.chat_panel.conversation.value
    assert f"message #{chat.SHOWN + 49}#" in shown and "message #49#" not in shown
    assert "50 older messages" in shown

def test_compare_codes_puts_both_screens_side_by_side_and_follows_them():
    alice, bob = Session(), Session()
    view = compare.CompareCodes(alice, bob)
    try:
        assert view.verdict == compare.WAITING
        alice.username, bob.username = "alice", "bob"
        code = sas.from_bytes(bytes([0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC]))
        alice.peers = {"bob": Peer(id="bob", name="bob", safety_number="111 222", sas=code)}
        assert view.verdict == compare.WAITING  # bob has no key of alice's yet
        bob.peers = {"alice": Peer(id="alice", name="alice", safety_number="111 222",
                                   sas=code)}
        assert view.verdict == compare.SAME and "same on both screens" in view.result.value
        assert all(code.numbers_text in side.value for side in view.sides)
        other = sas.from_bytes(bytes(6))
        bob.peers = {"alice": Peer(id="alice", name="alice", safety_number="333 444",
                                   sas=other)}
        assert view.verdict == compare.DIFFERENT and "DIFFERENT" in view.result.value
        assert other.numbers_text in view.sides[1].value
        assert other.numbers_text not in view.sides[0].value
        view.close()
        alice.peers = {}  # a closed view no longer follows the models
        assert view.verdict == compare.DIFFERENT
    finally:
        alice.close()
        bob.close()


def test_a_peer_who_left_is_listed_as_left_and_one_back_waits_for_a_new_key(app):
    s = app.session
    s.departed = ("<b>bob</b>",)
    assert "Left the room: &lt;b&gt;bob&lt;/b&gt;" in app.peers_panel.left.value
    s.peers = {"carol": Peer(id="carol", name="carol",
                             statuses=frozenset({"joined", "rejoined: waiting for a new key"}))}
    card = app.peers_panel.cards["carol"]
    assert badge("rejoined: waiting for a new key") in card.details.value
    assert badge("secure") not in card.details.value and not card.verified.value
    s.conversations = {"carol": (ChatMessage(id="w", peer_id="carol", direction="out",
                                             plaintext="are you back?", status="waiting",
                                             reason="waiting for carol's key"),)}
    shown = html.unescape(app.chat_panel.conversation.value)
    assert "are you back?" in shown and "waiting for carol's key" in shown


def test_a_flooding_peer_is_said_muted_and_dropped_messages_are_counted(app):
    s = app.session
    s.peers = {"eve": Peer(id="eve", name="eve", muted=1234)}
    s.trimmed = {"eve": 56}
    s.conversations = {"eve": (ChatMessage(id="1", peer_id="eve", direction="in",
                                           plaintext="x" * 40_000, status="received"),)}
    shown = html.unescape(app.chat_panel.conversation.value)
    assert "1234 messages from eve muted: sent faster than anyone types" in shown
    assert "muted: 1234 messages sent faster" in app.peers_panel.cards["eve"].details.value
    assert "56 older messages dropped to keep this session's memory bounded" in shown
    assert "40,000 characters: the first 4,096 shown" in shown
    assert len(app.chat_panel.conversation.value) < 8_000  # one bubble, not 40 KB of it


def test_the_short_code_says_comparing_until_its_exchange_is_done(app):
    s = app.session
    bob = Peer(id="bob", name="bob", statuses=frozenset({"secure"}), safety_number="12345",
               sas_status=sas.COMPARING)
    s.peers = {"bob": bob}
    card = app.peers_panel.cards["bob"]
    assert "comparing..." in card.codes.value and "ecc-sas-emoji" not in card.codes.value
    code = sas.from_bytes(bytes([0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC]))
    s.peers = {"bob": dataclasses.replace(bob, sas=code, sas_status=sas.DONE)}
    assert code.numbers_text in card.codes.value and "compare all of it" in card.codes.value
    s.peers = {"bob": dataclasses.replace(bob, sas_status=sas.FAILED,
                                          sas_problem="<b>does not open</b>")}
    assert "no short code" in card.codes.value and "&lt;b&gt;does not open" in card.codes.value


def test_compare_codes_waits_for_the_exchange_and_a_failed_one_is_different():
    alice, bob = Session(), Session()
    view = compare.CompareCodes(alice, bob)
    try:
        alice.username, bob.username = "alice", "bob"
        code = sas.from_bytes(bytes(6))
        alice.peers = {"bob": Peer(id="bob", name="bob", safety_number="1", sas=code,
                                   sas_status=sas.DONE)}
        bob.peers = {"alice": Peer(id="alice", name="alice", safety_number="1",
                                   sas_status=sas.COMPARING)}
        assert view.verdict == compare.WAITING and "comparing..." in view.sides[1].value
        bob.peers = {"alice": Peer(id="alice", name="alice", safety_number="1",
                                   sas_status=sas.FAILED, sas_problem="no opening")}
        assert view.verdict == compare.DIFFERENT and "no opening" in view.sides[1].value
        bob.peers = {"alice": Peer(id="alice", name="alice", safety_number="1", sas=code,
                                   sas_status=sas.DONE)}
        assert view.verdict == compare.SAME
    finally:
        view.close()
        alice.close()
        bob.close()
