"""A full disk: our records fail with ``storage_full``, peers' wait in memory, nothing is lost.

Most tests use a store whose commits fail as LMDB's do when the disk is full (the
writer sees the store's ``StorageFull``) until the test frees the space; one test
fills a real, tiny tmpfs (when this process may mount one).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import lmdb
import pytest
import trio

from cercle.node.api.client import ApiClient
from cercle.node.api.server import serve_api
from cercle.node.files.config import Config
from cercle.node.files.datadir import DataDir
from cercle.node.ingest import Pipeline
from cercle.node.serve import Node
from cercle.node.writer import GOSSIP, SYNC, Submission, Writer
from cercle.protocol import localapi as A
from cercle.protocol import records as R
from cercle.protocol.identity import Identity
from cercle.storage import Outcome, Status, StorageFull, Store
from tests import factory as F
from tests.helpers import short_tmp_dir, until

COMM = F.community()
NOW = F.T0 + 10**9
ME = Identity.from_seed(bytes(32))
NO_SPACE = "mdb_txn_commit: No space left on device"


class Disk:
    """A store's ``ingest`` that fails as a full disk would while :attr:`full` is set.

    (Or with :attr:`fault`, any other exception, as an I/O error would.)
    """

    def __init__(self, store: Store) -> None:
        self.real = store.ingest
        self.full = False
        self.fault: Exception | None = None

    def __call__(self, batch: Sequence[R.Record], **kw: Any) -> list[Outcome]:
        if self.full:
            # What Store.ingest raises for LMDB's DiskError (ENOSPC) on commit.
            raise StorageFull(f"no room to write to the test store: {NO_SPACE}")
        if self.fault is not None:
            raise self.fault
        return self.real(batch, **kw)


@asynccontextmanager
async def writer(path: Path, **kw: Any) -> AsyncIterator[tuple[Writer, Disk, list[bytes]]]:
    """A running writer over a store behind a :class:`Disk`; the ids its hooks saw."""
    store = Store(path, durable=False)
    store.ingest([COMM])
    disk = Disk(store)
    store.ingest = disk  # type: ignore[method-assign]
    pipeline = Pipeline(store, workers=2)
    seen: list[bytes] = []
    w = Writer(
        store,
        pipeline,
        now_ms=lambda: NOW,
        counters=collections.Counter(),
        rejected=collections.Counter(),
        after_commit=lambda rec, out, source: seen.append(rec.id),
        **{"retry_s": 0.05, **kw},
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(w.run)
            yield w, disk, seen
            nursery.cancel_scope.cancel()
    finally:
        pipeline.close()
        store.close()


def ratings(n: int, start: int = 0) -> list[R.Record]:
    return [F.rating(i, COMM.id, i, (3, 3, 3)) for i in range(start, start + n)]


def ids(records: Sequence[R.Record]) -> list[bytes]:
    return [r.id for r in records]


async def test_a_full_disk_refuses_ours_keeps_peers_and_writes_them_once_there_is_room(
    tmp_path: Path,
) -> None:
    gossiped, synced = ratings(3), ratings(5, 3)
    async with writer(tmp_path / "db") as (w, disk, seen):
        disk.full = True
        offered = [Submission([r], [], GOSSIP, trio.Event()) for r in gossiped]
        assert all(w.offer(s) for s in offered)
        sub = await w.submit(raws=[r.raw for r in synced], source=SYNC)
        assert sub.full is not None and sub.outcomes == []  # told: not committed (yet)
        with pytest.raises(StorageFull, match="not stored"):
            await w.author(ME, R.RatingBody(F.gtin(9), (4, 4, 4)), COMM.id)
        for s in offered:
            assert s.done is not None
            await s.done.wait()
        info = w.storage
        assert info.full and info.since_ms == NOW and NO_SPACE in (info.error or "")
        assert info.held == 8 and info.dropped == 0
        assert any("storage full" in m for _, m in info.log)
        assert w.counters["storage.full"] == 1 and w.counters["storage.held"] == 8
        assert w.counters["storage.refused_own"] == 1
        assert w.rejected == {} and w.counters["ingest.rejected"] == 0  # nobody's fault
        await until(lambda: w.counters["storage.retry_failed"] >= 2, "two retries while full")
        assert seen == [] and not any(w.store.has(i) for i in ids(gossiped + synced))

        disk.full = False  # space was freed
        await until(lambda: not w.storage.full, "the held records to be written")
        assert seen == ids(gossiped + synced)  # oldest first, each once
        assert all(w.store.has(i) for i in seen) and w.storage.held == 0
        assert w.counters["ingest.stored"] == 8 and w.counters["storage.full"] == 1
        assert "room again" in w.storage.log[-1][1]
        rec = await w.author(ME, R.RatingBody(F.gtin(9), (4, 4, 4)), COMM.id)
        assert w.store.has(rec.id)


async def test_past_the_hold_peers_records_are_dropped_and_counted(tmp_path: Path) -> None:
    recs = ratings(8)
    async with writer(tmp_path / "db", hold=5) as (w, disk, seen):
        disk.full = True
        sub = await w.submit(records=recs, source=SYNC)
        assert sub.full is not None
        again = await w.submit(records=recs[:5], source=SYNC)  # sync sends them again
        assert again.full is not None
        assert (w.storage.held, w.storage.dropped) == (5, 3)  # held once, not twice
        assert w.counters["storage.dropped"] == 3
        assert any("dropped" in m for _, m in w.storage.log)
        disk.full = False
        await until(lambda: not w.storage.full, "the held records to be written")
        assert seen == ids(recs[:5]) and not w.store.has(recs[5].id)
        assert "3 dropped" in w.storage.log[-1][1]


async def test_one_of_our_records_finding_room_writes_what_is_held_at_once(
    tmp_path: Path,
) -> None:
    held = ratings(3)
    async with writer(tmp_path / "db", retry_s=3600) as (w, disk, seen):  # no timed retry
        disk.full = True
        await w.submit(records=held, source=SYNC)
        assert w.storage.held == 3
        disk.full = False
        rec = await w.author(ME, R.RatingBody(F.gtin(9), (4, 4, 4)), COMM.id)
        await until(lambda: not w.storage.full, "the held records to be written")
        assert seen == [rec.id, *ids(held)]  # ours, then the held, long before a retry


async def test_other_commit_failures_are_not_the_records_fault_either(tmp_path: Path) -> None:
    async with writer(tmp_path / "db") as (w, disk, _):
        disk.fault = lmdb.Error("mdb_txn_commit", errno.EPERM)
        with pytest.raises(Exception, match="could not be stored") as exc:
            await w.author(ME, R.RatingBody(F.gtin(9), (4, 4, 4)), COMM.id)
        assert not isinstance(exc.value, StorageFull)  # the API answers "internal"
        assert w.counters["storage.errors"] == 1 and not w.storage.full


# --------------------------------------------------------------------------- the store


class FailingEnv:
    """An LMDB environment whose write commits fail with ``error`` (and cannot grow)."""

    def __init__(self, env: Any, error: lmdb.Error) -> None:
        self.env, self.error = env, error

    def begin(self, **kw: Any) -> Any:
        txn, error = self.env.begin(**kw), self.error

        class Txn:
            def __enter__(self) -> Any:
                return txn.__enter__()

            def __exit__(self, *exc: object) -> None:
                txn.abort()
                raise error

        return Txn() if kw.get("write") else txn

    def set_mapsize(self, size: int) -> None:
        raise lmdb.Error("mdb_env_set_mapsize", errno.ENOMEM)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)


def lmdb_error(cls: type[lmdb.Error], code: int) -> lmdb.Error:
    """An error as py-lmdb raises it (with its ``code``)."""
    error = cls("mdb_txn_commit", code)
    setattr(error, "code", code)  # noqa: B010 -- Final in the stubs, set by py-lmdb itself
    return error


@pytest.mark.parametrize(
    ("error", "free", "full"),
    [
        (lmdb_error(lmdb.DiskError, errno.ENOSPC), 1 << 30, True),
        (lmdb_error(lmdb.Error, errno.EDQUOT), 1 << 30, True),
        (lmdb_error(lmdb.Error, errno.EIO), 4096, True),  # a write cut short by a full disk
        (lmdb_error(lmdb.Error, errno.EIO), 1 << 30, False),  # a failing disk, not a full one
        (lmdb_error(lmdb.MapFullError, -30792), 1 << 30, True),  # and the map cannot grow
    ],
)
def test_the_store_tells_no_room_from_other_failures(
    tmp_path: Path, error: lmdb.Error, free: int, full: bool
) -> None:
    with Store(tmp_path / "db", durable=False) as store:
        real = store.env
        store.env = FailingEnv(real, error)  # type: ignore[assignment]
        store._free_bytes = lambda: free  # type: ignore[method-assign]
        with pytest.raises(StorageFull if full else lmdb.Error) as exc:
            store.ingest([COMM])
        assert isinstance(exc.value, StorageFull) is full
        store.env = real
        assert not store.has(COMM.id)  # nothing of it committed
        assert store.ingest([COMM])[0].status is Status.STORED  # and it can be tried again


# --------------------------------------------------------------------------- the API


class FullBackend:
    """An API backend whose every write finds the disk full."""

    async def handle(self, method: str, params: dict[str, Any]) -> Any:
        raise StorageFull("storage is full (no room): the records were not stored")

    def subscribe(self) -> Any:
        raise AssertionError("not used")

    def unsubscribe(self, channel: Any) -> None:
        raise AssertionError("not used")


async def test_the_api_answers_storage_full_not_rejected(short_dir: Path) -> None:
    path = short_dir / "api.sock"
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_api, path, FullBackend())

        def call() -> A.ApiError:
            with ApiClient(path) as client, pytest.raises(A.ApiError) as exc:
                client.call("profile.set", display_name="Ann")
            return exc.value

        err = await trio.to_thread.run_sync(call)
        assert (err.code, err.reason) == (A.STORAGE_FULL, None) and "not stored" in err.message
        assert server.stats.errors == {A.STORAGE_FULL: 1}
        nursery.cancel_scope.cancel()


@pytest.fixture
async def node(short_dir: Path) -> AsyncIterator[Node]:
    ident = Identity.from_seed(hashlib.sha256(b"storage-full-test").digest())
    n = Node(DataDir(short_dir / "d"), Config(listen=("/ip4/127.0.0.1/tcp/0",)), ident)
    async with trio.open_nursery() as nursery:
        await nursery.start(n.serve)
        yield n
        nursery.cancel_scope.cancel()


async def test_a_node_with_a_full_disk_says_so_to_the_client_and_in_status(node: Node) -> None:
    assert node.store is not None
    disk = Disk(node.store)
    node.store.ingest = disk  # type: ignore[method-assign]

    def call(method: str, **params: Any) -> Any:
        with ApiClient(node.datadir.socket) as client:
            return client.call(method, **params)

    async def api(method: str, **params: Any) -> Any:
        return await trio.to_thread.run_sync(lambda: call(method, **params))

    assert (await api("status"))["storage"] == {
        "full": False, "since_ms": None, "error": None, "held": 0, "dropped": 0, "log": [],
    }  # fmt: skip
    disk.full = True
    with pytest.raises(A.ApiError) as exc:
        await api("profile.set", display_name="Ann")
    assert exc.value.code == A.STORAGE_FULL and "free some disk space" in exc.value.message
    status = await api("status")
    storage = status["storage"]
    assert storage["full"] and NO_SPACE in storage["error"] and storage["since_ms"] > 0
    assert "storage full" in storage["log"][0]["message"]
    assert status["counters"]["storage.refused_own"] == 1
    disk.full = False
    assert (await api("profile.set", display_name="Ann"))["id"]
    assert not (await api("status"))["storage"]["full"]


# --------------------------------------------------------------------------- a real disk


@contextlib.contextmanager
def tiny_tmpfs(size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted for the test, or the test skipped if mounting is refused."""
    root = short_tmp_dir("cfull")
    try:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(root)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        try:
            yield root
        finally:
            subprocess.run(["umount", str(root)], check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fill(path: Path, leave: int) -> None:
    """Write a ballast file until ``leave`` bytes are free (or fewer) on ``path``'s disk."""
    chunk = b"\0" * 65536
    with open(path, "wb") as f:
        try:
            while shutil.disk_usage(path.parent).free > leave:
                f.write(chunk)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


async def test_a_real_full_disk_then_freed_loses_nothing() -> None:
    with tiny_tmpfs("8m") as root:
        store = Store(root / "db", durable=True, map_size=64 << 20)
        store.ingest([COMM])
        fill(root / "ballast", leave=256 * 1024)
        pipeline = Pipeline(store, workers=2)
        counters: collections.Counter[str] = collections.Counter()
        w = Writer(
            store, pipeline, now_ms=lambda: NOW, counters=counters,
            rejected=collections.Counter(), retry_s=0.05,
        )  # fmt: skip
        recs = [F.rating(i, COMM.id, i, (3, 3, 3), text="x" * 300) for i in range(800)]
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(w.run)
                for i in range(0, len(recs), 100):  # ~3 MB of database in all
                    await w.submit(records=recs[i : i + 100], source=SYNC)
                assert w.storage.full, "the disk never filled"
                assert "no room" in (w.storage.error or "") and w.storage.held > 0
                try:  # a small record may still fit where a batch does not: either is fine
                    ours = await w.author(ME, R.RatingBody(F.gtin(99_999), (4, 4, 4)), COMM.id)
                    assert store.has(ours.id)
                except StorageFull as exc:
                    assert "not stored" in str(exc)
                (root / "ballast").unlink()  # free the space
                await until(lambda: not w.storage.full, "the held records to be written")
                nursery.cancel_scope.cancel()
            assert counters["storage.full"] >= 1 and counters["storage.dropped"] == 0
            assert all(store.has(r.id) for r in recs)  # every record, though the disk filled
            assert store.check() == []
        finally:
            pipeline.close()
            store.close()
