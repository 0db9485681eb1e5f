"""Every notebook runs from top to bottom in a real kernel (nbval), so `make test` fails on a
notebook that errors. nbval runs in a subprocess with its own pytest, against a relay this
test starts, so notebook 03 neither depends on nor leaves behind a relay of its own.

With `--nbval-lax` every cell must run without error and the notebooks' own `assert`s are
the main checks; stored outputs are compared only in cells marked `# NBVAL_CHECK_OUTPUT`
(results that are the same on every run), never where keys, nonces or timings differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.support import ROOT

NOTEBOOKS = ROOT / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell) -> str:
    return "".join(cell["source"])


def test_the_course_is_numbered_notebooks_each_with_answers():
    assert [p.name for p in COURSE] == [
        "01_curves_and_points.ipynb", "02_keys_and_ecdh.ipynb", "03_secure_chat.ipynb",
        "04_man_in_the_middle.ipynb", "05_breaking_weak_curves.ipynb",
        "06_forward_secrecy.ipynb"]
    for notebook in COURSE:
        answers = NOTEBOOKS / "solutions" / f"{notebook.stem}_solutions.ipynb"
        assert answers.is_file(), f"{notebook.name} has no {answers.name}"
        headings = [_source(c) for c in _cells(notebook) if c["cell_type"] == "markdown"]
        assert headings[-1].startswith("## Exercises"), f"{notebook.name} ends without exercises"
        assert f"solutions/{answers.name}" in headings[-1], "exercises must link their answers"


def test_notebook_plots_use_the_object_api_not_pyplot():
    for path in [*NOTEBOOKS.glob("*.ipynb"), *NOTEBOOKS.glob("solutions/*.ipynb")]:
        for cell in _cells(path):
            if cell["cell_type"] == "code":
                source = _source(cell)
                assert "matplotlib.pyplot" not in source, path.name
                assert "from matplotlib import pyplot" not in source, path.name
                assert "plt." not in source, path.name


@pytest.mark.slow
def test_every_notebook_runs_under_nbval(relay, tmp_path):
    report = tmp_path / "nbval.xml"
    env = {**os.environ, "ECC_RELAY_URL": relay.url, "MPLBACKEND": "agg"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
         "-p", "no:cacheprovider", "-q", f"--junitxml={report}", "notebooks/"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]

    ran: dict[str, int] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        assert case.find("skipped") is None, f"a notebook cell was skipped: {case.attrib}"
        # classname is "notebooks.solutions.02_keys_and_ecdh_solutions.ipynb"
        stem = case.attrib["classname"].removesuffix(".ipynb").rsplit(".", 1)[-1]
        ran[stem] = ran.get(stem, 0) + 1
    expected = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    expected |= {p.stem for p in NOTEBOOKS.glob("solutions/*.ipynb")}
    assert set(ran) == expected, ran
    for stem, count in ran.items():
        code_cells = sum(c["cell_type"] == "code" for c in _cells(
            next(NOTEBOOKS.rglob(f"{stem}.ipynb"))))
        assert count == code_cells, f"{stem}: {count} of {code_cells} code cells ran"


@pytest.mark.slow
def test_a_notebook_that_errors_fails_nbval(tmp_path):
    # The wiring above is only worth something if a failing cell makes the run fail.
    broken = tmp_path / "broken.ipynb"
    broken.write_text(json.dumps({
        "cells": [{"cell_type": "code", "id": "boom", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": "raise ValueError('this cell fails on purpose')"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
         "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path), str(broken)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert "this cell fails on purpose" in result.stdout
