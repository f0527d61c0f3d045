"""``cercle demo``: its command line, and the signals that stop it.

Why apart from the scenario: what the user can ask for (flags, checked here so
that a typo is a usage error before anything starts) and how the demo ends
(Ctrl+C, SIGTERM, or the terminal closing: each stops the network and removes
its directories, and a second signal during the clean-up cannot cut it short)
are the command's business; :class:`~.scenario.Demo` just runs the network it
is given options for.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from cercle.node.cli.supervisor import ChildError
from cercle.node.demo.sample import CROWD
from cercle.node.demo.scenario import (
    DEFAULT_NODES,
    DEFAULT_SEED,
    DEFAULT_TIMEOUT_S,
    Demo,
    DemoError,
    Options,
)
from cercle.node.demo.vocabulary import PERSONAL_NAMES
from cercle.node.files.datadir import DataDir


class Stop(BaseException):
    """A signal asked the demo to stop.

    A BaseException, like KeyboardInterrupt, so that an event loop running
    callbacks (the TUI's) lets it through instead of logging it and going on.
    """


# Ctrl+C, kill, and the terminal closing: all stop the network and clean up.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@contextlib.contextmanager
def _signals_raise_stop(demo: Demo) -> Iterator[None]:
    """SIGTERM, SIGINT and SIGHUP become :class:`Stop`, raised where the main thread is.

    While the TUI runs, an exception would land inside its event loop, which need
    not let it through: the network is stopped and the directories removed right
    here, and the TUI, which hears these signals first (``exit_on_signals``), exits
    on its own.
    """

    def handler(signum: int, frame: object) -> None:
        if demo.in_tui:
            demo.stop_network()  # no output: the TUI owns the terminal, if any is left
            return
        raise Stop(signal.Signals(signum).name)

    old = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def run_demo(opts: Options, out: TextIO = sys.stdout) -> int:
    """Run the demo until it is done or stopped; always stop the network and clean up."""
    demo = Demo(opts, out)
    code = 1
    with _signals_raise_stop(demo):
        try:
            code = demo.run()
        except Stop as exc:
            demo.say(f"{exc}: stopping")
            code = 0
        except (DemoError, ChildError) as exc:
            print(f"cercle: error: {exc}", file=sys.stderr)
            code = 1
        finally:
            # A second Ctrl+C during the clean-up must not leave children behind.
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
            demo.close()
    return code


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value

    return parse


def _demo(args: argparse.Namespace, datadir: DataDir) -> int:
    if not 1 <= args.nodes <= len(PERSONAL_NAMES):
        print(f"cercle: error: --nodes must be 1..{len(PERSONAL_NAMES)}", file=sys.stderr)
        return 2
    opts = Options(
        nodes=args.nodes,
        seed=args.seed,
        headless=args.headless or args.until_synced,
        duration=args.duration,
        until_synced=args.until_synced,
        timeout=args.timeout,
        json=args.json,
        crowd=args.crowd,
    )
    return run_demo(opts)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run a small seeded demo network on this machine (loopback only)",
        description="Start a relay and several personal nodes on 127.0.0.1, each in a "
        "temporary directory, seed them with sample communities, products, ratings and "
        "petitions, keep some activity going and open the TUI on one of them. Ctrl+C stops "
        "everything and removes the temporary directories.",
    )
    p.add_argument("--headless", action="store_true", help="no TUI: print status lines")
    p.add_argument(
        "--nodes",
        type=int,
        default=DEFAULT_NODES,
        metavar="N",
        help=f"personal nodes (default {DEFAULT_NODES})",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        metavar="S",
        help=f"seed of the sample data (default {DEFAULT_SEED})",
    )
    p.add_argument(
        "--duration",
        type=_positive(float),
        metavar="SECONDS",
        help="with --headless: stop after this long",
    )
    p.add_argument(
        "--until-synced",
        action="store_true",
        help="stop as soon as every node holds every seeded record (implies --headless)",
    )
    p.add_argument(
        "--timeout",
        type=_positive(float),
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"how long records may take to reach every node (default {DEFAULT_TIMEOUT_S:g})",
    )
    p.add_argument(
        "--crowd",
        type=_positive(int),
        default=CROWD,
        metavar="N",
        help=f"authors whose records are pre-seeded (default {CROWD})",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output (JSON lines)")
    p.set_defaults(func=_demo)
