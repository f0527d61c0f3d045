"""A one-line tab bar: labels to click (or keys 1, 2, 3…), the active one highlighted.

The community screen used TabbedContent, which mounts a dozen widgets (tabs,
their scroll container, underline bar, switcher, panes) each time the screen
opens -- about 60 ms on a 2-core machine, more than half of opening the screen
(bench/tui.py). The screen needs only a row of labels above a ContentSwitcher:
this draws them as one line of text whose labels are click actions, and posts
:class:`TabBar.Changed` when the active tab changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.message import Message
from textual.widget import Widget


class TabBar(Widget):
    """``TabBar([("tab-a", "A"), ...])``; ``active`` is the id of the shown tab."""

    DEFAULT_CSS = """
    TabBar {
        height: 1;
        width: 100%;
        padding: 0 1;
        color: $text-muted;
    }
    """

    @dataclass
    class Changed(Message):
        tab_bar: TabBar
        active: str

    def __init__(self, tabs: list[tuple[str, str]], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tabs = list(tabs)
        self._active = self.tabs[0][0] if self.tabs else ""

    @property
    def active(self) -> str:
        return self._active

    @active.setter
    def active(self, tab_id: str) -> None:
        if tab_id not in dict(self.tabs):
            raise ValueError(f"no tab {tab_id!r}")
        if tab_id != self._active:
            self._active = tab_id
            self.refresh()
            self.post_message(self.Changed(self, tab_id))

    def render(self) -> Content:
        parts: list[Content | str] = []
        for i, (tab_id, label) in enumerate(self.tabs, 1):
            text = f" {i} {label} "
            style = "bold reverse $accent" if tab_id == self._active else "underline"
            parts.append(
                Content.from_markup(f"[{style} @click=switch({tab_id!r})]$text[/]", text=text)
            )
            parts.append("  ")
        return Content.assemble(*parts)

    def action_switch(self, tab_id: str) -> None:
        self.active = tab_id
