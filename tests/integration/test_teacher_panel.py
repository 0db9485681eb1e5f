"""The teacher's console as a notebook panel, against a real relay: the class with hostile
names escaped, the room's buttons acting, a wrong token shown in words."""

from __future__ import annotations

from ecc_widgets import protocol as P
from ecc_widgets.teacher_panel import TeacherPanel
from tests.support.peers import JWK
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess
from tests.support.sessions import RawPeer
from tests.support.teacher import CONSOLE_TOKEN, class_view

HOSTILE = "<img src=x onerror=alert(1)>"
TEX = "$\\text{bold}$"


def test_the_panel_shows_the_class_escaped_and_acts():
    server = RelayProcess("--teacher", env={"ECC_RELAY_TEACHER_TOKEN": CONSOLE_TOKEN}).start()
    peers = []
    panel = wrong = None
    try:
        peers = [RawPeer(server.url, n, "lab") for n in ("alice", HOSTILE, TEX)]
        peers[0].emit(P.SHARE_PUBLIC_KEY, {"publicKey": JWK, "targetSocketId": peers[1].sid,
                                           "v": 1})
        panel = TeacherPanel(server.url, CONSOLE_TOKEN, interval=0.2)
        view = wait_until(lambda: panel.rooms.get("lab"), what="the room on the panel")
        wait_until(lambda: "&lt;img" in view.table.value and "&#36;" in view.table.value,
                   what="every student shown")
        html = view.table.value
        assert "<img" not in html and "$" not in html and "\\text" not in html
        assert "keys sent" in html
        assert "pairs compared codes" in panel.debrief.value

        view.lock.click()
        wait_until(lambda: class_view(server.url)["rooms"]["lab"]["locked"],
                   what="the room locked from the panel")
        wait_until(lambda: view.lock.description == "Unlock room", what="the button's word")
        view.text.value = "hands up"
        view.send.click()
        wait_until(lambda: peers[0].received(P.TEACHER_NOTICE), what="the notice")
        assert peers[0].received(P.TEACHER_NOTICE)[0]["text"] == "hands up"

        wrong = TeacherPanel(server.url, "not-the-token-at-all", interval=0.2)
        wait_until(lambda: "refused the console" in wrong.error.value,
                   what="the refusal in words")
        assert not wrong.rooms
    finally:
        for made in (panel, wrong):
            if made is not None:
                made.close()
        for peer in peers:
            peer.close()
        server.stop()
