"""How the TUI shows numbers, times, keys and records: pure functions, no Textual.

Everything here takes plain values (the maps of the local API, ``now_ms`` passed
in) and returns strings, so it is tested directly (``tests/test_tui_logic.py``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

from cercle.protocol.display import printable
from cercle.protocol.localapi import ApiError

DASH = "–"
_UTC = _dt.UTC


def score(value: float | None) -> str:
    """A mean score with one decimal, or a dash when no one rated."""
    return DASH if value is None else f"{value:.1f}"


def _agg(scores: Mapping[str, Any] | None, which: str) -> tuple[float | None, int]:
    agg = (scores or {}).get(which) or {}
    return agg.get("overall"), int(agg.get("count") or 0)


def score_pair(scores: Mapping[str, Any] | None) -> str:
    """All raters and trusted raters side by side: ``"4.2 (12) · trusted 4.5 (3)"``."""
    all_mean, all_count = _agg(scores, "all")
    tr_mean, tr_count = _agg(scores, "trusted")
    if all_count == 0:
        return "not rated yet"
    return f"{score(all_mean)} ({all_count}) · trusted {score(tr_mean)} ({tr_count})"


def people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


def count(n: object, word: str) -> str:
    """``count(1, "member")`` -> ``"1 member"``; ``count(3, …)`` -> ``"3 members"``."""
    if not isinstance(n, int):
        return f"{DASH} {word}s"
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def trusted_reason(scores: Mapping[str, Any] | None) -> str:
    """Why the trusted score is what it is: the node's reason, else our own words."""
    reason = (scores or {}).get("reason")
    if isinstance(reason, str) and reason:
        return reason
    mean, count = _agg(scores, "trusted")
    if count == 0 or mean is None:
        return "no one you trust has rated this"
    return f"rated {mean:.1f} by {people(count)} you trust"


def criteria_means(criteria: Sequence[str], scores: Mapping[str, Any] | None) -> list[str]:
    """One line per criterion: ``"taste  4.0 · trusted 4.5"``."""
    all_means = ((scores or {}).get("all") or {}).get("mean") or []
    tr_means = ((scores or {}).get("trusted") or {}).get("mean") or []
    lines = []
    for i, name in enumerate(criteria):
        a = all_means[i] if i < len(all_means) else None
        t = tr_means[i] if i < len(tr_means) else None
        lines.append(f"{name}: {score(a)} · trusted {score(t)}")
    return lines


def criteria_scores(criteria: Sequence[str], values: Sequence[int]) -> str:
    """A rating's scores named by criterion: ``"taste 4 · price 2"``."""
    names = list(criteria) + [f"#{i + 1}" for i in range(len(criteria), len(values))]
    return " · ".join(f"{n} {v}" for n, v in zip(names, values, strict=False))


def relative_time(ms: int | None, now_ms: int) -> str:
    """``"just now"``, ``"5 min ago"``, ``"3 h ago"``, ``"2 days ago"``, then a date."""
    if ms is None:
        return DASH
    delta = (now_ms - ms) / 1000
    future = delta < 0
    delta = abs(delta)
    if delta < 45:
        return "just now" if not future else "in a moment"
    if delta < 3600:
        text = f"{round(delta / 60) or 1} min"
    elif delta < 86400:
        text = f"{round(delta / 3600)} h"
    elif delta < 86400 * 30:
        days = round(delta / 86400)
        text = "1 day" if days == 1 else f"{days} days"
    else:
        return date(ms)
    return f"in {text}" if future else f"{text} ago"


def date(ms: int) -> str:
    """The UTC date of a time in ms, ``YYYY-MM-DD``."""
    return _dt.datetime.fromtimestamp(ms / 1000, _UTC).strftime("%Y-%m-%d")


def deadline(deadline_ms: int, now_ms: int) -> str:
    """``"closes in 3 days (2099-01-01)"``, ``"closed 2 days ago (…)"``; far off, the date alone."""
    when, day = relative_time(deadline_ms, now_ms), date(deadline_ms)
    verb = "closes" if deadline_ms > now_ms else "closed"
    return f"{verb} {when}" if when == day else f"{verb} {when} ({day})"


def progress(count: int, goal: int) -> str:
    """``"12 / 100 signatures (12%)"``; the percentage is capped at display, not hidden."""
    pct = 0 if goal <= 0 else int(count * 100 / goal)
    return f"{count} / {goal} signatures ({pct}%)"


BAR, HALF_LEFT, HALF_RIGHT = "━", "╸", "╺"


def goal_bar(count: int, goal: int, width: int) -> tuple[str, str]:
    """A progress bar of ``width`` cells toward ``goal``: (the part done, the rest).

    Drawn in half cells, as Textual's ProgressBar draws them: "━━━╸" then "━━━━".
    Past the goal the bar is full.
    """
    if width <= 0:
        return "", ""
    halves = round(_fraction(count, goal) * width * 2)
    full, half = divmod(halves, 2)
    done = BAR * full + (HALF_LEFT if half else "")
    left = width - full - half
    rest = "" if left <= 0 else (BAR * left if half else HALF_RIGHT + BAR * (left - 1))
    return done, rest


def percent(count: int, goal: int) -> str:
    """How far toward the goal, capped at 100%: ``"40%"``."""
    return f"{round(_fraction(count, goal) * 100)}%"


def _fraction(count: int, goal: int) -> float:
    """``count / goal`` within 0..1 (0 without a goal)."""
    return min(max(count, 0) / goal, 1.0) if goal > 0 else 0.0


def signature_counts(sigs: Mapping[str, Any] | None) -> str:
    """``"12 signatures · 3 trusted"``."""
    sigs = sigs or {}
    total, trusted = int(sigs.get("all") or 0), int(sigs.get("trusted") or 0)
    word = "signature" if total == 1 else "signatures"
    return f"{total} {word} · {trusted} trusted"


def short_key(hex_key: str | None, n: int = 12) -> str:
    """The start of a hex key or id, for tables: ``"3fa94c01d2e7…"``."""
    if not hex_key:
        return DASH
    return hex_key if len(hex_key) <= n else hex_key[:n] + "…"


def community_names(listing: Mapping[str, Any]) -> dict[str, str]:
    """Community id -> name, from a ``communities.list`` answer."""
    return {c["id"]: c.get("name", "") for c in listing.get("items") or []}


def community_name(names: Mapping[str, str], community_id: str | None) -> str:
    """A community's name from :func:`community_names`, or the start of its id."""
    return names.get(community_id or "") or short_key(community_id)


def who(item: Mapping[str, Any], name_key: str = "name", fp_key: str = "fingerprint") -> str:
    """An author as people read them: ``"Amal (64KE-GXNI)"``, or the fingerprint alone.

    Names are self-chosen (anyone can call themselves Amal), so the start of the
    fingerprint always goes with one.
    """
    fp = item.get(fp_key)
    fp = fp if isinstance(fp, str) and fp else short_key(item.get("author"))
    name = item.get(name_key)
    return f"{name} ({fp[:9]})" if isinstance(name, str) and name else fp


def distance(d: int | None) -> str:
    """Trust distance: ``"you"``, ``"1 hop"``, ``"2 hops"``, or a dash (not trusted)."""
    if d is None:
        return DASH
    if d == 0:
        return "you"
    return "1 hop" if d == 1 else f"{d} hops"


def labels(items: Sequence[str]) -> str:
    return ", ".join(items) if items else DASH


def joined(flag: bool) -> str:
    return "✓ joined" if flag else ""


def trust_word(trust: bool) -> str:
    return "trust" if trust else "distrust"


def api_error(error: ApiError) -> str:
    """An API error for people: the message, with the reason when there is one."""
    reason = getattr(error, "reason", None)
    message = getattr(error, "message", None) or str(error)
    return printable(f"{message} ({reason})" if reason else message)


def describe_record(rec: Mapping[str, Any]) -> str:
    """One line for the activity feed: what the record does, not its bytes.

    ``about`` (from the node's feed) names what it concerns: a product, a petition.
    """
    kind = rec.get("kind", "?")
    body = rec.get("body") or {}
    about = rec.get("about")
    if kind == "rating":
        scores = "/".join(str(s) for s in body.get("scores") or [])
        product = f"{about} ({body.get('gtin', '?')})" if about else body.get("gtin", "?")
        return f"rated {product}: {scores}"
    if kind == "product":
        return f"described {body.get('name', '?')} ({body.get('gtin', '?')})"
    if kind == "petition":
        return f"started the petition “{body.get('title', '?')}”"
    if kind == "signature":
        return (
            f"signed “{about}”" if about else f"signed petition {short_key(body.get('petition'))}"
        )
    if kind == "vouch":
        return f"{trust_word(bool(body.get('trust')))} {short_key(body.get('subject'))}"
    if kind == "retract":
        target = short_key(body.get("target"))
        return f"retracted a record about {about}" if about else f"retracted {target}"
    if kind == "profile":
        return f"is now called {body.get('display_name') or DASH}"
    if kind == "community":
        return f"created the community {body.get('name', '?')}"
    if str(kind).startswith("unknown_"):  # a kind of a later version: kept, not understood
        return f"a record of a kind this version does not know ({str(kind)[8:]})"
    return str(kind)
