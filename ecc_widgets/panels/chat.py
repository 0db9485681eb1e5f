"""Chat: pick a peer, read the conversation, send a message; optionally see the wire."""

from __future__ import annotations

import threading

import ipywidgets as widgets

from ecc_widgets.panels.common import (
    LEVEL_COLOURS,
    LINE_LIMIT,
    MONO,
    NAME_LIMIT,
    NewestFirst,
    Panel,
    badge,
    clock,
    escape,
    plain,
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
LEGACY_LACKS = "not authenticated against replay/reordering"
# Font Awesome (loaded with the widgets) draws the marks; the words are for everyone.
AUTHENTICATED_MARK = (f'<span style="color:{LEVEL_COLOURS["success"]}" title="the decryption '
                      'proved who sent it and that it is unchanged"><i class="fa fa-lock"></i> '
                      "authenticated</span>")
VERIFIED_MARK = ('<span style="color:#ffffff; background:#1a7f37; border-radius:8px; '
                 'padding:0 6px; font-size:11px" title="you compared the safety number with '
                 'this peer: this is their current key"><i class="fa fa-check-circle"></i> '
                 "verified</span>")


def message_marks(message) -> tuple[bool, bool]:
    """(authenticated, verified) of a message: what the crypto proved, and whether the
    user verified that peer's current key."""
    return bool(message.authenticated), bool(message.verified)


def message_html(message, me: str, peer_name: str, show_wire: bool) -> str:
    """One message as escaped text; beside it, on request, what the relay carried."""
    who = me if message.direction == "out" else peer_name
    authenticated, verified = message_marks(message)
    marks = []
    if authenticated:
        marks.append(AUTHENTICATED_MARK)
    if verified:
        marks.append(VERIFIED_MARK)
    if message.legacy:
        marks.append(badge("legacy", LEVEL_COLOURS["warning"]))
    if message.status == "rejected":
        marks.append(badge("rejected", LEVEL_COLOURS["error"]))
    elif STATUS_MARKS.get(message.status):
        marks.append(f'<small title="{escape(message.status, 20)}">'
                     f"{escape(STATUS_MARKS[message.status])}</small>")
    reason = message.reason or (LEGACY_LACKS if message.legacy else "")
    if reason:
        colour = LEVEL_COLOURS["error" if message.status == "rejected" else "warning"]
        prefix = "legacy: " if message.legacy and message.status != "rejected" else ""
        reason = (f'<div style="color:{colour}"><small>{prefix}'
                  f"{escape(reason, LINE_LIMIT)}</small></div>")
    if message.status == "rejected" and not message.plaintext:
        body = "<i>(not shown: the message failed its checks)</i>"
    else:
        body = escape(message.plaintext)
    align = "right" if message.direction == "out" else "left"
    text = (f'<div style="text-align:{align}"><small><b>{escape(who, NAME_LIMIT)}</b> '
            f"{escape(clock(message.time))}</small> {' '.join(marks)}"
            f'<div style="white-space:pre-wrap; overflow-wrap:anywhere">{body}</div>{reason}</div>')
    if not show_wire:
        return f'<div style="margin:4px 0">{text}</div>'
    wire = "".join(
        f'<div style="{MONO}; word-break:break-all"><b>{label}</b> '
        f'{escape(value or "-", LINE_LIMIT)}</div>'
        for label, value in (("ciphertext", message.ciphertext), ("nonce", message.nonce),
                             ("tag", message.tag), ("AD", message.associated_data))
    )
    return (f'<div style="display:flex; gap:8px; margin:4px 0; border-bottom:1px solid '
            f'#d0d7de"><div style="flex:1; min-width:0">{text}</div>'
            f'<div style="flex:1; min-width:0; font-size:11px">{wire}</div></div>')


def rejected_note(peer, messages, name: str) -> str:
    """How many messages from this peer were rejected; the model keeps only the newest."""
    shown = sum(1 for m in messages[-SHOWN:] if m.status == "rejected")
    count = peer.rejected if peer is not None else shown
    if not count:
        return ""
    return (f'<div style="color:{LEVEL_COLOURS["error"]}; margin:2px 0"><small>✗ {count} '
            f"rejected message{'s' if count != 1 else ''} from {escape(name, NAME_LIMIT)}"
            f"{f' (newest {shown} shown)' if shown < count else ''}</small></div>")


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
        self._list = NewestFirst(self._message_html, SHOWN, "messages")
        self._context: tuple = ()   # what every cached bubble depends on besides itself
        self._shown: tuple = ()     # what the conversation shows now
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
            options = [(plain(p.name if p.name == pid else f"{p.name} ({pid})", 2 * NAME_LIMIT),
                        pid) for pid, p in peers.items()]
            if list(self.to.options) != options:
                current = self.to.value
                self.to.options = options
                # Keep the peer being written to; otherwise pick the first one.
                if options:
                    self.to.value = current if current in peers else options[0][1]
            self._render_conversation()

    def _message_html(self, message) -> str:
        me, name, wire = self._context
        return message_html(message, me, name, wire)

    def _render_conversation(self) -> None:
        peer_id = self.to.value
        s = self.session
        with self._lock:
            peer = s.peers.get(peer_id) if peer_id else None
            messages = s.conversations.get(peer_id, ()) if peer_id else ()
            name = peer.name if peer else (peer_id or "")
            note = rejected_note(peer, messages, name) if messages else ""
            shown = (peer_id, messages, note, s.username, self.wire.value)
            if shown == self._shown:
                return  # another peer's conversation, or nothing visible, changed
            self._shown = shown
            if not peer_id:
                self.conversation.value = "<small>No conversation yet.</small>"
                return
            if not messages:
                self.conversation.value = (f"<small>No messages with {escape(name, NAME_LIMIT)} "
                                           "yet. Share keys first, then write below.</small>")
                return
            context = (s.username or "me", name, self.wire.value)
            if context != self._context:
                self._context = context
                self._list.clear()
            self.conversation.value = note + self._list.html(messages)
