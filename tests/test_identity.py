"""Identity, keystore format, keystore files, data directory and `cercle id`."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cercle.node.cli.main import main
from cercle.node.files import keystore as node_keystore
from cercle.node.files.datadir import DataDir
from cercle.node.files.keystore import (
    IdentityExists,
    IdentityNotFound,
    create_identity,
    export_identity,
    import_identity,
    load_identity,
    read_keystore,
)
from cercle.protocol.identity import (
    MAX_KEYSTORE_SIZE,
    CorruptKeystore,
    Identity,
    KeyFormatError,
    KeystoreError,
    PasswordRequired,
    WrongPassword,
    decrypt_keystore,
    encrypt_keystore,
    fingerprint,
    parse_keystore,
    parse_public_key,
    plain_keystore,
    public_key_from_seed,
    verify,
)

N = 2**10  # cheap scrypt for tests
SEED = bytes(range(32))
SEED_PUBLIC_HEX = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
SEED_FINGERPRINT = "VMQY-JOBX-I5TO-LG2Z"
SALT = bytes(16)
NONCE = bytes(12)


def _ks(seed: bytes = SEED, password: str = "pw", **kw: int) -> bytes:
    return encrypt_keystore(seed, password, SALT, NONCE, n=N, **kw)


ENCRYPTED = _ks()
PLAIN = plain_keystore(SEED)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERCLE_SCRYPT_N", str(N))
    monkeypatch.delenv("CERCLE_PASSWORD", raising=False)
    monkeypatch.delenv("CERCLE_DATA_DIR", raising=False)
    monkeypatch.setattr(node_keystore, "_interactive", lambda: False)


# -- keys and fingerprints ------------------------------------------------------


def test_fixed_vector() -> None:
    assert public_key_from_seed(SEED).hex() == SEED_PUBLIC_HEX
    assert fingerprint(bytes.fromhex(SEED_PUBLIC_HEX)) == SEED_FINGERPRINT
    # RFC 8032 section 7.1, TEST 1
    rfc_seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    assert public_key_from_seed(rfc_seed).hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )


def test_keystore_vector() -> None:
    # The format is fixed: same inputs, same bytes.
    obj = json.loads(ENCRYPTED)
    assert obj["ciphertext"] == (
        "0ec6bb23746102e5f18c4dfb4d9f702ed84c2c88ea5b4840636c806e955484a2"
        "00b114564b9f859aaa394ddc90627368"
    )
    assert obj["public_key"] == SEED_PUBLIC_HEX
    assert obj["params"] == {"n": N, "r": 8, "p": 1}


@given(st.binary(min_size=32, max_size=32))
def test_fingerprint_shape(pk: bytes) -> None:
    fp = fingerprint(pk)
    assert fp == fingerprint(pk) and len(fp) == 19
    assert all(len(g) == 4 for g in fp.split("-"))


def test_parse_public_key() -> None:
    assert parse_public_key(f"  {SEED_PUBLIC_HEX.upper()}\n").hex() == SEED_PUBLIC_HEX
    for bad in ["", "abc", SEED_PUBLIC_HEX[:-1] + "g", SEED_PUBLIC_HEX + "00"]:
        with pytest.raises(KeyFormatError, match="64 hexadecimal"):
            parse_public_key(bad)


def test_identity_sign_verify_and_repr() -> None:
    ident = Identity.from_seed(SEED)
    sig = ident.sign(b"hello")
    assert verify(ident.public_key, b"hello", sig)
    assert not verify(ident.public_key, b"hellO", sig)
    assert not verify(b"short", b"hello", sig)
    assert SEED.hex() not in repr(ident) and str(list(SEED)) not in repr(ident)
    assert ident.fingerprint == SEED_FINGERPRINT


# -- keystore format --------------------------------------------------------------


def test_round_trip() -> None:
    assert decrypt_keystore(ENCRYPTED, "pw") == SEED
    assert decrypt_keystore(PLAIN, None) == SEED
    assert parse_keystore(ENCRYPTED).public_key.hex() == SEED_PUBLIC_HEX
    assert not parse_keystore(PLAIN).encrypted


def test_password_is_nfc_normalised() -> None:
    data = _ks(password="caf\u00e9")
    assert decrypt_keystore(data, "cafe\u0301") == SEED


def test_wrong_or_missing_password() -> None:
    with pytest.raises(WrongPassword, match="wrong password or damaged keystore"):
        decrypt_keystore(ENCRYPTED, "nope")
    with pytest.raises(PasswordRequired):
        decrypt_keystore(ENCRYPTED, None)


def test_encrypt_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        encrypt_keystore(SEED, "", SALT, NONCE, n=N)
    with pytest.raises(ValueError):
        encrypt_keystore(SEED, "pw", SALT, NONCE, n=1000)


def _edit(data: bytes, **changes: object) -> bytes:
    obj = json.loads(data)
    obj.update(changes)
    return json.dumps(obj).encode()


def test_header_is_authenticated() -> None:
    # A valid-looking header that differs from what was encrypted must not open.
    other_pk = public_key_from_seed(bytes(32)).hex()
    with pytest.raises(KeystoreError):
        decrypt_keystore(_edit(ENCRYPTED, public_key=other_pk), "pw")
    with pytest.raises(WrongPassword):
        decrypt_keystore(_edit(ENCRYPTED, params={"n": N * 2, "r": 8, "p": 1}), "pw")
    with pytest.raises(WrongPassword):
        decrypt_keystore(_edit(ENCRYPTED, salt="11" * 16), "pw")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe garbage",
        b"[]",
        b"{}",
        b"null",
        b"[" * 60_000,  # deep nesting: RecursionError inside json
        ENCRYPTED[: len(ENCRYPTED) // 2],
        ENCRYPTED[:-3],
        b" " * (MAX_KEYSTORE_SIZE + 1),
        _edit(ENCRYPTED, version=2),
        _edit(ENCRYPTED, version=True),
        _edit(ENCRYPTED, kdf="argon2id"),
        _edit(ENCRYPTED, extra=1),
        _edit(ENCRYPTED, params={"n": 2**30, "r": 8, "p": 1}),
        _edit(ENCRYPTED, params={"n": 2**20, "r": 16, "p": 1}),
        _edit(ENCRYPTED, params={"n": N, "r": 8, "p": 100}),
        _edit(ENCRYPTED, params={"n": N, "r": 8.0, "p": 1}),
        _edit(ENCRYPTED, params={"n": N, "r": 8}),
        _edit(ENCRYPTED, salt="00" * 8),
        _edit(ENCRYPTED, nonce="zz" * 12),
        _edit(ENCRYPTED, ciphertext="AB" * 48),
        _edit(ENCRYPTED, public_key=SEED_PUBLIC_HEX.upper()),
        _edit(PLAIN, public_key=public_key_from_seed(bytes(32)).hex()),
        _edit(PLAIN, seed="00" * 31),
    ],
)
def test_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptKeystore):
        decrypt_keystore(data, "pw")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_flipped_byte(data: st.DataObject) -> None:
    # Every single-byte change is either harmless (whitespace) or a KeystoreError.
    for original in (ENCRYPTED, PLAIN):
        i = data.draw(st.integers(0, len(original) - 1))
        mask = data.draw(st.integers(1, 255))
        tampered = bytearray(original)
        tampered[i] ^= mask
        try:
            seed = decrypt_keystore(bytes(tampered), "pw")
        except KeystoreError:
            continue
        assert seed == SEED


@given(st.binary(max_size=600))
def test_garbage_is_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptKeystore):
        decrypt_keystore(data, "pw")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=9),
    max_leaves=20,
)


@given(_json, st.sampled_from(["scrypt", "none"]))
def test_odd_json_is_corrupt(value: object, kdf: str) -> None:
    base = json.loads(ENCRYPTED if kdf == "scrypt" else PLAIN)
    for key in list(base):
        changed = dict(base, **{key: value})
        if changed == base:
            continue
        with pytest.raises(KeystoreError):
            decrypt_keystore(json.dumps(changed).encode(), "pw")


# -- files ----------------------------------------------------------------------


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_create_and_load(tmp_path: Path) -> None:
    path = tmp_path / "identity.json"
    ident = create_identity(path, "secret")
    assert _mode(path) == 0o600
    assert load_identity(path, "secret") == ident
    assert json.loads(path.read_bytes())["params"]["n"] == N
    assert sorted(os.listdir(tmp_path)) == ["identity.json"]  # no temp files left
    with pytest.raises(WrongPassword, match=str(path)):
        load_identity(path, "wrong")


def test_password_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERCLE_PASSWORD", "envpw")
    path = tmp_path / "id.json"
    ident = create_identity(path)
    assert load_identity(path, "envpw") == ident
    monkeypatch.delenv("CERCLE_PASSWORD")
    with pytest.raises(PasswordRequired, match="CERCLE_PASSWORD"):
        load_identity(path)


def test_password_prompt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_keystore, "_interactive", lambda: True)
    answers = iter(["one", "two", "same", "same", "same"])
    monkeypatch.setattr(node_keystore.getpass, "getpass", lambda prompt="": next(answers))
    path = tmp_path / "id.json"
    with pytest.raises(KeystoreError, match="do not match"):
        create_identity(path)
    assert not path.exists()
    ident = create_identity(path)  # asked twice
    assert load_identity(path) == ident  # asked once


def test_empty_password_refused(tmp_path: Path) -> None:
    path = tmp_path / "id.json"
    with pytest.raises(KeystoreError, match="--unencrypted"):
        create_identity(path, "")
    assert not path.exists()
    ident = create_identity(path, "", unencrypted=True)
    assert not read_keystore(path).encrypted
    assert load_identity(path) == ident  # no password sought


def test_refuse_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "id.json"
    first = create_identity(path, "pw")
    with pytest.raises(IdentityExists, match="--force"):
        create_identity(path, "pw")
    assert load_identity(path, "pw") == first
    second = create_identity(path, "pw", force=True)
    assert second != first and load_identity(path, "pw") == second


def test_failed_write_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(node_keystore.os, "replace", boom)
    with pytest.raises(OSError):
        create_identity(tmp_path / "id.json", "pw")
    assert os.listdir(tmp_path) == []


def test_missing_and_truncated(tmp_path: Path) -> None:
    with pytest.raises(IdentityNotFound, match="cercle id new"):
        load_identity(tmp_path / "nope.json", "pw")
    path = tmp_path / "id.json"
    path.write_bytes(ENCRYPTED[:50])
    with pytest.raises(CorruptKeystore):
        load_identity(path, "pw")


def test_export_import(tmp_path: Path) -> None:
    path, out, other = tmp_path / "a.json", tmp_path / "backup.json", tmp_path / "b.json"
    ident = create_identity(path, "pw")
    export_identity(path, out)
    assert _mode(out) == 0o600 and out.read_bytes() == path.read_bytes()
    with pytest.raises(IdentityExists):
        export_identity(path, out)
    with pytest.raises(WrongPassword):
        import_identity(out, other, "bad")
    assert not other.exists()
    assert import_identity(out, other, "pw") == ident
    assert _mode(other) == 0o600


def test_datadir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERCLE_DATA_DIR", str(tmp_path / "env"))
    assert DataDir.resolve().root == tmp_path / "env"
    assert DataDir.resolve(tmp_path / "flag").root == tmp_path / "flag"
    monkeypatch.delenv("CERCLE_DATA_DIR")
    assert DataDir.resolve().root.name.lower() == "cercle"
    d = DataDir(tmp_path / "deep" / "cercle").ensure()
    assert _mode(d.root) == 0o700
    assert d.identity == d.root / "identity.json" and d.db == d.root / "db"
    assert {d.node_key.name, d.config.name, d.socket.name, d.logs.name, d.peers.name} == {
        "node.key",
        "config.toml",
        "api.sock",
        "logs",
        "peers.json",
    }
    d.ensure()  # idempotent


# -- CLI ------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("CERCLE_PASSWORD", "hunter2")
    data = tmp_path / "data"

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(data), *argv])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return run


def test_cli_new_show(cli, tmp_path: Path) -> None:
    code, out, _ = cli("id", "new")
    assert code == 0 and "fingerprint" in out
    assert _mode(tmp_path / "data") == 0o700
    assert _mode(tmp_path / "data" / "identity.json") == 0o600
    code, out, _ = cli("id", "show", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["encrypted"] is True
    assert shown["fingerprint"] == fingerprint(bytes.fromhex(shown["public_key"]))
    code, out, err = cli("id", "new")
    assert code == 1 and err.startswith("cercle: error: ") and "--force" in err


def test_cli_show_without_password(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("id", "new")
    monkeypatch.delenv("CERCLE_PASSWORD")
    code, out, _ = cli("id", "show")
    assert code == 0 and "public key" in out


def test_cli_show_missing(cli) -> None:
    code, out, err = cli("id", "show")
    assert code == 1 and out == ""
    assert err.startswith("cercle: error: no identity at ") and "cercle id new" in err
    assert err.count("\n") == 1


def test_cli_export_import(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("id", "new")
    _, shown, _ = cli("id", "show", "--json")
    backup = tmp_path / "backup.json"
    code, out, _ = cli("id", "export", str(backup))
    assert code == 0 and backup.exists() and "Exported" in out

    monkeypatch.setenv("CERCLE_PASSWORD", "wrong")
    code, _, err = cli("id", "import", "--force", str(backup))
    assert code == 1
    assert err.startswith("cercle: error: ") and "wrong password" in err
    assert err.count("\n") == 1

    monkeypatch.setenv("CERCLE_PASSWORD", "hunter2")
    code, _, err = cli("id", "import", str(backup))
    assert code == 1 and "--force" in err
    code, _, _ = cli("id", "import", "--force", str(backup))
    assert code == 0
    assert cli("id", "show", "--json")[1] == shown


def test_cli_import_garbage(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("hello")
    code, _, err = cli("id", "import", str(bad))
    assert code == 1 and "not a Cercle keystore" in err
    code, _, err = cli("id", "import", str(tmp_path / "missing.json"))
    assert code == 1 and "no such file" in err


def test_cli_unencrypted(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERCLE_PASSWORD", "")
    code, _, err = cli("id", "new")
    assert code == 1 and "--unencrypted" in err
    code, _, err = cli("id", "new", "--unencrypted")
    assert code == 0 and "warning" in err
    assert json.loads(cli("id", "show", "--json")[1])["encrypted"] is False


def test_cli_no_password_no_tty(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERCLE_PASSWORD")
    monkeypatch.setattr("sys.stdin", io.StringIO())
    code, _, err = cli("id", "new")
    assert code == 1 and "CERCLE_PASSWORD" in err


def test_cli_usage(cli) -> None:
    assert cli()[0] == 2
    assert cli("id")[0] == 2
    code, _, err = cli("id", "frobnicate")
    assert code == 2 and "usage:" in err
    assert cli("--help")[0] == 0


def test_cli_os_error(cli, tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file, not a directory")
    code, _, err = cli("id", "new")
    assert code == 1 and err.startswith("cercle: error: ") and "data" in err
