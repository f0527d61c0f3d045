"""A one-line key bar: the screen's shown bindings, drawn as a single Static.

Textual's Footer mounts one widget per key and recomposes on every bindings
change, which measured ~100 ms per screen opened on a 2-core machine (see
bench/tui.py).  Our screens have a handful of fixed bindings, so one line of
text, redrawn when the bindings change, says the same for a fraction of the
cost.  Every key is also in the help screen and the command palette.
"""

from __future__ import annotations

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
        padding: 0 1;
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._changed)
        self.call_after_refresh(self.redraw)

    def _changed(self, screen: Screen[object]) -> None:
        self.redraw()

    def redraw(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        seen: set[str] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.show or not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            label = binding.key_display or self.app.get_key_display(binding)
            text.append(f" {label} ", style="bold reverse" if active.enabled else "dim")
            text.append(f" {binding.description}  ", style="" if active.enabled else "dim")
        self.update(text)
