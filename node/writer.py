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

Our own records start here too (:meth:`Writer.author`): signed with the author key,
with the proof of work their community asks for, stored like any other, then handed
to whoever publishes them. A refusal of one of ours is our fault, not a peer's, and
says so (:class:`~cercle.protocol.errors.OwnRecordRejected`).
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from cercle.node.ingest import Pipeline
from cercle.protocol import records as R
from cercle.protocol.errors import OwnRecordRejected, Reason, Rejected
from cercle.protocol.identity import Identity, private_key_from_seed
from cercle.storage import Outcome, Status, Store

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

BATCH = 1000  # records committed in one write transaction, at most (then the next batch)
INBOX = 20_000  # submissions waiting for the writer; gossip finding it full is counted
# Where records come from (the ``source`` of ``record`` events, specs/local-api.md §6).
LOCAL = "local"  # we signed them
GOSSIP = "gossip"
SYNC = "sync"

AfterCommit = Callable[[R.Record, Outcome, str], None]
PowExemptions = Callable[[Sequence[R.Record]], set[bytes]]
Counter = collections.Counter[str]


@dataclass
class Submission:
    """Records (decoded) and raw envelopes (to check) from one source, and their fate."""

    records: list[R.Record] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    source: str = LOCAL
    done: trio.Event | None = None
    outcomes: list[Outcome] = field(default_factory=list)  # one per record, after commit
    rejected: list[Rejected] = field(default_factory=list)  # raws that failed their checks

    @property
    def size(self) -> int:
        return len(self.records) + len(self.raws)


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
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.now_ms = now_ms
        self.counters = counters
        self.rejected = rejected  # peers' records refused, by reason
        self.pow_exemptions = pow_exemptions
        self.after_commit = after_commit
        self.batch = batch
        self._send, self._recv = trio.open_memory_channel[Submission](inbox)

    async def submit(
        self, *, records: Sequence[R.Record] = (), raws: Sequence[bytes] = (), source: str
    ) -> Submission:
        """Hand records to the writer and wait until they are committed (or refused)."""
        sub = Submission(list(records), list(raws), source, trio.Event())
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

    async def author(
        self, identity: Identity, body: R.Body, community: bytes | None = None
    ) -> R.Record:
        """Sign, with the community's proof of work, and store a record of ours.

        Raises :class:`OwnRecordRejected` if the rules refuse it.
        """
        rec = await trio.to_thread.run_sync(self._sign, identity, body, community)
        sub = await self.submit(records=[rec], source=LOCAL)
        out = sub.outcomes[0]
        if out.status is Status.REJECTED:
            raise OwnRecordRejected(out.reason or Reason.BAD_FIELD, out.detail)
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

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Drain the inbox in batches until cancelled."""
        task_status.started()
        async for first in self._recv:
            await self._commit(take_batch(first, self._waiting, self.batch))

    def _waiting(self) -> Submission | None:
        try:
            return self._recv.receive_nowait()
        except trio.WouldBlock:
            return None

    async def _commit(self, subs: list[Submission]) -> None:
        now = self.now_ms()
        for sub in subs:
            if sub.raws:
                checked = await trio.to_thread.run_sync(self.pipeline.validate, sub.raws, now)
                for c in checked:
                    if c.record is not None:
                        sub.records.append(c.record)
                    elif c.rejected is not None:
                        sub.rejected.append(c.rejected)
                        self._count_rejected(c.rejected.reason, sub.source)
        batch = [r for sub in subs for r in sub.records]
        exempt = self.pow_exemptions(batch)
        try:
            outcomes = await trio.to_thread.run_sync(
                functools.partial(self.store.ingest, batch, pow_exempt=_member_of(exempt))
            )
        except Exception:
            log.exception("committing a batch of %d records failed", len(batch))
            outcomes = [Outcome(Status.REJECTED, None, "storage error")] * len(batch)
        i = 0
        for sub in subs:
            sub.outcomes = outcomes[i : i + len(sub.records)]
            i += len(sub.records)
            for rec, out in zip(sub.records, sub.outcomes, strict=True):
                self.counters[f"ingest.{out.status.value}"] += 1
                if out.status is Status.REJECTED and out.reason is not None:
                    self._count_rejected(out.reason, sub.source)
                self.after_commit(rec, out, sub.source)
            if sub.done is not None:
                sub.done.set()

    def _count_rejected(self, reason: Reason, source: str) -> None:
        if source == LOCAL:
            self.counters[f"author.rejected.{reason.value}"] += 1
        else:
            self.rejected[reason.value] += 1


def _member_of(ids: set[bytes]) -> Callable[[R.Record], bool]:
    return lambda rec: rec.id in ids
