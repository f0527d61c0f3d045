"""The node's libp2p host key: ``<data dir>/node.key``.

Separate from the author key (a relay has no author, one author may run several
nodes). The file holds the libp2p protobuf encoding of the Ed25519 private key
(``PrivateKey.serialize()``), as go- and js-libp2p write it, mode 0600.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair, KeyType
from libp2p.crypto.serialization import deserialize_private_key

from cercle.node.files.atomic import PRIVATE, write_atomic

log = logging.getLogger(__name__)


def load_or_create_host_key(path: str | os.PathLike[str]) -> KeyPair:
    """Load the Ed25519 libp2p host key at ``path``, creating it (mode 0600) if absent.

    A file readable by others is tightened to 0600 with a warning.
    """
    p = Path(path)
    try:
        blob = p.read_bytes()
    except FileNotFoundError:
        pair = create_new_key_pair()
        p.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(p, pair.private_key.serialize(), mode=PRIVATE)
        return pair
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        log.warning("host key %s had mode %o; setting it to 0600", p, mode)
        os.chmod(p, PRIVATE)
    try:
        private = deserialize_private_key(blob)
    except Exception as exc:
        raise ValueError(
            f"{p} is not a libp2p private key; move it away to make a new one"
        ) from exc
    if private.get_type() != KeyType.Ed25519:
        raise ValueError(f"{p} holds a {private.get_type().name} key; Cercle uses Ed25519")
    return KeyPair(private, private.get_public_key())
