"""Storage contract: indexes and aggregates stay exact whatever arrives in whatever order."""

from __future__ import annotations

import dataclasses
import random
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import lmdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cercle.protocol import records as R
from cercle.protocol.errors import Reason, Rejected
from cercle.storage import ScopeStats, Status, Store, StoreError
from cercle.storage import layout as L
from tests import factory as F

COMM = F.community()
OTHER = F.community(1, "Halal", criteria=("taste", "halal"))
PET = F.petition(2, COMM.id, deadline=F.T0 + 1000)
UNKNOWN = (R.Kind(9), R.Kind(200))  # kinds this version does not know


def opaque(author: int, kind: int, comm: bytes | None, *items: object, t: int = F.T0) -> R.Record:
    """A record of a kind this version does not know (specs/records.md §11.2)."""
    body = R.OpaqueBody(R.Kind(kind), R.extra_fields(*items))  # type: ignore[arg-type]
    return R.build(F.key(author), body, created_ms=t, community=comm)


def with_extra(rec: R.Record, *items: object) -> R.Record:
    """``rec`` re-signed with fields appended to its body (§11.3)."""
    body = dataclasses.replace(rec.body, extra=R.extra_fields(*items))  # type: ignore[arg-type]
    key = next(F.key(n) for n in range(8) if F.pub(n) == rec.author)
    return R.build(key, body, created_ms=rec.created_ms, community=rec.community, nonce=rec.nonce)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "db", durable=False) as s:
        yield s


# ---------------------------------------------------------------- a model of the semantics


def expected_state(recs: list[R.Record]) -> set[bytes]:
    """What must be stored once every record of ``recs`` has arrived (any order).

    Written independently of the store: winners per replace key among all
    signed records, minus retracted ones and contextually invalid ones.
    """
    by_id = {r.id: r for r in recs}
    winners: dict[bytes, R.Record] = {}
    for r in recs:
        k = R.replace_key(r)
        if k is not None and (k not in winners or R.supersedes(r, winners[k])):
            winners[k] = r
    ctx = _Ctx(by_id)

    def valid(r: R.Record) -> bool:
        try:
            R.check_context(r, ctx)
        except Rejected:
            return False
        return True

    retracted = {r.body.target for r in recs if isinstance(r.body, R.RetractBody) and valid(r)}
    out = set()
    for r in recs:
        k = R.replace_key(r)
        if k is not None and winners[k] is not r:
            continue
        if r.id not in retracted and valid(r):
            out.add(r.id)
    return out


class _Ctx:
    def __init__(self, by_id: dict[bytes, R.Record]) -> None:
        self.by_id = by_id

    def charter(self, community: bytes) -> R.CommunityBody | None:
        r = self.by_id.get(community)
        return r.body if r is not None and isinstance(r.body, R.CommunityBody) else None

    def get(self, record_id: bytes) -> R.Record | None:
        return self.by_id.get(record_id)


@st.composite
def histories(draw: st.DrawFn) -> list[R.Record]:
    """Random mixes of charters, products, ratings (some replaced), petitions,
    signatures (some late), vouches, profiles and retractions, with records of
    kinds this version does not know and known ones with appended fields."""
    recs: list[R.Record] = [COMM, OTHER, PET]
    n = draw(st.integers(1, 25))
    kinds = ["rate", "rate", "bad", "sign", "vouch", "retract", "prod", "opaque", "extra"]
    for i in range(n):
        author = draw(st.integers(0, 3))
        t = F.T0 + draw(st.integers(0, 2000))
        what = draw(st.sampled_from(kinds))
        if what in ("rate", "bad", "extra"):
            comm = draw(st.sampled_from([COMM, OTHER]))
            width = 3 if comm is COMM else 2
            if what == "bad":
                width = 1  # does not match the charter: contextually invalid
            scores = tuple(draw(st.lists(st.integers(1, 5), min_size=width, max_size=width)))
            rating = F.rating(author, comm.id, draw(st.integers(0, 3)), scores, t=t)
            # Appended fields are ignored: the rating replaces and counts as without them.
            recs.append(with_extra(rating, i, ["tag"]) if what == "extra" else rating)
        elif what == "opaque":
            scope = draw(st.sampled_from([COMM.id, OTHER.id, None]))
            recs.append(opaque(author, draw(st.sampled_from(UNKNOWN)), scope, i, t=t))
        elif what == "sign":
            recs.append(F.signature(author, PET, t=t))
        elif what == "vouch":
            recs.append(F.vouch(author, (author + 1 + i % 3) % 4, draw(st.booleans()), t=t))
        elif what == "prod":
            recs.append(F.product(author, COMM.id, draw(st.integers(0, 3)), t=t))
        else:
            target = draw(st.sampled_from(recs[1:]))
            # Mostly one's own records, sometimes someone else's (NOT_AUTHOR).
            who = target.author if draw(st.integers(0, 4)) else F.pub(author)
            who_n = next(j for j in range(4) if F.pub(j) == who) if who != F.pub(author) else author
            recs.append(F.retract(who_n, target, t=t))
    return recs


def ingest_shuffled(store: Store, recs: list[R.Record], seed: int) -> None:
    rng = random.Random(seed)
    order = recs[:]
    rng.shuffle(order)
    while order:
        k = rng.randint(1, 6)
        store.ingest(order[:k])
        order = order[k:]


@settings(max_examples=60, deadline=None)
@given(histories(), st.integers(0, 2**32), st.integers(0, 2**32))
def test_any_order_gives_the_model_state_and_exact_indexes(
    recs: list[R.Record], seed1: int, seed2: int
) -> None:
    with (
        tempfile.TemporaryDirectory() as d1,
        tempfile.TemporaryDirectory() as d2,
        Store(d1, durable=False) as a,
        Store(d2, durable=False) as b,
    ):
        ingest_shuffled(a, recs, seed1)
        ingest_shuffled(b, recs, seed2)
        want = expected_state(recs)
        assert set(a._ids()) == want
        assert set(b._ids()) == want
        assert a.check() == []
        assert b.check() == []
        assert a.dump_derived() == b.dump_derived()
        # Aggregates equal a direct computation over the stored ratings.
        for comm in (COMM, OTHER):
            for p in range(4):
                scores = [
                    r.body.scores
                    for r in a.all_records()
                    if isinstance(r.body, R.RatingBody)
                    and r.community == comm.id
                    and r.body.gtin == F.gtin(p)
                ]
                agg = a.product_aggregate(comm.id, F.gtin(p))
                assert agg.count == len(scores)
                assert list(agg.sums[: len(scores[0])] if scores else []) == (
                    [sum(col) for col in zip(*scores, strict=True)] if scores else []
                )
        sigs = [r for r in a.all_records() if isinstance(r.body, R.SignatureBody)]
        assert a.petition_count(PET.id) == len(sigs)
        kept = [r.kind for r in a.all_records() if isinstance(r.body, R.OpaqueBody)]
        assert a.unknown_kinds() == b.unknown_kinds() == {k: kept.count(k) for k in set(kept)}


# ---------------------------------------------------------------- semantics, one by one


def test_rating_replaced_by_newer_and_old_one_never_returns(store: Store) -> None:
    old = F.rating(1, COMM.id, 7, (1, 1, 1), t=F.T0)
    new = F.rating(1, COMM.id, 7, (5, 5, 5), t=F.T0 + 10)
    assert store.ingest([COMM, old])[1].status is Status.STORED
    [out] = store.ingest([new])
    assert out.status is Status.STORED and out.removed == (old.id,)
    assert not store.has(old.id)
    assert store.ingest([old])[0].status is Status.DUPLICATE  # seen, and stays out
    assert not store.has(old.id)
    late_old = F.rating(1, COMM.id, 7, (2, 2, 2), t=F.T0 + 5)  # never seen, still older
    assert store.ingest([late_old])[0].status is Status.SUPERSEDED
    agg = store.product_aggregate(COMM.id, F.gtin(7))
    assert (agg.count, agg.sums[:3], agg.mean) == (1, (5, 5, 5), 5.0)


def test_retraction_removes_everywhere_and_keeps_it_out(store: Store) -> None:
    r = F.rating(1, COMM.id, 3, (4, 4, 4))
    x = F.retract(1, r)
    store.ingest([COMM, r])
    [out] = store.ingest([x])
    assert out.status is Status.STORED and out.removed == (r.id,)
    assert not store.has(r.id) and store.has(x.id) and store.tombstoned(r.id)
    assert store.ingest([r])[0].status is Status.DUPLICATE
    assert not store.has(r.id)
    assert store.product_aggregate(COMM.id, F.gtin(3)).count == 0
    # An older version of the retracted rating does not come back either.
    older = F.rating(1, COMM.id, 3, (2, 2, 2), t=F.T0 - 5)
    assert store.ingest([older])[0].status is Status.SUPERSEDED
    assert store.check() == []


def test_retraction_before_its_target(store: Store) -> None:
    r = F.rating(1, COMM.id, 3, (4, 4, 4))
    store.ingest([COMM, F.retract(1, r)])
    assert store.ingest([r])[0].reason is Reason.RETRACTED
    assert not store.has(r.id)


def test_someone_elses_retraction_is_refused(store: Store) -> None:
    r = F.rating(1, COMM.id, 3, (4, 4, 4))
    store.ingest([COMM, r])
    [out] = store.ingest([F.retract(2, r)])
    assert (out.status, out.reason) == (Status.REJECTED, Reason.NOT_AUTHOR)
    assert store.has(r.id)


def test_signatures_one_per_author_first_counts_late_ones_rejected(store: Store) -> None:
    store.ingest([COMM, PET])
    first = F.signature(1, PET, t=F.T0 + 10)
    second = F.signature(1, PET, t=F.T0 + 20)
    late = F.signature(3, PET, t=F.T0 + 5000)
    outs = store.ingest([first, second, late])
    assert [o.status for o in outs] == [Status.STORED, Status.SUPERSEDED, Status.REJECTED]
    assert outs[2].reason is Reason.LATE_SIGNATURE
    assert store.petition_count(PET.id) == 1
    assert [r.id for r in store.signatures(PET.id)] == [first.id]


def test_late_signature_that_came_before_its_petition_is_purged(store: Store) -> None:
    late = F.signature(3, PET, t=F.T0 + 5000)
    ok = F.signature(1, PET, t=F.T0 + 10)
    store.ingest([COMM, late, ok])
    assert store.petition_count(PET.id) == 2  # petition unknown yet: cannot judge
    [out] = store.ingest([PET])
    assert out.removed == (late.id,)
    assert store.petition_count(PET.id) == 1
    assert store.check() == []


def test_rating_that_does_not_match_the_charter(store: Store) -> None:
    bad = F.rating(1, COMM.id, 1, (3,))
    [out] = store.ingest([COMM, bad])[1:]
    assert out.reason is Reason.SCORE_COUNT_MISMATCH
    # Before the charter is known the rating is kept, then purged when it arrives.
    with Store(store.path.parent / "other", durable=False) as s2:
        s2.ingest([bad])
        assert s2.has(bad.id)
        assert s2.ingest([COMM])[0].removed == (bad.id,)
        assert s2.check() == []


def test_feed_pagination_and_kind_listing(store: Store) -> None:
    recs = [F.rating(i % 4, COMM.id, i, (3, 3, 3), t=F.T0 + i) for i in range(30)]
    store.ingest([COMM, *recs])
    page1 = store.feed(COMM.id, limit=10)
    assert [r.created_ms for r in page1] == [F.T0 + i for i in range(29, 19, -1)]
    last = page1[-1]
    page2 = store.feed(COMM.id, before=(last.created_ms, last.id), limit=10)
    assert [r.created_ms for r in page2] == [F.T0 + i for i in range(19, 9, -1)]
    assert len(store.by_kind(COMM.id, R.Kind.RATING, limit=100)) == 30
    assert [r.id for r in store.by_kind(R.ZERO_ID, R.Kind.COMMUNITY)] == [COMM.id]
    assert store.scope_stats(COMM.id).records == 30
    assert store.scope_stats(COMM.id).members == 4
    items = store.scope_items(COMM.id)
    assert items == sorted(items) and len(items) == 30


def test_a_record_of_an_unknown_kind_is_kept_with_the_kind_independent_indexes(
    store: Store,
) -> None:
    note = opaque(1, 200, COMM.id, "une note", [1, 2], t=F.T0 + 7)
    [out] = store.ingest([COMM, note])[1:]
    assert out.status is Status.STORED and store.get(note.id) == note
    assert store.get_raws([note.id]) == [note.raw]  # the bytes, exactly as they came
    derived = {name: keys for name, keys in store.dump_derived().items() if note.id in
               b"".join(keys) + b"".join(keys.values())}  # fmt: skip
    assert set(derived) == {"scope_time", "scope_kind", "author_time"}
    assert not any(note.id in v for v in store.dump_derived()["heads"].values())
    assert store.scope_stats(COMM.id) == ScopeStats(1, 1)
    assert [r.id for r in store.feed(COMM.id)] == [note.id]  # the scope's records, all kinds
    assert [r.id for r in store.by_kind(COMM.id, R.Kind(200))] == [note.id]
    assert all(store.by_kind(COMM.id, k) == [] for k in R.Kind)  # in no list of a known kind
    assert [r.id for r in store.by_author(F.pub(1))] == [note.id]
    assert store.scope_items(COMM.id) == [(note.created_ms, note.id)]  # offered by sync
    # Never replaced: a newer record of the same kind and author is another record.
    newer = opaque(1, 200, COMM.id, "une note", [1, 2], t=F.T0 + 8)
    assert store.ingest([newer])[0].status is Status.STORED and store.has(note.id)
    assert store.unknown_kinds() == {200: 2}
    assert store.check() == []


def test_records_of_unknown_kinds_are_counted_by_kind(store: Store) -> None:
    recs = [opaque(a, k, scope, a, t=F.T0 + a) for a in range(3)
            for k in (9, 130, 255) for scope in (None, COMM.id)]  # fmt: skip
    store.ingest([COMM, *recs, F.rating(1, COMM.id, 1, (3, 3, 3)), F.profile(2, "Bo")])
    assert store.unknown_kinds() == {9: 6, 130: 6, 255: 6}
    assert store.scope_stats(COMM.id).records == 10 and store.scope_stats(R.ZERO_ID).records == 11
    store.ingest([F.retract(0, recs[0])])
    assert store.unknown_kinds() == {9: 5, 130: 6, 255: 6}


def test_retracting_a_record_of_an_unknown_kind(store: Store) -> None:
    """Tombstones never look at the target's kind: before or after it, by its author only."""
    note = opaque(1, 9, COMM.id, "x")
    store.ingest([COMM, note])
    [out] = store.ingest([F.retract(2, note)])
    assert (out.status, out.reason) == (Status.REJECTED, Reason.NOT_AUTHOR)
    [out] = store.ingest([F.retract(1, note)])
    assert out.status is Status.STORED and out.removed == (note.id,) and not store.has(note.id)
    assert store.ingest([note])[0].status is Status.DUPLICATE
    later = opaque(1, 9, None, "y")
    store.ingest([F.retract(1, later)])  # the retraction first
    assert store.ingest([later])[0].reason is Reason.RETRACTED
    assert store.unknown_kinds() == {} and store.check() == []


def test_unknown_kinds_owe_their_communitys_proof_of_work(store: Store) -> None:
    strict = F.community(3, "Strict", pow_bits=8)
    lazy = next(r for r in (opaque(1, 200, strict.id, n) for n in range(99))
                if R.leading_zero_bits(r.id) < 8)  # fmt: skip
    [out] = store.ingest([strict, lazy])[1:]
    assert (out.status, out.reason) == (Status.REJECTED, Reason.INSUFFICIENT_POW)
    worked = R.mine(F.key(1), R.OpaqueBody(R.Kind(200)), created_ms=F.T0, community=strict.id,
                    bits=8)  # fmt: skip
    assert store.ingest([worked])[0].status is Status.STORED


def test_fields_appended_to_a_known_kind_are_stored_and_ignored(store: Store) -> None:
    charter = with_extra(F.community(3, "Bio", criteria=("taste", "price")), ["en:organic"])
    rating = with_extra(F.rating(1, charter.id, 4, (5, 3)), 42)
    plain = F.rating(2, charter.id, 4, (1, 1))
    outs = store.ingest([charter, rating, plain, F.rating(3, charter.id, 4, (5,))])
    assert [o.status for o in outs] == [Status.STORED] * 3 + [Status.REJECTED]
    assert outs[3].reason is Reason.SCORE_COUNT_MISMATCH  # the charter's criteria still count
    assert store.get(charter.id) == charter and store.get_raws([rating.id]) == [rating.raw]
    assert store.product_aggregate(charter.id, F.gtin(4)).sums[:2] == (6, 4)
    newer = F.rating(1, charter.id, 4, (4, 4), t=F.T0 + 1)  # replaces it, extra or not
    assert store.ingest([newer])[0].removed == (rating.id,)
    assert store.unknown_kinds() == {} and store.check() == []


def test_ranked_products_best_first(store: Store) -> None:
    store.ingest(
        [
            COMM,
            F.rating(0, COMM.id, 1, (2, 2, 2)),
            F.rating(1, COMM.id, 2, (5, 5, 4)),
            F.rating(2, COMM.id, 2, (5, 5, 5)),
            F.rating(0, COMM.id, 3, (4, 4, 4)),
        ]
    )
    ranked, cursor = store.ranked_products(COMM.id)
    assert [g for g, _ in ranked] == [R.gtin14(F.gtin(n)) for n in (2, 3, 1)]
    assert ranked[0][1].count == 2 and cursor is None
    # Pages of two: the cursor continues where the first page stopped.
    first, cursor = store.ranked_products(COMM.id, limit=2)
    assert cursor is not None and [g for g, _ in first] == [g for g, _ in ranked[:2]]
    rest, end = store.ranked_products(COMM.id, after=cursor, limit=2)
    assert [g for g, _ in rest] == [ranked[2][0]] and end is None
    for bad in (b"", b"x" * 20, cursor[:-1]):
        with pytest.raises(ValueError):
            store.ranked_products(COMM.id, after=bad)


def test_map_grows_when_full(tmp_path: Path) -> None:
    with Store(tmp_path / "db", map_size=64 * 1024, durable=False) as s:
        recs = [F.rating(i % 4, COMM.id, i, (3, 3, 3), t=F.T0 + i) for i in range(600)]
        s.ingest([COMM])
        for i in range(0, 600, 100):
            s.ingest(recs[i : i + 100])
        assert s.count() == 601
        assert s.env.info()["map_size"] > 64 * 1024


def test_a_failing_batch_writes_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    recs = [F.rating(i, COMM.id, i, (3, 3, 3)) for i in range(4)]
    store.ingest([COMM])
    calls = 0
    real = Store._insert

    def flaky(self: Store, txn: object, rec: R.Record) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("disk on fire")
        real(self, txn, rec)

    monkeypatch.setattr(Store, "_insert", flaky)
    with pytest.raises(RuntimeError):
        store.ingest(recs)
    assert store.count() == 1
    assert store.check() == []


def test_schema_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    Store(tmp_path / "db").close()
    env = lmdb.open(str(tmp_path / "db"), max_dbs=20)
    with env.begin(write=True, db=env.open_db(b"meta")) as txn:
        txn.put(b"schema", L.u32(99))
    env.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store(tmp_path / "db")


def test_readers_do_not_block_the_writer(store: Store) -> None:
    store.ingest([COMM])
    txn = store.env.begin()  # a long-lived reader snapshot in this thread
    done = threading.Event()

    def write() -> None:
        store.ingest([F.rating(1, COMM.id, 1, (3, 3, 3))])
        done.set()

    t = threading.Thread(target=write)
    t.start()
    assert done.wait(10), "the writer was blocked by an open reader"
    t.join()
    # The reader still sees its snapshot; a new reader sees the write.
    assert txn.stat(store.db["records"])["entries"] == 1
    txn.abort()
    assert store.count() == 2


def test_a_schema_1_store_is_upgraded_on_open(tmp_path: Path) -> None:
    """Version 1 had no product_time index: opening it builds the index, then says 2."""
    t = F.T0 + 1000
    recs = [COMM, *(F.rating(a, COMM.id, 7, (a % 5 + 1, 3, 4), t=t + a) for a in range(1, 40))]
    recs += [F.product(1, COMM.id, 7, t=t, name="Oat"), F.product(2, COMM.id, 7, t=t + 9)]
    recs += [F.rating(a, COMM.id, n, (1, 2, 3), t=t) for a in range(50) for n in range(8, 40)]
    with Store(tmp_path / "db") as store:
        assert all(o.status is Status.STORED for o in store.ingest(recs))
    env = lmdb.open(str(tmp_path / "db"), max_dbs=30)
    with env.begin(write=True) as txn:  # what a version 1 store holds
        txn.drop(env.open_db(b"product_time", txn=txn), delete=False)
        txn.put(b"schema", L.u32(1), db=env.open_db(b"meta", txn=txn))
    env.close()
    with Store(tmp_path / "db", map_size=64 * 1024) as store:  # too small: the map grows
        assert store.check() == []
        with store.env.begin(db=store.db["meta"]) as txn:
            assert L.read_u32(bytes(txn.get(b"schema"))) == L.SCHEMA_VERSION == 2
        newest = store.product_records_newest(COMM.id, F.gtin(7), R.Kind.RATING, limit=5)
        assert [r.created_ms for r in newest] == [t + a for a in range(39, 34, -1)]
        page2 = store.product_records_newest(
            COMM.id, F.gtin(7), R.Kind.RATING, before=R.order_key(newest[-1]), limit=100
        )
        assert [r.created_ms for r in page2] == [t + a for a in range(34, 0, -1)]
        (desc,) = store.product_records_newest(COMM.id, F.gtin(7), R.Kind.PRODUCT, limit=1)
        assert desc.author == F.pub(2)
