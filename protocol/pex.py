"""Peer exchange (``/cercle/peers/1.0.0``): the one message a relay answers with.

A node that opens this stream reads one msgpack array of multiaddr strings, each
ending in ``/p2p/<peer id>``, until the relay closes the stream (``specs/network.md``
§8). The answer comes from a peer, so its decoder treats every byte as hostile:
size, shape and each address are checked, and anything else is the peer's fault
(:class:`RemoteProtocolError`). Sans-IO like the other wire formats: the reader is
fed bytes and asked for the list once the stream has ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgpack

from .errors import LocalProtocolError, RemoteProtocolError

PROTOCOL_ID: Final = "/cercle/peers/1.0.0"
MAX_ADDRS: Final = 100  # addresses in one answer
MAX_BYTES: Final = 64 * 1024  # bytes in one answer
MAX_ADDR_CHARS: Final = 300  # characters in one address


def _valid(addr: object) -> bool:
    return (
        isinstance(addr, str)
        and addr.startswith("/")
        and "/p2p/" in addr
        and len(addr) <= MAX_ADDR_CHARS
    )


def encode_peers(addrs: Sequence[str]) -> bytes:
    """Our answer: the first :data:`MAX_ADDRS` addresses, as one msgpack array."""
    chosen = list(addrs[:MAX_ADDRS])
    bad = [a for a in chosen if not _valid(a)]
    if bad:
        raise LocalProtocolError(f"not a /…/p2p/ID multiaddr: {bad[0]!r}")
    data: bytes = msgpack.packb(chosen, use_bin_type=True)
    if len(data) > MAX_BYTES:  # 100 addresses of 300 characters fit; never reached
        raise LocalProtocolError("peer list too large")
    return data


def decode_peers(data: bytes) -> list[str]:
    """A peer list from the wire; :class:`RemoteProtocolError` unless it is well formed."""
    if len(data) > MAX_BYTES:
        raise RemoteProtocolError(f"peer list over {MAX_BYTES} bytes")
    try:
        value = msgpack.unpackb(data, raw=False)
    except Exception as exc:  # msgpack raises many types on garbage
        raise RemoteProtocolError(f"peer list is not msgpack: {exc}") from None
    if not isinstance(value, list) or len(value) > MAX_ADDRS:
        raise RemoteProtocolError(f"expected a list of at most {MAX_ADDRS} addresses")
    for addr in value:
        if not _valid(addr):
            raise RemoteProtocolError("an address is not a /…/p2p/ID multiaddr")
    return list(value)


class PeerListReader:
    """Collects a peer list from stream chunks: ``receive_data``, then ``result()`` at EOF."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def receive_data(self, data: bytes) -> None:
        """Feed a chunk; raises :class:`RemoteProtocolError` as soon as it is too long."""
        self._buf += data
        if len(self._buf) > MAX_BYTES:
            raise RemoteProtocolError(f"peer list over {MAX_BYTES} bytes")

    def result(self) -> list[str]:
        """The list, once the peer has closed the stream."""
        return decode_peers(bytes(self._buf))
