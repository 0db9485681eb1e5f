"""The in-memory roster: names by name_key, the room size limit, visibleTo pairs."""

from __future__ import annotations

import asyncio

import pytest

from ecc_widgets.text import name_key
from relay.roster import MemoryRoster, NameTaken, RoomFull, can_see, roster_entries


def test_names_room_size_and_visibility():
    async def scenario():
        roster = MemoryRoster()
        await roster.add("lab", "s1", "Straße", "", limit=3)
        with pytest.raises(NameTaken):
            await roster.add("lab", "s2", "STRASSE", "", limit=3)
        await roster.add("lab", "s2", "bob", "", limit=3)
        members = await roster.add("lab", "s3", "demo", "", visible_to=name_key("straße"), limit=3)
        # a hidden member does not count against the cap, nor hold a name anyone else may
        # take: bob's demo peer may have the same name, and so may a visible member
        await roster.add("lab", "s6", "demo", "", visible_to=name_key("bob"), limit=3)
        await roster.add("lab", "s4", "demo", "", limit=3)
        with pytest.raises(RoomFull, match=r"room 'lab' is full \(3 members\)"):
            await roster.add("lab", "s7", "carol", "", limit=3)
        with pytest.raises(NameTaken):   # but one summoner's demo peers have distinct names
            await roster.add("lab", "s8", "DEMO", "", visible_to=name_key("straße"), limit=3)
        await roster.remove("s4")
        await roster.remove("s6")
        await roster.add("lab", "s3", "demo", "", visible_to=name_key("straße"), limit=3)
        owner, bob, demo = members
        assert can_see(owner, demo) and can_see(demo, owner) and can_see(demo, demo)
        assert not can_see(bob, demo) and not can_see(demo, bob)
        assert [e["username"] for e in roster_entries(members, bob)] == ["Straße", "bob"]
        assert [e["username"] for e in roster_entries(members, demo)] == ["Straße", "demo"]
        assert len(roster_entries(members)) == 3
        assert (await roster.counts())["hidden"] == 1
        await roster.remove("s1")
        await roster.add("lab", "s5", "strasse", "", limit=3)   # the name is free again
        with pytest.raises(NameTaken):   # Cyrillic capitals that look like Latin ones
            await roster.add("lab", "s9", "\u0412\u041e\u0412", "", limit=3)   # ВОВ
    asyncio.run(scenario())
