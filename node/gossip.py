"""Live records: the node's side of GossipSub (``specs/network.md`` §2–§6).

The libp2p plumbing (pacing, queue backpressure, drop detection, peer scoring) is
``net.py``'s; this service decides what the node says and accepts on its topics.

* **Topics.** Each hosted scope has two: version 1 carries one record per message
  (every network-version-1 node, other libp2p implementations), version 2 batches
  of records (``protocol/batch.py``). A node of network version 2 is on both; one of
  version 1 (``network_version = 1``) only on the first.
* **Admission** (before validation, for every message a peer sends): each forwarding
  peer and each publishing origin has an allowance of messages, records and bytes
  per second (:data:`ALLOWANCES`), far above what an honest node sends. Beyond it the
  message is dropped, counted (``gossip.throttled.*``) and the forwarder charged a
  behaviour penalty, as py-libp2p's own per-message spam limit did — which version 2
  turns off, since it would cap a topic at 10 messages a second from each neighbour.
* **The validator** (once per message, before py-libp2p delivers or forwards it):
  a relay's per-peer record rate, then every record of the message through
  ``records.validate`` and the topic rule. One bad record rejects the message (an
  honest publisher only batches valid records) and costs its forwarder (P4). The
  decoded records are kept for a moment, so the writer does not verify them twice.
* **Delivery**: to the writer without waiting (libp2p's task must not block); a
  full inbox is counted and sync brings the records later.
* **Publishing our records**, once stored, in order, never dropped: on version 2 a
  batch at most every *interval* per topic, where the interval grows with the number
  of publishers seen lately so that together they send about
  :data:`TOPIC_MESSAGES_PER_S` — the cost of a topic is per message (every node
  handles every message, a few copies of it), so it stays flat whatever the record
  rate. A record leaves at once when the topic is quiet; records that come meanwhile
  wait for the next batch. On version 1 one
  message per record, paced at 8 a second, when some neighbour speaks only version 1.
  Records that came in batches are relayed to such neighbours the same way
  (:meth:`Gossip.arrived`), best effort: a full backlog is counted and sync repairs.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from cercle.node.net import Network, PublishRejected, message_id
from cercle.node.pacing import Budget, TokenBucket
from cercle.node.writer import GOSSIP, INBOX, Counter, Submission, Writer
from cercle.protocol import batch as B
from cercle.protocol import records as R
from cercle.protocol.errors import Reason, Rejected, RemoteProtocolError
from cercle.protocol.topics import BATCH, SINGLE, topic_for, topic_of_scope, version_of

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

VALIDATED_CACHE = 4096  # decoded messages kept between the validator and delivery
VERIFIED_CACHE = 65536  # ids of records checked lately (a record may come in two batches)
LATENCY_SAMPLES = 1000  # ages of records on arrival, for status and metrics

SINGLE_RATE = 8  # messages per second a node sends on a version-1 topic (receivers allow 10)
BATCH_RATE = 200  # … on a version-2 topic, own and forwarded (a cap, far above the need)
# Our batches on a topic are spaced so that all publishers together send about
# TOPIC_MESSAGES_PER_S: interval = publishers seen lately / that rate, within bounds.
TOPIC_MESSAGES_PER_S = 20.0
MIN_BATCH_INTERVAL_S = 0.1
MAX_BATCH_INTERVAL_S = 2.0
PUBLISHERS_WINDOW_S = 10.0  # a publisher counts as active this long after its last batch
SINGLE_BACKLOG = 2000  # records waiting for a version-1 topic, beyond which the oldest go

MiB = 1024 * 1024
# Allowances, as (rate per second, burst): per forwarding peer and topic version, per
# publishing origin (version 2). An honest network of 20 nodes sends ~80 batches/s at
# most; an honest origin ≤ 4 batches/s of its own records.
ALLOWANCES: dict[str, dict[str, tuple[float, float]]] = {
    "forwarder.1": {"messages": (10.0, 10.0)},  # py-libp2p's own limit, which v1 peers keep
    "forwarder.2": {"messages": (300.0, 600.0), "bytes": (8.0 * MiB, 32.0 * MiB)},
    "origin.2": {"messages": (10.0, 40.0), "bytes": (1.0 * MiB, 4.0 * MiB)},
}


def topic_rate(topic: str) -> int:
    """What ``net.Network`` paces a topic to: messages per second, own and forwarded."""
    return BATCH_RATE if version_of(topic) == BATCH else SINGLE_RATE


@dataclass
class _Outbox:
    """Records waiting to go out on one topic, and the task that sends them."""

    topic: str
    pending: collections.deque[R.Record] = field(default_factory=collections.deque)
    wake: trio.Event = field(default_factory=trio.Event)


def batch_interval(publishers: int) -> float:
    """Seconds between two of our batches on a topic with this many active publishers."""
    return min(MAX_BATCH_INTERVAL_S, max(MIN_BATCH_INTERVAL_S, publishers / TOPIC_MESSAGES_PER_S))


class Gossip:
    """Topics, admission, validator, delivery and publisher over one :class:`Network`."""

    def __init__(
        self,
        net: Network,
        writer: Writer,
        *,
        now_ms: Callable[[], int],
        clock: Callable[[], float],
        counters: Counter,
        rejected: Counter,
        rate_limit: TokenBucket | None = None,
        versions: Sequence[int] = (SINGLE, BATCH),
    ) -> None:
        self.net = net
        self.writer = writer
        self.now_ms = now_ms
        self.clock = clock
        self.counters = counters
        self.rejected = rejected
        self.rate_limit = rate_limit  # relays: per-peer records/s
        self.versions = tuple(versions)
        self.latency_ms: collections.deque[float] = collections.deque(maxlen=LATENCY_SAMPLES)
        self._budgets = {name: Budget(**limits) for name, limits in ALLOWANCES.items()}
        self._validated: collections.OrderedDict[bytes, list[R.Record]] = collections.OrderedDict()
        self._verified: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._from_batches: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._queue_send, self._queue_recv = trio.open_memory_channel[R.Record](INBOX)
        self._outboxes: dict[str, _Outbox] = {}
        self._publishers: dict[str, dict[str, float]] = {}  # v2 topic -> origin -> last batch
        self._nursery: trio.Nursery | None = None
        net.set_topic_handlers(self.validate, self.deliver, self.admit)

    # -- topics -------------------------------------------------------------

    async def join(self, scope: bytes) -> None:
        for version in self.versions:
            await self.net.join(topic_of_scope(scope, version))

    async def leave(self, scope: bytes) -> None:
        for version in self.versions:
            await self.net.leave(topic_of_scope(scope, version))

    # -- incoming -----------------------------------------------------------

    def admit(self, topic: str, data: bytes, forwarder: str, origin: str, seen: bool) -> bool:
        """Within its allowance? Called for every message a peer sends, seen or not."""
        version = version_of(topic)
        if version is None:
            return True
        now = self.clock()
        if version == SINGLE:
            spent = self._budgets["forwarder.1"].spend(forwarder, now, messages=1)
        else:
            spent = self._budgets["forwarder.2"].spend(forwarder, now, messages=1, bytes=len(data))
            if spent is None and not seen:  # an origin's message counts once, not per copy
                over = self._budgets["origin.2"].spend(origin, now, messages=1, bytes=len(data))
                spent = f"origin.{over}" if over is not None else None
            elif spent is not None:
                spent = f"forwarder.{spent}"
        if spent is None:
            return True
        self.counters[f"gossip.throttled.{spent}"] += 1
        return False

    def validate(self, topic: str, data: bytes, from_peer: str, origin: str) -> bool:
        """py-libp2p's topic validator: True lets the message be delivered and forwarded."""
        version = version_of(topic)
        if version is None:
            return False
        own = from_peer == self.net.peer_id
        try:
            raws = [data] if version == SINGLE else B.decode_batch(data)
        except RemoteProtocolError as exc:
            self.counters["gossip.bad_batches"] += 1
            log.debug("bad batch from %s: %s", from_peer, exc)
            return False
        limit = self.rate_limit
        if limit is not None and not own and not limit.allow(from_peer, self.clock(), len(raws)):
            self.counters["gossip.rate_limited"] += 1
            return False
        now_ms = self.now_ms()
        recs = []
        for raw in raws:
            try:
                # Ours were verified when we signed them; others once per envelope.
                checked = own or self._checked(raw)
                rec = R.decode(raw) if checked else R.validate(raw, now_ms=now_ms)
            except Rejected as exc:
                self.rejected[exc.reason.value] += 1
                return False
            if topic_for(rec, version) != topic:
                self.rejected[Reason.BAD_COMMUNITY.value] += 1
                return False
            recs.append(rec)
        for rec in recs:
            _remember(self._verified, rec.id, VERIFIED_CACHE)
        if version == BATCH:
            self._publishers.setdefault(topic, {})[origin] = self.clock()
        self._validated[message_id(data)] = recs
        while len(self._validated) > VALIDATED_CACHE:
            self._validated.popitem(last=False)
        return True

    def _checked(self, raw: bytes) -> bool:
        """Was this very envelope verified lately (it came in another message)?"""
        return R.record_id(raw) in self._verified

    def deliver(self, topic: str, data: bytes, from_peer: str) -> None:
        """An accepted message: its records to the writer, without waiting."""
        if from_peer == self.net.peer_id:
            return  # our own publish: already stored
        recs = self._validated.pop(message_id(data), None)
        if recs is None:  # evicted before delivery: the writer checks the bytes again
            raws = [data] if version_of(topic) == SINGLE else B.decode_batch(data)
            sub = Submission(raws=raws, source=GOSSIP)
        else:
            sub = Submission(records=recs, source=GOSSIP)
        if version_of(topic) == BATCH:
            for rid in [r.id for r in recs] if recs else [R.record_id(x) for x in sub.raws]:
                _remember(self._from_batches, rid, VALIDATED_CACHE * 4)
        if not self.writer.offer(sub):
            self.counters["gossip.inbox_full"] += 1  # sync will bring it later

    def arrived(self, rec: R.Record) -> None:
        """A record that came by gossip was stored: its age; relay it to version-1 peers."""
        self.latency_ms.append(max(0.0, self.now_ms() - rec.created_ms))
        in_batch = rec.id in self._from_batches
        self._from_batches.pop(rec.id, None)
        if in_batch and self._needs_single(rec):
            self._enqueue(topic_for(rec, SINGLE), rec)

    def latency_p50_ms(self) -> float | None:
        lat = sorted(self.latency_ms)
        return lat[len(lat) // 2] if lat else None

    # -- outgoing -----------------------------------------------------------

    async def publish(self, rec: R.Record) -> None:
        """Queue one of our stored records for publishing (in order, never dropped)."""
        await self._queue_send.send(rec)

    async def run_publisher(
        self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            async for rec in self._queue_recv:
                if BATCH not in self.versions:  # network version 1: one message per record
                    self._enqueue(topic_for(rec, SINGLE), rec, own=True)
                    continue
                self._enqueue(topic_for(rec, BATCH), rec)
                if self._needs_single(rec):
                    self._enqueue(topic_for(rec, SINGLE), rec)

    def _needs_single(self, rec: R.Record) -> bool:
        """Does a neighbour on this record's version-1 topic lack its version-2 topic?"""
        if SINGLE not in self.versions or BATCH not in self.versions:
            return False
        single = set(self.net.topic_peers(topic_for(rec, SINGLE)))
        return bool(single - set(self.net.topic_peers(topic_for(rec, BATCH))))

    def _enqueue(self, topic: str, rec: R.Record, *, own: bool = False) -> None:
        box = self._outboxes.get(topic)
        if box is None:
            if self._nursery is None:
                self.counters["publish_failed"] += 1  # not running: sync delivers it
                return
            box = self._outboxes[topic] = _Outbox(topic)
            send = self._send_batches if version_of(topic) == BATCH else self._send_singles
            self._nursery.start_soon(send, box)
        if not own and version_of(topic) == SINGLE and len(box.pending) >= SINGLE_BACKLOG:
            box.pending.popleft()
            self.counters["gossip.single_dropped"] += 1  # sync repairs
        box.pending.append(rec)
        box.wake.set()

    async def _wait(self, box: _Outbox) -> None:
        while not box.pending:
            await box.wake.wait()
            box.wake = trio.Event()

    def active_publishers(self, topic: str) -> int:
        """Origins whose batches we saw on ``topic`` lately, ourselves included."""
        seen = self._publishers.setdefault(topic, {})
        now = self.clock()
        for origin in [o for o, t in seen.items() if now - t > PUBLISHERS_WINDOW_S]:
            del seen[origin]
        return len(seen | {self.net.peer_id: now})

    async def _send_batches(self, box: _Outbox) -> None:
        last = -math.inf
        while True:
            await self._wait(box)
            interval = batch_interval(self.active_publishers(box.topic))
            if (delay := last + interval - trio.current_time()) > 0:
                await trio.sleep(delay)  # records that come meanwhile join this batch
            last = trio.current_time()
            first = [r.raw for r in itertools.islice(box.pending, B.MAX_BATCH_RECORDS)]
            recs = [box.pending.popleft() for _ in range(max(1, B.fitting(first)))]
            await self._send(box.topic, B.encode_batch([r.raw for r in recs]), len(recs))
            self.counters["published.batches"] += 1

    async def _send_singles(self, box: _Outbox) -> None:
        while True:
            await self._wait(box)
            rec = box.pending.popleft()
            await self._send(box.topic, rec.raw, 1)

    async def _send(self, topic: str, data: bytes, records: int) -> None:
        try:
            await self.net.publish(topic, data)
            self.counters["published"] += records
        except PublishRejected as exc:
            self.counters["publish_rejected"] += records
            log.warning("%s", exc)
        except Exception:
            # Not lost: the records are stored, and sync delivers them to peers.
            self.counters["publish_failed"] += records
            log.exception("publishing on %s failed; sync will deliver it", topic)


def _remember(cache: collections.OrderedDict[bytes, None], key: bytes, size: int) -> None:
    cache[key] = None
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
