"""The session's part in the teacher's console (a relay started with ``--teacher``).

`report_pair` tells the relay what only this client knows of one of its own pairs: the
codes compared (``pending``, ``match``, ``differ``) and whether the user verified the pair
(``code-compared``: an enum and a flag, never text, the peer by its socket); a relay without
the console acknowledges it and keeps nothing. `on_teacher_notice` shows what the teacher
did: a notice to the room, or this member taken out of it (removed, the room cleared),
after which the session does not join again by itself. Both run inside the session's
core (`SessionCore`), which sends what they emit.
"""

from __future__ import annotations

from typing import Any

from ecc_widgets import protocol
from ecc_widgets.session import inbound
from ecc_widgets.text import safe_text

MAX_SHOWN = protocol.MAX_NOTICE


def _ignore(_ack: Any) -> None:
    """An acknowledgement is asked for, so that a refusal (an older relay) stays quiet."""


def report_pair(session: Any, pair: Any) -> None:
    """Send ``code-compared`` for ``pair`` as the user left it."""
    if not (session.joined and pair.present and pair.sid):
        return
    result = ("differ" if pair.mismatch_keys is not None
              else "match" if pair.verified else "pending")
    session._emit(protocol.CODE_COMPARED, {"peerSocketId": pair.sid, "result": result,
                                           "verified": bool(pair.verified)},
                  callback=_ignore)


def on_teacher_notice(session: Any, notice: inbound.TeacherNotice) -> None:
    """``teacher-notice``: shown in the log and on the chat's (a notice) or the join
    row's (a removal) line."""
    text = safe_text(notice.text, MAX_SHOWN)
    if notice.kind == "notice":
        session._log("warning", "relay", f"notice from the teacher: {text}")
        session._set_error("chat", f"notice from the teacher: {text}")
        return
    room = session.room
    session._member.want_join = False    # not back in by itself: the teacher took it out
    session._forget_room()
    session._log("error", "relay", f"out of room {room!r}: {text}")
    session._set_error("join", f"out of room {room!r}: {text}")
