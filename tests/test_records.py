"""Records: the vectors of ``specs/vectors/records.json`` and property tests.

The vectors are loaded, never regenerated (``tests/gen_record_vectors.py``
writes them).  Property tests use a small independent msgpack encoder
(:func:`ref_encode`) so that "canonical" is checked against the spec's table of
shortest forms, not against msgpack-python alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cercle.protocol import canonical
from cercle.protocol import records as R
from cercle.protocol.errors import Reason, Rejected

VECTOR_FILE = Path(__file__).resolve().parents[1] / "specs" / "vectors" / "records.json"
DOC = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
VALID = [v for v in DOC["vectors"] if "id" in v]
INVALID = [v for v in DOC["vectors"] if "reason" in v]
# RETRACTED is given by storage (a tombstone exists), never by one record and its context.
SINGLE_RECORD_REASONS = [r for r in Reason if r is not Reason.RETRACTED]

FAST = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
T0 = 1_700_000_000_000
KEYS = [Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32) for n in (1, 2, 3)]


def pub(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


class Ctx:
    """A tiny in-memory :class:`records.Context`."""

    def __init__(self, *records: R.Record) -> None:
        self.by_id = {r.id: r for r in records}

    def charter(self, community: bytes) -> R.CommunityBody | None:
        r = self.by_id.get(community)
        return r.body if r is not None and isinstance(r.body, R.CommunityBody) else None

    def get(self, record_id: bytes) -> R.Record | None:
        return self.by_id.get(record_id)


# =========================================================================== reference encoder
# Head encoders per msgpack type; the first applicable one is the canonical (shortest) form.


def _int_forms(n: int) -> list[bytes]:
    forms: list[tuple[bool, bytes]] = []
    if n >= 0:
        forms += [
            (n < 0x80, bytes([n]) if n < 0x80 else b""),
            (n < 2**8, b"\xcc" + n.to_bytes(1, "big") if n < 2**8 else b""),
            (n < 2**16, b"\xcd" + n.to_bytes(2, "big") if n < 2**16 else b""),
            (n < 2**32, b"\xce" + n.to_bytes(4, "big") if n < 2**32 else b""),
            (True, b"\xcf" + n.to_bytes(8, "big")),
        ]
    else:
        forms += [(n >= -32, struct.pack(">b", n) if n >= -32 else b"")]
    # Signed forms: canonical for negatives, never for non-negatives.
    for lim, head, size in (
        (2**7, b"\xd0", 1),
        (2**15, b"\xd1", 2),
        (2**31, b"\xd2", 4),
        (2**63, b"\xd3", 8),
    ):
        if -lim <= n < lim:
            forms.append((True, head + n.to_bytes(size, "big", signed=True)))
    return [b for ok, b in forms if ok]


def _len_forms(n: int, fix: int | None, fix_max: int, heads: tuple[int, int, int]) -> list[bytes]:
    forms = []
    if fix is not None and n <= fix_max:
        forms.append(bytes([fix | n]))
    for head, size in zip(heads, (1, 2, 4), strict=True):
        if head and n < 2 ** (8 * size):
            forms.append(bytes([head]) + n.to_bytes(size, "big"))
    return forms


def head_forms(v: Any) -> list[bytes]:
    """All encodings of the head of ``v`` (for scalars: of ``v``); [0] is canonical."""
    if v is None:
        return [b"\xc0"]
    if isinstance(v, bool):
        return [b"\xc3" if v else b"\xc2"]
    if isinstance(v, int):
        return _int_forms(v)
    if isinstance(v, str):
        return _len_forms(len(v.encode()), 0xA0, 31, (0xD9, 0xDA, 0xDB))
    if isinstance(v, bytes):
        return _len_forms(len(v), None, 0, (0xC4, 0xC5, 0xC6))
    if isinstance(v, list):
        return _len_forms(len(v), 0x90, 15, (0, 0xDC, 0xDD))
    raise TypeError(type(v))


def ref_encode(v: Any, widen: tuple[int, int] | None = None) -> bytes:
    """Encode ``v``; ``widen=(i, j)`` writes node ``i`` (pre-order) with head form ``j``."""
    out = bytearray()
    counter = [0]

    def walk(x: Any) -> None:
        i = counter[0]
        counter[0] += 1
        forms = head_forms(x)
        out.extend(forms[widen[1] if widen is not None and widen[0] == i else 0])
        if isinstance(x, str):
            out.extend(x.encode())
        elif isinstance(x, bytes):
            out.extend(x)
        elif isinstance(x, list):
            for item in x:
                walk(item)

    walk(v)
    return bytes(out)


def nodes(v: Any) -> list[Any]:
    """Pre-order list of the values in ``v`` (the numbering ``ref_encode`` uses)."""
    out = [v]
    if isinstance(v, list):
        for item in v:
            out.extend(nodes(item))
    return out


# =========================================================================== strategies

CHARS = st.characters(codec="utf-8")


def texts(max_chars: int, min_chars: int = 0, cap: int = 40) -> st.SearchStrategy[str]:
    return (
        st.text(CHARS, min_size=min_chars, max_size=min(max_chars, cap))
        .map(R.nfc)
        .filter(lambda s: len(s) <= max_chars and len(s.strip()) >= min_chars)
    )


def gtin_check_digit(body: str) -> str:
    """Reference: pad to 13 digits, weights 3,1,3,... from the left (GS1 GTIN-14 layout)."""
    padded = body.rjust(13, "0")
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(padded))
    return str(-total % 10)


@st.composite
def gtins(draw: st.DrawFn) -> str:
    n = draw(st.sampled_from([8, 12, 13, 14]))  # GTIN-8, -12 (UPC-A), -13 (EAN), -14
    body = draw(st.text("0123456789", min_size=n - 1, max_size=n - 1))
    return body + gtin_check_digit(body)


def field_strategy(spec: R.Field) -> st.SearchStrategy[Any]:
    if isinstance(spec, R.Text):
        return texts(spec.max_chars, spec.min_chars)
    if isinstance(spec, R.TextList):
        item = texts(spec.item.max_chars, spec.item.min_chars, cap=10)
        return st.lists(item, min_size=spec.min_items, max_size=spec.max_items, unique=True).map(
            tuple
        )
    if isinstance(spec, R.Scores):
        return st.lists(
            st.integers(R.SCORE_MIN, R.SCORE_MAX), min_size=1, max_size=spec.max_items
        ).map(tuple)
    if isinstance(spec, R.Int):
        return st.integers(spec.lo, spec.hi)
    if isinstance(spec, R.Bytes32):
        return st.binary(min_size=32, max_size=32)
    if isinstance(spec, R.Bool):
        return st.booleans()
    assert isinstance(spec, R.Gtin)
    return gtins()


BUILT: dict[tuple[Any, ...], R.Record] = {}


@st.composite
def records(draw: st.DrawFn, kinds: tuple[R.Kind, ...] = tuple(R.Kind)) -> R.Record:
    kind = draw(st.sampled_from(kinds))
    key = draw(st.sampled_from(KEYS))
    cls = R.BODY_TYPES[kind]
    values = [draw(field_strategy(spec)) for _, spec in cls.FIELDS]
    body: Any = cls(*values)
    created = draw(st.integers(0, R.MAX_TIME_MS - 1))
    if isinstance(body, R.PetitionBody):
        body = dataclasses.replace(body, deadline_ms=draw(st.integers(created + 1, R.MAX_TIME_MS)))
    if isinstance(body, R.VouchBody) and body.subject == pub(key):
        body = dataclasses.replace(body, subject=bytes(32))
    rule = R.COMMUNITY_RULE[kind]
    binary32 = st.binary(min_size=32, max_size=32)
    community = draw({True: binary32, False: st.none(), None: st.none() | binary32}[rule])
    nonce = draw(st.integers(0, 2**64 - 1))
    return R.build(key, body, created_ms=created, community=community, nonce=nonce)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(canonical.INT_MIN, canonical.INT_MAX)
    | texts(300, cap=40)
    | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=20),
    max_leaves=12,
)


def wire(rec: R.Record) -> list[Any]:
    return [
        1,
        int(rec.kind),
        rec.author,
        rec.created_ms,
        rec.community,
        rec.nonce,
        rec.body.to_wire(),
        rec.sig,
    ]


def resign(key: Ed25519PrivateKey, unsigned: list[Any]) -> bytes:
    """Envelope bytes of ``unsigned`` signed by ``key``, whatever the fields hold."""
    sig = key.sign(R.SIGNING_PREFIX + msgpack.packb(unsigned, use_bin_type=True))
    out: bytes = msgpack.packb([*unsigned, sig], use_bin_type=True)
    return out


def reason_of(raw: bytes, now_ms: int = R.MAX_TIME_MS) -> Reason:
    with pytest.raises(Rejected) as info:
        R.validate(raw, now_ms=now_ms)
    return info.value.reason


# =========================================================================== vectors


def body_from_json(kind: int, fields: dict[str, Any] | None, extra: list[str]) -> R.Body:
    """A body from a vector's ``fields``: ``body`` nil is a kind this version does not know."""
    items = tuple(bytes.fromhex(h) for h in extra)
    if fields is None:
        return R.OpaqueBody(R.Kind(kind), items)
    cls = R.BODY_TYPES[R.Kind(kind)]
    args = []
    for name, spec in cls.FIELDS:
        v = fields[name]
        if isinstance(spec, R.Bytes32):
            v = bytes.fromhex(v)
        elif isinstance(spec, R.TextList | R.Scores):
            v = tuple(v)
        args.append(v)
    body: Any = cls(*args, extra=items)  # type: ignore[call-arg]
    return body  # type: ignore[no-any-return]


def fields_json(rec: R.Record) -> dict[str, Any]:
    def j(v: Any) -> Any:
        return v.hex() if isinstance(v, bytes) else list(v) if isinstance(v, tuple) else v

    body = rec.body
    out = {
        "version": 1,
        "kind": int(rec.kind),
        "author": rec.author.hex(),
        "created_ms": rec.created_ms,
        "community": rec.community.hex() if rec.community is not None else None,
        "nonce": rec.nonce,
        "body": None
        if isinstance(body, R.OpaqueBody)
        else {name: j(getattr(body, name)) for name, _ in body.FIELDS},
        "signature": rec.sig.hex(),
    }
    if body.extra:
        out["extra"] = [e.hex() for e in body.extra]
    return out


def context_of(vector: dict[str, Any]) -> Ctx:
    return Ctx(*(R.validate(bytes.fromhex(h), now_ms=R.MAX_TIME_MS) for h in vector["context"]))


def test_vectors_cover_every_kind_and_reason() -> None:
    kinds = {v["fields"]["kind"] for v in VALID}
    assert kinds >= {int(k) for k in R.Kind}
    assert {9, 200, 255} <= kinds  # kinds this version does not know: opaque records
    assert {v["fields"]["kind"] for v in VALID if "extra" in v["fields"]} >= {1, 3}
    assert {v["reason"] for v in INVALID} == {r.value for r in SINGLE_RECORD_REASONS}
    names = [v["name"] for v in DOC["vectors"]]
    assert len(names) == len(set(names))
    for who in DOC["keys"].values():
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(who["seed"]))
        assert pub(key).hex() == who["public"]


@pytest.mark.parametrize("v", VALID, ids=[v["name"] for v in VALID])
def test_valid_vector_decodes(v: dict[str, Any]) -> None:
    raw = bytes.fromhex(v["envelope"])
    rec = R.validate(raw, now_ms=v["now_ms"])
    assert rec.raw == raw
    assert rec.id.hex() == v["id"] == hashlib.sha256(raw).hexdigest()
    assert fields_json(rec) == v["fields"]
    key = R.replace_key(rec)
    assert (key.hex() if key is not None else None) == v["replace_key"]
    if "context" in v:
        R.check_context(rec, context_of(v))


@pytest.mark.parametrize("v", VALID, ids=[v["name"] for v in VALID])
def test_valid_vector_rebuilds_byte_for_byte(v: dict[str, Any]) -> None:
    f = v["fields"]
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["seed"]))
    assert pub(key).hex() == f["author"]
    community = bytes.fromhex(f["community"]) if f["community"] is not None else None
    rec = R.build(
        key,
        body_from_json(f["kind"], f["body"], f.get("extra", [])),
        created_ms=f["created_ms"],
        community=community,
        nonce=f["nonce"],
    )
    assert rec.raw.hex() == v["envelope"]


@pytest.mark.parametrize("v", INVALID, ids=[v["name"] for v in INVALID])
def test_invalid_vector_rejected_with_its_reason(v: dict[str, Any]) -> None:
    raw = bytes.fromhex(v["envelope"])
    if "context" not in v:
        assert reason_of(raw, v["now_ms"]).value == v["reason"]
        return
    rec = R.validate(raw, now_ms=v["now_ms"])  # contextual: fine alone
    with pytest.raises(Rejected) as info:
        R.check_context(rec, context_of(v))
    assert info.value.reason.value == v["reason"]
    R.check_context(rec, Ctx())  # unknown references pass (re-checked later by storage)


@pytest.mark.parametrize("reason", SINGLE_RECORD_REASONS, ids=str)
def test_each_reason(reason: Reason) -> None:
    cases = [v for v in INVALID if v["reason"] == reason.value]
    assert cases, f"no vector for {reason}"
    for v in cases:
        test_invalid_vector_rejected_with_its_reason(v)


def test_future_timestamp_depends_only_on_now() -> None:
    v = next(v for v in INVALID if v["name"] == "future-timestamp")
    raw = bytes.fromhex(v["envelope"])
    rec = R.validate(raw, now_ms=v["now_ms"] + 1)  # one ms later it is acceptable
    assert rec.created_ms == v["now_ms"] + R.MAX_FUTURE_MS + 1


# =========================================================================== spec tables

SPEC_BODIES: dict[R.Kind, list[tuple[str, str, int, int]]] = {
    # name, type, min, max (text: chars; list: items; int: value)
    R.Kind.COMMUNITY: [
        ("name", "text", 1, 80),
        ("description", "text", 0, 2000),
        ("values", "labels", 0, 16),
        ("criteria", "labels", 1, 8),
        ("pow_bits", "int", 0, 24),
    ],
    R.Kind.PRODUCT: [
        ("gtin", "gtin", 0, 0),
        ("name", "text", 1, 120),
        ("brand", "text", 0, 80),
        ("labels", "labels", 0, 16),
    ],
    R.Kind.RATING: [("gtin", "gtin", 0, 0), ("scores", "scores", 1, 8), ("text", "text", 0, 1000)],
    R.Kind.PETITION: [
        ("title", "text", 1, 200),
        ("text", "text", 1, 4000),
        ("target", "text", 0, 200),
        ("goal", "int", 1, 10**9),
        ("deadline_ms", "int", 0, 2**53 - 1),
    ],
    R.Kind.SIGNATURE: [("petition", "bytes32", 0, 0)],
    R.Kind.VOUCH: [("subject", "bytes32", 0, 0), ("trust", "bool", 0, 0)],
    R.Kind.RETRACT: [("target", "bytes32", 0, 0)],
    R.Kind.PROFILE: [("display_name", "text", 0, 64), ("about", "text", 0, 500)],
}
SPEC_COMMUNITY = {1: "nil", 2: "set", 3: "set", 4: "set", 5: "set", 6: "any", 7: "any", 8: "nil"}


def describe(spec: R.Field) -> tuple[str, int, int]:
    if isinstance(spec, R.Text):
        return ("text", spec.min_chars, spec.max_chars)
    if isinstance(spec, R.TextList):
        assert (spec.item.min_chars, spec.item.max_chars) == (1, 40)
        return ("labels", spec.min_items, spec.max_items)
    if isinstance(spec, R.Scores):
        return ("scores", 1, spec.max_items)
    if isinstance(spec, R.Int):
        return ("int", spec.lo, spec.hi)
    return ({R.Bytes32: "bytes32", R.Bool: "bool", R.Gtin: "gtin"}[type(spec)], 0, 0)


def test_implementation_matches_spec_tables() -> None:
    """specs/records.md's tables, transcribed: a change to either must change both."""
    assert [int(k) for k in R.Kind] == list(range(1, 9))
    for kind, fields in SPEC_BODIES.items():
        assert [(n, *describe(s)) for n, s in R.BODY_TYPES[kind].FIELDS] == fields
        rule = {False: "nil", True: "set", None: "any"}[R.COMMUNITY_RULE[kind]]
        assert rule == SPEC_COMMUNITY[int(kind)]
    assert (R.VERSION, R.SIGNING_PREFIX) == (1, b"cercle-record-v1\x00")
    assert (R.MAX_RECORD_BYTES, R.MAX_FUTURE_MS, R.MAX_TIME_MS) == (16384, 600_000, 2**53 - 1)
    assert (R.SCORE_MIN, R.SCORE_MAX, canonical.MAX_DEPTH) == (1, 5, 4)


# =========================================================================== round trip


@FAST
@given(records())
def test_round_trip(rec: R.Record) -> None:
    assert R.decode(rec.raw) == rec
    assert R.validate(rec.raw, now_ms=rec.created_ms) == rec
    assert rec.id == hashlib.sha256(rec.raw).digest()
    value = wire(rec)
    assert canonical.decode(rec.raw, max_len=R.MAX_RECORD_BYTES) == value
    assert ref_encode(value) == rec.raw  # the spec's shortest-form table, independently
    # Signing input = prefix + canonical 7-field array = prefix + 0x97 + envelope minus head/sig.
    unsigned = ref_encode(value[:7])
    assert rec.raw[0] == 0x98 and rec.raw[-66:-64] == b"\xc4\x40"
    assert unsigned == b"\x97" + rec.raw[1:-66]
    signing_input = b"cercle-record-v1\x00" + unsigned
    Ed25519PublicKey.from_public_bytes(rec.author).verify(rec.sig, signing_input)


@FAST
@given(values)
def test_reference_encoder_agrees_with_canonical(v: Any) -> None:
    try:
        enc = canonical.encode(v)
    except TypeError:  # nested deeper than MAX_DEPTH
        return
    assert ref_encode(v) == enc
    assert canonical.decode(enc, max_len=10**6) == v


def test_depth_limit() -> None:
    assert canonical.decode(canonical.encode([[[[1]]]]), max_len=100) == [[[[1]]]]
    with pytest.raises(TypeError):
        canonical.encode([[[[[1]]]]])
    with pytest.raises(Rejected) as info:
        canonical.decode(b"\x91\x91\x91\x91\x91\x01", max_len=100)
    assert info.value.reason is Reason.MALFORMED
    with pytest.raises(Rejected) as info:  # a nesting bomb
        canonical.decode(b"\x91" * 16000 + b"\xc0", max_len=R.MAX_RECORD_BYTES)
    assert info.value.reason is Reason.MALFORMED


def test_encode_refuses_values_outside_the_model() -> None:
    for bad in (1.5, {"a": 1}, (1, 2), 2**64, -(2**63) - 1, bytearray(b"x")):
        with pytest.raises(TypeError):
            canonical.encode([bad])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        canonical.encode("e\u0301")
    assert canonical.encode(R.nfc("e\u0301")) == b"\xa2\xc3\xa9"


# =========================================================================== non-canonical


@FAST
@given(records(), st.data())
def test_any_longer_form_is_non_canonical(rec: R.Record, data: st.DataObject) -> None:
    value = wire(rec)
    widenable = [
        (i, len(head_forms(n))) for i, n in enumerate(nodes(value)) if len(head_forms(n)) > 1
    ]
    i, n_forms = data.draw(st.sampled_from(widenable))
    j = data.draw(st.integers(1, n_forms - 1))
    raw = ref_encode(value, widen=(i, j))
    assert raw != rec.raw
    assert msgpack.unpackb(raw, raw=False) == value  # the same value...
    with pytest.raises(Rejected) as info:  # ...in another encoding
        R.decode(raw)
    assert info.value.reason is Reason.NON_CANONICAL


@FAST
@given(values, st.data())
def test_canonical_decode_rejects_longer_forms_of_any_value(v: Any, data: st.DataObject) -> None:
    try:
        canonical.encode(v)
    except TypeError:
        return
    widenable = [(i, len(head_forms(n))) for i, n in enumerate(nodes(v)) if len(head_forms(n)) > 1]
    if not widenable:
        return
    i, n_forms = data.draw(st.sampled_from(widenable))
    raw = ref_encode(v, widen=(i, data.draw(st.integers(1, n_forms - 1))))
    with pytest.raises(Rejected) as info:
        canonical.decode(raw, max_len=10**6)
    assert info.value.reason is Reason.NON_CANONICAL


# =========================================================================== robustness


@settings(FAST, max_examples=200)
@given(records(), st.data())
def test_any_changed_byte_is_rejected(rec: R.Record, data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, len(rec.raw) - 1))
    mask = data.draw(st.sampled_from([1 << b for b in range(8)]) | st.integers(1, 255))
    raw = bytearray(rec.raw)
    raw[pos] ^= mask
    reason_of(bytes(raw))


@FAST
@given(st.binary(max_size=400))
def test_random_bytes_are_rejected(raw: bytes) -> None:
    reason_of(raw)


@FAST
@given(st.lists(values, min_size=0, max_size=10))
def test_random_arrays_are_rejected(items: list[Any]) -> None:
    reason_of(msgpack.packb(items, use_bin_type=True))


@pytest.mark.parametrize("v", VALID, ids=[v["name"] for v in VALID])
def test_every_truncation_and_extension_is_malformed(v: dict[str, Any]) -> None:
    raw = bytes.fromhex(v["envelope"])
    for n in range(len(raw)):
        assert reason_of(raw[:n]) is Reason.MALFORMED
    for extra in (b"\x00", b"\xc0", raw):
        assert reason_of(raw + extra) is Reason.MALFORMED


SLOTS = ["version", "kind", "author", "created_ms", "community", "nonce", "body", "signature"]


def wrong_type(current: Any, *, nil_ok: bool = False) -> st.SearchStrategy[Any]:
    """Values whose msgpack type differs from ``current``'s (bool is not int)."""
    return values.filter(lambda x: type(x) is not type(current) and not (nil_ok and x is None))


@FAST
@given(records(), st.data())
def test_wrong_type_in_an_envelope_field(rec: R.Record, data: st.DataObject) -> None:
    value = wire(rec)
    slot = data.draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6]))  # the signature: below
    current = value[slot] if value[slot] is not None else b""
    value[slot] = data.draw(wrong_type(current, nil_ok=slot == 4))
    key = next(k for k in KEYS if pub(k) == rec.author)
    raw = resign(key, value[:7])
    expected = {0: Reason.UNKNOWN_VERSION, 1: Reason.UNKNOWN_KIND}.get(slot, Reason.MALFORMED)
    assert reason_of(raw) in {expected, Reason.OVERSIZE}, SLOTS[slot]


@FAST
@given(records(), values.filter(lambda x: not isinstance(x, bytes)))
def test_wrong_type_in_the_signature(rec: R.Record, sig: Any) -> None:
    raw = msgpack.packb([*wire(rec)[:7], sig], use_bin_type=True)
    assert reason_of(raw) in {Reason.MALFORMED, Reason.OVERSIZE}


@FAST
@given(records(), st.data())
def test_wrong_type_in_a_body_field(rec: R.Record, data: st.DataObject) -> None:
    value = wire(rec)
    body = value[6]
    i = data.draw(st.integers(0, len(body) - 1))
    body[i] = data.draw(wrong_type(body[i]))
    key = next(k for k in KEYS if pub(k) == rec.author)
    assert reason_of(resign(key, value[:7])) in {Reason.MALFORMED, Reason.OVERSIZE}


FIELD_CASES = [(kind, i) for kind in R.Kind for i in range(len(R.BODY_TYPES[kind].FIELDS))]


def huge(spec: R.Field) -> tuple[st.SearchStrategy[Any], Reason]:
    """Values just or far beyond ``spec``'s limit, and the reason they get."""
    if isinstance(spec, R.Text):
        return st.integers(spec.max_chars + 1, spec.max_chars + 20000).map(
            lambda n: "x" * n
        ), Reason.TEXT_TOO_LONG
    if isinstance(spec, R.TextList):
        return st.integers(spec.max_items + 1, 3000).map(
            lambda n: [f"l{i}" for i in range(n)]
        ), Reason.TOO_MANY_ITEMS
    if isinstance(spec, R.Scores):
        return st.integers(spec.max_items + 1, 9000).map(lambda n: [3] * n), Reason.TOO_MANY_ITEMS
    if isinstance(spec, R.Int):
        return (
            st.integers(spec.hi + 1, 2**64 - 1) | st.integers(-(2**63), spec.lo - 1),
            spec.reason,
        )
    if isinstance(spec, R.Gtin):
        return st.integers(15, 20000).map(lambda n: "4" * n), Reason.BAD_GTIN
    if isinstance(spec, R.Bytes32):
        return st.integers(33, 20000).map(bytes), Reason.MALFORMED
    assert isinstance(spec, R.Bool)
    return st.integers(2, 2**64 - 1), Reason.MALFORMED


@pytest.mark.parametrize(
    ("kind", "index"), FIELD_CASES, ids=[f"{k.name.lower()}-{i}" for k, i in FIELD_CASES]
)
@settings(FAST, max_examples=10)
@given(data=st.data())
def test_huge_field(kind: R.Kind, index: int, data: st.DataObject) -> None:
    rec = data.draw(records((kind,)))
    value = wire(rec)
    strategy, reason = huge(R.BODY_TYPES[kind].FIELDS[index][1])
    value[6][index] = data.draw(strategy)
    key = next(k for k in KEYS if pub(k) == rec.author)
    raw = resign(key, value[:7])
    assert reason_of(raw) is (Reason.OVERSIZE if len(raw) > R.MAX_RECORD_BYTES else reason)


@FAST
@given(records(), st.data())
def test_huge_envelope_ints(rec: R.Record, data: st.DataObject) -> None:
    value = wire(rec)
    value[3] = data.draw(st.integers(R.MAX_TIME_MS + 1, 2**64 - 1) | st.integers(-(2**63), -1))
    key = next(k for k in KEYS if pub(k) == rec.author)
    assert reason_of(resign(key, value[:7])) is Reason.BAD_FIELD


TEXT_KINDS = [k for k in R.Kind if any(isinstance(f, R.Text) for _, f in R.BODY_TYPES[k].FIELDS)]


@pytest.mark.parametrize("kind", TEXT_KINDS, ids=lambda k: k.name.lower())
def test_text_limits_are_inclusive_code_points(kind: R.Kind) -> None:
    cls = R.BODY_TYPES[kind]
    bases: dict[R.Kind, list[Any]] = {
        R.Kind.COMMUNITY: ["n", "", [], ["c"], 0],
        R.Kind.PRODUCT: ["96385074", "p", "", []],
        R.Kind.RATING: ["96385074", [3], ""],
        R.Kind.PETITION: ["t", "x", "", 1, T0 + 1],
        R.Kind.PROFILE: ["", ""],
    }
    base = bases[kind]
    community = None if R.COMMUNITY_RULE[kind] is False else bytes(32)
    for i, (_, spec) in enumerate(cls.FIELDS):
        if not isinstance(spec, R.Text):
            continue
        for char in ("a", "é", "€", "😀"):
            body = list(base)
            body[i] = char * spec.max_chars
            raw = resign(KEYS[0], [1, int(kind), pub(KEYS[0]), T0, community, 0, body])
            if len(raw) <= R.MAX_RECORD_BYTES:
                assert R.validate(raw, now_ms=T0).body.to_wire()[i] == body[i]
            body[i] = char * (spec.max_chars + 1)
            raw = resign(KEYS[0], [1, int(kind), pub(KEYS[0]), T0, community, 0, body])
            assert reason_of(raw) in {Reason.TEXT_TOO_LONG, Reason.OVERSIZE}


WHITE_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)


def test_white_space_only_required_text_is_bad_field() -> None:
    # specs/records.md lists the white space that str.strip() removes.
    assert set(WHITE_SPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}
    for ws in WHITE_SPACE:
        body = ["96385074", R.nfc(ws * 3), "", []]  # NFC maps U+2000, U+2001 to U+2002, U+2003
        raw = resign(KEYS[0], [1, 2, pub(KEYS[0]), T0, bytes(32), 0, body])
        assert reason_of(raw) is Reason.BAD_FIELD
    raw = resign(KEYS[0], [1, 2, pub(KEYS[0]), T0, bytes(32), 0, ["96385074", "\u200b", "", []]])
    assert R.validate(raw, now_ms=T0).body == R.ProductBody("96385074", "\u200b", "", ())
    raw = resign(KEYS[0], [1, 8, pub(KEYS[0]), T0, None, 0, ["", ""]])
    assert R.validate(raw, now_ms=T0).body == R.ProfileBody("", "")  # optional text may be empty


# =========================================================================== GTIN

GTIN_LENGTHS = (8, 12, 13, 14)
VALID_GTINS = [
    "96385074",
    "55123457",
    "036000291452",
    "614141000036",
    "4006381333931",
    "5901234123457",
    "00012345600012",
    "10614141000415",
    "00000000",
    "00000000000000",
]


@pytest.mark.parametrize("code", VALID_GTINS)
def test_gtin_valid_examples(code: str) -> None:
    assert R.gtin_valid(code)
    assert gtin_check_digit(code[:-1]) == code[-1]
    assert R.gtin14(code) == code.rjust(14, "0") and R.gtin_valid(R.gtin14(code))
    for wrong in "0123456789":
        if wrong != code[-1]:
            assert not R.gtin_valid(code[:-1] + wrong)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "9638507",
        "963850740",
        "4006381333932",
        "40063813339",
        "400638133393100",
        "400638133393X",
        "96385O74",
        " 96385074",
        "96385074 ",
        "9638-5074",
        "+96385074",
        "٩٦٣٨٥٠٧٤",
        "９６３８５０７４",
        "96385074\n",
        "0x963850",
    ],
)
def test_gtin_invalid_examples(code: str) -> None:
    assert not R.gtin_valid(code)


@FAST
@given(gtins())
def test_gtin_exactly_one_check_digit(code: str) -> None:
    assert R.gtin_valid(code)
    assert [d for d in "0123456789" if R.gtin_valid(code[:-1] + d)] == [code[-1]]
    assert R.gtin_valid(R.gtin14(code)) and len(R.gtin14(code)) == 14
    if len(code) == 12:
        assert R.gtin_valid("0" + code)  # UPC-A as EAN-13


@FAST
@given(st.text("0123456789", min_size=1, max_size=14).filter(lambda s: len(s) not in GTIN_LENGTHS))
def test_gtin_wrong_lengths(code: str) -> None:
    assert not R.gtin_valid(code)
    assert not R.gtin_valid(code[:-1] + gtin_check_digit(code[:-1]))  # even with a right one


# =========================================================================== semantics

C1, C2 = hashlib.sha256(b"c1").digest(), hashlib.sha256(b"c2").digest()


def rec(
    key: Ed25519PrivateKey,
    body: R.Body,
    t: int = T0,
    community: bytes | None = None,
    nonce: int = 0,
) -> R.Record:
    return R.build(key, body, created_ms=t, community=community, nonce=nonce)


def test_replace_keys() -> None:
    a, b = KEYS[0], KEYS[1]
    r13 = rec(a, R.RatingBody("4006381333931", (5,)), community=C1)
    r14 = rec(a, R.RatingBody("04006381333931", (1,), "changed"), T0 + 1, C1)
    assert R.replace_key(r13) == R.replace_key(r14)
    assert R.replace_key(r13) == bytes([3]) + pub(a) + C1 + b"04006381333931"
    others = [
        rec(b, R.RatingBody("4006381333931", (5,)), community=C1),  # other author
        rec(a, R.RatingBody("4006381333931", (5,)), community=C2),  # other community
        rec(a, R.RatingBody("96385074", (5,)), community=C1),  # other product
        rec(a, R.ProductBody("4006381333931", "Tofu", "", ()), community=C1),  # other kind
    ]
    keys = {R.replace_key(r) for r in [r13, *others]}
    assert len(keys) == 5
    v1 = rec(a, R.VouchBody(pub(b), True))
    v2 = rec(a, R.VouchBody(pub(b), False), T0 + 1)
    v3 = rec(a, R.VouchBody(pub(b), True), community=C1)
    assert R.replace_key(v1) == R.replace_key(v2) == bytes([6]) + pub(a) + R.ZERO_ID + pub(b)
    assert R.replace_key(v3) != R.replace_key(v1)
    pet = rec(b, R.PetitionBody("T", "x", "", 1, T0 + 10), community=C1)
    s1 = rec(a, R.SignatureBody(pet.id), T0 + 1, C1)
    s2 = rec(a, R.SignatureBody(pet.id), T0 + 2, C1)
    assert R.replace_key(s1) == R.replace_key(s2) == bytes([5]) + pub(a) + C1 + pet.id
    p1, p2 = rec(a, R.ProfileBody("A", "")), rec(a, R.ProfileBody("B", "x"), T0 + 1)
    assert R.replace_key(p1) == R.replace_key(p2) == bytes([8]) + pub(a) + R.ZERO_ID
    charter = rec(a, R.CommunityBody("C", "", (), ("q",)))
    for never in (charter, pet, rec(a, R.RetractBody(s1.id), community=C1)):
        assert R.replace_key(never) is None
    assert [R.subject_of(x) for x in (s1, v1, charter, r13)] == [pet.id, pub(b), None, None]
    assert R.subject_of(rec(a, R.RetractBody(s1.id))) == s1.id
    assert (charter.scope, v3.scope) == (R.ZERO_ID, C1)


def test_supersedes_orders_by_time_then_id() -> None:
    a = KEYS[0]
    old = rec(a, R.ProfileBody("A", ""), T0)
    new = rec(a, R.ProfileBody("A", ""), T0 + 1)
    assert R.supersedes(new, old) and not R.supersedes(old, new)
    assert not R.supersedes(old, old)
    same_t = [rec(a, R.ProfileBody(n, ""), T0) for n in ("x", "y", "z")]
    winner = max(same_t, key=lambda r: r.id)
    assert all(R.supersedes(winner, r) for r in same_t if r is not winner)
    assert R.order_key(old) == (T0, old.id)


def test_first_signature_is_kept() -> None:
    a, b = KEYS[0], KEYS[1]
    pet = rec(b, R.PetitionBody("T", "x", "", 1, T0 + 10), community=C1)
    first = rec(a, R.SignatureBody(pet.id), T0 + 1, C1)
    again = rec(a, R.SignatureBody(pet.id), T0 + 2, C1)
    assert frozenset({R.Kind.SIGNATURE}) == R.KEEP_FIRST
    assert R.supersedes(first, again) and not R.supersedes(again, first)


def order_bytes(r: R.Record) -> bytes:
    return r.created_ms.to_bytes(8, "big") + r.id


@FAST
@given(st.sampled_from(list(R.Kind)).flatmap(lambda k: st.tuples(records((k,)), records((k,)))))
def test_supersedes_is_a_strict_total_order(pair: tuple[R.Record, R.Record]) -> None:
    x, y = pair
    if x.raw == y.raw:
        assert not R.supersedes(x, y)
        return
    assert R.supersedes(x, y) != R.supersedes(y, x)
    newer = (x.created_ms, x.id) > (y.created_ms, y.id)
    assert R.supersedes(x, y) == (newer != (x.kind in R.KEEP_FIRST))
    assert R.wins(x.kind, order_bytes(x), order_bytes(y)) == R.supersedes(x, y)


# =========================================================================== context


def test_leading_zero_bits() -> None:
    assert R.leading_zero_bits(bytes(32)) == 256
    assert R.leading_zero_bits(b"\x80" + bytes(31)) == 0
    assert R.leading_zero_bits(b"\x00\x01" + bytes(30)) == 15
    assert R.leading_zero_bits(b"\x0f" + b"\xff" * 31) == 4


def grind(make: Callable[[int], R.Record], bits: int, enough: bool) -> R.Record:
    for nonce in range(10_000):
        r = make(nonce)
        if (R.leading_zero_bits(r.id) >= bits) == enough:
            return r
    raise AssertionError("no nonce found")


def test_context_scores_and_pow() -> None:
    a, b = KEYS[0], KEYS[1]
    charter = rec(a, R.CommunityBody("C", "", (), ("taste", "price"), 4))
    c = charter.id
    ctx = Ctx(charter)
    assert ctx.charter(c) == charter.body

    def rating(scores: tuple[int, ...]) -> Callable[[int], R.Record]:
        return lambda n: rec(b, R.RatingBody("96385074", scores), T0 + 1, c, n)

    good = grind(rating((4, 5)), 4, True)
    R.check_context(good, ctx)
    weak = grind(rating((4, 5)), 4, False)
    with pytest.raises(Rejected) as info:
        R.check_context(weak, ctx)
    assert info.value.reason is Reason.INSUFFICIENT_POW
    R.check_context(weak, ctx, pow_exempt=True)
    R.check_context(weak, Ctx())  # charter unknown yet
    # The score count is checked before the proof of work.
    for scores in ((4,), (4, 5, 3)):
        with pytest.raises(Rejected) as info:
            R.check_context(grind(rating(scores), 4, True), ctx)
        assert info.value.reason is Reason.SCORE_COUNT_MISMATCH
    # Proof of work concerns every record in the community, not only ratings.
    weak_product = grind(
        lambda n: rec(b, R.ProductBody("96385074", "P", "", ()), T0, c, n), 4, False
    )
    with pytest.raises(Rejected) as info:
        R.check_context(weak_product, ctx)
    assert info.value.reason is Reason.INSUFFICIENT_POW
    # ...and not the charter itself nor community-less records.
    R.check_context(charter, ctx)
    R.check_context(grind(lambda n: rec(b, R.VouchBody(pub(a), True), T0, None, n), 4, False), ctx)
    no_pow = rec(a, R.CommunityBody("D", "", (), ("taste",)))
    R.check_context(
        grind(lambda n: rec(b, R.RatingBody("96385074", (1,)), T0, no_pow.id, n), 4, False),
        Ctx(no_pow),
    )


def test_context_signatures() -> None:
    a, b = KEYS[0], KEYS[1]
    deadline = T0 + 1000
    pet = rec(a, R.PetitionBody("T", "x", "", 10, deadline), community=C1)
    ctx = Ctx(pet)
    for t in (T0, T0 + 1, deadline):
        R.check_context(rec(b, R.SignatureBody(pet.id), t, C1), ctx)
    cases = [
        (rec(b, R.SignatureBody(pet.id), deadline + 1, C1), ctx, Reason.LATE_SIGNATURE),
        (rec(b, R.SignatureBody(pet.id), T0, C2), ctx, Reason.BAD_COMMUNITY),
        (
            rec(b, R.SignatureBody(pet.id), T0, C1),
            Ctx(rec(a, R.ProfileBody("A", ""))),
            None,
        ),  # unknown petition: passes
    ]
    profile = rec(a, R.ProfileBody("A", ""))
    cases.append((rec(b, R.SignatureBody(profile.id), T0, C1), Ctx(profile), Reason.BAD_FIELD))
    for record, context, reason in cases:
        if reason is None:
            R.check_context(record, context)
            continue
        with pytest.raises(Rejected) as info:
            R.check_context(record, context)
        assert info.value.reason is reason


def test_context_retractions() -> None:
    a, b = KEYS[0], KEYS[1]
    target = rec(a, R.RatingBody("96385074", (3,)), T0, C1)
    own = rec(a, R.RetractBody(target.id), T0 + 1, C1)
    R.check_context(own, Ctx(target))
    R.check_context(rec(b, R.RetractBody(target.id), T0 + 1, C1), Ctx())  # unknown target
    with pytest.raises(Rejected) as info:
        R.check_context(rec(b, R.RetractBody(target.id), T0 + 1, C1), Ctx(target))
    assert info.value.reason is Reason.NOT_AUTHOR
    with pytest.raises(Rejected) as info:
        R.check_context(rec(a, R.RetractBody(own.id), T0 + 2, C1), Ctx(own))
    assert info.value.reason is Reason.BAD_FIELD


def test_build_refuses_what_decode_refuses() -> None:
    with pytest.raises(Rejected) as info:
        rec(KEYS[0], R.RatingBody("96385074", (6,)), community=C1)
    assert info.value.reason is Reason.SCORE_OUT_OF_RANGE
    with pytest.raises(Rejected) as info:
        rec(KEYS[0], R.RatingBody("96385074", (3,)))
    assert info.value.reason is Reason.BAD_COMMUNITY
    with pytest.raises(ValueError):  # text must be NFC before building (see records.nfc)
        rec(KEYS[0], R.ProfileBody("e\u0301", ""))


# =========================================================================== small-order keys

SMALL_ORDER_KEYS = [
    ("0100000000000000000000000000000000000000000000000000000000000000", 1),  # identity
    ("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", 2),  # (0, -1)
]
ED25519_L = 2**252 + 27742317777372353535851937790883648493


@pytest.mark.parametrize(("author", "order"), SMALL_ORDER_KEYS)
def test_small_order_author_key_is_rejected(author: str, order: int) -> None:
    # With a public key A of small order, R = identity and S = 0 satisfy the cofactorless
    # check [S]B = R + [k]A whenever order divides k = H(R || A || M): OpenSSL accepts
    # such forgeries, so anyone could write records as that "author".
    a, r = bytes.fromhex(author), bytes([1]) + bytes(31)
    for nonce in range(64):
        unsigned = [1, 8, a, T0, None, nonce, ["Anyone", ""]]
        m = R.SIGNING_PREFIX + msgpack.packb(unsigned, use_bin_type=True)
        k = int.from_bytes(hashlib.sha512(r + a + m).digest(), "little") % ED25519_L
        if k % order == 0:
            break
    raw = msgpack.packb([*unsigned, r + bytes(32)], use_bin_type=True)
    assert reason_of(raw) is Reason.BAD_SIGNATURE


# =========================================================================== unknown kinds, fields


def array_levels(v: Any) -> int:
    return 1 + max((array_levels(x) for x in v), default=0) if isinstance(v, list) else 0


# A body item is at depth 2 (envelope → body → item): it may nest two levels of arrays.
items = values.filter(lambda v: array_levels(v) <= 2)
UNKNOWN_KINDS = st.integers(R.KIND_MIN, R.KIND_MAX).filter(lambda n: not R.known(R.Kind(n)))


def test_kind_numbers_without_a_member() -> None:
    nine = R.Kind(9)
    assert nine == 9 and int(nine) == 9 and nine.name == "UNKNOWN_9"
    assert not R.known(nine) and R.known(R.Kind.RATING)
    assert nine not in list(R.Kind) and bytes([nine]) == b"\x09"
    for outside in (0, 256, -1):  # (decode refuses booleans: Kind(True) is COMMUNITY)
        with pytest.raises(ValueError):
            R.Kind(outside)
    assert R.FIRST_EXPERIMENTAL_KIND == 128 and (R.KIND_MIN, R.KIND_MAX) == (1, 255)


@FAST
@given(UNKNOWN_KINDS, st.lists(items, max_size=12), st.sampled_from(KEYS), st.data())
def test_a_kind_this_version_does_not_know_is_an_opaque_record(
    kind: int, body: list[Any], key: Ed25519PrivateKey, data: st.DataObject
) -> None:
    community = data.draw(st.none() | st.binary(min_size=32, max_size=32))
    raw = resign(key, [1, kind, pub(key), T0, community, 0, body])
    if len(raw) > R.MAX_RECORD_BYTES:
        return
    got = R.validate(raw, now_ms=T0)
    assert isinstance(got.body, R.OpaqueBody) and got.kind == kind
    assert got.body.to_wire() == body and got.raw == raw
    assert [canonical.decode(e, max_len=len(raw)) for e in got.body.extra] == body
    assert R.replace_key(got) is None and R.subject_of(got) is None
    R.check_context(got, Ctx())  # nothing known to check against
    # It is signed like any record: the kind and body are covered.
    assert R.build(key, got.body, created_ms=T0, community=community) == got
    other = kind + 1 if kind < R.KIND_MAX else kind - 1  # also unknown: kinds 9..255
    forged = msgpack.packb([1, other, *wire(got)[2:]], use_bin_type=True)
    assert reason_of(forged) is Reason.BAD_SIGNATURE


@FAST
@given(records(), st.lists(items, min_size=1, max_size=6))
def test_fields_appended_to_a_known_kind_are_kept_and_ignored(
    rec: R.Record, appended: list[Any]
) -> None:
    value = wire(rec)
    key = next(k for k in KEYS if pub(k) == rec.author)
    raw = resign(key, [*value[:6], value[6] + appended])
    if len(raw) > R.MAX_RECORD_BYTES:
        return
    got = R.validate(raw, now_ms=R.MAX_TIME_MS)
    assert got.raw == raw and got.id != rec.id  # other bytes, another record
    assert type(got.body) is type(rec.body) and got.kind is rec.kind
    assert got.body.extra == R.extra_fields(*appended)
    assert dataclasses.replace(got.body, extra=()) == rec.body  # the known fields, unchanged
    assert R.replace_key(got) == R.replace_key(rec)  # ignored: the key is the known fields'
    assert R.build(key, got.body, created_ms=rec.created_ms, community=rec.community,
                   nonce=rec.nonce) == got  # fmt: skip


def test_fewer_fields_than_the_kind_has_are_still_malformed() -> None:
    for kind, cls in R.BODY_TYPES.items():
        community = None if R.COMMUNITY_RULE[kind] is False else C1
        short = [None] * (len(cls.FIELDS) - 1)
        raw = resign(KEYS[0], [1, int(kind), pub(KEYS[0]), T0, community, 0, short])
        assert reason_of(raw) is Reason.MALFORMED, kind


def test_context_of_an_opaque_record() -> None:
    """The kind-independent rules of §7 apply to kinds this version does not know."""
    a, b = KEYS[0], KEYS[1]
    pow_charter = rec(b, R.CommunityBody("Strict", "", (), ("q",), 12))
    note = rec(a, R.OpaqueBody(R.Kind(200), R.extra_fields("hi")), community=pow_charter.id)
    with pytest.raises(Rejected) as info:
        R.check_context(note, Ctx(pow_charter))
    assert info.value.reason is Reason.INSUFFICIENT_POW
    R.check_context(note, Ctx(pow_charter), pow_exempt=True)
    # Only its author retracts it; a retraction of it is final like any other.
    R.check_context(rec(a, R.RetractBody(note.id), T0 + 1, pow_charter.id), Ctx(note),
                    pow_exempt=True)  # fmt: skip
    with pytest.raises(Rejected) as info:
        R.check_context(rec(b, R.RetractBody(note.id), T0 + 1, pow_charter.id), Ctx(note))
    assert info.value.reason is Reason.NOT_AUTHOR
    # A signature of it signs no petition.
    with pytest.raises(Rejected) as info:
        R.check_context(rec(b, R.SignatureBody(note.id), T0 + 1, pow_charter.id), Ctx(note),
                        pow_exempt=True)  # fmt: skip
    assert info.value.reason is Reason.BAD_FIELD


@dataclasses.dataclass(frozen=True, slots=True)
class NoteBody(R.BodyBase):
    """A kind for the registration tests: one short text."""

    FIELDS = (("text", R.Text(280, 1)),)
    text: str
    extra: tuple[bytes, ...] = ()


@pytest.fixture
def note_kind() -> Any:
    kind = R.register_kind(201, "note", NoteBody, community=True)
    yield kind
    R.unregister_kind(kind)


def test_register_kind_teaches_one_more_kind(note_kind: R.Kind) -> None:
    assert note_kind == 201 and note_kind.name == "NOTE" and R.Kind(201) is note_kind
    assert NoteBody.KIND is note_kind and R.known(note_kind)
    note = rec(KEYS[0], NoteBody("hello"), community=C1)
    assert R.validate(note.raw, now_ms=T0).body == NoteBody("hello")
    # Its own rules now apply: the field, and the community rule.
    blank = resign(KEYS[0], [1, 201, pub(KEYS[0]), T0, C1, 0, [" "]])
    assert reason_of(blank) is Reason.BAD_FIELD
    nil = resign(KEYS[0], [1, 201, pub(KEYS[0]), T0, None, 0, ["hello"]])
    assert reason_of(nil) is Reason.BAD_COMMUNITY
    R.unregister_kind(note_kind)
    try:  # a process that does not know it keeps the same bytes, opaque
        got = R.validate(note.raw, now_ms=T0)
        assert got.body == R.OpaqueBody(R.Kind(201), R.extra_fields("hello"))
        assert R.validate(nil, now_ms=T0).community is None and R.validate(blank, now_ms=T0)
    finally:
        R.register_kind(201, "note", NoteBody, community=True)


def test_register_kind_refuses_what_is_taken(note_kind: R.Kind) -> None:
    from cercle.protocol.errors import LocalProtocolError

    for number, name in ((3, "other"), (201, "other"), (0, "zero"), (256, "big"),
                         (202, "unknown_202"), (202, "rating"), (202, "not a name")):  # fmt: skip
        with pytest.raises(LocalProtocolError):
            R.register_kind(number, name, NoteBody, community=None)
    with pytest.raises(LocalProtocolError):
        R.unregister_kind(R.Kind.RATING)
    with pytest.raises(LocalProtocolError):
        R.unregister_kind(R.Kind(203))
