"""Remembered peers: ``<data dir>/peers.json``, dialled again at the next start.

A node that has met peers should not need its bootstrap list to find them again
after a restart. The file is small JSON (``{"addrs": [multiaddr, ...]}``, at most
:data:`MAX_REMEMBERED`), written whole; a missing or damaged file is read as empty,
because it is only a cache of what the network will tell us again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from cercle.node.files.atomic import PRIVATE, write_atomic

MAX_REMEMBERED = 500


def read_peers(path: Path) -> list[str]:
    """The remembered addresses, [] if the file is missing or not what we wrote."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        addrs = data.get("addrs", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [a for a in addrs if isinstance(a, str)] if isinstance(addrs, list) else []


def kept(addrs: Iterable[str]) -> list[str]:
    """What the file keeps of these addresses: sorted, at most :data:`MAX_REMEMBERED`."""
    return sorted(set(addrs))[:MAX_REMEMBERED]


def write_peers(path: Path, addrs: Iterable[str]) -> None:
    """Replace the file with :func:`kept` of these addresses."""
    write_atomic(path, json.dumps({"addrs": kept(addrs)}).encode(), mode=PRIVATE)
