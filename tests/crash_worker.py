"""Batched durable ingest, run as a subprocess that tests/test_crash.py SIGKILLs.

    python tests/crash_worker.py DBDIR STREAM START_BATCH BATCH_SIZE [DIE]

``STREAM`` is a msgpack array of signed envelopes (built once by the test).
The worker opens the store at ``DBDIR`` (durable), then ingests batch after
batch ``STREAM[i*BATCH_SIZE:(i+1)*BATCH_SIZE]`` from ``i = START_BATCH`` on.
After each :meth:`Store.ingest` returns it writes one line and flushes it::

    ack <i> <id>:<status>[.<reason>][:<removed id>,<removed id>…] <id>:<status> …

A complete line is an acknowledgement: batch ``i`` is committed.  A line cut
short by the kill (no final newline) acknowledges nothing.  The worker says
``ready`` once the store is open and ``done`` when the stream is exhausted.

``DIE`` makes the worker SIGKILL itself at an exact point, so that some kills
land where an outside kill only lands by luck:

* ``txn:K:J``: inside the write transaction of batch ``K``, once ``J`` of its
  records have been applied (``J`` = the batch size: all applied, not committed);
* ``ack:K``: after batch ``K`` committed, before its acknowledgement is written.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import msgpack

from cercle.protocol import records as R
from cercle.storage import Outcome, Store

# A small map, so that the store also grows (MapFullError, set_mapsize) between kills.
MAP_SIZE = 256 * 1024


def ack_line(batch: int, recs: list[R.Record], outcomes: list[Outcome]) -> bytes:
    parts = [f"ack {batch}"]
    for rec, out in zip(recs, outcomes, strict=True):
        status = (
            out.status.value if out.reason is None else f"{out.status.value}.{out.reason.value}"
        )
        item = f"{rec.id.hex()}:{status}"
        if out.removed:
            item += ":" + ",".join(r.hex() for r in out.removed)
        parts.append(item)
    return (" ".join(parts) + "\n").encode()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    db_dir, stream_path, start, size = argv[0], argv[1], int(argv[2]), int(argv[3])
    when, *at = (argv[4] if len(argv) > 4 else "none").split(":")
    batch = start
    with open(stream_path, "rb") as f:
        stream: list[bytes] = msgpack.unpackb(f.read())
    out = sys.stdout.buffer
    with Store(db_dir, map_size=MAP_SIZE, durable=True) as store:
        if when == "txn":
            apply, current, applied = store._apply, None, 0

            def dying_apply(txn: Any, *args: Any, **kwargs: Any) -> Any:
                nonlocal current, applied
                if txn is not current:  # a new transaction (or a retry after the map grew)
                    current, applied = txn, 0
                result = apply(txn, *args, **kwargs)
                applied += 1
                if batch == int(at[0]) and applied == int(at[1]):
                    die()
                return result

            store._apply = dying_apply  # type: ignore[method-assign]
        out.write(b"ready\n")
        out.flush()
        while batch * size < len(stream):
            recs = [R.decode(raw) for raw in stream[batch * size : (batch + 1) * size]]
            outcomes = store.ingest(recs)
            if when == "ack" and batch == int(at[0]):
                die()
            # Only after ingest returned; the parent ignores a line the kill cut short.
            out.write(ack_line(batch, recs, outcomes))
            out.flush()
            batch += 1
        out.write(b"done\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
