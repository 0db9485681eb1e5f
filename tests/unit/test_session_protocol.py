"""The session model without a relay: records, protocol v1 pieces, key traces, bad input."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ecc_widgets import crypto, ecmath
from ecc_widgets.curves import get_curve
from ecc_widgets.envelope import REPLAY_WINDOW, ReplayWindow, associated_data
from ecc_widgets.session import (
    TOPICS,
    ChatMessage,
    KeygenTrace,
    Peer,
    Session,
    SessionError,
    keygen_trace,
)


def test_associated_data_binds_every_field():
    base = dict(room="r", sender="alice", receiver="bob", curve="P-256", seq=7)
    ad = associated_data(**base)
    assert json.loads(ad) == {"v": 1, "room": "r", "from": "alice", "to": "bob",
                              "curve": "P-256", "seq": 7}
    for name, other in (("room", "r2"), ("sender", "bob"), ("receiver", "alice"),
                        ("curve", "P-384"), ("seq", 8)):
        assert associated_data(**{**base, name: other}) != ad, name
    assert associated_data(**base, version=2) != ad


def test_associated_data_is_unambiguous_for_names_with_separators():
    # A name may contain anything the relay allows; JSON quoting keeps fields apart.
    one = associated_data(room="a,b", sender="c", receiver="d", curve="P-256", seq=1)
    two = associated_data(room="a", sender="b,c", receiver="d", curve="P-256", seq=1)
    assert one != two


def test_replay_window_accepts_each_sequence_once():
    window = ReplayWindow()
    for seq in (1, 2, 3, 5, 4):  # small reordering inside the window is fine
        assert window.check(seq, f"id{seq}") is None
        window.accept(seq, f"id{seq}")
    assert window.check(3, "id3") == "duplicate"
    assert window.check(3, "other").startswith("replayed")
    assert window.check(6, "id6") is None


def test_replay_window_rejects_what_falls_behind():
    window = ReplayWindow()
    window.accept(1, "a")
    window.accept(REPLAY_WINDOW + 10, "b")
    assert window.check(2, "c").startswith("reordered past the window")
    assert window.check(REPLAY_WINDOW + 9, "d") is None


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521", "secp256k1", "X25519"])
def test_keygen_trace_matches_the_library(curve):
    key = crypto.generate_private_key(curve)
    trace = keygen_trace(key)
    assert isinstance(trace, KeygenTrace)
    assert trace.curve == curve
    assert trace.private_value == crypto.private_value(key)
    assert ecmath.encode_point(get_curve(curve), trace.public_point) == crypto.public_bytes(key)
    assert trace.steps and trace.toy is not None
    toy = get_curve(trace.toy.curve)
    assert trace.toy.public_point == ecmath.scalar_mult(toy, trace.toy.private_value)
    assert 1 <= trace.toy.private_value < toy.n


def test_generate_keys_offline_fills_the_model():
    s = Session()
    seen = []
    s.observe(lambda change: seen.append(change["name"]), names=["public_jwk", "keygen"])
    s.select_curve("secp256r1")  # an alias
    assert s.curve == "P-256"
    trace = s.generate_keys()
    assert s.keygen is trace
    assert s.public_jwk["crv"] == "P-256" and "d" not in s.public_jwk
    assert crypto.fingerprint(crypto.public_bytes(crypto.public_key_from_jwk(s.public_jwk))) \
        == s.fingerprint
    assert seen == ["keygen", "public_jwk"]
    # another curve drops the keys: they would not fit it
    s.select_curve("X25519")
    assert s.keygen is None and s.public_jwk == {}
    s.close()


@pytest.mark.parametrize(("action", "args", "panel", "words"), [
    ("select_curve", ("P-999",), "curve", "unknown curve"),
    ("select_curve", ("toy-97",), "curve", "cannot hold real keys"),
    ("select_curve", (42,), "curve", "must be a string"),
    ("send", ("bob", "hi"), "chat", "join a room first"),
    ("send", ("bob", ""), "chat", "type a message"),
    ("send", ("bob", "x" * 40000), "chat", "too long"),
    ("share_key", ("bob",), "peers", "not in the room"),
    ("set_verified", ("bob", True), "peers", "not in the room"),
    ("report_mismatch", ("bob",), "peers", "not in the room"),
    ("summon_demo_peer", (), "peers", "join a room first"),
    ("join", ("", "room"), "join", "must not be empty"),
    ("join", ("alice", "r" * 100), "join", "longer than"),
    ("join", ("alice", "room", "ftp://example.org"), "join", "http://host:port"),
])
def test_bad_input_is_an_error_in_words(action, args, panel, words):
    s = Session()
    with pytest.raises(SessionError, match=words):
        getattr(s, action)(*args)
    assert words in s.errors[panel]
    assert s.log[-1].level == "error" and words in s.log[-1].text
    assert set(s.errors) <= set(TOPICS)
    s.close()


def test_closed_session_refuses_actions():
    s = Session()
    s.close()
    s.close()  # idempotent
    with pytest.raises(SessionError, match="closed"):
        s.generate_keys()


def test_records_are_frozen_and_replaced():
    peer = Peer(id="bob", name="bob", statuses=frozenset({"joined"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        peer.name = "eve"
    message = ChatMessage(id="1", peer_id="bob", direction="out", plaintext="hi")
    assert dataclasses.replace(message, status="sent").status == "sent"
    assert message.status == "sending"


def test_report_error_from_a_panel():
    s = Session()
    s.report_error("chat", "could not send: something")
    assert s.errors == {"chat": "could not send: something"}
    assert s.log[-1].source == "chat"
