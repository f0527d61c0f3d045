"""The banner that says the node is unreachable (hidden while connected)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


class ConnectionBanner(Static):
    """Shows the app's ``connection_message`` while ``connected`` is false."""

    DEFAULT_CSS = """
    ConnectionBanner {
        dock: top;
        width: 100%;
        height: auto;
        padding: 0 1;
        background: $error;
        color: $text;
        text-style: bold;
        display: none;
    }
    ConnectionBanner.-down {
        display: block;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "connected", self._changed, init=True)
        self.watch(self.app, "connection_message", self._changed, init=True)

    def _changed(self, _value: object = None) -> None:
        connected = bool(getattr(self.app, "connected", True))
        self.update(Content(str(getattr(self.app, "connection_message", ""))))
        self.set_class(not connected, "-down")
