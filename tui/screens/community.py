"""One community: products ranked by score, petitions, and the live activity feed."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Static
from textual.worker import WorkType

from cercle.protocol.localapi import LIMIT_MAX
from cercle.tui import format as fmt
from cercle.tui.messages import RecordArrived
from cercle.tui.screens.base import BaseScreen
from cercle.tui.screens.petition import PetitionScreen
from cercle.tui.screens.product import ProductScreen
from cercle.tui.widgets.record_forms import petition_form, rating_form
from cercle.tui.widgets.tabbar import TabBar
from cercle.tui.widgets.table import FastTable


class CommunityScreen(BaseScreen):
    """Products (paginated with the API cursor), petitions and recent activity."""

    AUTO_FOCUS = "#products"  # Enter opens the highlighted product right away

    DEFAULT_CSS = """
    CommunityScreen #community-header {
        height: auto;
        padding: 0 1;
        border-bottom: solid $primary;
    }
    CommunityScreen #tabs {
        height: 1fr;
    }
    CommunityScreen #tabs > Vertical {
        height: 1fr;
    }
    CommunityScreen DataTable {
        height: 1fr;
    }
    CommunityScreen #products-more {
        color: $text-muted;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rate", "Rate"),
        Binding("p", "petition", "Petition"),
        Binding("m", "more", "More"),
        Binding("j", "join", "Join"),
        Binding("l", "leave", "Leave"),
        Binding("1", "tab('tab-products')", "Products", show=False),
        Binding("2", "tab('tab-petitions')", "Petitions", show=False),
        Binding("3", "tab('tab-activity')", "Activity", show=False),
    ]
    TABS: ClassVar[list[tuple[str, str]]] = [
        ("tab-products", "Products"),
        ("tab-petitions", "Petitions"),
        ("tab-activity", "Activity"),
    ]
    PAGE: ClassVar[int] = 25
    FEED: ClassVar[int] = 30

    def __init__(self, community_id: str, name: str = "") -> None:
        super().__init__()
        self.community_id = community_id
        self.info: dict[str, Any] = {"id": community_id, "name": name, "criteria": []}
        self.products: list[dict[str, Any]] = []
        self.cursor: str | None = None
        self.petitions: list[dict[str, Any]] = []
        self.feed: list[dict[str, Any]] = []
        self._loading_more = False

    def compose_body(self) -> ComposeResult:
        yield Static(id="community-header", markup=False)
        yield TabBar(self.TABS, id="tab-bar")
        # Invisible until the first load: one paint with the data instead of
        # several of empty tables (each costs tens of ms on a small machine).
        # Laid out all the same, so the tables have their size when the rows
        # come (display: none would resize them after the first paint, and a
        # resize repaints every row). An inline style, not a class: removing
        # a class restyles the whole subtree.
        tabs = ContentSwitcher(id="tabs", initial="tab-products")
        tabs.visible = False
        with tabs:
            with Vertical(id="tab-products"):
                products = FastTable(id="products", cursor_type="row")
                products.add_columns("Product", "Brand", "GTIN", "Score · trusted")
                yield products
                yield Static("", id="products-more", markup=False)
            with Vertical(id="tab-petitions"):
                petitions = FastTable(id="petitions", cursor_type="row")
                petitions.add_columns("Title", "Progress", "Trusted", "Deadline", "")
                yield petitions
            with Vertical(id="tab-activity"):
                feed = FastTable(id="feed", cursor_type="row")
                feed.add_columns("When", "Who", "What")
                yield feed

    @property
    def active_tab(self) -> str:
        """The id of the tab shown: tab-products, tab-petitions or tab-activity."""
        return self.query_one(TabBar).active

    def action_tab(self, tab_id: str) -> None:
        self.query_one(TabBar).active = tab_id

    def on_tab_bar_changed(self, event: TabBar.Changed) -> None:
        event.stop()
        self.query_one("#tabs", ContentSwitcher).current = event.active
        table = {"tab-products": "#products", "tab-petitions": "#petitions"}.get(
            event.active, "#feed"
        )
        self.query_one(table, DataTable).focus()

    # -- loading -----------------------------------------------------------------

    async def fetch(self) -> None:
        cid, call = self.community_id, self.link.call
        limit = min(LIMIT_MAX, max(self.PAGE, len(self.products)))
        # The node's answers are JSON objects (declared: mypy cannot type
        # names unpacked beside an attribute).
        ranked: dict[str, Any]
        petitions: dict[str, Any]
        feed: dict[str, Any]
        self.info, ranked, petitions, feed = await asyncio.gather(
            call("communities.get", id=cid),
            call("products.ranked", community=cid, limit=limit),
            call("petitions.list", community=cid, limit=self.PAGE),
            call("feed", community=cid, limit=self.FEED, unvetted=self.unvetted),
        )
        self.products = list(ranked.get("items") or [])
        self.cursor = ranked.get("cursor")
        self.petitions = list(petitions.get("items") or [])
        self.feed = list(feed.get("items") or [])

    async def load_more(self) -> None:
        if self.cursor is None or self._loading_more:
            return
        self._loading_more = True
        try:
            got = await self.next_page(
                "products.ranked",
                self.products,
                "gtin",
                self.cursor,
                community=self.community_id,
                limit=self.PAGE,
            )
            if got is not None:
                new, self.cursor = got
                self.products += new
                self.add_product_rows(new)  # append: the rows shown stay as they are
                self.render_products_more()
        finally:
            self._loading_more = False

    # -- rendering ---------------------------------------------------------------

    def render_all(self) -> None:
        info = self.info
        self.sub_title = info.get("name", "")
        joined = "joined" if info.get("joined") else "not joined (j to join)"
        lines: list[Content | str] = [
            Content.assemble((info.get("name", ""), "bold"), f" · {joined}"),
            f"Values: {fmt.labels(info.get('values') or [])} · "
            f"criteria: {fmt.labels(info.get('criteria') or [])} · "
            f"{fmt.count(info.get('members'), 'member')} · "
            f"{fmt.count(info.get('records'), 'record')}",
        ]
        if info.get("description"):
            lines.append(info["description"])
        self.query_one("#community-header", Static).update(Content("\n").join(lines))
        self.render_products()
        self.render_petitions()
        self.render_feed()
        tabs = self.query_one("#tabs", ContentSwitcher)
        if not tabs.visible:
            tabs.visible = True
            if self.focused is None:
                self.query_one("#products", DataTable).focus()

    def render_products(self) -> None:
        table = self.query_one("#products", DataTable)
        row = table.cursor_row
        table.clear()
        self.add_product_rows(self.products)
        if self.products:
            table.move_cursor(row=min(max(row, 0), len(self.products) - 1))
        self.render_products_more()

    def add_product_rows(self, products: list[dict[str, Any]]) -> None:
        table = self.query_one("#products", DataTable)
        for p in products:
            table.add_row(
                p.get("name") or "(unnamed)",
                p.get("brand") or fmt.DASH,
                p["gtin"],
                fmt.score_pair(p.get("scores")),
                key=p["gtin"],
            )

    def render_products_more(self) -> None:
        more = self.query_one("#products-more", Static)
        n = len(self.products)
        more.update(
            f"{fmt.count(n, 'product')} shown · m or scroll down for more"
            if self.cursor
            else fmt.count(n, "product")
            if n
            else "No products rated yet: r rates one."
        )

    def render_petitions(self) -> None:
        table = self.query_one("#petitions", DataTable)
        table.clear()
        now = self.now_ms()
        for p in self.petitions:
            sigs = p.get("signatures") or {}
            table.add_row(
                p.get("title", ""),
                fmt.progress(int(sigs.get("all") or 0), int(p.get("goal") or 0)),
                f"{sigs.get('trusted', 0)} trusted",
                fmt.deadline(int(p.get("deadline_ms") or 0), now),
                "✓ signed" if p.get("signed") else "",
                key=p["id"],
            )

    def render_feed(self) -> None:
        table = self.query_one("#feed", DataTable)
        table.clear()
        now = self.now_ms()
        for rec in self.feed:
            table.add_row(
                fmt.relative_time(rec.get("created_ms"), now),
                fmt.who(rec),
                fmt.describe_record(rec),
                key=rec["id"],
            )

    # -- live --------------------------------------------------------------------

    def wants(self, message: Message) -> bool:
        if not isinstance(message, RecordArrived):
            return False
        return message.data is None or message.community == self.community_id

    # -- actions -----------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        table_id = event.data_table.id
        if table_id == "products" and 0 <= event.cursor_row < len(self.products):
            self.open_product(self.products[event.cursor_row])
        elif table_id == "petitions" and 0 <= event.cursor_row < len(self.petitions):
            self.open_petition(self.petitions[event.cursor_row])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Scrolling to the last product loads the next page.
        last = event.cursor_row >= len(self.products) - 1
        if event.data_table.id == "products" and last and self.cursor is not None:
            # Declared: from a bare async method Textual's typing infers Never (textual#6386).
            work: WorkType[None] = self.load_more
            self.run_worker(work, group="more")

    def open_product(self, product: dict[str, Any]) -> None:
        self.app.push_screen(ProductScreen(self.community_id, product["gtin"]))

    def open_petition(self, petition: dict[str, Any]) -> None:
        self.app.push_screen(PetitionScreen(petition["id"]))

    async def action_more(self) -> None:
        await self.load_more()

    def action_rate(self) -> None:
        criteria = list(self.info.get("criteria") or [])
        if not criteria:
            self.notify("This community's charter is not known yet.", severity="warning")
            return

        def done(result: Any) -> None:
            if result:
                self.notify("Rating published")

        self.app.push_screen(rating_form(self.link, self.community_id, criteria), done)

    def action_petition(self) -> None:
        def done(result: Any) -> None:
            if result:
                self.notify("Petition published")
                self.action_tab("tab-petitions")

        form = petition_form(self.link, self.community_id, now_ms=self.now_ms())
        self.app.push_screen(form, done)

    async def _set_joined(self, join: bool) -> None:
        method = "communities.join" if join else "communities.leave"
        if await self.call(method, id=self.community_id) is not None:
            self.notify(f"{'Joined' if join else 'Left'} {self.info.get('name', '')}")
            self.reload()

    async def action_join(self) -> None:
        await self._set_joined(True)

    async def action_leave(self) -> None:
        await self._set_joined(False)
