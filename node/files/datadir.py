"""The node's data directory: where every file the node owns lives.

One place for all paths so the CLI, the node and the tests agree on them. The
default is per-user (platformdirs); `--data-dir` or CERCLE_DATA_DIR override
it, which is how tests and several nodes on one machine stay apart. The
directory is created 0700: it holds the keystore and the API socket, and only
its owner may act as the author.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "CERCLE_DATA_DIR"


@dataclass(frozen=True, slots=True)
class DataDir:
    root: Path

    @classmethod
    def resolve(
        cls, override: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
    ) -> DataDir:
        """The flag if given, else CERCLE_DATA_DIR, else the platform's per-user data dir."""
        env = os.environ if env is None else env
        chosen = override or env.get(DATA_DIR_ENV) or platformdirs.user_data_dir("cercle")
        return cls(Path(chosen).expanduser().absolute())

    def ensure(self) -> DataDir:
        """Create the directory (mode 0700) if missing; parents get the default mode."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.root.mkdir(mode=0o700)
        except FileExistsError:
            if not self.root.is_dir():
                raise NotADirectoryError(20, "not a directory", str(self.root)) from None
        else:
            os.chmod(self.root, 0o700)  # mkdir's mode is filtered by the umask
        return self

    @property
    def identity(self) -> Path:
        """The author's keystore."""
        return self.root / "identity.json"

    @property
    def node_key(self) -> Path:
        """The libp2p host key (separate from the author key)."""
        return self.root / "node.key"

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def db(self) -> Path:
        """The LMDB environment directory."""
        return self.root / "db"

    @property
    def socket(self) -> Path:
        """The local API's Unix socket."""
        return self.root / "api.sock"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def peers(self) -> Path:
        return self.root / "peers.json"
