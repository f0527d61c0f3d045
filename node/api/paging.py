"""Pages of long lists and their cursors, pure: the rules, tested without a node.

A list method answers one page and a cursor for the next (``specs/local-api.md``
§4). Cursors are opaque to clients and checked when they come back: a cursor this
node did not give out is ``bad_params`` on ``cursor``, never a crash.

* **Time cursors** page lists walked in time order (feed, petitions, ratings,
  signatures): the hex of the last record's ``created_ms ‖ id``
  (``storage/layout.py``: ``order``).
* **Trusted first** (:func:`trusted_first`): lists that show the authors we trust
  before everyone else (raters, signers). The trusted authors are few and anywhere
  in a list of thousands, so their records are found by one head lookup each,
  sorted nearest first, then oldest, and paged with ``t<n>`` cursors; then the list's
  own order follows with its own cursors, skipping the authors already shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from cercle.protocol import localapi as A
from cercle.protocol import records as R
from cercle.protocol.trust import TrustView
from cercle.storage import layout as L

TRUSTED_CURSOR = "t"  # "t<n>": the trusted part of a list, from its n-th record
MAX_OFFSET_DIGITS = 9


def bad_cursor() -> A.ApiError:
    return A.ApiError(A.BAD_PARAMS, "cursor: not a cursor this node gave out", field="cursor")


def time_cursor(rec: R.Record) -> str:
    """The cursor that continues a time-ordered list after ``rec``."""
    return L.order(rec.created_ms, rec.id).hex()


def parse_time_cursor(cursor: str | None) -> tuple[int, bytes] | None:
    """``(created_ms, id)`` of a :func:`time_cursor`; None for the first page."""
    if cursor is None:
        return None
    try:
        return L.split_order(bytes.fromhex(cursor))
    except ValueError:
        raise bad_cursor() from None


def next_time_cursor(recs: list[R.Record], limit: int) -> str | None:
    """The cursor after a full page, None after the last one."""
    return time_cursor(recs[-1]) if len(recs) == limit else None


def parse_bytes_cursor(cursor: str | None) -> bytes | None:
    """A store's own opaque cursor (hex), None for the first page."""
    if cursor is None:
        return None
    try:
        return bytes.fromhex(cursor)
    except ValueError:
        raise bad_cursor() from None


# A page of a list walked in its own order: (records, the cursor after them or None).
Walk: TypeAlias = Callable[[str | None, int], tuple[list[R.Record], str | None]]


def trusted_first(
    view: TrustView | None,
    head_of: Callable[[bytes], bytes | None],
    records: Callable[[list[bytes]], list[R.Record]],
    walk: Walk,
    cursor: str | None,
    limit: int,
) -> tuple[list[R.Record], str | None]:
    """One page of a list that shows the authors we trust first: signers, raters.

    ``head_of(author)`` is the id of that author's record in the list (its replace
    key's head), ``records`` loads ids, ``walk`` pages the whole list in its own
    order. A trust change between two pages can move someone across the two parts:
    callers skip ids already shown.
    """
    trusted = view.distances() if view is not None else {}
    page: list[R.Record] = []
    rest: str | None = cursor
    if cursor is None or cursor.startswith(TRUSTED_CURSOR):
        offset = _offset(cursor)
        heads = [h for a in trusted if (h := head_of(a)) is not None]
        mine = sorted(records(heads), key=lambda r: (trusted[r.author], R.order_key(r)))
        page = mine[offset : offset + limit]
        if len(page) == limit:  # the next page starts at the next trusted one, or the rest
            return page, f"{TRUSTED_CURSOR}{offset + limit}"
        rest = None
    while len(page) < limit:
        recs, after = walk(rest, limit - len(page))
        page += [r for r in recs if r.author not in trusted]
        if after is None:
            return page, None
        rest = after
    return page, rest


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    digits = cursor[len(TRUSTED_CURSOR) :]
    if not digits.isdigit() or not digits.isascii() or len(digits) > MAX_OFFSET_DIGITS:
        raise bad_cursor()
    return int(digits)
