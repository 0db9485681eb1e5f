"""The Binder files, checked the way Binder uses them.

Binder (repo2docker) installs binder/requirements.txt, runs binder/postBuild in the
repository, and launches Jupyter through binder/start. The slow test does the same in a
fresh virtual environment: install, postBuild, start (whose relay must come up), and then a
kernel, started with jupyter_client as Jupyter would, joins a room through that relay.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support import ROOT
from tests.support.processes import free_port

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

BINDER = ROOT / "binder"
ARTIFACTS = ROOT / "test-artifacts"


def pins() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one specifier per line
        assert spec.operator == "==", f"not pinned: {line}"
        name = canonicalize_name(req.name)
        assert name not in found, f"pinned twice: {name}"
        found[name] = Version(spec.version)
    return found


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_requirements_pin_every_dependency_within_pyproject():
    pinned = pins()
    wanted = [*project()["dependencies"], *project()["optional-dependencies"]["app"]]
    for text in wanted:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"sys_platform": "linux"}):
            continue  # Binder images are Linux
        name = canonicalize_name(req.name)
        assert name in pinned, f"{name} is a dependency but binder does not pin it"
        assert req.specifier.contains(pinned[name]), f"{name}=={pinned[name]} breaks {req}"
    assert pinned["ipykernel"] >= Version("7.1")
    # The widget front ends must match ipywidgets, or widgets show as plain text.
    for front_end in ("widgetsnbextension", "jupyterlab-widgets", "voila", "jupyterlab"):
        assert front_end in pinned


def test_runtime_python_satisfies_requires_python():
    text = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", text)
    assert match, f"runtime.txt should read python-X.Y, not {text!r}"
    assert Version(match.group(1)) in SpecifierSet(project()["requires-python"])


@pytest.mark.parametrize("script", ["postBuild", "start"])
def test_binder_scripts_are_executable_bash(script):
    path = BINDER / script
    assert os.access(path, os.X_OK), f"binder/{script} must be executable"
    assert path.read_text().startswith("#!/bin/bash\n")
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_start_hands_over_to_jupyter():
    lines = [line.strip() for line in (BINDER / "start").read_text().splitlines()]
    assert lines[-1] == 'exec "$@"', "binder/start must end by running Binder's command"
    assert any("-m relay" in line and line.endswith("&") for line in lines), \
        "the relay runs in the background, before Jupyter"


def _copy_repository(target):
    """What Binder clones: the working tree without local state."""
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(
        ".git", ".venv", "test-artifacts", "__pycache__", "*.egg-info", "build", "dist",
        "node_modules", ".pytest_cache", ".ruff_cache", ".hypothesis", ".ipynb_checkpoints"))


KERNEL_CHECK = textwrap.dedent('''
    """Run by binder/start in place of Jupyter: a kernel must reach start's relay."""
    import json
    import sys

    from jupyter_client.manager import start_new_kernel

    CODE = """
    import json, os, time
    import ecc_widgets, ecc_widgets.lab
    from ecc_widgets.app import LocalRelay
    from ecc_widgets.session import Session

    s = Session(relay_locator=LocalRelay(start=False))  # only binder/start's relay may answer
    s.join("binder-check", "binder-room")
    deadline = time.monotonic() + 60
    while not (s.joined and s.connection == "connected") and time.monotonic() < deadline:
        time.sleep(0.1)
    print(json.dumps({
        "joined": s.joined, "connection": s.connection, "relay_url": s.relay_url,
        "env": os.environ.get("ECC_RELAY_URL"), "module": ecc_widgets.__file__,
        "checkout_dashboard": ecc_widgets.lab.CHECKOUT_DASHBOARD.is_file(),
    }))
    s.close()
    """

    km, kc = start_new_kernel(kernel_name="python3")
    out = []
    try:
        reply = kc.execute_interactive(CODE, timeout=120, output_hook=lambda msg: out.append(
            msg["content"].get("text", "") if msg["msg_type"] == "stream" else ""))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print("".join(out))
    sys.exit(0 if reply["content"]["status"] == "ok" else 1)
''')


@pytest.mark.slow
def test_binder_steps_in_a_fresh_virtualenv(tmp_path):
    venv, repo, home = tmp_path / "venv", tmp_path / "repo", tmp_path / "home"
    home.mkdir()
    _copy_repository(repo)
    timings: dict[str, float] = {}

    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    timings["venv_s"] = time.monotonic() - started

    env = {k: v for k, v in os.environ.items() if k not in (
        "ECC_RELAY_URL", "PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "XDG_CACHE_HOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(venv),
               HOME=str(home), PIP_DISABLE_PIP_VERSION_CHECK="1")

    started = time.monotonic()
    install = subprocess.run(
        ["python", "-m", "pip", "install", "--quiet", "-r", str(BINDER / "requirements.txt")],
        env=env, cwd=home, capture_output=True, text=True)
    timings["pip_install_s"] = time.monotonic() - started
    assert install.returncode == 0, install.stderr[-4000:]

    started = time.monotonic()
    post = subprocess.run(["bash", "binder/postBuild"], env=env, cwd=repo,
                          capture_output=True, text=True)
    timings["postbuild_s"] = time.monotonic() - started
    assert post.returncode == 0, post.stderr[-4000:]

    check = home / "kernel_check.py"
    check.write_text(KERNEL_CHECK)
    port = free_port()
    started = time.monotonic()
    # binder/start leaves its relay running in the background: a session of its own, so the
    # whole group (start's relay included) can be stopped at the end.
    proc = subprocess.Popen(
        ["bash", str(repo / "binder" / "start"), "python", str(check)],
        env={**env, "ECC_RELAY_PORT": str(port)}, cwd=home, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
    timings["start_and_kernel_s"] = time.monotonic() - started

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "binder-timings.json").write_text(json.dumps(timings) + "\n")
    print(json.dumps({"binder_fresh_venv": timings}))
    assert proc.returncode == 0, f"{out}\n{err[-4000:]}"
    result = json.loads(out.strip().splitlines()[-1])
    assert result["joined"] is True and result["connection"] == "connected", result
    assert result["relay_url"] == result["env"] == f"http://127.0.0.1:{port}"
    # postBuild installed the package into the environment (not run from the checkout), so
    # ecc-lab generates its dashboard there.
    assert str(venv) in result["module"] and not result["checkout_dashboard"]
    log = home / ".cache" / "ecc-chat-lab" / f"relay-{port}.log"
    assert "listening" in log.read_text()
