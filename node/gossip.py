"""Live records: the node's side of GossipSub (``specs/network.md`` §2–§6).

The libp2p plumbing (pacing under py-libp2p's spam limit, queue backpressure, drop
detection, peer scoring) is ``net.py``'s; this service decides what the node says
and accepts on its topics:

* **topics** — which topics the node is on (the directory and each hosted scope);
* **the validator** — every incoming message, before py-libp2p delivers or
  forwards it: the relay's per-peer rate limit, then ``records.validate`` (decoding,
  signature, time window), then the topic check. A rejection is counted by reason
  and charges the forwarding peer (P4). An accepted record is kept decoded for a
  moment, so the writer does not verify it twice;
* **delivery** — accepted records go to the writer without waiting (libp2p's task
  must not block); a full inbox is counted and sync brings the record later;
* **the publisher** — our own records, once stored, are published in order, one
  at a time, paced by the network; one that cannot be published is counted and
  reaches peers by sync.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from cercle.node.net import Network, PublishRejected
from cercle.node.pacing import TokenBucket
from cercle.node.writer import GOSSIP, INBOX, Counter, Submission, Writer
from cercle.protocol import records as R
from cercle.protocol.errors import Reason, Rejected
from cercle.protocol.topics import topic_for, topic_of_scope

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

VALIDATED_CACHE = 4096  # decoded records kept between the validator and delivery
LATENCY_SAMPLES = 1000  # ages of records on arrival, for status and metrics


class Gossip:
    """Topics, validator, delivery and publisher over one :class:`Network`."""

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
    ) -> None:
        self.net = net
        self.writer = writer
        self.now_ms = now_ms
        self.clock = clock
        self.counters = counters
        self.rejected = rejected
        self.rate_limit = rate_limit  # relays: per-peer records/s
        self.latency_ms: collections.deque[float] = collections.deque(maxlen=LATENCY_SAMPLES)
        self._validated: collections.OrderedDict[bytes, R.Record] = collections.OrderedDict()
        self._publish_send, self._publish_recv = trio.open_memory_channel[R.Record](INBOX)
        net.set_topic_handlers(self.validate, self.deliver)

    # -- topics -------------------------------------------------------------

    async def join(self, scope: bytes) -> None:
        await self.net.join(topic_of_scope(scope))

    async def leave(self, scope: bytes) -> None:
        await self.net.leave(topic_of_scope(scope))

    # -- incoming -----------------------------------------------------------

    def validate(self, topic: str, data: bytes, from_peer: str) -> bool:
        """py-libp2p's topic validator: True lets the message be delivered and forwarded."""
        own = from_peer == self.net.peer_id
        limit = self.rate_limit
        if limit is not None and not own and not limit.allow(from_peer, self.clock()):
            self.counters["gossip.rate_limited"] += 1
            return False
        try:
            rec = R.validate(data, now_ms=self.now_ms())
        except Rejected as exc:
            self.rejected[exc.reason.value] += 1
            return False
        if topic_for(rec) != topic:
            self.rejected[Reason.BAD_COMMUNITY.value] += 1
            return False
        self._validated[rec.id] = rec
        while len(self._validated) > VALIDATED_CACHE:
            self._validated.popitem(last=False)
        return True

    def deliver(self, topic: str, data: bytes, from_peer: str) -> None:
        """An accepted message: to the writer, without waiting."""
        if from_peer == self.net.peer_id:
            return  # our own publish: already stored
        rec = self._validated.pop(R.record_id(data), None)
        sub = Submission([rec] if rec else [], [] if rec else [data], GOSSIP)
        if not self.writer.offer(sub):
            self.counters["gossip.inbox_full"] += 1  # sync will bring it later

    def arrived(self, rec: R.Record) -> None:
        """A record that came by gossip was stored: note how old it was."""
        self.latency_ms.append(max(0.0, self.now_ms() - rec.created_ms))

    def latency_p50_ms(self) -> float | None:
        lat = sorted(self.latency_ms)
        return lat[len(lat) // 2] if lat else None

    # -- outgoing -----------------------------------------------------------

    async def publish(self, rec: R.Record) -> None:
        """Queue one of our stored records for publishing (in order, never dropped)."""
        await self._publish_send.send(rec)

    async def run_publisher(
        self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        async for rec in self._publish_recv:
            try:
                await self.net.publish(topic_for(rec), rec.raw)
                self.counters["published"] += 1
            except PublishRejected as exc:
                self.counters["publish_rejected"] += 1
                log.warning("%s", exc)
            except Exception:
                # Not lost: it is stored, and sync delivers it to peers.
                self.counters["publish_failed"] += 1
                log.exception("publishing %s failed; sync will deliver it", rec.id.hex())
