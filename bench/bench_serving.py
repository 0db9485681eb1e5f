"""What hostile clients cost the dashboard's Voila server (``python -m ecc_widgets.serving``).

- bare_gets: 12 GETs of the page at once from one address, none connecting its kernel (curl
  in a loop): their answers, the server tree's memory before, at its peak, and 45 s after
  the last answer, and when the last of their kernels was gone.
- legacy_framing: a student's websocket to their own kernel in the legacy framing, every
  widget's state asked for; for 15 s, the slowest static file and the number that did not
  answer within 5 s, another page's load time, and the tree's growth.

One JSON line per scenario and code measured, with the load average. ``--before <dir>``
measures the code in <dir> too (e.g. ``git archive <commit> | tar -x -C <dir>``), in the same
run: the server is then started with that directory first on PYTHONPATH.

    python bench/bench_serving.py [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/...` works

import websocket  # noqa: E402

from tests.support.browser import DASHBOARD  # noqa: E402
from tests.support.serving import KernelSocket, ServingProcess, get  # noqa: E402

MB = 1024 * 1024


def server(code: Path | None, name: str) -> ServingProcess:
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get(
        "PYTHONPATH")]))} if code else None
    return ServingProcess(DASHBOARD, env=env, log_name=f"bench-serving-{name}.log")


def bare_gets(code: Path | None, label: str) -> dict:
    with server(code, f"bare-{label}") as srv:
        get(f"{srv.url}voila/static/voila.js")
        before = srv.rss()
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], srv.rss())
                time.sleep(0.5)

        sampler = threading.Thread(target=sample)
        sampler.start()
        answers: list = []
        loads = [threading.Thread(target=lambda: answers.append(get(srv.url)))
                 for _ in range(12)]
        for load in loads:
            load.start()
        for load in loads:
            load.join()
        answered = time.monotonic()
        gone = None
        while time.monotonic() - answered < 45:
            if gone is None and not srv.kernels():
                gone = time.monotonic() - answered
            time.sleep(1)
        done.set()
        sampler.join()
        statuses = [a.status for a in answers]
        return {"bench": "serving_bare_gets", "code": label, "gets": 12,
                "served": statuses.count(200), "too_many": statuses.count(429),
                "rss_before_mb": round(before / MB), "rss_peak_mb": round(peak[0] / MB),
                "rss_after_45s_mb": round(srv.rss() / MB),
                "kernels_gone_after_s": None if gone is None else round(gone, 1),
                "kernels_left": len(srv.kernels())}


def legacy_framing(code: Path | None, label: str) -> dict:
    with server(code, f"legacy-{label}") as srv:
        own = get(srv.url)
        kernel_id = own.kernel_id()
        before = srv.rss()
        refused = False
        sock = None
        try:
            sock = KernelSocket(srv.url, kernel_id, cookie=own.cookie_for(
                f"{srv.url}api/kernels/{kernel_id}/channels"))
            sock.send("comm_info_request", {"target_name": "jupyter.widget"})
            for comm_id in sock.replies("comm_info_reply")["comms"]:
                sock.send("comm_msg", {"comm_id": comm_id, "data": {"method": "request_state"}})
        except websocket.WebSocketException:
            refused = True
        page: dict = {}
        loader = threading.Thread(target=lambda: page.update(a=get(srv.url, timeout=60)))
        loader.start()
        slowest, missed = 0.0, 0
        end = time.monotonic() + 15
        while time.monotonic() < end:
            answer = get(f"{srv.url}voila/static/voila.js", timeout=5)
            slowest = max(slowest, answer.seconds)
            missed += answer.status != 200
            time.sleep(0.5)
        grown = (srv.rss() - before) / MB
        loader.join(60)
        if sock is not None:
            sock.close()
        other = page.get("a")
        return {"bench": "serving_legacy_framing", "code": label, "refused": refused,
                "static_slowest_s": round(slowest, 2), "static_missed": missed,
                "other_page_s": round(other.seconds, 1) if other and other.status == 200
                else None, "rss_growth_mb": round(grown)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare")
    args = parser.parse_args()
    runs = [(None, "this")] + ([(args.before.resolve(), "before")] if args.before else [])
    for code, label in runs:
        for scenario in (bare_gets, legacy_framing):
            line = scenario(code, label)
            line["load"] = [round(x, 2) for x in os.getloadavg()]
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
