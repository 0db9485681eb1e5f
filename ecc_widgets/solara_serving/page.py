"""The page Solara serves: one `EccApp` per page (per virtual kernel), closed with it.

Imported by the Solara server only (see `ecc_widgets.solara_serving`)."""

from __future__ import annotations

import html
import os

import solara
from solara.server import kernel_context

from ecc_widgets.app import EccApp
from ecc_widgets.lab import DASHBOARD_CELLS
from ecc_widgets.serving import ENV_JOIN_URL, join_html
from ecc_widgets.solara_serving import TITLE

# The dashboard notebook's words, as Voila shows them above the app.
INTRO = next(source for _, kind, source in DASHBOARD_CELLS if kind == "markdown")


def build_app():
    """One page's app, closed (leaving its room) when the page's virtual kernel closes."""
    app = EccApp()
    kernel_context.get_current_context().on_close(app.close)
    return app


@solara.component
def Page():
    app = solara.use_memo(build_app, [])
    solara.Title(TITLE)  # else Solara names the tab after this component ("Page")
    solara.HTML(tag="p", unsafe_innerHTML=html.escape(INTRO))
    solara.display(app)
    join_url = os.environ.get(ENV_JOIN_URL)  # set by `ecc-lab --host 0.0.0.0`
    if join_url:
        solara.HTML(tag="div", unsafe_innerHTML=join_html(join_url))
