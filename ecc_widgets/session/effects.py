"""What the session core gives back besides its state: typed effects for its adapter.

The core (`core.SessionCore`) does no I/O and reads no clock of its own. Each input
(a user's action, a relay event, an acknowledgement, a timer) leaves effects behind, which
the adapter (`model.Session`) takes with `SessionCore.take` and carries out: emit to the
relay, run a core input later. `Changes` are the published values that changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Emit:
    """Send `event` with `payload` to the relay; `on_ack` (a core input, or None) takes
    the relay's acknowledgement. `shown`: the core put it in `relay_view`."""

    event: str
    payload: dict
    on_ack: Callable[[Any], None] | None = None
    shown: bool = True


@dataclass(frozen=True)
class Later:
    """Run `run` (a core input) after `delay` seconds; dropped if the client goes."""

    delay: float
    run: Callable[[], None]


Effect = Emit | Later


@dataclass(frozen=True)
class Changes:
    """What one or more inputs left: the effects in order, and the published values that
    were replaced (name -> new value)."""

    effects: tuple[Effect, ...] = ()
    published: dict[str, Any] = field(default_factory=dict)
