"""What the CLI prints: one line per error, aligned fields and tables, JSON.

Every line meant for a terminal passes through :func:`printable`, because records
are strangers' text and may hold terminal control sequences (``protocol/display``).
Errors are one line on stderr, ``cercle: error: …``, and a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cercle.protocol.display import printable

PROG = "cercle"


def err(message: str) -> None:
    print(printable(f"{PROG}: error: {message}"), file=sys.stderr)


def warn(message: str) -> None:
    print(printable(f"{PROG}: warning: {message}"), file=sys.stderr)


def out(text: str) -> None:
    """Print a line for a person."""
    print(printable(text))


def help_handler(parser: argparse.ArgumentParser) -> Callable[..., int]:
    """For a command group run without a subcommand: its help on stderr, usage status."""

    def handler(*args: Any) -> int:
        parser.print_help(sys.stderr)
        return 2

    return handler


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def print_json(result: Any) -> None:
    text = json.dumps(result, indent=2, ensure_ascii=False, default=_json_default)
    # JSON escapes C0 controls itself; C1 and bidi controls only matter on a terminal.
    print(printable(text) if sys.stdout.isatty() else text)


def show(value: Any) -> str:
    """A value as a table cell or a field."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(show(v) for v in value) if value else "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={show(v)}" for k, v in value.items())
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def print_fields(result: Any, keys: Sequence[str] | None = None) -> None:
    """A map as aligned "key  value" lines (the given keys first, then the rest)."""
    if not isinstance(result, dict):
        out(show(result))
        return
    order = [k for k in (keys or ()) if k in result] + [k for k in result if k not in (keys or ())]
    width = max((len(k) for k in order), default=0)
    for k in order:
        out(f"{k.ljust(width)}  {show(result[k])}")


def print_table(rows: Sequence[Any], columns: Sequence[str], empty: str) -> None:
    """Rows (maps) as a table of the given columns; ``empty`` if there are none."""
    if not rows:
        out(empty)
        return
    cells = [[show(r.get(c)) if isinstance(r, dict) else "" for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    out("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        out("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def items(result: Any) -> list[Any]:
    """The items of a list answer (``{"items": [...]}``), [] if there are none."""
    found = result.get("items") if isinstance(result, dict) else result
    return found if isinstance(found, list) else []
