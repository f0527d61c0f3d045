"""Crash safety: SIGKILL a process in the middle of batched durable ingest, again and again.

``tests/crash_worker.py`` ingests a fixed stream of signed records (ratings,
replacements, products, petitions and signatures, vouches, profiles,
retractions, duplicates) in fixed batches and acknowledges each batch on
stdout once :meth:`Store.ingest` has returned.  Each of 24 runs is killed with
SIGKILL, from outside (after a few acknowledged batches plus a short random
delay, or soon after start) or by the worker itself at an exact point (inside
a write transaction after some records of a batch, or between a commit and
its acknowledgement).  Then the store is reopened and checked:

* it opens, and ``check()`` finds every index and aggregate consistent;
* every record acknowledged as STORED, and not reported removed by a later
  committed record, is present; the record count is at least their number;
* the whole database (records, indexes, heads, tombstones, shadow…) is exactly
  the state of an uninterrupted reference run after the acknowledged batches,
  or after one more (the batch in flight, committed before its ack was
  written): nothing half-applied, nothing acknowledged lost.

The next worker continues on the same database from the first batch not known
to be committed, so the database accumulates across kills; its map starts
small, so it also grows (and retries batches) between kills.  Sometimes this
process keeps the store open (a reader, like the TUI) across kills and worker
starts, so a worker killed inside a write transaction leaves a dead writer
lock that the next writer must recover.

Correctness does not depend on timing: the random delays only vary where
outside kills land, and every check holds wherever they land.
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest

from cercle.protocol import records as R
from cercle.storage import Status, Store
from cercle.storage import layout as L
from tests import factory as F
from tests.crash_worker import ack_line

SEED = int(os.environ.get("CERCLE_CRASH_SEED", "20240611"))
KILLS = 24  # the issue asks for at least 20
BATCH = 25
N_BATCHES = 150  # 24 kills use 40-75 batches; the rest is headroom
WORKER = Path(__file__).with_name("crash_worker.py")
DEADLINE_S = 30.0  # per wait; only a hung or broken worker comes near it


# ---------------------------------------------------------------- the record stream


def build_stream(seed: int, n: int) -> list[R.Record]:
    """A realistic mix: charters (one arriving late), products, ratings (replaced,
    superseded, some not matching their charter), petitions and signatures (some
    before their petition, some late), vouches, profiles and retractions (some of
    someone else's record, some before their target), and some records twice."""
    rng = random.Random(seed)
    vegan = F.community(0, "Vegan")
    halal = F.community(1, "Halal", criteria=("taste", "halal"))
    local = F.community(2, "Local", criteria=("taste", "distance", "price", "origin"))
    width = {vegan.id: 3, halal.id: 2, local.id: 4}
    comms = [vegan.id, halal.id, local.id]
    out: list[R.Record] = [vegan, halal]
    later: dict[int, list[R.Record]] = {}  # records held back to arrive after their dependants
    petitions: list[R.Record] = []
    authors = 16
    t = F.T0
    i = 0
    while len(out) < n:
        i += 1
        t += rng.randint(1, 20)
        out.extend(later.pop(len(out), []))
        if len(out) == n // 4:
            out.append(local)  # its ratings so far are re-checked against its criteria
        a = rng.randrange(authors)
        when = t - rng.randint(0, 400) if rng.random() < 0.2 else t  # some arrive late
        what = rng.random()
        if what < 0.45:
            c = rng.choice(comms)
            w = width[c] if rng.random() < 0.93 else rng.choice([1, 5])
            scores = tuple(rng.randint(1, 5) for _ in range(w))
            text = "" if rng.random() < 0.5 else f"note {i}"
            out.append(F.rating(a, c, rng.randrange(24), scores, t=when, text=text))
        elif what < 0.53:
            out.append(F.product(a, rng.choice(comms), rng.randrange(24), t=when, name=f"P{i}"))
        elif what < 0.56:
            deadline = t + rng.randint(200, 3000)
            pet = F.petition(a, rng.choice(comms), t=t, deadline=deadline, title=f"Petition {i}")
            if rng.random() < 0.3:  # its first signatures arrive before it
                later.setdefault(len(out) + rng.randint(5, 200), []).append(pet)
            else:
                out.append(pet)
            petitions.append(pet)
        elif what < 0.72 and petitions:
            pet = rng.choice(petitions[-4:])
            out.append(F.signature(a, pet, t=rng.randint(pet.created_ms + 1, t + 500)))
        elif what < 0.82:
            subject = (a + rng.randint(1, authors - 1)) % authors
            comm = rng.choice([None, *comms])
            out.append(F.vouch(a, subject, rng.random() < 0.8, t=when, comm=comm))
        elif what < 0.86:
            out.append(F.profile(a, f"user {a} v{i}", t=when))
        elif what < 0.97:
            cands = [r for r in out[-300:] if r.kind not in (R.Kind.COMMUNITY, R.Kind.RETRACT)]
            if cands:
                target = rng.choice(cands)
                who = target.author if rng.random() < 0.85 else F.pub(a)
                n_who = next(j for j in range(authors) if F.pub(j) == who)
                out.append(F.retract(n_who, target, t=t))
        elif what < 0.985:
            out.append(rng.choice(out[-200:]))  # received again (from another peer)
        else:
            # A retraction that arrives before its target.
            target = F.rating(a, rng.choice(comms), 30 + rng.randrange(8), (3, 3, 3), t=t)
            out.append(F.retract(a, target, t=t + 1))
            later.setdefault(len(out) + rng.randint(5, 200), []).append(target)
    return out[:n]


# ---------------------------------------------------------------- the reference run


def digest(store: Store) -> bytes:
    """A hash of every database's whole content."""
    h = hashlib.sha256()
    with store.env.begin() as txn:
        for name in L.DATABASES:
            h.update(b"\x00db\x00" + name.encode())
            for k, v in txn.cursor(db=store.db[name]).iternext():
                h.update(len(k).to_bytes(4, "big") + k + len(v).to_bytes(4, "big") + v)
    return h.digest()


Item = tuple[str, str, tuple[str, ...]]  # id hex, status, removed ids hex


@dataclass
class Reference:
    stream_file: Path
    digests: list[bytes]  # digests[j]: the state after batches 0..j-1
    counts: list[int]
    outcomes: list[list[Item]]  # per batch


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    d = tmp_path_factory.mktemp("crash-ref")
    recs = build_stream(SEED, BATCH * N_BATCHES)
    stream_file = d / "stream.msgpack"
    stream_file.write_bytes(msgpack.packb([r.raw for r in recs]))
    ref = Reference(stream_file, [], [], [])
    with Store(d / "db", durable=False) as store:
        ref.digests.append(digest(store))
        ref.counts.append(store.count())
        for b in range(N_BATCHES):
            batch = recs[b * BATCH : (b + 1) * BATCH]
            outs = store.ingest(batch)
            # The outcomes as the worker reports them (same line, same parser).
            ref.outcomes.append(parse_ack(ack_line(b, batch, outs))[1])
            ref.digests.append(digest(store))
            ref.counts.append(store.count())
        assert store.check() == []
    # The stream exercises what it claims to (replacement, retraction, purges, refusals).
    seen = {o[1].partition(".")[0] for outs in ref.outcomes for o in outs}
    assert seen >= {s.value for s in Status}, seen
    assert sum(1 for outs in ref.outcomes for o in outs if o[2]) > 100
    return ref


# ---------------------------------------------------------------- the worker


def parse_ack(line: bytes) -> tuple[int, list[Item]]:
    head, _, rest = line.decode().rstrip("\n").partition(" ")
    assert head == "ack", line
    batch, *items = rest.split(" ")
    parsed = []
    for item in items:
        rid, status, *removed = item.split(":")
        parsed.append((rid, status, tuple(removed[0].split(",")) if removed else ()))
    return int(batch), parsed


class Worker:
    """One run of crash_worker.py, its stdout read by a thread into a queue."""

    def __init__(
        self, db: Path, ref: Reference, start: int, log: Path, die: str | None = None
    ) -> None:
        self.log, self.start = log, start
        args = [str(WORKER), str(db), str(ref.stream_file), str(start), str(BATCH)]
        with open(log, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, *args, *([die] if die else [])],
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()
        self.acks: list[bytes] = []  # complete ack lines, in order

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _take(self, line: bytes) -> bytes:
        if line.startswith(b"ack ") and line.endswith(b"\n"):
            self.acks.append(line)
        return line

    def wait_for(self, want: bytes, count: int = 1) -> None:
        """Block until ``count`` complete lines starting with ``want`` have come."""
        seen = 0
        end = time.monotonic() + DEADLINE_S
        while seen < count:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the worker sent no {want!r} within {DEADLINE_S} s")
            if line is None:
                self.proc.wait()
                pytest.fail(
                    f"the worker ended (rc {self.proc.returncode}) before {count} {want!r}: "
                    f"{self.log.read_text()[-2000:]}"
                )
            if self._take(line).startswith(want) and line.endswith(b"\n"):
                seen += 1

    def kill(self) -> None:
        """SIGKILL, reap, and collect every complete line written before the kill."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=DEADLINE_S)
        self.thread.join(timeout=DEADLINE_S)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self._take(line)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


# ---------------------------------------------------------------- the test


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        yield started
    finally:
        for w in started:  # never leave a worker behind, whatever failed
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()


DUP = Status.DUPLICATE.value


def apply_outcomes(present: set[str], items: list[Item]) -> None:
    """Track what must be stored: STORED ids, minus ids later records removed."""
    for rid, status, removed in items:
        present.difference_update(removed)
        if status == Status.STORED.value:
            present.add(rid)


def test_sigkill_during_batched_ingest_loses_no_acknowledged_commit(
    reference: Reference, workers: list[Worker]
) -> None:
    ref = reference
    rng = random.Random(SEED)
    modes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="cercle-crash-") as tmp:
        db = Path(tmp) / "db"
        committed = 0  # batches 0..committed-1 are known to be committed
        present: set[str] = set()  # acknowledged STORED, not removed since
        held: Store | None = None  # a reader that stays open across kills and restarts
        unacked_commits = held_kills = late_visible = differing = 0
        hidden = False  # batch `committed` may be committed though an open reader missed it
        try:
            for run in range(KILLS):
                where = f"seed {SEED}, run {run}, first batch {committed}"
                assert committed + 4 < N_BATCHES, "the stream ran out: raise N_BATCHES"
                if held is None and rng.random() < 0.25:
                    held = Store(db)
                held_kills += held is not None
                mode = rng.choice(["outside", "outside", "outside-early", "txn", "txn", "ack"])
                modes[mode] = modes.get(mode, 0) + 1
                k = rng.randint(0, 3)  # batches acknowledged before the kill, roughly
                die = {
                    "txn": f"txn:{committed + k}:{rng.randint(1, BATCH)}",
                    "ack": f"ack:{committed + k}",
                }
                w = Worker(db, ref, committed, Path(tmp) / f"worker{run}.log", die.get(mode))
                workers.append(w)
                if mode == "outside":
                    # After k + 1 acknowledgements, then somewhere in a later batch.
                    w.wait_for(b"ack ", k + 1)
                    time.sleep(rng.uniform(0, 0.015))
                elif mode == "outside-early":
                    # Soon after start: often inside the first write transaction.
                    w.wait_for(b"ready")
                    time.sleep(rng.uniform(0, 0.02))
                else:
                    w.proc.wait(timeout=DEADLINE_S)  # it kills itself
                w.kill()
                assert w.proc.returncode == -signal.SIGKILL, (where, w.log.read_text())

                for line in w.acks:
                    batch, items = parse_ack(line)
                    assert batch == committed, (where, "acknowledgements out of order")
                    want = ref.outcomes[batch]
                    assert [i[0] for i in items] == [i[0] for i in want], (where, batch)
                    if hidden and batch == w.start and {s for _, s, _ in items} == {DUP}:
                        # The batch was committed by the previous worker after all (see below).
                        items, late_visible = want, late_visible + 1
                    # Outcomes may differ from the reference run's while the end state is
                    # the same (a batch retried after the map grew): counted, not asserted.
                    differing += items != want
                    apply_outcomes(present, items)
                    committed += 1
                if mode in ("txn", "ack"):
                    assert committed == w.start + k, (where, mode, "acknowledged batches")

                store = held if held is not None else Store(db)  # it opens
                try:
                    state = digest(store)
                    # The state is that of the acknowledged batches, or of one more: the
                    # batch in flight if it committed before its ack was written, or a batch
                    # a previous worker committed that an open reader did not see yet.
                    if mode == "txn" and not (hidden and not w.acks):
                        extra = [False]  # killed inside a transaction: not committed
                    elif mode == "ack":
                        extra = [True]  # killed between the commit and the ack
                    else:
                        extra = [False, True]
                    seen = [ref.digests[committed + x] == state for x in extra]
                    assert any(seen), (
                        f"{where}, {mode}: the database is not the state of the "
                        f"{committed} acknowledged batches (or one more: {extra})"
                    )
                    if extra[seen.index(True)]:
                        apply_outcomes(present, ref.outcomes[committed])
                        committed += 1
                        unacked_commits += 1
                        hidden = False
                    else:
                        # LMDB publishes a commit to open readers (in the lock file) after
                        # writing its meta page: a reader open across a kill between the
                        # two sees the commit only once the next writer takes the lock.
                        hidden = held is not None and mode.startswith("outside")
                    assert store.check() == [], where
                    missing = [rid for rid in present if not store.has(bytes.fromhex(rid))]
                    assert missing == [], (where, f"{len(missing)} acknowledged records lost")
                    assert store.count() >= len(present), where
                    assert store.count() == ref.counts[committed], where
                finally:
                    if held is None:
                        store.close()
                if held is not None and rng.random() < 0.4:
                    held.close()
                    held = None
        finally:
            if held is not None:
                held.close()
    print(
        f"{KILLS} kills {modes} ({held_kills} with a reader open): {committed} batches of "
        f"{BATCH} committed ({unacked_commits} before their ack, {late_visible} seen late), "
        f"{len(present)} acknowledged records kept; {differing} batches with other outcomes"
    )
