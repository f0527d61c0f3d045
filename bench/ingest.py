"""Ingest benchmark: raw signed records → decode → validate → verify → durable store.

Feeds N realistic records (a mix of kinds, ~300 bytes each) as raw bytes through
the node's ingest pipeline into a fresh LMDB store with durable (fsync'd)
batched commits, and in the same run measures the raw Ed25519 verify rate of
the library we use.  Last line: ``ratio=X.XX`` = ingest rate / raw verify rate.

    python bench/ingest.py [-n 100000] [--batch 1000] [--workers N]

The signed data set is generated once (in parallel processes) and cached in
bench/out/, since signing is not what is measured.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import struct
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cercle.node.ingest import Pipeline
from cercle.protocol import records as R
from cercle.storage import Status, Store

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()

    t = time.perf_counter()
    raws = dataset(args.n)
    print(
        f"dataset: {len(raws)} records, mean {sum(map(len, raws)) / len(raws):.0f} B "
        f"(ready in {time.perf_counter() - t:.1f} s)"
    )
    now_ms = int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "db", durable=True, map_size=1 << 30)
        pipe = Pipeline(store, workers=args.workers)
        batches = [raws[i : i + args.batch] for i in range(0, len(raws), args.batch)]
        counts: dict[str, int] = {}
        rejected = 0
        t = time.perf_counter()
        for checked, outcomes in pipe.run(batches, now_ms):
            rejected += sum(1 for c in checked if c.rejected is not None)
            for o in outcomes:
                counts[o.status.value] = counts.get(o.status.value, 0) + 1
        elapsed = time.perf_counter() - t
        pipe.close()
        problems = store.check() if len(raws) <= 20000 else []
        stored = counts.get(Status.STORED.value, 0)
        store.close()
    ingest_rate = len(raws) / elapsed
    verify_rate = raw_verify_rate(raws)
    print(
        f"ingested {len(raws)} records in {elapsed:.2f} s with {pipe.workers} verify threads, "
        f"batches of {args.batch}, durable commits: {ingest_rate:.0f} records/s"
    )
    print(
        f"outcomes: {counts}, invalid: {rejected}, stored: {stored}"
        + (f", PROBLEMS: {problems}" if problems else "")
    )
    print(f"raw Ed25519 verify (one thread): {verify_rate:.0f} /s")
    print(f"ratio={ingest_rate / verify_rate:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
