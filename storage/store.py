"""Durable record storage on LMDB: records, indexes, tombstones, aggregates.

Why LMDB: readers never block the writer and see a consistent snapshot, a
commit is atomic and durable (one fsync), and the data survives a SIGKILL at
any instant without a recovery step.  Why a single writer that takes batches:
an fsync costs far more than indexing a record, so :meth:`Store.ingest` applies
many records in one write transaction (group commit).

Records reach :meth:`Store.ingest` already decoded and signature-checked (that
work is pure and can run on many threads); what needs other records (charters,
petitions, retraction targets, the current head of a replaceable record) is
decided here, inside the write transaction, so the batch sees its own writes.

Derived databases (all but ``layout.PRIMARY``) are
kept exact incrementally and can be recomputed from scratch by
:func:`rebuild_expected`; :meth:`Store.check` compares the two.

Records of a kind this version does not know (``specs/records.md`` §11) are
kept like any other, because this node may be the one that serves them to a
newer node: they get only the indexes that do not depend on the kind (scope
and time, scope and kind, author and time, the scope's counts), no head (they
are never replaced) and no aggregate; retracting one works like any other
retraction, since tombstones never look at the kind.  A later version that
learns a kind must re-index the stored records of that kind when it opens an
older store (a schema migration, like ``_add_product_time``).

Transactions are short, opened in ``with`` blocks, and never held across a
yield: the store is synchronous and knows nothing of trio.

A full disk is not an invalid record: when a commit finds no room (ENOSPC or a
quota from LMDB, a write cut short as the disk filled, or a map that cannot grow)
:meth:`Store.ingest` raises :class:`StorageFull` and nothing of the batch is
committed, so the caller can keep the batch and try it again once there is room.
"""

from __future__ import annotations

import enum
import errno
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb
import msgpack

from cercle.protocol import records as R
from cercle.protocol.errors import CercleError, Reason, Rejected

from . import layout as L


class StoreError(CercleError):
    """The store cannot be used (wrong schema, unreadable environment…)."""


class StorageFull(StoreError):
    """No room to commit: the disk or quota is full, or the map cannot grow.

    Nothing of the batch was committed; the same batch may be tried again later.
    """


# errno values of a write that found no room; EIO is one too when the disk is
# (nearly) full, since LMDB reports a write cut short that way.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
LOW_SPACE = 1 << 20  # bytes free under which an EIO from a commit means "full"


class Status(enum.StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # seen before (kept or not): nothing to do
    SUPERSEDED = "superseded"  # an equal-key record at least as new is held
    REJECTED = "rejected"  # see Outcome.reason


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    reason: Reason | None = None
    detail: str = ""
    removed: tuple[bytes, ...] = ()  # ids this record replaced, retracted or invalidated


@dataclass(frozen=True, slots=True)
class ProductAggregate:
    count: int
    sums: tuple[int, ...]

    @property
    def means(self) -> tuple[float, ...]:
        """Per-criterion means (criteria nobody scored are left out: scores are ≥ 1)."""
        used = [s for s in self.sums if s]
        return tuple(s / self.count for s in used) if self.count else ()

    @property
    def mean(self) -> float:
        m = self.means
        return sum(m) / len(m) if m else 0.0


@dataclass(frozen=True, slots=True)
class ScopeStats:
    records: int
    members: int


MAX_CRITERIA = 8  # records.CommunityBody allows at most 8 criteria


def _mean_milli(agg: ProductAggregate) -> int:
    return max(0, min(5000, round(agg.mean * 1000)))


class _TxnContext:
    """``records.Context`` over an open transaction (sees the batch's own writes)."""

    def __init__(self, store: Store, txn: Any) -> None:
        self.store, self.txn = store, txn

    def charter(self, community: bytes) -> R.CommunityBody | None:
        rec = self.get(community)
        if rec is not None and isinstance(rec.body, R.CommunityBody):
            return rec.body
        return None

    def get(self, record_id: bytes) -> R.Record | None:
        cache = self.store._context_cache
        found = cache.get(record_id)
        if found is not None:
            return found
        found = self.store._get(self.txn, record_id)
        if found is None:
            raw = self.txn.get(record_id, db=self.store.db["shadow"])
            found = R.decode(bytes(raw)) if raw is not None else None
        # Charters and petitions are looked up for every rating and signature;
        # a record's content never changes (kept or shadowed, it stays known),
        # so caching positive answers is always right.
        if found is not None and found.kind in (R.Kind.COMMUNITY, R.Kind.PETITION):
            if len(cache) >= 4096:
                cache.clear()
            cache[record_id] = found
        return found


class Store:
    """One LMDB environment holding everything a node knows."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        map_size: int = 64 * 1024 * 1024,
        durable: bool = True,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        if not readonly:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self.env = lmdb.open(
                str(self.path),
                map_size=map_size,
                max_dbs=len(L.DATABASES) + 2,
                sync=durable,
                metasync=durable,
                readonly=readonly,
                max_readers=256,
            )
        except lmdb.Error as exc:
            raise StoreError(f"cannot open the database at {self.path}: {exc}") from None
        self.db = {
            name: self.env.open_db(name.encode(), create=not readonly) for name in L.DATABASES
        }
        self._check_schema(readonly)
        self._context_cache: dict[bytes, R.Record] = {}
        # Counters of what ingest did, for metrics and the local API.
        self.stats: dict[str, int] = {}

    # ------------------------------------------------------------------ lifecycle

    def _check_schema(self, readonly: bool) -> None:
        while True:
            try:
                return self._check_schema_once(readonly)
            except lmdb.MapFullError:  # a migration outgrew the map
                self._grow()

    def _check_schema_once(self, readonly: bool) -> None:
        with self.env.begin(write=not readonly, db=self.db["meta"]) as txn:
            raw = txn.get(b"schema")
            if raw is None:
                if readonly:
                    raise StoreError(f"{self.path} is not a Cercle database")
                txn.put(b"schema", L.u32(L.SCHEMA_VERSION))
                return
            version = L.read_u32(raw)
            if version in _MIGRATIONS and not readonly:
                while version in _MIGRATIONS:  # in this one write transaction
                    version = _MIGRATIONS[version](self, txn)
                txn.put(b"schema", L.u32(version))
            if version != L.SCHEMA_VERSION:
                raise StoreError(
                    f"the database at {self.path} has schema version {version}, this "
                    f"Cercle expects {L.SCHEMA_VERSION}; use a matching Cercle version "
                    "or move the data directory aside"
                )

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def _get(self, txn: Any, record_id: bytes) -> R.Record | None:
        raw = txn.get(record_id, db=self.db["records"])
        return R.decode(bytes(raw)) if raw is not None else None

    def get(self, record_id: bytes) -> R.Record | None:
        with self.env.begin() as txn:
            return self._get(txn, record_id)

    def get_any(self, record_id: bytes) -> R.Record | None:
        """A record we hold or have seen and not kept (replaced, retracted, invalid)."""
        with self.env.begin() as txn:
            return _TxnContext(self, txn).get(record_id)

    def scopes(self) -> list[bytes]:
        """Every scope (community id, or ZERO_ID) that holds records."""
        with self.env.begin(db=self.db["scope_stats"]) as txn:
            return [bytes(k) for k in txn.cursor().iternext(values=False)]

    def get_raws(self, ids: Iterable[bytes]) -> list[bytes]:
        """Envelopes of the given ids that are stored, in one read transaction."""
        with self.env.begin(db=self.db["records"]) as txn:
            found = (txn.get(rid) for rid in ids)
            return [bytes(raw) for raw in found if raw is not None]

    def has(self, record_id: bytes) -> bool:
        with self.env.begin(db=self.db["records"]) as txn:
            return txn.get(record_id) is not None

    def tombstoned(self, record_id: bytes) -> bool:
        """True if some retraction names ``record_id`` (its author is checked on arrival)."""
        with self.env.begin(db=self.db["tombstones"]) as txn:
            return _has_prefix(txn.cursor(), record_id)

    def count(self) -> int:
        with self.env.begin(db=self.db["records"]) as txn:
            return int(txn.stat(self.db["records"])["entries"])

    def charter(self, community: bytes) -> R.CommunityBody | None:
        with self.env.begin() as txn:
            return _TxnContext(self, txn).charter(community)

    def head(self, key: bytes) -> R.Record | None:
        """The newest record for a replace key (see ``records.replace_key``)."""
        with self.env.begin() as txn:
            head = txn.get(key, db=self.db["heads"])
            return self._get(txn, L.head_id(bytes(head))) if head is not None else None

    def _walk(
        self, db: str, prefix: bytes, *, reverse: bool, start: bytes | None, limit: int | None
    ) -> Iterator[bytes]:
        """Keys with ``prefix`` in order, beginning after ``start`` (exclusive) if given.

        Materialises at most ``limit`` keys so the read transaction stays short.
        """
        out: list[bytes] = []
        with self.env.begin(db=self.db[db]) as txn:
            cur = txn.cursor()
            if not reverse:
                ok = cur.set_range(start + b"\x00" if start else prefix)
                step = cur.next
            else:
                upper = start if start else _prefix_end(prefix)
                if upper is None:
                    ok = cur.last()
                else:
                    ok = cur.set_range(upper)
                    ok = cur.prev() if ok else cur.last()
                step = cur.prev
            while ok and (limit is None or len(out) < limit):
                key = bytes(cur.key())
                if not key.startswith(prefix):
                    break
                if not (reverse and start and key >= start):
                    out.append(key)
                ok = step()
        return iter(out)

    def _page(
        self,
        db: str,
        prefix: bytes,
        at: tuple[int, bytes] | None,
        *,
        reverse: bool,
        limit: int | None,
    ) -> list[R.Record]:
        """The records of a time index under ``prefix``, after (or before) ``at``."""
        start = L.timed(prefix, *at) if at else None
        keys = self._walk(db, prefix, reverse=reverse, start=start, limit=limit)
        return self._records(L.id_at_end(k) for k in keys)

    def records(self, ids: Iterable[bytes]) -> list[R.Record]:
        """The records of ``ids`` that are held, in that order (the others left out)."""
        return self._records(ids)

    def _records(self, ids: Iterable[bytes]) -> list[R.Record]:
        out = []
        with self.env.begin(db=self.db["records"]) as txn:
            for rid in ids:
                raw = txn.get(rid)
                if raw is not None:
                    out.append(R.decode(bytes(raw)))
        return out

    def scope_items(self, scope: bytes) -> list[tuple[int, bytes]]:
        """``(created_ms, id)`` of every record in a scope, in order (for sync)."""
        n = len(scope)
        with self.env.begin(db=self.db["scope_time"]) as txn:
            cur = txn.cursor()
            out = []
            if cur.set_range(scope):
                for key in cur.iternext(keys=True, values=False):
                    if key[:n] != scope:
                        break
                    out.append(L.split_timed(bytes(key), n))
        return out

    def feed(
        self, scope: bytes, *, before: tuple[int, bytes] | None = None, limit: int = 50
    ) -> list[R.Record]:
        """A scope's records, newest first, paginated by ``(created_ms, id)``."""
        return self._page("scope_time", scope, before, reverse=True, limit=limit)

    def by_kind(
        self,
        scope: bytes,
        kind: R.Kind,
        *,
        before: tuple[int, bytes] | None = None,
        limit: int = 50,
    ) -> list[R.Record]:
        """A scope's records of one kind, newest first (petitions, products, charters)."""
        prefix = L.scope_kind_prefix(scope, kind)
        return self._page("scope_kind", prefix, before, reverse=True, limit=limit)

    def by_author(
        self, author: bytes, *, before: tuple[int, bytes] | None = None, limit: int = 50
    ) -> list[R.Record]:
        return self._page("author_time", author, before, reverse=True, limit=limit)

    def product_records_newest(
        self,
        scope: bytes,
        gtin: str,
        kind: R.Kind,
        *,
        before: tuple[int, bytes] | None = None,
        limit: int | None = 50,
    ) -> list[R.Record]:
        """Product descriptions or ratings of one product, newest first, by ``(created_ms, id)``."""
        prefix = L.product_prefix(scope, gtin, kind)
        return self._page("product_time", prefix, before, reverse=True, limit=limit)

    def product_records(
        self,
        scope: bytes,
        gtin: str,
        kind: R.Kind,
        *,
        after: bytes | None = None,
        limit: int | None = 50,
    ) -> list[R.Record]:
        """Product descriptions or ratings of one product in one community."""
        prefix = L.product_prefix(scope, gtin, kind)
        start = prefix + after if after else None
        keys = self._walk("product", prefix, reverse=False, start=start, limit=limit)
        return self._records(L.id_at_end(k) for k in keys)

    def signatures(
        self, petition: bytes, *, after: tuple[int, bytes] | None = None, limit: int | None = 50
    ) -> list[R.Record]:
        """A petition's signatures, oldest first."""
        return self._page("petition", petition, after, reverse=False, limit=limit)

    def product_aggregate(self, scope: bytes, gtin: str) -> ProductAggregate:
        with self.env.begin(db=self.db["agg_product"]) as txn:
            return _read_agg(txn.get(L.agg_product_key(scope, gtin)))

    def ranked_products(
        self, scope: bytes, *, after: bytes | None = None, limit: int = 50
    ) -> tuple[list[tuple[str, ProductAggregate]], bytes | None]:
        """Rated products of a community, best mean first (then most ratings).

        One page after the cursor ``after`` (None: the first page), and the
        cursor of the next page (None: this was the last). ValueError if
        ``after`` is not a cursor this method gave out.
        """
        start = L.rank_start(scope, after) if after is not None else None
        keys = list(self._walk("rank", scope, reverse=False, start=start, limit=limit))
        with self.env.begin(db=self.db["agg_product"]) as txn:
            page = [
                (g, _read_agg(txn.get(L.agg_product_key(scope, g)))) for g in map(L.rank_gtin, keys)
            ]
        return page, L.rank_cursor(keys[-1]) if len(keys) == limit else None

    def rating_scores(self, scope: bytes, gtin: str) -> list[tuple[bytes, tuple[int, ...]]]:
        """(author, scores) of every rating of a product, from the index alone."""
        prefix = L.product_prefix(scope, gtin, R.Kind.RATING)
        with self.env.begin(db=self.db["product"]) as txn:
            return [L.split_product_value(v) for _, v in _prefixed(txn.cursor(), prefix)]

    def head_id(self, key: bytes) -> bytes | None:
        """The id of the stored record holding a replace key, without decoding it."""
        with self.env.begin() as txn:
            head = txn.get(key, db=self.db["heads"])
            if head is None:
                return None
            rid = L.head_id(bytes(head))
            return rid if txn.get(rid, db=self.db["records"]) is not None else None

    def petition_count(self, petition: bytes) -> int:
        with self.env.begin(db=self.db["agg_petition"]) as txn:
            raw = txn.get(petition)
            return L.read_u64(bytes(raw)) if raw is not None else 0

    def unknown_kinds(self) -> dict[R.Kind, int]:
        """How many stored records have each kind this version does not know.

        Walks ``scope_kind`` jumping over the known kinds, so it costs a few
        seeks per scope plus one step per such record (for metrics and status).
        """
        counts: dict[R.Kind, int] = {}
        with self.env.begin() as txn:
            scopes = txn.cursor(db=self.db["scope_stats"]).iternext(values=False)
            cur = txn.cursor(db=self.db["scope_kind"])
            for scope in [bytes(k) for k in scopes]:
                kind = R.Kind(R.KIND_MIN)
                while cur.set_range(L.scope_kind_prefix(scope, kind)):
                    in_scope, number = L.split_scope_kind(bytes(cur.key()))
                    if in_scope != scope:
                        break
                    kind = R.Kind(number)
                    if not R.known(kind):
                        prefix, n, ok = L.scope_kind_prefix(scope, kind), 0, True
                        while ok and bytes(cur.key()).startswith(prefix):
                            n, ok = n + 1, cur.next()
                        counts[kind] = counts.get(kind, 0) + n
                    if kind == R.KIND_MAX:
                        break
                    kind = R.Kind(kind + 1)
        return counts

    def scope_stats(self, scope: bytes) -> ScopeStats:
        with self.env.begin(db=self.db["scope_stats"]) as txn:
            raw = txn.get(scope)
            if raw is None:
                return ScopeStats(0, 0)
            records, members = msgpack.unpackb(bytes(raw))
            return ScopeStats(int(records), int(members))

    # ------------------------------------------------------------------ node-local state

    def local_put(self, key: bytes, value: bytes = b"") -> None:
        with self.env.begin(write=True, db=self.db["local"]) as txn:
            txn.put(key, value)

    def local_delete(self, key: bytes) -> None:
        with self.env.begin(write=True, db=self.db["local"]) as txn:
            txn.delete(key)

    def local_get(self, key: bytes) -> bytes | None:
        with self.env.begin(db=self.db["local"]) as txn:
            raw = txn.get(key)
            return bytes(raw) if raw is not None else None

    def local_scan(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """Node-local entries under ``prefix``, keys with the prefix removed."""
        with self.env.begin(db=self.db["local"]) as txn:
            return [(k[len(prefix) :], v) for k, v in _prefixed(txn.cursor(), prefix)]

    # ------------------------------------------------------------------ writing

    def ingest(
        self, batch: Sequence[R.Record], *, pow_exempt: Callable[[R.Record], bool] | None = None
    ) -> list[Outcome]:
        """Apply a batch in one write transaction (one fsync); one outcome per record.

        Nothing of a batch is visible, or durable, until the whole batch is:
        when this returns, every STORED record has been committed.
        ``pow_exempt(record)`` says whether a record need not carry the proof
        of work its community's charter asks for (its author is trusted).
        Raises :class:`StorageFull` when there is no room (nothing committed).
        """
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    outcomes = [self._apply(txn, rec, pow_exempt) for rec in batch]
                break
            except lmdb.MapFullError:
                self._context_cache.clear()  # may hold records of the aborted attempt
                self._grow()
            except lmdb.Error as exc:
                self._context_cache.clear()
                if self._no_room(exc):
                    raise StorageFull(f"no room to write to {self.path}: {exc}") from exc
                raise
            except BaseException:
                self._context_cache.clear()
                raise
        for o in outcomes:
            key = o.status.value if o.reason is None else f"rejected.{o.reason.value}"
            self.stats[key] = self.stats.get(key, 0) + 1
        return outcomes

    def _grow(self) -> None:
        # LMDB allows this only while no transaction is open in this process:
        # callers that read from other threads open the store with a map large
        # enough that growing is rare (the node uses 4 GiB of address space).
        size = int(self.env.info()["map_size"])
        try:
            self.env.set_mapsize(size * 2)
        except (lmdb.Error, OSError, MemoryError) as exc:
            raise StorageFull(f"the database map cannot grow beyond {size} bytes: {exc}") from exc

    def _no_room(self, exc: lmdb.Error) -> bool:
        """True if a failed write means the disk has no room (not a fault of the data)."""
        code = getattr(exc, "code", 0)
        if isinstance(exc, lmdb.DiskError) or code in _FULL_ERRNOS:
            return True
        return code == errno.EIO and self._free_bytes() < LOW_SPACE

    def _free_bytes(self) -> int:
        """Bytes an unprivileged writer may still use on the store's filesystem."""
        try:
            st = os.statvfs(self.path)
        except OSError:
            return 0
        return st.f_bavail * st.f_frsize

    def _apply(
        self, txn: Any, rec: R.Record, pow_exempt: Callable[[R.Record], bool] | None = None
    ) -> Outcome:
        db = self.db
        if txn.get(rec.id, db=db["records"]) or txn.get(rec.id, db=db["shadow"]):
            return Outcome(Status.DUPLICATE)
        # Now that ``rec`` is known, retractions of it accepted while it was
        # unknown can be judged (someone else's are invalid), whatever happens next.
        removed = self._recheck_retractions(txn, rec)
        refusal: Rejected | None = None
        if _has_prefix(txn.cursor(db=db["tombstones"]), L.tombstone_prefix(rec.id, rec.author)):
            refusal = Rejected(Reason.RETRACTED, "this record was retracted")
        else:
            try:
                exempt = pow_exempt is not None and pow_exempt(rec)
                R.check_context(rec, _TxnContext(self, txn), pow_exempt=exempt)
            except Rejected as exc:
                refusal = exc
        key = R.replace_key(rec)
        if key is not None:
            # The head is the winner's order key, kept even when the winner is
            # later retracted or found invalid: a signed record always
            # supersedes its author's older ones, so the outcome never depends
            # on the order records arrive in (sync relies on that).
            head = txn.get(key, db=db["heads"])
            mine = L.order(rec.created_ms, rec.id)
            if head is not None:
                head = bytes(head)
                if not R.wins(rec.kind, mine, head):
                    txn.put(rec.id, rec.raw, db=db["shadow"])
                    if refusal is not None:
                        return _refused(refusal, removed)
                    return Outcome(Status.SUPERSEDED, removed=tuple(removed))
                old = self._get(txn, L.head_id(head))
                if old is not None:
                    self._remove(txn, old)
                    removed.append(old.id)
            txn.put(key, mine, db=db["heads"])
        body = rec.body
        # Records that arrived before what they depend on are re-checked as soon
        # as it is known, even if it is not kept itself (a retracted charter
        # still says how many criteria its ratings have).
        if isinstance(body, R.PetitionBody):
            removed += self._purge(txn, self._signatures_in(txn, rec.id), rec)
        elif isinstance(body, R.CommunityBody):
            removed += self._purge_ratings(txn, rec)
        if refusal is not None:
            txn.put(rec.id, rec.raw, db=db["shadow"])
            return _refused(refusal, removed)
        if isinstance(body, R.RetractBody):
            txn.put(L.tombstone_key(body.target, rec.author, rec.id), b"", db=db["tombstones"])
            target = self._get(txn, body.target)
            if target is not None:  # check_context already checked its author
                self._remove(txn, target)
                removed.append(target.id)
        self._insert(txn, rec)
        return Outcome(Status.STORED, removed=tuple(removed))

    def _recheck_retractions(self, txn: Any, rec: R.Record) -> list[bytes]:
        """Retractions of ``rec`` accepted while it was unknown, checked against it now."""
        keys = [k for k, _ in _prefixed(txn.cursor(db=self.db["tombstones"]), rec.id)]
        removed = []
        for key in keys:
            retraction = self._get(txn, L.tombstone_retraction(key))
            try:
                if retraction is not None:
                    R.check_retraction_against(retraction, rec)
                continue
            except Rejected:
                pass
            txn.delete(key, db=self.db["tombstones"])
            if retraction is not None:
                self._remove(txn, retraction)
                removed.append(retraction.id)
        return removed

    def _signatures_in(self, txn: Any, petition: bytes) -> list[R.Record]:
        ids = [L.id_at_end(k) for k, _ in _prefixed(txn.cursor(db=self.db["petition"]), petition)]
        return [r for r in (self._get(txn, i) for i in ids) if r is not None]

    def _purge(self, txn: Any, dependants: list[R.Record], on: R.Record) -> list[bytes]:
        removed = []
        for dep in dependants:
            try:
                R.check_signature_against(dep, on)
            except Rejected:
                self._remove(txn, dep)
                removed.append(dep.id)
        return removed

    def _purge_ratings(self, txn: Any, charter_rec: R.Record) -> list[bytes]:
        assert isinstance(charter_rec.body, R.CommunityBody)
        criteria = charter_rec.body.criteria
        prefix = L.scope_kind_prefix(charter_rec.id, R.Kind.RATING)
        ids = [L.id_at_end(k) for k, _ in _prefixed(txn.cursor(db=self.db["scope_kind"]), prefix)]
        removed = []
        for rid in ids:
            rec = self._get(txn, rid)
            if rec is None or not isinstance(rec.body, R.RatingBody):
                continue
            try:
                R.check_scores_fit(rec.body.scores, criteria)
            except Rejected:
                self._remove(txn, rec)
                removed.append(rid)
        return removed

    def _insert(self, txn: Any, rec: R.Record) -> None:
        self._index(txn, rec, +1)
        txn.put(rec.id, rec.raw, db=self.db["records"])

    def _remove(self, txn: Any, rec: R.Record) -> None:
        """Delete a record and undo its index and aggregate entries (heads stay)."""
        self._index(txn, rec, -1)
        txn.delete(rec.id, db=self.db["records"])
        txn.put(rec.id, rec.raw, db=self.db["shadow"])

    def _index(self, txn: Any, rec: R.Record, sign: int) -> None:
        """Add (+1) or remove (-1) every derived entry of ``rec``."""
        for name, key, value in _derived_entries(rec):
            if sign > 0:
                txn.put(key, value, db=self.db[name])
            else:
                txn.delete(key, db=self.db[name])
        scope = rec.scope
        # scope statistics and member counts
        mkey = L.members_key(scope, rec.author)
        raw = txn.get(mkey, db=self.db["members"])
        n = (L.read_u32(bytes(raw)) if raw is not None else 0) + sign
        stats_raw = txn.get(scope, db=self.db["scope_stats"])
        records, members = msgpack.unpackb(bytes(stats_raw)) if stats_raw is not None else (0, 0)
        records += sign
        if n == 0:
            txn.delete(mkey, db=self.db["members"])
            members -= 1
        else:
            if raw is None:
                members += 1
            txn.put(mkey, L.u32(n), db=self.db["members"])
        if records == 0:
            txn.delete(scope, db=self.db["scope_stats"])
        else:
            txn.put(scope, msgpack.packb([records, members]), db=self.db["scope_stats"])
        body = rec.body
        if isinstance(body, R.RatingBody):
            self._update_product(txn, scope, body, sign)
        elif isinstance(body, R.SignatureBody):
            raw = txn.get(body.petition, db=self.db["agg_petition"])
            count = (L.read_u64(bytes(raw)) if raw is not None else 0) + sign
            if count:
                txn.put(body.petition, L.u64(count), db=self.db["agg_petition"])
            else:
                txn.delete(body.petition, db=self.db["agg_petition"])

    def _update_product(self, txn: Any, scope: bytes, body: R.RatingBody, sign: int) -> None:
        akey = L.agg_product_key(scope, body.gtin)
        agg = _read_agg(txn.get(akey, db=self.db["agg_product"]))
        if agg.count:
            txn.delete(
                L.rank_key(scope, body.gtin, _mean_milli(agg), agg.count), db=self.db["rank"]
            )
        new = _add_scores(agg, body.scores, sign)
        if new.count:
            txn.put(akey, _agg_value(new), db=self.db["agg_product"])
            txn.put(
                L.rank_key(scope, body.gtin, _mean_milli(new), new.count), b"", db=self.db["rank"]
            )
        else:
            txn.delete(akey, db=self.db["agg_product"])

    # ------------------------------------------------------------------ checking

    def dump_derived(self) -> dict[str, dict[bytes, bytes]]:
        out: dict[str, dict[bytes, bytes]] = {}
        with self.env.begin() as txn:
            for name in L.DATABASES:
                if name in L.PRIMARY:
                    continue
                out[name] = {bytes(k): bytes(v) for k, v in txn.cursor(db=self.db[name]).iternext()}
        return out

    def _ids(self) -> list[bytes]:
        with self.env.begin(db=self.db["records"]) as txn:
            return [bytes(k) for k in txn.cursor().iternext(values=False)]

    def all_records(self) -> list[R.Record]:
        with self.env.begin(db=self.db["records"]) as txn:
            return [R.decode(bytes(v)) for _, v in txn.cursor().iternext()]

    def check(self) -> list[str]:
        """Compare every derived database with a recomputation; [] means consistent."""
        expected = rebuild_expected(self.all_records())
        actual = self.dump_derived()
        problems = []
        stored = set(self._ids())
        for name, want in expected.items():
            got = actual.get(name, {})
            if name == "heads":  # a head whose record is gone is a floor: allowed
                got = {k: v for k, v in got.items() if L.head_id(v) in stored}
            if got != want:
                missing = len(want.keys() - got.keys())
                extra = len(got.keys() - want.keys())
                problems.append(f"{name}: {missing} missing, {extra} extra, differing values")
        return problems


def _prefixed(cur: Any, prefix: bytes) -> list[tuple[bytes, bytes]]:
    """Every (key, value) under ``prefix``, in key order, from an open cursor."""
    out = []
    if cur.set_range(prefix):
        for key, value in cur.iternext():
            k = bytes(key)
            if not k.startswith(prefix):
                break
            out.append((k, bytes(value)))
    return out


def _has_prefix(cur: Any, prefix: bytes) -> bool:
    return bool(cur.set_range(prefix)) and bytes(cur.key()).startswith(prefix)


def _refused(exc: Rejected, removed: list[bytes] | None = None) -> Outcome:
    return Outcome(Status.REJECTED, exc.reason, exc.detail, tuple(removed or ()))


def _prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix``."""
    p = bytearray(prefix)
    while p:
        if p[-1] < 0xFF:
            p[-1] += 1
            return bytes(p)
        p.pop()
    return None


def _agg_value(agg: ProductAggregate) -> bytes:
    value: bytes = msgpack.packb([agg.count, list(agg.sums)])
    return value


def _read_agg(raw: Any) -> ProductAggregate:
    if raw is None:
        return ProductAggregate(0, ())
    count, sums = msgpack.unpackb(bytes(raw))
    return ProductAggregate(int(count), tuple(int(s) for s in sums))


def _add_scores(agg: ProductAggregate, scores: Sequence[int], sign: int) -> ProductAggregate:
    # Fixed width (the most criteria a charter may have), so that the sums do
    # not depend on the order ratings came and went in.
    sums = list(agg.sums) or [0] * MAX_CRITERIA
    for i, s in enumerate(scores):
        sums[i] += sign * s
    count = agg.count + sign
    return ProductAggregate(count, tuple(sums)) if count else ProductAggregate(0, ())


def _derived_entries(rec: R.Record) -> list[tuple[str, bytes, bytes]]:
    """The index entries (database, key, value) that a stored record owns.

    Product and petition entries carry the author (and a rating its scores) as
    value, so trusted aggregates are computed from the index without decoding
    records.
    """
    scope, ts, rid = rec.scope, rec.created_ms, rec.id
    entries = [
        ("scope_time", L.timed(scope, ts, rid), b""),
        ("scope_kind", L.timed(L.scope_kind_prefix(scope, rec.kind), ts, rid), b""),
        ("author_time", L.timed(rec.author, ts, rid), b""),
    ]
    body = rec.body
    if isinstance(body, R.RatingBody | R.ProductBody):
        prefix = L.product_prefix(scope, body.gtin, rec.kind)
        value = L.product_value(rec.author, body.scores if isinstance(body, R.RatingBody) else ())
        entries.append(("product", prefix + rid, value))
        entries.append(("product_time", L.timed(prefix, ts, rid), b""))
    elif isinstance(body, R.SignatureBody):
        entries.append(("petition", L.timed(body.petition, ts, rid), rec.author))
    return entries


def _add_product_time(store: Store, txn: Any) -> int:
    """Schema 1 -> 2: index every stored product record and rating by time too."""
    put = txn.put
    db = store.db["product_time"]
    for raw in txn.cursor(db=store.db["records"]).iternext(keys=False):
        rec = R.decode(bytes(raw))
        for name, key, value in _derived_entries(rec):
            if name == "product_time":
                put(key, value, db=db)
    return 2


# version -> the step that upgrades a store of that version (returns the new version)
_MIGRATIONS: dict[int, Callable[[Store, Any], int]] = {1: _add_product_time}


def rebuild_expected(stored: Iterable[R.Record]) -> dict[str, dict[bytes, bytes]]:
    """Every derived database recomputed from scratch from the stored records."""
    d: dict[str, dict[bytes, bytes]] = {n: {} for n in L.DATABASES if n not in L.PRIMARY}
    aggs: dict[tuple[bytes, str], ProductAggregate] = {}
    members: dict[bytes, int] = {}
    stats: dict[bytes, list[int]] = {}
    for rec in stored:
        for name, key, value in _derived_entries(rec):
            d[name][key] = value
        hkey = R.replace_key(rec)
        if hkey is not None:
            d["heads"][hkey] = L.order(rec.created_ms, rec.id)
        mkey = L.members_key(rec.scope, rec.author)
        if mkey not in members:
            stats.setdefault(rec.scope, [0, 0])[1] += 1
        members[mkey] = members.get(mkey, 0) + 1
        stats.setdefault(rec.scope, [0, 0])[0] += 1
        body = rec.body
        if isinstance(body, R.RatingBody):
            akey = (rec.scope, R.gtin14(body.gtin))
            aggs[akey] = _add_scores(aggs.get(akey, ProductAggregate(0, ())), body.scores, 1)
        elif isinstance(body, R.SignatureBody):
            n = L.read_u64(d["agg_petition"].get(body.petition, L.u64(0)))
            d["agg_petition"][body.petition] = L.u64(n + 1)
    d["members"] = {k: L.u32(v) for k, v in members.items()}
    d["scope_stats"] = {k: msgpack.packb(v) for k, v in stats.items()}
    for (scope, gtin), agg in aggs.items():
        d["agg_product"][L.agg_product_key(scope, gtin)] = _agg_value(agg)
        d["rank"][L.rank_key(scope, gtin, _mean_milli(agg), agg.count)] = b""
    return d
