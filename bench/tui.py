"""TUI benchmark: open the community, product and petition screens on a big node, headless.

A real node (in a background thread, as in tests/tui_fixtures.py) serves a data
directory holding one community with ~2 000 products and 100 000 ratings from
20 000 authors (one popular product with 5 000 of them), one petition with
20 000 signatures, and a small vouch graph from the node's own author (so the
trusted aggregates are not trivial). The TUI runs headless (``App.run_test``)
and each action is timed with ``time.perf_counter`` from the key press / screen
push until the screen shows what it should:

1. the community screen: its products and petitions tables have rows;
2. the popular product's screen: its ratings table has rows;
3. the petition screen: its signers table has rows and the progress bar is set;
4. scrolling a page of the community's products: page-down until the next page is in.

Each action is repeated (``--repeat``); the median and max per action are
printed, then the worst single sample, and last ``max_ms=X.X``: the slowest of
the per-action medians. Target: every one under 100 ms.

    python bench/tui.py [--repeat 5]

The signed data set is generated once (in parallel processes) and cached in
bench/out/, since signing is not what is measured; loading it into a fresh
store takes a little while on every run.

The node process and the data set's pool workers are stopped when the benchmark
ends, fails, or is stopped by SIGTERM, SIGINT or SIGHUP (bench/children.py), and
the temporary directory is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).parent))
import children
from ingest import WORDS as INGEST_WORDS
from ingest import read_cache, write_cache

from cercle.node.cli.supervisor import wait_ready
from cercle.node.files.datadir import DataDir
from cercle.node.files.keystore import create_identity
from cercle.protocol import canonical
from cercle.protocol import records as R
from cercle.storage import Store
from cercle.storage import layout as L

OUT = Path(__file__).parent / "out"
VERSION = 1  # of the data set below: bump when it changes
T0 = 1_700_000_000_000
AUTHORS = 20_000
PRODUCTS = 2_000
RATINGS = 100_000
POPULAR = 5_000  # ratings of product 0, the one we open
BIG = (2_500, 2_500, 2_000, 1_500)  # ratings of products 1..4
SIGNATURES = 20_000
VIEWER_SEED = hashlib.sha256(b"tui-bench-viewer").digest()
DIRECT, FANOUT, FANOUT2 = 20, 10, 2  # vouches: viewer -> 20 -> 10 each -> 2 each
WORDS = INGEST_WORDS[:13]  # the same vocabulary as bench/ingest.py (the first 13 words)
SIZE = (120, 40)


# --------------------------------------------------------------------------- data set


def _key(n: int) -> Ed25519PrivateKey:
    if n < 0:
        return Ed25519PrivateKey.from_private_bytes(VIEWER_SEED)
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"tui-bench-%d" % n).digest())


def _pub(n: int) -> bytes:
    return _key(n).public_key().public_bytes_raw()


def _gtin(n: int) -> str:
    return R.with_check_digit(str(500000000000 + n))


def _sign(key: Ed25519PrivateKey, body: R.Body, t: int, community: bytes | None) -> bytes:
    """The envelope ``R.build`` makes, without its verification (we check on loading)."""
    author = key.public_key().public_bytes_raw()
    unsigned: list[canonical.Value] = [R.VERSION, int(body.KIND), author, t, community, 0]
    unsigned.append(body.to_wire())
    return canonical.encode([*unsigned, key.sign(R.signing_input(unsigned))])


def _setup() -> tuple[R.Record, R.Record]:
    charter = R.build(
        _key(AUTHORS + 1),
        R.CommunityBody(
            "Vegan", "Vegan food, rated", ("vegan",), ("taste", "ingredients", "price")
        ),
        created_ms=T0,
    )
    petition = R.build(
        _key(AUTHORS + 2),
        R.PetitionBody(
            "Label every ingredient",
            "Please label every ingredient clearly. " * 4,
            "Makers",
            25_000,
            T0 + 10**12,
        ),
        created_ms=T0 + 1,
        community=charter.id,
    )
    return charter, petition


def _rating_counts() -> list[int]:
    rest = RATINGS - POPULAR - sum(BIG)
    n = PRODUCTS - 1 - len(BIG)
    return [POPULAR, *BIG] + [rest // n + (1 if i < rest % n else 0) for i in range(n)]


def _vouches() -> list[tuple[int, int]]:
    """(author, subject) pairs; author -1 is the viewer."""
    edges = [(-1, a) for a in range(DIRECT)]
    level1 = []
    for a in range(DIRECT):
        for j in range(FANOUT):
            s = (1000 + a * 977 + j * 131) % AUTHORS
            edges.append((a, s))
            level1.append(s)
    for a in level1:
        for j in range(FANOUT2):
            edges.append((a, (a * 7 + 3 + j * 4099) % AUTHORS))
    return edges


def _jobs() -> list[tuple[str, int, int]]:
    """(what, start, count) tasks whose results, concatenated, are the data set."""
    jobs = [("product", s, min(1000, PRODUCTS - s)) for s in range(0, PRODUCTS, 1000)]
    jobs += [("rating", s, min(5000, RATINGS - s)) for s in range(0, RATINGS, 5000)]
    jobs += [("signature", s, min(5000, SIGNATURES - s)) for s in range(0, SIGNATURES, 5000)]
    jobs.append(("vouch", 0, len(_vouches())))
    return jobs


def _shard(job: tuple[str, int, int]) -> list[bytes]:
    what, start, count = job
    charter, petition = _setup()
    cid = charter.id
    keys: dict[int, Ed25519PrivateKey] = {}

    def key(a: int) -> Ed25519PrivateKey:
        k = keys.get(a)
        if k is None:
            k = keys[a] = _key(a)
        return k

    out = []
    if what == "product":
        for p in range(start, start + count):
            rng = random.Random(p)
            name = " ".join(rng.choice(WORDS) for _ in range(3)).capitalize()
            body: R.Body = R.ProductBody(_gtin(p), name, f"Brand {p % 97}", ("vegan",))
            out.append(_sign(key((p * 13) % AUTHORS), body, T0 + 10 + p, cid))
    elif what == "rating":
        plan = [(p, k) for p, n in enumerate(_rating_counts()) for k in range(n)]
        for i in range(start, start + count):
            p, k = plan[i]
            rng = random.Random(i)
            bias = 1 + p % 5
            scores = tuple(max(1, min(5, bias + rng.randint(-1, 1))) for _ in range(3))
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
            author = (p * 7919 + k) % AUTHORS  # distinct for each product's k
            t = T0 + 10_000 + i * 10
            out.append(_sign(key(author), R.RatingBody(_gtin(p), scores, text), t, cid))
    elif what == "signature":
        for a in range(start, start + count):
            t = T0 + 2_000_000 + a * 10
            out.append(_sign(key(a), R.SignatureBody(petition.id), t, cid))
    else:
        for i, (a, s) in enumerate(_vouches()):
            out.append(_sign(key(a), R.VouchBody(_pub(s), True), T0 + 3_000_000 + i, None))
    return out


def dataset() -> list[bytes]:
    path = OUT / f"tui-v{VERSION}.bin"
    cached = read_cache(path)
    if cached is not None:
        return cached
    charter, petition = _setup()
    with ProcessPoolExecutor() as pool:
        shards = list(pool.map(_shard, _jobs()))
    raws = [charter.raw, petition.raw] + [raw for shard in shards for raw in shard]
    write_cache(path, raws)
    return raws


def load(datadir: DataDir, raws: list[bytes], batch: int = 5000) -> dict[str, int]:
    """Store every record straight into the node's store (not running yet)."""
    datadir.ensure()
    counts: dict[str, int] = {}
    store = Store(datadir.db, durable=False, map_size=1 << 30)
    try:
        for i in range(0, len(raws), batch):
            recs = [R.decode(raw) for raw in raws[i : i + batch]]
            for o in store.ingest(recs):
                counts[o.status.value] = counts.get(o.status.value, 0) + 1
        charter, _ = _setup()
        store.local_put(L.setting(L.JOINED, charter.id))
        store.env.sync(True)
    finally:
        store.close()
    return counts


# --------------------------------------------------------------------------- the node


def start_node(run: children.Run, raws: list[bytes]) -> tuple[DataDir, dict[str, int], float]:
    """A node in its own process, as ``cercle`` starts one, on a data directory holding ``raws``.

    Not a thread of this process: the TUI would then share its interpreter lock
    and its garbage collector with the node, which no user's TUI does. Unlike the
    node ``cercle`` starts, it dies with the benchmark (``run`` stops it).
    """
    datadir = DataDir(run.tmp / "d")
    t = time.perf_counter()
    counts = load(datadir, raws)
    loaded_s = time.perf_counter() - t
    create_identity(datadir.identity, unencrypted=True, seed=VIEWER_SEED)
    datadir.config.write_text(
        'listen = ["/ip4/127.0.0.1/tcp/0"]\nsync_interval_s = 3600\n', encoding="utf-8"
    )
    wait_ready([run.spawn("node", datadir, ["node"])], timeout=120.0)
    return datadir, counts, loaded_s


# --------------------------------------------------------------------------- the TUI


async def until(pilot: Any, cond: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    """Poll ``cond``, then let the screen digest its pending messages and paint once.

    Polling sleeps rather than ``pilot.pause()``, which forces a repaint on every
    call: the app paints on its own frame timer, as it does in a terminal. The
    final paint counts in the time. It is done as ``pilot.pause()`` does it, but
    without the wait for the *process* to look idle that ``pause()`` starts with
    (Textual's ``wait_for_idle`` sleeps in 20 ms steps until the CPU time of all
    threads, the node's included, stops advancing): that wait measures the
    harness, not the screen.
    """
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)
    await pilot._wait_for_screen()
    pilot.app.screen._on_timer_update()


def rows(screen: Any, table_id: str) -> int:
    from textual.widgets import DataTable

    try:
        return int(screen.query_one(f"#{table_id}", DataTable).row_count)
    except Exception:
        return 0


class Samples:
    """Milliseconds per action: wall clock, CPU of the process (TUI + node), of the TUI alone."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}
        self.tui_cpu: dict[str, list[float]] = {}
        self.keep = True

    @contextlib.asynccontextmanager
    async def timed(self, action: str) -> Any:
        t, c, tc = time.perf_counter(), time.process_time(), time.thread_time()
        yield
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        tui_cpu = time.thread_time() - tc
        if self.keep:
            self.wall.setdefault(action, []).append(wall * 1000)
            self.cpu.setdefault(action, []).append(cpu * 1000)
            self.tui_cpu.setdefault(action, []).append(tui_cpu * 1000)


def _workers_idle(screen: Any) -> bool:
    return not any(w.is_running for w in screen.app.workers if w.node is screen)


async def back(pilot: Any) -> None:
    """Pop the current screen and wait until the one below has reloaded and is painted."""
    app = pilot.app
    app.pop_screen()
    await pilot.pause()
    screen = app.screen
    await until(pilot, lambda: _workers_idle(screen), "the screen below to reload")
    for _ in range(3):
        await pilot.pause()


async def measure(socket: Path, cid: str, gtin: str, pid: str, repeat: int) -> Samples:
    from textual.widgets import DataTable

    from cercle.tui.app import CercleApp, freeze_startup_heap
    from cercle.tui.screens.community import CommunityScreen
    from cercle.tui.screens.petition import PetitionScreen
    from cercle.tui.screens.product import ProductScreen
    from cercle.tui.widgets.goalbar import GoalBar

    app = CercleApp(socket, backoff=(0.05, 0.1, 0.2))
    freeze_startup_heap()  # as run_tui does
    samples = Samples()

    def community_shown() -> bool:
        s = app.screen
        return (
            isinstance(s, CommunityScreen) and rows(s, "products") > 0 and rows(s, "petitions") > 0
        )

    def product_shown() -> bool:
        return isinstance(app.screen, ProductScreen) and rows(app.screen, "ratings") > 0

    def petition_shown() -> bool:
        s = app.screen
        if not isinstance(s, PetitionScreen) or rows(s, "signers") == 0:
            return False
        bar = s.query_one("#petition-progress", GoalBar)
        return bar.goal > 1 and bar.count > 0

    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected, "the connection")
        await until(pilot, lambda: getattr(app.screen, "loads", 0) >= 1, "the home screen")
        for i in range(repeat + 1):
            samples.keep = i > 0  # the first round warms up (imports, caches): not counted
            async with samples.timed("community"):
                app.push_screen(CommunityScreen(cid))
                await until(pilot, community_shown, "the community screen")
            community = app.screen
            table = community.query_one("#products", DataTable)
            table.focus()
            for _ in range(3):
                await pilot.pause()
            before = table.row_count

            def next_page(
                table: Any = table, before: int = before, screen: Any = community
            ) -> bool:
                return table.row_count > before or _workers_idle(screen)

            async with samples.timed("scroll"):  # page-down until the next page is in
                deadline = time.monotonic() + 30
                while table.row_count <= before:
                    if time.monotonic() > deadline:
                        raise RuntimeError("page-down did not load the next page")
                    # What the page-down key does; pilot.press() would add its
                    # wait for the process to look idle (see until()).
                    table.action_page_down()
                    await until(pilot, next_page, "the next page")
            async with samples.timed("product"):
                app.push_screen(ProductScreen(cid, gtin))
                await until(pilot, product_shown, "the product screen")
            await back(pilot)
            async with samples.timed("petition"):
                app.push_screen(PetitionScreen(pid))
                await until(pilot, petition_shown, "the petition screen")
            await back(pilot)
            await back(pilot)  # the community screen
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    with children.run("cbt") as run:
        t = time.perf_counter()
        raws = dataset()
        print(f"dataset: {len(raws)} records (ready in {time.perf_counter() - t:.1f} s)")
        charter, petition = _setup()
        cid, pid, gtin = charter.id.hex(), petition.id.hex(), R.gtin14(_gtin(0))
        datadir, counts, loaded_s = start_node(run, raws)
        print(f"loaded into the store in {loaded_s:.1f} s: {counts}", flush=True)
        if counts != {"stored": len(raws)}:
            raise RuntimeError("the data set did not load cleanly")
        del raws  # the TUI process holds no more than a user's does
        print(
            f"community: {PRODUCTS} products, {RATINGS} ratings from {AUTHORS} authors "
            f"(product {gtin}: {POPULAR} ratings); petition: {SIGNATURES} signatures; "
            f"the viewer vouches for {DIRECT} authors, {len(_vouches())} vouches in all",
            flush=True,
        )
        samples = children.asyncio_run(measure, datadir.socket, cid, gtin, pid, args.repeat)
    labels = {
        "community": "open community screen",
        "product": f"open product screen ({POPULAR} ratings)",
        "petition": f"open petition screen ({SIGNATURES} signatures)",
        "scroll": "scroll one page of products",
    }
    medians = {}
    for key, label in labels.items():
        wall, cpu, tui_cpu = samples.wall[key], samples.cpu[key], samples.tui_cpu[key]
        medians[key] = statistics.median(wall)
        print(
            f"{label}: median {medians[key]:.1f} ms, max {max(wall):.1f} ms "
            f"(CPU median {statistics.median(cpu):.1f} ms, of which the TUI thread "
            f"{statistics.median(tui_cpu):.1f} ms; runs: {', '.join(f'{x:.1f}' for x in wall)})"
        )
    worst = max(max(w) for w in samples.wall.values())
    print(f"worst single sample: {worst:.1f} ms")
    print("max_ms = the slowest per-action median (wall clock)")
    print(f"max_ms={max(medians.values()):.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
