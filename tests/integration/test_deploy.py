"""The class deployment (deploy/) without containers: a real nginx with deploy/nginx.conf's
upstream, stickiness and websocket directives, in front of two relays over one redis-server.

What it proves: Socket.IO sessions work through the proxy both as long-polling (every poll is
a new HTTP request that must reach the relay holding the session: stickiness, by the relay's
name in the session id) and upgraded to a websocket (the upgrade headers pass); a client
behind the proxy chats with one on the other relay (through Redis); clients from several
addresses (127.0.0.x, which a client may bind) and from one spread over both relays; and the
relays take each client's address from nginx's X-Forwarded-For, not from the client's.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import socketio

from ecc_widgets import protocol as P
from tests.support import ROOT
from tests.support.peers import Peer, message, run
from tests.support.processes import RelayProcess, free_port, require_binary, wait_for_port

pytestmark = [pytest.mark.redis, pytest.mark.slow]

DEPLOY = ROOT / "deploy"


def nginx_conf(relays: list[RelayProcess], port: int, prefix: Path) -> str:
    """deploy/nginx.conf with the relays on loopback ports and every file under `prefix`."""
    text = (DEPLOY / "nginx.conf").read_text()
    for i, relay in enumerate(relays, 1):
        text, n = re.subn(rf"server relay{i}:5000", f"server 127.0.0.1:{relay.port}", text)
        assert n == 3, f"deploy/nginx.conf no longer lists relay{i} in its three upstreams"
    text, n = re.subn(r"listen \d+;", f"listen 127.0.0.1:{port};", text)
    assert n == 1
    temp = "".join(f"{kind}_temp_path {prefix / kind};\n    "
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return text.replace("http {", f"http {{\n    access_log off;\n    {temp}", 1)


@pytest.fixture
def class_deployment(redis_server, tmp_path):
    nginx = require_binary("nginx")
    # as deploy/compose.yaml starts them: named, trusting the proxy (here on 127.0.0.1);
    # the per-address cap applies to loopback clients too, and is small, to see it count
    relays = [RelayProcess("--redis-url", redis_server.url, "--trusted-proxies", "127.0.0.1",
                           "--backend-name", f"relay{i}", "--cap-loopback",
                           "--max-connections-per-ip", "3").start() for i in (1, 2)]
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
    assert "ip_hash;" not in conf and "least_conn;" in conf
    assert "server relay1:5000;" in conf and "server relay2:5000;" in conf
    assert '"~^relay1-"  relay1;' in conf and '"~^relay2-"  relay2;' in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf
    proxy_ip = services["proxy"]["networks"]["default"]["ipv4_address"]
    for name in ("relay1", "relay2"):
        command = services[name]["command"]
        assert command[command.index("--trusted-proxies") + 1] == proxy_ip
        assert services[name]["environment"]["ECC_RELAY_BACKEND_NAME"] == name
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
        # new sessions go to the relay with the fewest connections
        counts = [r.health()["connections"] for r in relays]
        assert sorted(counts) == [1, 1], counts
        other = relays[0]
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


def test_a_class_from_several_addresses_and_from_one_spreads_over_both_relays(
        class_deployment):
    proxy_url, relays = class_deployment

    def from_address(ip: str) -> Peer:
        return Peer(proxy_url, http_session=aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(ip, 0))))

    async def scenario():
        peers = []
        try:
            # 4 addresses, 2 students each, half of them long-polling only
            for n in range(8):
                peer = from_address(f"127.0.0.{2 + n // 2}")
                peers.append(await peer.connect(
                    transports=("polling",) if n % 2 else ("polling", "websocket")))
            counts = [r.health()["connections"] for r in relays]
            assert sum(counts) == 8 and min(counts) >= 2, counts   # ip_hash: [8, 0]
            for n, peer in enumerate(peers):
                await peer.join(f"student{n}", "class")
            for n, peer in enumerate(peers):   # everyone reaches everyone, over both relays
                target = peers[(n + 3) % 8]
                await peer.emit(P.SEND_MESSAGE, message(target.sid, seq=n))
            for n, peer in enumerate(peers):
                got = await peer.wait_for(P.RECEIVE_MESSAGE)
                assert got[0]["seq"] == (n - 3) % 8
            # each relay counts sessions per client address, the one nginx names: one
            # address with 7 sessions puts at least 4 on one relay, over its cap of 3,
            # whatever X-Forwarded-For the client writes itself
            refused = 0
            for n in range(7):
                peer = from_address("127.0.0.9")
                try:
                    await peer.connect(headers={"X-Forwarded-For": f"10.0.0.{n}"})
                    peers.append(peer)
                except socketio.exceptions.ConnectionError:
                    refused += 1
                    await peer.close()
            assert refused >= 1 and len(peers) - 8 <= 6
        finally:
            await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
    run(scenario())
