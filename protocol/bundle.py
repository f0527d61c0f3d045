"""Self-verifying petition bundles: proof of a petition's count, checkable offline.

Why: a petition is only as convincing as its count, and a count that has to be
taken on trust from a node is worth little to the company or official who
receives it.  A bundle carries everything needed to recount: the petition
record, every signature record and (recommended) the community charter, so a
recipient with ``cercle verify`` and no network can check each Ed25519
signature, that every signature refers to *this* petition (its id is the hash
of its envelope, so any change of text breaks every signature), that none is
late or repeated, and that the claimed count and Merkle root are right.  The
Merkle root is a short fingerprint of the signature set that can be published
(say, in a press release) and compared with a bundle received later.

The format (``specs/bundle.md``) is one canonical msgpack array::

    ["cercle-petition-bundle", 1, petition, charter | nil, [signature, ...], count, root]

:func:`verify_bundle` never raises on bad input: every problem becomes a
:class:`BundleDefect` with a stable code, so the CLI, the API and the tests all
agree on *what* is wrong.  The module is pure: no file, no clock (the
future-timestamp rule is skipped; it needs a clock and says nothing about
whether a signature is genuine), no network.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import canonical
from . import records as R
from .errors import LocalProtocolError, Reason, Rejected

__all__ = [
    "FORMAT_TAG",
    "MAX_BUNDLE_BYTES",
    "MAX_REPORTED_DEFECTS",
    "MAX_SIGNATURES",
    "VERSION",
    "BundleDefect",
    "BundleReport",
    "Defect",
    "build_bundle",
    "merkle_root",
    "verify_bundle",
]

FORMAT_TAG = "cercle-petition-bundle"
VERSION = 1
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_SIGNATURES = 300_000  # a signature envelope is ~190 bytes: 300 000 fit in 64 MiB
MAX_REPORTED_DEFECTS = 1000  # further defects are only counted (``defects_omitted``)
_FIELDS = 7
_LEAF = b"\x00"
_NODE = b"\x01"


class Defect(enum.StrEnum):
    """What is wrong with a bundle (stable strings: they appear in ``--json`` output)."""

    EMPTY = "empty"  # zero bytes
    OVERSIZE = "oversize"  # over MAX_BUNDLE_BYTES
    MALFORMED = "malformed"  # not canonical-model msgpack, or the wrong shape
    NON_CANONICAL = "non_canonical"  # valid msgpack, not the canonical encoding
    NOT_A_BUNDLE = "not_a_bundle"  # first item is not the format tag
    UNKNOWN_VERSION = "unknown_version"
    TOO_MANY_SIGNATURES = "too_many_signatures"
    BAD_PETITION = "bad_petition"  # petition envelope invalid or not a petition
    CHARTER_MISSING = "charter_missing"  # no charter, and the verifier requires one
    BAD_CHARTER = "bad_charter"  # charter envelope invalid or not a community record
    CHARTER_MISMATCH = "charter_mismatch"  # charter id is not the petition's community
    SIGNATURE_INVALID = "signature_invalid"  # a signature envelope fails records validation
    NOT_A_SIGNATURE = "not_a_signature"  # an entry of another kind
    WRONG_PETITION = "wrong_petition"  # signs another petition id (e.g. the text changed)
    WRONG_COMMUNITY = "wrong_community"
    LATE_SIGNATURE = "late_signature"  # created after the petition's deadline
    INSUFFICIENT_POW = "insufficient_pow"  # the charter's proof-of-work is not met
    DUPLICATE_RECORD = "duplicate_record"  # the same signature record twice
    DUPLICATE_AUTHOR = "duplicate_author"  # a second signature by one author
    UNSORTED = "unsorted"  # signatures not in strictly increasing (created_ms, id) order
    COUNT_MISMATCH = "count_mismatch"  # claimed count ≠ number of signature entries
    ROOT_MISMATCH = "root_mismatch"  # claimed root ≠ Merkle root of the entries' ids
    INTERNAL_ERROR = "internal_error"  # a bug in this verifier; the bundle is not judged


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleDefect:
    """One problem: ``index`` is the signature's position, ``reason`` the record rule broken."""

    code: Defect
    message: str
    index: int | None = None
    reason: Reason | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.index is not None:
            out["index"] = self.index
        if self.reason is not None:
            out["reason"] = self.reason.value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleReport:
    """The outcome of :func:`verify_bundle`; ``ok`` iff there is no defect.

    ``signatures`` counts the entries in the bundle, ``valid`` those that count
    for the petition (valid, on time, first of their author); ``root`` is the
    Merkle root recomputed from the entries, ``claimed_*`` what the bundle says.
    Fields the bundle was too broken to yield are ``None``.
    """

    defects: tuple[BundleDefect, ...] = ()
    defects_omitted: int = 0
    version: int | None = None
    petition_id: bytes | None = None
    title: str | None = None
    goal: int | None = None
    deadline_ms: int | None = None
    community_id: bytes | None = None
    community_name: str | None = None
    signatures: int = 0
    valid: int = 0
    claimed_count: int | None = None
    root: bytes | None = None
    claimed_root: bytes | None = None

    @property
    def ok(self) -> bool:
        return not self.defects and not self.defects_omitted

    @property
    def codes(self) -> list[Defect]:
        return [d.code for d in self.defects]

    def summary(self, *, max_defects: int = 20) -> str:
        """A few lines for people: petition, counts, root, then OK or the defects."""
        title = self.title if self.title is not None else "(unreadable)"
        lines = [f"Petition: {title}"]
        if self.community_name is not None:
            lines.append(f"Community: {self.community_name}")
        goal = f" (goal {self.goal})" if self.goal is not None else ""
        lines.append(f"Signatures: {self.valid} valid of {self.signatures}{goal}")
        lines.append(f"Merkle root: {self.root.hex() if self.root is not None else '-'}")
        if self.ok:
            lines.append("OK")
            return "\n".join(lines)
        total = len(self.defects) + self.defects_omitted
        lines.append(f"NOT VALID: {total} defect{'s' if total != 1 else ''}")
        shown = self.defects[:max_defects]
        for d in shown:
            where = f" [signature {d.index}]" if d.index is not None else ""
            lines.append(f"  {d.code.value}{where}: {d.message}")
        if total > len(shown):
            lines.append(f"  ... and {total - len(shown)} more")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        def hx(b: bytes | None) -> str | None:
            return b.hex() if b is not None else None

        return {
            "ok": self.ok,
            "version": self.version,
            "petition": {
                "id": hx(self.petition_id),
                "title": self.title,
                "goal": self.goal,
                "deadline_ms": self.deadline_ms,
                "community": hx(self.community_id),
                "community_name": self.community_name,
            },
            "signatures": self.signatures,
            "valid": self.valid,
            "claimed_count": self.claimed_count,
            "root": hx(self.root),
            "claimed_root": hx(self.claimed_root),
            "defects": [d.to_json() for d in self.defects],
            "defects_omitted": self.defects_omitted,
        }


# --------------------------------------------------------------------------- Merkle


def merkle_root(ids: Sequence[bytes]) -> bytes:
    """SHA-256 Merkle root: leaf ``H(00‖id)``, node ``H(01‖left‖right)``, odd last promoted.

    The empty tree's root is ``H("")``.  The 00/01 prefixes keep a leaf from
    passing for a node; promoting (not duplicating) the odd node means no two
    different id lists share a root (Bitcoin's duplicate-last flaw).
    """
    if not ids:
        return hashlib.sha256(b"").digest()
    level = [hashlib.sha256(_LEAF + i).digest() for i in ids]
    while len(level) > 1:
        nxt = [
            hashlib.sha256(_NODE + level[k] + level[k + 1]).digest()
            for k in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


# --------------------------------------------------------------------------- build


def build_bundle(
    petition: R.Record, signatures: Iterable[R.Record], *, community: R.Record | None = None
) -> bytes:
    """Bundle ``petition`` with its ``signatures`` (and, recommended, its charter).

    Signatures are sorted by ``(created_ms, id)``.  Raises
    :class:`LocalProtocolError` if the inputs would make a bundle with a defect
    (a wrong kind, another petition or community, a late or repeated
    signature, too many or too large); signatures are not re-verified, the
    records are assumed to come from validated storage.
    """
    if not isinstance(petition.body, R.PetitionBody):
        raise LocalProtocolError("build_bundle: not a petition record")
    deadline = petition.body.deadline_ms
    if community is not None and (
        community.kind is not R.Kind.COMMUNITY or community.id != petition.community
    ):
        raise LocalProtocolError("build_bundle: community is not the petition's charter")
    sigs = sorted(signatures, key=R.order_key)
    if len(sigs) > MAX_SIGNATURES:
        raise LocalProtocolError(f"build_bundle: {len(sigs)} signatures > {MAX_SIGNATURES}")
    authors: set[bytes] = set()
    for s in sigs:
        if not isinstance(s.body, R.SignatureBody) or s.body.petition != petition.id:
            raise LocalProtocolError(f"build_bundle: {s.id.hex()} is not a signature of it")
        if s.community != petition.community:
            raise LocalProtocolError(f"build_bundle: {s.id.hex()} is in another community")
        if s.created_ms > deadline:
            raise LocalProtocolError(f"build_bundle: {s.id.hex()} is late")
        if s.author in authors:
            raise LocalProtocolError(f"build_bundle: two signatures by {s.author.hex()}")
        authors.add(s.author)
    data = canonical.encode(
        [
            FORMAT_TAG,
            VERSION,
            petition.raw,
            community.raw if community is not None else None,
            [s.raw for s in sigs],
            len(sigs),
            merkle_root([s.id for s in sigs]),
        ]
    )
    if len(data) > MAX_BUNDLE_BYTES:
        raise LocalProtocolError(f"build_bundle: {len(data)} bytes > {MAX_BUNDLE_BYTES}")
    return data


# --------------------------------------------------------------------------- verify


@dataclass(slots=True)
class _Collector:
    defects: list[BundleDefect] = field(default_factory=list)
    omitted: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def add(
        self, code: Defect, message: str, *, index: int | None = None, reason: Reason | None = None
    ) -> None:
        if len(self.defects) < MAX_REPORTED_DEFECTS:
            self.defects.append(
                BundleDefect(code=code, message=message, index=index, reason=reason)
            )
        else:
            self.omitted += 1

    def report(self) -> BundleReport:
        return BundleReport(defects=tuple(self.defects), defects_omitted=self.omitted, **self.info)


def _record(data: bytes) -> R.Record:
    """``records.validate`` without the clock: decode, then check the signature."""
    record = R.decode(data)
    R.verify(record)
    return record


def _pow_short(record: R.Record, charter: R.CommunityBody | None) -> int:
    """The charter's required bits if ``record``'s id falls short of them, else 0."""
    if charter is None or not charter.pow_bits:
        return 0
    return charter.pow_bits if R.leading_zero_bits(record.id) < charter.pow_bits else 0


def verify_bundle(data: bytes, *, require_charter: bool = True) -> BundleReport:
    """Check a bundle completely, offline; never raises for any ``data``.

    Steps and defect codes are in ``specs/bundle.md`` §4.  A bundle without a
    charter is a ``charter_missing`` defect unless ``require_charter`` is
    false (the charter is not covered by the root, so a stripped charter would
    otherwise go unnoticed).
    """
    c = _Collector()
    try:
        _verify(data, c, require_charter=require_charter)
    except Exception as exc:  # a bug, not bad input; still never raise to the caller
        c.add(Defect.INTERNAL_ERROR, f"verifier bug: {type(exc).__name__}: {exc}")
    return c.report()


def _verify(data: bytes, c: _Collector, *, require_charter: bool) -> None:
    # 1-3: bytes, canonical msgpack, shape.
    if not data:
        c.add(Defect.EMPTY, "the file is empty")
        return
    if len(data) > MAX_BUNDLE_BYTES:
        c.add(Defect.OVERSIZE, f"{len(data)} bytes > {MAX_BUNDLE_BYTES}")
        return
    try:
        value = canonical.decode(data, max_len=MAX_BUNDLE_BYTES)
    except Rejected as exc:
        code = Defect.NON_CANONICAL if exc.reason is Reason.NON_CANONICAL else Defect.MALFORMED
        c.add(code, f"not a canonical msgpack document ({exc})", reason=exc.reason)
        return
    if not isinstance(value, list) or not value or value[0] != FORMAT_TAG:
        c.add(Defect.NOT_A_BUNDLE, f"not a Cercle petition bundle (no {FORMAT_TAG!r} tag)")
        return
    version = value[1] if len(value) > 1 else None
    if not isinstance(version, int) or isinstance(version, bool) or version != VERSION:
        c.add(Defect.UNKNOWN_VERSION, f"bundle version {version!r}; this verifier reads {VERSION}")
        return
    c.info["version"] = version
    if len(value) != _FIELDS:
        c.add(Defect.MALFORMED, f"expected {_FIELDS} fields, found {len(value)}")
        return
    _, _, pet_raw, charter_raw, sig_list, count, root = value
    if not isinstance(pet_raw, bytes):
        c.add(Defect.MALFORMED, "petition: expected the envelope as binary")
        return
    if charter_raw is not None and not isinstance(charter_raw, bytes):
        c.add(Defect.MALFORMED, "charter: expected the envelope as binary, or nil")
        return
    if not isinstance(sig_list, list):
        c.add(Defect.MALFORMED, "signatures: expected an array")
        return
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        c.add(Defect.MALFORMED, "count: expected a non-negative integer")
        return
    if not isinstance(root, bytes) or len(root) != 32:
        c.add(Defect.MALFORMED, "root: expected 32 bytes")
        return
    if len(sig_list) > MAX_SIGNATURES:
        c.add(Defect.TOO_MANY_SIGNATURES, f"{len(sig_list)} signatures > {MAX_SIGNATURES}")
        return
    sig_raws: list[bytes] = []
    for i, s in enumerate(sig_list):
        if not isinstance(s, bytes):
            c.add(Defect.MALFORMED, "signature entry: expected binary", index=i)
            return
        sig_raws.append(s)
    c.info.update(signatures=len(sig_raws), claimed_count=count, claimed_root=root)

    # 4: the petition.  Its id is the hash of the bytes, whatever they hold.
    petition_id = R.record_id(pet_raw)
    c.info["petition_id"] = petition_id
    petition: R.Record | None = None
    try:
        petition = _record(pet_raw)
    except Rejected as exc:
        c.add(Defect.BAD_PETITION, f"petition record refused: {exc}", reason=exc.reason)
    pbody: R.PetitionBody | None = None
    if petition is not None:
        if isinstance(petition.body, R.PetitionBody):
            pbody = petition.body
            c.info.update(
                title=pbody.title,
                goal=pbody.goal,
                deadline_ms=pbody.deadline_ms,
                community_id=petition.community,
            )
        else:
            c.add(Defect.BAD_PETITION, f"the petition is a {petition.kind.name.lower()} record")
            petition = None

    # 5: the charter.
    charter: R.CommunityBody | None = None
    if charter_raw is None:
        if require_charter:
            c.add(Defect.CHARTER_MISSING, "no community charter in the bundle")
    else:
        try:
            crec = _record(charter_raw)
        except Rejected as exc:
            c.add(Defect.BAD_CHARTER, f"charter record refused: {exc}", reason=exc.reason)
        else:
            if not isinstance(crec.body, R.CommunityBody):
                c.add(Defect.BAD_CHARTER, f"the charter is a {crec.kind.name.lower()} record")
            elif petition is not None and crec.id != petition.community:
                c.add(
                    Defect.CHARTER_MISMATCH,
                    f"charter {crec.id.hex()[:16]}… is not the petition's community",
                )
            else:
                charter = crec.body
                if petition is not None:
                    c.info["community_name"] = charter.name

    # 6: the petition's own proof of work, if its charter asks for it.
    if petition is not None and (bits := _pow_short(petition, charter)):
        c.add(Defect.INSUFFICIENT_POW, f"petition id has fewer than {bits} leading zero bits")

    # 7: each signature, in bundle order.
    ids = [R.record_id(s) for s in sig_raws]
    seen_ids: set[bytes] = set()
    authors: set[bytes] = set()
    prev: tuple[int, bytes] | None = None
    unsorted_reported = False
    valid = 0
    for i, (raw, sid) in enumerate(zip(sig_raws, ids, strict=True)):
        if sid in seen_ids:
            c.add(Defect.DUPLICATE_RECORD, f"record {sid.hex()[:16]}… appears again", index=i)
            continue
        seen_ids.add(sid)
        try:
            rec = _record(raw)
        except Rejected as exc:
            c.add(Defect.SIGNATURE_INVALID, f"record refused: {exc}", index=i, reason=exc.reason)
            continue
        key = R.order_key(rec)
        if prev is not None and key <= prev and not unsorted_reported:
            c.add(Defect.UNSORTED, "signatures are not sorted by (created_ms, id)", index=i)
            unsorted_reported = True
        prev = key
        if not isinstance(rec.body, R.SignatureBody):
            c.add(Defect.NOT_A_SIGNATURE, f"a {rec.kind.name.lower()} record", index=i)
            continue
        if rec.body.petition != petition_id:
            c.add(
                Defect.WRONG_PETITION,
                f"signs petition {rec.body.petition.hex()[:16]}…, not {petition_id.hex()[:16]}…",
                index=i,
            )
            continue
        if petition is None or pbody is None:
            continue  # nothing valid to count towards; the petition defect says why
        if rec.community != petition.community:
            c.add(Defect.WRONG_COMMUNITY, "signed in another community", index=i)
            continue
        if rec.created_ms > pbody.deadline_ms:
            late = rec.created_ms - pbody.deadline_ms
            c.add(Defect.LATE_SIGNATURE, f"signed {late} ms after the deadline", index=i)
            continue
        if bits := _pow_short(rec, charter):
            c.add(Defect.INSUFFICIENT_POW, f"id has fewer than {bits} zero bits", index=i)
            continue
        if rec.author in authors:
            c.add(Defect.DUPLICATE_AUTHOR, f"{rec.author.hex()[:16]}… already signed", index=i)
            continue
        authors.add(rec.author)
        valid += 1
    c.info["valid"] = valid

    # 8-9: the claims.
    if count != len(sig_raws):
        c.add(Defect.COUNT_MISMATCH, f"claims {count} signatures, carries {len(sig_raws)}")
    computed = merkle_root(ids)
    c.info["root"] = computed
    if computed != root:
        c.add(Defect.ROOT_MISMATCH, f"claims root {root.hex()}, entries give {computed.hex()}")
