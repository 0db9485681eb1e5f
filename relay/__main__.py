"""``python -m relay`` / ``ecc-relay``: run the relay until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Sequence

from relay import config as relay_config


def main(argv: Sequence[str] | None = None) -> int:
    config = relay_config.load(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # python-socketio and engineio log payloads at INFO/DEBUG: they stay quiet whatever
    # the relay's level, so nothing secret reaches a log
    for name in ("socketio", "engineio", "socketio.server", "engineio.server"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    from relay.app import serve  # after logging is set up

    # Fewer, cheaper garbage collections: what is loaded by now lives for the whole run
    # (frozen out of every collection), and young collections run less often, so the
    # tail latency under load does not pay for rescanning thousands of connection objects.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional (not on Windows)
        return asyncio.run(serve(config))
    return uvloop.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())
