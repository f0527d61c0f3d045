"""Ingest benchmark: raw signed records → the node's writer → durable store.

Feeds N realistic records (a mix of kinds, ~300 bytes each) as raw bytes to a
running :class:`~cercle.node.writer.Writer` (in trio, over the node's
verification pipeline and a fresh LMDB store with durable, fsync'd, batched
commits), the way the node's sources hand them in: several sync sessions at once,
each submitting 1 000 raw envelopes and waiting for them to be committed before the
next. In the same run it measures the raw Ed25519 verify rate of the library we
use.  Last line: ``ratio=X.XX`` = node-path records/s ÷ raw verify rate.

    python bench/ingest.py [-n 100000] [--batch 1000] [--workers N]
                           [--sources 4] [--submission 1000] [--compare]

``--compare`` also times ``Pipeline.run`` alone (what this benchmark timed before
the writer overlapped its two stages) on another fresh store, for a figure taken
under the same load. The signed data set is generated once (in parallel
processes) and cached in bench/out/, since signing is not what is measured.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import random
import struct
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cercle.node.ingest import Pipeline
from cercle.node.writer import SYNC, Writer
from cercle.protocol import records as R
from cercle.storage import Outcome, Status, Store

OUT = Path(__file__).parent / "out"
T0 = 1_700_000_000_000
WORDS = [
    "good",
    "tasty",
    "fresh",
    "crunchy",
    "sweet",
    "bitter",
    "organic",
    "local",
    "fair",
    "honest",
    "label",
    "clear",
    "price",
    "recipe",
    "texture",
    "plant",
    "milk",
    "oat",
    "soy",
    "palm",
    "sugar",
    "salt",
    "vegan",
    "halal",
    "kosher",
    "gluten",
]


def _key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"bench-%d" % n).digest())


def _gtin(n: int) -> str:
    return R.with_check_digit(str(4000000000000 + n)[-12:])


def _setup() -> tuple[list[bytes], list[bytes], list[R.Record]]:
    """Charters and petitions every shard refers to (deterministic)."""
    names = ["Vegan", "Halal", "Kosher", "Gluten-free", "Local producers", "Fair trade"]
    charters = [
        R.build(
            _key(i),
            R.CommunityBody(n, f"{n} community", (n.lower(),), ("taste", "ingredients", "price")),
            created_ms=T0 + i,
        )
        for i, n in enumerate(names)
    ]
    petitions = [
        R.build(
            _key(100 + i),
            R.PetitionBody(
                f"Petition {i}",
                "Please label every ingredient clearly. " * 4,
                "Makers",
                5000,
                T0 + 10**12,
            ),
            created_ms=T0 + 10 + i,
            community=charters[i % len(charters)].id,
        )
        for i in range(30)
    ]
    return [c.id for c in charters], [p.id for p in petitions], charters + petitions


def _shard(args: tuple[int, int, int]) -> list[bytes]:
    """Records ``start .. start+count`` of the stream (a process-pool task)."""
    start, count, authors = args
    communities, petitions, _ = _setup()
    keys: dict[int, Ed25519PrivateKey] = {}
    out = []
    for i in range(start, start + count):
        rng = random.Random(i)
        a = rng.randrange(authors)
        key = keys.get(a) or keys.setdefault(a, _key(1000 + a))
        t = T0 + 1000 + i * 10
        comm = communities[rng.randrange(len(communities))]
        roll = rng.random()
        if roll < 0.60:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(24, 40)))
            body: R.Body = R.RatingBody(
                _gtin(rng.randrange(3000)), tuple(rng.randint(1, 5) for _ in range(3)), text
            )
        elif roll < 0.75:
            body = R.ProductBody(
                _gtin(rng.randrange(3000)),
                " ".join(rng.choice(WORDS) for _ in range(4)).capitalize(),
                rng.choice(WORDS).capitalize() + " & Co",
                tuple(sorted({rng.choice(WORDS) for _ in range(3)})),
            )
        elif roll < 0.90:
            pet = rng.randrange(len(petitions))
            comm = communities[pet % len(communities)]
            body = R.SignatureBody(petitions[pet])
        elif roll < 0.97:
            other = _key(1000 + (a + 1 + rng.randrange(authors - 1)) % authors)
            body = R.VouchBody(other.public_key().public_bytes_raw(), rng.random() > 0.05)
            comm = comm if rng.random() < 0.5 else None  # type: ignore[assignment]
        else:
            body = R.ProfileBody(f"User {a}", " ".join(rng.choice(WORDS) for _ in range(20)))
            comm = None  # type: ignore[assignment]
        out.append(R.build(key, body, created_ms=t, community=comm).raw)
    return out


def read_cache(path: Path) -> list[bytes] | None:
    """Envelopes saved by :func:`write_cache` (u32 length ‖ bytes each), None if absent."""
    if not path.exists():
        return None
    data, raws, off = path.read_bytes(), [], 0
    while off < len(data):
        (size,) = struct.unpack_from(">I", data, off)
        raws.append(data[off + 4 : off + 4 + size])
        off += 4 + size
    return raws


def write_cache(path: Path, raws: list[bytes]) -> None:
    """Save generated envelopes so the next run starts at once (written whole)."""
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(b"".join(struct.pack(">I", len(r)) + r for r in raws))
    tmp.replace(path)


def dataset(n: int, authors: int = 2000) -> list[bytes]:
    path = OUT / f"ingest-{n}-{authors}.bin"
    cached = read_cache(path)
    if cached is not None:
        return cached
    _, _, fixed = _setup()
    step = 5000
    with ProcessPoolExecutor() as pool:
        shards = pool.map(_shard, [(s, min(step, n - s), authors) for s in range(0, n, step)])
        raws = [r.raw for r in fixed] + [raw for shard in shards for raw in shard]
    write_cache(path, raws)
    return raws


def raw_verify_rate(raws: list[bytes], seconds: float = 3.0) -> float:
    """Ed25519 verifications per second, one thread, keys already parsed."""
    items = []
    for raw in raws[:5000]:
        rec = R.decode(raw)
        items.append((R.author_key(rec.author), rec.sig, R.signed_bytes(rec)))
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for pub, sig, msg in items[:1000]:
            pub.verify(sig, msg)
        done += 1000
    return done / (time.perf_counter() - start)


@dataclass
class Run:
    """What one way of ingesting the data set did."""

    elapsed: float
    counts: dict[str, int]
    invalid: int
    problems: list[str]

    @property
    def stored(self) -> int:
        return self.counts.get(Status.STORED.value, 0)


def _fresh_store(d: str) -> Store:
    return Store(Path(d) / "db", durable=True, map_size=1 << 30)


async def _through_writer(
    store: Store, pipe: Pipeline, raws: list[bytes], now_ms: int, args: argparse.Namespace
) -> tuple[float, dict[str, int], int]:
    counts: collections.Counter[str] = collections.Counter()

    def after_commit(rec: R.Record, out: Outcome, source: str) -> None:
        counts[out.status.value] += 1

    writer = Writer(
        store,
        pipe,
        now_ms=lambda: now_ms,
        counters=collections.Counter(),
        rejected=collections.Counter(),
        after_commit=after_commit,
        batch=args.batch,
    )
    size = args.submission
    chunks = [raws[i : i + size] for i in range(0, len(raws), size)]
    invalid = 0

    async def source(mine: list[list[bytes]]) -> None:
        nonlocal invalid
        for chunk in mine:
            invalid += len((await writer.submit(raws=chunk, source=SYNC)).rejected)

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        t = time.perf_counter()
        await source(chunks[:1])  # the charters and petitions the rest refers to
        async with trio.open_nursery() as sources:
            for k in range(args.sources):
                sources.start_soon(source, chunks[1 + k :: args.sources])
        elapsed = time.perf_counter() - t
        nursery.cancel_scope.cancel()
    return elapsed, dict(counts), invalid


def node_path(raws: list[bytes], now_ms: int, args: argparse.Namespace) -> tuple[Run, int]:
    """Records handed to a running writer by ``args.sources`` sync-like sources."""
    with tempfile.TemporaryDirectory() as d:
        store = _fresh_store(d)
        pipe = Pipeline(store, workers=args.workers)
        try:
            elapsed, counts, invalid = trio.run(_through_writer, store, pipe, raws, now_ms, args)
            problems = store.check() if len(raws) <= 20000 else []
        finally:
            pipe.close()
            store.close()
    return Run(elapsed, counts, invalid, problems), pipe.workers


def pipeline_alone(raws: list[bytes], now_ms: int, args: argparse.Namespace) -> Run:
    """``Pipeline.run``: validation and commits overlapped, without the writer or trio."""
    with tempfile.TemporaryDirectory() as d:
        store = _fresh_store(d)
        pipe = Pipeline(store, workers=args.workers)
        batches = [raws[i : i + args.batch] for i in range(0, len(raws), args.batch)]
        counts: dict[str, int] = {}
        invalid = 0
        try:
            t = time.perf_counter()
            for checked, outcomes in pipe.run(batches, now_ms):
                invalid += sum(1 for c in checked if c.rejected is not None)
                for o in outcomes:
                    counts[o.status.value] = counts.get(o.status.value, 0) + 1
            elapsed = time.perf_counter() - t
        finally:
            pipe.close()
            store.close()
    return Run(elapsed, counts, invalid, [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000, help="the writer's batch (records)")
    ap.add_argument("--workers", type=int, default=None, help="verification threads")
    ap.add_argument("--sources", type=int, default=4, help="sync sessions submitting at once")
    ap.add_argument("--submission", type=int, default=1000, help="raw records per submission")
    ap.add_argument("--compare", action="store_true", help="also time Pipeline.run alone")
    args = ap.parse_args()

    t = time.perf_counter()
    raws = dataset(args.n)
    print(
        f"dataset: {len(raws)} records, mean {sum(map(len, raws)) / len(raws):.0f} B "
        f"(ready in {time.perf_counter() - t:.1f} s)"
    )
    now_ms = int(time.time() * 1000)
    run, workers = node_path(raws, now_ms, args)
    ingest_rate = len(raws) / run.elapsed
    alone = pipeline_alone(raws, now_ms, args) if args.compare else None
    verify_rate = raw_verify_rate(raws)
    print(
        f"ingested {len(raws)} records in {run.elapsed:.2f} s through the node's writer "
        f"({args.sources} sources of {args.submission}-record submissions) with {workers} "
        f"verify threads, batches of {args.batch}, durable commits: {ingest_rate:.0f} records/s"
    )
    print(
        f"outcomes: {run.counts}, invalid: {run.invalid}, stored: {run.stored}"
        + (f", PROBLEMS: {run.problems}" if run.problems else "")
    )
    if alone is not None:
        rate = len(raws) / alone.elapsed
        print(
            f"Pipeline.run alone (no writer, no trio): {rate:.0f} records/s, "
            f"ratio {rate / verify_rate:.2f}; stored: {alone.stored}"
        )
    print(f"raw Ed25519 verify (one thread): {verify_rate:.0f} /s")
    print(f"ratio={ingest_rate / verify_rate:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
