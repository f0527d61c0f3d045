"""The single writer without a network: batching, outcomes, whose fault a refusal is."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from cercle.node.ingest import Pipeline
from cercle.node.writer import Submission, Writer, take_batch
from cercle.protocol import records as R
from cercle.protocol.errors import OwnRecordRejected, Reason
from cercle.protocol.identity import Identity
from cercle.storage import Outcome, Status, Store
from tests import factory as F

COMM = F.community()
NOW = F.T0 + 10**9


def sub(n: int) -> Submission:
    return Submission(raws=[b"x"] * n)


def test_a_batch_takes_what_waits_up_to_the_limit_and_never_splits_one() -> None:
    waiting = collections.deque([sub(300), sub(300), sub(50)])
    batch = take_batch(sub(600), lambda: waiting.popleft() if waiting else None, limit=1000)
    assert [s.size for s in batch] == [600, 300, 300]  # over the limit by the last taken
    assert [s.size for s in waiting] == [50]
    assert [s.size for s in take_batch(sub(2000), lambda: None, limit=1000)] == [2000]


class Recorder:
    """A store's ``ingest`` wrapped: the batches it was given."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batches: list[int] = []
        self.real = store.ingest

    def __call__(self, batch: Any, **kw: Any) -> list[Outcome]:
        self.batches.append(len(batch))
        return self.real(batch, **kw)


@asynccontextmanager
async def writer(path: Path, *, running: bool = True) -> AsyncIterator[tuple[Writer, Recorder]]:
    store = Store(path, durable=False)
    store.ingest([COMM])
    recorder = Recorder(store)
    store.ingest = recorder  # type: ignore[method-assign]
    pipeline = Pipeline(store, workers=2)
    seen: list[tuple[bytes, Status, str]] = []
    w = Writer(
        store,
        pipeline,
        now_ms=lambda: NOW,
        counters=collections.Counter(),
        rejected=collections.Counter(),
        after_commit=lambda rec, out, source: seen.append((rec.id, out.status, source)),
    )
    w.seen = seen  # type: ignore[attr-defined]
    try:
        async with trio.open_nursery() as nursery:
            if running:
                await nursery.start(w.run)
            yield w, recorder
            nursery.cancel_scope.cancel()
    finally:
        pipeline.close()
        store.close()


async def test_what_waits_is_committed_in_one_transaction(tmp_path: Path) -> None:
    recs = [F.rating(i, COMM.id, i, (3, 3, 3)) for i in range(30)]
    async with writer(tmp_path / "db", running=False) as (w, recorder):
        subs = [
            Submission(records=recs[i : i + 10], source="sync", done=trio.Event())
            for i in (0, 10, 20)
        ]
        assert all(w.offer(s) for s in subs)
        async with trio.open_nursery() as nursery:
            await nursery.start(w.run)
            for s in subs:
                await s.done.wait()  # type: ignore[union-attr]
            nursery.cancel_scope.cancel()
        assert recorder.batches == [30]  # one commit, one fsync, for the three
        assert all(o.status is Status.STORED for s in subs for o in s.outcomes)
        assert [x[0] for x in w.seen] == [r.id for r in recs]  # type: ignore[attr-defined]


async def test_a_peers_bad_records_are_counted_as_the_peers(tmp_path: Path) -> None:
    good = F.rating(1, COMM.id, 1, (4, 4, 4))
    forged = bytearray(good.raw)
    forged[-1] ^= 1  # the signature no longer matches
    async with writer(tmp_path / "db") as (w, _):
        done = await w.submit(raws=[good.raw, bytes(forged), b"\xc1"], source="gossip")
        assert [o.status for o in done.outcomes] == [Status.STORED]
        assert sorted(r.reason.value for r in done.rejected) == ["bad_signature", "malformed"]
        assert w.rejected == {"bad_signature": 1, "malformed": 1}
        late = F.rating(2, COMM.id, 1, (4, 4))  # two scores for three criteria
        await w.submit(records=[late], source="sync")
        assert w.rejected[Reason.SCORE_COUNT_MISMATCH.value] == 1


async def test_our_own_refused_record_is_our_fault(tmp_path: Path) -> None:
    me = Identity.from_seed(bytes(32))
    async with writer(tmp_path / "db") as (w, _):
        with pytest.raises(OwnRecordRejected) as exc:
            await w.author(me, R.RatingBody(F.gtin(1), (4, 4)), COMM.id)  # 2 of 3 scores
        assert exc.value.reason is Reason.SCORE_COUNT_MISMATCH
        assert w.rejected == {}  # not a peer's rejection
        assert w.counters["author.rejected.score_count_mismatch"] == 1
        rec = await w.author(me, R.RatingBody(F.gtin(2), (4, 4, 4)), COMM.id)
        assert w.store.has(rec.id) and rec.author == me.public_key
