"""Write ``specs/vectors/records.json``: test vectors for ``specs/records.md``.

Run ``.venv/bin/python tests/gen_record_vectors.py`` to (re)write the file.  The
output is deterministic: fixed Ed25519 seeds, fixed timestamps, Ed25519's
deterministic signatures.  Every vector is checked against
:mod:`cercle.protocol.records` before anything is written, so the file never
holds a vector the implementation disagrees with.  The tests never run this
script; they load the JSON and check it byte for byte.

Valid vectors carry ``seed``, ``id``, ``fields`` and ``replace_key``; invalid
ones carry ``reason``.  ``fields`` has ``extra`` only when the body holds items
this version does not read (spec §11), and ``body`` is nil for a kind it does
not know.  A vector with a ``context`` list (hex envelopes of other
records) is contextual: its record passes :func:`records.validate` and the
expected outcome is that of :func:`records.check_context` against those records.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cercle.protocol import records as R
from cercle.protocol.errors import Reason, Rejected

OUT = Path(__file__).resolve().parents[1] / "specs" / "vectors" / "records.json"

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
NOW = T0 + 60_000
DAY = 86_400_000
SEEDS = {"alice": bytes([1]) * 32, "bob": bytes([2]) * 32, "carol": bytes([3]) * 32}


def key(who: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(SEEDS[who])


def pub(who: str) -> bytes:
    return key(who).public_key().public_bytes_raw()


# ------------------------------------------------------------------ raw msgpack


@dataclass(frozen=True)
class Raw:
    """Hand-written msgpack bytes spliced in for one value (``value`` is what they mean)."""

    data: bytes
    value: Any


def enc(v: Any) -> bytes:
    """msgpack-python's (shortest-form) encoding, except for spliced :class:`Raw` parts."""
    if isinstance(v, Raw):
        return v.data
    if isinstance(v, list):
        n = len(v)
        head = bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n)
        return head + b"".join(enc(x) for x in v)
    out: bytes = msgpack.packb(v, use_bin_type=True)
    return out


def plain(v: Any) -> Any:
    if isinstance(v, Raw):
        return v.value
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def uint8(n: int) -> Raw:
    return Raw(b"\xcc" + struct.pack(">B", n), n)


def uint64(n: int) -> Raw:
    return Raw(b"\xcf" + struct.pack(">Q", n), n)


def int64(n: int) -> Raw:
    return Raw(b"\xd3" + struct.pack(">q", n), n)


def int8(n: int) -> Raw:
    return Raw(b"\xd0" + struct.pack(">b", n), n)


def str8(s: str) -> Raw:
    b = s.encode()
    return Raw(b"\xd9" + struct.pack(">B", len(b)) + b, s)


def str16(s: str) -> Raw:
    b = s.encode()
    return Raw(b"\xda" + struct.pack(">H", len(b)) + b, s)


def bin16(b: bytes) -> Raw:
    return Raw(b"\xc5" + struct.pack(">H", len(b)) + b, b)


def array16(items: list[Any]) -> Raw:
    return Raw(b"\xdc" + struct.pack(">H", len(items)) + b"".join(enc(x) for x in items), items)


def envelope(
    who: str,
    kind: Any,
    body: Any,
    *,
    created: Any = T0,
    community: Any = None,
    nonce: Any = 0,
    version: Any = 1,
    author: Any = None,
    signer: str | None = None,
    prefix: bytes = R.SIGNING_PREFIX,
    sig: Any = None,
    outer: bool = False,
) -> bytes:
    """Hand-assemble an envelope, signed over the canonical form of its values."""
    unsigned = [
        version,
        kind,
        pub(who) if author is None else author,
        created,
        community,
        nonce,
        body,
    ]
    if sig is None:
        sig = key(signer or who).sign(prefix + enc(plain(unsigned)))
    if outer:
        return enc(array16([*unsigned, sig]))
    return enc([*unsigned, sig])


# ------------------------------------------------------------------ json


def jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    return v


def fields_of(rec: R.Record) -> dict[str, Any]:
    body = rec.body
    out = {
        "version": R.VERSION,
        "kind": int(rec.kind),
        "author": rec.author.hex(),
        "created_ms": rec.created_ms,
        "community": None if rec.community is None else rec.community.hex(),
        "nonce": rec.nonce,
        "body": None
        if isinstance(body, R.OpaqueBody)
        else {name: jsonable(getattr(body, name)) for name, _ in body.FIELDS},
        "signature": rec.sig.hex(),
    }
    if body.extra:  # absent when empty: the vectors from before §11 stay byte for byte
        out["extra"] = [item.hex() for item in body.extra]
    return out


class Ctx:
    def __init__(self, records: list[R.Record]) -> None:
        self.by_id = {r.id: r for r in records}

    def charter(self, community: bytes) -> R.CommunityBody | None:
        r = self.by_id.get(community)
        return r.body if r is not None and isinstance(r.body, R.CommunityBody) else None

    def get(self, record_id: bytes) -> R.Record | None:
        return self.by_id.get(record_id)


VECTORS: list[dict[str, Any]] = []


def valid(
    name: str,
    note: str,
    who: str,
    body: R.Body,
    *,
    created: int = T0,
    community: bytes | None = None,
    nonce: int = 0,
    now: int = NOW,
    context: list[R.Record] | None = None,
) -> R.Record:
    rec = R.build(key(who), body, created_ms=created, community=community, nonce=nonce)
    assert R.validate(rec.raw, now_ms=now) == rec
    entry: dict[str, Any] = {"name": name, "note": note, "envelope": rec.raw.hex(), "now_ms": now}
    if context is not None:
        R.check_context(rec, Ctx(context))
        entry["context"] = [c.raw.hex() for c in context]
    rk = R.replace_key(rec)
    entry |= {
        "seed": SEEDS[who].hex(),
        "id": rec.id.hex(),
        "fields": fields_of(rec),
        "replace_key": None if rk is None else rk.hex(),
    }
    VECTORS.append(entry)
    return rec


def invalid(
    name: str,
    note: str,
    raw: bytes,
    reason: Reason,
    *,
    now: int = NOW,
    context: list[R.Record] | None = None,
) -> None:
    entry: dict[str, Any] = {"name": name, "note": note, "envelope": raw.hex(), "now_ms": now}
    if context is None:
        try:
            R.validate(raw, now_ms=now)
        except Rejected as exc:
            assert exc.reason is reason, (name, exc)
        else:
            raise AssertionError(f"{name}: accepted")
    else:
        rec = R.validate(raw, now_ms=now)
        try:
            R.check_context(rec, Ctx(context))
        except Rejected as exc:
            assert exc.reason is reason, (name, exc)
        else:
            raise AssertionError(f"{name}: accepted in context")
        entry["context"] = [c.raw.hex() for c in context]
    entry["reason"] = reason.value
    VECTORS.append(entry)


# ------------------------------------------------------------------ vectors


def generate() -> dict[str, Any]:
    VECTORS.clear()
    gtin13, gtin14, gtin8, gtin12 = "4006381333931", "04006381333931", "96385074", "036000291452"
    K = R.Kind

    # ---- valid: every kind
    c1 = valid(
        "community",
        "a charter; its record id is the community id",
        "alice",
        R.CommunityBody(
            "Vegan Lyon",
            "Des produits sans ingrédient animal.",
            ("vegan", "local"),
            ("taste", "price", "ethics"),
        ),
    )
    C1 = c1.id
    c2 = valid(
        "community-pow",
        "a charter asking 8 leading zero bits of every record id",
        "carol",
        R.CommunityBody("Sans gluten", "", (), ("safety",), 8),
        created=T0 + 1,
    )
    C2 = c2.id
    valid(
        "product",
        "EAN-13 product description",
        "alice",
        R.ProductBody(gtin13, "Tofu nature bio", "Taifun", ("vegan", "bio")),
        created=T0 + 2,
        community=C1,
    )
    valid(
        "product-gtin8",
        "GTIN-8, empty brand and labels",
        "bob",
        R.ProductBody(gtin8, "Mini", "", ()),
        created=T0 + 3,
        community=C1,
    )
    r1 = valid(
        "rating",
        "one score per criterion of the charter, NFC text",
        "alice",
        R.RatingBody(gtin13, (5, 4, 3), "Très bon, un peu cher."),
        created=T0 + 4,
        community=C1,
        context=[c1],
    )
    valid(
        "rating-gtin14",
        "same product as 'rating' in GTIN-14 form: same replace_key",
        "alice",
        R.RatingBody(gtin14, (4, 4, 4), ""),
        created=T0 + 5,
        community=C1,
    )
    valid(
        "rating-gtin12",
        "UPC-A (GTIN-12), all scores at the limits",
        "bob",
        R.RatingBody(gtin12, (1, 5, 1), "ok"),
        created=T0 + 6,
        community=C1,
    )
    valid(
        "rating-text-max",
        "text of exactly 1000 code points (2000 UTF-8 bytes, str16)",
        "bob",
        R.RatingBody(gtin8, (3, 3, 3), "é" * 1000),
        created=T0 + 7,
        community=C1,
    )
    p1 = valid(
        "petition",
        "petition with a 30-day deadline",
        "bob",
        R.PetitionBody(
            "Étiquetez les additifs",
            "Nous demandons un étiquetage clair.",
            "Carrefour France",
            1000,
            T0 + 30 * DAY,
        ),
        created=T0 + 8,
        community=C1,
    )
    valid(
        "signature",
        "signature of 'petition'",
        "alice",
        R.SignatureBody(p1.id),
        created=T0 + 9,
        community=C1,
        context=[p1],
    )
    valid(
        "signature-at-deadline",
        "created_ms equal to the deadline is still in time",
        "carol",
        R.SignatureBody(p1.id),
        created=T0 + 30 * DAY,
        community=C1,
        now=T0 + 30 * DAY,
        context=[p1],
    )
    valid(
        "vouch",
        "trust within a community",
        "alice",
        R.VouchBody(pub("bob"), True),
        created=T0 + 10,
        community=C1,
    )
    valid(
        "vouch-global",
        "distrust with no community",
        "bob",
        R.VouchBody(pub("carol"), False),
        created=T0 + 11,
    )
    valid(
        "retract",
        "alice retracts her own rating",
        "alice",
        R.RetractBody(r1.id),
        created=T0 + 12,
        community=C1,
        context=[r1],
    )
    valid(
        "profile",
        "a profile (never has a community)",
        "alice",
        R.ProfileBody("Alice", "Végane depuis 2015."),
        created=T0 + 13,
    )
    valid(
        "profile-empty",
        "display_name and about may be empty",
        "carol",
        R.ProfileBody("", ""),
        created=T0 + 14,
    )
    valid(
        "future-limit",
        "created_ms = now_ms + 600000 is the latest accepted",
        "bob",
        R.ProfileBody("Bob", ""),
        created=NOW + R.MAX_FUTURE_MS,
    )
    valid(
        "int-limits",
        "created_ms = 2^53-1 and nonce = 2^64-1 (uint64)",
        "bob",
        R.ProfileBody("Bob", "max"),
        created=R.MAX_TIME_MS,
        nonce=2**64 - 1,
        now=R.MAX_TIME_MS,
    )
    nonce = 0
    while True:
        rec = R.build(
            key("alice"),
            R.RatingBody(gtin13, (5,), ""),
            created_ms=T0 + 20,
            community=C2,
            nonce=nonce,
        )
        if R.leading_zero_bits(rec.id) >= 8:
            break
        nonce += 1
    valid(
        "rating-pow",
        f"nonce {nonce} gives an id with >= 8 leading zero bits",
        "alice",
        R.RatingBody(gtin13, (5,), ""),
        created=T0 + 20,
        community=C2,
        nonce=nonce,
        context=[c2],
    )

    # ---- valid: kinds and fields this version does not know (§11)
    valid(
        "opaque-kind-9",
        "kind 9, not assigned yet: kept as an opaque record (was unknown_kind before §11)",
        "alice",
        R.OpaqueBody(K(9)),
    )
    o200 = valid(
        "opaque-kind-200",
        "an experimental kind in a community; its body items are any canonical values",
        "alice",
        R.OpaqueBody(
            K(200),
            R.extra_fields("une note", 42, -1, b"\x00\x01", None, True, [["deux"], 3], ""),
        ),
        created=T0 + 21,
        community=C1,
    )
    valid(
        "opaque-kind-255",
        "the last kind number, no community",
        "bob",
        R.OpaqueBody(K(255), R.extra_fields("x")),
        created=T0 + 22,
    )
    valid(
        "retract-opaque",
        "alice retracts her record of a kind this version does not know",
        "alice",
        R.RetractBody(o200.id),
        created=T0 + 23,
        community=C1,
        context=[o200],
    )
    valid(
        "extra-field-community",
        "a charter with a sixth field appended (a list of tags): kept, ignored",
        "bob",
        R.CommunityBody(
            "Bio Paris",
            "",
            ("bio",),
            ("taste", "price"),
            0,
            R.extra_fields(["en:organic", "fr:ab-agriculture-biologique"]),
        ),
        created=T0 + 24,
    )
    valid(
        "extra-fields-rating",
        "a rating with two fields appended; its scores still match the charter",
        "carol",
        R.RatingBody(gtin8, (4, 4, 4), "", R.extra_fields(7, [b"\xff", ["ok"]])),
        created=T0 + 25,
        community=C1,
        context=[c1],
    )

    # ---- malformed
    good = R.build(key("alice"), R.ProfileBody("Alice", ""), created_ms=T0).raw
    rating_body = [gtin13, [5, 4, 3], ""]
    invalid("malformed-empty", "zero bytes", b"", Reason.MALFORMED)
    invalid("malformed-reserved-byte", "0xc1 is never used by msgpack", b"\xc1", Reason.MALFORMED)
    invalid(
        "malformed-truncated", "a valid envelope minus its last byte", good[:-1], Reason.MALFORMED
    )
    invalid(
        "malformed-trailing", "a valid envelope followed by nil", good + b"\xc0", Reason.MALFORMED
    )
    invalid(
        "malformed-map",
        "a map instead of the envelope array",
        msgpack.packb({"kind": 8}),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-empty-map",
        "an empty map inside the body",
        envelope("alice", 8, [Raw(b"\x80", {}), ""]),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-float",
        "created_ms as float64",
        envelope("alice", 8, ["Alice", ""], created=Raw(b"\xcb" + struct.pack(">d", T0), T0)),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-ext",
        "an ext value (fixext1 type 5) as nonce",
        envelope("alice", 8, ["Alice", ""], nonce=Raw(b"\xd4\x05\x00", 0)),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-utf8",
        "a str whose bytes are not UTF-8",
        envelope("alice", 8, [Raw(b"\xa2\xc3\x28", ""), ""]),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-too-deep",
        "an array at depth 4 (top level is depth 0)",
        envelope("alice", 2, [gtin13, "x", "", [[["deep"]]]], community=C1),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-seven-fields",
        "envelope without its signature",
        enc([1, 8, pub("alice"), T0, None, 0, ["Alice", ""]]),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-author-31",
        "author of 31 bytes",
        envelope("alice", 8, ["Alice", ""], author=pub("alice")[:31]),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-sig-63",
        "signature of 63 bytes",
        envelope("alice", 8, ["Alice", ""], sig=bytes(63)),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-community-str",
        "community as a str",
        envelope("alice", 3, rating_body, community="C1"),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-body-arity",
        "rating body with 2 fields instead of 3",
        envelope("alice", 3, [gtin13, [5, 4, 3]], community=C1),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-bool-score",
        "a score given as true",
        envelope("alice", 3, [gtin13, [True, 4, 3], ""], community=C1),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-opaque-body",
        "a kind this version does not know still needs an array body",
        envelope("alice", 9, "body"),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-extra-too-deep",
        "an appended field nesting an array at depth 4",
        envelope("alice", 8, ["Alice", "", [[[1]]]]),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-extra-map",
        "an appended field that is a map",
        envelope("alice", 8, ["Alice", "", Raw(b"\x81\xa1a\x01", {"a": 1})]),
        Reason.MALFORMED,
    )
    invalid(
        "malformed-created-str",
        "created_ms as a str",
        envelope("alice", 8, ["Alice", ""], created="1700000000000"),
        Reason.MALFORMED,
    )

    # ---- non_canonical (signatures are valid over the canonical form)
    invalid(
        "non-canonical-uint8",
        "version 1 written as uint8 (cc 01)",
        envelope("alice", 8, ["Alice", ""], version=uint8(1)),
        Reason.NON_CANONICAL,
    )
    invalid(
        "non-canonical-uint64",
        "nonce 0 written as uint64",
        envelope("alice", 8, ["Alice", ""], nonce=uint64(0)),
        Reason.NON_CANONICAL,
    )
    invalid(
        "non-canonical-signed",
        "a non-negative created_ms written as int64",
        envelope("alice", 8, ["Alice", ""], created=int64(T0)),
        Reason.NON_CANONICAL,
    )
    invalid(
        "non-canonical-int8",
        "score -1 written as int8 (d0 ff): the encoding is checked first",
        envelope("alice", 3, [gtin13, [int8(-1), 4, 3], ""], community=C1),
        Reason.NON_CANONICAL,
    )
    invalid(
        "non-canonical-str8",
        "a 5-byte str written as str8 instead of fixstr",
        envelope("alice", 8, [str8("Alice"), ""]),
        Reason.NON_CANONICAL,
    )
    invalid(
        "non-canonical-extra",
        "an appended field 1 written as uint8 (cc 01): extra fields are canonical too",
        envelope("alice", 8, ["Alice", "", uint8(1)]),
        Reason.NON_CANONICAL,
    )
    about = "Une description de quarante octets, oui."
    assert len(about.encode()) == 40
    invalid(
        "non-canonical-str16",
        "a 40-byte str written as str16 instead of str8",
        envelope("alice", 8, ["Alice", str16(about)]),
        Reason.NON_CANONICAL,
    )
    invalid(
        "non-canonical-bin16",
        "the 32-byte author written as bin16 instead of bin8",
        envelope("alice", 8, ["Alice", ""], author=bin16(pub("alice"))),
        Reason.NON_CANONICAL,
    )
    invalid(
        "non-canonical-array16",
        "the 8-field envelope written as array16",
        envelope("alice", 8, ["Alice", ""], outer=True),
        Reason.NON_CANONICAL,
    )

    # ---- oversize
    invalid(
        "oversize-garbage",
        "16385 bytes: the size is checked before parsing",
        b"\xc1" * (R.MAX_RECORD_BYTES + 1),
        Reason.OVERSIZE,
    )
    big = envelope("bob", 4, ["😀" * 200, "😀" * 4000, "", 1, T0 + DAY], community=C1)
    invalid(
        "oversize-petition",
        f"fields within limits, 4-byte characters: {len(big)} bytes",
        big,
        Reason.OVERSIZE,
    )

    # ---- version, kind
    invalid(
        "unknown-version-2",
        "version 2",
        envelope("alice", 8, ["Alice", ""], version=2),
        Reason.UNKNOWN_VERSION,
    )
    invalid(
        "unknown-version-0",
        "version 0",
        envelope("alice", 8, ["Alice", ""], version=0),
        Reason.UNKNOWN_VERSION,
    )
    invalid("unknown-kind-0", "kind 0", envelope("alice", 0, ["Alice", ""]), Reason.UNKNOWN_KIND)
    invalid(
        "unknown-kind-256",
        "kind 256: kinds are 1..255",
        envelope("alice", 256, ["Alice", ""]),
        Reason.UNKNOWN_KIND,
    )
    invalid(
        "unknown-kind-true",
        "kind true: a boolean is not a kind number",
        envelope("alice", True, ["Alice", ""]),
        Reason.UNKNOWN_KIND,
    )

    # ---- bad_field
    invalid(
        "bad-field-created-negative",
        "created_ms -1",
        envelope("alice", 8, ["Alice", ""], created=-1),
        Reason.BAD_FIELD,
    )
    invalid(
        "bad-field-created-2^53",
        "created_ms 2^53 (> 2^53-1)",
        envelope("alice", 8, ["Alice", ""], created=2**53),
        Reason.BAD_FIELD,
        now=2**53,
    )
    invalid(
        "bad-field-nonce-negative",
        "nonce -1",
        envelope("alice", 8, ["Alice", ""], nonce=-1),
        Reason.BAD_FIELD,
    )
    invalid(
        "bad-field-deadline",
        "petition deadline_ms equal to created_ms",
        envelope("bob", 4, ["T", "x", "", 10, T0], community=C1),
        Reason.BAD_FIELD,
    )
    invalid(
        "bad-field-goal-0",
        "petition goal 0",
        envelope("bob", 4, ["T", "x", "", 0, T0 + DAY], community=C1),
        Reason.BAD_FIELD,
    )
    invalid(
        "bad-field-self-vouch",
        "a vouch for oneself",
        envelope("alice", 6, [pub("alice"), True]),
        Reason.BAD_FIELD,
    )
    invalid(
        "bad-field-blank-name",
        "a required name made of white space only",
        envelope("alice", 1, ["\u3000 \t", "", [], ["taste"], 0]),
        Reason.BAD_FIELD,
    )
    invalid(
        "bad-field-duplicate-labels",
        "labels must be distinct",
        envelope("alice", 2, [gtin13, "Tofu", "", ["bio", "bio"]], community=C1),
        Reason.BAD_FIELD,
    )
    invalid(
        "bad-field-no-criteria",
        "a charter needs at least one criterion",
        envelope("alice", 1, ["X", "", [], [], 0]),
        Reason.BAD_FIELD,
    )
    invalid(
        "bad-field-extra-community",
        "a blank name: the known fields of a body with an appended field are still checked",
        envelope("alice", 1, [" ", "", [], ["taste"], 0, ["en:organic"]]),
        Reason.BAD_FIELD,
    )
    invalid(
        "bad-field-pow-25",
        "pow_bits above 24",
        envelope("alice", 1, ["X", "", [], ["taste"], 25]),
        Reason.BAD_FIELD,
    )

    # ---- bad_signature
    bad = bytearray(good)
    bad[-1] ^= 0x01
    invalid(
        "bad-signature-flipped",
        "last bit of the signature flipped",
        bytes(bad),
        Reason.BAD_SIGNATURE,
    )
    invalid(
        "bad-signature-other-key",
        "author alice, signed by bob",
        envelope("alice", 8, ["Alice", ""], signer="bob"),
        Reason.BAD_SIGNATURE,
    )
    invalid(
        "bad-signature-no-prefix",
        "signed without the domain prefix",
        envelope("alice", 8, ["Alice", ""], prefix=b""),
        Reason.BAD_SIGNATURE,
    )
    invalid(
        "bad-signature-opaque",
        "a kind this version does not know, author alice, signed by bob",
        envelope("alice", 9, ["x"], signer="bob"),
        Reason.BAD_SIGNATURE,
    )
    invalid(
        "bad-signature-zero",
        "signature of 64 zero bytes",
        envelope("alice", 8, ["Alice", ""], sig=bytes(64)),
        Reason.BAD_SIGNATURE,
    )

    # ---- future_timestamp
    invalid(
        "future-timestamp",
        "created_ms = now_ms + 600001",
        envelope("alice", 8, ["Alice", ""], created=NOW + R.MAX_FUTURE_MS + 1),
        Reason.FUTURE_TIMESTAMP,
    )

    # ---- text, items, scores, gtin, nfc
    invalid(
        "text-too-long-rating",
        "rating text of 1001 code points",
        envelope("alice", 3, [gtin13, [5, 4, 3], "a" * 1001], community=C1),
        Reason.TEXT_TOO_LONG,
    )
    invalid(
        "text-too-long-name",
        "charter name of 81 code points",
        envelope("alice", 1, ["n" * 81, "", [], ["taste"], 0]),
        Reason.TEXT_TOO_LONG,
    )
    invalid(
        "text-too-long-label",
        "a label of 41 code points",
        envelope("alice", 2, [gtin13, "Tofu", "", ["l" * 41]], community=C1),
        Reason.TEXT_TOO_LONG,
    )
    invalid(
        "too-many-items-labels",
        "17 labels (max 16)",
        envelope("alice", 2, [gtin13, "Tofu", "", [f"l{i}" for i in range(17)]], community=C1),
        Reason.TOO_MANY_ITEMS,
    )
    invalid(
        "too-many-items-scores",
        "9 scores (max 8)",
        envelope("alice", 3, [gtin13, [3] * 9, ""], community=C1),
        Reason.TOO_MANY_ITEMS,
    )
    invalid(
        "too-many-items-no-scores",
        "0 scores: reported as too_many_items (1..8)",
        envelope("alice", 3, [gtin13, [], ""], community=C1),
        Reason.TOO_MANY_ITEMS,
    )
    invalid(
        "score-out-of-range-0",
        "score 0",
        envelope("alice", 3, [gtin13, [5, 0, 3], ""], community=C1),
        Reason.SCORE_OUT_OF_RANGE,
    )
    invalid(
        "score-out-of-range-6",
        "score 6",
        envelope("alice", 3, [gtin13, [6, 4, 3], ""], community=C1),
        Reason.SCORE_OUT_OF_RANGE,
    )
    invalid(
        "bad-gtin-check-digit",
        "EAN-13 with check digit 2 instead of 1",
        envelope("alice", 3, ["4006381333932", [5, 4, 3], ""], community=C1),
        Reason.BAD_GTIN,
    )
    invalid(
        "bad-gtin-length",
        "11 digits",
        envelope("alice", 3, ["40063813339", [5, 4, 3], ""], community=C1),
        Reason.BAD_GTIN,
    )
    invalid(
        "bad-gtin-letter",
        "a letter among the digits",
        envelope("alice", 2, ["400638133393X", "Tofu", "", []], community=C1),
        Reason.BAD_GTIN,
    )
    invalid(
        "bad-gtin-unicode-digits",
        "Arabic-Indic digits are not ASCII digits",
        envelope(
            "alice",
            3,
            [
                "\u0664\u0660\u0660\u0666\u0663\u0668\u0661\u0663\u0663\u0663\u0669\u0663\u0661",
                [5, 4, 3],
                "",
            ],
            community=C1,
        ),
        Reason.BAD_GTIN,
    )
    invalid(
        "bad-gtin-space",
        "a trailing space",
        envelope("alice", 3, [gtin13 + " ", [5, 4, 3], ""], community=C1),
        Reason.BAD_GTIN,
    )
    invalid(
        "not-nfc",
        "display_name 'e' + U+0301 (NFD) instead of U+00E9",
        envelope("alice", 8, ["Ame\u0301lie", ""]),
        Reason.NOT_NFC,
    )
    invalid(
        "not-nfc-extra",
        "an appended field in NFD: every string of the record must be NFC",
        envelope("alice", 8, ["Alice", "", "Ame\u0301lie"]),
        Reason.NOT_NFC,
    )
    invalid(
        "not-nfc-before-kind",
        "NFC is checked on the whole document, before the kind",
        envelope("alice", 99, ["A\u030a"]),
        Reason.NOT_NFC,
    )

    # ---- bad_community
    invalid(
        "bad-community-missing",
        "a rating needs a community",
        envelope("alice", 3, rating_body),
        Reason.BAD_COMMUNITY,
    )
    invalid(
        "bad-community-charter",
        "a charter must not have one",
        envelope("alice", 1, ["X", "", [], ["taste"], 0], community=C1),
        Reason.BAD_COMMUNITY,
    )
    invalid(
        "bad-community-profile",
        "a profile must not have one",
        envelope("alice", 8, ["Alice", ""], community=C1),
        Reason.BAD_COMMUNITY,
    )

    # ---- contextual
    invalid(
        "score-count-mismatch",
        "2 scores for a charter with 3 criteria",
        envelope("alice", 3, [gtin13, [5, 4], ""], community=C1),
        Reason.SCORE_COUNT_MISMATCH,
        context=[c1],
    )
    deadline = T0 + 30 * DAY
    invalid(
        "late-signature",
        "created_ms = deadline_ms + 1",
        envelope("carol", K.SIGNATURE, [p1.id], created=deadline + 1, community=C1),
        Reason.LATE_SIGNATURE,
        now=deadline + 1,
        context=[p1],
    )
    invalid(
        "not-author",
        "bob retracts alice's rating",
        envelope("bob", K.RETRACT, [r1.id], created=T0 + 30, community=C1),
        Reason.NOT_AUTHOR,
        context=[r1],
    )
    nonce = 0
    while True:
        raw = envelope(
            "bob", K.RATING, [gtin13, [2], ""], created=T0 + 31, community=C2, nonce=nonce
        )
        if R.leading_zero_bits(R.record_id(raw)) < 8:
            break
        nonce += 1
    invalid(
        "insufficient-pow",
        "the charter asks 8 zero bits, the id has fewer",
        raw,
        Reason.INSUFFICIENT_POW,
        context=[c2],
    )
    nonce = 0
    while True:
        raw = envelope("bob", 200, ["x"], created=T0 + 35, community=C2, nonce=nonce)
        if R.leading_zero_bits(R.record_id(raw)) < 8:
            break
        nonce += 1
    invalid(
        "insufficient-pow-opaque",
        "a kind this version does not know still owes its community's proof of work",
        raw,
        Reason.INSUFFICIENT_POW,
        context=[c2],
    )
    invalid(
        "not-author-opaque",
        "bob retracts alice's record of a kind this version does not know",
        envelope("bob", K.RETRACT, [o200.id], created=T0 + 36, community=C1),
        Reason.NOT_AUTHOR,
        context=[o200],
    )
    invalid(
        "bad-community-signature",
        "signature in another community than its petition",
        envelope("carol", K.SIGNATURE, [p1.id], created=T0 + 32, community=C2),
        Reason.BAD_COMMUNITY,
        context=[p1],
    )
    invalid(
        "bad-field-signature-target",
        "a signature of a record that is not a petition",
        envelope("carol", K.SIGNATURE, [r1.id], created=T0 + 33, community=C1),
        Reason.BAD_FIELD,
        context=[r1],
    )
    invalid(
        "bad-field-retract-retract",
        "a retraction cannot be retracted",
        envelope(
            "alice", K.RETRACT, [R.record_id(vector_raw("retract"))], created=T0 + 34, community=C1
        ),
        Reason.BAD_FIELD,
        context=[R.decode(vector_raw("retract"))],
    )
    return {
        "format": "cercle record vectors 2",
        "spec": "specs/records.md",
        "generator": "tests/gen_record_vectors.py",
        "keys": {
            who: {"seed": seed.hex(), "public": pub(who).hex()} for who, seed in SEEDS.items()
        },
        "vectors": VECTORS,
    }


def vector_raw(name: str) -> bytes:
    return bytes.fromhex(next(v for v in VECTORS if v["name"] == name)["envelope"])


def main() -> None:
    doc = generate()
    reasons = {v["reason"] for v in doc["vectors"] if "reason" in v}
    missing = {r.value for r in Reason} - reasons - {Reason.RETRACTED.value}
    assert not missing, missing
    names = [v["name"] for v in doc["vectors"]]
    assert len(names) == len(set(names)), "vector names must be unique"
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    print(f"wrote {len(names)} vectors to {OUT} (sha256 {digest})", file=sys.stderr)


if __name__ == "__main__":
    main()
