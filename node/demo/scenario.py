"""The demo's scenario: start the network, seed it through the nodes' APIs, keep it alive.

Why a class with these steps in this order (:meth:`Demo.run`): each step needs
the one before it. The crowd's records go into the relay's store before the
relay starts (:mod:`.sample`); the personal nodes start once the relay answers,
bootstrapped to its loopback address; their authors act only through their
node's local API, as a person at the TUI would, and rate and sign only once
their node has caught up with the relay, since the products and petitions must
be known there first. The demo is "synced" when every node holds the same
number of records, at least the seeded ones; after that one personal node rates
or signs something every few seconds, under the TUI or a headless status line.

Starting, watching and stopping the processes is :mod:`cercle.node.cli.supervisor`'s
job; here every child dies with the demo (``die_with_parent``), and
:meth:`Demo.stop_network` stops them all and removes every temporary directory.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from cercle.node.cli.launcher import open_tui
from cercle.node.cli.supervisor import (
    CALL_ERRORS,
    Child,
    check_running,
    node_argv,
    probe,
    spawn,
    stop_children,
    wait_ready,
)
from cercle.node.demo.sample import (
    CROWD,
    DAY_MS,
    ProductInfo,
    Sample,
    build_sample,
    personal_seed,
    seed_relay_store,
)
from cercle.node.demo.vocabulary import COMMUNITIES, PERSONAL_NAMES, PETITIONS, RATING_TEXTS
from cercle.node.files.datadir import DataDir
from cercle.node.files.keystore import create_identity
from cercle.protocol import records as R
from cercle.protocol.localapi import ApiError

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
DEFAULT_NODES = 4
DEFAULT_SEED = 2024
DEFAULT_TIMEOUT_S = 120.0
STATUS_EVERY_S = 5.0
TRICKLE_EVERY_S = 3.0
SYNC_INTERVAL_S = 3  # demo nodes re-sync often, so a lost gossip message is soon repaired


class DemoError(Exception):
    """Something the demo could not do; the message says what and where to look."""


def _temp_root() -> str:
    # A Unix socket path has at most 103 bytes: stay near the root if TMPDIR is long.
    tmp = tempfile.gettempdir()
    return tmp if len(tmp) <= 40 else "/tmp"


@dataclass
class Options:
    nodes: int = DEFAULT_NODES
    seed: int = DEFAULT_SEED
    headless: bool = False
    duration: float | None = None
    until_synced: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    json: bool = False
    crowd: int = CROWD


class Demo:
    """One demo network: :meth:`run` it, then always :meth:`close` it."""

    def __init__(self, opts: Options, out: TextIO = sys.stdout) -> None:
        self.opts = opts
        self.out = out
        self.rng = random.Random(opts.seed + 1)
        self.dirs: list[Path] = []
        self.children: list[Child] = []  # every process started, so that close() stops it
        self.relay: Child | None = None
        self.personal: list[Child] = []
        self.names: list[str] = []
        self.sample: Sample | None = None
        self.lock = threading.Lock()  # the trickle thread and the status line share the rng
        self.activity = 0
        self.seeded = 0
        self.in_tui = False

    # -- output

    def say(self, text: str) -> None:
        if not self.opts.json:
            self._print(f"demo: {text}")

    def emit(self, event: str, **data: Any) -> None:
        if self.opts.json:
            self._print(json.dumps({"event": event, **data}))

    def _print(self, line: str) -> None:
        with contextlib.suppress(OSError):  # a closed terminal must not stop the clean-up
            print(line, file=self.out, flush=True)

    # -- setup

    def _mkdir(self, label: str) -> DataDir:
        path = Path(tempfile.mkdtemp(prefix=f"cercle-demo-{label}-", dir=_temp_root()))
        self.dirs.append(path)  # mkdtemp made it 0700, as DataDir.ensure would
        dd = DataDir(path)
        dd.config.write_text(f"sync_interval_s = {SYNC_INTERVAL_S}\n", encoding="utf-8")
        return dd

    def _spawn(self, name: str, datadir: DataDir, command: list[str]) -> Child:
        child = spawn(name, datadir, node_argv(datadir, command), die_with_parent=True)
        self.children.append(child)  # first: a signal may stop the demo right after this
        self.emit("spawned", name=name, pid=child.proc.pid)
        return child

    def start(self) -> None:
        o = self.opts
        relay_dir = self._mkdir("relay")
        node_dirs = [self._mkdir(f"n{i}") for i in range(o.nodes)]
        self.names = [
            PERSONAL_NAMES[i] if i < len(PERSONAL_NAMES) else f"Node {i}" for i in range(o.nodes)
        ]
        for i, dd in enumerate(node_dirs):
            create_identity(dd.identity, unencrypted=True, seed=personal_seed(o.seed, i))
        self.emit("dirs", dirs=[str(d) for d in self.dirs])

        t0 = time.monotonic()
        self.sample = build_sample(o.seed, int(time.time() * 1000), crowd=o.crowd)
        stored = self.seeded = seed_relay_store(relay_dir.db, self.sample)
        self.say(
            f"signed {stored} records of {o.crowd} crowd authors in {time.monotonic() - t0:.1f} s"
        )

        listen = ["--listen", LOOPBACK]
        self.relay = self._spawn("relay", relay_dir, ["relay", *listen])
        relay_status = wait_ready([self.relay])["relay"]
        addrs = [a for a in relay_status["listen"] if a.startswith("/ip4/127.0.0.1/")]
        if not addrs:
            raise DemoError(f"the relay listens on no loopback address: {relay_status['listen']}")
        boot = addrs[0] if "/p2p/" in addrs[0] else f"{addrs[0]}/p2p/{relay_status['peer_id']}"
        self.say(f"relay up at {boot}")

        for name, dd in zip(self.names, node_dirs, strict=True):
            self.personal.append(self._spawn(name, dd, ["node", *listen, "--bootstrap", boot]))
        wait_ready(self.personal)
        self.emit(
            "started",
            pids=[c.proc.pid for c in self.children],
            dirs=[str(d) for d in self.dirs],
            sockets={c.name: str(c.socket) for c in self.children},
        )
        self.say(f"{len(self.personal)} personal nodes up: {', '.join(self.names)}")

    def seed_personal(self, deadline: float) -> None:
        """What the personal nodes' authors do through their APIs."""
        s = self.sample
        assert s is not None
        rng = random.Random(self.opts.seed + 2)
        authors = [c.call("status")["author"] for c in self.personal]
        comm_hex = [c.hex() for c in s.community_ids]
        for i, c in enumerate(self.personal):
            c.call("profile.set", display_name=self.names[i], about="Demo user")
            for cid in comm_hex:
                c.call("communities.join", id=cid)
        self.wait_caught_up(deadline)  # what they rate and sign must be known to their node
        for i, c in enumerate(self.personal):
            # Trust: a few honest crowd authors and the other demo users; distrust a shill.
            for subject in rng.sample(s.honest, min(6, len(s.honest))):
                c.call("vouch", subject=subject.hex(), trust=True)
            for j, other in enumerate(authors):
                if j != i and rng.random() < 0.6:
                    c.call("vouch", subject=other, trust=True)
            if s.shills:
                c.call("vouch", subject=rng.choice(s.shills).hex(), trust=False)
            # A product of their own, some ratings, signatures.
            ci = rng.randrange(len(COMMUNITIES))
            spec = COMMUNITIES[ci]
            code = R.with_check_digit(
                f"20{i:02d}{rng.randrange(10**8):08d}"
            )  # in-store range 20–29
            c.call(
                "products.put",
                community=comm_hex[ci],
                gtin=code,
                name=f"Homemade {rng.choice(spec.kinds)}",
                brand=f"{self.names[i]}'s kitchen",
                labels=list(spec.labels[:2]),
            )
            for info in rng.sample(s.products, 6):
                self._rate(c, info, rng)
            for _, pid in rng.sample(s.petitions, 3):
                self._sign(c, pid.hex())
        if self.personal:
            ci = rng.randrange(len(COMMUNITIES))
            title, text, target = rng.choice(PETITIONS)
            self.personal[0].call(
                "petitions.create",
                community=comm_hex[ci],
                title=f"{self.names[0]}: {title}",
                text=text,
                target=target,
                goal=50,
                deadline_ms=int(time.time() * 1000) + 60 * DAY_MS,
            )
        self.say("personal nodes joined, vouched, rated and signed")

    def _rate(self, c: Child, info: ProductInfo, rng: random.Random) -> None:
        assert self.sample is not None
        scores = [max(1, min(5, round(q + rng.gauss(0, 0.8)))) for q in info.quality]
        c.call(
            "ratings.put",
            community=self.sample.community_ids[info.community].hex(),
            gtin=info.gtin,
            scores=scores,
            text=rng.choice(RATING_TEXTS),
        )

    def _sign(self, c: Child, petition: str) -> None:
        try:
            c.call("petitions.sign", id=petition)
        except ApiError as exc:
            if exc.code != "rejected":  # already signed is fine
                raise

    # -- running

    def counts(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for c in self.children:
            status = probe(c.socket, timeout=5.0)
            out[c.name] = None if status is None else int(status["records"])
        return out

    def wait_counts(
        self, deadline: float, done: Callable[[dict[str, int | None]], bool], what: str
    ) -> dict[str, int | None]:
        """Poll every node's record count until ``done(counts)``; DemoError at ``deadline``."""
        last_line = time.monotonic()
        while True:
            check_running(self.children)
            counts = self.counts()
            if None not in counts.values() and done(counts):
                return counts
            if time.monotonic() > deadline:
                raise DemoError(f"{what} took too long (see --timeout): {counts}")
            if time.monotonic() - last_line > STATUS_EVERY_S:
                last_line = time.monotonic()
                self.say(f"{what}… " + self._counts_text(counts))
            time.sleep(0.3)

    def wait_caught_up(self, deadline: float) -> None:
        """Wait until each personal node holds the crowd's records (and its own profile)."""
        names = {c.name for c in self.personal}
        self.wait_counts(
            deadline,
            lambda counts: all((counts[n] or 0) > self.seeded for n in names),
            "catching up with the relay",
        )

    def wait_synced(self, deadline: float) -> dict[str, int | None]:
        """Wait until every node holds as many records as the others, all the seeded ones too."""
        return self.wait_counts(
            deadline,
            lambda counts: (
                len(set(counts.values())) == 1
                and min(v or 0 for v in counts.values()) >= max(1, self.seeded)
            ),
            "syncing",
        )

    @staticmethod
    def _counts_text(counts: dict[str, int | None]) -> str:
        return ", ".join(f"{k} {'?' if v is None else v}" for k, v in counts.items())

    def trickle_once(self) -> None:
        """One personal node rates a product or signs a petition."""
        assert self.sample is not None
        with self.lock:
            i = self.rng.randrange(len(self.personal))
            c = self.personal[i]
            if self.rng.random() < 0.75:
                info = self.rng.choice(self.sample.products)
                self._rate(c, info, self.rng)
                what = f"{self.names[i]} rated {info.brand} {info.name}"
            else:
                _, pid = self.rng.choice(self.sample.petitions)
                self._sign(c, pid.hex())
                what = f"{self.names[i]} signed a petition"
            self.activity += 1
        self.emit("activity", text=what)

    def _trickle_thread(self, stop: threading.Event) -> None:
        while not stop.wait(TRICKLE_EVERY_S):
            with contextlib.suppress(*CALL_ERRORS):
                self.trickle_once()

    def run_headless(self) -> None:
        o = self.opts
        end = None if o.duration is None else time.monotonic() + o.duration
        next_trickle = time.monotonic() + TRICKLE_EVERY_S
        next_status = time.monotonic()
        while end is None or time.monotonic() < end:
            check_running(self.children)
            now = time.monotonic()
            if now >= next_trickle:
                next_trickle = now + TRICKLE_EVERY_S
                with contextlib.suppress(*CALL_ERRORS):
                    self.trickle_once()
            if now >= next_status:
                next_status = now + STATUS_EVERY_S
                counts = self.counts()
                self.say(f"records: {self._counts_text(counts)}; activity {self.activity}")
                self.emit("status", records=counts, activity=self.activity)
            wake = min(next_trickle, next_status, end if end is not None else next_status)
            time.sleep(max(0.05, min(1.0, wake - time.monotonic())))

    def run_tui(self) -> int:
        stop = threading.Event()
        thread = threading.Thread(target=self._trickle_thread, args=(stop,), daemon=True)
        thread.start()
        self.in_tui = True
        try:
            return open_tui(
                self.personal[0].socket,
                title=f"Cercle demo — {self.names[0]}",
                otherwise="run `cercle demo --headless` instead",
            )
        finally:
            self.in_tui = False
            stop.set()
            thread.join(timeout=15)

    def run(self) -> int:
        o = self.opts
        self.start()
        deadline = time.monotonic() + o.timeout
        self.seed_personal(deadline)
        counts = self.wait_synced(deadline)
        self.say(f"network seeded and in sync: {self._counts_text(counts)}")
        self.emit("synced", records=counts)
        if o.until_synced:
            return 0
        if o.headless:
            self.run_headless()
            return 0
        return self.run_tui()

    def stop_network(self) -> None:
        """Stop every child and remove every temporary directory (idempotent)."""
        stop_children(self.children)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def close(self) -> None:
        self.stop_network()
        self.emit("stopped", pids=[c.proc.pid for c in self.children])
        self.say("stopped every node and removed the temporary directories")
