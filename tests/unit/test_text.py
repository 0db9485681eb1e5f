"""Names compare by the UTS #39 confusable skeleton; the demo peer's names are kept apart."""

from __future__ import annotations

import pytest

from ecc_widgets import protocol as P
from ecc_widgets.text import is_demo_peer_name, name_key, name_keys, normalize_name


def same_name(a: str, b: str) -> bool:
    """As the relay holds names (relay.roster.name_slots): one name if either key is."""
    return any(x == y for x, y in zip(name_keys(a), name_keys(b), strict=True))


@pytest.mark.parametrize(("lookalike", "name"), [
    ("\u0430\u04cf\u0456\u0441\u0435", "alice"),   # аӏісе: all Cyrillic
    ("\u0458\u043e\u0435", "joe"),                 # јое
    ("\u0435\u0475\u0435", "eve"),                 # еѵе
    ("\u0415\u0421\u0421", "ECC"),                 # ЕСС
    ("rn", "m"),                                   # UTS #39 maps m to rn
])
def test_names_written_wholly_in_another_script_are_the_latin_name(lookalike, name):
    assert normalize_name(lookalike) == lookalike   # one script: a fine name on its own
    assert name_key(lookalike) == name_key(name)


@pytest.mark.parametrize(("lookalike", "name"), [
    ("\u0392\u039f\u0392", "bob"),      # ΒΟΒ: Greek capitals (βοβ looks like nothing)
    ("\u0422\u041e\u041c", "Tom"),      # ТОМ: Cyrillic capitals
    ("\u041a\u0410\u0422\u0415", "kate"),
])
def test_names_in_capitals_that_look_like_a_name_are_that_name(lookalike, name):
    assert name_key(lookalike) != name_key(name)
    assert same_name(lookalike, name)


def test_distinct_names_stay_distinct():
    names = ["alice", "bob", "carol", "Борис", "Ελένη", "李雷", "joe", "jon", "eve", "ева"]
    assert not any(same_name(a, b) for a in names for b in names if a != b)
    assert name_key("Stra\u00dfe") == name_key("STRASSE")   # case folding stays


@pytest.mark.parametrize("name", ["demo-peer", "Demo Peer", "demo_peer-2", "DEMOPEER",
                                  "d\u0435mo-p\u0435\u0435r".replace("\u0435", "e"),
                                  "\uff44\uff45\uff4d\uff4f-peer"])
def test_demo_peer_names_are_kept_for_demo_peers(name):
    assert is_demo_peer_name(name)
    with pytest.raises(P.ProtocolError, match="kept for demo peers"):
        P.validate(P.JOIN, {"username": name, "roomId": "lab"})


def test_a_demo_peer_join_needs_its_token_and_its_summoner():
    token = "t" * 22
    ok = P.validate(P.JOIN, {"username": "demo-peer", "roomId": "lab", "visibleTo": "alice",
                             "inviteToken": token})
    assert ok["inviteToken"] == token and ok["visibleTo"] == "alice"
    with pytest.raises(P.ProtocolError, match="'visibleTo' and 'inviteToken' go together"):
        P.validate(P.JOIN, {"username": "bob", "roomId": "lab", "visibleTo": "alice"})
    with pytest.raises(P.ProtocolError, match="a demo peer's name is 'demo-peer'"):
        P.validate(P.JOIN, {"username": "bob", "roomId": "lab", "visibleTo": "alice",
                            "inviteToken": token})
    with pytest.raises(P.ProtocolError, match="'inviteToken' must be 22 to 128"):
        P.validate(P.INVITE, {"inviteToken": "short"})
    assert P.validate(P.INVITE, {"inviteToken": token}) == {"inviteToken": token}
    assert not is_demo_peer_name("demo") and not is_demo_peer_name("peer")


def test_the_count_of_hidden_members_is_a_count():
    base = {"username": "bob", "socketId": "s1", "usersInRoom": []}
    assert P.validate(P.USER_JOINED, {**base, "hiddenInRoom": 3})["hiddenInRoom"] == 3
    for bad in (-1, "3", True, 2.5):
        with pytest.raises(P.ProtocolError, match="'hiddenInRoom' must be a count"):
            P.validate(P.USER_LEFT, {**base, "hiddenInRoom": bad})
