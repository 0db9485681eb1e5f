"""`ecc-lab`: a real relay and a real Voila server as child processes, stopped by Ctrl-C."""

from __future__ import annotations

import http.cookiejar
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import nbformat
import psutil
import pytest

from ecc_widgets import lab, localrelay
from tests.support import ROOT
from tests.support.processes import free_port, wait_for_http, wait_for_port

DASHBOARD = ROOT / "notebooks" / "dashboard.ipynb"


def test_checkout_dashboard_is_the_notebook_ecc_lab_generates():
    # After a plain `pip install` there is no notebooks/ folder: ecc-lab writes the dashboard
    # from DASHBOARD_CELLS, so the file in the checkout must not drift from it.
    on_disk = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    cells = [(c["id"], c["cell_type"], "".join(c["source"])) for c in on_disk["cells"]]
    assert cells == list(lab.DASHBOARD_CELLS)
    assert any("EccApp()" in source for _, _, source in lab.DASHBOARD_CELLS)


def test_generated_dashboard_is_a_valid_notebook(tmp_path):
    path = lab.write_dashboard(tmp_path)
    nbformat.validate(nbformat.read(path, as_version=4))


def test_a_notebook_is_served_with_voila_not_solara(tmp_path, capsys):
    notebook = lab.write_dashboard(tmp_path)
    assert lab.main(["--notebook", str(notebook), "--engine", "solara"]) == 1
    assert "--notebook is served with Voila" in capsys.readouterr().out


def test_missing_notebook_is_refused_in_words(tmp_path, capsys):
    assert lab.main(["--notebook", str(tmp_path / "nope.ipynb")]) == 1
    assert "no notebook at" in capsys.readouterr().out


def test_pick_port_falls_back_to_a_free_one():
    port = free_port()
    assert localrelay.pick_port("127.0.0.1", port) == port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        other = localrelay.pick_port("127.0.0.1", port)
    assert other != port and other > 0
    assert localrelay.pick_port("127.0.0.1", 0) > 0   # no preference: one the OS picks


class LabProcess:
    """`python -m ecc_widgets.lab` with its output read line by line on a thread."""

    def __init__(self, *args: str, env: dict | None = None):
        clean = {k: v for k, v in os.environ.items() if k != "ECC_RELAY_URL"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ecc_widgets.lab", *args], cwd=ROOT,
            env={**clean, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, needle: str, timeout: float = 90) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"ecc-lab never printed {needle!r}; got {self.seen}") \
                    from None
            self.seen.append(line)
            if needle in line:
                return line

    def stop(self) -> int:
        """Ctrl-C, as a user in the terminal would press it."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(60)


def _listening(port: int) -> bool:
    return any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
               for c in psutil.net_connections("tcp"))


@pytest.mark.slow
def test_ecc_lab_starts_relay_and_dashboard_and_ctrl_c_stops_both():
    port, relay_port = free_port(), free_port()
    lab_proc = LabProcess("--port", str(port), "--relay-port", str(relay_port))
    try:
        line = lab_proc.wait_for("Dashboard:")
        address = line.split("Dashboard:")[1].strip()
        assert address == f"http://localhost:{port}/"
        health = wait_for_http(f"http://127.0.0.1:{relay_port}/healthz")
        assert health["ok"] is True
        # Solara sends the page's shell; the app is built in the server's one process once
        # the page's websocket connects: no kernel process is started for a page.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=120) as resp:
            page = resp.read().decode()
        assert resp.status == 200 and "<title>ECC Chat Lab</title>" in page
        assert "Solara" in lab_proc.wait_for("Served by:")
        children = psutil.Process(lab_proc.proc.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "-m relay" in names and "ecc_widgets.solara_serving" in names
        assert "ipykernel" not in names
    finally:
        code = lab_proc.stop()
    assert code == 0
    lab_proc.wait_for("Stopped.")
    gone, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, f"left behind: {[p.cmdline() for p in alive]}"
    assert not _listening(port) and not _listening(relay_port)


@pytest.mark.slow
def test_ecc_lab_uses_a_given_relay_and_leaves_it_running(relay):
    port = free_port()
    lab_proc = LabProcess("--port", str(port), env={"ECC_RELAY_URL": relay.url})
    try:
        relay_line = lab_proc.wait_for("Relay:")
        assert relay.url in relay_line and "not started here" in relay_line
        lab_proc.wait_for("Dashboard:")
    finally:
        assert lab_proc.stop() == 0
    assert relay.health()["ok"] is True  # not ours to stop


def test_dashboard_port_honours_port_variable(monkeypatch):
    monkeypatch.setenv("PORT", "9123")
    assert lab._parser().parse_args([]).port == 9123
    assert lab._parser().parse_args(["--port", "9200"]).port == 9200
    monkeypatch.delenv("PORT")
    assert lab._parser().parse_args([]).port == lab.DEFAULT_PORT


def test_lan_addresses_are_this_machines_non_loopback_ipv4():
    found = lab.lan_addresses()
    mine = {a.address for addrs in psutil.net_if_addrs().values() for a in addrs
            if a.family == socket.AF_INET}
    assert set(found) <= mine | {socket.gethostbyname(socket.gethostname())}
    assert not any(a.startswith("127.") for a in found)
    assert set(found) >= {a for a in mine if not a.startswith("127.")}


def test_qr_code_is_drawn_as_text():
    art = lab.qr_text("http://192.0.2.7:8866/").splitlines()
    assert len(art) > 10 and len(set(map(len, art))) == 1  # a square-ish block of text


@pytest.mark.slow
def test_ecc_lab_for_the_lan_prints_addresses_a_closed_page_shuts_its_kernel_quietly():
    port, relay_port = free_port(), free_port()
    lab_proc = LabProcess("--host", "0.0.0.0", "--relay-port", str(relay_port),
                          "--engine", "voila", env={"PORT": str(port)})
    try:
        lab_proc.wait_for("Press Ctrl-C")
        printed = "\n".join(lab_proc.seen)
        for ip in lab.lan_addresses():
            assert f"http://{ip}:{port}/" in printed
        assert "Scan to open" in printed or not lab.lan_addresses()
        # A page load, then its unload shutdown as the page's script sends it: accepted.
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"http://127.0.0.1:{port}/", timeout=120) as resp:
            page = resp.read().decode()
        assert "Disconnected from the server: reload the page to rejoin" in page
        if lab.lan_addresses():  # the page ends with the join address and its QR code
            assert "Join from your phone:" in page
            assert f"http://{lab.lan_addresses()[0]}:{port}/" in page
            assert 'src="data:image/svg+xml;base64,' in page
        kernel_id = re.search(r'"kernelId": "([0-9a-f-]+)"', page).group(1)
        xsrf = next(c.value for c in jar if c.name == "_xsrf")
        shutdown = urllib.request.Request(
            f"http://127.0.0.1:{port}/voila/api/shutdown/{kernel_id}",
            data=urllib.parse.urlencode({"_xsrf": xsrf}).encode(), method="POST")
        with opener.open(shutdown, timeout=30) as resp:
            assert resp.status == 204
        kernels = [c for c in psutil.Process(lab_proc.proc.pid).children(recursive=True)
                   if "ipykernel" in " ".join(c.cmdline())]
        psutil.wait_procs(kernels, timeout=15)
        assert not any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE for k in kernels)
    finally:
        assert lab_proc.stop() == 0
    lab_proc.wait_for("Stopped.")
    quiet = "\n".join(lab_proc.seen)
    assert "without encryption" not in quiet and "not trusted" not in quiet
    assert " 403 " not in quiet


@pytest.mark.slow
def test_kernel_of_a_page_nobody_keeps_open_is_culled(tmp_path):
    # A bare page load (no browser, so no websocket and no unload) leaves a kernel; the
    # serving settings cull it. Timeouts shortened here; the class default is in serving.
    port = free_port()
    notebook = lab.write_dashboard(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecc_widgets.serving", str(notebook), "--no-browser",
         f"--port={port}", "--Voila.ip=127.0.0.1",
         "--MappingKernelManager.cull_idle_timeout=2", "--MappingKernelManager.cull_interval=1"],
        cwd=tmp_path, env={**os.environ, "ECC_RELAY_URL": "http://127.0.0.1:9"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=120) as resp:
            assert "each tab is one peer" in resp.read().decode()
        kernels = [c for c in psutil.Process(proc.pid).children(recursive=True)
                   if "ipykernel" in " ".join(c.cmdline())]
        assert kernels, "the page load started no kernel"
        gone, alive = psutil.wait_procs(kernels, timeout=30)
        assert not alive, "the kernel of a closed page was not culled"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
