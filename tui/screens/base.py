"""What every Cercle screen shares: the banner, safe calls to the node, live reloads."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import WorkType

from cercle.protocol.localapi import ApiError
from cercle.tui import format as fmt
from cercle.tui.client import ConnectionLost
from cercle.tui.link import NodeLink
from cercle.tui.widgets.banner import ConnectionBanner
from cercle.tui.widgets.keybar import KeyBar
from cercle.tui.widgets.titlebar import TitleBar


class BaseScreen(Screen[None]):
    """A screen that reads from the node in :meth:`fetch`, shows it in :meth:`render_all`.

    A load (fetch, then render) runs in a worker when the screen is composed,
    each time it is shown again, after a reconnection, on ``ctrl+r``, and
    (debounced) when :meth:`wants` a live message. The first one starts at
    compose time, not once the screen is up: the node answers while Textual
    mounts the widgets (tens of milliseconds on a small machine), and
    ``render_all`` waits for the mount, so the screen's first paint already
    has its data (bench/tui.py measures it).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+r", "reload", "Refresh"),
    ]
    DEBOUNCE_S: ClassVar[float] = 0.2
    TITLE_TEXT: ClassVar[str] = "Cercle"

    def __init__(self) -> None:
        super().__init__()
        self._pending: Timer | None = None
        self._mounted = asyncio.Event()
        self._first_load = False  # started at compose time: the first resume needs none
        self.loads = 0  # completed loads (tests wait on it)

    # -- layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        self._first_load = self.reload()
        yield TitleBar()
        yield ConnectionBanner()
        yield from self.compose_body()
        yield KeyBar()

    def compose_body(self) -> ComposeResult:
        yield from ()

    # -- the node ------------------------------------------------------------------

    @property
    def link(self) -> NodeLink:
        return self.app.link  # type: ignore[attr-defined,no-any-return]

    @property
    def unvetted(self) -> bool:
        """Whether lists include authors outside the community's trust floor (key u)."""
        return bool(getattr(self.app, "show_unvetted", False))

    def now_ms(self) -> int:
        return int(self.app.clock() * 1000)  # type: ignore[attr-defined]

    async def call(self, method: str, **params: Any) -> Any | None:
        """Call the node; on an error notify the user and return None."""
        try:
            return await self.link.call(method, **params)
        except ApiError as e:
            self.notify(fmt.api_error(e), title=method, severity="error")
        except ConnectionLost as e:
            self.notify(str(e), title="Not connected", severity="warning")
        return None

    async def next_page(
        self, method: str, shown: list[dict[str, Any]], key: str, cursor: str, **params: Any
    ) -> tuple[list[dict[str, Any]], str | None] | None:
        """The page after ``cursor``: items not already ``shown`` (by ``key``), next cursor.

        None if the call failed (the user has been told).
        """
        page = await self.call(method, cursor=cursor, **params)
        if page is None:
            return None
        seen = {item[key] for item in shown}
        return [i for i in page.get("items") or [] if i[key] not in seen], page.get("cursor")

    # -- loading -----------------------------------------------------------------

    async def fetch(self) -> None:
        """Read what the screen shows from the node into attributes (override; no widgets)."""

    def render_all(self) -> None:
        """Show what :meth:`fetch` read (override)."""

    async def _load_safely(self) -> None:
        try:
            await self.fetch()
            await self._mounted.wait()
            self.render_all()
        except ApiError as e:
            self.notify(fmt.api_error(e), title="Could not load", severity="error")
        except ConnectionLost:
            pass  # the banner says it; the screen reloads on reconnection
        self.loads += 1

    def reload(self) -> bool:
        """Start a load (replacing one under way); False when the node is not connected."""
        if not getattr(self.app, "connected", False):
            return False
        # Declared: from a bare async method Textual's typing infers Never (textual#6386).
        work: WorkType[None] = self._load_safely
        self.run_worker(work, group="load", exclusive=True)
        return True

    def action_reload(self) -> None:
        self.reload()

    def on_mount(self) -> None:
        self._mounted.set()

    def on_screen_resume(self) -> None:
        if self._first_load:
            self._first_load = False
            return
        self.reload()

    # -- live updates ------------------------------------------------------------

    def wants(self, message: Message) -> bool:
        """Whether a live message concerns what this screen shows (override)."""
        return False

    def live(self, message: Message) -> None:
        """Called by the app for every live message; reloads at most every DEBOUNCE_S."""
        if self.wants(message) and self._pending is None:
            self._pending = self.set_timer(self.DEBOUNCE_S, self._flush)

    def _flush(self) -> None:
        self._pending = None
        self.reload()

    # -- navigation ----------------------------------------------------------------

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        elif self.app.current_mode != "communities":
            self.app.switch_mode("communities")
