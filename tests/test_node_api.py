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

from cercle.node.api.client import ApiClient
from cercle.node.cli.main import main
from cercle.node.files.config import Config
from cercle.node.files.datadir import DataDir
from cercle.node.serve import Node
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


async def _community(node: Node) -> str:
    comm = await call(node, "communities.create", name="Kosher", description="",
                      values=["kosher"], criteria=["taste", "kashrut"])  # fmt: skip
    return str(comm["id"])


async def test_sybils_add_nothing_to_trusted_scores(
    node: Node, capsys: pytest.CaptureFixture[str]
) -> None:
    comm = await _community(node)
    cid = bytes.fromhex(comm)
    gtin = F.gtin(77)
    friend = 1
    await call(node, "vouch", subject=F.pub(friend).hex(), trust=True)
    now = node.now_ms()
    honest = F.rating(friend, cid, 77, (2, 2), t=now)
    # 40 sybil keys praise the product and vouch for each other; nobody I trust vouches them.
    sybils = [F.rating(100 + i, cid, 77, (5, 5), t=now) for i in range(40)]
    web = [F.vouch(100 + i, 100 + (i + 1) % 40, t=now) for i in range(40)]
    await node.submit(records=[honest, *sybils, *web], source="test")
    product = await call(node, "products.get", community=comm, gtin=gtin)
    assert product["scores"]["all"]["count"] == 41
    assert product["scores"]["all"]["overall"] > 4.8
    assert product["scores"]["trusted"]["count"] == 1
    assert product["scores"]["trusted"]["overall"] == 2.0
    assert product["scores"]["reason"] == "rated 2.0 by 1 person you trust"
    code, ranked = await cli(node, "products", "--community", comm, "--trusted", capsys=capsys)
    assert code == 0 and ranked["items"][0]["scores"]["trusted"]["count"] == 1
    code = await trio.to_thread.run_sync(
        main, ["--data-dir", str(node.datadir.root), "show", "product", gtin, "--community", comm]
    )
    assert code == 0 and "trusted 2.0 (1)" in capsys.readouterr().out


async def test_local_moderation_hides_and_cuts_without_publishing(node: Node) -> None:
    comm = await _community(node)
    cid = bytes.fromhex(comm)
    now = node.now_ms()
    troll, stranger = 5, 6
    await call(node, "vouch", subject=F.pub(troll).hex(), trust=True)
    rt = F.rating(troll, cid, 1, (1, 1), t=now)
    rs = F.rating(stranger, cid, 1, (3, 3), t=now + 1)
    await node.submit(records=[rt, rs], source="test")
    assert node.store is not None
    before = node.store.count()

    def shown(result: Any) -> set[str]:
        return {item["id"] for item in result["items"]}

    feed = await call(node, "feed", community=comm)
    assert {rt.id.hex(), rs.id.hex()} <= shown(feed)
    await call(node, "moderation.set", target=F.pub(troll).hex(), action="mute")
    assert rt.id.hex() not in shown(await call(node, "feed", community=comm))
    await call(node, "moderation.set", target=F.pub(troll).hex(), action="mute", on=False)
    assert rt.id.hex() in shown(await call(node, "feed", community=comm))

    # Blocking cuts the author out of my trust network (a local distrust).
    assert node.trust_view(cid).is_trusted(F.pub(troll))  # type: ignore[union-attr]
    await call(node, "moderation.set", target=F.pub(troll).hex(), action="block")
    assert not node.trust_view(cid).is_trusted(F.pub(troll))  # type: ignore[union-attr]
    product = await call(node, "products.get", community=comm, gtin=F.gtin(1))
    assert product["scores"]["trusted"]["count"] == 0
    await call(node, "moderation.set", target=F.pub(troll).hex(), action="block", on=False)
    assert node.trust_view(cid).is_trusted(F.pub(troll))  # type: ignore[union-attr]

    await call(node, "moderation.set", target=rs.id.hex(), action="hide")
    assert rs.id.hex() not in shown(await call(node, "feed", community=comm))
    await call(node, "moderation.set", target=rs.id.hex(), action="hide", on=False)

    # A trust floor: by default only authors within distance 1; "unvetted" shows all.
    await call(node, "communities.set_min_trust", id=comm, max_distance=1)
    ids = shown(await call(node, "feed", community=comm))
    assert rt.id.hex() in ids and rs.id.hex() not in ids
    assert rs.id.hex() in shown(await call(node, "feed", community=comm, unvetted=True))
    listed = await call(node, "moderation.list")
    assert listed["min_trust"] == {comm: 1}
    # Nothing was published or stored by moderating.
    assert node.store.count() == before


async def test_proof_of_work_is_required_of_strangers_only(node: Node) -> None:
    comm = await call(node, "communities.create", name="Fair trade", description="",
                      values=["fair"], criteria=["taste"], pow_bits=6)  # fmt: skip
    cid = bytes.fromhex(comm["id"])
    friend, stranger = 11, 12
    await call(node, "vouch", subject=F.pub(friend).hex(), trust=True)
    now = node.now_ms()
    lazy = F.rating(stranger, cid, 1, (3,), t=now)
    worked = F.mine(stranger, R.RatingBody(F.gtin(2), (4,)), bits=6, t=now, comm=cid)
    trusted = F.rating(friend, cid, 3, (5,), t=now)
    sub = await node.submit(records=[lazy, worked, trusted], source="test")
    assert [o.status.value for o in sub.outcomes] == ["rejected", "stored", "stored"]
    assert sub.outcomes[0].reason is not None and sub.outcomes[0].reason.value == "insufficient_pow"
    # Our own records carry the work (so relays, which trust nobody, accept them too).
    mine = await call(node, "ratings.put", community=comm["id"], gtin=F.gtin(4), scores=[4])
    assert R.leading_zero_bits(bytes.fromhex(mine["id"])) >= 6
    assert node.rejected["insufficient_pow"] == 1


async def test_petition_export_then_offline_verify(
    node: Node, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    comm = await _community(node)
    pet = await call(node, "petitions.create", community=comm, title="Label it",
                     text="Please label animal ingredients.", goal=50,
                     deadline_ms=node.now_ms() + 10**9)  # fmt: skip
    await call(node, "petitions.sign", id=pet["id"])
    petition = node.store.get(bytes.fromhex(pet["id"]))  # type: ignore[union-attr]
    assert petition is not None
    others = [F.signature(20 + i, petition, t=node.now_ms()) for i in range(10)]
    await node.submit(records=others, source="test")
    out = tmp_path / "petition.bundle"
    code, result = await cli(node, "petition", "export", pet["id"], "-o", str(out), capsys=capsys)
    assert code == 0 and result["signatures"] == 11 and out.exists()
    code = await trio.to_thread.run_sync(main, ["verify", str(out)])
    report = capsys.readouterr().out
    assert code == 0 and "OK" in report
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    out.write_bytes(bytes(data))
    code = await trio.to_thread.run_sync(main, ["verify", str(out)])
    assert code == 1
    # Without a path, a small bundle comes back in the answer.
    small = await call(node, "petitions.export", id=pet["id"])
    assert small["signatures"] == 11 and len(bytes.fromhex(small["bundle"])) == small["bytes"]


async def _pages(
    node: Node, method: str, limit: int, cursor: str | None = None, **params: Any
) -> list[list[dict[str, Any]]]:
    """Every page of a list, following the cursors."""
    pages = []
    while True:
        page = await call(
            node, method, limit=limit, **params, **({"cursor": cursor} if cursor else {})
        )
        pages.append(page["items"])
        cursor = page["cursor"]
        if cursor is None:
            return pages


async def test_trusted_signers_and_raters_come_first_across_pages(node: Node) -> None:
    """Trusted authors first (nearest, then oldest) on the first pages, whatever their age."""
    comm = await _community(node)
    cid = bytes.fromhex(comm)
    now = node.now_ms()
    for friend in (1, 2):
        await call(node, "vouch", subject=F.pub(friend).hex(), trust=True)
    pet = await call(node, "petitions.create", community=comm, title="Label it", text="x",
                     goal=50, deadline_ms=now + 10**9)  # fmt: skip
    petition = node.store.get(bytes.fromhex(pet["id"]))  # type: ignore[union-attr]
    assert petition is not None
    # 23 strangers sign first; the friends, a friend of a friend (3) and I sign last.
    strangers = [F.signature(100 + i, petition, t=now - 10_000 + i) for i in range(23)]
    late = [F.signature(a, petition, t=now - 100 + a) for a in (3, 2, 1)]
    await node.submit(records=[*strangers, F.vouch(1, 3, t=now - 5000), *late], source="test")
    await call(node, "petitions.sign", id=pet["id"])
    me = node.identity.public_key.hex()  # type: ignore[union-attr]
    pages = await _pages(node, "petitions.signatures", 4, id=pet["id"])
    ids = [s["author"] for page in pages for s in page]
    want_trusted = [me, F.pub(1).hex(), F.pub(2).hex(), F.pub(3).hex()]
    assert ids[:4] == want_trusted and [s["distance"] for s in pages[0]] == [0, 1, 1, 2]
    assert ids[4:] == [F.pub(100 + i).hex() for i in range(23)]  # then oldest first, once each
    assert all(s["trusted"] for s in pages[0]) and not any(s["trusted"] for s in pages[1])
    # A page bigger than the trusted part continues with the others.
    first = await call(node, "petitions.signatures", id=pet["id"], limit=6)
    assert [s["author"] for s in first["items"]] == ids[:6]
    rest = await _pages(node, "petitions.signatures", 6, id=pet["id"], cursor=first["cursor"])
    assert [s["author"] for p in rest for s in p] == ids[6:]

    gtin = F.gtin(88)
    ratings = [F.rating(100 + i, cid, 88, (3, 3), t=now - 10_000 + i) for i in range(9)]
    ratings += [F.rating(a, cid, 88, (5, 5), t=now - 100 + a) for a in (3, 1)]
    await node.submit(records=ratings, source="test")
    pages = await _pages(node, "ratings.list", 2, community=comm, gtin=gtin)
    authors = [r["author"] for page in pages for r in page]
    assert authors[:2] == [F.pub(1).hex(), F.pub(3).hex()]
    assert authors[2:] == [F.pub(100 + i).hex() for i in reversed(range(9))]  # newest first

    for bad in ("t", "t-1", "tx", "t" + "9" * 30):
        with pytest.raises(ApiError, match="cursor"):
            await call(node, "petitions.signatures", id=pet["id"], cursor=bad)


async def test_vouches_given_and_received(node: Node) -> None:
    comm = bytes.fromhex(await _community(node))
    me = node.identity.public_key  # type: ignore[union-attr]
    now = node.now_ms()

    def vouch(author: int, subject: bytes, trust: bool, t: int, comm: bytes | None = None) -> Any:
        return R.build(F.key(author), R.VouchBody(subject, trust), created_ms=t, community=comm)

    received = [
        vouch(5, me, True, now - 300),
        vouch(6, me, False, now - 200),
        vouch(7, me, True, now - 100, comm),
        vouch(8, F.pub(9), True, now - 50),  # about someone else
    ]
    replaced = vouch(5, me, True, now - 400)  # older than 5's current vouch: not listed
    await node.submit(records=[*received, replaced], source="test")
    await call(node, "vouch", subject=F.pub(5).hex(), trust=True)
    got = (await call(node, "vouches.list", subject=me.hex()))["items"]
    assert [(v["author"], v["trust"], v["community"]) for v in got] == [
        (F.pub(7).hex(), True, comm.hex()),  # newest first
        (F.pub(6).hex(), False, None),
        (F.pub(5).hex(), True, None),
    ]
    assert got[2]["id"] == received[0].id.hex() and got[0]["subject_fingerprint"]
    given = (await call(node, "vouches.list"))["items"]
    assert [(v["subject"], v["fingerprint"]) for v in given] == [
        (F.pub(5).hex(), node.identity.fingerprint)  # type: ignore[union-attr]
    ]
    mine_about = await call(node, "vouches.list", author=me.hex(), subject=F.pub(9).hex())
    assert mine_about["items"] == []
    with pytest.raises(ApiError, match="subject"):
        await call(node, "vouches.list", subject="zz")


async def test_feed_says_what_each_record_is_about(node: Node) -> None:
    comm = await _community(node)
    gtin = F.gtin(321)
    await call(node, "products.put", community=comm, gtin=gtin, name="Oat milk", brand="")
    rated = await call(node, "ratings.put", community=comm, gtin=gtin, scores=[4, 5])
    pet = await call(node, "petitions.create", community=comm, title="Label it", text="x",
                     goal=5, deadline_ms=node.now_ms() + 10**9)  # fmt: skip
    await call(node, "petitions.sign", id=pet["id"])
    await call(node, "records.retract", id=rated["id"])
    items = (await call(node, "feed", community=comm))["items"]
    about = {(i["kind"], i["about"]) for i in items}
    assert {("product", "Oat milk"), ("signature", "Label it"), ("retract", "Oat milk")} <= about
    assert ("petition", None) in about  # its own title is in its body


async def test_lists_name_authors_by_their_profile(node: Node) -> None:
    comm = await _community(node)
    cid = bytes.fromhex(comm)
    now = node.now_ms()
    pet = await call(node, "petitions.create", community=comm, title="Label it", text="x",
                     goal=5, deadline_ms=now + 10**9)  # fmt: skip
    petition = node.store.get(bytes.fromhex(pet["id"]))  # type: ignore[union-attr]
    assert petition is not None
    await node.submit(
        records=[
            F.profile(31, "Amal", t=now - 10),
            F.profile(31, "Amal B.", t=now - 5),  # the newest profile names them
            F.rating(31, cid, 55, (4, 4), t=now),
            F.rating(32, cid, 55, (2, 2), t=now),  # no profile
            F.signature(31, petition, t=now),
        ],
        source="test",
    )
    await call(node, "profile.set", display_name="Me", about="")
    ratings = (await call(node, "ratings.list", community=comm, gtin=F.gtin(55)))["items"]
    assert {r["author"]: r["name"] for r in ratings} == {
        F.pub(31).hex(): "Amal B.",
        F.pub(32).hex(): None,
    }
    signers = (await call(node, "petitions.signatures", id=pet["id"]))["items"]
    assert [s["name"] for s in signers] == ["Amal B."]
    assert (await call(node, "petitions.get", id=pet["id"]))["name"] == "Me"
    feed = (await call(node, "feed", community=comm))["items"]
    assert {i["name"] for i in feed} >= {"Amal B.", None, "Me"}
