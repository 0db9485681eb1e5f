"""The chat as a messenger and one signal at a time, headless over a real session model:
newest message last, one compact line per bubble with the rest one click away, one state per
card, the doubt about a pair's keys said on its messages too; and the one stylesheet."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

from ecc_widgets import style
from ecc_widgets.app import EccApp
from ecc_widgets.lab import dashboard_notebook
from ecc_widgets.mallory_panel import MalloryPanel
from ecc_widgets.panels import chat, peers
from ecc_widgets.panels.common import badge
from ecc_widgets.session import ChatMessage, LogEntry, Peer, Session


@pytest.fixture
def app():
    session = Session()
    application = EccApp(session)
    yield application
    application.close()
    session.close()


def sealed(i: int, direction: str = "out", **kwargs) -> ChatMessage:
    fields = dict(id=str(i), peer_id="bob", direction=direction, plaintext=f"message {i}",
                  ciphertext="Y2lwaGVydGV4dA==", nonce="AAAAAAAAAAAAAAAA", tag="A" * 24,
                  time=time.time(), status="sent" if direction == "out" else "received",
                  authenticated=True, plaintext_bytes=9, ciphertext_bytes=9, nonce_bytes=12,
                  tag_bytes=16, seal_ms=0.114 if direction == "out" else 0.0,
                  open_ms=0.0 if direction == "out" else 0.09)
    return ChatMessage(**{**fields, **kwargs})


SECURE = Peer(id="bob", name="bob", curve="P-256", statuses=frozenset(
    {"joined", "keys generated", "key received", "secure"}), safety_number="111 222")


def bubbles(html: str) -> list[str]:
    return re.findall(r'<div class="ecc-bubble.*?</details></div></div>', html)


def test_newest_message_is_last_with_one_line_of_numbers_and_the_rest_one_click_away(app):
    s = app.session
    s.peers = {"bob": SECURE}
    s.conversations = {"bob": tuple(sealed(i, "out" if i % 2 else "in") for i in range(8))}
    shown = app.chat_panel.conversation.value
    order = [shown.index(f">message {i}<") for i in range(8)]
    assert order == sorted(order)  # oldest first: the newest is the lowest bubble
    one = bubbles(shown)[-1]  # message 7, ours
    summary = re.search(r"<summary>(.*?)</summary>", one).group(1)
    assert "9 B → 37 B · sealed 0.11 ms" in summary and "fa-lock" in summary
    assert "<div" not in summary and "<br" not in summary  # one line
    detail = one[one.index("</summary>"):]
    assert "9 B -> 9+12+16 B (+28 B, 311%)" in detail and "nonce" in detail and "tag" in detail
    assert "<details class=\"ecc-meta\">" in one  # closed until clicked
    app.chat_panel.wire.value = True  # "Show what the relay saw" opens every bubble
    assert app.chat_panel.conversation.value.count('<details class="ecc-meta" open>') == 8


def test_older_messages_left_out_are_said_above_the_conversation(app):
    s = app.session
    s.peers = {"bob": SECURE}
    s.conversations = {"bob": tuple(sealed(i) for i in range(chat.SHOWN + 3))}
    shown = app.chat_panel.conversation.value
    assert shown.index("3 older messages") < shown.index(f">message {chat.SHOWN + 2}<")
    assert ">message 2<" not in shown


def test_the_hint_to_share_keys_goes_once_keys_are_shared(app):
    s = app.session
    s.peers = {"bob": Peer(id="bob", name="bob", statuses=frozenset({"joined"}))}
    assert "Share key" in app.chat_panel.conversation.value
    s.peers = {"bob": SECURE}
    shown = app.chat_panel.conversation.value
    assert "Share key" not in shown and "write below" in shown


def test_they_differ_is_one_red_state_on_the_card_and_on_every_message(app):
    s = app.session
    s.peers = {"bob": SECURE}
    s.conversations = {"bob": (sealed(1, "in"), sealed(2))}
    card = app.peers_panel.cards["bob"]
    assert badge("secure") in card.details.value
    assert "how to compare" not in card.codes.value and "Read all seven" in card.codes.value
    assert "fa-lock" in app.chat_panel.conversation.value
    s.peers = {"bob": dataclasses.replace(SECURE, mismatch=True)}
    assert badge("secure") not in card.details.value and ">secure<" not in card.details.value
    assert peers.MITM_STATE in card.details.value and "someone is in the middle" in \
        card.banner.value
    assert "ecc-state-mitm" in card._dom_classes
    assert "<summary>how to compare</summary>" in card.codes.value  # the steps aside
    shown = app.chat_panel.conversation.value
    assert "fa-lock" not in shown  # no green lock alone on a conversation read in the middle
    assert shown.count("read in the middle") == 2
    assert "someone in the middle reads these messages" in shown
    s.peers = {"bob": SECURE}  # new keys, compared again: the marks come back
    assert "read in the middle" not in app.chat_panel.conversation.value
    assert "ecc-state-mitm" not in card._dom_classes


def test_a_changed_key_is_one_state_too(app):
    s = app.session
    s.peers = {"bob": dataclasses.replace(SECURE, statuses=SECURE.statuses | {"key changed"},
                                          verified=False)}
    s.conversations = {"bob": (sealed(1, "in"),)}
    card = app.peers_panel.cards["bob"]
    assert badge("key changed") in card.details.value and badge("secure") not in \
        card.details.value
    shown = app.chat_panel.conversation.value
    assert "Their key changed" in shown and "new key" in shown


def test_the_card_shows_one_state_the_latest_a_student_meets(app):
    s = app.session
    for statuses, verified, state in (
            ({"joined"}, False, "joined"),
            ({"joined", "keys generated"}, False, "keys generated"),
            ({"joined", "keys generated", "key received"}, False, "key received"),
            ({"joined", "keys generated", "key received", "secure"}, False, "secure"),
            ({"joined", "keys generated", "key received", "secure"}, True, "verified")):
        s.peers = {"bob": Peer(id="bob", name="bob", statuses=frozenset(statuses),
                               verified=verified)}
        shown = app.peers_panel.cards["bob"].details.value
        assert shown.count('class="ecc-badge"') == 1 and badge(state) in shown, state


def test_the_status_line_says_who_and_where_in_words(app):
    s = app.session
    s.joined, s.connection, s.username, s.room = True, "connected", "alice", "lab"
    s.my_id, s.relay_url = "tLle4U9NIscQh_iIAAAB", "http://127.0.0.1:8765"
    status = app.join_panel.status.value
    assert "as <b>alice</b> in room <b>lab</b>" in status
    assert "tLle4U9NIscQh_iIAAAB" not in status and "8765" not in status
    assert "relay running beside this app" in status
    assert "ecc-joined" in app.join_panel._dom_classes  # the login card folds to one line
    s.relay_url = "https://relay.example.org:443"
    assert "relay at relay.example.org" in app.join_panel.status.value


def test_the_log_names_a_peer_once(app):
    app.session.log = (LogEntry(1.0, "info", "bob", "bob generated keys"),
                       LogEntry(2.0, "warning", "bob", "bob's key CHANGED"))
    shown = app.log_panel.entries.value
    assert "bob generated keys" not in shown and ">generated keys<" in shown
    assert ">bob</span><span" in shown and "&#x27;s key CHANGED" in shown


def test_numbers_are_left_out_of_the_step_titles(app):
    titles = [p.children[0 if p is not app.join_panel else 1].value for p in
              (app.join_panel, app.chat_panel, app.peers_panel, app.curve_panel)]
    assert not [t for t in titles if re.search(r">\d+\. ", t)], titles


def test_one_stylesheet_from_the_package_shown_with_the_app(app, monkeypatch):
    text = style.css()
    assert ".ecc-conversation" in text and "column-reverse" in text
    assert not re.search(r"https?://|@import|url\(", text)  # nothing from the network
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append((obj, kw)))
    app._ipython_display_()
    (first, _), (second, raw) = shown
    assert first.data == style.style_html() and raw == {"raw": True}
    assert second["application/vnd.jupyter.widget-view+json"]["model_id"] == app.model_id
    assert "<style" not in "".join(str(w.value) for w in app.children if hasattr(w, "value"))
    assert issubclass(MalloryPanel, style.Styled)


def test_the_page_title_is_the_apps_name():
    assert dashboard_notebook()["metadata"]["title"] == "ECC Chat Lab"
