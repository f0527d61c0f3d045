"""``cercle id``: the author's key pair, kept in an encrypted keystore.

These commands work on the keystore file itself (``files/keystore.py``), with no
node running: the identity exists before the node that uses it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cercle.node.cli.output import help_handler, warn
from cercle.node.files.datadir import DataDir
from cercle.node.files.keystore import (
    PASSWORD_ENV,
    create_identity,
    export_identity,
    import_identity,
    read_keystore,
)
from cercle.protocol.identity import fingerprint

Subparsers = Any


def _print_identity(public_key: bytes, where: Path, encrypted: bool) -> None:
    print(f"public key   {public_key.hex()}")
    print(f"fingerprint  {fingerprint(public_key)}")
    print(f"keystore     {where} ({'encrypted' if encrypted else 'NOT encrypted'})")


def _id_new(args: argparse.Namespace, datadir: DataDir) -> int:
    datadir.ensure()
    ident = create_identity(datadir.identity, unencrypted=args.unencrypted, force=args.force)
    print("Created a new identity.")
    _print_identity(ident.public_key, datadir.identity, not args.unencrypted)
    if args.unencrypted:
        warn("the private key is stored unencrypted: anyone who can read the file can act as you")
    print("Back it up with `cercle id export FILE`: without it (and its password) it is lost.")
    return 0


def _id_show(args: argparse.Namespace, datadir: DataDir) -> int:
    ks = read_keystore(datadir.identity)
    if args.json:
        out = {
            "public_key": ks.public_key.hex(),
            "fingerprint": fingerprint(ks.public_key),
            "encrypted": ks.encrypted,
            "keystore": str(datadir.identity),
        }
        print(json.dumps(out, indent=2))
    else:
        _print_identity(ks.public_key, datadir.identity, ks.encrypted)
    return 0


def _id_export(args: argparse.Namespace, datadir: DataDir) -> int:
    ks = export_identity(datadir.identity, args.file, force=args.force)
    print(f"Exported identity {fingerprint(ks.public_key)} to {args.file}.")
    if not ks.encrypted:
        warn(f"{args.file} holds the private key unencrypted; keep it somewhere safe")
    return 0


def _id_import(args: argparse.Namespace, datadir: DataDir) -> int:
    datadir.ensure()
    ident = import_identity(args.file, datadir.identity, force=args.force)
    ks = read_keystore(datadir.identity)
    print("Imported identity.")
    _print_identity(ident.public_key, datadir.identity, ks.encrypted)
    return 0


def register(subparsers: Subparsers) -> None:
    pw = f"The password comes from {PASSWORD_ENV} if set, else it is asked for."
    p = subparsers.add_parser("id", help="your author identity (key pair)", description=pw)
    p.set_defaults(func=help_handler(p))
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    q = sub.add_parser("new", help="create a new identity", description=pw)
    q.add_argument(
        "--unencrypted", action="store_true", help="store the private key without a password"
    )
    q.add_argument("--force", action="store_true", help="replace an existing identity")
    q.set_defaults(func=_id_new)

    q = sub.add_parser("show", help="show the public key and fingerprint (no password needed)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=_id_show)

    q = sub.add_parser("export", help="copy the keystore (still encrypted) to FILE")
    q.add_argument("file", type=Path, metavar="FILE")
    q.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    q.set_defaults(func=_id_export)

    q = sub.add_parser("import", help="install the keystore FILE as your identity", description=pw)
    q.add_argument("file", type=Path, metavar="FILE")
    q.add_argument("--force", action="store_true", help="replace an existing identity")
    q.set_defaults(func=_id_import)
