"""`cercle verify FILE`: check a petition bundle offline, and write bundles safely.

Why a separate command that needs no node, no data directory and no network:
the people a petition is sent to (a company, an official, a journalist) do not
run Cercle nodes.  Everything they need is in the bundle; this command only
reads the file and prints :func:`cercle.protocol.bundle.verify_bundle`'s
report.  Exit status 0 means every signature checked out and the counts and
Merkle root are right, 1 means a defect (or an unreadable file), 2 a usage error.

:func:`write_bundle_file` is the other half, for ``cercle petition export``:
bundles are written to a temporary file beside the target and renamed into
place, so a reader never sees half a bundle, with mode 0644 since a bundle is
public by design.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from cercle.node.datadir import DataDir
from cercle.protocol.bundle import MAX_BUNDLE_BYTES, verify_bundle
from cercle.protocol.display import printable

Subparsers = Any

BUNDLE_MODE = 0o644


def _err(message: str) -> None:
    print(printable(f"cercle: error: {message}"), file=sys.stderr)


def read_bundle_file(path: Path) -> bytes:
    """The file's bytes, at most one past the size limit (the verifier reports oversize)."""
    with open(path, "rb") as f:
        return f.read(MAX_BUNDLE_BYTES + 1)


def write_bundle_file(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False
) -> None:
    """Write ``data`` to ``path`` atomically, mode 0644.

    Without ``overwrite``, an existing ``path`` is left alone and
    :class:`FileExistsError` is raised (checked atomically, by hard-linking).
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), BUNDLE_MODE)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails with FileExistsError, never replaces
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows it
        dfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _verify(args: argparse.Namespace, datadir: DataDir) -> int:
    try:
        data = read_bundle_file(args.file)
    except OSError as e:
        _err(f"cannot read {args.file}: {e.strerror or e}")
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
