"""Mallory for real: a relay in attack mode (``start_attack_relay``), two sessions in the middle
of it, the panel and the codes."""

from __future__ import annotations

import pytest

from ecc_widgets.mallory_panel import (
    MalloryClient,
    MalloryError,
    MalloryPanel,
    start_attack_relay,
)
from ecc_widgets.panels.compare import DIFFERENT, SAME, CompareCodes
from ecc_widgets.session import Session
from tests.support.polling import wait_until
from tests.support.sessions import codes_ready, texts
from tests.support.sessions import pair_up as secure_pair


@pytest.fixture
def attack_relay():
    url, token, process = start_attack_relay(room="lab")
    yield url, token
    process.terminate()
    process.wait(10)


def pair_up(url: str, room: str) -> tuple[Session, Session]:
    a, b = Session(), Session()
    secure_pair(a, b, url, room)
    return a, b


def test_mallory_reads_a_chat_that_still_decrypts_and_the_codes_catch_her(attack_relay):
    url, token = attack_relay
    mallory = MalloryClient(url, token)
    a, b = pair_up(url, "lab")
    quiet_a, quiet_b = pair_up(url, "quiet")
    panel = MalloryPanel(url, token, interval=0.1)
    views = [CompareCodes(a, b), CompareCodes(quiet_a, quiet_b)]
    try:
        assert mallory.state()["lab"]["attacks"]["mitm"]
        a.send("bob", "meet me at six")
        wait_until(lambda: texts(b, "alice", "in") == ["meet me at six"], what="the message")
        assert b.conversations["alice"][-1].authenticated  # sealed with Mallory's key
        wait_until(lambda: "meet me at six" in [m["text"] for m in
                                                mallory.state()["lab"]["intercepted"]],
                   what="Mallory to read it")
        wait_until(lambda: "meet me at six" in panel.rooms["lab"].intercepted.value,
                   what="the panel to show it")
        wait_until(lambda: codes_ready(a, b) and codes_ready(quiet_a, quiet_b),
                   what="the short codes")
        assert views[0].verdict == DIFFERENT and a.peers["bob"].sas != b.peers["alice"].sas
        assert views[1].verdict == SAME
        # a student playing Mallory in "lab" gets that room's token: the panel shows that
        # room only, and the quiet pair's room stays out of reach
        student = MalloryPanel(url, mallory.room_token("lab"), interval=0.1)
        try:
            wait_until(lambda: "meet me at six" in getattr(student.rooms.get("lab"),
                                                           "intercepted", None).value
                       if "lab" in student.rooms else False, what="the student's panel")
            assert set(student.rooms) == {"lab"}
            with pytest.raises(MalloryError, match="refused"):
                MalloryClient(url, mallory.room_token("lab")).set_attack("quiet", "drop", True)
        finally:
            student.close()

        mallory.edit("lab", "meet me at the station")
        b.send("alice", "see you at six")
        wait_until(lambda: texts(a, "bob", "in") == ["meet me at the station"],
                   what="the edited message")
    finally:
        panel.close()
        for view in views:
            view.close()
        for s in (a, b, quiet_a, quiet_b):
            s.close()
