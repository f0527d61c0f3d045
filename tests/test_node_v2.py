"""Network version 2 between real nodes on loopback: batches, version-1 neighbours, floods."""

from __future__ import annotations

from pathlib import Path

import trio

from cercle.node.files.hostkey import load_or_create_host_key
from cercle.node.net import Network
from cercle.node.serve import Node
from cercle.protocol import batch as B
from cercle.protocol import records as R
from cercle.protocol.topics import BATCH, SINGLE, community_topic
from tests import factory as F
from tests.helpers import LOOPBACK, link, make_node, running, until


def has(node: Node, rid: bytes) -> bool:
    return node.store is not None and node.store.has(rid)


async def community(a: Node, *others: Node) -> R.Record:
    """A community founded by ``a`` that every other node joins, meshes warm on the topics
    of the versions they share."""
    rec = await a.author(R.CommunityBody("Vegan", "", ("vegan",), ("taste", "price")))
    await a.join(rec.id)
    for n in others:
        await until(lambda n=n: has(n, rec.id), "the charter")
        await n.join(rec.id)
    shared = min(n.config.network_version for n in (a, *others))
    for n in (a, *others):
        for v in (SINGLE, BATCH)[:shared]:
            topic = community_topic(rec.id, v)
            await until(lambda n=n, t=topic: bool(n.net and n.net.mesh_peers(t)), f"mesh {topic}")
    return rec


async def test_records_travel_in_batches_between_version_2_nodes(tmp_path: Path) -> None:
    a, b, c = (make_node(tmp_path, n) for n in "abc")
    async with running(a, b, c):
        await link(a, b)
        await link(b, c)
        comm = await community(a, b, c)
        recs = [await a.author(R.RatingBody(F.gtin(i), (4, 4)), comm.id) for i in range(30)]
        await until(lambda: all(has(c, r.id) for r in recs), "the ratings at c, two hops away")
        # Thirty records, far fewer messages: the ones that waited went together.
        assert a.counters["published.batches"] < 30
        assert c.counters["ingest.stored"] >= 31 and c.rejected == {}


async def test_version_1_and_version_2_nodes_exchange_records_live(tmp_path: Path) -> None:
    old, new = make_node(tmp_path, "old", version=1), make_node(tmp_path, "new")
    async with running(old, new):
        await link(old, new)
        comm = await community(new, old)
        mine = await new.author(R.RatingBody(F.gtin(1), (4, 4)), comm.id)
        theirs = await old.author(R.RatingBody(F.gtin(2), (2, 3)), comm.id)
        await until(lambda: has(old, mine.id) and has(new, theirs.id), "records both ways")
        # Live, not by sync (it runs only when peers connect and every hour here).
        assert new.counters["sync.sessions"] == old.counters["sync.sessions"]
        assert old.rejected == {} and new.rejected == {}


async def test_a_flooding_peer_is_throttled_and_honest_records_still_arrive(
    tmp_path: Path,
) -> None:
    victim, honest = make_node(tmp_path, "victim"), make_node(tmp_path, "honest")
    async with running(victim, honest) as nursery:
        await link(honest, victim)
        comm = await community(honest, victim)
        topic = community_topic(comm.id, BATCH)
        flood = Network(
            load_or_create_host_key(tmp_path / "flood.key"), list(LOOPBACK), spam_limit_per_s=None
        )
        await nursery.start(flood.serve)
        await flood.join(topic)
        assert victim.net is not None
        await flood.connect(victim.net.listen_addrs[0])
        await until(lambda: bool(flood.mesh_peers(topic)), "the flooder in the mesh")
        # Valid records, each message a new batch: 400 messages as fast as it can.
        spam = [F.rating(100 + i % 50, comm.id, i, (1, 1), t=victim.now_ms()) for i in range(400)]
        sent = 0
        pubsub = flood._require()[1]  # past the pacing a Cercle node applies to itself
        for rec in spam:
            await pubsub.publish(topic, B.encode_batch([rec.raw]))
            sent += 1
            await trio.sleep(0.002)  # let its 32-message outbound queue drain
        good = [await honest.author(R.RatingBody(F.gtin(i), (5, 5)), comm.id) for i in range(5)]
        await until(lambda: all(has(victim, r.id) for r in good), "the honest records")
        throttled = sum(v for k, v in victim.counters.items() if k.startswith("gossip.throttled"))
        assert sent > 100 and throttled > 0
        assert victim.net is not None and honest.net is not None
        assert victim.net.score(flood.peer_id, topic) < 0
        assert victim.net.score(honest.net.peer_id, topic) >= 0  # the honest peer pays nothing
