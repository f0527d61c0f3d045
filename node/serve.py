"""The node: every service built and wired together here, and nowhere else.

A personal node and a relay are the same program. :meth:`Node.serve` opens the
store, builds the services, connects their hooks and runs them under one nursery,
so cancelling it stops everything with every acknowledged record committed:

==============  =====================================================================
``writer``      the single writer: batches, proof of work, after-commit hooks
``trust``       the trust graph, kept in step with the store (``trustkeeper.py``)
``gossip``      topics, validator, delivery to the writer, publisher (``gossip.py``)
``sync``        who syncs which scope with whom and when (``syncing.py``)
``discovery``   bootstrap, backoff, remembered peers, peer exchange, reservations
``relay``       relay mode's rules (``relay.py``), None on a personal node
``net``         the libp2p host (``net.py``)
API             the local API server over :class:`Port` (``api/``)
==============  =====================================================================

Data flow::

    gossip ─ validator (decode, verify, topic check) ─┐
    sync   ─ batches of raw records ──────────────────┼─▶ writer ─▶ Store ─▶ after commit:
    API    ─ records we sign ─────────────────────────┘     trust, moderation, events, relay
                                                             └─▶ gossip publisher (ours)
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from cercle import node as _pkg
from cercle.node.api import views
from cercle.node.api.handlers import Backend
from cercle.node.api.server import EventHub, serve_api
from cercle.node.discovery import Discovery, share_nothing
from cercle.node.files.config import Config
from cercle.node.files.datadir import DataDir
from cercle.node.files.hostkey import load_or_create_host_key
from cercle.node.gossip import Gossip, topic_rate
from cercle.node.ingest import Pipeline
from cercle.node.moderation import Moderation
from cercle.node.net import SPAM_LIMIT_PER_S, Network, PeerInfo
from cercle.node.relay import Relay
from cercle.node.syncdriver import SyncReport
from cercle.node.syncing import Hosting, SyncService
from cercle.node.trustkeeper import TrustKeeper
from cercle.node.writer import GOSSIP, Submission, Writer
from cercle.protocol import records as R
from cercle.protocol.identity import Identity
from cercle.protocol.localapi import EVENT_PEER, EVENT_RECORD
from cercle.protocol.topics import BATCH, DIRECTORY_SCOPE, SINGLE
from cercle.protocol.trust import TrustView
from cercle.storage import Outcome, Status, Store
from cercle.storage import layout as L

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

NODE_MAP_SIZE = 1 << 32  # 4 GiB of address space: growing the map (readers idle) is rare


@dataclass
class Services:
    """The running node's parts (see the module docstring)."""

    store: Store
    pipeline: Pipeline
    trust: TrustKeeper
    moderation: Moderation
    writer: Writer
    net: Network
    gossip: Gossip
    sync: SyncService
    discovery: Discovery
    relay: Relay | None


class Node:
    """One Cercle node (``relay=True``: no author, hosts every community it hears of)."""

    def __init__(
        self,
        datadir: DataDir,
        config: Config,
        identity: Identity | None = None,
        *,
        relay: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.datadir = datadir
        self.config = config
        self.identity = identity
        self.relay = relay
        self.clock = clock
        self.events = EventHub()
        self.counters: collections.Counter[str] = collections.Counter()
        self.rejected: collections.Counter[str] = collections.Counter()  # peers' records
        self.services: Services | None = None
        self._nursery: trio.Nursery | None = None

    # ------------------------------------------------------------------ wiring

    async def serve(self, *, task_status: TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
        self.datadir.ensure()
        # A roomy map (address space, not disk: the file grows as data comes) makes
        # growing it -- which needs every reader to be idle -- a rare event.
        store = Store(self.datadir.db, map_size=NODE_MAP_SIZE)
        pipeline = Pipeline(store)
        try:
            me = self.identity.public_key if self.identity else None
            trust = TrustKeeper(store, me)
            await trio.to_thread.run_sync(trust.load)
            relay = Relay(self.config) if self.relay else None
            writer = Writer(
                store,
                pipeline,
                now_ms=self.now_ms,
                counters=self.counters,
                rejected=self.rejected,
                pow_exemptions=trust.pow_exemptions,
                after_commit=self._after_commit,
            )
            batches = self.config.network_version >= BATCH
            net = Network(
                load_or_create_host_key(self.datadir.node_key),
                list(self.config.listen),
                on_peer=self._on_peer,
                topic_rate=topic_rate,
                # Version 2 does its own admission (gossip.ALLOWANCES): py-libp2p's limit
                # of 10 messages a second per neighbour and topic would cap batches too.
                spam_limit_per_s=None if batches else SPAM_LIMIT_PER_S,
            )
            gossip = Gossip(
                net,
                writer,
                now_ms=self.now_ms,
                clock=self.clock,
                counters=self.counters,
                rejected=self.rejected,
                rate_limit=relay.rate_limit if relay is not None else None,
                versions=(SINGLE, BATCH) if batches else (SINGLE,),
            )
            sync = SyncService(
                net,
                store,
                writer,
                Hosting(self.hosted_scopes),
                interval_s=self.config.sync_interval_s,
                now_ms=self.now_ms,
                counters=self.counters,
                events=self.events,
            )
            discovery = Discovery(
                net,
                self.config,
                self.datadir.peers,
                counters=self.counters,
                share=(lambda asking: relay.peer_list(net, asking)) if relay else share_nothing,
                learn=self.config.learn_peers and relay is None,
            )
            if self.config.mdns:
                net.enable_mdns()
            if relay is not None:
                net.enable_relay_hop()
            self.services = Services(
                store, pipeline, trust, Moderation(store, trust.graph, me), writer, net,
                gossip, sync, discovery, relay,
            )  # fmt: skip
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(net.serve)
                for scope in self.hosted_scopes():
                    await gossip.join(scope)
                await nursery.start(writer.run)
                await nursery.start(gossip.run_publisher)
                await nursery.start(sync.run)
                await nursery.start(discovery.run)
                if self.config.api:
                    backend = Backend(Port(self), self.events)
                    await nursery.start(serve_api, self.datadir.socket, backend)
                log.info("node %s listening on %s", net.peer_id, net.listen_addrs)
                task_status.started(self)
        finally:
            self._nursery = None
            self.services = None
            with trio.CancelScope(shield=True):
                pipeline.close()
                store.close()

    def _running(self) -> Services:
        if self.services is None:
            raise RuntimeError("the node is not running; start it with nursery.start(node.serve)")
        return self.services

    def _after_commit(self, rec: R.Record, out: Outcome, source: str) -> None:
        s = self._running()
        s.trust.after_commit(rec, out)
        s.moderation.after_commit(rec, out)
        if out.status is not Status.STORED:
            return
        if source == GOSSIP:
            s.gossip.arrived(rec)
        self.events.publish(EVENT_RECORD, views.record_event(rec, source, out.removed))
        if (
            s.relay is not None
            and isinstance(rec.body, R.CommunityBody)
            and s.relay.hosts_charter(rec.id)
            and self._nursery is not None
        ):
            self._nursery.start_soon(s.gossip.join, rec.id)

    def _on_peer(self, peer_id: str, connected: bool) -> None:
        self.events.publish(EVENT_PEER, views.peer_event(peer_id, connected))
        if connected and self.services is not None:
            self.services.discovery.connected(peer_id)
            self.services.sync.request(peer_id)

    # ------------------------------------------------------------------ the node's state

    @property
    def store(self) -> Store | None:
        return self.services.store if self.services else None

    @property
    def net(self) -> Network | None:
        return self.services.net if self.services else None

    @property
    def moderation(self) -> Moderation | None:
        return self.services.moderation if self.services else None

    @property
    def sync_sessions(self) -> list[views.View]:
        """The last finished sync sessions, as ``status`` shows them."""
        return [views.sync_view(i) for i in self.services.sync.reports] if self.services else []

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def joined(self) -> list[bytes]:
        return [k for k, _ in self._running().store.local_scan(L.JOINED)]

    def hosted_scopes(self) -> list[bytes]:
        """Scopes we keep, serve and sync: the directory plus joined (relay: known) ones."""
        s = self._running()
        scopes = [DIRECTORY_SCOPE, *self.joined()]
        if s.relay is not None:
            scopes += s.relay.scopes(s.store)
        return list(dict.fromkeys(scopes))

    def hosts(self, scope: bytes) -> bool:
        return scope in self.hosted_scopes()

    def trust_view(self, community: bytes | None = None) -> TrustView | None:
        """Trust from our author's point of view (None on a relay: no viewer)."""
        return self._running().trust.view(community)

    def status(self) -> dict[str, Any]:
        s = self._running()
        return views.status_view(
            views.Status(
                version=_pkg.__version__,
                relay=s.relay is not None,
                peer_id=s.net.peer_id,
                listen=s.net.listen_addrs,
                circuit=list(s.discovery.circuit_addrs.values()),
                author=self.identity.public_key if self.identity else None,
                peers=len(s.net.peers()),
                topics=s.net.topics(),
                records=s.store.count(),
                joined=self.joined(),
                rejected=dict(self.rejected),
                counters=dict(self.counters),
                gossip_latency_p50_ms=s.gossip.latency_p50_ms(),
                network=dataclasses.asdict(s.net.statistics()),
                unknown_kinds=self.unknown_kinds(),
                sync=list(s.sync.reports),
                storage=s.writer.storage,
            )
        )

    def gossip_latency_ms(self) -> list[float]:
        return list(self.services.gossip.latency_ms) if self.services else []

    def unknown_kinds(self) -> dict[str, int]:
        """Records kept of kinds this version does not know, by kind number."""
        if self.services is None:
            return {}
        return {str(int(k)): n for k, n in self.services.store.unknown_kinds().items()}

    def record_count(self) -> int:
        return self.services.store.count() if self.services else 0

    def peer_count(self) -> int:
        return len(self.services.net.peers()) if self.services else 0

    # ------------------------------------------------------------------ acting

    async def submit(
        self, *, records: Sequence[R.Record] = (), raws: Sequence[bytes] = (), source: str
    ) -> Submission:
        """Hand records to the writer and wait until they are committed."""
        return await self._running().writer.submit(records=records, raws=raws, source=source)

    async def author(self, body: R.Body, community: bytes | None = None) -> R.Record:
        """Sign, store and publish a record of ours; ``OwnRecordRejected`` if refused."""
        if self.identity is None:
            raise RuntimeError("this node has no author identity")
        s = self._running()
        rec = await s.writer.author(self.identity, body, community)
        await s.gossip.publish(rec)
        return rec

    async def join(self, community: bytes) -> None:
        s = self._running()
        s.store.local_put(L.setting(L.JOINED, community))
        await s.gossip.join(community)
        s.sync.request_all()

    async def leave(self, community: bytes) -> None:
        s = self._running()
        s.store.local_delete(L.setting(L.JOINED, community))
        await s.gossip.leave(community)

    async def sync_with(self, peer_id: str) -> list[SyncReport]:
        """One sync session per hosted scope with ``peer_id``, now."""
        return await self._running().sync.sync_with(peer_id)

    async def ask_peers(self, peer_id: str) -> list[str]:
        """Learn addresses from ``peer_id`` by peer exchange, now."""
        return await self._running().discovery.ask_peers(peer_id)

    def known_peers(self) -> list[str]:
        return self._running().discovery.known_peers()

    @property
    def circuit_addrs(self) -> dict[str, str]:
        """Our circuit address through each relay we hold a reservation on."""
        return dict(self.services.discovery.circuit_addrs) if self.services else {}


class Port:
    """The :class:`~cercle.node.api.port.NodePort` of a running node, for the local API."""

    def __init__(self, node: Node) -> None:
        self._node = node

    @property
    def store(self) -> Store:
        return self._node._running().store

    @property
    def identity(self) -> Identity | None:
        return self._node.identity

    @property
    def moderation(self) -> Moderation:
        return self._node._running().moderation

    def now_ms(self) -> int:
        return self._node.now_ms()

    def trust_view(self, community: bytes | None = None) -> TrustView | None:
        return self._node.trust_view(community)

    def vouches_for(self, subject: bytes) -> list[tuple[bytes, bool, bytes | None]]:
        return self._node._running().trust.vouches_for(subject)

    def joined(self) -> list[bytes]:
        return self._node.joined()

    async def join(self, community: bytes) -> None:
        await self._node.join(community)

    async def leave(self, community: bytes) -> None:
        await self._node.leave(community)

    async def author(self, body: R.Body, community: bytes | None = None) -> R.Record:
        return await self._node.author(body, community)

    def status(self) -> dict[str, Any]:
        return self._node.status()

    def peers(self) -> list[PeerInfo]:
        return self._node._running().net.peers()

    async def connect(self, addr: str) -> str:
        return await self._node._running().net.connect(addr)
