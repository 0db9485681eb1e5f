"""The wire protocol module: names, validation, acks and payload builders (no network)."""

from __future__ import annotations

import pytest

from ecc_widgets import protocol as P

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
