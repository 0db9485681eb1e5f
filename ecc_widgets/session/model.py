"""The headless session model: everything a notebook peer knows, with no widgets in it.

A `Session` is a `traitlets.HasTraits`; panels observe its traits and call its actions.
It is a thin adapter over the sans-IO `core.SessionCore`: it holds the relay client
(`link.Link`), the demo peers and one lock, feeds the core every action and every client
callback under that lock, carries out what the core leaves (`Emit`s to the client,
`Later`s on the client's scheduler) and then publishes the values that changed. State
first, display after: observers run once the core's step is done, and one that raises is
logged (an "app" error) without undoing anything.

Threads: actions run on the caller's thread and never wait for the network; relay events
are handled on the client's thread.

`errors` is keyed by topic ("join", "curve", "keys", "peers", "chat": the action, or the
relay event, that went wrong); views decide where to show each.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, HasTraits, Int, Tuple, Unicode, observe

from ecc_widgets import protocol
from ecc_widgets.client import CONNECTED, DISCONNECTED, RelayClient
from ecc_widgets.session.core import SessionCore
from ecc_widgets.session.effects import Emit
from ecc_widgets.session.keygen import KeygenTrace
from ecc_widgets.session.link import Link, RelayLocator
from ecc_widgets.session.records import ChatMessage
from ecc_widgets.session.state import DEFAULT_CURVE, PUBLISHED
from ecc_widgets.text import safe_text

_logger = logging.getLogger(__name__)


MESSAGE_VERSION_ENV = "ECC_MESSAGE_VERSION"   # the default of Session(message_version)


class Session(HasTraits):
    """One notebook peer: identity, curve, keys, peers, conversations and the activity log.

    `client_factory` builds the relay client (`RelayClient`'s signature); `relay_locator`
    chooses the relay (default: the address given to `join`); `demo_peer_factory` builds
    the peer `summon_demo_peer` brings (default: none). `ecc_widgets.app.local_session()`
    gives a session with all three set for this machine. The traits are the core's
    published state (`state.PUBLISHED`), replaced, never mutated in place.
    """

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
    relay_view = Tuple()      # every event as the relay carried it (the newest MAX_VIEW)
    errors = Dict()
    departed = Tuple()        # peers who left while we were in the room (until back)
    trimmed = Dict()          # messages dropped per conversation to keep memory bounded
    hidden_in_room = Int(0)   # members only their summoners see (classmates' demo peers)

    def __init__(self, *, client_factory: Callable[..., Any] = RelayClient,
                 relay_locator: RelayLocator | None = None,
                 demo_peer_factory: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.time, share_steps: bool = True,
                 message_version: str | None = None, **kwargs: Any):
        if kwargs.pop("start_relay", False):   # a relay is the composition root's to start
            raise TypeError("Session(start_relay=True) is gone: ecc_widgets.app."
                            "local_session() finds or starts the local relay")
        super().__init__(**kwargs)
        self._lock = threading.RLock()
        self._link = Link(client_factory, relay_locator)
        # what its key shares offer: "ratchet" (the default), or "static" (v1, one key for
        # the conversation); $ECC_MESSAGE_VERSION sets it for every page a server makes
        if message_version is None:
            message_version = os.environ.get(MESSAGE_VERSION_ENV) or "ratchet"
        self._core = SessionCore(clock=clock, share_steps=share_steps,
                                 message_version=message_version)
        self._demo_peer_factory = demo_peer_factory
        self._demo_peers: list[Any] = []
        self._reporting = False           # an observer's error is being logged
        self._publishing = 0              # the core's values are being published

    # ------------------------------------------------------------------ feeding the core

    def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One input to the core under the lock; then what it left is carried out and
        published (also when it raised: a refusal is in `errors` and the log)."""
        with self._lock:
            try:
                return fn(*args)
            finally:
                self._settle()

    def _input(self, fn: Callable[..., Any]) -> Callable[..., None]:
        """`fn`, a core input, as a callback for the client's thread."""
        def call(*args: Any) -> None:
            self._run(fn, *args)
        return call

    def _settle(self) -> None:
        changes = self._core.take()
        for effect in changes.effects:
            client = self._link.client
            if client is None:
                break
            if isinstance(effect, Emit):
                callback = None if effect.on_ack is None else self._input(effect.on_ack)
                client.emit(effect.event, effect.payload, callback=callback)
            else:
                self._link.later(effect.delay, self._input(effect.run))
        for name in changes.published:
            # the newest value: an observer may have fed the core again meanwhile
            self._publishing += 1
            try:
                setattr(self, name, getattr(self._core, name))
            except Exception as exc:  # noqa: BLE001 - a view's error must not stop the model
                self._display_failed(name, exc)
            finally:
                self._publishing -= 1

    @observe(*PUBLISHED)
    def _written(self, change: Any) -> None:
        """A trait set from outside (a notebook, a test) is the core's new value too."""
        if not self._publishing:
            with self._lock:
                self._core.overwrite(change["name"], change["new"])

    def _display_failed(self, trait: str, exc: Exception) -> None:
        _logger.exception("an observer of %r failed", trait)
        if self._reporting:
            return  # an observer of `log` failed on the report itself: stop here
        self._reporting = True
        try:
            self._run(self._core.say, "error", "app", safe_text(
                f"display of {trait} failed: {type(exc).__name__}: {exc}", 300))
        finally:
            self._reporting = False

    # the client's callbacks (bench/bench_hostile.py wraps `_on_event` before a join)
    def _on_event(self, event: str, payload: Any) -> None:
        self._run(self._core.received, event, payload)

    def _on_connect(self, sid: str) -> None:
        self._run(self._core.connected, sid)

    def _on_state(self, state: str, problem: str) -> None:
        self._run(self._core.connection_changed, state, problem)

    def _on_client_error(self, text: str) -> None:
        self._run(self._core.client_error, text)

    # ------------------------------------------------------------------ actions

    def join(self, username: str, room: str, relay_url: str | None = None, *,
             visible_to: str | None = None, invite_token: str | None = None) -> None:
        """Join `room` as `username` through the relay (the locator says which).

        With `visible_to` and the `invite_token` that user registered with the relay, the
        relay lists us to that user only, and lets us talk with nobody else (the demo
        peer: summoned by one student, invisible to the class; see `summon_demo_peer`).

        Returns at once; `connection` and `joined` change as it happens, and a refusal
        (name taken, relay unreachable) appears in `errors["join"]` and the log.
        """
        core, link = self._core, self._link
        with self._lock:
            try:
                core.check_open("join")
                cleaned = core.check_join(username, room, visible_to=visible_to,
                                          invite_token=invite_token)
                try:
                    url = link.locator.address(relay_url or core.relay_url or None)
                except ValueError as exc:
                    raise core.fail("join", str(exc)) from None
                if core.in_room(cleaned, url) and link.client is not None:
                    return  # already in (or on the way into) this room: nothing to redo
                old = link.detach() if link.client is not None and not link.reusable(url) \
                    else None
                core.attached = link.client is not None
                core.enter(cleaned, url, visible_to=visible_to, invite_token=invite_token)
                client, fresh = link.client, link.client is None
                if fresh:
                    client = link.connect(url, name=f"ecc-relay-client-{username}",
                                          on_event=self._on_event, on_connect=self._on_connect,
                                          on_state=self._on_state,
                                          on_error=self._on_client_error)
                    core.attached = True
            finally:
                self._settle()
        if old is not None:
            old.close()
        if fresh:
            client.start()
        elif client.state == CONNECTED:
            client.call_soon(self._input(core.send_join))

    def rejoin(self, username: str, room: str, relay_url: str | None = None, *,
               curve: str | None = None, keys: bool = True) -> KeygenTrace | None:
        """A reloaded page's way back: join `room` as `username` and, if the page had keys
        (`keys`), make new ones, on `curve` if given (a private key never outlives its
        session, so they are new). Nobody presses anything else: the partners see
        "rejoined: waiting for a new key", keys are exchanged by themselves (with the key
        change flagged) and what they typed meanwhile goes out sealed under the new key.
        """
        self.join(username, room, relay_url)
        if curve:
            self.select_curve(curve)
        return self.generate_keys() if keys else None

    def select_curve(self, name: str) -> None:
        """Choose the curve for our keys and tell the room. Existing keys are dropped."""
        self._run(self._core.select_curve, name)

    def generate_keys(self) -> KeygenTrace:
        """Generate our key pair on the chosen curve, with the maths' trace of Q = d x G."""
        return self._run(self._core.generate_keys)

    def share_key(self, peer_id: str) -> None:
        """Send our public key (JWK with the curve) to one peer."""
        self._run(self._core.share_key, peer_id)

    def send(self, peer_id: str, text: str) -> ChatMessage:
        """Encrypt `text` for one peer and send it; returns the message (status "sending",
        or "waiting" for the peer's key)."""
        return self._run(self._core.send, peer_id, text)

    def set_verified(self, peer_id: str, verified: bool) -> None:
        """Record that the safety number was (or was not) compared out of band."""
        self._run(self._core.set_verified, peer_id, verified)

    def ratchet_view(self, peer_id: str) -> Any:
        """The Double Ratchet with a peer, for a view (`envelope.RatchetView`: keys as
        fingerprints, the timeline of steps), or None without one."""
        with self._lock:
            return self._core.ratchet_view(peer_id)

    def steal(self, peer_id: str, item: str = "state") -> tuple[Any, int]:
        """For the lesson: steal `item` of our ratchet with a peer now (`ratchet.ITEMS`);
        returns (the stolen item, the moment), for `exposure`. It stays in this kernel."""
        with self._lock:
            return self._core.steal(peer_id, item)

    def exposure(self, peer_id: str, stolen: Any, theft_at: int) -> list:
        """Every logged message with a peer tried with `stolen` (`ratchet.Verdict` each)."""
        with self._lock:
            return self._core.exposure(peer_id, stolen, theft_at)

    def report_mismatch(self, peer_id: str) -> None:
        """Record that the codes (safety number, emoji, numbers) differ on the two screens:
        someone in the middle reads everything; the mark holds until a key changes."""
        self._run(self._core.report_mismatch, peer_id)

    def allow_legacy(self, peer_id: str, allowed: bool = True) -> None:
        """Chat with a peer that offers only the seed's protocol (or stop: `allowed=False`)."""
        self._run(self._core.allow_legacy, peer_id, allowed)

    def report_error(self, topic: str, message: str) -> None:
        """Show a problem found outside the model (e.g. by a view) like the model's own."""
        self._run(self._core.report_error, topic, message)

    def summon_demo_peer(self, name: str = protocol.DEMO_PEER_NAME) -> Any:
        """Bring a built-in peer into our room (same relay, same curve) on its own thread.

        Seen by us alone: we register a one-time invite token with the relay
        (``invite``) and hand it to the demo peer, which joins with it; its name is
        one no classmate may take, and each student's demo peer has its own. It starts
        once the relay has the token; returned at once."""
        core = self._core
        with self._lock:
            try:
                core.check_open("peers")
                if not core.joined or not core.relay_url or self._link.client is None:
                    raise core.fail("peers", "join a room first, then summon the demo peer")
                if self._demo_peer_factory is None:
                    raise core.fail("peers", "this session has no demo peer (build it with "
                                             "ecc_widgets.app.local_session())")
                if len(self._demo_peers) >= protocol.MAX_DEMO_PEERS:
                    raise core.fail("peers", f"at most {protocol.MAX_DEMO_PEERS} demo peers")
                taken = {d.name for d in self._demo_peers}
                unique, n = name, 2
                while unique in taken:
                    unique, n = f"{name}-{n}", n + 1
                token = secrets.token_urlsafe(24)
                demo = self._demo_peer_factory(core.room, relay_url=core.relay_url,
                                               name=unique, curve=core.curve,
                                               follow=core.username, invite_token=token)
                self._demo_peers.append(demo)
                core.invites.append(token)
                core.say("info", "me", f"summoning the demo peer {unique!r}")
                # straight to the client: the relay view must not show the token
                self._link.client.emit(protocol.INVITE, {"inviteToken": token},
                                       callback=lambda ack: self._on_invite_ack(ack, demo,
                                                                                token))
            finally:
                self._settle()
        return demo

    def _on_invite_ack(self, ack: Any, demo: Any, token: str) -> None:
        """The relay has the demo peer's token (or refused it): start it, or say why not."""
        with self._lock:
            if demo not in self._demo_peers:
                return   # we left meanwhile
            if not (isinstance(ack, dict) and ack.get("ok")):
                self._demo_peers.remove(demo)
                if token in self._core.invites:
                    self._core.invites.remove(token)
                reason = ack.get("error") if isinstance(ack, dict) else None
                self._run(self._core.demo_refused, str(reason) if reason else "")
                return
            self._run(self._core.say, "info", "me", f"summoned the demo peer {demo.name!r}")
        demo.start()

    def leave(self) -> None:
        """Leave the room (the connection stays open for a later join)."""
        with self._lock:
            self._run(self._core.leave)
            demos, self._demo_peers = self._demo_peers, []
        for demo in demos:
            demo.close()

    def close(self) -> None:
        """Leave, disconnect, and stop the client thread (and any demo peers). Idempotent."""
        if self._link.closed:
            return
        self.leave()
        with self._lock:
            self._link.closed = True
            client = self._link.detach()
        if client is not None:
            client.close()
        self._run(self._core.close)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
