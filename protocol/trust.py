"""Web of trust, computed from one viewer's own key.

Why it looks like this:

* **Nothing is global.**  There is no "reputation" of a key, only how far it is
  from *me* along `vouch` edges.  A thousand sybil keys that vouch for each other
  gain nothing unless somebody I (transitively) trust vouches for one of them; then
  they enter behind that person, with decayed weight, and one distrust cuts them off.
* **Breadth-first, by levels.**  Distance is the number of trust hops from the
  viewer, capped (default 3); weight is ``decay ** (hops - 1)``, so my direct
  vouches count fully and friends-of-friends count half.
* **Distrust only reaches outwards** (see specs/trust.md): a distrust from an
  author at distance *d* blocks a key that would be reached at distance *> d*.
  Each BFS level therefore depends only on the levels before it, so the result is
  unique, needs no fixpoint, and is computed in one pass.  Corollaries: my own
  distrust always wins, and nobody can veto someone I vouch for directly.
* **Pure and sans-IO.**  Edges go in (``set_edge`` as records arrive, or one bulk
  ``add_vouches`` at start-up); views come out.  No clock, no storage, no network,
  so it is tested exhaustively against a naive reference implementation.
* **Compact and incremental.**  Edges are ``{truster: {subject: trust}}`` dicts
  keyed by the 32-byte keys themselves (whose hash CPython caches), plus a derived
  set of distrusted subjects per truster, so each BFS level is a few C-level set
  operations.  Interning keys to ints was measured: the extra random dict probe per
  edge doubled the bulk load time (1M edges) and saves memory only when the caller
  passes a fresh bytes object per edge; callers decoding from storage should reuse
  one object per author.  A view only reads the out-edges of the authors it trusts,
  so an edge change drops only the cached views that contain its truster.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "DEFAULT_DECAY",
    "DEFAULT_MAX_DEPTH",
    "KEY_SIZE",
    "AggregateSummary",
    "CountSummary",
    "TrustGraph",
    "TrustView",
    "Vouch",
    "VouchTuple",
    "compute_trust",
    "trusted_count",
    "trusted_score",
]

KEY_SIZE = 32  # Ed25519 public key
DEFAULT_MAX_DEPTH = 3
DEFAULT_DECAY = 0.5
MIN_SCORE, MAX_SCORE = 1, 5

_Row = dict[bytes, bool]  # subject -> trust
_Adjacency = dict[bytes, _Row]  # truster -> row
VouchTuple = tuple[bytes, bytes, bool | None, bytes | None]  # a Vouch; trust None removes


class Vouch(NamedTuple):
    """The current head of one (truster, community, subject) vouch; trust=False is distrust."""

    truster: bytes
    subject: bytes
    trust: bool
    community: bytes | None = None


def _check_key(key: bytes, what: str) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be a {KEY_SIZE}-byte Ed25519 public key, got {len(key)}")


class TrustGraph:
    """All current vouch edges known to this node; hands out cached per-viewer views."""

    def __init__(self, vouches: Iterable[VouchTuple] = (), *, cache_size: int = 16) -> None:
        self._out: _Adjacency = {}  # global edges
        self._dis: dict[bytes, set[bytes]] = {}  # derived: global distrust subjects per truster
        self._cout: dict[bytes, _Adjacency] = {}  # community -> edges overriding global ones
        self._views: dict[tuple[bytes, bytes | None, int, float], TrustView] = {}
        self._cache_size = cache_size
        self.generation = 0  # bumped on every effective edge change
        self.add_vouches(vouches)

    @property
    def edge_count(self) -> int:
        """Number of current edges, global and per community (O(trusters))."""
        n = sum(map(len, self._out.values()))
        return n + sum(sum(map(len, adj.values())) for adj in self._cout.values())

    # -- edges --------------------------------------------------------------

    def edge(self, truster: bytes, subject: bytes, community: bytes | None = None) -> bool | None:
        """The edge stored in exactly this layer (global or `community`), or None."""
        adj = self._out if community is None else self._cout.get(community, {})
        return adj.get(truster, {}).get(subject)

    def vouches_for(self, subject: bytes) -> list[tuple[bytes, bool, bytes | None]]:
        """Every current edge into ``subject``: (truster, trust, community or None), sorted.

        Edges are kept by truster, so this walks them all: O(edges), for the
        occasional "who vouched for me", not for trust computation.
        """
        out: list[tuple[bytes, bool, bytes | None]] = [
            (t, row[subject], None) for t, row in self._out.items() if subject in row
        ]
        for community, adj in self._cout.items():
            out += [(t, row[subject], community) for t, row in adj.items() if subject in row]
        return sorted(out, key=lambda e: (e[0], e[2] or b""))

    def set_edge(
        self,
        truster: bytes,
        subject: bytes,
        trust: bool | None,
        community: bytes | None = None,
    ) -> None:
        """Add, replace (trust=True/False) or remove (trust=None) one edge.

        A community edge overrides the global edge for the same pair in views of that
        community; removing it reverts to the global edge.
        """
        _check_key(truster, "truster")
        _check_key(subject, "subject")
        if self._set(truster, subject, trust, community):
            self.generation += 1
            # A view reads the out-edges of the authors it trusts, and nothing else.
            stale = [
                k
                for k, v in self._views.items()
                if truster in v._dist and (community is None or v.community == community)
            ]
            for k in stale:
                del self._views[k]

    def _set(self, t: bytes, s: bytes, trust: bool | None, community: bytes | None) -> bool:
        """Store one edge; return whether anything changed."""
        adj = self._out if community is None else self._cout.get(community)
        row = None if adj is None else adj.get(t)
        old = None if row is None else row.get(s)
        if old is trust:
            return False
        if trust is None:
            assert adj is not None and row is not None
            del row[s]
            if not row:
                del adj[t]
                if community is not None and not adj:
                    del self._cout[community]
        else:
            if adj is None:
                assert community is not None
                adj = self._cout[community] = {}
            if row is None:
                row = adj[t] = {}
            row[s] = bool(trust)
        if community is None:  # keep the derived distrust set exact
            dis = self._dis.get(t)
            if trust is False:
                self._dis.setdefault(t, set()).add(s)
            elif dis is not None:
                dis.discard(s)
                if not dis:
                    del self._dis[t]
        return True

    def add_vouches(self, vouches: Iterable[VouchTuple]) -> None:
        """Bulk `set_edge` (e.g. all vouch heads at start-up); later edges replace earlier.

        Fastest when the input is grouped by truster, as a storage index keyed by
        truster yields it.  Drops all cached views.  If a key is malformed, ValueError is
        raised and the edges before it stay applied.
        """
        out, dis, size = self._out, self._dis, KEY_SIZE
        touched: set[bytes] = set()  # trusters whose derived distrust set must be rebuilt
        last: bytes | None = None
        row: _Row = {}
        try:
            # Hot loop (1M edges must load well under a second), hence the inlining.
            for truster, subject, trust, community in vouches:
                if truster is not last or community is not None:
                    if community is not None:
                        self.set_edge(truster, subject, trust, community)
                        continue
                    got = out.get(truster)
                    if got is None:
                        _check_key(truster, "truster")
                        got = out[truster] = {}
                    elif truster in dis:
                        touched.add(truster)  # a trust edge may replace a distrust
                    row, last = got, truster
                if len(subject) != size:
                    _check_key(subject, "subject")
                if trust:
                    row[subject] = True
                elif trust is None:
                    touched.add(truster)
                    row.pop(subject, None)
                    # An emptied row stays until the rebuild below drops it.
                else:
                    row[subject] = False
                    touched.add(truster)
        finally:
            for t in touched:
                r = out.get(t)
                if r is not None and not r:
                    del out[t]
                    r = None
                d = {s for s, ok in r.items() if not ok} if r else None
                if d:
                    dis[t] = d
                else:
                    dis.pop(t, None)
            self.generation += 1
            self._views.clear()

    # -- views --------------------------------------------------------------

    def view(
        self,
        viewer: bytes,
        community: bytes | None = None,
        *,
        max_depth: int = DEFAULT_MAX_DEPTH,
        decay: float = DEFAULT_DECAY,
    ) -> TrustView:
        """The trust view from `viewer`, computed or taken from the cache."""
        key = (viewer, community, max_depth, decay)
        cached = self._views.pop(key, None)
        if cached is None:
            _check_key(viewer, "viewer")
            if max_depth < 0:
                raise ValueError(f"max_depth must be >= 0, got {max_depth}")
            if not 0.0 < decay <= 1.0:
                raise ValueError(f"decay must be in (0, 1], got {decay}")
            dist, blocked = self._bfs(viewer, community, max_depth)
            cached = TrustView(viewer, community, max_depth, decay, dist, blocked)
            while len(self._views) >= self._cache_size > 0:
                del self._views[next(iter(self._views))]  # evict the least recently used
        if self._cache_size > 0:
            self._views[key] = cached  # (re)insert as the most recently used
        return cached

    def _bfs(
        self, viewer: bytes, community: bytes | None, max_depth: int
    ) -> tuple[dict[bytes, int], frozenset[bytes]]:
        """Level-synchronous BFS; returns ({author: distance}, blocked)."""
        out, dis = self._out, self._dis
        cadj = self._cout.get(community, {}) if community is not None else {}
        dist = {viewer: 0}
        distrusted: set[bytes] = set()  # by a trusted author at a smaller distance
        frontier: Collection[bytes] = (viewer,)
        level = 0
        while frontier:
            expand = level < max_depth
            # Authors with edges in this community: merge their rows by hand.
            special: Collection[bytes] = cadj.keys() & frontier if cadj else ()
            plain = [u for u in frontier if u not in special] if special else frontier
            distrusted.update(*filter(None, map(dis.get, plain)))
            # The plain rows' keys include their distrust subjects too; harmless, since
            # those are in `distrusted` by now and get subtracted below.
            succ = set[bytes]().union(*filter(None, map(out.get, plain))) if expand else set()
            for u in special:
                for s, ok in (out.get(u, {}) | cadj[u]).items():
                    if not ok:
                        distrusted.add(s)
                    elif expand:
                        succ.add(s)
            if not expand:
                break
            level += 1
            succ.difference_update(dist, distrusted)
            dist.update(dict.fromkeys(succ, level))
            frontier = succ
        return dist, frozenset(distrusted.difference(dist))


class TrustView:
    """An immutable snapshot of who `viewer` trusts, how far away, and who is blocked.

    Get a fresh one from `compute_trust` after edges change (cheap when cached).
    """

    __slots__ = ("_dist", "_weights", "blocked", "community", "decay", "max_depth", "viewer")

    def __init__(
        self,
        viewer: bytes,
        community: bytes | None,
        max_depth: int,
        decay: float,
        dist: dict[bytes, int],
        blocked: frozenset[bytes],
    ) -> None:
        self.viewer = viewer
        self.community = community
        self.max_depth = max_depth
        self.decay = decay
        self._dist = dist
        # Distrusted by a trusted author, and not trusted (see specs/trust.md).
        self.blocked = blocked
        self._weights = [1.0] + [decay ** (d - 1) for d in range(1, max_depth + 1)]

    def distance(self, author: bytes) -> int | None:
        """Trust hops from the viewer (viewer: 0), or None if not trusted."""
        return self._dist.get(author)

    def weight(self, author: bytes) -> float:
        """decay ** (distance - 1); 1.0 for the viewer and direct vouches; 0.0 if untrusted."""
        d = self._dist.get(author)
        return 0.0 if d is None else self._weights[d]

    def is_trusted(self, author: bytes) -> bool:
        return author in self._dist

    def is_blocked(self, author: bytes) -> bool:
        return author in self.blocked

    def distances(self) -> dict[bytes, int]:
        """Every trusted author (viewer included) with its distance."""
        return dict(self._dist)

    def __len__(self) -> int:
        """Number of trusted authors, the viewer included."""
        return len(self._dist)

    def __contains__(self, author: object) -> bool:
        return author in self._dist

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._dist)

    def __repr__(self) -> str:
        return (
            f"<TrustView viewer={self.viewer[:4].hex()}… community={self.community!r} "
            f"trusted={len(self)} blocked={len(self.blocked)}>"
        )


def compute_trust(
    graph: TrustGraph,
    viewer: bytes,
    community: bytes | None = None,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    decay: float = DEFAULT_DECAY,
) -> TrustView:
    """Trust from `viewer`'s point of view, global (None) or within one community."""
    return graph.view(viewer, community, max_depth=max_depth, decay=decay)


# -- trusted aggregates ---------------------------------------------------------


def _people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


@dataclass(frozen=True, slots=True, kw_only=True)
class AggregateSummary:
    """A product's ratings twice over: everyone, and the viewer's trust network."""

    raw_count: int
    raw_means: tuple[float, ...]  # per criterion; () when nobody rated
    raw_overall: float | None  # mean of the per-criterion means
    trusted_count: int
    trusted_weight: float  # sum of the trusted raters' weights
    trusted_means: tuple[float, ...]  # trust-weighted, per criterion; () when none trusted
    trusted_overall: float | None
    reason: str  # "rated 4.2 by 7 people you trust"


@dataclass(frozen=True, slots=True, kw_only=True)
class CountSummary:
    """A petition's signatures twice over: everyone, and the viewer's trust network."""

    raw_count: int
    trusted_count: int
    trusted_weight: float
    reason: str  # "signed by 12 people you trust (of 340)"


def trusted_score(
    ratings: Iterable[tuple[bytes, Sequence[int]]], view: TrustView
) -> AggregateSummary:
    """Summarise (author, scores) pairs, one per author, each score an int 1..5 per criterion."""
    seen: set[bytes] = set()
    n_criteria: int | None = None
    raw: list[float] = []
    weighted: list[float] = []
    raw_count = trusted = 0
    total_w = 0.0
    for author, scores in ratings:
        if author in seen:
            raise ValueError(f"two ratings by author {author.hex()}; pass only the latest")
        seen.add(author)
        if n_criteria is None:
            n_criteria = len(scores)
            if n_criteria == 0:
                raise ValueError("a rating needs at least one criterion score")
            raw, weighted = [0.0] * n_criteria, [0.0] * n_criteria
        elif len(scores) != n_criteria:
            raise ValueError(f"expected {n_criteria} criterion scores, got {len(scores)}")
        for x in scores:
            if isinstance(x, bool) or not isinstance(x, int) or not MIN_SCORE <= x <= MAX_SCORE:
                raise ValueError(f"scores are ints {MIN_SCORE}..{MAX_SCORE}, got {x!r}")
        raw_count += 1
        w = view.weight(author)
        if view.is_trusted(author):
            trusted += 1
            total_w += w
        for c, x in enumerate(scores):
            raw[c] += x
            weighted[c] += w * x
    raw_means = tuple(s / raw_count for s in raw) if raw_count else ()
    trusted_means = tuple(s / total_w for s in weighted) if trusted else ()
    trusted_overall = math.fsum(trusted_means) / len(trusted_means) if trusted else None
    if trusted_overall is None:
        reason = "no one you trust has rated this"
    else:
        reason = f"rated {trusted_overall:.1f} by {_people(trusted)} you trust"
    return AggregateSummary(
        raw_count=raw_count,
        raw_means=raw_means,
        raw_overall=math.fsum(raw_means) / len(raw_means) if raw_count else None,
        trusted_count=trusted,
        trusted_weight=total_w,
        trusted_means=trusted_means,
        trusted_overall=trusted_overall,
        reason=reason,
    )


def trusted_count(
    signers: Iterable[bytes], view: TrustView, *, total: int | None = None
) -> CountSummary:
    """Count a petition's signers (distinct keys), all and within the viewer's network.

    With ``total`` (the number of all signers, known from an index), ``signers``
    may be only a subset that contains every trusted signer: large petitions
    are then counted without reading every signature.
    """
    seen: set[bytes] = set()
    trusted = 0
    total_w = 0.0
    for author in signers:
        if author in seen:
            raise ValueError(f"two signatures by author {author.hex()}; pass each signer once")
        seen.add(author)
        if view.is_trusted(author):
            trusted += 1
            total_w += view.weight(author)
    who = _people(trusted) if trusted else "no one"
    raw = len(seen) if total is None else total
    return CountSummary(
        raw_count=raw,
        trusted_count=trusted,
        trusted_weight=total_w,
        reason=f"signed by {who} you trust (of {raw})",
    )
