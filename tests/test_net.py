"""cercle.node.net on real py-libp2p hosts over 127.0.0.1."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID

from cercle.node.files.hostkey import load_or_create_host_key
from cercle.node.net import (
    ByteStream,
    Network,
    PublishRejected,
    message_id,
)
from tests.helpers import LOOPBACK, until

TOPIC = "cercle/test/community"


@dataclass
class Node:
    net: Network
    got: list[tuple[str, bytes, str]] = field(default_factory=list)
    reject: set[bytes] = field(default_factory=set)
    peer_events: list[tuple[str, bool]] = field(default_factory=list)

    def data(self) -> list[bytes]:
        return [d for _, d, _ in self.got]


async def start(nursery: trio.Nursery, **kwargs: object) -> Node:
    node: Node

    def validator(topic: str, data: bytes, from_peer: str, origin: str) -> bool:
        return data not in node.reject

    def deliver(topic: str, data: bytes, from_peer: str) -> None:
        node.got.append((topic, data, from_peer))

    def on_peer(peer_id: str, connected: bool) -> None:
        node.peer_events.append((peer_id, connected))

    net = Network(create_new_key_pair(), LOOPBACK, validator, deliver, on_peer=on_peer, **kwargs)  # type: ignore[arg-type]
    node = Node(net)
    await nursery.start(net.serve)
    return node


async def link(a: Node, b: Node, topic: str = TOPIC) -> None:
    """Connect a to b and wait until each has the other in its mesh for topic."""
    await a.net.connect(b.net.listen_addrs[0])
    await until(
        lambda: (
            b.net.peer_id in a.net.mesh_peers(topic) and a.net.peer_id in b.net.mesh_peers(topic)
        )
    )


# ---------------------------------------------------------------------------- pure parts


def test_message_id_is_sha256() -> None:
    assert message_id(b"abc").hex().startswith("ba7816bf")


def test_host_key_persisted_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "host.key"
    first = load_or_create_host_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_or_create_host_key(path)
    assert ID.from_pubkey(first.public_key) == ID.from_pubkey(second.public_key)
    os.chmod(path, 0o644)
    third = load_or_create_host_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ID.from_pubkey(third.public_key) == ID.from_pubkey(first.public_key)
    (tmp_path / "junk.key").write_bytes(b"not a key")
    with pytest.raises(ValueError, match="not a libp2p private key"):
        load_or_create_host_key(tmp_path / "junk.key")


# ---------------------------------------------------------------------------- libp2p


async def test_persisted_key_gives_same_peer_id(tmp_path: Path) -> None:
    ids = []
    for _ in range(2):
        key = load_or_create_host_key(tmp_path / "host.key")
        net = Network(key, LOOPBACK, lambda *a: True, lambda *a: None)
        async with trio.open_nursery() as nursery:
            await nursery.start(net.serve)
            assert net.listen_addrs[0].endswith("/p2p/" + net.peer_id)
            ids.append(net.peer_id)
            nursery.cancel_scope.cancel()
    assert ids[0] == ids[1]


async def test_two_nodes_publish_deliver_and_dedup() -> None:
    async with trio.open_nursery() as nursery:
        a, b = await start(nursery), await start(nursery)
        await a.net.join(TOPIC)
        await b.net.join(TOPIC)
        assert a.net.topics() == [TOPIC]
        await link(a, b)
        assert [p.peer_id for p in a.net.peers()] == [b.net.peer_id]
        assert a.net.peers()[0].addrs
        await until(lambda: (b.net.peer_id, True) in a.peer_events)
        await until(lambda: (a.net.peer_id, True) in b.peer_events)

        payload = bytes(range(256)) * 4
        await a.net.publish(TOPIC, payload)
        await a.net.publish(TOPIC, payload)  # same record: one message
        await a.net.publish(TOPIC, b"after")
        await until(lambda: b"after" in b.data())
        assert b.got[0] == (TOPIC, payload, a.net.peer_id)
        assert b.data().count(payload) == 1
        assert a.got == []  # own publishes are not delivered back
        s = a.net.statistics()
        assert (s.published, s.duplicates, s.dropped_detected) == (2, 1, 0)

        with pytest.raises(PublishRejected):
            a.reject.add(b"bad")
            await a.net.publish(TOPIC, b"bad")

        await a.net.disconnect(b.net.peer_id)
        await until(lambda: (b.net.peer_id, False) in a.peer_events)
        await until(lambda: (a.net.peer_id, False) in b.peer_events)
        assert a.net.peers() == []
        nursery.cancel_scope.cancel()


async def test_same_record_from_two_origins_is_one_message() -> None:
    async with trio.open_nursery() as nursery:
        a, b, c = await start(nursery), await start(nursery), await start(nursery)
        for n in (a, b):
            await n.net.join(TOPIC)
        await link(a, b)
        await c.net.connect(b.net.listen_addrs[0])  # c publishes without joining (fanout)
        await until(lambda: b.net.peer_id in c.net.topic_peers(TOPIC))
        await a.net.publish(TOPIC, b"record")
        await until(lambda: b"record" in b.data())
        await c.net.publish(TOPIC, b"record")
        await c.net.publish(TOPIC, b"marker")
        await until(lambda: b"marker" in b.data())
        assert b.data().count(b"record") == 1
        assert c.net.statistics().published == 2  # c had not seen it: it did send it
        nursery.cancel_scope.cancel()


async def test_rejected_message_is_neither_delivered_nor_forwarded() -> None:
    async with trio.open_nursery() as nursery:
        a, b, c = await start(nursery), await start(nursery), await start(nursery)
        for n in (a, b, c):
            await n.net.join(TOPIC)
        await link(a, b)
        await link(b, c)
        assert c.net.peer_id not in a.net.topic_peers(TOPIC)  # a line: a - b - c
        b.reject.add(b"bad")
        await a.net.publish(TOPIC, b"bad")
        await a.net.publish(TOPIC, b"good")
        await until(lambda: b"good" in c.data() and b.net.statistics().rejected == 1)
        assert b"bad" not in b.data()
        assert b"bad" not in c.data()
        assert c.got == [(TOPIC, b"good", b.net.peer_id)]
        assert b.net.score(a.net.peer_id, TOPIC) < 0  # the invalid-message penalty
        nursery.cancel_scope.cancel()


async def test_fifty_quick_publishes_all_arrive_over_two_hops() -> None:
    async with trio.open_nursery() as nursery:
        a, b, c = await start(nursery), await start(nursery), await start(nursery)
        for n in (a, b, c):
            await n.net.join(TOPIC)
        await link(a, b)
        await link(b, c)
        sent = [b"msg-%02d" % i for i in range(50)]
        start_t = trio.current_time()
        for m in sent:
            await a.net.publish(TOPIC, m)
        elapsed = trio.current_time() - start_t
        await until(lambda: len(c.got) == 50 and len(b.got) == 50, timeout=20)
        assert sorted(b.data()) == sent
        assert sorted(c.data()) == sent
        s = a.net.statistics()
        assert s.published == 50 and s.dropped_detected == 0 and s.paced_waits > 0
        assert 5.0 < elapsed < 8.0  # 8 at once, then 8 per second
        assert b.net.statistics().forward_dropped == 0
        nursery.cancel_scope.cancel()


async def test_stream_handler_echo() -> None:
    proto = "/cercle/test/echo/1.0.0"
    async with trio.open_nursery() as nursery:
        a, b = await start(nursery), await start(nursery)
        seen_peer: list[str] = []

        async def echo(stream: ByteStream, peer_id: str) -> None:
            seen_peer.append(peer_id)
            while chunk := await stream.receive_some(4096):
                await stream.send_all(chunk)

        b.net.set_stream_handler(proto, echo)
        await a.net.connect(b.net.listen_addrs[0])
        stream = await a.net.open_stream(b.net.peer_id, proto)
        payload = os.urandom(100_000)
        await stream.send_all(payload)
        await stream.send_eof()
        got = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some(65536):
                got += chunk
        await stream.aclose()
        assert got == payload
        assert seen_peer == [a.net.peer_id]
        nursery.cancel_scope.cancel()


async def test_circuit_relay_v2_reserve_and_dial_through_relay() -> None:
    async with trio.open_nursery() as nursery:
        relay = Network(create_new_key_pair(), LOOPBACK, lambda *a: True, lambda *a: None)
        relay.enable_relay_hop()
        await nursery.start(relay.serve)
        target, dialer = await start(nursery), await start(nursery)
        for n in (target, dialer):
            await n.net.join(TOPIC)
        circuit = await target.net.reserve_on(relay.listen_addrs[0])
        assert circuit.endswith(f"/p2p-circuit/p2p/{target.net.peer_id}")
        # identify tells the target that this peer serves relay (HOP)
        await until(
            lambda: [(p.peer_id, p.relay) for p in target.net.peers()] == [(relay.peer_id, True)]
        )
        assert await dialer.net.connect(circuit) == target.net.peer_id
        # the dialer knows no direct address of the target: this link is relayed
        assert target.net.peer_id in [p.peer_id for p in dialer.net.peers()]
        assert not {p.peer_id: p.relay for p in dialer.net.peers()}[target.net.peer_id]
        await until(lambda: target.net.peer_id in dialer.net.mesh_peers(TOPIC))
        await dialer.net.publish(TOPIC, b"via relay")
        await until(lambda: b"via relay" in target.data())

        async def echo(stream: ByteStream, peer_id: str) -> None:
            while chunk := await stream.receive_some(4096):
                await stream.send_all(chunk)

        target.net.set_stream_handler("/cercle/test/echo/1.0.0", echo)
        stream = await dialer.net.open_stream(target.net.peer_id, "/cercle/test/echo/1.0.0")
        await stream.send_all(b"ping")
        with trio.fail_after(10):
            assert await stream.receive_some(100) == b"ping"
        await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_mdns_discovers_and_connects() -> None:
    async with trio.open_nursery() as nursery:
        nets = [Network(create_new_key_pair(), LOOPBACK, lambda *a: True, lambda *a: None)]
        nets.append(Network(create_new_key_pair(), LOOPBACK, lambda *a: True, lambda *a: None))
        for net in nets:
            net.enable_mdns()
            await nursery.start(net.serve)
        a, b = nets
        await until(
            lambda: (
                b.peer_id in [p.peer_id for p in a.peers()]
                and a.peer_id in [p.peer_id for p in b.peers()]
            ),
            timeout=15,
        )
        nursery.cancel_scope.cancel()


async def test_backpressure_without_pacing_loses_nothing() -> None:
    # Pacing off on both ends: a tight loop fills py-libp2p's 32-slot outbound queue
    # (raw py-libp2p drops all but ~16 of 2000 here); publish() must wait instead.
    async with trio.open_nursery() as nursery:
        kw = {"publish_rate": 100_000, "spam_limit_per_s": None}
        a, b = await start(nursery, **kw), await start(nursery, **kw)
        for n in (a, b):
            await n.net.join(TOPIC)
        await link(a, b)
        sent = [b"burst-%03d" % i for i in range(300)]
        for m in sent:
            await a.net.publish(TOPIC, m)
        await until(lambda: len(b.got) == 300, timeout=30)
        assert sorted(b.data()) == sent
        s = a.net.statistics()
        assert s.queue_waits > 0 and s.dropped_detected == 0 and s.published == 300
        nursery.cancel_scope.cancel()
