"""What the first screen costs and what it holds, headless (no browser, no relay).

- Light: the first screen is the join row, the curve's text, the chat and the peers; the
  other steps are built when their tab is first opened, the curve's pictures once a browser
  shows the page, and numpy and matplotlib are not imported before that.
- Secrets stay where the page says: after keys are made, no message sent to the front end
  and no widget state holds the private value d (in hex, decimal or bits, whole or in part)
  until the student presses "Show my private value"; then the panel says d is in the page.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import ipywidgets as widgets
import pytest

from ecc_widgets.app import STEPS, EccApp
from ecc_widgets.panels import keys
from ecc_widgets.session import Session
from tests.support import ROOT
from tests.support.polling import wait_until
from tests.support.widgets import find, live_states, record_comms, walk

# The first screen's budget of widget models and bytes (209 and 235 KB before it was made
# light): a regression catch, the figures themselves are in bench/bench_app.py.
FIRST_MODELS = 120
FIRST_BYTES = 110_000


@pytest.fixture
def app():
    session = Session()
    application = EccApp(session)
    yield application
    application.close()
    session.close()


def test_the_first_screen_is_light_and_the_steps_come_when_opened():
    from ipywidgets.widgets.widget import _instances

    session = Session()
    existing = set(_instances)
    app = EccApp(session)
    try:
        mine = [w for key, w in _instances.items() if key not in existing]
        models, size = len(mine), sum(len(json.dumps(s)) + sum(map(len, b))
                                      for s, b in (_state(w) for w in mine))
        assert models <= FIRST_MODELS and size <= FIRST_BYTES, (models, size)
        assert not [w for w in mine if isinstance(w, widgets.Image)], "no picture yet"
        # Only the Curve step is built; the others wait in an empty place.
        assert [len(tab.children) for tab in app.steps.children[1:]] == [0] * (len(STEPS) - 1)
        assert not [w for w in walk(app) if getattr(w, "description", "") == "Generate keys"]

        app.steps.selected_index = STEPS.index("Keys")  # what a click on the tab sends
        assert app.steps.children[1].children == (app.keys_panel,)
        find(app, widgets.Button, description="Generate keys")
        app.steps.selected_index = STEPS.index("Log")
        assert app.steps.children[STEPS.index("Log")].children == (app.log_panel,)

        # The browser's link reports the page is up: the curve's pictures are drawn.
        assert not app.curve_panel.drawn
        app.steps.selected_index = 0
        app.first_sight.probe.value = app.first_sight.probe.step
        assert app.curve_panel.drawn
        for image in (app.curve_panel.real_image, app.curve_panel.field_image):
            assert bytes(image.background).startswith(b"\x89PNG")
            assert bytes(image.overlay).startswith(b"\x89PNG")
        assert app.first_sight.probe.comm is None, "the probe is closed once it fired"
    finally:
        app.close()
        session.close()


def _state(widget):
    from ipywidgets.widgets.widget import _remove_buffers

    state, _paths, buffers = _remove_buffers(widget.get_state())
    return state, [bytes(b) for b in buffers]


def test_the_first_screen_imports_neither_numpy_nor_matplotlib():
    code = ("import sys; from ecc_widgets.app import EccApp; EccApp(); "
            "print(sorted(m for m in ('numpy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=120).stdout
    assert out.strip().splitlines()[-1] == "[]"


# --- the private value ----------------------------------------------------------------------

def forms_of(value: int) -> list[str]:
    """Pieces of a number as a page could show it: 16 hex digits, 20 decimal digits or 48
    bits in a row (each far too long to appear by chance), anywhere in it."""
    hexa, decimal, bits = f"{value:x}", str(value), f"{value:b}"
    return ([hexa[i:i + 16] for i in range(0, len(hexa) - 15, 4)]
            + [decimal[i:i + 20] for i in range(0, len(decimal) - 19, 5)]
            + [bits[i:i + 48] for i in range(0, len(bits) - 47, 8)])


def flat(text: str) -> str:
    """Markup, separators and spaces out: d split over spans or groups reads whole."""
    return re.sub(r"\s|<wbr>|&#[0-9]+;", "", re.sub(r"<(?!wbr)[^>]*>", "", text)).lower()


def leaks(payloads, secret: int) -> list[str]:
    """The forms of `secret` found in (state or message, buffers) pairs."""
    forms = forms_of(secret)
    raw = secret.to_bytes((secret.bit_length() + 7) // 8, "big")
    found = []
    for data, buffers in payloads:
        text = flat(json.dumps(data, default=repr))
        found += [form for form in forms if form in text]
        found += ["bytes"] * sum(raw in buffer for buffer in buffers)
    return found


@pytest.mark.parametrize(("curve", "speed"), [("P-256", "instant"), ("X25519", "fast"),
                                              ("P-521", "instant")])
def test_no_private_value_reaches_the_page_unless_shown(monkeypatch, curve, speed):
    monkeypatch.setitem(keys.SPEEDS, "fast", 0.6)  # a short playback, every frame recorded
    sent = record_comms(monkeypatch)
    session = Session()
    app = EccApp(session)
    try:
        for title in STEPS:
            app.show_step(title)
        app.first_sight.probe.value = 1
        app.curve_panel.dropdown.value = curve
        panel = app.keys_panel
        panel.speed.value = speed
        panel.generate.click()
        wait_until(lambda: not panel.playing, timeout=15, what="the playback to finish")
        trace = session.keygen
        assert panel.public.value and trace is not None
        secrets = {trace.private_value, trace.scalar}  # X25519 walks the clamped scalar
        messages = [(data, buffers) for _kind, data, buffers in sent]
        for secret in secrets:
            assert leaks(messages, secret) == [], "d was sent to the front end"
            assert leaks(live_states(), secret) == [], "d is in a widget's state"
        assert "it is not in this page" in panel.secret.value
        assert "never leaves" not in json.dumps([s for s, _ in live_states()])

        panel.reveal.value = True  # the student asks: now d is in the page, and it says so
        assert leaks(live_states(), trace.private_value), "shown on request"
        assert "d is now in this page" in panel.secret.value
        assert f"{trace.private_value:x}" in flat(panel.secret.value)

        panel.reveal.value = False  # hidden again: out of the widgets, and said it was shown
        assert leaks(live_states(), trace.private_value) == []
        assert "d was shown in this page" in panel.secret.value

        panel.generate.click()  # a new key starts hidden again
        wait_until(lambda: not panel.playing, timeout=15, what="the playback to finish")
        assert not panel.reveal.value and "it is not in this page" in panel.secret.value
        assert leaks(live_states(), session.keygen.private_value) == []
    finally:
        app.close()
        session.close()


def test_showing_d_during_the_playback_says_so_at_once(app):
    panel = app.keys_panel
    panel.speed.value = "slow"
    panel.generate.click()
    assert panel.playing
    d = app.session.keygen.private_value
    assert "it is not in this page" in panel.step1.value
    panel.reveal.value = True
    assert hex(d)[:20] in panel.step1.value and "not in this page" not in panel.step1.value
    panel.reveal.value = False
    assert "it is not in this page" in panel.step1.value
    assert hex(d)[:20] not in panel.step1.value
    panel.stop()
