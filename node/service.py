"""The node: every piece wired together in one place.

A personal node and a relay are the same program.  ``Node.serve`` opens the
store, starts the libp2p network, the single writer that commits what gossip,
sync and the local API bring, the publisher that paces our own records onto
gossip, the sync loops and the discovery loop, and (personal nodes) the local
API; everything runs under one nursery, so cancelling ``serve`` stops it all
with every acknowledged record committed.

Data flow::

    gossip ─ validator (decode, verify, topic check) ─┐
    sync   ─ batches of raw records ──────────────────┼─▶ writer ─▶ Store ─▶ events
    API    ─ records we sign ─────────────────────────┘        └─▶ publisher ─▶ gossip
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import trio

from cercle import node as _pkg
from cercle.node import syncdriver as D
from cercle.node.api.server import EventHub
from cercle.node.files.config import Config
from cercle.node.files.datadir import DataDir
from cercle.node.files.hostkey import load_or_create_host_key
from cercle.node.ingest import Pipeline
from cercle.node.moderation import Moderation
from cercle.node.net import Network, PublishRejected
from cercle.node.views import record_view
from cercle.protocol import records as R
from cercle.protocol import sync as S
from cercle.protocol.errors import Reason, Rejected, RemoteProtocolError
from cercle.protocol.identity import Identity, private_key_from_seed
from cercle.protocol.trust import TrustGraph, TrustView
from cercle.storage import Outcome, Status, Store

log = logging.getLogger(__name__)

__version__ = getattr(_pkg, "__version__", "0.1.0")
DIRECTORY_TOPIC = "cercle/directory/1"
TOPIC_PREFIX = "cercle/community/1/"
JOINED = b"joined:"
SYNC_SESSION_TIMEOUT_S = 300.0
NODE_MAP_SIZE = 1 << 32  # 4 GiB
PEX_PROTOCOL_ID = "/cercle/peers/1.0.0"
PEX_MAX_ADDRS = 100
PEX_MAX_BYTES = 64 * 1024
PEX_MAX_LEARNED = 200
WRITER_BATCH = 1000
INBOX_SIZE = 20_000


def community_topic(community: bytes) -> str:
    return TOPIC_PREFIX + community.hex()


def topic_for(record: R.Record) -> str:
    """Community records go to their community's topic, the rest to the directory."""
    return DIRECTORY_TOPIC if record.community is None else community_topic(record.community)


def scope_of_topic(topic: str) -> bytes | None:
    if topic == DIRECTORY_TOPIC:
        return R.ZERO_ID
    if topic.startswith(TOPIC_PREFIX):
        try:
            scope = bytes.fromhex(topic[len(TOPIC_PREFIX) :])
        except ValueError:
            return None
        return scope if len(scope) == 32 else None
    return None


@dataclass
class _Submission:
    records: list[R.Record] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    source: str = "local"
    done: trio.Event | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


class TokenBucket:
    """Per-peer gossip rate limit for relays (records/s, burst of one second)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens: dict[str, tuple[float, float]] = {}

    def allow(self, peer: str, now: float) -> bool:
        tokens, last = self.tokens.get(peer, (self.rate, now))
        tokens = min(self.rate, tokens + (now - last) * self.rate)
        if tokens < 1:
            self.tokens[peer] = (tokens, now)
            return False
        self.tokens[peer] = (tokens - 1, now)
        return True


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
        self.rejected: collections.Counter[str] = collections.Counter()
        self.store: Store | None = None
        self.net: Network | None = None
        self.pipeline: Pipeline | None = None
        self.sync_sessions: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)
        self.gossip_latency_ms: collections.deque[float] = collections.deque(maxlen=1000)
        self._validated: collections.OrderedDict[bytes, R.Record] = collections.OrderedDict()
        self._inbox_send, self._inbox_recv = trio.open_memory_channel[_Submission](INBOX_SIZE)
        self._publish_send, self._publish_recv = trio.open_memory_channel[R.Record](INBOX_SIZE)
        self._sync_send, self._sync_recv = trio.open_memory_channel[str](1000)
        self._limiter = TokenBucket(config.max_records_per_s)
        self._nursery: trio.Nursery | None = None
        self.started = trio.Event()
        self.trust = TrustGraph()
        self.circuit_addrs: dict[str, str] = {}
        self.moderation: Moderation | None = None
        self.learned: set[str] = set()  # peer addresses learned from relays
        self._syncing: set[tuple[str, bytes]] = set()  # (peer, scope) sessions under way

    # ------------------------------------------------------------------ lifecycle

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def serve(self, *, task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
        self.datadir.ensure()
        # A roomy map (address space, not disk: the file grows as data comes) makes
        # growing it -- which needs every reader to be idle -- a rare event.
        self.store = Store(self.datadir.db, map_size=NODE_MAP_SIZE)
        self.pipeline = Pipeline(self.store)
        try:
            await trio.to_thread.run_sync(self._load_trust)
            me = self.identity.public_key if self.identity else None
            self.moderation = Moderation(self.store, self.trust, me)
            key = load_or_create_host_key(self.datadir.node_key)
            self.net = Network(
                key,
                list(self.config.listen),
                self._validate_gossip,
                self._deliver_gossip,
                on_peer=self._on_peer,
            )
            self.net.set_stream_handler(D.PROTOCOL_ID, self._serve_sync)
            self.net.set_stream_handler(PEX_PROTOCOL_ID, self._serve_pex)
            if self.config.mdns:
                self.net.enable_mdns()
            if self.relay:
                self.net.enable_relay_hop()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.net.serve)
                for scope in self.hosted_scopes():
                    await self.net.join(topic_of_scope(scope))
                nursery.start_soon(self._writer_loop)
                nursery.start_soon(self._publisher_loop)
                nursery.start_soon(self._sync_loop)
                nursery.start_soon(self._periodic_sync_loop)
                nursery.start_soon(self._bootstrap_loop)
                for relay_addr in self.config.relays:
                    nursery.start_soon(self._reserve_loop, relay_addr)
                if self.config.api:
                    from cercle.node.api.server import serve_api
                    from cercle.node.backend import Backend

                    await nursery.start(serve_api, self.datadir.socket, Backend(self))
                log.info("node %s listening on %s", self.net.peer_id, self.net.listen_addrs)
                self.started.set()
                task_status.started(self)
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True):
                self.pipeline.close()
                self.store.close()

    # ------------------------------------------------------------------ scopes and topics

    def joined(self) -> list[bytes]:
        assert self.store is not None
        return [k for k, _ in self.store.local_scan(JOINED)]

    def hosted_scopes(self) -> list[bytes]:
        """Scopes we keep, serve and sync: the directory plus joined (relay: known) ones."""
        assert self.store is not None
        scopes = [R.ZERO_ID, *self.joined()]
        if self.relay:
            wanted = {bytes.fromhex(c) for c in self.config.relay_communities}
            known = [r.id for r in self.store.by_kind(R.ZERO_ID, R.Kind.COMMUNITY, limit=100_000)]
            scopes += [c for c in known if not wanted or c in wanted]
            scopes += list(wanted)
        return list(dict.fromkeys(scopes))

    def hosts(self, scope: bytes) -> bool:
        return scope in self.hosted_scopes()

    async def join(self, community: bytes) -> None:
        assert self.store is not None and self.net is not None
        self.store.local_put(JOINED + community)
        await self.net.join(community_topic(community))
        for peer in self.net.peers():
            self._sync_send.send_nowait(peer.peer_id)

    async def leave(self, community: bytes) -> None:
        assert self.store is not None and self.net is not None
        self.store.local_delete(JOINED + community)
        await self.net.leave(community_topic(community))

    # ------------------------------------------------------------------ ingest

    async def submit(
        self, *, records: Sequence[R.Record] = (), raws: Sequence[bytes] = (), source: str
    ) -> _Submission:
        """Hand records to the writer and wait until they are committed."""
        sub = _Submission(list(records), list(raws), source, trio.Event())
        await self._inbox_send.send(sub)
        assert sub.done is not None
        await sub.done.wait()
        return sub

    async def _writer_loop(self) -> None:
        """The single writer: drains the inbox in batches, validates, commits."""
        assert self.store is not None and self.pipeline is not None
        pipeline, store = self.pipeline, self.store
        async for first in self._inbox_recv:
            subs = [first]
            size = len(first.records) + len(first.raws)
            while size < WRITER_BATCH:
                try:
                    nxt = self._inbox_recv.receive_nowait()
                except trio.WouldBlock:
                    break
                subs.append(nxt)
                size += len(nxt.records) + len(nxt.raws)
            now = self.now_ms()
            for sub in subs:
                if sub.raws:
                    checked = await trio.to_thread.run_sync(pipeline.validate, sub.raws, now)
                    for c in checked:
                        if c.record is not None:
                            sub.records.append(c.record)
                        elif c.rejected is not None:
                            sub.rejected.append(c.rejected)
                            self._count_reject(c.rejected.reason)
            batch = [r for sub in subs for r in sub.records]
            exempt = self._pow_exemptions(batch)
            try:
                outcomes = await trio.to_thread.run_sync(
                    functools.partial(store.ingest, batch, pow_exempt=_member_of(exempt))
                )
            except Exception:
                log.exception("committing a batch of %d records failed", len(batch))
                outcomes = [Outcome(Status.REJECTED, None, "storage error")] * len(batch)
            i = 0
            for sub in subs:
                sub.outcomes = outcomes[i : i + len(sub.records)]
                i += len(sub.records)
                for rec, out in zip(sub.records, sub.outcomes, strict=True):
                    self._after_commit(rec, out, sub.source)
                if sub.done is not None:
                    sub.done.set()

    # ------------------------------------------------------------------ trust

    def _load_trust(self) -> None:
        """Build the vouch graph from every stored vouch (they are all current heads)."""
        assert self.store is not None
        edges = []
        for scope in self.store.scopes():
            for rec in self.store.by_kind(scope, R.Kind.VOUCH, limit=10_000_000):
                assert isinstance(rec.body, R.VouchBody)
                edges.append((rec.author, rec.body.subject, rec.body.trust, rec.community))
        self.trust.add_vouches(edges)

    def trust_view(self, community: bytes | None = None) -> TrustView | None:
        """Trust from our author's point of view (None on a relay: no viewer)."""
        if self.identity is None:
            return None
        return self.trust.view(self.identity.public_key, community)

    def _update_trust(self, rec: R.Record, out: Outcome) -> None:
        assert self.store is not None
        for rid in out.removed:
            gone = self.store.get_any(rid)
            if gone is not None and isinstance(gone.body, R.VouchBody):
                self.trust.set_edge(gone.author, gone.body.subject, None, gone.community)
        if out.status is Status.STORED and isinstance(rec.body, R.VouchBody):
            self.trust.set_edge(rec.author, rec.body.subject, rec.body.trust, rec.community)
            mod = self.moderation
            if mod is not None and rec.body.subject in mod.blocked and rec.community is None:
                mod.set("block", rec.body.subject, True)  # my local block still wins

    def _pow_exemptions(self, batch: Sequence[R.Record]) -> set[bytes]:
        """Records whose community asks for proof of work but whose author we trust.

        Decided here, in the trio thread that owns the trust graph, before the
        batch goes to the writer thread.  A relay has no viewer: it exempts
        nobody but a community's founder.
        """
        assert self.store is not None
        exempt: set[bytes] = set()
        charters: dict[bytes, R.Record | None] = {}
        for rec in batch:
            if rec.community is None:
                continue
            if rec.community not in charters:
                charters[rec.community] = self.store.get(rec.community)
            charter = charters[rec.community]
            if charter is None or not isinstance(charter.body, R.CommunityBody):
                continue
            if not charter.body.pow_bits:
                continue
            view = self.trust_view(rec.community)
            if rec.author == charter.author or (view is not None and view.is_trusted(rec.author)):
                exempt.add(rec.id)
        return exempt

    def _after_commit(self, rec: R.Record, out: Outcome, source: str) -> None:
        self.counters[f"ingest.{out.status.value}"] += 1
        self._update_trust(rec, out)
        if out.status is Status.REJECTED and out.reason is not None:
            self._count_reject(out.reason)
        if out.status is not Status.STORED:
            return
        if source == "gossip":
            self.gossip_latency_ms.append(max(0.0, self.now_ms() - rec.created_ms))
        self.events.publish(
            "record",
            {**record_view(rec), "source": source, "removed": [r.hex() for r in out.removed]},
        )
        if self.relay and isinstance(rec.body, R.CommunityBody) and self.net is not None:
            wanted = self.config.relay_communities
            if not wanted or rec.id.hex() in wanted:
                self._spawn(self.net.join, community_topic(rec.id))

    def _count_reject(self, reason: Reason) -> None:
        self.rejected[reason.value] += 1

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(fn, *args)

    # ------------------------------------------------------------------ our own records

    async def author(self, body: R.Body, community: bytes | None = None) -> R.Record:
        """Sign, store and publish a record of ours; raise Rejected if it is refused."""
        if self.identity is None:
            raise RuntimeError("this node has no author identity")
        rec = await trio.to_thread.run_sync(self._build, body, community)
        sub = await self.submit(records=[rec], source="local")
        out = sub.outcomes[0]
        if out.status is Status.REJECTED:
            raise Rejected(out.reason or Reason.BAD_FIELD, out.detail)
        await self._publish_send.send(rec)
        return rec

    def _build(self, body: R.Body, community: bytes | None) -> R.Record:
        assert self.identity is not None and self.store is not None
        key = private_key_from_seed(self.identity.seed)
        created = self.now_ms()
        bits = 0
        if community is not None:
            charter = self.store.charter(community)
            bits = charter.pow_bits if charter is not None else 0
        if not bits:
            return R.build(key, body, created_ms=created, community=community)
        nonce = 0
        while True:  # proof of work the community asks of records (issue: spam knobs)
            rec = R.build(key, body, created_ms=created, community=community, nonce=nonce)
            if R.leading_zero_bits(rec.id) >= bits:
                return rec
            nonce += 1

    async def _publisher_loop(self) -> None:
        """Publishes our records in order, paced by the network (never dropped)."""
        async for rec in self._publish_recv:
            assert self.net is not None
            try:
                await self.net.publish(topic_for(rec), rec.raw)
                self.counters["published"] += 1
            except PublishRejected as exc:
                self.counters["publish_rejected"] += 1
                log.warning("%s", exc)
            except Exception:
                # Not lost: it is stored, and sync delivers it to peers.
                self.counters["publish_failed"] += 1
                log.exception("publishing %s failed; sync will deliver it", rec.id.hex())

    # ------------------------------------------------------------------ gossip

    def _validate_gossip(self, topic: str, data: bytes, from_peer: str) -> bool:
        own = self.net is not None and from_peer == self.net.peer_id
        if self.relay and not own and not self._limiter.allow(from_peer, self.clock()):
            self.counters["gossip.rate_limited"] += 1
            return False
        try:
            rec = R.validate(data, now_ms=self.now_ms())
        except Rejected as exc:
            self._count_reject(exc.reason)
            return False
        if topic_for(rec) != topic:
            self._count_reject(Reason.BAD_COMMUNITY)
            return False
        self._validated[rec.id] = rec
        while len(self._validated) > 4096:
            self._validated.popitem(last=False)
        return True

    def _deliver_gossip(self, topic: str, data: bytes, from_peer: str) -> None:
        if self.net is not None and from_peer == self.net.peer_id:
            return  # our own publish: already stored
        rec = self._validated.pop(R.record_id(data), None)
        sub = _Submission([rec] if rec else [], [] if rec else [data], "gossip")
        try:
            self._inbox_send.send_nowait(sub)
        except trio.WouldBlock:
            self.counters["gossip.inbox_full"] += 1  # sync will bring it later

    def _on_peer(self, peer_id: str, connected: bool) -> None:
        state = "connected" if connected else "disconnected"
        self.events.publish("peer", {"peer_id": peer_id, "state": state})
        if connected:
            with contextlib.suppress(trio.WouldBlock):
                self._sync_send.send_nowait(peer_id)

    # ------------------------------------------------------------------ sync

    async def _items(self, scope: bytes) -> S.SortedItems:
        assert self.store is not None
        store = self.store
        return await trio.to_thread.run_sync(lambda: S.SortedItems(store.scope_items(scope)))

    async def _get_raws(self, ids: Sequence[bytes]) -> list[bytes]:
        assert self.store is not None
        return self.store.get_raws(ids)

    async def _ingest_synced(self, raws: list[bytes]) -> None:
        await self.submit(raws=raws, source="sync")

    async def _serve_sync(self, stream: D.ByteStream, peer_id: str) -> None:
        serving: list[tuple[str, bytes]] = []

        async def hosted(scope: bytes) -> S.ItemStore | None:
            if not self.hosts(scope):
                return None
            pair = (peer_id, scope)
            # Both ends start a sync on connect; keep one of two crossing sessions
            # (the one the lower peer id started) so records do not cross twice.
            assert self.net is not None
            if pair in self._syncing and self.net.peer_id < peer_id:
                self.counters["sync.crossed"] += 1
                return None
            self._syncing.add(pair)
            serving.append(pair)
            return await self._items(scope)

        self.counters["sync.served"] += 1
        with trio.move_on_after(SYNC_SESSION_TIMEOUT_S):
            try:
                report = await D.sync_as_responder(
                    stream, hosted, self._get_raws, self._ingest_synced
                )
            except RemoteProtocolError as exc:
                self.counters["sync.remote_errors"] += 1
                log.info("sync from %s failed: %s", peer_id, exc)
                return
            self._report_sync(peer_id, report, "responder")
        for pair in serving:
            self._syncing.discard(pair)

    async def sync_with(self, peer_id: str) -> list[D.SyncReport]:
        """Run one sync session per hosted scope with ``peer_id``."""
        assert self.net is not None
        reports = []
        for scope in self.hosted_scopes():
            if (peer_id, scope) in self._syncing:
                continue  # a session with this peer for this scope is running
            self._syncing.add((peer_id, scope))
            try:
                reports += await self._sync_scope(peer_id, scope)
            finally:
                self._syncing.discard((peer_id, scope))
        return reports

    async def _sync_scope(self, peer_id: str, scope: bytes) -> list[D.SyncReport]:
        """One initiator session for ``scope``; [] if it could not run."""
        assert self.net is not None
        with trio.move_on_after(SYNC_SESSION_TIMEOUT_S):
            try:
                stream = await self.net.open_stream(peer_id, D.PROTOCOL_ID)
            except Exception as exc:
                self.counters["sync.open_failed"] += 1
                log.info("cannot open a sync stream to %s: %s", peer_id, exc)
                return []
            try:
                items = await self._items(scope)
                report = await D.sync_as_initiator(
                    stream, scope, items, self._get_raws, self._ingest_synced
                )
                self._report_sync(peer_id, report, "initiator")
                return [report]
            except (RemoteProtocolError, trio.BrokenResourceError) as exc:
                self.counters["sync.remote_errors"] += 1
                log.info("sync with %s failed: %s", peer_id, exc)
            finally:
                with trio.CancelScope(shield=True):
                    await _aclose(stream)
        return []

    def _report_sync(self, peer_id: str, report: D.SyncReport, role: str) -> None:
        self.counters["sync.sessions"] += 1
        info = {
            "peer_id": peer_id,
            "role": role,
            "community": report.scope.hex() if report.scope else None,
            "state": "refused" if report.refused else "done",
            "refused": report.refused,
            "received": report.received,
            "sent": report.sent,
            "round_trips": report.round_trips,
            "bytes": report.bytes_sent + report.bytes_received,
            "at_ms": self.now_ms(),
        }
        self.sync_sessions.append(info)
        self.events.publish("sync", info)

    async def _sync_loop(self) -> None:
        """Syncs with each peer that connects (one session at a time per peer)."""
        busy: set[str] = set()
        async with trio.open_nursery() as nursery:
            async for peer_id in self._sync_recv:
                if peer_id in busy:
                    continue
                busy.add(peer_id)

                async def run(pid: str = peer_id) -> None:
                    try:
                        if self.config.learn_peers and not self.relay:
                            await self.ask_peers(pid)
                        await self.sync_with(pid)
                    finally:
                        busy.discard(pid)

                nursery.start_soon(run)

    async def _periodic_sync_loop(self) -> None:
        while True:
            await trio.sleep(self.config.sync_interval_s)
            assert self.net is not None
            for peer in self.net.peers():
                try:
                    self._sync_send.send_nowait(peer.peer_id)
                except trio.WouldBlock:
                    break

    # ------------------------------------------------------------------ discovery

    def known_peers(self) -> list[str]:
        try:
            data = json.loads(self.datadir.peers.read_text(encoding="utf-8"))
            saved = [a for a in data.get("addrs", []) if isinstance(a, str)]
        except (OSError, ValueError, AttributeError):
            saved = []
        return list(dict.fromkeys([*saved, *self.learned]))

    async def _serve_pex(self, stream: D.ByteStream, peer_id: str) -> None:
        """Relays tell who else they know (personal nodes keep their peers private)."""
        assert self.net is not None
        addrs: list[str] = []
        if self.relay:
            mine = self.net.listen_addrs[0] if self.net.listen_addrs else None
            for peer in self.net.peers():
                if peer.peer_id == peer_id:
                    continue
                addrs += [_with_peer(a, peer.peer_id) for a in peer.addrs if "/tcp/" in a][:2]
                if mine is not None:  # reachable through us if it holds a reservation
                    addrs.append(f"{mine}/p2p-circuit/p2p/{peer.peer_id}")
        await stream.send_all(msgpack.packb(addrs[:PEX_MAX_ADDRS]))

    async def ask_peers(self, peer_id: str) -> list[str]:
        """Learn peer addresses from ``peer_id`` (if it is a relay); bad answers are counted."""
        assert self.net is not None
        got: list[str] = []
        with trio.move_on_after(10):
            try:
                stream = await self.net.open_stream(peer_id, PEX_PROTOCOL_ID)
            except Exception:
                return got
            try:
                data = b""
                while len(data) <= PEX_MAX_BYTES:
                    chunk = await stream.receive_some(PEX_MAX_BYTES)
                    if not chunk:
                        break
                    data += chunk
                got = _parse_pex(data)
            except (ValueError, trio.BrokenResourceError) as exc:
                self.counters["pex.bad_answers"] += 1
                log.info("bad peer list from %s: %s", peer_id, exc)
            finally:
                with trio.CancelScope(shield=True):
                    await _aclose(stream)
        for addr in got:
            if len(self.learned) < PEX_MAX_LEARNED and not addr.endswith(self.net.peer_id):
                self.learned.add(addr)
        self.counters["pex.learned"] += len(got)
        return got

    def remember_peers(self) -> None:
        assert self.net is not None
        addrs = set(self.known_peers())
        for peer in self.net.peers():
            for a in peer.addrs:
                if "/p2p/" not in a:
                    a = f"{a}/p2p/{peer.peer_id}"
                addrs.add(a)
        tmp = self.datadir.peers.with_suffix(".tmp")
        tmp.write_text(json.dumps({"addrs": sorted(addrs)[:500]}), encoding="utf-8")
        tmp.replace(self.datadir.peers)

    async def _bootstrap_loop(self) -> None:
        """Keeps dialling bootstrap and remembered peers, with exponential backoff."""
        assert self.net is not None
        backoff: dict[str, tuple[float, float]] = {}  # addr -> (next try, delay)
        while True:
            targets = list(dict.fromkeys([*self.config.bootstrap, *self.known_peers()]))
            connected = {p.peer_id for p in self.net.peers()}
            now = trio.current_time()
            for addr in targets:
                pid = addr.rsplit("/p2p/", 1)[-1] if "/p2p/" in addr else None
                if pid is None or pid in connected or pid == self.net.peer_id:
                    continue
                due, delay = backoff.get(addr, (0.0, 1.0))
                if now < due:
                    continue
                try:
                    with trio.fail_after(10):
                        await self.net.connect(addr)
                    backoff.pop(addr, None)
                    self.counters["dial.ok"] += 1
                except Exception as exc:
                    self.counters["dial.failed"] += 1
                    log.debug("dialling %s failed: %s", addr, exc)
                    backoff[addr] = (now + delay, min(delay * 2, 300.0))
            if self.net.peers():
                try:
                    self.remember_peers()
                except OSError as exc:
                    log.warning("cannot save peers: %s", exc)
            await trio.sleep(1.0 if not self.net.peers() else 10.0)

    async def _reserve_loop(self, relay_addr: str) -> None:
        """Keeps a circuit-relay reservation on ``relay_addr`` (for nodes behind NAT)."""
        assert self.net is not None
        delay = 1.0
        while True:
            try:
                with trio.fail_after(20):
                    addr = await self.net.reserve_on(relay_addr)
                self.circuit_addrs[relay_addr] = addr
                self.counters["relay.reserved"] += 1
                delay = 1.0
                await trio.sleep(600)  # renew well before the relay's reservation expires
            except Exception as exc:
                self.circuit_addrs.pop(relay_addr, None)
                self.counters["relay.reserve_failed"] += 1
                log.info("reservation on %s failed: %s", relay_addr, exc)
                await trio.sleep(delay)
                delay = min(delay * 2, 300.0)

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        assert self.store is not None and self.net is not None
        lat = sorted(self.gossip_latency_ms)
        return {
            "node": __version__,
            "api": 1,
            "mode": "relay" if self.relay else "personal",
            "peer_id": self.net.peer_id,
            "listen": self.net.listen_addrs,
            "circuit": sorted(self.circuit_addrs.values()),
            "author": self.identity.public_key.hex() if self.identity else None,
            "fingerprint": self.identity.fingerprint if self.identity else None,
            "peers": len(self.net.peers()),
            "topics": self.net.topics(),
            "records": self.store.count(),
            "communities": len(self.joined()),
            "joined": [c.hex() for c in self.joined()],
            "rejected": dict(self.rejected),
            "counters": dict(self.counters),
            "gossip_latency_p50_ms": lat[len(lat) // 2] if lat else None,
            "sync": list(self.sync_sessions)[-10:],
        }


def _with_peer(addr: str, peer_id: str) -> str:
    return addr if "/p2p/" in addr else f"{addr}/p2p/{peer_id}"


def _parse_pex(data: bytes) -> list[str]:
    """A peer list from the wire: a msgpack array of multiaddr strings, else ValueError."""
    if len(data) > PEX_MAX_BYTES:
        raise ValueError("peer list too large")
    try:
        value = msgpack.unpackb(data, raw=False)
    except Exception as exc:
        raise ValueError(f"not msgpack: {exc}") from None
    if not isinstance(value, list) or len(value) > PEX_MAX_ADDRS:
        raise ValueError("expected a list of at most 100 addresses")
    out = []
    for a in value:
        if not isinstance(a, str) or not a.startswith("/") or "/p2p/" not in a or len(a) > 300:
            raise ValueError("an address is not a /…/p2p/ID multiaddr")
        out.append(a)
    return out


def _member_of(ids: set[bytes]) -> Callable[[R.Record], bool]:
    return lambda rec: rec.id in ids


def topic_of_scope(scope: bytes) -> str:
    return DIRECTORY_TOPIC if scope == R.ZERO_ID else community_topic(scope)


async def _aclose(stream: D.ByteStream) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
