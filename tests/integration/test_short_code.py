"""The short code's commitment exchange with real sessions: through the real relay the two
screens agree, a reconnect keeps the code and a new key makes a new one; through a relay in
the middle that grinds its keys, the codes agree only at the rate of one guess."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from ecc_widgets import crypto, sas
from ecc_widgets import protocol as P
from ecc_widgets.mitm import Mallory
from ecc_widgets.session import Session
from tests.support.malicious_relay import Delivery, MaliciousRelay
from tests.support.polling import wait_until
from tests.support.processes import RelayProcess
from tests.support.sessions import RawPeer, codes_ready, legacy_pair
from tests.support.sessions import pair_up as secure_pair


def pair_up(made: list[Session], url: str, room: str) -> tuple[Session, Session]:
    a, b = Session(), Session()
    made.extend((a, b))
    secure_pair(a, b, url, room)
    return a, b


def sas_kinds(session: Session, direction: str) -> list[str]:
    return [e["payload"].get("kind") for e in session.relay_view
            if e["direction"] == direction
            and e["event"] in (P.SEND_MESSAGE, P.RECEIVE_MESSAGE)
            and e["payload"].get("kind") in P.SAS_KINDS]


@pytest.fixture(scope="module")
def relay() -> Iterator[RelayProcess]:
    server = RelayProcess().start()
    yield server
    server.stop()


def test_new_keys_in_quick_succession_each_get_an_exchange(relay, sessions):
    a, b = pair_up(sessions, relay.url, "quick")
    seen = {a.peers["bob"].sas}
    for s in (b, a, b):       # each new key pair, at once: a new exchange, a new code
        s.generate_keys()
        wait_until(lambda: codes_ready(a, b) and a.peers["bob"].sas not in seen
                   and a.peers["bob"].sas == b.peers["alice"].sas, what="the new codes")
        seen.add(a.peers["bob"].sas)
    assert a.peers["bob"].rejected == b.peers["alice"].rejected == 0


def once(kinds: list[str]) -> list[str]:
    """The kinds in the order each was first sent."""
    return list(dict.fromkeys(kinds))


def test_two_sessions_through_the_relay_show_the_same_code(relay, sessions):
    a, b = pair_up(sessions, relay.url, "lab")
    code = a.peers["bob"].sas
    assert a.peers["bob"].sas_status == b.peers["alice"].sas_status == sas.DONE
    assert code is not None and code == b.peers["alice"].sas
    # alice ("alice" < "bob") committed, bob answered, alice revealed, in that order (a
    # step may be sent again when its answer is slow: the same step, the same exchange)
    assert once(sas_kinds(a, "out")) == [P.SAS_COMMIT, P.SAS_REVEAL]
    assert once(sas_kinds(b, "in")) == [P.SAS_COMMIT, P.SAS_REVEAL]
    assert once(sas_kinds(b, "out")) == [P.SAS_NONCE]
    # nothing of it in the conversation, and no message refused
    assert not a.conversations.get("bob") and not b.conversations.get("alice")
    assert a.peers["bob"].rejected == b.peers["alice"].rejected == 0

    # the relay restarts: both rejoin, re-send what is pending (nothing new), same code
    relay.restart()
    wait_until(lambda: a.joined and b.joined and "bob" in a.peers and "alice" in b.peers,
               what="both back in the room", timeout=60)
    a.send("bob", "still you?")
    wait_until(lambda: any(m.plaintext == "still you?"
                           for m in b.conversations.get("alice", ())), what="a message")
    assert a.peers["bob"].sas == b.peers["alice"].sas == code

    # a new key is a new comparison: a new exchange, a new code, the same on both sides
    b.generate_keys()
    wait_until(lambda: "key changed" in a.peers["bob"].statuses and codes_ready(a, b)
               and a.peers["bob"].sas not in (None, code), what="the new code")
    assert a.peers["bob"].sas == b.peers["alice"].sas


# ---------------------------------------------------------------- a relay that grinds

BITS = 2          # the part of the code compared, shrunk for counting: 1 in 4
TRIALS = 16
TRIES = 4096


class GrindingMallory:
    """Mallory (ecc_widgets.mitm) in a malicious relay's delivery path, who also grinds:
    once bob has her key, she tries keys for alice until the code without a commitment
    (`sas.keys_only_bytes`) that alice would see matches bob's in `bits` bits."""

    def __init__(self, relay: MaliciousRelay, bits: int):
        self.relay, self.bits = relay, bits
        self.mallory = Mallory()
        self.keys_only: dict[str, tuple[int, int]] = {}   # room -> (alice's, bob's)
        self.shown: dict[str, bytes] = {}                 # room -> the ground key

    def rewrite(self, d: Delivery) -> list[Delivery]:
        if d.event not in (P.RECEIVE_PUBLIC_KEY, P.RECEIVE_MESSAGE) or d.to not in \
                self.relay.members:
            return [d]
        room, target = self.relay.members[d.to]
        sids = {name: sid for sid, (r, name) in self.relay.members.items() if r == room}
        if not self.mallory.attacks(room)["mitm"]:
            self.mallory.set_attack(room, "mitm", True)
        if d.event == P.RECEIVE_PUBLIC_KEY and (d.sender, target) == ("bob", "alice"):
            self._grind(room, d.payload)
        return [Delivery(event, payload, sids[name], d.sender)
                for name, event, payload in self.mallory.rewrite(
                    room, d.event, d.payload, d.sender, target, list(sids)) if name in sids]

    def _grind(self, room: str, payload: dict) -> None:
        state = self.mallory.room(room)
        bob = crypto.public_key_from_jwk(payload["publicKey"])
        to_bob, alice = state.fakes[("bob", "alice")], state.real["alice"]
        bobs = sas.keys_only_bytes(crypto.ecdh(to_bob, bob), curve="P-256",
                                   public_a=crypto.public_bytes(to_bob),
                                   public_b=crypto.public_bytes(bob))
        for _ in range(TRIES):
            fake = crypto.generate_private_key("P-256")
            alices = sas.keys_only_bytes(crypto.ecdh(fake, alice), curve="P-256",
                                         public_a=crypto.public_bytes(fake),
                                         public_b=crypto.public_bytes(alice))
            if sas.leading_bits(alices, self.bits) == sas.leading_bits(bobs, self.bits):
                break
        state.fakes[("alice", "bob")] = fake    # the key Mallory now shows alice as bob's
        state.stands_for[("alice", "bob")] = crypto.public_bytes(bob)
        self.shown[room] = crypto.public_bytes(fake)
        self.keys_only[room] = (sas.leading_bits(alices, self.bits),
                                sas.leading_bits(bobs, self.bits))


def test_a_relay_that_grinds_its_keys_gets_one_guess(sessions):
    with MaliciousRelay() as relay:
        grinder = GrindingMallory(relay, BITS)
        relay.rewrite = grinder.rewrite
        matches = compared = 0
        for trial in range(TRIALS):
            a, b = pair_up(sessions, relay.url, f"trial-{trial}")
            alices, bobs = a.peers["bob"], b.peers["alice"]
            # Mallory is in the middle (different safety numbers), and the codes are out;
            # an exchange she broke (a slow machine re-sends steps across her re-shared
            # keys) shows no code at all: caught, not matched
            assert alices.safety_number != bobs.safety_number
            if sas.FAILED in (alices.sas_status, bobs.sas_status):
                for s in (a, b):
                    s.close()
                continue
            assert alices.sas_status == bobs.sas_status == sas.DONE
            compared += 1
            # without a commitment her grinding would have made every pair of codes agree
            old_alice, old_bob = grinder.keys_only[f"trial-{trial}"]
            assert old_alice == old_bob
            assert alices.fingerprint == crypto.fingerprint(grinder.shown[f"trial-{trial}"])
            matches += alices.sas.leading_bits(BITS) == bobs.sas.leading_bits(BITS)
            for s in (a, b):
                s.close()
    # with it: compared / 2^BITS expected; the bound is what one guess each passes with a
    # chance of 1 - 10^-5 (13 of 16, without a commitment all 16 match)
    assert compared >= 12, compared  # enough comparisons for the bound to mean something
    assert matches < one_guess_bound(compared, 2**-BITS), (matches, compared)


def one_guess_bound(n: int, p: float, chance: float = 1e-5) -> int:
    """The least t with P(at least t of n trials match, each with chance p) < `chance`."""
    for t in range(n + 1):
        tail = sum(math.comb(n, k) * p**k * (1 - p)**(n - k) for k in range(t, n + 1))
        if tail < chance:
            return t
    return n + 1


def test_a_seed_protocol_peer_has_no_short_code_and_is_sent_none(relay, sessions):
    a = Session()
    sessions.append(a)
    a.join("alice", "seed", relay.url)
    wait_until(lambda: a.joined, what="alice in the room")
    a.generate_keys()
    seed = RawPeer(relay.url, "old-browser", "seed")
    try:
        wait_until(lambda: "old-browser" in a.peers, what="the seed page in the roster")
        legacy_pair(a, seed)
        wait_until(lambda: "legacy" in a.peers["old-browser"].statuses, what="legacy on")
        peer = a.peers["old-browser"]
        assert peer.sas is None and peer.sas_status == sas.NONE and peer.safety_number
        a.send("old-browser", "hello")
        wait_until(lambda: seed.received(P.RECEIVE_MESSAGE), what="the message")
        assert all(m.get("kind") not in P.SAS_KINDS for m in seed.received(P.RECEIVE_MESSAGE))
        assert sas_kinds(a, "out") == []
    finally:
        seed.close()
