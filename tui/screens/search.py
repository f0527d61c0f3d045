"""Search products by name, brand or GTIN across the joined communities."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from cercle.tui import format as fmt
from cercle.tui import forms
from cercle.tui.screens.base import BaseScreen
from cercle.tui.screens.product import ProductScreen
from cercle.tui.widgets.table import FastTable


class SearchScreen(BaseScreen):
    """Type a name or a barcode, Enter searches, Enter on a result opens it."""

    DEFAULT_CSS = """
    SearchScreen #search-query {
        margin: 0 1;
    }
    SearchScreen #error-query {
        color: $error;
        padding: 0 2;
        height: auto;
        display: none;
    }
    SearchScreen #error-query.-shown {
        display: block;
    }
    SearchScreen #search-summary {
        color: $text-muted;
        padding: 0 1;
    }
    SearchScreen DataTable {
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+f", "focus_query", "Search")]
    LIMIT: ClassVar[int] = 100

    def __init__(self) -> None:
        super().__init__()
        self.results: list[dict[str, Any]] = []
        self.names: dict[str, str] = {}
        self.query_text = ""

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="Product name, brand or barcode (GTIN)", id="search-query")
        yield Static("", id="error-query", markup=False)
        yield Static("Search the communities you joined.", id="search-summary", markup=False)
        table: DataTable[str] = FastTable(id="results", cursor_type="row")
        table.add_columns("Product", "Brand", "GTIN", "Community", "Score · trusted")
        yield table

    def on_mount(self) -> None:
        self.query_one("#search-query", Input).focus()

    async def fetch(self) -> None:
        communities = await self.link.call("communities.list")
        self.names = fmt.community_names(communities)
        if self.query_text:
            result = await self.link.call(
                "products.search", query=self.query_text, limit=self.LIMIT
            )
            self.results = list(result.get("items") or [])

    def render_all(self) -> None:
        if self.query_text:
            self.render_results(self.query_text)

    def show_error(self, message: str) -> None:
        widget = self.query_one("#error-query", Static)
        widget.update(message)
        widget.set_class(bool(message), "-shown")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        checked = forms.check_search(event.value)
        self.show_error(checked.errors.get("query", ""))
        if checked.ok:
            self.query_text = checked.params["query"]
            await self.search(self.query_text)

    async def search(self, query: str) -> None:
        result = await self.call("products.search", query=query, limit=self.LIMIT)
        if result is None:
            return
        self.results = list(result.get("items") or [])
        self.render_results(query)

    def render_results(self, query: str) -> None:
        table = self.query_one("#results", DataTable)
        table.clear()
        for i, p in enumerate(self.results):
            table.add_row(
                p.get("name") or "(unnamed)",
                p.get("brand") or fmt.DASH,
                p["gtin"],
                fmt.community_name(self.names, p["community"]),
                fmt.score_pair(p.get("scores")),
                key=f"{i}",
            )
        n = len(self.results)
        plural = "" if n == 1 else "s"
        summary = f"{n} result{plural} for “{query}”" if n else f"Nothing found for “{query}”."
        self.query_one("#search-summary", Static).update(summary)
        if n:
            table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.results):
            p = self.results[event.cursor_row]
            self.app.push_screen(ProductScreen(p["community"], p["gtin"]))

    def action_focus_query(self) -> None:
        self.query_one("#search-query", Input).focus()
