"""Short authentication strings: a code two people can compare aloud in seconds.

A safety number (``crypto.safety_number``) is computed from the two public keys alone; it is
long (60 digits) because it must also resist an attacker who tries many keys offline. A short
authentication string (SAS) is derived from the ECDH secret itself, as Matrix does for its
emoji verification: a relay that substituted keys shares a *different* secret with each side,
so the two screens show different emoji, and 42 bits are enough because the attacker has to
commit to its keys before it can see the result.

Exactly (for other implementations): 6 bytes of HKDF-SHA256 over the raw ECDH secret, salt
empty, info = b"ecc-chat-lab sas v1" || u16(len(curve)) || curve || u16(len(k1)) || k1
|| u16(len(k2)) || k2 (k1 <= k2 the two ``crypto.public_bytes``, compared bytewise). The
first 42 bits, 6 at a time, index Matrix's table of 64 emoji; the first 39 bits, 13 at a
time, plus 1000 give three 4-digit numbers (Matrix's "decimal" method).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecc_widgets import crypto

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


@dataclass(frozen=True)
class ShortAuthString:
    """Seven emoji (with their names, to read aloud) and three 4-digit numbers."""

    emoji: tuple[tuple[str, str], ...]
    numbers: tuple[int, int, int]

    @property
    def emoji_text(self) -> str:
        return " ".join(symbol for symbol, _name in self.emoji)

    @property
    def names(self) -> str:
        return ", ".join(name for _symbol, name in self.emoji)

    @property
    def numbers_text(self) -> str:
        return " ".join(str(n) for n in self.numbers)


def sas_bytes(shared_secret: bytes, *, curve: str, public_a: bytes, public_b: bytes) -> bytes:
    """The 6 bytes both sides derive from their ECDH secret (see the module docstring)."""
    if not shared_secret:
        raise ValueError("shared_secret is empty")
    info = b"ecc-chat-lab sas v1"
    for part in (curve.encode("ascii"), *sorted((bytes(public_a), bytes(public_b)))):
        info += len(part).to_bytes(2, "big") + part
    return crypto.hkdf_sha256(shared_secret, info=info, length=SAS_BYTES)


def from_bytes(data: bytes) -> ShortAuthString:
    """Matrix's emoji and decimal encodings of SAS bytes (at least 6)."""
    if len(data) < SAS_BYTES:
        raise ValueError(f"a short authentication string needs {SAS_BYTES} bytes")
    bits = int.from_bytes(data[:SAS_BYTES], "big")
    emoji = tuple(EMOJI[(bits >> (42 - 6 * i)) & 0x3F] for i in range(7))
    first39 = int.from_bytes(data[:5], "big") >> 1
    numbers = tuple(((first39 >> (26 - 13 * i)) & 0x1FFF) + 1000 for i in range(3))
    return ShortAuthString(emoji, numbers)  # type: ignore[arg-type]


def short_auth_string(shared_secret: bytes, *, curve: str, public_a: bytes,
                      public_b: bytes) -> ShortAuthString:
    """The code to compare aloud for one pair: equal on both screens unless someone sits in
    the middle (whose two ECDH secrets differ)."""
    return from_bytes(sas_bytes(shared_secret, curve=curve, public_a=public_a,
                                public_b=public_b))
