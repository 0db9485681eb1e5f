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

from ecc_widgets.session.channel import (
    KEYS_PER_PEER,
    MAX_RECEIPT_IDS,
    RECEIPT,
    REPLAY_WINDOW,
    Accepted,
    Channel,
    Duplicate,
    KeyState,
    KeyStates,
    Rejected,
    ReplayWindow,
    Sealed,
    associated_data,
)
from ecc_widgets.session.keygen import TOY_CURVE, KeygenTrace, keygen_trace
from ecc_widgets.session.link import GivenRelay, RelayLocator
from ecc_widgets.session.model import Session
from ecc_widgets.session.records import (
    DOWNGRADE,
    LEGACY,
    LEGACY_NOTE,
    LEGACY_OFFERED,
    MALFORMED,
    MAX_HISTORY,
    MAX_PLAINTEXT,
    MAX_REJECTED_KEPT,
    MISMATCH_NOTE,
    NO_KEY,
    PANELS,
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
from ecc_widgets.session.state import DEFAULT_CURVE, MAX_VIEW, RECEIPT_DELAY

__all__ = [
    "DEFAULT_CURVE", "DOWNGRADE", "KEYS_PER_PEER", "LEGACY", "LEGACY_NOTE", "LEGACY_OFFERED",
    "MALFORMED", "MAX_HISTORY", "MAX_PLAINTEXT", "MAX_RECEIPT_IDS", "MAX_REJECTED_KEPT",
    "MAX_VIEW", "MISMATCH_NOTE", "NO_KEY", "PANELS", "RECEIPT", "RECEIPT_DELAY", "REFLECTED",
    "REORDERED", "REPLAYED", "REPLAY_WINDOW", "STATUSES", "TAMPERED", "TOPICS", "TOY_CURVE",
    "WRONG_CURVE", "Accepted", "Channel", "ChatMessage", "Duplicate", "GivenRelay",
    "KeyState", "KeyStates", "KeygenTrace", "LogEntry", "Peer", "RelayLocator", "Rejected",
    "ReplayWindow", "Sealed", "Session", "SessionError", "associated_data", "keygen_trace",
]
