"""The forms of the TUI, built on :class:`FormScreen`: one factory per record it makes.

Each factory wires a pure validator from :mod:`cercle.tui.forms` to the API
call(s) that publish the record, so screens only push the form and react to
its result.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from cercle.tui import forms
from cercle.tui.link import NodeLink
from cercle.tui.widgets.form import Field, FormScreen


def rating_form(
    link: NodeLink,
    community: str,
    criteria: Sequence[str],
    *,
    gtin: str = "",
    current: Sequence[int] | None = None,
    text: str = "",
    ask_name: bool = True,
) -> FormScreen:
    """Rate (or re-rate) a product; a name, when given, also describes the product."""
    fields = [Field("gtin", "Barcode (GTIN/EAN)", gtin, "e.g. 4006381333931", api_names=("gtin",))]
    if ask_name:
        fields.append(Field("name", "Product name (to describe a new product; optional)"))
    for i, crit in enumerate(criteria):
        value = str(current[i]) if current and i < len(current) else ""
        fields.append(Field(f"score-{i}", f"{crit} (1-5)", value, "1 to 5"))
    fields.append(Field("text", "Comment (optional)", text, api_names=("text",)))

    def validate(v: dict[str, Any]) -> forms.Checked:
        scores = {crit: v[f"score-{i}"] for i, crit in enumerate(criteria)}
        return forms.check_rating(
            v["gtin"], scores, v["text"], criteria, product_name=v.get("name", "")
        )

    async def submit(p: dict[str, Any]) -> Any:
        if p.get("name"):
            await link.call("products.put", community=community, gtin=p["gtin"], name=p["name"])
        return await link.call(
            "ratings.put", community=community, gtin=p["gtin"], scores=p["scores"], text=p["text"]
        )

    title = "Re-rate this product" if current else "Rate a product"
    return FormScreen(title, fields, validate, submit, submit_label="Rate")


def petition_form(link: NodeLink, community: str, *, now_ms: int) -> FormScreen:
    default_day = _dt.datetime.fromtimestamp(now_ms / 1000, _dt.UTC).date()
    default_deadline = (default_day + _dt.timedelta(days=30)).isoformat()
    fields = [
        Field("title", "Title", api_names=("title",)),
        Field("text", "Text", api_names=("text",)),
        Field("target", "Addressed to (optional)", placeholder="e.g. the makers of …"),
        Field("goal", "Signature goal", "100", api_names=("goal",)),
        Field("deadline", "Deadline (YYYY-MM-DD)", default_deadline, api_names=("deadline_ms",)),
    ]

    def validate(v: dict[str, Any]) -> forms.Checked:
        return forms.check_petition(
            v["title"], v["text"], v["target"], v["goal"], v["deadline"], now_ms=now_ms
        )

    async def submit(p: dict[str, Any]) -> Any:
        return await link.call("petitions.create", community=community, **p)

    return FormScreen("Start a petition", fields, validate, submit, submit_label="Publish")


def vouch_form(link: NodeLink, *, subject: str = "", community: str = "") -> FormScreen:
    fields = [
        Field("subject", "Their public key (64 hex characters)", subject, api_names=("subject",)),
        Field("trust", "Trust them (off: distrust)", True, kind="switch"),
        Field("community", "Only within community (id, optional)", community),
    ]

    def validate(v: dict[str, Any]) -> forms.Checked:
        return forms.check_vouch(v["subject"], v["trust"], v["community"])

    async def submit(p: dict[str, Any]) -> Any:
        return await link.call("vouch", **p)

    return FormScreen("Vouch for someone", fields, validate, submit, submit_label="Vouch")


def profile_form(link: NodeLink, *, display_name: str = "", about: str = "") -> FormScreen:
    fields = [
        Field("display_name", "Display name", display_name),
        Field("about", "About you", about),
    ]

    def validate(v: dict[str, Any]) -> forms.Checked:
        return forms.check_profile(v["display_name"], v["about"])

    async def submit(p: dict[str, Any]) -> Any:
        return await link.call("profile.set", **p)

    return FormScreen("Edit your profile", fields, validate, submit)
