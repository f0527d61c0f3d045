"""Propagation benchmark: 20 node processes on loopback, 1 000 ratings, time to reach all.

Setup. N (20) ``cercle node`` processes, each with its own temporary data dir, an
unencrypted identity and a host key made here beforehand (so every peer id is known
before anything starts) and a fixed loopback port. Topology: a random connected
graph -- node i > 0 dials one random node j < i (a random spanning tree) plus
``--extra`` (1) more random nodes, all given as ``--bootstrap``; links are
bidirectional, so the mean degree is ~4 and the graph is connected by construction.
No relay: every record crosses 1..diameter hops of GossipSub.

Run (rate mode, the default). Node 0 creates a community (``communities.create``),
every node waits for it and joins it (``communities.join``), then a few probe
ratings must reach every node (the mesh is warm; probes are not measured). Then
``-n`` (1 000) ratings are published with ``ratings.put``, round-robin over the
nodes, at an aggregate ``--rate`` records/s (default 4/s: see below): record k is
due at t0 + k / rate from node k mod N. Every node's API is subscribed to
``record`` events (one reader thread per node); each event is timestamped with this
process's monotonic clock on arrival. A record's latency = the time until the last
of the N nodes stored it - the time of its ``ratings.put`` call. Stops when every
record is everywhere or ``--timeout`` (120 s) after the last publish.

Lost events. A node's event buffer (256 per subscriber) overflows whenever it
stores a bigger batch at once (a sync session's records), and the events past
it are lost. After each overflow marker the benchmark reads that node's
community feed and notes every record it holds but had no event for, at the
time the page came back: like an event's arrival, an upper bound of the time the
node stored it (shown as source ``?``). Without this, a fast run undercounts
delivery (measured: 0.548 by events where 6 of 10 stores held everything). The
stores' record counts are checked at the end, with no events at all.

Burst mode (``--burst 5000 --burst-s 10``): the records are petition signatures,
due evenly over ``--burst-s`` seconds from all nodes, and the figure is the drain:
from the moment the last ``petitions.sign`` call returned (its record stored by
its node and handed to gossip) until every node holds every record.

Why many petitions and not one. A node has one author, and one signature per
(author, petition) counts, so one petition can collect only N signatures. The
local API signs only with the node's own key and has no way to submit a
stranger's record, and adding one (a test-only path into the writer) would be a
product change that skips the path we want to measure. So the benchmark creates
ceil(burst / N) petitions first (node p mod N creates petition p, at
``--setup-rate`` so the topic is not flooded, and every node must hold them all
before the burst starts), then record k is node k mod N signing petition
k div N. Every signature is then what a user's ``cercle petition sign`` makes:
mined, stored and published by its own node, carried to the others by gossip
(and sync), and validated by each of them. For propagation only the topic, the
size and the count of the records matter, all the same as for 5 000 signatures
of one petition; what differs is only which petition each tally grows.

The publishing is spread so this process is not the bottleneck: each node gets
``--conns`` API connections, each in its own thread, taking the node's due records
in order; a call starts at its due time or, if all connections are busy, late.
How late (the schedule lag: call start - due time) is printed, as is how long the
calls took: at 200 records/s a lag that grows means the figures measure this
process or the nodes' APIs, not the network.

Why a few records/s in total and not 8/s per node: every node sends at most 8 data
messages per second per topic, *own publishes and forwards together* (node/net.py,
"Pacing"; py-libp2p drops the 11th message per second from one forwarder). Every
node forwards every record once, so a topic carries at most ~8 records/s whatever
the number of publishers, and at 8/s every node's forward queue runs at 100 %
(measured: delivery 1.000 but p50 66 s, p99 127 s: queueing). 4/s is 50 % of that
capacity. Above 8/s, forwards queue (64 per node), are then dropped, and sync
(on join/connect and every 60 s) repairs. The acceptance runs (issue #12) ask for
far more than that today:

    python bench/propagation.py [--nodes 20] [-n 1000] [--rate 4] [--timeout 120]
    python bench/propagation.py --nodes 10 --rate 200 -n 4000
    python bench/propagation.py --nodes 20 --burst 5000 --burst-s 10

Last line, rate mode: ``delivery=X p50_ms=X p99_ms=X`` (delivery = (record, node)
arrivals / (records x nodes); percentiles over the records that reached every
node, of the time to reach the last node). Burst mode: ``delivery=X drain_ms=X``
(``inf`` if some node still lacked some record at ``--timeout``).

Every node process is stopped when the benchmark ends, fails, or is stopped by
SIGTERM, SIGINT or SIGHUP (bench/children.py), and the data dirs are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import queue
import random
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import children
from ingest import _gtin
from libp2p.peer.id import ID

from cercle.node.api.client import ApiClient
from cercle.node.cli.supervisor import CALL_ERRORS, Child
from cercle.node.files.datadir import DataDir
from cercle.node.files.hostkey import load_or_create_host_key
from cercle.node.files.keystore import create_identity
from cercle.protocol.localapi import Event

DAY_MS = 86_400_000
NOT_YET: tuple[type[Exception], ...] = (*CALL_ERRORS, KeyError)  # not answering yet


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def topology(n: int, extra: int, rng: random.Random) -> list[set[int]]:
    """Whom each node dials: a random spanning tree plus ``extra`` random links."""
    dials: list[set[int]] = [set() for _ in range(n)]
    for i in range(1, n):
        dials[i].add(rng.randrange(i))
        others = [j for j in range(n) if j != i and j not in dials[i]]
        dials[i].update(rng.sample(others, min(extra, len(others))))
    return dials


LOST = "?"  # the source of an arrival known only from a feed rescan (its event was lost)


class Reader(threading.Thread):
    """Reads ``record`` events of one node; first arrival time per record id.

    The node's event buffer (256 per subscriber) overflows whenever it stores a
    bigger batch at once -- a sync session's records, say -- and the events past it
    are lost, whatever the speed of this reader. After an overflow marker,
    :meth:`rescan` (in :class:`Rescanner`'s thread) reads the community's feed and
    notes every record not seen yet at the time the page came back. Both times are
    upper bounds of when the node stored a record (a record is stored before its
    event is sent and before a feed page lists it); the earlier is kept.
    """

    def __init__(self, sock_path: Path) -> None:
        super().__init__(daemon=True)
        self.sock_path = sock_path
        self.client = ApiClient(sock_path, timeout=30)
        self.arrivals: dict[str, float] = {}
        self.sources: dict[str, str] = {}
        self.overflows = 0
        self.overflowed = threading.Event()
        self.recovered = 0  # arrivals first known from a rescan
        self.lock = threading.Lock()
        self.stopping = False

    def subscribe(self) -> None:
        self.client.call("subscribe", events=["record"])
        for ev in self.client.events:
            self._on(ev, time.monotonic())
        self.client.events.clear()
        assert self.client._sock is not None
        self.client._sock.settimeout(0.5)

    def _seen(self, rid: str, now: float, source: str) -> None:
        with self.lock:
            old = self.arrivals.get(rid)
            if old is None or now < old:
                self.arrivals[rid] = now
                if old is None and source == LOST:
                    self.recovered += 1
            if source != LOST or rid not in self.sources:
                self.sources[rid] = source

    def _on(self, ev: Event, now: float) -> None:
        if ev.event == "overflow":
            self.overflows += 1
            self.overflowed.set()
        elif ev.event == "record" and isinstance(ev.data, dict):
            rid = ev.data.get("id")
            if isinstance(rid, str):
                self._seen(rid, now, str(ev.data.get("source")))

    def run(self) -> None:
        sock, conn = self.client._sock, self.client._conn
        assert sock is not None
        while not self.stopping:
            msg = conn.next_message()
            if msg is None:
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                now = time.monotonic()
                conn.receive_data(data)
                while (m := conn.next_message()) is not None:
                    if isinstance(m, Event):
                        self._on(m, now)
            elif isinstance(msg, Event):
                self._on(msg, time.monotonic())

    def rescan(self, client: ApiClient, community: str) -> None:
        """Note every record of the community's feed not seen yet (one pass, all pages)."""
        cursor = None
        while True:
            page = client.call(
                "feed", community=community, limit=500, unvetted=True,
                **({"cursor": cursor} if cursor else {}),
            )  # fmt: skip
            now = time.monotonic()
            for item in page["items"]:
                self._seen(item["id"], now, LOST)
            cursor = page.get("cursor")
            if not cursor:
                return


class Rescanner(threading.Thread):
    """Rescans a reader's node after each overflow of its events (see :class:`Reader`)."""

    def __init__(self, reader: Reader, community: str) -> None:
        super().__init__(daemon=True)
        self.reader, self.community = reader, community
        self.passes = 0

    def run(self) -> None:
        r = self.reader
        client = ApiClient(r.sock_path, timeout=60)
        try:
            while not r.stopping:
                if not r.overflowed.wait(0.5):
                    continue
                r.overflowed.clear()
                try:
                    r.rescan(client, self.community)
                    self.passes += 1
                except CALL_ERRORS:
                    client.close()  # out of step after an error: start afresh
                    client = ApiClient(r.sock_path, timeout=60)
                    r.overflowed.set()  # try again
                    time.sleep(0.5)
        finally:
            client.close()


def wait_for(pred: Callable[[], bool], timeout: float, what: str, step: float = 0.2) -> None:
    """Poll ``pred`` (a node not answering yet counts as False) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except NOT_YET:
            pass
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


# ---------------------------------------------------------------- publishing on a schedule


@dataclass
class Job:
    """One API call that creates a record, due at ``due`` (monotonic) on node ``node``."""

    k: int
    node: int
    due: float
    method: str
    params: dict[str, Any]
    start: float = 0.0
    end: float = 0.0
    rid: str | None = None
    error: str | None = None


@dataclass
class Schedule:
    """The jobs of one phase, and what came of them."""

    jobs: list[Job] = field(default_factory=list)

    @property
    def done(self) -> list[Job]:
        return [j for j in self.jobs if j.rid is not None]

    @property
    def errors(self) -> list[Job]:
        return [j for j in self.jobs if j.error is not None]

    def behind(self) -> float:
        """How far behind its due time the latest call started (s)."""
        return max((j.start - j.due for j in self.done), default=0.0)

    def report(self, what: str) -> str:
        done = self.done
        if not done:
            return f"{what}: nothing published, {len(self.errors)} errors"
        t0 = min(j.due for j in self.jobs)
        span = max(j.end for j in done) - t0
        planned = max(j.due for j in self.jobs) - t0
        lags = [(j.start - j.due) * 1000 for j in done]
        calls = [(j.end - j.start) * 1000 for j in done]
        last = max(done, key=lambda j: j.due)
        return (
            f"{what}: {len(done)} published in {span:.1f} s (due over {planned:.1f} s: "
            f"{len(done) / max(span, 1e-9):.1f}/s), {len(self.errors)} errors; "
            f"behind schedule ms p50={pct(lags, 0.5):.0f} p99={pct(lags, 0.99):.0f} "
            f"max={max(lags):.0f} last={(last.start - last.due) * 1000:.0f}; "
            f"call ms p50={pct(calls, 0.5):.0f} p99={pct(calls, 0.99):.0f} max={max(calls):.0f}"
        )


def publish(
    jobs: Sequence[Job], sockets: Sequence[Path], conns: int, halt: threading.Event
) -> None:
    """Make every call at its due time: ``conns`` connections (threads) per node.

    Each node's jobs are taken in due order by whichever of its connections is
    free; a call that finds them all busy starts late, and its lag says so.
    """
    queues: list[queue.SimpleQueue[Job]] = [queue.SimpleQueue() for _ in sockets]
    for job in sorted(jobs, key=lambda j: j.due):
        queues[job.node].put(job)

    def worker(node: int) -> None:
        client = ApiClient(sockets[node], timeout=120)
        try:
            while not halt.is_set():
                try:
                    job = queues[node].get_nowait()
                except queue.Empty:
                    return
                delay = job.due - time.monotonic()
                if delay > 0 and halt.wait(delay):
                    return
                job.start = time.monotonic()
                try:
                    job.rid = client.call(job.method, **job.params)["id"]
                except Exception as exc:
                    job.error = f"node {node} record {job.k}: {exc!r}"
                    client.close()  # a timed-out call leaves the connection out of step
                    client = ApiClient(sockets[node], timeout=120)
                job.end = time.monotonic()
        finally:
            client.close()

    busy = {j.node for j in jobs}
    threads = [
        threading.Thread(target=worker, args=(i,), daemon=True)
        for i in sorted(busy)
        for _ in range(conns)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# ---------------------------------------------------------------- the network


class Network:
    """N started nodes: their children, API callers and record-event readers."""

    def __init__(self, run: children.Run, n: int, extra: int, rng: random.Random) -> None:
        self.run = run
        self.n = n
        self.dirs = [DataDir(run.tmp / f"n{i:02d}").ensure() for i in range(n)]
        pids = []
        for i, d in enumerate(self.dirs):
            seed = hashlib.sha256(b"prop-%d" % i).digest()
            create_identity(d.identity, None, unencrypted=True, seed=seed)
            pids.append(ID.from_pubkey(load_or_create_host_key(d.node_key).public_key).to_base58())
        self.ports = free_ports(n)
        self.addrs = [
            f"/ip4/127.0.0.1/tcp/{p}/p2p/{pid}" for p, pid in zip(self.ports, pids, strict=True)
        ]
        self.dials = topology(n, extra, rng)
        neighbours = [set(d) for d in self.dials]
        for i, ds in enumerate(self.dials):
            for j in ds:
                neighbours[j].add(i)
        self.degrees = [len(x) for x in neighbours]
        self.extra = extra
        self.nodes: list[Child] = []
        self.callers: list[ApiClient] = []
        self.readers: list[Reader] = []
        self.rescanners: list[Rescanner] = []

    @property
    def sockets(self) -> list[Path]:
        return [d.socket for d in self.dirs]

    def describe(self) -> str:
        d = self.degrees
        return (
            f"topology: {self.n} nodes, {sum(d) // 2} links (random tree + {self.extra} "
            f"extra per node), degree min/mean/max {min(d)}/{sum(d) / self.n:.1f}/{max(d)}"
        )

    def start(self) -> None:
        """Start every process at once (bootstrap retries until the peers are up)."""
        for i, d in enumerate(self.dirs):
            cmd = ["node", "--listen", f"/ip4/127.0.0.1/tcp/{self.ports[i]}"]
            for j in sorted(self.dials[i]):
                cmd += ["--bootstrap", self.addrs[j]]
            self.nodes.append(self.run.spawn(f"node {i}", d, cmd))
        self.callers = [ApiClient(s, timeout=60) for s in self.sockets]

        def all_up() -> bool:
            self.check_running()
            return all(c.call("status")["peer_id"] for c in self.callers)

        wait_for(all_up, 120, "every node's API")
        # A bootstrap dial that found its peer not yet listening backs off (1 s, doubling):
        # on a busy machine that can cost a minute. Dial the designed links now instead.
        for i, c in enumerate(self.callers):
            for j in sorted(self.dials[i]):
                with contextlib.suppress(*CALL_ERRORS):  # the wait below sees what is missing
                    c.call("peers.connect", addr=self.addrs[j])

        def linked() -> bool:
            self.check_running()
            return all(
                c.call("status")["peers"] >= self.degrees[i] for i, c in enumerate(self.callers)
            )

        wait_for(linked, 120, "every designed link")

    def check_running(self) -> None:
        for c in self.nodes:
            if c.proc.poll() is not None:
                raise RuntimeError(f"{c.name} exited: {self.run.log_tail(c)}")

    def subscribe(self) -> None:
        self.readers = [Reader(s) for s in self.sockets]
        for r in self.readers:
            r.subscribe()
            r.start()

    def watch_feeds(self, community: str) -> None:
        """From now on, rescan a node's feed whenever its events overflowed."""
        self.rescanners = [Rescanner(r, community) for r in self.readers]
        for t in self.rescanners:
            t.start()

    def final_rescan(self, community: str) -> None:
        """One last pass over the feed of every node whose events ever overflowed."""
        for r in self.readers:
            if r.overflows:
                with ApiClient(r.sock_path, timeout=60) as client:
                    r.rescan(client, community)

    def everywhere(self, ids: Sequence[str]) -> bool:
        return all(rid in r.arrivals for r in self.readers for rid in ids)

    def counts(self) -> list[int]:
        return [int(c.call("status")["records"]) for c in self.callers]

    def close(self) -> None:
        for r in self.readers:
            r.stopping = True
            r.client.close()
        for c in self.callers:
            c.close()


def setup_community(net: Network, rng: random.Random, t_start: float) -> str:
    """Node 0 creates the community, all join it, probe ratings warm the mesh."""
    callers, n = net.callers, net.n
    comm: str = callers[0].call(
        "communities.create",
        name="Bench",
        description="propagation benchmark",
        values=["bench"],
        criteria=["taste", "price"],
    )["id"]
    wait_for(lambda: net.everywhere([comm]), 60, "the community record")
    for c in callers:
        c.call("communities.join", id=comm)
    topic = f"cercle/community/1/{comm}"
    wait_for(lambda: all(topic in c.call("status")["topics"] for c in callers), 30, "topics joined")
    # Mesh warm-up: probe ratings from a few nodes must reach everyone.
    time.sleep(2.0)
    probes = []
    for k, i in enumerate(rng.sample(range(n), min(3, n))):
        probes.append(
            callers[i].call("ratings.put", community=comm, gtin=_gtin(900_000 + k), scores=[3, 3])[
                "id"
            ]
        )
        time.sleep(0.2)
    wait_for(lambda: net.everywhere(probes), 60, "probe ratings")
    time.sleep(1.0)
    print(f"community joined and mesh warm at {time.monotonic() - t_start:.1f} s", flush=True)
    return comm


def create_petitions(
    net: Network, comm: str, count: int, rate: float, conns: int, halt: threading.Event
) -> list[str]:
    """``count`` petitions, petition p by node p mod N at ``rate``/s; wait until all hold all."""
    t0 = time.monotonic() + 0.2
    deadline_ms = int(time.time() * 1000) + 30 * DAY_MS
    sched = Schedule(
        [
            Job(
                p,
                p % net.n,
                t0 + p / rate,
                "petitions.create",
                {
                    "community": comm,
                    "title": f"Bench petition {p}",
                    "text": f"Signed by every node of the propagation benchmark ({p}).",
                    "goal": net.n,
                    "deadline_ms": deadline_ms,
                },
            )
            for p in range(count)
        ]
    )
    publish(sched.jobs, net.sockets, conns, halt)
    print(sched.report("petitions"), flush=True)
    if sched.errors:
        raise RuntimeError(f"petitions not created: {sched.errors[0].error}")
    ids = [j.rid for j in sched.jobs if j.rid is not None]
    # Gossip carries ~8 records/s and sync (every 60 s) repairs what it drops.
    wait_for(lambda: net.everywhere(ids), 120 + 3 * count / rate, "every petition at every node")
    print(f"{count} petitions at every node after {time.monotonic() - t0:.1f} s", flush=True)
    return ids


def rating_jobs(comm: str, n_records: int, rate: float, nodes: int, t0: float) -> list[Job]:
    return [
        Job(
            k,
            k % nodes,
            t0 + k / rate,
            "ratings.put",
            {
                "community": comm,
                "gtin": _gtin(k),
                "scores": [1 + k % 5, 1 + (k // 5) % 5],
                "text": f"bench rating {k}",
            },
        )
        for k in range(n_records)
    ]


def signature_jobs(
    petitions: list[str], burst: int, burst_s: float, nodes: int, t0: float
) -> list[Job]:
    """Record k: node k mod N signs petition k div N (one signature per author and petition)."""
    return [
        Job(k, k % nodes, t0 + k * burst_s / burst, "petitions.sign", {"id": petitions[k // nodes]})
        for k in range(burst)
    ]


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("-n", type=int, default=1000, help="records to publish (rate mode)")
    ap.add_argument("--rate", type=float, default=4.0, help="aggregate records/s (rate mode)")
    ap.add_argument("--burst", type=int, default=0, help="burst mode: signatures to publish")
    ap.add_argument("--burst-s", type=float, default=10.0, help="burst mode: within seconds")
    ap.add_argument(
        "--setup-rate", type=float, default=6.0, help="burst mode: petitions created per s"
    )
    ap.add_argument(
        "--conns", type=int, default=0, help="API connections per node (0: enough for 0.5 s calls)"
    )
    ap.add_argument("--extra", type=int, default=1, help="extra random links per node")
    ap.add_argument("--timeout", type=float, default=120.0, help="after the last publish")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the data dirs (debug)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    n = args.nodes
    burst = args.burst > 0
    total = args.burst if burst else args.n
    per_node_rate = (args.burst / args.burst_s if burst else args.rate) / n
    conns = args.conns or max(2, math.ceil(per_node_rate / 2))

    with children.run("cprop-", keep=args.keep) as run:
        net = Network(run, n, args.extra, rng)
        halt = threading.Event()
        try:
            print(net.describe(), flush=True)
            t_start = time.monotonic()
            net.start()
            print(f"nodes up and linked in {time.monotonic() - t_start:.1f} s", flush=True)
            net.subscribe()
            comm = setup_community(net, rng, t_start)
            net.watch_feeds(comm)
            if burst:
                petitions = create_petitions(
                    net, comm, math.ceil(total / n), args.setup_rate, conns, halt
                )
            base = net.counts()

            # -- publish on schedule
            t0 = time.monotonic() + 0.5
            if burst:
                jobs = signature_jobs(petitions, total, args.burst_s, n, t0)
            else:
                jobs = rating_jobs(comm, total, args.rate, n, t0)
            sched = Schedule(jobs)
            print(
                f"publishing {total} records from {n} nodes, {conns} API connections each",
                flush=True,
            )
            publish(jobs, net.sockets, conns, halt)
            done = sched.done
            t_last = max((j.end for j in done), default=time.monotonic())
            print(sched.report("published"), flush=True)
            for j in sched.errors[:5]:
                print("  ", j.error)
            behind = sched.behind()
            if behind > 1.0:
                print(
                    f"WARNING: the calls fell up to {behind:.1f} s behind their schedule "
                    "(this process or the nodes' APIs could not keep up): the latencies "
                    "count from each call's start, the load was lower than asked",
                    flush=True,
                )
            published = {j.rid: j.start for j in done if j.rid is not None}

            # -- wait: every record at every node
            targets = [b + len(published) for b in base]
            deadline = t_last + args.timeout
            ids = list(published)
            while time.monotonic() < deadline and not net.everywhere(ids):
                time.sleep(0.1)
            waited = time.monotonic() - t_last
            for r in net.readers:
                r.stopping = True
            net.final_rescan(comm)
            counts = net.counts()  # a check that needs no event: the stores' record counts
            held = sum(1 for c, t in zip(counts, targets, strict=True) if c >= t)
            report(args, net, published, t_last, waited, held, burst)
        finally:
            halt.set()
            net.close()


def report(
    args: argparse.Namespace,
    net: Network,
    published: dict[str, float],
    t_last: float,
    waited: float,
    held: int,
    burst: bool,
) -> None:
    n, readers = net.n, net.readers
    intended = (args.burst if burst else args.n) * n
    delivered = sum(1 for r in readers for rid in published if rid in r.arrivals)
    full, per_delivery, last_arrival = [], [], []
    sources: Counter[str] = Counter()
    for rid, t in published.items():
        got = [x for x in (r.arrivals.get(rid) for r in readers) if x is not None]
        per_delivery += [(x - t) * 1000 for x in got]
        last_arrival += got
        if len(got) == n:
            full.append((max(got) - t) * 1000)
    for r in readers:
        sources.update(r.sources[rid] for rid in published if rid in r.sources)
    counters: Counter[str] = Counter()
    for c in net.callers:
        counters.update(c.call("status").get("counters", {}))
    overflows = sum(r.overflows for r in readers)
    delivery = delivered / intended if intended else 0.0
    print(
        f"waited {waited:.1f} s after the last publish; records at all {n} nodes: "
        f"{len(full)}/{len(published)}; (record, node) deliveries: {delivered}/"
        f"{len(published) * n} of {intended} intended"
    )
    recovered = sum(r.recovered for r in readers)
    print(
        f"arrivals by source: {dict(sources)} ({LOST}: known from a feed rescan after "
        f"{overflows} event overflows, {recovered} arrivals)"
    )
    print(
        f"per-delivery latency ms: p50={pct(per_delivery, 0.5):.0f} "
        f"p99={pct(per_delivery, 0.99):.0f}; to all nodes: p50={pct(full, 0.5):.0f} "
        f"p99={pct(full, 0.99):.0f} max={pct(full, 1.0):.0f}"
    )
    print(f"stores holding every record by their record count (no events): {held}/{n}")
    keys = sorted(k for k in counters if not k.startswith("ingest.stored"))
    print("summed node counters: " + ", ".join(f"{k}={counters[k]}" for k in keys))
    if burst:
        complete = delivered == len(published) * n and published
        drain = (max(last_arrival) - t_last) * 1000 if complete else math.inf
        print(f"delivery={delivery:.3f} drain_ms={drain:.0f}")
    else:
        print(f"delivery={delivery:.3f} p50_ms={pct(full, 0.5):.0f} p99_ms={pct(full, 0.99):.0f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
