"""The benchmarks stop every process they start: at their end, on SIGTERM, SIGINT, SIGKILL.

Each test runs a benchmark with tiny settings in its own session, waits (on its
output, under a deadline) until its nodes run, notes their pids from /proc (the
benchmark's children running ``cercle.node.cli``), stops it, and checks that none
of those processes is left and its temporary directory is gone. Whatever
happens, the test kills only what it noted: the benchmark's own process group
and the node pids it saw, never processes found by name.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
NODE_MODULE = "cercle.node.cli"


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), fields[0], fields[19]


def node_children(parent: int) -> dict[int, str]:
    """The ``cercle.node.cli`` processes whose parent is ``parent``: pid -> start time."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        st = _stat(pid)
        if st is None or st[0] != parent:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if NODE_MODULE.encode() in cmdline:
            found[pid] = st[2]
    return found


class Bench:
    """A benchmark process, its output, and the node pids seen among its children."""

    def __init__(self, script: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(BENCH / script), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
        )
        self.lines: list[str] = []
        self.nodes: dict[int, str] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_line(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first output line matching ``pattern`` (waits for it)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                pytest.fail(f"benchmark exited before {pattern!r}:\n{self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} within {timeout:g} s:\n{self.output}")
            time.sleep(0.05)

    @property
    def tmp(self) -> Path:
        return Path(self.wait_line(r"^data in (\S+)$", 60).group(1))

    def track(self) -> dict[int, str]:
        """Note the node processes the benchmark runs now."""
        self.nodes.update(node_children(self.proc.pid))
        return self.nodes

    def left(self) -> list[int]:
        """Noted node processes still running (same pid and start time, not a zombie)."""
        out = []
        for pid, start in self.nodes.items():
            st = _stat(pid)
            if st is not None and st[2] == start and st[1] != "Z":
                out.append(pid)
        return out

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"benchmark still running {timeout:g} s later:\n{self.output}")
        self._reader.join(5)
        return code

    def kill_everything(self) -> None:
        """The clean-up of last resort: only the benchmark's group and the pids noted."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in self.left():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def bench() -> Iterator[list[Bench]]:
    started: list[Bench] = []
    yield started
    for b in started:
        b.kill_everything()


def start(started: list[Bench], script: str, *args: str) -> Bench:
    b = Bench(script, *args)
    started.append(b)
    return b


def running_nodes(b: Bench, ready: str, count: int) -> dict[int, str]:
    """Wait for the line saying the nodes are up, then note them (``count`` of them)."""
    b.wait_line(ready, 180)
    nodes = b.track()
    assert len(nodes) == count, f"expected {count} nodes, saw {nodes}:\n{b.output}"
    return nodes


def assert_all_stopped(b: Bench, tmp: Path) -> None:
    assert b.left() == [], f"node processes left behind: {b.left()}\n{b.output}"
    assert not tmp.exists(), f"{tmp} left behind:\n{b.output}"


PROPAGATION = ("propagation.py", "--nodes", "2", "-n", "5", "--timeout", "20")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_propagation_stops_its_nodes_on_a_signal(bench: list[Bench], sig: signal.Signals) -> None:
    b = start(bench, *PROPAGATION)
    tmp = b.tmp
    running_nodes(b, r"^nodes up and linked", 2)
    b.proc.send_signal(sig)
    assert b.wait(60) == 128 + sig, b.output
    assert_all_stopped(b, tmp)
    assert f"stopped by {sig.name}" in b.output


def test_propagation_nodes_die_with_it_on_sigkill(bench: list[Bench]) -> None:
    """No handler runs on SIGKILL: the nodes' death signal (PR_SET_PDEATHSIG) stops them."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    b = start(bench, *PROPAGATION)
    tmp = b.tmp
    running_nodes(b, r"^nodes up and linked", 2)
    b.proc.kill()
    b.wait(10)
    deadline = time.monotonic() + 30  # each node closes its store on SIGTERM
    while b.left() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert b.left() == [], f"node processes outlived the benchmark: {b.left()}"
    shutil.rmtree(tmp, ignore_errors=True)  # nobody was left to remove it


@pytest.mark.parametrize(
    ("args", "last"),
    [
        pytest.param(
            PROPAGATION[1:],
            r"^delivery=\d\.\d{3} p50_ms=\S+ p99_ms=\S+$",
            marks=pytest.mark.slow,  # the same path as the burst's, but for the figures
            id="rate",
        ),
        pytest.param(
            ("--nodes", "2", "--burst", "10", "--burst-s", "1", "--timeout", "20"),
            r"^delivery=\d\.\d{3} drain_ms=\S+$",
            id="burst",
        ),
    ],
)
def test_propagation_runs_to_its_end_and_stops_its_nodes(
    bench: list[Bench], args: tuple[str, ...], last: str
) -> None:
    b = start(bench, "propagation.py", *args)
    tmp = b.tmp
    running_nodes(b, r"^nodes up and linked", 2)
    assert b.wait(180) == 0, b.output
    assert re.match(last, b.lines[-1]), b.output
    assert_all_stopped(b, tmp)


def test_sync_stops_its_relay_on_sigterm(bench: list[Bench]) -> None:
    """The relay process, and the fresh node running in trio inside the benchmark."""
    b = start(bench, "sync.py", "-n", "2000")
    tmp = b.tmp
    running_nodes(b, r"^relay: ", 1)
    b.proc.send_signal(signal.SIGTERM)  # during the catch-up (trio) or right after it
    assert b.wait(60) == 128 + signal.SIGTERM, b.output
    assert_all_stopped(b, tmp)


@pytest.mark.slow
def test_tui_stops_its_node_on_sigterm(bench: list[Bench]) -> None:
    """Generates (first time) and loads the 120 000-record data set: slow."""
    b = start(bench, "tui.py", "--repeat", "1")
    tmp = b.tmp
    running_nodes(b, r"^community: ", 1)
    b.proc.send_signal(signal.SIGTERM)  # while the headless TUI (asyncio) measures
    assert b.wait(60) == 128 + signal.SIGTERM, b.output
    assert_all_stopped(b, tmp)
