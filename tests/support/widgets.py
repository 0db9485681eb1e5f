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
