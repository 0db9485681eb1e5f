"""The teacher's console's two events in ecc_widgets.protocol: `code-compared` (an enum and
a flag about one peer socket, nothing else) and `teacher-notice` (what a client shows)."""

from __future__ import annotations

import pytest

from ecc_widgets import protocol as P

GOOD = {"peerSocketId": "Ab_c-1", "result": "match", "verified": True}


def test_code_compared_takes_exactly_its_three_fields():
    assert P.validate(P.CODE_COMPARED, GOOD) == GOOD
    for result in P.CODE_RESULTS:
        assert P.validate(P.CODE_COMPARED, {**GOOD, "result": result})["result"] == result


@pytest.mark.parametrize("payload, problem", [
    (None, "payload must be a JSON object"),
    ([], "payload must be a JSON object"),
    ({**GOOD, "from": "alice"}, "unknown field 'from'"),
    ({**GOOD, "text": "they match!"}, "unknown field 'text'"),
    ({**GOOD, "result": "Match"}, "'result' must be one of"),
    ({**GOOD, "result": None}, "'result' must be one of"),
    ({**GOOD, "verified": 1}, "'verified' must be true or false"),
    ({k: v for k, v in GOOD.items() if k != "verified"}, "'verified' must be true or false"),
    ({**GOOD, "peerSocketId": ""}, "'peerSocketId' must be a socket id"),
    ({**GOOD, "peerSocketId": "a" * (P.MAX_SOCKET_ID + 1)}, "must be a socket id"),
    ({**GOOD, "peerSocketId": "<b>x</b>"}, "must be a socket id"),
    ({**GOOD, "peerSocketId": ["x"]}, "must be a socket id"),
])
def test_code_compared_refuses_anything_else(payload, problem):
    with pytest.raises(P.ProtocolError, match="^code-compared: ") as refused:
        P.validate(P.CODE_COMPARED, payload)
    assert problem in str(refused.value)


def test_teacher_notice_is_checked_before_a_client_shows_it():
    notice = {"kind": "notice", "text": "pens down", "roomId": "lab"}
    assert P.validate(P.TEACHER_NOTICE, notice) == notice
    for bad in ({**notice, "kind": "html"}, {**notice, "text": "a\u202eb"},
                {**notice, "text": "x" * (P.MAX_NOTICE + 1)}, {"kind": "notice"}):
        with pytest.raises(P.ProtocolError, match="^teacher-notice"):
            P.validate(P.TEACHER_NOTICE, bad)
    assert P.CODE_COMPARED in P.CLIENT_EVENTS and P.TEACHER_NOTICE in P.SERVER_EVENTS
