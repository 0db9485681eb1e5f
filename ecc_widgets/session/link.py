"""The link to the relay: which client is current (`Link`, the adapter's), and what
joining, resuming and re-joining say (`Membership`, the core's).

The model never builds a transport itself: it gets a client factory (by default
`RelayClient`) and a relay locator (which address to use, and what to do before each
connection attempt: for instance find or start a local relay). The composition root
(`ecc_widgets.app`) decides those; the default locator uses the address it is given.

A client replaced or closed keeps its thread for a moment; its callbacks are wrapped so
that only the current client's (its *generation*) reach the model. Everything delayed runs
through the current client's own scheduler (`call_later`), on the client's thread, and is
dropped with the client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from ecc_widgets.client import RelayClient

REJOIN_DELAY = 1.0   # seconds before asking again for a name the relay still holds for us


class RelayLocator(Protocol):
    """Which relay a session talks to.

    `address(url)` is the address to use for `url` (None: none given), or ValueError in
    words; `prepare(url)`, if not None, runs on the client's thread before it connects
    (it may block: for instance to start a relay).
    """

    prepare: Callable[[str], None] | None

    def address(self, url: str | None) -> str: ...


class GivenRelay:
    """The relay at the address `join` is given; nothing is found or started."""

    def address(self, url: str | None) -> str:
        if not url:
            raise ValueError("no relay address given: pass relay_url")
        chosen = url.strip().rstrip("/")
        parts = urlsplit(chosen)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"relay URL must look like http://host:port, got {chosen!r}")
        return chosen

    prepare = None


class Membership:
    """What (re)joining needs to say, sans-IO: part of the session's core."""

    def __init__(self) -> None:
        self.want_join = False        # the user wants to be in the room
        self.ever_joined = False      # the relay let us in at least once (for this room)
        self.resume_token = ""        # lets the relay hand our name over from a stale socket
        self.visible_to = ""          # listed to this user only (a helper like the demo peer)
        self.invite_token = ""        # ... which registered this token with the relay
        self.rejoin = 0               # the latest re-join asked for (older ones are dropped)

    def start_room(self) -> None:
        """A new room (or name): nothing carried over from the last one."""
        self.want_join, self.ever_joined, self.resume_token = True, False, ""

    def join_payload(self, username: str, room: str) -> dict:
        payload = {"username": username, "roomId": room}
        if self.resume_token:
            payload["resumeToken"] = self.resume_token
        if self.visible_to:
            payload["visibleTo"] = self.visible_to
            payload["inviteToken"] = self.invite_token
        return payload

    def joined(self, ack: Any) -> None:
        self.ever_joined = True
        if isinstance(ack, dict) and isinstance(ack.get("resumeToken"), str):
            self.resume_token = ack["resumeToken"]


class Link:
    """One session's connection: the current client (the adapter's, not the core's)."""

    def __init__(self, client_factory: Callable[..., Any] = RelayClient,
                 relay_locator: RelayLocator | None = None):
        self.client_factory = client_factory
        self.locator: RelayLocator = relay_locator or GivenRelay()
        self.client: Any = None
        self.generation = 0           # which client's callbacks count (older ones: none)
        self.closed = False

    def connect(self, url: str, *, name: str, on_event: Callable, on_connect: Callable,
                on_state: Callable, on_error: Callable) -> Any:
        """A new client (not started) for `url`, the only one whose callbacks count."""
        self.generation += 1
        current = self._only_current(self.generation)
        found = self.locator.prepare
        self.client = self.client_factory(
            url, on_event=current(on_event), on_connect=current(on_connect),
            on_state=current(on_state), on_error=current(on_error),
            prepare=None if found is None else lambda: found(url), name=name)
        return self.client

    def detach(self) -> Any:
        """Forget the current client (the caller closes it, outside any lock)."""
        client, self.client = self.client, None
        return client

    def reusable(self, url: str) -> bool:
        return self.client is not None and self.client.url == url and not self.client.closed

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run `fn` on the current client's thread after `delay` s (dropped with it)."""
        client = self.client
        if client is None:
            return

        def run() -> None:
            if client is self.client and not self.closed:
                fn()

        client.call_later(delay, run)

    def _only_current(self, generation: int) -> Callable[[Callable], Callable]:
        """Wrap callbacks so a replaced (or closing) client can no longer change the model."""
        def wrap(fn: Callable) -> Callable:
            def call(*args: Any) -> None:
                if generation == self.generation and not self.closed:
                    fn(*args)
            call.__name__ = fn.__name__
            return call
        return wrap
