"""The headless session model: everything a notebook peer knows, with no widgets in it.

A `Session` is a `traitlets.HasTraits`; panels observe its traits and call its actions. It
owns a `RelayClient` (its own thread) and does the cryptography through `ecc_widgets.crypto`
(real keys, ECDH, HKDF, AES-256-GCM) and `ecc_widgets.ecmath` (the educational trace of
Q = d x G, checked equal to the real public key).

Threads: actions run on the caller's thread and never wait for the network; relay events are
handled on the client's thread. Both change state under one lock, and every trait is
replaced, never mutated in place, so observers fire (on whichever thread changed it).

Peers are keyed by user name, which the relay keeps unique in a room: socket ids change at
every reconnect, names do not, so a conversation survives a relay restart.

Protocol v1 (see docs/protocol.md, "Message protection (v1)"): our key shares and messages
carry ``v: 1``; the message key is HKDF over ECDH bound to both public keys and the curve;
every message is AES-256-GCM with associated data binding version, room, sender, receiver,
curve and a per-pair sequence number. A peer whose key share has no ``v`` speaks the seed's
protocol: we talk to it in the seed's format (raw ECDH key, no associated data) and mark the
conversation as legacy.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, HasTraits, Tuple, Unicode

from ecc_widgets import crypto, protocol
from ecc_widgets.client import CONNECTED, DISCONNECTED, RelayClient
from ecc_widgets.curves import TOY_CURVES, get_curve

# ---------------------------------------------------------------------------- vocabulary

STATUSES = ("joined", "keys generated", "key received", "secure", "key changed",
            "curve mismatch")
PANELS = ("join", "curve", "keys", "peers", "chat")
REPLAY_WINDOW = 64          # how far behind the newest sequence number a message may arrive
MAX_VIEW = 1000             # entries kept in `log` and `relay_view` (the newest)
MAX_PLAINTEXT = 30 * 1024   # bytes; the relay refuses ciphertext much beyond this
RECEIPT = "receipt"         # the `kind` of a delivery receipt
RECEIPT_DELAY = 0.02        # seconds to gather received ids into one receipt
MAX_RECEIPT_IDS = 256       # ids per receipt
TOY_CURVE = "toy-251"       # prime order 271: every step of the toy trace is drawable
DEFAULT_CURVE = "P-256"

LEGACY_NOTE = ("legacy peer (seed protocol): the key is raw ECDH output with no key "
               "derivation, and nothing binds a message to its sender, receiver, room or "
               "order, so a relay could replay or reorder it unnoticed (only a repeated IV is "
               "caught)")

# Rejection reasons start with these words, so a reader (and a test) can tell them apart.
TAMPERED = "tampered"
REPLAYED = "replayed"
REORDERED = "reordered"
WRONG_CURVE = "wrong curve"
DOWNGRADE = "downgrade"
NO_KEY = "no key"
MALFORMED = "malformed"


class SessionError(ValueError):
    """An action that cannot be done now, said in words (also in `errors` and the log)."""


# ---------------------------------------------------------------------------- records

@dataclass(frozen=True)
class Peer:
    """Someone in the room. `id` is stable for the room (the user name, unique there)."""

    id: str
    name: str
    curve: str = ""
    public_jwk: dict = field(default_factory=dict)
    fingerprint: str = ""
    safety_number: str = ""
    statuses: frozenset = frozenset()
    verified: bool = False
    legacy: bool = False


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation; wire fields are the base64 strings the relay carried.

    `verified` is true for a received message that passed every check (authentic, in
    order, on the agreed curve), and for a sent one once the peer's authenticated receipt
    says it arrived; `reason` says why one was rejected, or for a legacy message what
    protection it lacks.
    """

    id: str
    peer_id: str
    direction: str               # "out" | "in"
    plaintext: str
    ciphertext: str = ""
    nonce: str = ""
    tag: str = ""
    associated_data: str = ""
    time: float = 0.0
    status: str = "sending"      # "sending" | "sent" | "received" | "rejected"
    reason: str = ""
    legacy: bool = False
    verified: bool = False


@dataclass(frozen=True)
class LogEntry:
    time: float
    level: str                   # "info" | "success" | "warning" | "error"
    source: str
    text: str


@dataclass(frozen=True)
class KeygenTrace:
    """Q = d x G as the maths computed it, step by step (`steps` are `ecmath.Step`s)."""

    curve: str
    private_value: int
    public_point: Any
    steps: tuple
    toy: KeygenTrace | None = None


# ---------------------------------------------------------------------------- protocol v1

def associated_data(*, room: str, sender: str, receiver: str, curve: str, seq: int,
                    version: int = protocol.PROTOCOL_VERSION, kind: str = "") -> bytes:
    """What a v1 message's tag authenticates besides the text; both sides build it alike.

    `kind` is "" for a chat message (no ``kind`` key at all) and "receipt" for a delivery
    receipt, so neither can be passed off as the other.
    """
    fields: dict[str, Any] = {"v": version, "room": room, "from": sender, "to": receiver,
                              "curve": curve, "seq": seq}
    if kind:
        fields["kind"] = kind
    return json.dumps(fields, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


class ReplayWindow:
    """Accepts each sequence number once, and none older than `size` behind the newest.

    `check` returns None (accept), "duplicate" (the same message id again: a re-send after
    a reconnect, dropped quietly), or a rejection reason.
    """

    def __init__(self, size: int = REPLAY_WINDOW, remember: int = 4096):
        self.size = size
        self.highest = 0
        self._seen: OrderedDict[int, str] = OrderedDict()  # seq -> message id
        self._remember = remember

    def check(self, seq: int, message_id: str) -> str | None:
        seen = self._seen.get(seq)
        if seen is not None:
            if seen == message_id:
                return "duplicate"
            return f"{REPLAYED}: sequence number {seq} was already received"
        if seq <= self.highest - self.size:
            return (f"{REORDERED} past the window: #{seq} arrived after #{self.highest} "
                    f"(window {self.size})")
        return None

    def accept(self, seq: int, message_id: str) -> None:
        self._seen[seq] = message_id
        self.highest = max(self.highest, seq)
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)


# ---------------------------------------------------------------------------- internal state

@dataclass
class _Pair:
    """What we know about one peer, kept across leaves and reconnects (keyed by name)."""

    name: str
    sid: str = ""
    present: bool = False
    announced_curve: str = ""
    keys_generated: bool = False
    public_key: Any = None
    public_raw: bytes = b""
    public_jwk: dict = field(default_factory=dict)
    legacy: bool = False
    key_changed: bool = False
    verified: bool = False
    wants_reply: bool = False         # sent us a key (not a reply) before we had keys
    shared_ours: bytes = b""          # which of our public keys we last sent them
    key: bytes = b""                  # message key for this pair ("" until derived)
    key_problem: str = ""             # why there is no key (curve mismatch, ...)
    send_seq: int = 0
    window: ReplayWindow = field(default_factory=ReplayWindow)
    seen_ivs: set = field(default_factory=set)
    receipts: list = field(default_factory=list)  # ids received, to confirm to the sender


@dataclass
class _Outgoing:
    """A message the peer has not confirmed yet; re-sent after a reconnect.

    The relay's acknowledgement only says it passed the message on (a relay going down can
    still lose it); a v1 peer's receipt says it arrived. Legacy peers send no receipts, so
    for them the relay's acknowledgement is the end of it.
    """

    id: str
    peer: str
    payload: dict                     # without targetSocketId (the socket id changes)
    key: bytes
    legacy: bool = False
    acked: bool = False               # the relay acknowledged it
    sent_to: str = ""                 # socket id it was last emitted to in this connection
    epoch: int = -1


# ---------------------------------------------------------------------------- the model

class Session(HasTraits):
    """One notebook peer: identity, curve, keys, peers, conversations and the activity log."""

    username = Unicode("")
    room = Unicode("")
    my_id = Unicode("")
    relay_url = Unicode("")
    connection = Unicode(DISCONNECTED)
    joined = Bool(False)
    curve = Unicode(DEFAULT_CURVE)
    public_jwk = Dict()
    fingerprint = Unicode("")
    keygen = AnyTrait(None, allow_none=True)
    peers = Dict()
    conversations = Dict()
    log = Tuple()
    # every event as the relay carried it: {"time", "direction" ("out" to the relay, "in"
    # from it), "event", "payload"}; the newest MAX_VIEW
    relay_view = Tuple()
    errors = Dict()

    def __init__(self, *, clock: Callable[[], float] = time.time, start_relay: bool = True,
                 share_steps: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self._clock = clock
        self._start_relay = start_relay   # zero configuration: start a local relay if none
        self._share_steps = share_steps   # tell the room about our processing steps
        self._lock = threading.RLock()
        self._client: RelayClient | None = None
        self._private: Any = None         # our private key object: never leaves this object
        self._keys_dropped = False        # keys were dropped for a new curve: re-share new ones
        self._public_raw = b""
        self._pairs: dict[str, _Pair] = {}
        self._outbox: OrderedDict[str, _Outgoing] = OrderedDict()
        self._positions: dict[str, tuple[str, int]] = {}  # message id -> (peer, index)
        self._want_join = False
        self._ever_joined = False
        self._resume_token = ""
        self._announced_curve = ""
        self._epoch = 0
        self._demo_peers: list[Any] = []
        self._timer: threading.Timer | None = None   # a delayed re-join
        self._generation = 0              # which client's callbacks count (older ones: none)
        self._closed = False

    # ------------------------------------------------------------------ actions

    def join(self, username: str, room: str, relay_url: str | None = None) -> None:
        """Join `room` as `username` through the relay (found or started automatically).

        Returns at once; `connection` and `joined` change as it happens, and a refusal
        (name taken, relay unreachable) appears in `errors["join"]` and the log.
        """
        from ecc_widgets import localrelay

        self._check_open("join")
        try:
            cleaned = protocol.validate(protocol.JOIN, {"username": username, "roomId": room})
            url = localrelay.relay_url(relay_url or self.relay_url or None)
        except (protocol.ProtocolError, ValueError) as exc:
            raise self._fail("join", str(exc)) from None
        old = None
        with self._lock:
            if self._want_join and (cleaned["username"], cleaned["roomId"], url) == \
                    (self.username, self.room, self.relay_url) and self._client is not None:
                return  # already in (or on the way into) this room: nothing to redo
            if self._client is not None and (self._client.url != url or self._client.closed):
                old, self._client = self._client, None
            if self.joined and self._client is not None:
                self._emit(protocol.LEAVE, {})
            self._forget_room()
            self.username, self.room, self.relay_url = cleaned["username"], cleaned["roomId"], url
            self._want_join = True
            self._ever_joined = False
            self._resume_token = ""
            self._set_error("join", "")
            self._log("info", "me", f"joining room {self.room!r} as {self.username!r} via {url}")
            client = self._client
        if old is not None:
            old.close()
        if client is None:
            prepare = None
            if self._start_relay:
                def prepare() -> None:
                    localrelay.ensure_local_relay(url)
            with self._lock:
                self._generation += 1
                current = self._only_current(self._generation)
                client = RelayClient(url, on_event=current(self._on_event),
                                     on_connect=current(self._on_connect),
                                     on_state=current(self._on_state),
                                     on_error=current(self._on_client_error),
                                     prepare=prepare, name=f"ecc-relay-client-{username}")
                self._client = client
            client.start()
        elif client.state == CONNECTED:
            client.call_soon(self._send_join)

    def select_curve(self, name: str) -> None:
        """Choose the curve for our keys and tell the room. Existing keys are dropped."""
        self._check_open("curve")
        try:
            canonical = get_curve(name).name
        except (KeyError, TypeError) as exc:
            raise self._fail("curve", str(exc).strip('"')) from None
        if canonical not in crypto.SUPPORTED_CURVES:
            raise self._fail("curve", f"{canonical} cannot hold real keys; choose one of "
                                      f"{', '.join(crypto.SUPPORTED_CURVES)}")
        with self._lock:
            if canonical != self.curve and self._private is not None:
                self._private, self._public_raw = None, b""
                self._keys_dropped = True
                self.public_jwk, self.fingerprint, self.keygen = {}, "", None
                self._log("warning", "me", f"keys dropped: they were for {self.curve}, "
                                           f"now {canonical} is chosen")
            self.curve = canonical
            self._set_error("curve", "")
            self._rederive_all()
            self._announce_curve()
            self._log("info", "me", f"curve {canonical} selected")

    def generate_keys(self) -> KeygenTrace:
        """Generate our key pair on the chosen curve, with the maths' trace of Q = d x G."""
        self._check_open("keys")
        curve = self.curve
        if curve not in crypto.SUPPORTED_CURVES:
            raise self._fail("keys", f"choose a curve first ({curve!r} cannot hold keys)")
        key = crypto.generate_private_key(curve)
        try:
            trace = keygen_trace(key)
        except ValueError as exc:
            raise self._fail("keys", f"the educational maths disagrees with the library: "
                                     f"{exc}") from None
        with self._lock:
            changed = self._private is not None or self._keys_dropped
            self._keys_dropped = False
            self._private = key
            self._public_raw = crypto.public_bytes(key)
            self.keygen = trace
            self.public_jwk = crypto.public_key_to_jwk(key)
            self.fingerprint = crypto.fingerprint(self._public_raw)
            self._set_error("keys", "")
            self._log("success", "me",
                      f"{'new ' if changed else ''}key pair on {curve}: Q = d x G computed in "
                      f"{len(trace.steps)} steps, equal to the library's public key")
            self._step("Generated key pair", f"{curve}, fingerprint {self.fingerprint}")
            if self.joined:  # otherwise the join announces it
                self._emit(protocol.KEYS_GENERATED, {})
            self._rederive_all()
            # Answer keys received before we had one; re-share a changed key with peers
            # we had a session with, so they can flag the change and answer.
            for pair in self._pairs.values():
                if pair.present and (pair.wants_reply or (changed and pair.shared_ours)):
                    self._share(pair, is_reply=pair.wants_reply)
                    pair.wants_reply = False
            self._publish_peers()
        return trace

    def share_key(self, peer_id: str) -> None:
        """Send our public key (JWK with the curve) to one peer."""
        self._check_open("peers")
        with self._lock:
            pair = self._pairs.get(peer_id)
            if pair is None or not pair.present:
                raise self._fail("peers", f"{peer_id!r} is not in the room")
            if self._private is None:
                raise self._fail("peers", "generate your keys first, then share them")
            self._set_error("peers", "")
            self._share(pair, is_reply=False)
            self._publish_peers()

    def send(self, peer_id: str, text: str) -> ChatMessage:
        """Encrypt `text` for one peer and send it; returns the message (status "sending")."""
        self._check_open("chat")
        if not isinstance(text, str) or not text:
            raise self._fail("chat", "type a message first")
        data = text.encode()
        if len(data) > MAX_PLAINTEXT:
            raise self._fail("chat", f"message too long ({len(data)} bytes; at most "
                                     f"{MAX_PLAINTEXT})")
        with self._lock:
            if not self.joined and not self._ever_joined:
                raise self._fail("chat", "join a room first")
            pair = self._pairs.get(peer_id)
            if pair is None:
                raise self._fail("chat", f"{peer_id!r} is not in the room")
            if self._private is None:
                raise self._fail("chat", "generate your keys first")
            if not pair.key:
                raise self._fail("chat", pair.key_problem or
                                 f"no key for {pair.name} yet: share keys first")
            message_id = uuid.uuid4().hex
            if pair.legacy:
                sealed = crypto.encrypt(pair.key, data)
                ad_text = ""
                payload = {}
            else:
                pair.send_seq += 1
                ad = associated_data(room=self.room, sender=self.username, receiver=pair.name,
                                     curve=self.curve, seq=pair.send_seq)
                sealed = crypto.encrypt(pair.key, data, associated_data=ad)
                ad_text = ad.decode()
                payload = {"v": protocol.PROTOCOL_VERSION, "id": message_id,
                           "seq": pair.send_seq, "curve": self.curve}
            payload.update(encryptedMessage=crypto.b64encode(sealed.ciphertext),
                           iv=crypto.b64encode(sealed.nonce), tag=crypto.b64encode(sealed.tag))
            message = ChatMessage(
                id=message_id, peer_id=pair.name, direction="out", plaintext=text,
                ciphertext=payload["encryptedMessage"], nonce=payload["iv"],
                tag=payload["tag"], associated_data=ad_text, time=self._clock(),
                status="sending", reason=LEGACY_NOTE if pair.legacy else "",
                legacy=pair.legacy)
            self._append_message(message)
            self._set_error("chat", "")
            self._step("Encrypted message", f"AES-256-GCM, {len(data)} bytes"
                       + (", seed format" if pair.legacy else f", seq {pair.send_seq}"))
            self._outbox[message_id] = _Outgoing(message_id, pair.name, payload, pair.key,
                                                 legacy=pair.legacy)
            if not pair.present or not self.joined:
                self._log("info", "me", f"{pair.name} is not reachable right now; the message "
                                        "goes out when both of us are back in the room")
            self._flush()
        return message

    def set_verified(self, peer_id: str, verified: bool) -> None:
        """Record that the safety number was (or was not) compared out of band."""
        with self._lock:
            pair = self._pairs.get(peer_id)
            if pair is None:
                raise self._fail("peers", f"{peer_id!r} is not in the room")
            if verified and not (pair.key and self._public_raw):
                raise self._fail("peers", f"no safety number with {pair.name} yet: exchange "
                                          "keys first")
            pair.verified = bool(verified)
            if verified:
                pair.key_changed = False
            self._set_error("peers", "")
            self._log("success" if verified else "info", "me",
                      f"{pair.name} {'verified' if verified else 'no longer verified'}")
            self._publish_peers()

    def summon_demo_peer(self, name: str = "demo-peer") -> Any:
        """Bring a built-in peer into our room (same relay, same curve) on its own thread."""
        from ecc_widgets.demo_peer import DemoPeer

        self._check_open("peers")
        with self._lock:
            if not self._want_join or not self.relay_url:
                raise self._fail("peers", "join a room first, then summon the demo peer")
            taken = set(self._pairs) | {self.username}
            taken |= {d.name for d in self._demo_peers}
            unique, n = name, 2
            while unique in taken:
                unique, n = f"{name}-{n}", n + 1
            demo = DemoPeer(self.room, relay_url=self.relay_url, name=unique, curve=self.curve,
                            follow=self.username)
            self._demo_peers.append(demo)
            self._log("info", "me", f"summoned the demo peer {unique!r}")
        demo.start()
        return demo

    def leave(self) -> None:
        """Leave the room (the connection stays open for a later join)."""
        with self._lock:
            if self._want_join and self.joined:
                self._emit(protocol.LEAVE, {})
            if self._want_join:
                self._log("info", "me", f"left room {self.room!r}")
            self._want_join = False
            self._forget_room()
        for demo in self._take_demo_peers():
            demo.close()

    def close(self) -> None:
        """Leave, disconnect, and stop the client thread (and any demo peers). Idempotent."""
        if self._closed:
            return
        self.leave()
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            if timer is not threading.current_thread():
                timer.join()
        if client is not None:
            client.close()
        self.connection = DISCONNECTED

    def report_error(self, panel: str, message: str) -> None:
        """Show a problem found outside the model (e.g. by a panel) like the model's own."""
        with self._lock:
            self._set_error(panel, message)
            self._log("error", panel or "app", message)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ client callbacks

    def _only_current(self, generation: int) -> Callable[[Callable], Callable]:
        """Wrap callbacks so a replaced (or closing) client can no longer change the model."""
        def wrap(fn: Callable) -> Callable:
            def call(*args: Any) -> None:
                if generation == self._generation and not self._closed:
                    fn(*args)
            call.__name__ = fn.__name__
            return call
        return wrap

    def _on_state(self, state: str, problem: str) -> None:
        with self._lock:
            if self._closed:
                return
            self.connection = state
            if state != CONNECTED:
                self.my_id = ""
                if self.joined:
                    self.joined = False
                    for pair in self._pairs.values():
                        pair.present = False
                    self._publish_peers()
            if problem:
                self._log("error" if "unreachable" in problem else "warning", "relay", problem)
                if self._want_join:
                    self._set_error("join", problem)
            elif state == CONNECTED:
                self._log("info", "relay", f"connected to {self.relay_url}")

    def _on_client_error(self, text: str) -> None:
        with self._lock:
            self._log("error", "client", text)

    def _on_connect(self, sid: str) -> None:
        with self._lock:
            self.my_id = sid
            self._announced_curve = ""
            for out in self._outbox.values():
                out.epoch = -1   # nothing is in flight on the new connection
        self._send_join()

    def _send_join(self) -> None:
        with self._lock:
            if not self._want_join or self._client is None:
                return
            payload = {"username": self.username, "roomId": self.room}
            if self._resume_token:
                # Lets the relay hand our name over from our own stale socket at once.
                payload["resumeToken"] = self._resume_token
            room, name = self.room, self.username
            self._emit(protocol.JOIN, payload,
                       callback=lambda ack: self._on_join_ack(ack, room, name))

    def _on_join_ack(self, ack: Any, room: str, name: str) -> None:
        with self._lock:
            if (room, name) != (self.room, self.username) or not self._want_join:
                return
            if isinstance(ack, dict) and not ack.get("ok", True):
                reason = str(ack.get("error") or "refused")
                self._set_error("join", f"could not join {room!r} as {name!r}: {reason}")
                self._log("error", "relay", f"join refused: {reason}")
                if self._ever_joined and self._client is not None:
                    # After a network drop the relay may still hold our old socket (and
                    # name) until it times out: try again shortly.
                    self._retry_join_later()
                else:
                    self._want_join = False
                return
            if isinstance(ack, dict) and isinstance(ack.get("resumeToken"), str):
                self._resume_token = ack["resumeToken"]
            self.joined = True
            self._ever_joined = True
            self._epoch += 1
            self._set_error("join", "")
            self._log("success", "relay", f"joined room {room!r} as {name!r}")
            self._announce_curve()
            if self._private is not None:
                self._emit(protocol.KEYS_GENERATED, {})
            for pair in self._pairs.values():
                if pair.present:
                    self._reshare(pair)
            self._flush()
            self._send_receipts()

    def _retry_join_later(self, delay: float = 1.0) -> None:
        client = self._client

        def later() -> None:
            if client is self._client and client is not None and not client.closed:
                client.call_soon(self._send_join)

        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(delay, later)
        self._timer.daemon = True
        self._timer.start()

    def _on_event(self, event: str, payload: Any) -> None:
        with self._lock:
            if self._closed:
                return
            self._view("in", event, payload)
            handler = self._HANDLERS.get(event)
            if handler is None:
                self._log("warning", "relay", f"unknown event {event!r} ignored")
                return
            try:
                cleaned = protocol.validate(event, payload)
            except protocol.ProtocolError as exc:
                self._log("warning", "relay", f"{MALFORMED} {event} ignored: {exc}")
                return
            handler(self, cleaned)

    # ------------------------------------------------------------------ relay events

    def _roster(self, payload: dict, *, left: str = "") -> None:
        users = {u["username"]: u["socketId"] for u in payload["usersInRoom"]
                 if u["socketId"] != self.my_id}
        users.pop(self.username, None)
        changed = arrived = False
        for name, sid in users.items():
            pair = self._pairs.get(name)
            if pair is None:
                pair = self._pairs[name] = _Pair(name)
            if not pair.present or pair.sid != sid:
                returning = bool(pair.sid) and pair.sid != sid
                pair.present, pair.sid = True, sid
                pair.shared_ours = b""  # the new socket has not been sent our key
                for out in self._outbox.values():
                    if out.peer == name:
                        out.epoch = -1
                self._log("info", name, f"{name} {'is back in' if returning else 'joined'} "
                                        f"the room")
                if self.joined:
                    self._reshare(pair)
                changed = arrived = True
        for name, pair in self._pairs.items():
            if pair.present and name not in users:
                pair.present = False
                changed = True
                if name == left:
                    self._log("info", name, f"{name} left the room")
        if arrived and self.joined:
            # Newcomers missed our earlier announcements (the relay keeps no history).
            self._announced_curve = ""
            self._announce_curve()
            if self._private is not None:
                self._emit(protocol.KEYS_GENERATED, {})
        if changed:
            self._publish_peers()
            self._flush()
            self._send_receipts()

    def _on_user_joined(self, p: dict) -> None:
        self._roster(p)

    def _on_user_left(self, p: dict) -> None:
        self._roster(p, left=p["username"])

    def _on_peer_curve(self, p: dict) -> None:
        pair = self._pair_for(p["from"])
        if pair is None:
            return
        pair.announced_curve = p["curve"]
        self._log("info", pair.name, f"{pair.name} chose {p['curve']}")
        self._derive(pair)
        self._publish_peers()

    def _on_peer_keys(self, p: dict) -> None:
        pair = self._pair_for(p["from"])
        if pair is None:
            return
        pair.keys_generated = True
        self._log("info", pair.name, f"{pair.name} generated keys")
        self._publish_peers()

    def _on_public_key(self, p: dict) -> None:
        pair = self._pair_for(p["from"], p.get("fromSocketId"))
        if pair is None:
            return
        name = pair.name
        try:
            public = crypto.public_key_from_jwk(p["publicKey"])
            curve = crypto.curve_of(public)
            if "curve" in p and p["curve"] != curve:
                raise crypto.InvalidKeyError(f"the key is on {curve} but the share says "
                                             f"{p['curve']}")
        except (crypto.InvalidKeyError, ValueError, TypeError) as exc:
            self._set_error("peers", f"invalid key from {name}: {exc}")
            self._log("error", name, f"invalid key from {name} refused: {exc}")
            return
        raw = crypto.public_bytes(public)
        legacy = "v" not in p
        if legacy and pair.public_raw == raw and pair.public_key is not None and \
                not pair.legacy:
            # The same key, now without `v`: a relay stripping the field to push us into the
            # seed's weaker format. The key stays v1.
            legacy = False
            self._log("warning", name, f"{DOWNGRADE} refused: {name}'s known v1 key arrived "
                                       "without a version; staying on v1")
        if pair.public_raw and pair.public_raw != raw:
            pair.key_changed, pair.verified = True, False
            pair.window, pair.seen_ivs = ReplayWindow(), set()
            self._set_error("peers", f"{name}'s key changed: compare the new safety number")
            self._log("warning", name, f"{name}'s key CHANGED (new fingerprint "
                                       f"{crypto.fingerprint(raw)}); verify it again")
        elif not pair.public_raw:
            self._log("info", name, f"received {name}'s {curve} key, fingerprint "
                                    f"{crypto.fingerprint(raw)}")
        if legacy and not pair.legacy:
            self._log("warning", name, f"{name} speaks the seed protocol: {LEGACY_NOTE}")
        pair.public_key, pair.public_raw = public, raw
        pair.announced_curve = curve
        pair.public_jwk = dict(p["publicKey"])
        pair.legacy = legacy
        pair.keys_generated = True
        self._derive(pair)
        if not p.get("isReply"):
            if self._private is not None:
                self._share(pair, is_reply=True)
            else:
                pair.wants_reply = True
                self._log("info", name, f"{name} sent their key: generate yours to answer")
        self._publish_peers()

    def _on_message(self, p: dict) -> None:
        pair = self._pair_for(p["from"], p.get("fromSocketId"))
        if pair is None:
            return
        now = self._clock()
        versioned = "v" in p
        message_id = p.get("id") if isinstance(p.get("id"), str) else uuid.uuid4().hex
        base = ChatMessage(id=message_id, peer_id=pair.name, direction="in", plaintext="",
                           ciphertext=p["encryptedMessage"], nonce=p["iv"], tag=p["tag"],
                           time=now, status="received", legacy=not versioned)

        def reject(reason: str) -> None:
            self._append_message(dataclasses.replace(base, status="rejected", reason=reason))
            self._log("error", pair.name, f"message from {pair.name} rejected: {reason}")
            self._step("Rejected message", f"from {pair.name}: {reason.split(':')[0]}",
                       log=False)

        kind = p.get("kind", "") if versioned else ""
        if kind == RECEIPT:
            reject = self._receipt_rejected(pair)  # receipts never enter the conversation
        elif kind != "":
            return reject(f"{MALFORMED}: unknown message kind {kind!r:.40}")

        try:
            ciphertext = crypto.b64decode(p["encryptedMessage"])
            nonce, tag = crypto.b64decode(p["iv"]), crypto.b64decode(p["tag"])
        except ValueError as exc:
            return reject(f"{MALFORMED}: {exc}")
        if not pair.key:
            return reject(f"{NO_KEY}: {pair.key_problem or 'no key exchanged with ' + pair.name}")
        if not versioned:
            if not pair.legacy:
                return reject(f"{DOWNGRADE}: {pair.name} speaks protocol v1 but this message "
                              "has no version (no associated data, no sequence number)")
            try:
                text = crypto.decrypt(pair.key, ciphertext, nonce, tag)
            except crypto.DecryptionError:
                return reject(f"{TAMPERED}: authentication failed (wrong key, or the "
                              "ciphertext, IV or tag was changed)")
            if p["iv"] in pair.seen_ivs:
                return reject(f"{REPLAYED}: this IV was already used by an earlier message")
            pair.seen_ivs.add(p["iv"])
            self._accept(base, text, reason=LEGACY_NOTE)
            return
        seq, curve = p.get("seq"), p.get("curve")
        if p.get("v") != protocol.PROTOCOL_VERSION:
            return reject(f"{MALFORMED}: unsupported protocol version {p.get('v')!r}")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or \
                not isinstance(p.get("id"), str):
            return reject(f"{MALFORMED}: a v1 message needs an id and a sequence number >= 1")
        agreed = crypto.curve_of(pair.public_key)
        if curve != agreed:
            return reject(f"{WRONG_CURVE}: the message says {curve!r} but the keys with "
                          f"{pair.name} are on {agreed}")
        ad = associated_data(room=self.room, sender=pair.name, receiver=self.username,
                             curve=agreed, seq=seq, kind=kind)
        base = dataclasses.replace(base, associated_data=ad.decode())
        try:
            text = crypto.decrypt(pair.key, ciphertext, nonce, tag, associated_data=ad)
        except crypto.DecryptionError:
            return reject(f"{TAMPERED}: authentication failed (the ciphertext, nonce, tag or "
                          "associated data was changed, or it was not sealed for us)")
        verdict = pair.window.check(seq, message_id)
        if verdict == "duplicate":
            if kind != RECEIPT:
                self._log("info", pair.name, f"duplicate of message #{seq} from {pair.name} "
                                             "dropped (re-sent after a reconnect)")
                self._confirm(pair, message_id)  # our first receipt may have been lost
            return
        if verdict is not None:
            return reject(verdict)
        pair.window.accept(seq, message_id)
        if kind == RECEIPT:
            self._on_receipt(pair, text)
            return
        self._accept(base, text, reason="")
        self._confirm(pair, message_id)

    def _receipt_rejected(self, pair: _Pair) -> Callable[[str], None]:
        def reject(reason: str) -> None:
            self._log("warning", pair.name, f"receipt from {pair.name} ignored: {reason}")
        return reject

    def _on_receipt(self, pair: _Pair, data: bytes) -> None:
        try:
            ids = json.loads(data)
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ValueError("not a list of message ids")
        except ValueError as exc:
            self._log("warning", pair.name, f"receipt from {pair.name} ignored: {exc}")
            return
        for message_id in ids:
            out = self._outbox.get(message_id)
            if out is None or out.peer != pair.name:
                continue
            del self._outbox[message_id]
            # status "sent" too if the relay's acknowledgement was lost (the message was not)
            self._update_message(message_id, status="sent", verified=True)

    def _confirm(self, pair: _Pair, message_id: str) -> None:
        """Queue a receipt for a received message; receipts go out in small batches."""
        pair.receipts.append(message_id)
        if len(pair.receipts) == 1 and self._client is not None:
            self._client.call_later(RECEIPT_DELAY, self._send_receipts)

    def _send_receipts(self) -> None:
        with self._lock:
            if not self.joined or self._client is None:
                return  # sent after the next join
            for pair in self._pairs.values():
                if not (pair.receipts and pair.present and pair.key) or pair.legacy:
                    continue
                while pair.receipts:
                    ids, pair.receipts = (pair.receipts[:MAX_RECEIPT_IDS],
                                          pair.receipts[MAX_RECEIPT_IDS:])
                    pair.send_seq += 1
                    ad = associated_data(room=self.room, sender=self.username,
                                         receiver=pair.name, curve=self.curve,
                                         seq=pair.send_seq, kind=RECEIPT)
                    sealed = crypto.encrypt(pair.key, json.dumps(ids).encode(),
                                            associated_data=ad)
                    self._emit(protocol.SEND_MESSAGE, {
                        "encryptedMessage": crypto.b64encode(sealed.ciphertext),
                        "iv": crypto.b64encode(sealed.nonce),
                        "tag": crypto.b64encode(sealed.tag), "targetSocketId": pair.sid,
                        "v": protocol.PROTOCOL_VERSION, "id": uuid.uuid4().hex,
                        "seq": pair.send_seq, "curve": self.curve, "kind": RECEIPT})

    def _accept(self, base: ChatMessage, data: bytes, *, reason: str) -> None:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            text = data.decode(errors="replace")
        message = dataclasses.replace(base, plaintext=text, reason=reason, verified=not reason)
        self._append_message(message)
        self._log("success", message.peer_id,
                  f"message from {message.peer_id} decrypted"
                  + (" (legacy, unauthenticated context)" if reason else " and verified"))
        self._step("Decrypted message", f"from {message.peer_id}, AES-256-GCM, "
                   + ("seed format" if reason else "associated data verified"), log=False)

    def _on_peer_step(self, p: dict) -> None:
        details = p.get("details")
        text = p["step"] + (f": {details}" if details not in (None, "", {}, []) else "")
        self._log("info", p["from"], text)

    def _on_relay_error(self, p: dict) -> None:
        event = str(p.get("event") or "")
        panel = {protocol.JOIN: "join", protocol.CURVE_SELECTED: "curve",
                 protocol.KEYS_GENERATED: "keys", protocol.SHARE_PUBLIC_KEY: "peers",
                 protocol.SEND_MESSAGE: "chat"}.get(event)
        if panel is not None:
            self._set_error(panel, f"relay: {p['error']}")
        self._log("error", "relay", f"{event or 'event'} refused: {p['error']}")

    def _on_relay_shutdown(self, p: dict) -> None:
        self._log("warning", "relay", "the relay is shutting down; reconnecting when it is "
                                      "back")

    _HANDLERS: dict[str, Callable[[Session, dict], None]] = {
        protocol.USER_JOINED: _on_user_joined,
        protocol.USER_LEFT: _on_user_left,
        protocol.PEER_CURVE_SELECTED: _on_peer_curve,
        protocol.PEER_KEYS_GENERATED: _on_peer_keys,
        protocol.RECEIVE_PUBLIC_KEY: _on_public_key,
        protocol.RECEIVE_MESSAGE: _on_message,
        protocol.PEER_PROCESSING_STEP: _on_peer_step,
        protocol.RELAY_ERROR: _on_relay_error,
        protocol.RELAY_SHUTDOWN: _on_relay_shutdown,
    }

    # ------------------------------------------------------------------ helpers (lock held)

    def _pair_for(self, name: str, sid: str | None = None) -> _Pair | None:
        if name == self.username:
            return None
        pair = self._pairs.get(name)
        if pair is None:
            # An event from someone the roster has not shown us yet.
            pair = self._pairs[name] = _Pair(name, sid=sid or "", present=bool(sid))
        elif sid and pair.sid != sid:
            pair.sid, pair.present = sid, True
        return pair

    def _derive(self, pair: _Pair) -> None:
        """(Re)compute the pair's message key from our key and theirs, or say why not."""
        before = pair.key
        pair.key, pair.key_problem = b"", ""
        if pair.public_key is None:
            pair.key_problem = f"no key from {pair.name} yet: share keys first"
            return
        theirs = crypto.curve_of(pair.public_key)
        if theirs != self.curve:
            pair.key_problem = (f"curve mismatch: {pair.name}'s key is on {theirs}, yours "
                                f"on {self.curve}; choose the same curve")
            return
        if self._private is None:
            pair.key_problem = "generate your keys first"
            return
        try:
            shared = crypto.ecdh(self._private, pair.public_key)
        except crypto.InvalidKeyError as exc:
            pair.key_problem = f"key agreement with {pair.name} failed: {exc}"
            return
        if pair.legacy:
            pair.key = crypto.seed_message_key(shared)
        else:
            pair.key = crypto.derive_session_key(shared, curve=theirs,
                                                 public_a=self._public_raw,
                                                 public_b=pair.public_raw)
        if pair.key == before:
            return
        self._step("Derived shared secret",
                   f"ECDH on {theirs} with {pair.name}, "
                   + ("first 32 bytes (seed format)" if pair.legacy else "HKDF-SHA256"))

    def _rederive_all(self) -> None:
        for pair in self._pairs.values():
            self._derive(pair)
        self._publish_peers()

    def _share(self, pair: _Pair, *, is_reply: bool) -> None:
        if self._private is None or not pair.sid:
            return
        payload = {"publicKey": dict(self.public_jwk), "targetSocketId": pair.sid,
                   "isReply": is_reply, "v": protocol.PROTOCOL_VERSION, "curve": self.curve}
        self._emit(protocol.SHARE_PUBLIC_KEY, payload)
        pair.shared_ours = self._public_raw
        self._log("info", "me", f"{'answered' if is_reply else 'shared'} my key "
                                f"{'to' if is_reply else 'with'} {pair.name}")

    def _reshare(self, pair: _Pair) -> None:
        """After a (re)connect: give a peer our key again if we had a session with them."""
        if self._private is not None and pair.public_raw and pair.sid:
            self._share(pair, is_reply=True)

    def _announce_curve(self) -> None:
        if self.joined and self._announced_curve != self.curve:
            self._emit(protocol.CURVE_SELECTED, {"curve": self.curve})
            self._announced_curve = self.curve

    def _flush(self) -> None:
        """Send every unacknowledged message whose peer is here, in order."""
        if not self.joined or self._client is None:
            return
        stale = []
        for out in self._outbox.values():
            pair = self._pairs.get(out.peer)
            if pair is None or not pair.present or out.epoch == self._epoch:
                continue
            if pair.key != out.key:
                stale.append(out.id)  # sealed under a key that is no longer the pair's
                continue
            out.epoch, out.sent_to = self._epoch, pair.sid
            payload = {**out.payload, "targetSocketId": pair.sid}
            self._emit(protocol.SEND_MESSAGE, payload,
                       callback=lambda ack, mid=out.id, sid=pair.sid: self._on_sent(mid, sid,
                                                                                     ack))
        for message_id in stale:
            if not self._outbox.pop(message_id).acked:
                self._update_message(message_id, status="rejected",
                                     reason="not sent: the keys changed before it could be "
                                            "delivered; send it again")

    def _on_sent(self, message_id: str, sid: str, ack: Any) -> None:
        with self._lock:
            out = self._outbox.get(message_id)
            if out is None:
                return
            if ack is None or (isinstance(ack, dict) and ack.get("ok", True)):
                if not out.acked:
                    out.acked = True
                    self._update_message(message_id, status="sent")
                if out.legacy:
                    del self._outbox[message_id]  # no receipt will come
                return
            reason = str(ack.get("error") if isinstance(ack, dict) else ack)
            pair = self._pairs.get(out.peer)
            if pair is not None and (not pair.present or pair.sid != sid):
                out.epoch = -1  # the peer moved to a new socket: re-sent when it is back
                return
            del self._outbox[message_id]
            self._update_message(message_id, status="rejected", reason=f"relay: {reason}")
            self._set_error("chat", f"the relay refused a message: {reason}")
            self._log("error", "relay", f"message refused: {reason}")

    def _emit(self, event: str, payload: dict, callback: Callable | None = None) -> None:
        if self._client is None:
            return
        self._view("out", event, payload)
        self._client.emit(event, payload, callback=callback)

    def _step(self, step: str, details: str, *, log: bool = True) -> None:
        """Tell the room what we just did, as the seed's client did (never a secret)."""
        if log:
            self._log("info", "me", f"{step}: {details}")
        if self._share_steps and self.joined:
            self._emit(protocol.PROCESSING_STEP, {"step": step, "details": details})

    def _append_message(self, message: ChatMessage) -> None:
        current = self.conversations.get(message.peer_id, ())
        self._positions[message.id] = (message.peer_id, len(current))
        self.conversations = {**self.conversations, message.peer_id: (*current, message)}

    def _update_message(self, message_id: str, **changes: Any) -> None:
        where = self._positions.get(message_id)
        if where is None:
            return
        peer, index = where
        current = self.conversations.get(peer, ())
        if index >= len(current) or current[index].id != message_id:
            return
        updated = dataclasses.replace(current[index], **changes)
        self.conversations = {**self.conversations,
                              peer: (*current[:index], updated, *current[index + 1:])}

    def _publish_peers(self) -> None:
        peers = {}
        for name, pair in self._pairs.items():
            if not pair.present:
                continue
            statuses = {"joined"}
            if pair.keys_generated:
                statuses.add("keys generated")
            if pair.public_key is not None:
                statuses.add("key received")
                if crypto.curve_of(pair.public_key) != self.curve:
                    statuses.add("curve mismatch")
            elif pair.announced_curve and pair.announced_curve != self.curve:
                statuses.add("curve mismatch")
            if pair.key and pair.shared_ours == self._public_raw:
                statuses.add("secure")
            if pair.key_changed:
                statuses.add("key changed")
            # the latest word: an announcement after the key means a new key is coming
            curve = pair.announced_curve or (crypto.curve_of(pair.public_key)
                                             if pair.public_key is not None else "")
            peers[name] = Peer(
                id=name, name=name, curve=curve, public_jwk=dict(pair.public_jwk),
                fingerprint=crypto.fingerprint(pair.public_raw) if pair.public_raw else "",
                safety_number=(crypto.safety_number(self._public_raw, pair.public_raw)
                               if pair.key else ""),
                statuses=frozenset(statuses), verified=pair.verified, legacy=pair.legacy)
        if peers != self.peers:
            self.peers = peers

    def _forget_room(self) -> None:
        self._pairs.clear()
        self._outbox.clear()
        self._positions.clear()
        self._announced_curve = ""
        self.joined = False
        self.peers = {}
        self.conversations = {}

    def _take_demo_peers(self) -> list[Any]:
        with self._lock:
            demos, self._demo_peers = self._demo_peers, []
        return demos

    def _view(self, direction: str, event: str, payload: Any) -> None:
        entry = {"time": self._clock(), "direction": direction, "event": event,
                 "payload": payload}
        self.relay_view = (*self.relay_view[-(MAX_VIEW - 1):], entry)

    def _log(self, level: str, source: str, text: str) -> None:
        entry = LogEntry(self._clock(), level, source, text)
        self.log = (*self.log[-(MAX_VIEW - 1):], entry)

    def _set_error(self, panel: str, text: str) -> None:
        if self.errors.get(panel, "") != text:
            errors = {k: v for k, v in self.errors.items() if k != panel}
            if text:
                errors[panel] = text
            self.errors = errors

    def _fail(self, panel: str, text: str) -> SessionError:
        with self._lock:
            self._set_error(panel, text)
            self._log("error", "me", text)
        return SessionError(text)

    def _check_open(self, panel: str) -> None:
        if self._closed:
            raise self._fail(panel, "this session was closed; create a new one")


# ---------------------------------------------------------------------------- key traces

def keygen_trace(private_key: Any) -> KeygenTrace:
    """The maths' Q = d x G for a real key, checked equal to the library's public key.

    Raises ValueError if they differ. Adds a small trace on a toy curve for drawing.
    """
    from ecc_widgets import ecmath  # the maths are only needed when keys are generated

    curve = crypto.curve_of(private_key)
    d = crypto.private_value(private_key)
    expected = crypto.public_bytes(private_key)
    if curve == "X25519":
        point, steps = ecmath.x25519_ladder_trace(d)   # clamps d as RFC 7748 does
    else:
        point, steps = ecmath.scalar_mult_trace(get_curve(curve), d)
    computed = ecmath.encode_point(get_curve(curve), point)
    if computed != expected:
        raise ValueError(f"Q = d x G on {curve} gave {computed.hex()[:16]}..., the library "
                         f"{expected.hex()[:16]}...")
    toy_curve = TOY_CURVES[TOY_CURVE]
    toy_d = d % (toy_curve.n - 1) + 1
    toy_point, toy_steps = ecmath.scalar_mult_trace(toy_curve, toy_d)
    toy = KeygenTrace(toy_curve.name, toy_d, toy_point, tuple(toy_steps))
    return KeygenTrace(curve, d, point, tuple(steps), toy)
