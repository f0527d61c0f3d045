"""My identity: key, fingerprint, profile; the vouches I gave and a vouch form."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from cercle.tui import format as fmt
from cercle.tui.messages import RecordArrived
from cercle.tui.screens.base import BaseScreen
from cercle.tui.widgets.record_forms import profile_form, vouch_form
from cercle.tui.widgets.table import FastTable


class IdentityScreen(BaseScreen):
    """Who I am to others, and whom I trust."""

    DEFAULT_CSS = """
    IdentityScreen #identity {
        height: auto;
        padding: 0 1;
        border-bottom: solid $primary;
    }
    IdentityScreen #vouches-title {
        padding: 0 1;
        text-style: bold;
    }
    IdentityScreen DataTable {
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "edit_profile", "Edit profile"),
        Binding("v", "vouch", "Vouch"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.identity: dict[str, Any] = {}
        self.vouches: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        yield Static(id="identity", markup=False)
        yield Static("Vouches you gave", id="vouches-title")
        table: DataTable[str] = FastTable(id="vouches", cursor_type="row")
        table.add_columns("Subject", "", "Community", "When")
        yield table

    async def fetch(self) -> None:
        self.identity, vouches = await asyncio.gather(
            self.link.call("identity.get"), self.link.call("vouches.list")
        )
        self.vouches = list(vouches.get("items") or [])

    def render_all(self) -> None:
        me = self.identity
        lines: list[Content | str] = [
            Content.styled(me.get("display_name") or "(no display name yet: e to set one)", "bold"),
            f"Fingerprint: {me.get('fingerprint', fmt.DASH)}",
            f"Public key:  {me.get('public_key', fmt.DASH)}",
        ]
        if me.get("about"):
            lines.append(me["about"])
        self.query_one("#identity", Static).update(Content("\n").join(lines))
        table = self.query_one("#vouches", DataTable)
        table.clear()
        now = self.now_ms()
        for v in self.vouches:
            table.add_row(
                fmt.short_key(v.get("subject"), 16),
                fmt.trust_word(bool(v.get("trust"))),
                fmt.short_key(v.get("community")) if v.get("community") else "everywhere",
                fmt.relative_time(v.get("created_ms"), now),
                key=v["id"],
            )

    def wants(self, message: Message) -> bool:
        if not isinstance(message, RecordArrived):
            return False
        data = message.data
        return data is None or (
            data.get("author") == self.identity.get("public_key")
            and data.get("kind") in ("vouch", "profile", "retract")
        )

    def action_edit_profile(self) -> None:
        me = self.identity

        def done(result: Any) -> None:
            if result:
                self.notify("Profile published")
                self.reload()

        form = profile_form(
            self.link, display_name=me.get("display_name", ""), about=me.get("about", "")
        )
        self.app.push_screen(form, done)

    def action_vouch(self) -> None:
        def done(result: Any) -> None:
            if result:
                self.notify("Vouch published")
                self.reload()

        self.app.push_screen(vouch_form(self.link), done)
