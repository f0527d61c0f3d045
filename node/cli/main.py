"""The `cercle` command line: the parser and the entry point.

A thin shell: parse arguments, resolve the data directory, call one function,
print the result. Each command group is a `register(subparsers)` function in its
own module, listed in REGISTRARS, that adds its parsers and sets `func` on them:
`identity` (`cercle id`), `commands` (everything that talks to a running node),
`run` (`cercle node`, `cercle relay`), `verify`, `launcher` (`cercle` alone,
`cercle tui`) and the demo. What they print goes through `output`, what people
type through `parse`.

Errors the user can fix (KeystoreError, OSError) become one line on stderr,
"cercle: error: ...", exit status 1; usage errors exit 2 (argparse's rule);
a traceback means a bug.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cercle.node import demo
from cercle.node.cli import commands, identity, launcher, run, verify
from cercle.node.cli.output import PROG, err
from cercle.node.files.datadir import DATA_DIR_ENV, DataDir
from cercle.protocol.identity import KeystoreError

Subparsers = Any  # argparse._SubParsersAction is private; its type is not worth the import
Handler = Callable[[argparse.Namespace, DataDir], int]
Registrar = Callable[[Subparsers], None]

REGISTRARS: list[Registrar] = [
    identity.register,
    commands.register,
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
        err(str(e))
    except OSError as e:
        err(_describe_os_error(e))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    return 1
