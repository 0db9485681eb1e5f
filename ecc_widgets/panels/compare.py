"""Two sessions' codes side by side, for a demonstration with both peers on one screen.

In a classroom two students read their codes aloud; when one screen shows both Alice and Bob
(a lecturer's demonstration, a student alone with two sessions), this widget does the reading:
what Alice's card shows for Bob next to what Bob's card shows for Alice, and whether they are
the same. Under a man in the middle they differ, while every message still decrypts.
"""

from __future__ import annotations

import threading

import ipywidgets as widgets

from ecc_widgets.panels.codes import safety_number_html, sas_html
from ecc_widgets.panels.common import (
    LEVEL_COLOURS,
    NAME_LIMIT,
    NO_TYPESETTING,
    close_tree,
    escape,
    observe,
)
from ecc_widgets.sas import COMPARING, FAILED
from ecc_widgets.style import Styled

SAME = "same"
DIFFERENT = "DIFFERENT"
WAITING = "waiting"


def verdict(peer_a, peer_b) -> str:
    """SAME, DIFFERENT, or WAITING (one side has no codes yet, or its short code's exchange
    is still running) for the two sides' records. A failed exchange is DIFFERENT: only
    someone changing it makes the committed nonce not open its commitment."""
    if peer_a is None or peer_b is None or not peer_a.safety_number or not peer_b.safety_number:
        return WAITING
    statuses = {getattr(peer_a, "sas_status", ""), getattr(peer_b, "sas_status", "")}
    if FAILED in statuses:
        return DIFFERENT
    if COMPARING in statuses:
        return WAITING
    same = peer_a.safety_number == peer_b.safety_number and peer_a.sas == peer_b.sas
    return SAME if same else DIFFERENT


class CompareCodes(Styled, widgets.VBox):
    """`session_a`'s codes for `session_b`'s user next to `session_b`'s for `session_a`'s,
    with a verdict; follows both models until `close()`."""

    def __init__(self, session_a, session_b, **kwargs):
        super().__init__(**kwargs)
        self.sessions = (session_a, session_b)
        self._lock = threading.RLock()
        self.sides = (widgets.HTML(), widgets.HTML())
        for side in self.sides:
            side.layout.flex = "1 1 0"
            side.layout.min_width = "0"
            side.layout.padding = "0 8px"
        self.result = widgets.HTML()
        self.result.add_class("ecc-compare-verdict")
        self.add_class("ecc-compare")
        for name in NO_TYPESETTING:
            self.add_class(name)
        self.layout.border = "1px solid #d0d7de"
        self.layout.padding = "6px 10px"
        self.children = [widgets.HTML("<b>Compare with your partner</b>"),
                         widgets.HBox(list(self.sides)), self.result]
        self.verdict = WAITING
        self._observers = [(s, observe(s, self._on_change, ("peers", "username"),
                                       on_error=self._display_failed))
                           for s in self.sessions]
        self._render()

    def _on_change(self, _change) -> None:
        self._render()

    def _display_failed(self, exc: Exception) -> None:
        self.result.value = (f'<span style="color:{LEVEL_COLOURS["error"]}">could not display '
                             f"the latest change ({escape(type(exc).__name__)})</span>")

    def _render(self) -> None:
        a, b = self.sessions
        with self._lock:
            peer_a = a.peers.get(b.username) if b.username else None
            peer_b = b.peers.get(a.username) if a.username else None
            for side, me, other, peer in ((self.sides[0], a, b, peer_a),
                                          (self.sides[1], b, a, peer_b)):
                title = (f"<b>{escape(me.username or '(not joined)', NAME_LIMIT)}</b> sees, "
                         f"for {escape(other.username or '(not joined)', NAME_LIMIT)}:")
                if peer is None or not peer.safety_number:
                    body = "<small>no codes yet: exchange keys first</small>"
                else:
                    body = (sas_html(peer.sas, peer.sas_status, peer.sas_problem)
                            + safety_number_html(peer.safety_number))
                side.value = f"{title}<br>{body}"
            self.verdict = verdict(peer_a, peer_b)
            if self.verdict == SAME:
                self.result.value = (f'<div style="color:{LEVEL_COLOURS["success"]}; '
                                     'font-weight:bold">✔ same on both screens: nobody '
                                     "swapped the keys</div>")
            elif self.verdict == DIFFERENT:
                self.result.value = (f'<div style="background:{LEVEL_COLOURS["error"]}; '
                                     'color:#ffffff; font-weight:bold; padding:4px 8px; '
                                     'border-radius:4px">⚠ DIFFERENT: each side shares its '
                                     "secret with someone in the middle, not with the other. "
                                     "Every message still decrypts, and the one in the middle "
                                     "reads them all.</div>")
            else:
                self.result.value = ("<small>waiting for both sides' keys and short "
                                     "codes</small>")

    def close(self) -> None:
        for session, handler in getattr(self, "_observers", ()):
            session.unobserve(handler, names=["peers", "username"])
        self._observers = []
        close_tree(self)
