"""A real node in a background thread for the TUI tests, and helpers to seed it.

The TUI runs on asyncio in the test's thread; the node runs on trio in its own
thread (``trio.run``), on a data directory under /tmp with a short name (Unix
socket paths are limited to ~104 bytes). :class:`NodeRunner` starts it, waits
for its API socket, and stops it by cancelling through the trio token; starting
a new runner on the same directory restarts "the same node".
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cercle.node.api.client import ApiClient
from cercle.protocol.identity import Identity
from tests.helpers import short_tmp_dir
from tests.nodethread import NodeThread

SEED = hashlib.sha256(b"tui-test-author").digest()
START_TIMEOUT_S = 30.0


class FixedClock:
    """A node/app clock (seconds) that moves only when told: deterministic record times."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float = 1.0) -> None:
        self.t += seconds


class NodeRunner(NodeThread):
    """``runner.start()`` -> socket path; ``runner.stop()``; ``runner.submit(records)``."""

    def __init__(
        self, root: Path, *, seed: bytes = SEED, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(root, Identity.from_seed(seed), clock=clock, timeout=START_TIMEOUT_S)
        self.root = root

    def call(self, method: str, **params: Any) -> Any:
        """One blocking API call (the CLI's client)."""
        with ApiClient(self.socket) as client:
            return client.call(method, **params)


@contextlib.contextmanager
def running_node(**kw: Any) -> Iterator[NodeRunner]:
    """A fresh real node on a new short /tmp directory; stopped and removed at the end."""
    root = short_tmp_dir()
    runner = NodeRunner(root / "d", **kw)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- seeding


def seed_community(
    runner: NodeRunner,
    name: str,
    criteria: Sequence[str] = ("taste", "price"),
    values: Sequence[str] = ("vegan",),
) -> str:
    created = runner.call(
        "communities.create",
        name=name,
        description=f"{name}: test community",
        values=list(values),
        criteria=list(criteria),
    )
    return str(created["id"])


def seed_product(
    runner: NodeRunner, community: str, gtin: str, name: str, scores: Sequence[int] | None = None
) -> None:
    runner.call("products.put", community=community, gtin=gtin, name=name, brand="Acme")
    if scores is not None:
        runner.call("ratings.put", community=community, gtin=gtin, scores=list(scores))
