"""Chat: pick a peer, read the conversation, send a message; optionally see the wire."""

from __future__ import annotations

import threading

import ipywidgets as widgets

from ecc_widgets import crypto
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
    grouped_hex,
    plain,
)

SHOWN = 60   # newest messages shown (the model keeps more)
BODY_LIMIT = 4096   # characters of one message shown in its bubble (the model keeps all)
WIRE_BYTES = 512    # bytes of a ciphertext shown in hex, and characters of its base64

# How long after Enter to wait for the committed text before sending what the box holds.
ENTER_GRACE = 0.5

OURS = "#ddf4ff"      # our bubbles, on the right
THEIRS = "#f6f8fa"    # theirs, on the left
METRIC_COLOUR = "#57606a"

STATUS_MARKS = {
    "waiting": "⏳ waiting for the key",
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


def _decoded(value: str) -> bytes:
    try:
        return crypto.b64decode(value or "")
    except ValueError:
        return b""


def metrics_badges(message) -> list[str]:
    """The measured numbers of one message: sizes before and after, and the AEAD's time."""
    if not message.ciphertext_bytes and not message.plaintext_bytes:
        return []
    wire = message.ciphertext_bytes + message.nonce_bytes + message.tag_bytes
    plain = message.plaintext_bytes
    share = f", {100 * message.overhead_bytes / plain:.0f}%" if plain else ""
    sizes = (f"{plain} B -> {message.ciphertext_bytes}+{message.nonce_bytes}+"
             f"{message.tag_bytes} B (+{message.overhead_bytes} B{share})")
    out = [badge(sizes, METRIC_COLOUR)]
    if message.seal_ms:
        out.append(badge(f"sealed in {message.seal_ms:.2f} ms", METRIC_COLOUR))
    if message.open_ms:
        out.append(badge(f"opened in {message.open_ms:.2f} ms", METRIC_COLOUR))
    return [f'<span title="plaintext -> ciphertext + nonce + tag, bytes on the wire '
            f'(decoded from what the relay carried); {wire} B in all">{b}</span>'
            for b in out]


def wire_html(message, opened: bool) -> str:
    """The ciphertext's first bytes, and all of it (nonce, tag, associated data) one
    click away: a <details> the "Show what the relay saw" toggle opens for every bubble."""
    ciphertext = _decoded(message.ciphertext)
    if not ciphertext and not message.nonce:
        return ""
    preview = grouped_hex(ciphertext[:8]) + (" …" if len(ciphertext) > 8 else "")
    rows = "".join(
        f'<div><b>{label}</b> <small>({len(data)} B)</small> {grouped_hex(data[:WIRE_BYTES])}'
        f'{" …" if len(data) > WIRE_BYTES else ""}</div>'
        for label, data in (("ciphertext", ciphertext), ("nonce", _decoded(message.nonce)),
                            ("tag", _decoded(message.tag))))
    if message.associated_data:
        rows += (f"<div><b>associated data</b> <small>({message.ad_bytes} B, authenticated, "
                 f"not encrypted)</small> {escape(message.associated_data, LINE_LIMIT)}</div>")
    if opened:  # beside the relay view: the very strings it shows
        rows += "".join(
            f'<div style="overflow-wrap:anywhere"><b>{label}</b> (base64) '
            f'{escape(value or "-", LINE_LIMIT)}</div>'
            for label, value in (("encryptedMessage", message.ciphertext),
                                 ("iv", message.nonce), ("tag", message.tag)))
    return (f'<details{" open" if opened else ""} style="{MONO}; font-size:11px; '
            f'overflow-wrap:anywhere; margin-top:2px"><summary style="cursor:pointer">'
            f"ciphertext {preview}</summary>{rows}</details>")


def message_html(message, me: str, peer_name: str, show_wire: bool,
                 repeated: bool = False) -> str:
    """One message as a messenger bubble (ours on the right), escaped text, its measured
    numbers as badges and what the relay carried one click away."""
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
        body = escape(message.plaintext, BODY_LIMIT)
        if len(message.plaintext) > BODY_LIMIT:
            body += (f"<br><small><i>({len(message.plaintext):,} characters: the first "
                     f"{BODY_LIMIT:,} shown)</i></small>")
    ours = message.direction == "out"
    callout = (f'<div style="color:{LEVEL_COLOURS["info"]}"><small>same text, different '
               "ciphertext (fresh nonce)</small></div>" if repeated else "")
    numbers = " ".join(metrics_badges(message))
    bubble = (f'<div style="max-width:85%; min-width:0; padding:4px 8px; border-radius:10px; '
              f'background:{OURS if ours else THEIRS}">'
              f"<small><b>{escape(who, NAME_LIMIT)}</b> {escape(clock(message.time))}</small> "
              f"{' '.join(marks)}"
              f'<div style="white-space:pre-wrap; overflow-wrap:anywhere">{body}</div>'
              f"{reason}{callout}<div>{numbers}</div>{wire_html(message, show_wire)}</div>")
    return (f'<div class="ecc-bubble ecc-{"ours" if ours else "theirs"}" style="display:flex; '
            f'justify-content:{"flex-end" if ours else "flex-start"}; margin:4px 0">'
            f"{bubble}</div>")


def repeated_texts(messages) -> frozenset:
    """Ids of our messages whose text we already sent earlier in the conversation."""
    seen, repeated = set(), set()
    for message in messages:
        if message.direction != "out":
            continue
        if message.plaintext in seen:
            repeated.add(message.id)
        seen.add(message.plaintext)
    return frozenset(repeated)


def dropped_note(peer, trimmed: int, name: str) -> str:
    """What was left out: messages muted for their rate, older ones dropped for memory."""
    notes = []
    muted = getattr(peer, "muted", 0) if peer is not None else 0
    if muted:
        notes.append(f"🔇 {muted} message{'s' if muted != 1 else ''} from "
                     f"{escape(name, NAME_LIMIT)} muted: sent faster than anyone types "
                     "(not kept, not shown)")
    if trimmed:
        notes.append(f"{trimmed} older message{'s' if trimmed != 1 else ''} dropped to keep "
                     "this session's memory bounded")
    return "".join(f'<div style="color:{LEVEL_COLOURS["warning"]}; margin:2px 0"><small>'
                   f"{note}</small></div>" for note in notes)


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
    watched = ("peers", "conversations", "username", "trimmed")
    coalesce = (4.0, 8)   # a flood of messages is a few renders a second

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self.to = widgets.Dropdown(options=[], description="To",
                                   style={"description_width": "initial"})
        self.wire = widgets.ToggleButton(value=False, description="Show what the relay saw",
                                         icon="eye",
                                         layout=widgets.Layout(width="auto"))
        # Its height is the app's to set (ecc-conversation in the app's style).
        self.conversation = widgets.HTML(layout=widgets.Layout(
            max_height="360px", overflow="auto", border="1px solid #d0d7de", padding="4px"))
        self.conversation.add_class("ecc-conversation")
        # continuous_update=False: the browser sends the text when Enter is pressed or the
        # box loses focus. Only Enter (and "Send") sends a message; see _on_submit.
        self.message = widgets.Text(placeholder="Message", continuous_update=False,
                                    layout=widgets.Layout(flex="1 1 auto", width="auto"))
        self._enter: threading.Timer | None = None
        self._list = NewestFirst(self._message_html, SHOWN, "messages")
        self._context: tuple = ()   # what every cached bubble depends on besides itself
        self._shown: tuple = ()     # what the conversation shows now
        self._repeated: frozenset = frozenset()  # ids of our messages repeating an earlier text
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
        return message_html(message, me, name, wire, message.id in self._repeated)

    def _render_conversation(self) -> None:
        peer_id = self.to.value
        s = self.session
        with self._lock:
            peer = s.peers.get(peer_id) if peer_id else None
            messages = s.conversations.get(peer_id, ()) if peer_id else ()
            name = peer.name if peer else (peer_id or "")
            note = rejected_note(peer, messages, name) if messages else ""
            note = dropped_note(peer, getattr(s, "trimmed", {}).get(peer_id, 0), name) + note
            shown = (peer_id, messages, note, s.username, self.wire.value)
            if shown == self._shown:
                return  # another peer's conversation, or nothing visible, changed
            self._shown = shown
            if not peer_id:
                self.conversation.value = "<small>No conversation yet.</small>"
                return
            if not messages:
                self.conversation.value = note + (
                    f"<small>No messages with {escape(name, NAME_LIMIT)} yet. Share keys "
                    "first, then write below.</small>")
                return
            context = (s.username or "me", name, self.wire.value)
            if context != self._context:
                self._context = context
                self._list.clear()
            self._repeated = repeated_texts(messages)
            self.conversation.value = note + self._list.html(messages)
