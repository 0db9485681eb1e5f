"""Coalesced renders without threads or a clock: a flood of changes is a few renders."""

from __future__ import annotations

from ecc_widgets.panels.common import Coalesced


class Later:
    """A scheduler that runs nothing until told."""

    def __init__(self):
        self.calls: list[tuple[float, object]] = []

    def __call__(self, delay, call):
        self.calls.append((delay, call))
        return self

    def cancel(self):
        self.calls.clear()

    def run(self):
        calls, self.calls = self.calls, []
        for _, call in calls:
            call()


def test_changes_beyond_the_budget_are_drawn_once_later_with_the_newest_state():
    now = [0.0]
    later = Later()
    drawn: list[int] = []
    state = [0]
    render = Coalesced(lambda: drawn.append(state[0]), rate=4.0, burst=3,
                       clock=lambda: now[0], schedule=later)
    for change in range(1, 101):   # 100 changes in the same instant
        state[0] = change
        render()
    assert drawn == [1, 2, 3]       # the burst at once: a lone message shows promptly
    assert len(later.calls) == 1 and later.calls[0][0] == 0.25  # one more, later
    now[0] = 0.25
    later.run()
    assert drawn == [1, 2, 3, 100]  # the newest state, once
    now[0] = 10.0                   # quiet again: the next change is drawn at once
    state[0] = 101
    render()
    assert drawn[-1] == 101 and later.calls == []


def test_a_closed_coalescer_draws_nothing_more_and_errors_are_reported():
    later = Later()
    errors: list[Exception] = []

    def broken():
        raise RuntimeError("display bug")

    render = Coalesced(broken, rate=1.0, burst=1, clock=lambda: 0.0, schedule=later,
                       on_error=errors.append)
    render()
    render()  # beyond the budget: scheduled
    assert len(errors) == 1 and len(later.calls) == 1
    render.close()
    assert later.calls == []  # the pending call is cancelled
    render()
    assert len(errors) == 1
