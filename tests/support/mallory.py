"""The attacker's HTTP API of a relay in attack mode (``--attacks``), as a teacher calls it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

TOKEN = "teacher-token-for-tests"


def call(url: str, path: str, body: dict | None = None, token: str | None = TOKEN,
         method: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url + path, data=None if body is None else json.dumps(body).encode(),
        method=method or ("GET" if body is None else "POST"),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def room_state(url: str, room: str) -> dict:
    status, state = call(url, "/mallory/api/state")
    assert status == 200
    return state["rooms"].get(room, {"members": [], "attacks": {}, "intercepted": []})
