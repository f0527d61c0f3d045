"""Write ``specs/vectors/sync.json``: test vectors for ``specs/sync.md``.

Run ``.venv/bin/python tests/gen_sync_vectors.py`` to (re)write the file. The output
is deterministic (fixed ids and timestamps; the machine has no randomness). The tests
never run this script: they load the JSON, replay each session with their own
harness and compare every message byte for byte.

Each session vector holds the parameters, both item sets, the transcript (who sent
which message, in hex) and what each side was told to fetch (``need``) and push
(``have``), in event order. Fingerprint vectors pin the fingerprint function.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cercle.protocol import sync as S

OUT = Path(__file__).resolve().parents[1] / "specs" / "vectors" / "sync.json"

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
SCOPE = hashlib.sha256(b"cercle sync vector scope").digest()


def rid(k: int) -> bytes:
    """Deterministic record id number k."""
    return hashlib.sha256(b"cercle sync vector id %d" % k).digest()


def item(k: int, ts: int | None = None) -> tuple[int, bytes]:
    return (T0 + 1000 * k if ts is None else ts, rid(k))


def run_session(
    a: list[tuple[int, bytes]], b: list[tuple[int, bytes]], **params: int
) -> dict[str, Any]:
    """Run initiator (items a) against responder (items b); record everything."""
    ini = S.SyncMachine(S.Role.INITIATOR, S.SortedItems(a), scope=SCOPE, **params)
    res = S.SyncMachine(S.Role.RESPONDER, **params)
    out: dict[str, Any] = {"transcript": [], "initiator": [], "responder": []}
    ini.initiate()
    src, dst = ini, res
    while data := src.data_to_send():
        out["transcript"].append({"from": src.role.value, "hex": data.hex()})
        dst.receive_data(data)
        while (ev := dst.next_event()) is not S.NEED_DATA:
            if isinstance(ev, S.ScopeRequest):
                dst.accept(S.SortedItems(b))
            out[dst.role.value].append(ev)
        src, dst = dst, src
    assert ini.state is S.State.DONE and res.state is S.State.DONE
    result: dict[str, Any] = {"transcript": out["transcript"]}
    for side in ("initiator", "responder"):
        evs = out[side]
        result[side] = {
            "need": [i.hex() for e in evs if isinstance(e, S.NeedIds) for i in e.ids],
            "have": [i.hex() for e in evs if isinstance(e, S.HaveIds) for i in e.ids],
        }
    return result


def session(
    name: str, text: str, a: list[tuple[int, bytes]], b: list[tuple[int, bytes]], **params: int
) -> dict[str, Any]:
    full = {"branching": 16, "leaf_threshold": 32, "frame_size_limit": 65536} | params
    result = run_session(a, b, **full)
    ia, ib = {i for _, i in a}, {i for _, i in b}  # sanity: outputs are the differences
    assert {bytes.fromhex(x) for x in result["initiator"]["need"]} == ib - ia
    assert {bytes.fromhex(x) for x in result["initiator"]["have"]} == ia - ib
    assert {bytes.fromhex(x) for x in result["responder"]["need"]} == ia - ib
    assert {bytes.fromhex(x) for x in result["responder"]["have"]} == ib - ia
    return {
        "name": name,
        "description": text,
        "params": full,
        "scope": SCOPE.hex(),
        "initiator_items": [[ts, i.hex()] for ts, i in a],
        "responder_items": [[ts, i.hex()] for ts, i in b],
        **result,
    }


def fingerprint_vector(items: list[tuple[int, bytes]]) -> dict[str, Any]:
    store = S.SortedItems(items)
    return {
        "items": [[ts, i.hex()] for ts, i in items],
        "fingerprint": S.fingerprint(store.id_sum(0, len(store)), len(store)).hex(),
    }


def build() -> dict[str, Any]:
    three = [item(k) for k in range(3)]
    twelve = [item(k) for k in range(12)]
    # Two items sharing timestamp and first 4 id bytes: weak leaves cannot tell them apart.
    x = (T0 + 500, bytes.fromhex("01020304") + b"\xaa" * 28)
    y = (T0 + 500, bytes.fromhex("01020304") + b"\xbb" * 28)
    sessions = [
        session("equal", "Equal sets: one round trip.", three, three),
        session("both-empty", "Both sets empty.", [], []),
        session(
            "responder-missing-one",
            "The responder lacks one item: leaf exchange IdList, Diff, Ids.",
            three,
            three[:1] + three[2:],
        ),
        session(
            "initiator-missing-one",
            "The initiator lacks one item.",
            three[:2],
            three,
        ),
        session(
            "disjoint",
            "Disjoint sets of two items each.",
            [item(k) for k in (0, 1)],
            [item(k) for k in (2, 3)],
        ),
        session(
            "split",
            "Twelve items, one missing on each side, branching 4, leaf threshold 2: "
            "sub-range fingerprints, Skip gaps, two leaves.",
            twelve[:4] + twelve[5:],
            twelve[:9] + twelve[10:],
            branching=4,
            leaf_threshold=2,
        ),
        session(
            "same-timestamp",
            "Items with one timestamp: bounds need id prefixes.",
            [item(k, T0) for k in range(8)],
            [item(k, T0) for k in range(1, 9)],
            branching=2,
            leaf_threshold=2,
        ),
        session(
            "strong-pass",
            "A weak-prefix collision hides the difference; the final check fails and "
            "the initiator runs the strong pass (16-byte fingerprints, full ids).",
            [*three, x],
            [*three, y],
        ),
    ]
    fps = [
        fingerprint_vector([]),
        fingerprint_vector(three[:1]),
        fingerprint_vector(three),
        # ids ff..ff and 01 00..00 (little-endian 2**256-1 and 1): the sum wraps to 0
        fingerprint_vector([(0, b"\xff" * 32), (1, b"\x01" + b"\0" * 31)]),
    ]
    return {
        "about": "Test vectors for specs/sync.md, written by tests/gen_sync_vectors.py.",
        "version": S.PROTOCOL_VERSION,
        "fingerprints": fps,
        "sessions": sessions,
    }


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
