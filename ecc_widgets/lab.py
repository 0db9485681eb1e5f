"""`ecc-lab`: the local relay and the Voila dashboard in one command.

It starts a relay on localhost (or uses the one given by `--relay-url` / `ECC_RELAY_URL`, or
one already answering at the local address), serves the dashboard notebook with Voila, and
prints the address to open in two browser tabs, one per peer. Ctrl-C stops both.

Served for a class (see `ecc_widgets.serving`): a closed or reloaded tab's kernel is shut
down and leaves the room, kernels no page uses are culled, and the page says when it has lost
the server. With ``--host 0.0.0.0`` it prints the addresses other machines can use, with a
QR code of the dashboard's. The dashboard port honours ``PORT`` as hosting platforms set it.

The dashboard is the checkout's `notebooks/dashboard.ipynb` when run from a source tree;
after a plain `pip install` there is no checkout, so the same notebook is generated from
`DASHBOARD_CELLS` into a temporary folder (a test keeps the two identical).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import webbrowser
from contextlib import suppress
from pathlib import Path

from ecc_widgets.localrelay import DEFAULT_PORT as DEFAULT_RELAY_PORT
from ecc_widgets.localrelay import pick_port, relay_health, spawn_relay
from ecc_widgets.serving import ENV_JOIN_URL

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8866  # Voila's usual port
# How pages are served (README "Running it for a class" has the figures): Solara runs every
# student's page in one process; Voila starts a kernel process per page.
ENGINES = ("solara", "voila")
ENGINE_WORDS = {"solara": "Solara (every page in this one process)",
                "voila": "Voila (a kernel process per page)"}

# (cell id, cell type, source) of the dashboard notebook; Voila shows the markdown and the app.
DASHBOARD_CELLS: tuple[tuple[str, str, str], ...] = (
    ("title", "markdown",
     "Open this page in two tabs (or on two machines): each tab is one peer. Join the same "
     "room, generate keys, share them, and chat end-to-end encrypted."),
    ("app", "code", "from ecc_widgets.app import EccApp\n\napp = EccApp()\napp"),
)

CHECKOUT_DASHBOARD = Path(__file__).resolve().parent.parent / "notebooks" / "dashboard.ipynb"


class LabError(RuntimeError):
    """A start-up problem explained in words (port taken, relay unreachable, ...)."""


def dashboard_notebook() -> dict:
    """The dashboard as an nbformat-4 notebook (plain JSON, no nbformat import needed)."""
    cells = []
    for cell_id, cell_type, source in DASHBOARD_CELLS:
        cell: dict = {"cell_type": cell_type, "id": cell_id, "metadata": {}, "source": source}
        if cell_type == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {
        "cells": cells,
        "metadata": {
            "title": "ECC Chat Lab",   # the page's title in Voila (else the file's name)
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_dashboard(folder: Path) -> Path:
    path = folder / "dashboard.ipynb"
    path.write_text(json.dumps(dashboard_notebook(), indent=1) + "\n", encoding="utf-8")
    return path


def _wait(check, proc: subprocess.Popen, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"the {what} exited with code {proc.returncode} while starting")
        if check():
            return
        time.sleep(0.1)
    raise LabError(f"the {what} did not start within {timeout:.0f}s")


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen | None, sig: int, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecc-lab",
        description="Start a local relay and serve the ECC Chat Lab dashboard with Voila.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to serve on (default %(default)s; 0.0.0.0 for the LAN)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or DEFAULT_PORT),
                        help="dashboard port (default: env PORT, else %(default)s; a free "
                             "one if taken)")
    parser.add_argument("--relay-url", default=os.environ.get("ECC_RELAY_URL"),
                        help="use this relay instead of starting one (env ECC_RELAY_URL)")
    parser.add_argument("--relay-port", type=int, default=DEFAULT_RELAY_PORT,
                        help="port of the relay started here (default %(default)s)")
    parser.add_argument("--engine", choices=ENGINES, default=None,
                        help="how pages are served: solara (every page in one process, "
                             "the default) or voila (a kernel per page; the default with "
                             "--notebook)")
    parser.add_argument("--notebook", type=Path, default=None,
                        help="serve this notebook instead of the dashboard (with Voila)")
    parser.add_argument("--teacher", action="store_true",
                        help="the relay started here serves the teacher's console at "
                             "/teacher (its address, with its token, is printed)")
    parser.add_argument("--open", action="store_true",
                        help="open two browser tabs on the dashboard")
    return parser


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other machines may reach (loopback left out)."""
    found: list[str] = []
    with suppress(OSError):
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(sockaddr[0])
    with suppress(ImportError, OSError):
        import psutil

        for addrs in psutil.net_if_addrs().values():
            found += [a.address for a in addrs if a.family == socket.AF_INET]
    return list(dict.fromkeys(a for a in found if not a.startswith("127.")))


def qr_text(data: str) -> str:
    """`data` as a QR code drawn with text blocks, for a terminal ("" without `qrcode`)."""
    try:
        import qrcode
    except ImportError:
        return ""
    import io

    code = qrcode.QRCode(border=2)
    code.add_data(data)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue().rstrip("\n")


def _print(*lines: str) -> None:
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    relay: subprocess.Popen | None = None
    server: subprocess.Popen | None = None
    stopping = False

    def on_sigterm(signum, frame):  # a service manager's stop means the same as Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    with tempfile.TemporaryDirectory(prefix="ecc-lab-") as tmp:
        try:
            engine = args.engine or ("voila" if args.notebook is not None else "solara")
            if engine == "solara" and args.notebook is not None:
                raise LabError("--notebook is served with Voila: add --engine voila")
            if args.notebook is not None:
                notebook = args.notebook.resolve()
                if not notebook.is_file():
                    raise LabError(f"no notebook at {notebook}")
            elif CHECKOUT_DASHBOARD.is_file():
                notebook = CHECKOUT_DASHBOARD
            else:
                notebook = write_dashboard(Path(tmp))

            # The relay: the one asked for, one already running here, or a new child.
            relay_host = "127.0.0.1" if args.host in ("127.0.0.1", "localhost") else args.host
            if args.relay_url:
                relay_url = args.relay_url.rstrip("/")
                if relay_health(relay_url) is None:
                    _print(f"warning: no relay answers at {relay_url} yet; "
                           "the dashboard will say so when a peer joins")
            else:
                local = f"http://127.0.0.1:{args.relay_port}"
                if relay_health(local) is not None:
                    relay_url = local
                    _print(f"Using the relay already running at {relay_url}")
                else:
                    relay_port = pick_port(relay_host, args.relay_port)
                    options, relay_env = [], None
                    if args.teacher:   # the console's token: given, or made here to print
                        teacher_token = (os.environ.get("ECC_RELAY_TEACHER_TOKEN")
                                         or secrets.token_urlsafe(24))
                        options = ["--teacher"]
                        relay_env = {**os.environ, "ECC_RELAY_TEACHER_TOKEN": teacher_token}
                    # started here, stopped here: no idle exit
                    relay = spawn_relay(
                        relay_host, relay_port, *options, env=relay_env,
                        start_new_session=True,  # Ctrl-C reaches us; we stop children in order
                    )
                    relay_url = f"http://127.0.0.1:{relay_port}"
                    _wait(lambda: relay_health(relay_url) is not None, relay, "relay", 30)

            port = pick_port(args.host, args.port)
            others = lan_addresses() if args.host in ("0.0.0.0", "::") else []
            join_url = f"http://{others[0]}:{port}/" if others else ""
            if engine == "solara":
                command = [sys.executable, "-m", "ecc_widgets.solara_serving",
                           f"--host={args.host}", f"--port={port}"]
            else:
                command = [sys.executable, "-m", "ecc_widgets.serving", str(notebook),
                           "--no-browser", f"--port={port}", f"--Voila.ip={args.host}",
                           "--Voila.log_level=WARN", "--VoilaConfiguration.show_tracebacks=True"]
            server_name = f"{engine.capitalize()} server"
            server = subprocess.Popen(
                command, cwd=notebook.parent,
                env={**os.environ, "ECC_RELAY_URL": relay_url, ENV_JOIN_URL: join_url},
                start_new_session=True,
            )
            probe_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
            _wait(lambda: _listening(probe_host, port), server, server_name, 60)

            shown_host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0", "::") else args.host
            address = f"http://{shown_host}:{port}/"
            lines = [
                "",
                "ECC Chat Lab is running.",
                f"  Relay:      {relay_url}" + ("" if relay else " (not started here)"),
                f"  Dashboard:  {address}",
                f"  Served by:  {ENGINE_WORDS[engine]}",
            ]
            if args.host in ("0.0.0.0", "::"):
                for ip in others:
                    lines.append(f"  From other machines: http://{ip}:{port}/")
                    if relay is not None:
                        lines.append(f"  Relay for their notebooks: http://{ip}:{relay_port}")
                if not others:
                    lines.append("  (no network address found: other machines cannot reach it)")
                else:
                    qr = qr_text(join_url)
                    if qr:
                        lines += ["", f"Scan to open {join_url} :", qr]
            if args.teacher and relay is not None:
                lines.append(f"  Teacher's console: http://{shown_host}:{relay_port}/teacher"
                             f"#token={teacher_token}")
            elif args.teacher:
                lines.append("  Teacher's console: not here (the relay was not started by "
                             "ecc-lab: start it with --teacher)")
            lines += ["", "Open the dashboard in two browser tabs: each tab is one peer.",
                      "Press Ctrl-C to stop."]
            _print(*lines)
            if args.open:
                webbrowser.open_new_tab(address)
                webbrowser.open_new_tab(address)

            while True:  # watch the children; one dying takes the lab down with a reason
                for proc, what in ((server, server_name), (relay, "relay")):
                    if proc is not None and proc.poll() is not None:
                        raise LabError(f"the {what} stopped (exit code {proc.returncode})")
                time.sleep(0.5)
        except KeyboardInterrupt:
            stopping = True
            _print("", "Stopping the dashboard and the relay ...")
            return 0
        except LabError as exc:
            _print(f"ecc-lab: {exc}")
            return 1
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            # Both servers close their pages' sessions on SIGINT (Voila shuts its kernels
            # down); the relay disconnects clients on SIGTERM.
            _stop(server, signal.SIGINT)
            _stop(relay, signal.SIGTERM)
            if stopping:
                _print("Stopped.")


if __name__ == "__main__":
    sys.exit(main())
