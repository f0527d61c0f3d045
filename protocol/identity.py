"""Author identity: Ed25519 keys, fingerprints, and the keystore file format.

Pure: no file I/O and no randomness of its own. Seeds, salts and nonces are
passed in by the node, so every function here is deterministic and testable
with fixed vectors.

Keystore format (UTF-8 JSON, one object, so users can inspect it)::

    {
      "format": "cercle-keystore",
      "version": 1,
      "kdf": "scrypt",
      "params": {"n": 32768, "r": 8, "p": 1},
      "salt": "<16 bytes, lowercase hex>",
      "nonce": "<12 bytes, lowercase hex>",
      "ciphertext": "<ChaCha20-Poly1305(seed), 48 bytes, lowercase hex>",
      "public_key": "<32 bytes, lowercase hex>"
    }

The public key sits in the clear so `cercle id show` needs no password. The
AEAD's associated data binds the header (version, kdf, params, salt, public
key), so editing any of them makes decryption fail instead of silently using a
weaker KDF or showing a foreign public key. With ``"kdf": "none"`` (only on the
user's explicit request) the object holds ``"seed"`` instead of salt, nonce
and ciphertext, and no ``"params"``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SEED_LEN = 32
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
SALT_LEN = 16
NONCE_LEN = 12
TAG_LEN = 16

KEYSTORE_FORMAT = "cercle-keystore"
KEYSTORE_VERSION = 1
MAX_KEYSTORE_SIZE = 64 * 1024  # a real keystore is ~400 bytes
DEFAULT_SCRYPT_N = 2**15
# Limits on KDF parameters read from a file: a hostile file must not make us
# allocate gigabytes or spin for minutes. Memory used by scrypt is 128*n*r.
MAX_SCRYPT_N = 2**20
MAX_SCRYPT_R = 16
MAX_SCRYPT_P = 4
MAX_SCRYPT_MEMORY = 2**30

FINGERPRINT_DOMAIN = b"cercle/fingerprint/v1\x00"
KEYSTORE_AAD_DOMAIN = b"cercle/keystore/v1\x00"

_HEXDIGITS = frozenset("0123456789abcdef")


# -- errors -------------------------------------------------------------------


class KeystoreError(Exception):
    """A keystore could not be created, read or opened; the message is for the user."""


class WrongPassword(KeystoreError):
    """Decryption failed: wrong password, or ciphertext/header tampered with."""


class CorruptKeystore(KeystoreError):
    """The data is not a well-formed keystore this version understands."""


class PasswordRequired(KeystoreError):
    """The keystore is encrypted and no password was available."""


class KeyFormatError(ValueError):
    """A public key given as text is malformed."""


# -- keys ---------------------------------------------------------------------


def private_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key for a 32-byte seed (RFC 8032 secret key)."""
    if len(seed) != SEED_LEN:
        raise ValueError(f"an Ed25519 seed is {SEED_LEN} bytes, got {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_from_seed(seed: bytes) -> bytes:
    return public_key_bytes(private_key_from_seed(seed))


def sign(seed: bytes, message: bytes) -> bytes:
    """Raw Ed25519 signature; callers add their own domain-separation prefix."""
    return private_key_from_seed(seed).sign(message)


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True iff `signature` is a valid Ed25519 signature; never raises on bad input."""
    if len(public_key) != PUBLIC_KEY_LEN or len(signature) != SIGNATURE_LEN:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def fingerprint(public_key: bytes) -> str:
    """Short fingerprint to read aloud: 80 bits of SHA-256, base32, e.g. 'ABCD-EFGH-IJKL-MNOP'."""
    if len(public_key) != PUBLIC_KEY_LEN:
        raise ValueError(f"a public key is {PUBLIC_KEY_LEN} bytes, got {len(public_key)}")
    digest = hashlib.sha256(FINGERPRINT_DOMAIN + public_key).digest()
    text = base64.b32encode(digest[:10]).decode("ascii")  # 16 chars, no padding
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def public_key_hex(public_key: bytes) -> str:
    if len(public_key) != PUBLIC_KEY_LEN:
        raise ValueError(f"a public key is {PUBLIC_KEY_LEN} bytes, got {len(public_key)}")
    return public_key.hex()


def parse_public_key(text: str) -> bytes:
    """Parse a public key typed or pasted by a user (hex, any case, surrounding space ok)."""
    s = text.strip().lower()
    if len(s) != 2 * PUBLIC_KEY_LEN or not _HEXDIGITS.issuperset(s):
        raise KeyFormatError(
            f"a public key is {2 * PUBLIC_KEY_LEN} hexadecimal characters (0-9, a-f); "
            f"got {len(s)} characters{'' if _HEXDIGITS.issuperset(s) else ' with non-hex ones'}. "
            "Copy it again from `cercle id show`."
        )
    return bytes.fromhex(s)


@dataclass(frozen=True, slots=True)
class Identity:
    """An author's key pair. The seed is kept out of repr so it never lands in logs."""

    seed: bytes = field(repr=False)
    public_key: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        return cls(seed=seed, public_key=public_key_from_seed(seed))

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()

    def sign(self, message: bytes) -> bytes:
        return sign(self.seed, message)


# -- keystore -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ScryptParams:
    n: int = DEFAULT_SCRYPT_N
    r: int = 8
    p: int = 1

    def check(self) -> str | None:
        """None if acceptable, else what is wrong (in words for the user)."""
        n, r, p = self.n, self.r, self.p
        if n < 2 or n & (n - 1) or n > MAX_SCRYPT_N:
            return f"scrypt n must be a power of two between 2 and {MAX_SCRYPT_N}, got {n}"
        if not 1 <= r <= MAX_SCRYPT_R:
            return f"scrypt r must be between 1 and {MAX_SCRYPT_R}, got {r}"
        if not 1 <= p <= MAX_SCRYPT_P:
            return f"scrypt p must be between 1 and {MAX_SCRYPT_P}, got {p}"
        if 128 * n * r > MAX_SCRYPT_MEMORY:
            return f"scrypt n={n}, r={r} would need more than {MAX_SCRYPT_MEMORY >> 20} MiB"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Keystore:
    """A parsed, well-formed keystore (not yet decrypted)."""

    version: int
    kdf: str  # "scrypt" or "none"
    public_key: bytes
    params: ScryptParams | None = None
    salt: bytes = b""
    nonce: bytes = b""
    ciphertext: bytes = b""
    seed: bytes = field(default=b"", repr=False)  # only when kdf == "none"

    @property
    def encrypted(self) -> bool:
        return self.kdf != "none"


def _aad(version: int, params: ScryptParams, salt: bytes, public_key: bytes) -> bytes:
    # Fixed-length binary header: one encoding per header value, unlike JSON text.
    kdf = b"scrypt"
    return (
        KEYSTORE_AAD_DOMAIN
        + struct.pack(">B", version)
        + struct.pack(">B", len(kdf))
        + kdf
        + struct.pack(">III", params.n, params.r, params.p)
        + salt
        + public_key
    )


def _derive_key(password: str, salt: bytes, params: ScryptParams) -> bytes:
    # NFC so the same password typed on different systems gives the same key.
    secret = unicodedata.normalize("NFC", password).encode("utf-8")
    return Scrypt(salt=salt, length=32, n=params.n, r=params.r, p=params.p).derive(secret)


def _dump(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=True) + "\n").encode("utf-8")


def encrypt_keystore(
    seed: bytes,
    password: str,
    salt: bytes,
    nonce: bytes,
    *,
    n: int = DEFAULT_SCRYPT_N,
    r: int = 8,
    p: int = 1,
) -> bytes:
    """Encrypt `seed` under `password`; returns the keystore file content.

    `salt` (16 bytes) and `nonce` (12 bytes) must be fresh random bytes.
    Raises ValueError on bad arguments (a caller bug, not user input).
    """
    params = ScryptParams(n=n, r=r, p=p)
    if problem := params.check():
        raise ValueError(problem)
    if not password:
        raise ValueError("refusing to encrypt with an empty password")
    if len(salt) != SALT_LEN or len(nonce) != NONCE_LEN:
        raise ValueError(f"salt must be {SALT_LEN} bytes and nonce {NONCE_LEN} bytes")
    public_key = public_key_from_seed(seed)
    key = _derive_key(password, salt, params)
    aad = _aad(KEYSTORE_VERSION, params, salt, public_key)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, seed, aad)
    return _dump(
        {
            "format": KEYSTORE_FORMAT,
            "version": KEYSTORE_VERSION,
            "kdf": "scrypt",
            "params": {"n": n, "r": r, "p": p},
            "salt": salt.hex(),
            "nonce": nonce.hex(),
            "ciphertext": ciphertext.hex(),
            "public_key": public_key.hex(),
        }
    )


def plain_keystore(seed: bytes) -> bytes:
    """An unencrypted keystore: only when the user explicitly asks for one."""
    public_key = public_key_from_seed(seed)
    return _dump(
        {
            "format": KEYSTORE_FORMAT,
            "version": KEYSTORE_VERSION,
            "kdf": "none",
            "seed": seed.hex(),
            "public_key": public_key.hex(),
        }
    )


_DAMAGED = "restore it from a backup (`cercle id export`) or create a new one with `cercle id new`"
_SCRYPT_FIELDS = frozenset(
    {"format", "version", "kdf", "params", "salt", "nonce", "ciphertext", "public_key"}
)
_PLAIN_FIELDS = frozenset({"format", "version", "kdf", "seed", "public_key"})
_FIELDS = {"scrypt": _SCRYPT_FIELDS, "none": _PLAIN_FIELDS}


def _corrupt(what: str) -> CorruptKeystore:
    return CorruptKeystore(f"damaged keystore: {what}; {_DAMAGED}")


def _hex_field(obj: dict[str, Any], name: str, length: int) -> bytes:
    value = obj[name]
    # Lowercase only: one text per value, so an edited file never parses "the same".
    if not isinstance(value, str) or len(value) != 2 * length or not _HEXDIGITS.issuperset(value):
        raise _corrupt(f'"{name}" must be {length} bytes as lowercase hex')
    return bytes.fromhex(value)


def _int_field(obj: dict[str, Any], name: str) -> int:
    value = obj[name]
    if type(value) is not int:  # not bool, not float
        raise _corrupt(f'"{name}" must be an integer')
    return value


def parse_keystore(data: bytes) -> Keystore:
    """Check the structure of keystore file content without decrypting it.

    Raises CorruptKeystore for anything that is not a keystore this version reads.
    """
    if len(data) > MAX_KEYSTORE_SIZE:
        raise CorruptKeystore(
            f"this file is {len(data)} bytes, far too large to be a Cercle keystore; "
            "check that you picked the right file"
        )
    try:
        obj = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # includes UnicodeDecodeError, JSONDecodeError
        raise CorruptKeystore(
            "this file is not a Cercle keystore (not valid UTF-8 JSON); "
            "check that you picked the right file, or restore it from a backup"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != KEYSTORE_FORMAT:
        raise CorruptKeystore(
            'this file is not a Cercle keystore (no "format": "cercle-keystore"); '
            "check that you picked the right file"
        )
    if "version" not in obj:
        raise _corrupt('missing "version"')
    version = _int_field(obj, "version")
    if version != KEYSTORE_VERSION:
        raise CorruptKeystore(
            f"keystore version {version} is not supported by this version of Cercle "
            f"(it reads version {KEYSTORE_VERSION}); upgrade Cercle to open it"
        )
    kdf = obj.get("kdf")
    if not isinstance(kdf, str) or kdf not in _FIELDS:
        raise CorruptKeystore(
            f"keystore uses key derivation {kdf!r}, which this version of Cercle does not "
            "know; upgrade Cercle, or check the file"
        )
    expected = _FIELDS[kdf]
    if set(obj) != expected:
        missing, extra = sorted(expected - set(obj)), sorted(set(obj) - expected)
        raise _corrupt(f"missing fields {missing}, unexpected fields {extra}")
    public_key = _hex_field(obj, "public_key", PUBLIC_KEY_LEN)
    if kdf == "none":
        seed = _hex_field(obj, "seed", SEED_LEN)
        if public_key_from_seed(seed) != public_key:
            raise _corrupt("the public key does not match the private key")
        return Keystore(version=version, kdf=kdf, public_key=public_key, seed=seed)
    raw = obj["params"]
    if not isinstance(raw, dict) or set(raw) != {"n", "r", "p"}:
        raise _corrupt('"params" must hold exactly n, r and p')
    params = ScryptParams(n=_int_field(raw, "n"), r=_int_field(raw, "r"), p=_int_field(raw, "p"))
    if problem := params.check():
        raise _corrupt(problem)
    return Keystore(
        version=version,
        kdf=kdf,
        public_key=public_key,
        params=params,
        salt=_hex_field(obj, "salt", SALT_LEN),
        nonce=_hex_field(obj, "nonce", NONCE_LEN),
        ciphertext=_hex_field(obj, "ciphertext", SEED_LEN + TAG_LEN),
    )


def open_keystore(ks: Keystore, password: str | None) -> bytes:
    """The seed held by a parsed keystore; `password` is ignored if it is unencrypted."""
    if not ks.encrypted:
        return ks.seed
    if password is None:
        raise PasswordRequired("this keystore is encrypted; a password is needed to open it")
    assert ks.params is not None
    key = _derive_key(password, ks.salt, ks.params)
    try:
        seed = ChaCha20Poly1305(key).decrypt(
            ks.nonce, ks.ciphertext, _aad(ks.version, ks.params, ks.salt, ks.public_key)
        )
    except InvalidTag:
        # AEAD cannot tell a wrong password from an edited file.
        raise WrongPassword(
            "wrong password or damaged keystore: check the password (and CERCLE_PASSWORD "
            "if it is set) and try again; if it still fails, restore the keystore from a backup"
        ) from None
    if public_key_from_seed(seed) != ks.public_key:  # unreachable unless AAD is bypassed
        raise _corrupt("the public key does not match the private key")
    return seed


def decrypt_keystore(data: bytes, password: str | None) -> bytes:
    """The 32-byte seed in keystore file content. Raises only KeystoreError subclasses."""
    return open_keystore(parse_keystore(data), password)
