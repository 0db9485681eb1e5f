"""How the dashboard is served to a class: the Voila and Jupyter-server settings.

`ecc-lab` serves the dashboard through `main` here (``python -m ecc_widgets.serving``,
Voila's own command line plus these settings); another deployment (JupyterHub, Binder, a
``jupyter server`` with the Voila extension) gets the same with two lines in its
``jupyter_server_config.py``::

    from ecc_widgets.serving import configure
    configure(c)

The settings, and why:

- Voila shuts a tab's kernel down when the page unloads, with a POST carrying the ``_xsrf``
  cookie; Voila's page never sets that cookie, so the server refuses it (403) and every
  closed or reloaded tab left its kernel, and its user, in the room. A pre-launch hook sets
  the cookie with the page; the XSRF check stays on.
- Kernels that no page is connected to are culled after `CULL_IDLE_TIMEOUT` seconds (a tab
  whose unload never reached the server, a crashed browser, a bare ``curl`` of the page);
  a kernel with an open tab is never culled, however idle (``cull_connected=False``). A
  Voila that serves only the dashboard (`main`, ``ecc-lab --engine voila``) culls after
  `PAGE_GONE_TIMEOUT`: there a kernel no page is connected to is a page that is gone (a
  phone that killed the tab); a Jupyter server with notebooks keeps the longer wait.
- Kernels talk to the server over IPC (local sockets with file permissions) rather than
  loopback TCP: nothing else on the machine can connect to a student's kernel, and the kernel
  has no reason to warn "running over TCP without encryption".
- Voila's "Notebook ... is not trusted" warning is dropped: trust decides whether a notebook's
  stored outputs may run in JupyterLab; Voila runs the notebook and shows fresh outputs, so
  it says nothing about the dashboard.
- The "ecc" page template (Voila's lab template plus a banner) says "Disconnected from the
  server: reload the page to rejoin" when the page loses its kernel.
- With ``ECC_LAB_JOIN_URL`` set (``ecc-lab --host 0.0.0.0`` sets it to the address others can
  use), the page ends with a "Join from your phone" QR code of that address.

What a hostile client meets (`ecc_widgets.serving_guards` has the details):

- Everywhere (`configure`): a kernel websocket to Voila's handler must use the v1 framing
  (the legacy framing, which Voila misreads and spins on, is refused with 400:
  docs/upstream-voila-binary-framing.md), and a binary frame with more than 64 parts or
  offsets out of the frame closes the socket before it is parsed.
- Served by `main` (``ecc-lab``, ``python -m ecc_widgets.serving``), always, whatever the
  host: a kernel's REST endpoints, websocket and shutdown answer only the page that started
  it (HttpOnly cookies scoped to the kernel's URLs; 403 otherwise); a page GET that is not
  the browser's own navigation (another site's frame or image, a foreign Origin or Referer)
  is refused (403) before a kernel starts; at most 6 pages per address loading or not yet
  connected (``ECC_LAB_PAGES_PER_ADDRESS``), more answer 429 "Too many pages"; a page whose
  kernel gets no websocket within 30 s of its answer has its kernel shut down (checked every
  5 s); a file path with ``..`` or odd parts is 404.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import logging
import os
import sys
from pathlib import Path

TEMPLATE = "ecc"
# Where the "ecc" Voila template lives: a Jupyter data folder (share/jupyter layout).
DATA_DIR = Path(__file__).resolve().parent / "templates"
CULL_IDLE_TIMEOUT = 300   # seconds a kernel with no page connected may stay idle
CULL_INTERVAL = 30        # how often the server looks for such kernels
# The same, for a server of dashboards only (see the notes above); no shorter than the time
# a slow page has to connect (serving_guards.CLAIM_TIMEOUT).
PAGE_GONE_TIMEOUT = 30
PAGE_GONE_INTERVAL = 5
ENV_JOIN_URL = "ECC_LAB_JOIN_URL"


def prelaunch(handler, notebook=None, cwd=None):
    """Voila pre-launch hook: send the ``_xsrf`` cookie with the page, so the page's
    shutdown request on unload passes the server's XSRF check; add the join QR code."""
    handler.xsrf_token  # noqa: B018 - reading it sets the cookie (tornado)
    join_url = os.environ.get(ENV_JOIN_URL)
    if notebook is not None and join_url:
        # qrcode comes with the "app" extra; without it the page goes without the QR code
        with contextlib.suppress(ImportError):
            notebook.cells.append(join_cell(join_url))
    return notebook


def join_cell(url: str):
    """A markdown cell: "Join from your phone" and a QR code of `url` (inline SVG)."""
    import nbformat

    return nbformat.v4.new_markdown_cell(join_html(url))


def join_html(url: str) -> str:
    """ "Join from your phone" and a QR code of `url` (inline SVG), as HTML."""
    import qrcode
    import qrcode.image.svg

    svg = io.BytesIO()
    qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8).save(svg)
    data = base64.b64encode(svg.getvalue()).decode("ascii")
    shown = html.escape(url)
    return (f'<b>Join from your phone:</b> <code>{shown}</code><br><img alt="QR code of '
            f'{shown}" width="160" src="data:image/svg+xml;base64,{data}">')


class DropUntrusted(logging.Filter):
    """Drops "Notebook ... is not trusted" (see the module's notes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is not trusted" not in str(record.msg)


def use_templates() -> None:
    """Make the "ecc" template findable: Voila looks for templates in the Jupyter data path,
    read from the environment when the server starts."""
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if str(DATA_DIR) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(DATA_DIR), *paths])


def configure(c) -> None:
    """Apply the settings above to a traitlets config `c` (Voila's or Jupyter server's)."""
    use_templates()
    guarded = "ecc_widgets.serving_guards.GuardedConnection"
    c.Voila.kernel_websocket_connection_class = guarded
    c.ServerApp.kernel_websocket_connection_class = guarded
    c.VoilaConfiguration.template = TEMPLATE
    c.VoilaConfiguration.prelaunch_hook = prelaunch
    c.MappingKernelManager.cull_idle_timeout = CULL_IDLE_TIMEOUT
    c.MappingKernelManager.cull_interval = CULL_INTERVAL
    c.MappingKernelManager.cull_connected = False
    c.KernelManager.transport = "ipc"
    for name in ("Voila", "ServerApp"):
        logging.getLogger(name).addFilter(DropUntrusted())


def main(argv: list[str] | None = None) -> None:
    """Voila with `configure`'s settings; options on the command line win."""
    from traitlets.config import Config
    from voila import app

    from ecc_widgets import serving_guards

    class Voila(app.Voila):  # the name its log lines carry
        """Voila with the guarded handlers of `ecc_widgets.serving_guards`."""

        def init_handlers(self) -> list:
            return serving_guards.guarded(super().init_handlers())

    config = Config()
    configure(config)
    config.MappingKernelManager.cull_idle_timeout = PAGE_GONE_TIMEOUT
    config.MappingKernelManager.cull_interval = PAGE_GONE_INTERVAL
    Voila.launch_instance(argv=sys.argv[1:] if argv is None else argv, config=config)


if __name__ == "__main__":
    main()
