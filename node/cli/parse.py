"""What people type on the command line, turned into local-API params.

The rules are the API's own (``protocol/localapi.py``: each parameter spec's
``problem``, ``end_of_day_ms``, ``deadline_problem``, ``normalize_hex32``), so the
CLI refuses exactly what the node would, before calling it, with a message that
names the flag; the TUI's forms call the same rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cercle.protocol import localapi as A
from cercle.protocol.errors import CercleError


class UsageError(CercleError):
    """The arguments are wrong in a way argparse cannot see (checked before calling)."""


def hex_id(text: str) -> str:
    """An id or key argument, as the API takes it (argparse ``type=``)."""
    return A.normalize_hex32(text)


def check_gtin(gtin: str) -> str:
    why = A.GTIN.problem(gtin)
    if why is not None:
        raise UsageError(f"{gtin!r} is not a barcode Cercle can use: {why}")
    return gtin


def parse_scores(pairs: Sequence[str], criteria: Sequence[str]) -> list[int]:
    """``["taste=4", ...]`` to one score per criterion, in the charter's order."""
    by_name = {name.casefold(): i for i, name in enumerate(criteria)}
    listed = ", ".join(criteria)
    scores: list[int | None] = [None] * len(criteria)
    for pair in pairs:
        name, sep, raw = pair.rpartition("=")
        if not sep or not name.strip():
            raise UsageError(f"--score {pair!r}: expected CRITERION=N, e.g. {criteria[0]}=4")
        index = by_name.get(name.strip().casefold())
        if index is None:
            raise UsageError(f"unknown criterion {name.strip()!r}; this community rates: {listed}")
        try:
            value = int(raw)
        except ValueError:
            raise UsageError(f"--score {pair!r}: the score must be a whole number") from None
        why = A.SCORE.problem(value)
        if why is not None:
            raise UsageError(f"score for {criteria[index]!r}: {why}")
        if scores[index] is not None:
            raise UsageError(f"criterion {criteria[index]!r} is scored twice")
        scores[index] = value
    missing = [criteria[i] for i, s in enumerate(scores) if s is None]
    if missing:
        raise UsageError(f"missing score for {', '.join(map(repr, missing))}; give --score C=N")
    return [s for s in scores if s is not None]


def parse_deadline(text: str, now_ms: int) -> int:
    """YYYY-MM-DD to the last millisecond of that day (UTC); must be in the future."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--deadline {text!r}: expected a date as YYYY-MM-DD") from None
    deadline_ms = A.end_of_day_ms(day)
    why = A.deadline_problem(deadline_ms, now_ms)
    if why is not None:
        raise UsageError(f"--deadline {text}: {why}")
    return deadline_ms
