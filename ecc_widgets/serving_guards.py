"""What stands between a class and the Voila server of its dashboard (`ecc_widgets.serving`).

Everything a page, a script or another site sends is hostile. Four guards:

- **Framing**: a kernel's websocket carries Jupyter messages framed as the client chose when
  it connected: the "v1" subprotocol (``v1.kernel.websocket.jupyter.org``, 8-byte
  little-endian offsets), or, with no subprotocol, the legacy framing (a 4-byte big-endian
  count and offsets). Voila 0.5's handler reads every binary reply as v1, so a legacy
  connection's first reply with buffers (any widget's ``request_state``) makes it iterate
  over ~10^17 misread offsets: the server's one thread spins and its memory climbs until it
  is killed (docs/upstream-voila-binary-framing.md). jupyter_server reads the count of a
  client's own binary message the same way, unbounded. `GuardedConnection` refuses legacy
  connections to Voila's handler and closes a socket whose binary frame is malformed (too
  many parts, offsets out of order or out of the frame) before it is parsed; `OwnedChannels`
  reads replies' headers with the same bounds.
- **A kernel belongs to its page**: the page's answer sets a secret in HttpOnly,
  SameSite=Strict cookies scoped to that kernel's own URLs (``ecc_kernel`` for
  ``/api/kernels/<id>``, ``ecc_shutdown`` for ``/voila/api/shutdown/<id>``); the kernel's
  REST endpoints, its websocket and its shutdown answer 403 to any request without it. A
  kernel id seen in a page, a URL or a log is useless without the page's cookie.
- **Page loads cost little until used**: Voila runs the notebook, in a new kernel, for each
  GET of the page. A GET that is not a top-level navigation of the browser (another site's
  ``<iframe>`` or ``<img>``, a foreign ``Origin``, a cross-site ``Referer`` or fetch) is
  answered 403 without a kernel. At most `PENDING_PER_ADDRESS` pages per client address may
  be loading or waiting for their kernel's websocket (``ECC_LAB_PAGES_PER_ADDRESS`` sets
  more, for a class behind one address); more answer 429, "Too many pages". A page whose
  kernel gets no websocket within `CLAIM_TIMEOUT` seconds of its answer is shut down.
- **Paths**: a file path with ``..``, ``.``, empty or backslashed parts is 404 (Voila
  answered 500 for templates, from an assertion, and 403 elsewhere), as is a template path
  that is not ``<template>/static/<file>``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

from jupyter_core.utils import ensure_async
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from jupyter_server.services.kernels.handlers import KernelHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import PeriodicCallback
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.static_file_handler import (
    AllowListFileHandler,
    MultiStaticFileHandler,
    TemplateStaticFileHandler,
)
from voila.tornado.handler import TornadoVoilaHandler
from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler

log = logging.getLogger("Voila")

V1 = "v1.kernel.websocket.jupyter.org"
# A message is a channel, header, parent header, metadata, content, then its buffers; a widget
# message has a handful of buffers. More parts than this is not a message of this app.
MAX_PARTS = 64
# The page's secret, one cookie per kind of URL of its kernel (a cookie's path scopes it)
COOKIES = {"api/kernels": "ecc_kernel", "voila/api/shutdown": "ecc_shutdown"}
CLAIM_TIMEOUT = 30.0       # seconds after its answer a page has to connect its kernel
PENDING_PER_ADDRESS = 6    # pages per client address waiting for their kernel's websocket
ENV_PENDING = "ECC_LAB_PAGES_PER_ADDRESS"  # more, for a class behind one address (a NAT)
CHECK_INTERVAL = 5.0       # how often unclaimed pages are looked for, in seconds
TOO_MANY_PAGES = ("Too many pages are opening from your address. Close the tabs you do not "
                  "use, wait half a minute, and reload.\n")
NOT_HERE = "This dashboard is not served inside other sites' pages.\n"
NOT_YOURS = "This kernel belongs to another page.\n"
LEGACY_REFUSED = f"Only the {V1} subprotocol is served.\n"


# --- framing --------------------------------------------------------------------------------

def v1_offsets(frame: bytes) -> list[int] | None:
    """The offsets of a v1 frame (count, then that many offsets, 8-byte little-endian), or
    None when they cannot be those of a message: too many, out of order, out of the frame."""
    if len(frame) < 8:
        return None
    count = int.from_bytes(frame[:8], "little")
    if not 3 <= count <= MAX_PARTS + 2 or len(frame) < 8 * (count + 1):
        return None
    offsets = [int.from_bytes(frame[8 * (i + 1):8 * (i + 2)], "little") for i in range(count)]
    return offsets if _ordered(offsets, 8 * (count + 1), len(frame)) else None


def legacy_offsets(frame: bytes) -> list[int] | None:
    """The offsets of a legacy binary frame (count, then offsets, 4-byte big-endian), or
    None when they cannot be those of a message."""
    if len(frame) < 4:
        return None
    count = int.from_bytes(frame[:4], "big")
    if not 1 <= count <= MAX_PARTS + 1 or len(frame) < 4 * (count + 1):
        return None
    offsets = [int.from_bytes(frame[4 * (i + 1):4 * (i + 2)], "big") for i in range(count)]
    return offsets if _ordered(offsets, 4 * (count + 1), len(frame)) else None


def _ordered(offsets: list[int], start: int, end: int) -> bool:
    in_order = all(a <= b for a, b in zip(offsets, offsets[1:], strict=False))
    return in_order and offsets[0] >= start and offsets[-1] <= end


def reply_header(frame: bytes, v1: bool) -> dict | None:
    """The header of a binary reply in either framing, read within bounds (None if it has
    none): what Voila's handler needs to drop ``execute_input`` replies."""
    import json

    if v1:
        offsets = v1_offsets(frame)
        if offsets is None or len(offsets) < 3:
            return None
        raw = frame[offsets[1]:offsets[2]]
        try:
            header = json.loads(raw)
        except ValueError:
            return None
    else:
        offsets = legacy_offsets(frame)
        if offsets is None:
            return None
        end = offsets[1] if len(offsets) > 1 else len(frame)
        try:
            header = json.loads(frame[offsets[0]:end]).get("header")
        except (ValueError, AttributeError):
            return None
    return header if isinstance(header, dict) else None


def offered_v1(handler) -> bool:
    """Whether the websocket handshake offers the v1 subprotocol."""
    offered = handler.request.headers.get("Sec-WebSocket-Protocol", "")
    return V1 in (p.strip() for p in offered.split(","))


class GuardedConnection(ZMQChannelsWebsocketConnection):
    """jupyter_server's kernel websocket connection, with the framing guarded (see the
    module's notes): legacy framing refused where Voila's handler would misread it, each
    binary frame checked before it is parsed."""

    async def prepare(self):
        handler = self.websocket_handler
        if isinstance(handler, VoilaKernelWebsocketHandler) and not offered_v1(handler):
            log.warning("Refused a kernel websocket without the %s subprotocol", V1)
            refuse(handler, 400, LEGACY_REFUSED)
            raise web.Finish()  # the request is answered: no upgrade, no error page
        await super().prepare()

    def handle_incoming_message(self, incoming_msg) -> None:
        v1 = self.subprotocol == V1
        if v1 and not isinstance(incoming_msg, bytes):
            return self._refuse("a text frame on a v1 connection")
        if isinstance(incoming_msg, bytes):
            offsets = v1_offsets(incoming_msg) if v1 else legacy_offsets(incoming_msg)
            if offsets is None or (v1 and len(offsets) < 6):
                return self._refuse("a malformed binary frame")
        return super().handle_incoming_message(incoming_msg)

    def _refuse(self, what: str) -> None:
        log.warning("Closed the websocket of kernel %s: %s", self.kernel_id, what)
        self.websocket_handler.close(1003, "malformed message")


# --- pages and their kernels ----------------------------------------------------------------

@dataclass
class Page:
    """A page served, until its kernel's websocket connects."""

    address: str
    secret: str
    answered: float | None = None  # monotonic time the page's answer ended
    claimed: bool = False
    kernel_id: str | None = None


class Pages:
    """The pages served by this process: who owns which kernel, who is waiting."""

    def __init__(self) -> None:
        self.by_kernel: dict[str, Page] = {}
        self.pending = Counter()  # client address -> pages served or starting, not connected
        self.checker: PeriodicCallback | None = None

    def start_checking(self, kernel_manager) -> None:
        if self.checker is None:
            self.checker = PeriodicCallback(lambda: self.check(kernel_manager),
                                            CHECK_INTERVAL * 1000)
            self.checker.start()

    def release(self, page: Page) -> None:
        if not page.claimed:
            page.claimed = True
            self.pending[page.address] -= 1
            if self.pending[page.address] <= 0:
                del self.pending[page.address]

    def owner(self, kernel_id: str, cookie: str) -> Page | None:
        page = self.by_kernel.get(kernel_id)
        if page is None or not hmac.compare_digest((cookie or "").encode(), page.secret.encode()):
            return None
        return page

    def forget_gone(self, kernel_manager) -> None:
        """Release the pages whose kernel is gone (culled, shut down)."""
        live = set(kernel_manager.list_kernel_ids())
        for kernel_id, page in list(self.by_kernel.items()):
            if kernel_id not in live:
                self.release(page)
                del self.by_kernel[kernel_id]

    async def check(self, kernel_manager) -> None:
        now = time.monotonic()
        self.forget_gone(kernel_manager)
        unclaimed = []
        for kernel_id, page in list(self.by_kernel.items()):
            if not page.claimed and page.answered is not None \
                    and now - page.answered > CLAIM_TIMEOUT:
                log.info("Shutting down kernel %s: its page never connected", kernel_id)
                self.release(page)
                del self.by_kernel[kernel_id]
                unclaimed.append(kernel_id)
        # at once, and without the graceful wait: nobody ever used these kernels
        await asyncio.gather(*(ensure_async(kernel_manager.shutdown_kernel(k, now=True))
                               for k in unclaimed), return_exceptions=True)


PAGES = Pages()


def foreign(url: str, host: str) -> bool:
    """Whether `url` (an Origin or Referer) is of another site than `host` (``name:port``)."""
    try:
        return urlsplit(url).netloc.lower() != host.lower()
    except ValueError:
        return True


def embedded(request) -> bool:
    """Whether a page GET is anything but the browser's own top-level navigation to it:
    another site's frame or image, or a script's fetch from another origin."""
    h = request.headers
    dest, mode, site = (h.get(f"Sec-Fetch-{k}", "").lower() for k in ("Dest", "Mode", "Site"))
    if dest and dest != "document":
        return True
    if h.get("Origin") and foreign(h["Origin"], request.host):
        return True
    navigation = mode == "navigate"
    return not navigation and (site in ("cross-site", "same-site")
                               or bool(h.get("Referer") and foreign(h["Referer"], request.host)))


def pending_limit() -> int:
    """`PENDING_PER_ADDRESS`, or the number in ``ECC_LAB_PAGES_PER_ADDRESS``."""
    try:
        return max(1, int(os.environ.get(ENV_PENDING, PENDING_PER_ADDRESS)))
    except ValueError:
        return PENDING_PER_ADDRESS


class _StartRecorder:
    """The kernel manager as the page handler sees it: `start_kernel` tells the page which
    kernel is its own; everything else is the manager's."""

    def __init__(self, manager, started) -> None:
        self._manager = manager
        self._started = started

    def __getattr__(self, name):
        return getattr(self._manager, name)

    async def start_kernel(self, **kwargs):
        kernel_id = await ensure_async(self._manager.start_kernel(**kwargs))
        self._started(kernel_id)
        return kernel_id


class GuardedPage(TornadoVoilaHandler):
    """The dashboard page: refused when embedded, limited per address, its kernel its own."""

    page: Page | None = None

    @property
    def kernel_manager(self):
        return _StartRecorder(self.settings["kernel_manager"], self._kernel_started)

    def _kernel_started(self, kernel_id: str) -> None:
        self.page.kernel_id = kernel_id
        PAGES.by_kernel[kernel_id] = self.page
        for prefix, name in COOKIES.items():
            path = url_path_join(self.base_url, prefix, kernel_id)
            self.set_cookie(name, self.page.secret, path=path, httponly=True,
                            samesite="Strict")

    async def get(self, path=None):
        if embedded(self.request):
            return refuse(self, 403, NOT_HERE)
        address = self.request.remote_ip or ""
        if PAGES.pending[address] >= pending_limit():
            PAGES.forget_gone(self.settings["kernel_manager"])  # the culler may have been first
        if PAGES.pending[address] >= pending_limit():
            log.warning("Too many pages waiting for their kernel from %s", address)
            self.set_header("Retry-After", str(int(CLAIM_TIMEOUT)))
            return refuse(self, 429, TOO_MANY_PAGES)
        PAGES.start_checking(self.settings["kernel_manager"])
        self.page = Page(address=address, secret=secrets.token_urlsafe(32))
        PAGES.pending[address] += 1
        try:
            await super().get(path)
        finally:
            self.page.answered = time.monotonic()
            if self.page.kernel_id is None:  # no kernel was started for it
                PAGES.release(self.page)


def refuse(handler, status: int, text: str) -> None:
    """Answer `status` with a short plain text (not Jupyter's error page)."""
    handler.clear_header("Content-Security-Policy")
    handler.set_status(status)
    handler.set_header("Content-Type", "text/plain; charset=utf-8")
    handler.finish(text)


class _Owned:
    """Refuses a request for a kernel without the cookie of the page that started it."""

    cookie = COOKIES["api/kernels"]

    def owned(self) -> Page | None:
        """The page owning the kernel asked for, or None, the request refused (403)."""
        # Voila's routes name the kernel id (``kernel_id``) or not (its shutdown's)
        kernel_id = self.path_kwargs.get("kernel_id") or next(iter(self.path_args), "")
        page = PAGES.owner(kernel_id, self.get_cookie(self.cookie))
        if page is None:
            log.warning("Refused %s %s: not the page of that kernel", self.request.method,
                        self.request.path)
            refuse(self, 403, NOT_YOURS)
        return page


class OwnedKernel(_Owned, KernelHandler):
    async def prepare(self):
        if self.owned():
            await super().prepare()


class OwnedShutdown(_Owned, VoilaShutdownKernelHandler):
    cookie = COOKIES["voila/api/shutdown"]

    async def prepare(self):
        if self.owned():
            await super().prepare()


class OwnedChannels(_Owned, VoilaKernelWebsocketHandler):
    """Voila's kernel websocket for the page that owns the kernel; replies' headers read
    within bounds (Voila's own reader trusts the count it reads)."""

    page: Page | None = None

    async def get(self, kernel_id):
        if not offered_v1(self):
            log.warning("Refused a kernel websocket without the %s subprotocol", V1)
            return refuse(self, 400, LEGACY_REFUSED)
        self.page = self.owned()
        if self.page is not None:
            await super().get(kernel_id)

    async def open(self, kernel_id):
        PAGES.release(self.page)  # the page has connected its kernel
        await super().open(kernel_id)

    def write_message(self, message, binary=False):
        if isinstance(message, bytes):
            header = reply_header(message, self.selected_subprotocol == V1)
        elif isinstance(message, dict):
            header = message.get("header")
        else:
            header = None
        if header and header.get("msg_type") == "execute_input":
            return None
        # Voila's own write_message is the one that misreads; skip to jupyter_server's
        return super(VoilaKernelWebsocketHandler, self).write_message(message, binary)


def traversal(path: str) -> bool:
    """Whether a file path leaves its folder or is not plainly a path (``..``, ``.``, empty
    parts, backslashes, NUL)."""
    return "\\" in path or "\0" in path or any(p in ("", ".", "..") for p in path.split("/"))


class _Files:
    """A static file handler answering 404 to a path that tries to leave its folder."""

    def parse_url_path(self, path):
        if traversal(path):
            raise web.HTTPError(404)
        return super().parse_url_path(path)


class TemplateFiles(_Files, TemplateStaticFileHandler):
    """Voila's template files, 404 for a path that is not ``<template>/static/<file>``."""

    def parse_url_path(self, path):
        parts = path.split("/")
        if len(parts) < 3 or parts[1] != "static":
            raise web.HTTPError(404)
        return super().parse_url_path(path)


class StaticFiles(_Files, MultiStaticFileHandler):
    pass


class AllowedFiles(_Files, AllowListFileHandler):
    pass


HANDLERS = {
    TornadoVoilaHandler: GuardedPage,
    KernelHandler: OwnedKernel,
    VoilaShutdownKernelHandler: OwnedShutdown,
    VoilaKernelWebsocketHandler: OwnedChannels,
    TemplateStaticFileHandler: TemplateFiles,
    MultiStaticFileHandler: StaticFiles,
    AllowListFileHandler: AllowedFiles,
}


def guarded(handlers: list) -> list:
    """Voila's handler table with ours in place of the ones guarded above."""
    return [(spec[0], HANDLERS.get(spec[1], spec[1]), *spec[2:]) for spec in handlers]
