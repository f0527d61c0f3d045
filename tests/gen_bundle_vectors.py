"""Write ``specs/vectors/bundle.json``: test vectors for ``specs/bundle.md``.

Run ``.venv/bin/python tests/gen_bundle_vectors.py`` to (re)write the file.  The
output is deterministic (fixed Ed25519 seeds and timestamps; Ed25519 signatures
are deterministic).  The genuine bundles come from :func:`bundle.build_bundle`;
tampered ones are assembled here field by field from the layout in the spec,
so they are also an independent check of the format.  Every vector is checked
against :func:`bundle.verify_bundle` before anything is written.  The tests
never run this script; they load the JSON.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cercle.protocol import bundle as B
from cercle.protocol import canonical
from cercle.protocol import records as R

OUT = Path(__file__).resolve().parents[1] / "specs" / "vectors" / "bundle.json"

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
HOUR = 3_600_000
DAY = 24 * HOUR
DEADLINE = T0 + 30 * DAY
ALICE, BOB, CAROL = 1, 2, 3  # charter author, petition author, other charter's author
SIGNERS = (10, 11, 12, 13, 14)


def key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)


def charter(author: int, name: str, pow_bits: int = 0) -> R.Record:
    body = R.CommunityBody(name, "", (), ("taste", "price"), pow_bits)
    return R.build(key(author), body, created_ms=T0 - DAY)


def petition(
    comm: bytes, text: str = "Please label animal ingredients.", bits: int = 0
) -> R.Record:
    body = R.PetitionBody("Label it", text, "Makers", 5000, DEADLINE)
    return mined(lambda n: R.build(key(BOB), body, created_ms=T0, community=comm, nonce=n), bits)


def signature(
    author: int, pet: R.Record, t: int, *, comm: bytes | None = None, bits: int = 0
) -> R.Record:
    def make(n: int) -> R.Record:
        c = comm if comm is not None else pet.community
        return R.build(key(author), R.SignatureBody(pet.id), created_ms=t, community=c, nonce=n)

    return mined(make, bits)


def mined(make: Any, bits: int) -> R.Record:
    nonce = 0
    while True:
        rec: R.Record = make(nonce)
        if R.leading_zero_bits(rec.id) >= bits:
            return rec
        nonce += 1


def assemble(
    pet: bytes,
    chart: bytes | None,
    sigs: list[bytes],
    *,
    count: int | None = None,
    root: bytes | None = None,
    tag: str = B.FORMAT_TAG,
    version: int = B.VERSION,
) -> bytes:
    """The bundle layout of specs/bundle.md §2; count and root default to the true ones."""
    if count is None:
        count = len(sigs)
    if root is None:
        root = B.merkle_root([hashlib.sha256(s).digest() for s in sigs])
    return canonical.encode([tag, version, pet, chart, list(sigs), count, root])


def fields(data: bytes) -> list[canonical.Value]:
    value = canonical.decode(data, max_len=len(data))
    assert isinstance(value, list)
    return value


def main() -> int:
    vegan = charter(ALICE, "Vegan")
    halal = charter(CAROL, "Halal")
    pet = petition(vegan.id)
    sigs = [signature(a, pet, T0 + (i + 1) * HOUR) for i, a in enumerate(SIGNERS)]
    raws = [s.raw for s in sigs]
    genuine = B.build_bundle(pet, sigs, community=vegan)
    assert genuine == assemble(pet.raw, vegan.raw, raws)

    late = signature(15, pet, DEADLINE + 1)
    again = signature(SIGNERS[0], pet, T0 + 6 * HOUR)  # a second signature by the first signer
    elsewhere = signature(16, pet, T0 + 7 * HOUR, comm=halal.id)
    rating = R.build(
        key(17), R.RatingBody("4006381333931", (4, 5)), created_ms=T0 + 8 * HOUR, community=vegan.id
    )
    forged_src = signature(18, pet, T0 + 9 * HOUR)
    forged = forged_src.raw[:-1] + bytes([forged_src.raw[-1] ^ 0x01])
    edited = petition(vegan.id, text="Please label animal ingredients, or else.")

    strict = charter(ALICE, "Strict", pow_bits=4)
    spet = petition(strict.id, bits=4)
    s_ok = signature(10, spet, T0 + HOUR, bits=4)
    s_weak = next(
        s
        for n in range(100)
        if R.leading_zero_bits((s := signature(11, spet, T0 + 2 * HOUR + n)).id) < 4
    )

    noncanon = bytearray(genuine)
    assert noncanon[-35] == len(sigs)  # the count, a fixint before the root (c4 20 + 32 bytes)
    noncanon[-35:-34] = b"\xcc" + bytes([len(sigs)])  # same value as uint 8
    random_bytes = b"".join(hashlib.sha256(b"random-%d" % i).digest() for i in range(8))

    V: list[dict[str, Any]] = []

    def vec(name: str, note: str, data: bytes, defects: list[str], **kw: Any) -> None:
        V.append({"name": name, "note": note, "bundle": data.hex(), "defects": defects, **kw})

    vec("genuine", "a petition, its charter and five signatures", genuine, [])
    vec(
        "genuine-empty",
        "no signatures yet: the root of the empty tree",
        B.build_bundle(pet, [], community=vegan),
        [],
    )
    vec(
        "no-charter-allowed",
        "built without the charter, verified with require_charter false",
        B.build_bundle(pet, sigs),
        [],
        require_charter=False,
    )
    vec("no-charter", "the charter stripped", assemble(pet.raw, None, raws), ["charter_missing"])
    vec(
        "foreign-charter",
        "another community's charter",
        assemble(pet.raw, halal.raw, raws),
        ["charter_mismatch"],
    )
    vec(
        "charter-not-community",
        "a petition in the charter slot",
        assemble(pet.raw, pet.raw, raws),
        ["bad_charter"],
    )
    vec(
        "removed-signature",
        "one signature dropped, count and root kept",
        assemble(
            pet.raw,
            vegan.raw,
            raws[:2] + raws[3:],
            count=len(raws),
            root=B.merkle_root([s.id for s in sigs]),
        ),
        ["count_mismatch", "root_mismatch"],
    )
    vec(
        "removed-signature-recounted",
        "one signature dropped and the count fixed, root kept",
        assemble(pet.raw, vegan.raw, raws[1:], root=B.merkle_root([s.id for s in sigs])),
        ["root_mismatch"],
    )
    vec(
        "duplicate-record",
        "the same signature record twice (count and root recomputed)",
        assemble(pet.raw, vegan.raw, raws[:2] + raws[1:]),
        ["duplicate_record"],
    )
    vec(
        "duplicate-author",
        "a second, later signature by the first signer",
        assemble(pet.raw, vegan.raw, [*raws, again.raw]),
        ["duplicate_author"],
    )
    vec(
        "changed-text",
        "the petition replaced by one with other text: its id changed",
        assemble(edited.raw, vegan.raw, raws),
        ["wrong_petition"] * len(raws),
    )
    vec(
        "late-signature",
        "properly signed, one ms after the deadline",
        assemble(pet.raw, vegan.raw, [*raws, late.raw]),
        ["late_signature"],
    )
    vec(
        "wrong-community",
        "a signature of this petition made in another community",
        assemble(pet.raw, vegan.raw, [*raws, elsewhere.raw]),
        ["wrong_community"],
    )
    vec(
        "not-a-signature",
        "a rating among the signatures",
        assemble(pet.raw, vegan.raw, [*raws, rating.raw]),
        ["not_a_signature"],
    )
    vec(
        "forged-signature",
        "an Ed25519 signature altered (root recomputed)",
        assemble(pet.raw, vegan.raw, [*raws, forged]),
        ["signature_invalid"],
    )
    vec(
        "unsorted",
        "signatures in reverse order (root over that order)",
        assemble(pet.raw, vegan.raw, raws[::-1]),
        ["unsorted"],
    )
    vec(
        "wrong-count",
        "count claims one more",
        assemble(pet.raw, vegan.raw, raws, count=6),
        ["count_mismatch"],
    )
    vec(
        "wrong-root",
        "root of other ids",
        assemble(pet.raw, vegan.raw, raws, root=hashlib.sha256(b"x").digest()),
        ["root_mismatch"],
    )
    vec(
        "insufficient-pow",
        "charter asks 4 zero bits; the second signature has fewer",
        assemble(spet.raw, strict.raw, [s_ok.raw, s_weak.raw]),
        ["insufficient_pow"],
    )
    vec(
        "bad-petition",
        "the petition's signature altered (signatures then sign another id)",
        assemble(pet.raw[:-1] + bytes([pet.raw[-1] ^ 1]), vegan.raw, raws),
        ["bad_petition"] + ["wrong_petition"] * len(raws),
    )
    vec(
        "bad-tag",
        "another format tag",
        assemble(pet.raw, vegan.raw, raws, tag="cercle-bundle"),
        ["not_a_bundle"],
    )
    vec(
        "version-2",
        "a future version",
        assemble(pet.raw, vegan.raw, raws, version=2),
        ["unknown_version"],
    )
    vec(
        "extra-field",
        "eight fields",
        canonical.encode([*fields(genuine), 0]),
        ["malformed"],
    )
    vec("non-canonical", "count 5 written as uint 8 (cc 05)", bytes(noncanon), ["non_canonical"])
    vec("truncated", "the last byte cut off", genuine[:-1], ["malformed"])
    vec("empty", "zero bytes", b"", ["empty"])
    vec("random", "256 pseudo-random bytes", random_bytes, ["malformed"])

    for v in V:
        report = B.verify_bundle(
            bytes.fromhex(v["bundle"]), require_charter=v.get("require_charter", True)
        )
        got = [d.code.value for d in report.defects]
        assert got == v["defects"], (v["name"], got, report.summary())
        v.update(
            ok=report.ok,
            signatures=report.signatures,
            valid=report.valid,
            claimed_count=report.claimed_count,
            root=report.root.hex() if report.root is not None else None,
        )
        v.setdefault("require_charter", True)

    leaves = [hashlib.sha256(b"id-%d" % i).digest() for i in range(5)]
    merkle = [
        {"ids": [i.hex() for i in leaves[:n]], "root": B.merkle_root(leaves[:n]).hex()}
        for n in range(6)
    ]
    doc = {
        "format": "cercle bundle vectors 1",
        "spec": "specs/bundle.md",
        "generator": "tests/gen_bundle_vectors.py",
        "keys": "Ed25519 seed of key n: the byte n repeated 32 times",
        "merkle": merkle,
        "vectors": V,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(V)} bundle vectors to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
