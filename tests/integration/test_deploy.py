"""The class deployment (deploy/) without containers: a real nginx with deploy/nginx.conf's
upstream, stickiness and websocket directives, in front of two relays over one redis-server.

What it proves: Socket.IO sessions work through the proxy both as long-polling (every poll is
a new HTTP request that must reach the relay holding the session: stickiness) and upgraded to
a websocket (the upgrade headers pass); and a client behind the proxy chats with one on the
other relay (through Redis). All clients here share 127.0.0.1, so ip_hash maps them to one
relay: spreading different addresses over both relays is nginx's part, not tested here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ecc_widgets import protocol as P
from tests.support import ROOT
from tests.support.peers import Peer, message, run
from tests.support.processes import RelayProcess, free_port, require_binary, wait_for_port

pytestmark = [pytest.mark.redis, pytest.mark.slow]

DEPLOY = ROOT / "deploy"


def nginx_conf(relays: list[RelayProcess], port: int, prefix: Path) -> str:
    """deploy/nginx.conf with the relays on loopback ports and every file under `prefix`."""
    text = (DEPLOY / "nginx.conf").read_text()
    servers = "".join(f"server 127.0.0.1:{r.port};\n        " for r in relays)
    text, n = re.subn(r"(server relay\d:5000;\s*)+", servers, text)
    assert n == 1, "deploy/nginx.conf no longer lists relay1 and relay2"
    text, n = re.subn(r"listen \d+;", f"listen 127.0.0.1:{port};", text)
    assert n == 1
    temp = "".join(f"{kind}_temp_path {prefix / kind};\n    "
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return text.replace("http {", f"http {{\n    access_log off;\n    {temp}", 1)


@pytest.fixture
def class_deployment(redis_server, tmp_path):
    nginx = require_binary("nginx")
    relays = [RelayProcess("--redis-url", redis_server.url).start() for _ in range(2)]
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf(relays, port, tmp_path))
    # master_process off: one process as the current user, stopped with the test.
    proc = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(conf), "-g",
         f"daemon off; master_process off; pid {tmp_path / 'nginx.pid'}; "
         f"error_log {tmp_path / 'error.log'} warn;"],
        stderr=subprocess.STDOUT, stdout=open(tmp_path / "nginx.out", "wb"),  # noqa: SIM115
    )
    try:
        wait_for_port(port, proc, timeout=20)
        yield f"http://127.0.0.1:{port}", relays
    finally:
        proc.terminate()
        proc.wait(10)
        for relay in relays:
            relay.stop()


def test_nginx_config_matches_compose_services():
    import yaml  # PyYAML, a dependency of Jupyter's

    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"redis", "relay1", "relay2", "proxy", "dashboard"} <= set(services)
    for name in ("relay1", "relay2"):
        assert "redis://redis:6379/0" in services[name]["command"]
    conf = (DEPLOY / "nginx.conf").read_text()
    assert "ip_hash;" in conf and "server relay1:5000;" in conf and "server relay2:5000;" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "http://proxy:8765" in services["dashboard"]["command"]


def test_dockerfile_copies_what_exists_and_runs_as_a_user():
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    assert lines[[i for i, x in enumerate(lines) if x.startswith("FROM")][0]] == \
        "FROM python:3.11-slim"
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:  # relative to the context, the repository
                assert (ROOT / source).exists(), line
    assert "pip install --no-cache-dir '.[app,redis]'" in "\n".join(lines)
    user = [x.split()[1] for x in lines if x.startswith("USER ")]
    assert user and user[-1] not in ("root", "0")


def test_compose_file_follows_the_compose_specification():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(DEPLOY / "compose.yaml")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_clients_through_the_proxy_chat_with_a_client_on_the_other_relay(class_deployment):
    proxy_url, relays = class_deployment

    async def scenario():
        # Long-polling only: each poll is a new request, so this works only if they all
        # reach the relay that holds the session.
        polling = await Peer(proxy_url).connect(transports=("polling",))
        upgraded = await Peer(proxy_url).connect(transports=("polling", "websocket"))
        behind = [r for r in relays if r.health()["connections"] > 0]
        assert len(behind) == 1 and behind[0].health()["connections"] == 2
        other = next(r for r in relays if r is not behind[0])
        direct = await Peer(other.url).connect()
        try:
            assert polling.sio.transport() == "polling"
            assert upgraded.sio.transport() == "websocket"
            await polling.join("alice", "class")
            await upgraded.join("bob", "class")
            ack = await direct.join("carol", "class")
            assert sorted(u["username"] for u in ack["usersInRoom"]) == ["alice", "bob", "carol"]
            for sender, receivers in ((polling, (upgraded, direct)), (direct, (polling,)),
                                      (upgraded, (direct,))):
                for receiver in receivers:
                    await sender.emit(P.SEND_MESSAGE, message(receiver.sid, seq=7))
                    got = await receiver.wait_for(
                        P.RECEIVE_MESSAGE, lambda m, s=sender: m["fromSocketId"] == s.sid)
                    assert got[0]["seq"] == 7
        finally:
            for peer in (polling, upgraded, direct):
                await peer.close()
    run(scenario())
