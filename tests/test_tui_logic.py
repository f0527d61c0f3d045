"""The TUI's pure modules, tested directly: form validation and formatting."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

from cercle.protocol.localapi import ApiError, check_params
from cercle.tui import format as fmt
from cercle.tui import forms
from tests import factory as F

NOW = int(dt.datetime(2025, 6, 15, 12, tzinfo=dt.UTC).timestamp() * 1000)
GOOD_GTIN = F.gtin(42)
BAD_GTIN = GOOD_GTIN[:-1] + str((int(GOOD_GTIN[-1]) + 1) % 10)


# --------------------------------------------------------------------------- forms


def test_gtin_errors() -> None:
    assert forms.check_gtin(GOOD_GTIN) is None
    assert forms.check_gtin("96385074") is None  # GTIN-8
    assert "check digit" in (forms.check_gtin(BAD_GTIN) or "")
    assert "digits only" in (forms.check_gtin("12a4567890128") or "")
    assert "8, 12, 13 or 14" in (forms.check_gtin("12345") or "")
    assert forms.check_gtin("") is not None


def test_rating_form() -> None:
    ok = forms.check_rating(GOOD_GTIN, {"taste": "4", "price": " 2 "}, "fine", ["taste", "price"])
    assert ok.ok and ok.params == {"gtin": GOOD_GTIN, "scores": [4, 2], "text": "fine"}
    check_params("ratings.put", {"community": "00" * 32, **ok.params})  # the node would accept
    bad = forms.check_rating(BAD_GTIN, {"taste": "0", "price": "x"}, "", ["taste", "price"])
    assert set(bad.errors) == {"gtin", "score-0", "score-1"} and not bad.params
    assert "out of range" in bad.errors["score-0"] and "taste" in bad.errors["score-0"]
    assert "whole number" in bad.errors["score-1"]
    long = forms.check_rating(GOOD_GTIN, {"t": "6"}, "x" * 1001, ["t"])
    assert set(long.errors) == {"score-0", "text"} and "1000" in long.errors["text"]
    named = forms.check_rating(GOOD_GTIN, {"t": "5"}, "", ["t"], product_name="Oat milk")
    assert named.params["name"] == "Oat milk"
    assert (
        "name"
        in forms.check_rating(GOOD_GTIN, {"t": "5"}, "", ["t"], product_name="y" * 121).errors
    )


def test_community_form() -> None:
    ok = forms.check_community("Vegan", "", "vegan, local", "taste, price")
    assert ok.ok and ok.params["values"] == ["vegan", "local"]
    check_params("communities.create", ok.params)
    bad = forms.check_community("  ", "d" * 2001, "a, a", "")
    assert set(bad.errors) == {"name", "description", "values", "criteria"}
    assert "empty" in bad.errors["name"] and "different" in bad.errors["values"]
    assert "at least 1" in bad.errors["criteria"]
    many = forms.check_community("X", "", "", ", ".join(f"c{i}" for i in range(9)))
    assert "at most 8" in many.errors["criteria"]


def test_petition_form() -> None:
    ok = forms.check_petition("Title", "Text", "", "100", "2025-06-16", now_ms=NOW)
    assert ok.ok and ok.params["goal"] == 100
    assert ok.params["deadline_ms"] == int(
        dt.datetime(2025, 6, 16, 23, 59, 59, 999000, tzinfo=dt.UTC).timestamp() * 1000
    )
    check_params("petitions.create", {"community": "00" * 32, **ok.params})
    assert forms.check_petition("T", "x", "", "1", "2025-06-15", now_ms=NOW).ok  # open today
    bad = forms.check_petition("", "", "", "0", "2025-06-14", now_ms=NOW)
    assert set(bad.errors) == {"title", "text", "goal", "deadline"}
    assert "positive" in bad.errors["goal"] and "future" in bad.errors["deadline"]
    assert (
        "YYYY-MM-DD"
        in forms.check_petition("T", "x", "", "-3", "15/06/2030", now_ms=NOW).errors["deadline"]
    )
    assert (
        "whole number"
        in forms.check_petition("T", "x", "", "ten", "2030-01-01", now_ms=NOW).errors["goal"]
    )
    assert (
        "at most"
        in forms.check_petition("T", "x", "", "1000000001", "2030-01-01", now_ms=NOW).errors["goal"]
    )


def test_vouch_profile_search_export_forms() -> None:
    key = F.pub(3).hex()
    ok = forms.check_vouch(key.upper(), False, "")
    assert ok.params == {"subject": key, "trust": False}
    check_params("vouch", ok.params)
    assert forms.check_vouch(key, True, "ab" * 32).params["community"] == "ab" * 32
    bad = forms.check_vouch("xyz", True, "12")
    assert set(bad.errors) == {"subject", "community"}
    assert forms.check_profile("Amal", "").ok
    assert "64" in forms.check_profile("n" * 65, "").errors["display_name"]
    assert forms.check_search(" oat ").params == {"query": "oat"}
    assert forms.check_search(GOOD_GTIN).ok
    assert "check digit" in forms.check_search(BAD_GTIN).errors["query"]
    assert forms.check_search("12345").ok  # a number that is not a GTIN length: a name search
    assert not forms.check_search("  ").ok
    assert not forms.check_export_path(" ").ok and forms.check_export_path("/tmp/x").ok


# --------------------------------------------------------------------------- format


def scores(all_: tuple[float | None, int], trusted: tuple[float | None, int], **kw: object) -> dict:
    return {
        "all": {"overall": all_[0], "count": all_[1], "mean": [all_[0]]},
        "trusted": {"overall": trusted[0], "count": trusted[1], "mean": [trusted[0]]},
        **kw,
    }


def test_scores() -> None:
    s = scores((4.2, 12), (4.5, 3))
    assert fmt.score_pair(s) == "4.2 (12) · trusted 4.5 (3)"
    assert fmt.score_pair(scores((3.0, 1), (None, 0))) == "3.0 (1) · trusted – (0)"
    assert fmt.score_pair(scores((None, 0), (None, 0))) == "not rated yet"
    assert fmt.score_pair(None) == "not rated yet"
    assert fmt.trusted_reason(scores((4.2, 9), (4.25, 7))) == "rated 4.2 by 7 people you trust"
    assert fmt.trusted_reason(scores((4.2, 9), (4.0, 1))) == "rated 4.0 by 1 person you trust"
    assert fmt.trusted_reason(scores((4.2, 9), (None, 0))) == "no one you trust has rated this"
    assert fmt.trusted_reason(scores((1, 1), (1, 1), reason="node says")) == "node says"
    assert fmt.criteria_means(["taste"], s) == ["taste: 4.2 · trusted 4.5"]
    assert fmt.criteria_scores(["taste", "price"], [4, 2]) == "taste 4 · price 2"
    assert fmt.criteria_scores(["taste"], [4, 2]) == "taste 4 · #2 2"


def test_times_and_deadlines() -> None:
    minute, hour, day = 60_000, 3_600_000, 86_400_000
    assert fmt.relative_time(NOW - 10_000, NOW) == "just now"
    assert fmt.relative_time(NOW - 5 * minute, NOW) == "5 min ago"
    assert fmt.relative_time(NOW - 3 * hour, NOW) == "3 h ago"
    assert fmt.relative_time(NOW - day, NOW) == "1 day ago"
    assert fmt.relative_time(NOW - 2 * day, NOW) == "2 days ago"
    assert fmt.relative_time(NOW + 3 * day, NOW) == "in 3 days"
    assert fmt.relative_time(NOW - 400 * day, NOW) == "2024-05-11"
    assert fmt.relative_time(None, NOW) == "–"
    assert fmt.deadline(NOW + 3 * day, NOW) == "closes in 3 days (2025-06-18)"
    assert fmt.deadline(NOW - 2 * day, NOW) == "closed 2 days ago (2025-06-13)"
    assert fmt.deadline(NOW + 90 * day, NOW) == "closes 2025-09-13"  # not the date twice
    assert fmt.deadline(NOW - 90 * day, NOW) == "closed 2025-03-17"


def test_counts_keys_and_records() -> None:
    assert fmt.progress(12, 100) == "12 / 100 signatures (12%)"
    assert fmt.progress(150, 100) == "150 / 100 signatures (150%)"
    assert fmt.progress(0, 0) == "0 / 0 signatures (0%)"
    assert fmt.signature_counts({"all": 1, "trusted": 0}) == "1 signature · 0 trusted"
    assert fmt.count(1, "member") == "1 member" and fmt.count(0, "member") == "0 members"
    assert fmt.short_key("ab" * 32) == "abababababab…" and fmt.short_key(None) == "–"
    assert fmt.who({"fingerprint": "ABCD-EFGH-IJKL-MNOP"}) == "ABCD-EFGH-IJKL-MNOP"
    assert fmt.who({"author": "cd" * 32}) == "cdcdcdcdcdcd…"
    named = {"fingerprint": "ABCD-EFGH-IJKL-MNOP", "name": "Amal"}
    assert fmt.who(named) == "Amal (ABCD-EFGH)"  # a name never goes alone
    names = fmt.community_names({"items": [{"id": "ab" * 32, "name": "Vegan"}]})
    assert fmt.community_name(names, "ab" * 32) == "Vegan"
    assert fmt.community_name(names, "cd" * 32) == "cdcdcdcdcdcd…"
    vouch = {"subject_name": "Bo", "subject_fingerprint": "WXYZ-EFGH-IJKL-MNOP", "name": "Amal"}
    assert fmt.who(vouch, "subject_name", "subject_fingerprint") == "Bo (WXYZ-EFGH)"
    assert [fmt.distance(d) for d in (None, 0, 1, 3)] == ["–", "you", "1 hop", "3 hops"]
    err = ApiError("rejected", "refused", reason="bad_gtin")
    assert fmt.api_error(err) == "refused (bad_gtin)"
    assert fmt.api_error(ApiError("not_found", "no such thing")) == "no such thing"
    rating = {"kind": "rating", "body": {"gtin": "0042", "scores": [4, 5]}}
    assert fmt.describe_record(rating) == "rated 0042: 4/5"
    assert fmt.describe_record({**rating, "about": "Oat milk"}) == "rated Oat milk (0042): 4/5"
    signed = {"kind": "signature", "body": {"petition": "ab" * 32}, "about": "Label it"}
    assert fmt.describe_record(signed) == "signed “Label it”"
    assert fmt.describe_record({"kind": "unknown_9", "body": None}) == (
        "a record of a kind this version does not know (9)"
    )
    assert fmt.describe_record({**signed, "about": None}) == "signed petition abababababab…"
    retract = {"kind": "retract", "body": {"target": "cd" * 32}, "about": "Tofu"}
    assert fmt.describe_record(retract) == "retracted a record about Tofu"
    assert fmt.describe_record({"kind": "petition", "body": {"title": "T"}}) == (
        "started the petition “T”"
    )
    assert fmt.describe_record(
        {"kind": "vouch", "body": {"trust": False, "subject": "ab" * 32}}
    ) == ("distrust abababababab…")


def test_api_errors_are_printable() -> None:
    assert fmt.api_error(ApiError("bad_params", "name: \x1b[31m")) == "name: \ufffd[31m"


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.module:
            out.add(n.module)
    return out


def test_pure_modules_do_not_import_textual_or_the_node() -> None:
    import cercle.tui

    root = Path(cercle.tui.__file__).resolve().parent
    for name in ("forms.py", "format.py"):
        assert not any(m.startswith("textual") for m in _imports(root / name)), name
    for path in root.rglob("*.py"):
        bad = [m for m in _imports(path) if m.startswith(("cercle.node", "cercle.storage"))]
        assert not bad, (path, bad)


def test_goal_bar_in_half_cells() -> None:
    assert fmt.goal_bar(0, 10, 8) == ("", "╺━━━━━━━")
    assert fmt.goal_bar(4, 10, 8) == ("━━━", "╺━━━━")  # 3.2 cells: to the nearest half, 3
    assert fmt.goal_bar(4, 10, 9) == ("━━━╸", "━━━━━")  # 3.6 cells: 3 and a half
    assert fmt.goal_bar(5, 10, 8) == ("━━━━", "╺━━━")
    assert fmt.goal_bar(10, 10, 8) == ("━━━━━━━━", "")
    assert fmt.goal_bar(25, 10, 8) == ("━━━━━━━━", "")  # past the goal: full
    assert fmt.goal_bar(3, 0, 8) == ("", "╺━━━━━━━") and fmt.goal_bar(3, 10, 0) == ("", "")
    for count in range(0, 12):
        done, rest = fmt.goal_bar(count, 11, 13)
        assert len(done) + len(rest) == 13
    assert [fmt.percent(c, g) for c, g in ((4, 10), (1, 500), (30, 10), (3, 0))] == [
        "40%",
        "0%",
        "100%",
        "0%",
    ]
