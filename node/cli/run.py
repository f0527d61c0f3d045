"""``cercle node`` and ``cercle relay``: run a node in the foreground.

Logs go to ``logs/node.log`` in the data directory and to stderr.  SIGINT and
SIGTERM cancel the node's nursery: the writer finishes the batch it is
committing (LMDB commits are atomic), the store is closed, the socket removed.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import signal
import sys
from typing import Any

import trio

from cercle.node.cli.output import err
from cercle.node.cli.parse import hex_id
from cercle.node.files.config import Config, ConfigError, check_config, load_config
from cercle.node.files.datadir import DataDir
from cercle.node.files.keystore import load_identity
from cercle.node.metrics import start_metrics
from cercle.node.serve import Node
from cercle.protocol.identity import Identity, KeystoreError
from cercle.storage import StoreError

log = logging.getLogger("cercle")


def setup_logging(datadir: DataDir, verbose: bool) -> None:
    datadir.logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = logging.handlers.RotatingFileHandler(
        datadir.logs / "node.log", maxBytes=5 * 1024 * 1024, backupCount=3
    )
    file_handler.setFormatter(fmt)
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    err.setLevel(logging.DEBUG if verbose else logging.INFO)
    root = logging.getLogger()
    root.handlers[:] = [file_handler, err]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("libp2p", "multiaddr", "async_service"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def run_node(node: Node) -> None:
    """Run until SIGINT/SIGTERM; then shut down cleanly."""
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            await nursery.start(node.serve)
            assert node.net is not None
            print(f"cercle: node {node.net.peer_id} running", file=sys.stderr)
            for addr in node.net.listen_addrs:
                print(f"cercle: listening on {addr}", file=sys.stderr)
            async for sig in signals:
                log.info("signal %s: shutting down", signal.Signals(sig).name)
                nursery.cancel_scope.cancel()
                break


def _config(args: argparse.Namespace, datadir: DataDir) -> Config:
    cfg = load_config(datadir.config)
    flags = cfg.with_overrides(
        listen=tuple(args.listen) if args.listen else None,
        bootstrap=tuple(cfg.bootstrap) + tuple(args.bootstrap or ()) if args.bootstrap else None,
        mdns=True if getattr(args, "mdns", False) else None,
        relays=tuple(cfg.relays) + tuple(args.relay) if getattr(args, "relay", None) else None,
        metrics=getattr(args, "metrics", None),
        relay_communities=tuple(args.community) if getattr(args, "community", None) else None,
    )
    return check_config(flags, "the command line")


def _start(args: argparse.Namespace, datadir: DataDir, *, relay: bool) -> int:
    datadir.ensure()
    try:
        cfg = _config(args, datadir)
    except ConfigError as exc:
        err(str(exc))
        return 1
    identity: Identity | None = None
    if not relay:
        if not datadir.identity.exists():
            err(
                "no identity in this data directory; create one with "
                "`cercle id new` (or run `cercle relay` for a relay without an author)"
            )
            return 1
        identity = load_identity(datadir.identity)
    setup_logging(datadir, args.verbose)
    node = Node(datadir, cfg, identity, relay=relay)
    try:
        if relay and cfg.metrics:
            start_metrics(node, cfg.metrics)
        trio.run(run_node, node)
    except StoreError as exc:
        err(str(exc))
        return 1
    except KeyboardInterrupt:
        pass
    print("cercle: node stopped", file=sys.stderr)
    return 0


def _node(args: argparse.Namespace, datadir: DataDir) -> int:
    try:
        return _start(args, datadir, relay=False)
    except KeystoreError as exc:
        err(str(exc))
        return 1


def _relay(args: argparse.Namespace, datadir: DataDir) -> int:
    return _start(args, datadir, relay=True)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", action="append", metavar="MULTIADDR", help="listen address")
    p.add_argument("--bootstrap", action="append", metavar="MULTIADDR", help="peer to dial")
    p.add_argument("--mdns", action="store_true", help="discover peers on the local network")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("node", help="run your personal node in the foreground")
    _common(p)
    p.add_argument(
        "--relay", action="append", metavar="MULTIADDR", help="reserve a circuit on this relay"
    )
    p.set_defaults(func=_node)
    r = subparsers.add_parser("relay", help="run a community relay (no author key needed)")
    _common(r)
    r.add_argument(
        "--community", action="append", metavar="ID", type=hex_id, help="host only these"
    )
    r.add_argument("--metrics", metavar="HOST:PORT", help="Prometheus metrics endpoint")
    r.set_defaults(func=_relay)
