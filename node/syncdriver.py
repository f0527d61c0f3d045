"""Drives a history-sync session over a byte stream, then moves the records.

The reconciliation itself is the pure machine of ``protocol.sync``; this module
only frames its messages on a stream, answers its events, and afterwards moves
the records each side found missing: both sides push what the other lacks, in
order, while receiving what they lack, and hand received records to the node's
ingest in batches (so a catch-up of 100 000 records is a few hundred commits).

Frames on the stream (``/cercle/sync/1.0.0``)::

    type (u8) ‖ length (u32, big-endian) ‖ payload

| type | payload                         | limit      |
|------|---------------------------------|------------|
| 1    | one reconciliation message      | 64 KiB     |
| 2    | one signed record envelope      | 16 KiB     |
| 3    | empty: no more records from me  | 0          |
| 4    | empty: I do not host this scope | 0          |

Records received that the reconciliation did not ask for are dropped and
counted: a peer cannot use sync to push arbitrary data at us.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import trio

from cercle.protocol import records as R
from cercle.protocol import sync as S
from cercle.protocol.errors import RemoteProtocolError

PROTOCOL_ID = "/cercle/sync/1.0.0"
T_SYNC, T_RECORD, T_END, T_REFUSE = 1, 2, 3, 4
_LIMITS = {T_SYNC: S.MAX_FRAME_SIZE, T_RECORD: R.MAX_RECORD_BYTES, T_END: 0, T_REFUSE: 0}
_HEADER = struct.Struct(">BI")
PUSH_CHUNK = 256  # records read from the store per read transaction
INGEST_BATCH = 1000  # records handed to ingest at once


class ByteStream(Protocol):
    async def send_all(self, data: bytes) -> None: ...

    async def receive_some(self, max_bytes: int = ...) -> bytes: ...


GetRaws = Callable[[Sequence[bytes]], Awaitable[list[bytes]]]
Ingest = Callable[[list[bytes]], Awaitable[None]]


@dataclass
class SyncReport:
    scope: bytes | None = None
    refused: bool = False
    needed: int = 0  # records the peer had and we lacked
    offered: int = 0  # records we had and the peer lacked
    received: int = 0
    sent: int = 0
    unrequested: int = 0
    round_trips: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    stats: dict[str, int] = field(default_factory=dict)


class FrameReader:
    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.buf = bytearray()
        self.bytes_received = 0

    async def next(self) -> tuple[int, bytes] | None:
        """The next frame, or None at a clean end of stream."""
        while True:
            if len(self.buf) >= _HEADER.size:
                kind, size = _HEADER.unpack_from(self.buf)
                if kind not in _LIMITS:
                    raise RemoteProtocolError(f"unknown sync frame type {kind}")
                if size > _LIMITS[kind]:
                    raise RemoteProtocolError(f"sync frame of {size} bytes is too large")
                end = _HEADER.size + size
                if len(self.buf) >= end:
                    payload = bytes(self.buf[_HEADER.size : end])
                    del self.buf[:end]
                    return kind, payload
            data = await self.stream.receive_some(65536)
            if not data:
                if self.buf:
                    raise RemoteProtocolError("stream closed in the middle of a frame")
                return None
            self.bytes_received += len(data)
            self.buf += data


def frame(kind: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


async def _reconcile(
    machine: S.SyncMachine,
    stream: ByteStream,
    reader: FrameReader,
    report: SyncReport,
    hosted: Callable[[bytes], Awaitable[S.ItemStore | None]] | None,
) -> tuple[list[bytes], list[bytes]] | None:
    """Run the machine to Done; return (need, have), or None if the scope was refused."""
    need: list[bytes] = []
    have: list[bytes] = []
    while True:
        # next_event() may queue a reply while it digests input: flush after it.
        event = machine.next_event()
        out = machine.data_to_send()
        if out:
            await stream.send_all(frame(T_SYNC, out))
            report.bytes_sent += len(out) + _HEADER.size
        if event is S.NEED_DATA:
            got = await reader.next()
            if got is None:
                machine.receive_data(b"")
                continue
            kind, payload = got
            if kind == T_REFUSE:
                report.refused = True
                return None
            if kind != T_SYNC:
                raise RemoteProtocolError("record frame before reconciliation ended")
            machine.receive_data(payload)
        elif isinstance(event, S.ScopeRequest):
            report.scope = event.scope
            items = await hosted(event.scope) if hosted is not None else None
            if items is None:
                report.refused = True
                await stream.send_all(frame(T_REFUSE))
                return None
            machine.accept(items)
        elif isinstance(event, S.NeedIds):
            need.extend(event.ids)
        elif isinstance(event, S.HaveIds):
            have.extend(event.ids)
        elif isinstance(event, S.Done):
            return need, have


async def _transfer(
    stream: ByteStream,
    reader: FrameReader,
    need: list[bytes],
    have: list[bytes],
    get_raws: GetRaws,
    ingest: Ingest,
    report: SyncReport,
) -> None:
    """Push what the peer lacks while receiving what we lack (full duplex)."""
    wanted = set(need)

    async def push() -> None:
        for i in range(0, len(have), PUSH_CHUNK):
            raws = await get_raws(have[i : i + PUSH_CHUNK])
            data = b"".join(frame(T_RECORD, raw) for raw in raws)
            await stream.send_all(data)
            report.bytes_sent += len(data)
            report.sent += len(raws)
        await stream.send_all(frame(T_END))

    async def pull() -> None:
        batch: list[bytes] = []
        while True:
            got = await reader.next()
            if got is None:
                raise RemoteProtocolError("stream closed before the end of records")
            kind, payload = got
            if kind == T_END:
                break
            if kind != T_RECORD:
                raise RemoteProtocolError(f"unexpected frame type {kind} during transfer")
            rid = R.record_id(payload)
            if rid not in wanted:
                report.unrequested += 1
                continue
            wanted.discard(rid)
            batch.append(payload)
            if len(batch) >= INGEST_BATCH:
                await ingest(batch)
                report.received += len(batch)
                batch = []
        if batch:
            await ingest(batch)
            report.received += len(batch)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(push)
        await pull()


async def sync_as_initiator(
    stream: ByteStream, scope: bytes, items: S.ItemStore, get_raws: GetRaws, ingest: Ingest
) -> SyncReport:
    report = SyncReport(scope=scope)
    reader = FrameReader(stream)
    machine = S.SyncMachine(S.Role.INITIATOR, items, scope=scope)
    machine.initiate()
    result = await _reconcile(machine, stream, reader, report, None)
    return await _finish(machine, stream, reader, result, get_raws, ingest, report)


async def sync_as_responder(
    stream: ByteStream,
    hosted: Callable[[bytes], Awaitable[S.ItemStore | None]],
    get_raws: GetRaws,
    ingest: Ingest,
) -> SyncReport:
    report = SyncReport()
    reader = FrameReader(stream)
    machine = S.SyncMachine(S.Role.RESPONDER)
    result = await _reconcile(machine, stream, reader, report, hosted)
    return await _finish(machine, stream, reader, result, get_raws, ingest, report)


async def _finish(
    machine: S.SyncMachine,
    stream: ByteStream,
    reader: FrameReader,
    result: tuple[list[bytes], list[bytes]] | None,
    get_raws: GetRaws,
    ingest: Ingest,
    report: SyncReport,
) -> SyncReport:
    stats = machine.statistics()
    report.round_trips = max(stats.messages_sent, stats.messages_received)
    if result is not None:
        need, have = result
        report.needed, report.offered = len(need), len(have)
        await _transfer(stream, reader, need, have, get_raws, ingest, report)
    report.bytes_received = reader.bytes_received
    return report
