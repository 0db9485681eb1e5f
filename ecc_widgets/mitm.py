"""Mallory, the relay in the middle, sans-IO: the attacks a relay can make, for teaching.

A relay routes every key share and every ciphertext, so it can do more than read the wire:

- ``mitm`` (key substitution): Mallory answers each key share with a key of its own and
  derives a session with each side exactly as a peer would (v1: HKDF and associated data;
  legacy: the seed's raw ECDH key), so it decrypts, records, optionally edits, and seals
  again every message. With the Double Ratchet she runs two ratchets, one with each side,
  started as each side starts its own (`envelope.start_ratchet`): she reads and re-seals
  every message as well, each side's healing DH steps being steps with her. Both sides
  keep chatting; only comparing safety numbers (or the short codes) shows two different
  keys. The short code's exchange (``ecc_widgets.sas``)
  she carries like any message, opened and sealed again: it is the best she can do, since
  its commitment leaves her one guess either way (forwarding, answering herself, or
  grinding her keys), and the two screens then show different codes.
- ``replay``, ``reorder``, ``drop``, ``bitflip``, ``strip`` (the protocol version, a
  downgrade) and ``redirect`` (to another member): rewrites of the ciphertext on its way,
  each of which a v1 client catches and names.

`Mallory.rewrite` takes one delivery the relay is about to make (``receive-public-key`` or
``receive-message``, with ``from`` set) and returns the deliveries to make instead. No
sockets, no threads, no clock of its own (`clock` is injected): the relay (relay.attacks)
calls it in its delivery path, tests call it directly. Every piece of state is bounded.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ecc_widgets import crypto, envelope
from ecc_widgets import protocol as P
from ecc_widgets.envelope import LEGACY, RECEIPT, kind_of

# The attacks a relay in the middle can make, in the order a lesson meets them, with what
# each does (the Mallory page shows the words).
ATTACKS = {
    "mitm": "swap the keys: read every message (and edit the next one)",
    "replay": "send a message again",
    "reorder": "deliver messages out of order",
    "drop": "drop messages",
    "bitflip": "flip a bit of the ciphertext",
    "strip": "strip the protocol version (push peers to the seed's format)",
    "redirect": "deliver a message to someone else",
}
INTERCEPTED_PER_ROOM = 200      # entries of the intercepted log kept per room (the newest)
MAX_ROOMS = 256                 # rooms with attack state (the least recently used go)
MAX_KEYS_PER_ROOM = 512         # Mallory's keys and the members' real keys, per room
BITFLIP_TARGETS = ("ciphertext", "nonce", "tag", "seq")
SPARED = (RECEIPT, *P.SAS_KINDS)    # kinds the attacks other than mitm leave alone

Delivery = tuple[str, str, dict]    # (target name, event, payload)


@dataclass(frozen=True)
class Intercepted:
    """One thing Mallory did to a message: what it read (or a description), and to whom."""

    time: float
    sender: str
    receiver: str
    text: str
    attack: str
    edited: bool = False
    delivered: str = ""          # the text delivered instead, when edited

    def as_json(self) -> dict:
        out = {"time": self.time, "from": self.sender, "to": self.receiver, "text": self.text,
               "attack": self.attack, "edited": self.edited}
        if self.edited:
            out["delivered"] = self.delivered
        return out


@dataclass
class Room:
    """Mallory's state in one room."""

    attacks: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(ATTACKS, False))
    intercepted: deque = field(default_factory=lambda: deque(maxlen=INTERCEPTED_PER_ROOM))
    # the key Mallory shows `victim` as `posing_as`'s: (victim, posing_as) -> private key
    fakes: OrderedDict = field(default_factory=OrderedDict)
    # each member's real public key, as last shared: name -> public key
    real: OrderedDict = field(default_factory=OrderedDict)
    # the real key each fake stands in for: (victim, posing_as) -> the real key's bytes
    stands_for: OrderedDict = field(default_factory=OrderedDict)
    held: dict = field(default_factory=dict)        # reorder: (from, to) -> held payload
    # a stateful version's state with each victim, for each fake key:
    # (victim, posing_as, fake key's bytes, the victim's key's bytes) -> KeyState
    states: OrderedDict = field(default_factory=OrderedDict)
    # what she delivered for each message (a re-send is delivered alike):
    # (from, to, message id) -> payload
    resealed: OrderedDict = field(default_factory=OrderedDict)
    flips: int = 0                                  # bitflip: which part is next
    replace: str | None = None                      # edit: the next MITM'd message's text
    transform: Callable[[str], str] | None = None   # edit: applied to every MITM'd message


def _bounded_put(table: OrderedDict, key: Any, value: Any, cap: int = MAX_KEYS_PER_ROOM):
    table[key] = value
    table.move_to_end(key)
    while len(table) > cap:
        table.popitem(last=False)


def _flip_b64(text: str, bit: int = 0) -> str:
    data = bytearray(crypto.b64decode(text))
    if data:
        data[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return crypto.b64encode(bytes(data))


class Mallory:
    """The attacker's state for every room, and the one entry point `rewrite`."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.rooms: OrderedDict[str, Room] = OrderedDict()

    # ------------------------------------------------------------------ controls

    def room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room()
            while len(self.rooms) > MAX_ROOMS:
                self.rooms.popitem(last=False)
        self.rooms.move_to_end(name)
        return room

    def set_attack(self, room: str, attack: str, on: bool) -> dict[str, bool]:
        if attack not in ATTACKS:
            raise ValueError(f"unknown attack {attack!r:.40}; one of {', '.join(ATTACKS)}")
        state = self.room(room)
        state.attacks[attack] = bool(on)
        if attack == "reorder" and not on:
            state.held.clear()   # what was held back is lost, as a relay that dropped it
        return dict(state.attacks)

    def attacks(self, room: str) -> dict[str, bool]:
        state = self.rooms.get(room)
        return dict(state.attacks) if state else dict.fromkeys(ATTACKS, False)

    def edit(self, room: str, transform: Callable[[str], str] | None) -> None:
        """Apply `transform` to the text of every message Mallory relays in `room` (None: stop)."""
        self.room(room).transform = transform

    def replace_next(self, room: str, text: str | None) -> None:
        """The next message Mallory relays in `room` carries `text` instead (None: cancel)."""
        self.room(room).replace = text

    def intercepted(self, room: str) -> list[Intercepted]:
        state = self.rooms.get(room)
        return list(state.intercepted) if state else []

    def _record(self, state: Room, sender: str, receiver: str, text: str, attack: str,
                **more: Any) -> None:
        state.intercepted.append(Intercepted(self.clock(), sender, receiver, text, attack,
                                             **more))

    # ------------------------------------------------------------------ the entry point

    def rewrite(self, room: str, event: str, payload: dict, sender_name: str,
                target_name: str, members: list[str]) -> list[Delivery]:
        """The deliveries to make instead of `payload` (`event`) from `sender_name` to
        `target_name`; `members` are the names in the room. Untouched when no attack is on."""
        state = self.rooms.get(room)
        if state is None or not any(state.attacks.values()):
            if state is not None and event == P.RECEIVE_PUBLIC_KEY:
                self._genuine_key(state, payload, sender_name, target_name)
            return [(target_name, event, payload)]
        on = state.attacks
        if event == P.RECEIVE_PUBLIC_KEY:
            return self._key_share(state, on, payload, sender_name, target_name)
        if event != P.RECEIVE_MESSAGE:
            return [(target_name, event, payload)]
        out = [(target_name, event, payload)]
        if on["mitm"] or (sender_name, target_name) in state.fakes:
            out = self._relay_through(state, room, payload, sender_name, target_name)
        if kind_of(payload) in SPARED:
            return out   # the other attacks aim at chat messages; receipts and codes pass
        for attack in ("strip", "bitflip", "redirect", "replay", "reorder", "drop"):
            if on[attack]:
                out = getattr(self, "_" + attack)(state, out, sender_name, target_name,
                                                  members)
        return out

    # ------------------------------------------------------------------ key shares

    def _genuine_key(self, state: Room, payload: dict, sender: str, target: str) -> None:
        """A real key reaches `target`: Mallory is no longer in the middle that way."""
        state.fakes.pop((target, sender), None)
        with contextlib.suppress(crypto.InvalidKeyError, KeyError, TypeError, ValueError):
            _bounded_put(state.real, sender, crypto.public_key_from_jwk(payload["publicKey"]))

    def _key_share(self, state: Room, on: dict, payload: dict, sender: str,
                   target: str) -> list[Delivery]:
        out = dict(payload)
        if on["strip"]:   # a key share without its version: the seed's protocol offered
            out.pop(envelope.VERSION_FIELD, None)
        if not on["mitm"]:
            self._genuine_key(state, payload, sender, target)
            return [(target, P.RECEIVE_PUBLIC_KEY, out)]
        try:
            real = crypto.public_key_from_jwk(payload["publicKey"])
        except (crypto.InvalidKeyError, KeyError, TypeError, ValueError):
            return [(target, P.RECEIVE_PUBLIC_KEY, out)]   # not a key: the client refuses it
        curve = crypto.curve_of(real)
        _bounded_put(state.real, sender, real)
        fake = state.fakes.get((target, sender))
        real_raw = crypto.public_bytes(real)
        if fake is None or crypto.curve_of(fake) != curve or \
                state.stands_for.get((target, sender)) != real_raw:
            # a new key of the sender's is a new key of Mallory's too: the victim sees a key
            # change, as it would without her, and the short code's exchange starts afresh
            # on both sides, so that she can carry it from one side to the other
            fake = crypto.generate_private_key(curve)
        _bounded_put(state.fakes, (target, sender), fake)
        _bounded_put(state.stands_for, (target, sender), real_raw)
        # the same share (v, curve, isReply) with Mallory's key in place of the sender's
        out["publicKey"] = crypto.public_key_to_jwk(fake)
        return [(target, P.RECEIVE_PUBLIC_KEY, out)]

    # ------------------------------------------------------------------ the man in the middle

    def _key_with(self, state: Room, victim: str, posing_as: str,
                  version: envelope.Version, curve: str = "") -> bytes | None:
        """The message key between `victim` and Mallory posing as `posing_as`, derived
        exactly as the victim derives it; None when Mallory is not in that place."""
        fake, real = state.fakes.get((victim, posing_as)), state.real.get(victim)
        if fake is None or real is None or crypto.curve_of(fake) != crypto.curve_of(real):
            return None
        if curve and curve != crypto.curve_of(real):
            return None
        try:
            shared = crypto.ecdh(fake, real)
        except crypto.InvalidKeyError:
            return None
        return version.derive_key(shared, curve=crypto.curve_of(real),
                                  ours=crypto.public_bytes(fake),
                                  theirs=crypto.public_bytes(real))

    def _state_with(self, state: Room, victim: str, posing_as: str,
                    version: envelope.Version, key: bytes) -> envelope.KeyState | None:
        """The state of a stateful version between `victim` and Mallory posing as
        `posing_as` (started as the victim starts theirs), or None."""
        fake, real = state.fakes.get((victim, posing_as)), state.real.get(victim)
        if fake is None or real is None:
            return None
        index = (victim, posing_as, crypto.public_bytes(fake), crypto.public_bytes(real))
        kept = state.states.get(index)
        if kept is None:
            kept = envelope.KeyState()
            try:
                version.start(key, kept, private=fake, ours=index[2], theirs=index[3],
                              peer_public=real, curve=crypto.curve_of(real))
            except (ValueError, crypto.InvalidKeyError):
                return None
        _bounded_put(state.states, index, kept)
        return kept

    def _relay_stateful(self, state: Room, room: str, env: envelope.Envelope, sender: str,
                        target: str, inbound: bytes, outbound: bytes) -> bytes | dict | None:
        """A stateful version (the ratchet): opened with her state with the sender, sealed
        anew with her state with the target. The plaintext; a payload to deliver as it is
        (a re-send); None (not hers to read)."""
        version = env.version
        with_sender = self._state_with(state, sender, target, version, inbound)
        with_target = self._state_with(state, target, sender, version, outbound)
        if with_sender is None or with_target is None:
            return None
        opened = version.open(inbound, with_sender, env, envelope.Context(room, sender, target,
                                                                          env.curve or ""))
        if isinstance(opened, envelope.Duplicate):
            return state.resealed.get((sender, target, env.message_id))
        if not isinstance(opened, envelope.Opened):
            return None
        return opened.data

    def _seal_stateful(self, state: Room, room: str, env: envelope.Envelope, data: bytes,
                       sender: str, target: str, outbound: bytes) -> dict:
        with_target = self._state_with(state, target, sender, env.version, outbound)
        if with_target is None:   # made by _relay_stateful; gone only if the table is full
            return env.payload
        # the sender's number, so the target's window sees what the sender sent
        with_target.send_seq = max(with_target.send_seq, (env.seq or 1) - 1)
        sealed = env.version.seal(outbound, with_target, data,
                                  envelope.Context(room, sender, target, env.curve or ""),
                                  message_id=env.message_id or "", kind=env.kind)
        payload = {**env.payload, **sealed.payload}
        _bounded_put(state.resealed, (sender, target, env.message_id), payload)
        return payload

    def _relay_through(self, state: Room, room: str, payload: dict, sender: str,
                       target: str) -> list[Delivery]:
        """Open the sender's message with the sender's key, seal it again for the target
        (the same header: the associated data names the real sender and receiver)."""
        try:
            env = envelope.parse(payload)
        except envelope.EnvelopeError:
            return [(target, P.RECEIVE_MESSAGE, payload)]  # the client refuses it
        version, kind = env.version, env.kind
        if not version.complete(env):
            return [(target, P.RECEIVE_MESSAGE, payload)]
        curve = env.curve if "curve" in version.fields else ""
        inbound = self._key_with(state, sender, target, version, curve)
        outbound = self._key_with(state, target, sender, version, curve)
        if inbound is None or outbound is None:
            if kind not in SPARED:
                self._record(state, sender, target, "(unreadable: sealed under a key Mallory "
                             "did not put there; share keys again while the attack is on)",
                             "mitm")
            return [(target, P.RECEIVE_MESSAGE, payload)]
        ctx = envelope.Context(room, sender, target, env.curve or "")
        if version.stateful:
            got = self._relay_stateful(state, room, env, sender, target, inbound, outbound)
            if got is None:
                return [(target, P.RECEIVE_MESSAGE, payload)]  # not ours to read: pass it on
            if isinstance(got, dict):
                return [(target, P.RECEIVE_MESSAGE, got)]      # a re-send, as delivered
            data = got
        else:
            try:
                data = version.decrypt(inbound, env, ctx)
            except crypto.DecryptionError:
                return [(target, P.RECEIVE_MESSAGE, payload)]  # not ours to read: pass it on
        if kind not in SPARED:   # receipts and the short code's exchange: not messages
            text = data.decode(errors="replace")
            delivered = text
            if state.replace is not None:
                delivered, state.replace = state.replace, None
            elif state.transform is not None:
                delivered = str(state.transform(text))
            edited = delivered != text
            self._record(state, sender, target, text, "mitm", edited=edited,
                         delivered=delivered if edited else "")
            data = delivered.encode()
        if version.stateful:   # her own ratchet with the target: its own header
            return [(target, P.RECEIVE_MESSAGE,
                     self._seal_stateful(state, room, env, data, sender, target, outbound))]
        # a fresh nonce, the same header
        return [(target, P.RECEIVE_MESSAGE, version.reseal(outbound, data, env, ctx))]

    # ------------------------------------------------------------------ the other attacks
    # Each takes the deliveries so far and returns the new ones (so they compose).

    def _strip(self, state: Room, out: list[Delivery], sender: str, target: str,
               members: list[str]) -> list[Delivery]:
        stripped = []
        for to, event, payload in out:
            if envelope.version_of(payload) is not LEGACY:
                payload = envelope.downgraded(payload)
                self._record(state, sender, to, "(protocol version removed: passed off as "
                             "a seed-protocol message)", "strip")
            stripped.append((to, event, payload))
        return stripped

    def _bitflip(self, state: Room, out: list[Delivery], sender: str, target: str,
                 members: list[str]) -> list[Delivery]:
        flipped = []
        for to, event, payload in out:
            version = envelope.version_of(payload)
            targets = BITFLIP_TARGETS if version is not None and "seq" in version.fields \
                else BITFLIP_TARGETS[:3]
            part = targets[state.flips % len(targets)]
            state.flips += 1
            payload = dict(payload)
            if part == "ciphertext":
                payload["encryptedMessage"] = _flip_b64(payload["encryptedMessage"])
            elif part == "nonce":
                payload["iv"] = _flip_b64(payload["iv"])
            elif part == "tag":
                payload["tag"] = _flip_b64(payload["tag"])
            elif isinstance(payload.get("seq"), int):
                payload["seq"] += 1          # changes the associated data
            self._record(state, sender, to, f"(one bit of the {part} flipped)"
                         if part != "seq" else "(sequence number changed: the associated "
                         "data no longer matches)", "bitflip")
            flipped.append((to, event, payload))
        return flipped

    def _redirect(self, state: Room, out: list[Delivery], sender: str, target: str,
                  members: list[str]) -> list[Delivery]:
        others = [m for m in members if m not in (sender, target)]
        if not others:
            return out   # nobody to send it to instead
        victim = others[0]
        self._record(state, sender, victim, f"(a message for {target} delivered to {victim} "
                     f"as {sender}'s)", "redirect")
        return [(victim, event, payload) for _to, event, payload in out]

    def _replay(self, state: Room, out: list[Delivery], sender: str, target: str,
                members: list[str]) -> list[Delivery]:
        again = []
        for to, event, payload in out:
            copy = dict(payload)
            if "id" in copy:
                copy["id"] = uuid.uuid4().hex   # a "new" message, else it is a mere re-send
            again.append((to, event, copy))
            self._record(state, sender, to, "(the same ciphertext delivered twice)", "replay")
        return out + again

    def _reorder(self, state: Room, out: list[Delivery], sender: str, target: str,
                 members: list[str]) -> list[Delivery]:
        held = state.held.pop((sender, target), None)
        if held is None:
            if len(state.held) >= MAX_KEYS_PER_ROOM:
                state.held.clear()
            state.held[(sender, target)] = out
            self._record(state, sender, target, "(held back, to be delivered after the next "
                         "message)", "reorder")
            return []
        return out + held

    def _drop(self, state: Room, out: list[Delivery], sender: str, target: str,
              members: list[str]) -> list[Delivery]:
        for to, _event, _payload in out:
            self._record(state, sender, to, "(dropped)", "drop")
        return []

    # ------------------------------------------------------------------ what the page shows

    def state(self, members: dict[str, list[str]]) -> dict:
        """The attacker's view: every room with members or attack state, as JSON."""
        rooms = {}
        for name in sorted(set(members) | set(self.rooms)):
            state = self.rooms.get(name)
            rooms[name] = {
                "members": sorted(members.get(name, ())),
                "attacks": self.attacks(name),
                "intercepted": [e.as_json() for e in state.intercepted] if state else [],
            }
            if state is not None and state.replace is not None:
                rooms[name]["replace"] = state.replace
        return {"attacks": list(ATTACKS), "rooms": rooms}
