"""The single writer: every record that reaches the store comes through here.

Why one writer: LMDB allows one write transaction at a time, and an fsync costs far
more than indexing a record, so gossip, sync and the local API all hand what they
bring to one task. It takes whatever is waiting, up to a batch (group commit),
checks raw envelopes on the verification threads (``ingest.Pipeline``), asks which
records are exempt from their community's proof of work (the trust keeper decides,
in this trio thread that owns the trust graph), commits the batch in one write
transaction and only then reports each outcome: to the waiting submitter and to the
after-commit hook that the wiring place (``serve``) gives it (trust upkeep,
moderation, events, relay topics). Nothing here knows where a record came from
beyond the ``source`` label it carries, so every source is validated the same way.

Why two stages: checking a batch's signatures and committing the previous one take
about as long as each other and need different things (the pool's threads; the one
write transaction and its fsync), so the writer is two tasks joined by a channel
that holds no batch: the verifier takes and checks batch n+1 while the committer
commits batch n, and hands it over when the committer is ready. Still one writer;
batches are committed in the order they were taken, a submission's records in
their order. What needs the trio thread stays in the committer: exemptions are
asked right before each commit (after the previous batch's hooks ran), and a
commit's report -- counters, hooks in commit order, waking each submitter -- is
one synchronous step, so a cancellation (node shutdown) lands before a commit or
after its whole report, never inside it.

Why a hold when storage is full: a full disk says nothing about the records, so
they are not refused. Nothing of the batch was committed (``StorageFull``); our
own records fail at once (:class:`StorageFull` from :meth:`Writer.author`, the
local API's ``storage_full``: the user knows it was not stored), peers' records
are kept in memory, in order, up to ``HOLD`` records (beyond it they are dropped
and counted: sync brings them back), and committed every ``RETRY_S`` while full,
or as soon as one of our writes finds room. :attr:`Writer.storage` is what
``status`` shows, with the last messages kept in memory (the log file may be on
the full disk; the log itself also reaches stderr).

Our own records start here too (:meth:`Writer.author`): signed with the author key,
with the proof of work their community asks for, stored like any other, then handed
to whoever publishes them. A refusal of one of ours is our fault, not a peer's, and
says so (:class:`~cercle.protocol.errors.OwnRecordRejected`).

A sync session may say which scope it is about (``submit(scope=...)``): records of
another scope are not committed but handed back in :attr:`Submission.foreign`, for
the session to count as the peer's fault.
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from cercle.node.ingest import Pipeline
from cercle.protocol import records as R
from cercle.protocol.errors import OwnRecordRejected, Reason, Rejected
from cercle.protocol.identity import Identity, private_key_from_seed
from cercle.storage import Outcome, Status, StorageFull, Store, StoreError

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

BATCH = 1000  # records committed in one write transaction, at most (then the next batch)
INBOX = 20_000  # submissions waiting for the writer; gossip finding it full is counted
LOOKAHEAD = 1  # checked batches that may wait for the committer (beside the one checking)
# While storage is full: peers' records kept in memory (by count and by envelope
# bytes; beyond, dropped and counted), how often they are tried again, and how many
# of the writer's storage messages ``status`` keeps.
HOLD = 20_000
HOLD_BYTES = 32 * 1024 * 1024
RETRY_S = 5.0
STORAGE_LOG = 20
# Where records come from (the ``source`` of ``record`` events, specs/local-api.md §6).
LOCAL = "local"  # we signed them
GOSSIP = "gossip"
SYNC = "sync"

AfterCommit = Callable[[R.Record, Outcome, str], None]
PowExemptions = Callable[[Sequence[R.Record]], set[bytes]]
Counter = collections.Counter[str]


@dataclass
class Submission:
    """Records (decoded) and raw envelopes (to check) from one source, and their fate.

    Once ``done`` is set: ``records`` are the valid records of the scope (the decoded
    ones, then those of the raws that passed their checks), with one outcome each in
    ``outcomes`` -- unless ``full`` says that storage was full and they were not
    committed (ours: not stored; a peer's: held, or dropped when the hold was full).
    """

    records: list[R.Record] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    source: str = LOCAL
    done: trio.Event | None = None
    scope: bytes | None = None  # if set, records of another scope go to ``foreign``
    outcomes: list[Outcome] = field(default_factory=list)  # one per record, after commit
    rejected: list[Rejected] = field(default_factory=list)  # raws that failed their checks
    foreign: list[R.Record] = field(default_factory=list)  # valid, but not of ``scope``
    full: str | None = None  # storage was full: why, for people

    @property
    def size(self) -> int:
        return len(self.records) + len(self.raws)


@dataclass(frozen=True, slots=True)
class StorageInfo:
    """The store's room as ``status`` shows it (``storage``, specs/local-api.md §4)."""

    full: bool  # the last commit found no room, and none has succeeded since
    since_ms: int | None  # when it became full (None: not full)
    error: str | None  # what the store said, the last time it was full
    held: int  # peers' records kept in memory, waiting for room
    dropped: int  # peers' records let go because the hold was full (since start)
    log: tuple[tuple[int, str], ...]  # (at_ms, message): the last storage messages


def take_batch(
    first: Submission, next_waiting: Callable[[], Submission | None], limit: int = BATCH
) -> list[Submission]:
    """``first`` and whatever else is waiting, until the batch holds ``limit`` records.

    A submission is never split: a batch may exceed ``limit`` by the last one taken.
    """
    batch, size = [first], first.size
    while size < limit:
        nxt = next_waiting()
        if nxt is None:
            break
        batch.append(nxt)
        size += nxt.size
    return batch


class Writer:
    """Run with ``await nursery.start(writer.run)``; submit with :meth:`submit`."""

    def __init__(
        self,
        store: Store,
        pipeline: Pipeline,
        *,
        now_ms: Callable[[], int],
        counters: Counter,
        rejected: Counter,
        pow_exemptions: PowExemptions = lambda batch: set(),
        after_commit: AfterCommit = lambda rec, out, source: None,
        batch: int = BATCH,
        inbox: int = INBOX,
        hold: int = HOLD,
        hold_bytes: int = HOLD_BYTES,
        retry_s: float = RETRY_S,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.now_ms = now_ms
        self.counters = counters
        self.rejected = rejected  # peers' records refused, by reason
        self.pow_exemptions = pow_exemptions
        self.after_commit = after_commit
        self.batch = batch
        self.hold, self.hold_bytes, self.retry_s = hold, hold_bytes, retry_s
        self._send, self._recv = trio.open_memory_channel[Submission](inbox)
        # Storage full: since when (None: it has room), why, and what waits for room.
        self._full_since: int | None = None
        self._full_error: str | None = None
        self._held: collections.deque[tuple[R.Record, str]] = collections.deque()
        self._held_ids: set[bytes] = set()
        self._held_bytes = 0
        self._dropped = 0
        self._episode_dropped = self._episode_written = 0  # since it became full
        self._retry_at = math.inf  # trio time of the next try of what is held
        self._log: collections.deque[tuple[int, str]] = collections.deque(maxlen=STORAGE_LOG)

    async def submit(
        self,
        *,
        records: Sequence[R.Record] = (),
        raws: Sequence[bytes] = (),
        source: str,
        scope: bytes | None = None,
    ) -> Submission:
        """Hand records to the writer and wait until they are committed (or refused).

        With ``scope``, records of any other scope are not committed: they come back
        in :attr:`Submission.foreign` (not counted here; the caller knows whose fault).
        """
        sub = Submission(list(records), list(raws), source, trio.Event(), scope)
        await self._send.send(sub)
        assert sub.done is not None
        await sub.done.wait()
        return sub

    def offer(self, sub: Submission) -> bool:
        """Queue without waiting (gossip must not block libp2p); False if the inbox is full."""
        try:
            self._send.send_nowait(sub)
        except trio.WouldBlock:
            return False
        return True

    @property
    def storage(self) -> StorageInfo:
        return StorageInfo(
            full=self._full_since is not None,
            since_ms=self._full_since,
            error=self._full_error,
            held=len(self._held),
            dropped=self._dropped,
            log=tuple(self._log),
        )

    async def author(
        self, identity: Identity, body: R.Body, community: bytes | None = None
    ) -> R.Record:
        """Sign, with the community's proof of work, and store a record of ours.

        Raises :class:`OwnRecordRejected` if the rules refuse it, :class:`StorageFull`
        if storage had no room for it (it was not stored).
        """
        rec = await trio.to_thread.run_sync(self._sign, identity, body, community)
        sub = await self.submit(records=[rec], source=LOCAL)
        if sub.full is not None:
            raise StorageFull(sub.full)
        out = sub.outcomes[0]
        if out.status is Status.REJECTED:
            if out.reason is None:  # the store failed (the log says how), not the rules
                raise StoreError(f"the record could not be stored: {out.detail}")
            raise OwnRecordRejected(out.reason, out.detail)
        return rec

    def _sign(self, identity: Identity, body: R.Body, community: bytes | None) -> R.Record:
        charter = self.store.charter(community) if community is not None else None
        return R.mine(
            private_key_from_seed(identity.seed),
            body,
            created_ms=self.now_ms(),
            community=community,
            bits=charter.pow_bits if charter is not None else 0,
        )

    # ------------------------------------------------------------------ the two stages

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Verify and commit, overlapped, until cancelled."""
        send, receive = trio.open_memory_channel[list[Submission]](LOOKAHEAD)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._verify_batches, send)
                nursery.start_soon(self._commit_batches, receive)
                task_status.started()
        finally:
            if self._held:  # peers' records, which sync brings back
                self._dropped += len(self._held)
                self.counters["storage.dropped"] += len(self._held)
                self._note(logging.WARNING, f"stopping: {len(self._held)} held records dropped")
                self._held.clear()
                self._held_ids.clear()
                self._held_bytes = 0

    def _waiting(self) -> Submission | None:
        try:
            return self._recv.receive_nowait()
        except trio.WouldBlock:
            return None

    async def _verify_batches(self, out: trio.MemorySendChannel[list[Submission]]) -> None:
        """Take a batch, check its raw envelopes, hand it over; meanwhile the last commits."""
        async with out:
            async for first in self._recv:
                subs = take_batch(first, self._waiting, self.batch)
                await self._verify(subs)
                await out.send(subs)

    async def _verify(self, subs: list[Submission]) -> None:
        raws = [raw for sub in subs for raw in sub.raws]
        checked = (
            await trio.to_thread.run_sync(self.pipeline.validate, raws, self.now_ms())
            if raws
            else []
        )
        i = 0
        for sub in subs:
            for c in checked[i : i + len(sub.raws)]:
                if c.record is not None:
                    sub.records.append(c.record)
                elif c.rejected is not None:
                    sub.rejected.append(c.rejected)
                    self._count_rejected(c.rejected.reason, sub.source)
            i += len(sub.raws)
            if sub.scope is not None and any(r.scope != sub.scope for r in sub.records):
                sub.foreign = [r for r in sub.records if r.scope != sub.scope]
                sub.records = [r for r in sub.records if r.scope == sub.scope]

    async def _commit_batches(self, batches: trio.MemoryReceiveChannel[list[Submission]]) -> None:
        """Commit each checked batch; while storage is full, try what is held in turn."""
        async with batches:
            while True:
                subs: list[Submission] | None = None
                with trio.move_on_at(self._retry_at):
                    try:
                        subs = await batches.receive()
                    except trio.EndOfChannel:
                        return
                if subs is None:
                    await self._retry_held()
                else:
                    await self._commit(subs)

    async def _commit(self, subs: list[Submission]) -> None:
        if self._full_since is not None and all(s.source != LOCAL for s in subs):
            self._not_committed(subs)  # held, after what waits already; tried in turn
            return
        outcomes = await self._ingest([r for sub in subs for r in sub.records])
        if outcomes is None:
            self._not_committed(subs)
            return
        i = 0
        for sub in subs:
            sub.outcomes = outcomes[i : i + len(sub.records)]
            i += len(sub.records)
            for rec, out in zip(sub.records, sub.outcomes, strict=True):
                self._report(rec, out, sub.source)
            if sub.done is not None:
                sub.done.set()
        if self._full_since is not None:  # there was room after all: what is held now
            await self._retry_held()

    async def _ingest(self, batch: list[R.Record]) -> list[Outcome] | None:
        """Commit ``batch`` in one transaction; None if storage is full (nothing committed)."""
        if not batch:
            return []
        exempt = self.pow_exemptions(batch)  # here, in the trio thread, after the last hooks
        try:
            return await trio.to_thread.run_sync(
                functools.partial(self.store.ingest, batch, pow_exempt=_member_of(exempt))
            )
        except StorageFull as exc:
            self._became_full(str(exc))
            return None
        except Exception:
            log.exception("committing a batch of %d records failed", len(batch))
            self.counters["storage.errors"] += 1
            return [Outcome(Status.REJECTED, None, "storage error")] * len(batch)

    def _report(self, rec: R.Record, out: Outcome, source: str) -> None:
        self.counters[_INGEST_COUNTER[out.status]] += 1
        if out.status is Status.REJECTED and out.reason is not None:
            self._count_rejected(out.reason, source)
        self.after_commit(rec, out, source)

    def _count_rejected(self, reason: Reason, source: str) -> None:
        if source == LOCAL:
            self.counters[f"author.rejected.{reason.value}"] += 1
        else:
            self.rejected[reason.value] += 1

    # ------------------------------------------------------------------ storage full

    def _became_full(self, error: str) -> None:
        self._full_error = error
        if self._full_since is None:
            self._full_since = self.now_ms()
            self.counters["storage.full"] += 1
            self._note(
                logging.ERROR,
                f"storage full: {error}; our new records are refused (storage_full), "
                f"peers' are kept in memory (up to {self.hold}) and written every "
                f"{self.retry_s:g} s once there is room: free some disk space",
            )
        else:
            self.counters["storage.retry_failed"] += 1

    def _not_committed(self, subs: list[Submission]) -> None:
        """Storage is full: ours are refused, peers' held (or dropped); all told so."""
        why = (
            f"storage is full ({self._full_error}): the records were not stored; "
            "free some disk space, then try again"
        )
        for sub in subs:
            if sub.source == LOCAL:
                self.counters["storage.refused_own"] += len(sub.records)
            else:
                self._hold(sub.records, sub.source)
            sub.full = why
            if sub.done is not None:
                sub.done.set()
        if self._held and self._retry_at == math.inf:
            self._retry_at = trio.current_time() + self.retry_s

    def _hold(self, records: list[R.Record], source: str) -> None:
        for rec in records:
            if rec.id in self._held_ids:
                continue
            if len(self._held) >= self.hold or self._held_bytes + len(rec.raw) > self.hold_bytes:
                if not self._episode_dropped:
                    self._note(
                        logging.WARNING,
                        f"storage full: {len(self._held)} records of peers held in memory, "
                        "the hold is full; further ones are dropped (sync brings them back)",
                    )
                self._episode_dropped += 1
                self._dropped += 1
                self.counters["storage.dropped"] += 1
                continue
            self._held.append((rec, source))
            self._held_ids.add(rec.id)
            self._held_bytes += len(rec.raw)
            self.counters["storage.held"] += 1

    async def _retry_held(self) -> None:
        """Commit what is held, oldest first, a batch at a time, while there is room."""
        while self._held:
            chunk = list(itertools.islice(self._held, self.batch))
            outcomes = await self._ingest([rec for rec, _ in chunk])
            if outcomes is None:
                self._retry_at = trio.current_time() + self.retry_s
                return
            for (rec, source), out in zip(chunk, outcomes, strict=True):
                self._held.popleft()
                self._held_ids.discard(rec.id)
                self._held_bytes -= len(rec.raw)
                self._episode_written += 1
                self._report(rec, out, source)
        self._retry_at = math.inf
        self._has_room()

    def _has_room(self) -> None:
        if self._full_since is None:
            return
        seconds = max(0, self.now_ms() - self._full_since) / 1000
        self._note(
            logging.WARNING,
            f"storage has room again after {seconds:.0f} s: {self._episode_written} held "
            f"records of peers written, {self._episode_dropped} dropped while full "
            "(sync brings them back)",
        )
        self._full_since = None
        self._episode_dropped = self._episode_written = 0

    def _note(self, level: int, message: str) -> None:
        """Log, and keep for ``status``: the log file may be on the disk that is full."""
        log.log(level, "%s", message)
        self._log.append((self.now_ms(), message))


_INGEST_COUNTER = {status: f"ingest.{status.value}" for status in Status}


def _member_of(ids: set[bytes]) -> Callable[[R.Record], bool]:
    return lambda rec: rec.id in ids
