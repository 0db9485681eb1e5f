"""The look: one stylesheet shipped with the package (``ecc-lab.css``), and how it reaches
the page.

Whatever shows one of our top-level widgets (`Styled`: the app, a panel shown alone,
Mallory's panel) through IPython's display puts the stylesheet in the same output, as a plain
HTML output, not a widget: no model to build, nothing typeset, nothing fetched. That is how
it reaches the page in JupyterLab, in Voila and in Solara (whose ``display`` is IPython's).

The file sits in the "ecc" Voila template's folder, so a page template could include it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

STYLESHEET = Path(__file__).resolve().parent / "templates" / "voila" / "templates" / "ecc" \
    / "ecc-lab.css"


@lru_cache(maxsize=1)
def css() -> str:
    """The stylesheet's text."""
    return STYLESHEET.read_text(encoding="utf-8")


def style_html() -> str:
    return f'<style class="ecc-stylesheet">{css()}</style>'


class Styled:
    """A widget that brings the stylesheet when IPython displays it (a notebook, Voila)."""

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        display(HTML(style_html()))
        display(self._repr_mimebundle_(), raw=True)
