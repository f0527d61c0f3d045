"""The node's trust graph, kept in step with the store.

Trust is computed from our author's point of view (``protocol/trust.py``, spec
``specs/trust.md``) over every vouch record the node holds. The graph lives in
memory, is built once from the store at start, and then follows the writer: after
each commit a stored vouch adds or replaces its edge, and a vouch that a commit
removed (replaced, retracted, invalidated) takes its edge away. This module owns the
graph so that the rest of the node asks questions of it (a view, the vouches for a
key, which records are exempt from proof of work) instead of editing it.

Proof-of-work exemptions are decided here, in the trio thread that owns the graph,
before a batch goes to the writer thread: a community may ask its records to carry
proof of work, except from authors we trust there and from its founder. A relay has
no viewer, so it exempts nobody but founders.
"""

from __future__ import annotations

from collections.abc import Sequence

from cercle.protocol import records as R
from cercle.protocol.trust import TrustGraph, TrustView
from cercle.storage import Outcome, Status, Store

MAX_VOUCHES = 10_000_000  # read per scope when the graph is built


class TrustKeeper:
    """The vouch graph of one node; ``me`` is our author key (None on a relay)."""

    def __init__(self, store: Store, me: bytes | None) -> None:
        self.store = store
        self.me = me
        self.graph = TrustGraph()

    def load(self) -> None:
        """Build the graph from every stored vouch (they are all current heads). Blocking."""
        edges = []
        for scope in self.store.scopes():
            for rec in self.store.by_kind(scope, R.Kind.VOUCH, limit=MAX_VOUCHES):
                assert isinstance(rec.body, R.VouchBody)
                edges.append((rec.author, rec.body.subject, rec.body.trust, rec.community))
        self.graph.add_vouches(edges)

    def view(self, community: bytes | None = None) -> TrustView | None:
        """Trust from our author's point of view (None on a relay: no viewer)."""
        if self.me is None:
            return None
        return self.graph.view(self.me, community)

    def vouches_for(self, subject: bytes) -> list[tuple[bytes, bool, bytes | None]]:
        """(truster, trust, community) of every vouch about ``subject``."""
        return self.graph.vouches_for(subject)

    def after_commit(self, rec: R.Record, out: Outcome) -> None:
        """Follow one commit: edges of removed vouches go, a stored vouch's edge comes."""
        for rid in out.removed:
            gone = self.store.get_any(rid)
            if gone is not None and isinstance(gone.body, R.VouchBody):
                self.graph.set_edge(gone.author, gone.body.subject, None, gone.community)
        if out.status is Status.STORED and isinstance(rec.body, R.VouchBody):
            self.graph.set_edge(rec.author, rec.body.subject, rec.body.trust, rec.community)

    def pow_exemptions(self, batch: Sequence[R.Record]) -> set[bytes]:
        """Ids of records whose community asks for proof of work but need not carry it."""
        exempt: set[bytes] = set()
        charters: dict[bytes, R.Record | None] = {}
        for rec in batch:
            if rec.community is None:
                continue
            if rec.community not in charters:
                charters[rec.community] = self.store.get(rec.community)
            charter = charters[rec.community]
            if charter is None or not isinstance(charter.body, R.CommunityBody):
                continue
            if not charter.body.pow_bits:
                continue
            view = self.view(rec.community)
            if rec.author == charter.author or (view is not None and view.is_trusted(rec.author)):
                exempt.add(rec.id)
        return exempt
