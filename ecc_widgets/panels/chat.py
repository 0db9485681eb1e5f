"""Chat: pick a peer, read the conversation, send a message; optionally see the wire."""

from __future__ import annotations

import threading

import ipywidgets as widgets

from ecc_widgets.panels.common import (
    LEVEL_COLOURS,
    LINE_LIMIT,
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

STATUS_MARKS = {
    "waiting": "⏳ waiting for the key",
    "sending": "…",
    "sent": "✓",
    "received": "",
    "rejected": "✗ rejected",
}
LEGACY_LACKS = "not authenticated against replay/reordering"
# Font Awesome (loaded with the widgets) draws the marks; their titles say them in words.
AUTHENTICATED_MARK = ('<span class="ecc-lock" title="authenticated: the decryption proved who '
                      'sent it and that it is unchanged"><i class="fa fa-lock"></i></span>')
VERIFIED_MARK = ('<span class="ecc-lock" title="verified: you compared the safety number with '
                 'this peer, and this is their current key"><i class="fa fa-check-circle">'
                 "</i></span>")
# One state for the whole conversation when the pair's keys are in doubt: it replaces the
# lock on every bubble, and a banner on top says it in words.
MITM, CHANGED = "mitm", "changed"
STATE_MARKS = {
    MITM: ('<span class="ecc-mitm-mark" title="the codes differ: whoever sits in the middle '
           'read this message, and could have changed it">⚠ read in the middle</span>'),
    CHANGED: ('<span class="ecc-changed-mark" title="their key changed: compare the codes '
              'again before you trust it"><i class="fa fa-lock"></i> new key</span>'),
}
STATE_ALERTS = {
    MITM: ("⚠ The codes differ: someone in the middle reads these messages (and can change "
           "them). Every lock still shows: the encryption works, with the wrong person."),
    CHANGED: ("Their key changed: compare the codes again (on their card) before you trust "
              "this conversation."),
}


def message_marks(message) -> tuple[bool, bool]:
    """(authenticated, verified) of a message: what the crypto proved, and whether the
    user verified that peer's current key."""
    return bool(message.authenticated), bool(message.verified)


def conversation_state(peer) -> str:
    """MITM when the user found the codes different, CHANGED while a new key waits to be
    compared, else "" (the crypto's own marks speak)."""
    if peer is None:
        return ""
    if peer.mismatch:
        return MITM
    return CHANGED if "key changed" in peer.statuses else ""


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def metrics_line(message) -> str:
    """The measured numbers of one message in a few words: "15 B → 43 B · sealed 0.11 ms"
    (the text's bytes, the bytes on the wire: ciphertext, nonce and tag)."""
    if not message.ciphertext_bytes and not message.plaintext_bytes:
        return ""
    wire = message.ciphertext_bytes + message.nonce_bytes + message.tag_bytes
    words = [f"{message.plaintext_bytes} B → {wire} B"]
    if message.seal_ms:
        words.append(f"sealed {_ms(message.seal_ms)} ms")
    if message.open_ms:
        words.append(f"opened {_ms(message.open_ms)} ms")
    return " · ".join(words)


def metrics_detail(message) -> str:
    """The same numbers in full, for the detail one click away."""
    if not message.ciphertext_bytes and not message.plaintext_bytes:
        return ""
    plain = message.plaintext_bytes
    wire = message.ciphertext_bytes + message.nonce_bytes + message.tag_bytes
    share = f", {100 * message.overhead_bytes / plain:.0f}%" if plain else ""
    out = (f"<div>{plain} B -> {message.ciphertext_bytes}+{message.nonce_bytes}+"
           f"{message.tag_bytes} B (+{message.overhead_bytes} B{share})</div>"
           f"<div><small>text {plain} B; on the wire ciphertext {message.ciphertext_bytes} B + "
           f"nonce {message.nonce_bytes} B + tag {message.tag_bytes} B = {wire} B (decoded "
           "from what the relay carried)</small></div>")
    times = [f"sealed in {message.seal_ms:.3f} ms" if message.seal_ms else "",
             f"opened in {message.open_ms:.3f} ms" if message.open_ms else ""]
    times = [t for t in times if t]
    if times:
        out += f"<div>{', '.join(times)} (the AEAD call alone)</div>"
    return out


def wire_html(message, opened: bool) -> str:
    """What the relay carried: the ciphertext, nonce, tag and associated data (in hex), and
    with `opened` ("Show what the relay saw") the very base64 strings of the wire."""
    ciphertext = message.ciphertext_raw   # decoded once, by the model
    if not (message.ciphertext or message.nonce):
        return ""
    rows = "".join(
        f'<div><b>{label}</b> <small>({len(data)} B)</small> {grouped_hex(data[:WIRE_BYTES])}'
        f'{" …" if len(data) > WIRE_BYTES else ""}</div>'
        for label, data in (("ciphertext", ciphertext), ("nonce", message.nonce_raw),
                            ("tag", message.tag_raw)))
    if message.associated_data:
        rows += (f"<div><b>associated data</b> <small>({message.ad_bytes} B, authenticated, "
                 f"not encrypted)</small> {escape(message.associated_data, LINE_LIMIT)}</div>")
    if opened:  # beside the relay view: the very strings it shows
        rows += "".join(
            f'<div><b>{label}</b> (base64) {escape(value or "-", LINE_LIMIT)}</div>'
            for label, value in (("encryptedMessage", message.ciphertext),
                                 ("iv", message.nonce), ("tag", message.tag)))
    return rows


def message_html(message, me: str, peer_name: str, show_wire: bool,
                 repeated: bool = False, state: str = "") -> str:
    """One message as a messenger bubble (ours on the right): the escaped text, one line of
    details (time, sizes, time to seal or open, the marks), and all of it (sizes, nonce,
    tag, associated data, ciphertext) one click away, open for every bubble with
    "Show what the relay saw"."""
    who = me if message.direction == "out" else peer_name
    authenticated, verified = message_marks(message)
    marks = []
    if state in STATE_MARKS and message.status != "rejected":
        marks.append(STATE_MARKS[state])
    else:
        if authenticated:
            marks.append(AUTHENTICATED_MARK)
        if verified:
            marks.append(VERIFIED_MARK)
    if message.legacy:
        marks.append(badge("legacy", LEVEL_COLOURS["warning"]))
    if message.status == "rejected":
        marks.append(f'<b style="color:{LEVEL_COLOURS["error"]}">✗ rejected</b>')
    elif STATUS_MARKS.get(message.status):
        marks.append(f'<span title="{escape(message.status, 20)}">'
                     f"{escape(STATUS_MARKS[message.status])}</span>")
    rejected = message.status == "rejected"
    reason = message.reason or (LEGACY_LACKS if message.legacy else "")
    shown_reason = ""
    if reason and (rejected or not message.legacy):
        shown_reason = f'<div class="ecc-reason">{escape(reason, LINE_LIMIT)}</div>'
    if rejected and not message.plaintext:
        body = "<i>(not shown: the message failed its checks)</i>"
    else:
        body = escape(message.plaintext, BODY_LIMIT)
        if len(message.plaintext) > BODY_LIMIT:
            body += (f"<br><small><i>({len(message.plaintext):,} characters: the first "
                     f"{BODY_LIMIT:,} shown)</i></small>")
    ours = message.direction == "out"
    line = " · ".join(part for part in (escape(clock(message.time)[:5]),
                                          metrics_line(message)) if part)
    summary = f"{line} {' '.join(marks)}" + (" · ↻" if repeated else "")
    detail = metrics_detail(message)
    if message.legacy and not rejected:
        detail += (f'<div style="color:{LEVEL_COLOURS["warning"]}">legacy: '
                   f"{escape(reason, LINE_LIMIT)}</div>")
    if repeated:
        detail += (f'<div style="color:{LEVEL_COLOURS["info"]}">same text, different '
                   "ciphertext (fresh nonce)</div>")
    detail += wire_html(message, show_wire)
    if detail:
        meta = (f'<details class="ecc-meta"{" open" if show_wire else ""}><summary>{summary}'
                f'</summary><div class="ecc-detail-rows">{detail}</div></details>')
    else:
        meta = f'<div class="ecc-meta">{summary}</div>'
    classes = f'ecc-bubble ecc-{"ours" if ours else "theirs"}' + (" ecc-rejected" if rejected
                                                                   else "")
    return (f'<div class="{classes}" title="{escape(who, NAME_LIMIT)}, '
            f'{escape(clock(message.time))}"><div class="ecc-b"><div class="ecc-text">{body}'
            f"</div>{shown_reason}{meta}</div></div>")


def empty_hint(name: str, statuses) -> str:
    """What to do before the first message: share keys, or (once they are shared) write."""
    who = escape(name, NAME_LIMIT)
    if {"secure", "legacy"} & set(statuses):
        words = f"Keys shared with {who}: write below. Only {who} can read it."
    else:
        words = (f"No messages with {who} yet. Make your keys (the Keys step), then press "
                 f"Share key on {who}'s card.")
    return f'<div class="ecc-chat-empty">{words}</div>'


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
    title = "Chat, end-to-end encrypted"
    watched = ("peers", "conversations", "username", "trimmed")
    coalesce = (4.0, 8)   # a flood of messages is a few renders a second

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self.to = widgets.Dropdown(options=[], description="To",
                                   style={"description_width": "initial"})
        self.wire = widgets.ToggleButton(value=False, description="Show what the relay saw",
                                         icon="eye",
                                         layout=widgets.Layout(width="auto"))
        # Its height, scrolling and order (newest at the bottom) are the stylesheet's.
        self.conversation = self.shared.html()
        self.conversation.add_class("ecc-conversation")
        # continuous_update=False: the browser sends the text when Enter is pressed or the
        # box loses focus. Only Enter (and "Send") sends a message; see _on_submit.
        self.message = widgets.Text(placeholder="Message", continuous_update=False,
                                    layout=widgets.Layout(flex="1 1 auto", width="auto"))
        self._enter: threading.Timer | None = None
        self._list = NewestFirst(self._message_html, SHOWN, "messages", newest_last=True)
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
        bar = widgets.HBox([self.to, self.wire],
                           layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        bar.add_class("ecc-chat-bar")
        compose = widgets.HBox([self.message, self.send_button])
        compose.add_class("ecc-compose")
        self.children = [self.header(), bar, self.conversation, compose, self.error]
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
        me, name, wire, state = self._context
        return message_html(message, me, name, wire, message.id in self._repeated, state)

    def _render_conversation(self) -> None:
        peer_id = self.to.value
        s = self.session
        with self._lock:
            peer = s.peers.get(peer_id) if peer_id else None
            messages = s.conversations.get(peer_id, ()) if peer_id else ()
            name = peer.name if peer else (peer_id or "")
            note = rejected_note(peer, messages, name) if messages else ""
            note = dropped_note(peer, getattr(s, "trimmed", {}).get(peer_id, 0), name) + note
            state = conversation_state(peer)
            statuses = peer.statuses if peer is not None else frozenset()
            shown = (peer_id, messages, note, s.username, self.wire.value, state, statuses)
            if shown == self._shown:
                return  # another peer's conversation, or nothing visible, changed
            self._shown = shown
            if not peer_id:
                self.conversation.value = ('<div class="ecc-chat-empty">No conversation yet: '
                                           "nobody else is in the room.</div>")
                return
            alert = (f'<div class="ecc-chat-alert ecc-{state}">{escape(STATE_ALERTS[state])}'
                     "</div>" if state else "")
            if not messages:
                self.conversation.value = alert + note + empty_hint(name, statuses)
                return
            context = (s.username or "me", name, self.wire.value, state)
            if context != self._context:
                self._context = context
                self._list.clear()
            self._repeated = repeated_texts(messages)
            self.conversation.value = alert + note + self._list.html(messages)
