"""Nodes of this version beside a newer one: what they do not know, they keep and pass on.

``specs/records.md`` §11: a record of a kind a node does not know is stored, served
by sync and forwarded by gossip, never read; fields appended to a known kind are
kept and ignored. The newer node is ``tests/newer_node.py`` in a subprocess,
because the kinds a process knows are that process's; the older ones are real
nodes on loopback in this process, as in ``test_node.py``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from cercle.node.api.client import ApiClient
from cercle.node.files.config import Config
from cercle.node.files.datadir import DataDir
from cercle.node.serve import Node
from cercle.protocol import records as R
from cercle.protocol.identity import Identity
from cercle.protocol.topics import DIRECTORY_TOPIC, community_topic
from cercle.storage import Status
from tests import factory as F
from tests.helpers import link, make_node, running, short_tmp_dir, until
from tests.test_node import has

WORKER = Path(__file__).with_name("newer_node.py")
NOTE = 200  # the kind only the newer node knows (tests/newer_node.py)


class NewerNode:
    """The subprocess: one JSON command per line in, one answer per line out."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.buf = b""
        self.peer_id = ""
        self.addr = ""

    async def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while b"\n" not in self.buf:
            chunk = await self.proc.stdout.receive_some(65536)
            if not chunk:
                raise AssertionError("the newer node exited")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def call(self, cmd: str, **params: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        await self.proc.stdin.send_all(json.dumps({"cmd": cmd, **params}).encode() + b"\n")
        with trio.fail_after(60):
            answer = await self.read()
        assert answer.pop("event") == "ok", f"{cmd}: {answer.get('message')}"
        return answer


@asynccontextmanager
async def newer_node(tmp: Path, name: str) -> AsyncIterator[NewerNode]:
    err = (tmp / f"{name}.stderr").open("wb")
    proc = await trio.lowlevel.open_process(
        [sys.executable, str(WORKER), str(tmp), name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=err,
    )
    node = NewerNode(proc)
    try:
        with trio.fail_after(60):
            ready = await node.read()
        assert ready["event"] == "ready", ready
        node.peer_id = ready["peer_id"]
        node.addr = ready["addr"]
        yield node
    finally:
        assert proc.stdin is not None
        await proc.stdin.aclose()  # end of input: the node stops
        with trio.move_on_after(15):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        err.close()


async def collect(node: Node, into: list[dict[str, Any]]) -> None:
    """Keep ``node``'s ``record`` events (what its API subscribers are sent)."""
    async for name, data in node.events.subscribe():
        if name == "record":
            into.append(data)


async def test_older_nodes_keep_and_pass_on_a_kind_only_a_newer_node_knows(
    tmp_path: Path,
) -> None:
    a, b = make_node(tmp_path, "a"), make_node(tmp_path, "b")
    async with running(a, b) as nursery:
        assert a.net is not None and b.net is not None and a.store and b.store
        net_a, net_b = a.net, b.net
        await link(a, b)
        await until(lambda: net_b.peer_id in net_a.mesh_peers(DIRECTORY_TOPIC), "a's mesh")
        async with newer_node(tmp_path, "n") as n:
            await n.call("connect", addr=net_a.listen_addrs[0])
            # The newer node's charter has a sixth field; older nodes use its five.
            charter = await n.call(
                "charter", name="Bio", criteria=["taste", "price"], tags=["en:organic"]
            )
            comm = bytes.fromhex(charter["id"])
            await until(lambda: has(a, comm) and has(b, comm), "the charter on a and b")
            got = b.store.get(comm)
            assert got is not None and got.raw.hex() == charter["raw"]
            assert isinstance(got.body, R.CommunityBody) and got.body.criteria == ("taste", "price")
            assert got.body.extra == R.extra_fields(["en:organic"])

            await n.call("join", community=charter["id"])
            for older in (a, b):
                await older.join(comm)
            topic = community_topic(comm)
            mesh_a = {n.peer_id, net_b.peer_id}
            await until(lambda: mesh_a <= set(net_a.mesh_peers(topic)), "a's mesh with n and b")
            await until(lambda: net_a.peer_id in net_b.mesh_peers(topic), "b's mesh with a")

            events: list[dict[str, Any]] = []
            nursery.start_soon(collect, b, events)
            note = await n.call("note", community=charter["id"], text="Réponse de la marque")
            nid = bytes.fromhex(note["id"])
            await until(lambda: has(a, nid) and has(b, nid), "the note on a and b")
            # b never met n: a forwarded the note to it, by gossip.
            assert n.peer_id not in {p.peer_id for p in net_b.peers()}
            await until(lambda: any(e["id"] == note["id"] for e in events), "b's record event")
            event = next(e for e in events if e["id"] == note["id"])
            assert event["source"] == "gossip" and event["kind"] == "unknown_200"
            assert event["body"] is None
            assert event["extra"] == [e.hex() for e in R.extra_fields("Réponse de la marque")]
            for older in (a, b):
                assert older.store is not None
                rec = older.store.get(nid)
                assert rec is not None and rec.raw.hex() == note["raw"]  # the bytes, as signed
                assert isinstance(rec.body, R.OpaqueBody) and rec.kind == NOTE
                assert older.store.unknown_kinds() == {NOTE: 1}
                assert older.store.by_kind(comm, R.Kind.RATING) == []
                assert dict(older.rejected) == {}  # nothing refused, so nobody penalised
            assert net_a.score(n.peer_id, topic) >= 0 and net_b.score(net_a.peer_id, topic) >= 0

            # The older nodes still use the charter's known fields.
            rating = await a.author(R.RatingBody(F.gtin(1), (4, 5)), comm)
            await until(lambda: has(b, rating.id), "a's rating on b")
            assert b.store.product_aggregate(comm, F.gtin(1)).count == 1
            bad = F.rating(7, comm, 2, (3,))  # one score for two criteria
            sub = await b.submit(records=[bad], source="test")
            assert sub.outcomes[0].reason is not None
            assert sub.outcomes[0].reason.value == "score_count_mismatch"

        # A newer node that comes later, linked only to the older b, gets it by sync.
        async with newer_node(tmp_path, "m") as m:
            await m.call("join", community=charter["id"])
            await m.call("connect", addr=net_b.listen_addrs[0])
            seen = await m.call("wait", id=note["id"])
            assert seen == {"kind": "note", "text": "Réponse de la marque", "extra": []}
            tags = [e.hex() for e in R.extra_fields(["en:organic"])]
            assert (await m.call("wait", id=charter["id"]))["extra"] == tags


async def test_older_nodes_use_a_charter_with_one_more_field(tmp_path: Path) -> None:
    """A charter with a sixth field, written here by hand: every older node reads its five."""
    a, b = make_node(tmp_path, "a"), make_node(tmp_path, "b")
    async with running(a, b):
        await link(a, b)
        tags = R.extra_fields(["en:organic", "en:vegan"])
        body = R.CommunityBody(
            "Bio", "produits bio", ("bio",), ("taste", "price", "ethics"), 0, tags
        )
        charter = await a.author(body)
        await until(lambda: has(b, charter.id), "the charter on b")
        assert b.store is not None
        assert b.store.charter(charter.id) == body  # the known fields, and the extra kept
        assert b.store.get_raws([charter.id]) == [charter.raw]
        for n in (a, b):
            await n.join(charter.id)
        assert a.net is not None and b.net is not None
        topic = community_topic(charter.id)
        await until(lambda: bool(a.net and a.net.mesh_peers(topic)))
        await until(lambda: bool(b.net and b.net.mesh_peers(topic)))
        rating = await b.author(R.RatingBody(F.gtin(3), (5, 4, 3)), charter.id)
        await until(lambda: has(a, rating.id), "b's rating on a")
        assert a.store is not None
        assert a.store.product_aggregate(charter.id, F.gtin(3)).sums[:3] == (5, 4, 3)
        short = F.rating(5, charter.id, 3, (5, 4))
        sub = await a.submit(records=[short], source="test")
        assert sub.outcomes[0].status is Status.REJECTED


# --------------------------------------------------------------------------- local API


@asynccontextmanager
async def api_node() -> AsyncIterator[Node]:
    root = short_tmp_dir("cfwd")
    ident = Identity.from_seed(hashlib.sha256(b"fwd-api").digest())
    node = Node(
        DataDir(root), Config(listen=("/ip4/127.0.0.1/tcp/0",), sync_interval_s=3600), ident
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.serve)
            yield node
            nursery.cancel_scope.cancel()
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def call(node: Node, method: str, **params: Any) -> Any:
    def run() -> Any:
        client = ApiClient(node.datadir.socket)
        try:
            return client.call(method, **params)
        finally:
            client.close()

    return await trio.to_thread.run_sync(run)


async def test_the_local_api_shows_an_opaque_record_and_lists_skip_it() -> None:
    async with api_node() as node:
        made = await call(node, "communities.create", name="Vegan", description="",
                          values=[], criteria=["taste"])  # fmt: skip
        comm = bytes.fromhex(made["id"])
        theirs = R.build(F.key(4), R.OpaqueBody(R.Kind(9), R.extra_fields("brand reply", 3)),
                         created_ms=node.now_ms(), community=comm)  # fmt: skip
        product = await call(
            node, "products.put", community=made["id"], gtin=F.gtin(1), name="Tofu"
        )
        await node.submit(records=[theirs], source="test")
        shown = await call(node, "records.get", id=theirs.id.hex())
        assert shown["kind"] == "unknown_9" and shown["body"] is None
        assert shown["extra"] == [R.extra_fields("brand reply")[0].hex(), "03"]
        assert shown["community"] == made["id"] and shown["author"] == F.pub(4).hex()
        known = await call(node, "records.get", id=product["id"])
        assert known["kind"] == "product" and known["body"]["name"] == "Tofu"
        assert known["extra"] == []
        feed = await call(node, "feed", community=made["id"])
        shown_in_feed = {i["id"]: (i["kind"], i["about"]) for i in feed["items"]}
        assert shown_in_feed[theirs.id.hex()] == ("unknown_9", None)
        # No list of a kind holds it.
        assert [p["gtin"] for p in (await call(node, "products.search", query="Tofu"))["items"]]
        assert (await call(node, "petitions.list", community=made["id"]))["items"] == []
        assert len((await call(node, "communities.list"))["items"]) == 1
        # One of our own, written by a newer version of us: we can retract it.
        me = node.identity
        assert me is not None
        mine = await node.author(R.OpaqueBody(R.Kind(9), R.extra_fields("mine")), comm)
        await call(node, "records.retract", id=mine.id.hex())
        assert node.store is not None and not node.store.has(mine.id)
        assert node.store.unknown_kinds() == {9: 1}
