"""The one way to wait for something that happens on another thread or in another process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT = 15.0


def wait_until(condition: Callable[[], T], timeout: float = TIMEOUT, what: str = "",
               interval: float = 0.01) -> T:
    """Poll `condition()` until it returns something true, and return that value.

    Raises AssertionError naming `what` after `timeout` seconds, so a test that waits in
    vain fails with what it waited for rather than hanging or passing.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)
