"""A one-line title bar in place of Textual's Header: icon, title and sub-title.

Header is four widgets (itself, icon, title, clock space) with their styles and
watchers, mounted again on every screen opened: about 20 ms a screen on a
2-core machine (bench/tui.py). This draws the same line as one widget. Like
Header's icon, a click on the "⭘" opens the command palette.
"""

from __future__ import annotations

from textual.content import Content
from textual.events import Click
from textual.widget import Widget

ICON = "⭘"
ICON_CELLS = 8  # the icon's column, as in Header


class TitleBar(Widget):
    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        width: 100%;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    def on_mount(self) -> None:
        for node, name in (
            (self.app, "title"),
            (self.app, "sub_title"),
            (self.screen, "title"),
            (self.screen, "sub_title"),
        ):
            self.watch(node, name, self._changed, init=False)

    def _changed(self, _value: object = None) -> None:
        self.refresh()

    def render(self) -> Content:
        screen = self.screen
        title = screen.title or self.app.title
        sub_title = screen.sub_title or self.app.sub_title
        text = self.app.format_title(title, sub_title)
        width = self.size.width
        # Centred on the whole line, as Header does, without running into the icon.
        room = max(0, width - 2 * ICON_CELLS)
        if text.cell_length > room:
            text = text.truncate(room, ellipsis=True)
        left = max(ICON_CELLS, (width - text.cell_length) // 2)
        icon = f" {ICON}".ljust(left)
        return Content.assemble(icon, text)

    async def on_click(self, event: Click) -> None:
        if event.x < ICON_CELLS and self.app.ENABLE_COMMAND_PALETTE:
            event.stop()
            await self.run_action("app.command_palette")
