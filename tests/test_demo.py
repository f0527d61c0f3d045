"""`cercle demo`: a real relay and personal nodes as processes, seeded, then stopped.

The demo runs as a subprocess with ``--headless --json``; its JSON lines say
which processes and temporary directories it made, and when every node holds
the same records. The tests then stop it with a signal and check that nothing
is left behind. No fixed sleeps: every wait is for a line or a condition, under
a deadline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import queue
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cercle.node.api.client import ApiClient
from cercle.node.demo.sample import build_sample
from cercle.node.demo.vocabulary import COMMUNITIES
from cercle.protocol import records as R


class DemoProcess:
    def __init__(self, *args: str) -> None:
        cmd = [sys.executable, "-m", "cercle.node.cli", "demo", "--headless", "--json", *args]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self.lines.put({"event": "text", "text": line})
        self.lines.put(None)

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {event!r} within {timeout} s; saw {self.seen}")
            try:
                msg = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if msg is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"demo ended before {event!r}; saw {self.seen}; {err}")
            self.seen.append(msg)
            if msg.get("event") == event:
                return msg

    def stop(self, sig: signal.Signals, timeout: float = 40.0) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def demo_process() -> Iterator[list[DemoProcess]]:
    made: list[DemoProcess] = []
    yield made
    for d in made:  # a failed test must not leave a network or directories behind
        d.kill()
        for msg in d.seen:
            for pid in [*msg.get("pids", []), *([msg["pid"]] if "pid" in msg else [])]:
                _kill_quietly(pid)
            for path in msg.get("dirs", []):
                shutil.rmtree(path, ignore_errors=True)


def _kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # Still there, or a zombie not reaped yet (not ours: the demo reaps its children).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def _assert_clean(started: dict[str, Any]) -> None:
    for pid in started["pids"]:
        assert _gone(pid), f"process {pid} is still running"
    for d in started["dirs"]:
        assert not Path(d).exists(), f"{d} was not removed"


def test_sample_is_deterministic_and_valid() -> None:
    now = 1_750_000_000_000
    a = build_sample(7, now, crowd=30)
    b = build_sample(7, now + 5_000, crowd=30)
    c = build_sample(8, now, crowd=30)

    def content(s: Any, now: int) -> list[Any]:
        petitions = [pid for _, pid in s.petitions]

        def body(r: R.Record) -> Any:  # deadlines, and so petition ids, depend on now
            if isinstance(r.body, R.PetitionBody):
                return dataclasses.replace(r.body, deadline_ms=r.body.deadline_ms - now)
            if isinstance(r.body, R.SignatureBody):
                return petitions.index(r.body.petition)
            return r.body

        return [(r.kind, r.author, body(r), r.created_ms - now) for r in s.records]

    assert content(a, now) == content(b, now + 5_000)  # only the clock moves the dates
    assert content(a, now) != content(c, now)
    kinds = {r.kind for r in a.records}
    assert kinds >= {R.Kind.COMMUNITY, R.Kind.PRODUCT, R.Kind.RATING, R.Kind.PETITION,
                     R.Kind.SIGNATURE, R.Kind.VOUCH, R.Kind.PROFILE}  # fmt: skip
    assert len(a.community_ids) == len(COMMUNITIES)
    assert len({p.gtin for p in a.products}) == len(a.products) >= 300
    for r in a.records:
        R.check_time(r, now)  # nothing dated in the future
        if isinstance(r.body, (R.ProductBody, R.RatingBody)):
            assert R.gtin_valid(r.body.gtin) and len(r.body.gtin) == 13
    assert len({r.author for r in a.records}) == 30


def test_demo_seeds_syncs_and_stops_on_sigterm(demo_process: list[DemoProcess]) -> None:
    t0 = time.monotonic()
    demo = DemoProcess("--nodes", "2", "--crowd", "40", "--timeout", "60")
    demo_process.append(demo)
    started = demo.expect("started", timeout=50)
    assert len(started["pids"]) == 3 and len(started["dirs"]) == 3
    assert all(len(s) < 100 for s in started["sockets"].values())

    synced = demo.expect("synced", timeout=70 - (time.monotonic() - t0))
    counts = synced["records"]
    assert set(counts) == {"relay", "Alice", "Bilal"}
    assert len(set(counts.values())) == 1 and counts["relay"] > 500, counts

    # A personal node sees the crowd's communities, products and a trust network.
    with ApiClient(Path(started["sockets"]["Alice"])) as alice:
        communities = alice.call("communities.list")["items"]
        assert len(communities) == len(COMMUNITIES) and all(c["joined"] for c in communities)
        me = alice.call("identity.get")
        assert me["display_name"] == "Alice"
        assert len(alice.call("vouches.list")["items"]) >= 2

    assert demo.stop(signal.SIGTERM, timeout=max(10.0, 85 - (time.monotonic() - t0))) == 0
    demo.expect("stopped", timeout=5)
    _assert_clean(started)


def test_demo_stops_cleanly_on_sigint_while_starting(demo_process: list[DemoProcess]) -> None:
    demo = DemoProcess("--nodes", "2", "--crowd", "20")
    demo_process.append(demo)
    dirs = demo.expect("dirs", timeout=30)["dirs"]
    relay = demo.expect("spawned", timeout=30)
    assert relay["name"] == "relay"
    assert demo.stop(signal.SIGINT) == 0
    stopped = demo.expect("stopped", timeout=5)
    assert relay["pid"] in stopped["pids"]
    _assert_clean({"pids": stopped["pids"], "dirs": dirs})


def test_demo_in_the_tui_stops_when_its_terminal_closes(demo_process: list[DemoProcess]) -> None:
    """SIGHUP (the terminal window closed) while the TUI runs: all stopped, nothing left."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    cmd = [sys.executable, "-m", "cercle.node.cli", "demo", "--json", "--nodes", "1",
           "--crowd", "20", "--timeout", "60"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        env={**os.environ, "TERM": "xterm-256color"},
    )  # fmt: skip
    os.close(slave)
    shadow = DemoProcess.__new__(DemoProcess)  # for the fixture's clean-up of a failed test
    shadow.proc, shadow.seen = proc, []
    demo_process.append(shadow)
    out = b""

    def read(until: Callable[[], bool], what: str, timeout: float) -> None:
        nonlocal out
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, f"no {what} within {timeout} s: {out[-800:]!r}"
            if select.select([master], [], [], 0.2)[0]:
                with contextlib.suppress(OSError):  # EIO once the demo has exited
                    out += os.read(master, 65536)

    def event(name: str) -> dict[str, Any] | None:
        for line in out.split(b"\n"):
            with contextlib.suppress(ValueError):
                msg = json.loads(line.strip())
                if isinstance(msg, dict) and msg.get("event") == name:
                    return msg
        return None

    try:
        read(lambda: event("started") is not None, "started", 60)
        started = event("started")
        assert started is not None
        shadow.seen.append(started)
        read(lambda: b"Cercle demo" in out, "the TUI", 90)  # its title bar is drawn
        os.close(master)  # the window closes: the terminal is gone, then the hang-up
        master = -1
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=40) == 0
        _assert_clean(started)
    finally:
        if master >= 0:
            os.close(master)
