"""What the local API may ask of a running node: the one narrow interface.

The handlers (``api/handlers/``) answer every method through a :class:`NodePort`
and nothing else: they read the store, ask for trust views and moderation, and
ask the node to publish, join or dial. They never reach the network, the writer
or the trust graph themselves, so the node can change how it does a thing without
touching the API, and the handlers can be tested over a stand-in. ``serve.py``
implements it over the node's services.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from cercle.node.api.views import Peer
from cercle.node.moderation import Moderation
from cercle.protocol import records as R
from cercle.protocol.identity import Identity
from cercle.protocol.trust import TrustView
from cercle.storage import Store


class NodePort(Protocol):
    @property
    def store(self) -> Store:
        """The node's store, for reads (writes go through :meth:`author`)."""
        ...

    @property
    def identity(self) -> Identity | None:
        """Our author (None on a relay)."""
        ...

    @property
    def moderation(self) -> Moderation: ...

    def now_ms(self) -> int: ...

    def trust_view(self, community: bytes | None = None) -> TrustView | None:
        """Trust from our author's point of view, in a community or globally."""
        ...

    def vouches_for(self, subject: bytes) -> list[tuple[bytes, bool, bytes | None]]:
        """(truster, trust, community) of every current vouch about ``subject``."""
        ...

    def joined(self) -> list[bytes]: ...

    async def join(self, community: bytes) -> None: ...

    async def leave(self, community: bytes) -> None: ...

    async def author(self, body: R.Body, community: bytes | None = None) -> R.Record:
        """Sign, store and publish a record of ours (``OwnRecordRejected`` if refused)."""
        ...

    def status(self) -> dict[str, Any]: ...

    def peers(self) -> Sequence[Peer]: ...

    async def connect(self, addr: str) -> str:
        """Dial a multiaddr ending in ``/p2p/ID``; the peer id."""
        ...
