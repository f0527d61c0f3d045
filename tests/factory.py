"""Deterministic keys and records for tests and benchmarks."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cercle.protocol import records as R

T0 = 1_700_000_000_000  # a fixed "now" (ms) for reproducible records
CRITERIA = ("taste", "ingredients", "price")


def key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"test-key-%d" % n).digest())


def pub(n: int) -> bytes:
    return key(n).public_key().public_bytes_raw()


def gtin(n: int, length: int = 13) -> str:
    """A valid GTIN of the given length derived from ``n``."""
    return R.with_check_digit(str(n).rjust(length - 1, "0")[-(length - 1) :])


def community(author: int = 0, name: str = "Vegan", *, t: int = T0, **kw: object) -> R.Record:
    body = R.CommunityBody(
        name,
        kw.pop("description", "Plant-based products"),  # type: ignore[arg-type]
        kw.pop("values", ("vegan",)),  # type: ignore[arg-type]
        kw.pop("criteria", CRITERIA),  # type: ignore[arg-type]
        kw.pop("pow_bits", 0),  # type: ignore[arg-type]
    )
    return R.build(key(author), body, created_ms=t)


def rating(
    author: int, comm: bytes, product: int, scores: tuple[int, ...], *, t: int = T0, text: str = ""
) -> R.Record:
    return R.build(
        key(author), R.RatingBody(gtin(product), scores, text), created_ms=t, community=comm
    )


def product(author: int, comm: bytes, n: int, *, t: int = T0, name: str = "Oat milk") -> R.Record:
    body = R.ProductBody(gtin(n), name, "Brand", ("organic",))
    return R.build(key(author), body, created_ms=t, community=comm)


def petition(
    author: int, comm: bytes, *, t: int = T0, deadline: int = T0 + 10**9, title: str = "Label it"
) -> R.Record:
    body = R.PetitionBody(title, "Please label animal ingredients.", "Makers", 100, deadline)
    return R.build(key(author), body, created_ms=t, community=comm)


def signature(author: int, pet: R.Record, *, t: int = T0 + 1) -> R.Record:
    return R.build(key(author), R.SignatureBody(pet.id), created_ms=t, community=pet.community)


def vouch(
    author: int, subject: int, trust: bool = True, *, t: int = T0, comm: bytes | None = None
) -> R.Record:
    return R.build(key(author), R.VouchBody(pub(subject), trust), created_ms=t, community=comm)


def retract(author: int, target: R.Record, *, t: int = T0 + 5) -> R.Record:
    return R.build(key(author), R.RetractBody(target.id), created_ms=t, community=target.community)


def profile(author: int, name: str, *, t: int = T0) -> R.Record:
    return R.build(key(author), R.ProfileBody(name, ""), created_ms=t)


def mine(author: int, body: R.Body, *, bits: int, t: int, comm: bytes | None) -> R.Record:
    """A record whose id has ``bits`` leading zero bits (proof of work via the nonce)."""
    return R.mine(key(author), body, created_ms=t, community=comm, bits=bits)
