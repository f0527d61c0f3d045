"""How a benchmark stops every process it starts, however it ends.

A benchmark that starts ``cercle node`` (or ``relay``) processes must leave none
behind when it finishes, fails, hits its own ``--timeout``, or is stopped by
SIGTERM (``timeout 60 python bench/propagation.py``), SIGINT (Ctrl+C) or SIGHUP.
:func:`run` gives ``main`` a :class:`Run` that does it in one place:

* nodes are started with the supervisor's :func:`~cercle.node.cli.supervisor.spawn`
  (each in its own session, so the terminal's Ctrl+C reaches only the benchmark,
  which stops them in order) with ``die_with_parent=True``: Linux sends each
  SIGTERM when the benchmark's main thread dies, even by SIGKILL, which no
  handler can see. Spawn from the main thread (the signal follows the thread);
* SIGTERM, SIGINT and SIGHUP raise :class:`Stopped` in the main thread, so the
  ``finally`` blocks run as for any exception: the nodes get SIGTERM, a grace
  period, then SIGKILL (:func:`~cercle.node.cli.supervisor.stop_children`);
  worker processes of a process pool (data-set generation) are terminated;
  the temporary directory is removed. A second signal during that clean-up is
  ignored, so it cannot cut it short;
* the benchmark then exits with status 128 + the signal's number, saying so.

A trio run inside the benchmark (:func:`trio_run`) hears the same signals through
``trio.open_signal_receiver``, cancels its tasks (an in-process node closes its
store) and raises :class:`Stopped` after it has returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import trio

from cercle.node.cli.supervisor import Child, node_argv, spawn, stop_children
from cercle.node.files.datadir import DataDir

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
T = TypeVar("T")

# While an event loop runs (trio_run, asyncio_run), signals that reach our handler
# -- before the loop has its own, or after it gave it back -- are noted here
# instead of raising inside the loop's machinery; the loop's caller raises.
_deferred: list[int] | None = None


class Stopped(BaseException):
    """A signal asked the benchmark to stop (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Run:
    """One benchmark run: its temporary directory and the processes it started."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.children: list[Child] = []

    def spawn(self, name: str, datadir: DataDir, command: Sequence[str]) -> Child:
        """Start ``cercle --data-dir D <command>``; it is stopped when the run ends."""
        child = spawn(name, datadir, node_argv(datadir, command), die_with_parent=True)
        self.children.append(child)
        return child

    def stop(self, children: Sequence[Child] | None = None) -> None:
        """Stop some (default: all) of the run's processes now; idempotent."""
        stop_children(self.children if children is None else children)

    def log_tail(self, child: Child, size: int = 2000) -> str:
        """The end of a child's console log (the directory is gone once the run ends)."""
        try:
            return child.log.read_text(errors="replace")[-size:]
        except OSError:
            return "(no log)"


def _stop_pool_workers() -> None:
    for p in multiprocessing.active_children():
        p.terminate()
    for p in multiprocessing.active_children():
        p.join(5)
        if p.is_alive():
            p.kill()


@contextlib.contextmanager
def _signals_raise_stopped() -> Iterator[None]:
    owner = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a forked pool worker inherited this handler: just die
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if _deferred is not None:  # an event loop is starting or ending: it will see it
            _deferred.append(signum)
            return
        _stop_pool_workers()  # a pool's shutdown would otherwise finish every queued job
        raise Stopped(signum)

    old = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


@contextlib.contextmanager
def run(prefix: str, keep: bool = False) -> Iterator[Run]:
    """A temporary directory and a :class:`Run`; everything stopped and removed on exit.

    Prints the directory first (tests watch it disappear). Exits with 128 + signum
    if a signal stopped the run.
    """
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))  # short: Unix socket paths
    r = Run(tmp)
    print(f"data in {tmp}", flush=True)
    stopped: Stopped | None = None
    with _signals_raise_stopped():
        try:
            yield r
        except Stopped as exc:
            stopped = exc
        finally:
            for sig in STOP_SIGNALS:  # a second signal must not cut the clean-up short
                signal.signal(sig, signal.SIG_IGN)
            try:
                r.stop()
                _stop_pool_workers()
            finally:
                if keep:
                    print(f"kept {tmp}", flush=True)
                else:
                    shutil.rmtree(tmp, ignore_errors=True)
    if stopped is not None:
        print(
            f"stopped by {stopped}: {len(r.children)} processes stopped, {tmp} removed",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(128 + stopped.signum)


@contextlib.contextmanager
def _loop_signals() -> Iterator[list[int]]:
    """The signals that arrive while an event loop runs; Stopped after it, if any did."""
    global _deferred
    got: list[int] = []
    _deferred = got
    try:
        yield got
    finally:
        _deferred = None
    if got:
        raise Stopped(got[0])


def trio_run(afn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``trio.run(afn, *args)``, cancelled by SIGTERM, SIGINT or SIGHUP (then :class:`Stopped`).

    Raising from a Python signal handler while trio runs could land inside trio's
    own code; here trio receives the signal, cancels ``afn`` cleanly, and the
    exception is raised once ``trio.run`` has returned. An exception of ``afn``
    comes out as itself, not in an exception group.
    """
    result: list[T] = []

    async def main(got: list[int]) -> None:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
                    if not got:  # none came before trio listened
                        async for signum in signals:
                            got.append(signum)
                            break
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            try:
                result.append(await afn(*args))
            finally:
                nursery.cancel_scope.cancel()

    with _loop_signals() as got:
        try:
            trio.run(main, got)
        except BaseExceptionGroup as group:
            if len(group.exceptions) != 1:
                raise
            raise group.exceptions[0] from None
    return result[0]


def asyncio_run(afn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``asyncio.run(afn(*args))``, cancelled by SIGTERM, SIGINT or SIGHUP (then :class:`Stopped`).

    As ``asyncio.run`` itself does for Ctrl+C: the signal cancels the main task
    rather than raising wherever the event loop happens to be.
    """
    result: list[T] = []
    old = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    async def main(got: list[int]) -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            got.append(signum)
            task.cancel()

        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
        if got:  # one came before the loop listened
            return
        try:
            result.append(await afn(*args))
        except asyncio.CancelledError:
            if not got:
                raise

    with _loop_signals() as got:
        try:
            asyncio.run(main(got))
        finally:
            for sig, h in old.items():  # the loop leaves SIG_DFL behind, not the handler it found
                signal.signal(sig, h)
    return result[0]
