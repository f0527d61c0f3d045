"""How records and aggregates look in the local API (plain maps, ids as hex).

One place for these shapes (``specs/local-api.md``), used by the API backend
and by the events the node pushes.
"""

from __future__ import annotations

from typing import Any

from cercle.protocol import records as R
from cercle.protocol.identity import fingerprint
from cercle.protocol.trust import AggregateSummary, CountSummary


def _value(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, tuple | list):
        return [_value(x) for x in v]
    return v


def record_view(rec: R.Record) -> dict[str, Any]:
    """Record: id, kind, author, fingerprint, created_ms, community, body."""
    return {
        "id": rec.id.hex(),
        "kind": rec.kind.name.lower(),
        "author": rec.author.hex(),
        "fingerprint": fingerprint(rec.author),
        "created_ms": rec.created_ms,
        "community": rec.community.hex() if rec.community else None,
        "body": {name: _value(getattr(rec.body, name)) for name, _ in rec.body.FIELDS},
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def scores_view(s: AggregateSummary) -> dict[str, Any]:
    """``{"all": Aggregate, "trusted": Aggregate, "reason": str}``."""
    return {
        "all": {
            "count": s.raw_count,
            "mean": [_r(m) for m in s.raw_means],
            "overall": _r(s.raw_overall),
        },
        "trusted": {
            "count": s.trusted_count,
            "mean": [_r(m) for m in s.trusted_means],
            "overall": _r(s.trusted_overall),
            "weight": _r(s.trusted_weight),
        },
        "reason": s.reason,
    }


def counts_view(c: CountSummary) -> dict[str, Any]:
    return {"all": c.raw_count, "trusted": c.trusted_count, "reason": c.reason}
