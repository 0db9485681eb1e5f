"""The dashboard's Voila server as a class meets it, and what a hostile client does to it.

`ServingProcess` runs ``python -m ecc_widgets.serving`` (as ``ecc-lab`` does) on a free
loopback port and reaps its whole tree, kernels included, even when the server no longer
answers signals. `get` fetches a page or file with a deadline, never raising on a status;
`KernelSocket` is a raw client of a kernel's websocket in either framing.
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import websocket

from tests.support.browser import ARTIFACTS
from tests.support.processes import free_port, wait_for_port

V1 = "v1.kernel.websocket.jupyter.org"


class ServingProcess:
    """``python -m ecc_widgets.serving <notebook>`` on a free loopback port."""

    def __init__(self, notebook: Path | None, *args: str, env: dict | None = None,
                 log_name: str = "serving.log", cmd: list[str] | None = None,
                 port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        ARTIFACTS.mkdir(exist_ok=True)
        self._log = open(ARTIFACTS / log_name, "wb")  # noqa: SIM115 - closed by stop
        if cmd is None:
            cmd = [sys.executable, "-m", "ecc_widgets.serving", str(notebook), "--no-browser",
                   f"--port={self.port}", "--Voila.ip=127.0.0.1", *args]
        self.proc = subprocess.Popen(
            cmd, cwd=notebook.parent if notebook else None, stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ECC_RELAY_URL": "http://127.0.0.1:9", **(env or {})},
        )
        self._seen: set[psutil.Process] = set()

    @classmethod
    def of(cls, cmd: list[str], port: int, log_name: str) -> ServingProcess:
        """Another server command (a Jupyter server) listening on `port`, reaped the same."""
        return cls(None, log_name=log_name, cmd=cmd, port=port)

    def __enter__(self) -> ServingProcess:
        try:
            wait_for_port(self.port, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def tree(self) -> list[psutil.Process]:
        """The server and every process under it (its kernels)."""
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        self._seen.update(procs)
        return procs

    def kernels(self) -> list[psutil.Process]:
        return [p for p in self.tree()[1:] if _is_kernel(p)]

    def rss(self) -> int:
        """Resident memory of the whole tree, in bytes."""
        total = 0
        for p in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total

    def stop(self) -> None:
        """SIGINT (Voila shuts its kernels down), SIGKILL if it does not exit in 20 s (a
        spinning server ignores signals); then any process of the tree still alive."""
        self.tree()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        left = [p for p in self._seen if p.pid != self.proc.pid and p.is_running()]
        for p in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(left, timeout=10)
        self._log.close()


def _is_kernel(p: psutil.Process) -> bool:
    try:
        return "ipykernel" in " ".join(p.cmdline())
    except psutil.Error:
        return False


@dataclass
class Answer:
    status: int
    body: str
    cookies: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)
    seconds: float = 0.0

    def kernel_id(self) -> str:
        match = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', self.body)
        assert match, f"no kernel id in the page ({self.status}): {self.body[:200]!r}"
        return match.group(1)

    def cookie_for(self, url: str) -> str:
        """The Cookie header this page's browser would send to `url`."""
        request = urllib.request.Request(url)
        self.cookies.add_cookie_header(request)
        return request.get_header("Cookie") or ""


def get(url: str, *, headers: dict | None = None, timeout: float = 120.0,
        cookies: http.cookiejar.CookieJar | None = None, method: str = "GET",
        data: bytes | None = None) -> Answer:
    """One request; the answer whatever its status, or status 0 if none came in `timeout`."""
    jar = cookies if cookies is not None else http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    request = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    start = time.monotonic()
    try:
        with opener.open(request, timeout=timeout) as resp:
            return Answer(resp.status, resp.read().decode(errors="replace"), jar,
                          time.monotonic() - start)
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read().decode(errors="replace"), jar,
                      time.monotonic() - start)
    except (TimeoutError, OSError, http.client.HTTPException):
        return Answer(0, "", jar, time.monotonic() - start)


def message(msg_type: str, content: dict) -> dict:
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "",
                   "session": "s", "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "content": content, "buffers": [],
    }


def v1_frame(msg: dict, channel: str = "shell") -> bytes:
    """A message in the v1 framing (8-byte little-endian count and offsets)."""
    parts = [json.dumps(msg[k]).encode() for k in ("header", "parent_header", "metadata",
                                                  "content")]
    parts = [channel.encode(), *parts]
    offsets = [8 * (len(parts) + 2)]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    head = b"".join(n.to_bytes(8, "little") for n in [len(offsets), *offsets])
    return head + b"".join(parts)


class KernelSocket:
    """A raw client of /api/kernels/<id>/channels: legacy framing (JSON text) unless `v1`."""

    def __init__(self, base_url: str, kernel_id: str, *, v1: bool = False, cookie: str = "",
                 origin: str | None = None, timeout: float = 10.0,
                 headers: list[str] | None = None):
        headers = [*(headers or []), *([f"Cookie: {cookie}"] if cookie else [])]
        url = f"{base_url.replace('http', 'ws', 1)}api/kernels/{kernel_id}/channels?session_id=s"
        self.v1 = v1
        self.ws = websocket.create_connection(
            url, timeout=timeout, header=headers, subprotocols=[V1] if v1 else None,
            origin=origin, suppress_origin=origin is None)

    def send(self, msg_type: str, content: dict) -> None:
        msg = message(msg_type, content)
        if self.v1:
            self.ws.send_binary(v1_frame(msg))
        else:
            self.ws.send(json.dumps({**msg, "channel": "shell"}))

    def replies(self, msg_type: str, timeout: float = 30.0) -> dict:
        """The content of the first reply of `msg_type` (either framing)."""
        deadline = time.monotonic() + timeout
        self.ws.settimeout(timeout)
        while time.monotonic() < deadline:
            opcode, data = self.ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_TEXT:
                msg = json.loads(data)
                if msg["header"]["msg_type"] == msg_type:
                    return msg["content"]
            elif opcode == websocket.ABNF.OPCODE_BINARY and self.v1:
                count = int.from_bytes(data[:8], "little")
                offsets = [int.from_bytes(data[8 * (i + 1):8 * (i + 2)], "little")
                           for i in range(count)]
                header = json.loads(data[offsets[1]:offsets[2]])
                if header["msg_type"] == msg_type:
                    return json.loads(data[offsets[4]:offsets[5]])
        raise AssertionError(f"no {msg_type} within {timeout}s")

    def close(self) -> None:
        self.ws.close()
