"""Propagation benchmark: 20 node processes on loopback, 1 000 ratings, time to reach all.

Setup. N (20) ``cercle node`` processes, each with its own temporary data dir, an
unencrypted identity and a host key made here beforehand (so every peer id is known
before anything starts) and a fixed loopback port. Topology: a random connected
graph -- node i > 0 dials one random node j < i (a random spanning tree) plus
``--extra`` (1) more random nodes, all given as ``--bootstrap``; links are
bidirectional, so the mean degree is ~4 and the graph is connected by construction.
No relay: every record crosses 1..diameter hops of GossipSub.

Run. Node 0 creates a community (``communities.create``), every node waits for it and
joins it (``communities.join``), then a few probe ratings must reach every node (the
mesh is warm; probes are not measured). Then ``-n`` (1 000) ratings are published
with ``ratings.put``, round-robin over the nodes, at an aggregate ``--rate``
records/s (default 4/s: see below). Every node's API is subscribed to ``record``
events (one reader thread per node); each event is timestamped with this process's
monotonic clock on arrival. A record's latency = the time until the last of the N
nodes stored it - the time of its ``ratings.put`` call. Stops when every record is
everywhere or ``--timeout`` (120 s) after the last publish.

Why a few records/s in total and not 8/s per node: every node sends at most 8 data
messages per second per topic, *own publishes and forwards together* (node/net.py,
"Pacing"; py-libp2p drops the 11th message per second from one forwarder). Every
node forwards every record once, so a topic carries at most ~8 records/s whatever
the number of publishers, and at 8/s every node's forward queue runs at 100 %
(measured: delivery 1.000 but p50 66 s, p99 127 s: queueing). 4/s is 50 % of that
capacity. Above 8/s, forwards queue (64 per node), are then dropped, and sync
(on join/connect and every 60 s) repairs.

    python bench/propagation.py [--nodes 20] [-n 1000] [--rate 8] [--timeout 120]

Last line: ``delivery=X p50_ms=X p99_ms=X`` (delivery = (record, node) arrivals /
(records x nodes); percentiles over the records that reached every node).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from ingest import _gtin
from libp2p.peer.id import ID

from cercle.node.api.client import ApiClient
from cercle.node.files.datadir import DataDir
from cercle.node.files.hostkey import load_or_create_host_key
from cercle.node.files.keystore import create_identity
from cercle.protocol.localapi import Event

CLI = [sys.executable, "-m", "cercle.node.cli"]


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


class Reader(threading.Thread):
    """Reads ``record`` events of one node; first arrival time per record id."""

    def __init__(self, sock_path: Path) -> None:
        super().__init__(daemon=True)
        self.client = ApiClient(sock_path, timeout=30)
        self.arrivals: dict[str, float] = {}
        self.sources: dict[str, str] = {}
        self.overflows = 0
        self.stopping = False

    def subscribe(self) -> None:
        self.client.call("subscribe", events=["record"])
        for ev in self.client.events:
            self._on(ev, time.monotonic())
        self.client.events.clear()
        assert self.client._sock is not None
        self.client._sock.settimeout(0.5)

    def _on(self, ev: Event, now: float) -> None:
        if ev.event == "overflow":
            self.overflows += 1
        elif ev.event == "record" and isinstance(ev.data, dict):
            rid = ev.data.get("id")
            if isinstance(rid, str) and rid not in self.arrivals:
                self.arrivals[rid] = now
                self.sources[rid] = str(ev.data.get("source"))

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


def wait_for(pred: Any, timeout: float, what: str, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except Exception:
            pass
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("-n", type=int, default=1000, help="records to publish")
    ap.add_argument("--rate", type=float, default=4.0, help="aggregate records/s")
    ap.add_argument("--extra", type=int, default=1, help="extra random links per node")
    ap.add_argument("--timeout", type=float, default=120.0, help="after the last publish")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the data dirs (debug)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    n = args.nodes

    tmp = Path(tempfile.mkdtemp(prefix="cprop-"))
    procs: list[subprocess.Popen[bytes]] = []
    readers: list[Reader] = []
    callers: list[ApiClient] = []
    try:
        # -- data dirs, identities, host keys, ports, topology
        dirs = [DataDir(tmp / f"n{i:02d}").ensure() for i in range(n)]
        pids = []
        for i, d in enumerate(dirs):
            create_identity(
                d.identity, None, unencrypted=True, seed=hashlib.sha256(b"prop-%d" % i).digest()
            )
            pids.append(ID.from_pubkey(load_or_create_host_key(d.node_key).public_key).to_base58())
        ports = free_ports(n)
        addrs = [f"/ip4/127.0.0.1/tcp/{p}/p2p/{pid}" for p, pid in zip(ports, pids, strict=True)]
        dials = topology(n, args.extra, rng)
        neighbours = [set(d) for d in dials]
        for i, ds in enumerate(dials):
            for j in ds:
                neighbours[j].add(i)
        degrees = [len(x) for x in neighbours]
        print(
            f"topology: {n} nodes, {sum(degrees) // 2} links (random tree + {args.extra} "
            f"extra per node), degree min/mean/max {min(degrees)}/{sum(degrees) / n:.1f}/"
            f"{max(degrees)}"
        )

        # -- start every process at once; bootstrap retries until the peers are up
        t_start = time.monotonic()
        for i, d in enumerate(dirs):
            cmd = [*CLI, "--data-dir", str(d.root), "node"]
            cmd += ["--listen", f"/ip4/127.0.0.1/tcp/{ports[i]}"]
            for j in sorted(dials[i]):
                cmd += ["--bootstrap", addrs[j]]
            err = open(tmp / f"n{i:02d}.stderr", "wb")  # noqa: SIM115
            procs.append(
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
            )
        callers = [ApiClient(d.socket, timeout=60) for d in dirs]

        def all_up() -> bool:
            for i, p in enumerate(procs):
                if p.poll() is not None:
                    raise RuntimeError(
                        f"node {i} exited: {(tmp / f'n{i:02d}.stderr').read_text()[-2000:]}"
                    )
            return all(c.call("status")["peer_id"] for c in callers)

        wait_for(all_up, 120, "every node's API")
        wait_for(
            lambda: all(c.call("status")["peers"] >= degrees[i] for i, c in enumerate(callers)),
            120,
            "every designed link",
        )
        print(f"nodes up and linked in {time.monotonic() - t_start:.1f} s")

        readers = [Reader(d.socket) for d in dirs]
        for r in readers:
            r.subscribe()
            r.start()

        # -- one community, everybody joins
        comm = callers[0].call(
            "communities.create",
            name="Bench",
            description="propagation benchmark",
            values=["bench"],
            criteria=["taste", "price"],
        )["id"]
        wait_for(lambda: all(comm in r.arrivals for r in readers), 60, "the community record")
        for c in callers:
            c.call("communities.join", id=comm)
        topic = f"cercle/community/1/{comm}"
        wait_for(
            lambda: all(topic in c.call("status")["topics"] for c in callers), 30, "topics joined"
        )
        # Mesh warm-up: probe ratings from a few nodes must reach everyone.
        time.sleep(2.0)
        probes = []
        for k, i in enumerate(rng.sample(range(n), 3)):
            probes.append(
                callers[i].call(
                    "ratings.put", community=comm, gtin=_gtin(900_000 + k), scores=[3, 3]
                )["id"]
            )
            time.sleep(0.2)
        wait_for(lambda: all(p in r.arrivals for p in probes for r in readers), 60, "probe ratings")
        time.sleep(1.0)
        print(f"community joined and mesh warm at {time.monotonic() - t_start:.1f} s")

        # -- publish: record k from node k % n at t0 + k / rate (one thread per node)
        published: dict[str, float] = {}
        errors: list[str] = []
        lock = threading.Lock()
        t0 = time.monotonic() + 0.5

        def publisher(i: int) -> None:
            client = ApiClient(dirs[i].socket, timeout=60)
            try:
                for k in range(i, args.n, n):
                    delay = t0 + k / args.rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    t = time.monotonic()
                    try:
                        rid = client.call(
                            "ratings.put",
                            community=comm,
                            gtin=_gtin(k),
                            scores=[1 + k % 5, 1 + (k // 5) % 5],
                            text=f"bench rating {k}",
                        )["id"]
                    except Exception as exc:
                        with lock:
                            errors.append(f"node {i} record {k}: {exc!r}")
                        continue
                    with lock:
                        published[rid] = t
            finally:
                client.close()

        pubs = [threading.Thread(target=publisher, args=(i,), daemon=True) for i in range(n)]
        for p in pubs:
            p.start()
        for p in pubs:
            p.join()
        t_last = time.monotonic()
        print(
            f"published {len(published)} records in {t_last - t0:.1f} s "
            f"({len(published) / max(t_last - t0, 1e-9):.1f}/s), {len(errors)} errors"
        )
        for e in errors[:5]:
            print("  ", e)

        def everywhere() -> bool:
            return all(rid in r.arrivals for r in readers for rid in published)

        deadline = t_last + args.timeout
        while time.monotonic() < deadline and not everywhere():
            time.sleep(0.1)
        waited = time.monotonic() - t_last
        for r in readers:
            r.stopping = True

        # -- figures
        total = len(published) * n
        delivered = sum(1 for r in readers for rid in published if rid in r.arrivals)
        full, per_delivery = [], []
        sources: Counter[str] = Counter()
        for rid, t in published.items():
            times = [r.arrivals.get(rid) for r in readers]
            got = [x for x in times if x is not None]
            per_delivery += [(x - t) * 1000 for x in got]
            if len(got) == n:
                full.append((max(got) - t) * 1000)
        for r in readers:
            sources.update(r.sources[rid] for rid in published if rid in r.sources)
        statuses = [c.call("status") for c in callers]
        counters: Counter[str] = Counter()
        for st in statuses:
            counters.update(st.get("counters", {}))
        delivery = delivered / (args.n * n) if args.n else 0.0
        print(
            f"waited {waited:.1f} s after the last publish; records at all {n} nodes: "
            f"{len(full)}/{len(published)}; (record, node) deliveries: {delivered}/{total} "
            f"of {args.n * n} intended"
        )
        print(
            f"arrivals by source: {dict(sources)}; event overflows: "
            f"{sum(r.overflows for r in readers)}"
        )
        print(
            f"per-delivery latency ms: p50={pct(per_delivery, 0.5):.0f} "
            f"p99={pct(per_delivery, 0.99):.0f}; to all nodes: p50={pct(full, 0.5):.0f} "
            f"p99={pct(full, 0.99):.0f} max={pct(full, 1.0):.0f}"
        )
        keys = sorted(k for k in counters if not k.startswith("ingest.stored"))
        print("summed node counters: " + ", ".join(f"{k}={counters[k]}" for k in keys))
        print(f"delivery={delivery:.3f} p50_ms={pct(full, 0.5):.0f} p99_ms={pct(full, 0.99):.0f}")
        sys.stdout.flush()
    finally:
        for r in readers:
            r.stopping = True
            r.client.close()
        for c in callers:
            c.close()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
