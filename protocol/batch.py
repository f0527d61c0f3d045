"""Gossip batches: many records in one GossipSub message (network version 2).

Why: py-libp2p limits and costs are per *message* — a receiver drops the 11th
message per second from one forwarder on one topic, an outbound queue holds 32
RPCs, a node processes about 90 messages a second — so with one record per message a
community topic carried about 8 records a second, network-wide (``specs/network.md``
§11). A node now gathers its own new records into one message for as long as its
send slot is busy, so the message rate stays low whatever the record rate, and a
record still leaves at once when the topic is quiet.

A batch is one canonical msgpack value (``specs/records.md`` §1), so it has exactly one
encoding and one message id::

    batch = [FORMAT, [envelope, envelope, ...]]     FORMAT = 1, envelopes as bin

with 1..``MAX_BATCH_RECORDS`` distinct envelopes and at most ``MAX_BATCH_BYTES`` in
all. The envelopes are records exactly as signed; each is checked on arrival like a
record that came alone. Pure: bytes in, bytes out; a peer's bad batch raises
:class:`RemoteProtocolError`, our own mistake :class:`LocalProtocolError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .canonical import decode, encode
from .errors import LocalProtocolError, Rejected, RemoteProtocolError
from .records import MAX_RECORD_BYTES, record_id

FORMAT: Final = 1
MAX_BATCH_RECORDS: Final = 256
MAX_BATCH_BYTES: Final = 256 * 1024
_OVERHEAD: Final = 1 + 1 + 5  # outer fixarray, FORMAT, array32 header at most


def _bin_size(n: int) -> int:
    """Bytes msgpack spends on a bin of ``n`` bytes (header included)."""
    return n + (2 if n < 256 else 3 if n < 65536 else 5)


def fitting(pending: Sequence[bytes]) -> int:
    """How many of the ``pending`` envelopes, from the first, fit in one batch."""
    size, n = _OVERHEAD, 0
    for raw in pending[:MAX_BATCH_RECORDS]:
        size += _bin_size(len(raw))
        if size > MAX_BATCH_BYTES:
            break
        n += 1
    return n


def encode_batch(raws: Sequence[bytes]) -> bytes:
    """One batch of these envelopes (distinct, within the limits; see :func:`fitting`)."""
    if not raws or fitting(raws) != len(raws):
        raise LocalProtocolError(f"a batch holds 1..{MAX_BATCH_RECORDS} envelopes, ≤ 256 KiB")
    if len(set(raws)) != len(raws):
        raise LocalProtocolError("a batch holds each envelope once")
    return encode([FORMAT, list(raws)])


def decode_batch(data: bytes) -> list[bytes]:
    """The envelopes of a batch from a peer; RemoteProtocolError unless it is well formed.

    Only the batch is checked here; each envelope is then checked as a record.
    """
    try:
        value = decode(data, max_len=MAX_BATCH_BYTES)
    except Rejected as exc:
        raise RemoteProtocolError(f"batch: {exc}") from None
    if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int) or (
        value[0] != FORMAT
    ):
        raise RemoteProtocolError(f"batch: expected [{FORMAT}, [envelope, ...]]")
    raws = value[1]
    if not isinstance(raws, list) or not 1 <= len(raws) <= MAX_BATCH_RECORDS:
        raise RemoteProtocolError(f"batch: expected 1..{MAX_BATCH_RECORDS} envelopes")
    envelopes = [r for r in raws if isinstance(r, bytes) and 0 < len(r) <= MAX_RECORD_BYTES]
    if len(envelopes) != len(raws):
        raise RemoteProtocolError("batch: an envelope is not a bin of 1..16384 bytes")
    if len({record_id(r) for r in envelopes}) != len(envelopes):
        raise RemoteProtocolError("batch: the same envelope twice")
    return envelopes
