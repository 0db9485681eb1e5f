"""Real-browser helpers: Debian's chromium through Playwright, Voila and JupyterLab servers.

Nothing here is mocked: the servers are real subprocesses on free loopback ports and the
browser is the system's chromium (Playwright cannot download one here, and need not).
Widget look-ups go by the labels users see ("Join", placeholder "Your name", the dropdown
described "Curve"), which are the app's stable contract.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.support import ROOT
from tests.support.processes import RelayProcess, free_port, require_binary, wait_for_port

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"


def launch_chromium(playwright, **kwargs):
    """Debian's chromium, or skip (locally) / fail (in CI) when it is missing."""
    return playwright.chromium.launch(
        executable_path=require_binary("chromium"), args=CHROMIUM_ARGS, **kwargs
    )


def _stop(proc: subprocess.Popen, log) -> None:
    # SIGINT, not SIGTERM: Jupyter servers shut their kernels down on an interrupt,
    # while a bare terminate can leave kernel processes behind.
    if proc.poll() is None:
        proc.send_signal(2)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


@contextmanager
def voila_server(
    notebook: Path, *, env: dict | None = None, log_name: str = "voila.log",
    module: str = "voila",
) -> Iterator[str]:
    """Serve one notebook with Voila on a free port; yields the page's URL. `module` is
    ``ecc_widgets.serving`` for the settings ecc-lab serves the dashboard with."""
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / log_name, "wb")  # noqa: SIM115 - closed by _stop
    cmd = [
        sys.executable, "-m", module, str(notebook), "--no-browser", f"--port={port}",
        "--Voila.ip=127.0.0.1", "--show_tracebacks=True",
    ]
    proc = subprocess.Popen(
        cmd, cwd=notebook.parent, env={**os.environ, **(env or {})},
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stop(proc, log)


@contextmanager
def jupyterlab_server(
    root: Path, *, env: dict | None = None, log_name: str = "jupyterlab.log"
) -> Iterator[tuple[str, str]]:
    """JupyterLab on a free port with a random token; yields (base URL, token)."""
    port = free_port()
    token = secrets.token_hex(16)
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / log_name, "wb")  # noqa: SIM115 - closed by _stop
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no extension look-ups on the network
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    proc = subprocess.Popen(
        cmd, cwd=root, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, timeout=90)
        yield f"http://127.0.0.1:{port}", token
    finally:
        _stop(proc, log)


def jupyterlab_settings(folder: Path) -> dict[str, str]:
    """JupyterLab settings for a test, written under `folder`: every cell rendered (no
    virtual scrolling), no news and no update check. The environment that selects them."""
    settings = folder / "settings"
    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                        "checkForUpdates": False},
    }.items():
        place, name = plugin.rsplit("/", 1)
        (settings / place).mkdir(parents=True, exist_ok=True)
        (settings / place / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
    return {"JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(folder / "workspaces")}


def run_all_cells(page) -> None:
    """JupyterLab's Run menu, Run All Cells."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


# --- widget look-ups by what the user sees -------------------------------------------------

def button(page, label: str):
    """An ipywidgets Button (or toggle button) by its exact text.

    A button with an icon has the icon font's glyph in its accessible name, hence the
    leading non-word characters allowed before the label.
    """
    return page.get_by_role("button", name=re.compile(rf"^\W*{re.escape(label)}\s*$"))


def step_tab(root, title: str):
    """The tab of one step of the dashboard ("Curve", "Keys", ...) by its title."""
    label = f".lm-TabBar-tabLabel:text-is({json.dumps(title)})"
    return root.locator(f".lm-TabBar-tab:has({label})")


def open_step(root, title: str) -> None:
    """Bring a step's tab to the front; a dashboard without tabs shows every step."""
    tab = step_tab(root, title)
    if tab.count():
        tab.first.click()


def text_box(page, placeholder: str):
    """An ipywidgets Text or Textarea by its placeholder."""
    return page.get_by_placeholder(placeholder, exact=True)


def dropdown(root, description: str):
    """The <select> of an ipywidgets Dropdown described `description`, within a page or a
    locator."""
    label = f"label.widget-label:text-is({json.dumps(description)})"
    return root.locator(f".widget-dropdown:has({label}) select")


def elsewhere(requests: list[str], url: str) -> list[str]:
    """The requests that left the dashboard's own server (a CDN, say)."""
    own = urlsplit(url).netloc
    return [r for r in requests
            if not r.startswith(("data:", "blob:")) and urlsplit(r).netloc != own]


def screenshot(page, name: str, element=None) -> Path:
    """The whole app, not only the viewport: Voila and JupyterLab scroll inside an inner
    element, so the viewport is stretched to the tallest scrolling content for the shot.
    With `element` (a locator), the viewport scrolled to show that element."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    if element is not None:
        element.scroll_into_view_if_needed()
        page.screenshot(path=str(path))
        return path
    size = page.viewport_size
    # Page-wide scrollers only: a log or a list scrolling inside a panel is narrower.
    height = page.evaluate("""() => Math.max(...[...document.querySelectorAll('*')]
        .filter(e => e.clientWidth >= 0.9 * window.innerWidth).map(e => e.scrollHeight))""")
    if size and height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(height, 6000)})
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        if size:
            page.set_viewport_size(size)
    return path


# --- the dashboard, as the end-to-end tests drive it ---------------------------------------
DASHBOARD = ROOT / "notebooks" / "dashboard.ipynb"
# Kernels start, import the app and build it: generous, since CI shares two cores.
APP_READY_MS = 90_000
NETWORK_MS = 45_000


def join(page, name: str, room: str) -> None:
    text_box(page, "Your name").fill(name)
    text_box(page, "Room").fill(room)
    button(page, "Join").click()
    expect_joined(page, name, room)


def expect_joined(page, name: str, room: str) -> None:
    status = page.locator(".widget-html", has_text=f"as {name} in room {room}")
    expect(status).to_be_visible(timeout=NETWORK_MS)
    expect(status.get_by_text(re.compile(r"^connected$"))).to_be_visible(timeout=NETWORK_MS)


def make_keys(page, timeout_ms: int = NETWORK_MS) -> None:
    """Keys made at once (the "instant" speed) in the page's Keys step."""
    open_step(page, "Keys")
    button(page, "instant").click()
    button(page, "Generate keys").click()
    expect(page.get_by_text(re.compile("your public key", re.I)).first).to_be_visible(
        timeout=timeout_ms)


def peer_card(page, name: str):
    """The card of one peer in the peers panel (it holds that peer's "Share key" button)."""
    return page.locator(".widget-vbox").filter(
        has=page.locator(".ecc-peer-name", has_text=re.compile(rf"^{re.escape(name)}"))
    ).filter(has=button(page, "Share key")).last


@dataclass(frozen=True)
class Lab:
    url: str   # the dashboard's address
    pid: int   # ecc-lab's process: the serving tree is it and its descendants


@contextmanager
def served(command: list[str], port: int, log_name: str, *, cwd: Path = ROOT,
           env: dict | None = None) -> Iterator[int]:
    """Run a page server (`command`, listening on `port`); yields its pid. Stopped with
    Ctrl-C, and every process it started is reaped even if it does not stop in time."""
    import psutil

    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / log_name, "wb")  # noqa: SIM115 - closed by _stop
    proc = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=log,
                            stderr=subprocess.STDOUT)
    tree = psutil.Process(proc.pid)
    try:
        wait_for_port(port, proc, timeout=90)
        yield proc.pid
    finally:
        children = tree.children(recursive=True)
        _stop(proc, log)
        for child in children:  # what it started, should it not have stopped them itself
            with suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(children, timeout=10)


@contextmanager
def lab_server(*args: str, relay_url: str, log_name: str = "ecc-lab.log") -> Iterator[Lab]:
    """`ecc-lab` itself (the relay given, the dashboard on a free port, `args` passed on,
    e.g. ``--engine voila``), stopped with Ctrl-C as a teacher would."""
    port = free_port()
    command = [sys.executable, "-m", "ecc_widgets.lab", f"--port={port}",
               f"--relay-url={relay_url}", *args]
    with served(command, port, log_name) as pid:
        yield Lab(f"http://127.0.0.1:{port}/", pid)


@contextmanager
def dashboard_with_relay(engine: str, log_name: str) -> Iterator[tuple[str, str]]:
    """A relay of its own and `ecc-lab --engine=<engine>` on it: (engine, the page's
    address); both stopped however the tests end."""
    require_binary("chromium")
    relay = RelayProcess().start()
    try:
        with lab_server(f"--engine={engine}", relay_url=relay.url, log_name=log_name) as lab:
            yield engine, lab.url
    finally:
        relay.stop()


def in_viewport(page, locator) -> bool:
    """The whole of `locator`'s box is inside the page's viewport."""
    box = locator.bounding_box()
    size = page.viewport_size
    return (box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"]
            and box["x"] >= 0 and box["x"] + box["width"] <= size["width"])


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process and its live descendants have used."""
    import psutil

    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        with suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    import psutil

    total = 0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        with suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total
