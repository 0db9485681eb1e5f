"""The relay's bookkeeping per client address and per room (relay.admission), on a clock
the test moves."""

from __future__ import annotations

from relay.admission import Admission
from relay.policy import TokenBucket


def admission(**kw) -> Admission:
    options = dict(max_sockets=4, max_idle=2, join_timeout=5.0, address_rate=1.0,
                   address_burst=3, room_rate=1.0, room_burst=2)
    return Admission(**{**options, **kw})


def test_sessions_are_capped_per_address_and_idle_ones_go_oldest_first():
    a = admission()
    assert a.admit("s1", "203.0.113.7", now=0) == (True, [])
    assert a.admit("s2", "203.0.113.7", now=1) == (True, [])
    assert a.admit("s3", "203.0.113.7", now=2) == (True, ["s1"])   # over max_idle
    a.joined("s2")
    assert a.admit("s4", "203.0.113.7", now=3) == (True, [])
    assert a.admit("s5", "203.0.113.7", now=4)[0] is False         # 4 open: the cap
    assert a.admit("x1", "198.51.100.1", now=4)[0] is True         # another address
    assert a.expired(now=7.5) == ["s3"] and a.expired(now=9) == ["s3", "s4", "x1"]
    for sid in ("s1", "s3"):
        a.gone(sid)
    assert a.sockets["203.0.113.7"] == 2 and a.idle_count() == 2
    # loopback is this machine's own: not capped, never idle
    for n in range(10):
        assert a.admit(f"l{n}", "127.0.0.1", now=0) == (True, [])
    assert a.expired(now=100) == ["s4", "x1"]


def test_joins_per_address_and_churn_per_room():
    a = admission()
    assert [a.take_join("203.0.113.7", "lab", now=0) for _ in range(4)][-1] is not None
    assert a.take_join("198.51.100.1", "lab", now=0) is None     # another address
    a.left("lab", now=0)
    a.left("lab", now=0)
    a.left("lab", now=0)                                          # in debt now
    assert "leave and join room 'lab' too fast" in a.take_join("198.51.100.2", "lab", now=0)
    assert a.take_join("198.51.100.2", "other", now=0) is None   # another room
    assert a.take_join("198.51.100.2", "lab", now=2.5) is None   # refilled
    assert a.take_join("127.0.0.1", "quiet", now=0) is None      # loopback: rooms only


def test_a_bucket_charged_past_empty_refills_from_its_debt():
    bucket = TokenBucket(1.0, 2, now=0)
    for _ in range(5):
        bucket.charge(now=0)
    assert bucket.tokens == -2 and not bucket.has(now=2.5) and bucket.has(now=3.0)
