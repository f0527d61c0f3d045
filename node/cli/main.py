"""The `cercle` command line.

A thin shell: parse arguments, resolve the data directory, call one function
in the node, print the result. Each command group is a `register(subparsers)`
function listed in REGISTRARS that adds its parsers and sets `func` on them,
so later groups can live in their own modules and be added to the list.

Errors the user can fix (KeystoreError, OSError) become one line on stderr,
"cercle: error: ...", exit status 1; usage errors exit 2 (argparse's rule);
a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cercle.node import demo
from cercle.node.cli import commands as api_commands
from cercle.node.cli import launcher, run, verify
from cercle.node.files.datadir import DATA_DIR_ENV, DataDir
from cercle.node.files.keystore import (
    PASSWORD_ENV,
    create_identity,
    export_identity,
    import_identity,
    read_keystore,
)
from cercle.protocol.display import printable
from cercle.protocol.identity import KeystoreError, fingerprint

Subparsers = Any  # argparse._SubParsersAction is private; its type is not worth the import
Handler = Callable[[argparse.Namespace, DataDir], int]
Registrar = Callable[[Subparsers], None]

PROG = "cercle"


def _err(message: str) -> None:
    print(printable(f"{PROG}: error: {message}"), file=sys.stderr)


def _warn(message: str) -> None:
    print(printable(f"{PROG}: warning: {message}"), file=sys.stderr)


def _help_handler(parser: argparse.ArgumentParser) -> Handler:
    """For a command group run without a subcommand: show its help, usage status."""

    def handler(args: argparse.Namespace, datadir: DataDir) -> int:
        parser.print_help(sys.stderr)
        return 2

    return handler


# -- cercle id ------------------------------------------------------------------


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
        _warn("the private key is stored unencrypted: anyone who can read the file can act as you")
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
        _warn(f"{args.file} holds the private key unencrypted; keep it somewhere safe")
    return 0


def _id_import(args: argparse.Namespace, datadir: DataDir) -> int:
    datadir.ensure()
    ident = import_identity(args.file, datadir.identity, force=args.force)
    ks = read_keystore(datadir.identity)
    print("Imported identity.")
    _print_identity(ident.public_key, datadir.identity, ks.encrypted)
    return 0


def register_id(subparsers: Subparsers) -> None:
    pw = f"The password comes from {PASSWORD_ENV} if set, else it is asked for."
    p = subparsers.add_parser("id", help="your author identity (key pair)", description=pw)
    p.set_defaults(func=_help_handler(p))
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


# -- entry point ----------------------------------------------------------------

REGISTRARS: list[Registrar] = [
    register_id,
    api_commands.register,
    run.register,
    verify.register,
    launcher.register,
    demo.register,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Cercle: rate products and sign petitions, by proof."
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"where Cercle keeps its files (default: ${DATA_DIR_ENV} or the per-user data dir)",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in REGISTRARS:
        register(subparsers)
    return parser


def _describe_os_error(e: OSError) -> str:
    where = " ".join(str(f) for f in (e.filename, e.filename2) if f)
    what = e.strerror or str(e)
    if isinstance(e, PermissionError):
        return f"permission denied: {where}; check the owner and permissions of the file"
    return f"{where}: {what}; check the path and free disk space" if where else what


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2); argparse printed it
        return e.code if isinstance(e.code, int) else 2
    func: Handler | None = getattr(args, "func", None)
    if func is None:  # `cercle` alone: the TUI on the user's node, if there is a terminal
        if not launcher.interactive():
            parser.print_help(sys.stderr)
            return 2
        func = launcher.launch
    try:
        return func(args, DataDir.resolve(args.data_dir))
    except KeystoreError as e:
        _err(str(e))
    except OSError as e:
        _err(_describe_os_error(e))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    return 1
