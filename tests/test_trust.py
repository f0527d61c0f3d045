"""Tests of cercle.protocol.trust: rules one by one, then Hypothesis against a naive reference."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cercle.protocol.trust import (
    TrustGraph,
    TrustView,
    Vouch,
    compute_trust,
    trusted_count,
    trusted_score,
)


def k(i: int) -> bytes:
    """Key number i (a fake 32-byte Ed25519 public key)."""
    return i.to_bytes(32, "big")


V, A, B, C, D, X, Y, Z = (k(i) for i in range(8))
COMM, OTHER = b"\xc1" * 32, b"\xc2" * 32

Edges = dict[tuple[bytes | None, bytes, bytes], bool]  # (community, truster, subject) -> trust


def graph(
    *vouches: tuple[bytes, bytes, bool] | tuple[bytes, bytes, bool, bytes | None],
) -> TrustGraph:
    return TrustGraph(Vouch(*v) for v in vouches)


# -- the naive reference: the rules of specs/trust.md, written as plainly as possible ----------


def reference(
    edges: Edges, viewer: bytes, community: bytes | None, max_depth: int
) -> tuple[dict[bytes, int], set[bytes]]:
    eff = {(t, s): ok for (c, t, s), ok in edges.items() if c is None}
    eff.update({(t, s): ok for (c, t, s), ok in edges.items() if c is not None and c == community})
    dist = {viewer: 0}
    for level in range(1, max_depth + 1):
        # Everyone trusted so far is at a distance < level.
        banned = {s for (t, s), ok in eff.items() if not ok and t in dist}
        reached = {s for (t, s), ok in eff.items() if ok and dist.get(t) == level - 1}
        for s in reached - banned - dist.keys():
            dist[s] = level
    blocked = {s for (t, s), ok in eff.items() if not ok and t in dist} - dist.keys()
    return dist, blocked


def check_rules(edges: Edges, view: TrustView) -> None:
    """The defining properties, checked author by author (independent of `reference`)."""
    eff = {(t, s): ok for (c, t, s), ok in edges.items() if c is None}
    eff.update(
        {(t, s): ok for (c, t, s), ok in edges.items() if c is not None and c == view.community}
    )
    dist = view.distances()
    authors = {a for pair in eff for a in pair} | {view.viewer}
    assert dist[view.viewer] == 0
    for x in authors - {view.viewer}:
        # The shortest trust path through trusted authors, within the depth cap.
        via = [dist[t] + 1 for (t, s), ok in eff.items() if ok and s == x and t in dist]
        reach = min((d for d in via if d <= view.max_depth), default=None)
        vetoed = reach is not None and any(
            not ok and s == x and t in dist and dist[t] < reach for (t, s), ok in eff.items()
        )
        assert view.distance(x) == (None if vetoed else reach)
        distrusted = any(not ok and s == x and t in dist for (t, s), ok in eff.items())
        assert view.is_blocked(x) == (distrusted and x not in dist)
        if x in dist:
            assert view.weight(x) == pytest.approx(view.decay ** (dist[x] - 1))
        else:
            assert view.weight(x) == 0.0


def assert_matches(
    g: TrustGraph,
    edges: Edges,
    viewer: bytes,
    community: bytes | None,
    max_depth: int = 3,
    decay: float = 0.5,
) -> TrustView:
    view = compute_trust(g, viewer, community, max_depth=max_depth, decay=decay)
    dist, blocked = reference(edges, viewer, community, max_depth)
    assert view.distances() == dist
    assert view.blocked == blocked
    assert len(view) == len(dist)
    return view


# -- rules, one by one --------------------------------------------------------------------------


def test_viewer_alone() -> None:
    view = compute_trust(TrustGraph(), V)
    assert (view.distance(V), view.weight(V), len(view), view.blocked) == (0, 1.0, 1, frozenset())
    assert V in view and A not in view and view.distance(A) is None and view.weight(A) == 0.0


def test_decay_and_depth_cap() -> None:
    g = graph((V, A, True), (A, B, True), (B, C, True), (C, D, True))
    view = compute_trust(g, V)
    assert [view.distance(a) for a in (V, A, B, C, D)] == [0, 1, 2, 3, None]
    assert [view.weight(a) for a in (V, A, B, C, D)] == [1.0, 1.0, 0.5, 0.25, 0.0]
    view = compute_trust(g, V, max_depth=2, decay=0.3)
    assert [view.weight(a) for a in (A, B, C)] == [1.0, 0.3, 0.0]
    assert len(compute_trust(g, V, max_depth=0)) == 1
    assert compute_trust(g, V, max_depth=4).distance(D) == 4


def test_spec_example() -> None:
    """The worked example of specs/trust.md."""
    E, F, G = k(10), k(11), k(12)
    g = graph(
        (V, A, True),
        (V, B, True),
        (A, C, True),
        (A, X, True),
        (B, X, False),
        (C, D, True),
        (X, E, True),
        (B, F, True),
        (F, A, False),
        (D, G, True),
    )
    view = compute_trust(g, V)
    assert view.distances() == {V: 0, A: 1, B: 1, C: 2, F: 2, D: 3}
    assert [view.weight(a) for a in (V, A, B, C, F, D, X, E, G)] == [
        1.0,
        1.0,
        1.0,
        0.5,
        0.5,
        0.25,
        0.0,
        0.0,
        0.0,
    ]
    assert view.blocked == {X}
    assert trusted_count([A, C, E, X], view).reason == "signed by 2 people you trust (of 4)"
    score = trusted_score([(A, [4, 5]), (C, [1, 2]), (X, [1, 1])], view)
    assert score.trusted_means == (3.0, 4.0)  # (4 + 1*0.5) / 1.5, (5 + 2*0.5) / 1.5
    assert score.reason == "rated 3.5 by 2 people you trust"


def test_shortest_path_wins() -> None:
    g = graph((V, A, True), (A, B, True), (B, X, True), (V, X, True))
    assert compute_trust(g, V).distance(X) == 1


def test_distrust_cuts_the_branch() -> None:
    # X would be at 2 through A; B (at 1) distrusts X: X and all behind it are cut.
    g = graph((V, A, True), (V, B, True), (A, X, True), (X, Y, True), (B, X, False))
    view = compute_trust(g, V)
    assert view.distance(X) is None and view.distance(Y) is None
    assert view.blocked == {X} and view.is_blocked(X) and not view.is_blocked(Y)


def test_blocked_stays_blocked_at_any_depth() -> None:
    # B distrusts X at level 1; X is reachable at 2 and again at 3: blocked both times.
    g = graph((V, A, True), (V, B, True), (A, X, True), (A, C, True), (C, X, True), (B, X, False))
    assert not compute_trust(g, V).is_trusted(X)


def test_equal_distance_does_not_block() -> None:
    # X and Y both at 2 and distrusting each other: neither can veto the other.
    g = graph((V, A, True), (V, B, True), (A, X, True), (B, Y, True), (X, Y, False), (Y, X, False))
    view = compute_trust(g, V)
    assert (view.distance(X), view.distance(Y), view.blocked) == (2, 2, frozenset())


def test_direct_vouch_cannot_be_blocked_by_others() -> None:
    g = graph((V, A, True), (V, B, True), (B, A, False), (A, B, False))
    view = compute_trust(g, V)
    assert (view.distance(A), view.distance(B)) == (1, 1)


def test_viewer_distrust_always_wins() -> None:
    g = graph((V, A, True), (A, X, True), (V, X, False), (X, Y, True))
    view = compute_trust(g, V)
    assert view.distance(X) is None and view.distance(Y) is None and view.blocked == {X}


def test_distrust_only_counts_from_trusted_authors() -> None:
    # M is not trusted: its distrust of A changes nothing; blocked X's distrust neither.
    m = k(99)
    g = graph((V, A, True), (A, B, True), (m, B, False), (V, X, False), (X, A, False))
    view = compute_trust(g, V)
    assert view.distance(B) == 2 and view.blocked == {X}


def test_distrust_from_the_edge_of_the_view_is_listed() -> None:
    # C at the depth cap still reports whom it distrusts (D, itself unreachable).
    g = graph((V, A, True), (A, B, True), (B, C, True), (C, D, False))
    assert compute_trust(g, V).blocked == {D}


def test_self_vouches_have_no_effect() -> None:
    g = graph((V, V, False), (V, A, True), (A, A, False), (A, B, True))
    view = compute_trust(g, V)
    assert view.distances() == {V: 0, A: 1, B: 2} and not view.blocked


def test_community_edges_override_global_ones() -> None:
    g = graph(
        (V, A, True), (A, X, True), (A, X, False, COMM), (A, Y, True, COMM), (A, Z, True, OTHER)
    )
    glob, comm, other = (compute_trust(g, V, c) for c in (None, COMM, OTHER))
    assert (glob.distance(X), glob.distance(Y), glob.distance(Z)) == (2, None, None)
    assert (comm.distance(X), comm.distance(Y), comm.distance(Z)) == (None, 2, None)
    assert comm.blocked == {X} and comm.community == COMM
    assert (other.distance(X), other.distance(Z)) == (2, 2)
    g.set_edge(A, X, None, COMM)  # removing the community edge reverts to the global one
    assert compute_trust(g, V, COMM).distance(X) == 2
    assert g.edge(A, X) is True and g.edge(A, X, COMM) is None and g.edge(A, Y, COMM) is True


def test_community_distrust_can_be_overridden_by_community_trust() -> None:
    g = graph((V, A, True), (V, X, False), (V, X, True, COMM))
    assert compute_trust(g, V).distance(X) is None
    assert compute_trust(g, V, COMM).distance(X) == 1


# -- incremental updates and the cache ----------------------------------------------------------


def test_set_edge_replaces_and_removes() -> None:
    g = TrustGraph()
    g.set_edge(V, A, True)
    g.set_edge(A, X, True)
    assert compute_trust(g, V).distance(X) == 2
    g.set_edge(V, X, False)  # replace nothing, add a distrust
    assert compute_trust(g, V).distance(X) is None
    g.set_edge(V, X, True)  # replace the distrust with trust
    assert compute_trust(g, V).distance(X) == 1
    g.set_edge(V, X, None)
    assert compute_trust(g, V).distance(X) == 2
    g.set_edge(A, X, None)
    g.set_edge(V, A, None)
    assert len(compute_trust(g, V)) == 1 and g.edge_count == 0
    g.set_edge(V, A, None)  # removing a missing edge is a no-op


def test_vouches_received() -> None:
    g = graph((A, X, True), (B, X, False), (C, X, True, COMM), (A, Y, True), (X, A, True))
    assert g.vouches_for(X) == sorted([(A, True, None), (B, False, None), (C, True, COMM)])
    assert g.vouches_for(Y) == [(A, True, None)] and g.vouches_for(Z) == []
    g.set_edge(B, X, None)
    g.set_edge(C, X, None, COMM)
    assert g.vouches_for(X) == [(A, True, None)]


def test_cache_invalidation_is_selective() -> None:
    g = graph((V, A, True), (A, B, True))
    view = compute_trust(g, V)
    assert compute_trust(g, V) is view
    gen = g.generation
    g.set_edge(V, A, True)  # no change
    assert g.generation == gen and compute_trust(g, V) is view
    g.set_edge(X, Y, True)  # X is outside the view: it cannot matter
    assert g.generation == gen + 1 and compute_trust(g, V) is view
    g.set_edge(B, C, True)  # B is trusted: its out-edges matter
    fresh = compute_trust(g, V)
    assert fresh is not view and fresh.distance(C) == 3 and view.distance(C) is None
    comm = compute_trust(g, V, COMM)
    g.set_edge(A, D, True, OTHER)  # another community: neither view is affected
    assert compute_trust(g, V) is fresh and compute_trust(g, V, COMM) is comm
    g.set_edge(A, D, True, COMM)
    assert compute_trust(g, V) is fresh and compute_trust(g, V, COMM).distance(D) == 2
    # Different parameters are different cache entries.
    assert compute_trust(g, V, max_depth=2).distance(C) is None


def test_cache_is_bounded() -> None:
    g = TrustGraph(cache_size=2)
    v1, v2 = compute_trust(g, k(1)), compute_trust(g, k(2))
    assert compute_trust(g, k(1)) is v1  # now the most recently used
    v3 = compute_trust(g, k(3))  # evicts the least recently used: v2
    assert compute_trust(g, k(1)) is v1 and compute_trust(g, k(3)) is v3
    assert compute_trust(g, k(2)) is not v2
    assert compute_trust(TrustGraph(cache_size=0), V) is not None


def test_bulk_load_later_edges_win_and_none_removes() -> None:
    g = TrustGraph(
        [
            (V, A, True, None),
            (A, X, False, None),
            (V, B, True, None),
            (A, X, True, None),
            (V, C, True, None),
            (V, C, None, None),
            (A, Y, False, None),
            (A, Y, True, COMM),
        ]
    )
    view = compute_trust(g, V)
    assert view.distances() == {V: 0, A: 1, B: 1, X: 2} and view.blocked == {Y}
    assert compute_trust(g, V, COMM).distance(Y) == 2
    g.add_vouches([(A, X, False, None)])  # a later bulk replaces too, and drops the cache
    assert compute_trust(g, V).blocked == {X, Y}
    assert g.edge_count == 5
    g.add_vouches([(A, X, True, None)])  # ...including a distrust by a trust
    assert compute_trust(g, V).distance(X) == 2


def test_bulk_order_does_not_matter_for_distinct_edges() -> None:
    rng = random.Random(7)
    keys = [k(i) for i in range(60)]
    heads = {(rng.choice(keys), rng.choice(keys)): rng.random() > 0.2 for _ in range(400)}
    vouches = [Vouch(t, s, ok) for (t, s), ok in sorted(heads.items())]
    g1 = TrustGraph(vouches)
    rng.shuffle(vouches)
    g2 = TrustGraph(vouches)
    g3 = TrustGraph()
    for v in vouches:
        g3.set_edge(*v)
    for viewer in keys[:10]:
        views = [compute_trust(g, viewer) for g in (g1, g2, g3)]
        assert views[0].distances() == views[1].distances() == views[2].distances()
        assert views[0].blocked == views[1].blocked == views[2].blocked


# -- errors: the caller's fault, said plainly ---------------------------------------------------


def test_bad_inputs() -> None:
    g = TrustGraph()
    with pytest.raises(ValueError, match="truster must be a 32-byte"):
        g.set_edge(b"short", A, True)
    with pytest.raises(ValueError, match="subject must be a 32-byte"):
        g.add_vouches([(V, A, True, None), (V, b"x", True, None)])
    assert g.edge(V, A) is True  # edges before the bad one stay applied
    with pytest.raises(ValueError, match="viewer"):
        compute_trust(g, b"")
    with pytest.raises(ValueError, match="decay"):
        compute_trust(g, V, decay=0.0)
    with pytest.raises(ValueError, match="max_depth"):
        compute_trust(g, V, max_depth=-1)
    view = compute_trust(g, V)
    bad_ratings: list[list[tuple[bytes, list[int]]]] = [
        [(A, [0])],
        [(A, [6])],
        [(A, [True])],
        [(A, [])],
        [(A, [3]), (B, [3, 3])],
        [(A, [3]), (A, [4])],
    ]
    for bad in bad_ratings:
        with pytest.raises(ValueError):
            trusted_score(bad, view)
    with pytest.raises(ValueError, match="two signatures"):
        trusted_count([A, A], view)


# -- trusted aggregates -------------------------------------------------------------------------


def test_trusted_score() -> None:
    g = graph((V, A, True), (A, B, True))
    view = compute_trust(g, V)  # weights: V 1, A 1, B 0.5, X 0
    s = trusted_score([(V, [5, 3]), (A, [4, 4]), (B, [2, 1]), (X, [1, 1])], view)
    assert (s.raw_count, s.trusted_count, s.trusted_weight) == (4, 3, 2.5)
    assert s.raw_means == (3.0, 2.25) and s.raw_overall == 2.625
    assert s.trusted_means == (4.0, 3.0)  # (5 + 4 + 2*0.5) / 2.5, (3 + 4 + 1*0.5) / 2.5
    assert s.trusted_overall == 3.5
    assert s.reason == "rated 3.5 by 3 people you trust"
    one = trusted_score([(A, [4]), (X, [1])], view)
    assert one.reason == "rated 4.0 by 1 person you trust" and one.raw_overall == 2.5
    none = trusted_score([(X, [1, 2])], view)
    assert (none.trusted_count, none.trusted_means, none.trusted_overall) == (0, (), None)
    assert none.reason == "no one you trust has rated this" and none.raw_means == (1.0, 2.0)
    empty = trusted_score([], view)
    assert (empty.raw_count, empty.raw_overall, empty.reason) == (
        0,
        None,
        "no one you trust has rated this",
    )


def test_trusted_count() -> None:
    view = compute_trust(graph((V, A, True), (A, B, True)), V)
    c = trusted_count([A, B, X, Y], view)
    assert (c.raw_count, c.trusted_count, c.trusted_weight) == (4, 2, 1.5)
    assert c.reason == "signed by 2 people you trust (of 4)"
    assert trusted_count([A, X], view).reason == "signed by 1 person you trust (of 2)"
    assert trusted_count([X], view).reason == "signed by no one you trust (of 1)"


def test_sybils_add_nothing_to_trusted_aggregates() -> None:
    honest = [k(100 + i) for i in range(5)]
    sybils = [k(10_000 + i) for i in range(1000)]
    vouches = [Vouch(V, h, True) for h in honest]
    # 1000 keys all vouching for each other, for the viewer and for honest people too;
    # nobody in the viewer's network vouches for any of them.
    vouches += (Vouch(s, t, True) for s in sybils for t in sybils if s != t)
    vouches += (Vouch(s, t, True) for s in sybils[:50] for t in [V, *honest])
    g = TrustGraph(vouches)
    view = compute_trust(g, V)
    assert len(view) == 6 and not any(s in view for s in sybils)
    ratings = [(h, [2, 2]) for h in honest] + [(s, [5, 5]) for s in sybils]
    score = trusted_score(ratings, view)
    assert (score.raw_count, score.trusted_count) == (1005, 5)
    assert score.raw_overall == pytest.approx((5 * 2 + 1000 * 5) / 1005)
    assert score.trusted_overall == 2.0 and score.reason == "rated 2.0 by 5 people you trust"
    petition = trusted_count(honest + sybils, view)
    assert petition.reason == "signed by 5 people you trust (of 1005)"
    # One honest vouch for a sybil lets that branch in (here the whole clique, at depth
    # 2 and 3), with decayed weight...
    g.set_edge(honest[0], sybils[0], True)
    view = compute_trust(g, V)
    assert view.distance(sybils[0]) == 2 and view.weight(sybils[1]) == 0.25
    c = trusted_count(honest + sybils, view)
    assert (c.trusted_count, c.trusted_weight) == (1005, 5 + 0.5 + 999 * 0.25)
    g.set_edge(V, sybils[0], False)  # ...and one distrust from the viewer cuts it off again
    assert len(compute_trust(g, V)) == 6


# -- Hypothesis: random small graphs against the reference --------------------------------------

N_KEYS = 10
# Deterministic: the same examples on every run and machine, no example database.
deterministic = settings(deadline=None, derandomize=True, database=None)
communities = st.sampled_from([None, COMM, OTHER])
edge_ops = st.tuples(
    st.integers(0, N_KEYS - 1),
    st.integers(0, N_KEYS - 1),
    st.sampled_from([True, True, False]),
    communities,
)


@settings(deterministic, max_examples=200)
@given(
    ops=st.lists(edge_ops, min_size=8, max_size=45),  # Hypothesis favours short lists
    viewer=st.integers(0, N_KEYS - 1),
    community=st.sampled_from([None, COMM]),
    max_depth=st.integers(0, 4),
    decay=st.sampled_from([0.5, 0.3, 1.0]),
    bulk=st.booleans(),
)
def test_matches_reference(
    ops: list[tuple[int, int, bool, bytes | None]],
    viewer: int,
    community: bytes | None,
    max_depth: int,
    decay: float,
    bulk: bool,
) -> None:
    edges: Edges = {(c, k(t), k(s)): ok for t, s, ok, c in ops}
    if bulk:
        g = TrustGraph([(k(t), k(s), ok, c) for t, s, ok, c in ops])
    else:
        g = TrustGraph()
        for t, s, ok, c in ops:
            g.set_edge(k(t), k(s), ok, c)
    check_rules(edges, assert_matches(g, edges, k(viewer), community, max_depth, decay))


@settings(deterministic, max_examples=300)
@given(
    ops=st.lists(  # fewer keys than above, so that edges get replaced and removed often
        st.tuples(
            st.integers(0, 5),
            st.integers(0, 5),
            st.sampled_from([True, True, False, None]),
            communities,
            st.booleans(),
        ),
        min_size=10,
        max_size=40,
    ),
    viewers=st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True),
)
def test_incremental_updates_match_reference(
    ops: list[tuple[int, int, bool | None, bytes | None, bool]], viewers: list[int]
) -> None:
    """Views served from the cache after every change equal a fresh computation."""
    g = TrustGraph(cache_size=4)  # smaller than the 6 views in use: eviction too
    edges: Edges = {}
    for t, s, ok, c, bulk in ops:
        if bulk:
            g.add_vouches([(k(t), k(s), ok, c)])
        else:
            g.set_edge(k(t), k(s), ok, c)
        if ok is None:
            edges.pop((c, k(t), k(s)), None)
        else:
            edges[(c, k(t), k(s))] = ok
        for v in viewers:
            for comm in (None, COMM):
                assert_matches(g, edges, k(v), comm)
