"""The wire protocol module: names, validation, acks and payload builders (no network)."""

from __future__ import annotations

import re
import time

import pytest

from ecc_widgets import protocol as P
from ecc_widgets.text import is_reserved, safe_text

JWK = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
       "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "ext": True, "key_ops": []}
OKP = {"kty": "OKP", "crv": "X25519", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}
MSG = {"encryptedMessage": "q83vEjRWeJA=", "iv": "AAECAwQFBgcICQoL",
       "tag": "AAECAwQFBgcICQoLDA0ODw==", "targetSocketId": "abc"}


def test_event_names_are_the_seeds():
    assert P.CLIENT_EVENTS[:6] == ("join", "curve-selected", "keys-generated",
                                   "share-public-key", "send-message", "processing-step")
    assert set(P.SERVER_EVENTS) >= {"user-joined", "user-left", "peer-curve-selected",
                                    "peer-keys-generated", "receive-public-key",
                                    "receive-message", "peer-processing-step"}
    assert not set(P.CLIENT_EVENTS) & set(P.SERVER_EVENTS)


def test_acks():
    assert P.ack_ok() == {"ok": True}
    assert P.ack_ok(timestamp=5) == {"ok": True, "timestamp": 5}
    assert P.ack_error("nope") == {"ok": False, "error": "nope"}


def test_join():
    assert P.validate(P.JOIN, {"username": "alice", "roomId": "lab"}) == \
        {"username": "alice", "roomId": "lab"}
    assert P.validate(P.JOIN, {"username": "a", "roomId": "b", "resumeToken": "t"}) == \
        {"username": "a", "roomId": "b", "resumeToken": "t"}
    with pytest.raises(P.ProtocolError, match="'resumeToken' must be a string"):
        P.validate(P.JOIN, {"username": "a", "roomId": "b", "resumeToken": 5})
    assert P.validate(P.JOIN, {"username": "é" * P.MAX_USERNAME, "roomId": "r"})


@pytest.mark.parametrize("event, payload, message", [
    (P.JOIN, None, "join: payload must be a JSON object, got nothing"),
    (P.JOIN, [], "got list"),
    (P.JOIN, {"username": "a\x7f", "roomId": "r"}, "control characters"),
    (P.CURVE_SELECTED, {"curve": "P 256"}, "characters a curve name cannot have"),
    (P.CURVE_SELECTED, {"curve": "c" * 33}, "longer than 32"),
    (P.SHARE_PUBLIC_KEY, {"publicKey": JWK}, "'targetSocketId' is missing"),
    (P.SHARE_PUBLIC_KEY, {"publicKey": {**JWK, "y": None}, "targetSocketId": "t"},
     "'y' must be a non-empty string"),
    (P.SHARE_PUBLIC_KEY, {"publicKey": {**JWK, "x": "a+b/"}, "targetSocketId": "t"},
     "base64url"),
    (P.SHARE_PUBLIC_KEY, {"publicKey": {**OKP, "d": "secret"}, "targetSocketId": "t"},
     "private key member 'd'"),
    (P.SHARE_PUBLIC_KEY, {"publicKey": {**JWK, "x": "A" * 257}, "targetSocketId": "t"},
     "longer than 256"),
    (P.SEND_MESSAGE, {**MSG, "iv": "AAECAwQFBgcICQo"}, "'iv' must be base64"),
    (P.SEND_MESSAGE, {**MSG, "iv": "AAEC-_QFBgcICQoL"}, "'iv' must be base64"),
    (P.SEND_MESSAGE, {**MSG, "encryptedMessage": ""}, "'encryptedMessage' must be base64"),
    (P.SEND_MESSAGE, {**MSG, "tag": "A" * 36}, "'tag' is longer than 32"),
    (P.SEND_MESSAGE, {**MSG, **{f"x{i}": i for i in range(17)}}, "more than 16 extra"),
    (P.PROCESSING_STEP, {"step": "s", "details": object()}, "'details' must be JSON"),
    ("nope", {}, "unknown event 'nope'"),
    (7, {}, "an event name must be a string"),
    (P.RECEIVE_MESSAGE, {**MSG, "from": "a"}, "'fromSocketId' is missing"),
    (P.USER_JOINED, {"username": "a", "socketId": "s", "usersInRoom": [{"socketId": 1}]},
     "entries need socketId and username"),
])
def test_invalid_payloads_say_what_is_wrong(event, payload, message):
    with pytest.raises(P.ProtocolError, match=message) as info:
        P.validate(event, payload)
    assert isinstance(info.value, ValueError)


def test_share_public_key_keeps_extras_and_drops_server_fields():
    cleaned = P.validate(P.SHARE_PUBLIC_KEY, {"publicKey": OKP, "targetSocketId": "t",
                                              "v": 1, "curve": "X25519", "from": "forged",
                                              "fromSocketId": "forged"})
    assert cleaned == {"publicKey": OKP, "targetSocketId": "t", "isReply": False, "v": 1,
                       "curve": "X25519"}
    out = P.receive_public_key(cleaned, "alice", "sid-a")
    assert out == {"publicKey": OKP, "isReply": False, "v": 1, "curve": "X25519",
                   "from": "alice", "fromSocketId": "sid-a"}
    assert P.validate(P.RECEIVE_PUBLIC_KEY, out) == out


def test_send_message_round_trip():
    cleaned = P.validate(P.SEND_MESSAGE, {**MSG, "id": "m1", "seq": 4, "timestamp": 1})
    assert cleaned == {**MSG, "id": "m1", "seq": 4}
    out = P.receive_message(cleaned, "alice", "sid-a", 1234)
    assert out == {"encryptedMessage": MSG["encryptedMessage"], "iv": MSG["iv"],
                   "tag": MSG["tag"], "id": "m1", "seq": 4, "from": "alice",
                   "fromSocketId": "sid-a", "timestamp": 1234}
    assert P.validate(P.RECEIVE_MESSAGE, out) == out


def test_small_events():
    assert P.validate(P.KEYS_GENERATED) == {}
    assert P.validate(P.KEYS_GENERATED, {"anything": 1}) == {}
    assert P.validate(P.LEAVE, None) == {}
    assert P.validate(P.CURVE_SELECTED, {"curve": "brainpoolP256r1"}) == \
        {"curve": "brainpoolP256r1"}
    assert P.validate(P.PROCESSING_STEP, {"step": "double", "details": {"bit": 1}}) == \
        {"step": "double", "details": {"bit": 1}}
    assert P.validate(P.PROCESSING_STEP, {"step": "double"}) == {"step": "double",
                                                                 "details": None}


def test_server_payload_builders_pass_their_own_validation():
    users = [P.roster_entry("s1", "alice"), P.roster_entry("s2", "bob")]
    for event, payload in [
        (P.USER_JOINED, P.user_joined("bob", "s2", users)),
        (P.USER_LEFT, P.user_left("bob", "s2", users[:1])),
        (P.PEER_CURVE_SELECTED, P.peer_curve_selected("P-384", "alice", "s1")),
        (P.PEER_KEYS_GENERATED, P.peer_keys_generated("alice", "s1")),
        (P.PEER_PROCESSING_STEP, P.peer_processing_step("add", None, "alice", "s1")),
        (P.RELAY_ERROR, P.relay_error(P.JOIN, "taken")),
    ]:
        assert P.validate(event, payload) == payload
    assert P.user_joined("bob", "s2", users)["usersInRoom"][1] == \
        {"socketId": "s2", "username": "bob"}


# --- text a client can display ----------------------------------------------------------------
def join(username: str, room: str = "lab") -> dict:
    return P.validate(P.JOIN, {"username": username, "roomId": room})


@pytest.mark.parametrize("text, problem", [
    ("\ud800", "lone UTF-16 surrogate, which is not text (U+D800)"),
    ("bob\u200b", "invisible or direction-changing character (U+200B)"),
    ("bob\u202e", "invisible or direction-changing character (U+202E)"),
    ("\ufeffbob", "invisible or direction-changing character (U+FEFF)"),
    ("bob\u2066x\u2069", "invisible or direction-changing character (U+2066)"),
    ("bo\u2060b", "invisible or direction-changing character (U+2060)"),
    ("\u3164", "invisible or direction-changing character (U+3164)"),
    ("bob\u2800", "invisible or direction-changing character (U+2800)"),
    ("a\u2028b", "must not contain control characters (U+2028)"),
    ("a\x85b", "must not contain control characters (U+0085)"),
    ("bob\ue000", "private-use character (U+E000)"),
    ("bob\U000e0001", "invisible or direction-changing character (U+E0001)"),
])
def test_text_that_cannot_be_shown_is_refused_in_every_field(text, problem):
    problem = re.escape(problem)
    for field in ("username", "roomId"):
        with pytest.raises(P.ProtocolError, match=rf"^join: '{field}' .*{problem}"):
            P.validate(P.JOIN, {"username": "alice", "roomId": "lab", field: text})
    with pytest.raises(P.ProtocolError, match=rf"processing-step: 'step' .*{problem}"):
        P.validate(P.PROCESSING_STEP, {"step": text})
    with pytest.raises(P.ProtocolError, match=rf"processing-step: 'details' .*{problem}"):
        P.validate(P.PROCESSING_STEP, {"step": "s", "details": {"a": [1, {"b": text}]}})
    with pytest.raises(P.ProtocolError, match=rf"processing-step: 'details' .*{problem}"):
        P.validate(P.PROCESSING_STEP, {"step": "s", "details": {text: 1}})
    with pytest.raises(P.ProtocolError, match=rf"curve-selected: 'curve' .*{problem}"):
        P.validate(P.CURVE_SELECTED, {"curve": text})
    with pytest.raises(P.ProtocolError, match=problem):
        P.validate(P.JOIN, {"username": "a", "roomId": "b", "resumeToken": text})
    with pytest.raises(P.ProtocolError, match=rf"share-public-key: 'curve' .*{problem}"):
        P.validate(P.SHARE_PUBLIC_KEY, {"publicKey": OKP, "targetSocketId": "t",
                                        "curve": text})
    with pytest.raises(P.ProtocolError, match=rf"receive-message: 'kind' .*{problem}"):
        P.validate(P.RECEIVE_MESSAGE, P.receive_message({**MSG, "kind": text}, "a", "s", 1))
    with pytest.raises(P.ProtocolError, match=problem):
        P.validate(P.SHARE_PUBLIC_KEY, {"publicKey": {**OKP, "kid": text},
                                        "targetSocketId": "t"})


def test_the_error_never_quotes_the_text_itself():
    with pytest.raises(P.ProtocolError) as info:
        join("\ud800\u202e")
    str(info.value).encode("utf-8")   # what a log or a browser must be able to take
    assert "\u202e" not in str(info.value)


def test_markup_and_other_scripts_are_text():
    # $\text{bob}$ is text: rendering it harmlessly is the display layer's job
    assert join("$\\text{bob}$")["username"] == "$\\text{bob}$"
    assert join("Борис")["username"] == "Борис"
    assert join("Ελένη")["username"] == "Ελένη"
    assert join("李雷", room="实验室") == {"username": "李雷", "roomId": "实验室"}
    assert P.validate(P.PROCESSING_STEP, {"step": "Schritt \u00e9\u00a0\u2764\ufe0f"})


@pytest.mark.parametrize("same", ["bob ", "  bob", "\uff42\uff4f\uff42", "bob\u00a0",
                                  "b\u200bob", "b\u043eb", "\U0001d41b\U0001d428\U0001d41b"])
def test_names_that_look_like_bob_are_bob_or_refused(same):
    try:
        name = join(same)["username"]
    except P.ProtocolError:
        return
    assert name == "bob"


def test_name_normalisation():
    assert join("  al   ice ", room=" lab\u3000 ") == {"username": "al ice", "roomId": "lab"}
    assert join("\ufb01ona")["username"] == "fiona"          # the fi ligature
    assert join("Ame\u0301lie")["username"] == "Am\u00e9lie"  # composed
    assert P.normalize_name(" x  y ") == "x y"
    assert P.name_key("  BOB ") == P.name_key("bob") == P.name_key("\uff42\uff4f\uff42")
    assert P.name_key("Stra\u00dfe") == P.name_key("STRASSE")
    with pytest.raises(P.ProtocolError, match="join: 'username' must not be empty"):
        join(" \u3000 ")
    with pytest.raises(P.ProtocolError, match="longer than 64"):
        join("\ufdfa" * 4)   # one character, eighteen after NFKC
    with pytest.raises(P.ProtocolError, match="invisible or direction-changing .*U\\+FE0F"):
        join("bob\ufe0f")    # invisible in a name, fine in free text


def test_names_mixing_look_alike_scripts_are_refused():
    with pytest.raises(P.ProtocolError, match=r"join: 'username' mixes Latin and Cyrillic "
                       r"letters \(U\+043E CYRILLIC SMALL LETTER O\), so it could pass for "
                       "another name"):
        join("b\u043eb")
    with pytest.raises(P.ProtocolError, match="mixes Greek and Latin"):
        join("\u03b1lice")
    with pytest.raises(P.ProtocolError, match="join: 'roomId' mixes Latin and Cyrillic"):
        join("bob", room="l\u0430b")
    assert join("bob 42")["username"] == "bob 42"


@pytest.mark.parametrize("name", ["me", "relay", "App", "SYSTEM", " system ", "\uff4d\uff45"])
def test_the_apps_own_log_sources_are_reserved(name):
    with pytest.raises(P.ProtocolError, match=r"join: the name .* is reserved for the app's "
                       "own messages; choose another name"):
        join(name)
    assert P.validate(P.JOIN, {"username": "alice", "roomId": name})   # fine as a room
    assert is_reserved(name) and is_reserved(name.upper())


# --- processing-step details --------------------------------------------------------------
def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_details_are_small_and_shallow():
    assert P.validate(P.PROCESSING_STEP, {"step": "s", "details": nested(4)})["details"] == \
        nested(4)
    for depth in (5, 980, 100_000):
        deep = nested(depth)
        start = time.perf_counter()
        with pytest.raises(P.ProtocolError, match="processing-step: 'details' is nested "
                           "deeper than 4 levels"):
            P.validate(P.PROCESSING_STEP, {"step": "s", "details": deep})
        assert time.perf_counter() - start < 0.05   # a few steps, never a recursion
    exact = "x" * (P.MAX_DETAILS_BYTES - 2)   # two quotes
    assert P.validate(P.PROCESSING_STEP, {"step": "s", "details": exact})
    assert P.validate(P.PROCESSING_STEP, {"step": "s", "details": ["\u00e9" * 509]})
    for big in [exact + "x", ["\u00e9" * 511], {"k": "\u20ac" * 340}, list(range(400)),
                10 ** 2000, [1] * 100_000, {str(i): i for i in range(10_000)}]:
        with pytest.raises(P.ProtocolError, match="'details' is larger than 1024 bytes"):
            P.validate(P.PROCESSING_STEP, {"step": "s", "details": big})
    for bad in [float("nan"), [float("inf")], {"a": -float("inf")}]:
        with pytest.raises(P.ProtocolError, match="must not contain NaN or infinity"):
            P.validate(P.PROCESSING_STEP, {"step": "s", "details": bad})
    with pytest.raises(P.ProtocolError, match="'details' must be JSON"):
        P.validate(P.PROCESSING_STEP, {"step": "s", "details": {1: "a"}})
    with pytest.raises(P.ProtocolError, match="'step' is longer than 200"):
        P.validate(P.PROCESSING_STEP, {"step": "s" * 201})


def test_what_our_client_sends_as_details_fits():
    for step, details in [("Generated key pair", "brainpoolP512r1, fingerprint " + "f" * 16),
                          ("Encrypted message", "AES-256-GCM, 36864 bytes, seq 99999"),
                          ("Rejected message", "from " + "\u00e9" * 64 + ": tampered"),
                          ("Derived shared secret",
                           "ECDH on brainpoolP512r1 with " + "\u00e9" * 64 + ", HKDF-SHA256")]:
        assert P.validate(P.PROCESSING_STEP, {"step": step, "details": details})


# --- what a client receives from a relay ----------------------------------------------------
BAD = "\ud800"


@pytest.mark.parametrize("event, payload", [
    (P.USER_JOINED, P.user_joined(BAD, "s1", [P.roster_entry("s1", "a")])),
    (P.USER_JOINED, P.user_joined("a", "s1", [P.roster_entry("s1", "bob\u202e")])),
    (P.USER_LEFT, P.user_left("a\u200b", "s1", [])),
    (P.PEER_CURVE_SELECTED, P.peer_curve_selected("P-256\u2066", "alice", "s1")),
    (P.PEER_CURVE_SELECTED, P.peer_curve_selected("P-256", BAD, "s1")),
    (P.PEER_KEYS_GENERATED, P.peer_keys_generated("\ufeff", "s1")),
    (P.PEER_PROCESSING_STEP, P.peer_processing_step(BAD, None, "alice", "s1")),
    (P.PEER_PROCESSING_STEP, P.peer_processing_step("s", {"x": [BAD]}, "alice", "s1")),
    (P.PEER_PROCESSING_STEP, P.peer_processing_step("s", nested(980), "alice", "s1")),
    (P.PEER_PROCESSING_STEP, P.peer_processing_step("s", "x" * 2000, "alice", "s1")),
    (P.RELAY_ERROR, P.relay_error(P.JOIN, "taken\u202e")),
    (P.RECEIVE_MESSAGE, P.receive_message(MSG, "alice", "s1", 1) | {"curve": BAD}),
    (P.RECEIVE_MESSAGE, P.receive_message(MSG, BAD, "s1", 1)),
    (P.RECEIVE_PUBLIC_KEY, P.receive_public_key({"publicKey": OKP}, "\u2066", "s1")),
])
def test_a_client_refuses_display_strings_a_relay_should_never_send(event, payload):
    with pytest.raises(P.ProtocolError, match=f"^{event}"):
        P.validate(event, payload)


def test_safe_text_for_the_display_layer():
    assert safe_text("alice", 10) == "alice"
    assert safe_text("a\ud800b\u202ec\x00d\u3164", 20) == "a\ufffdb\ufffdc\ufffdd\ufffd"
    assert safe_text("x" * 30, 10) == "x" * 9 + "\u2026"
    assert safe_text("\ud800" * 30, 5) == "\ufffd" * 4 + "\u2026"
    assert safe_text("Борис $x$", 64) == "Борис $x$"
    safe_text("\udfff" * 3, 3).encode("utf-8")
