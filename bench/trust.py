"""Benchmark of cercle.protocol.trust on a random graph: 100 000 authors, 1 000 000 vouches.

Run: .venv/bin/python bench/trust.py [--authors N] [--vouches M] [--seed S]

The graph is random (fixed seed): every author vouches for about M/N random others,
~2% of vouches are distrust and ~1% are scoped to one community.  Vouches are fed
grouped by truster, the order a storage index keyed by truster yields them; a
shuffled build is timed too, for information, after peak RSS is taken.

query_ms is the median time to answer "what is X's trust from V" from scratch
(compute V's view + one lookup) when that is under 1 ms, else the time with V's view
cached; a line says which.  The last line is machine-readable:
    build_s=X.XXX query_ms=X.XXX rss_mb=X.X
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import sys
import time

from cercle.protocol.trust import TrustGraph, Vouch, compute_trust


def make_vouches(
    rng: random.Random, n_authors: int, n_vouches: int
) -> tuple[list[bytes], list[Vouch]]:
    keys = [rng.randbytes(32) for _ in range(n_authors)]
    community = b"C" * 32
    vouches = []
    for e in range(n_vouches):
        truster = keys[e * n_authors // n_vouches]  # grouped by truster, ~M/N each
        r = rng.random()
        vouches.append(
            Vouch(
                truster, keys[rng.randrange(n_authors)], r >= 0.02, community if r > 0.99 else None
            )
        )
    return keys, vouches


def rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024  # bytes on macOS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authors", type=int, default=100_000)
    ap.add_argument("--vouches", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--viewers", type=int, default=50, help="fresh viewers to time")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    keys, vouches = make_vouches(rng, args.authors, args.vouches)
    rss_input = rss_mb()
    print(f"authors={args.authors} vouches={args.vouches} seed={args.seed}")
    print(f"rss after generating the input list: {rss_input:.1f} MB")

    gc.collect()
    t0 = time.perf_counter()
    graph = TrustGraph(vouches)
    build_s = time.perf_counter() - t0
    print(f"build (grouped by truster): {build_s:.3f} s, {graph.edge_count} edges")

    # Compute from scratch: distinct viewers, so every call misses the cache.
    sample = rng.sample(keys, 2 * args.viewers)
    viewers, scratch_viewers = sample[: args.viewers], sample[args.viewers :]
    targets = [rng.choice(keys) for _ in viewers]
    compute, scratch, sizes = [], [], []
    for v in viewers:
        t0 = time.perf_counter()
        view = compute_trust(graph, v)
        compute.append(time.perf_counter() - t0)
        sizes.append(len(view))
    for v, x in zip(scratch_viewers, targets, strict=True):
        t0 = time.perf_counter()
        compute_trust(graph, v).weight(x)  # "what is X's trust from V", nothing cached
        scratch.append(time.perf_counter() - t0)
    compute_ms = statistics.median(compute) * 1e3
    scratch_ms = statistics.median(scratch) * 1e3
    print(
        f"compute view (depth 3, fresh viewer): median {compute_ms:.3f} ms, "
        f"max {max(compute) * 1e3:.3f} ms, median trusted {statistics.median(sizes):.0f} authors"
    )
    t0 = time.perf_counter()
    cview = compute_trust(graph, viewers[0], b"C" * 32)
    print(
        f"compute community view: {(time.perf_counter() - t0) * 1e3:.3f} ms, {len(cview)} trusted"
    )
    print(f"from scratch (compute view + one lookup): median {scratch_ms:.3f} ms")

    # Lookups on a computed (cached) view: a mix of trusted and random authors.
    view = compute_trust(graph, viewers[0])
    probe = list(view)[:1000] + rng.sample(keys, 9000)
    rounds = 20
    t0 = time.perf_counter()
    for _ in range(rounds):
        for a in probe:
            view.weight(a)
    lookup_ms = (time.perf_counter() - t0) / (rounds * len(probe)) * 1e3
    t0 = time.perf_counter()
    for a in probe:
        compute_trust(graph, viewers[0]).weight(a)
    cached_ms = (time.perf_counter() - t0) / len(probe) * 1e3
    print(f"lookup on a computed view: {lookup_ms:.5f} ms")
    print(f"cached query (compute_trust cache hit + lookup): {cached_ms:.5f} ms")

    if scratch_ms < 1.0:
        query_ms, which = scratch_ms, "from scratch (compute view + lookup)"
    else:
        query_ms, which = cached_ms, "cached view (compute_trust cache hit + lookup)"
    peak = rss_mb()  # before the extra build below, which holds a second graph
    print(f"peak rss: {peak:.1f} MB (includes the {args.vouches} input tuples)")

    shuffled = vouches[:]
    rng.shuffle(shuffled)
    t0 = time.perf_counter()
    TrustGraph(shuffled)
    print(f"build (input shuffled, for information): {time.perf_counter() - t0:.3f} s")

    print(f"query_ms below is: {which}, median")
    print(f"build_s={build_s:.3f} query_ms={query_ms:.3f} rss_mb={peak:.1f}")


if __name__ == "__main__":
    main()
