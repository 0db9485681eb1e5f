"""The pages `bench_touch.py` serves: one draggable real-curve picture, made each way the
project weighed (`TOUCH_OPTION` in the environment, or `page(option)` from a notebook).

- ``overlay``: the curve panel as the dashboard has it (`ecc_widgets.panels.touch`: the curve
  drawn once, what moves drawn per move on a transparent overlay).
- ``ipympl``: matplotlib's widget backend, the same figure and the same snapping, every move
  redrawing the figure (`canvas.draw_idle`), as ipympl does.
- ``ipympl-blit``: the same, animated the way matplotlib's docs advise for speed: the
  still figure saved once (`copy_from_bbox`), each move restoring it, drawing only what
  moves (`draw_artist`) and sending that (`blit`; ipympl sends the changed pixels).

Solara serves this module's `Page`; Voila a notebook calling `page`.
"""

from __future__ import annotations

import os

OPTIONS = ("overlay", "ipympl", "ipympl-blit")
CURVE = "secp256k1"


def overlay_widget():
    from ecc_widgets.panels.curve import CurvePanel
    from ecc_widgets.session import Session

    session = Session()
    panel = CurvePanel(session)
    panel.dropdown.value = CURVE
    return panel


def ipympl_widget(blit: bool = False):
    from ipympl.backend_nbagg import new_figure_manager_given_figure

    from ecc_widgets import plots
    from ecc_widgets.curves import get_curve

    model = plots.real_model(get_curve(CURVE))
    fig, view = plots.real_background(model)
    manager = new_figure_manager_given_figure(id(fig), fig)
    canvas = manager.canvas
    canvas.manager = manager
    canvas.toolbar_visible = canvas.header_visible = canvas.footer_visible = False
    canvas.resizable = False
    canvas.capture_scroll = False
    ax = fig.axes[0]
    offered = plots.real_points(model)
    state = {"P": offered[2], "Q": offered[len(offered) // 3], "held": False, "drawn": [],
             "still": None}

    def draw():
        for artist in state["drawn"]:
            artist.remove()
        before = set(ax.get_children())
        plots._draw_real_sum(ax, model, state["P"], state["Q"], plots.THEMES["light"],
                             view.xlim, labels=False)
        ax.set_xlim(*view.xlim)
        ax.set_ylim(*view.ylim)
        state["drawn"] = [a for a in ax.get_children() if a not in before]
        if not blit or state["still"] is None:
            for artist in state["drawn"]:
                artist.set_animated(blit)
            canvas.draw_idle()
            return
        canvas.restore_region(state["still"])
        for artist in state["drawn"]:
            artist.set_animated(True)
            ax.draw_artist(artist)
        canvas.blit(fig.bbox)

    def saved(event):
        # After a full draw (the first, a resize): the still figure, without what moves.
        # (Not while printing the static PNG ipympl's display makes: matplotlib detaches
        # the canvas's manager meanwhile.)
        if event.canvas is not canvas or canvas.manager is None:
            return
        state["still"] = canvas.copy_from_bbox(fig.bbox)
        for artist in state["drawn"]:
            ax.draw_artist(artist)
        canvas.blit(fig.bbox)

    def press(event):
        state["held"] = event.inaxes is ax
        move(event)

    def move(event):
        if state["held"] and event.xdata is not None and event.ydata is not None:
            state["P"] = plots.nearest_real_point(model, view, event.xdata, event.ydata)
            draw()

    def release(_event):
        state["held"] = False

    canvas.mpl_connect("button_press_event", press)
    canvas.mpl_connect("motion_notify_event", move)
    canvas.mpl_connect("button_release_event", release)
    if blit:
        canvas.mpl_connect("draw_event", saved)
    draw()
    canvas.add_class("bench-ipympl")
    return canvas


def build(option: str):
    if option not in OPTIONS:
        raise ValueError(f"unknown option {option!r}; one of {OPTIONS}")
    return overlay_widget() if option == "overlay" else ipympl_widget(option == "ipympl-blit")


def page(option: str) -> None:
    """For a notebook (Voila): display the picture made the `option` way."""
    from IPython.display import display

    display(build(option))


try:
    import solara
except ImportError:  # Voila's kernel needs only `page`
    solara = None

if solara is not None:
    @solara.component
    def Page():
        widget = solara.use_memo(lambda: build(os.environ.get("TOUCH_OPTION", "overlay")), [])
        solara.display(widget)
