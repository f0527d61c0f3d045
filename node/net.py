"""The networking layer: one py-libp2p host, GossipSub for live records, raw streams for sync.

Why this module exists
----------------------
Cercle records travel two ways (DESIGN.md, "Network"): live, one GossipSub topic per
community, and in bulk, a request/response sync protocol on libp2p streams. This module
owns the libp2p host and exposes both as a small trio service, ``Network``, that the node
wires up: ``await nursery.start(net.serve)``, ``join``/``publish``, a ``validator`` called
for every incoming message before it is delivered or forwarded, a ``deliver`` callback,
and stream hooks that hand the sync driver a tiny ``ByteStream`` (testable with trio
memory streams). Only ``cercle.node`` may import trio and libp2p; within it, this is
the one module that touches libp2p.

Message id
----------
The GossipSub message id is SHA-256 of the message data. The data *is* the signed record
envelope, so the message id equals the Cercle record id and the same record published
twice is one message (deduplicated by the seen-cache, ``seen_ttl`` = 120 s). py-libp2p's
``MessageCache`` hard-codes ``from_id + seqno`` as the key whatever ``msg_id_constructor``
says, so IHAVE would advertise ids nobody else uses and IWANT for record ids would never
hit; we replace the router's cache with one keyed by the same content id.

Measured facts about py-libp2p 0.8.1 (loopback, this module's tests, Nov 2026)
-------------------------------------------------------------------------------
* Spam protection (``GossipSub._check_spam_protection``, on by default): per
  (*forwarding* peer, topic), at most ``max_messages_per_topic_per_second`` (10) messages
  in any sliding 1.0 s window (``time.time()``); the 11th is dropped **silently** (one
  WARNING log line), the forwarder gets ``penalize_behavior(5.0)``, and the message is not
  even put in the mcache, so gossip cannot repair it. It applies to our own publishes
  (forwarder = ourselves): 50 back-to-back ``Pubsub.publish`` calls -> 10 arrive.
  The check runs *after* local delivery, so a receiver still delivers the message to
  itself but stops forwarding it. It counts everything a link carries on a topic, own
  and forwarded, so a node that forwards other peers' messages also trips its
  neighbours' limit.
* Outbound queue: each peer has an ``RpcQueue`` of 32 RPCs (``pubsub.peer_queues``).
  ``GossipSub.send_rpc`` drops on full (``_handle_dropped_rpc(..., "queue_full")``,
  debug log only). With spam protection off, 2000 back-to-back publishes -> 1984
  dropped, 16 delivered. ``Pubsub.publish`` never yields while enqueuing, so a tight
  loop fills the queue before the writer task runs.
* Local delivery: ``Pubsub.notify_subscriptions`` pushes into a 32-slot channel per
  subscription and drops on full ("fail to deliver message to subscription"). We
  bypass that channel and call ``deliver`` synchronously.
* Mesh warm-up: ~0.25 s from connect to mutual mesh membership on loopback
  (subscriptions are exchanged on the new pubsub stream and py-libp2p GRAFTs an
  under-filled mesh on subscription, no heartbeat needed). The library's default
  heartbeat is 120 s and its "adaptive gossip" raises it to >= 60 s; we use 1 s and turn
  adaptive gossip off.

What this module does about it
------------------------------
* Pacing: all data messages we send on a topic -- our publishes and the messages we
  forward -- go through one per-topic sliding-window limiter (``pacing.SlidingWindow``):
  at most ``publish_rate``
  (8) in any ``publish_window`` (1.0 s). A token bucket "8/s, burst 8" would allow 16
  in one second and trip the limit of 10; a sliding window matches the receiver's
  check exactly and leaves a margin of 2 for network jitter. ``publish()`` waits for a
  slot (``stats.paced_waits``); forwards wait too, up to ``max_forward_backlog`` waiting
  per topic, beyond which they are dropped and counted (``stats.forward_dropped``;
  the sync protocol repairs).
* Backpressure: before publishing, ``publish()`` waits (10 ms polls, up to
  ``queue_wait_timeout``) until every peer subscribed to the topic has room in its
  outbound queue (``stats.queue_waits``). If the router still drops our own message
  for a full queue, it is re-queued to that peer when room frees
  (``stats.requeued``), or counted in ``stats.dropped_detected`` after
  ``queue_wait_timeout`` or if the peer goes away. Measured with pacing and spam
  protection off: 2000 back-to-back publishes all arrive (vs 16 raw), publish()
  ~200/s, the receiving py-libp2p node processes ~90 msg/s. A publish the router refused
  outright (spam gate, score gate) is detected by its absence from the mcache and
  counted in ``stats.dropped_detected`` too. Nothing is dropped without a counter.
* Validator: ``validator(topic, data, from_peer)`` runs in py-libp2p's validation
  pipeline for every incoming message, before delivery and forwarding; ``False`` (or an
  exception) rejects it, counts ``stats.rejected``, caches the verdict for the message
  id (300 s) and charges the forwarding peer an invalid-message penalty (P4). Our own
  publishes are validated once in ``publish()``, which raises ``PublishRejected``.

Peer scoring (``GossipSub`` + ``PeerScorer``, decay per 1 s heartbeat)
-----------------------------------------------------------------------
py-libp2p's scorer is a simplified v1.1 one: P1 counts mesh joins (not time), P3 is
never fed, so both are weighted 0.

========================  ======  ====  =====  ===============================
parameter                 weight  cap   decay  meaning
========================  ======  ====  =====  ===============================
P2 first deliveries       +1      20    0.99   reward for useful records
P4 invalid messages       -10     100   0.99   validator rejections (halves ~70 s)
P5 behaviour penalty      -1      --    0.99   over threshold 10 (spam: +5 each)
P7 IP colocation          0       --    --     off: LANs and loopback share IPs
gossip_threshold          -40                  below: nothing sent to the peer (py-libp2p
                                               gates mesh sends too), ~4 invalid records
publish_threshold         -50                  below: their messages are ignored
graylist_threshold        -80                  below: excluded from forwarding
========================  ======  ====  =====  ===============================

Relay and mDNS (measured on loopback)
-------------------------------------
* Circuit relay v2 works with py-libp2p's ``CircuitV2Protocol``/``CircuitV2Transport``:
  every node runs the STOP side (it can be reached through a relay); a node started
  after ``enable_relay_hop()`` also serves HOP. ``reserve_on(relay_addr)`` reserves a
  slot and returns ``/…/p2p/RELAY/p2p-circuit/p2p/US``; ``connect()`` of such an
  address dials through the relay (the swarm itself skips ``/p2p-circuit`` addresses,
  so we call the circuit transport directly). GossipSub and our stream protocols run
  over the relayed connection. py-libp2p's relay defaults: 4 reservations, 8 circuits,
  1 h and 1 GiB per circuit, 1 h reservation TTL (refreshed in the background).
  The relay logs a harmless "Error reading from hop stream" after each RESERVE.
* mDNS (``enable_mdns()``, zeroconf, ``_p2p._udp.local``): two nodes in one process
  find and connect to each other within ~50 ms. py-libp2p's discovery event is a
  process-wide singleton fired from zeroconf's thread; we hop back into trio, skip
  ourselves and connected peers, and dial. Across machines: not tested here.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.keys import KeyPair
from libp2p.custom_types import TProtocol
from libp2p.discovery.events.peerDiscovery import peerDiscovery
from libp2p.network.stream.exceptions import StreamClosed, StreamEOF, StreamError, StreamReset
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.peer.peerstore import PeerStoreError
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.mcache import CacheEntry, MessageCache
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.score import ScoreParams, TopicScoreParams
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL_ID
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service

from cercle.node.pacing import SlidingWindow
from cercle.protocol.errors import LocalProtocolError
from cercle.protocol.records import record_id

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

__all__ = [
    "ByteStream",
    "NetStats",
    "Network",
    "PeerInfo",
    "PublishRejected",
    "message_id",
]

MESHSUB_PROTOCOLS = (PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID)
SPAM_LIMIT_PER_S = 10.0  # py-libp2p's max_messages_per_topic_per_second default
THROTTLE_PENALTY = 5.0  # behaviour penalty (P5) per message over allowance, as py-libp2p's
HEARTBEAT_S = 1

Validator = Callable[[str, bytes, str, str], bool]  # topic, data, forwarder, origin
# Before validation, for every message a peer sends: (topic, data, forwarder, origin,
# already seen) -> allowed? A message refused here is dropped, counted, and its
# forwarder charged a behaviour penalty (P5), as py-libp2p's own spam limit does.
Admit = Callable[[str, bytes, str, str, bool], bool]
Deliver = Callable[[str, bytes, str], None]
OnPeer = Callable[[str, bool], None]


def message_id(data: bytes) -> bytes:
    """The GossipSub message id of ``data``: the Cercle record id (SHA-256 of the envelope)."""
    return record_id(data)


def _msg_id(msg: rpc_pb2.Message) -> bytes:
    return message_id(msg.data)


# ---------------------------------------------------------------------------- public types


class PublishRejected(LocalProtocolError):
    """Our own validator rejected a record we tried to publish (a local bug)."""


class ByteStream(Protocol):
    """What a stream handler gets: bytes in, bytes out, like ``trio.abc.Stream``."""

    async def send_all(self, data: bytes) -> None: ...
    async def receive_some(self, max_bytes: int = ...) -> bytes: ...
    async def send_eof(self) -> None: ...
    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerInfo:
    """A connected peer."""

    peer_id: str
    addrs: tuple[str, ...]
    connected_since: float  # time.time() of the first open connection
    relay: bool = False  # it serves circuit relay v2 (HOP), as identify told us


@dataclass(slots=True)
class NetStats:
    """Counters; ``Network.statistics()`` returns a copy."""

    published: int = 0  # own records handed to GossipSub
    duplicates: int = 0  # publish() of a message id already seen: nothing sent
    paced_waits: int = 0  # publish() waited for the per-topic rate limit
    forwards_paced: int = 0  # forwards that waited for the per-topic rate limit
    forward_dropped: int = 0  # forwards dropped: too many already waiting
    queue_waits: int = 0  # publish() waited for room in a peer's outbound queue
    requeued: int = 0  # own message re-queued to a peer after a queue-full drop
    dropped_detected: int = 0  # own (message, peer) deliveries known lost
    forward_queue_drops: int = 0  # forwarded messages the router dropped (queue full)
    delivered: int = 0  # messages handed to deliver()
    throttled: int = 0  # incoming messages refused by the admission check (over allowance)
    rejected: int = 0  # incoming messages the validator rejected
    validator_errors: int = 0  # validator raised (counted as a rejection too)
    deliver_errors: int = 0  # deliver() raised


# ---------------------------------------------------------------------------- libp2p glue

_forwarder: contextvars.ContextVar[ID | None] = contextvars.ContextVar(
    "cercle_forwarder", default=None
)


class _ContentMessageCache(MessageCache):
    """py-libp2p's MessageCache keyed by the content id instead of from+seqno."""

    def put(self, msg: rpc_pb2.Message) -> None:
        mid = _msg_id(msg)
        if mid in self.msgs:
            return
        self.msgs[mid] = msg
        self.history[0].append(CacheEntry(mid, msg.topicIDs))


class _Pubsub(Pubsub):
    """Pubsub that hands accepted messages to the Network instead of bounded channels."""

    def __init__(self, net: Network, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._net = net

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        if msg_forwarder != self.my_id and not self._net._admit(msg_forwarder, msg, self):
            return  # over its allowance: dropped (not marked seen, not cached invalid)
        token = _forwarder.set(msg_forwarder)
        try:
            await super().push_msg(msg_forwarder, msg)
        finally:
            _forwarder.reset(token)

    def notify_subscriptions(self, publish_message: rpc_pb2.Message) -> None:
        self._net._on_accepted(publish_message, _forwarder.get())


class _GossipSub(GossipSub):
    """GossipSub that paces forwards and reports queue-full drops to the Network."""

    def __init__(self, net: Network, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._net = net
        self.mcache = _ContentMessageCache(self.mcache.window_size, self.mcache.history_size)

    async def publish(self, msg_forwarder: ID, pubsub_msg: rpc_pb2.Message) -> None:
        forwarded = self.pubsub is not None and msg_forwarder != self.pubsub.my_id
        if forwarded and not await self._net._pace_forward(pubsub_msg.topicIDs):
            return
        await super().publish(msg_forwarder, pubsub_msg)

    def _handle_dropped_rpc(self, peer_id: ID, rpc: rpc_pb2.RPC, reason: str) -> None:
        super()._handle_dropped_rpc(peer_id, rpc, reason)
        if rpc.publish:
            self._net._on_dropped(peer_id, rpc)


class _PeerNotifee(INotifee):
    def __init__(self, net: Network) -> None:
        self._net = net

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._net._on_connection(conn.muxed_conn.peer_id, network)
        await trio.lowlevel.checkpoint()

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._net._on_connection(conn.muxed_conn.peer_id, network)
        await trio.lowlevel.checkpoint()

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        await trio.lowlevel.checkpoint()

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        await trio.lowlevel.checkpoint()


class _Libp2pByteStream:
    """``ByteStream`` over a libp2p ``INetStream``."""

    def __init__(self, stream: INetStream) -> None:
        self._stream = stream
        self._closed = False

    async def send_all(self, data: bytes) -> None:
        if self._closed:
            raise trio.ClosedResourceError("stream closed")
        try:
            await self._stream.write(bytes(data))
        except (StreamClosed, StreamReset, StreamError) as exc:
            raise trio.BrokenResourceError("peer closed or reset the stream") from exc

    async def receive_some(self, max_bytes: int = 65536) -> bytes:
        if self._closed:
            raise trio.ClosedResourceError("stream closed")
        try:
            return await self._stream.read(max_bytes)
        except StreamEOF:
            return b""
        except (StreamReset, StreamError) as exc:
            raise trio.BrokenResourceError("peer reset the stream") from exc

    async def send_eof(self) -> None:
        try:
            close_write = getattr(self._stream, "close_write", None)
            await (close_write() if close_write is not None else self._stream.close())
        except (StreamClosed, StreamReset, StreamError) as exc:
            raise trio.BrokenResourceError("peer closed or reset the stream") from exc

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._stream.close()
        except Exception:
            try:
                await self._stream.reset()
            except Exception:
                log.debug("reset after failed close also failed", exc_info=True)


def _reject_all(topic: str, data: bytes, from_peer: str, origin: str) -> bool:
    return False


def _origin(msg: rpc_pb2.Message) -> str:
    """The peer that published a message (StrictSign: its key signed it), base58."""
    try:
        return str(ID(msg.from_id).to_base58())
    except Exception:  # not a peer id: the signature check has refused it already
        return ""


def _ignore(topic: str, data: bytes, from_peer: str) -> None:
    return None


def _score_params() -> ScoreParams:
    return ScoreParams(
        p1_time_in_mesh=TopicScoreParams(weight=0.0, cap=0.0, decay=1.0),
        p2_first_message_deliveries=TopicScoreParams(weight=1.0, cap=20.0, decay=0.99),
        p3_mesh_message_deliveries=TopicScoreParams(weight=0.0, cap=0.0, decay=1.0),
        p4_invalid_messages=TopicScoreParams(weight=10.0, cap=100.0, decay=0.99),
        p5_behavior_penalty_weight=1.0,
        p5_behavior_penalty_decay=0.99,
        p5_behavior_penalty_threshold=10.0,
        p7_ip_colocation_weight=0.0,
        gossip_threshold=-40.0,  # py-libp2p gates even mesh sends by it: allow a few mistakes
        publish_threshold=-50.0,
        graylist_threshold=-80.0,
        accept_px_threshold=math.inf,  # peer exchange is off
    )


@dataclass(slots=True)
class _Requeue:
    peer_id: ID
    rpc: rpc_pb2.RPC
    deadline: float


# ---------------------------------------------------------------------------- Network


class Network:
    """A py-libp2p host with GossipSub (StrictSign, content message ids) and stream hooks.

    Run it with ``await nursery.start(net.serve)``; everything else is valid once it has
    started. Callbacks (``validator``, ``deliver``, ``on_peer``) are synchronous and
    must be quick: they run inside libp2p's tasks.
    """

    def __init__(
        self,
        host_key: KeyPair,
        listen_addrs: Sequence[str],
        validator: Validator | None = None,
        deliver: Deliver | None = None,
        *,
        on_peer: OnPeer | None = None,
        publish_rate: int = 8,
        publish_window: float = 1.0,
        topic_rate: Callable[[str], int] | None = None,
        spam_limit_per_s: float | None = SPAM_LIMIT_PER_S,
        queue_wait_timeout: float = 10.0,
        max_forward_backlog: int = 64,
        mesh_degree: tuple[int, int, int] = (4, 6, 12),
    ) -> None:
        """
        :param spam_limit_per_s: py-libp2p's per-(forwarder, topic) limit on *incoming*
            messages, None to disable it. Keep ``publish_rate`` below the limit of the
            peers we talk to (10 for default py-libp2p nodes).
        :param topic_rate: the pacing limit of one topic (messages per ``publish_window``,
            own and forwarded), if it is not ``publish_rate`` for every topic.
        :param mesh_degree: GossipSub (D_low, D, D_high).
        """
        self._key = host_key
        self._listen = [multiaddr.Multiaddr(a) for a in listen_addrs]
        self._validator: Validator = validator or _reject_all
        self._deliver: Deliver = deliver or _ignore
        self._admit_fn: Admit | None = None
        self._on_peer = on_peer
        self._publish_rate = publish_rate
        self._topic_rate = topic_rate or (lambda topic: publish_rate)
        self._publish_window = publish_window
        self._spam_limit = spam_limit_per_s
        self._queue_wait_timeout = queue_wait_timeout
        self._max_forward_backlog = max_forward_backlog
        self._degree = mesh_degree
        self.stats = NetStats()
        self.peer_id: str = ID.from_pubkey(host_key.public_key).to_base58()
        self.listen_addrs: list[str] = []
        self._host: Any = None
        self._pubsub: _Pubsub | None = None
        self._router: _GossipSub | None = None
        self._topics: set[str] = set()
        self._limiters: dict[str, SlidingWindow] = {}
        self._pace_locks: dict[str, trio.Lock] = {}
        self._forward_waiting: dict[str, int] = {}
        self._connected: dict[str, float] = {}
        self._stream_handlers: dict[str, Callable[[ByteStream, str], Awaitable[None]]] = {}
        self._requeue: list[_Requeue] = []
        self._requeue_wake = trio.Event()
        self._mdns = False
        self._relay_hop = False
        self._relay: CircuitV2Transport | None = None
        self._nursery: trio.Nursery | None = None
        self._running = False

    def set_topic_handlers(
        self, validator: Validator, deliver: Deliver, admit: Admit | None = None
    ) -> None:
        """Who judges and who receives the messages of every topic we join."""
        self._validator, self._deliver, self._admit_fn = validator, deliver, admit

    # -- lifecycle ----------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the host until cancelled; ``task_status.started()`` once listening."""
        if self._host is not None:
            raise RuntimeError("Network.serve() is already running")
        d_low, d, d_high = self._degree
        host = new_host(key_pair=self._key, listen_addrs=self._listen, enable_mDNS=self._mdns)
        router = _GossipSub(
            self,
            protocols=list(MESHSUB_PROTOCOLS),
            degree=d,
            degree_low=d_low,
            degree_high=d_high,
            heartbeat_interval=HEARTBEAT_S,
            heartbeat_initial_delay=0.1,
            score_params=_score_params(),
            adaptive_gossip_enabled=False,
            spam_protection_enabled=self._spam_limit is not None,
            max_messages_per_topic_per_second=self._spam_limit or SPAM_LIMIT_PER_S,
        )
        pubsub = _Pubsub(self, host, router, strict_signing=True, msg_id_constructor=_msg_id)
        relay_proto = CircuitV2Protocol(host, allow_hop=self._relay_hop)
        roles = RelayRole.STOP | RelayRole.CLIENT
        if self._relay_hop:
            roles |= RelayRole.HOP
        self._relay = CircuitV2Transport(host, relay_proto, RelayConfig(roles=roles))
        host.get_network().register_notifee(_PeerNotifee(self))
        self._host, self._router, self._pubsub = host, router, pubsub
        try:
            for pid, handler in self._stream_handlers.items():
                self._install_handler(pid, handler)
            async with (
                host.run(self._listen),
                background_trio_service(pubsub),
                background_trio_service(router),
                background_trio_service(relay_proto),
                trio.open_nursery() as nursery,
            ):
                self._nursery = nursery
                await pubsub.wait_until_ready()
                for topic in sorted(self._topics):
                    await self._subscribe(topic)
                self.listen_addrs = [str(a) for a in host.get_addrs()]
                self._running = True
                nursery.start_soon(self._requeue_loop)
                if self._mdns:
                    await nursery.start(self._mdns_loop)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._running = False
            self._host = self._pubsub = self._router = None
            self._relay = None
            self._nursery = None
            self._connected.clear()
            self._requeue.clear()
            self.listen_addrs = []

    def _require(self) -> tuple[Any, _Pubsub, _GossipSub]:
        if not self._running or self._pubsub is None or self._router is None:
            raise RuntimeError("Network is not running; start it with nursery.start(net.serve)")
        return self._host, self._pubsub, self._router

    # -- topics -------------------------------------------------------------

    async def join(self, topic: str) -> None:
        """Subscribe to ``topic`` (idempotent). Before serve(), it is joined on start."""
        self._topics.add(topic)
        if self._running:
            await self._subscribe(topic)

    async def leave(self, topic: str) -> None:
        """Unsubscribe from ``topic`` (idempotent)."""
        self._topics.discard(topic)
        if self._running and self._pubsub is not None:
            self._pubsub.remove_topic_validator(topic)
            await self._pubsub.unsubscribe(topic)

    def topics(self) -> list[str]:
        return sorted(self._topics)

    async def _subscribe(self, topic: str) -> None:
        _, pubsub, _ = self._require()

        def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            if forwarder == pubsub.my_id:
                return True  # publish() already validated it
            origin = _origin(msg)
            return self._validate(topic, msg.data, forwarder.to_base58(), origin)

        pubsub.set_topic_validator(topic, validate, False)
        await pubsub.subscribe(topic)

    def _validate(self, topic: str, data: bytes, from_peer: str, origin: str) -> bool:
        try:
            ok = bool(self._validator(topic, data, from_peer, origin))
        except Exception:
            log.exception("validator raised on topic %s; rejecting the message", topic)
            self.stats.validator_errors += 1
            ok = False
        if not ok:
            self.stats.rejected += 1
        return ok

    def _admit(self, forwarder: ID, msg: rpc_pb2.Message, pubsub: Pubsub) -> bool:
        admit = self._admit_fn
        if admit is None:
            return True
        topics = [t for t in msg.topicIDs if t in self._topics]
        if not topics:
            return True  # not ours: py-libp2p ignores it anyway
        seen = bool(pubsub.seen_messages.has(_msg_id(msg)))
        sender = forwarder.to_base58()
        try:
            ok = all(admit(t, msg.data, sender, _origin(msg), seen) for t in topics)
        except Exception:
            log.exception("admission check raised; letting the message through")
            return True
        if not ok:
            self.stats.throttled += 1
            scorer = self._router.scorer if self._router is not None else None
            if scorer is not None:
                scorer.penalize_behavior(forwarder, THROTTLE_PENALTY)
        return ok

    def _on_accepted(self, msg: rpc_pb2.Message, forwarder: ID | None) -> None:
        pubsub = self._pubsub
        if pubsub is None or forwarder is None or forwarder == pubsub.my_id:
            return  # our own publish: the node already has the record
        sender = forwarder.to_base58()
        for topic in msg.topicIDs:
            if topic not in self._topics:
                continue
            try:
                self._deliver(topic, msg.data, sender)
                self.stats.delivered += 1
            except Exception:
                self.stats.deliver_errors += 1
                log.exception("deliver() raised on topic %s", topic)

    # -- publishing ---------------------------------------------------------

    async def publish(self, topic: str, data: bytes) -> None:
        """Publish ``data`` (a record envelope) on ``topic``, paced and never silently lost.

        Waits for the per-topic rate limit and for room in subscribed peers' outbound
        queues. Publishing a message id seen in the last 120 s does nothing
        (``stats.duplicates``). Raises ``PublishRejected`` if our validator rejects it.
        """
        _, pubsub, router = self._require()
        mid = message_id(data)
        if pubsub.seen_messages.has(mid):
            self.stats.duplicates += 1
            return
        if not self._validate(topic, data, self.peer_id, self.peer_id):
            raise PublishRejected(f"validator rejected our own message {mid.hex()} on {topic}")
        await self._pace(topic)
        await self._wait_queue_room(topic)
        self._require()
        if pubsub.seen_messages.has(mid):  # the same record arrived while we waited
            self.stats.duplicates += 1
            return
        await pubsub.publish(topic, data)
        if mid in router.mcache.msgs:
            self.stats.published += 1
        else:
            # Refused before reaching any queue: spam limit or our own score gate.
            self.stats.dropped_detected += 1
            log.warning("GossipSub refused our publish of %s on %s", mid.hex(), topic)

    def _limiter(self, topic: str) -> SlidingWindow:
        lim = self._limiters.get(topic)
        if lim is None:
            rate = self._topic_rate(topic)
            lim = self._limiters[topic] = SlidingWindow(rate, self._publish_window)
        return lim

    async def _pace(self, topic: str) -> bool:
        """Wait for a slot on ``topic``; True if we had to wait."""
        waited = await self._take_slot(topic)
        if waited:
            self.stats.paced_waits += 1
        return waited

    async def _take_slot(self, topic: str) -> bool:
        """Take the next send slot on ``topic``, first come first served.

        Waiters queue on a per-topic trio.Lock (which wakes them in arrival
        order), so under load a record waits for the ones before it instead of
        racing every other waiter at each slot.
        """
        lock = self._pace_locks.get(topic)
        if lock is None:
            lock = self._pace_locks[topic] = trio.Lock()
        waited = False
        async with lock:
            lim = self._limiter(topic)
            while (d := lim.delay(trio.current_time())) > 0:
                waited = True
                await trio.sleep(d)
            lim.take(trio.current_time())
        return waited

    async def _pace_forward(self, topics: Iterable[str]) -> bool:
        for topic in topics:
            if self._limiter(topic).delay(trio.current_time()) <= 0:
                self._limiter(topic).take(trio.current_time())
                continue
            waiting = self._forward_waiting.get(topic, 0)
            if waiting >= self._max_forward_backlog:
                self.stats.forward_dropped += 1
                return False
            self._forward_waiting[topic] = waiting + 1
            try:
                self.stats.forwards_paced += 1
                await self._take_slot(topic)
            finally:
                self._forward_waiting[topic] -= 1
        return True

    def _queue_full(self, topic: str) -> bool:
        pubsub = self._pubsub
        if pubsub is None:
            return False
        for peer in pubsub.peer_topics.get(topic, ()):
            q = pubsub.peer_queues.get(peer)
            if q is None:
                continue
            cap = getattr(getattr(q, "_queue", None), "max_size", 32)
            if len(q) >= cap - 2:  # leave room for control messages
                return True
        return False

    async def _wait_queue_room(self, topic: str) -> None:
        if not self._queue_full(topic):
            return
        self.stats.queue_waits += 1
        with trio.move_on_after(self._queue_wait_timeout):
            while self._queue_full(topic):
                await trio.sleep(0.01)

    def _on_dropped(self, peer_id: ID, rpc: rpc_pb2.RPC) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            return
        own = [m for m in rpc.publish if m.from_id == pubsub.my_id.to_bytes()]
        self.stats.forward_queue_drops += len(rpc.publish) - len(own)
        if own and self._running:
            retry = rpc_pb2.RPC()
            retry.CopyFrom(rpc)
            retry.ClearField("control")
            del retry.publish[:]
            retry.publish.extend(own)
            deadline = trio.current_time() + self._queue_wait_timeout
            self._requeue.append(_Requeue(peer_id, retry, deadline))
            self._requeue_wake.set()

    async def _requeue_loop(self) -> None:
        while True:
            await self._requeue_wake.wait()
            self._requeue_wake = trio.Event()
            while self._requeue:
                pubsub = self._pubsub
                now = trio.current_time()
                keep: list[_Requeue] = []
                for item in self._requeue:
                    q = pubsub.peer_queues.get(item.peer_id) if pubsub is not None else None
                    n = len(item.rpc.publish)
                    if q is None or q.closed or now > item.deadline:
                        self.stats.dropped_detected += n
                    elif q.push(item.rpc):
                        self.stats.requeued += n
                    else:
                        keep.append(item)
                self._requeue = keep
                if keep:
                    await trio.sleep(0.01)

    # -- peers --------------------------------------------------------------

    async def connect(self, addr: str) -> str:
        """Dial ``addr`` (a multiaddr ending in /p2p/ID); return the peer id."""
        host, _, _ = self._require()
        maddr = multiaddr.Multiaddr(addr)
        if "/p2p-circuit/" in addr:
            assert self._relay is not None
            _, target = self._relay.parse_circuit_ma(maddr)
            await self._relay.dial(maddr)
            return str(target.to_base58())
        info = info_from_p2p_addr(maddr)
        await host.connect(info)
        return str(info.peer_id.to_base58())

    def enable_mdns(self) -> None:
        """Discover and connect to peers on the local network by mDNS. Call before serve()."""
        if self._host is not None:
            raise RuntimeError("enable_mdns() must be called before serve()")
        self._mdns = True

    async def _mdns_loop(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # py-libp2p's mDNS listener adds peers to the peerstore and calls the handlers of
        # a process-wide singleton, from zeroconf's thread; we hop back into trio, skip
        # ourselves and peers already connected, and dial.
        token = trio.lowlevel.current_trio_token()
        send, recv = trio.open_memory_channel[Any](64)

        def found(info: Any) -> None:
            def push() -> None:
                with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
                    send.send_nowait(info)

            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(push)

        peerDiscovery.register_peer_discovered_handler(found)
        try:
            task_status.started()
            async with recv:
                async for info in recv:
                    pid = info.peer_id.to_base58()
                    if pid == self.peer_id or pid in self._connected or self._host is None:
                        continue
                    try:
                        with trio.move_on_after(10):
                            await self._host.connect(info)
                    except Exception as exc:
                        log.debug("mDNS peer %s: dial failed: %r", pid, exc)
        finally:
            peerDiscovery.unregister_peer_discovered_handler(found)
            send.close()

    def enable_relay_hop(self) -> None:
        """Act as a circuit relay v2 (hop) for other peers. Call before serve()."""
        if self._host is not None:
            raise RuntimeError("enable_relay_hop() must be called before serve()")
        self._relay_hop = True

    async def reserve_on(self, relay_addr: str) -> str:
        """Reserve a slot on the relay at ``relay_addr``; return our circuit address."""
        host, _, _ = self._require()
        assert self._relay is not None and self._nursery is not None
        info = info_from_p2p_addr(multiaddr.Multiaddr(relay_addr))
        await host.connect(info)
        stream = await host.new_stream(info.peer_id, [HOP_PROTOCOL_ID])
        try:
            ok = await self._relay.reserve(stream, info.peer_id, self._nursery)
        finally:
            await stream.close()
        if not ok:
            raise ConnectionError(f"relay {relay_addr} refused our reservation")
        return f"{relay_addr}/p2p-circuit/p2p/{self.peer_id}"

    async def disconnect(self, peer_id: str) -> None:
        host, _, _ = self._require()
        await host.disconnect(ID.from_base58(peer_id))

    def peers(self) -> list[PeerInfo]:
        host = self._host
        out = []
        for pid, since in sorted(self._connected.items()):
            addrs: tuple[str, ...] = ()
            relay = False
            if host is not None:
                store, peer = host.get_peerstore(), ID.from_base58(pid)
                try:
                    addrs = tuple(str(a) for a in store.addrs(peer))
                except Exception:
                    addrs = ()
                try:  # filled by identify, a moment after the connection opens
                    relay = HOP_PROTOCOL_ID in store.get_protocols(peer)
                except PeerStoreError:
                    relay = False
            out.append(PeerInfo(peer_id=pid, addrs=addrs, connected_since=since, relay=relay))
        return out

    def topic_peers(self, topic: str) -> list[str]:
        """Peers known to be subscribed to ``topic``."""
        pubsub = self._pubsub
        if pubsub is None:
            return []
        return sorted(p.to_base58() for p in pubsub.peer_topics.get(topic, ()))

    def mesh_peers(self, topic: str) -> list[str]:
        """Peers in our GossipSub mesh for ``topic``."""
        router = self._router
        if router is None:
            return []
        return sorted(p.to_base58() for p in router.mesh.get(topic, ()))

    def penalize(self, peer_id: str, amount: float) -> None:
        """Charge ``peer_id`` a behaviour penalty (P5) for misbehaving outside gossip."""
        router = self._router
        if router is not None and router.scorer is not None:
            router.scorer.penalize_behavior(ID.from_base58(peer_id), amount)

    def score(self, peer_id: str, topic: str) -> float:
        """The GossipSub score we give ``peer_id`` on ``topic``."""
        router = self._router
        if router is None or router.scorer is None:
            return 0.0
        return float(router.scorer.score(ID.from_base58(peer_id), [topic]))

    def statistics(self) -> NetStats:
        return replace(self.stats)

    def _on_connection(self, peer: ID, network: INetwork) -> None:
        pid = peer.to_base58()
        live = [
            c
            for c in network.get_connections(peer)
            if not getattr(getattr(c, "muxed_conn", None), "is_closed", False)
        ]
        if live and pid not in self._connected:
            self._connected[pid] = time.time()
            self._notify_peer(pid, True)
        elif not live and pid in self._connected:
            del self._connected[pid]
            self._notify_peer(pid, False)

    def _notify_peer(self, pid: str, connected: bool) -> None:
        if self._on_peer is None:
            return
        try:
            self._on_peer(pid, connected)
        except Exception:
            log.exception("on_peer() raised")

    # -- streams ------------------------------------------------------------

    def set_stream_handler(
        self, protocol_id: str, handler: Callable[[ByteStream, str], Awaitable[None]]
    ) -> None:
        """Serve ``protocol_id``: ``handler(stream, peer_id)``; the stream is closed after."""
        self._stream_handlers[protocol_id] = handler
        if self._host is not None:
            self._install_handler(protocol_id, handler)

    def _install_handler(
        self, protocol_id: str, handler: Callable[[ByteStream, str], Awaitable[None]]
    ) -> None:
        async def on_stream(stream: INetStream) -> None:
            peer = stream.muxed_conn.peer_id.to_base58()
            bs = _Libp2pByteStream(stream)
            try:
                await handler(bs, peer)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                log.debug("%s stream with %s ended: %r", protocol_id, peer, exc)
            except Exception:
                log.exception("%s handler failed for peer %s", protocol_id, peer)
            finally:
                await bs.aclose()

        self._host.set_stream_handler(TProtocol(protocol_id), on_stream)

    async def open_stream(self, peer_id: str, protocol_id: str) -> ByteStream:
        """Open a ``protocol_id`` stream to ``peer_id`` (dialling known addresses if needed)."""
        host, _, _ = self._require()
        stream = await host.new_stream(ID.from_base58(peer_id), [TProtocol(protocol_id)])
        return _Libp2pByteStream(stream)
