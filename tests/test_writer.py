"""The single writer without a network: batching, outcomes, whose fault a refusal is,
and its two stages (checking batch n+1 while batch n commits) keeping every guarantee."""

from __future__ import annotations

import collections
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from cercle.node.ingest import Checked, Pipeline
from cercle.node.writer import SYNC, Submission, Writer, take_batch
from cercle.protocol import records as R
from cercle.protocol.errors import OwnRecordRejected, Reason
from cercle.protocol.identity import Identity
from cercle.storage import Outcome, Status, Store
from tests import factory as F
from tests.helpers import until

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
    """A store's ``ingest`` wrapped: the batches it was given (sizes, and ids in order).

    Close :attr:`gate` to make commits wait, in their worker thread, until it opens.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batches: list[int] = []
        self.ids: list[list[bytes]] = []
        self.real = store.ingest
        self.gate = threading.Event()
        self.gate.set()
        self.committing = threading.Event()  # a commit is waiting at the closed gate
        self.finished = 0

    def __call__(self, batch: Any, **kw: Any) -> list[Outcome]:
        self.batches.append(len(batch))
        self.ids.append([r.id for r in batch])
        if not self.gate.is_set():
            self.committing.set()
            assert self.gate.wait(timeout=30), "the test never opened the gate"
        out = self.real(batch, **kw)
        self.finished += 1
        return out


@asynccontextmanager
async def writer(
    path: Path, *, running: bool = True, **kw: Any
) -> AsyncIterator[tuple[Writer, Recorder]]:
    store = Store(path, durable=False)
    store.ingest([COMM])
    recorder = Recorder(store)
    store.ingest = recorder  # type: ignore[method-assign]
    pipeline = Pipeline(store, workers=2)
    seen: list[tuple[bytes, Status, str]] = []
    hook = kw.pop("after_commit", lambda rec, out, source: None)

    def after_commit(rec: R.Record, out: Outcome, source: str) -> None:
        seen.append((rec.id, out.status, source))
        hook(rec, out, source)

    w = Writer(
        store,
        pipeline,
        now_ms=lambda: NOW,
        counters=collections.Counter(),
        rejected=collections.Counter(),
        after_commit=after_commit,
        **kw,
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


def ratings(n: int, start: int = 0) -> list[R.Record]:
    return [F.rating(i, COMM.id, i, (3, 3, 3)) for i in range(start, start + n)]


def ids(records: Sequence[R.Record]) -> list[bytes]:
    return [r.id for r in records]


class CountingPipeline(Pipeline):
    """A pipeline that notes each batch of raws it has checked (sizes, in order)."""

    checked: list[int]

    def validate(self, raws: Sequence[bytes], now_ms: int) -> list[Checked]:
        out = super().validate(raws, now_ms)
        self.checked.append(len(raws))
        return out


async def test_the_next_batch_is_checked_while_one_commits(tmp_path: Path) -> None:
    a, b = ratings(10), ratings(10, 10)
    async with writer(tmp_path / "db") as (w, recorder):
        pipeline = CountingPipeline(w.store, workers=2)
        pipeline.checked = []
        w.pipeline = pipeline
        recorder.gate.clear()
        woken: list[str] = []

        async def send(name: str, recs: list[R.Record]) -> None:
            await w.submit(raws=[r.raw for r in recs], source=SYNC)
            woken.append(name)

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send, "a", a)
                await until(recorder.committing.is_set, "batch a to be committing")
                nursery.start_soon(send, "b", b)
                await until(lambda: pipeline.checked == [10, 10], "b checked while a commits")
                assert recorder.finished == 0 and woken == []  # a is still committing
                recorder.gate.set()
        finally:
            recorder.gate.set()
            pipeline.close()
        assert recorder.ids == [ids(a), ids(b)]  # one batch each, in order
        assert woken == ["a", "b"]
        assert [x[0] for x in w.seen] == ids(a + b)  # type: ignore[attr-defined]


async def test_many_sources_each_record_committed_and_reported_once_in_order(
    tmp_path: Path,
) -> None:
    recs = ratings(240)
    async with writer(tmp_path / "db", batch=25) as (w, recorder):

        async def source(k: int) -> None:
            mine = recs[k::6]
            for j in range(0, len(mine), 8):
                part = mine[j : j + 8]
                if j % 16:
                    sub = await w.submit(records=part, source=SYNC)
                else:
                    sub = await w.submit(raws=[r.raw for r in part], source=SYNC)
                assert ids(sub.records) == ids(part)  # a submission's records, in order
                assert [o.status for o in sub.outcomes] == [Status.STORED] * len(part)
                assert all(w.store.has(r.id) for r in part)  # woken after the commit

        async with trio.open_nursery() as nursery:
            for k in range(6):
                nursery.start_soon(source, k)
    committed = [i for batch in recorder.ids for i in batch]
    assert sorted(committed) == sorted(ids(recs))  # every record, once
    assert [x[0] for x in w.seen] == committed  # type: ignore[attr-defined]  # hooks: commit order
    assert w.counters["ingest.stored"] == 240 and len(recorder.ids) > 1


async def test_exemptions_and_hooks_run_in_the_trio_thread_between_commits(
    tmp_path: Path,
) -> None:
    events: list[tuple[str, int]] = []

    def in_trio() -> bool:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            return False
        return True

    def exemptions(batch: Sequence[R.Record]) -> set[bytes]:
        events.append(("exempt" if in_trio() else "exempt OFF THE TRIO THREAD", len(batch)))
        return set()

    def hook(rec: R.Record, out: Outcome, source: str) -> None:
        events.append(("hook" if in_trio() else "hook OFF THE TRIO THREAD", 1))

    a, b = ratings(3), ratings(4, 3)
    async with writer(tmp_path / "db", pow_exemptions=exemptions, after_commit=hook) as (
        w,
        recorder,
    ):
        recorder.gate.clear()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: w.submit(raws=[r.raw for r in a], source=SYNC))
            await until(recorder.committing.is_set, "batch a to be committing")
            nursery.start_soon(lambda: w.submit(raws=[r.raw for r in b], source=SYNC))
            await trio.sleep(0)
            recorder.gate.set()
    # b's exemptions were asked after a's hooks ran: they see a's vouches
    assert events == [("exempt", 3), *[("hook", 1)] * 3, ("exempt", 4), *[("hook", 1)] * 4]


async def test_a_shutdown_during_a_commit_reports_that_batch_whole_and_the_next_not_at_all(
    tmp_path: Path,
) -> None:
    a, b = ratings(10), ratings(10, 10)
    async with writer(tmp_path / "db", running=False) as (w, recorder):
        first = Submission(records=a, source=SYNC, done=trio.Event())
        second = Submission(raws=[r.raw for r in b], source=SYNC, done=trio.Event())
        recorder.gate.clear()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(w.run)
                assert w.offer(first)
                await until(recorder.committing.is_set, "the first batch to be committing")
                assert w.offer(second)
                await until(lambda: len(second.records) == 10, "the second batch to be checked")
                nursery.cancel_scope.cancel()  # the node shuts down mid-commit
                recorder.gate.set()
        finally:
            recorder.gate.set()
        assert first.done is not None and first.done.is_set()
        assert [o.status for o in first.outcomes] == [Status.STORED] * 10
        assert [x[0] for x in w.seen] == ids(a)  # type: ignore[attr-defined]
        assert second.done is not None and not second.done.is_set()
        assert second.outcomes == [] and recorder.ids == [ids(a)]
        assert not any(w.store.has(r.id) for r in b)


async def test_records_of_another_scope_come_back_as_foreign_not_committed(
    tmp_path: Path,
) -> None:
    mine = F.rating(1, COMM.id, 1, (4, 4, 4))
    other = F.community(5, "Halal")
    theirs = F.rating(2, other.id, 2, (4, 4, 4))
    profile = F.profile(3, "Ann")  # the directory's scope
    async with writer(tmp_path / "db") as (w, _):
        sub = await w.submit(
            records=[theirs], raws=[mine.raw, profile.raw, b"\xc1"], source=SYNC, scope=COMM.id
        )
        assert ids(sub.records) == [mine.id]
        assert [o.status for o in sub.outcomes] == [Status.STORED]
        assert sorted(ids(sub.foreign)) == sorted([theirs.id, profile.id])
        assert not w.store.has(theirs.id) and not w.store.has(profile.id)
        assert w.rejected == {"malformed": 1}  # foreign records are the caller's to count
        assert [x[0] for x in w.seen] == [mine.id]  # type: ignore[attr-defined]
        sub = await w.submit(records=[profile], source=SYNC)  # no scope: any is committed
        assert sub.foreign == [] and w.store.has(profile.id)
