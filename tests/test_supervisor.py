"""The process supervisor, with tiny real children (``python -c ...``), not nodes.

A "fake node" answers the local API's ``status`` on its data directory's socket
with what it sees of its own environment, so one wait checks readiness, the
environment and the log at once. Every process a test starts is stopped by the
``started`` fixture, even when the test fails. No fixed sleeps: every wait is
for a condition under a deadline.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cercle.node.cli.supervisor import (
    Child,
    ChildError,
    console_log,
    spawn,
    stop_children,
    wait_ready,
)
from cercle.node.files.datadir import DataDir

FAKE_NODE = r"""
import os, socket, sys
from cercle.protocol.localapi import Connection, Role, encode_response

print("fake node on stdout", flush=True)
print("fake node on stderr", file=sys.stderr, flush=True)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
server.listen()
seen = {
    "records": 7,
    "password": os.environ.get("CERCLE_PASSWORD"),
    "data_dir": os.environ.get("CERCLE_DATA_DIR"),
    "argv": sys.argv,
}
while True:
    conn, _ = server.accept()
    with conn:
        api = Connection(Role.SERVER)
        while data := conn.recv(65536):
            api.receive_data(data)
            while (msg := api.next_message()) is not None:
                conn.sendall(encode_response(msg.id, seen))
"""
SLEEPER = "import threading; threading.Event().wait()"
STUBBORN = (
    "import signal, threading; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ignoring SIGTERM', flush=True); threading.Event().wait()"
)
# Spawns two sleepers through the supervisor, one of them with die_with_parent,
# prints their pids, then waits until it is killed.
PARENT = r"""
import sys
from pathlib import Path
from cercle.node.cli.supervisor import spawn
from cercle.node.files.datadir import DataDir

sleeper = [sys.executable, "-c", sys.argv[3]]
dies = spawn("dies", DataDir(Path(sys.argv[1])), sleeper, die_with_parent=True)
stays = spawn("stays", DataDir(Path(sys.argv[2])), sleeper)
print(dies.proc.pid, stays.proc.pid, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def started() -> Iterator[tuple[list[Child], list[int]]]:
    """(children to stop, pids of other processes to kill) when the test ends."""
    children: list[Child] = []
    others: list[int] = []
    yield children, others
    stop_children(children, grace=2.0)
    for pid in others:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _spawn(
    started: tuple[list[Child], list[int]], name: str, root: Path, *argv: str, **kw: object
) -> Child:
    child = spawn(name, DataDir(root / name), [sys.executable, *argv], **kw)  # type: ignore[arg-type]
    started[0].append(child)
    return child


def _until(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its new parent has not reaped yet."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def test_wait_ready_returns_each_status_and_children_get_a_clean_env(
    short_dir: Path, started: tuple[list[Child], list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERCLE_PASSWORD", "parent's")
    monkeypatch.setenv("CERCLE_DATA_DIR", "/elsewhere")
    log = console_log(DataDir(short_dir / "locked"))
    log.parent.mkdir(parents=True)
    log.write_text("an earlier run\n")

    def fake(name: str, **kw: object) -> Child:
        sock = short_dir / name / "api.sock"
        return _spawn(started, name, short_dir, "-c", FAKE_NODE, str(sock), **kw)

    locked, plain = fake("locked", password="s3cret"), fake("plain")
    statuses = wait_ready([locked, plain], timeout=30)

    assert set(statuses) == {"locked", "plain"}
    assert statuses["locked"]["records"] == 7
    # The password only in the environment, and only when given; --data-dir decides.
    assert statuses["locked"]["password"] == "s3cret"
    assert "s3cret" not in " ".join(statuses["locked"]["argv"])
    assert statuses["plain"]["password"] is None
    assert statuses["locked"]["data_dir"] is None
    # Its own session: the terminal's Ctrl+C is not delivered to it.
    assert os.getsid(locked.proc.pid) == locked.proc.pid
    # stdout and stderr appended to the console log.
    text = locked.log.read_text()
    assert text.startswith("an earlier run\n")
    assert "fake node on stdout" in text and "fake node on stderr" in text


@pytest.mark.parametrize(
    ("code", "says"),
    [("print('boom'); raise SystemExit(3)", "status 3"),
     ("import os; print('boom', flush=True); os.kill(os.getpid(), 9)", "killed by SIGKILL")],
)  # fmt: skip
def test_exit_while_starting_names_the_child_and_its_log(
    short_dir: Path, started: tuple[list[Child], list[int]], code: str, says: str
) -> None:
    sleeper = _spawn(started, "sleeper", short_dir, "-c", SLEEPER)
    crash = _spawn(started, "crash", short_dir, "-c", code)
    with pytest.raises(ChildError) as err:
        wait_ready([sleeper, crash], timeout=60)
    message = str(err.value)
    assert message == f"crash exited while starting ({says}); see {crash.log}"
    assert "boom" in crash.log.read_text()
    assert sleeper.proc.poll() is None  # the caller decides what to stop


def test_no_answer_in_time_stops_the_child_and_says_where_its_log_is(
    short_dir: Path, started: tuple[list[Child], list[int]]
) -> None:
    mute = _spawn(started, "mute", short_dir, "-c", SLEEPER)
    with pytest.raises(ChildError) as err:
        wait_ready([mute], timeout=0.3)
    assert str(err.value) == (
        f"mute did not answer within 0.3 s, so it was stopped; see {mute.log}"
    )
    assert mute.proc.returncode == -signal.SIGTERM


def test_stop_sends_sigterm_then_sigkill_after_the_grace(
    short_dir: Path, started: tuple[list[Child], list[int]]
) -> None:
    polite = _spawn(started, "polite", short_dir, "-c", SLEEPER)
    stubborn = _spawn(started, "stubborn", short_dir, "-c", STUBBORN)
    _until(lambda: "ignoring SIGTERM" in stubborn.log.read_text(), "SIGTERM handler")

    t0 = time.monotonic()
    stop_children([polite, stubborn], grace=1.0)
    took = time.monotonic() - t0
    assert polite.proc.returncode == -signal.SIGTERM
    assert stubborn.proc.returncode == -signal.SIGKILL
    assert 0.9 <= took < 10.0, took

    t0 = time.monotonic()
    stop_children([polite, stubborn], grace=5.0)  # idempotent, and no wait for the reaped
    assert time.monotonic() - t0 < 1.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_die_with_parent_children_die_with_it_and_others_outlive_it(
    short_dir: Path, started: tuple[list[Child], list[int]]
) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(short_dir / "d"), str(short_dir / "s"), SLEEPER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    others = started[1]
    others.append(parent.pid)
    try:
        assert parent.stdout is not None
        ready, _, _ = select.select([parent.stdout], [], [], 30)
        assert ready, "the parent printed no pids"
        dies, stays = (int(p) for p in parent.stdout.readline().split())
        others += [dies, stays]

        parent.kill()
        parent.wait()
        _until(lambda: _gone(dies), "SIGTERM for the child of a dead parent")
        # Delivered at the same moment, had it been asked for: the other lives on.
        assert not _gone(stays)
        assert os.getsid(stays) == stays
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait()
        if parent.stdin is not None:
            parent.stdin.close()
        if parent.stdout is not None:
            parent.stdout.close()
