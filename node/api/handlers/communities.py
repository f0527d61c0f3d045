"""Communities: charters, joining and leaving, the trust floor."""

from __future__ import annotations

from typing import Any

from cercle.node.api import views
from cercle.node.api.handlers.context import Context, Params, hex_id
from cercle.protocol import records as R

MAX_LISTED = 1000


def _view(c: Context, rec: R.Record, joined: set[bytes]) -> views.View:
    stats = c.store.scope_stats(rec.id)
    return views.community_view(
        rec, joined=rec.id in joined, members=stats.members, records=stats.records
    )


def list_(c: Context, p: Params) -> Any:
    joined = set(c.port.joined())
    recs = c.store.by_kind(R.ZERO_ID, R.Kind.COMMUNITY, limit=MAX_LISTED)
    return views.items([_view(c, r, joined) for r in recs])


def get(c: Context, p: Params) -> Any:
    return _view(c, c.record(p["id"], R.Kind.COMMUNITY), set(c.port.joined()))


async def create(c: Context, p: Params) -> Any:
    body = R.CommunityBody(
        R.nfc(p["name"]),
        R.nfc(p["description"]),
        tuple(R.nfc(v) for v in p["values"]),
        tuple(R.nfc(x) for x in p["criteria"]),
        p["pow_bits"],
    )
    out = await c.publish(body)
    await c.port.join(hex_id(out["id"]))
    return out


async def join(c: Context, p: Params) -> Any:
    await c.port.join(hex_id(p["id"]))
    return views.membership_view(p["id"], True)


async def leave(c: Context, p: Params) -> Any:
    await c.port.leave(hex_id(p["id"]))
    return views.membership_view(p["id"], False)


def set_min_trust(c: Context, p: Params) -> Any:
    c.charter(p["id"])
    c.port.moderation.set_floor(hex_id(p["id"]), p.get("max_distance"))
    return views.min_trust_view(p["id"], p.get("max_distance"))


HANDLERS = {
    "communities.list": list_,
    "communities.get": get,
    "communities.create": create,
    "communities.join": join,
    "communities.leave": leave,
    "communities.set_min_trust": set_min_trust,
}
