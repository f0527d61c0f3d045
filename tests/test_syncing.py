"""Sync sessions without libp2p: the crossing rule, the books kept however a session
ends, and the schedule (a fake network, trio memory streams, trio's MockClock)."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio
import trio.testing

from cercle.node import syncdriver as D
from cercle.node.api.server import EventHub
from cercle.node.ingest import Pipeline
from cercle.node.syncing import Hosting, Sessions, SyncService
from cercle.node.writer import Writer
from cercle.protocol import records as R
from cercle.protocol import sync as S
from cercle.protocol import syncstream as W
from cercle.protocol.errors import RemoteProtocolError
from cercle.storage import Store
from tests import factory as F
from tests.helpers import until

COMM = F.community()
NOW = F.T0 + 10**9
ME, PEER = "node-A", "node-B"  # ME < PEER: a stale entry would refuse PEER's sessions


# --------------------------------------------------------------------------- pure rule


def test_crossing_sessions_keep_the_one_the_lower_peer_started() -> None:
    a, b = Sessions("A"), Sessions("B")
    scope = COMM.id
    # Both start a session with the other for the same scope: they cross.
    assert a.open_initiator("B", scope) and b.open_initiator("A", scope)
    assert not a.open_responder("B", scope)  # A < B: A refuses B's, keeps its own
    assert b.open_responder("A", scope)  # B answers A's
    assert not a.open_initiator("B", scope)  # one of ours at a time
    a.close("B", scope)
    assert not a.running("B", scope) and a.open_responder("B", scope)


def test_a_pair_may_hold_two_sessions_and_is_free_when_both_end() -> None:
    b = Sessions("B")
    assert b.open_initiator("A", COMM.id) and b.open_responder("A", COMM.id)
    b.close("A", COMM.id)
    assert b.running("A", COMM.id)  # the other session still runs
    b.close("A", COMM.id)
    assert not b.running("A", COMM.id)
    assert b.open_initiator("A", R.ZERO_ID) and not b.running("A", COMM.id)  # per scope


# --------------------------------------------------------------------------- the service


@dataclass
class FakeNet:
    """What SyncService uses of the network: an id, peers, stream hooks."""

    peer_id: str = ME
    connected: list[str] = field(default_factory=list)
    opened: list[tuple[float, str]] = field(default_factory=list)
    penalties: list[tuple[str, float]] = field(default_factory=list)
    handlers: dict[str, Any] = field(default_factory=dict)
    gate: trio.Event | None = None  # open_stream waits for it, if set

    def set_stream_handler(self, protocol_id: str, handler: Any) -> None:
        self.handlers[protocol_id] = handler

    def penalize(self, peer_id: str, amount: float) -> None:
        self.penalties.append((peer_id, amount))

    def peers(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(peer_id=p) for p in self.connected]

    async def open_stream(self, peer_id: str, protocol_id: str) -> Any:
        self.opened.append((trio.current_time(), peer_id))
        if self.gate is not None:
            await self.gate.wait()
        raise ConnectionError("no network in this test")


@asynccontextmanager
async def sync_service(
    path: Path, net: FakeNet | None = None, interval_s: float = 3600
) -> AsyncIterator[tuple[SyncService, Store]]:
    store = Store(path, durable=False)
    store.ingest([COMM])
    pipeline = Pipeline(store, workers=2)
    counters: collections.Counter[str] = collections.Counter()
    writer = Writer(
        store, pipeline, now_ms=lambda: NOW, counters=counters, rejected=collections.Counter()
    )
    service = SyncService(
        net or FakeNet(),  # type: ignore[arg-type]
        store,
        writer,
        Hosting(lambda: [R.ZERO_ID, COMM.id]),
        interval_s=interval_s,
        now_ms=lambda: NOW,
        counters=counters,
        events=EventHub(),
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            yield service, store
            nursery.cancel_scope.cancel()
    finally:
        pipeline.close()
        store.close()


class Peer:
    """The other side: a store of its own and an honest initiator."""

    def __init__(self, path: Path, records: Sequence[R.Record]) -> None:
        self.store = Store(path, durable=False)
        self.store.ingest([COMM, *records])

    def items(self) -> S.SortedItems:
        return S.SortedItems(self.store.scope_items(COMM.id))

    async def get_raws(self, ids: Sequence[bytes]) -> list[bytes]:
        return self.store.get_raws(ids)

    async def ingest(self, raws: list[bytes]) -> None:
        self.store.ingest([R.decode(r) for r in raws])

    async def sync(self, service: SyncService) -> D.SyncReport:
        """One honest session with ``service``, as PEER."""
        ours, theirs = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service.serve, theirs, PEER)
            with trio.fail_after(30):
                return await D.sync_as_initiator(
                    ours, COMM.id, self.items(), self.get_raws, self.ingest
                )

    async def open_then(self, stream: trio.abc.Stream) -> None:
        """Send a real opening and read the answer, so the node has accepted the scope."""
        session = W.SyncSession(W.Role.INITIATOR, self.items(), scope=COMM.id)
        await stream.send_all(session.data_to_send())
        assert await stream.receive_some()


class CutAfterOpening(trio.abc.Stream):
    """The node's end of a stream that breaks (a network drop) after the opening."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.reads = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        self.reads += 1
        if self.reads > 1:
            raise trio.BrokenResourceError("connection reset by peer")
        return await self.inner.receive_some(max_bytes)

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        await self.inner.aclose()


def ratings(n: int) -> list[R.Record]:
    return [F.rating(i % 5, COMM.id, i, (3, 4, 5), t=F.T0 + i) for i in range(n)]


async def test_after_a_session_that_ended_in_garbage_the_peer_can_sync_again(
    tmp_path: Path,
) -> None:
    peer = Peer(tmp_path / "peer", ratings(20))
    async with sync_service(tmp_path / "node") as (service, store):
        ours, theirs = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service.serve, theirs, PEER)
            await peer.open_then(ours)
            await ours.send_all(W.encode_frame(W.FrameType.SYNC, b"\xc1 not msgpack"))
        assert service.counters["sync.remote_errors"] == 1
        assert not service.sessions.running(PEER, COMM.id)
        # The same peer's honest session moves its records.
        report = await peer.sync(service)
        assert not report.refused and report.sent == 20
        await until(lambda: all(store.has(r.id) for r in ratings(20)), "the peer's records")
        assert service.counters["sync.crossed"] == 0


async def test_after_a_stream_cut_mid_session_the_peer_can_sync_again(tmp_path: Path) -> None:
    peer = Peer(tmp_path / "peer", ratings(20))
    async with sync_service(tmp_path / "node") as (service, store):
        ours, theirs = trio.testing.memory_stream_pair()
        broken: list[trio.BrokenResourceError] = []

        async def serve_cut() -> None:
            try:
                await service.serve(CutAfterOpening(theirs), PEER)
            except trio.BrokenResourceError as exc:  # the network layer logs it
                broken.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_cut)
            await peer.open_then(ours)
        assert broken and not service.sessions.running(PEER, COMM.id)
        report = await peer.sync(service)
        assert not report.refused and report.sent == 20
        await until(lambda: all(store.has(r.id) for r in ratings(20)), "the peer's records")


async def test_a_refused_scope_holds_no_entry(tmp_path: Path) -> None:
    async with sync_service(tmp_path / "node") as (service, _):
        ours, theirs = trio.testing.memory_stream_pair()
        stranger = bytes(range(32))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service.serve, theirs, PEER)
            report = await D.sync_as_initiator(
                ours, stranger, S.SortedItems([]), _no_raws, _no_ingest
            )
        assert report.refused and not service.sessions.running(PEER, stranger)


async def _no_raws(ids: Sequence[bytes]) -> list[bytes]:
    return []


async def _no_ingest(raws: list[bytes]) -> None:
    return None


# --------------------------------------------------------------------------- the schedule


async def test_every_peer_is_synced_each_interval(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    net = FakeNet(connected=[PEER, "node-C"])
    async with (
        sync_service(tmp_path / "node", net, interval_s=60) as (service, _),
        trio.open_nursery() as nursery,
    ):
        await nursery.start(service.run)
        await trio.sleep(185)
        nursery.cancel_scope.cancel()
    # At 60, 120 and 180 s: both peers, each hosted scope (the directory, the community).
    times = sorted({round(t) for t, _ in net.opened})
    assert times == [60, 120, 180]
    assert collections.Counter(p for _, p in net.opened) == {PEER: 6, "node-C": 6}


async def test_a_request_during_a_run_with_that_peer_is_covered_by_it(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    net = FakeNet(connected=[PEER], gate=trio.Event())
    async with sync_service(tmp_path / "node", net) as (service, _), trio.open_nursery() as nursery:
        await nursery.start(service.run)
        service.request(PEER)
        await until(lambda: len(net.opened) == 1, "the first session")
        service.request(PEER)  # a connection again, a join...: the run covers it
        await trio.sleep(1)
        assert len(net.opened) == 1
        assert net.gate is not None
        net.gate.set()  # the run goes on, scope by scope, then ends
        await until(lambda: len(net.opened) == 2, "the second scope")
        service.request(PEER)  # after the run: a new run
        await until(lambda: len(net.opened) == 4, "a new run")
        nursery.cancel_scope.cancel()


# --------------------------------------------------------------------------- hardening


class Peer2(Peer):
    """A peer whose store may list, for one scope, records that belong to another."""

    def __init__(self, path: Path, records: Sequence[R.Record], *, scope: bytes) -> None:
        super().__init__(path, records)
        self.scope = scope
        self.extra: list[R.Record] = []  # claimed in ``scope``'s set, whatever their own

    def items(self) -> S.SortedItems:
        own = self.store.scope_items(self.scope)
        return S.SortedItems(own + [(r.created_ms, r.id) for r in self.extra])

    async def get_raws(self, ids: Sequence[bytes]) -> list[bytes]:
        by_id = {r.id: r.raw for r in self.extra}
        return [by_id[i] for i in ids if i in by_id] + self.store.get_raws(ids)

    async def sync_scope(self, service: SyncService, stream: Any = None) -> D.SyncReport:
        ours, theirs = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service.serve, theirs, PEER)
            with trio.fail_after(30):
                return await D.sync_as_initiator(
                    stream(ours) if stream else ours,
                    self.scope,
                    self.items(),
                    self.get_raws,
                    self.ingest,
                )


class Smuggler(trio.abc.Stream):
    """Sends one record nobody asked for just before its end-of-records frame."""

    END = W.encode_frame(W.FrameType.END)

    def __init__(self, inner: trio.abc.Stream, raw: bytes) -> None:
        self.inner, self.raw = inner, raw

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        data = bytes(data)
        if data.endswith(self.END):
            data = data[: -len(self.END)] + W.encode_frame(W.FrameType.RECORD, self.raw) + self.END
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_records_of_another_scope_are_refused_and_cost_the_peer(tmp_path: Path) -> None:
    net = FakeNet()
    stranger = F.community(name="Never joined")
    foreign = [F.rating(i, stranger.id, i, (3, 3, 3), t=F.T0 + i) for i in range(30)]
    peer = Peer2(tmp_path / "peer", [], scope=R.ZERO_ID)
    peer.extra = foreign  # claimed in the directory's set
    async with sync_service(tmp_path / "node", net) as (service, store):
        await peer.sync_scope(service)
        assert not any(store.has(r.id) for r in foreign)
        assert service.counters["sync.foreign"] == 30
        assert net.penalties == [(PEER, 10.0)]
        # Paused: the next session with that peer is refused, its records stay out.
        report = await peer.sync_scope(service)
        assert report.refused and service.counters["sync.paused"] == 1


async def test_a_record_nobody_asked_for_is_dropped_and_costs_the_peer(tmp_path: Path) -> None:
    net = FakeNet()
    peer = Peer2(tmp_path / "peer", ratings(3), scope=COMM.id)
    smuggled = F.rating(9, COMM.id, 99, (1, 1, 1))
    async with sync_service(tmp_path / "node", net) as (service, store):
        report = await peer.sync_scope(service, lambda s: Smuggler(s, smuggled.raw))
        assert report.sent == 3
        await until(lambda: all(store.has(r.id) for r in ratings(3)), "the asked records")
        assert not store.has(smuggled.id)
        assert service.counters["sync.unrequested"] == 1 and net.penalties == [(PEER, 10.0)]


async def test_a_peer_over_its_quota_is_stopped_and_the_rest_comes_later(
    tmp_path: Path,
) -> None:
    from cercle.node.pacing import Budget

    peer = Peer(tmp_path / "peer", ratings(1500))
    async with sync_service(tmp_path / "node") as (service, store):
        service.quota = Budget(records=(0.001, 1000.0), bytes=(1e9, 1e9))  # 1 000 at most
        # The node ends the session early: the peer may or may not notice.
        with contextlib.suppress(RemoteProtocolError, trio.BrokenResourceError):
            await peer.sync(service)
        assert service.counters["sync.quota_exceeded"] == 1
        assert service.counters["sync.quota_dropped"] > 0  # the batch that went over
        assert 1 + 1 <= store.count() <= 1 + 1000
        service.quota = Budget(records=(1e6, 1e6), bytes=(1e9, 1e9))  # refilled
        await peer.sync(service)
        await until(lambda: store.count() == 1 + 1500, "the rest")
