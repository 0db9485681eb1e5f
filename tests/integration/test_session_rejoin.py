"""A peer who leaves takes its key; a reload is a rejoin: real relay, real sessions.

Every change of alice's card for bob is recorded (observed on the thread that makes it), so
a "secure, verified" shown for a key that no longer exists, even for a moment, is caught.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ecc_widgets.session import Session
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess
from tests.support.sessions import texts


@pytest.fixture(scope="module")
def relay() -> Iterator[RelayProcess]:
    server = RelayProcess().start()
    yield server
    server.stop()


def cards_of(session: Session, name: str) -> list:
    """Every record of `name` the session publishes from now on (None: no card)."""
    seen: list = []
    session.observe(lambda change: seen.append(change["new"].get(name)), names="peers")
    return seen


def verified_pair(relay: RelayProcess, sessions: list[Session], room: str
                  ) -> tuple[Session, Session]:
    """alice and bob in `room`, keys exchanged by themselves (nobody shares), verified."""
    alice, bob = Session(), Session()
    sessions += [alice, bob]
    alice.join("alice", room, relay.url)
    bob.join("bob", room, relay.url)
    wait_until(lambda: "bob" in alice.peers and "alice" in bob.peers, what="the roster")
    alice.generate_keys()
    bob.generate_keys()
    wait_until(lambda: "secure" in alice.peers["bob"].statuses
               and "secure" in bob.peers["alice"].statuses, what="the automatic exchange")
    alice.set_verified("bob", True)
    return alice, bob


def test_a_reload_is_a_rejoin_with_new_keys_and_nothing_typed_meanwhile_is_lost(relay, sessions):
    alice, bob = verified_pair(relay, sessions, "reload")
    alice.send("bob", "before the reload")
    wait_until(lambda: alice.conversations["bob"][-1].authenticated, what="bob's receipt")
    old_fingerprint = alice.peers["bob"].fingerprint
    cards = cards_of(alice, "bob")

    bob.close()  # the tab reloads: the old session (and its private key) is gone
    wait_until(lambda: "bob" not in alice.peers, what="bob gone")
    assert "bob" in alice.departed
    waiting = alice.send("bob", "typed while bob reloads")
    assert waiting.status == "waiting" and waiting.reason == "waiting for bob's key"

    new_bob = Session()
    sessions.append(new_bob)
    new_bob.rejoin("bob", "reload", relay.url)  # the page's whole part: join, new keys
    wait_until(lambda: "secure" in alice.peers.get("bob", _NONE).statuses
               and "secure" in new_bob.peers.get("alice", _NONE).statuses,
               what="keys exchanged again by themselves")
    card = alice.peers["bob"]
    assert "key changed" in card.statuses and not card.verified
    assert card.fingerprint != old_fingerprint
    assert "key changed" in alice.errors["peers"]
    assert "bob" not in alice.departed

    alice.send("bob", "after the reload")
    wait_until(lambda: texts(new_bob, "alice", "in") == ["typed while bob reloads",
                                                         "after the reload"],
               what="the waiting message, then the new one")
    assert not any(m.status == "rejected" for m in new_bob.conversations["alice"])
    wait_until(lambda: all(m.status == "sent" and m.authenticated
                           for m in alice.conversations["bob"] if m.direction == "out"),
               what="new bob's receipts")
    new_bob.send("alice", "hello again")
    wait_until(lambda: "hello again" in texts(alice, "bob", "in"), what="the answer")

    shown = [c for c in cards if c is not None]
    assert cards[0] is None, "bob's card went when he left"
    assert not any(c.verified for c in cards if c is not None), \
        "alice's card showed 'verified' for a key that no longer exists"
    assert any("rejoined: waiting for a new key" in c.statuses and "secure" not in c.statuses
               for c in shown)
    first_secure = next(c for c in shown if "secure" in c.statuses)
    assert "key changed" in first_secure.statuses and first_secure.fingerprint != old_fingerprint


_NONE = type("NoCard", (), {"statuses": frozenset()})()


def test_a_peer_who_leaves_and_returns_with_the_same_key_is_verified_again(relay, sessions):
    alice, bob = verified_pair(relay, sessions, "same-key")
    safety = alice.peers["bob"].safety_number
    bob.leave()
    wait_until(lambda: "bob" not in alice.peers, what="bob gone")
    cards = cards_of(alice, "bob")
    bob.join("bob", "same-key", relay.url)  # the same session: the same key
    wait_until(lambda: "secure" in alice.peers.get("bob", _NONE).statuses,
               what="bob's key again, by itself")
    card = alice.peers["bob"]
    assert card.verified and card.safety_number == safety
    assert "key changed" not in card.statuses
    arrived = next(c for c in cards if c is not None)
    assert "rejoined: waiting for a new key" in arrived.statuses
    assert "secure" not in arrived.statuses and not arrived.verified
    bob.send("alice", "back")
    wait_until(lambda: "back" in texts(alice, "bob", "in"), what="bob's message")
    assert alice.conversations["bob"][-1].verified
