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
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio

from cercle.node.client import ApiClient
from cercle.node.config import Config
from cercle.node.datadir import DataDir
from cercle.node.service import Node
from cercle.protocol import records as R
from cercle.protocol.identity import Identity

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


class NodeRunner:
    """``runner.start()`` -> socket path; ``runner.stop()``; ``runner.submit(records)``."""

    def __init__(
        self, root: Path, *, seed: bytes = SEED, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = root
        self.identity = Identity.from_seed(seed)
        self.clock = clock
        self.node: Node | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def socket(self) -> Path:
        return DataDir(self.root).socket

    def start(self) -> Path:
        self._started.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="cercle-test-node", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise RuntimeError("the test node did not start in time")
        if self._error is not None:
            raise RuntimeError("the test node failed to start") from self._error
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.socket.exists():  # serve_api has bound it before started(); be sure
            if time.monotonic() > deadline:
                raise RuntimeError("the test node's socket did not appear")
            time.sleep(0.01)
        return self.socket

    def _run(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            config = Config(listen=("/ip4/127.0.0.1/tcp/0",), sync_interval_s=3600)
            node = Node(DataDir(self.root), config, self.identity, clock=self.clock)
            with trio.CancelScope() as scope:
                self._scope = scope
                async with trio.open_nursery() as nursery:
                    await nursery.start(node.serve)
                    self.node = node
                    self._started.set()
                    await trio.sleep_forever()

        try:
            trio.run(main)
        except BaseException as e:  # reported by start()
            self._error = e
        finally:
            self.node = None
            self._started.set()

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._scope is not None and self._token is not None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
        self._thread.join(START_TIMEOUT_S)
        self._thread = None
        self._scope = self._token = None

    def submit(self, records: Sequence[R.Record]) -> None:
        """Store records signed by other authors, as if they came by sync."""
        node = self.node
        assert node is not None and self._token is not None

        async def go() -> None:
            await node.submit(records=list(records), source="sync")

        trio.from_thread.run(go, trio_token=self._token)

    def call(self, method: str, **params: Any) -> Any:
        """One blocking API call (the CLI's client)."""
        with ApiClient(self.socket) as client:
            return client.call(method, **params)


def short_tmp_dir(prefix: str = "ct") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


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


@pytest.fixture
def node_runner() -> Iterator[NodeRunner]:
    """A fresh real node, started; stopped and its data removed afterwards."""
    with running_node() as runner:
        yield runner


@pytest.fixture(scope="module")
def shared_node() -> Iterator[NodeRunner]:
    """One real node for a module's flow tests (each test makes its own community)."""
    with running_node() as runner:
        yield runner


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
