"""A panel that polls a relay's HTTP API (attack mode's, the teacher's console's) on a
background thread until closed; every failure is words on its error line, never raised."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import ipywidgets as widgets

from ecc_widgets.panels.common import LEVEL_COLOURS, LINE_LIMIT, close_tree, escape
from ecc_widgets.text import safe_text


def call_api(url: str, token: str, method: str, name: str, body: dict | None, *,
             timeout: float, error: type[Exception], refusals: dict[int, str],
             limit: int = 4 * 1024 * 1024) -> Any:
    """One call of a relay's JSON API (``url`` ends with the API's folder) with a Bearer
    token: the answer's JSON, or ``error`` in words (``refusals`` by HTTP status, e.g. the
    token refused or the feature off)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/{name}", data=data, method=method,
        headers={"Authorization": f"Bearer {token}",
                 **({"Content-Type": "application/json"} if data else {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        if exc.code in refusals:
            raise error(refusals[exc.code]) from None
        raise error(f"the relay answered {exc.code} to {name}: "
                    f"{safe_text(exc.read(300).decode(errors='replace'), 300)}") from None
    except (OSError, urllib.error.URLError) as exc:
        raise error(f"cannot reach the relay at {url}: "
                    f"{safe_text(str(getattr(exc, 'reason', exc)), 200)}") from None
    if len(raw) > limit:
        raise error(f"the relay's answer to {name} is too large")
    try:
        return json.loads(raw)
    except ValueError:
        raise error(f"the relay's answer to {name} is not JSON") from None


class PolledPanel(widgets.VBox):
    """``refresh()`` every ``interval`` seconds once `start_polling` is called, until
    `close`. ``api_error`` is the client's own failure (its message is shown as it is)."""

    api_error: type[Exception] = RuntimeError
    thread_name = "ecc-polled-panel"

    def __init__(self, client: Any, interval: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.client = client
        self.interval = interval
        self._lock = threading.RLock()
        self.error = widgets.HTML()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name=self.thread_name, daemon=True)

    def start_polling(self) -> None:
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.interval)

    def refresh(self) -> Any:
        raise NotImplementedError

    def act(self, action, *args: Any) -> Any:
        """Call the API; a failure becomes words on the panel and None."""
        try:
            return action(*args)
        except self.api_error as exc:
            self.show_error(str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure becomes words on the panel
            self.show_error(f"{type(exc).__name__}: {exc}")
        return None

    def show_error(self, text: str) -> None:
        value = (f'<div style="color:{LEVEL_COLOURS["error"]}">⚠ {escape(text, LINE_LIMIT)}'
                 "</div>" if text else "")
        if self.error.value != value:
            self.error.value = value

    def close(self) -> None:
        """Stop polling (waits for the thread) and close the widgets. Idempotent."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.client.timeout + self.interval + 1)
        with self._lock:
            close_tree(self)
