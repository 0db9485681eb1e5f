"""Driving ipywidgets without a browser: find widgets by type and label, press Enter."""

from __future__ import annotations

import ipywidgets as widgets

EVIL = "<img src=x onerror=alert(1)>"


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def find(root, cls, **attrs):
    found = [w for w in walk(root) if isinstance(w, cls)
             and all(getattr(w, k, None) == v for k, v in attrs.items())]
    assert found, f"no {cls.__name__} with {attrs}"
    return found


def press_enter(text: widgets.Text, value: str | None = None) -> None:
    """What a browser sends on Enter: a "submit" message, then the committed value (if the
    text changed since it was last committed)."""
    text._handle_custom_msg({"event": "submit"}, [])
    if value is not None:
        text.value = value


def record_comms(monkeypatch) -> list[tuple[str, dict, list[bytes]]]:
    """Record every message widgets send to the front end from now on (comm open with the
    full state, each update, their binary buffers), as a browser would receive them."""
    import comm

    sent: list[tuple[str, dict, list[bytes]]] = []

    class RecordingComm(comm.DummyComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            sent.append((msg_type, data or {}, [bytes(b) for b in buffers or ()]))

    monkeypatch.setattr(comm, "create_comm", lambda *args, **kwargs: RecordingComm(
        *args, **kwargs))
    return sent


def live_states() -> list[tuple[dict, list[bytes]]]:
    """The full state of every open widget, with its buffers: what a browser that loads
    the page now is sent (ipywidgets answers its ``request_states`` with all of them)."""
    from ipywidgets.widgets.widget import _instances, _remove_buffers

    out = []
    for widget in list(_instances.values()):
        try:
            state = widget.get_state()
        except AttributeError:
            # an open widget holding a closed one (left by an earlier test): its state
            # cannot be built, so no page is sent it either
            continue
        state, _paths, buffers = _remove_buffers(state)
        out.append((state, [bytes(b) for b in buffers]))
    return out
