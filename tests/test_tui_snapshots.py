"""Snapshots of the main screens over deterministic data.

The node and the app share a fixed clock and the node's author key comes from a
fixed seed, so record ids, times and fingerprints are the same on every run.
Other authors' records (F.key(n)) are injected as if they came by sync. Update
with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot

from cercle.protocol import records as R
from cercle.tui.app import CercleApp
from cercle.tui.screens.communities import CommunitiesScreen
from cercle.tui.screens.community import CommunityScreen
from cercle.tui.screens.petition import PetitionScreen
from cercle.tui.screens.product import ProductScreen
from tests import factory as F
from tests.tui_fixtures import FixedClock, NodeRunner, running_node

T0_S = 1_750_000_000  # 2025-06-15, the node's "now"
SIZE = (110, 32)


class World:
    def __init__(self, runner: NodeRunner, community: str, gtin: str, petition: str) -> None:
        self.runner, self.community, self.gtin, self.petition = runner, community, gtin, petition


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with running_node(clock=FixedClock(T0_S)) as runner:
        call = runner.call
        cid = call(
            "communities.create",
            name="Vegan Lyon",
            description="Plant-based food sold in Lyon",
            values=["vegan", "local"],
            criteria=["taste", "ingredients", "price"],
        )["id"]
        other = call(
            "communities.create",
            name="Halal Paris",
            description="",
            values=["halal"],
            criteria=["taste"],
        )["id"]
        call("communities.leave", id=other)  # heard of, not joined
        call("vouch", subject=F.pub(1).hex(), trust=True)
        comm = bytes.fromhex(cid)
        products = [(F.gtin(101), "Oat milk", "Oatly"), (F.gtin(102), "Tofu", "Taifun")]
        for gtin, name, brand in products:
            call("products.put", community=cid, gtin=gtin, name=name, brand=brand, labels=["bio"])
        call("products.put", community=cid, gtin=F.gtin(103), name="Seitan", brand="")
        call("ratings.put", community=cid, gtin=F.gtin(101), scores=[5, 4, 3], text="creamy")
        call("ratings.put", community=cid, gtin=F.gtin(102), scores=[3, 5, 4])
        t = T0_S * 1000 - 3_600_000
        foreign = [
            F.rating(1, comm, 101, (4, 4, 4), t=t, text="good"),
            F.rating(2, comm, 101, (2, 3, 1), t=t + 1, text="too sweet"),
            F.rating(3, comm, 102, (5, 5, 5), t=t + 2),
            F.rating(2, comm, 103, (1, 2, 5), t=t + 3),
        ]
        runner.submit(foreign)
        pid = call(
            "petitions.create",
            community=cid,
            title="Label palm oil clearly",
            text="Please print 'palm oil' in the ingredient list, not 'vegetable fat'.",
            target="Lyon supermarkets",
            goal=10,
            deadline_ms=(T0_S + 30 * 86400) * 1000,
        )["id"]
        call("petitions.sign", id=pid)
        sigs = [
            R.build(F.key(n), R.SignatureBody(bytes.fromhex(pid)), created_ms=t + n, community=comm)
            for n in (1, 2, 3)
        ]
        runner.submit(sigs)
        yield World(runner, cid, F.gtin(101).rjust(14, "0"), pid)


def make_app(w: World) -> CercleApp:
    return CercleApp(w.runner.socket, clock=FixedClock(T0_S + 60))


def settle(push: Callable[[CercleApp], Any] | None, kind: type) -> Callable[[Pilot[Any]], Any]:
    """run_before: wait for the communities to load, push a screen, wait for it to load."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, CercleApp)
        for target, maybe_push in ((CommunitiesScreen, push), (kind, None)):
            deadline = time.monotonic() + 15
            while not (isinstance(app.screen, target) and app.screen.loads >= 1):
                assert time.monotonic() < deadline, f"{target.__name__} did not load"
                await pilot.pause(0.02)
            if maybe_push is not None:
                maybe_push(app)
        await pilot.pause()

    return run_before


def test_snapshot_communities(world: World, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(world), terminal_size=SIZE, run_before=settle(None, CommunitiesScreen)
    )


def test_snapshot_community(world: World, snap_compare: Any) -> None:
    push = lambda app: app.push_screen(CommunityScreen(world.community))  # noqa: E731
    assert snap_compare(
        make_app(world), terminal_size=SIZE, run_before=settle(push, CommunityScreen)
    )


def test_snapshot_product(world: World, snap_compare: Any) -> None:
    push = lambda app: app.push_screen(ProductScreen(world.community, world.gtin))  # noqa: E731
    assert snap_compare(make_app(world), terminal_size=SIZE, run_before=settle(push, ProductScreen))


def test_snapshot_petition(world: World, snap_compare: Any) -> None:
    push = lambda app: app.push_screen(PetitionScreen(world.petition))  # noqa: E731
    assert snap_compare(
        make_app(world), terminal_size=SIZE, run_before=settle(push, PetitionScreen)
    )
