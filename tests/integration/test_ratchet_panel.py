"""The Ratchet view of a real pair over the real relay: the keys as fingerprints, each DH
step and each message key on the timeline, and a static pair said to have none."""

from __future__ import annotations

from ecc_widgets.ratchet_panel import RatchetPanel, render
from ecc_widgets.session import Session
from tests.support.polling import wait_until
from tests.support.sessions import pair_up, texts


def test_the_ratchet_view_follows_each_message_and_dh_step(relay, sessions):
    a, b = Session(), Session()
    sessions += [a, b]
    pair_up(a, b, relay.url, "ratchet-view")
    panel = RatchetPanel(a, "bob")
    try:
        assert "sending chain" in panel.body.value
        before = a.ratchet_view("bob").summary["RK"]
        a.send("bob", "one")
        wait_until(lambda: texts(b, "alice", "in") == ["one"], what="alice's message")
        b.send("alice", "two")
        wait_until(lambda: texts(a, "bob", "in") == ["two"], what="bob's reply")
        wait_until(lambda: "DH step: the peer" in panel.body.value, what="the DH step shown")
        view = a.ratchet_view("bob")
        assert view.summary["RK"] != before                      # the root moved on
        assert view.summary["RK"] in panel.body.value
        assert "DH step: our fresh ratchet key" in panel.body.value
        assert "sent: a message key" in panel.body.value
        assert view.summary["DHs"].hex() not in panel.body.value  # shortened, never whole
    finally:
        panel.close()


def test_a_static_pair_has_no_ratchet_to_show(relay, sessions):
    a, b = Session(message_version="static"), Session()
    sessions += [a, b]
    pair_up(a, b, relay.url, "static-view")
    panel = RatchetPanel(a, "bob")
    try:
        assert "No ratchet with bob" in panel.body.value
    finally:
        panel.close()


def test_a_peer_name_is_escaped_text_never_markup_nor_tex():
    from ecc_widgets import envelope
    from ecc_widgets.ratchet import Step

    name = "<b>bob</b> $x^2$ \\alpha"
    summary = {"RK": "aaaa bbbb", "CKs": "-", "CKr": "-", "Ns": 0, "Nr": 0, "PN": 0,
               "skipped": 0, "DHs": b"\x04" * 65, "DHr": None}
    view = envelope.RatchetView("alice", summary, (Step("dh send", b"\x04" * 65, 0, "r", "c"),))
    for html in (render(None, name), render(view, name)):
        assert "<b>bob</b>" not in html and "$" not in html and "\\" not in html
        assert "&lt;b&gt;bob&lt;/b&gt;" in html


def test_the_dashboards_ratchet_tab_follows_whom_the_chat_writes_to(relay, sessions):
    from ecc_widgets.app import STEPS, EccApp

    a, b = Session(), Session()
    sessions += [a, b]
    pair_up(a, b, relay.url, "ratchet-tab")
    app = EccApp(a)
    try:
        assert "Ratchet" not in app._built            # built when first opened
        app.steps.selected_index = STEPS.index("Ratchet")
        panel = app.ratchet_panel
        wait_until(lambda: app.chat_panel.to.value == "bob", what="the chat writing to bob")
        wait_until(lambda: "sending chain" in panel.body.value, what="bob's ratchet shown")
        app.chat_panel.to.value = None
        assert "Choose whom to write to" in panel.body.value
        app.chat_panel.to.value = "bob"
        assert a.ratchet_view("bob").summary["RK"] in panel.body.value
    finally:
        app.close()
