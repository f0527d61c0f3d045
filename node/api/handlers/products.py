"""Products and their ratings: search, ranking, descriptions, rating."""

from __future__ import annotations

from typing import Any

from cercle.node.api import paging, views
from cercle.node.api.handlers.context import Context, Params, hex_id
from cercle.protocol import records as R

MAX_SCANNED = 100_000  # product descriptions read per community by a name search
DESCRIPTIONS = 20  # newest descriptions shown with a product


def search(c: Context, p: Params) -> Any:
    query: str = p["query"].strip()
    scopes = [hex_id(p["community"])] if p.get("community") else c.port.joined()
    limit: int = p["limit"]
    found: dict[tuple[bytes, str], views.View] = {}
    digits = query.isdigit() and R.gtin_valid(query)
    needle = query.casefold()
    for scope in scopes:
        if digits:
            if c.store.product_records(scope, query, R.Kind.PRODUCT, limit=1) or (
                c.store.product_aggregate(scope, query).count
            ):
                found[(scope, R.gtin14(query))] = c.product(scope, query)
            continue
        for rec in c.store.by_kind(scope, R.Kind.PRODUCT, limit=MAX_SCANNED):
            body = rec.body
            assert isinstance(body, R.ProductBody)
            key = (scope, R.gtin14(body.gtin))
            if key in found:
                continue
            if needle in body.name.casefold() or needle in body.brand.casefold():
                found[key] = c.product(scope, body.gtin)
                if len(found) >= limit:
                    break
        if len(found) >= limit:
            break
    return views.items(list(found.values())[:limit])


def get(c: Context, p: Params) -> Any:
    community = hex_id(p["community"])
    c.charter(p["community"])
    descs = c.store.product_records_newest(community, p["gtin"], R.Kind.PRODUCT, limit=DESCRIPTIONS)
    me = c.my_key()
    mine = c.store.head(R.rating_key(me, community, p["gtin"])) if me is not None else None
    my_rating = None
    if mine is not None:
        my_rating = views.rating_view(mine, c.port.trust_view(community), c.names(mine.author))
    return views.product_detail_view(c.product(community, p["gtin"]), descs, my_rating)


def ranked(c: Context, p: Params) -> Any:
    community = hex_id(p["community"])
    try:
        page, after = c.store.ranked_products(
            community, after=paging.parse_bytes_cursor(p.get("cursor")), limit=p["limit"]
        )
    except ValueError:
        raise paging.bad_cursor() from None
    out = [c.product(community, gtin, agg) for gtin, agg in page]
    if p["trusted"]:
        out.sort(key=lambda x: -(x["scores"]["trusted"]["overall"] or 0.0))
    return views.page(out, after.hex() if after is not None else None)


async def put(c: Context, p: Params) -> Any:
    c.charter(p["community"])
    body = R.ProductBody(
        p["gtin"], R.nfc(p["name"]), R.nfc(p["brand"]), tuple(R.nfc(x) for x in p["labels"])
    )
    return await c.publish(body, hex_id(p["community"]))


def ratings(c: Context, p: Params) -> Any:
    community = hex_id(p["community"])
    gtin = R.gtin14(p["gtin"])
    view = c.port.trust_view(community)

    def walk(cursor: str | None, n: int) -> tuple[list[R.Record], str | None]:
        before = paging.parse_time_cursor(cursor)
        recs = c.store.product_records_newest(
            community, gtin, R.Kind.RATING, before=before, limit=n
        )
        return recs, paging.next_time_cursor(recs, n)

    recs, cursor = c.trusted_first(
        view, lambda a: R.rating_key(a, community, gtin), walk, p.get("cursor"), p["limit"]
    )
    shown = c.visible(recs, view, p["unvetted"])
    return views.page([views.rating_view(r, view, c.names(r.author)) for r in shown], cursor)


async def rate(c: Context, p: Params) -> Any:
    charter = c.charter(p["community"])
    c.check_scores(charter, p["scores"])
    body = R.RatingBody(p["gtin"], tuple(p["scores"]), R.nfc(p["text"]))
    return await c.publish(body, hex_id(p["community"]))


HANDLERS = {
    "products.search": search,
    "products.get": get,
    "products.ranked": ranked,
    "products.put": put,
    "ratings.list": ratings,
    "ratings.put": rate,
}
