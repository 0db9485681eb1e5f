"""Relay settings from the command line, with environment variables as defaults.

Every option has an ``ECC_RELAY_<NAME>`` variable (``--redis-url`` -> ``ECC_RELAY_REDIS_URL``);
a command-line option wins over the variable, the variable over the built-in default.
The port also honours plain ``PORT`` (set by hosting platforms, and read by the seed) when
neither ``--port`` nor ``ECC_RELAY_PORT`` is given.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_ROOM_ID = 64                 # ecc_widgets.protocol.MAX_ROOM_ID (not imported: kept light)
TRANSPORTS = ("lean", "stock")   # relay.transport.TRANSPORTS (not imported: it loads engineio)


@dataclass(frozen=True)
class Config:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    redis_url: str | None = None
    static_dir: Path | None = None
    cors: tuple[str, ...] = ()          # () = same origin and localhost; ("*",) = any
    certfile: Path | None = None
    keyfile: Path | None = None
    log_level: str = "info"
    socketio_js: Path | None = None     # the Socket.IO browser library to serve
    rate: float = 200.0                 # events per second per connection, sustained
    burst: int = 1000                   # events a connection may send at once
    capture: Path | None = None         # tests only: append every received event here
    ping_interval: float = 10.0
    ping_timeout: float = 10.0
    probe_timeout: float = 3.0          # how long a name's old holder has to answer a probe
    heartbeat_ttl: float = 10.0         # with Redis: a relay silent this long is gone
    transport: str = "lean"             # "lean" or "stock" (see relay.transport)
    idle_exit: float = 0.0              # exit after this many seconds without connections
    # attack mode, for teaching (relay.attacks): off unless the operator starts it
    attacks: bool = False
    attack_rooms: tuple[str, ...] = ()  # rooms where the full MITM is on from the start
    attack_token: str | None = None     # the teacher's token (generated when None)
    # the teacher's console (relay.teacher): off unless the operator starts it
    teacher: bool = False
    teacher_token: str | None = None    # the console's token (generated when None)
    max_room_size: int = 200            # members per room (a class)
    join_rate: float = 2.0              # joins and leaves per second per connection
    join_burst: int = 5
    max_queued_bytes: int = 4 * 1024 * 1024   # queued for one socket before it is dropped
    max_paused: float = 10.0            # seconds a socket may leave what we write unread
    idle_timeout: float = 10.0          # seconds for a request's headers, or between requests
    max_connections_per_ip: int = 256   # open connections (and sessions) per client address
    cap_loopback: bool = False          # apply the per-address limits to loopback clients too
    # a class behind one address: 30 students, their 30 demo peers, reloads, polling's
    # second connection; sockets that never join count apart and are closed soon
    max_idle_per_ip: int = 64           # never-joined sessions per address (oldest closed)
    join_timeout: float = 20.0          # seconds a session has to join a room (a seed page
                                        # connects before its student has typed a name)
    trusted_proxies: tuple[str, ...] = ()   # peers whose X-Forwarded-For names the client
    address_join_rate: float = 3.0      # joins per second per client address, sustained
    address_join_burst: int = 100       # ... and at once (a class arriving)
    room_churn_rate: float = 1.0        # leaves per second a room absorbs, sustained ...
    room_churn_burst: int = 30          # ... and at once, before joins wait
    backend_name: str | None = None     # behind deploy/'s nginx: named in each session id


def _env(env: Mapping[str, str], name: str, default=None):
    value = env.get(f"ECC_RELAY_{name}")
    return value if value not in (None, "") else default


def parse_cors(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _positive(kind):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
        return value
    return convert


def _not_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0..65535")
    return value


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecc-relay",
        description="ECC Chat Lab relay: routes public keys and ciphertext inside rooms "
                    "(Socket.IO v4, compatible with the seed's browser client).",
        epilog="Every option can also be set by an environment variable ECC_RELAY_<OPTION> "
               "(for example ECC_RELAY_PORT=5000, ECC_RELAY_REDIS_URL=redis://...); "
               "the port also honours PORT, as hosting platforms set it.",
    )
    p.add_argument("--host", default=_env(env, "HOST", DEFAULT_HOST),
                   help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=_port,
                   default=_env(env, "PORT", env.get("PORT") or DEFAULT_PORT),
                   help="port to listen on (default %(default)s; env ECC_RELAY_PORT, "
                        "else PORT)")
    p.add_argument("--redis-url", default=_env(env, "REDIS_URL"),
                   help="share rooms with other relay processes through this Redis")
    p.add_argument("--static", dest="static_dir", default=_env(env, "STATIC"),
                   help="serve a browser client's files from this folder at /")
    p.add_argument("--cors", default=_env(env, "CORS"),
                   help="allowed origins, comma separated, or '*' for any "
                        "(default: same origin and localhost)")
    p.add_argument("--certfile", default=_env(env, "CERTFILE"), help="TLS certificate (wss)")
    p.add_argument("--keyfile", default=_env(env, "KEYFILE"), help="TLS private key (wss)")
    p.add_argument("--log-level", default=_env(env, "LOG_LEVEL", "info"),
                   type=str.lower, choices=LOG_LEVELS)
    p.add_argument("--socketio-js", default=_env(env, "SOCKETIO_JS"),
                   help="path of socket.io.js to serve at /socket.io/socket.io.js "
                        "(default: the socket.io-client package that `make` installs)")
    p.add_argument("--rate", type=_positive(float), default=_env(env, "RATE", 200.0),
                   help="events per second a connection may send, sustained "
                        "(default %(default)s)")
    p.add_argument("--burst", type=_positive(int), default=_env(env, "BURST", 1000),
                   help="events a connection may send in a burst (default %(default)s)")
    p.add_argument("--probe-timeout", type=_positive(float),
                   default=_env(env, "PROBE_TIMEOUT", 3.0),
                   help="seconds the old holder of a user name has to answer before a "
                        "reconnecting client takes the name over (default %(default)s)")
    p.add_argument("--heartbeat-ttl", type=_positive(float),
                   default=_env(env, "HEARTBEAT_TTL", Config.heartbeat_ttl),
                   help="with --redis-url: seconds after which a silent relay counts as gone "
                        "and its users are removed (default %(default)s)")
    p.add_argument("--transport", type=str.lower, choices=TRANSPORTS,
                   default=_env(env, "TRANSPORT", Config.transport),
                   help="lean: the relay's own websocket path (fast; relies on "
                        "python-engineio internals checked at start-up); stock: plain "
                        "python-socketio (default %(default)s)")
    p.add_argument("--idle-exit", type=_not_negative,
                   default=_env(env, "IDLE_EXIT", Config.idle_exit), metavar="SECONDS",
                   help="exit after this many seconds with no client connected; 0 = never "
                        "(default %(default)s; a relay a notebook starts uses 600)")
    p.add_argument("--attacks", action="store_true",
                   default=_env(env, "ATTACKS", "") not in ("", "0", "false", "no"),
                   help="FOR TEACHING: attack mode, a relay that can read and alter messages "
                        "(man in the middle, replay, ...) in the rooms where a teacher "
                        "switches attacks on, at /mallory with a token (from "
                        "ECC_RELAY_ATTACK_TOKEN, else generated and printed)")
    p.add_argument("--attack", dest="attack_rooms", action="append", default=[],
                   metavar="ROOM",
                   help="FOR TEACHING: start with the full man in the middle on in ROOM "
                        "(repeatable; implies --attacks)")
    p.add_argument("--teacher", action="store_true",
                   default=_env(env, "TEACHER", "") not in ("", "0", "false", "no"),
                   help="the teacher's console at /teacher: every room and student live, "
                        "and actions (lock, remove, clear, notice), with a token (from "
                        "ECC_RELAY_TEACHER_TOKEN, else generated and printed)")
    p.add_argument("--max-room-size", type=_positive(int),
                   default=_env(env, "MAX_ROOM_SIZE", Config.max_room_size),
                   help="members a room may have (default %(default)s)")
    p.add_argument("--join-rate", type=_positive(float),
                   default=_env(env, "JOIN_RATE", Config.join_rate),
                   help="joins and leaves per second a connection may make, sustained "
                        "(each goes to the whole room; default %(default)s)")
    p.add_argument("--join-burst", type=_positive(int),
                   default=_env(env, "JOIN_BURST", Config.join_burst),
                   help="joins and leaves a connection may make at once (default %(default)s)")
    p.add_argument("--max-queued-bytes", type=_positive(int),
                   default=_env(env, "MAX_QUEUED_BYTES", Config.max_queued_bytes),
                   help="bytes waiting for a client that does not read them before it is "
                        "disconnected (lean transport; default %(default)s)")
    p.add_argument("--max-paused", type=_positive(float),
                   default=_env(env, "MAX_PAUSED", Config.max_paused), metavar="SECONDS",
                   help="seconds a client may leave what the relay writes unread before it "
                        "is disconnected (lean transport; default %(default)s)")
    p.add_argument("--idle-timeout", type=_positive(float),
                   default=_env(env, "IDLE_TIMEOUT", Config.idle_timeout), metavar="SECONDS",
                   help="seconds an HTTP connection may take to send a request's headers, "
                        "or stay idle between requests (default %(default)s)")
    p.add_argument("--max-connections-per-ip", type=_positive(int),
                   default=_env(env, "MAX_CONNECTIONS_PER_IP", Config.max_connections_per_ip),
                   help="open connections one client address may have (loopback exempt "
                        "unless --cap-loopback; default %(default)s)")
    p.add_argument("--cap-loopback", action="store_true",
                   default=_env(env, "CAP_LOOPBACK", "") not in ("", "0", "false", "no"),
                   help="apply --max-connections-per-ip and --address-join-rate to loopback "
                        "clients too")
    p.add_argument("--max-idle-per-ip", type=_positive(int),
                   default=_env(env, "MAX_IDLE_PER_IP", Config.max_idle_per_ip),
                   help="sessions one address may hold open without joining a room; the "
                        "oldest is closed when one more opens (default %(default)s)")
    p.add_argument("--join-timeout", type=_positive(float),
                   default=_env(env, "JOIN_TIMEOUT", Config.join_timeout), metavar="SECONDS",
                   help="seconds a session has to join a room before it is closed "
                        "(default %(default)s)")
    p.add_argument("--trusted-proxies", default=_env(env, "TRUSTED_PROXIES"),
                   metavar="ADDRESSES",
                   help="comma-separated addresses or networks of reverse proxies whose "
                        "X-Forwarded-For header names the client (default: none, the header "
                        "is ignored); deploy/ sets its nginx")
    p.add_argument("--address-join-rate", type=_positive(float),
                   default=_env(env, "ADDRESS_JOIN_RATE", Config.address_join_rate),
                   help="joins per second one client address may make, sustained "
                        "(default %(default)s)")
    p.add_argument("--address-join-burst", type=_positive(int),
                   default=_env(env, "ADDRESS_JOIN_BURST", Config.address_join_burst),
                   help="joins one client address may make at once (default %(default)s)")
    p.add_argument("--room-churn-rate", type=_positive(float),
                   default=_env(env, "ROOM_CHURN_RATE", Config.room_churn_rate),
                   help="leaves per second a room absorbs before joins into it wait "
                        "(each join and leave goes to the whole room; default %(default)s)")
    p.add_argument("--room-churn-burst", type=_positive(int),
                   default=_env(env, "ROOM_CHURN_BURST", Config.room_churn_burst),
                   help="leaves a room absorbs at once (default %(default)s)")
    p.add_argument("--backend-name", default=_env(env, "BACKEND_NAME"), metavar="NAME",
                   help="start every Engine.IO session id with NAME- (letters and digits), "
                        "so that a proxy can send a session's requests to this relay and "
                        "spread new sessions over all (deploy/nginx.conf); default: none")
    return p


def load(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Settings from ``argv`` (default: none) over ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    parser = build_parser(env)
    args = parser.parse_args(list(argv) if argv is not None else [])
    # defaults taken from the environment are strings: convert them like the options
    try:
        port = _port(str(args.port))
        rate = _positive(float)(str(args.rate))
        burst = _positive(int)(str(args.burst))
        probe_timeout = _positive(float)(str(args.probe_timeout))
        heartbeat_ttl = _positive(float)(str(args.heartbeat_ttl))
        idle_exit = _not_negative(str(args.idle_exit))
        max_room_size = _positive(int)(str(args.max_room_size))
        join_rate = _positive(float)(str(args.join_rate))
        join_burst = _positive(int)(str(args.join_burst))
        max_queued_bytes = _positive(int)(str(args.max_queued_bytes))
        max_paused = _positive(float)(str(args.max_paused))
        idle_timeout = _positive(float)(str(args.idle_timeout))
        max_connections_per_ip = _positive(int)(str(args.max_connections_per_ip))
        max_idle_per_ip = _positive(int)(str(args.max_idle_per_ip))
        join_timeout = _positive(float)(str(args.join_timeout))
        address_join_rate = _positive(float)(str(args.address_join_rate))
        address_join_burst = _positive(int)(str(args.address_join_burst))
        room_churn_rate = _positive(float)(str(args.room_churn_rate))
        room_churn_burst = _positive(int)(str(args.room_churn_burst))
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.log_level not in LOG_LEVELS:
        parser.error(f"log level must be one of {', '.join(LOG_LEVELS)}")
    transport = str(args.transport).lower()
    if transport not in TRANSPORTS:
        parser.error(f"transport must be one of {', '.join(TRANSPORTS)}")
    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together")
    static_dir = Path(args.static_dir) if args.static_dir else None
    if static_dir is not None and not static_dir.is_dir():
        parser.error(f"--static: {static_dir} is not a folder")
    for name in ("certfile", "keyfile", "socketio_js"):
        value = getattr(args, name)
        if value and not Path(value).is_file():
            parser.error(f"--{name.replace('_', '-')}: {value} is not a file")
    capture = _env(env, "CAPTURE")
    attacks = bool(args.attacks or args.attack_rooms)
    if attacks and args.redis_url:
        parser.error("--attacks needs a single relay process (Mallory's keys live in it): "
                     "not with --redis-url")
    for room in args.attack_rooms:
        if not room or len(room) > MAX_ROOM_ID:
            parser.error(f"--attack: a room name has 1 to {MAX_ROOM_ID} characters")
    teacher_token = _env(env, "TEACHER_TOKEN") if args.teacher else None
    if teacher_token is not None and len(teacher_token) < 16:
        parser.error("ECC_RELAY_TEACHER_TOKEN: at least 16 characters")
    if teacher_token is not None and teacher_token == _env(env, "ATTACK_TOKEN"):
        parser.error("ECC_RELAY_TEACHER_TOKEN must differ from ECC_RELAY_ATTACK_TOKEN: the "
                     "console and attack mode each have their own")
    backend_name = args.backend_name or None
    if backend_name is not None and not (backend_name.isascii() and backend_name.isalnum()
                                         and len(backend_name) <= 32):
        parser.error("--backend-name: 1 to 32 letters and digits")
    trusted_proxies = parse_cors(args.trusted_proxies)   # the same comma-separated list
    for value in trusted_proxies:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            parser.error(f"--trusted-proxies: {value!r} is not an address or a network")
    return Config(
        host=args.host,
        port=port,
        redis_url=args.redis_url or None,
        static_dir=static_dir,
        cors=parse_cors(args.cors),
        certfile=Path(args.certfile) if args.certfile else None,
        keyfile=Path(args.keyfile) if args.keyfile else None,
        log_level=args.log_level,
        socketio_js=Path(args.socketio_js) if args.socketio_js else None,
        rate=rate,
        burst=burst,
        capture=Path(capture) if capture else None,
        probe_timeout=probe_timeout,
        heartbeat_ttl=heartbeat_ttl,
        transport=transport,
        idle_exit=idle_exit,
        attacks=attacks,
        attack_rooms=tuple(args.attack_rooms),
        attack_token=_env(env, "ATTACK_TOKEN") if attacks else None,
        teacher=bool(args.teacher),
        teacher_token=teacher_token,
        max_room_size=max_room_size,
        join_rate=join_rate,
        join_burst=join_burst,
        max_queued_bytes=max_queued_bytes,
        max_paused=max_paused,
        idle_timeout=idle_timeout,
        max_connections_per_ip=max_connections_per_ip,
        cap_loopback=bool(args.cap_loopback),
        max_idle_per_ip=max_idle_per_ip,
        join_timeout=join_timeout,
        trusted_proxies=trusted_proxies,
        address_join_rate=address_join_rate,
        address_join_burst=address_join_burst,
        room_churn_rate=room_churn_rate,
        room_churn_burst=room_churn_burst,
        backend_name=backend_name,
    )
