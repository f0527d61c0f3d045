"""``cercle`` with no command, and ``cercle tui``: open the terminal UI on a node.

``cercle`` alone is the everyday entry point. It opens the TUI on the user's
node (the default data directory, or ``--data-dir``), starting the node in the
background first if nothing answers on its API socket. On the very first run
(no identity yet) it walks the user through creating one in the terminal, and
once the node is up it publishes the chosen display name (``profile.set``).

The background node is ``python -m cercle.node.cli --data-dir D node``, started
by :mod:`cercle.node.cli.supervisor` in its own session, its output appended to
``D/logs/console.log``; it keeps running after the TUI closes (stop it with
``kill``, or run ``cercle node`` in a terminal instead). If its keystore is
encrypted, the password reaches it only through the CERCLE_PASSWORD variable of
its environment, never its command line.

``cercle tui`` only attaches: it starts nothing and fails clearly when no node
runs for that data directory.
"""

from __future__ import annotations

import argparse
import getpass
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cercle.node.api.client import ApiClient
from cercle.node.cli.output import err
from cercle.node.cli.supervisor import (
    PROBE_TIMEOUT_S,
    START_TIMEOUT_S,
    Child,
    ChildError,
    console_log,
    node_argv,
    probe,
    spawn,
    wait_ready,
)
from cercle.node.files.datadir import DataDir
from cercle.node.files.keystore import PASSWORD_ENV, create_identity, load_identity, read_keystore
from cercle.protocol.identity import KeystoreError, fingerprint
from cercle.protocol.localapi import ApiError

PASSWORD_TRIES = 3


class LaunchError(Exception):
    """The launcher cannot go on; the message says why and what to do."""


def interactive() -> bool:
    """Whether a person is at a terminal (the first-run dialogue and the TUI need one)."""
    return all(f is not None and f.isatty() for f in (sys.stdin, sys.stdout))


# -- the node -------------------------------------------------------------------


NODE = "the node"  # what errors call it


def node_answers(socket_path: Path, timeout: float = PROBE_TIMEOUT_S) -> bool:
    return probe(socket_path, timeout) is not None


def start_background_node(datadir: DataDir, password: str | None) -> subprocess.Popen[bytes]:
    """Spawn the node detached from this terminal; the password goes in its environment.

    It outlives this process (no ``die_with_parent``): closing the TUI leaves it running.
    """
    return spawn(NODE, datadir, node_argv(datadir, ["node"]), password=password).proc


def wait_for_node(
    datadir: DataDir, proc: subprocess.Popen[bytes], timeout: float = START_TIMEOUT_S
) -> None:
    """Wait until the API answers ``status``; raise LaunchError pointing at the log."""
    try:
        wait_ready([Child(NODE, datadir, proc)], timeout)
    except ChildError as exc:
        raise LaunchError(str(exc)) from None


# -- first run ------------------------------------------------------------------

WELCOME = """\
Welcome to Cercle.

Cercle needs an identity for you: a key pair kept in
  {path}
Everything you publish (ratings, petitions, signatures, vouches) is signed with
its private key, so others can check that it really comes from you, and nobody
can publish in your name without it. Others see your public key and the display
name you choose now; no e-mail address or account is involved.
"""


def _ask(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        raise LaunchError("no answer on the terminal; run `cercle` interactively") from None


def _ask_password(prompt: str) -> str:
    try:
        return getpass.getpass(prompt)
    except EOFError:
        raise LaunchError("no answer on the terminal; run `cercle` interactively") from None


def _choose_password(path: Path) -> str | None:
    """A password typed twice, or None if the user explicitly wants no encryption."""
    print(
        "\nProtect the private key with a password (recommended): you will type it each time\n"
        "your node starts. Leave it empty to choose to store the key unencrypted instead."
    )
    for _ in range(PASSWORD_TRIES):
        first = _ask_password("Password: ")
        if not first:
            answer = _ask(
                f"Store the key UNENCRYPTED? Anyone who can read {path} could act as you. [y/N] "
            )
            if answer.strip().lower() in ("y", "yes"):
                return None
            continue
        if _ask_password("Repeat password: ") == first:
            return first
        print("The two passwords differ; try again.")
    raise LaunchError("no password chosen; run `cercle` again")


def first_run(datadir: DataDir) -> tuple[str, str | None]:
    """Create the identity interactively; return (display name, password or None)."""
    print(WELCOME.format(path=datadir.identity))
    name = ""
    while not name:
        name = _ask("Display name (up to 64 characters): ").strip()[:64]
    env_password = os.environ.get(PASSWORD_ENV)
    if env_password:
        print(f"Using the password from {PASSWORD_ENV}.")
        password: str | None = env_password
    else:
        password = _choose_password(datadir.identity)
    datadir.ensure()
    ident = create_identity(datadir.identity, password, unencrypted=password is None)
    print(f"\nCreated your identity; its fingerprint is {fingerprint(ident.public_key)}.")
    print("Back it up with `cercle id export FILE`: without it (and its password) it is lost.\n")
    return name, password


def _unlock(datadir: DataDir) -> str | None:
    """The password the background node needs (checked here, so a typo fails fast)."""
    if not read_keystore(datadir.identity).encrypted:
        return None
    env_password = os.environ.get(PASSWORD_ENV)
    if env_password is not None:
        load_identity(datadir.identity, env_password)
        return env_password
    for attempt in range(PASSWORD_TRIES):
        password = _ask_password("Password of your Cercle identity: ")
        try:
            load_identity(datadir.identity, password)
            return password
        except KeystoreError as exc:
            if attempt == PASSWORD_TRIES - 1:
                raise
            print(f"{exc}; try again.")
    return None  # not reached


# -- the TUI --------------------------------------------------------------------


def open_tui(
    socket_path: Path,
    title: str | None = None,
    *,
    otherwise: str = "your node is running: use the command line, e.g. `cercle status`",
) -> int:
    """Run the TUI on the node at ``socket_path``; its exit status.

    The import is deferred: Textual is the heaviest dependency, only this path needs
    it, and an installation without it still has every other command (``otherwise``
    says what to do instead).
    """
    try:
        from cercle.tui.app import run_tui
    except ImportError:
        err(
            "the terminal UI is not available in this installation (cercle.tui.app is missing); "
            + otherwise
        )
        return 1
    return int(run_tui(socket_path, title=title))


def launch(args: argparse.Namespace, datadir: DataDir) -> int:
    """``cercle`` with no command."""
    try:
        profile: str | None = None
        password: str | None = None
        if not datadir.identity.exists():
            if node_answers(datadir.socket):
                raise LaunchError(
                    f"a node runs for {datadir.root} but it has no identity file; "
                    "stop it and run `cercle` again"
                )
            profile, password = first_run(datadir)
        if not node_answers(datadir.socket):
            if profile is None:
                password = _unlock(datadir)
            proc = start_background_node(datadir, password)
            print(
                f"Starting your node in the background (pid {proc.pid}); "
                f"its log is {console_log(datadir)}",
                flush=True,
            )
            wait_for_node(datadir, proc)
        if profile is not None:
            with ApiClient(datadir.socket) as client:
                client.call("profile.set", display_name=profile)
    except LaunchError as exc:
        err(str(exc))
        return 1
    except ApiError as exc:
        err(f"the node refused: {exc}")
        return 1
    return open_tui(datadir.socket)


def attach(args: argparse.Namespace, datadir: DataDir) -> int:
    """``cercle tui``: attach to a running node, start nothing."""
    if not node_answers(datadir.socket):
        err(
            f"no Cercle node is running for data directory {datadir.root}; start one with "
            "`cercle node` (or run `cercle` alone to start it in the background)"
        )
        return 1
    return open_tui(datadir.socket)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "tui",
        help="open the terminal UI on a running node (starts nothing)",
        description="Attach the terminal UI to the node of a data directory. "
        "Run `cercle` alone to also start the node (and create an identity) if needed.",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the node's data directory (same as the global option)",
    )
    p.set_defaults(func=attach)
