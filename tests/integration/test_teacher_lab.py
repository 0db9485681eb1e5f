"""`ecc-lab --teacher`: the relay it starts serves the teacher's console, whose address
(with its token, in the fragment) ecc-lab prints; Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from tests.support import ROOT
from tests.support.processes import free_port
from tests.support.teacher import console


@pytest.mark.slow
def test_ecc_lab_passes_teacher_to_its_relay_and_prints_the_console():
    env = {k: v for k, v in os.environ.items()
           if k not in ("ECC_RELAY_URL", "ECC_RELAY_TEACHER_TOKEN")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecc_widgets.lab", "--teacher", "--port", str(free_port()),
         "--relay-port", str(free_port())],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        found = None
        for line in proc.stdout:   # ends if ecc-lab exits: then the assertion says so
            found = re.search(r"Teacher's console: (http://\S+)/teacher#token=([\w-]+)", line)
            if found:
                break
        assert found, "ecc-lab printed no console address"
        url, token = found.group(1), found.group(2)
        url = url.replace("localhost", "127.0.0.1")
        assert console(url, "rooms", token=token)[0] == 200
        assert console(url, "rooms", token=None)[0] == 401
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
