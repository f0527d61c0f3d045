"""What many tests need: the one polling helper, loopback nodes, short directories.

Tests wait on conditions, never on fixed sleeps (CI machines are shared and slow):
:func:`until` re-checks a predicate every 20 ms and fails, naming what it waited
for, after a timeout. Under trio the wait is a ``trio.fail_after``; the TUI tests
run on asyncio and pass Textual's ``pilot.pause`` instead.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from cercle.node.files.config import Config
from cercle.node.files.datadir import DataDir
from cercle.node.serve import Node
from cercle.protocol.identity import Identity

LOOPBACK = ("/ip4/127.0.0.1/tcp/0",)
POLL_S = 0.02


async def until(
    pred: Callable[[], Any],
    what: str = "the condition",
    *,
    timeout: float = 30.0,
    pause: Callable[[float], Awaitable[Any]] | None = None,
) -> None:
    """Wait until ``pred()`` is true, or fail with "timed out … waiting for ``what``"."""
    if pause is None:
        try:
            with trio.fail_after(timeout):
                while not pred():
                    await trio.sleep(POLL_S)
        except trio.TooSlowError:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from None
        return
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pause(POLL_S)


def short_tmp_dir(prefix: str = "ct") -> Path:
    """A new directory right under /tmp: Unix socket paths are limited to ~104 bytes."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


# --------------------------------------------------------------------------- real nodes


def make_node(
    tmp: Path, name: str, *, relay: bool = False, learn: bool = False, version: int = 2
) -> Node:
    """A node on loopback, its author derived from ``name`` (none for a relay), no API.

    ``version`` is the network version it speaks (1: single records only, as before).
    """
    ident = None if relay else Identity.from_seed(hashlib.sha256(name.encode()).digest())
    cfg = Config(
        listen=LOOPBACK, sync_interval_s=3600, api=False, learn_peers=learn, network_version=version
    )
    return Node(DataDir(tmp / name), cfg, ident, relay=relay)


@asynccontextmanager
async def running(*nodes: Node) -> AsyncIterator[trio.Nursery]:
    """Serve every node until the block ends."""
    async with trio.open_nursery() as nursery:
        for node in nodes:
            await nursery.start(node.serve)
        yield nursery
        nursery.cancel_scope.cancel()


async def link(a: Node, b: Node) -> None:
    """Connect ``a`` to ``b`` and wait until ``a`` counts ``b`` among its peers."""
    assert a.net is not None and b.net is not None
    net_a, net_b = a.net, b.net
    await net_a.connect(net_b.listen_addrs[0])
    await until(lambda: any(p.peer_id == net_b.peer_id for p in net_a.peers()), "a link")
