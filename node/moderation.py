"""Local moderation: what *my* node shows, decided by me, never published.

Nothing is deleted and nobody else is affected: muting hides an author's
records from my lists, blocking also cuts them (and whoever they vouch for)
out of my trust network, as if I had distrusted them — but the distrust is
kept locally, not gossiped.  Hiding removes one record from my lists.  A
per-community trust floor shows only authors within a trust distance of me
unless I ask for unvetted records too.

State lives in the store's node-local database (``storage/layout.py``: ``local``,
under the ``MUTE``, ``BLOCK``, ``HIDE`` and ``MIN_TRUST`` prefixes).
"""

from __future__ import annotations

from cercle.protocol import records as R
from cercle.protocol.trust import TrustGraph, TrustView
from cercle.storage import Outcome, Status, Store
from cercle.storage import layout as L

_PREFIX = {"mute": L.MUTE, "block": L.BLOCK, "hide": L.HIDE}


class Moderation:
    def __init__(self, store: Store, trust: TrustGraph, me: bytes | None) -> None:
        self.store, self.trust, self.me = store, trust, me
        self.muted = {k for k, _ in store.local_scan(L.MUTE)}
        self.blocked = {k for k, _ in store.local_scan(L.BLOCK)}
        self.hidden = {k for k, _ in store.local_scan(L.HIDE)}
        self.floors = {k: v[0] for k, v in store.local_scan(L.MIN_TRUST) if v}
        for author in self.blocked:
            self._cut(author)

    def _cut(self, author: bytes) -> None:
        if self.me is not None and author != self.me:
            self.trust.set_edge(self.me, author, False)

    def restore_edge(self, author: bytes) -> None:
        """After an unblock: my published global vouch for ``author`` (if any) counts again."""
        if self.me is None:
            return
        head = self.store.head(R.vouch_key(self.me, R.ZERO_ID, author))
        trust = head.body.trust if head is not None and isinstance(head.body, R.VouchBody) else None
        self.trust.set_edge(self.me, author, trust)

    def set(self, action: str, target: bytes, on: bool) -> None:
        key = L.setting(_PREFIX[action], target)
        bucket = {"mute": self.muted, "block": self.blocked, "hide": self.hidden}[action]
        if on:
            self.store.local_put(key)
            bucket.add(target)
            if action == "block":
                self._cut(target)
        else:
            self.store.local_delete(key)
            bucket.discard(target)
            if action == "block":
                self.restore_edge(target)

    def set_floor(self, community: bytes, max_distance: int | None) -> None:
        if max_distance is None:
            self.store.local_delete(L.setting(L.MIN_TRUST, community))
            self.floors.pop(community, None)
        else:
            self.store.local_put(L.setting(L.MIN_TRUST, community), bytes([max_distance]))
            self.floors[community] = max_distance

    def after_commit(self, rec: R.Record, out: Outcome) -> None:
        """A global vouch of mine for someone I blocked: my local block still wins."""
        body = rec.body
        if (
            out.status is Status.STORED
            and isinstance(body, R.VouchBody)
            and rec.author == self.me
            and rec.community is None
            and body.subject in self.blocked
        ):
            self._cut(body.subject)

    def visible(self, rec: R.Record, view: TrustView | None, *, unvetted: bool = False) -> bool:
        """Should my lists show ``rec``?"""
        if rec.id in self.hidden or rec.author in self.muted or rec.author in self.blocked:
            return False
        floor = self.floors.get(rec.scope)
        if floor is None or unvetted or view is None or rec.author == self.me:
            return True
        distance = view.distance(rec.author)
        return distance is not None and distance <= floor
