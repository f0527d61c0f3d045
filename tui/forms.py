"""Validation of every TUI form: pure functions, no Textual.

Each ``check_*`` function takes the raw texts a form holds and returns a
:class:`Checked`: the API params to send when everything is right, otherwise a
map of field name -> a message for people, which the form shows under the field
(and then sends nothing). The limits are those of the record fields
(``protocol/records.py``) and the rules those of the local API's parameters
(``protocol/localapi.py``: barcodes, scores, ids, deadlines), so the TUI refuses
exactly what the node would, with the same words.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cercle.protocol import localapi as A
from cercle.protocol import records as R
from cercle.protocol.records import SCORE_MAX, SCORE_MIN


@dataclass(frozen=True, slots=True)
class Checked:
    """The outcome of checking one form: params to send, or errors by field."""

    params: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _limits(body: type[Any], name: str) -> tuple[int, int]:
    spec = dict(body.FIELDS)[name]
    return spec.min_chars, spec.max_chars


def _list_limits(body: type[Any], name: str) -> tuple[int, int, int]:
    """(min items, max items, max chars per item) of a text-list field."""
    spec = dict(body.FIELDS)[name]
    return spec.min_items, spec.max_items, spec.item.max_chars


def check_text(value: str, body: type[Any], name: str, label: str) -> str | None:
    """The error for one text field of a record body, or None."""
    lo, hi = _limits(body, name)
    if lo and not value.strip():
        return f"{label} must not be empty"
    if len(value) > hi:
        return f"{label} is {len(value)} characters long; at most {hi}"
    return None


def split_list(text: str) -> list[str]:
    """``"vegan, organic"`` -> ``["vegan", "organic"]`` (empty items dropped)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def check_list(items: Sequence[str], body: type[Any], name: str, label: str) -> str | None:
    lo, hi, chars = _list_limits(body, name)
    if len(items) < lo:
        return f"give at least {lo} {label} (comma-separated)"
    if len(items) > hi:
        return f"at most {hi} {label}, got {len(items)}"
    long = [i for i in items if len(i) > chars]
    if long:
        return f"“{long[0][:20]}” is too long: at most {chars} characters each"
    if len(set(items)) != len(items):
        return f"the {label} must all be different"
    return None


def check_gtin(text: str) -> str | None:
    return A.GTIN.problem(text.strip())


def check_score(text: str) -> tuple[int | None, str | None]:
    t = text.strip()
    try:
        value = int(t)
    except ValueError:
        return None, f"a whole number from {SCORE_MIN} to {SCORE_MAX}"
    why = A.SCORE.problem(value)
    return (None, why) if why is not None else (value, None)


def check_hex32(text: str) -> str | None:
    return A.HEX32.problem(A.normalize_hex32(text))


def parse_date(text: str) -> _dt.date | None:
    try:
        return _dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


# --------------------------------------------------------------------------- forms


def check_community(name: str, description: str, values: str, criteria: str) -> Checked:
    errors: dict[str, str] = {}
    vals, crits = split_list(values), split_list(criteria)
    for key, err in (
        ("name", check_text(name, R.CommunityBody, "name", "the name")),
        ("description", check_text(description, R.CommunityBody, "description", "the description")),
        ("values", check_list(vals, R.CommunityBody, "values", "values")),
        ("criteria", check_list(crits, R.CommunityBody, "criteria", "criteria")),
    ):
        if err:
            errors[key] = err
    if errors:
        return Checked(errors=errors)
    params = {
        "name": name.strip(),
        "description": description.strip(),
        "values": vals,
        "criteria": crits,
    }
    return Checked(params=params)


def check_rating(
    gtin: str,
    scores: Mapping[str, str],
    text: str,
    criteria: Sequence[str],
    *,
    product_name: str = "",
) -> Checked:
    """A rating: ``scores`` maps each criterion to its typed text, in charter order.

    Errors for scores are keyed ``score-<index>``. A product name, if given, is
    checked too (the form then also publishes the product description).
    """
    errors: dict[str, str] = {}
    err = check_gtin(gtin)
    if err:
        errors["gtin"] = err
    values: list[int] = []
    for i, crit in enumerate(criteria):
        value, err = check_score(scores.get(crit, ""))
        if err:
            errors[f"score-{i}"] = f"{crit}: {err}"
        elif value is not None:
            values.append(value)
    err = check_text(text, R.RatingBody, "text", "the comment")
    if err:
        errors["text"] = err
    if product_name.strip():
        err = check_text(product_name, R.ProductBody, "name", "the product name")
        if err:
            errors["name"] = err
    if errors:
        return Checked(errors=errors)
    params: dict[str, Any] = {"gtin": gtin.strip(), "scores": values, "text": text.strip()}
    if product_name.strip():
        params["name"] = product_name.strip()
    return Checked(params=params)


def check_petition(
    title: str, text: str, target: str, goal: str, deadline: str, *, now_ms: int
) -> Checked:
    errors: dict[str, str] = {}
    for key, err in (
        ("title", check_text(title, R.PetitionBody, "title", "the title")),
        ("text", check_text(text, R.PetitionBody, "text", "the text")),
        ("target", check_text(target, R.PetitionBody, "target", "the target")),
    ):
        if err:
            errors[key] = err
    goal_spec = dict(R.PetitionBody.FIELDS)["goal"]
    assert isinstance(goal_spec, R.Int)  # dict(FIELDS) is typed dict[str, object]
    lo, hi = goal_spec.lo, goal_spec.hi
    goal_value: int | None = None
    try:
        goal_value = int(goal.strip())
    except ValueError:
        errors["goal"] = "the goal is a whole number of signatures"
    else:
        if goal_value < lo:
            errors["goal"] = "the goal must be a positive number of signatures"
        elif goal_value > hi:
            errors["goal"] = f"the goal is at most {hi:,}".replace(",", " ")
    day = parse_date(deadline)
    if day is None:
        errors["deadline"] = "a date written YYYY-MM-DD, e.g. 2030-06-30"
    elif why := A.deadline_problem(A.end_of_day_ms(day), now_ms):
        errors["deadline"] = why
    if errors:
        return Checked(errors=errors)
    assert day is not None and goal_value is not None
    return Checked(
        params={
            "title": title.strip(),
            "text": text.strip(),
            "target": target.strip(),
            "goal": goal_value,
            "deadline_ms": A.end_of_day_ms(day),
        }
    )


def check_vouch(subject: str, trust: bool, community: str = "") -> Checked:
    errors: dict[str, str] = {}
    err = check_hex32(subject)
    if err:
        errors["subject"] = err
    if community.strip():
        err = check_hex32(community)
        if err:
            errors["community"] = err
    if errors:
        return Checked(errors=errors)
    params: dict[str, Any] = {"subject": A.normalize_hex32(subject), "trust": bool(trust)}
    if community.strip():
        params["community"] = A.normalize_hex32(community)
    return Checked(params=params)


def check_profile(display_name: str, about: str) -> Checked:
    errors: dict[str, str] = {}
    for key, err in (
        ("display_name", check_text(display_name, R.ProfileBody, "display_name", "the name")),
        ("about", check_text(about, R.ProfileBody, "about", "the about text")),
    ):
        if err:
            errors[key] = err
    if errors:
        return Checked(errors=errors)
    return Checked(params={"display_name": display_name.strip(), "about": about.strip()})


def check_search(query: str) -> Checked:
    """A search by name, or by GTIN when the query is all digits of a GTIN's length."""
    q = query.strip()
    if not q:
        return Checked(errors={"query": "type a product name, a brand or a barcode number"})
    if len(q) > A.MAX_QUERY_CHARS:
        return Checked(errors={"query": f"at most {A.MAX_QUERY_CHARS} characters"})
    if q.isascii() and q.isdigit() and len(q) in A.GTIN_LENGTHS and (why := A.GTIN.problem(q)):
        return Checked(errors={"query": why})
    return Checked(params={"query": q})


def check_export_path(path: str) -> Checked:
    p = path.strip()
    if not p:
        return Checked(errors={"path": "give a file name to write the bundle to"})
    return Checked(params={"path": p})
