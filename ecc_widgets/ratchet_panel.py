"""The "Ratchet" view of one peer: the Double Ratchet's keys as short fingerprints, its
counters, and a timeline of what each message did (each DH step, each skipped key).

It reads `Session.ratchet_view(peer)` (fingerprints and public keys only: no key leaves the
session) whenever the conversations or the peers change, and draws nothing of its own
from the network but escaped text. A static or legacy pair has no ratchet: it says so.
"""

from __future__ import annotations

from ecc_widgets.panels.common import MONO, Panel, escape, shorten

TIMELINE_STEPS = 24   # the newest steps shown

# what each kind of step did, in words
STEP_WORDS = {
    "send": "sent: a message key from the sending chain",
    "receive": "received: a message key from the receiving chain",
    "skip": "skipped: a key kept for a message not yet arrived",
    "skipped key used": "a late message opened with its kept key (then deleted)",
    "skipped key dropped": "the oldest kept key dropped (bound on kept keys)",
    "dh receive": "DH step: the peer's new ratchet key, a new root and receiving chain",
    "dh send": "DH step: our fresh ratchet key Q = d x G, a new root and sending chain",
}
DH_KINDS = ("dh receive", "dh send")


def _key(raw: bytes | None) -> str:
    return escape(shorten(raw.hex(), 8)) if raw else "-"


def render(view, peer: str, steps: int = TIMELINE_STEPS) -> str:
    """The view's HTML (every value escaped)."""
    if not peer:
        return "<div>Choose whom to write to in the chat: their ratchet shows here.</div>"
    if view is None:
        return (f"<div>No ratchet with {escape(peer)}: exchange keys first (a static or "
                "legacy pair has one key for the whole conversation).</div>")
    s = view.summary
    rows = [("role", view.role), ("root key RK", s["RK"]),
            ("sending chain CKs", f"{s['CKs']}  (Ns = {s['Ns']}, PN = {s['PN']})"),
            ("receiving chain CKr", f"{s['CKr']}  (Nr = {s['Nr']})"),
            ("skipped keys kept", s["skipped"])]
    table = "".join(f"<tr><td>{escape(k)}</td><td style='{MONO}'>{escape(v)}</td></tr>"
                    for k, v in rows)
    table += (f"<tr><td>our ratchet key</td><td style='{MONO}'>{_key(s['DHs'])}</td></tr>"
              f"<tr><td>{escape(peer)}'s ratchet key</td>"
              f"<td style='{MONO}'>{_key(s['DHr'])}</td></tr>")
    lines = []
    for step in view.timeline[-steps:][::-1]:
        colour = "#8250df" if step.kind in DH_KINDS else (
            "#9a6700" if step.kind.startswith("skip") else "#57606a")
        keys = "  ".join(f"{name} {value}" for name, value in
                         (("RK", step.rk), ("CK", step.ck), ("MK", step.mk)) if value)
        number = f"#{step.n} " if step.n >= 0 else ""
        lines.append(f"<div style='color:{colour}'>{escape(number)}"
                     f"{escape(STEP_WORDS.get(step.kind, step.kind))}"
                     f"<span style='{MONO}'> {escape(keys)}</span></div>")
    timeline = "".join(lines) or "<div>no message yet</div>"
    return (f"<table>{table}</table><div><b>What each message did</b> (newest first)</div>"
            f"{timeline}")


class RatchetPanel(Panel):
    """The Double Ratchet with `peer`, redrawn as messages come and go."""

    panel = "ratchet"
    topic = "chat"
    title = "Ratchet"
    watched = ("conversations", "peers")
    coalesce = (4.0, 4)

    def __init__(self, session, peer: str, shared=None, **kwargs):
        self.peer = peer
        super().__init__(session, shared, **kwargs)
        self.body = self.shared.html()
        self.children = (self.header(), self.body, self.error)
        self._render()

    def _render(self) -> None:
        with self._lock:
            if not hasattr(self, "body"):
                return   # a change before the panel is built: drawn at its end
            self.body.value = render(self.session.ratchet_view(self.peer), self.peer)

    def show(self, peer: str) -> None:
        """Follow another peer (the dashboard's: whoever the chat writes to)."""
        with self._lock:
            self.peer = peer or ""
        self._render()
