"""Peers: one card per person in the room, with the checks a careful user makes."""

from __future__ import annotations

import ipywidgets as widgets

from ecc_widgets.panels.common import MONO, Panel, badge, close_tree, escape
from ecc_widgets.session.records import STATUSES


class PeerCard(widgets.VBox):
    """One peer: name (as text), curve, status badges, fingerprint, safety number."""

    def __init__(self, panel: PeersPanel, peer_id: str):
        super().__init__(layout=widgets.Layout(border="1px solid #d0d7de", padding="4px 8px",
                                               margin="4px 0"))
        self.panel = panel
        self.peer_id = peer_id
        self.name_label = widgets.Label()  # a Label shows its value as text, never markup
        self.details = widgets.HTML()
        self.share = widgets.Button(description="Share key", icon="share", button_style="info")
        self.verified = widgets.Checkbox(description="Verified", value=False, indent=False,
                                         tooltip="Tick after comparing the safety number "
                                                 "with this peer over another channel")
        self.share.on_click(self._share)
        self.verified.observe(self._verify, names="value")
        self._updating = False
        self.children = [self.name_label, self.details,
                         widgets.HBox([self.share, self.verified])]

    def _share(self, _button=None) -> None:
        self.panel.act(self.panel.session.share_key, self.peer_id,
                       what="Could not share your key")

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
        self.name_label.value = f"{peer.name}" + (" (legacy client)" if peer.legacy else "")
        statuses = [s for s in STATUSES if s in peer.statuses]
        statuses += sorted(set(peer.statuses) - set(STATUSES))
        badges = "".join(badge(s) for s in statuses)
        if peer.verified:
            badges += badge("verified")
        if peer.legacy:
            badges += badge("legacy")
        lines = [badges, f"curve: <b>{escape(peer.curve or 'not chosen yet')}</b>"]
        if peer.fingerprint:
            lines.append(f'fingerprint: <span style="{MONO}">{escape(peer.fingerprint)}</span>')
        if peer.safety_number:
            lines.append(f'safety number: <span style="{MONO}">'
                         f"{escape(peer.safety_number)}</span>"
                         "<br><small>Compare it with your peer (in person or by phone); if "
                         "it matches, tick Verified.</small>")
        self.details.value = "<br>".join(lines)
        self._updating = True
        try:
            self.verified.value = bool(peer.verified)
        finally:
            self._updating = False
        self.verified.disabled = not peer.safety_number


class PeersPanel(Panel):
    panel = "peers"
    topic = "peers"
    title = "4. Peers in the room"
    watched = ("peers",)

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
        self.children = [self.header(), self.summon, self.error, self.empty, self.cards_box]
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
