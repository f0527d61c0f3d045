"""Petition bundles: the vectors of ``specs/vectors/bundle.json``, `cercle verify`, tampering.

The vectors are loaded, never regenerated (``tests/gen_bundle_vectors.py`` writes
them).  Every tampered vector goes through the real CLI entry point; byte flips,
truncations and random input go through :func:`verify_bundle`, which must say
"not ok" and never raise.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cercle.node.cli.main import main
from cercle.node.files.bundlefile import write_bundle_file
from cercle.protocol import bundle as B
from cercle.protocol import canonical
from cercle.protocol import records as R
from cercle.protocol.errors import LocalProtocolError
from tests import factory as F

VECTOR_FILE = Path(__file__).resolve().parents[1] / "specs" / "vectors" / "bundle.json"
DOC = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = DOC["vectors"]
BY_NAME = {v["name"]: v for v in VECTORS}
GENUINE = bytes.fromhex(BY_NAME["genuine"]["bundle"])
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, *extra: str) -> Any:
    path = tmp_path / "petition.cercle"
    path.write_bytes(data)
    code = main(["verify", str(path), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def assert_rejected(data: bytes) -> B.BundleReport:
    report = B.verify_bundle(data)
    assert not report.ok
    assert B.Defect.INTERNAL_ERROR not in report.codes, report.summary()
    return report


def fields(data: bytes) -> list[Any]:
    value = canonical.decode(data, max_len=len(data))
    assert isinstance(value, list)
    return value


def reassemble(pet: bytes, charter: bytes | None, sigs: list[Any], **kw: Any) -> bytes:
    ids = [hashlib.sha256(s).digest() for s in sigs]
    count = kw.get("count", len(sigs))
    root = kw.get("root", B.merkle_root(ids))
    return canonical.encode([B.FORMAT_TAG, B.VERSION, pet, charter, sigs, count, root])


# ------------------------------------------------------------------ vectors


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(v: dict[str, Any]) -> None:
    report = B.verify_bundle(bytes.fromhex(v["bundle"]), require_charter=v["require_charter"])
    assert [d.code.value for d in report.defects] == v["defects"]
    assert report.ok is v["ok"] is (not v["defects"])
    assert report.signatures == v["signatures"]
    assert report.valid == v["valid"]
    assert report.claimed_count == v["claimed_count"]
    assert (report.root.hex() if report.root is not None else None) == v["root"]


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_cli_verdict_on_vector(
    v: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = () if v["require_charter"] else ("--allow-no-charter",)
    code, out, err = cli(tmp_path, capsys, bytes.fromhex(v["bundle"]), *extra)
    assert err == ""
    if v["ok"]:
        assert code == 0
        assert out.splitlines()[-1] == "OK"
    else:
        assert code == 1
        assert "NOT VALID" in out
        for c in set(v["defects"]):
            assert c in out


def test_vectors_cover_every_defect() -> None:
    seen = {c for v in VECTORS for c in v["defects"]}
    untestable = {B.Defect.OVERSIZE, B.Defect.TOO_MANY_SIGNATURES, B.Defect.INTERNAL_ERROR}
    assert seen == {d.value for d in B.Defect} - untestable  # those three are tested below


def test_genuine_vector_is_what_build_bundle_writes() -> None:
    tag, version, pet, charter, sigs, count, root = fields(GENUINE)
    assert (tag, version, count) == (B.FORMAT_TAG, 1, 5)
    records = [R.decode(s) for s in sigs]
    rebuilt = B.build_bundle(R.decode(pet), records[::-1], community=R.decode(charter))
    assert rebuilt == GENUINE
    assert (
        root == B.merkle_root([r.id for r in records]) == bytes.fromhex(BY_NAME["genuine"]["root"])
    )


def test_merkle_vectors_and_construction() -> None:
    for m in DOC["merkle"]:
        assert B.merkle_root([bytes.fromhex(i) for i in m["ids"]]).hex() == m["root"]

    def h(b: bytes) -> bytes:
        return hashlib.sha256(b).digest()

    a, b, c = (bytes([n]) * 32 for n in range(3))
    la, lb, lc = h(b"\x00" + a), h(b"\x00" + b), h(b"\x00" + c)
    assert B.merkle_root([]) == h(b"")
    assert B.merkle_root([a]) == la
    assert B.merkle_root([a, b]) == h(b"\x01" + la + lb)
    assert B.merkle_root([a, b, c]) == h(b"\x01" + h(b"\x01" + la + lb) + lc)  # c promoted
    assert B.merkle_root([a, b, c]) != B.merkle_root([a, b, c, c])


# ------------------------------------------------------------------ tampering


def test_every_single_bit_flip_is_rejected() -> None:
    for pos in range(len(GENUINE)):
        data = bytearray(GENUINE)  # other masks: the Hypothesis test below
        data[pos] ^= 0x01
        assert_rejected(bytes(data))


@FAST
@given(pos=st.integers(0, len(GENUINE) - 1), mask=st.integers(1, 255))
def test_any_flipped_byte_is_rejected(pos: int, mask: int) -> None:
    data = bytearray(GENUINE)
    data[pos] ^= mask
    assert_rejected(bytes(data))


@pytest.mark.parametrize("pos", [0, 30, 200, len(GENUINE) // 2, len(GENUINE) - 40, -1])
def test_cli_rejects_flipped_byte(
    pos: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(GENUINE)
    data[pos] ^= 0x10
    code, out, _ = cli(tmp_path, capsys, bytes(data))
    assert code == 1
    assert "NOT VALID" in out


def test_every_truncation_is_rejected() -> None:
    for n in range(len(GENUINE)):
        assert_rejected(GENUINE[:n])


@FAST
@given(pos=st.integers(0, len(GENUINE) - 1), insert=st.binary(min_size=0, max_size=3))
def test_deleting_or_inserting_bytes_is_rejected(pos: int, insert: bytes) -> None:
    replaced = GENUINE[:pos] + insert + GENUINE[pos + 1 :]
    if replaced != GENUINE:  # replacing a byte by itself changes nothing
        assert_rejected(replaced)
    if insert:
        assert_rejected(GENUINE[:pos] + insert + GENUINE[pos:])


@FAST
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert_rejected(data)


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.binary(max_size=40)
        | st.text(max_size=10).map(lambda s: unicodedata.normalize("NFC", s)),
        lambda inner: st.lists(inner, max_size=8),
        max_leaves=30,
    )
)
def test_random_canonical_values_never_raise(value: Any) -> None:
    for v in (value, [B.FORMAT_TAG, 1, value], [B.FORMAT_TAG, 1, *([value] * 5)]):
        try:
            data = canonical.encode(v)
        except (TypeError, ValueError):
            continue
        assert_rejected(data)


def community_and_petition(deadline: int = F.T0 + 10**6) -> tuple[R.Record, R.Record]:
    comm = F.community()
    return comm, F.petition(1, comm.id, deadline=deadline)


def test_each_removed_signature_is_caught() -> None:
    comm, pet = community_and_petition()
    sigs = [F.signature(a, pet, t=F.T0 + a) for a in range(2, 12)]
    _, _, p, c, raws, count, root = fields(B.build_bundle(pet, sigs, community=comm))
    for i in range(len(raws)):
        rest = raws[:i] + raws[i + 1 :]
        report = assert_rejected(reassemble(p, c, rest, count=count, root=root))
        assert report.codes == [B.Defect.COUNT_MISMATCH, B.Defect.ROOT_MISMATCH]
        assert report.valid == 9
        report = assert_rejected(reassemble(p, c, rest, root=root))
        assert report.codes == [B.Defect.ROOT_MISMATCH]


def test_changed_petition_text_breaks_every_signature() -> None:
    comm, pet = community_and_petition()
    sigs = [F.signature(a, pet) for a in range(2, 6)]
    other = R.build(
        F.key(1),
        R.PetitionBody("Label it", "Something else.", "Makers", 100, pet.body.deadline_ms),  # type: ignore[union-attr]
        created_ms=pet.created_ms,
        community=pet.community,
    )
    data = reassemble(other.raw, comm.raw, [s.raw for s in sorted(sigs, key=R.order_key)])
    report = assert_rejected(data)
    assert report.codes == [B.Defect.WRONG_PETITION] * 4
    assert report.valid == 0


def test_late_and_second_signatures_do_not_count() -> None:
    comm, pet = community_and_petition(deadline=F.T0 + 100)
    on_time = F.signature(2, pet, t=F.T0 + 100)  # at the deadline is still on time
    late = F.signature(3, pet, t=F.T0 + 101)
    second = F.signature(2, pet, t=F.T0 + 50)  # earlier, so it is the first; on_time repeats
    raws = [s.raw for s in sorted([on_time, late, second], key=R.order_key)]
    report = assert_rejected(reassemble(pet.raw, comm.raw, raws))
    assert report.codes == [B.Defect.DUPLICATE_AUTHOR, B.Defect.LATE_SIGNATURE]
    assert (report.valid, report.signatures) == (1, 3)


# ------------------------------------------------------------------ limits and robustness


def test_oversize_is_refused_before_parsing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.cercle"
    with open(path, "wb") as f:
        f.truncate(B.MAX_BUNDLE_BYTES + 10)  # sparse; the CLI reads one byte past the limit
    assert main(["verify", str(path)]) == 1
    out, _ = capsys.readouterr()
    assert "oversize" in out


def test_too_many_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(B, "MAX_SIGNATURES", 4)
    report = assert_rejected(GENUINE)
    assert report.codes == [B.Defect.TOO_MANY_SIGNATURES]
    with pytest.raises(LocalProtocolError):
        comm, pet = community_and_petition()
        B.build_bundle(pet, [F.signature(a, pet) for a in range(2, 7)], community=comm)


def test_defect_list_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(B, "MAX_REPORTED_DEFECTS", 2)
    report = B.verify_bundle(bytes.fromhex(BY_NAME["changed-text"]["bundle"]))
    assert (len(report.defects), report.defects_omitted, report.ok) == (2, 3, False)
    assert report.summary().splitlines()[-1] == "  ... and 3 more"


def test_a_verifier_bug_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(data: bytes) -> R.Record:
        raise RuntimeError("boom")

    monkeypatch.setattr(R, "decode", boom)
    report = B.verify_bundle(GENUINE)
    assert report.codes == [B.Defect.INTERNAL_ERROR]


# ------------------------------------------------------------------ build_bundle


def test_build_sorts_and_verifies() -> None:
    comm, pet = community_and_petition()
    sigs = [F.signature(a, pet, t=F.T0 + 1 + (a * 7919) % 13) for a in range(2, 42)]
    data = B.build_bundle(pet, sigs, community=comm)
    report = B.verify_bundle(data)
    assert report.ok, report.summary()
    assert (report.valid, report.signatures, report.claimed_count) == (40, 40, 40)
    assert [R.decode(s).id for s in fields(data)[4]] == [
        s.id for s in sorted(sigs, key=R.order_key)
    ]
    assert report.summary().splitlines() == [
        "Petition: Label it",
        "Community: Vegan",
        "Signatures: 40 valid of 40 (goal 100)",
        f"Merkle root: {report.root.hex()}",  # type: ignore[union-attr]
        "OK",
    ]


def test_build_refuses_what_verify_would_reject() -> None:
    comm, pet = community_and_petition(deadline=F.T0 + 100)
    other_comm = F.community(5, "Halal")
    other_pet = F.petition(1, comm.id, title="Another")
    good = F.signature(2, pet)
    bad_cases: list[tuple[R.Record, list[R.Record], R.Record | None]] = [
        (good, [], comm),  # not a petition
        (pet, [good], other_comm),  # foreign charter
        (pet, [good], pet),  # charter slot holds a petition
        (pet, [F.signature(3, other_pet)], comm),  # another petition
        (pet, [F.signature(3, pet, t=F.T0 + 101)], comm),  # late
        (pet, [good, F.signature(2, pet, t=F.T0 + 2)], comm),  # same author twice
        (pet, [good, good], comm),  # same record twice
    ]
    for petition, sigs, charter in bad_cases:
        with pytest.raises(LocalProtocolError):
            B.build_bundle(petition, sigs, community=charter)


# ------------------------------------------------------------------ CLI


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(tmp_path, capsys, GENUINE, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] is True
    assert (doc["valid"], doc["signatures"], doc["claimed_count"]) == (5, 5, 5)
    assert doc["root"] == doc["claimed_root"] == BY_NAME["genuine"]["root"]
    assert doc["petition"]["title"] == "Label it" and doc["defects"] == []

    code, out, _ = cli(
        tmp_path, capsys, bytes.fromhex(BY_NAME["late-signature"]["bundle"]), "--json"
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False
    assert doc["defects"] == [
        {"code": "late_signature", "message": doc["defects"][0]["message"], "index": 5}
    ]


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_cli_unreadable_file(what: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nothing.cercle"
    if what == "directory":
        path.mkdir()
    assert main(["verify", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"cercle: error: cannot read {path}: ")


@pytest.mark.parametrize(
    "data", [b"", b"\x00" * 7, os.urandom(500)], ids=["empty", "zeros", "random"]
)
def test_cli_rejects_junk(data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(tmp_path, capsys, data)
    assert (code, err) == (1, "")
    assert "NOT VALID" in out


def test_write_bundle_file(tmp_path: Path) -> None:
    path = tmp_path / "p.cercle"
    old = os.umask(0o077)
    try:
        write_bundle_file(path, GENUINE)
    finally:
        os.umask(old)
    assert path.read_bytes() == GENUINE
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    with pytest.raises(FileExistsError):
        write_bundle_file(path, b"other")
    assert path.read_bytes() == GENUINE
    write_bundle_file(path, b"other", overwrite=True)
    assert path.read_bytes() == b"other"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.cercle"]  # no temp files left
