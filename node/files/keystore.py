"""Keystore files on disk: create, load, export and import the author identity.

The format and the cryptography live in `cercle.protocol.identity` (pure);
this module adds what needs the OS: randomness, the password source, and
files written atomically with mode 0600 from the moment they exist (a crash
never leaves a half-written key, and the key is never briefly world-readable).

Password source, in order: an explicit argument, the CERCLE_PASSWORD
environment variable, an interactive prompt (asked twice on creation). Without
any of them we raise PasswordRequired rather than hang on a missing terminal.
"""

from __future__ import annotations

import getpass
import os
import secrets
import sys
from pathlib import Path

from cercle.node.files.atomic import PRIVATE, write_atomic
from cercle.protocol.identity import (
    DEFAULT_SCRYPT_N,
    MAX_KEYSTORE_SIZE,
    NONCE_LEN,
    SALT_LEN,
    SEED_LEN,
    Identity,
    Keystore,
    KeystoreError,
    PasswordRequired,
    ScryptParams,
    encrypt_keystore,
    open_keystore,
    parse_keystore,
    plain_keystore,
)

PASSWORD_ENV = "CERCLE_PASSWORD"
SCRYPT_N_ENV = "CERCLE_SCRYPT_N"  # lets tests use a cheap KDF; real use keeps the default


class IdentityExists(KeystoreError):
    """Refusing to overwrite a keystore without `force`."""


class IdentityNotFound(KeystoreError):
    """No keystore where one was expected."""


# -- password -------------------------------------------------------------------


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def get_password(explicit: str | None = None, *, confirm: bool = False) -> str:
    """The password from the argument, else CERCLE_PASSWORD, else a prompt."""
    if explicit is not None:
        return explicit
    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        return env
    if not _interactive():
        raise PasswordRequired(
            f"a password is needed but there is no terminal to ask for it; "
            f"set the {PASSWORD_ENV} environment variable"
        )
    password = getpass.getpass("Keystore password: ")
    if confirm and getpass.getpass("Repeat password: ") != password:
        raise KeystoreError("the two passwords do not match; run the command again")
    return password


def scrypt_n() -> int:
    """scrypt cost for new keystores: CERCLE_SCRYPT_N if set, else the default."""
    raw = os.environ.get(SCRYPT_N_ENV)
    if not raw:
        return DEFAULT_SCRYPT_N
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if problem := ScryptParams(n=n).check():
        raise KeystoreError(f"{SCRYPT_N_ENV}={raw!r} is not usable ({problem}); unset it")
    return n


# -- files ----------------------------------------------------------------------


def write_private_file(path: Path, data: bytes, *, force: bool = False) -> None:
    """Write ``data`` atomically, mode 0600; IdentityExists if ``path`` exists, unless forced."""
    _refuse_overwrite(path, force)
    write_atomic(path, data, mode=PRIVATE)


def _refuse_overwrite(path: Path, force: bool) -> None:
    if not force and path.exists():
        raise IdentityExists(
            f"{path} already exists; pass --force to replace it "
            "(the key in it is lost unless you exported it first)"
        )


def read_keystore_bytes(path: Path, *, installed: bool = True) -> bytes:
    """Read at most one byte past the size limit (a huge file is rejected, not slurped)."""
    try:
        with open(path, "rb") as f:
            return f.read(MAX_KEYSTORE_SIZE + 1)
    except FileNotFoundError:
        if not installed:
            raise KeystoreError(f"{path}: no such file; check the path") from None
        raise IdentityNotFound(
            f"no identity at {path}; create one with `cercle id new` "
            "or import one with `cercle id import FILE`"
        ) from None
    except IsADirectoryError:
        raise KeystoreError(f"{path} is a directory, not a keystore file") from None


def _with_path(path: Path, exc: KeystoreError) -> KeystoreError:
    """The same error class, its message prefixed with the file it is about."""
    new = type(exc)(f"{path}: {exc}")
    new.__cause__ = None
    return new


def read_keystore(path: Path) -> Keystore:
    """Parse a keystore file without decrypting it (no password needed)."""
    data = read_keystore_bytes(path)
    try:
        return parse_keystore(data)
    except KeystoreError as e:
        raise _with_path(path, e) from None


def _open(path: Path, ks: Keystore, password: str | None) -> Identity:
    if ks.encrypted:
        password = get_password(password)
    try:
        return Identity.from_seed(open_keystore(ks, password))
    except KeystoreError as e:
        raise _with_path(path, e) from None


# -- operations -----------------------------------------------------------------


def create_identity(
    path: Path,
    password: str | None = None,
    *,
    unencrypted: bool = False,
    force: bool = False,
    seed: bytes | None = None,
) -> Identity:
    """Generate (or take) a seed and write a new keystore at `path`."""
    _refuse_overwrite(path, force)  # before prompting for a password
    seed = secrets.token_bytes(SEED_LEN) if seed is None else seed
    if unencrypted:
        data = plain_keystore(seed)
    else:
        password = get_password(password, confirm=True)
        if not password:
            raise KeystoreError(
                "an empty password is refused; choose a password, or pass --unencrypted "
                "to store the key in the clear (anyone who can read the file can act as you)"
            )
        data = encrypt_keystore(
            seed,
            password,
            secrets.token_bytes(SALT_LEN),
            secrets.token_bytes(NONCE_LEN),
            n=scrypt_n(),
        )
    write_private_file(path, data, force=force)
    return Identity.from_seed(seed)


def load_identity(path: Path, password: str | None = None) -> Identity:
    """Open the keystore at `path`; the password is only sought if it is encrypted."""
    return _open(path, read_keystore(path), password)


def export_identity(path: Path, dest: Path, *, force: bool = False) -> Keystore:
    """Copy the keystore, as is (still encrypted), to `dest` with mode 0600."""
    data = read_keystore_bytes(path)
    try:
        ks = parse_keystore(data)
    except KeystoreError as e:
        raise _with_path(path, e) from None
    write_private_file(dest, data, force=force)
    return ks


def import_identity(
    src: Path, path: Path, password: str | None = None, *, force: bool = False
) -> Identity:
    """Install the keystore `src` at `path` after checking that it opens."""
    data = read_keystore_bytes(src, installed=False)
    try:
        ks = parse_keystore(data)
    except KeystoreError as e:
        raise _with_path(src, e) from None
    _refuse_overwrite(path, force)  # before prompting for a password
    identity = _open(src, ks, password)
    write_private_file(path, data, force=force)
    return identity
