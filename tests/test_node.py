"""Several real nodes on loopback (py-libp2p, TCP 127.0.0.1) in one trio test."""

from __future__ import annotations

from pathlib import Path

from cercle.node.files.config import Config
from cercle.node.files.hostkey import load_or_create_host_key
from cercle.node.net import Network
from cercle.node.serve import Node
from cercle.protocol import records as R
from cercle.protocol.topics import community_topic
from cercle.storage import Store
from cercle.storage import layout as L
from tests import factory as F
from tests.helpers import LOOPBACK, link, make_node, running, until


def ids(node: Node, scope: bytes) -> list[tuple[int, bytes]]:
    assert node.store is not None
    return node.store.scope_items(scope)


def has(node: Node, rid: bytes) -> bool:
    return node.store is not None and node.store.has(rid)


async def new_community(node: Node, name: str = "Vegan") -> R.Record:
    body = R.CommunityBody(name, "plant based", ("vegan",), ("taste", "price"))
    rec = await node.author(body)
    await node.join(rec.id)
    return rec


async def test_records_flow_over_gossip_and_offline_node_catches_up(tmp_path: Path) -> None:
    a, b, c = (make_node(tmp_path, n) for n in "abc")
    async with running(a, b, c):
        await link(a, b)
        await link(b, c)
        comm = await new_community(a)
        await until(lambda: has(b, comm.id) and has(c, comm.id))
        for n in (b, c):
            await n.join(comm.id)
        # Let the community topic's mesh form before publishing on it.
        await until(lambda: bool(a.net and a.net.mesh_peers(community_topic(comm.id))))
        await until(lambda: bool(c.net and c.net.mesh_peers(community_topic(comm.id))))
        rating = await a.author(R.RatingBody(F.gtin(1), (4, 5), "good"), comm.id)
        await until(lambda: has(b, rating.id) and has(c, rating.id))
        # Counters move just after the commit becomes visible: wait, do not race.
        await until(lambda: c.counters["ingest.stored"] >= 2)

        # A node that was offline joins later and catches up through sync.
        d = make_node(tmp_path, "d")
        more = [await b.author(R.RatingBody(F.gtin(i), (3, 3)), comm.id) for i in range(2, 6)]
        await until(lambda: all(has(a, r.id) for r in more))
        async with running(d):
            await d.join(comm.id)
            await link(d, a)
            await until(lambda: ids(d, comm.id) == ids(a, comm.id))
            await until(lambda: ids(d, R.ZERO_ID) == ids(a, R.ZERO_ID))


async def test_retraction_propagates_and_the_record_never_comes_back(tmp_path: Path) -> None:
    a, b, c = (make_node(tmp_path, n) for n in "abc")
    async with running(a, b):
        await link(a, b)
        comm = await new_community(a)
        await until(lambda: has(b, comm.id))
        await b.join(comm.id)
        rating = await a.author(R.RatingBody(F.gtin(7), (1, 1)), comm.id)
        await until(lambda: has(b, rating.id))
        # c holds the rating (it saw it before going offline) but not the retraction.
        assert c.store is None
        c.datadir.ensure()
        with Store(c.datadir.db) as s:
            s.ingest([comm, rating])
            s.local_put(L.setting(L.JOINED, comm.id))
        retraction = await a.author(R.RetractBody(rating.id), comm.id)
        await until(lambda: not has(b, rating.id) and has(b, retraction.id))
        async with running(c):
            await link(c, b)
            await until(lambda: has(c, retraction.id))
            assert not has(c, rating.id)
            await until(lambda: ids(c, comm.id) == ids(b, comm.id) == ids(a, comm.id))
            # Syncing again does not resurrect it anywhere.
            assert c.net is not None and b.net is not None
            await c.sync_with(b.net.peer_id)
            assert not any(has(n, rating.id) for n in (a, b, c))


async def test_invalid_records_from_a_peer_are_rejected_and_harm_no_one(tmp_path: Path) -> None:
    a, b = make_node(tmp_path, "a"), make_node(tmp_path, "b")
    async with running(a, b) as nursery:
        await link(a, b)
        comm = await new_community(a)
        await until(lambda: has(b, comm.id))
        await b.join(comm.id)
        topic = community_topic(comm.id)

        # A misbehaving peer: a bare libp2p node that validates nothing.
        evil = Network(
            load_or_create_host_key(tmp_path / "evil.key"),
            list(LOOPBACK),
            lambda *_: True,
            lambda *_: None,
        )
        await nursery.start(evil.serve)
        await evil.join(topic)
        assert a.net is not None
        await evil.connect(a.net.listen_addrs[0])
        await until(lambda: bool(evil.mesh_peers(topic)))
        good = F.rating(3, comm.id, 9, (2, 2), t=a.now_ms())
        forged = bytearray(F.rating(4, comm.id, 9, (5, 5), t=a.now_ms()).raw)
        forged[-1] ^= 1  # breaks the signature
        wrong_topic = F.rating(5, bytes(32), 9, (5, 5), t=a.now_ms())
        for data in (b"\x00garbage", bytes(forged), wrong_topic.raw, good.raw):
            await evil.publish(topic, data)
        await until(lambda: has(a, good.id) and has(b, good.id))
        await until(lambda: sum(a.rejected.values()) >= 3)
        assert a.rejected["malformed"] >= 1 and a.rejected["bad_signature"] >= 1
        assert a.rejected["bad_community"] >= 1
        assert not has(b, R.record_id(bytes(forged))) and not has(b, wrong_topic.id)
        # Both nodes are still alive and working.
        r = await b.author(R.RatingBody(F.gtin(2), (4, 4)), comm.id)
        await until(lambda: has(a, r.id))


async def test_partition_heals_to_identical_sets(tmp_path: Path) -> None:
    a, b, c, d = (make_node(tmp_path, n) for n in "abcd")
    async with running(a, b, c, d):
        comm = await new_community(a)
        # Every node learns the charter first (out of band here), then the network splits.
        for n in (b, c, d):
            await n.submit(records=[comm], source="test")
            await n.join(comm.id)
        await link(a, b)
        await link(c, d)
        left = [await a.author(R.RatingBody(F.gtin(i), (2, 3)), comm.id) for i in range(4)]
        right = [await d.author(R.RatingBody(F.gtin(i), (5, 4)), comm.id) for i in range(3)]
        right.append(
            await c.author(R.PetitionBody("Label", "Please", "", 10, c.now_ms() + 10**8), comm.id)
        )
        await until(lambda: all(has(b, r.id) for r in left) and all(has(c, r.id) for r in right))
        assert not any(has(a, r.id) for r in right)
        await link(b, c)  # heal
        await until(lambda: len({tuple(ids(n, comm.id)) for n in (a, b, c, d)}) == 1, timeout=60)
        assert len(ids(a, comm.id)) == len(left) + len(right)
        assert all(n.store is not None and n.store.check() == [] for n in (a, b, c, d))


async def test_relay_connects_nodes_that_never_meet(tmp_path: Path) -> None:
    relay = make_node(tmp_path, "relay", relay=True)
    a, b = make_node(tmp_path, "a"), make_node(tmp_path, "b")
    async with running(relay, a, b):
        await link(a, relay)
        await link(b, relay)
        comm = await new_community(a)
        await until(lambda: has(relay, comm.id) and has(b, comm.id))
        await b.join(comm.id)
        await until(lambda: relay.hosts(comm.id))
        r1 = await a.author(R.RatingBody(F.gtin(1), (5, 5)), comm.id)
        r2 = await b.author(R.RatingBody(F.gtin(2), (1, 2)), comm.id)
        await until(lambda: has(b, r1.id) and has(a, r2.id) and has(relay, r1.id))
        assert a.net is not None and b.net is not None
        assert b.net.peer_id not in {p.peer_id for p in a.net.peers()}
        # The relay has the full history and serves it to a newcomer.
        c = make_node(tmp_path, "c")
        async with running(c):
            await c.join(comm.id)
            await link(c, relay)
            await until(lambda: ids(c, comm.id) == ids(relay, comm.id))


async def test_circuit_relay_reaches_a_node_that_cannot_be_dialled(tmp_path: Path) -> None:
    relay = make_node(tmp_path, "relay", relay=True)
    hidden = make_node(tmp_path, "hidden")  # as if behind NAT: only reachable via the relay
    outside = make_node(tmp_path, "outside")
    async with running(relay, outside):
        assert relay.net is not None
        hidden.config = Config(
            listen=LOOPBACK, sync_interval_s=3600, api=False, relays=(relay.net.listen_addrs[0],)
        )
        async with running(hidden):
            await until(lambda: bool(hidden.circuit_addrs))
            circuit = next(iter(hidden.circuit_addrs.values()))
            assert "/p2p-circuit/" in circuit
            comm = await new_community(hidden)
            assert outside.net is not None
            await outside.net.connect(circuit)  # dials through the relay
            await until(lambda: has(outside, comm.id))


async def test_nodes_learn_each_other_from_a_relay(tmp_path: Path) -> None:
    relay = make_node(tmp_path, "relay", relay=True)
    a, b = make_node(tmp_path, "a", learn=True), make_node(tmp_path, "b", learn=True)
    async with running(relay, a, b):
        await link(a, relay)
        await link(b, relay)
        assert a.net is not None and b.net is not None
        # b asks the relay (on connect, and here explicitly) and dials what it learned.
        await until(lambda: any(x.endswith(a.net.peer_id) for x in b.known_peers()))  # type: ignore[union-attr]
        await until(lambda: a.net.peer_id in {p.peer_id for p in b.net.peers()})  # type: ignore[union-attr]
        # A personal node shares nothing.
        assert await relay.ask_peers(a.net.peer_id) == []
