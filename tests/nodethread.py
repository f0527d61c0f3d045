"""Run a node on trio in a background thread of a non-trio program.

The TUI (asyncio) tests and the TUI benchmark need a real node beside them in
one process: this owns the thread, its trio token and its cancel scope, so
the node can be started, fed records and stopped from the calling thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import trio

from cercle.node.files.config import Config
from cercle.node.files.datadir import DataDir
from cercle.node.serve import Node
from cercle.protocol import records as R
from cercle.protocol.identity import Identity

LOOPBACK = ("/ip4/127.0.0.1/tcp/0",)


class NodeThread:
    """``start()`` -> the API socket path; ``submit(records)``; ``stop()``."""

    def __init__(
        self,
        root: Path,
        identity: Identity | None,
        *,
        config: Config | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 60.0,
    ) -> None:
        self.datadir = DataDir(root)
        self.identity = identity
        self.config = config or Config(listen=LOOPBACK, sync_interval_s=3600)
        self.clock = clock
        self.timeout = timeout
        self.node: Node | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def socket(self) -> Path:
        return self.datadir.socket

    def start(self) -> Path:
        self._started.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="cercle-node", daemon=True)
        self._thread.start()
        if not self._started.wait(self.timeout):
            raise RuntimeError("the node did not start in time")
        if self._error is not None:
            raise RuntimeError("the node failed to start") from self._error
        deadline = time.monotonic() + self.timeout
        while not self.socket.exists():  # serve_api binds it before started(); be sure
            if time.monotonic() > deadline:
                raise RuntimeError("the node's socket did not appear")
            time.sleep(0.01)
        return self.socket

    def _run(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            node = Node(self.datadir, self.config, self.identity, clock=self.clock)
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
        self._thread.join(self.timeout)
        self._thread = None
        self._scope = self._token = None

    def submit(self, records: Sequence[R.Record], source: str = "sync") -> None:
        """Store records signed by other authors, as if they came by sync."""
        node = self.node
        assert node is not None and self._token is not None

        async def go() -> None:
            await node.submit(records=list(records), source=source)

        trio.from_thread.run(go, trio_token=self._token)
