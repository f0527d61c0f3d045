"""The gossip service without libp2p: admission, the validator, batching, version-1 peers.

A fake network records what the service publishes and says who is on which topic;
trio's MockClock makes the batch intervals exact.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing

from cercle.node.gossip import (
    MIN_BATCH_INTERVAL_S,
    TOPIC_MESSAGES_PER_S,
    Gossip,
    batch_interval,
)
from cercle.node.net import message_id
from cercle.node.writer import Submission
from cercle.protocol import batch as B
from cercle.protocol.topics import BATCH, SINGLE, community_topic
from tests import factory as F

COMM = F.community()
V1, V2 = community_topic(COMM.id, SINGLE), community_topic(COMM.id, BATCH)
NOW_MS = F.T0 + 1000


@dataclass
class FakeNet:
    peer_id: str = "me"
    published: list[tuple[float, str, bytes]] = field(default_factory=list)
    subscribers: dict[str, list[str]] = field(default_factory=dict)
    joined: set[str] = field(default_factory=set)

    def set_topic_handlers(self, *handlers: Any) -> None:
        self.handlers = handlers

    async def join(self, topic: str) -> None:
        self.joined.add(topic)

    async def leave(self, topic: str) -> None:
        self.joined.discard(topic)

    def topic_peers(self, topic: str) -> list[str]:
        return self.subscribers.get(topic, [])

    async def publish(self, topic: str, data: bytes) -> None:
        self.published.append((trio.current_time(), topic, data))


class FakeWriter:
    def __init__(self) -> None:
        self.subs: list[Submission] = []

    def offer(self, sub: Submission) -> bool:
        self.subs.append(sub)
        return True


def make(clock: list[float] | None = None, **kw: Any) -> tuple[Gossip, FakeNet, FakeWriter]:
    net, writer = FakeNet(), FakeWriter()
    t = clock if clock is not None else [0.0]
    g = Gossip(
        net,  # type: ignore[arg-type]
        writer,  # type: ignore[arg-type]
        now_ms=lambda: NOW_MS,
        clock=lambda: t[0],
        counters=collections.Counter(),
        rejected=collections.Counter(),
        **kw,
    )
    return g, net, writer


def ratings(n: int, author: int = 1) -> list[Any]:
    return [F.rating(author, COMM.id, i, (3, 3, 3), t=F.T0 + i) for i in range(n)]


# --------------------------------------------------------------------------- admission


def test_a_forwarder_over_its_allowance_is_throttled_and_others_are_not() -> None:
    g, _, _ = make()
    raw = ratings(1)[0].raw
    assert all(g.admit(V1, raw, "flood", "flood", False) for _ in range(10))
    assert not g.admit(V1, raw, "flood", "flood", False)  # 11th in the same second
    assert g.admit(V1, raw, "honest", "honest", False)
    assert g.counters["gossip.throttled.messages"] == 1


def test_an_origins_allowance_counts_each_message_once() -> None:
    g, _, _ = make()
    data = B.encode_batch([r.raw for r in ratings(3)])
    forwarders = [f"peer{i}" for i in range(200)]
    # The same origin's messages, seen again through other forwarders: not counted.
    assert all(g.admit(V2, data, f, "origin", True) for f in forwarders)
    allowed = sum(g.admit(V2, data, f, "origin", False) for f in forwarders)
    assert allowed == 40  # the burst of an origin's allowance
    assert g.counters["gossip.throttled.origin.messages"] == 160


# --------------------------------------------------------------------------- validator


def test_a_valid_batch_is_accepted_and_delivered_decoded() -> None:
    g, _, writer = make()
    recs = ratings(4)
    data = B.encode_batch([r.raw for r in recs])
    assert g.validate(V2, data, "peer", "origin")
    g.deliver(V2, data, "peer")
    assert [r.id for r in writer.subs[0].records] == [r.id for r in recs]
    assert writer.subs[0].raws == []  # not verified twice


def test_one_bad_record_rejects_the_batch() -> None:
    g, _, writer = make()
    recs = ratings(3)
    forged = bytearray(recs[1].raw)
    forged[-1] ^= 1
    assert not g.validate(V2, B.encode_batch([recs[0].raw, bytes(forged)]), "peer", "o")
    assert g.rejected["bad_signature"] == 1
    other = F.community(name="Other")
    stray = F.rating(1, other.id, 1, (3, 3, 3))
    assert not g.validate(V2, B.encode_batch([recs[0].raw, stray.raw]), "peer", "o")
    assert g.rejected["bad_community"] == 1
    assert not g.validate(V2, b"\xc1", "peer", "o")
    assert g.counters["gossip.bad_batches"] == 1
    assert not writer.subs


def test_a_single_record_on_the_batch_topic_is_not_a_batch() -> None:
    g, _, _ = make()
    assert not g.validate(V2, ratings(1)[0].raw, "peer", "o")
    assert g.validate(V1, ratings(1)[0].raw, "peer", "o")


def test_a_relay_limits_records_per_peer_not_messages() -> None:
    from cercle.node.pacing import TokenBucket

    g, _, _ = make(rate_limit=TokenBucket(5.0))
    data = B.encode_batch([r.raw for r in ratings(4)])
    assert g.validate(V2, data, "peer", "o")
    assert not g.validate(V2, B.encode_batch([r.raw for r in ratings(4, 2)]), "peer", "o")
    assert g.counters["gossip.rate_limited"] == 1


# --------------------------------------------------------------------------- publishing


async def test_a_quiet_topic_sends_at_once_a_busy_one_in_batches(
    autojump_clock: trio.testing.MockClock,
) -> None:
    g, net, _ = make()
    recs = ratings(50)
    async with trio.open_nursery() as nursery:
        await nursery.start(g.run_publisher)
        await g.publish(recs[0])
        await trio.sleep(0.01)
        assert len(net.published) == 1 and net.published[0][0] < 0.01  # at once
        for r in recs[1:]:  # 49 more while the slot is taken
            await g.publish(r)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    batches = [B.decode_batch(d) for _, t, d in net.published if t == V2]
    assert [len(b) for b in batches] == [1, 49]  # one message for all that waited
    assert [x for b in batches for x in b] == [r.raw for r in recs]  # in order
    assert net.published[1][0] >= MIN_BATCH_INTERVAL_S
    assert g.counters["published"] == 50 and g.counters["published.batches"] == 2


def test_the_interval_grows_with_the_publishers() -> None:
    assert batch_interval(1) == MIN_BATCH_INTERVAL_S
    assert batch_interval(10) == 10 / TOPIC_MESSAGES_PER_S
    assert batch_interval(10_000) == 2.0
    clock = [0.0]
    g, _, _ = make(clock)
    for i in range(9):
        data = B.encode_batch([ratings(1, author=10 + i)[0].raw])
        assert g.validate(V2, data, "peer", f"origin{i}")
    assert g.active_publishers(V2) == 10  # nine others and us
    clock[0] = 11.0
    assert g.active_publishers(V2) == 1  # they went quiet


async def test_version_1_neighbours_get_single_records(
    autojump_clock: trio.testing.MockClock,
) -> None:
    g, net, _ = make()
    net.subscribers = {V1: ["old", "new"], V2: ["new"]}  # "old" speaks only version 1
    mine, theirs = ratings(1)[0], ratings(1, author=2)[0]
    data = B.encode_batch([theirs.raw])
    async with trio.open_nursery() as nursery:
        await nursery.start(g.run_publisher)
        await g.publish(mine)
        assert g.validate(V2, data, "new", "new")
        g.deliver(V2, data, "new")
        g.arrived(theirs)  # stored: relayed to the version-1 topic for "old"
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    singles = [d for _, t, d in net.published if t == V1]
    assert sorted(singles) == sorted([mine.raw, theirs.raw])
    assert {message_id(d) for _, t, d in net.published if t == V2} == {
        message_id(B.encode_batch([mine.raw]))
    }


async def test_a_version_1_node_sends_every_record_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    g, net, _ = make(versions=(SINGLE,))
    recs = ratings(3)
    await g.join(COMM.id)
    assert net.joined == {V1}
    async with trio.open_nursery() as nursery:
        await nursery.start(g.run_publisher)
        for r in recs:
            await g.publish(r)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert [(t, d) for _, t, d in net.published] == [(V1, r.raw) for r in recs]
