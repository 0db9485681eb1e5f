"""One rate limit for everyone: a token bucket (the relay's per-connection and per-address
limits, the pages' guards, the session's own budgets)."""

from __future__ import annotations

import time


class TokenBucket:
    """``take`` is true at most ``rate`` times a second, ``burst`` times at once.

    Times are seconds on any one clock: ``now`` if given (a session passes its own), else
    ``time.monotonic()``. A bucket created without ``now`` starts full and counts from its
    first use; time never running backwards is assumed nowhere (it refills nothing).
    """

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float | None = None):
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def _level(self, now: float) -> float:
        if self.stamp is None:
            return self.tokens
        return min(self.burst, self.tokens + max(now - self.stamp, 0.0) * self.rate)

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, self.stamp = self._level(now), now
        if tokens < 1.0:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1.0
        return True

    def has(self, now: float | None = None) -> bool:
        """Is there a token to take (without taking it)?"""
        return self._level(time.monotonic() if now is None else now) >= 1.0

    def charge(self, now: float | None = None) -> None:
        """Take a token that cannot be refused (what already happened): the bucket may go
        into debt, down to ``-burst``, and refills from there."""
        now = time.monotonic() if now is None else now
        tokens, self.stamp = self._level(now), now
        self.tokens = max(-self.burst, tokens - 1.0)

    def full(self, now: float | None = None) -> bool:
        """Refilled to ``burst``: a bucket that may be forgotten (a new one starts full)."""
        return self._level(time.monotonic() if now is None else now) >= self.burst
