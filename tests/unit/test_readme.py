"""The README is the front page: its links, commands and picture must point at real things."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.support import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
LINKS = re.findall(r"\]\(([^)\s]+)\)", README)


def test_relative_links_lead_to_files_in_the_repository():
    relative = [link for link in LINKS if not re.match(r"[a-z]+:", link)]
    assert relative, "the README links to nothing in the repository"
    for link in relative:
        assert (ROOT / link.split("#")[0]).exists(), f"README links to missing {link}"
    for needed in ("docs/protocol.md", "docs/architecture.md", "docs/screenshot.png"):
        assert needed in relative, f"the README should link {needed}"


def test_binder_badges_open_notebook_01_in_jupyterlab_and_the_voila_dashboard():
    paths = [parse_qs(urlsplit(link).query)["urlpath"][0]
             for link in LINKS if link.startswith("https://mybinder.org/v2/")]
    assert "lab/tree/notebooks/01_curves_and_points.ipynb" in paths
    assert "voila/render/notebooks/dashboard.ipynb" in paths
    for path in paths:
        notebook = path.split("/", 2)[2]
        assert (ROOT / notebook).is_file(), f"a Binder badge opens missing {notebook}"


def test_the_two_commands_exist_in_the_makefile():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"no `make {target}`"


def test_the_screenshot_is_a_real_png_of_a_page():
    data = (ROOT / "docs" / "screenshot.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 800 and height >= 600, (width, height)
