"""One product in one community: its description, scores (all and trusted), ratings."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import WorkType

from cercle.protocol.localapi import LIMIT_MAX
from cercle.tui import format as fmt
from cercle.tui.messages import RecordArrived
from cercle.tui.screens.base import BaseScreen
from cercle.tui.widgets.record_forms import rating_form
from cercle.tui.widgets.table import FastTable


class ProductScreen(BaseScreen):
    """GTIN, name, brand, labels; scores with the reason; ratings, newest first."""

    DEFAULT_CSS = """
    ProductScreen #product-header, ProductScreen #product-scores {
        height: auto;
        padding: 0 1;
    }
    ProductScreen #product-scores {
        border-bottom: solid $primary;
    }
    ProductScreen DataTable {
        height: 1fr;
    }
    ProductScreen #ratings-more {
        color: $text-muted;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rate", "Rate"),
        Binding("x", "retract", "Retract mine"),
        Binding("m", "more", "More"),
    ]
    PAGE: ClassVar[int] = 25

    def __init__(self, community_id: str, gtin: str) -> None:
        super().__init__()
        self.community_id = community_id
        self.gtin = gtin
        self.criteria: list[str] = []
        self.product: dict[str, Any] = {}
        self.ratings: list[dict[str, Any]] = []
        self.cursor: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(id="product-header", markup=False)
        yield Static(id="product-scores", markup=False)
        table: DataTable[str] = FastTable(id="ratings", cursor_type="row")
        table.add_columns("Who", "Trust", "Scores", "Comment", "When")
        yield table
        yield Static("", id="ratings-more", markup=False)

    async def fetch(self) -> None:
        cid, call = self.community_id, self.link.call
        limit = min(LIMIT_MAX, max(self.PAGE, len(self.ratings)))
        # The node's answers are JSON objects (declared: mypy cannot type
        # names unpacked beside an attribute).
        charter: dict[str, Any]
        page: dict[str, Any]
        charter, self.product, page = await asyncio.gather(
            call("communities.get", id=cid),
            call("products.get", community=cid, gtin=self.gtin),
            call(
                "ratings.list", community=cid, gtin=self.gtin, limit=limit, unvetted=self.unvetted
            ),
        )
        self.criteria = list(charter.get("criteria") or [])
        self.ratings = list(page.get("items") or [])
        self.cursor = page.get("cursor")

    async def load_more(self) -> None:
        if self.cursor is None:
            return
        got = await self.next_page(
            "ratings.list",
            self.ratings,
            "id",
            self.cursor,
            community=self.community_id,
            gtin=self.gtin,
            limit=self.PAGE,
            unvetted=self.unvetted,
        )
        if got is not None:
            new, self.cursor = got
            self.ratings += new
            self.render_ratings()

    @property
    def my_rating(self) -> dict[str, Any] | None:
        mine = self.product.get("my_rating")
        return mine if isinstance(mine, dict) else None

    def render_all(self) -> None:
        p = self.product
        self.sub_title = p.get("name") or self.gtin
        header: list[Content | str] = [
            Content.assemble(
                (p.get("name") or "(unnamed product)", "bold"), f" · {p.get('brand') or fmt.DASH}"
            ),
            f"GTIN {p.get('gtin', self.gtin)} · labels: {fmt.labels(p.get('labels') or [])}",
        ]
        self.query_one("#product-header", Static).update(Content("\n").join(header))
        scores = p.get("scores")
        lines = [
            f"Score: {fmt.score_pair(scores)}",
            f"Why: {fmt.trusted_reason(scores)}",
            *fmt.criteria_means(self.criteria, scores),
        ]
        mine = self.my_rating
        if mine is not None:
            lines.append(
                f"Your rating: {fmt.criteria_scores(self.criteria, mine.get('scores') or [])}"
                " (r re-rates, x retracts)"
            )
        else:
            lines.append("You have not rated this product (r rates it).")
        self.query_one("#product-scores", Static).update("\n".join(lines))
        self.render_ratings()

    def render_ratings(self) -> None:
        table = self.query_one("#ratings", DataTable)
        table.clear()
        now = self.now_ms()
        for r in self.ratings:
            table.add_row(
                fmt.who(r),
                fmt.distance(r.get("distance")) if r.get("trusted") else fmt.DASH,
                fmt.criteria_scores(self.criteria, r.get("scores") or []),
                r.get("text") or "",
                fmt.relative_time(r.get("created_ms"), now),
                key=r["id"],
            )
        more = self.query_one("#ratings-more", Static)
        n = len(self.ratings)
        shown = fmt.count(n, "rating")
        more.update(f"{shown} shown · m for more" if self.cursor else shown)

    def wants(self, message: Message) -> bool:
        if not isinstance(message, RecordArrived):
            return False
        if message.data is None:
            return True
        if message.community != self.community_id:
            return False
        body = message.data.get("body") or {}
        gtin = body.get("gtin")
        return gtin is None or str(gtin).rjust(14, "0") == self.gtin.rjust(14, "0")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= len(self.ratings) - 1 and self.cursor is not None:
            # Declared: from a bare async method Textual's typing infers Never (textual#6386).
            work: WorkType[None] = self.load_more
            self.run_worker(work, group="more", exclusive=True)

    async def action_more(self) -> None:
        await self.load_more()

    def action_rate(self) -> None:
        if not self.criteria:
            self.notify("This community's charter is not known yet.", severity="warning")
            return
        mine = self.my_rating

        def done(result: Any) -> None:
            if result:
                self.notify("Rating published")

        form = rating_form(
            self.link,
            self.community_id,
            self.criteria,
            gtin=self.gtin,
            current=(mine or {}).get("scores"),
            text=(mine or {}).get("text", ""),
            ask_name=False,
        )
        self.app.push_screen(form, done)

    async def action_retract(self) -> None:
        mine = self.my_rating
        if mine is None:
            self.notify("You have no rating of this product to retract.", severity="warning")
            return
        if await self.call("records.retract", id=mine["id"]) is not None:
            self.notify("Your rating was retracted")
            self.reload()
