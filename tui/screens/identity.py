"""My identity: key, fingerprint, profile; the vouches I gave and received; a vouch form."""

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
    IdentityScreen .section-title {
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
        self.vouches: list[dict[str, Any]] = []  # given
        self.received: list[dict[str, Any]] = []
        self.names: dict[str, str] = {}  # community id -> name

    def compose_body(self) -> ComposeResult:
        yield Static(id="identity", markup=False)
        yield Static("Vouches you gave", classes="section-title")
        given: DataTable[str] = FastTable(id="vouches", cursor_type="row")
        given.add_columns("Subject", "", "Community", "When")
        yield given
        yield Static("Vouches you received", classes="section-title")
        received: DataTable[str] = FastTable(id="received", cursor_type="row")
        received.add_columns("From", "", "Community", "When")
        yield received

    async def fetch(self) -> None:
        call = self.link.call
        # The node's answers are JSON objects (declared: mypy cannot type
        # names unpacked beside an attribute).
        vouches: dict[str, Any]
        communities: dict[str, Any]
        self.identity, vouches, communities = await asyncio.gather(
            call("identity.get"), call("vouches.list"), call("communities.list")
        )
        received = await call("vouches.list", subject=self.identity["public_key"])
        self.vouches = list(vouches.get("items") or [])
        self.received = list(received.get("items") or [])
        self.names = fmt.community_names(communities)

    def scope(self, community: str | None) -> str:
        if not community:
            return "everywhere"
        return fmt.community_name(self.names, community)

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
        now = self.now_ms()
        for table_id, items, name_key, fp_key in (
            ("#vouches", self.vouches, "subject_name", "subject_fingerprint"),
            ("#received", self.received, "name", "fingerprint"),
        ):
            table = self.query_one(table_id, DataTable)
            table.clear()
            for v in items:
                table.add_row(
                    fmt.who(v, name_key, fp_key),
                    fmt.trust_word(bool(v.get("trust"))),
                    self.scope(v.get("community")),
                    fmt.relative_time(v.get("created_ms"), now),
                    key=v["id"],
                )

    def wants(self, message: Message) -> bool:
        if not isinstance(message, RecordArrived):
            return False
        data, me = message.data, self.identity.get("public_key")
        if data is None:
            return True
        mine = data.get("author") == me and data.get("kind") in ("vouch", "profile", "retract")
        about_me = data.get("kind") == "vouch" and (data.get("body") or {}).get("subject") == me
        return mine or about_me

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
