"""Short authentication strings: a code two people can compare aloud in seconds.

A safety number (``crypto.safety_number``) is computed from the two public keys alone; it is
long (60 digits) because it must also resist an attacker who tries many keys offline. A short
authentication string (SAS) is 42 bits, 7 emoji or three 4-digit numbers, derived from the
ECDH secret as Matrix does for its emoji verification: a relay that substituted keys shares a
*different* secret with each side, so the two screens show different codes.

**Why a commitment.** 42 bits are few. If the code depended only on the keys and the secret,
a relay in the middle could choose the fake key it shows Alice *after* computing the code Bob
will see, and try keys until Alice's code matches Bob's in the part people compare: the
first emoji in ~64 tries, the first number in ~8,000 (a second), three emoji in ~260,000.
So each comparison also takes a fresh 32-byte nonce from each side, and the order of their
messages is fixed (Matrix's SAS verification and ZRTP do the same):

1. the **committer** sends ``commit = SHA-256("ecc-chat-lab sas commit v2" || n_C)``;
2. the **revealer**, once it holds the commitment, sends its nonce ``n_R``;
3. the committer, once it holds ``n_R``, sends ``n_C``; the revealer checks it against the
   commitment. Each side shows the code only then ("comparing..." before):

       code = HKDF-SHA256(ECDH secret, salt = "", info = "ecc-chat-lab sas v2" || curve
                          || K_C || K_R || n_C || n_R [|| V])   (each part length-prefixed, u16)

   where V, when the pair's key shares carried versions, is the version each side's key share
   offered as this side received it (committer's, then revealer's; one byte each): a relay
   that rewrote an offer (the ratchet's 2 stripped to static 1) makes the two screens differ.

The committer is the member whose name comes first (``text.name_key``, then the name): the
relay keeps names unique in a room and the two screens show the real names, so the one in the
middle cannot pick its roles. Each side keeps *one* exchange per key pair (ours, theirs), with
its nonce, for the session's life: a reconnect or a re-join re-sends the pending messages of
that same exchange, it never starts a new one; a revealer answers only the first commitment;
a committer takes only the first nonce. Only a new key pair (a new key on either side, which
the card shows as "key changed") starts a new exchange.

**Why one guess.** Mallory sits between Alice and Bob and holds a different secret with each.
Alice's code depends on Alice's nonce, Bob's on Bob's. In the exchange where Alice commits,
Mallory must send her nonce before she can know ``n_A`` (the commitment hides it): whatever
she sends, Alice's code is a fresh random value to her. In the exchange where Mallory commits
to Bob, her ``n_M`` is fixed before Bob's ``n_B`` exists; she learns Bob's code before she
reveals, but her only choices are to reveal that one code or to reveal nothing (Bob's card
then stays at "comparing...", and a re-join only asks her again for the same opening; a
second commitment is refused). Forwarding one side's messages to the other changes nothing:
the two secrets differ, so equal nonces still give independent codes. Either way the two
codes on the screens agree with probability 2^-b over the b bits the students compare: one
guess per key pair, and another key pair costs her a visible "key changed" (a session keeps
the exchanges of its last MAX_EXCHANGES key pairs: bringing back a forgotten one takes that
many key changes). Hence: compare *all* of the code (42 bits: 1 in 4 * 10^12), not just its
first emoji (1 in 64).

Exactly (for other implementations): the code's bytes are 6 bytes of the HKDF above. The
first 42 bits, 6 at a time, index Matrix's table of 64 emoji; the first 39 bits, 13 at a
time, plus 1000 give three 4-digit numbers (Matrix's "decimal" method). The three messages
travel as v1 messages of kinds ``sas-commit``, ``sas-nonce`` and ``sas-reveal`` with
``seq`` 0 (`seal`, `open_sealed`: sealed under the pair's message key, so a relay without it
can only drop them); their plaintext is checked by ``protocol.validate_sas``. See
docs/protocol.md.

`Exchange` is one side of one exchange, sans-IO: it takes the bodies that arrive and returns
the bodies to send; the session seals, sends and publishes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ecc_widgets import crypto, envelope
from ecc_widgets import protocol as P
from ecc_widgets.text import name_key

# Matrix's SAS emoji table (client-server API, "SAS method: emoji"): index -> (emoji, name).
EMOJI = (
    ("🐶", "Dog"), ("🐱", "Cat"), ("🦁", "Lion"), ("🐎", "Horse"), ("🦄", "Unicorn"),
    ("🐷", "Pig"), ("🐘", "Elephant"), ("🐰", "Rabbit"), ("🐼", "Panda"), ("🐓", "Rooster"),
    ("🐧", "Penguin"), ("🐢", "Turtle"), ("🐟", "Fish"), ("🐙", "Octopus"),
    ("🦋", "Butterfly"), ("🌷", "Flower"), ("🌳", "Tree"), ("🌵", "Cactus"),
    ("🍄", "Mushroom"), ("🌏", "Globe"), ("🌙", "Moon"), ("☁️", "Cloud"), ("🔥", "Fire"),
    ("🍌", "Banana"), ("🍎", "Apple"), ("🍓", "Strawberry"), ("🌽", "Corn"), ("🍕", "Pizza"),
    ("🎂", "Cake"), ("❤️", "Heart"), ("😀", "Smiley"), ("🤖", "Robot"), ("🎩", "Hat"),
    ("👓", "Glasses"), ("🔧", "Spanner"), ("🎅", "Santa"), ("👍", "Thumbs Up"),
    ("☂️", "Umbrella"), ("⌛", "Hourglass"), ("⏰", "Clock"), ("🎁", "Gift"),
    ("💡", "Light Bulb"), ("📕", "Book"), ("✏️", "Pencil"), ("📎", "Paperclip"),
    ("✂️", "Scissors"), ("🔒", "Lock"), ("🔑", "Key"), ("🔨", "Hammer"), ("☎️", "Telephone"),
    ("🏁", "Flag"), ("🚂", "Train"), ("🚲", "Bicycle"), ("✈️", "Aeroplane"), ("🚀", "Rocket"),
    ("🏆", "Trophy"), ("⚽", "Ball"), ("🎸", "Guitar"), ("🎺", "Trumpet"), ("🔔", "Bell"),
    ("⚓", "Anchor"), ("🎧", "Headphones"), ("📁", "Folder"), ("📌", "Pin"),
)
SAS_BYTES = 6
NONCE_BYTES = 32
COMMIT_LABEL = b"ecc-chat-lab sas commit v2"
CODE_LABEL = b"ecc-chat-lab sas v2"
MAX_EXCHANGES = 4096        # key pairs whose exchange a session keeps (the least recent go)

# An exchange's state, as a peer card shows it.
COMPARING = "comparing"     # under way: no code yet
DONE = "done"               # the code is ready
FAILED = "failed"           # the committed nonce did not open the commitment: no code
NONE = "none"               # a key, but no exchange: the seed's protocol has none


@dataclass(frozen=True)
class ShortAuthString:
    """Seven emoji (with their names, to read aloud) and three 4-digit numbers."""

    emoji: tuple[tuple[str, str], ...]
    numbers: tuple[int, int, int]
    data: bytes = b""            # the SAS_BYTES they encode

    @property
    def emoji_text(self) -> str:
        return " ".join(symbol for symbol, _name in self.emoji)

    @property
    def names(self) -> str:
        return ", ".join(name for _symbol, name in self.emoji)

    @property
    def numbers_text(self) -> str:
        return " ".join(str(n) for n in self.numbers)

    def leading_bits(self, bits: int) -> int:
        """The first `bits` bits of the code: what students compare who read only part of
        it (the first emoji is 6 bits, the first number 13)."""
        return leading_bits(self.data, bits)


def leading_bits(data: bytes, bits: int) -> int:
    """The first `bits` bits of `data` as an integer."""
    if not 0 <= bits <= 8 * len(data):
        raise ValueError(f"bits must be between 0 and {8 * len(data)}")
    return int.from_bytes(data, "big") >> (8 * len(data) - bits)


def _parts(*parts: bytes) -> bytes:
    return b"".join(len(part).to_bytes(2, "big") + part for part in parts)


def is_committer(me: str, peer: str) -> bool:
    """Whether `me` commits in the exchange with `peer`: the name that comes first (by
    `text.name_key`, then as written) commits; both sides compute the same."""
    return (name_key(me), me) < (name_key(peer), peer)


def commitment(nonce: bytes) -> bytes:
    """SHA-256 over the label and the committer's nonce."""
    return hashlib.sha256(COMMIT_LABEL + bytes(nonce)).digest()


def sas_bytes(shared_secret: bytes, *, curve: str, committer_key: bytes, revealer_key: bytes,
              committer_nonce: bytes, revealer_nonce: bytes, offers: bytes = b"") -> bytes:
    """The 6 bytes both sides derive once both nonces are known (see the module docstring);
    `offers`: V, the versions offered (committer's, revealer's), b"" for none."""
    if not shared_secret:
        raise ValueError("shared_secret is empty")
    parts = [curve.encode("ascii"), bytes(committer_key), bytes(revealer_key),
             bytes(committer_nonce), bytes(revealer_nonce)]
    if offers:
        parts.append(bytes(offers))
    info = CODE_LABEL + _parts(*parts)
    return crypto.hkdf_sha256(shared_secret, info=info, length=SAS_BYTES)


def from_bytes(data: bytes) -> ShortAuthString:
    """Matrix's emoji and decimal encodings of SAS bytes (at least 6)."""
    if len(data) < SAS_BYTES:
        raise ValueError(f"a short authentication string needs {SAS_BYTES} bytes")
    bits = int.from_bytes(data[:SAS_BYTES], "big")
    emoji = tuple(EMOJI[(bits >> (42 - 6 * i)) & 0x3F] for i in range(7))
    first39 = int.from_bytes(data[:5], "big") >> 1
    numbers = tuple(((first39 >> (26 - 13 * i)) & 0x1FFF) + 1000 for i in range(3))
    return ShortAuthString(emoji, numbers, bytes(data[:SAS_BYTES]))  # type: ignore[arg-type]


Message = tuple[str, dict]      # (kind, body): a body for `protocol.validate_sas`


class Exchange:
    """One side of the exchange for one key pair (ours, theirs), sans-IO.

    `start()` and `receive(kind, body)` return the messages to send; `pending()` the ones
    to send again after a reconnect (the same ones: nonces are drawn once). `code` is set
    when the exchange is done; `problem` says what was refused on the way.
    """

    def __init__(self, *, committer: bool, shared_secret: bytes, curve: str, ours: bytes,
                 theirs: bytes, random: Callable[[int], bytes] = os.urandom,
                 offers: tuple[int, int] | None = None):
        if not shared_secret:
            raise ValueError("shared_secret is empty")
        self.committer = committer
        self.curve = curve
        self._secret = bytes(shared_secret)
        self._keys = (bytes(ours), bytes(theirs)) if committer else (bytes(theirs), bytes(ours))
        # the versions offered, (ours, theirs) as given, committer's first in the code
        self._offers = b"" if offers is None else bytes(
            offers if committer else offers[::-1])
        self._own = random(NONCE_BYTES)        # our nonce, drawn once for this key pair
        self._commit = commitment(self._own) if committer else b""   # the commitment held
        self._theirs = b""                     # their nonce, once received (and checked)
        self.state = COMPARING
        self.code: ShortAuthString | None = None
        self.problem = ""
        self.started = False
        self.repeated = False        # the last `receive` was a step we had taken already

    # -- what we send ------------------------------------------------------------------------

    def start(self) -> list[Message]:
        """The committer's first message (once); a revealer waits for the commitment."""
        if self.started:
            return []
        self.started = True
        return self.pending()

    def pending(self) -> list[Message]:
        """What the peer may still need from us (nothing once it has all it needs)."""
        if self.state == FAILED:
            return []
        if self.committer:
            out = [(P.SAS_COMMIT, {"commit": self._commit.hex()})]
            if self._theirs:
                out.append((P.SAS_REVEAL, {"nonce": self._own.hex()}))
            return out
        if self._commit and not self._theirs:
            return [(P.SAS_NONCE, {"nonce": self._own.hex()})]
        return []

    # -- what arrives ------------------------------------------------------------------------

    def receive(self, kind: str, body: dict) -> list[Message]:
        """Take one checked body (`protocol.validate_sas`) from the peer."""
        self.repeated = False
        if self.state == FAILED:
            return []
        if kind == P.SAS_COMMIT:
            return self._on_commit(bytes.fromhex(body["commit"]))
        if kind in (P.SAS_NONCE, P.SAS_REVEAL):
            nonce = bytes.fromhex(body["nonce"])
            if self.committer and kind == P.SAS_NONCE:
                return self._on_nonce(nonce)
            if not self.committer and kind == P.SAS_REVEAL:
                return self._on_reveal(nonce)
        self._refuse(f"a {kind} out of turn (we {'commit' if self.committer else 'reveal'} "
                     "in this exchange) was ignored")
        return []

    def _on_commit(self, commit: bytes) -> list[Message]:
        if self.committer:
            self._refuse("a commitment from the peer was ignored: we commit in this exchange")
            return []
        if not self._commit:
            self._commit = commit
            self.started = True
            return self.pending()
        if hmac.compare_digest(commit, self._commit):
            self.repeated = True
            return self.pending()     # a re-send after a reconnect: the same answer
        self._refuse("a second, different commitment was refused: one guess per key pair")
        return []

    def _on_nonce(self, nonce: bytes) -> list[Message]:
        if not self._theirs:
            self._theirs = nonce
            self._finish(self._own, nonce)
            return [(P.SAS_REVEAL, {"nonce": self._own.hex()})]
        if hmac.compare_digest(nonce, self._theirs):
            self.repeated = True
            return [(P.SAS_REVEAL, {"nonce": self._own.hex()})]
        self._refuse("a second, different nonce was refused: one guess per key pair")
        return []

    def _on_reveal(self, nonce: bytes) -> list[Message]:
        if not self._commit:
            self._refuse("a nonce arrived before any commitment and was ignored")
            return []
        if self._theirs:
            return []                 # done already (a re-send)
        if not hmac.compare_digest(commitment(nonce), self._commit):
            self.state = FAILED
            self.problem = ("the peer's nonce does not open its commitment: no code (someone "
                            "changed the exchange)")
            return []
        self._theirs = nonce
        self._finish(nonce, self._own)
        return []

    def _finish(self, committer_nonce: bytes, revealer_nonce: bytes) -> None:
        self.code = from_bytes(sas_bytes(
            self._secret, curve=self.curve, committer_key=self._keys[0],
            revealer_key=self._keys[1], committer_nonce=committer_nonce,
            revealer_nonce=revealer_nonce, offers=self._offers))
        self.state = DONE

    def _refuse(self, why: str) -> None:
        self.problem = why


class Exchanges:
    """The exchange of each key pair, by (room, peer, their key, our key), kept for the
    session's life (at most `size`, the least recently used dropped) so that a re-join finds
    the exchange it had, nonces and all."""

    def __init__(self, size: int = MAX_EXCHANGES):
        self.size = size
        self._items: OrderedDict[tuple, Exchange] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, *, room: str, me: str, peer: str, theirs: bytes, ours: bytes,
            shared_secret: bytes, curve: str,
            offers: tuple[int, int] | None = None) -> Exchange:
        """`offers`: the versions (ours, theirs) the two key shares offered, bound into the
        code (None: not bound)."""
        key = (room, peer, bytes(theirs), bytes(ours), offers)
        exchange = self._items.get(key)
        if exchange is None or exchange.curve != curve:
            exchange = Exchange(committer=is_committer(me, peer), shared_secret=shared_secret,
                                curve=curve, ours=ours, theirs=theirs, offers=offers)
            self._items[key] = exchange
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return exchange


def keys_only_bytes(shared_secret: bytes, *, curve: str, public_a: bytes,
                    public_b: bytes) -> bytes:
    """The code as it was before the commitment (v1: the secret and the sorted keys, no
    nonces), kept to show why that is not enough (notebook 04, the tests): a relay can try
    keys until it matches. Not used for any code a card shows."""
    if not shared_secret:
        raise ValueError("shared_secret is empty")
    info = b"ecc-chat-lab sas v1" + _parts(curve.encode("ascii"),
                                          *sorted((bytes(public_a), bytes(public_b))))
    return crypto.hkdf_sha256(shared_secret, info=info, length=SAS_BYTES)


# -- on the wire: v1 messages of their own kinds, outside the chat's sequence numbers --------
SEQ = 0     # the sequence number every short-code message carries: none of the chat's


def seal(key: bytes, kind: str, body: dict, *, room: str, sender: str, receiver: str,
         curve: str, message_id: str) -> dict:
    """A ``send-message`` payload (without ``targetSocketId``) carrying `body`: AES-256-GCM
    under the pair's message key, the associated data of a v1 message of `kind` with
    ``seq`` 0. A replay is harmless (each step answers the same again) and a message sealed
    under an earlier key does not open."""
    return envelope.V1.encrypt(key, json.dumps(body, separators=(",", ":")).encode(),
                               envelope.Context(room, sender, receiver, curve),
                               message_id=message_id, seq=SEQ, kind=kind).payload


def open_sealed(key: bytes, message: dict | envelope.Envelope, *, room: str, sender: str,
                receiver: str, curve: str) -> tuple[str, dict]:
    """(kind, body) of a received short-code message (a payload, or its envelope),
    checked; a ValueError whose text starts with a rejection word (malformed, wrong curve,
    tampered) otherwise."""
    payload = message.payload if isinstance(message, envelope.Envelope) else message
    kind = payload.get("kind")
    if kind not in P.SAS_KINDS:
        raise ValueError(f"malformed: not a short-code message kind: {kind!r:.40}")
    if envelope.version_of(payload) is not envelope.V1 or payload.get("seq") != SEQ:
        raise ValueError(f"malformed: a {kind} needs v {P.PROTOCOL_VERSION} and seq {SEQ}")
    if payload.get("curve") != curve:
        raise ValueError(f"wrong curve: the {kind} is not on {curve}")
    text = payload.get("encryptedMessage")
    if not isinstance(text, str) or len(text) > 4 * (P.MAX_SAS_BODY // 3 + 1):
        raise ValueError(f"malformed: a {kind} holds at most {P.MAX_SAS_BODY} bytes")
    env = message if isinstance(message, envelope.Envelope) else envelope.parse(payload)
    try:
        data = envelope.V1.decrypt(key, env, envelope.Context(room, sender, receiver, curve))
    except crypto.DecryptionError:
        raise ValueError(f"tampered: the {kind} failed authentication") from None
    try:
        return kind, P.validate_sas(kind, data)
    except P.ProtocolError as exc:
        raise ValueError(f"malformed: {exc}") from None
