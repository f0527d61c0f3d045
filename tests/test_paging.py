"""Pages and cursors of the local API, pure: no store, no node."""

from __future__ import annotations

import pytest

from cercle.node.api import paging
from cercle.protocol import localapi as A
from cercle.protocol import records as R
from cercle.protocol.trust import TrustGraph
from tests import factory as F

COMM = F.community()


def test_time_cursor_round_trip_and_bad_cursors() -> None:
    rec = F.rating(1, COMM.id, 1, (3, 3, 3), t=F.T0 + 5)
    assert paging.parse_time_cursor(paging.time_cursor(rec)) == (rec.created_ms, rec.id)
    assert paging.parse_time_cursor(None) is None
    for bad in ("zz", "ab" * 10, "ab" * 41, "t3"):
        with pytest.raises(A.ApiError) as exc:
            paging.parse_time_cursor(bad)
        assert exc.value.code == A.BAD_PARAMS and exc.value.field == "cursor"


def test_next_time_cursor_only_after_a_full_page() -> None:
    recs = [F.rating(i, COMM.id, 1, (3, 3, 3), t=F.T0 + i) for i in range(3)]
    assert paging.next_time_cursor(recs, 3) == paging.time_cursor(recs[-1])
    assert paging.next_time_cursor(recs, 4) is None


def _list(n: int) -> list[R.Record]:
    """n ratings by authors 0..n-1, oldest first (the store's own order)."""
    return [F.rating(i, COMM.id, 1, (3, 3, 3), t=F.T0 + i) for i in range(n)]


def _walker(recs: list[R.Record]) -> paging.Walk:
    def walk(cursor: str | None, n: int) -> tuple[list[R.Record], str | None]:
        start = int(cursor) if cursor else 0
        page = recs[start : start + n]
        return page, str(start + n) if start + n < len(recs) else None

    return walk


def _pages(view: object, recs: list[R.Record], limit: int) -> list[list[int]]:
    by_id = {r.id: r for r in recs}
    by_author = {r.author: r.id for r in recs}
    authors = {F.pub(i): i for i in range(len(recs))}
    out, cursor = [], None
    while True:
        page, cursor = paging.trusted_first(
            view,  # type: ignore[arg-type]
            by_author.get,
            lambda ids: [by_id[i] for i in ids],
            _walker(recs),
            cursor,
            limit,
        )
        out.append([authors[r.author] for r in page])
        if cursor is None:
            return out


def test_trusted_authors_come_first_nearest_first_then_the_rest_in_order() -> None:
    recs = _list(8)
    graph = TrustGraph()
    me = F.pub(100)
    # I trust 5 directly; 5 trusts 2 (two hops); I trust 7 directly.
    graph.add_vouches([(me, F.pub(5), True, None), (F.pub(5), F.pub(2), True, None),
                       (me, F.pub(7), True, None)])  # fmt: skip
    view = graph.view(me)
    pages = _pages(view, recs, 3)
    assert [a for p in pages for a in p] == [5, 7, 2, 0, 1, 3, 4, 6]  # each once
    assert pages[0] == [5, 7, 2]  # distance 1 (oldest first), then distance 2
    assert all(len(p) == 3 for p in pages[:-1])


def test_without_a_viewer_the_list_is_its_own_order() -> None:
    recs = _list(5)
    assert [a for p in _pages(None, recs, 2) for a in p] == [0, 1, 2, 3, 4]


def test_a_trusted_cursor_must_be_one_we_gave() -> None:
    for bad in ("t", "tx", "t" + "9" * 10, "t١"):  # Arabic-Indic one: a digit, not ASCII
        with pytest.raises(A.ApiError) as exc:
            paging.trusted_first(None, lambda a: None, lambda ids: [], _walker([]), bad, 5)
        assert exc.value.field == "cursor"
