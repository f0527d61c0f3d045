"""Trust and moderation: vouching, listing vouches, muting, blocking, hiding."""

from __future__ import annotations

from typing import Any

from cercle.node.api import views
from cercle.node.api.handlers.context import Context, Params, hex_id
from cercle.protocol import localapi as A
from cercle.protocol import records as R

MAX_AUTHOR_RECORDS = 5000  # an author's records read to list their vouches


async def vouch(c: Context, p: Params) -> Any:
    subject = hex_id(p["subject"])
    if subject == c.me().public_key:
        raise A.ApiError(A.BAD_PARAMS, "subject: you cannot vouch for yourself", field="subject")
    community = hex_id(p["community"]) if p.get("community") else None
    return await c.publish(R.VouchBody(subject, p["trust"]), community)


def vouches(c: Context, p: Params) -> Any:
    if p.get("subject") and not p.get("author"):
        # Vouches received: the trust graph knows the edges into a key, and the
        # heads (one vouch per truster, community and subject) their records.
        subject = hex_id(p["subject"])
        heads = [
            c.store.head_id(R.vouch_key(truster, community or R.ZERO_ID, subject))
            for truster, _, community in c.port.vouches_for(subject)
        ]
        recs = c.store.records([h for h in heads if h is not None])
    else:
        author = hex_id(p["author"]) if p.get("author") else c.me().public_key
        recs = [
            r for r in c.store.by_author(author, limit=MAX_AUTHOR_RECORDS) if r.kind is R.Kind.VOUCH
        ]
        if p.get("subject"):
            about = hex_id(p["subject"])
            recs = [r for r in recs if isinstance(r.body, R.VouchBody) and r.body.subject == about]
    out = []
    for r in recs:
        assert isinstance(r.body, R.VouchBody)
        out.append(views.vouch_view(r, c.names(r.author), c.names(r.body.subject)))
    out.sort(key=lambda v: -v["created_ms"])  # newest first
    return views.items(out)


def _moderation_view(c: Context) -> views.View:
    mod = c.port.moderation
    return views.moderation_view(mod.muted, mod.blocked, mod.hidden, mod.floors)


def moderation(c: Context, p: Params) -> Any:
    return _moderation_view(c)


def moderate(c: Context, p: Params) -> Any:
    target = hex_id(p["target"])
    me = c.my_key()
    if p["action"] != "hide" and target == me:
        raise A.ApiError(A.BAD_PARAMS, "target: you cannot mute or block yourself", field="target")
    c.port.moderation.set(p["action"], target, p["on"])
    return _moderation_view(c)


HANDLERS = {
    "vouch": vouch,
    "vouches.list": vouches,
    "moderation.list": moderation,
    "moderation.set": moderate,
}
