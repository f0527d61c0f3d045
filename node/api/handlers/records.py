"""Any record by id, retracting our own, and a community's activity feed."""

from __future__ import annotations

from typing import Any

from cercle.node.api import paging, views
from cercle.node.api.handlers.context import Context, Params, hex_id
from cercle.protocol import localapi as A
from cercle.protocol import records as R


def get(c: Context, p: Params) -> Any:
    return views.record_view(c.record(p["id"]))


async def retract(c: Context, p: Params) -> Any:
    me = c.me()
    target = c.record(p["id"])
    if target.author != me.public_key:
        raise A.ApiError(A.REJECTED, "you can only retract your own records", reason="not_author")
    if target.kind is R.Kind.RETRACT:
        raise A.ApiError(A.BAD_PARAMS, "id: a retraction cannot be retracted", field="id")
    return await c.publish(R.RetractBody(target.id), target.community)


def feed(c: Context, p: Params) -> Any:
    limit: int = p["limit"]
    community = hex_id(p["community"])
    recs = c.store.feed(community, before=paging.parse_time_cursor(p.get("cursor")), limit=limit)
    shown = c.visible(recs, c.port.trust_view(community), p["unvetted"])
    about = _About(c)
    items = [views.feed_item_view(r, c.names(r.author), about(r)) for r in shown]
    return views.page(items, paging.next_time_cursor(recs, limit))


class _About:
    """What a feed record is about, for people: a product's name, a petition's title."""

    def __init__(self, c: Context) -> None:
        self.c = c
        self.names: dict[tuple[bytes, str], str | None] = {}
        self.titles: dict[bytes, str | None] = {}  # a feed holds many signatures of one petition

    def product(self, scope: bytes, gtin: str) -> str | None:
        key = (scope, R.gtin14(gtin))
        if key not in self.names:
            newest = self.c.newest_description(scope, gtin)
            body = newest.body if newest is not None else None
            self.names[key] = body.name if isinstance(body, R.ProductBody) else None
        return self.names[key]

    def __call__(self, rec: R.Record) -> str | None:
        body = rec.body
        if isinstance(body, R.RatingBody | R.ProductBody):
            return self.product(rec.scope, body.gtin)
        if isinstance(body, R.SignatureBody):
            if body.petition not in self.titles:
                petition = self.c.store.get(body.petition)
                pbody = petition.body if petition is not None else None
                self.titles[body.petition] = (
                    pbody.title if isinstance(pbody, R.PetitionBody) else None
                )
            return self.titles[body.petition]
        if isinstance(body, R.RetractBody):
            target = self.c.store.get_any(body.target)  # retracted: kept aside, not gone
            if target is not None and not isinstance(target.body, R.RetractBody):
                return self(target)
        return None


HANDLERS = {
    "records.get": get,
    "records.retract": retract,
    "feed": feed,
}
