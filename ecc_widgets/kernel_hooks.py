"""Leave the room when the kernel goes.

A closed or reloaded dashboard tab has its kernel shut down by the server (or culled when
idle). The session's Socket.IO client runs on a daemon thread, which would die with the
process without a word: the relay would keep the user in the room, and keep the name, until
its ping timed out. Closing the sessions at exit sends the disconnect at once, so a reloaded
tab gets its name back and the others see the peer leave.
"""

from __future__ import annotations

import atexit
import contextlib
import weakref

_sessions: weakref.WeakSet = weakref.WeakSet()
_registered = False


def close_at_exit(session) -> None:
    """Close `session` (leave its room, disconnect) when this process exits."""
    global _registered
    _sessions.add(session)
    if not _registered:
        atexit.register(close_all)
        _registered = True


def close_all() -> None:
    for session in list(_sessions):
        with contextlib.suppress(Exception):  # exiting: one failure must not keep the others
            session.close()
