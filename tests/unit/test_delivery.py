"""The outbox without a relay: what is due when, acknowledgements, receipts, stale keys."""

from __future__ import annotations

from ecc_widgets.session.delivery import REFUSED, RETRY, SENT, Outbox, Outgoing

KEY, NEW_KEY = b"epoch-1", b"epoch-2"   # key epoch ids (Channel.epoch)


def outbox(*messages: tuple[str, str, bool]) -> Outbox:
    box = Outbox()
    for message_id, peer, legacy in messages:
        box.add(Outgoing(message_id, peer, {"id": message_id}, KEY, receipts=not legacy))
    return box


def here(**sids: str):
    return lambda peer: (sids[peer], KEY) if peer in sids else None


def test_messages_go_out_in_order_once_per_join_to_peers_who_are_here():
    box = outbox(("m1", "bob", False), ("m2", "carol", False), ("m3", "bob", False))
    box.joined()
    send, dropped = box.due(here(bob="sid-b"))
    assert [(o.id, sid) for o, sid in send] == [("m1", "sid-b"), ("m3", "sid-b")]
    assert dropped == []
    assert box.due(here(bob="sid-b", carol="sid-c"))[0][0][0].id == "m2"
    assert box.due(here(bob="sid-b", carol="sid-c")) == ([], [])  # nothing twice
    box.joined()  # the next join: everything unconfirmed again
    assert [o.id for o, _ in box.due(here(bob="b2", carol="c2"))[0]] == ["m1", "m2", "m3"]


def test_a_new_connection_or_a_peer_on_a_new_socket_makes_messages_due_again():
    box = outbox(("m1", "bob", False), ("m2", "carol", False))
    box.joined()
    box.due(here(bob="b", carol="c"))
    box.peer_moved("bob")
    assert [o.id for o, _ in box.due(here(bob="b2", carol="c"))[0]] == ["m1"]
    assert box.due(here(bob="b2", carol="c"))[0] == []
    box.new_connection()  # nothing is in flight on it (the model asks once it has joined)
    assert len(box.due(here(bob="b2", carol="c"))[0]) == 2


def test_messages_sealed_under_an_old_key_are_dropped_and_reported_if_never_acknowledged():
    box = outbox(("m1", "bob", False), ("m2", "bob", False))
    box.joined()
    box.due(here(bob="b"))
    assert box.acknowledged("m1", {"ok": True}, peer_moved=False) == (SENT, "")
    box.joined()
    send, dropped = box.due(lambda peer: ("b", NEW_KEY))
    assert send == [] and [o.id for o in dropped] == ["m2"]
    assert len(box) == 0


def test_acknowledgements_receipts_and_refusals():
    box = outbox(("m1", "bob", False), ("m2", "bob", True), ("m3", "bob", False),
                 ("m4", "bob", False))
    assert box.acknowledged("m1", None, peer_moved=False) == (SENT, "")
    assert box.acknowledged("m1", {"ok": True}, peer_moved=False) == ("", "")  # once
    assert box.get("m1") is not None                  # a v1 message waits for the receipt
    assert box.acknowledged("m2", {"ok": True}, peer_moved=False) == (SENT, "")
    assert box.get("m2") is None                      # a legacy one is done: no receipt
    assert box.acknowledged("m3", {"ok": False, "error": "gone"}, peer_moved=True) == \
        (RETRY, "gone")
    assert box.get("m3") is not None
    assert box.acknowledged("m4", {"ok": False, "error": "too big"}, peer_moved=False) == \
        (REFUSED, "too big")
    assert box.get("m4") is None
    assert box.confirmed("mallory", ["m1"]) == []     # only the peer it was for confirms
    assert box.confirmed("bob", ["m1", "m3", "unknown"]) == ["m1", "m3"]
    assert len(box) == 0
    assert box.acknowledged("m1", None, peer_moved=False) == ("", "")


def test_messages_waiting_for_a_key_are_sealed_when_it_comes_and_only_then_due():
    box = Outbox()
    box.add(Outgoing("w1", "bob", {}, b"", data=b"typed while bob was away"))
    box.add(Outgoing("s1", "bob", {"id": "s1"}, KEY, data=b"sealed, never passed on"))
    box.add(Outgoing("s2", "bob", {"id": "s2"}, KEY, data=b"passed on"))
    box.add(Outgoing("c1", "carol", {}, b"", data=b"for carol"))
    box.joined()
    assert box.waiting() == 2
    assert box.to_seal(lambda peer: b"") == []          # no key yet: they wait
    send, dropped = box.due(lambda peer: ("b", KEY) if peer == "bob" else None)
    assert [o.id for o, _ in send] == ["s1", "s2"] and dropped == []  # w1 is not sealed
    box.acknowledged("s2", {"ok": True}, peer_moved=False)
    # bob comes back with a new key: the unsealed one and the one never passed on are
    # sealed again, in order; the one the relay passed on is not
    keys = {"bob": NEW_KEY}
    todo = box.to_seal(lambda peer: keys.get(peer, b""))
    assert [o.id for o in todo] == ["w1", "s1"]
    for out in todo:
        box.sealed(out, {"id": out.id, "sealed": True}, NEW_KEY, receipts=True)
    assert box.to_seal(lambda peer: keys.get(peer, b"")) == [] and box.waiting() == 1
    send, dropped = box.due(lambda peer: ("b2", NEW_KEY) if peer == "bob" else None)
    assert [o.id for o, _ in send] == ["w1", "s1"]
    assert all(o.payload["sealed"] for o, _ in send)
    assert [o.id for o in dropped] == []                 # s2: passed on, not reported
