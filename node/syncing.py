"""History sync sessions: who syncs which scope with whom, and when.

Gossip is fast and lossy; sync is the guarantee (``specs/network.md`` §7). This
service decides when sessions run — when a peer connects, when the node joins a
community (every connected peer), and every ``sync_interval_s`` (every connected
peer) — and keeps the books: one session per (peer, scope) at a time, at most one
run of sessions per peer at a time, and a report of each finished session for
``status`` and the ``sync`` API event. The sessions themselves (framing, the
reconciliation machine, moving the records) are ``syncdriver``'s.

Both ends of a new connection start a sync, so two sessions for the same scope can
cross. :class:`Sessions` is the rule, pure: the session started by the peer with
the lower id is kept; the responder refuses the other one (``sync.crossed``).
Whatever way a session ends — done, refused, a peer's protocol error, a broken
stream, a timeout — its (peer, scope) entry is released, so a peer that once sent
garbage can sync again.

Sync is outside every gossip limit, so it has its own: a session stores only records
of its scope that the reconciliation asked for — anything else (a record nobody asked
for, or of another scope: a community this node does not host, or one that does not
exist) is dropped, counted (``sync.unrequested``, ``sync.foreign``) and costs the peer a
behaviour penalty and a pause (no session with it for :data:`PAUSE_S`); and what one
peer may hand us is bounded per hour (:data:`QUOTA`, ``sync.quota_exceeded``), so that
no peer fills a disk. A session that hits the quota stops; the rest comes later.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from cercle.node import syncdriver as D
from cercle.node.api import views
from cercle.node.api.server import EventHub
from cercle.node.net import Network
from cercle.node.pacing import Budget
from cercle.node.writer import SYNC, Counter, Writer
from cercle.protocol import sync as S
from cercle.protocol.errors import CercleError, RemoteProtocolError
from cercle.protocol.localapi import EVENT_SYNC
from cercle.storage import Store

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

SESSION_TIMEOUT_S = 300.0  # one session, at most
REPORTS_KEPT = 50  # finished sessions remembered for status
REQUESTS = 1000  # peers waiting for a sync run
HOUR_S = 3600.0
# What one peer may hand us by sync: (per hour, burst). A fresh node catching up on a
# big community needs a few hundred thousand records: they fit in the burst.
QUOTA = {"records": 500_000, "bytes": 512 * 1024 * 1024}
PAUSE_S = 600.0  # no session with a peer that sent what was not asked, for this long
MISBEHAVIOUR_PENALTY = 10.0  # behaviour penalty (P5) per session that did


class QuotaExceeded(CercleError):
    """The peer has handed us all that its sync quota allows for now."""


class Sessions:
    """The (peer, scope) pairs with a session under way; pure bookkeeping.

    A pair may briefly hold two sessions (ours and the peer's, when the peer has
    the lower id), hence the count.
    """

    def __init__(self, me: str) -> None:
        self.me = me
        self._running: collections.Counter[tuple[str, bytes]] = collections.Counter()

    def open_initiator(self, peer: str, scope: bytes) -> bool:
        """May we start a session for ``scope`` with ``peer``? (Not if one is running.)"""
        if self._running[(peer, scope)]:
            return False
        self._running[(peer, scope)] += 1
        return True

    def open_responder(self, peer: str, scope: bytes) -> bool:
        """May we answer ``peer``'s session for ``scope``?

        If ours with that peer is running too, the two crossed: the one the lower
        peer id started is kept, so we answer only if that is the peer.
        """
        if self._running[(peer, scope)] and self.me < peer:
            return False
        self._running[(peer, scope)] += 1
        return True

    def close(self, peer: str, scope: bytes) -> None:
        pair = (peer, scope)
        self._running[pair] -= 1
        if self._running[pair] <= 0:
            del self._running[pair]

    def running(self, peer: str, scope: bytes) -> bool:
        return self._running[(peer, scope)] > 0


class Pauses:
    """Peers we do not sync with until a time (they sent what was not asked); pure."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def pause(self, peer: str, until: float) -> None:
        self._until[peer] = max(until, self._until.get(peer, until))

    def paused(self, peer: str, now: float) -> bool:
        until = self._until.get(peer)
        if until is not None and now >= until:
            del self._until[peer]
            return False
        return until is not None


@dataclass(frozen=True, slots=True)
class Hosting:
    """Which scopes the node keeps, serves and syncs (the directory, joined, relayed)."""

    scopes: Callable[[], list[bytes]]

    def hosts(self, scope: bytes) -> bool:
        return scope in self.scopes()


class SyncService:
    """Run with ``await nursery.start(sync.run)``; :meth:`request` a run with a peer."""

    def __init__(
        self,
        net: Network,
        store: Store,
        writer: Writer,
        hosting: Hosting,
        *,
        interval_s: float,
        now_ms: Callable[[], int],
        counters: Counter,
        events: EventHub,
    ) -> None:
        self.net = net
        self.store = store
        self.writer = writer
        self.hosting = hosting
        self.interval_s = interval_s
        self.now_ms = now_ms
        self.counters = counters
        self.events = events
        self.sessions = Sessions(net.peer_id)
        self.pauses = Pauses()
        self.quota = Budget(**{k: (v / HOUR_S, float(v)) for k, v in QUOTA.items()})
        self.reports: collections.deque[views.SyncInfo] = collections.deque(maxlen=REPORTS_KEPT)
        self._send, self._recv = trio.open_memory_channel[str](REQUESTS)
        net.set_stream_handler(D.PROTOCOL_ID, self.serve)

    # -- when ---------------------------------------------------------------

    def request(self, peer_id: str) -> None:
        """Sync every hosted scope with ``peer_id`` soon (a peer connected, say)."""
        with contextlib.suppress(trio.WouldBlock):
            self._send.send_nowait(peer_id)

    def request_all(self) -> None:
        """Sync with every connected peer soon (we joined a community, say)."""
        for peer in self.net.peers():
            self.request(peer.peer_id)

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._periodic)
            task_status.started()
            busy: set[str] = set()
            async for peer_id in self._recv:
                if peer_id in busy:
                    continue  # a run with this peer is under way: it covers this request
                busy.add(peer_id)
                nursery.start_soon(self._run_with, peer_id, busy)

    async def _run_with(self, peer_id: str, busy: set[str]) -> None:
        try:
            await self.sync_with(peer_id)
        finally:
            busy.discard(peer_id)

    async def _periodic(self) -> None:
        while True:
            await trio.sleep(self.interval_s)
            self.request_all()

    # -- initiator ----------------------------------------------------------

    async def sync_with(self, peer_id: str) -> list[D.SyncReport]:
        """One initiator session per hosted scope with ``peer_id``, in turn."""
        reports: list[D.SyncReport] = []
        if self.pauses.paused(peer_id, trio.current_time()):
            self.counters["sync.paused"] += 1
            return reports
        for scope in self.hosting.scopes():
            if not self.sessions.open_initiator(peer_id, scope):
                continue  # a session with this peer for this scope is running
            try:
                report = await self._initiate(peer_id, scope)
            finally:
                self.sessions.close(peer_id, scope)
            if report is not None:
                reports.append(report)
        return reports

    async def _initiate(self, peer_id: str, scope: bytes) -> D.SyncReport | None:
        """One session for ``scope``; None if it could not run to its end."""
        with trio.move_on_after(SESSION_TIMEOUT_S):
            try:
                stream = await self.net.open_stream(peer_id, D.PROTOCOL_ID)
            except Exception as exc:
                self.counters["sync.open_failed"] += 1
                log.info("cannot open a sync stream to %s: %s", peer_id, exc)
                return None
            session = _Intake(self, peer_id, scope)
            try:
                items = await self._items(scope)
                report = await D.sync_as_initiator(
                    stream, scope, items, self._get_raws, session.ingest
                )
                self._finished(peer_id, report, "initiator", session)
                return report
            except QuotaExceeded:
                self.counters["sync.quota_exceeded"] += 1
            except (RemoteProtocolError, trio.BrokenResourceError) as exc:
                self.counters["sync.remote_errors"] += 1
                log.info("sync with %s failed: %s", peer_id, exc)
            finally:
                with trio.CancelScope(shield=True):
                    await _aclose(stream)
        return None

    # -- responder ----------------------------------------------------------

    async def serve(self, stream: D.ByteStream, peer_id: str) -> None:
        """Answer one session a peer opened (the network closes the stream after)."""
        opened: list[bytes] = []
        session = _Intake(self, peer_id, None)

        async def hosted(scope: bytes) -> S.ItemStore | None:
            if not self.hosting.hosts(scope):
                return None
            if self.pauses.paused(peer_id, trio.current_time()):
                self.counters["sync.paused"] += 1
                return None
            if not self.sessions.open_responder(peer_id, scope):
                self.counters["sync.crossed"] += 1
                return None
            opened.append(scope)
            session.scope = scope
            return await self._items(scope)

        self.counters["sync.served"] += 1
        try:
            with trio.move_on_after(SESSION_TIMEOUT_S):
                try:
                    report = await D.sync_as_responder(
                        stream, hosted, self._get_raws, session.ingest
                    )
                except QuotaExceeded:
                    self.counters["sync.quota_exceeded"] += 1
                    await _aclose(stream)  # the peer stops sending at once
                    return
                except RemoteProtocolError as exc:
                    self.counters["sync.remote_errors"] += 1
                    log.info("sync from %s failed: %s", peer_id, exc)
                    return
                self._finished(peer_id, report, "responder", session)
        finally:
            for scope in opened:  # however the session ended
                self.sessions.close(peer_id, scope)

    # -- both ---------------------------------------------------------------

    async def _items(self, scope: bytes) -> S.SortedItems:
        store = self.store
        return await trio.to_thread.run_sync(lambda: S.SortedItems(store.scope_items(scope)))

    async def _get_raws(self, ids: Sequence[bytes]) -> list[bytes]:
        return self.store.get_raws(ids)

    def _finished(self, peer_id: str, report: D.SyncReport, role: str, intake: _Intake) -> None:
        self.counters["sync.sessions"] += 1
        if report.unrequested:
            self.counters["sync.unrequested"] += report.unrequested
        if report.unrequested or intake.foreign:
            self.misbehaved(peer_id)
        info = views.SyncInfo(peer_id, role, report, self.now_ms())
        self.reports.append(info)
        self.events.publish(EVENT_SYNC, views.sync_view(info))

    def misbehaved(self, peer_id: str) -> None:
        """The peer sent what no one asked for: a behaviour penalty and a pause."""
        self.counters["sync.penalised"] += 1
        self.net.penalize(peer_id, MISBEHAVIOUR_PENALTY)
        self.pauses.pause(peer_id, trio.current_time() + PAUSE_S)


class _Intake:
    """What one session hands the writer: only its scope's records, within the quota."""

    def __init__(self, service: SyncService, peer_id: str, scope: bytes | None) -> None:
        self.service, self.peer_id, self.scope = service, peer_id, scope
        self.foreign = 0

    async def ingest(self, raws: list[bytes]) -> None:
        s = self.service
        now = trio.current_time()
        over = s.quota.spend(self.peer_id, now, records=len(raws), bytes=sum(map(len, raws)))
        if over is not None:
            s.counters["sync.quota_dropped"] += len(raws)
            raise QuotaExceeded(f"{self.peer_id} is over its sync quota of {over}")
        sub = await s.writer.submit(raws=raws, source=SYNC, scope=self.scope)
        if sub.foreign:
            self.foreign += len(sub.foreign)
            s.counters["sync.foreign"] += len(sub.foreign)


async def _aclose(stream: D.ByteStream) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
