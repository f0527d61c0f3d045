"""The local API's methods, one module per resource, behind one dispatcher.

The server (``api/server.py``) has already checked every parameter against the
method table of ``protocol/localapi.py``; a handler here turns one call into store
reads or a record to publish, through the node's narrow interface
(``api/port.py``), and answers with the shapes of ``api/views.py``. Reads are short
LMDB read transactions in the trio thread; writes go through the node's writer.

| module | methods |
|---|---|
| ``node`` | ``status``, ``identity.get``, ``profile.set``, ``peers.*`` |
| ``communities`` | ``communities.*`` |
| ``products`` | ``products.*``, ``ratings.*`` |
| ``petitions`` | ``petitions.*`` |
| ``records`` | ``records.*``, ``feed`` |
| ``trust`` | ``vouch``, ``vouches.list``, ``moderation.*`` |
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from cercle.node.api.handlers import communities, node, petitions, products, records, trust
from cercle.node.api.handlers.context import Context, Params
from cercle.node.api.port import NodePort
from cercle.node.api.server import EventChannel, EventHub
from cercle.protocol import localapi as A

Handler = Callable[[Context, Params], Any]

HANDLERS: Mapping[str, Handler] = {
    **node.HANDLERS,
    **communities.HANDLERS,
    **products.HANDLERS,
    **petitions.HANDLERS,
    **records.HANDLERS,
    **trust.HANDLERS,
}


class Backend:
    """The :class:`~cercle.node.api.server.ApiBackend` of a node: one handler per method."""

    def __init__(self, port: NodePort, events: EventHub) -> None:
        self.port = port
        self.events = events

    def subscribe(self) -> EventChannel:
        return self.events.subscribe()

    def unsubscribe(self, channel: EventChannel) -> None:
        self.events.unsubscribe(channel)

    async def handle(self, method: str, params: Params) -> Any:
        fn = HANDLERS.get(method)
        if fn is None:
            raise A.ApiError(A.UNKNOWN_METHOD, f"this node does not implement {method!r}")
        result = fn(Context(self.port), params)
        if inspect.isawaitable(result):
            result = await result
        return result
