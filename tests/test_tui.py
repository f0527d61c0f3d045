"""The TUI against a real node: every flow through Pilot, forms, live updates, reconnection.

Each test is a plain sync test that runs an asyncio scenario (Textual runs on
asyncio; pytest-trio's trio_mode would otherwise claim async tests). Waiting is
bounded polling with ``pilot.pause`` on a condition, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable

from cercle.protocol import records as R
from cercle.protocol.localapi import UNKNOWN_METHOD, ApiError
from cercle.tui.app import CercleApp
from cercle.tui.screens.communities import CommunitiesScreen
from cercle.tui.screens.community import CommunityScreen
from cercle.tui.screens.help import HelpScreen
from cercle.tui.screens.identity import IdentityScreen
from cercle.tui.screens.network import NetworkScreen
from cercle.tui.screens.petition import EXPORT_UNSUPPORTED, PetitionScreen
from cercle.tui.screens.product import ProductScreen
from cercle.tui.screens.search import SearchScreen
from cercle.tui.widgets.banner import ConnectionBanner
from cercle.tui.widgets.form import FormScreen
from tests import factory as F
from tests import helpers
from tests.tui_fixtures import NodeRunner, seed_community, seed_product

SIZE = (120, 40)
S = TypeVar("S", bound=Screen[Any])


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def make_app(runner: NodeRunner) -> CercleApp:
    return CercleApp(runner.socket, backoff=(0.05, 0.1, 0.2))


async def until(pilot: Pilot[Any], cond: Callable[[], Any], what: str, timeout: float = 15) -> None:
    await helpers.until(cond, what, timeout=timeout, pause=pilot.pause)


async def shown(pilot: Pilot[Any], kind: type[S], loads: int = 1) -> S:
    """Wait until the current screen is a ``kind`` that has loaded ``loads`` times."""
    app = pilot.app
    await until(
        pilot,
        lambda: isinstance(app.screen, kind) and getattr(app.screen, "loads", 1) >= loads,
        f"{kind.__name__} to load",
    )
    screen = app.screen
    assert isinstance(screen, kind)
    return screen


async def fill(pilot: Pilot[Any], values: dict[str, str | bool]) -> FormScreen:
    form = await shown(pilot, FormScreen)
    for name, value in values.items():
        form.set_value(name, value)
    await pilot.pause()
    return form


async def save(pilot: Pilot[Any], form: FormScreen) -> None:
    await pilot.press("ctrl+s")
    await until(pilot, lambda: pilot.app.screen is not form, "the form to close")


async def open_community(pilot: Pilot[Any], cid: str) -> CommunityScreen:
    pilot.app.push_screen(CommunityScreen(cid))
    return await shown(pilot, CommunityScreen)


def notifications(app: CercleApp) -> str:
    return "\n".join(n.message for n in app._notifications)


# --------------------------------------------------------------------------- communities


def test_create_join_and_leave_a_community(shared_node: NodeRunner) -> None:
    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            screen = await shown(pilot, CommunitiesScreen)
            await pilot.press("c")
            form = await fill(
                pilot,
                {
                    "name": "Halal Paris",
                    "description": "halal food",
                    "values": "halal, fair",
                    "criteria": "taste, price, certification",
                },
            )
            await save(pilot, form)
            await until(
                pilot, lambda: any(c["name"] == "Halal Paris" for c in screen.items), "new row"
            )
            row = next(i for i, c in enumerate(screen.items) if c["name"] == "Halal Paris")
            cid = screen.items[row]["id"]
            assert screen.items[row]["joined"] and screen.items[row]["criteria"][2] == (
                "certification"
            )

            def joined() -> bool:
                return next(c for c in screen.items if c["id"] == cid)["joined"]

            def select() -> None:
                i = next(i for i, c in enumerate(screen.items) if c["id"] == cid)
                screen.query_one(DataTable).move_cursor(row=i)

            select()
            await pilot.press("l")
            await until(pilot, lambda: not joined(), "the community to be left")
            assert cid not in shared_node.call("status")["joined"]
            select()
            await pilot.press("j")
            await until(pilot, joined, "the community to be joined again")
            assert cid in shared_node.call("status")["joined"]
            # Enter opens it.
            select()
            await pilot.press("enter")
            community = await shown(pilot, CommunityScreen)
            assert community.community_id == cid

    run(scenario)


def test_form_errors_are_inline_and_nothing_is_sent(shared_node: NodeRunner) -> None:
    cid = seed_community(shared_node, "Kosher errors", criteria=("taste", "price"))

    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot, CommunitiesScreen)
            before = shared_node.call("status")["records"]
            # Empty community name.
            await pilot.press("c")
            form = await fill(pilot, {"name": "  ", "criteria": "taste"})
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "must not be empty" in form.error_text("name")
            assert form.error_text("criteria") == ""
            assert app.screen is form and form.submitted == 0
            await pilot.press("escape")
            # Bad GTIN and an out-of-range score in the rating form.
            community = await open_community(pilot, cid)
            await pilot.press("r")
            form = await fill(pilot, {"gtin": "4006381333932", "score-0": "7", "score-1": "3"})
            await pilot.click("#submit")
            await pilot.pause()
            assert "check digit" in form.error_text("gtin")
            assert "out of range" in form.error_text("score-0")
            assert form.error_text("score-1") == ""
            assert app.screen is form and form.submitted == 0
            await pilot.press("escape")
            # Empty petition title.
            await until(pilot, lambda: app.screen is community, "the community screen")
            await pilot.press("p")
            form = await fill(pilot, {"title": "", "text": "Please label it."})
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "must not be empty" in form.error_text("title")
            assert form.submitted == 0
            # Fixing the errors shows none: an error the node answers shows inline too.
            form.set_value("title", "Label it")
            form.set_value("deadline", "1999-01-01")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "future" in form.error_text("deadline") and form.error_text("title") == ""
            await pilot.press("escape")
            assert shared_node.call("status")["records"] == before

    run(scenario)


# --------------------------------------------------------------------------- ratings


def test_rate_rerate_and_retract(shared_node: NodeRunner) -> None:
    cid = seed_community(shared_node, "Vegan ratings", criteria=("taste", "price"))
    gtin = F.gtin(4242)

    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot, CommunitiesScreen)
            community = await open_community(pilot, cid)
            await pilot.press("r")
            form = await fill(
                pilot,
                {"gtin": gtin, "name": "Soy yoghurt", "score-0": "4", "score-1": "2", "text": "ok"},
            )
            await save(pilot, form)
            await until(pilot, lambda: community.products, "the rated product to show")
            assert community.products[0]["name"] == "Soy yoghurt"
            assert community.products[0]["scores"]["all"]["count"] == 1
            table = community.query_one("#products", DataTable)
            assert "3.0 (1) · trusted 3.0 (1)" in str(table.get_row_at(0))
            # Open it: my rating is there.
            table.focus()
            table.move_cursor(row=0)
            await pilot.press("enter")
            product = await shown(pilot, ProductScreen)
            assert product.my_rating is not None and product.my_rating["scores"] == [4, 2]
            assert len(product.ratings) == 1
            # Re-rate: the form starts from my rating; the new one replaces it.
            await pilot.press("r")
            form = await fill(pilot, {})
            assert form.values()["score-0"] == "4"
            form.set_value("score-0", "5")
            form.set_value("score-1", "5")
            await save(pilot, form)
            await until(
                pilot,
                lambda: (product.my_rating or {}).get("scores") == [5, 5],
                "the re-rating to show",
            )
            assert product.product["scores"]["all"]["count"] == 1
            # Retract mine.
            await pilot.press("x")
            await until(pilot, lambda: product.my_rating is None, "the retraction")
            assert product.product["scores"]["all"]["count"] == 0 and product.ratings == []

    run(scenario)


def test_a_screen_loads_once_when_opened_and_again_when_shown_again(
    shared_node: NodeRunner,
) -> None:
    cid = seed_community(shared_node, "Once", criteria=("taste",))
    seed_product(shared_node, cid, F.gtin(7100), "Oat drink", [4])

    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot, CommunitiesScreen)
            community = CommunityScreen(cid)
            calls: list[tuple[str, bool]] = []  # (method, was the screen mounted)
            call = app.link.call

            async def counting(method: str, **params: Any) -> Any:
                calls.append((method, community.is_mounted))
                return await call(method, **params)

            app.link.call = counting  # type: ignore[method-assign]
            app.push_screen(community)
            await shown(pilot, CommunityScreen)
            for _ in range(3):
                await pilot.pause()
            # Asked at compose time, before the mount; the first resume asks nothing more.
            assert community.loads == 1 and calls.count(("products.ranked", False)) == 1
            assert community.query_one("#products", DataTable).row_count == 1
            community.open_product(community.products[0])
            await shown(pilot, ProductScreen)
            await pilot.press("escape")
            await shown(pilot, CommunityScreen, loads=2)  # shown again: read again
            assert [m for m, _ in calls].count("products.ranked") == 2

    run(scenario)


def test_products_page_with_the_cursor(shared_node: NodeRunner) -> None:
    cid = seed_community(shared_node, "Paging", criteria=("taste",))
    for i in range(7):
        seed_product(shared_node, cid, F.gtin(7000 + i), f"Item {i}", [1 + i % 5])

    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot, CommunitiesScreen)
            screen = CommunityScreen(cid)
            screen.PAGE = 3  # type: ignore[misc]
            app.push_screen(screen)
            await shown(pilot, CommunityScreen)
            assert len(screen.products) == 3 and screen.cursor is not None
            await pilot.press("m")
            await until(pilot, lambda: len(screen.products) == 6, "the second page")
            # Scrolling down to the last row loads the next page.
            table = screen.query_one("#products", DataTable)
            table.focus()
            table.move_cursor(row=5)
            await until(pilot, lambda: len(screen.products) == 7, "the last page")
            await until(pilot, lambda: screen.cursor is None, "the end of the list")
            overall = [p["scores"]["all"]["overall"] for p in screen.products]
            assert overall == sorted(overall, reverse=True)

    run(scenario)


def test_live_records_refresh_the_community(shared_node: NodeRunner) -> None:
    cid = seed_community(shared_node, "Live", criteria=("taste",))

    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot, CommunitiesScreen)
            community = await open_community(pilot, cid)
            loads = community.loads
            # A flood of records from elsewhere: the screen follows, in few reloads.
            await asyncio.to_thread(
                lambda: [
                    seed_product(shared_node, cid, F.gtin(8000 + i), f"Live {i}", [3])
                    for i in range(5)
                ]
            )
            await until(pilot, lambda: len(community.products) == 5, "live products")
            await until(
                pilot, lambda: any(r["kind"] == "rating" for r in community.feed), "the feed"
            )
            assert community.loads - loads <= 6  # 10 records, debounced

    run(scenario)


# --------------------------------------------------------------------------- petitions


def test_create_sign_and_export_a_petition(shared_node: NodeRunner, tmp_path: Path) -> None:
    cid = seed_community(shared_node, "Petitions", criteria=("taste",))
    out = tmp_path / "bundle.cercle"

    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot, CommunitiesScreen)
            community = await open_community(pilot, cid)
            await pilot.press("p")
            form = await fill(
                pilot,
                {
                    "title": "Label animal ingredients",
                    "text": "Please label them clearly.",
                    "target": "Makers",
                    "goal": "3",
                    "deadline": "2099-12-31",
                },
            )
            await save(pilot, form)
            await until(pilot, lambda: community.petitions, "the petition to show")
            assert community.active_tab == "tab-petitions"
            table = community.query_one("#petitions", DataTable)
            table.focus()
            await pilot.press("enter")
            petition = await shown(pilot, PetitionScreen)
            assert petition.petition["title"] == "Label animal ingredients"
            assert petition.petition["signatures"]["all"] == 0
            await pilot.press("s")
            await until(pilot, lambda: petition.petition.get("signed"), "the signature")
            assert petition.petition["signatures"]["all"] == 1 and len(petition.signers) == 1
            assert petition.signers[0]["trusted"]  # I trust myself
            # Export the bundle to a file.
            await pilot.press("e")
            form = await fill(pilot, {"path": str(out)})
            await save(pilot, form)
            await until(pilot, out.exists, "the bundle file")
            assert "Wrote 1 signatures" in notifications(app)

    run(scenario)
    from cercle.protocol.bundle import verify_bundle

    report = verify_bundle(out.read_bytes())
    assert report.ok and report.signatures == 1


def test_export_on_a_node_without_the_method_says_so(shared_node: NodeRunner) -> None:
    cid = seed_community(shared_node, "Old node", criteria=("taste",))
    pid = shared_node.call(
        "petitions.create", community=cid, title="T", text="x", goal=5, deadline_ms=4 * 10**12
    )["id"]

    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot, CommunitiesScreen)
            real_call = app.link.call

            async def old_node(method: str, **params: Any) -> Any:
                if method == "petitions.export":
                    raise ApiError(UNKNOWN_METHOD, "unknown method 'petitions.export'")
                return await real_call(method, **params)

            app.link.call = old_node  # type: ignore[method-assign]
            app.push_screen(PetitionScreen(pid))
            await shown(pilot, PetitionScreen)
            await pilot.press("e")
            form = await fill(pilot, {"path": "/tmp/never-written.bundle"})
            await save(pilot, form)
            await until(pilot, lambda: EXPORT_UNSUPPORTED in notifications(app), "the notice")
            assert not Path("/tmp/never-written.bundle").exists()

    run(scenario)


# --------------------------------------------------------------------------- search, identity


def test_search_by_name_and_by_gtin(shared_node: NodeRunner) -> None:
    cid = seed_community(shared_node, "Search", criteria=("taste",))
    seed_product(shared_node, cid, F.gtin(5151), "Chickpea crisps", [5])
    seed_product(shared_node, cid, F.gtin(5252), "Lentil pasta", [4])

    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot, CommunitiesScreen)
            await pilot.press("slash")
            search = await shown(pilot, SearchScreen)
            await pilot.press(*"chickpea", "enter")
            await until(pilot, lambda: search.results, "results by name")
            assert [p["name"] for p in search.results] == ["Chickpea crisps"]
            # By GTIN (a GTIN-13 matches its GTIN-14 form).
            query = search.query_one("#search-query")
            query.focus()
            query.value = F.gtin(5252)  # type: ignore[attr-defined]
            await pilot.press("enter")
            await until(
                pilot,
                lambda: [p["name"] for p in search.results] == ["Lentil pasta"],
                "results by GTIN",
            )
            # A barcode with a wrong check digit is an inline error.
            query.focus()
            query.value = F.gtin(5252)[:-1] + str((int(F.gtin(5252)[-1]) + 1) % 10)  # type: ignore[attr-defined]
            await pilot.press("enter")
            await pilot.pause()
            assert "check digit" in str(search.query_one("#error-query").render())
            # Enter on a result opens the product.
            search.query_one("#results").focus()
            await pilot.press("enter")
            product = await shown(pilot, ProductScreen)
            assert product.product["name"] == "Lentil pasta"

    run(scenario)


def test_vouch_and_profile(shared_node: NodeRunner) -> None:
    subject = F.pub(77).hex()

    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot, CommunitiesScreen)
            await pilot.press("i")
            identity = await shown(pilot, IdentityScreen)
            assert identity.identity["public_key"] == shared_node.identity.public_key.hex()
            await pilot.press("v")
            form = await fill(pilot, {"subject": "not-a-key"})
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "64 hexadecimal" in form.error_text("subject") and form.submitted == 0
            form.set_value("subject", subject)
            await save(pilot, form)
            await until(
                pilot, lambda: any(v["subject"] == subject for v in identity.vouches), "the vouch"
            )
            await pilot.press("e")
            form = await fill(pilot, {"display_name": "Amal", "about": "I read labels."})
            await save(pilot, form)
            await until(
                pilot, lambda: identity.identity.get("display_name") == "Amal", "the profile"
            )
            # Someone vouches for me: it shows, live, among the vouches received.
            me = shared_node.identity.public_key
            now = int(time.time() * 1000)
            shared_node.submit([R.build(F.key(78), R.VouchBody(me, True), created_ms=now)])
            await until(
                pilot,
                lambda: [v["author"] for v in identity.received] == [F.pub(78).hex()],
                "the vouch received",
            )
            await pilot.pause()
            received = identity.query_one("#received", DataTable)
            assert received.row_count == 1 and identity.received[0]["fingerprint"] in (
                screen_text(app)
            )

    run(scenario)


# --------------------------------------------------------------------------- app chrome


def test_help_palette_and_network(shared_node: NodeRunner) -> None:
    seed_community(shared_node, "Netcheck", criteria=("taste",))

    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot, CommunitiesScreen)
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, CommunitiesScreen), "help closed")
            await pilot.press("f1")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help by F1")
            await pilot.press("escape")
            await pilot.press("ctrl+p")
            await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
            await pilot.press(*"go to network")
            await pilot.pause(0.3)  # the palette searches in a worker
            await pilot.press("enter")
            network = await shown(pilot, NetworkScreen)
            assert network.status["peer_id"]
            await pilot.pause()
            text = screen_text(app)
            assert "0 peers (0 relays)" in text
            assert any(line.startswith(" Netcheck") for line in text.splitlines())  # its topic
            await pilot.press("escape")
            await shown(pilot, CommunitiesScreen)

    run(scenario)


def test_lost_connection_banner_and_reconnection(node_runner: NodeRunner) -> None:
    cid = seed_community(node_runner, "Reconnect", criteria=("taste",))

    async def scenario() -> None:
        app = make_app(node_runner)
        async with app.run_test(size=SIZE) as pilot:
            screen = await shown(pilot, CommunitiesScreen)
            banner = screen.query_one(ConnectionBanner)
            assert not banner.display
            await asyncio.to_thread(node_runner.stop)
            await until(pilot, lambda: banner.display, "the banner")
            text = str(banner.render())
            assert "Lost connection to the node at" in text and "reconnecting" in text
            assert str(node_runner.socket) in text
            # Acting while disconnected is a notice, not a traceback.
            await pilot.press("j")
            await pilot.pause()
            loads = screen.loads
            await asyncio.to_thread(node_runner.start)
            await until(pilot, lambda: not banner.display, "the banner to go")
            await until(pilot, lambda: screen.loads > loads, "the screen to refresh")
            assert [c["id"] for c in screen.items] == [cid]

    run(scenario)


def test_trust_floor_hides_strangers_until_unvetted_is_toggled(shared_node: NodeRunner) -> None:
    cid = seed_community(shared_node, "Floor", criteria=("taste", "price"))
    gtin = F.gtin(5151)
    seed_product(shared_node, cid, gtin, "Tofu", scores=[4, 4])
    node = shared_node.node
    assert node is not None
    stranger = F.rating(8765, bytes.fromhex(cid), 5151, (1, 1), t=node.now_ms())
    shared_node.submit([stranger])
    shared_node.call("communities.set_min_trust", id=cid, max_distance=1)

    async def scenario() -> None:
        app = make_app(shared_node)
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot, CommunitiesScreen)
            app.push_screen(ProductScreen(cid, R.gtin14(gtin)))
            product = await shown(pilot, ProductScreen)
            assert [r["id"] for r in product.ratings] != [] and stranger.id.hex() not in {
                r["id"] for r in product.ratings
            }
            loads = product.loads
            await pilot.press("u")
            await until(pilot, lambda: product.loads > loads, "the reload")
            assert stranger.id.hex() in {r["id"] for r in product.ratings}
            assert app.show_unvetted

    run(scenario)


# --------------------------------------------------------------------------- hostile text

# Names, titles and texts come from strangers: as markup, this one would end a
# tag that is not open (Textual raises), swallow "[bio]" and make "free" a
# clickable action.
HOSTILE = "[/b] Tofu [bio] [@click=app.quit]free[/]"


def screen_text(app: CercleApp) -> str:
    """What the terminal shows, as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def test_text_from_the_network_is_shown_as_written(node_runner: NodeRunner) -> None:
    cid = node_runner.call(
        "communities.create", name=HOSTILE, description=HOSTILE, values=["vegan"], criteria=["[/b]"]
    )["id"]
    gtin = F.gtin(6161)
    brand = "[/i]\x1b]0;pwned\x07\u202e"  # and a terminal command, a bidi override
    node_runner.call("products.put", community=cid, gtin=gtin, name=HOSTILE, brand=brand)
    node_runner.call("ratings.put", community=cid, gtin=gtin, scores=[4], text=HOSTILE)
    pid = node_runner.call(
        "petitions.create",
        community=cid,
        title=HOSTILE,
        text=HOSTILE,
        target=HOSTILE,
        goal=5,
        deadline_ms=4 * 10**12,
    )["id"]
    node_runner.call("petitions.sign", id=pid)
    node_runner.call("profile.set", display_name=HOSTILE, about=HOSTILE)

    async def scenario() -> None:
        app = make_app(node_runner)
        async with app.run_test(size=(160, 50)) as pilot:
            await shown(pilot, CommunitiesScreen)
            await pilot.pause()
            assert HOSTILE in screen_text(app)
            community = await open_community(pilot, cid)
            await pilot.pause()
            text = screen_text(app)
            assert text.count(HOSTILE) >= 3  # title, header, product row
            assert "[/i]\ufffd]0;pwned\ufffd\ufffd" in text and "\x1b" not in text
            await pilot.press("2")
            await pilot.pause()
            assert HOSTILE in screen_text(app)  # the petition's title
            community.open_petition({"id": pid})
            await shown(pilot, PetitionScreen)
            await pilot.pause()
            assert screen_text(app).count(HOSTILE) >= 3  # title, text, target, the signer
            await pilot.press("escape")
            await shown(pilot, CommunityScreen, loads=2)
            community.open_product({"gtin": R.gtin14(gtin)})
            await shown(pilot, ProductScreen)
            await pilot.pause()
            assert screen_text(app).count(HOSTILE) >= 3  # name, the rating's text and author
            await pilot.press("r")  # the form names the criteria
            form = await shown(pilot, FormScreen)
            await pilot.pause()
            assert "[/b] (1-5)" in screen_text(app)
            form.set_value("score-0", "9")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "[/b]" in form.error_text("score-0")
            await pilot.press("escape")
            await shown(pilot, ProductScreen)
            app.push_screen(SearchScreen())
            search = await shown(pilot, SearchScreen)
            await pilot.press(*"[/b]", "enter")
            await pilot.pause()
            assert "[/b]" in screen_text(app)
            await pilot.press("escape")
            await pilot.press("i")
            await shown(pilot, IdentityScreen)
            await pilot.pause()
            assert HOSTILE in screen_text(app)
            assert app.is_running and [p["name"] for p in search.results] == [HOSTILE]

    run(scenario)


# --------------------------------------------------------------------------- signals

TUI_ON_A_PTY = """
import sys
from pathlib import Path
from cercle.tui.app import run_tui
sys.exit(run_tui(Path(sys.argv[1])))
"""


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_the_tui_exits_on_sighup_and_sigterm(sig: signal.Signals, tmp_path: Path) -> None:
    """A closed terminal (SIGHUP) or a kill ends the TUI: it does not linger without one."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    socket = tmp_path / "no-node.sock"  # nothing listens: the TUI shows its banner
    proc = subprocess.Popen(
        [sys.executable, "-c", TUI_ON_A_PTY, str(socket)],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"No node is running" not in seen:  # the TUI is up and drawing
            assert time.monotonic() < deadline, f"the TUI did not start: {seen[-500:]!r}"
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                seen += os.read(master, 65536)
        proc.send_signal(sig)
        deadline = time.monotonic() + 15
        while proc.poll() is None:  # drain the pty so the TUI can write its last frame
            assert time.monotonic() < deadline, f"the TUI ignored {sig.name}"
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                with contextlib.suppress(OSError):
                    os.read(master, 65536)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
