"""A DataTable whose text cells are text, drawn without going through Rich.

Cells hold names, brands and titles written by strangers, and DataTable reads
a ``str`` cell as Rich markup: "Tofu [bio]" would lose its "[bio]", "[/b]"
raises (a crash while painting) and "[@click=...]" makes a clickable action.
``FastTable.add_row`` turns every ``str`` cell into a plain ``Text`` first.

Textual's DataTable renders every cell it paints through Rich's console
(``Styled(Padding(Text))`` -> ``render_lines``): about 0.3 ms per cell on a
2-core machine, so a screenful of a four-column table (a hundred cells) costs
30-40 ms each time it is painted -- on every screen opened and every page
scrolled (bench/tui.py).  Our cells are plain text on one line, and for those
the result of all that machinery is known in advance: the text, cut or padded
to the column's width between the cell padding, in one style.  ``FastTable``
builds that segment directly and leaves everything else (headers, styled or
justified text, multi-line rows) to DataTable.  ``tests/test_tui_table.py``
checks that both draw the same cells, style for style.
"""

from __future__ import annotations

from typing import Any

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellType, RowKey

SegmentLines = list[list[Segment]]


def _plain(cell: object) -> str | None:
    """The text of a cell that is one unstyled line of text, else None."""
    if not isinstance(cell, Text) or cell.spans or cell.style:
        return None
    if cell.justify not in (None, "default", "left"):
        return None
    plain = cell.plain
    if "\n" in plain or "\t" in plain:
        return None
    return plain


class FastTable(DataTable[Any]):
    """DataTable with plain-text ``str`` cells and a direct drawing path for them (module doc)."""

    def add_row(
        self,
        *cells: CellType,
        height: int | None = 1,
        key: str | None = None,
        label: str | Text | None = None,
    ) -> RowKey:
        # As DataTable's own formatter builds them, minus the markup parsing.
        wrap = height != 1
        texts = [Text(c, no_wrap=not wrap, end="") if isinstance(c, str) else c for c in cells]
        return super().add_row(*texts, height=height, key=key, label=label)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        if row_index < 0 or column_index < 0:  # headers and row labels: as DataTable
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        row = self.rows.get(row_key) if row_key is not None else None
        if row is None or row.height != 1:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._cell_render_cache.get(key)
        if cached is not None:
            return cached
        _, cells = self._get_row_renderables(row_index)
        plain = _plain(cells[column_index]) if column_index < len(cells) else ""
        pad = self.cell_padding
        inner = width - 2 * pad
        if plain is None or inner < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            fixed,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        style = (
            base_style
            + Style.from_meta({"row": row_index, "column": column_index})
            + component_style
            + post_style
        )
        text = " " * pad + set_cell_size(plain, inner) + " " * pad
        lines: SegmentLines = [[Segment(text, style)]]
        self._cell_render_cache[key] = lines
        return lines
