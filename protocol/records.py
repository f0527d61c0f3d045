"""Signed records: the envelope, the kinds, validation and their semantics.

Everything Cercle knows is a record signed by its author; nothing else is
trusted.  This module is the single definition of what a valid record is, so
that every node, relay and offline verifier agrees byte for byte (see
``specs/records.md``).  It is pure: the current time is passed in, keys are
passed in, and nothing here touches a file, a socket or a clock.

The envelope is a canonical msgpack array (see :mod:`.canonical`)::

    [version, kind, author, created_ms, community, nonce, body, signature]

The signature covers ``SIGNING_PREFIX`` followed by the canonical encoding of
the first seven fields; the record id is SHA-256 of the whole envelope.  Bodies
are arrays with one fixed field order per kind, declared once in each body's
``FIELDS``.

Later versions add kinds and append body fields without a flag day
(``specs/records.md`` §11), so validity has two layers: the kind-independent
rules (canonical bytes, envelope, time, signature) that every version applies
to every record, and the rules of the kinds and fields this version knows.  A
record of a kind it does not know is kept whole as an :class:`OpaqueBody`,
and fields appended to a known kind are kept, unread, in ``extra``: the bytes
are signed, so they are carried exactly as they came.  :func:`register_kind`
teaches a process one more kind (tests, experiments) without touching the
tables below.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from . import canonical
from .errors import LocalProtocolError, Reason, Rejected

VERSION = 1
SIGNING_PREFIX = b"cercle-record-v1\x00"
MAX_RECORD_BYTES = 16 * 1024
MAX_FUTURE_MS = 10 * 60 * 1000  # clock skew tolerated for created_ms
MAX_TIME_MS = 2**53 - 1  # keeps timestamps exact in every language's numbers
SCORE_MIN, SCORE_MAX = 1, 5
ZERO_ID = bytes(32)  # the "no community" scope: charters, profiles, global vouches


KIND_MIN, KIND_MAX = 1, 255  # the kind numbers of envelope version 1 (one byte in keys)
FIRST_EXPERIMENTAL_KIND = 128  # 128..255: never assigned by the spec (trials, tests)


class Kind(enum.IntEnum):
    """A kind number.  The members are the kinds this version knows.

    Any other number in ``KIND_MIN..KIND_MAX`` is a kind too, one that a later
    version (or an experiment) defines: ``Kind(9)`` gives an unnamed value
    (``name`` ``"UNKNOWN_9"``) that compares equal to 9, or the kind registered
    with :func:`register_kind`.  Compare unknown kinds with ``==``, not ``is``.
    """

    COMMUNITY = 1
    PRODUCT = 2
    RATING = 3
    PETITION = 4
    SIGNATURE = 5
    VOUCH = 6
    RETRACT = 7
    PROFILE = 8

    @classmethod
    def _missing_(cls, value: object) -> Kind | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        if not KIND_MIN <= value <= KIND_MAX:
            return None
        return _REGISTERED.get(value) or _kind_value(value, f"UNKNOWN_{value}")


def _kind_value(number: int, name: str) -> Kind:
    """A :class:`Kind` that is not a member, as ``_missing_`` may return (like Flag's)."""
    kind = int.__new__(Kind, number)
    kind._name_ = name
    kind._value_ = number
    return kind


_REGISTERED: dict[int, Kind] = {}  # register_kind's kinds, by number


# --------------------------------------------------------------------------- fields


@dataclass(frozen=True, slots=True)
class Text:
    max_chars: int
    min_chars: int = 0

    def check(self, value: object, name: str) -> str:
        if not isinstance(value, str):
            raise Rejected(Reason.MALFORMED, f"{name}: expected a string")
        if len(value) > self.max_chars:
            raise Rejected(Reason.TEXT_TOO_LONG, f"{name}: {len(value)} > {self.max_chars} chars")
        if len(value.strip()) < self.min_chars:
            raise Rejected(Reason.BAD_FIELD, f"{name}: must not be empty")
        return value


@dataclass(frozen=True, slots=True)
class TextList:
    max_items: int
    item: Text
    min_items: int = 0

    def check(self, value: object, name: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise Rejected(Reason.MALFORMED, f"{name}: expected an array")
        if len(value) > self.max_items:
            raise Rejected(Reason.TOO_MANY_ITEMS, f"{name}: {len(value)} > {self.max_items}")
        if len(value) < self.min_items:
            raise Rejected(Reason.BAD_FIELD, f"{name}: at least {self.min_items} required")
        items = tuple(self.item.check(v, name) for v in value)
        if len(set(items)) != len(items):
            raise Rejected(Reason.BAD_FIELD, f"{name}: duplicate entries")
        return items


@dataclass(frozen=True, slots=True)
class Int:
    lo: int
    hi: int
    reason: Reason = Reason.BAD_FIELD

    def check(self, value: object, name: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Rejected(Reason.MALFORMED, f"{name}: expected an integer")
        if not self.lo <= value <= self.hi:
            raise Rejected(self.reason, f"{name}: {value} not in [{self.lo}, {self.hi}]")
        return value


@dataclass(frozen=True, slots=True)
class Scores:
    max_items: int

    def check(self, value: object, name: str) -> tuple[int, ...]:
        if not isinstance(value, list):
            raise Rejected(Reason.MALFORMED, f"{name}: expected an array")
        if not 1 <= len(value) <= self.max_items:
            raise Rejected(Reason.TOO_MANY_ITEMS, f"{name}: 1..{self.max_items} scores")
        score = Int(SCORE_MIN, SCORE_MAX, Reason.SCORE_OUT_OF_RANGE)
        return tuple(score.check(v, name) for v in value)


@dataclass(frozen=True, slots=True)
class Bytes32:
    def check(self, value: object, name: str) -> bytes:
        if not isinstance(value, bytes) or len(value) != 32:
            raise Rejected(Reason.MALFORMED, f"{name}: expected 32 bytes")
        return value


@dataclass(frozen=True, slots=True)
class Bool:
    def check(self, value: object, name: str) -> bool:
        if not isinstance(value, bool):
            raise Rejected(Reason.MALFORMED, f"{name}: expected a boolean")
        return value


@dataclass(frozen=True, slots=True)
class Gtin:
    def check(self, value: object, name: str) -> str:
        if not isinstance(value, str):
            raise Rejected(Reason.MALFORMED, f"{name}: expected a string")
        if not gtin_valid(value):
            raise Rejected(Reason.BAD_GTIN, f"{name}: {value[:20]!r} is not a valid GTIN")
        return value


Field: TypeAlias = Text | TextList | Int | Scores | Bytes32 | Bool | Gtin

NAME = Text(80, 1)
LABEL = Text(40, 1)


def gtin_check_digit(body: str) -> str:
    """The GS1 mod-10 check digit of a GTIN without its last digit (ASCII digits)."""
    # Weights 3,1,3,1... from the digit next to the check digit leftwards.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def with_check_digit(body: str) -> str:
    """``body`` (7, 11, 12 or 13 digits) completed into a valid GTIN."""
    return body + gtin_check_digit(body)


def gtin_valid(code: str) -> bool:
    """GTIN-8/12/13/14: ASCII digits with a correct mod-10 check digit."""
    if len(code) not in (8, 12, 13, 14) or not code.isascii() or not code.isdigit():
        return False
    return gtin_check_digit(code[:-1]) == code[-1]


def gtin14(code: str) -> str:
    """The GTIN-14 form (left zero padding), so that one product has one key."""
    return code.rjust(14, "0")


# --------------------------------------------------------------------------- bodies


def extra_fields(*items: canonical.Value) -> tuple[bytes, ...]:
    """Body items this version does not read, each kept as its canonical encoding.

    The ``extra`` of a body, from values: how tests (and a later version's
    writer) append fields.  ``ValueError``/``TypeError`` as :func:`canonical.encode`.
    """
    return tuple(canonical.encode(v) for v in items)


def _extra_values(extra: tuple[bytes, ...]) -> list[canonical.Value]:
    return [canonical.decode(b, max_len=MAX_RECORD_BYTES) for b in extra]


class BodyBase:
    """Shared parse/serialise logic: each body is its ``FIELDS`` in order, then ``extra``.

    ``extra`` holds the fields a later version appended (``specs/records.md``
    §11.3): one canonical msgpack encoding per item, signed and carried, never
    read.  A body class is a frozen dataclass whose fields are ``FIELDS``'
    names in order, then ``extra: tuple[bytes, ...] = ()``.
    """

    __slots__ = ()

    KIND: ClassVar[Kind]
    FIELDS: ClassVar[tuple[tuple[str, Field], ...]]
    extra: tuple[bytes, ...]

    @classmethod
    def from_wire(cls, wire: object) -> Any:
        n = len(cls.FIELDS)
        if not isinstance(wire, list) or len(wire) < n:
            raise Rejected(
                Reason.MALFORMED, f"{cls.KIND.name.lower()} body: expected {n} fields or more"
            )
        values = [spec.check(v, name) for (name, spec), v in zip(cls.FIELDS, wire[:n], strict=True)]
        make: Any = cls  # each subclass is a dataclass of FIELDS, then extra
        return make(*values, extra=extra_fields(*wire[n:]))

    def to_wire(self) -> list[canonical.Value]:
        out: list[canonical.Value] = []
        for name, _ in self.FIELDS:
            v = getattr(self, name)
            out.append(list(v) if isinstance(v, tuple) else v)
        return out + _extra_values(self.extra)


@dataclass(frozen=True, slots=True)
class OpaqueBody:
    """The body of a record of a kind this version does not know: kept whole, never read.

    Every item is in ``extra`` (canonical encodings, as in :class:`BodyBase`);
    the record still had to pass every kind-independent rule to get here.
    """

    FIELDS: ClassVar[tuple[tuple[str, Field], ...]] = ()
    kind: Kind
    extra: tuple[bytes, ...] = ()

    @property
    def KIND(self) -> Kind:
        return self.kind

    @classmethod
    def from_wire(cls, kind: Kind, wire: object) -> OpaqueBody:
        if not isinstance(wire, list):
            raise Rejected(Reason.MALFORMED, f"kind {int(kind)} body: expected an array")
        return cls(kind, extra_fields(*wire))

    def to_wire(self) -> list[canonical.Value]:
        return _extra_values(self.extra)


@dataclass(frozen=True, slots=True)
class CommunityBody(BodyBase):
    KIND = Kind.COMMUNITY
    FIELDS = (
        ("name", NAME),
        ("description", Text(2000)),
        ("values", TextList(16, LABEL)),
        ("criteria", TextList(8, LABEL, min_items=1)),
        ("pow_bits", Int(0, 24)),
    )
    name: str
    description: str
    values: tuple[str, ...]
    criteria: tuple[str, ...]
    pow_bits: int = 0
    extra: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class ProductBody(BodyBase):
    KIND = Kind.PRODUCT
    FIELDS = (
        ("gtin", Gtin()),
        ("name", Text(120, 1)),
        ("brand", Text(80)),
        ("labels", TextList(16, LABEL)),
    )
    gtin: str
    name: str
    brand: str
    labels: tuple[str, ...]
    extra: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class RatingBody(BodyBase):
    KIND = Kind.RATING
    FIELDS = (("gtin", Gtin()), ("scores", Scores(8)), ("text", Text(1000)))
    gtin: str
    scores: tuple[int, ...]
    text: str = ""
    extra: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class PetitionBody(BodyBase):
    KIND = Kind.PETITION
    FIELDS = (
        ("title", Text(200, 1)),
        ("text", Text(4000, 1)),
        ("target", Text(200)),
        ("goal", Int(1, 10**9)),
        ("deadline_ms", Int(0, MAX_TIME_MS)),
    )
    title: str
    text: str
    target: str
    goal: int
    deadline_ms: int
    extra: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class SignatureBody(BodyBase):
    KIND = Kind.SIGNATURE
    FIELDS = (("petition", Bytes32()),)
    petition: bytes
    extra: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class VouchBody(BodyBase):
    KIND = Kind.VOUCH
    FIELDS = (("subject", Bytes32()), ("trust", Bool()))
    subject: bytes
    trust: bool
    extra: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class RetractBody(BodyBase):
    KIND = Kind.RETRACT
    FIELDS = (("target", Bytes32()),)
    target: bytes
    extra: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class ProfileBody(BodyBase):
    KIND = Kind.PROFILE
    FIELDS = (("display_name", Text(64)), ("about", Text(500)))
    display_name: str
    about: str = ""
    extra: tuple[bytes, ...] = ()


Body: TypeAlias = (
    CommunityBody
    | ProductBody
    | RatingBody
    | PetitionBody
    | SignatureBody
    | VouchBody
    | RetractBody
    | ProfileBody
    | OpaqueBody  # a kind this version does not know
    | BodyBase  # a kind taught with register_kind
)

BODY_TYPES: dict[Kind, type[BodyBase]] = {
    cls.KIND: cls
    for cls in (
        CommunityBody,
        ProductBody,
        RatingBody,
        PetitionBody,
        SignatureBody,
        VouchBody,
        RetractBody,
        ProfileBody,
    )
}

# Whether the envelope's community field must be set (True), must be nil
# (False) or may be either (None).
COMMUNITY_RULE: dict[Kind, bool | None] = {
    Kind.COMMUNITY: False,
    Kind.PRODUCT: True,
    Kind.RATING: True,
    Kind.PETITION: True,
    Kind.SIGNATURE: True,
    Kind.VOUCH: None,
    Kind.RETRACT: None,
    Kind.PROFILE: False,
}


def known(kind: Kind) -> bool:
    """Does this version (with the kinds registered in this process) know ``kind``?"""
    return kind in BODY_TYPES


def register_kind(number: int, name: str, body: type[BodyBase], community: bool | None) -> Kind:
    """Teach this process kind ``number``: ``body`` parses it, ``community`` is its rule.

    For tests and experiments (numbers from ``FIRST_EXPERIMENTAL_KIND`` on),
    and the way a plug-in could add a kind; a later version of Cercle adds its
    kinds to the tables above instead.  ``community`` is True (must be set),
    False (must be nil) or None (either), as in ``COMMUNITY_RULE``.  The
    registry is the process's: register before any record is decoded (records
    decoded earlier stay opaque), and run nodes that must not know the kind in
    another process.  Registering gives ``body.KIND``.
    """
    if not KIND_MIN <= number <= KIND_MAX or number in BODY_TYPES:
        raise LocalProtocolError(f"kind {number} is taken or outside {KIND_MIN}..{KIND_MAX}")
    upper = name.upper()
    if not name.isidentifier() or upper.startswith("UNKNOWN") or upper in Kind.__members__:
        raise LocalProtocolError(f"{name!r} cannot name a kind")
    if not issubclass(body, BodyBase):
        raise LocalProtocolError(f"{body.__name__} is not a BodyBase")
    kind = _kind_value(number, upper)
    _REGISTERED[number] = kind
    body.KIND = kind
    BODY_TYPES[kind] = body
    COMMUNITY_RULE[kind] = community
    return kind


def unregister_kind(kind: Kind) -> None:
    """Forget a kind :func:`register_kind` taught (tests): its records read as opaque again."""
    if _REGISTERED.get(int(kind)) is None:
        raise LocalProtocolError(f"kind {int(kind)} was not registered")
    del _REGISTERED[int(kind)], BODY_TYPES[kind], COMMUNITY_RULE[kind]


# --------------------------------------------------------------------------- envelope


@dataclass(frozen=True, slots=True)
class Record:
    """A decoded, structurally valid record.  ``raw`` is the exact signed envelope.

    A record of a kind this version does not know has an unnamed ``kind`` and
    an :class:`OpaqueBody`: it is valid, stored and passed on, never read.
    """

    kind: Kind
    author: bytes
    created_ms: int
    community: bytes | None
    nonce: int
    body: Body
    sig: bytes
    raw: bytes
    id: bytes

    @property
    def scope(self) -> bytes:
        """The set this record syncs in: its community, or ``ZERO_ID`` for none."""
        return self.community if self.community is not None else ZERO_ID


def _unsigned(
    kind: Kind, author: bytes, created_ms: int, community: bytes | None, nonce: int, body: Body
) -> list[canonical.Value]:
    return [VERSION, int(kind), author, created_ms, community, nonce, body.to_wire()]


def signing_input(unsigned: list[canonical.Value]) -> bytes:
    return SIGNING_PREFIX + canonical.encode(unsigned)


def record_id(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def build(
    key: Ed25519PrivateKey,
    body: Body,
    *,
    created_ms: int,
    community: bytes | None = None,
    nonce: int = 0,
) -> Record:
    """Sign ``body`` as a new record.  Text must already be NFC (see :func:`nfc`)."""
    author = key.public_key().public_bytes_raw()
    unsigned = _unsigned(body.KIND, author, created_ms, community, nonce, body)
    sig = key.sign(signing_input(unsigned))
    raw = canonical.encode([*unsigned, sig])
    record = decode(raw)  # the builder obeys exactly the rules readers apply
    verify(record)
    return record


def mine(
    key: Ed25519PrivateKey,
    body: Body,
    *,
    created_ms: int,
    community: bytes | None = None,
    bits: int = 0,
) -> Record:
    """Sign ``body`` with the first nonce whose record id has ``bits`` leading zero bits.

    The proof of work a community's charter may ask of its records (§7.6); with
    ``bits`` = 0 this is :func:`build`.
    """
    nonce = 0
    while True:
        record = build(key, body, created_ms=created_ms, community=community, nonce=nonce)
        if leading_zero_bits(record.id) >= bits:
            return record
        nonce += 1


def nfc(text: str) -> str:
    """Normalise user-typed text to NFC, the only form records may carry."""
    return unicodedata.normalize("NFC", text)


def decode(data: bytes) -> Record:
    """Parse and structurally validate an envelope (no signature, no clock).

    Raises :class:`Rejected` for anything that is not a well-formed record.
    """
    value = canonical.decode(data, max_len=MAX_RECORD_BYTES)
    if not isinstance(value, list) or not value:
        raise Rejected(Reason.MALFORMED, "envelope: expected an array")
    if value[0] != VERSION or isinstance(value[0], bool):
        raise Rejected(Reason.UNKNOWN_VERSION, f"version {value[0]!r}")
    if len(value) != 8:
        raise Rejected(Reason.MALFORMED, "envelope: expected an array of 8 fields")
    _, kind, author, created_ms, community, nonce, body, sig = value
    if not isinstance(kind, int) or isinstance(kind, bool) or not KIND_MIN <= kind <= KIND_MAX:
        raise Rejected(Reason.UNKNOWN_KIND, f"kind {kind!r} is not a kind number")
    k = Kind(kind)
    author = Bytes32().check(author, "author")
    created_ms = Int(0, MAX_TIME_MS).check(created_ms, "created_ms")
    nonce = Int(0, 2**64 - 1).check(nonce, "nonce")
    if not isinstance(sig, bytes) or len(sig) != 64:
        raise Rejected(Reason.MALFORMED, "signature: expected 64 bytes")
    if community is not None:
        community = Bytes32().check(community, "community")
    parsed: Body
    cls = BODY_TYPES.get(k)
    if cls is None:  # a later version's kind: every rule left is the kind's own
        parsed = OpaqueBody.from_wire(k, body)
        return Record(k, author, created_ms, community, nonce, parsed, sig, data, record_id(data))
    rule = COMMUNITY_RULE[k]
    if rule is True and community is None:
        raise Rejected(Reason.BAD_COMMUNITY, f"{k.name.lower()} needs a community")
    if rule is False and community is not None:
        raise Rejected(Reason.BAD_COMMUNITY, f"{k.name.lower()} has no community")
    parsed = cls.from_wire(body)
    _check_body(k, author, created_ms, parsed)
    return Record(k, author, created_ms, community, nonce, parsed, sig, data, record_id(data))


def _check_body(kind: Kind, author: bytes, created_ms: int, body: Body) -> None:
    if isinstance(body, PetitionBody) and body.deadline_ms <= created_ms:
        raise Rejected(Reason.BAD_FIELD, "deadline_ms: must be after created_ms")
    if isinstance(body, VouchBody) and body.subject == author:
        raise Rejected(Reason.BAD_FIELD, "subject: cannot vouch for oneself")
    if isinstance(body, CommunityBody) and len(set(body.criteria)) != len(body.criteria):
        raise Rejected(Reason.BAD_FIELD, "criteria: duplicate entries")


# Ed25519 points of small order (and their non-canonical sign-bit twins): with
# such an "author key" a forger can make signatures that OpenSSL accepts for
# any message; libsodium refuses them.  We refuse them too, so every
# implementation agrees.
_SMALL_ORDER = frozenset(
    bytes.fromhex(h)
    for h in (
        "00" * 32,
        "01" + "00" * 31,
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    )
)


@functools.lru_cache(maxsize=65536)
def author_key(author: bytes) -> Ed25519PublicKey:
    """Parsed keys are cached: authors sign many records, parsing costs a verify's worth."""
    return Ed25519PublicKey.from_public_bytes(author)


def signed_bytes(record: Record) -> bytes:
    """What ``record.sig`` signs: the prefix and the canonical unsigned fields."""
    unsigned = _unsigned(
        record.kind, record.author, record.created_ms, record.community, record.nonce, record.body
    )
    return signing_input(unsigned)


def verify(record: Record) -> None:
    """Check the Ed25519 signature; raise ``Rejected(BAD_SIGNATURE)`` if it fails."""
    if record.author[:31] + bytes([record.author[31] & 0x7F]) in _SMALL_ORDER:
        raise Rejected(Reason.BAD_SIGNATURE, "author key has small order")
    try:
        author_key(record.author).verify(record.sig, signed_bytes(record))
    except (InvalidSignature, ValueError):
        raise Rejected(
            Reason.BAD_SIGNATURE, "signature does not match author and content"
        ) from None


def check_time(record: Record, now_ms: int) -> None:
    if record.created_ms > now_ms + MAX_FUTURE_MS:
        raise Rejected(
            Reason.FUTURE_TIMESTAMP, f"created {record.created_ms - now_ms} ms in the future"
        )


def validate(data: bytes, *, now_ms: int) -> Record:
    """Everything that can be checked on one record alone: decode, clock, signature."""
    record = decode(data)
    check_time(record, now_ms)
    verify(record)
    return record


# --------------------------------------------------------------------------- context


class Context(Protocol):
    """What contextual validation needs to look up (storage implements it)."""

    def charter(self, community: bytes) -> CommunityBody | None: ...

    def get(self, record_id: bytes) -> Record | None: ...


def leading_zero_bits(digest: bytes) -> int:
    n = int.from_bytes(digest, "big")
    return len(digest) * 8 - n.bit_length()


def check_scores_fit(scores: Sequence[int], criteria: Sequence[str]) -> None:
    """A rating has one score per criterion of its community's charter (§7.4)."""
    if len(scores) != len(criteria):
        raise Rejected(
            Reason.SCORE_COUNT_MISMATCH, f"{len(scores)} scores for {len(criteria)} criteria"
        )


def check_context(record: Record, ctx: Context, *, pow_exempt: bool = False) -> None:
    """Rules that need other records: charters, petitions, retraction targets.

    A rule whose reference is unknown yet (a rating that arrives before its
    community's charter, say) passes; storage re-checks dependants when the
    referenced record arrives (see ``storage``).
    """
    body = record.body
    if record.community is not None:
        charter = ctx.charter(record.community)
        if charter is not None:
            if isinstance(body, RatingBody):
                check_scores_fit(body.scores, charter.criteria)
            if (
                charter.pow_bits
                and not pow_exempt
                and leading_zero_bits(record.id) < charter.pow_bits
            ):
                raise Rejected(Reason.INSUFFICIENT_POW, f"needs {charter.pow_bits} zero bits")
    if isinstance(body, SignatureBody):
        petition = ctx.get(body.petition)
        if petition is not None:
            check_signature_against(record, petition)
    if isinstance(body, RetractBody):
        target = ctx.get(body.target)
        if target is not None:
            check_retraction_against(record, target)


def check_signature_against(signature: Record, petition: Record) -> None:
    if not isinstance(petition.body, PetitionBody):
        raise Rejected(Reason.BAD_FIELD, "petition: the referenced record is not a petition")
    if signature.community != petition.community:
        raise Rejected(Reason.BAD_COMMUNITY, "signature and petition are in different communities")
    if signature.created_ms > petition.body.deadline_ms:
        raise Rejected(Reason.LATE_SIGNATURE, "signed after the petition's deadline")


def check_retraction_against(retract: Record, target: Record) -> None:
    if target.author != retract.author:
        raise Rejected(Reason.NOT_AUTHOR, "only a record's author can retract it")
    if target.scope != retract.scope:
        # Same scope, so that the retraction syncs wherever its target does.
        raise Rejected(Reason.BAD_COMMUNITY, "a retraction must be in its target's community")
    if target.kind is Kind.RETRACT:
        raise Rejected(Reason.BAD_FIELD, "a retraction cannot be retracted")


# --------------------------------------------------------------------------- semantics


def product_key(author: bytes, scope: bytes, gtin: str) -> bytes:
    """Replace key of a product description: one per (author, community, product)."""
    return bytes([Kind.PRODUCT]) + author + scope + gtin14(gtin).encode()


def rating_key(author: bytes, scope: bytes, gtin: str) -> bytes:
    """Replace key of a rating: one per (author, community, product)."""
    return bytes([Kind.RATING]) + author + scope + gtin14(gtin).encode()


def signature_key(author: bytes, scope: bytes, petition: bytes) -> bytes:
    """Replace key of a signature: one per (author, petition); the first one counts."""
    return bytes([Kind.SIGNATURE]) + author + scope + petition


def vouch_key(author: bytes, scope: bytes, subject: bytes) -> bytes:
    """Replace key of a vouch: one per (author, community or ``ZERO_ID``, subject)."""
    return bytes([Kind.VOUCH]) + author + scope + subject


def profile_key(author: bytes) -> bytes:
    """Replace key of a profile: one per author."""
    return bytes([Kind.PROFILE]) + author + ZERO_ID


def replace_key(record: Record) -> bytes | None:
    """Records with the same key replace each other; None: never replaced.

    The newest wins (the oldest for signatures, see ``KEEP_FIRST``). The keys
    are specified byte for byte (``specs/records.md`` §7.1) and built only by
    the ``*_key`` functions above.
    """
    body, author, scope = record.body, record.author, record.scope
    if isinstance(body, RatingBody):
        return rating_key(author, scope, body.gtin)
    if isinstance(body, ProductBody):
        return product_key(author, scope, body.gtin)
    if isinstance(body, VouchBody):
        return vouch_key(author, scope, body.subject)
    if isinstance(body, SignatureBody):
        return signature_key(author, scope, body.petition)
    if isinstance(body, ProfileBody):
        return profile_key(author)
    return None


def order_key(record: Record) -> tuple[int, bytes]:
    """Total order used for replacement and sync: creation time, then id."""
    return (record.created_ms, record.id)


# One signature per author per petition: the first one counts, so signing
# again (even after the deadline) never takes a valid signature away.
KEEP_FIRST = frozenset({Kind.SIGNATURE})


def wins(kind: Kind, new: bytes, head: bytes) -> bool:
    """Does a record with order bytes ``new`` replace the ``head`` of its key?

    Order bytes are ``u64 created_ms ‖ id``; they compare like ``order_key``.
    """
    return new < head if kind in KEEP_FIRST else new > head


def supersedes(new: Record, old: Record) -> bool:
    """Does ``new`` replace ``old`` (same replace key)?"""
    if new.kind in KEEP_FIRST:
        return order_key(new) < order_key(old)
    return order_key(new) > order_key(old)


def subject_of(record: Record) -> bytes | None:
    """The record another record points at (petition, retraction target, vouchee)."""
    body = record.body
    if isinstance(body, SignatureBody):
        return body.petition
    if isinstance(body, RetractBody):
        return body.target
    if isinstance(body, VouchBody):
        return body.subject
    return None
