"""Communities: the ones I joined and the ones heard of in the directory."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Static

from cercle.tui import format as fmt
from cercle.tui import forms
from cercle.tui.messages import RecordArrived
from cercle.tui.screens.base import BaseScreen
from cercle.tui.screens.community import CommunityScreen
from cercle.tui.widgets.form import Field, FormScreen
from cercle.tui.widgets.table import FastTable


class CommunitiesScreen(BaseScreen):
    """Every community this node knows, joined ones first."""

    DEFAULT_CSS = """
    CommunitiesScreen #communities-help {
        padding: 0 1;
        color: $text-muted;
    }
    CommunitiesScreen DataTable {
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=False),
        Binding("c", "create", "Create"),
        Binding("j", "join", "Join"),
        Binding("l", "leave", "Leave"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Communities you joined, and those heard of in the directory. "
            "Enter opens one; c creates one.",
            id="communities-help",
        )
        table: DataTable[str] = FastTable(id="communities", cursor_type="row", zebra_stripes=True)
        table.add_columns("Name", "Values", "Members", "Records", "Joined")
        yield table

    async def fetch(self) -> None:
        result = await self.link.call("communities.list")
        items = list(result.get("items") or [])
        items.sort(key=lambda c: (not c.get("joined"), c.get("name", "").casefold(), c["id"]))
        self.items = items

    def render_all(self) -> None:
        items = self.items
        table = self.query_one("#communities", DataTable)
        row = table.cursor_row
        table.clear()
        for c in items:
            table.add_row(
                c.get("name", ""),
                fmt.labels(c.get("values") or []),
                str(c.get("members", fmt.DASH)),
                str(c.get("records", fmt.DASH)),
                fmt.joined(bool(c.get("joined"))),
                key=c["id"],
            )
        if items:
            table.move_cursor(row=min(row, len(items) - 1))

    def selected(self) -> dict[str, Any] | None:
        table = self.query_one("#communities", DataTable)
        if not self.items or table.cursor_row < 0 or table.cursor_row >= len(self.items):
            return None
        return self.items[table.cursor_row]

    def wants(self, message: Message) -> bool:
        if not isinstance(message, RecordArrived):
            return False
        return message.data is None or message.data.get("kind") == "community"

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        c = self.selected()
        if c is not None:
            self.app.push_screen(CommunityScreen(c["id"], c.get("name", "")))

    async def _set_joined(self, join: bool) -> None:
        c = self.selected()
        if c is None:
            return
        method = "communities.join" if join else "communities.leave"
        if await self.call(method, id=c["id"]) is not None:
            self.notify(f"{'Joined' if join else 'Left'} {c.get('name', '')}")
            self.reload()

    async def action_join(self) -> None:
        await self._set_joined(True)

    async def action_leave(self) -> None:
        await self._set_joined(False)

    def action_create(self) -> None:
        fields = [
            Field("name", "Name", placeholder="e.g. Vegan Lyon"),
            Field("description", "Description", placeholder="what the community stands for"),
            Field("values", "Values (comma-separated)", placeholder="vegan, cruelty-free"),
            Field("criteria", "Rating criteria (comma-separated, 1 to 8)", "taste, price"),
        ]

        def validate(v: dict[str, Any]) -> forms.Checked:
            return forms.check_community(v["name"], v["description"], v["values"], v["criteria"])

        async def submit(params: dict[str, Any]) -> Any:
            return await self.link.call("communities.create", **params)

        def done(result: Any) -> None:
            if result:
                self.notify("Community created and joined")
                self.reload()

        self.app.push_screen(FormScreen("Create a community", fields, validate, submit), done)
