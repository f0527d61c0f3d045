"""The sync driver over in-memory streams: two stores converge, bad peers are contained."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from cercle.node import syncdriver as D
from cercle.node.ingest import Pipeline
from cercle.protocol import records as R
from cercle.protocol import sync as S
from cercle.protocol import syncstream as W
from cercle.protocol.errors import RemoteProtocolError
from cercle.storage import Store
from tests import factory as F

COMM = F.community()
NOW = F.T0 + 10**9


def make_store(path: Path, recs: list[R.Record]) -> Store:
    store = Store(path, durable=False)
    store.ingest(recs)
    return store


def hooks(store: Store) -> tuple[D.GetRaws, D.Ingest]:
    pipe = Pipeline(store, workers=2)

    async def get_raws(ids: Sequence[bytes]) -> list[bytes]:
        return store.get_raws(ids)

    async def ingest(raws: list[bytes]) -> None:
        pipe.commit(pipe.validate(raws, NOW))

    return get_raws, ingest


async def run_pair(
    a: Store,
    b: Store,
    scope: bytes,
    *,
    hosts: bytes | None = None,
    pair: Callable[[], tuple[D.ByteStream, D.ByteStream]] = trio.testing.memory_stream_pair,
) -> tuple[D.SyncReport, D.SyncReport]:
    left, right = pair()
    results: dict[str, D.SyncReport] = {}
    ga, ia = hooks(a)
    gb, ib = hooks(b)

    async def hosted(s: bytes) -> S.ItemStore | None:
        return S.SortedItems(b.scope_items(s)) if s == (hosts or scope) else None

    async def initiator() -> None:
        items = S.SortedItems(a.scope_items(scope))
        results["a"] = await D.sync_as_initiator(left, scope, items, ga, ia)

    async def responder() -> None:
        results["b"] = await D.sync_as_responder(right, hosted, gb, ib)

    with trio.fail_after(30):
        async with trio.open_nursery() as n:
            n.start_soon(initiator)
            n.start_soon(responder)
    return results["a"], results["b"]


def ratings(n: int, offset: int = 0) -> list[R.Record]:
    return [F.rating(i % 7, COMM.id, offset + i, (3, 4, 5), t=F.T0 + offset + i) for i in range(n)]


async def test_partitioned_stores_converge_both_ways(tmp_path: Path) -> None:
    common = ratings(300)
    a = make_store(tmp_path / "a", [COMM, *common, *ratings(40, offset=1000)])
    b = make_store(tmp_path / "b", [COMM, *common, *ratings(25, offset=2000)])
    ra, rb = await run_pair(a, b, COMM.id)
    assert (ra.needed, ra.offered) == (25, 40)
    assert (rb.needed, rb.offered) == (40, 25)
    assert ra.received == 25 and rb.received == 40 and ra.unrequested == 0
    assert a.scope_items(COMM.id) == b.scope_items(COMM.id)
    assert a.check() == [] and b.check() == []


async def test_both_sides_push_at_once_without_buffering(tmp_path: Path) -> None:
    # A lockstep stream buffers nothing: send_all waits for the peer to read. Both
    # sides having much to push, a driver that only read after pushing would hang.
    a = make_store(tmp_path / "a", [COMM, *ratings(600)])
    b = make_store(tmp_path / "b", [COMM, *ratings(600, offset=5000)])
    ra, rb = await run_pair(a, b, COMM.id, pair=trio.testing.lockstep_stream_pair)
    assert ra.received == rb.received == 600 == ra.sent == rb.sent
    assert a.scope_items(COMM.id) == b.scope_items(COMM.id)


async def test_fresh_node_catches_up_and_equal_sets_take_one_round_trip(tmp_path: Path) -> None:
    a = make_store(tmp_path / "a", [])
    b = make_store(tmp_path / "b", [COMM, *ratings(2500)])
    ra, _ = await run_pair(a, b, COMM.id)
    assert ra.received == 2500
    assert a.scope_items(COMM.id) == b.scope_items(COMM.id)
    again, _ = await run_pair(a, b, COMM.id)
    assert (again.needed, again.offered, again.round_trips) == (0, 0, 1)


async def test_retraction_syncs_and_the_record_does_not_come_back(tmp_path: Path) -> None:
    r = F.rating(1, COMM.id, 5, (1, 1, 1))
    x = F.retract(1, r)
    a = make_store(tmp_path / "a", [COMM, r])  # has the rating, not the retraction
    b = make_store(tmp_path / "b", [COMM, r, x])  # has the retraction
    await run_pair(a, b, COMM.id)
    assert not a.has(r.id) and a.has(x.id) and not b.has(r.id)
    assert a.scope_items(COMM.id) == b.scope_items(COMM.id)


async def test_unhosted_scope_is_refused(tmp_path: Path) -> None:
    a = make_store(tmp_path / "a", [COMM])
    b = make_store(tmp_path / "b", [])
    ra, rb = await run_pair(a, b, bytes(32), hosts=COMM.id)
    assert ra.refused and rb.refused


async def test_garbage_from_a_peer_is_a_remote_error(tmp_path: Path) -> None:
    a = make_store(tmp_path / "a", [COMM])
    get_raws, ingest = hooks(a)
    left, right = trio.testing.memory_stream_pair()
    with trio.fail_after(10):
        async with trio.open_nursery() as n:

            async def peer() -> None:
                await right.receive_some()
                await right.send_all(W.encode_frame(W.FrameType.SYNC, b"\xc1garbage"))

            n.start_soon(peer)
            with pytest.raises(RemoteProtocolError):
                await D.sync_as_initiator(
                    left, COMM.id, S.SortedItems(a.scope_items(COMM.id)), get_raws, ingest
                )
    assert a.count() == 1


async def serve_bytes(data: bytes) -> None:
    """Run a responder against a peer that sends ``data`` and closes."""
    left, right = trio.testing.memory_stream_pair()

    async def hosted(scope: bytes) -> S.ItemStore | None:
        return S.SortedItems([])

    async def no_raws(ids: Sequence[bytes]) -> list[bytes]:
        return []

    async def no_ingest(raws: list[bytes]) -> None:
        return None

    await left.send_all(data)
    await left.send_eof()
    with trio.fail_after(10):
        await D.sync_as_responder(right, hosted, no_raws, no_ingest)


async def test_oversize_unknown_or_truncated_frames_are_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="unknown"):
        await serve_bytes(struct_frame(9, 0))
    with pytest.raises(RemoteProtocolError, match="too large"):
        await serve_bytes(struct_frame(W.FrameType.RECORD, R.MAX_RECORD_BYTES + 1))
    with pytest.raises(RemoteProtocolError, match="middle of a frame"):
        await serve_bytes(struct_frame(W.FrameType.SYNC, 10) + b"abc")
    with pytest.raises(RemoteProtocolError, match="record"):
        await serve_bytes(struct_frame(W.FrameType.RECORD, 0))


def struct_frame(kind: int, size: int) -> bytes:
    return bytes([kind]) + size.to_bytes(4, "big")
