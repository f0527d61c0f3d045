"""The Cercle terminal UI: a thin Textual app over the node's local API.

The app owns one :class:`~cercle.tui.link.NodeLink` (the API client, its
reconnection and its event stream, run as a worker) and routes the messages it
posts: connection changes to the banner, live events to the screens. Screens
(``cercle.tui.screens``) do the rest. ``run_tui`` is the entry point.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import reactive

from cercle.protocol.display import printable
from cercle.tui.commands import CercleCommands
from cercle.tui.link import BACKOFF_S, NodeLink
from cercle.tui.messages import ConnectionStateChanged, PeerChanged, RecordArrived, SyncProgress
from cercle.tui.screens.base import BaseScreen
from cercle.tui.screens.communities import CommunitiesScreen
from cercle.tui.screens.help import HelpScreen
from cercle.tui.screens.identity import IdentityScreen
from cercle.tui.screens.network import NetworkScreen
from cercle.tui.screens.search import SearchScreen


class CercleApp(App[int]):
    """``CercleApp(socket_path).run()``; ``clock`` (seconds) is injectable for tests."""

    TITLE = "Cercle"
    MODES: ClassVar = {
        "communities": CommunitiesScreen,
        "search": SearchScreen,
        "identity": IdentityScreen,
        "network": NetworkScreen,
    }
    DEFAULT_MODE = "communities"
    COMMANDS = App.COMMANDS | {CercleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("h", "goto('communities')", "Home"),
        Binding("slash", "goto('search')", "Search", key_display="/"),
        Binding("i", "goto('identity')", "Identity"),
        Binding("n", "goto('network')", "Network"),
        Binding("u", "toggle_unvetted", "Unvetted"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    connected: reactive[bool] = reactive(False)
    # Lists hide authors outside a community's trust floor unless this is on.
    show_unvetted: reactive[bool] = reactive(False)
    connection_message: reactive[str] = reactive("Connecting to the node…")

    def __init__(
        self,
        socket_path: Path,
        *,
        title: str | None = None,
        clock: Callable[[], float] = time.time,
        backoff: tuple[float, ...] = BACKOFF_S,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.link = NodeLink(Path(socket_path), self.post_message, backoff=backoff)
        if title:
            self.title = title

    def on_mount(self) -> None:
        self.run_worker(self.link.run(), name="node-link", group="link", exclusive=True)

    # -- routing -----------------------------------------------------------------

    def on_connection_state_changed(self, message: ConnectionStateChanged) -> None:
        was = self.connected
        self.connection_message = message.message
        self.connected = message.connected
        if message.connected and not was:
            for screen in self.screen_stack:
                if isinstance(screen, BaseScreen):
                    screen.reload()

    def _live(self, message: Message) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, BaseScreen):
                screen.live(message)

    def on_record_arrived(self, message: RecordArrived) -> None:
        self._live(message)

    def on_peer_changed(self, message: PeerChanged) -> None:
        self._live(message)

    def on_sync_progress(self, message: SyncProgress) -> None:
        self._live(message)

    # -- actions -----------------------------------------------------------------

    def action_goto(self, mode: str) -> None:
        if mode not in self.MODES:
            return
        if self.current_mode == mode:
            while len(self.screen_stack) > 1:
                self.pop_screen()
            return
        self.switch_mode(mode)

    def action_toggle_unvetted(self) -> None:
        self.show_unvetted = not self.show_unvetted
        state = "shown" if self.show_unvetted else "hidden where a community sets a trust floor"
        self.notify(f"Records from authors outside your trust network: {state}")
        for screen in self.screen_stack:
            if isinstance(screen, BaseScreen):
                screen.reload()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is plain text: ours use no markup, and many quote names."""
        super().notify(
            printable(message),
            title=printable(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())


def freeze_startup_heap() -> None:
    """Take what is alive now (modules, classes, styles) out of the garbage collector's walks.

    A full collection walks every tracked object; with Textual, Rich and our
    modules loaded that is some 140 000 objects and 40-100 ms on a small
    machine, a visible stall whenever one falls while a screen opens
    (bench/tui.py measured it). They live as long as the process, so after one
    collection of the start-up garbage they are frozen (``gc.freeze``): later
    collections walk only what screens and data created since.
    """
    gc.collect()
    gc.freeze()


EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


@contextlib.contextmanager
def exit_on_signals(app: App[Any]) -> Iterator[None]:
    """SIGTERM, SIGHUP (its terminal closed) or SIGINT ends ``app`` as the q key does.

    Ctrl+C in the TUI is a key, not a signal; these come from elsewhere. Textual
    leaves them to Python, and a handler that raises lands inside the event
    loop, which logs it and runs on: a TUI whose terminal is gone would wait
    forever. The handler asks the loop to exit the app, then calls the handler
    that was there before (``cercle demo`` stops its network in it).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        loop = app._loop  # set while App.run() runs
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(app.exit, 0)  # safe from a signal handler
        before = old.get(signum)
        if callable(before):
            before(signum, frame)

    # Keyed by int, not Signals: the handler looks its signum up.
    old: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {
        sig: signal.signal(sig, handler) for sig in EXIT_SIGNALS
    }
    try:
        yield
    finally:
        for sig, before in old.items():
            signal.signal(sig, before)


def run_tui(socket_path: Path, *, title: str | None = None) -> int:
    """Run the TUI against the node listening on ``socket_path``; blocks; an exit code."""
    app = CercleApp(socket_path, title=title)
    freeze_startup_heap()
    with exit_on_signals(app):
        result = app.run()
    return result if isinstance(result, int) else (app.return_code or 0)
