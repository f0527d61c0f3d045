"""Every shape the local API answers with, and every event payload: one module.

``specs/local-api.md`` documents these shapes; the handlers build their answers only
through these functions, and the node's services build their events with them, so
a field is named and rounded in one place. Results are plain maps of strings,
numbers, booleans and lists; ids and keys are lowercase hex; averages are rounded to
three decimals. Pure: nothing here reads the store or the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cercle.protocol import records as R
from cercle.protocol.identity import fingerprint
from cercle.protocol.syncstream import SyncReport
from cercle.protocol.trust import AggregateSummary, CountSummary, TrustView

if TYPE_CHECKING:
    from cercle.node.writer import StorageInfo

View = dict[str, Any]


def _value(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, tuple | list):
        return [_value(x) for x in v]
    return v


def _hex(b: bytes | None) -> str | None:
    return b.hex() if b is not None else None


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def page(items: list[Any], cursor: str | None) -> View:
    """A page of a list: its items, and the cursor of the next page (None: the last)."""
    return {"items": items, "cursor": cursor}


def items(values: list[Any]) -> View:
    """A whole (unpaged) list."""
    return {"items": values}


# --------------------------------------------------------------------------- records


def record_view(rec: R.Record) -> View:
    """Record: id, kind, author, fingerprint, created_ms, community, body, extra.

    A kind this node does not know is ``unknown_<n>`` with a nil body, and what
    it holds (every item of such a body, the fields appended to a known kind)
    is ``extra``, each item's canonical msgpack in hex: shown, never read.
    """
    body = rec.body
    return {
        "id": rec.id.hex(),
        "kind": rec.kind.name.lower(),
        "author": rec.author.hex(),
        "fingerprint": fingerprint(rec.author),
        "created_ms": rec.created_ms,
        "community": _hex(rec.community),
        "body": None
        if isinstance(body, R.OpaqueBody)
        else {name: _value(getattr(body, name)) for name, _ in body.FIELDS},
        "extra": [item.hex() for item in body.extra],
    }


def published_view(rec: R.Record) -> View:
    """The answer to every method that publishes a record: its id and the record."""
    return {"id": rec.id.hex(), "record": record_view(rec)}


def feed_item_view(rec: R.Record, name: str | None, about: str | None) -> View:
    """A feed entry: the record, its author's name and what it is about, for people."""
    return {**record_view(rec), "name": name, "about": about}


def _trust(view: TrustView | None, author: bytes) -> View:
    return {
        "trusted": bool(view and view.is_trusted(author)),
        "distance": view.distance(author) if view else None,
    }


def rating_view(rec: R.Record, view: TrustView | None, name: str | None) -> View:
    """Rating: the record, and name, scores, text, gtin, trusted, distance."""
    body = rec.body
    assert isinstance(body, R.RatingBody)
    return {
        **record_view(rec),
        "name": name,
        "scores": list(body.scores),
        "text": body.text,
        "gtin": R.gtin14(body.gtin),
        **_trust(view, rec.author),
    }


def signature_view(rec: R.Record, view: TrustView | None, name: str | None) -> View:
    return {
        "id": rec.id.hex(),
        "author": rec.author.hex(),
        "fingerprint": fingerprint(rec.author),
        "name": name,
        "created_ms": rec.created_ms,
        **_trust(view, rec.author),
    }


def vouch_view(rec: R.Record, name: str | None, subject_name: str | None) -> View:
    body = rec.body
    assert isinstance(body, R.VouchBody)
    return {
        "id": rec.id.hex(),
        "author": rec.author.hex(),
        "fingerprint": fingerprint(rec.author),
        "name": name,
        "subject": body.subject.hex(),
        "subject_fingerprint": fingerprint(body.subject),
        "subject_name": subject_name,
        "trust": body.trust,
        "community": _hex(rec.community),
        "created_ms": rec.created_ms,
    }


# --------------------------------------------------------------------------- aggregates


class Aggregate(Protocol):
    """A product's ratings from everyone, as the store keeps them."""

    @property
    def count(self) -> int: ...
    @property
    def means(self) -> tuple[float, ...]: ...
    @property
    def mean(self) -> float: ...


NO_TRUSTED: View = {"count": 0, "mean": [], "overall": None, "weight": 0.0}


def scores_view(agg: Aggregate, trusted: AggregateSummary | None, reason: str) -> View:
    """``{"all": Aggregate, "trusted": Aggregate, "reason": str}``."""
    return {
        "all": {
            "count": agg.count,
            "mean": [round(m, 3) for m in agg.means],
            "overall": round(agg.mean, 3) if agg.count else None,
        },
        "trusted": dict(NO_TRUSTED)
        if trusted is None
        else {
            "count": trusted.trusted_count,
            "mean": [round(m, 3) for m in trusted.trusted_means],
            "overall": _r(trusted.trusted_overall),
            "weight": round(trusted.trusted_weight, 3),
        },
        "reason": reason,
    }


def counts_view(all_count: int, trusted: CountSummary | None, reason: str) -> View:
    """A petition's signatures: ``{"all": n, "trusted": n, "reason": str}``."""
    return {
        "all": all_count,
        "trusted": trusted.trusted_count if trusted is not None else 0,
        "reason": reason,
    }


# --------------------------------------------------------------------------- things


def community_view(rec: R.Record, *, joined: bool, members: int, records: int) -> View:
    body = rec.body
    assert isinstance(body, R.CommunityBody)
    return {
        "id": rec.id.hex(),
        "name": body.name,
        "description": body.description,
        "values": list(body.values),
        "criteria": list(body.criteria),
        "pow_bits": body.pow_bits,
        "author": rec.author.hex(),
        "created_ms": rec.created_ms,
        "joined": joined,
        "members": members,
        "records": records,
    }


def product_view(community: bytes, gtin: str, newest: R.Record | None, scores: View) -> View:
    """Product: the newest description (any author) and its scores."""
    body = newest.body if newest is not None else None
    assert body is None or isinstance(body, R.ProductBody)
    return {
        "community": community.hex(),
        "gtin": R.gtin14(gtin),
        "name": body.name if body else "",
        "brand": body.brand if body else "",
        "labels": list(body.labels) if body else [],
        "id": newest.id.hex() if newest else None,
        "author": newest.author.hex() if newest else None,
        "created_ms": newest.created_ms if newest else None,
        "scores": scores,
    }


def petition_view(rec: R.Record, name: str | None, signatures: View, signed: bool) -> View:
    """Petition: the record, its fields, signature counts and whether we signed."""
    body = rec.body
    assert isinstance(body, R.PetitionBody)
    return {
        **record_view(rec),
        "name": name,
        "title": body.title,
        "text": body.text,
        "target": body.target,
        "goal": body.goal,
        "deadline_ms": body.deadline_ms,
        "signatures": signatures,
        "signed": signed,
    }


def identity_view(public_key: bytes, profile: R.Record | None) -> View:
    body = profile.body if profile is not None else None
    named = isinstance(body, R.ProfileBody)
    return {
        "public_key": public_key.hex(),
        "fingerprint": fingerprint(public_key),
        "display_name": body.display_name if isinstance(body, R.ProfileBody) else "",
        "about": body.about if isinstance(body, R.ProfileBody) else "",
        "has_profile": named,
    }


class Peer(Protocol):
    @property
    def peer_id(self) -> str: ...
    @property
    def addrs(self) -> tuple[str, ...]: ...
    @property
    def connected_since(self) -> float: ...
    @property
    def relay(self) -> bool: ...


def peer_view(p: Peer) -> View:
    return {
        "peer_id": p.peer_id,
        "addrs": list(p.addrs),
        "connected_since": p.connected_since,
        "relay": p.relay,
    }


def moderation_view(
    muted: set[bytes], blocked: set[bytes], hidden: set[bytes], floors: dict[bytes, int]
) -> View:
    return {
        "muted": sorted(a.hex() for a in muted),
        "blocked": sorted(a.hex() for a in blocked),
        "hidden": sorted(i.hex() for i in hidden),
        "min_trust": {c.hex(): d for c, d in sorted(floors.items())},
    }


def export_view(
    signatures: int, root: bytes, data: bytes, *, path: str | None = None, inline: bool
) -> View:
    """A petition bundle written to ``path``, or returned as hex (``inline``)."""
    out: View = {"signatures": signatures, "root": root.hex(), "bytes": len(data)}
    if inline:
        out["bundle"] = data.hex()
    if path is not None:
        out["path"] = path
    return out


def product_detail_view(
    product: View, descriptions: list[R.Record], my_rating: View | None
) -> View:
    """``products.get``: a product, its newest descriptions and our own rating."""
    return {
        **product,
        "descriptions": [record_view(r) for r in descriptions],  # newest first
        "my_rating": my_rating,
    }


def membership_view(community: str, joined: bool) -> View:
    return {"id": community, "joined": joined}


def min_trust_view(community: str, max_distance: int | None) -> View:
    return {"id": community, "max_distance": max_distance}


def connected_view(peer_id: str) -> View:
    return {"peer_id": peer_id}


# --------------------------------------------------------------------------- node


@dataclass(frozen=True, slots=True)
class SyncInfo:
    """One finished sync session, as ``status`` and the ``sync`` event report it."""

    peer_id: str
    role: str  # "initiator" or "responder"
    report: SyncReport
    at_ms: int


def sync_view(info: SyncInfo) -> View:
    r = info.report
    return {
        "peer_id": info.peer_id,
        "role": info.role,
        "community": _hex(r.scope) if r.scope else None,
        "state": "refused" if r.refused else "done",
        "refused": r.refused,
        "received": r.received,
        "sent": r.sent,
        "round_trips": r.round_trips,
        "bytes": r.bytes_sent + r.bytes_received,
        "at_ms": info.at_ms,
    }


def record_event(rec: R.Record, source: str, removed: Sequence[bytes]) -> View:
    """The ``record`` event: a record was stored (from ``source``), replacing ``removed``."""
    return {**record_view(rec), "source": source, "removed": [r.hex() for r in removed]}


def peer_event(peer_id: str, connected: bool) -> View:
    return {"peer_id": peer_id, "state": "connected" if connected else "disconnected"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """What ``status`` reports; the node fills it in."""

    version: str
    relay: bool
    peer_id: str
    listen: list[str]
    circuit: list[str]
    author: bytes | None
    peers: int
    topics: list[str]
    records: int
    joined: list[bytes]
    rejected: dict[str, int]
    counters: dict[str, int]
    gossip_latency_p50_ms: float | None
    network: dict[str, int]  # the libp2p layer's counters (net.NetStats)
    unknown_kinds: dict[str, int]  # records kept of kinds this version does not know
    sync: list[SyncInfo]
    storage: StorageInfo


API_VERSION = 1
SYNC_IN_STATUS = 10  # most recent sessions listed


def status_view(s: Status) -> View:
    return {
        "node": s.version,
        "api": API_VERSION,
        "mode": "relay" if s.relay else "personal",
        "peer_id": s.peer_id,
        "listen": s.listen,
        "circuit": sorted(s.circuit),
        "author": _hex(s.author),
        "fingerprint": fingerprint(s.author) if s.author is not None else None,
        "peers": s.peers,
        "topics": s.topics,
        "records": s.records,
        "communities": len(s.joined),
        "joined": [c.hex() for c in s.joined],
        "rejected": s.rejected,
        "counters": s.counters,
        "gossip_latency_p50_ms": s.gossip_latency_p50_ms,
        "network": s.network,
        "unknown_kinds": s.unknown_kinds,
        "sync": [sync_view(i) for i in s.sync[-SYNC_IN_STATUS:]],
        "storage": storage_view(s.storage),
    }


def storage_view(s: StorageInfo) -> View:
    """``status.storage``: is the disk full, since when, why, what waits for room."""
    return {
        "full": s.full,
        "since_ms": s.since_ms,
        "error": s.error,
        "held": s.held,
        "dropped": s.dropped,
        "log": [{"at_ms": at, "message": m} for at, m in s.log],
    }
