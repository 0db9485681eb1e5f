"""Relay settings: options, environment variables, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay import config
from relay.app import origin_checker
from relay.policy import TokenBucket


def test_defaults():
    c = config.load([], env={})
    assert (c.host, c.port, c.redis_url, c.cors, c.log_level) == ("127.0.0.1", 5000, None,
                                                                   (), "info")
    assert c.capture is None and c.static_dir is None and c.certfile is None


def test_environment_then_options(tmp_path):
    env = {"ECC_RELAY_HOST": "0.0.0.0", "ECC_RELAY_PORT": "6001",
           "ECC_RELAY_REDIS_URL": "redis://r:6379/1", "ECC_RELAY_CORS": "https://a.x, https://b.x",
           "ECC_RELAY_LOG_LEVEL": "DEBUG", "ECC_RELAY_STATIC": str(tmp_path),
           "ECC_RELAY_RATE": "50", "ECC_RELAY_CAPTURE": str(tmp_path / "c.jsonl")}
    c = config.load([], env=env)
    assert (c.host, c.port, c.redis_url, c.log_level, c.rate) == \
        ("0.0.0.0", 6001, "redis://r:6379/1", "debug", 50.0)
    assert c.cors == ("https://a.x", "https://b.x") and c.static_dir == Path(tmp_path)
    assert c.capture == tmp_path / "c.jsonl"
    c = config.load(["--port", "7000", "--cors", "*"], env=env)
    assert c.port == 7000 and c.cors == ("*",)


@pytest.mark.parametrize("argv, env, message", [
    (["--port", "70000"], {}, "outside 0..65535"),
    ([], {"ECC_RELAY_PORT": "http"}, "not a port number"),
    (["--rate", "0"], {}, "must be greater than zero"),
    (["--certfile", "x.pem"], {}, "--certfile and --keyfile go together"),
    (["--static", "/no/such/folder"], {}, "is not a folder"),
    (["--log-level", "loud"], {}, "invalid choice"),
])
def test_bad_settings_exit_with_a_clear_message(argv, env, message, capsys):
    with pytest.raises(SystemExit) as info:
        config.load(argv, env=env)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_origins():
    check = origin_checker(())
    environ = {"HTTP_HOST": "relay.example:5000"}
    assert check(None, environ)
    assert check("http://relay.example:5000", environ)
    assert check("http://localhost:8866", environ) and check("http://127.0.0.1:1", environ)
    assert check("http://[::1]:8888", environ)
    assert not check("http://evil.example", environ)
    assert not check("http://localhost.evil.example", environ)
    assert not check("file://localhost", environ)
    assert origin_checker(("*",)) == "*"
    assert origin_checker(("https://class.example/",))("https://class.example", environ)


def test_token_bucket():
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(now=0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(now=0.05) is False      # half a token
    assert bucket.take(now=0.1) is True
    assert [bucket.take(now=100.0) for _ in range(4)] == [True, True, True, False]


def test_browser_library_found_or_reported_missing(tmp_path):
    from relay.app import SOCKETIO_JS, create_app, find_socketio_js

    shipped = find_socketio_js(None)
    assert shipped is not None and shipped.read_bytes().startswith(b"/*!\n * Socket.IO v4")
    mine = tmp_path / "io.js"
    mine.write_text("/* mine */")
    assert find_socketio_js(mine) == mine
    assert find_socketio_js(tmp_path / "missing.js") is None
    app, _ = create_app(config.Config(socketio_js=tmp_path / "missing.js"))
    assert app[SOCKETIO_JS] is None
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert "/socket.io/socket.io.js" not in paths and "/healthz" in paths


def test_limits_against_hostile_clients():
    c = config.load([], env={})
    assert (c.max_room_size, c.join_rate, c.join_burst) == (200, 2.0, 5)
    assert (c.max_queued_bytes, c.max_paused) == (4 * 1024 * 1024, 10.0)
    assert (c.idle_timeout, c.max_connections_per_ip, c.cap_loopback) == (10.0, 256, False)
    assert (c.max_idle_per_ip, c.join_timeout, c.trusted_proxies) == (64, 20.0, ())
    c = config.load(["--max-room-size", "30", "--max-queued-bytes", "262144",
                     "--cap-loopback"], env={"ECC_RELAY_MAX_CONNECTIONS_PER_IP": "20",
                                             "ECC_RELAY_IDLE_TIMEOUT": "1.5"})
    assert (c.max_room_size, c.max_queued_bytes, c.cap_loopback) == (30, 262144, True)
    assert (c.max_connections_per_ip, c.idle_timeout) == (20, 1.5)
    assert config.load([], env={"ECC_RELAY_CAP_LOOPBACK": "1"}).cap_loopback


def test_trusted_proxies_are_addresses_or_networks(capsys):
    c = config.load([], env={"ECC_RELAY_TRUSTED_PROXIES": "172.18.0.0/16, ::1"})
    assert c.trusted_proxies == ("172.18.0.0/16", "::1")
    assert config.load(["--trusted-proxies", "10.0.0.2"], env={}).trusted_proxies == \
        ("10.0.0.2",)
    with pytest.raises(SystemExit):
        config.load(["--trusted-proxies", "nginx"], env={})
    assert "is not an address or a network" in capsys.readouterr().err


def test_the_client_address_comes_from_a_trusted_proxy_only():
    from relay.admission import client_address, parse_networks

    proxy = parse_networks(["10.0.0.2", "172.18.0.0/16"])
    assert client_address("10.0.0.2", "203.0.113.7", proxy) == "203.0.113.7"
    # what the client wrote itself is left of what the proxies appended
    assert client_address("10.0.0.2", "1.2.3.4, 203.0.113.7, 172.18.0.5", proxy) == \
        "203.0.113.7"
    assert client_address("198.51.100.1", "203.0.113.7", proxy) == "198.51.100.1"
    assert client_address("10.0.0.2", "junk, 203.0.113.7", proxy) == "203.0.113.7"
    assert client_address("10.0.0.2", "203.0.113.7, junk", proxy) == "10.0.0.2"
    assert client_address("10.0.0.2", None, proxy) == "10.0.0.2"
    assert client_address("10.0.0.2", "203.0.113.7", ()) == "10.0.0.2"


def test_loopback_hosts():
    from relay.app import host_of, is_loopback

    for header in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000", "LOCALHOST",
                   "127.9.9.9", "lab.localhost:80"):
        assert is_loopback(host_of(header)), header
    for header in ("evil.example:5000", "127.0.0.1.evil.example", "0.0.0.0:5000", "",
                   "[::1", "10.0.0.1:5000"):
        assert not is_loopback(host_of(header)), header


def test_plain_port_variable_as_hosting_platforms_set_it():
    # PORT (the seed's variable) is honoured; ECC_RELAY_PORT and --port win over it.
    assert config.load([], env={"PORT": "8080"}).port == 8080
    assert config.load([], env={"PORT": "8080", "ECC_RELAY_PORT": "6001"}).port == 6001
    assert config.load(["--port", "7000"], env={"PORT": "8080"}).port == 7000
    assert config.load([], env={"PORT": ""}).port == config.DEFAULT_PORT
