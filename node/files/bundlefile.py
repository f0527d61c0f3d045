"""Petition bundles on disk: read for ``cercle verify``, written for ``petition export``.

A bundle is written whole (``atomic.write_atomic``), so a reader never sees half of
one, with mode 0644 since a bundle is public by design; it is read at most one byte
past the size limit, so a huge file is reported as oversize instead of slurped.
"""

from __future__ import annotations

import os
from pathlib import Path

from cercle.node.files.atomic import PUBLIC, write_atomic
from cercle.protocol.bundle import MAX_BUNDLE_BYTES


def read_bundle_file(path: Path) -> bytes:
    """The file's bytes, at most one past the size limit (the verifier reports oversize)."""
    with open(path, "rb") as f:
        return f.read(MAX_BUNDLE_BYTES + 1)


def write_bundle_file(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False
) -> None:
    """Write ``data`` to ``path`` atomically, mode 0644.

    Without ``overwrite``, an existing ``path`` is left alone and
    :class:`FileExistsError` is raised.
    """
    write_atomic(path, data, mode=PUBLIC, replace=overwrite)
