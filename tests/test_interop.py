"""Interoperability: an independent libp2p implementation (js-libp2p) on community topics.

A real Cercle node (py-libp2p) and a js-libp2p peer (tests/interop/peer.mjs, with
@chainsafe/libp2p-gossipsub, StrictSign, TCP + Noise + Yamux) meet on 127.0.0.1, on the
version-1 topic (one record per message) and on the version-2 topic (batches): the js
peer receives the node's records byte for byte, and the node stores valid records the js
peer publishes and rejects invalid ones without harm. Slow: it may run ``npm ci``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from cercle.node.serve import Node
from cercle.protocol import batch as B
from cercle.protocol import records as R
from cercle.protocol.topics import BATCH, SINGLE, community_topic
from tests import factory as F
from tests.helpers import make_node, running, until
from tests.test_node import has, new_community

pytestmark = pytest.mark.slow

INTEROP = Path(__file__).parent / "interop"
NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT",
                  "ENETUNREACH", "EHOSTUNREACH", "network")  # fmt: skip


@pytest.fixture(scope="module")
def node_bin() -> str:
    """The ``node`` binary, with tests/interop's packages installed (a sync fixture, so a
    skip keeps its reason: raised inside a trio test it would lose it)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the js-libp2p interop test")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(out.stdout.strip().lstrip("v").split(".")[0])
    if major < 20:
        pytest.skip(f"the js-libp2p peer needs Node.js >= 20, found {out.stdout.strip()}")
    # npm writes node_modules/.package-lock.json last: its absence means no or a partial install.
    if not (INTEROP / "node_modules" / ".package-lock.json").exists():
        lock = (INTEROP / "package-lock.json").exists()
        cmd = [npm, "ci" if lock else "install", "--no-audit", "--no-fund", "--loglevel=error"]
        r = subprocess.run(cmd, cwd=INTEROP, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            tail = (r.stderr or r.stdout)[-2000:]
            if any(e in tail for e in NETWORK_ERRORS):
                why = next(ln for ln in tail.splitlines() if any(e in ln for e in NETWORK_ERRORS))
                pytest.skip(f"npm {cmd[1]} failed, the npm registry is unreachable: {why.strip()}")
            pytest.fail(f"npm {cmd[1]} in {INTEROP} failed:\n{tail}")
    return node


class JsPeer:
    """The js peer's subprocess: JSON events from its stdout, hex payloads to its stdin."""

    def __init__(self, proc: trio.Process, stderr_path: Path) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.stderr_path = stderr_path
        self.peer_id = ""

    async def read_stdout(self) -> None:
        assert self.proc.stdout is not None
        buf = b""
        while chunk := await self.proc.stdout.receive_some(65536):
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                try:
                    self.events.append(json.loads(line))
                except ValueError:
                    self.events.append({"event": "raw", "line": line.decode(errors="replace")})

    def find(self, event: str, **fields: Any) -> dict[str, Any] | None:
        for e in self.events:
            if e.get("event") == event and all(e.get(k) == v for k, v in fields.items()):
                return e
        return None

    def received(self) -> list[str]:
        return [e["data"] for e in self.events if e.get("event") == "message"]

    async def publish(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.send_all(data.hex().encode() + b"\n")

    def diagnostics(self) -> str:
        err = self.stderr_path.read_text(errors="replace")[-3000:]
        return f"js peer events: {self.events!r}\njs peer stderr:\n{err}"

    async def wait(self, pred: Callable[[], bool], what: str, timeout: float = 30) -> None:
        try:
            await until(pred, what, timeout=timeout)
        except AssertionError as exc:
            pytest.fail(f"{exc}\n{self.diagnostics()}")


def rejections(node: Node) -> int:
    return sum(node.rejected.values())


@asynccontextmanager
async def js_peer(
    nursery: trio.Nursery, node: Node, topic: str, tmp_path: Path, node_bin: str
) -> AsyncIterator[JsPeer]:
    """A js peer on ``topic`` dialled into ``node``, both in each other's view; stopped after."""
    assert node.net is not None
    net = node.net
    stderr_path = tmp_path / f"peer-{topic.replace('/', '_')[:40]}.stderr"
    with stderr_path.open("wb") as stderr:
        proc = await trio.lowlevel.open_process(
            [node_bin, "peer.mjs", topic, net.listen_addrs[0]],
            cwd=INTEROP,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    js = JsPeer(proc, stderr_path)
    try:
        nursery.start_soon(js.read_stdout)
        # Node.js loads ~120 modules first: seconds, more on a busy machine.
        await js.wait(lambda: js.find("listening") is not None, "the js peer", 90)
        js.peer_id = js.find("listening")["peer_id"]  # type: ignore[index]
        await js.wait(lambda: js.find("connected", peer_id=net.peer_id) is not None,
                      "the js peer to connect")  # fmt: skip
        # Both sides see each other on the topic: the node has the js peer in its mesh,
        # the js peer has the node's subscription.
        await js.wait(lambda: js.peer_id in net.mesh_peers(topic), "the node's mesh")
        await js.wait(lambda: js.find("subscribed", peer_id=net.peer_id) is not None,
                      "the node's subscription at the js peer")  # fmt: skip
        yield js
        assert proc.returncode is None, js.diagnostics()
    finally:
        with trio.CancelScope(shield=True):
            if proc.stdin is not None:
                await proc.stdin.aclose()
            with trio.move_on_after(5):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_js_libp2p_peer_exchanges_records_with_a_cercle_node(
    tmp_path: Path, node_bin: str
) -> None:
    """Version-1 topic: one record per message, as any libp2p peer can speak it."""
    node = make_node(tmp_path, "cercle")
    with trio.fail_after(240):
        async with running(node) as nursery:
            assert node.net is not None
            net = node.net
            comm = await new_community(node)
            topic = community_topic(comm.id, SINGLE)
            async with js_peer(nursery, node, topic, tmp_path, node_bin) as js:
                # 1. A record the Cercle node authors reaches the js peer byte for byte
                # (the js peer is not on the version-2 topic: the node sends it singly).
                rating = await node.author(R.RatingBody(F.gtin(1), (4, 5), "good"), comm.id)
                await js.wait(lambda: rating.raw.hex() in js.received(), "the node's rating")
                assert js.find("message", data=rating.raw.hex())["from"] == net.peer_id  # type: ignore[index]

                # 2. A valid record the js peer publishes is validated and stored.
                theirs = F.rating(42, comm.id, 9, (2, 2), t=node.now_ms())
                await js.publish(theirs.raw)
                await js.wait(lambda: has(node, theirs.id), "the node to store the js record")
                published = js.find("published", data=theirs.raw.hex())
                assert published is not None and net.peer_id in published["recipients"]

                # 3. Invalid records from the js peer are rejected, counted, not stored.
                before = rejections(node)
                forged = bytearray(F.rating(43, comm.id, 9, (5, 5), t=node.now_ms()).raw)
                forged[-1] ^= 1  # breaks the signature
                await js.publish(b"\x00garbage")
                await js.publish(bytes(forged))
                await js.wait(lambda: rejections(node) >= before + 2, "the node to reject both")
                assert node.rejected["malformed"] >= 1 and node.rejected["bad_signature"] >= 1
                assert not has(node, R.record_id(bytes(forged)))
                assert net.statistics().rejected >= 2
                assert not any(e.get("event") == "publish_error" for e in js.events), js.events

                # 4. No harm: the node goes on storing the js peer's valid records, keeps
                # the connection, and only the js peer's score pays (P4: -10 each). (Below
                # gossip_threshold, -10, py-libp2p also stops sending it our messages until
                # the penalty decays; that is scoring, not interop, so not checked here.)
                later = F.rating(44, comm.id, 10, (3, 4), t=node.now_ms())
                await js.publish(later.raw)
                await js.wait(lambda: has(node, later.id), "the node to store a later js record")
                assert net.score(js.peer_id, topic) < 0
                assert js.peer_id in {p.peer_id for p in net.peers()}
                again = await node.author(R.RatingBody(F.gtin(2), (1, 2)), comm.id)
                assert has(node, again.id) and node.counters["ingest.stored"] >= 5


async def test_js_libp2p_peer_exchanges_batches_with_a_cercle_node(
    tmp_path: Path, node_bin: str
) -> None:
    """Version-2 topic: batches are plain GossipSub messages any implementation carries."""
    node = make_node(tmp_path, "cercle")
    with trio.fail_after(240):
        async with running(node) as nursery:
            assert node.net is not None
            net = node.net
            comm = await new_community(node)
            topic = community_topic(comm.id, BATCH)
            async with js_peer(nursery, node, topic, tmp_path, node_bin) as js:
                # 1. The node's records reach the js peer in batches, byte for byte.
                ours = [
                    await node.author(R.RatingBody(F.gtin(i), (4, 5)), comm.id) for i in range(20)
                ]

                def got() -> list[bytes]:
                    return [raw for d in js.received() for raw in B.decode_batch(bytes.fromhex(d))]

                await js.wait(lambda: {r.raw for r in ours} <= set(got()), "the node's batches")
                assert len(js.received()) < len(ours)  # fewer messages than records

                # 2. A batch the js peer publishes: every record validated and stored.
                theirs = [F.rating(50 + i, comm.id, 9, (2, 2), t=node.now_ms()) for i in range(5)]
                await js.publish(B.encode_batch([r.raw for r in theirs]))
                await js.wait(lambda: all(has(node, r.id) for r in theirs), "the js batch")

                # 3. One forged record rejects its whole batch; garbage is not a batch.
                before = rejections(node)
                forged = bytearray(F.rating(60, comm.id, 9, (5, 5), t=node.now_ms()).raw)
                forged[-1] ^= 1
                fine = F.rating(61, comm.id, 9, (5, 5), t=node.now_ms())
                await js.publish(B.encode_batch([fine.raw, bytes(forged)]))
                await js.publish(b"\x00garbage")
                await js.wait(
                    lambda: rejections(node) > before and node.counters["gossip.bad_batches"] >= 1,
                    "the node to refuse both",
                )
                assert not has(node, fine.id) and not has(node, R.record_id(bytes(forged)))
                assert net.score(js.peer_id, topic) < 0
