"""Sync benchmark: catch-up of a fresh node from a relay, and reconciliation traffic.

1. Core ingest (as bench/ingest.py): the 100 000-record data set of bench/ingest.py
   goes raw through ``Pipeline.run`` into a durable store, which becomes the relay's
   store. Records/s = the core ingest rate of this machine, in this run.
2. Catch-up: that store is served by a real relay process (``cercle relay``, loopback
   TCP). A fresh personal node (in this process) joins the data set's communities and
   dials the relay; the real sync protocol (``/cercle/sync/1.0.0`` over py-libp2p)
   runs on connect. Catch-up time = from the dial until the fresh store holds every
   record the relay holds. Bytes on the wire = the sum of the fresh node's
   ``SyncReport`` bytes (both the sessions it initiated and those it served).
3. Reconciliation (sync driver over trio memory streams, no records moved): two sets
   of the same 100 000 (created_ms, id) items, each missing 500 the other has (1 %
   differ), and two equal sets. Bytes of the reconciliation frames vs the full id
   list (100 000 x 32 B), and round trips.

    python bench/sync.py [-n 100000] [--profile]

Last line: ``catchup_rps=X catchup_ratio=X reconcile_ratio=X equal_round_trips=N``
with catchup_ratio = catch-up rate / core ingest rate.

The relay process, the data set's pool workers and the fresh node (a trio run
in this process) are stopped when the benchmark ends, fails, or is stopped by
SIGTERM, SIGINT or SIGHUP (bench/children.py), and the temporary directory is
removed.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import logging
import os
import pstats
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import trio
import trio.testing

sys.path.insert(0, str(Path(__file__).parent))
import children
from ingest import _setup, dataset

from cercle.node import syncdriver as D
from cercle.node.cli.supervisor import Child, probe
from cercle.node.files.config import Config
from cercle.node.files.datadir import DataDir
from cercle.node.ingest import Pipeline
from cercle.node.serve import Node
from cercle.protocol import records as R
from cercle.protocol import sync as S
from cercle.protocol import syncstream as W
from cercle.protocol.identity import Identity
from cercle.storage import Store

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


# ---------------------------------------------------------------- 1. core ingest


def core_ingest(raws: list[bytes], db: Path, batch: int = 1000) -> tuple[float, int]:
    """bench/ingest.py's measurement; returns (records/s, records held)."""
    store = Store(db, durable=True, map_size=1 << 30)
    pipe = Pipeline(store)
    batches = [raws[i : i + batch] for i in range(0, len(raws), batch)]
    now_ms = int(time.time() * 1000)
    t = time.perf_counter()
    for _checked, _outcomes in pipe.run(batches, now_ms):
        pass
    elapsed = time.perf_counter() - t
    pipe.close()
    held = store.count()
    store.close()
    return len(raws) / elapsed, held


# ---------------------------------------------------------------- 2. catch-up


def start_relay(run: children.Run, datadir: DataDir) -> tuple[Child, str]:
    """``cercle relay`` on ``datadir`` (stopped when the run ends); its loopback address."""
    relay = run.spawn("relay", datadir, ["relay", "--listen", LOOPBACK])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if relay.proc.poll() is not None:
            raise RuntimeError(f"relay exited: {run.log_tail(relay)}")
        st = probe(relay.socket, timeout=5)
        if st is not None:
            for a in st["listen"]:
                if a.startswith("/ip4/127.0.0.1/"):
                    return relay, a if "/p2p/" in a else f"{a}/p2p/{st['peer_id']}"
        time.sleep(0.2)
    raise RuntimeError("relay did not start within 60 s")


async def catch_up(
    fresh_dir: Path, relay_addr: str, communities: Sequence[bytes], target: int, timeout: float
) -> dict[str, object]:
    # Periodic sync off (1 h) on both sides: what is measured is the sync on connect.
    cfg = Config(listen=(LOOPBACK,), api=False, sync_interval_s=3600)
    ident = Identity.from_seed(hashlib.sha256(b"bench-sync-fresh").digest())
    node = Node(DataDir(fresh_dir), cfg, ident)
    out: dict[str, object] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(node.serve)
        assert node.net is not None and node.store is not None
        for c in communities:
            await node.join(c)
        t0 = time.perf_counter()
        await node.net.connect(relay_addr)
        with trio.move_on_after(timeout):
            while node.store.count() < target:
                await trio.sleep(0.05)
        elapsed = time.perf_counter() - t0
        held = node.store.count()
        # Let the sessions finish so their reports (bytes) are in. Both ends start one
        # session per scope on connect, but where two cross one end refuses, and an end
        # already answering for a scope starts none: so wait until every scope has a
        # session that ran and no report came for 1 s (at most 60 s).
        scopes = len(node.hosted_scopes())

        def ran() -> int:
            return len({s["community"] for s in node.sync_sessions if s["state"] != "refused"})

        with trio.move_on_after(60):
            seen, quiet_since = -1, trio.current_time()
            while ran() < scopes or trio.current_time() - quiet_since < 1.0:
                if len(node.sync_sessions) != seen:
                    seen, quiet_since = len(node.sync_sessions), trio.current_time()
                await trio.sleep(0.05)
        out = {
            "elapsed": elapsed,
            "held": held,
            "sessions": list(node.sync_sessions),
            "counters": dict(node.counters),
            "rejected": dict(node.rejected),
        }
        nursery.cancel_scope.cancel()
    return out


# ---------------------------------------------------------------- 3. reconciliation


async def reconcile(
    a_items: list[tuple[int, bytes]], b_items: list[tuple[int, bytes]]
) -> tuple[D.SyncReport, D.SyncReport]:
    """One driver session over memory streams; no records move (get_raws returns [])."""
    left, right = trio.testing.memory_stream_pair()
    scope = b"\x01" * 32
    a_store, b_store = S.SortedItems(a_items), S.SortedItems(b_items)
    out: dict[str, D.SyncReport] = {}

    async def no_raws(ids: Sequence[bytes]) -> list[bytes]:
        return []

    async def no_ingest(raws: list[bytes]) -> None:
        return None

    async def hosted(s: bytes) -> S.ItemStore | None:
        return b_store if s == scope else None

    async def initiator() -> None:
        out["a"] = await D.sync_as_initiator(left, scope, a_store, no_raws, no_ingest)

    async def responder() -> None:
        out["b"] = await D.sync_as_responder(right, hosted, no_raws, no_ingest)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(initiator)
        nursery.start_soon(responder)
    return out["a"], out["b"]


def recon_bytes(rep: D.SyncReport) -> int:
    """Reconciliation bytes both ways, without the two empty END frames of the transfer."""
    return rep.bytes_sent + rep.bytes_received - 2 * W.FRAME_HEADER_SIZE


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--timeout", type=float, default=900.0, help="catch-up limit (s)")
    ap.add_argument("--profile", action="store_true", help="cProfile the fresh node")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("libp2p", "multiaddr", "async_service"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    with children.run("cercle-sync-") as run:
        tmp = run.tmp
        raws = dataset(args.n)
        print(f"dataset: {len(raws)} records, mean {sum(map(len, raws)) / len(raws):.0f} B")
        relay_dir = tmp / "relay"
        DataDir(relay_dir).ensure()
        (relay_dir / "config.toml").write_text(
            'listen = ["/ip4/127.0.0.1/tcp/0"]\nsync_interval_s = 3600\n'
        )
        ingest_rps, held = core_ingest(raws, relay_dir / "db")
        print(f"core ingest: {len(raws)} records -> {held} held, {ingest_rps:.0f} records/s")

        relay, addr = start_relay(run, DataDir(relay_dir))
        print(f"relay: {addr}")
        communities = _setup()[0]
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        res = children.trio_run(catch_up, tmp / "fresh", addr, communities, held, args.timeout)
        if prof:
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(35)
            print(buf.getvalue())
        elapsed = float(res["elapsed"])  # type: ignore[arg-type]
        got = int(res["held"])  # type: ignore[call-overload]
        sessions = res["sessions"]
        assert isinstance(sessions, list)
        wire = sum(s["bytes"] for s in sessions)
        received = sum(s["received"] for s in sessions)
        catchup_rps = got / elapsed
        counters = res["counters"]
        assert isinstance(counters, dict)
        dup = counters.get("ingest.duplicate", 0)
        print(
            f"catch-up: {got}/{held} records in {elapsed:.1f} s = {catchup_rps:.0f} records/s; "
            f"{len(sessions)} sessions, {received} records received "
            f"({received / max(got, 1):.2f}x), {wire / 1e6:.1f} MB on the wire "
            f"({wire / max(got, 1):.0f} B/record); "
            f"{dup} received twice (both ends initiate on connect)"
        )
        for s in sessions:
            print(
                f"  {s['role']:9} scope={str(s['community'])[:8]:8} state={s['state']} "
                f"recv={s['received']} sent={s['sent']} rtt={s['round_trips']} bytes={s['bytes']}"
            )
        print(f"  fresh node counters: {res['counters']} rejected: {res['rejected']}")
        run.stop([relay])

        # Reconciliation, on the data set's (created_ms, id) items as one set.
        items = []
        for raw in raws:
            rec = R.decode(raw)
            items.append((rec.created_ms, rec.id))
        items = items[: args.n]
        rng = random.Random(7)
        k = len(items) // 200  # 0.5 % unique on each side: 1 % of the items differ
        picked = rng.sample(range(len(items)), 2 * k)
        drop_a, drop_b = set(picked[:k]), set(picked[k:])
        a = [x for i, x in enumerate(items) if i not in drop_a]
        b = [x for i, x in enumerate(items) if i not in drop_b]
        t = time.perf_counter()
        ra, _rb = children.trio_run(reconcile, a, b)
        dt = time.perf_counter() - t
        full = len(items) * 32
        rbytes = recon_bytes(ra)
        print(
            f"reconcile 1 % ({k} unique each side, {len(items)} items): needed={ra.needed} "
            f"offered={ra.offered} bytes={rbytes} vs id list {full} "
            f"({rbytes / full:.4f}), round_trips={ra.round_trips}, {dt:.1f} s"
        )
        assert ra.needed == k and ra.offered == k, "reconciliation missed differences"
        eq, _ = children.trio_run(reconcile, items, items)
        print(
            f"reconcile equal: bytes={recon_bytes(eq)} round_trips={eq.round_trips} "
            f"needed={eq.needed} offered={eq.offered}"
        )
        print(
            f"catchup_rps={catchup_rps:.0f} catchup_ratio={catchup_rps / ingest_rps:.2f} "
            f"reconcile_ratio={rbytes / full:.4f} equal_round_trips={eq.round_trips}"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
