"""The history-sync stream (``/cercle/sync/1.0.0``), sans-IO: frames, session, transfer.

``protocol.sync`` finds which record ids two nodes lack; this module is everything
else that happens on the stream, so that all of it is pure and testable without a
socket: the frames (``type u8 ‖ length u32 BE ‖ payload``), the session around the
reconciliation machine (the initiator's scope request, the responder's acceptance or
refusal, the turns), and the transfer that follows (both sides push the records the
other lacks, then an end-of-records frame, full duplex), including the rule that a
received record whose id the reconciliation did not ask for is dropped and counted:
a peer cannot use sync to push arbitrary data at us.

Shape as h11: feed the peer's bytes to ``receive_data`` (b"" = end of stream), take
events from ``next_event`` until ``NEED_DATA``, write ``data_to_send()`` to the peer,
and answer the events with ``accept``/``refuse`` (a ``ScopeRequested``) and
``send_records``/``end_records`` (a ``PushRecords``). There is no I/O, clock, trio or
libp2p in here; ``node/syncdriver.py`` is the trio driver. Every state change is in
``_TRANSITIONS``, including the frames the peer may send in each state, so a frame
missing from the table is the peer's fault (``RemoteProtocolError``) and a call
missing from it is the caller's (``LocalProtocolError``). The wire format is in
specs/sync.md §14.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Final, TypeAlias

from cercle.protocol import records as R
from cercle.protocol import sync as S
from cercle.protocol.errors import LocalProtocolError, RemoteProtocolError
from cercle.protocol.receivebuffer import ReceiveBuffer
from cercle.protocol.sync import NEED_DATA, ItemStore, NeedData, Role

__all__ = [
    "FRAME_HEADER_SIZE",
    "FRAME_LIMITS",
    "NEED_DATA",
    "PROTOCOL_ID",
    "RECORD_BATCH",
    "Done",
    "EndOfRecords",
    "Event",
    "FrameType",
    "ItemStore",
    "LocalProtocolError",
    "NeedData",
    "PushRecords",
    "RecordsReceived",
    "RemoteProtocolError",
    "Role",
    "ScopeRefused",
    "ScopeRequested",
    "SessionState",
    "SyncReport",
    "SyncSession",
    "encode_frame",
]

PROTOCOL_ID: Final = "/cercle/sync/1.0.0"


class FrameType(IntEnum):
    SYNC = 1  # one reconciliation message (specs/sync.md §3)
    RECORD = 2  # one signed record envelope
    END = 3  # empty: no more records from me
    REFUSE = 4  # empty: I do not host this scope (the responder's only frame)


FRAME_LIMITS: Final[Mapping[int, int]] = {
    FrameType.SYNC: S.MAX_FRAME_SIZE,
    FrameType.RECORD: R.MAX_RECORD_BYTES,
    FrameType.END: 0,
    FrameType.REFUSE: 0,
}
_HEADER: Final = struct.Struct(">BI")
FRAME_HEADER_SIZE: Final = _HEADER.size  # 5: type u8, length u32 big-endian
RECORD_BATCH: Final = 1000  # most records in one RecordsReceived event
_END_FRAME: Final = _HEADER.pack(FrameType.END, 0)
_REFUSE_FRAME: Final = _HEADER.pack(FrameType.REFUSE, 0)


def encode_frame(kind: FrameType, payload: bytes = b"") -> bytes:
    """One frame; LocalProtocolError if the payload is over the type's limit."""
    if len(payload) > FRAME_LIMITS[kind]:
        raise LocalProtocolError(f"{kind.name} frame payload of {len(payload)} bytes")
    return _HEADER.pack(kind, len(payload)) + payload


# --- report and events ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncReport:
    """What one session did, as seen by one side."""

    scope: bytes | None = None
    refused: bool = False  # the responder does not host the scope (either side's view)
    needed: int = 0  # records the peer had and we lacked (reconciliation)
    offered: int = 0  # records we had and the peer lacked (reconciliation)
    received: int = 0  # records received that were asked for (handed out in events)
    sent: int = 0  # records pushed to the peer
    unrequested: int = 0  # records received that were not asked for, dropped
    round_trips: int = 0  # reconciliation messages, the larger of the two directions
    bytes_sent: int = 0  # every byte queued for the peer, frame headers included
    bytes_received: int = 0  # every byte fed by receive_data


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopeRequested:
    """Responder: the peer wants to sync this scope; call accept(items) or refuse()."""

    scope: bytes

    def __post_init__(self) -> None:
        S.check_scope(self.scope)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopeRefused:
    """Initiator: the peer does not host the scope. Done follows."""

    scope: bytes

    def __post_init__(self) -> None:
        S.check_scope(self.scope)


@dataclass(frozen=True, slots=True, kw_only=True)
class PushRecords:
    """Reconciliation is over; the peer lacks these records (possibly none).

    Hand their raw envelopes to send_records() (in chunks, any order; records you
    no longer hold may be left out), then call end_records(). Keep receiving
    meanwhile: the transfer is full duplex.
    """

    ids: tuple[bytes, ...]

    def __post_init__(self) -> None:
        S.check_id_tuple(self.ids, allow_empty=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordsReceived:
    """Raw envelopes the reconciliation asked for (1..RECORD_BATCH): validate and store."""

    raws: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not (isinstance(self.raws, tuple) and self.raws):
            raise ValueError("raws must be a non-empty tuple")
        if not all(isinstance(r, bytes) and len(r) <= R.MAX_RECORD_BYTES for r in self.raws):
            raise ValueError(f"raws must be bytes of at most {R.MAX_RECORD_BYTES}")


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfRecords:
    """The peer has sent all its records: stop reading. Done follows end_records()."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Done:
    """The session is over (always the last event); the report says what it did."""

    report: SyncReport


Event: TypeAlias = (
    ScopeRequested | ScopeRefused | PushRecords | RecordsReceived | EndOfRecords | Done
)


# --- states ----------------------------------------------------------------------------------


class SessionState(Enum):
    OPENING = "opening"  # initiator: opening sent, no answer yet; responder: awaiting it
    SCOPE_ASKED = "scope_asked"  # responder: ScopeRequested emitted, awaiting accept/refuse
    RECONCILING = "reconciling"  # reconciliation messages alternate (type 1 frames)
    TRANSFER = "transfer"  # records flow both ways
    OURS_ENDED = "ours_ended"  # we sent our end of records; the peer's records still come
    THEIRS_ENDED = "theirs_ended"  # the peer sent its end of records; we are still pushing
    DONE = "done"
    ERROR = "error"


class _Input(Enum):
    # frames from the peer
    SYNC_FRAME = "receive a reconciliation message"
    RECORD_FRAME = "receive a record"
    END_FRAME = "receive an end of records"
    REFUSE_FRAME = "receive a refusal"
    # the reconciliation machine
    OPENED = "get the opening"  # responder's machine emitted ScopeRequest
    RECONCILED = "finish reconciling"  # the machine emitted Done
    # the caller
    ACCEPT = "accept()"
    REFUSE = "refuse()"
    SEND = "send_records()"
    END = "end_records()"
    # anything the peer got wrong
    FAIL = "fail"


_FRAME_INPUT: Final[Mapping[int, _Input]] = {
    FrameType.SYNC: _Input.SYNC_FRAME,
    FrameType.RECORD: _Input.RECORD_FRAME,
    FrameType.END: _Input.END_FRAME,
    FrameType.REFUSE: _Input.REFUSE_FRAME,
}

_St, _In = SessionState, _Input
_I, _R = Role.INITIATOR, Role.RESPONDER
# Every legal transition; a frame missing here is the peer's fault, a call the caller's.
_TRANSITIONS: Final[dict[tuple[Role, SessionState, _Input], SessionState]] = {
    (_I, _St.OPENING, _In.SYNC_FRAME): _St.RECONCILING,
    (_I, _St.OPENING, _In.REFUSE_FRAME): _St.DONE,
    (_R, _St.OPENING, _In.SYNC_FRAME): _St.OPENING,
    (_R, _St.OPENING, _In.OPENED): _St.SCOPE_ASKED,
    (_R, _St.SCOPE_ASKED, _In.ACCEPT): _St.RECONCILING,
    (_R, _St.SCOPE_ASKED, _In.REFUSE): _St.DONE,
    **{
        (role, state, inp): new
        for role in Role
        for state, inp, new in [
            (_St.RECONCILING, _In.SYNC_FRAME, _St.RECONCILING),
            (_St.RECONCILING, _In.RECONCILED, _St.TRANSFER),
            (_St.TRANSFER, _In.RECORD_FRAME, _St.TRANSFER),
            (_St.TRANSFER, _In.SEND, _St.TRANSFER),
            (_St.TRANSFER, _In.END, _St.OURS_ENDED),
            (_St.TRANSFER, _In.END_FRAME, _St.THEIRS_ENDED),
            (_St.OURS_ENDED, _In.RECORD_FRAME, _St.OURS_ENDED),
            (_St.OURS_ENDED, _In.END_FRAME, _St.DONE),
            (_St.THEIRS_ENDED, _In.SEND, _St.THEIRS_ENDED),
            (_St.THEIRS_ENDED, _In.END, _St.DONE),
        ]
    },
    # a remote protocol error, from every state that reads the peer's frames
    **{
        (role, state, _In.FAIL): _St.ERROR
        for role in Role
        for state in (
            _St.OPENING,
            _St.RECONCILING,
            _St.TRANSFER,
            _St.OURS_ENDED,
            _St.THEIRS_ENDED,
            _St.DONE,
        )
    },
}
del _St, _In, _I, _R


# --- the session -------------------------------------------------------------------------------


class SyncSession:
    """One side of one ``/cercle/sync/1.0.0`` stream.

    Initiator: ``SyncSession(Role.INITIATOR, items, scope=...)`` (the opening is queued
    at once). Responder: ``SyncSession(Role.RESPONDER)``; on ``ScopeRequested`` call
    ``accept(items)`` or ``refuse()``. Then loop: write ``data_to_send()``, feed the
    peer's bytes to ``receive_data`` (b"" = end of stream), act on ``next_event()``
    until ``NEED_DATA``. On ``PushRecords`` push the records while still receiving;
    after ``EndOfRecords`` stop reading; stop after ``Done``.

    ``branching``, ``leaf_threshold`` and ``frame_size_limit`` go to the
    reconciliation machine; ``record_batch`` bounds a ``RecordsReceived`` event.
    """

    def __init__(
        self,
        role: Role,
        items: ItemStore | None = None,
        *,
        scope: bytes | None = None,
        branching: int = 16,
        leaf_threshold: int = 32,
        frame_size_limit: int = S.MAX_FRAME_SIZE,
        record_batch: int = RECORD_BATCH,
    ) -> None:
        if not 1 <= record_batch <= RECORD_BATCH:
            raise LocalProtocolError(f"record_batch must be in 1..{RECORD_BATCH}")
        self.role = role
        self._machine = S.SyncMachine(
            role,
            items,
            scope=scope,
            branching=branching,
            leaf_threshold=leaf_threshold,
            frame_size_limit=frame_size_limit,
        )
        self._state = SessionState.OPENING
        self._scope = scope
        self._batch_size = record_batch
        self._rx = ReceiveBuffer()  # received bytes not yet parsed into frames
        self._tx: list[bytes] = []
        self._events: deque[Event] = deque()
        self._done_emitted = False
        self._refused = False
        self._need: list[bytes] = []
        self._have: list[bytes] = []
        self._wanted: set[bytes] = set()  # asked for and not yet received
        self._to_send: set[bytes] = set()  # offered and not yet sent
        self._batch: list[bytes] = []
        self._received = 0
        self._sent = 0
        self._unrequested = 0
        self._bytes_sent = 0
        self._bytes_received = 0
        if role is Role.INITIATOR:
            self._machine.initiate()
            self._pump()

    # -- public API --------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def scope(self) -> bytes | None:
        return self._scope

    def report(self) -> SyncReport:
        """What the session did so far (the Done event carries the final one)."""
        st = self._machine.statistics()
        return SyncReport(
            scope=self._scope,
            refused=self._refused,
            needed=len(self._need),
            offered=len(self._have),
            received=self._received,
            sent=self._sent,
            unrequested=self._unrequested,
            round_trips=max(st.messages_sent, st.messages_received),
            bytes_sent=self._bytes_sent,
            bytes_received=self._bytes_received,
        )

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; b"" means the peer closed its side."""
        if self._state is SessionState.ERROR:
            raise LocalProtocolError("receive_data() after an error")
        self._rx.feed(data)
        self._bytes_received += len(data)

    def next_event(self) -> Event | NeedData:
        """Next event, or NEED_DATA. Raises RemoteProtocolError on a peer's bad input."""
        if self._state is SessionState.ERROR:
            raise LocalProtocolError("next_event() after an error")
        if not self._events:
            if self._state is SessionState.DONE and not self._done_emitted:
                self._done_emitted = True
                return Done(report=self.report())
            if self._state is SessionState.SCOPE_ASKED:
                raise LocalProtocolError("answer ScopeRequested first: accept() or refuse()")
            self._guard(self._process_input)
        return self._events.popleft() if self._events else NEED_DATA

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer (may be empty); clears the buffer."""
        out = b"".join(self._tx)
        self._tx.clear()
        return out

    def accept(self, items: ItemStore) -> None:
        """Responder: reconcile the requested scope against these items."""
        self._fire(_Input.ACCEPT)

        def reconcile() -> None:
            self._machine.accept(items)
            self._pump()

        self._guard(reconcile)

    def refuse(self) -> None:
        """Responder: say that this node does not host the requested scope; ends the session."""
        self._fire(_Input.REFUSE)
        self._refused = True
        self._queue(_REFUSE_FRAME)

    def send_records(self, raws: Iterable[bytes]) -> None:
        """Queue raw envelopes of records named by PushRecords (each at most once)."""
        self._check(_Input.SEND)
        raws = list(raws)
        ids = [R.record_id(raw) for raw in raws]
        if len(set(ids)) != len(ids) or not self._to_send.issuperset(ids):
            raise LocalProtocolError("send_records(): a record the peer did not lack, or twice")
        if any(len(raw) > R.MAX_RECORD_BYTES for raw in raws):
            raise LocalProtocolError(f"send_records(): a record over {R.MAX_RECORD_BYTES} bytes")
        self._fire(_Input.SEND)
        self._to_send.difference_update(ids)
        pack = _HEADER.pack
        self._queue(b"".join(pack(FrameType.RECORD, len(raw)) + raw for raw in raws))
        self._sent += len(raws)

    def end_records(self) -> None:
        """Say that no more records will come from us."""
        self._fire(_Input.END)
        self._queue(_END_FRAME)

    # -- plumbing ----------------------------------------------------------------------

    def _check(self, inp: _Input, *, remote: bool = False) -> SessionState:
        """The state that inp leads to; the peer's or the caller's error if none."""
        new = _TRANSITIONS.get((self.role, self._state, inp))
        if new is None:
            where = f"in state {self._state.name} ({self.role.value})"
            if remote:
                raise RemoteProtocolError(f"peer cannot {inp.value} {where}")
            raise LocalProtocolError(f"cannot {inp.value} {where}")
        return new

    def _fire(self, inp: _Input, *, remote: bool = False) -> None:
        self._state = self._check(inp, remote=remote)

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except RemoteProtocolError:
            self._fire(_Input.FAIL)
            raise

    def _queue(self, data: bytes) -> None:
        self._tx.append(data)
        self._bytes_sent += len(data)

    def _pump(self) -> None:
        """Drain the machine's events after it was fed; frame its message, if any."""
        m = self._machine
        while (ev := m.next_event()) is not NEED_DATA:
            if isinstance(ev, S.NeedIds):
                self._need += ev.ids
            elif isinstance(ev, S.HaveIds):
                self._have += ev.ids
            elif isinstance(ev, S.ScopeRequest):
                self._fire(_Input.OPENED)
                self._scope = ev.scope
                self._events.append(ScopeRequested(scope=ev.scope))
            else:  # S.Done
                self._fire(_Input.RECONCILED)
                self._wanted = set(self._need)
                self._to_send = set(self._have)
                self._events.append(PushRecords(ids=tuple(self._have)))
        out = m.data_to_send()
        if out:
            self._queue(_HEADER.pack(FrameType.SYNC, len(out)) + out)

    def _process_input(self) -> None:
        """Parse frames until an event is queued or more bytes are needed."""
        rx = self._rx.data
        pos = 0  # start of the first frame not yet handled
        try:
            while not self._events and len(rx) - pos >= FRAME_HEADER_SIZE:
                kind, size = _HEADER.unpack_from(rx, pos)
                limit = FRAME_LIMITS.get(kind)
                if limit is None:
                    raise RemoteProtocolError(f"unknown sync frame type {kind}")
                if size > limit:
                    raise RemoteProtocolError(f"sync frame of {size} bytes is too large")
                start, end = pos + FRAME_HEADER_SIZE, pos + FRAME_HEADER_SIZE + size
                if len(rx) < end:
                    break
                pos = end
                self._on_frame(kind, bytes(rx[start:end]))
        finally:
            del rx[:pos]  # once per call, not per frame
        if not self._events and self._rx.closed:
            self._on_eof()

    def _on_frame(self, kind: int, payload: bytes) -> None:
        self._fire(_FRAME_INPUT[kind], remote=True)
        if kind == FrameType.RECORD:
            rid = R.record_id(payload)
            if rid not in self._wanted:
                self._unrequested += 1
                return
            self._wanted.discard(rid)
            self._batch.append(payload)
            if len(self._batch) >= self._batch_size:
                self._flush_batch()
        elif kind == FrameType.SYNC:
            if not payload:
                raise RemoteProtocolError("empty reconciliation frame")
            self._machine.receive_data(payload)
            self._pump()
        elif kind == FrameType.END:
            self._flush_batch()
            self._events.append(EndOfRecords())
        else:  # REFUSE, only legal as the responder's first frame
            self._refused = True
            assert self._scope is not None
            self._events.append(ScopeRefused(scope=self._scope))

    def _flush_batch(self) -> None:
        if self._batch:
            self._events.append(RecordsReceived(raws=tuple(self._batch)))
            self._received += len(self._batch)
            self._batch = []

    def _on_eof(self) -> None:
        if self._rx.data:
            raise RemoteProtocolError("stream closed in the middle of a frame")
        state = self._state
        if state in (SessionState.OPENING, SessionState.RECONCILING):
            raise RemoteProtocolError("stream closed before the reconciliation ended")
        if state in (SessionState.TRANSFER, SessionState.OURS_ENDED):
            raise RemoteProtocolError("stream closed before the end of records")
