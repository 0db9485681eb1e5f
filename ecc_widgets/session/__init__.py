"""The headless session model (no widgets), one job per module:

- `records`: the published records (Peer, ChatMessage, LogEntry), statuses, reasons, errors
- `keygen`: the educational trace of Q = d x G and what a view shows of it
- `channel`: message protection with one peer, sans-IO (associated data, seal/open,
  replay window, receipts)
- `delivery`: the outbox (epochs, acknowledgements, receipts, re-sends)
- `pairs`: each peer's key, key agreement, and the Peer record
- `shortcode`: the short code's commitment exchange with each peer (`ecc_widgets.sas`)
- `link`: the relay client (`Link`, injected) and what (re)joining says (`Membership`)
- `effects`: what the core gives back besides its state (`Emit`, `Later`, `Changes`)
- `state`: the state a session core publishes and the helpers that change it
- `events`: what the relay tells a session core (the client's news, room events)
- `core`: the sans-IO `SessionCore`: the actions, and `take()` for what they left
- `model`: the traitlets `Session`, a thin adapter that feeds the core and publishes it
"""

from ecc_widgets.session.core import SessionCore
from ecc_widgets.session.keygen import KeygenTrace, keygen_trace
from ecc_widgets.session.link import GivenRelay, RelayLocator
from ecc_widgets.session.model import Session
from ecc_widgets.session.records import (
    DOWNGRADE,
    LEGACY_NOTE,
    MALFORMED,
    MISMATCH_NOTE,
    NO_KEY,
    REFLECTED,
    REORDERED,
    REPLAYED,
    STATUSES,
    TAMPERED,
    TOPICS,
    WRONG_CURVE,
    ChatMessage,
    LogEntry,
    Peer,
    SessionError,
)
from ecc_widgets.session.state import DEFAULT_CURVE

# The session's public face: the model and its core, the records they publish and the
# words they use. The parts (channel, delivery, ...) are imported from their modules.
__all__ = [
    "DEFAULT_CURVE", "DOWNGRADE", "LEGACY_NOTE", "MALFORMED", "MISMATCH_NOTE", "NO_KEY",
    "REFLECTED", "REORDERED", "REPLAYED", "STATUSES", "TAMPERED", "TOPICS", "WRONG_CURVE",
    "ChatMessage", "GivenRelay", "KeygenTrace", "LogEntry", "Peer", "RelayLocator",
    "Session", "SessionCore", "SessionError", "keygen_trace",
]
