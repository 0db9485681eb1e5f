"""The Double Ratchet on the pair's curve, and the lesson that steals from it.

- `core`: the algorithm as Signal's specification (revision 1) defines it, sans-IO:
  `Ratchet.alice` / `Ratchet.bob`, `seal`, `open` (a transaction: a refused message changes
  nothing), the header {dh, n, pn}, KDF_RK / KDF_CK, MAX_SKIP and the bound on kept skipped
  keys; `SymmetricRatchet` and `StaticPair` for the comparison.
- `steal`: take one item (message key, chain key, whole state, pair key), try every logged
  ciphertext with it, and say which opened and why.
"""

from ecc_widgets.ratchet.core import (
    BAD_KEY,
    MALFORMED,
    MAX_SKIP,
    MAX_SKIPPED_KEYS,
    NO_CHAIN,
    REPLAYED,
    TAMPERED,
    TOO_FAR,
    Header,
    Opened,
    Ratchet,
    RatchetRefused,
    RatchetState,
    Sealed,
    StaticPair,
    Step,
    SymmetricRatchet,
    concat,
    coordinates,
    kdf_ck,
    kdf_rk,
    root_key_from_session_key,
    short_fingerprint,
)
from ecc_widgets.ratchet.steal import (
    ITEMS,
    ONE_WAY,
    SCHEMES,
    Logged,
    StolenChainKey,
    StolenMessageKey,
    StolenPairKey,
    StolenState,
    Verdict,
    compare_schemes,
    converse,
    exposure,
    steal,
    steal_chain_key,
    steal_message_key,
    steal_state,
)

__all__ = [
    "BAD_KEY", "ITEMS", "MALFORMED", "MAX_SKIP", "MAX_SKIPPED_KEYS", "NO_CHAIN", "ONE_WAY",
    "REPLAYED", "SCHEMES", "TAMPERED", "TOO_FAR", "Header", "Logged", "Opened", "Ratchet",
    "RatchetRefused", "RatchetState", "Sealed", "StaticPair", "Step", "StolenChainKey",
    "StolenMessageKey", "StolenPairKey", "StolenState", "SymmetricRatchet", "Verdict",
    "compare_schemes", "concat", "converse", "coordinates", "exposure", "kdf_ck", "kdf_rk",
    "root_key_from_session_key", "short_fingerprint", "steal", "steal_chain_key",
    "steal_message_key", "steal_state",
]
