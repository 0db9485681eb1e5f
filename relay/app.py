"""The relay's web side: the aiohttp application, its routes, and running it until a signal.

Routes: the Socket.IO endpoint at ``/socket.io/``, ``GET /healthz`` (JSON counts),
``GET /socket.io/socket.io.js`` (the Socket.IO v4 browser library, as Node's server serves
it), with ``--static DIR`` a browser client's files at ``/``, and with ``--attacks`` the
attacker's page and API under ``/mallory`` (relay.attacks), and with ``--teacher`` the
teacher's console under ``/teacher`` (relay.teacher).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import ssl
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from ecc_widgets.protocol import LOCAL_HOSTS
from relay import wire
from relay.admission import Admission, in_networks, parse_networks
from relay.config import Config
from relay.roster import MemoryRoster, Roster
from relay.server import RelayServer
from relay.transport import limit_connections

log = logging.getLogger("relay")

ROOT = Path(__file__).resolve().parent
# The browser library ships with the relay (socket.io-client 4.8.1, MIT, see
# relay/static/socket.io-client.LICENSE); a node_modules install is the fallback.
SOCKETIO_JS_CANDIDATES = (
    ROOT / "static" / "socket.io.min.js",
    ROOT.parent / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js",
    ROOT.parent / "node_modules" / "socket.io-client" / "dist" / "socket.io.js",
)
SIO = web.AppKey("sio", RelayServer)
ROSTER = web.AppKey("roster", object)
SOCKETIO_JS = web.AppKey("socketio_js", object)   # Path | None


def find_socketio_js(configured: Path | None) -> Path | None:
    if configured is not None:
        return configured if configured.is_file() else None
    return next((p for p in SOCKETIO_JS_CANDIDATES if p.is_file()), None)


def origin_checker(allowed: tuple[str, ...]):
    """Engine.IO's ``cors_allowed_origins``: same origin and localhost, plus ``allowed``.

    ``("*",)`` allows any origin. Clients that send no Origin header (Python, curl) are not
    affected: browsers are what CORS is about.
    """
    if "*" in allowed:
        return "*"
    extra = frozenset(o.rstrip("/") for o in allowed)

    def check(origin: str | None, environ: dict | None = None) -> bool:
        if not origin:
            return True
        origin = origin.rstrip("/")
        if origin in extra:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https"):
            return False
        if (parts.hostname or "") in LOCAL_HOSTS:
            return True
        host = (environ or {}).get("HTTP_HOST")
        return bool(host) and parts.netloc == host

    return check


def is_loopback(host: str | None) -> bool:
    """Is ``host`` (a name or an address, no port) this machine's loopback?"""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str | None:
    """The host name of a Host header (``name:port``, ``[v6]:port``), or None if malformed."""
    try:
        return urlsplit("//" + header).hostname
    except ValueError:
        return None


@web.middleware
async def loopback_host_only(request: web.Request, handler):
    """A relay bound to loopback answers only requests addressed to loopback.

    Against DNS rebinding: a web page from evil.example whose name is made to resolve to
    127.0.0.1 reaches the local relay with ``Host: evil.example`` (and a matching Origin).
    """
    if not is_loopback(host_of(request.headers.get("Host", ""))):
        raise web.HTTPForbidden(text="this relay answers only requests addressed to "
                                     "localhost\n")
    return await handler(request)


def raise_open_file_limit() -> None:
    """As many open files (sockets) as the OS allows this process: a class is hundreds."""
    try:
        import resource
    except ImportError:   # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 65536)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log.info("open-file limit raised from %d to %d", soft, hard)
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)


def make_roster(config: Config, relay_id: str) -> tuple[Roster, Callable | None]:
    """The roster, and how the server builds its channel to other relays (None: alone)."""
    if config.redis_url:
        from relay.cluster import RedisCluster
        from relay.redis_roster import RedisRoster  # needs the optional redis package

        roster = RedisRoster(config.redis_url, relay_id, heartbeat_ttl=config.heartbeat_ttl)
        return roster, lambda upcalls: RedisCluster(roster, upcalls)
    return MemoryRoster(relay_id), None


def client_manager(config: Config):
    if not config.redis_url:
        return None
    import socketio

    return socketio.AsyncRedisManager(config.redis_url, channel="ecc-relay", json=wire.FastJson)


def create_app(config: Config) -> tuple[web.Application, RelayServer]:
    """The web application and its Socket.IO server (which checks its transport)."""
    roster, cluster = make_roster(config, uuid.uuid4().hex[:12])
    admission = Admission.from_config(config)
    sio = RelayServer(
        roster,
        transport=config.transport,
        cluster=cluster,
        rate=config.rate,
        burst=config.burst,
        probe_timeout=config.probe_timeout,
        capture=config.capture,
        cors=origin_checker(config.cors),
        client_manager=client_manager(config),
        ping_interval=config.ping_interval,
        ping_timeout=config.ping_timeout,
        max_room_size=config.max_room_size,
        join_rate=config.join_rate,
        join_burst=config.join_burst,
        max_queued_bytes=config.max_queued_bytes,
        max_paused=config.max_paused,
        admission=admission,
        trusted_proxies=parse_networks(config.trusted_proxies),
    )
    if config.backend_name:
        sio.carrier.name_sessions(config.backend_name)
    middlewares = [loopback_host_only] if is_loopback(config.host) else []
    app = web.Application(client_max_size=1024 * 1024, middlewares=middlewares)
    app[SIO] = sio
    app[ROSTER] = roster

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response(await sio.health())

    app.router.add_get("/healthz", healthz)

    socketio_js = find_socketio_js(config.socketio_js)
    app[SOCKETIO_JS] = socketio_js
    if socketio_js is not None:
        async def serve_socketio_js(_request: web.Request) -> web.FileResponse:
            return web.FileResponse(socketio_js, headers={
                "Content-Type": "application/javascript; charset=utf-8",
                "Cache-Control": "public, max-age=3600"})
        app.router.add_get("/socket.io/socket.io.js", serve_socketio_js)
        app.router.add_get("/socket.io/socket.io.min.js", serve_socketio_js)

    sio.attach(app, socketio_path="socket.io")

    if config.attacks:   # teaching only: Mallory's page and API (relay.attacks)
        from relay import attacks

        attacks.install(app, sio, config)

    if config.teacher:   # the teacher's console (relay.teacher)
        from relay import teacher

        teacher.install(app, sio, config)

    if config.static_dir is not None:
        static_dir = config.static_dir.resolve()
        index = static_dir / "index.html"

        async def serve_index(_request: web.Request) -> web.StreamResponse:
            if index.is_file():
                return web.FileResponse(index)
            raise web.HTTPNotFound(text="no index.html in the static folder")

        app.router.add_get("/", serve_index)
        app.router.add_static("/", static_dir, follow_symlinks=False)
    return app, sio


def _ssl_context(config: Config) -> ssl.SSLContext | None:
    if config.certfile is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(config.certfile), str(config.keyfile))
    return ctx


async def serve(config: Config, *, ready: asyncio.Event | None = None) -> int:
    """Run the relay until SIGTERM or SIGINT; return the exit code."""
    raise_open_file_limit()
    app, sio = create_app(config)
    roster = app[ROSTER]
    await roster.start()
    await sio.cluster.start()
    if sio.teacher is not None:
        await sio.teacher.start()
    # keepalive_timeout also closes a connection that has not sent a whole request by then
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0,
                           keepalive_timeout=config.idle_timeout)
    await runner.setup()
    trusted = parse_networks(config.trusted_proxies)
    limit_connections(runner.server, config.max_connections_per_ip,
                      exempt_loopback=not config.cap_loopback,
                      exempt=lambda ip: in_networks(ip, trusted))
    ctx = _ssl_context(config)
    site = web.TCPSite(runner, config.host, config.port, ssl_context=ctx)
    try:
        await site.start()
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        await runner.cleanup()
        if sio.teacher is not None:
            await sio.teacher.close()
        await sio.cluster.close()
        await roster.close()
        return 2
    scheme = "https" if ctx else "http"
    port = runner.addresses[0][1] if runner.addresses else config.port
    log.info("relay %s listening on %s://%s:%s%s", sio.relay_id, scheme, config.host, port,
             f" (rooms shared through Redis at {_redacted(config.redis_url)})"
             if config.redis_url else "")
    if app[SOCKETIO_JS] is not None:
        log.info("serving the Socket.IO browser library at /socket.io/socket.io.js")
    else:
        log.warning("NO Socket.IO browser library to serve at /socket.io/socket.io.js: pages "
                    "that load it will fail; pass --socketio-js PATH or run `make install`")
    if config.static_dir is not None:
        log.info("serving static files from %s at /", config.static_dir)
    if sio.attacks is not None:
        sio.attacks.announce(scheme, config.host, port)
    if sio.teacher is not None:
        sio.teacher.announce(scheme, config.host, port)
    if config.capture is not None:
        log.warning("CAPTURING every received event to %s (for tests only)", config.capture)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    idle_watch = None
    if config.idle_exit > 0:
        log.info("exiting after %g s without connections", config.idle_exit)
        idle_watch = asyncio.create_task(_exit_when_idle(sio, config.idle_exit, stop))
    await stop.wait()
    if idle_watch is not None:
        idle_watch.cancel()
    log.info("shutting down: telling %d clients", len(sio.conns))
    started = loop.time()
    try:
        await asyncio.wait_for(sio.close_all(), timeout=5.0)
    except asyncio.TimeoutError:
        log.warning("clients did not all close within 5 s; closing anyway")
    closed = loop.time()
    await runner.cleanup()
    if sio.teacher is not None:
        await sio.teacher.close()
    await sio.cluster.close()
    await roster.close()
    log.info("relay stopped (clients closed in %.2f s, server in %.2f s)",
             closed - started, loop.time() - closed)
    return 0


async def _exit_when_idle(sio: RelayServer, seconds: float, stop: asyncio.Event) -> None:
    """Set ``stop`` once no client has been connected for ``seconds``."""
    loop = asyncio.get_running_loop()
    idle_since = loop.time()
    while True:
        await asyncio.sleep(min(1.0, seconds / 4))
        if sio.conns or sio.carrier.open_sessions():
            idle_since = loop.time()
        elif loop.time() - idle_since >= seconds:
            log.info("no connections for %g s: exiting (--idle-exit)", seconds)
            stop.set()
            return


def _redacted(url: str | None) -> str:
    """A Redis URL without its password, for the log."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        return parts._replace(netloc=netloc).geturl()
    return url
