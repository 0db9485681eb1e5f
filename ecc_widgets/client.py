"""A Socket.IO connection to the relay that lives on its own thread and event loop.

Nothing here blocks the caller: a notebook cell calls `emit()` and returns at once, while a
private thread runs an asyncio loop with python-socketio's `AsyncClient` on it. The client
reconnects by itself (relay restarted, network dropped, relay shut down cleanly) with a
capped exponential backoff; every successful connect calls `on_connect`, where the session
re-joins its room and re-sends what the relay never acknowledged.

Callbacks (`on_event`, `on_connect`, `on_state`, ack callbacks) run on the client's thread.
An exception raised by one of them is reported through `on_error` and never stops the loop.
The client knows no event names: those live in `ecc_widgets.protocol`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import socketio

log = logging.getLogger(__name__)

# Connection states, as the session model shows them.
DISCONNECTED = "disconnected"
CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
CLOSED = "closed"

AckCallback = Callable[[Any], None]


class ClientClosedError(RuntimeError):
    """The client was closed; nothing more can be sent through it."""


class RelayClient:
    """One relay connection on a dedicated thread, reconnecting until `close()`.

    `on_event(event, payload)` receives every server event; `on_connect(sid)` runs after each
    (re)connection, before anything queued is sent; `on_state(state, problem)` reports
    connection changes, `problem` saying in words what went wrong ("" when nothing did, e.g.
    "relay unreachable at ..." while it keeps retrying); `on_error(text)` reports exceptions
    raised by the callbacks. `prepare()` runs once, off the loop, before the first connect
    (e.g. to start a local relay); its failure is reported and connecting goes on.
    """

    def __init__(
        self,
        url: str,
        *,
        on_event: Callable[[str, Any], None],
        on_connect: Callable[[str], None] | None = None,
        on_state: Callable[[str, str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        prepare: Callable[[], None] | None = None,
        transports: list[str] | None = None,
        reconnect_delay: float = 0.2,
        reconnect_delay_max: float = 3.0,
        connect_timeout: float = 5.0,
        name: str = "ecc-relay-client",
    ):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"relay URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self._on_event = on_event
        self._on_connect = on_connect
        self._on_state = on_state
        self._on_error = on_error
        self._prepare = prepare
        self.transports = transports
        self.reconnect_delay = reconnect_delay
        self.reconnect_delay_max = reconnect_delay_max
        self.connect_timeout = connect_timeout
        self.state = DISCONNECTED
        self.problem = ""
        self.sid: str | None = None
        self.connections = 0  # successful connects so far; 2 and more means reconnected
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._sio: socketio.AsyncClient | None = None
        self._outbox: asyncio.Queue | None = None
        self._stop: asyncio.Event | None = None
        self._closed = False

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> RelayClient:
        """Start the thread and begin connecting; returns at once."""
        if self._closed:
            raise ClientClosedError("this client was closed; create a new one")
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Disconnect, stop the loop and join the thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already stopped
                loop.call_soon_threadsafe(self._stop.set)
            if threading.current_thread() is not thread:
                thread.join(timeout)
                if thread.is_alive():
                    log.warning("relay client thread did not stop within %ss", timeout)
        self._set_state(CLOSED, "")

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    # -- sending (any thread) -----------------------------------------------------------------

    def emit(self, event: str, payload: Any = None, *,
             callback: AckCallback | None = None) -> concurrent.futures.Future:
        """Queue an event for the relay; never blocks.

        The returned future resolves to True once the event was handed to the transport, or
        False if there was no connection (the event is dropped: the caller keeps what must be
        re-sent). `callback(ack)` runs on the client thread when the relay acknowledges.
        """
        done: concurrent.futures.Future = concurrent.futures.Future()
        if self._closed or self._loop is None:
            done.set_result(False)
            return done
        item = (event, payload, callback, done)
        try:
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, item)
        except RuntimeError:  # the loop has just stopped
            done.set_result(False)
        return done

    def call_soon(self, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn(*args)` on the client thread (to serialise work with incoming events)."""
        if self._closed or self._loop is None:
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._guard, fn, *args)

    def call_later(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn(*args)` on the client thread after `delay` seconds (dropped at close)."""
        if self._closed or self._loop is None:
            return

        def schedule() -> None:
            self._loop.call_later(delay, self._guard, fn, *args)

        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(schedule)

    # -- the client thread --------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._outbox = asyncio.Queue()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            loop.run_until_complete(self._main())
        except Exception as exc:  # noqa: BLE001 - report, then clean up below
            log.exception("relay client loop failed")
            self._report(f"relay client stopped: {exc}")
        finally:
            try:
                self._cancel_remaining(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                # aiohttp resolves host names on the default executor: join its threads too.
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()
                self._loop = None

    @staticmethod
    def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    async def _main(self) -> None:
        sender = asyncio.ensure_future(self._send_loop())
        try:
            await self._supervise()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            self._fail_outbox()

    async def _supervise(self) -> None:
        """Connect, wait for the connection to end, back off, connect again, until closed."""
        delay = self.reconnect_delay
        if self._prepare is not None:
            self._set_state(CONNECTING, "")
            preparing = asyncio.get_running_loop().run_in_executor(None, self._prepare)
            if await self._until_stopped(preparing) and preparing.exception() is not None:
                self._set_state(CONNECTING, _reason(preparing.exception()))
        while not self._stop.is_set():
            if self.state not in (CONNECTING, RECONNECTING):
                self._set_state(CONNECTING if self.connections == 0 else RECONNECTING, "")
            sio = self._new_sio()
            lost = asyncio.Event()
            sio.on("disconnect", lambda *_, lost=lost: lost.set())
            connecting = asyncio.ensure_future(
                sio.connect(self.url, transports=self.transports,
                            wait_timeout=self.connect_timeout))
            if not await self._until_stopped(connecting):
                await self._dispose(sio)
                break
            error = connecting.exception()
            if error is not None:
                await self._dispose(sio)
                self._set_state(self.state, f"relay unreachable at {self.url}: {_reason(error)}")
                await self._pause(delay)
                delay = min(delay * 2, self.reconnect_delay_max)
                continue
            delay = self.reconnect_delay
            self._sio = sio
            self.sid = sio.get_sid()
            self.connections += 1
            self._set_state(CONNECTED, "")
            if self._on_connect is not None:
                self._guard(self._on_connect, self.sid)
            await self._until_stopped(asyncio.ensure_future(lost.wait()))
            self._sio = None
            self.sid = None
            await self._dispose(sio)
            if not self._stop.is_set():
                self._set_state(RECONNECTING, f"connection to the relay at {self.url} lost")
                await self._pause(delay)
        self._set_state(DISCONNECTED, "")

    async def _until_stopped(self, task: asyncio.Future) -> bool:
        """Wait for `task` or for close(); False (and `task` cancelled) if closed first."""
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if task.done():
            return True
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        return False

    def _new_sio(self) -> socketio.AsyncClient:
        # Reconnection is ours (socketio's own does not retry after a server-side
        # disconnect); handle_sigint=False keeps Ctrl-C/Interrupt for the kernel.
        sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        sio.on("*", self._dispatch)
        return sio

    async def _dispose(self, sio: socketio.AsyncClient) -> None:
        with contextlib.suppress(Exception):
            if sio.connected:
                await sio.disconnect()
        # Closes the aiohttp session even after a failed connect.
        with contextlib.suppress(Exception):
            await sio.eio.disconnect(abort=True)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _send_loop(self) -> None:
        # One consumer keeps events in the order the application emitted them.
        while True:
            event, payload, callback, done = await self._outbox.get()
            sio = self._sio
            if sio is None or not sio.connected:
                _resolve(done, False)
                continue
            ack = None
            if callback is not None:
                def ack(*args: Any, _cb: AckCallback = callback) -> None:
                    self._guard(_cb, args[0] if args else None)
            try:
                await sio.emit(event, payload, callback=ack)
            except Exception as exc:  # noqa: BLE001 - a failed emit is "not sent"
                log.debug("emit %s failed: %s", event, exc)
                _resolve(done, False)
            else:
                _resolve(done, True)

    def _fail_outbox(self) -> None:
        while not self._outbox.empty():
            *_, done = self._outbox.get_nowait()
            _resolve(done, False)

    def _dispatch(self, event: str, *args: Any) -> None:
        self._guard(self._on_event, event, args[0] if args else None)

    def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - a faulty callback must not kill the loop
            log.exception("callback %r failed", fn)
            self._report(f"internal error in {getattr(fn, '__name__', fn)}: {exc!r}")

    def _report(self, text: str) -> None:
        if self._on_error is not None:
            with contextlib.suppress(Exception):
                self._on_error(text)

    def _set_state(self, state: str, problem: str) -> None:
        if (state, problem) == (self.state, self.problem):
            return
        self.state, self.problem = state, problem
        if self._on_state is not None:
            self._guard(self._on_state, state, problem)


def _resolve(future: concurrent.futures.Future, value: bool) -> None:
    if not future.done():
        future.set_result(value)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("Connection error", "connection refused").strip()
