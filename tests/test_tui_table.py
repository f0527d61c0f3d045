"""FastTable draws exactly what Textual's DataTable draws, cell for cell and style for style.

FastTable replaces DataTable's per-cell Rich rendering with a direct path for
plain one-line cells (tui/widgets/table.py), overriding a private method. These
tests pin its output to DataTable's own on the same rows -- cropped, padded,
wide and empty cells, the cursor row, zebra stripes, a fixed column, cells it
leaves to DataTable (styled, justified text) -- so a Textual upgrade that
changes how cells look fails here rather than on screen. And a ``str`` cell is
text: what strangers write is never read as markup.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable

from cercle.tui.widgets.table import FastTable

ROWS: list[tuple[Any, ...]] = [
    ("Oat drink barista edition, one litre", "Brand 7", "05000000000005", "4.2 ★ (5000)"),
    ("Pain", "", "05000000000012", None),
    ("Tofu 豆腐 fumé", "Épicerie 🌱", "05000000000029", "—"),
    ("x" * 80, "Brand 12", 12, 3.14159),
    (Text.from_markup("[b]bold[/b] markup"), Text("right", justify="right"), "0500", "3.0 ★"),
    ("Last", "Brand 0", "05000000000043", "5.0 ★ (1)"),
]


class Pair(App[None]):
    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield DataTable(id="slow", **self.options)
            yield FastTable(id="fast", **self.options)

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            table.styles.width = 60
            table.add_column("Product", width=24)
            table.add_column("Brand")
            table.add_columns("GTIN", "Score")
            for i, row in enumerate(ROWS):
                table.add_row(*row, key=str(i))


def cells(table: DataTable[Any]) -> list[list[tuple[str, Style]]]:
    """Every painted character of the table with its style (segment boundaries ignored)."""
    out = []
    for y in range(table.size.height):
        line = []
        for seg in table.render_line(y):
            style = seg.style or Style.null()
            line.extend((ch, style) for ch in Segment(seg.text, style).text)
        out.append(line)
    return out


@pytest.mark.parametrize(
    "options",
    [
        {"cursor_type": "row"},
        {"cursor_type": "cell", "zebra_stripes": True},
        {"cursor_type": "row", "fixed_columns": 1},
        {"cursor_type": "none"},
    ],
)
def test_fast_table_draws_what_data_table_draws(options: dict[str, Any]) -> None:
    async def scenario() -> None:
        app = Pair(**options)
        async with app.run_test(size=(130, 12)) as pilot:
            slow = app.query_one("#slow", DataTable)
            fast = app.query_one("#fast", FastTable)
            for table in (slow, fast):
                table.move_cursor(row=2, column=1)
            await pilot.pause()
            assert slow.size == fast.size and slow.size.height >= len(ROWS) + 1
            for focus in (True, False):  # focus changes the header's and the cursor's colours
                drawn = []
                for table in (slow, fast):
                    app.set_focus(table if focus else None)
                    await pilot.pause()
                    drawn.append(cells(table))
                want, got = drawn
                assert [len(line) for line in got] == [len(line) for line in want]
                for y, (g, w) in enumerate(zip(got, want, strict=True)):
                    assert g == w, f"line {y} differs (focused: {focus})"

    asyncio.run(scenario())


def test_fast_table_takes_the_fast_path() -> None:
    """Plain cells do not reach DataTable's Rich rendering; markup and justified cells do."""

    async def scenario() -> None:
        app = Pair(cursor_type="row")
        async with app.run_test(size=(130, 12)) as pilot:
            fast = app.query_one("#fast", FastTable)
            await pilot.pause()
            calls: list[tuple[int, int]] = []
            original = DataTable._render_cell

            def spy(self: DataTable[Any], row: int, column: int, *a: Any, **k: Any) -> Any:
                if self is fast:
                    calls.append((row, column))
                return original(self, row, column, *a, **k)

            DataTable._render_cell = spy  # type: ignore[method-assign]
            try:
                fast._cell_render_cache.clear()
                cells(fast)
            finally:
                DataTable._render_cell = original  # type: ignore[method-assign]
            body = {c for c in calls if c[0] >= 0}
            assert body == {(4, 0), (4, 1)}, body  # the styled cell and the right-justified one

    asyncio.run(scenario())


@pytest.mark.parametrize("text", ["[/b] closes nothing", "Tofu [bio]", "[@click=app.quit]free[/]"])
def test_str_cells_are_text_not_markup(text: str) -> None:
    async def scenario() -> None:
        app = Pair(cursor_type="row")
        async with app.run_test(size=(130, 12)) as pilot:
            fast = app.query_one("#fast", FastTable)
            fast.add_row(text, "[i]", "05000000000050", "", key="hostile")
            await pilot.pause()
            line = "".join(ch for ch, _ in cells(fast)[len(ROWS) + 1])
            assert line.startswith(f" {text}") and " [i] " in line
            assert app.is_running

    asyncio.run(scenario())
