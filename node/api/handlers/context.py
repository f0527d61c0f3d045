"""What every handler needs: the node port and the lookups several methods share.

A :class:`Context` lives for one call (the author names it looks up are remembered
for that answer only). The lookups here are the shared rules of the API's reads:
which records a user sees (moderation), how a product's scores and a petition's
counts are computed twice (everyone, people we trust), how an author is named.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from cercle.node.api import paging, views
from cercle.node.api.port import NodePort
from cercle.protocol import localapi as A
from cercle.protocol import records as R
from cercle.protocol import trust as T
from cercle.protocol.errors import Rejected
from cercle.protocol.identity import Identity
from cercle.storage import ProductAggregate, Store

Params = dict[str, Any]


def hex_id(text: str) -> bytes:
    """A hex32 parameter as bytes (``check_params`` has checked it already)."""
    return bytes.fromhex(text)


class Context:
    def __init__(self, port: NodePort) -> None:
        self.port = port
        self.store: Store = port.store
        self.names: Callable[[bytes], str | None] = functools.lru_cache(maxsize=None)(
            self.author_name
        )

    # -- who we are ---------------------------------------------------------

    def me(self) -> Identity:
        ident = self.port.identity
        if ident is None:
            raise A.ApiError(A.NO_IDENTITY, "this node has no author identity (relay mode?)")
        return ident

    def my_key(self) -> bytes | None:
        ident = self.port.identity
        return ident.public_key if ident is not None else None

    async def publish(self, body: R.Body, community: bytes | None = None) -> views.View:
        self.me()
        return views.published_view(await self.port.author(body, community))

    # -- records ------------------------------------------------------------

    def record(self, hex_id_: str, kind: R.Kind | None = None) -> R.Record:
        rec = self.store.get(hex_id(hex_id_))
        if rec is None or (kind is not None and rec.kind is not kind):
            what = kind.name.lower() if kind else "record"
            raise A.ApiError(A.NOT_FOUND, f"no {what} {hex_id_[:16]}… on this node")
        return rec

    def charter(self, hex_id_: str) -> R.CommunityBody:
        body = self.record(hex_id_, R.Kind.COMMUNITY).body
        assert isinstance(body, R.CommunityBody)
        return body

    def visible(
        self, recs: list[R.Record], view: T.TrustView | None, unvetted: bool
    ) -> list[R.Record]:
        """The records my moderation lets me see."""
        mod = self.port.moderation
        return [r for r in recs if mod.visible(r, view, unvetted=unvetted)]

    def author_name(self, author: bytes) -> str | None:
        """The display name an author gave themselves (their profile), None if none.

        Self-chosen and unverified: shown beside the fingerprint, never instead.
        """
        head = self.store.head(R.profile_key(author))
        body = head.body if head is not None else None
        return (body.display_name or None) if isinstance(body, R.ProfileBody) else None

    def trusted_first(
        self,
        view: T.TrustView | None,
        key_of: Callable[[bytes], bytes],
        walk: paging.Walk,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[R.Record], str | None]:
        """:func:`paging.trusted_first` over this store; ``key_of(author)`` is a replace key."""
        return paging.trusted_first(
            view, lambda a: self.store.head_id(key_of(a)), self.store.records, walk, cursor, limit
        )

    # -- products -----------------------------------------------------------

    def newest_description(self, community: bytes, gtin: str) -> R.Record | None:
        """The product record of ``gtin`` written last, by anyone."""
        descs = self.store.product_records_newest(community, gtin, R.Kind.PRODUCT, limit=1)
        return descs[0] if descs else None

    def scores(self, community: bytes, gtin: str, agg: ProductAggregate) -> views.View:
        """Scores of a product: all raters, and those in our trust network, with the reason."""
        view = self.port.trust_view(community)
        if view is None:
            return views.scores_view(
                agg, None, f"rated by {agg.count} people (no trust network on this node)"
            )
        pairs: list[tuple[bytes, tuple[int, ...]]] = []
        if agg.count:
            # From the index alone (author and scores are its values): no decoding.
            pairs = [x for x in self.store.rating_scores(community, gtin) if view.is_trusted(x[0])]
        summary = None
        if pairs:
            try:
                summary = T.trusted_score(pairs, view)
            except ValueError:  # ratings of mismatched shapes (charter unknown yet)
                summary = None
        if summary is None:
            return views.scores_view(agg, None, "no one you trust has rated this")
        return views.scores_view(agg, summary, summary.reason)

    def product(
        self, community: bytes, gtin: str, agg: ProductAggregate | None = None
    ) -> views.View:
        agg = agg if agg is not None else self.store.product_aggregate(community, gtin)
        newest = self.newest_description(community, gtin)
        return views.product_view(community, gtin, newest, self.scores(community, gtin, agg))

    def check_scores(self, charter: R.CommunityBody, scores: list[int]) -> None:
        """One score per criterion of the charter, or ``bad_params`` on ``scores``."""
        try:
            R.check_scores_fit(scores, charter.criteria)
        except Rejected:
            raise A.ApiError(
                A.BAD_PARAMS,
                f"scores: this community rates {len(charter.criteria)} criteria "
                f"({', '.join(charter.criteria)}), got {len(scores)} scores",
                field="scores",
            ) from None

    # -- petitions ----------------------------------------------------------

    def signature_counts(self, petition: R.Record) -> views.View:
        total = self.store.petition_count(petition.id)
        view = self.port.trust_view(petition.community)
        if view is None:
            return views.counts_view(total, None, f"signed by {total}")
        # One lookup per trusted author (a head whose record is gone -- late,
        # retracted -- is only a floor and does not count), never a decode.
        signers = [
            a
            for a in view
            if self.store.head_id(R.signature_key(a, petition.scope, petition.id)) is not None
        ]
        summary = T.trusted_count(signers, view, total=total)
        return views.counts_view(total, summary, summary.reason)

    def petition(self, rec: R.Record) -> views.View:
        me = self.my_key()
        signed = me is not None and (
            self.store.head_id(R.signature_key(me, rec.scope, rec.id)) is not None
        )
        return views.petition_view(
            rec, self.author_name(rec.author), self.signature_counts(rec), signed
        )
