"""One petition: its text, progress toward the goal, signers (trusted first), sign, export."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import WorkType

from cercle.protocol.localapi import BAD_PARAMS, LIMIT_MAX, UNKNOWN_METHOD, ApiError
from cercle.tui import format as fmt
from cercle.tui import forms
from cercle.tui.messages import RecordArrived
from cercle.tui.screens.base import BaseScreen
from cercle.tui.widgets.form import Field, FieldError, FormScreen
from cercle.tui.widgets.goalbar import GoalBar
from cercle.tui.widgets.table import FastTable

EXPORT_UNSUPPORTED = (
    "This node cannot export petitions (it lacks the petitions.export method): "
    "update Cercle on the node and try again."
)


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it: no half-written bundle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class PetitionScreen(BaseScreen):
    """Text, target, goal, deadline, a progress bar, the signers; s signs, e exports."""

    DEFAULT_CSS = """
    PetitionScreen #petition-header, PetitionScreen #petition-text {
        height: auto;
        padding: 0 1;
    }
    PetitionScreen GoalBar {
        margin: 0 1;
    }
    PetitionScreen #petition-counts {
        padding: 0 1;
        border-bottom: solid $primary;
    }
    PetitionScreen DataTable {
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sign", "Sign"),
        Binding("e", "export", "Export"),
        Binding("m", "more", "More"),
    ]
    PAGE: ClassVar[int] = 50

    def __init__(self, petition_id: str) -> None:
        super().__init__()
        self.petition_id = petition_id
        self.petition: dict[str, Any] = {}
        self.signers: list[dict[str, Any]] = []
        self.cursor: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(id="petition-header", markup=False)
        yield Static(id="petition-text", markup=False)
        yield GoalBar(id="petition-progress")
        yield Static(id="petition-counts", markup=False)
        table: DataTable[str] = FastTable(id="signers", cursor_type="row")
        table.add_columns("Signer", "Trust", "When")
        yield table

    async def fetch(self) -> None:
        pid, call = self.petition_id, self.link.call
        limit = min(LIMIT_MAX, max(self.PAGE, len(self.signers)))
        # The node's answers are JSON objects (declared: mypy cannot type
        # names unpacked beside an attribute).
        page: dict[str, Any]
        self.petition, page = await asyncio.gather(
            call("petitions.get", id=pid),
            call("petitions.signatures", id=pid, limit=limit, unvetted=self.unvetted),
        )
        self.signers = list(page.get("items") or [])
        self.cursor = page.get("cursor")

    async def load_more(self) -> None:
        if self.cursor is None:
            return
        got = await self.next_page(
            "petitions.signatures",
            self.signers,
            "id",
            self.cursor,
            id=self.petition_id,
            limit=self.PAGE,
            unvetted=self.unvetted,
        )
        if got is not None:
            new, self.cursor = got
            self.signers += new
            self.render_signers()

    def render_all(self) -> None:
        p = self.petition
        now = self.now_ms()
        self.sub_title = p.get("title", "")
        sigs = p.get("signatures") or {}
        count, goal = int(sigs.get("all") or 0), int(p.get("goal") or 0)
        signed = "✓ you signed" if p.get("signed") else "s to sign"
        header: list[Content | str] = [
            Content.styled(p.get("title", ""), "bold"),
            f"To: {p.get('target') or fmt.DASH} · goal {goal} · "
            f"{fmt.deadline(int(p.get('deadline_ms') or 0), now)} · {signed}",
            f"Started by {fmt.who(p)}",
        ]
        self.query_one("#petition-header", Static).update(Content("\n").join(header))
        self.query_one("#petition-text", Static).update(p.get("text", ""))
        self.query_one("#petition-progress", GoalBar).update(count, goal)
        reason = sigs.get("reason") or ""
        counts = f"{fmt.progress(count, goal)} · {sigs.get('trusted', 0)} trusted"
        self.query_one("#petition-counts", Static).update(
            f"{counts}\n{reason}" if reason else counts
        )
        self.render_signers()

    def render_signers(self) -> None:
        table = self.query_one("#signers", DataTable)
        table.clear()
        now = self.now_ms()
        ordered = sorted(self.signers, key=lambda s: not s.get("trusted"))  # stable: trusted first
        for s in ordered:
            trust = f"✓ trusted ({fmt.distance(s.get('distance'))})" if s.get("trusted") else ""
            table.add_row(
                fmt.who(s), trust, fmt.relative_time(s.get("created_ms"), now), key=s["id"]
            )

    def wants(self, message: Message) -> bool:
        if not isinstance(message, RecordArrived):
            return False
        if message.data is None:
            return True
        body = message.data.get("body") or {}
        return (
            message.data.get("id") == self.petition_id
            or body.get("petition") == (self.petition_id)
            or message.data.get("kind") in ("vouch", "retract")
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= len(self.signers) - 1 and self.cursor is not None:
            # Declared: from a bare async method Textual's typing infers Never (textual#6386).
            work: WorkType[None] = self.load_more
            self.run_worker(work, group="more", exclusive=True)

    async def action_more(self) -> None:
        await self.load_more()

    async def action_sign(self) -> None:
        if self.petition.get("signed"):
            self.notify("You already signed this petition.")
            return
        if await self.call("petitions.sign", id=self.petition_id) is not None:
            self.notify("Signed")
            self.reload()

    def action_export(self) -> None:
        default = str(Path.cwd() / f"petition-{self.petition_id[:12]}.cercle-bundle")
        fields = [Field("path", "Write the bundle to", default)]

        def validate(v: dict[str, Any]) -> forms.Checked:
            return forms.check_export_path(v["path"])

        async def submit(p: dict[str, Any]) -> Any:
            return await self.export_to(Path(p["path"]).expanduser().absolute())

        def done(result: Any) -> None:
            if isinstance(result, dict) and "path" in result:
                self.notify(
                    f"Wrote {result['signatures']} signatures to {result['path']} "
                    f"(root {fmt.short_key(result.get('root'), 16)}); "
                    "anyone can check it with `cercle verify`.",
                    title="Exported",
                    timeout=10,
                )

        form = FormScreen("Export a self-verifying bundle", fields, validate, submit)
        self.app.push_screen(form, done)

    async def export_to(self, path: Path) -> dict[str, Any]:
        """Ask the node for the bundle and write it; an old node gets a clear notification."""
        try:
            result = await self.link.call("petitions.export", id=self.petition_id)
        except ApiError as e:
            if e.code == UNKNOWN_METHOD:
                self.notify(EXPORT_UNSUPPORTED, title="Cannot export", severity="error")
                return {"unsupported": True}
            if e.code != BAD_PARAMS:
                raise
            # Too large to travel as hex: the node writes the file itself.
            result = await self.link.call(
                "petitions.export", id=self.petition_id, path=str(path), overwrite=True
            )
            return {**result, "path": str(path)}
        try:
            write_file_atomically(path, bytes.fromhex(result["bundle"]))
        except (OSError, ValueError, KeyError) as e:
            raise FieldError("path", f"could not write the bundle: {e}") from None
        return {**result, "path": str(path)}
