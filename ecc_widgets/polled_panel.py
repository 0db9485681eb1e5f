"""A panel that polls a relay's HTTP API (attack mode's, the teacher's console's) on a
background thread until closed; every failure is words on its error line, never raised."""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as widgets

from ecc_widgets.panels.common import LEVEL_COLOURS, LINE_LIMIT, close_tree, escape


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
