"""Dialling with backoff, without a network: trio's MockClock and a fake host."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio
import trio.testing

from cercle.node.discovery import Backoff, Discovery
from cercle.node.files.config import Config
from cercle.node.files.peerfile import read_peers
from tests.helpers import until

GOOD = "/ip4/127.0.0.1/tcp/7490/p2p/12D3KooWgood"
BAD = "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWbad"


def test_backoff_doubles_from_one_second_to_the_cap_and_resets_on_success() -> None:
    b = Backoff(first=1.0, cap=8.0)
    assert b.due(BAD, 0.0)
    tries = []
    now = 0.0
    while now < 40:
        if b.due(BAD, now):
            tries.append(now)
            b.failed(BAD, now)
        now += 0.5
    assert tries == [0.0, 1.0, 3.0, 7.0, 15.0, 23.0, 31.0, 39.0]  # 1, 2, 4, 8, 8, 8 …
    b.succeeded(BAD)
    assert b.due(BAD, now)
    b.failed(BAD, now)
    assert not b.due(BAD, now + 0.9) and b.due(BAD, now + 1.0)  # back to one second


@dataclass
class FakeHost:
    """What Discovery uses of the network; dials to ``BAD`` fail, others connect."""

    peer_id: str = "12D3KooWme"
    dials: list[tuple[float, str]] = field(default_factory=list)
    connected: list[str] = field(default_factory=list)
    handlers: dict[str, Any] = field(default_factory=dict)

    def set_stream_handler(self, protocol_id: str, handler: Any) -> None:
        self.handlers[protocol_id] = handler

    def peers(self) -> list[SimpleNamespace]:
        return [
            SimpleNamespace(peer_id=p, addrs=(f"/ip4/127.0.0.1/tcp/1/p2p/{p}",))
            for p in self.connected
        ]

    async def connect(self, addr: str) -> str:
        self.dials.append((trio.current_time(), addr))
        if addr == BAD:
            raise ConnectionError("refused")
        peer = addr.rsplit("/p2p/", 1)[1]
        self.connected.append(peer)
        return peer


async def test_a_failing_address_is_retried_with_backoff_and_a_good_one_connects(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    host = FakeHost()
    config = Config(bootstrap=(BAD,), learn_peers=False)
    counters: collections.Counter[str] = collections.Counter()
    d = Discovery(host, config, tmp_path / "peers.json", counters=counters, learn=False)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(d.run)
        await trio.sleep(16)  # alone: a round every second
        assert [round(t) for t, _ in host.dials] == [0, 1, 3, 7, 15]
        d.config = Config(bootstrap=(BAD, GOOD), learn_peers=False)
        await trio.sleep(2)
        assert host.connected == ["12D3KooWgood"] and counters["dial.ok"] == 1
        # Connected, the peer is remembered for the next start (written off the event
        # loop: wait until the loop has the thread's answer, not just for the file; the
        # mock clock runs ahead while the thread works, hence a timeout in mock seconds).
        good = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWgood"
        await until(lambda: d._remembered == [good], "peers.json written", timeout=10**6)
        assert read_peers(tmp_path / "peers.json") == [good]
        # Rounds are now 10 s apart, and BAD waits 16 s, then 32 s: at most 2 tries in 60 s.
        tries = len([a for _, a in host.dials if a == BAD])
        await trio.sleep(60)
        assert 1 <= len([a for _, a in host.dials if a == BAD]) - tries <= 2
        nursery.cancel_scope.cancel()
    assert counters["dial.failed"] >= 6
