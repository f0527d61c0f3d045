"""The TUI's one link to the node: a client, reconnection with backoff, events.

:class:`NodeLink` owns the :class:`~cercle.tui.client.ApiClient`. Its :meth:`run`
loop (an app worker) connects, subscribes to the node's events and turns each
one into a small message posted to the app; when the node goes away it posts
:class:`ConnectionStateChanged` and tries again with a growing delay. Screens
call the node through :meth:`call`, which raises ``ConnectionLost`` while the
link is down. Nothing here knows about widgets.

Everything the node sends was written by someone, often a stranger, and may
hold terminal commands (ESC sequences) or bidirectional overrides. Answers and
events pass through :func:`~cercle.protocol.display.printable_value` here, the
one door node data comes in by, so no screen can forget to clean them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.message import Message

from cercle.protocol.display import printable_value
from cercle.protocol.localapi import (
    EVENT_NAMES,
    EVENT_OVERFLOW,
    EVENT_PEER,
    EVENT_RECORD,
    EVENT_SYNC,
    ApiError,
    Event,
)
from cercle.tui.client import ApiClient, ConnectionLost, NodeNotRunning
from cercle.tui.messages import ConnectionStateChanged, PeerChanged, RecordArrived, SyncProgress

BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0)  # then 2 s between attempts
EVENTS = list(EVENT_NAMES)


def event_message(event: Event) -> Message | None:
    """The app message for one pushed event (None for events we do not know)."""
    data = printable_value(event.data) if isinstance(event.data, dict) else {}
    if event.event == EVENT_RECORD:
        return RecordArrived(dict(data))
    if event.event == EVENT_OVERFLOW:
        return RecordArrived(None)
    if event.event == EVENT_PEER:
        return PeerChanged(dict(data))
    if event.event == EVENT_SYNC:
        return SyncProgress(dict(data))
    return None


class NodeLink:
    """``link.run()`` keeps a connection up; ``await link.call(method, **params)``."""

    def __init__(
        self,
        socket_path: Path,
        post: Callable[[Message], Any],
        *,
        client_factory: Callable[[Path], ApiClient] = ApiClient,
        backoff: tuple[float, ...] = BACKOFF_S,
    ) -> None:
        self.socket_path = Path(socket_path)
        self.post = post
        self.client_factory = client_factory
        self.backoff = backoff
        self.connected = False
        self.attempts = 0
        self._client: ApiClient | None = None

    async def call(self, method: str, **params: Any) -> Any:
        client = self._client
        if client is None:
            raise ConnectionLost(f"not connected to the node at {self.socket_path}")
        return printable_value(await client.call(method, **params))

    def lost_message(self, error: BaseException | None = None) -> str:
        if isinstance(error, NodeNotRunning):
            return (
                f"No node is running at {self.socket_path} — start one with `cercle node`; "
                "retrying…"
            )
        return f"Lost connection to the node at {self.socket_path} — reconnecting…"

    async def run(self) -> None:
        """Connect, subscribe, forward events; on loss reconnect with backoff. Never returns."""
        while True:
            client = self.client_factory(self.socket_path)
            error: BaseException | None = None
            try:
                await client.connect()
                await client.call("subscribe", events=EVENTS)
            except (ConnectionLost, ApiError, OSError) as e:
                error = e
            if error is None:
                self._client, self.connected, self.attempts = client, True, 0
                self.post(ConnectionStateChanged(True, f"Connected to {self.socket_path}"))
                try:
                    async for event in client.events():
                        message = event_message(event)
                        if message is not None:
                            self.post(message)
                except ConnectionLost as e:
                    error = e
                finally:
                    self._client = None
                    self.connected = False
            await client.close()
            self.post(ConnectionStateChanged(False, self.lost_message(error)))
            delay = self.backoff[min(self.attempts, len(self.backoff) - 1)]
            self.attempts += 1
            await asyncio.sleep(delay)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
