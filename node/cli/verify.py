"""`cercle verify FILE`: check a petition bundle offline.

Why a separate command that needs no node, no data directory and no network:
the people a petition is sent to (a company, an official, a journalist) do not
run Cercle nodes.  Everything they need is in the bundle; this command only
reads the file and prints :func:`cercle.protocol.bundle.verify_bundle`'s
report.  Exit status 0 means every signature checked out and the counts and
Merkle root are right, 1 means a defect (or an unreadable file), 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cercle.node.cli.output import err
from cercle.node.files.bundlefile import read_bundle_file
from cercle.node.files.datadir import DataDir
from cercle.protocol.bundle import verify_bundle
from cercle.protocol.display import printable

Subparsers = Any


def _verify(args: argparse.Namespace, datadir: DataDir) -> int:
    try:
        data = read_bundle_file(args.file)
    except OSError as e:
        err(f"cannot read {args.file}: {e.strerror or e}")
        return 1
    report = verify_bundle(data, require_charter=not args.allow_no_charter)
    if args.json:
        print(json.dumps({"file": str(args.file), **report.to_json()}, indent=2))
    else:
        print(printable(report.summary()))  # the title is a stranger's text
    return 0 if report.ok else 1


def register(subparsers: Subparsers) -> None:
    help = "check a petition bundle offline (signatures, counts, Merkle root)"
    p = subparsers.add_parser(
        "verify",
        help=help,
        description=help + ". Exit status 0: valid; 1: defects found or file unreadable.",
    )
    p.add_argument("file", type=Path, metavar="FILE", help="a bundle from `cercle petition export`")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument(
        "--allow-no-charter",
        action="store_true",
        help="accept a bundle without its community charter (its name and rules go unchecked)",
    )
    p.set_defaults(func=_verify)
