"""The messages the node link posts to the app: small dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class RecordArrived(Message):
    """A record was stored by the node (``data`` is the API's Record map, or None: re-read all)."""

    data: dict[str, Any] | None = None

    @property
    def community(self) -> str | None:
        return None if self.data is None else self.data.get("community")

    def can_replace(self, message: Message) -> bool:
        # A flood of records for one community collapses: the screen re-reads anyway.
        return isinstance(message, RecordArrived) and message.community == self.community


@dataclass
class PeerChanged(Message):
    """A peer connected or disconnected."""

    data: dict[str, Any] = field(default_factory=dict)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PeerChanged)


@dataclass
class SyncProgress(Message):
    """A sync session with a peer progressed or finished."""

    data: dict[str, Any] = field(default_factory=dict)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SyncProgress)


@dataclass
class ConnectionStateChanged(Message):
    """The link to the node came up or went down (``message`` says what to tell people)."""

    connected: bool
    message: str = ""
