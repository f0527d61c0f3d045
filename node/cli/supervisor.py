"""Starting, watching and stopping the node processes that Cercle itself starts.

Why one module: ``cercle`` alone starts the user's node in the background,
``cercle demo`` starts a relay and several personal nodes, and the benchmarks
start nodes the way ``cercle`` does. Each needs the same few things done the
same way, and a slip in any of them is a leaked process, a password on a
command line, or an error that says nothing useful:

* the command: ``python -m cercle.node.cli --data-dir D <command>``
  (:func:`node_argv`), in its own session, so that the terminal's Ctrl+C
  reaches only the parent, which decides what to stop and in which order;
* the environment (:func:`child_env`): the parent's, without CERCLE_DATA_DIR
  (``--data-dir`` says which directory) and without CERCLE_PASSWORD unless the
  caller passes a password, which then goes there and never on the command
  line, where every user of the machine could read it;
* the output: appended to ``D/logs/console.log`` (:func:`console_log`), which
  has everything the node logs and, unlike ``node.log``, its tracebacks too;
* up, starting or dead (:func:`wait_ready`): up once the local API answers
  ``status``; dead once the process has exited; given up at a deadline. Every
  error names the child and its log (:class:`ChildError`);
* stopping (:func:`stop_children`): SIGTERM to all at once, a grace period for
  them to close their stores, SIGKILL for what is left, every process reaped.

What differs is the caller's choice of lifetime. By default a child outlives
its parent (the launcher's background node keeps running after the TUI exits).
With ``die_with_parent=True`` (the demo's nodes) it asks Linux, before exec, for
SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), so a demo killed with
SIGKILL leaves no node behind. The signal follows the *thread* that spawned
the child, so spawn such children from a thread that lives as long as they
should (the demo spawns from its main thread). Other systems have no such
call; there only :func:`stop_children` stops them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cercle.node.api.client import ApiClient, NodeNotRunning
from cercle.node.files.datadir import DATA_DIR_ENV, DataDir
from cercle.node.files.keystore import PASSWORD_ENV
from cercle.protocol.localapi import ApiError

START_TIMEOUT_S = 60.0  # a node opens its store, its host and its API socket well within this
STOP_GRACE_S = 10.0  # between SIGTERM and SIGKILL: time to finish the batch being committed
POLL_S = 0.1
PROBE_TIMEOUT_S = 2.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


# What a call to a node's API raises when the node is not (or no longer) there to answer.
CALL_ERRORS: tuple[type[Exception], ...] = (NodeNotRunning, ApiError, OSError)


class ChildError(Exception):
    """A child exited or did not come up; the message names it and says where its log is."""


def console_log(datadir: DataDir) -> Path:
    """Where a child's stdout and stderr go (appended: earlier runs stay readable)."""
    return datadir.logs / "console.log"


def node_argv(datadir: DataDir, command: Sequence[str]) -> list[str]:
    """``python -m cercle.node.cli --data-dir D <command>``, with this interpreter."""
    return [sys.executable, "-m", "cercle.node.cli", "--data-dir", str(datadir.root), *command]


def child_env(password: str | None = None) -> dict[str, str]:
    """This process's environment for a child; the password, if any, only in CERCLE_PASSWORD."""
    env = {k: v for k, v in os.environ.items() if k not in (PASSWORD_ENV, DATA_DIR_ENV)}
    if password is not None:
        env[PASSWORD_ENV] = password
    env["PYTHONUNBUFFERED"] = "1"  # the console log is current when someone reads it
    return env


def probe(socket_path: Path, timeout: float = PROBE_TIMEOUT_S) -> Any | None:
    """The node's answer to ``status`` on ``socket_path``, or None if nothing answers (yet)."""
    try:
        with ApiClient(socket_path, timeout=timeout) as client:
            return client.call("status")
    except CALL_ERRORS:
        return None


@dataclass(frozen=True)
class Child:
    """A process this one started for a data directory, and the name errors call it by."""

    name: str
    datadir: DataDir
    proc: subprocess.Popen[bytes]

    @property
    def log(self) -> Path:
        return console_log(self.datadir)

    @property
    def socket(self) -> Path:
        return self.datadir.socket

    def call(self, method: str, *, timeout: float = 10.0, **params: Any) -> Any:
        """One call to the child's local API (raises NodeNotRunning, ApiError)."""
        with ApiClient(self.socket, timeout=timeout) as client:
            return client.call(method, **params)


def spawn(
    name: str,
    datadir: DataDir,
    argv: Sequence[str],
    *,
    password: str | None = None,
    die_with_parent: bool = False,
) -> Child:
    """Start ``argv`` (usually :func:`node_argv`) in its own session, output to its log."""
    datadir.logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(console_log(datadir), "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(password),
            start_new_session=True,
            close_fds=True,
            preexec_fn=_death_signal() if die_with_parent else None,
        )
    return Child(name, datadir, proc)


def _death_signal() -> Callable[[], None] | None:
    """For the child, before exec: on Linux, SIGTERM when the spawning thread dies.

    libc is looked up here, in the parent: the child runs only the prctl call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _exit_text(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"status {code}"


def check_running(children: Iterable[Child], when: str = "unexpectedly") -> None:
    """Raise :class:`ChildError` for the first child that has exited."""
    for c in children:
        code = c.proc.poll()
        if code is not None:
            raise ChildError(f"{c.name} exited {when} ({_exit_text(code)}); see {c.log}")


def wait_ready(children: Sequence[Child], timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
    """Wait until each child's API answers ``status``; return the answers by child name.

    A child that exits first raises :class:`ChildError` at once. At the deadline the
    children that have not answered are stopped (none is left half-started), then
    :class:`ChildError` is raised.
    """
    deadline = time.monotonic() + timeout
    pending = list(children)
    statuses: dict[str, Any] = {}
    while True:
        check_running(pending, "while starting")
        for c in list(pending):
            status = probe(c.socket)
            if status is not None:
                statuses[c.name] = status
                pending.remove(c)
        if not pending:
            return statuses
        if time.monotonic() > deadline:
            stop_children(pending)
            names = ", ".join(c.name for c in pending)
            logs = ", ".join(str(c.log) for c in pending)
            stopped = "it was" if len(pending) == 1 else "they were"
            raise ChildError(
                f"{names} did not answer within {timeout:g} s, so {stopped} stopped; see {logs}"
            )
        time.sleep(POLL_S)


def stop_children(children: Iterable[Child], grace: float = STOP_GRACE_S) -> None:
    """SIGTERM all, wait up to ``grace`` seconds, SIGKILL what is left, reap everything.

    Idempotent: children already stopped (and reaped) are skipped.
    """
    children = list(children)
    for c in children:
        if c.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                c.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for c in children:
        try:
            c.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                c.proc.kill()
            c.proc.wait()
