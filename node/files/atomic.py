"""Files written whole or not at all.

A crash (or a second writer) must never leave half a keystore, half a host key or
half a bundle where a reader looks, and a private file must never exist, even for
an instant, with a mode that lets others read it. So every file a node writes goes
through :func:`write_atomic`: a temporary file beside the target, created with its
final mode, written, fsynced, then renamed into place (or hard-linked, when an
existing file must not be replaced), and the directory fsynced so that the rename
itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

PRIVATE = 0o600  # keys: only the owner
PUBLIC = 0o644  # bundles: public by design


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, mode: int, replace: bool = True
) -> None:
    """Write ``data`` to ``path`` atomically, with file mode ``mode``.

    With ``replace=False`` an existing ``path`` is left alone and
    :class:`FileExistsError` is raised (checked atomically, by hard-linking).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # os.open's mode is filtered by the umask
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails with FileExistsError, never replaces
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable, where the OS allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
