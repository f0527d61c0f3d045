"""The ingest pipeline: raw bytes → validated records → one batched commit.

Why threads: signature verification dominates the cost of a record, and
``cryptography`` releases the GIL while it verifies, so a small pool of
threads spreads it over the cores while the single LMDB writer commits the
previous batch.  Decoding and every rule live in ``protocol.records``; this
module only schedules the work.  It is synchronous on purpose: the node's
writer (``node/writer.py``) runs :meth:`Pipeline.validate` in a worker thread
(``trio.to_thread``) while it commits the previous batch; :meth:`Pipeline.run`
is the same overlap without trio, for tools and benchmarks that have no writer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from cercle.protocol import records as R
from cercle.protocol.errors import Rejected
from cercle.storage import Outcome, Store


@dataclass(frozen=True, slots=True)
class Checked:
    """One input's fate after validation: a record, or the rejection."""

    raw: bytes
    record: R.Record | None
    rejected: Rejected | None


def validate_chunk(raws: Sequence[bytes], now_ms: int) -> list[Checked]:
    out = []
    for raw in raws:
        try:
            out.append(Checked(raw, R.validate(raw, now_ms=now_ms), None))
        except Rejected as exc:
            out.append(Checked(raw, None, exc))
    return out


class Pipeline:
    """Validates on a thread pool, commits on the caller's thread, in batches."""

    def __init__(self, store: Store, *, workers: int | None = None, chunk: int = 128) -> None:
        self.store = store
        self.workers = workers or max(2, os.cpu_count() or 2)
        self.chunk = chunk
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="cercle-verify")

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def _submit(self, raws: Sequence[bytes], now_ms: int) -> list[Future[list[Checked]]]:
        return [
            self.pool.submit(validate_chunk, raws[i : i + self.chunk], now_ms)
            for i in range(0, len(raws), self.chunk)
        ]

    def validate(self, raws: Sequence[bytes], now_ms: int) -> list[Checked]:
        """Validate a batch, spread over the pool; results keep the input order."""
        if len(raws) <= self.chunk:
            return validate_chunk(raws, now_ms)
        return [c for f in self._submit(raws, now_ms) for c in f.result()]

    def commit(self, checked: Sequence[Checked]) -> list[Outcome]:
        """Store the valid records of a validated batch in one transaction."""
        return self.store.ingest([c.record for c in checked if c.record is not None])

    def run(
        self, batches: Iterable[Sequence[bytes]], now_ms: int
    ) -> Iterator[tuple[list[Checked], list[Outcome]]]:
        """Validate batch n+1 while batch n commits; yields each batch's results."""
        pending: list[Future[list[Checked]]] | None = None
        for raws in batches:
            nxt = self._submit(raws, now_ms)
            if pending is not None:
                checked = [c for f in pending for c in f.result()]
                yield checked, self.commit(checked)
            pending = nxt
        if pending is not None:
            checked = [c for f in pending for c in f.result()]
            yield checked, self.commit(checked)
