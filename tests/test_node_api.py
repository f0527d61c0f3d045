"""A real node with its local API socket, driven by the CLI and the blocking client."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from cercle.node.cli import main
from cercle.node.client import ApiClient
from cercle.node.config import Config
from cercle.node.datadir import DataDir
from cercle.node.service import Node
from cercle.protocol import records as R
from cercle.protocol.identity import Identity
from cercle.protocol.localapi import ApiError
from tests import factory as F


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    # Unix socket paths are short (108 bytes): keep the data directory near /tmp.
    root = Path(os.environ.get("TMPDIR", "/tmp")) / f"cercle-{os.getpid()}-{id(tmp_path)}"
    dd = DataDir(root)
    ident = Identity.from_seed(hashlib.sha256(b"api-test").digest())
    n = Node(dd, Config(listen=("/ip4/127.0.0.1/tcp/0",), sync_interval_s=3600), ident)
    async with trio.open_nursery() as nursery:
        await nursery.start(n.serve)
        yield n
        nursery.cancel_scope.cancel()
    import shutil

    shutil.rmtree(root, ignore_errors=True)


async def cli(node: Node, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    argv = ["--data-dir", str(node.datadir.root), *args, "--json"]
    code = await trio.to_thread.run_sync(main, argv)
    out = capsys.readouterr()
    return code, json.loads(out.out) if code == 0 else out.err


async def call(node: Node, method: str, **params: Any) -> Any:
    def run() -> Any:
        client = ApiClient(node.datadir.socket)
        try:
            return client.call(method, **params)
        finally:
            client.close()

    return await trio.to_thread.run_sync(run)


async def test_socket_is_private(node: Node) -> None:
    mode = stat.S_IMODE(os.stat(node.datadir.socket).st_mode)
    assert mode == 0o600


async def test_cli_flows_over_a_real_node(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    code, status = await cli(node, "status", capsys=capsys)
    assert code == 0 and status["author"] == node.identity.public_key.hex()  # type: ignore[union-attr]

    code, created = await cli(
        node,
        "community", "create", "Vegan", "--description", "plant based",
        "--value", "vegan", "--criterion", "taste", "--criterion", "price",
        capsys=capsys,
    )  # fmt: skip
    assert code == 0
    comm = created["id"]
    code, listed = await cli(node, "community", "list", capsys=capsys)
    assert [c["name"] for c in listed["items"]] == ["Vegan"] and listed["items"][0]["joined"]

    gtin = F.gtin(42)
    code, _rated = await cli(
        node, "rate", gtin, "--community", comm, "--score", "taste=4", "--score", "price=2",
        capsys=capsys,
    )  # fmt: skip
    assert code == 0
    product = await call(node, "products.get", community=comm, gtin=gtin)
    assert product["scores"]["all"]["count"] == 1
    assert product["scores"]["all"]["mean"] == [4.0, 2.0]
    # The viewer trusts themself: the trusted aggregate explains itself.
    assert product["scores"]["trusted"]["count"] == 1
    assert "1 person you trust" in product["scores"]["reason"]

    # Re-rating replaces; retracting removes.
    code, rerated = await cli(
        node, "rate", gtin, "--community", comm, "--score", "taste=5", "--score", "price=5",
        capsys=capsys,
    )  # fmt: skip
    product = await call(node, "products.get", community=comm, gtin=gtin)
    assert product["scores"]["all"]["mean"] == [5.0, 5.0]
    assert product["my_rating"]["id"] == rerated["id"]
    code, _ = await cli(node, "retract", rerated["id"], capsys=capsys)
    assert code == 0
    product = await call(node, "products.get", community=comm, gtin=gtin)
    assert product["scores"]["all"]["count"] == 0 and product["my_rating"] is None

    code, pet = await cli(
        node, "petition", "create", "--community", comm, "--title", "Label it",
        "--text", "Please label animal ingredients.", "--goal", "100", "--deadline", "2099-01-01",
        capsys=capsys,
    )  # fmt: skip
    assert code == 0
    code, _ = await cli(node, "petition", "sign", pet["id"], capsys=capsys)
    assert code == 0
    code, shown = await cli(node, "petition", "show", pet["id"], capsys=capsys)
    assert shown["signatures"]["all"] == 1 and shown["signed"] is True

    other = F.pub(9).hex()
    code, _vouched = await cli(node, "vouch", other, capsys=capsys)
    assert code == 0
    vouches = await call(node, "vouches.list")
    assert [v["subject"] for v in vouches["items"]] == [other]
    assert node.trust_view() is not None and node.trust_view().distance(F.pub(9)) == 1  # type: ignore[union-attr]


async def test_bad_input_is_a_clear_error_and_the_node_survives(
    node: Node, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = await cli(node, "rate", "1234567890123", "--community", "00" * 32,
                          "--score", "taste=4", capsys=capsys)  # fmt: skip
    assert code == 1 and "error" in err and "Traceback" not in err
    with pytest.raises(ApiError) as exc:
        await call(node, "ratings.put", community="zz", gtin="x", scores=[9])
    assert exc.value.code == "bad_params"
    with pytest.raises(ApiError) as exc:
        await call(node, "communities.get", id="ab" * 32)
    assert exc.value.code == "not_found"
    # Garbage on the socket closes that connection only.
    with trio.socket.socket(trio.socket.AF_UNIX) as s:
        await s.connect(str(node.datadir.socket))
        await s.send(b"\xff\xff\xff\xff garbage")
    status = await call(node, "status")
    assert status["records"] == node.store.count()  # type: ignore[union-attr]


async def test_rejected_record_reports_its_reason(node: Node) -> None:
    comm = await call(node, "communities.create", name="Halal", description="",
                      values=["halal"], criteria=["taste", "halal"])  # fmt: skip
    with pytest.raises(ApiError) as exc:
        await call(node, "ratings.put", community=comm["id"], gtin=F.gtin(1), scores=[4])
    assert exc.value.code == "bad_params" and "2 criteria" in exc.value.message
    someone_else = F.rating(3, bytes.fromhex(comm["id"]), 5, (3, 3), t=node.now_ms())
    await node.submit(records=[someone_else], source="test")
    with pytest.raises(ApiError) as exc:
        await call(node, "records.retract", id=someone_else.id.hex())
    assert exc.value.code == "rejected" and exc.value.reason == "not_author"
    assert node.store is not None and node.store.has(someone_else.id)
    assert someone_else.kind == R.Kind.RATING
