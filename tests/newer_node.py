"""A node of a later Cercle version, run as a subprocess: it knows one more kind.

    python tests/newer_node.py ROOT NAME

``tests/test_forward_compat.py`` runs it beside nodes of this version. The kinds a
process knows are that process's (``records.register_kind``), so a node that knows
more than its peers needs a process of its own: this one registers kind 200,
``note`` (one text, in a community), then serves a node like ``helpers.make_node``
does (loopback, its author derived from ``NAME``, no API) under ``ROOT/NAME``.

It speaks JSON lines. Once serving it writes ``{"event": "ready", "peer_id", "addr"}``,
then reads one command per line on stdin and answers each with one line,
``{"event": "ok", ...}`` or ``{"event": "error", "message"}``:

* ``{"cmd": "connect", "addr"}``: dial, and wait until the peer is linked;
* ``{"cmd": "join", "community"}``: follow a community (its topic, and sync);
* ``{"cmd": "charter", "name", "criteria", "tags"}``: once a directory mesh peer is
  there, author a charter with ``tags`` appended as a sixth field (as a later
  version would write its Open Food Facts tags); answers ``id``, ``raw``;
* ``{"cmd": "note", "community", "text"}``: once a mesh peer is on the community's
  topic, author a note there; answers ``id``, ``raw``;
* ``{"cmd": "wait", "id"}``: wait until the record is stored; answers it as this
  node reads it: ``kind`` (lower-case name), ``text`` for a note, ``extra`` (hex).

End of input stops the node.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from cercle.node.files.config import Config
from cercle.node.files.datadir import DataDir
from cercle.node.serve import Node
from cercle.protocol import records as R
from cercle.protocol.identity import Identity
from cercle.protocol.topics import DIRECTORY_TOPIC, community_topic

NOTE_KIND = 200  # an experimental number (specs/records.md §5): never a standard kind
WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class NoteBody(R.BodyBase):
    """The kind this node knows and its peers do not: a short text in a community."""

    FIELDS = (("text", R.Text(280, 1)),)
    text: str
    extra: tuple[bytes, ...] = ()


NOTE = R.register_kind(NOTE_KIND, "note", NoteBody, community=True)


def say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def wait_for(pred: Any, what: str) -> None:
    try:
        with trio.fail_after(WAIT_S):
            while not pred():
                await trio.sleep(0.02)
    except trio.TooSlowError:
        raise RuntimeError(f"timed out waiting for {what}") from None


def read_back(rec: R.Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": rec.kind.name.lower(),
        "extra": [e.hex() for e in rec.body.extra],
    }
    if isinstance(rec.body, NoteBody):
        out["text"] = rec.body.text
    return out


async def run(node: Node, cmd: dict[str, Any]) -> dict[str, Any]:
    net, store = node.net, node.store
    assert net is not None and store is not None
    what = cmd["cmd"]
    if what == "connect":
        peer = await net.connect(cmd["addr"])
        await wait_for(lambda: any(p.peer_id == peer for p in net.peers()), "the link")
        return {"peer_id": peer}
    if what == "join":
        await node.join(bytes.fromhex(cmd["community"]))
        return {}
    if what == "charter":
        await wait_for(lambda: net.mesh_peers(DIRECTORY_TOPIC), "a directory mesh peer")
        tags = R.extra_fields([R.nfc(t) for t in cmd["tags"]])
        body = R.CommunityBody(cmd["name"], "", (), tuple(cmd["criteria"]), 0, tags)
        rec = await node.author(body)
        return {"id": rec.id.hex(), "raw": rec.raw.hex()}
    if what == "note":
        community = bytes.fromhex(cmd["community"])
        topic = community_topic(community)
        await wait_for(lambda: net.mesh_peers(topic), "a mesh peer on the community's topic")
        rec = await node.author(NoteBody(R.nfc(cmd["text"])), community)
        return {"id": rec.id.hex(), "raw": rec.raw.hex()}
    if what == "wait":
        rid = bytes.fromhex(cmd["id"])
        await wait_for(lambda: store.has(rid), f"record {cmd['id'][:16]}")
        found = store.get(rid)
        assert found is not None
        return read_back(found)
    raise ValueError(f"unknown command {what!r}")


async def main(root: Path, name: str) -> None:
    ident = Identity.from_seed(hashlib.sha256(name.encode()).digest())
    cfg = Config(listen=("/ip4/127.0.0.1/tcp/0",), sync_interval_s=3600, api=False)
    node = Node(DataDir(root / name), cfg, ident)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.serve)
        assert node.net is not None
        say(event="ready", peer_id=node.net.peer_id, addr=node.net.listen_addrs[0])
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        buf = b""
        while chunk := await stdin.receive_some(65536):
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                try:
                    say(event="ok", **await run(node, json.loads(line)))
                except Exception as exc:  # answered, so the test fails with the reason
                    say(event="error", message=f"{type(exc).__name__}: {exc}")
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main, Path(sys.argv[1]), sys.argv[2])
