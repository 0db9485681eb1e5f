"""Sessions registered with kernel_hooks are closed when the process exits."""

from __future__ import annotations

import gc

from ecc_widgets import kernel_hooks
from ecc_widgets.session import Session


def test_close_all_closes_every_registered_session_even_after_a_failure():
    class Broken:
        def close(self):
            raise RuntimeError("already gone")

    broken, first, second = Broken(), Session(), Session()
    for session in (first, broken, second):
        kernel_hooks.close_at_exit(session)
    kernel_hooks.close_all()
    assert first.connection == second.connection == "disconnected"
    assert first._link.closed and second._link.closed


def test_registration_does_not_keep_a_session_alive():
    kernel_hooks.close_at_exit(Session())
    gc.collect()
    assert not any(isinstance(s, Session) and not s._link.closed
                   for s in kernel_hooks._sessions)
