"""A petition's progress toward its goal, as one line: the bar and the percentage.

Textual's ProgressBar is three widgets with an ETA clock, and it rounds the
fill to the bar's width when the value is *set*: set before the first layout
(the petition screen fills it as soon as the node answers, often before),
the same 40% is drawn one half-cell longer than after. ``GoalBar`` draws the
bar from its width when it is *painted*, with :func:`cercle.tui.format.goal_bar`.
"""

from __future__ import annotations

from typing import ClassVar

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from cercle.tui import format as fmt

PERCENT_CELLS = 5  # " 100%"


class GoalBar(Widget):
    """``count`` signatures of ``goal``, drawn as a bar then a percentage."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "goal-bar--done",
        "goal-bar--rest",
        "goal-bar--complete",
    }
    DEFAULT_CSS = """
    GoalBar {
        height: 1;
        width: 38;
        & > .goal-bar--done { color: $primary; }
        & > .goal-bar--complete { color: $success; }
        & > .goal-bar--rest { color: $surface-lighten-2; }
    }
    """

    count: reactive[int] = reactive(0)
    goal: reactive[int] = reactive(0)

    def update(self, count: int, goal: int) -> None:
        self.count, self.goal = count, goal

    def render(self) -> Content:
        width = max(0, self.size.width - PERCENT_CELLS)
        done, rest = fmt.goal_bar(self.count, self.goal, width)
        complete = self.goal > 0 and self.count >= self.goal
        done_style = self.get_visual_style("goal-bar--complete" if complete else "goal-bar--done")
        return Content.assemble(
            (done, done_style),
            (rest, self.get_visual_style("goal-bar--rest")),
            f" {fmt.percent(self.count, self.goal):>4}",
        )
