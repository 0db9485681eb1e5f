"""The numbers and the layout's text, headless: measured badges in the bubbles, key sizes
per curve, signed coefficients, hex that wraps between groups, stale errors that clear,
the same text sent twice called out, and the steps in named tabs."""

from __future__ import annotations

import dataclasses
import time

import ipywidgets as widgets
import pytest

from ecc_widgets import crypto
from ecc_widgets.app import STEPS, EccApp
from ecc_widgets.curves import get_curve
from ecc_widgets.panels.chat import message_html, metrics_detail, metrics_line, repeated_texts
from ecc_widgets.panels.common import grouped_hex, signed_coefficient
from ecc_widgets.panels.curve import equation_text, format_coefficient, parameters_html
from ecc_widgets.panels.numbers import key_sizes
from ecc_widgets.session import ChatMessage, Peer, Session
from ecc_widgets.session.keygen import keygen_trace
from tests.support.widgets import find


@pytest.fixture
def app():
    session = Session()
    application = EccApp(session)
    yield application
    application.close()
    session.close()


def sealed_message(**changes) -> ChatMessage:
    fields = dict(id="m1", peer_id="bob", direction="out", plaintext="hello world!",
                  ciphertext=crypto.b64encode(bytes(12)), nonce=crypto.b64encode(bytes(12)),
                  tag=crypto.b64encode(bytes(16)), associated_data='{"seq":1}',
                  ciphertext_raw=bytes(12), nonce_raw=bytes(12), tag_raw=bytes(16),
                  time=time.time(), status="sent", plaintext_bytes=12, ciphertext_bytes=12,
                  nonce_bytes=12, tag_bytes=16, ad_bytes=9, seal_ms=0.04)
    fields.update(changes)
    return ChatMessage(**fields)


def test_a_bubble_gives_sizes_and_time_in_one_line_and_in_full_one_click_away():
    message = sealed_message()
    assert message.overhead_bytes == 28
    assert metrics_line(message) == "12 B → 40 B · sealed 0.04 ms"
    shown = metrics_detail(message)
    assert "12 B -> 12+12+16 B (+28 B, 233%)" in shown
    assert "sealed in 0.040 ms" in shown and "opened" not in shown
    received = dataclasses.replace(message, direction="in", seal_ms=0.0, open_ms=0.125)
    assert metrics_line(received) == "12 B → 40 B · opened 0.12 ms"
    assert "opened in 0.125 ms" in metrics_detail(received)
    # nothing measured (a rejected message, say): nothing rather than zeros
    nothing = ChatMessage(id="x", peer_id="bob", direction="in", plaintext="")
    assert metrics_line(nothing) == metrics_detail(nothing) == ""


def test_bubbles_mark_ours_and_theirs_with_the_wire_one_click_away():
    ours = message_html(sealed_message(), "alice", "bob", show_wire=False)
    theirs = message_html(sealed_message(direction="in"), "alice", "bob", show_wire=False)
    assert 'class="ecc-bubble ecc-ours"' in ours      # the stylesheet puts ours right
    assert 'class="ecc-bubble ecc-theirs"' in theirs
    # one line of numbers; the bytes in hex, nonce, tag and AD in a closed <details>
    assert "<details " in ours and "<details open" not in ours
    assert "<summary>" in ours and "12 B → 40 B" in ours.split("</summary>")[0]
    detail = ours.split("</summary>")[1]
    assert "<b>ciphertext</b> <small>(12 B)</small> 0000 0000" in detail
    assert "<b>nonce</b> <small>(12 B)</small>" in detail and "<b>tag</b> <small>(16 B)" in detail
    assert "associated data" in detail
    opened = message_html(sealed_message(), "alice", "bob", show_wire=True)
    assert "<details " in opened and " open>" in opened and sealed_message().nonce in opened


def test_the_same_text_twice_is_called_out_as_a_fresh_nonce(app):
    s = app.session
    first = sealed_message(id="1")
    again = sealed_message(id="2", ciphertext=crypto.b64encode(b"\x01" * 12))
    theirs = sealed_message(id="3", direction="in")
    other = sealed_message(id="4", plaintext="something else")
    assert repeated_texts((first, theirs, again, other)) == {"2"}
    s.peers = {"bob": Peer(id="bob", name="bob", statuses=frozenset({"secure"}))}
    s.conversations = {"bob": (first, theirs, again, other)}
    shown = app.chat_panel.conversation.value
    assert shown.count("same text, different ciphertext (fresh nonce)") == 1


@pytest.mark.parametrize("curve, private, public", [
    ("P-256", 32, 65), ("X25519", 32, 32), ("P-521", 66, 133), ("secp256k1", 32, 65),
])
def test_key_sizes_are_the_curves(curve, private, public):
    key = crypto.generate_private_key(curve)
    trace = keygen_trace(key)
    sizes = key_sizes(trace, crypto.public_key_to_jwk(key))
    assert (sizes["private"], sizes["public"], sizes["total"]) == (
        private, public, private + public)
    assert sizes["jwk"] > public  # base64url and the JSON around it


def test_numbers_panel_shows_sizes_and_measured_times(app):
    app.session.select_curve("P-521")
    app.session.generate_keys()
    panel = app.numbers_panel
    assert "Key sizes on P-521" in panel.sizes.value
    assert "66 B" in panel.sizes.value and "133 B" in panel.sizes.value
    assert "199 B" in panel.sizes.value
    assert "key generation" in panel.times.value and " ms" in panel.times.value
    assert app.session.keygen.keygen_ms > 0


def test_small_coefficients_are_signed_and_large_ones_left_alone():
    p256 = get_curve("P-256")
    assert signed_coefficient(p256.a, p256.p) == -3
    assert format_coefficient(p256.a, p256.p) == "-3"
    assert equation_text(p256) == "y^2 = x^3 - 3x + b"
    assert equation_text(get_curve("secp256k1")) == "y^2 = x^3 + 7"
    brainpool = get_curve("brainpoolP256r1")
    assert signed_coefficient(brainpool.a, brainpool.p) == brainpool.a
    assert ">a<" in parameters_html(p256) and ">-3<" in parameters_html(p256)


def test_long_hex_breaks_between_digit_groups():
    assert grouped_hex(bytes(range(6))) == "0001 0203 0405"
    assert grouped_hex("abcdef0123", 4, "<wbr>") == "abcd<wbr>ef01<wbr>23"
    assert "break-all" not in parameters_html(get_curve("P-384"))


def test_a_stale_error_clears_when_its_condition_goes(app):
    s = app.session
    s.errors = {"peers": "generate your keys first, then share them",
                "chat": "generate your keys first", "join": "name taken"}
    assert "generate your keys first" in app.peers_panel.error.value
    s.generate_keys()
    assert s.errors == {"join": "name taken"}  # the unrelated error stays
    assert app.peers_panel.error.value == "" and app.chat_panel.error.value == ""


def test_the_steps_are_tabs_named_for_what_they_hold(app):
    assert app.steps.titles == STEPS
    # built when first opened, into the tab's place
    keys, numbers = app.keys_panel, app.numbers_panel
    assert app.steps.children[STEPS.index("Keys")].children == (keys,)
    assert app.steps.children[STEPS.index("Numbers")].children == (numbers,)
    app.show_step("Log")
    assert app.steps.selected_index == STEPS.index("Log")
    # the chat and the peers are outside the tabs: always shown
    tabbed = {id(w) for w in app.steps.children}
    assert id(app.chat_panel) not in tabbed and id(app.peers_panel) not in tabbed
    assert len(find(app, widgets.Tab)) == 1


def test_the_key_walk_uses_the_toy_curve_picked_in_the_curve_panel(app):
    app.keys_panel.speed.value = "instant"
    find(app, widgets.Button, description="Generate keys")[0].click()
    app.keys_panel.reveal.value = True  # the walk from d, d' shown: d is shown too
    assert "toy-251" in app.keys_panel.toy_note.value
    app.curve_panel.dropdown.value = "toy-1021"
    note = app.keys_panel.toy_note.value
    n = get_curve("toy-1021").n
    d = app.session.keygen.private_value
    assert "toy-1021" in note and f"d' = {d % (n - 1) + 1} = (d mod (n - 1)) + 1" in note
    assert app.session.curve == "P-256"  # exploring a toy curve changes no key
