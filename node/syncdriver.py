"""Runs one history-sync session over a trio byte stream.

The protocol itself, frames, reconciliation turns, scope refusal, the transfer of
records and the rule that records nobody asked for are dropped, is the pure
``protocol.syncstream.SyncSession`` (specs/sync.md §14). This module only does what
needs I/O: it reads the stream and feeds the session, writes what the session
produces, and answers its events with the node's callbacks: ``hosted`` (which items,
if any, this node holds for a requested scope), ``get_raws`` (read records from the
store, ``PUSH_CHUNK`` per read transaction) and ``ingest`` (hand received records to
the writer, up to 1 000 at once, so a catch-up of 100 000 records is a few hundred
commits). During the transfer it pushes while it receives (full duplex), so two
nodes that both have much to send never wait on each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import trio

from cercle.protocol import sync as S
from cercle.protocol import syncstream as W
from cercle.protocol.syncstream import PROTOCOL_ID, SyncReport

__all__ = [
    "PROTOCOL_ID",
    "PUSH_CHUNK",
    "ByteStream",
    "GetRaws",
    "Hosted",
    "Ingest",
    "SyncReport",
    "sync_as_initiator",
    "sync_as_responder",
]

PUSH_CHUNK = 256  # records read from the store per read transaction
RECEIVE_SIZE = 65536  # most bytes asked of the stream at once


class ByteStream(Protocol):
    async def send_all(self, data: bytes) -> None: ...

    async def receive_some(self, max_bytes: int = ...) -> bytes: ...


GetRaws = Callable[[Sequence[bytes]], Awaitable[list[bytes]]]
Ingest = Callable[[list[bytes]], Awaitable[None]]
Hosted = Callable[[bytes], Awaitable[S.ItemStore | None]]


async def sync_as_initiator(
    stream: ByteStream, scope: bytes, items: S.ItemStore, get_raws: GetRaws, ingest: Ingest
) -> SyncReport:
    """Ask the peer to sync ``scope`` against ``items``; move the records both ways."""
    session = W.SyncSession(W.Role.INITIATOR, items, scope=scope)
    return await _drive(session, stream, get_raws, ingest, None)


async def sync_as_responder(
    stream: ByteStream, hosted: Hosted, get_raws: GetRaws, ingest: Ingest
) -> SyncReport:
    """Serve one session; ``hosted(scope)`` gives the items, or None to refuse."""
    session = W.SyncSession(W.Role.RESPONDER)
    return await _drive(session, stream, get_raws, ingest, hosted)


async def _drive(
    session: W.SyncSession,
    stream: ByteStream,
    get_raws: GetRaws,
    ingest: Ingest,
    hosted: Hosted | None,
) -> SyncReport:
    """Reconciliation: strictly alternating, one task. Then the full-duplex transfer."""
    while True:
        event = session.next_event()
        # next_event() may queue a reply while it digests input: flush after it.
        out = session.data_to_send()
        if out:
            await stream.send_all(out)
        if event is W.NEED_DATA:
            session.receive_data(await stream.receive_some(RECEIVE_SIZE))
        elif isinstance(event, W.ScopeRequested):
            items = await hosted(event.scope) if hosted is not None else None
            if items is None:
                session.refuse()
            else:
                session.accept(items)
        elif isinstance(event, W.PushRecords):
            await _transfer(session, stream, event.ids, get_raws, ingest)
        elif isinstance(event, W.Done):
            return event.report
        # ScopeRefused: Done follows.


async def _transfer(
    session: W.SyncSession,
    stream: ByteStream,
    ids: Sequence[bytes],
    get_raws: GetRaws,
    ingest: Ingest,
) -> None:
    """Push what the peer lacks (one task) while receiving what we lack (this one)."""

    async def push() -> None:
        for i in range(0, len(ids), PUSH_CHUNK):
            session.send_records(await get_raws(ids[i : i + PUSH_CHUNK]))
            await stream.send_all(session.data_to_send())
        session.end_records()
        await stream.send_all(session.data_to_send())

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(push)
            while not isinstance(event := session.next_event(), W.EndOfRecords):
                if event is W.NEED_DATA:
                    session.receive_data(await stream.receive_some(RECEIVE_SIZE))
                else:
                    assert isinstance(event, W.RecordsReceived)
                    await ingest(list(event.raws))
    except BaseExceptionGroup as group:
        # One side failed and the other was cancelled: the caller handles that one
        # failure (a peer's protocol error, a broken stream, a quota) as it would
        # from the reconciliation phase.
        if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], BaseExceptionGroup):
            raise group.exceptions[0] from None
        raise
