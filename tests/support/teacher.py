"""The teacher's console API of a relay started with ``--teacher``, as its page calls it."""

from __future__ import annotations

from tests.support.mallory import call

CONSOLE_TOKEN = "console-token-for-tests-0123456789"


def console(url: str, path: str, body: dict | None = None,
            token: str | None = CONSOLE_TOKEN) -> tuple[int, dict]:
    """``/teacher/api/<path>`` with the console's token (or ``token``): (status, JSON)."""
    return call(url, "/teacher/api/" + path, body, token=token)


def class_view(url: str) -> dict:
    """Every room the console lists, as ``GET /teacher/api/rooms`` answers."""
    status, state = console(url, "rooms")
    assert status == 200, status
    return state


def students(url: str, room: str) -> dict[str, dict]:
    """The console's rows of ``room``, by student name."""
    rooms = class_view(url)["rooms"]
    return {s["name"]: s for s in rooms.get(room, {}).get("students", ())}
