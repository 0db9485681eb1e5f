"""Real sessions, driven through their public API, against a relay that attacks them.

Each test is one finding of the hostile-relay review: the relay bounces keys to reset replay
protection, strips the protocol version to push a pair into the seed's weaker format, or
reflects a user's own message back as the peer's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from malicious_relay import Delivery, MaliciousRelay
from test_session import texts, wait_until

from ecc_widgets import crypto
from ecc_widgets import protocol as P
from ecc_widgets.session import REPLAYED, Session


@pytest.fixture
def relay() -> Iterator[MaliciousRelay]:
    with MaliciousRelay() as server:
        yield server


@pytest.fixture
def pair() -> Iterator[tuple[Session, Session]]:
    a, b = Session(start_relay=False), Session(start_relay=False)
    yield a, b
    a.close()
    b.close()


def joined(a: Session, b: Session, relay: MaliciousRelay, room: str = "lab") -> None:
    a.join("alice", room, relay.url)
    b.join("bob", room, relay.url)
    wait_until(lambda: "bob" in a.peers and "alice" in b.peers, what="the roster")
    for s in (a, b):
        s.generate_keys()


def secure(a: Session, b: Session, relay: MaliciousRelay) -> None:
    joined(a, b, relay)
    a.share_key("bob")
    wait_until(lambda: "secure" in a.peers["bob"].statuses
               and "secure" in b.peers["alice"].statuses, what="a secure pair")


def received(session: Session, peer: str) -> list:
    return [m for m in session.conversations.get(peer, ()) if m.direction == "in"]


def test_an_honest_malicious_relay_carries_a_conversation(relay, pair):
    # The harness itself: with `rewrite` left alone, the pair chats as through our relay.
    a, b = pair
    secure(a, b, relay)
    a.send("bob", "hello bob")
    b.send("alice", "hello alice")
    wait_until(lambda: texts(b, "alice", "in") == ["hello bob"]
               and texts(a, "bob", "in") == ["hello alice"], what="both messages")
    assert relay.sent(P.RECEIVE_MESSAGE, sender="alice")


def test_a_key_bounce_does_not_reset_replay_protection(relay, pair):
    a, b = pair
    secure(a, b, relay)
    for i in range(3):
        b.send("alice", f"bob's message {i}")
    wait_until(lambda: len(texts(a, "bob", "in")) == 3, what="bob's three messages")
    verified_safety = a.peers["bob"].safety_number
    a.set_verified("bob", True)

    # The relay shows alice a key of its own "from bob", then bob's real key again...
    bob_share = relay.sent(P.RECEIVE_PUBLIC_KEY, sender="bob")[0]
    mallory = crypto.public_key_to_jwk(crypto.generate_private_key("P-256").public_key())
    relay.send(bob_share.replace(payload={**bob_share.payload, "publicKey": mallory,
                                          "isReply": True}))
    wait_until(lambda: "key changed" in a.peers["bob"].statuses, what="the changed key")
    relay.send(bob_share.replace(payload={**bob_share.payload, "isReply": True}))
    wait_until(lambda: a.peers["bob"].safety_number == verified_safety, what="bob's key back")

    # ...and replays bob's earlier messages: alice must not take them as new.
    replays = relay.sent(P.RECEIVE_MESSAGE, sender="bob")[:3]
    for d in replays:
        relay.send(d)
    b.send("alice", "a genuine new one")
    wait_until(lambda: "a genuine new one" in texts(a, "bob", "in"), what="the new message")
    assert texts(a, "bob", "in") == [f"bob's message {i}" for i in range(3)] + \
        ["a genuine new one"]
    rejected = [m for m in received(a, "bob") if m.status == "rejected"]
    assert len(rejected) == 3 and all(m.reason.startswith(REPLAYED) for m in rejected)


def test_a_stripped_version_never_shows_secure_and_reflection_is_refused(relay, pair):
    a, b = pair

    def strip_version(d: Delivery) -> list[Delivery]:
        if d.event == P.RECEIVE_PUBLIC_KEY:
            return [d.replace(payload={k: v for k, v in d.payload.items() if k != "v"})]
        return [d]

    relay.rewrite = strip_version
    joined(a, b, relay)
    a.share_key("bob")
    wait_until(lambda: "key received" in a.peers["bob"].statuses
               and "key received" in b.peers["alice"].statuses, what="both keys")
    assert "secure" not in a.peers["bob"].statuses
    assert "secure" not in b.peers["alice"].statuses

    # Whatever alice manages to send, the relay reflects it back to her "from bob".
    relay.rewrite = lambda d: [d, d.replace(to=relay.sid_of("alice"),
                                            payload={**d.payload, "from": "bob",
                                                     "fromSocketId": relay.sid_of("bob")})] \
        if d.event == P.RECEIVE_MESSAGE and d.sender == "alice" else [d]
    try:
        a.send("bob", "my own words")
    except ValueError:
        return  # refusing to send without an explicit choice is also a refusal
    wait_until(lambda: relay.sent(P.RECEIVE_MESSAGE, sender="alice"), what="alice's message")
    wait_until(lambda: received(a, "bob"), timeout=3, what="the reflection to arrive")
    assert "my own words" not in texts(a, "bob", "in")
