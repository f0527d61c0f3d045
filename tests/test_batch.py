"""Gossip batches (protocol/batch.py), sans-IO: one canonical encoding, hostile input refused."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cercle.protocol import batch as B
from cercle.protocol.errors import LocalProtocolError, RemoteProtocolError
from tests import factory as F

COMM = F.community()
RECS = [F.rating(i, COMM.id, i, (3, 3, 3)) for i in range(5)]


def test_round_trip_and_the_wire_bytes() -> None:
    raws = [r.raw for r in RECS]
    data = B.encode_batch(raws)
    assert data == msgpack.packb([1, raws], use_bin_type=True)  # [FORMAT, [bin, ...]]
    assert B.decode_batch(data) == raws


def test_fitting_counts_what_one_batch_holds() -> None:
    small = [F.rating(i, COMM.id, i, (3, 3, 3)).raw for i in range(300)]
    assert B.fitting(small) == B.MAX_BATCH_RECORDS  # the count limit
    big = [b"x" * 16000] * 40
    n = B.fitting(big)
    assert (
        n == 16 and len(B.encode_batch([bytes([i]) * 16000 for i in range(n)])) <= B.MAX_BATCH_BYTES
    )
    assert B.fitting([]) == 0


def test_our_own_mistakes_are_local() -> None:
    with pytest.raises(LocalProtocolError):
        B.encode_batch([])
    with pytest.raises(LocalProtocolError):
        B.encode_batch([RECS[0].raw, RECS[0].raw])
    with pytest.raises(LocalProtocolError):
        B.encode_batch([b"x"] * (B.MAX_BATCH_RECORDS + 1))


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\xc1",
        msgpack.packb([2, [RECS[0].raw]]),  # unknown format
        msgpack.packb([True, [RECS[0].raw]]),  # true is not 1
        msgpack.packb([1, []]),  # empty
        msgpack.packb([1, [RECS[0].raw, RECS[0].raw]]),  # the same envelope twice
        msgpack.packb([1, ["text"]]),  # not bin
        msgpack.packb([1, [b""]]),
        msgpack.packb([1, [b"x" * 17000]]),  # over the record limit
        msgpack.packb([1, [b"x"] * (B.MAX_BATCH_RECORDS + 1)]),
        msgpack.packb([1, [RECS[0].raw], 3]),
        b"\x92\x01\xdd\x00\x00\x00\x01\xc4\x01x",  # array32 header: not the shortest form
    ],
)
def test_bad_batches_are_the_peers_fault(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        B.decode_batch(bad)


@given(st.binary(max_size=3000))
def test_garbage_raises_only_remote_protocol_error(data: bytes) -> None:
    try:
        out = B.decode_batch(data)
    except RemoteProtocolError:
        return
    assert out and all(isinstance(x, bytes) for x in out)


@given(st.lists(st.binary(min_size=1, max_size=400), min_size=1, max_size=40, unique=True))
def test_any_batch_we_make_decodes_to_what_we_put_in(raws: list[bytes]) -> None:
    assert B.decode_batch(B.encode_batch(raws)) == raws
