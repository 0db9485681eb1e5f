"""Serving a class from one process: every student's dashboard in one Solara server.

Voila gives each page a kernel of its own: one Python process of ~150 MB per student, started
while the page loads. Solara's server runs the same ipywidgets app (`EccApp`, unchanged) in a
*virtual kernel* per page, all in one process: a page costs a few MB, and nothing starts
until the page's websocket connects, so a bare GET of the page costs nothing. `ecc-lab`
serves with this by default (`--engine voila` for Voila; README "Running it for a class" has
the figures that decided it).

    python -m ecc_widgets.solara_serving --host 127.0.0.1 --port 8866

The page itself is `ecc_widgets.solara_serving.page`.

The settings, and why:

- A page whose websocket is gone (closed tab, killed phone tab, crashed browser, closed lid)
  has its virtual kernel shut down `CULL_TIMEOUT` after the server noticed, and the kernel's
  close leaves the room (`EccApp.close` closes its session). The server notices a closed
  socket at once and a silent one (a phone asleep) by websocket pings: at most
  `PING_INTERVAL + PING_TIMEOUT`. A page that is merely slow to connect has no kernel yet,
  so there is nothing to cull.
- Everything the page loads comes from installed packages (`solara-assets` ships the
  front-end Solara would otherwise ask a CDN for; the two are pinned together); the
  version check and the telemetry Solara does by default are off.
- The session cookie is signed with a key made at start-up, never the default one, and is
  HttpOnly. A page's virtual kernel answers only the browser session that made it (Solara
  refuses a kernel id presented with another session's cookie).
- One page, or one address, cannot make the process work for many: see `guard`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys

# The page Solara serves. A module of its own, one level down: Solara imports every submodule
# of a package it is given, and looks for page templates in the folder above the page's
# (ecc_widgets/templates: the disconnected banner).
APP_MODULE = "ecc_widgets.solara_serving.page"
TITLE = "ECC Chat Lab"
CULL_TIMEOUT = 12       # seconds a virtual kernel with no page connected is kept
PING_INTERVAL = 5.0     # seconds between websocket pings
# Seconds a ping may wait for its pong before the socket is closed: generous, as a laptop
# serving a class that opens thirty pages at once answers slowly for a while.
PING_TIMEOUT = 12.0
# How long a page that lost its connection may be gone before it leaves the room, at most.
GONE_AFTER = CULL_TIMEOUT + PING_INTERVAL + PING_TIMEOUT


def settings_environment() -> dict[str, str]:
    """Solara reads its settings from the environment when it is first imported."""
    return {
        "SOLARA_APP": APP_MODULE,
        "SOLARA_KERNEL_CULL_TIMEOUT": f"{CULL_TIMEOUT}s",
        "SOLARA_THEME_SHOW_BANNER": "False",
        "SOLARA_THEME_TITLE": TITLE,
        "SOLARA_THEME_LOADER": "plain",
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
        "SOLARA_ASSETS_PROXY": "True",      # serve the CDN files from solara-assets
        "SOLARA_SESSION_SECRET_KEY": secrets.token_urlsafe(32),
        "SOLARA_SESSION_HTTP_ONLY": "True",
        "SOLARA_SESSION_SAME_SITE": "lax",  # what it falls back to over HTTP, with a warning
        "SOLARA_MODE": "production",
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ecc_widgets.solara_serving",
        description="Serve the ECC Chat Lab dashboard, every page in one Solara process.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8866)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    for key, value in settings_environment().items():
        os.environ.setdefault(key, value)
    os.environ["SERVER_NAME"], os.environ["SERVER_PORT"] = args.host, str(args.port)
    import uvicorn
    from solara.server.starlette import app

    from ecc_widgets.solara_serving.guard import MAX_MESSAGE, PageGuard

    uvicorn.run(
        PageGuard(app), host=args.host, port=args.port,
        ws_ping_interval=PING_INTERVAL, ws_ping_timeout=PING_TIMEOUT, ws_max_size=MAX_MESSAGE,
        log_level="warning", access_log=False, timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
