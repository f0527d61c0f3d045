"""The local API's methods, implemented over a running :class:`~cercle.node.service.Node`.

The server (``node/api.py``) has already checked every parameter against the
method table of ``protocol/localapi.py``; this module turns each call into
store reads or a signed record, and renders results as plain maps of strings,
numbers and lists (ids and keys as lowercase hex), as ``specs/local-api.md``
describes.  Reads are short LMDB read transactions in the trio thread; writes
go through the node's single writer.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import trio

from cercle.node.files.bundlefile import write_bundle_file
from cercle.node.service import Node
from cercle.node.views import counts_view, record_view
from cercle.protocol import bundle
from cercle.protocol import localapi as A
from cercle.protocol import records as R
from cercle.protocol import trust as T
from cercle.protocol.identity import fingerprint
from cercle.storage import ProductAggregate

Handler = Callable[["Backend", dict[str, Any]], Any]
_HANDLERS: dict[str, Handler] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[name] = fn
        return fn

    return register


def _b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _time_cursor(rec: R.Record) -> str:
    return rec.created_ms.to_bytes(8, "big").hex() + rec.id.hex()


def _parse_time_cursor(cursor: str | None) -> tuple[int, bytes] | None:
    if cursor is None:
        return None
    try:
        raw = bytes.fromhex(cursor)
    except ValueError:
        raise A.ApiError(A.BAD_PARAMS, "cursor: not a cursor this node gave out") from None
    if len(raw) != 40:
        raise A.ApiError(A.BAD_PARAMS, "cursor: not a cursor this node gave out")
    return int.from_bytes(raw[:8], "big"), raw[8:]


def _page(recs: list[R.Record], limit: int) -> str | None:
    return _time_cursor(recs[-1]) if len(recs) == limit else None


# A page of a list walked in store order: (records, the cursor after them or None).
Walk = Callable[[str | None, int], tuple[list[R.Record], str | None]]
TRUSTED_CURSOR = "t"  # "t<n>": the trusted part of a list, from its n-th record
MAX_OFFSET_DIGITS = 9


def trusted_first(
    view: T.TrustView | None,
    head_of: Callable[[bytes], bytes | None],
    records: Callable[[list[bytes]], list[R.Record]],
    walk: Walk,
    cursor: str | None,
    limit: int,
) -> tuple[list[R.Record], str | None]:
    """One page of a list that shows the authors we trust first: signers, raters.

    The lists are long (20 000 signatures) and the trusted authors few and
    anywhere in them, so sorting a page would not bring them up. Their records
    are found instead by one head lookup per trusted author (``head_of``, as
    the trusted counts are), sorted nearest first, then oldest, and paged with
    ``t<n>`` cursors; then the store's own order (``walk``) follows with its
    cursors, skipping the authors already shown. A trust change between two
    pages can move someone across the parts: callers skip ids already shown.
    """
    trusted = view.distances() if view is not None else {}
    page: list[R.Record] = []
    rest: str | None = cursor
    if cursor is None or cursor.startswith(TRUSTED_CURSOR):
        offset = _offset_cursor(cursor)
        heads = [h for a in trusted if (h := head_of(a)) is not None]
        mine = sorted(records(heads), key=lambda r: (trusted[r.author], R.order_key(r)))
        page = mine[offset : offset + limit]
        if len(page) == limit:  # the next page starts at the next trusted one, or the rest
            return page, f"{TRUSTED_CURSOR}{offset + limit}"
        rest = None
    while len(page) < limit:
        need = limit - len(page)
        recs, after = walk(rest, need)
        page += [r for r in recs if r.author not in trusted]
        if after is None:
            return page, None
        rest = after
    return page, rest


def _offset_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    digits = cursor[len(TRUSTED_CURSOR) :]
    if not digits.isdigit() or not digits.isascii() or len(digits) > MAX_OFFSET_DIGITS:
        raise A.ApiError(A.BAD_PARAMS, "cursor: not a cursor this node gave out")
    return int(digits)


class Backend:
    """``ApiBackend`` for a node: dispatches to the ``@method`` functions below."""

    def __init__(self, node: Node) -> None:
        self.node = node

    @property
    def store(self) -> Any:
        assert self.node.store is not None
        return self.node.store

    def subscribe(self) -> Any:
        return self.node.events.subscribe()

    def unsubscribe(self, channel: Any) -> None:
        self.node.events.unsubscribe(channel)

    async def handle(self, method_name: str, params: dict[str, Any]) -> Any:
        fn = _HANDLERS.get(method_name)
        if fn is None:
            raise A.ApiError(A.UNKNOWN_METHOD, f"this node does not implement {method_name!r}")
        result = fn(self, params)
        if hasattr(result, "__await__"):
            result = await result
        return result

    # -- helpers --------------------------------------------------------------

    def need_identity(self) -> None:
        if self.node.identity is None:
            raise A.ApiError(A.NO_IDENTITY, "this node has no author identity (relay mode?)")

    def get_record(self, hex_id: str, kind: R.Kind | None = None) -> R.Record:
        rec = self.store.get(_b(hex_id))
        if rec is None or (kind is not None and rec.kind is not kind):
            what = kind.name.lower() if kind else "record"
            raise A.ApiError(A.NOT_FOUND, f"no {what} {hex_id[:16]}… on this node")
        return rec

    def visible(
        self, recs: list[R.Record], view: T.TrustView | None, unvetted: bool
    ) -> list[R.Record]:
        mod = self.node.moderation
        if mod is None:
            return recs
        return [r for r in recs if mod.visible(r, view, unvetted=unvetted)]

    def charter(self, hex_id: str) -> R.CommunityBody:
        body = self.get_record(hex_id, R.Kind.COMMUNITY).body
        assert isinstance(body, R.CommunityBody)
        return body

    async def publish(self, body: R.Body, community: bytes | None = None) -> dict[str, Any]:
        self.need_identity()
        rec = await self.node.author(body, community)
        return {"id": rec.id.hex(), "record": record_view(rec)}

    def scores(self, community: bytes, gtin: str, agg: ProductAggregate) -> dict[str, Any]:
        """Scores of a product: all raters, and those in our trust network, with the reason."""
        view = self.node.trust_view(community)
        pairs: list[tuple[bytes, tuple[int, ...]]] = []
        if view is not None and agg.count:
            # From the index alone (author and scores are its values): no decoding.
            pairs = [x for x in self.store.rating_scores(community, gtin) if view.is_trusted(x[0])]
        trusted: dict[str, Any] = {"count": 0, "mean": [], "overall": None, "weight": 0.0}
        reason = "no one you trust has rated this"
        if view is not None and pairs:
            try:
                s = T.trusted_score(pairs, view)
            except ValueError:  # ratings of mismatched shapes (charter unknown yet)
                s = None
            if s is not None:
                trusted = {
                    "count": s.trusted_count,
                    "mean": [round(m, 3) for m in s.trusted_means],
                    "overall": _round(s.trusted_overall),
                    "weight": round(s.trusted_weight, 3),
                }
                reason = s.reason
        if view is None:
            reason = f"rated by {agg.count} people (no trust network on this node)"
        return {
            "all": {
                "count": agg.count,
                "mean": [round(m, 3) for m in agg.means],
                "overall": round(agg.mean, 3) if agg.count else None,
            },
            "trusted": trusted,
            "reason": reason,
        }

    def signature_counts(self, petition: R.Record) -> dict[str, Any]:
        total = self.store.petition_count(petition.id)
        view = self.node.trust_view(petition.community)
        if view is None:
            return {"all": total, "trusted": 0, "reason": f"signed by {total}"}
        prefix = bytes([R.Kind.SIGNATURE])
        suffix = petition.scope + petition.id
        # One lookup per trusted author (a head whose record is gone -- late,
        # retracted -- is only a floor and does not count), never a decode.
        signers = [a for a in view if self.store.head_id(prefix + a + suffix) is not None]
        return counts_view(T.trusted_count(signers, view, total=total))

    def community_view(self, rec: R.Record) -> dict[str, Any]:
        body = rec.body
        assert isinstance(body, R.CommunityBody)
        stats = self.store.scope_stats(rec.id)
        return {
            "id": rec.id.hex(),
            "name": body.name,
            "description": body.description,
            "values": list(body.values),
            "criteria": list(body.criteria),
            "pow_bits": body.pow_bits,
            "author": rec.author.hex(),
            "created_ms": rec.created_ms,
            "joined": rec.id in set(self.node.joined()),
            "members": stats.members,
            "records": stats.records,
        }

    def trusted_first(
        self,
        view: T.TrustView | None,
        kind: R.Kind,
        suffix: bytes,
        walk: Walk,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[R.Record], str | None]:
        """:func:`trusted_first` over the heads ``kind ‖ author ‖ suffix`` of this store."""
        prefix = bytes([kind])
        return trusted_first(
            view, lambda a: self.store.head_id(prefix + a + suffix), self.store.records, walk,
            cursor, limit,
        )  # fmt: skip

    def author_name(self, author: bytes) -> str | None:
        """The display name an author gave themselves (their profile), None if none.

        Self-chosen and unverified: shown beside the fingerprint, never instead.
        """
        head = self.store.head(bytes([R.Kind.PROFILE]) + author + R.ZERO_ID)
        body = head.body if head is not None else None
        return (body.display_name or None) if isinstance(body, R.ProfileBody) else None

    def names(self) -> Callable[[bytes], str | None]:
        """:meth:`author_name` remembered for one answer (a page names an author often)."""
        return functools.lru_cache(maxsize=None)(self.author_name)

    def newest_description(self, community: bytes, gtin: str) -> R.Record | None:
        """The product record of ``gtin`` written last, by anyone."""
        descs = self.store.product_records_newest(community, gtin, R.Kind.PRODUCT, limit=1)
        return descs[0] if descs else None

    def product_info(
        self, community: bytes, gtin: str, agg: ProductAggregate | None = None
    ) -> dict[str, Any]:
        """Product: the newest description (any author) and its scores."""
        newest = self.newest_description(community, gtin)
        body = newest.body if newest is not None else None
        assert body is None or isinstance(body, R.ProductBody)
        agg = agg if agg is not None else self.store.product_aggregate(community, gtin)
        return {
            "community": community.hex(),
            "gtin": R.gtin14(gtin),
            "name": body.name if body else "",
            "brand": body.brand if body else "",
            "labels": list(body.labels) if body else [],
            "id": newest.id.hex() if newest else None,
            "author": newest.author.hex() if newest else None,
            "created_ms": newest.created_ms if newest else None,
            "scores": self.scores(community, gtin, agg),
        }


# -- node and identity ---------------------------------------------------------


@method("status")
def _status(b: Backend, p: dict[str, Any]) -> Any:
    return b.node.status()


@method("identity.get")
def _identity(b: Backend, p: dict[str, Any]) -> Any:
    b.need_identity()
    ident = b.node.identity
    assert ident is not None
    head = b.store.head(bytes([R.Kind.PROFILE]) + ident.public_key + R.ZERO_ID)
    profile = head.body if head is not None else None
    named = isinstance(profile, R.ProfileBody)
    return {
        "public_key": ident.public_key.hex(),
        "fingerprint": ident.fingerprint,
        "display_name": profile.display_name if isinstance(profile, R.ProfileBody) else "",
        "about": profile.about if isinstance(profile, R.ProfileBody) else "",
        "has_profile": named,
    }


@method("profile.set")
async def _profile(b: Backend, p: dict[str, Any]) -> Any:
    return await b.publish(R.ProfileBody(R.nfc(p["display_name"]), R.nfc(p["about"])))


# -- communities ----------------------------------------------------------------


@method("communities.list")
def _communities(b: Backend, p: dict[str, Any]) -> Any:
    recs = b.store.by_kind(R.ZERO_ID, R.Kind.COMMUNITY, limit=1000)
    return {"items": [b.community_view(r) for r in recs]}


@method("communities.get")
def _community(b: Backend, p: dict[str, Any]) -> Any:
    return b.community_view(b.get_record(p["id"], R.Kind.COMMUNITY))


@method("communities.create")
async def _community_create(b: Backend, p: dict[str, Any]) -> Any:
    body = R.CommunityBody(
        R.nfc(p["name"]),
        R.nfc(p["description"]),
        tuple(R.nfc(v) for v in p["values"]),
        tuple(R.nfc(c) for c in p["criteria"]),
        p["pow_bits"],
    )
    out = await b.publish(body)
    await b.node.join(_b(out["id"]))
    return out


@method("communities.join")
async def _join(b: Backend, p: dict[str, Any]) -> Any:
    await b.node.join(_b(p["id"]))
    return {"id": p["id"], "joined": True}


@method("communities.leave")
async def _leave(b: Backend, p: dict[str, Any]) -> Any:
    await b.node.leave(_b(p["id"]))
    return {"id": p["id"], "joined": False}


# -- products and ratings ---------------------------------------------------------


@method("products.search")
def _search(b: Backend, p: dict[str, Any]) -> Any:
    query: str = p["query"].strip()
    scopes = [_b(p["community"])] if p.get("community") else b.node.joined()
    limit: int = p["limit"]
    found: dict[tuple[bytes, str], dict[str, Any]] = {}
    digits = query.isdigit() and R.gtin_valid(query)
    needle = query.casefold()
    for scope in scopes:
        if digits:
            if b.store.product_records(scope, query, R.Kind.PRODUCT, limit=1) or (
                b.store.product_aggregate(scope, query).count
            ):
                found[(scope, R.gtin14(query))] = b.product_info(scope, query)
            continue
        for rec in b.store.by_kind(scope, R.Kind.PRODUCT, limit=100_000):
            body = rec.body
            assert isinstance(body, R.ProductBody)
            key = (scope, R.gtin14(body.gtin))
            if key in found:
                continue
            if needle in body.name.casefold() or needle in body.brand.casefold():
                found[key] = b.product_info(scope, body.gtin)
                if len(found) >= limit:
                    break
        if len(found) >= limit:
            break
    return {"items": list(found.values())[:limit]}


@method("products.get")
def _product(b: Backend, p: dict[str, Any]) -> Any:
    community = _b(p["community"])
    b.charter(p["community"])
    info = b.product_info(community, p["gtin"])
    descs = b.store.product_records_newest(community, p["gtin"], R.Kind.PRODUCT, limit=20)
    info["descriptions"] = [record_view(r) for r in descs]  # newest first
    info["my_rating"] = None
    if b.node.identity is not None:
        key = bytes([R.Kind.RATING]) + b.node.identity.public_key + community
        mine = b.store.head(key + R.gtin14(p["gtin"]).encode())
        if mine is not None:
            info["my_rating"] = _rating_view(mine, b.node.trust_view(community), b.names())
    return info


@method("products.ranked")
def _ranked(b: Backend, p: dict[str, Any]) -> Any:
    community = _b(p["community"])
    after = None
    if p.get("cursor"):
        try:
            after = community + bytes.fromhex(p["cursor"])
        except ValueError:
            raise A.ApiError(A.BAD_PARAMS, "cursor: not a cursor this node gave out") from None
    limit: int = p["limit"]
    ranked = b.store.ranked_products(community, after=after, limit=limit)
    out = [b.product_info(community, gtin, agg) for gtin, agg in ranked]
    if p["trusted"]:
        out.sort(key=lambda x: -(x["scores"]["trusted"]["overall"] or 0.0))
    cursor = None
    if len(ranked) == limit:
        from cercle.storage import layout as L

        gtin, agg = ranked[-1]
        mean_milli = max(0, min(5000, round(agg.mean * 1000)))
        cursor = L.rank_key(community, gtin.encode(), mean_milli, agg.count)[32:].hex()
    return {"items": out, "cursor": cursor}


@method("products.put")
async def _product_put(b: Backend, p: dict[str, Any]) -> Any:
    b.charter(p["community"])
    body = R.ProductBody(
        p["gtin"], R.nfc(p["name"]), R.nfc(p["brand"]), tuple(R.nfc(x) for x in p["labels"])
    )
    return await b.publish(body, _b(p["community"]))


@method("ratings.list")
def _ratings(b: Backend, p: dict[str, Any]) -> Any:
    community = _b(p["community"])
    limit: int = p["limit"]
    gtin = R.gtin14(p["gtin"])
    view = b.node.trust_view(community)
    names = b.names()

    def walk(cursor: str | None, n: int) -> tuple[list[R.Record], str | None]:
        before = _parse_time_cursor(cursor)
        recs = b.store.product_records_newest(
            community, gtin, R.Kind.RATING, before=before, limit=n
        )
        return recs, _page(recs, n)

    suffix = community + gtin.encode()
    recs, cursor = b.trusted_first(view, R.Kind.RATING, suffix, walk, p.get("cursor"), limit)
    return {
        "items": [_rating_view(r, view, names) for r in b.visible(recs, view, p["unvetted"])],
        "cursor": cursor,
    }


@method("ratings.put")
async def _rate(b: Backend, p: dict[str, Any]) -> Any:
    charter = b.charter(p["community"])
    scores = tuple(p["scores"])
    if len(scores) != len(charter.criteria):
        raise A.ApiError(
            A.BAD_PARAMS,
            f"scores: this community rates {len(charter.criteria)} criteria "
            f"({', '.join(charter.criteria)}), got {len(scores)} scores",
        )
    body = R.RatingBody(p["gtin"], scores, R.nfc(p["text"]))
    return await b.publish(body, _b(p["community"]))


# -- petitions ----------------------------------------------------------------------


def _rating_view(
    rec: R.Record, view: T.TrustView | None, names: Callable[[bytes], str | None]
) -> dict[str, Any]:
    """Rating: id, author, fingerprint, name, created_ms, scores, text, trusted, distance."""
    body = rec.body
    assert isinstance(body, R.RatingBody)
    out = record_view(rec)
    out.update(
        name=names(rec.author),
        scores=list(body.scores),
        text=body.text,
        gtin=R.gtin14(body.gtin),
        trusted=bool(view and view.is_trusted(rec.author)),
        distance=view.distance(rec.author) if view else None,
    )
    return out


def _petition_view(b: Backend, rec: R.Record) -> dict[str, Any]:
    """Petition: its fields, signature counts (all and trusted) and whether we signed."""
    body = rec.body
    assert isinstance(body, R.PetitionBody)
    out = record_view(rec)
    out.update(
        name=b.author_name(rec.author),
        title=body.title,
        text=body.text,
        target=body.target,
        goal=body.goal,
        deadline_ms=body.deadline_ms,
        signatures=b.signature_counts(rec),
        signed=False,
    )
    if b.node.identity is not None:
        key = bytes([R.Kind.SIGNATURE]) + b.node.identity.public_key + rec.scope + rec.id
        out["signed"] = b.store.head_id(key) is not None
    return out


@method("petitions.list")
def _petitions(b: Backend, p: dict[str, Any]) -> Any:
    limit: int = p["limit"]
    recs = b.store.by_kind(
        _b(p["community"]), R.Kind.PETITION, before=_parse_time_cursor(p.get("cursor")), limit=limit
    )
    return {"items": [_petition_view(b, r) for r in recs], "cursor": _page(recs, limit)}


@method("petitions.get")
def _petition(b: Backend, p: dict[str, Any]) -> Any:
    return _petition_view(b, b.get_record(p["id"], R.Kind.PETITION))


@method("petitions.create")
async def _petition_create(b: Backend, p: dict[str, Any]) -> Any:
    b.charter(p["community"])
    body = R.PetitionBody(
        R.nfc(p["title"]), R.nfc(p["text"]), R.nfc(p["target"]), p["goal"], p["deadline_ms"]
    )
    if body.deadline_ms <= b.node.now_ms():
        raise A.ApiError(A.BAD_PARAMS, "deadline_ms: the deadline must be in the future")
    return await b.publish(body, _b(p["community"]))


@method("petitions.sign")
async def _sign(b: Backend, p: dict[str, Any]) -> Any:
    pet = b.get_record(p["id"], R.Kind.PETITION)
    assert isinstance(pet.body, R.PetitionBody)
    if b.node.now_ms() > pet.body.deadline_ms:
        raise A.ApiError(A.REJECTED, "this petition's deadline has passed", reason="late_signature")
    return await b.publish(R.SignatureBody(pet.id), pet.community)


@method("petitions.signatures")
def _signatures(b: Backend, p: dict[str, Any]) -> Any:
    limit: int = p["limit"]
    pet = b.get_record(p["id"], R.Kind.PETITION)
    view = b.node.trust_view(pet.community)

    def walk(cursor: str | None, n: int) -> tuple[list[R.Record], str | None]:
        recs = b.store.signatures(pet.id, after=_parse_time_cursor(cursor), limit=n)
        return recs, _page(recs, n)

    suffix = pet.scope + pet.id
    recs, cursor = b.trusted_first(view, R.Kind.SIGNATURE, suffix, walk, p.get("cursor"), limit)
    recs_shown = b.visible(recs, view, p["unvetted"])
    names = b.names()
    items = [
        {
            "id": r.id.hex(),
            "author": r.author.hex(),
            "fingerprint": fingerprint(r.author),
            "name": names(r.author),
            "created_ms": r.created_ms,
            "trusted": bool(view and view.is_trusted(r.author)),
            "distance": view.distance(r.author) if view else None,
        }
        for r in recs_shown
    ]
    return {"items": items, "cursor": cursor}


# -- records, feed, vouches, peers ------------------------------------------------------


@method("records.get")
def _record(b: Backend, p: dict[str, Any]) -> Any:
    return record_view(b.get_record(p["id"]))


@method("records.retract")
async def _retract(b: Backend, p: dict[str, Any]) -> Any:
    b.need_identity()
    target = b.get_record(p["id"])
    assert b.node.identity is not None
    if target.author != b.node.identity.public_key:
        raise A.ApiError(A.REJECTED, "you can only retract your own records", reason="not_author")
    if target.kind is R.Kind.RETRACT:
        raise A.ApiError(A.BAD_PARAMS, "id: a retraction cannot be retracted")
    return await b.publish(R.RetractBody(target.id), target.community)


@method("feed")
def _feed(b: Backend, p: dict[str, Any]) -> Any:
    limit: int = p["limit"]
    community = _b(p["community"])
    recs = b.store.feed(community, before=_parse_time_cursor(p.get("cursor")), limit=limit)
    shown = b.visible(recs, b.node.trust_view(community), p["unvetted"])
    about, names = _About(b), b.names()
    items = [{**record_view(r), "name": names(r.author), "about": about(r)} for r in shown]
    return {"items": items, "cursor": _page(recs, limit)}


class _About:
    """What a feed record is about, for people: a product's name, a petition's title."""

    def __init__(self, b: Backend) -> None:
        self.b = b
        self.names: dict[tuple[bytes, str], str | None] = {}
        self.titles: dict[bytes, str | None] = {}  # a feed holds many signatures of one petition

    def product(self, scope: bytes, gtin: str) -> str | None:
        key = (scope, R.gtin14(gtin))
        if key not in self.names:
            newest = self.b.newest_description(scope, gtin)
            body = newest.body if newest is not None else None
            self.names[key] = body.name if isinstance(body, R.ProductBody) else None
        return self.names[key]

    def __call__(self, rec: R.Record) -> str | None:
        body = rec.body
        if isinstance(body, R.RatingBody | R.ProductBody):
            return self.product(rec.scope, body.gtin)
        if isinstance(body, R.SignatureBody):
            if body.petition not in self.titles:
                petition = self.b.store.get(body.petition)
                pbody = petition.body if petition is not None else None
                self.titles[body.petition] = (
                    pbody.title if isinstance(pbody, R.PetitionBody) else None
                )
            return self.titles[body.petition]
        if isinstance(body, R.RetractBody):
            target = self.b.store.get_any(body.target)  # retracted: kept aside, not gone
            if target is not None and not isinstance(target.body, R.RetractBody):
                return self(target)
        return None


@method("vouch")
async def _vouch(b: Backend, p: dict[str, Any]) -> Any:
    b.need_identity()
    subject = _b(p["subject"])
    assert b.node.identity is not None
    if subject == b.node.identity.public_key:
        raise A.ApiError(A.BAD_PARAMS, "subject: you cannot vouch for yourself")
    community = _b(p["community"]) if p.get("community") else None
    return await b.publish(R.VouchBody(subject, p["trust"]), community)


@method("vouches.list")
def _vouches(b: Backend, p: dict[str, Any]) -> Any:
    if p.get("subject") and not p.get("author"):
        # Vouches received: the trust graph knows the edges into a key, and the
        # heads (one vouch per truster, community and subject) their records.
        subject = _b(p["subject"])
        kind = bytes([R.Kind.VOUCH])
        heads = [
            b.store.head_id(kind + truster + (community or R.ZERO_ID) + subject)
            for truster, _, community in b.node.trust.vouches_for(subject)
        ]
        recs = b.store.records([h for h in heads if h is not None])
    else:
        if p.get("author"):
            author = _b(p["author"])
        else:
            b.need_identity()
            assert b.node.identity is not None
            author = b.node.identity.public_key
        recs = [r for r in b.store.by_author(author, limit=5000) if r.kind is R.Kind.VOUCH]
        if p.get("subject"):
            about = _b(p["subject"])
            recs = [r for r in recs if isinstance(r.body, R.VouchBody) and r.body.subject == about]
    items = []
    names = b.names()
    for r in recs:
        assert isinstance(r.body, R.VouchBody)
        items.append(
            {
                "id": r.id.hex(),
                "author": r.author.hex(),
                "fingerprint": fingerprint(r.author),
                "name": names(r.author),
                "subject": r.body.subject.hex(),
                "subject_fingerprint": fingerprint(r.body.subject),
                "subject_name": names(r.body.subject),
                "trust": r.body.trust,
                "community": r.community.hex() if r.community else None,
                "created_ms": r.created_ms,
            }
        )
    items.sort(key=lambda v: -v["created_ms"])  # newest first
    return {"items": items}


@method("peers.list")
def _peers(b: Backend, p: dict[str, Any]) -> Any:
    assert b.node.net is not None
    return {
        "items": [
            {
                "peer_id": x.peer_id,
                "addrs": list(x.addrs),
                "connected_since": x.connected_since,
                "relay": x.relay,
            }
            for x in b.node.net.peers()
        ]
    }


@method("peers.connect")
async def _connect(b: Backend, p: dict[str, Any]) -> Any:
    assert b.node.net is not None
    if "/p2p/" not in p["addr"]:
        raise A.ApiError(A.BAD_PARAMS, "addr: a multiaddr ending in /p2p/PEER_ID is needed")
    try:
        peer_id = await b.node.net.connect(p["addr"])
    except Exception as exc:
        raise A.ApiError(A.UNAVAILABLE, f"cannot connect to {p['addr']}: {exc}") from None
    return {"peer_id": peer_id}


# -- moderation and bundles ------------------------------------------------------------


@method("moderation.list")
def _moderation(b: Backend, p: dict[str, Any]) -> Any:
    assert b.node.moderation is not None
    return b.node.moderation.as_dict()


@method("moderation.set")
def _moderate(b: Backend, p: dict[str, Any]) -> Any:
    mod = b.node.moderation
    assert mod is not None
    target = _b(p["target"])
    ident = b.node.identity
    if p["action"] != "hide" and ident is not None and target == ident.public_key:
        raise A.ApiError(A.BAD_PARAMS, "target: you cannot mute or block yourself")
    mod.set(p["action"], target, p["on"])
    return mod.as_dict()


@method("communities.set_min_trust")
def _min_trust(b: Backend, p: dict[str, Any]) -> Any:
    mod = b.node.moderation
    assert mod is not None
    b.charter(p["id"])
    mod.set_floor(_b(p["id"]), p.get("max_distance"))
    return {"id": p["id"], "max_distance": p.get("max_distance")}


@method("petitions.export")
async def _export(b: Backend, p: dict[str, Any]) -> Any:
    pet = b.get_record(p["id"], R.Kind.PETITION)
    store = b.store
    path = p.get("path")
    if path is not None and not os.path.isabs(path):
        raise A.ApiError(A.BAD_PARAMS, "path: give an absolute path (the node writes the file)")

    def build() -> tuple[bytes, int, bytes]:
        sigs = store.signatures(pet.id, limit=None)
        charter = store.get_any(pet.community) if pet.community else None
        data = bundle.build_bundle(pet, sigs, community=charter)
        return data, len(sigs), bundle.merkle_root([s.id for s in sigs])

    data, count, root = await trio.to_thread.run_sync(build)
    result: dict[str, Any] = {"signatures": count, "root": root.hex(), "bytes": len(data)}
    if path is None:
        if 2 * len(data) > A.MAX_FRAME // 2:
            raise A.ApiError(A.BAD_PARAMS, "the bundle is large: give a path to write it to")
        result["bundle"] = data.hex()
        return result
    try:
        await trio.to_thread.run_sync(
            lambda: write_bundle_file(path, data, overwrite=p["overwrite"])
        )
    except FileExistsError:
        raise A.ApiError(A.BAD_PARAMS, f"path: {path} exists (pass overwrite)") from None
    except OSError as exc:
        raise A.ApiError(A.UNAVAILABLE, f"cannot write {path}: {exc.strerror}") from None
    result["path"] = path
    return result
