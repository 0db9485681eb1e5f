"""Peers: one card per person in the room, with the checks a careful user makes."""

from __future__ import annotations

import ipywidgets as widgets

from ecc_widgets.panels.codes import safety_number_html, sas_html
from ecc_widgets.panels.common import (
    LEVEL_COLOURS,
    MONO,
    NAME_LIMIT,
    Panel,
    badge,
    close_tree,
    escape,
)
from ecc_widgets.session.records import MISMATCH_NOTE, STATUSES

ALLOW_LEGACY = "Allow legacy (seed protocol) chat"
STOP_LEGACY = "Stop legacy chat"
LEGACY_LACKS = ("<b>Legacy (seed protocol):</b> no key derivation (the key is the raw ECDH "
                "output), no associated data (nothing binds a message to its sender, room or "
                "order), so replays and reordering go undetected. Not secure.")
MATCH = "They match"
DIFFER = "They differ"
COMPARE_HINT = ("Read all seven emoji (or all three numbers) aloud with this peer, in person "
                "or by phone: a relay that swapped your keys cannot make them agree on both "
                "screens. Then press They match, or They differ.")
MISMATCH_BANNER = (f'<div class="ecc-mismatch" style="background:{LEVEL_COLOURS["error"]}; '
                   'color:#ffffff; font-weight:bold; padding:6px 8px; border-radius:4px; '
                   f'margin:4px 0">⚠ {escape(MISMATCH_NOTE[:1].upper() + MISMATCH_NOTE[1:])}.'
                   '<br><small>Every message still decrypts: whoever sits in the middle '
                   'reads them all, and forwards them.</small></div>')
# One state per card, the latest a student meets, read aloud as it is: (badge, colour, words).
MITM_STATE = "someone in the middle"
STATE_WORDS = {
    MITM_STATE: "the codes differ: do not trust this conversation",
    "key changed": "a new key: compare the codes again",
    "curve mismatch": "you and they chose different curves: pick the same one",
    "legacy": "the seed's protocol: encrypted, not protected against replays",
    "legacy offered": "their client speaks only the seed's protocol",
    "verified": "you compared the codes: end-to-end encrypted, to them",
    "secure": "keys exchanged: compare the codes to be sure it is them",
    "key received": "you have their key: share yours",
    "rejoined: waiting for a new key": "back in the room: their old key went with them",
    "keys generated": "they have keys: press Share key when yours are made",
    "joined": "in the room, no keys yet",
}
STATE_COLOURS = {MITM_STATE: LEVEL_COLOURS["error"]}


def card_state(peer) -> str:
    """The one state a card shows: a doubt about the keys first, then how far the pair got."""
    statuses = set(peer.statuses)
    if peer.legacy:
        statuses.discard("secure")   # a legacy pair is never "secure", whatever a status says
        if not {"legacy", "legacy offered"} & statuses:
            statuses.add("legacy" if peer.legacy_allowed else "legacy offered")
    if peer.mismatch:
        return MITM_STATE
    for state in ("key changed", "curve mismatch", "legacy", "legacy offered"):
        if state in statuses:
            return state
    if "secure" in statuses:
        return "verified" if peer.verified else "secure"
    for state in ("key received", "rejoined: waiting for a new key", "keys generated", "joined"):
        if state in statuses:
            return state
    others = sorted(statuses - set(STATUSES))
    return others[0] if others else "joined"


PEER_MARK = ('<span style="font-size:10px; color:#8250df; border:1px solid #8250df; '
             'border-radius:4px; padding:0 3px">peer</span>')


class PeerCard(widgets.VBox):
    """One peer: name (as text), curve, status badges, fingerprint, the codes to compare
    (seven emoji, three numbers, the safety number) with "They match" / "They differ"; for a
    peer that offers only the seed's protocol, the one control that allows it."""

    def __init__(self, panel: PeersPanel, peer_id: str):
        super().__init__(layout=panel.shared.plain)
        self.add_class("ecc-peer-card")
        self.panel = panel
        self.peer_id = peer_id
        # HTML with the name escaped: a Label would typeset a name like $\text{bob}$.
        self.name_label = widgets.HTML()
        self.name_label.add_class("ecc-peer-name")
        self.details = widgets.HTML()
        self.legacy = widgets.Button(description=ALLOW_LEGACY, icon="unlock",
                                     button_style="warning", layout=widgets.Layout(
                                         width="auto", display="none"),
                                     tooltip="This peer's client speaks only the seed's "
                                             "protocol, which cannot detect replays")
        self.legacy.on_click(self._toggle_legacy)
        self._legacy_allowed = False
        self.share = widgets.Button(description="Share key", icon="share", button_style="info")
        self.verified = widgets.Checkbox(description="Verified", value=False, indent=False,
                                         tooltip="Tick after comparing the safety number "
                                                 "with this peer over another channel")
        self.share.on_click(self._share)
        self.verified.observe(self._verify, names="value")
        self.banner = widgets.HTML()
        self.codes = widgets.HTML()
        self.codes.add_class("ecc-peer-codes")
        self.match = widgets.Button(description=MATCH, icon="check", button_style="success",
                                    tooltip="The codes on both screens are the same: "
                                            "mark this peer Verified")
        self.differ = widgets.Button(description=DIFFER, icon="times", button_style="danger",
                                     tooltip="The codes differ: someone is in the middle")
        self.match.on_click(self._match)
        self.differ.on_click(self._differ)
        self._updating = False
        self.compare = widgets.HBox([self.match, self.differ],
                                    layout=widgets.Layout(display="none"))
        self.children = [self.name_label, self.banner, self.details, self.codes, self.compare,
                         widgets.HBox([self.share, self.verified]), self.legacy]

    def _share(self, _button=None) -> None:
        self.panel.act(self.panel.session.share_key, self.peer_id,
                       what="Could not share your key")

    def _toggle_legacy(self, _button=None) -> None:
        self.panel.act(self.panel.session.allow_legacy, self.peer_id, not self._legacy_allowed,
                       what="Could not change legacy chat")

    def _match(self, _button=None) -> None:
        self.panel.act(self.panel.session.set_verified, self.peer_id, True,
                       what="Could not mark the peer verified")

    def _differ(self, _button=None) -> None:
        self.panel.act(self.panel.session.report_mismatch, self.peer_id,
                       what="Could not report the different codes")

    def _verify(self, change) -> None:
        if self._updating:
            return
        session = self.panel.session
        self.panel.act(session.set_verified, self.peer_id, change["new"],
                       what="Could not change verification")
        peer = session.peers.get(self.peer_id)
        if peer is not None:
            self.update(peer)  # a refused change puts the box back as the model has it

    def update(self, peer) -> None:
        legacy = bool(peer.legacy)
        allowed = peer.legacy_allowed
        self.name_label.value = (f"<b>{escape(peer.name, NAME_LIMIT)}</b> {PEER_MARK}"
                                 + (" <small>(legacy client)</small>" if legacy else ""))
        state = card_state(peer)
        for name in (MITM_STATE, "key changed"):
            css = "ecc-state-mitm" if name == MITM_STATE else "ecc-state-changed"
            (self.add_class if state == name else self.remove_class)(css)
        badges = (badge(state, STATE_COLOURS.get(state)) +
                  f' <span class="ecc-state-words">{escape(STATE_WORDS.get(state, ""))}</span>')
        lines = [badges, f"curve: <b>{escape(peer.curve or 'not chosen yet', NAME_LIMIT)}</b>"]
        if legacy:
            lines.append(f'<span style="color:{LEVEL_COLOURS["warning"]}"><small>{LEGACY_LACKS}'
                         + ("" if allowed else " Chat with this peer only after you allow it "
                            "below.") + "</small></span>")
        if getattr(peer, "muted", 0):
            lines.append(f'<span style="color:{LEVEL_COLOURS["warning"]}"><small>🔇 muted: '
                         f"{peer.muted} message{'s' if peer.muted != 1 else ''} sent faster "
                         "than anyone types (not kept, not shown)</small></span>")
        more = []
        if peer.fingerprint:
            more.append(f'fingerprint: <span style="{MONO}">'
                        f"{escape(peer.fingerprint, 200)}</span>")
        if peer.safety_number:
            more.append(safety_number_html(peer.safety_number))
        self.details.value = "<br>".join(lines) + (
            '<details class="ecc-more"><summary>fingerprint'
            + (" and safety number" if peer.safety_number else "")
            + "</summary>" + "<br>".join(more) + "</details>" if more else "")
        self.banner.value = MISMATCH_BANNER if peer.mismatch else ""
        codes = peer.sas
        if codes is not None or peer.safety_number:
            hint = COMPARE_HINT
            if legacy:
                hint += (" This peer's client (the seed's protocol) shows no codes at all: "
                         "there is nothing to compare with.")
            hint = f'<small class="ecc-hint">{escape(hint)}</small>'
            if peer.verified or peer.mismatch:  # compared: the how-to steps aside
                hint = (f'<details class="ecc-more"><summary>how to compare</summary>{hint}'
                        "</details>")
            self.codes.value = sas_html(codes, peer.sas_status, peer.sas_problem) + hint
        else:
            self.codes.value = ""
        self._legacy_allowed = allowed
        self.legacy.description = STOP_LEGACY if allowed else ALLOW_LEGACY
        self.legacy.icon = "lock" if allowed else "unlock"
        self.legacy.layout.display = None if legacy else "none"
        self._updating = True
        try:
            self.verified.value = bool(peer.verified)
        finally:
            self._updating = False
        self.verified.disabled = not peer.safety_number
        self.compare.layout.display = None if peer.safety_number else "none"


class PeersPanel(Panel):
    panel = "peers"
    topic = "peers"
    title = "Peers in the room"
    watched = ("peers", "departed", "hidden_in_room")
    coalesce = (4.0, 8)   # a churning room is a few renders a second

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self.summon = widgets.Button(description="Summon demo peer", icon="user-plus",
                                     layout=widgets.Layout(width="auto"))
        self.summon.on_click(lambda _: self.act(self.session.summon_demo_peer,
                                                what="Could not summon the demo peer"))
        self.empty = widgets.HTML("<small>Nobody else here yet. Open a second tab, or summon "
                                  "the demo peer.</small>")
        self.cards_box = widgets.VBox()
        self.cards: dict[str, PeerCard] = {}
        # who left while we were here: no card (no key, nothing "secure"), one line
        self.left = widgets.HTML()
        self.left.add_class("ecc-peers-left")
        self.hidden = widgets.HTML()  # classmates' demo peers: counted, never hidden silently
        self.children = [self.header(), self.summon, self.error, self.empty, self.cards_box,
                         self.left, self.hidden]
        self._render()

    def _render(self) -> None:
        peers = dict(self.session.peers)
        with self._lock:
            # Cards are kept per peer id, so a toggle in use is never rebuilt under the cursor.
            for gone in set(self.cards) - set(peers):
                close_tree(self.cards.pop(gone))
            for peer_id, peer in peers.items():
                card = self.cards.get(peer_id)
                if card is None:
                    card = self.cards[peer_id] = PeerCard(self, peer_id)
                card.update(peer)
            self.cards_box.children = [self.cards[pid] for pid in peers]
            self.empty.layout.display = "none" if peers else None
            gone = [name for name in getattr(self.session, "departed", ()) if name not in peers]
            self.left.value = (f'<small style="color:#57606a">Left the room: '
                               f'{", ".join(escape(n, NAME_LIMIT) for n in gone)} (their keys '
                               "went with them; a returning peer's new key is flagged)</small>"
                               if gone else "")
            hidden = int(getattr(self.session, "hidden_in_room", 0) or 0)
            self.hidden.value = (f'<small style="color:#57606a">Also here, seen only by the '
                                 f"classmate who summoned each: {hidden} demo "
                                 f"peer{'s' if hidden != 1 else ''}</small>" if hidden else "")
