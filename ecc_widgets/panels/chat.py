"""Chat: pick a peer, read the conversation, send a message; optionally see the wire."""

from __future__ import annotations

import threading

import ipywidgets as widgets

from ecc_widgets.panels.common import (
    LEVEL_COLOURS,
    MONO,
    Panel,
    badge,
    clock,
    escape,
    newest_first,
)

SHOWN = 200  # newest messages shown

# How long after Enter to wait for the committed text before sending what the box holds.
ENTER_GRACE = 0.5

STATUS_MARKS = {
    "sending": "…",
    "sent": "✓",
    "received": "",
    "rejected": "✗ rejected",
}


def message_html(message, me: str, peer_name: str, show_wire: bool) -> str:
    """One message as escaped text; beside it, on request, what the relay carried."""
    who = me if message.direction == "out" else peer_name
    marks = []
    if message.verified:
        # Font Awesome's lock (loaded with the widgets), then the word for a screen reader.
        marks.append(f'<span style="color:{LEVEL_COLOURS["success"]}" title="verified peer">'
                     '<i class="fa fa-lock"></i> verified</span>')
    if message.legacy:
        marks.append(badge("legacy", "#9a6700"))
    if message.status == "rejected":
        marks.append(badge("rejected", LEVEL_COLOURS["error"]))
    elif STATUS_MARKS.get(message.status):
        marks.append(f'<small title="{escape(message.status)}">'
                     f"{escape(STATUS_MARKS[message.status])}</small>")
    reason = ""
    if message.reason:
        colour = LEVEL_COLOURS["error" if message.status == "rejected" else "warning"]
        reason = f'<div style="color:{colour}"><small>{escape(message.reason)}</small></div>'
    if message.status == "rejected" and not message.plaintext:
        body = "<i>(not shown: the message failed its checks)</i>"
    else:
        body = escape(message.plaintext)
    align = "right" if message.direction == "out" else "left"
    text = (f'<div style="text-align:{align}"><small><b>{escape(who)}</b> '
            f"{escape(clock(message.time))}</small> {' '.join(marks)}"
            f'<div style="white-space:pre-wrap; overflow-wrap:anywhere">{body}</div>{reason}</div>')
    if not show_wire:
        return f'<div style="margin:4px 0">{text}</div>'
    wire = "".join(
        f'<div style="{MONO}; word-break:break-all"><b>{label}</b> {escape(value or "-")}</div>'
        for label, value in (("ciphertext", message.ciphertext), ("nonce", message.nonce),
                             ("tag", message.tag), ("AD", message.associated_data))
    )
    return (f'<div style="display:flex; gap:8px; margin:4px 0; border-bottom:1px solid '
            f'#d0d7de"><div style="flex:1; min-width:0">{text}</div>'
            f'<div style="flex:1; min-width:0; font-size:11px">{wire}</div></div>')


class ChatPanel(Panel):
    panel = "chat"
    topic = "chat"
    title = "5. Chat, end-to-end encrypted"
    watched = ("peers", "conversations", "username")

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self.to = widgets.Dropdown(options=[], description="To")
        self.wire = widgets.ToggleButton(value=False, description="Show what the relay saw",
                                         icon="eye",
                                         layout=widgets.Layout(width="auto"))
        self.conversation = widgets.HTML(layout=widgets.Layout(
            max_height="360px", overflow="auto", border="1px solid #d0d7de", padding="4px"))
        # continuous_update=False: the browser sends the text when Enter is pressed or the
        # box loses focus. Only Enter (and "Send") sends a message; see _on_submit.
        self.message = widgets.Text(placeholder="Message", continuous_update=False,
                                    layout=widgets.Layout(flex="1 1 auto", width="auto"))
        self._enter: threading.Timer | None = None
        self.send_button = widgets.Button(description="Send", button_style="primary",
                                          icon="paper-plane")
        self.message.observe(self._on_message, names="value")
        self.message.on_msg(self._on_submit)
        self.send_button.on_click(lambda _: self.send())
        self.to.observe(lambda _: self._render_conversation(), names="value")
        self.wire.observe(lambda _: self._render_conversation(), names="value")
        self.children = [
            self.header(),
            widgets.HBox([self.to, self.wire],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="center")),
            self.conversation,
            widgets.HBox([self.message, self.send_button]),
            self.error,
        ]
        self._render()

    def _on_submit(self, _widget, content, _buffers) -> None:
        # The browser reports Enter ("submit") *before* the value Enter commits, and sends
        # no value at all when the text did not change. So: send when the value arrives,
        # or, if none comes within a moment, send what the box already holds.
        if content.get("event") != "submit":
            return
        with self._lock:
            if self._enter is not None:
                self._enter.cancel()
            self._enter = threading.Timer(ENTER_GRACE, self._enter_timeout)
            self._enter.daemon = True
            self._enter.start()

    def _take_enter(self) -> bool:
        with self._lock:
            timer, self._enter = self._enter, None
        if timer is not None:
            timer.cancel()
        return timer is not None

    def _enter_timeout(self) -> None:
        if self._take_enter():
            self.send()

    def _on_message(self, change) -> None:
        # A value that comes without Enter (the box lost focus) is a draft, not a message.
        if self._take_enter():
            self.send()

    def close(self) -> None:
        self._take_enter()
        super().close()

    def send(self) -> None:
        text = self.message.value
        if not text.strip():
            return
        if not self.to.value:
            self.complain("Pick a peer to write to first (nobody is in the room yet?).")
            return
        sent = self.act(self.session.send, self.to.value, text, what="Could not send")
        if sent is not None:
            self.message.value = ""  # kept on failure, so the user can try again

    def _render(self) -> None:
        peers = self.session.peers
        with self._lock:
            options = [(p.name if p.name == pid else f"{p.name} ({pid})", pid)
                       for pid, p in peers.items()]
            if list(self.to.options) != options:
                current = self.to.value
                self.to.options = options
                # Keep the peer being written to; otherwise pick the first one.
                if options:
                    self.to.value = current if current in peers else options[0][1]
            self._render_conversation()

    def _render_conversation(self) -> None:
        peer_id = self.to.value
        s = self.session
        with self._lock:
            if not peer_id:
                self.conversation.value = "<small>No conversation yet.</small>"
                return
            peer = s.peers.get(peer_id)
            messages = s.conversations.get(peer_id, ())
            name = peer.name if peer else peer_id
            if not messages:
                self.conversation.value = (f"<small>No messages with {escape(name)} yet. Share "
                                           "keys first, then write below.</small>")
                return
            self.conversation.value = newest_first(
                messages, SHOWN, lambda m: message_html(m, s.username or "me", name,
                                                        self.wire.value), "messages")
