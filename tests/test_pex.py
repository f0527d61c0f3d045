"""The peer-exchange codec and topic names, sans-IO: every byte from a peer is hostile."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cercle.protocol import pex
from cercle.protocol import records as R
from cercle.protocol.errors import LocalProtocolError, RemoteProtocolError
from cercle.protocol.topics import (
    DIRECTORY_TOPIC,
    community_topic,
    topic_for,
    topic_of_scope,
)
from tests import factory as F

GOOD = ["/ip4/127.0.0.1/tcp/1/p2p/12D3KooWabc", "/ip4/10.0.0.2/tcp/7490/p2p/12D3KooWdef"]


def test_round_trip_and_the_wire_bytes() -> None:
    data = pex.encode_peers(GOOD)
    assert data == msgpack.packb(GOOD)  # one msgpack array of strings: nothing else
    assert pex.decode_peers(data) == GOOD


def test_our_answer_is_cut_to_the_limit_and_checked() -> None:
    many = [f"/ip4/127.0.0.1/tcp/{i}/p2p/12D3KooW" for i in range(150)]
    assert pex.decode_peers(pex.encode_peers(many)) == many[: pex.MAX_ADDRS]
    with pytest.raises(LocalProtocolError):
        pex.encode_peers(["/ip4/127.0.0.1/tcp/1"])  # no /p2p/: our own bug


@pytest.mark.parametrize(
    "bad",
    [
        b"\xc1",
        msgpack.packb({"a": 1}),
        msgpack.packb(["/ip4/1.2.3.4/tcp/1"]),
        msgpack.packb([1, 2]),
        msgpack.packb(["x" * 400]),
        msgpack.packb(["/p2p/" + "x" * 400]),
        msgpack.packb([GOOD[0]] * (pex.MAX_ADDRS + 1)),
        b"\x00" * 70000,
    ],
)
def test_bad_peer_lists_are_the_peers_fault(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        pex.decode_peers(bad)


def test_reader_stops_a_flood_as_soon_as_it_is_too_long() -> None:
    reader = pex.PeerListReader()
    reader.receive_data(b"\x00" * pex.MAX_BYTES)
    with pytest.raises(RemoteProtocolError):
        reader.receive_data(b"\x00")


def test_reader_reassembles_chunks() -> None:
    data = pex.encode_peers(GOOD)
    reader = pex.PeerListReader()
    for i in range(0, len(data), 7):
        reader.receive_data(data[i : i + 7])
    assert reader.result() == GOOD


@given(st.binary(max_size=2000))
def test_garbage_raises_only_remote_protocol_error(data: bytes) -> None:
    try:
        out = pex.decode_peers(data)
    except RemoteProtocolError:
        return
    assert all(isinstance(a, str) and "/p2p/" in a for a in out)


def test_topics() -> None:
    comm = F.community()
    rating = F.rating(1, comm.id, 1, (3, 3, 3))
    assert topic_for(comm) == topic_of_scope(R.ZERO_ID) == DIRECTORY_TOPIC == "cercle/directory/1"
    assert topic_for(rating) == community_topic(comm.id) == topic_of_scope(comm.id)
    assert community_topic(comm.id) == "cercle/community/1/" + comm.id.hex()
