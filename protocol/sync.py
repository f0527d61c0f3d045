"""History sync: range-based set reconciliation of (timestamp, record id) sets, sans-IO.

Two nodes hold sets of records for one scope (a community id). This module finds, with
little traffic, which record ids each side lacks, as negentropy does: fingerprints of
ranges of (timestamp_ms, id), ranges that differ are split recursively, small ranges
are compared item by item. It outputs ids to fetch (`NeedIds`) and ids to push
(`HaveIds`); framing the messages on the stream and moving the records themselves
is `protocol/syncstream.py`'s job.

Why pure: like h11/h2 the protocol is a state machine fed bytes (`receive_data`) that
yields events (`next_event`) and produces bytes (`data_to_send`). There is no socket,
clock, thread, trio or libp2p in here, so every input (including garbage) can be
tested synchronously and exhaustively, and the same core serves every transport. Only
stdlib and msgpack are used. The wire format is specified byte for byte in
specs/sync.md; specs/vectors/sync.json holds test vectors.

Bandwidth notes (see specs/sync.md): sub-range fingerprints are sent truncated to 4
bytes and leaves as 4-byte id prefixes ("weak" pass). A weak collision can only hide a
difference, never invent one, so at the end both sides check that their set minus
what it gives plus what it gets has the peer's full 16-byte fingerprint; if not, the
initiator runs a second, "strong" pass (16-byte fingerprints, full ids). Both passes,
and the restart deferred by one turn, are states of the one transition table.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from itertools import accumulate
from typing import Final, Protocol, TypeAlias

import msgpack

from cercle.protocol.errors import LocalProtocolError, RemoteProtocolError
from cercle.protocol.receivebuffer import ReceiveBuffer

__all__ = [
    "FINGERPRINT_LEN",
    "INF",
    "MAX_FRAME_SIZE",
    "MAX_LEAF_ITEMS",
    "MIN_FRAME_SIZE",
    "NEED_DATA",
    "PROTOCOL_VERSION",
    "ZERO",
    "Bound",
    "Diff",
    "Done",
    "Event",
    "Fingerprint",
    "HaveIds",
    "IdList",
    "Ids",
    "ItemStore",
    "LocalProtocolError",
    "Message",
    "Mode",
    "NeedData",
    "NeedIds",
    "Range",
    "RemoteProtocolError",
    "Role",
    "ScopeRequest",
    "Skip",
    "SortedItems",
    "State",
    "SyncMachine",
    "SyncStatistics",
    "decode_message",
    "encode_message",
    "fingerprint",
]

PROTOCOL_VERSION: Final = 1
ID_LEN: Final = 32
SCOPE_LEN: Final = 32
FINGERPRINT_LEN: Final = 16  # full fingerprint: whole-set and strong pass
WEAK_FINGERPRINT_LEN: Final = 4  # sub-range fingerprints in the weak pass
WEAK_PREFIX_LEN: Final = 4  # id prefix length in weak leaves
MAX_FRAME_SIZE: Final = 65536  # no message may be larger; receivers reject it
MIN_FRAME_SIZE: Final = 4096  # smallest send limit a machine may be configured with
MAX_LEAF_ITEMS: Final = 64  # most ids/prefixes in one IdList, Diff or Ids range
MAX_TS: Final = 2**64 - 1
_MOD: Final = 2**256

Bound: TypeAlias = tuple[int, bytes]
"""(timestamp, id prefix): the key (timestamp, prefix padded with zero bytes to 32)."""
ZERO: Final[Bound] = (0, b"")
INF: Final[Bound] = (2**64, b"")  # above every item; encoded as nil


# --- fingerprints and item storage -----------------------------------------------------


def _varint(n: int) -> bytes:
    """negentropy varint: base 128, most significant group first, high bit = more."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def fingerprint(id_sum: int, count: int) -> bytes:
    """Fingerprint of a range from the sum of its ids (as 256-bit little-endian ints,
    mod 2**256) and its item count: SHA-256(sum_le32 || varint(count))[:16]."""
    data = (id_sum % _MOD).to_bytes(32, "little") + _varint(count)
    return hashlib.sha256(data).digest()[:FINGERPRINT_LEN]


class ItemStore(Protocol):
    """A sorted, immutable set of (timestamp_ms, id) items of one scope.

    The machine only needs these four operations; back them by anything that answers
    in O(log n) (prefix sums, a B-tree with sums...). The set must not change during
    a session: the protocol refers to items by position inside ranges.
    """

    def __len__(self) -> int: ...

    def bisect(self, ts: int, prefix: bytes) -> int:
        """Index of the first item >= the bound (ts, prefix)."""
        ...

    def items(self, lo: int, hi: int) -> Sequence[tuple[int, bytes]]:
        """Items with index in [lo, hi), in order."""
        ...

    def id_sum(self, lo: int, hi: int) -> int:
        """Sum mod 2**256 of the ids (little-endian ints) with index in [lo, hi)."""
        ...


class SortedItems:
    """In-memory ItemStore: a sorted list plus prefix sums of the ids.

    Building is O(n log n); bisect is O(log n); id_sum is O(1).
    """

    __slots__ = ("_keys", "_sums")

    def __init__(self, items: Iterable[tuple[int, bytes]]) -> None:
        keys = sorted(items)
        for ts, id_ in keys:
            if not (isinstance(ts, int) and 0 <= ts <= MAX_TS):
                raise ValueError(f"timestamp out of u64 range: {ts!r}")
            if not (isinstance(id_, bytes) and len(id_) == ID_LEN):
                raise ValueError("ids must be 32 bytes")
        if len({id_ for _, id_ in keys}) != len(keys):
            raise ValueError("duplicate ids")
        self._keys = keys
        self._sums = [0, *accumulate(int.from_bytes(id_, "little") for _, id_ in keys)]

    def __len__(self) -> int:
        return len(self._keys)

    def bisect(self, ts: int, prefix: bytes) -> int:
        # Python compares a shorter prefix as smaller, which equals zero padding
        # because canonical prefixes never end in 0x00.
        return bisect.bisect_left(self._keys, (ts, prefix))

    def items(self, lo: int, hi: int) -> Sequence[tuple[int, bytes]]:
        return self._keys[lo:hi]

    def id_sum(self, lo: int, hi: int) -> int:
        return (self._sums[hi] - self._sums[lo]) % _MOD


# --- wire messages -----------------------------------------------------------------------


class Mode(IntEnum):
    SKIP = 0
    FINGERPRINT = 1
    IDLIST = 2
    DIFF = 3
    IDS = 4


def _check_bound(b: object) -> None:
    if not (isinstance(b, tuple) and len(b) == 2):
        raise ValueError("bound must be (ts, prefix)")
    ts, prefix = b
    if not (isinstance(ts, int) and isinstance(prefix, bytes)):
        raise ValueError("bound must be (int, bytes)")
    if b == INF:
        return
    if not 0 <= ts <= MAX_TS:
        raise ValueError("bound timestamp out of range")
    if len(prefix) > ID_LEN or prefix.endswith(b"\0"):
        raise ValueError("bound prefix must be at most 32 bytes, not ending in 0x00")


def _check_ids(ids: bytes, *, allow_empty: bool) -> None:
    n, rem = divmod(len(ids), ID_LEN)
    if rem or n > MAX_LEAF_ITEMS or (n == 0 and not allow_empty):
        raise ValueError(f"ids must be 1..{MAX_LEAF_ITEMS} x 32 bytes")
    if len({ids[i : i + ID_LEN] for i in range(0, len(ids), ID_LEN)}) != n:
        raise ValueError("duplicate ids")


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    """Nothing to say about this range in this message (fills gaps between ranges)."""

    upper: Bound

    def __post_init__(self) -> None:
        _check_bound(self.upper)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fingerprint:
    """My fingerprint of the range (4 bytes: weak, 16 bytes: strong); compare it."""

    upper: Bound
    fingerprint: bytes

    def __post_init__(self) -> None:
        _check_bound(self.upper)
        if len(self.fingerprint) not in (WEAK_FINGERPRINT_LEN, FINGERPRINT_LEN):
            raise ValueError("fingerprint must be 4 or 16 bytes")


@dataclass(frozen=True, slots=True, kw_only=True)
class IdList:
    """My items in the range, as id prefixes of prefix_len bytes (4: weak, 32: strong)."""

    upper: Bound
    prefix_len: int
    prefixes: bytes

    def __post_init__(self) -> None:
        _check_bound(self.upper)
        if self.prefix_len not in (WEAK_PREFIX_LEN, ID_LEN):
            raise ValueError("prefix_len must be 4 or 32")
        n, rem = divmod(len(self.prefixes), self.prefix_len)
        if rem or n > MAX_LEAF_ITEMS:
            raise ValueError(f"prefixes must be 0..{MAX_LEAF_ITEMS} x prefix_len bytes")


@dataclass(frozen=True, slots=True, kw_only=True)
class Diff:
    """Answer to an IdList: bit i of bitmap set = I lack your i-th item; ids = mine you lack."""

    upper: Bound
    bitmap: bytes
    ids: bytes

    def __post_init__(self) -> None:
        _check_bound(self.upper)
        if len(self.bitmap) > (MAX_LEAF_ITEMS + 7) // 8:
            raise ValueError("bitmap too long")
        _check_ids(self.ids, allow_empty=True)
        if not self.ids and not any(self.bitmap):
            raise ValueError("empty Diff")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ids:
    """Answer to a Diff: the full ids of my items you flagged as lacking."""

    upper: Bound
    ids: bytes

    def __post_init__(self) -> None:
        _check_bound(self.upper)
        _check_ids(self.ids, allow_empty=False)


Range: TypeAlias = Skip | Fingerprint | IdList | Diff | Ids
_MODE_OF: Final[dict[type, Mode]] = {
    Skip: Mode.SKIP,
    Fingerprint: Mode.FINGERPRINT,
    IdList: Mode.IDLIST,
    Diff: Mode.DIFF,
    Ids: Mode.IDS,
}


def _is_question(r: Range) -> bool:
    """Does this range oblige the receiver to take a turn?"""
    return isinstance(r, Fingerprint | IdList) or (isinstance(r, Diff) and any(r.bitmap))


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One protocol message. Range i covers [upper of range i-1 (ZERO for i=0), upper)."""

    scope: bytes | None = None  # the initiator's first message only
    fingerprint: bytes | None = None  # whole-set fingerprint: first message of each side
    more: bool = False  # the sender has more ranges queued
    ranges: tuple[Range, ...] = ()

    def __post_init__(self) -> None:
        if self.scope is not None and len(self.scope) != SCOPE_LEN:
            raise ValueError("scope must be 32 bytes")
        if self.fingerprint is not None and len(self.fingerprint) != FINGERPRINT_LEN:
            raise ValueError("fingerprint must be 16 bytes")
        if self.more and not self.ranges:
            raise ValueError("more=True needs at least one range")
        prev: Bound = ZERO
        for i, r in enumerate(self.ranges):
            if r.upper <= prev:
                raise ValueError("range bounds must increase strictly")
            last = i + 1 == len(self.ranges)
            if isinstance(r, Skip) and (last or isinstance(self.ranges[i + 1], Skip)):
                raise ValueError("a Skip must be followed by a non-Skip range")
            prev = r.upper


def _pack_range(r: Range, prev: Bound) -> list[object]:
    ts, prefix = r.upper
    head: list[object] = [None if r.upper == INF else ts - prev[0], prefix, int(_MODE_OF[type(r)])]
    if isinstance(r, Fingerprint):
        head.append(r.fingerprint)
    elif isinstance(r, IdList):
        head += [r.prefix_len, r.prefixes]
    elif isinstance(r, Diff):
        head += [r.bitmap, r.ids]
    elif isinstance(r, Ids):
        head.append(r.ids)
    return head


def _packb(obj: object) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def encode_message(msg: Message) -> bytes:
    """Canonical msgpack: [version, scope|nil, fingerprint|nil, more, [range...]]."""
    packed: list[list[object]] = []
    prev = ZERO
    for r in msg.ranges:
        packed.append(_pack_range(r, prev))
        prev = r.upper
    return _packb([PROTOCOL_VERSION, msg.scope, msg.fingerprint, msg.more, packed])


# Types of the fields that follow [ts_delta, prefix, mode], per mode.
_FIELDS: Final[dict[int, tuple[type, ...]]] = {
    Mode.SKIP: (),
    Mode.FINGERPRINT: (bytes,),
    Mode.IDLIST: (int, bytes),
    Mode.DIFF: (bytes, bytes),
    Mode.IDS: (bytes,),
}


def _decode(obj: object) -> Message:
    """Build a Message from an unpacked object; ValueError on any mismatch."""
    if not (isinstance(obj, list) and len(obj) == 5):
        raise ValueError("message must be an array of 5")
    version, scope, fp, more, raw_ranges = obj
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ValueError(f"unsupported version {version!r}")
    if not (scope is None or isinstance(scope, bytes)):
        raise ValueError("scope must be bin or nil")
    if not (fp is None or isinstance(fp, bytes)):
        raise ValueError("fingerprint must be bin or nil")
    if not isinstance(more, bool) or not isinstance(raw_ranges, list):
        raise ValueError("bad header")
    ranges: list[Range] = []
    prev: Bound = ZERO
    for raw in raw_ranges:
        if not (isinstance(raw, list) and len(raw) >= 3):
            raise ValueError("range must be an array of at least 3")
        delta, prefix, mode, *fields = raw
        kinds = _FIELDS.get(mode) if type(mode) is int else None
        if kinds is None or len(fields) != len(kinds):
            raise ValueError("bad range mode or arity")
        if any(type(f) is not k for f, k in zip(fields, kinds, strict=True)):
            raise ValueError("bad range field type")
        if delta is None and prefix == b"":
            upper = INF
        elif type(delta) is int and delta >= 0 and isinstance(prefix, bytes):
            upper = (prev[0] + delta, prefix)
            if upper[0] > MAX_TS:
                raise ValueError("bound timestamp over 2**64-1")
        else:
            raise ValueError("bad bound")
        r: Range
        if mode == Mode.SKIP:
            r = Skip(upper=upper)
        elif mode == Mode.FINGERPRINT:
            r = Fingerprint(upper=upper, fingerprint=fields[0])
        elif mode == Mode.IDLIST:
            r = IdList(upper=upper, prefix_len=fields[0], prefixes=fields[1])
        elif mode == Mode.DIFF:
            r = Diff(upper=upper, bitmap=fields[0], ids=fields[1])
        else:
            r = Ids(upper=upper, ids=fields[0])
        ranges.append(r)
        prev = upper
    return Message(scope=scope, fingerprint=fp, more=more, ranges=tuple(ranges))


def decode_message(data: bytes) -> Message:
    """Parse one complete message; RemoteProtocolError unless it is canonical and valid."""
    try:
        if len(data) > MAX_FRAME_SIZE:
            raise RemoteProtocolError(f"message larger than {MAX_FRAME_SIZE} bytes")
        obj = msgpack.unpackb(data, raw=True, use_list=True)
    except Exception as exc:  # msgpack raises many types on garbage
        raise RemoteProtocolError(f"malformed message: {exc}") from exc
    return _validated(obj, data)


def _validated(obj: object, data: bytes) -> Message:
    try:
        msg = _decode(obj)
    except ValueError as exc:
        raise RemoteProtocolError(f"invalid message: {exc}") from exc
    if encode_message(msg) != data:
        raise RemoteProtocolError("message is not in canonical encoding")
    return msg


# --- events --------------------------------------------------------------------------------


def check_id_tuple(ids: object, *, allow_empty: bool = False) -> None:
    """An event's ids: a tuple of 32-byte ids (ValueError otherwise)."""
    if not isinstance(ids, tuple) or not (ids or allow_empty):
        raise ValueError("ids must be a tuple" + ("" if allow_empty else ", not empty"))
    if not all(isinstance(i, bytes) and len(i) == ID_LEN for i in ids):
        raise ValueError("ids must be 32 bytes")


def check_scope(scope: object) -> None:
    """An event's scope: 32 bytes (ValueError otherwise)."""
    if not (isinstance(scope, bytes) and len(scope) == SCOPE_LEN):
        raise ValueError("scope must be 32 bytes")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopeRequest:
    """Responder only: the peer wants to sync this scope; call accept(items) (or close)."""

    scope: bytes

    def __post_init__(self) -> None:
        check_scope(self.scope)


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedIds:
    """Ids the peer has and this side lacks: fetch them."""

    ids: tuple[bytes, ...]

    def __post_init__(self) -> None:
        check_id_tuple(self.ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class HaveIds:
    """Ids this side has and the peer lacks: push them (or let the peer fetch them)."""

    ids: tuple[bytes, ...]

    def __post_init__(self) -> None:
        check_id_tuple(self.ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class Done:
    """Reconciliation is complete: every NeedIds/HaveIds has been emitted."""


Event: TypeAlias = ScopeRequest | NeedIds | HaveIds | Done


class NeedData(Enum):
    """next_event() sentinel: feed more bytes (or the session is over)."""

    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncStatistics:
    messages_sent: int
    messages_received: int
    bytes_sent: int
    bytes_received: int
    strong_pass: bool = False  # the initiator started the strong pass (§7)


# --- state machine -------------------------------------------------------------------------


class Role(Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class State(Enum):
    IDLE = "idle"  # initiator: before initiate(); responder: before the first message
    ACCEPTING = "accepting"  # responder: ScopeRequest emitted, waiting for accept()
    WAITING = "waiting"  # a message from the peer is expected (weak pass)
    STRONG_PENDING = "strong_pending"  # initiator: waiting; my next message restarts strong
    STRONG = "strong"  # initiator: a message is expected, in the strong pass (§7)
    DONE = "done"
    ERROR = "error"


class _Input(Enum):
    INITIATE = "initiate"  # initiator sent its opening message
    OPEN = "open"  # responder received the opening message
    CONTINUE = "continue"  # we answered and expect another message
    FINISH = "finish"  # nothing more is expected either way
    STRONG_NOW = "restart strong"  # check failed: this message restarts with the strong pass
    STRONG_NEXT = "defer strong"  # check failed, this message has ranges: restart in the next
    RESTART = "restart"  # the deferred restart is queued after the peer's message
    FAIL = "fail"  # a remote protocol error


_I, _R = Role.INITIATOR, Role.RESPONDER
# Every legal transition; anything else is an error.
_TRANSITIONS: Final[dict[tuple[Role, State, _Input], State]] = {
    (_I, State.IDLE, _Input.INITIATE): State.WAITING,
    (_R, State.IDLE, _Input.OPEN): State.ACCEPTING,
    (_R, State.ACCEPTING, _Input.CONTINUE): State.WAITING,
    (_R, State.ACCEPTING, _Input.FINISH): State.DONE,
    (_I, State.WAITING, _Input.CONTINUE): State.WAITING,
    (_I, State.WAITING, _Input.FINISH): State.DONE,
    (_I, State.WAITING, _Input.STRONG_NOW): State.STRONG,
    (_I, State.WAITING, _Input.STRONG_NEXT): State.STRONG_PENDING,
    (_I, State.STRONG_PENDING, _Input.RESTART): State.STRONG,
    (_I, State.STRONG, _Input.CONTINUE): State.STRONG,
    (_I, State.STRONG, _Input.FINISH): State.DONE,
    (_R, State.WAITING, _Input.CONTINUE): State.WAITING,
    (_R, State.WAITING, _Input.FINISH): State.DONE,
    # a remote protocol error, from every state each role can be in
    **{
        (_I, st, _Input.FAIL): State.ERROR
        for st in (State.IDLE, State.WAITING, State.STRONG_PENDING, State.STRONG, State.DONE)
    },
    **{
        (_R, st, _Input.FAIL): State.ERROR
        for st in (State.IDLE, State.ACCEPTING, State.WAITING, State.DONE)
    },
}
del _I, _R
_EXPECTING: Final = frozenset({State.WAITING, State.STRONG_PENDING, State.STRONG})

_Work: TypeAlias = tuple[Bound, Range]  # (lower bound, range to send)


def _between(a: tuple[int, bytes], b: tuple[int, bytes]) -> Bound:
    """Shortest bound x with a < x <= b (items a < b)."""
    if a[0] < b[0]:
        return (b[0], b"")
    n = 0
    while a[1][n] == b[1][n]:
        n += 1
    return (b[0], b[1][: n + 1])


class SyncMachine:
    """One side of one sync session.

    Initiator: ``SyncMachine(Role.INITIATOR, items, scope=...)``, ``initiate()``.
    Responder: ``SyncMachine(Role.RESPONDER)``; on ``ScopeRequest`` call ``accept(items)``.
    Then loop: send ``data_to_send()``, feed the peer's bytes to ``receive_data`` (b"" =
    EOF), drain ``next_event()`` until ``NEED_DATA``; stop after ``Done``.
    """

    def __init__(
        self,
        role: Role,
        items: ItemStore | None = None,
        *,
        scope: bytes | None = None,
        branching: int = 16,
        leaf_threshold: int = 32,
        frame_size_limit: int = MAX_FRAME_SIZE,
    ) -> None:
        if role is Role.INITIATOR and (items is None or scope is None):
            raise LocalProtocolError("the initiator needs items and a scope")
        if role is Role.RESPONDER and (items is not None or scope is not None):
            raise LocalProtocolError("the responder gets its scope from the peer")
        if scope is not None and len(scope) != SCOPE_LEN:
            raise LocalProtocolError("scope must be 32 bytes")
        if not 2 <= branching <= 64:
            raise LocalProtocolError("branching must be in 2..64")
        if not 1 <= leaf_threshold <= MAX_LEAF_ITEMS:
            raise LocalProtocolError(f"leaf_threshold must be in 1..{MAX_LEAF_ITEMS}")
        if not MIN_FRAME_SIZE <= frame_size_limit <= MAX_FRAME_SIZE:
            raise LocalProtocolError(f"frame_size_limit must be in {MIN_FRAME_SIZE}..65536")
        self.role = role
        self._branching = branching
        self._leaf = leaf_threshold
        self._limit = frame_size_limit
        self._state = State.IDLE
        self._scope = scope
        self._store: ItemStore | None = None
        self._sum = 0
        self._count = 0
        if items is not None:
            self._set_items(items)
        self._rx = ReceiveBuffer()  # bytes of the message being received
        self._fed = 0  # how much of _rx the unpacker has seen
        self._unpacker = self._new_unpacker()
        self._tx = bytearray()
        self._events: deque[Event] = deque()
        self._backlog: list[_Work] = []
        self._opening: Message | None = None  # responder: first message, until accept()
        self._peer_fp: bytes | None = None  # peer's whole-set fingerprint
        self._peer_more = False  # peer's last message said it has more queued
        self._send_fp = False  # include our whole-set fingerprint in the next message
        self._strong_pass = False  # statistics: the STRONG state was entered
        self._needed: set[bytes] = set()
        self._had: set[bytes] = set()
        self._needed_sum = 0
        self._had_sum = 0
        self._stats = [0, 0, 0, 0]  # messages sent, received, bytes sent, received

    # -- public API --------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def scope(self) -> bytes | None:
        return self._scope

    def statistics(self) -> SyncStatistics:
        s = self._stats
        return SyncStatistics(
            messages_sent=s[0],
            messages_received=s[1],
            bytes_sent=s[2],
            bytes_received=s[3],
            strong_pass=self._strong_pass,
        )

    def initiate(self) -> None:
        """Initiator: queue the opening message (scope and whole-set fingerprint)."""
        self._fire(_Input.INITIATE)
        self._send(Message(scope=self._scope, fingerprint=self._whole_fp()))

    def accept(self, items: ItemStore) -> None:
        """Responder: reconcile the requested scope against these items."""
        if self.role is not Role.RESPONDER or self._state is not State.ACCEPTING:
            raise LocalProtocolError(f"accept() is not allowed in state {self._state.name}")
        assert self._opening is not None and self._opening.fingerprint is not None
        self._set_items(items)
        self._peer_fp = self._opening.fingerprint
        self._opening = None
        self._send_fp = True
        if self._whole_fp() != self._peer_fp:
            self._split(ZERO, INF, 0, self._count, strong=False)
        self._guard(lambda: self._respond(must_reply=True))

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; b"" means the peer closed its side."""
        if self._state is State.ERROR:
            raise LocalProtocolError("receive_data() after an error")
        self._rx.feed(data)

    def next_event(self) -> Event | NeedData:
        """Next event, or NEED_DATA. Raises RemoteProtocolError on a peer's bad input."""
        if self._state is State.ERROR:
            raise LocalProtocolError("next_event() after an error")
        if not self._events:
            self._guard(self._process_input)
        return self._events.popleft() if self._events else NEED_DATA

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer (may be empty); clears the buffer."""
        out = bytes(self._tx)
        self._tx.clear()
        return out

    # -- plumbing ----------------------------------------------------------------------

    def _fire(self, inp: _Input) -> None:
        # Peers cannot reach a missing transition (_process_input only reads a message
        # when one is expected), so a miss is always our caller's fault.
        new = _TRANSITIONS.get((self.role, self._state, inp))
        if new is None:
            raise LocalProtocolError(f"{self.role.name} cannot {inp.value} in {self._state.name}")
        self._state = new
        if new is State.DONE:
            self._events.append(Done())
        elif new is State.STRONG:
            self._strong_pass = True

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except RemoteProtocolError:
            self._fire(_Input.FAIL)
            raise

    def _set_items(self, items: ItemStore) -> None:
        self._store = items
        self._count = len(items)
        self._sum = items.id_sum(0, self._count)

    def _whole_fp(self) -> bytes:
        return fingerprint(self._sum, self._count)

    def _process_input(self) -> None:
        expecting = self._state in _EXPECTING or (
            self._state is State.IDLE and self.role is Role.RESPONDER
        )
        if self._rx.data and not expecting:
            raise RemoteProtocolError(f"peer sent data in state {self._state.name}")
        if not expecting:
            return
        if len(self._rx.data) > MAX_FRAME_SIZE:  # no valid message is that long
            raise RemoteProtocolError(f"message larger than {MAX_FRAME_SIZE} bytes")
        if not self._rx.data:
            if self._rx.closed:
                raise RemoteProtocolError("peer closed the stream before the sync finished")
            return
        # Messages are self-delimiting msgpack; strict alternation means exactly one
        # message may be buffered, with nothing after it.
        try:
            self._unpacker.feed(self._rx.data[self._fed :])
            self._fed = len(self._rx.data)
            obj = self._unpacker.unpack()
        except msgpack.OutOfData:
            if self._rx.closed:
                raise RemoteProtocolError("peer closed the stream mid-message") from None
            return
        except Exception as exc:  # msgpack raises many types on garbage
            raise RemoteProtocolError(f"malformed message: {exc}") from exc
        if self._unpacker.tell() != len(self._rx.data):
            raise RemoteProtocolError("peer sent data after its message, out of turn")
        data = bytes(self._rx.data)
        self._rx.data.clear()
        self._fed = 0
        self._unpacker = self._new_unpacker()
        msg = _validated(obj, data)
        self._stats[1] += 1
        self._stats[3] += len(data)
        self._on_message(msg)

    @staticmethod
    def _new_unpacker() -> msgpack.Unpacker:
        return msgpack.Unpacker(raw=True, use_list=True, max_buffer_size=2 * MAX_FRAME_SIZE)

    def _on_message(self, msg: Message) -> None:
        first = self._stats[1] == 1
        if self.role is Role.RESPONDER and first:
            if msg.scope is None or msg.fingerprint is None or msg.ranges or msg.more:
                raise RemoteProtocolError("opening message needs scope, fingerprint only")
            self._fire(_Input.OPEN)
            self._scope = msg.scope
            self._opening = msg
            self._events.append(ScopeRequest(scope=msg.scope))
            return
        if msg.scope is not None:
            raise RemoteProtocolError("scope is only allowed in the opening message")
        if (msg.fingerprint is not None) != (self.role is Role.INITIATOR and first):
            raise RemoteProtocolError("fingerprint only belongs in the first reply")
        if msg.fingerprint is not None:
            self._peer_fp = msg.fingerprint
        self._peer_more = msg.more
        questions = self._apply(msg.ranges)
        if self._state is State.STRONG_PENDING:
            self._fire(_Input.RESTART)
            self._backlog.append((ZERO, self._restart()))
        self._respond(must_reply=questions or msg.more)

    # -- reconciliation ----------------------------------------------------------------

    def _apply(self, ranges: Sequence[Range]) -> bool:
        """Process the peer's ranges; queue answers; emit events. True if any question."""
        store = self._store
        assert store is not None
        need: list[bytes] = []
        have: list[bytes] = []
        questions = False
        lo = ZERO
        for r in ranges:
            hi = r.upper
            if isinstance(r, Skip):
                lo = hi
                continue
            questions = questions or _is_question(r)
            i, j = store.bisect(*lo), store.bisect(*hi)
            if isinstance(r, Fingerprint):
                ours = fingerprint(store.id_sum(i, j), j - i)[: len(r.fingerprint)]
                if ours != r.fingerprint:
                    self._split(lo, hi, i, j, strong=len(r.fingerprint) == FINGERPRINT_LEN)
            elif isinstance(r, IdList):
                if j - i > self._leaf:  # too many here to answer item by item
                    self._split(lo, hi, i, j, strong=r.prefix_len == ID_LEN)
                else:
                    self._answer_idlist(lo, r, store.items(i, j), have)
            else:  # Diff or Ids: only valid for a range I listed, so a small one
                if j - i > MAX_LEAF_ITEMS:
                    raise RemoteProtocolError("Diff/Ids for a range I never listed")
                mine = [id_ for _, id_ in store.items(i, j)]
                got = [r.ids[k : k + ID_LEN] for k in range(0, len(r.ids), ID_LEN)]
                if not set(got).isdisjoint(mine):
                    raise RemoteProtocolError("peer claims I lack ids that I have")
                need += got
                if isinstance(r, Diff):
                    bits = int.from_bytes(r.bitmap, "little")
                    if len(r.bitmap) != (len(mine) + 7) // 8 or bits >> len(mine):
                        raise RemoteProtocolError("Diff bitmap does not match my items")
                    flagged = [m for k, m in enumerate(mine) if bits >> k & 1]
                    if flagged:
                        have += flagged
                        self._backlog.append((lo, Ids(upper=hi, ids=b"".join(flagged))))
            lo = hi
        self._report(have, need)
        return questions

    def _answer_idlist(
        self, lo: Bound, r: IdList, items: Sequence[tuple[int, bytes]], have: list[bytes]
    ) -> None:
        n = r.prefix_len
        theirs = [r.prefixes[k : k + n] for k in range(0, len(r.prefixes), n)]
        their_set = set(theirs)
        mine = [id_ for _, id_ in items]
        mine_pfx = {m[:n] for m in mine}
        extra = [m for m in mine if m[:n] not in their_set]  # certainly missing there
        bits = sum(1 << k for k, p in enumerate(theirs) if p not in mine_pfx)
        if extra or bits:
            have += extra
            bitmap = bits.to_bytes((len(theirs) + 7) // 8, "little")
            self._backlog.append((lo, Diff(upper=r.upper, bitmap=bitmap, ids=b"".join(extra))))

    def _split(self, lo: Bound, hi: Bound, i: int, j: int, *, strong: bool) -> None:
        """Queue answers for a range that differs: an IdList if small, else sub-ranges."""
        store = self._store
        assert store is not None
        n = j - i
        if n <= self._leaf:
            ids = [id_ for _, id_ in store.items(i, j)]
            plen = ID_LEN if strong else WEAK_PREFIX_LEN
            if len({x[:plen] for x in ids}) < n:  # my own prefixes collide: list full ids
                plen = ID_LEN
            prefixes = b"".join(x[:plen] for x in ids)
            self._backlog.append((lo, IdList(upper=hi, prefix_len=plen, prefixes=prefixes)))
            return
        # At most `branching` sub-ranges of about leaf_threshold/2 items: one that still
        # differs comes back as a leaf, and leaves stay small (they cost 4 bytes/item).
        k = min(self._branching, n, -(-2 * n // self._leaf))
        flen = FINGERPRINT_LEN if strong else WEAK_FINGERPRINT_LEN
        start, lower = i, lo
        for q in range(1, k + 1):
            end = i + n * q // k
            if q < k:
                a, b = store.items(end - 1, end + 1)
                upper = _between(a, b)
            else:
                upper = hi
            fp = fingerprint(store.id_sum(start, end), end - start)[:flen]
            self._backlog.append((lower, Fingerprint(upper=upper, fingerprint=fp)))
            start, lower = end, upper

    def _report(self, have: list[bytes], need: list[bytes]) -> None:
        new_have = [x for x in dict.fromkeys(have) if x not in self._had]
        new_need = [x for x in dict.fromkeys(need) if x not in self._needed]
        if new_have:
            self._had.update(new_have)
            self._had_sum += sum(int.from_bytes(x, "little") for x in new_have)
            self._events.append(HaveIds(ids=tuple(new_have)))
        if new_need:
            self._needed.update(new_need)
            self._needed_sum += sum(int.from_bytes(x, "little") for x in new_need)
            self._events.append(NeedIds(ids=tuple(new_need)))

    def _consistent(self) -> bool:
        """Does my set, minus what I give, plus what I get, match the peer's fingerprint?"""
        s = self._sum - self._had_sum + self._needed_sum
        return fingerprint(s, self._count - len(self._had) + len(self._needed)) == self._peer_fp

    # -- output ------------------------------------------------------------------------

    def _respond(self, *, must_reply: bool) -> None:
        """Decide whether to answer, what, and whether the session ends (§6, §7)."""
        if not must_reply and not self._backlog:
            if self._consistent():
                self._fire(_Input.FINISH)
                return
            if self.role is Role.RESPONDER:
                raise RemoteProtocolError("peer ended the sync but our sets still differ")
            self._check_weak_pass()
            self._backlog.append((ZERO, self._restart()))
            self._send(self._compose())
            self._fire(_Input.STRONG_NOW)
            return
        msg = self._compose()
        expect = msg.more or self._peer_more or any(_is_question(r) for r in msg.ranges)
        step = _Input.CONTINUE if expect else _Input.FINISH
        if not expect and not self._consistent():
            # The initiator sees the mismatch and starts the strong pass; the responder
            # expects that restart.
            step = _Input.CONTINUE
            if self.role is Role.INITIATOR:
                self._check_weak_pass()
                if msg.ranges:  # they overlap [ZERO, INF): restart in the next message
                    step = _Input.STRONG_NEXT
                    msg = Message(fingerprint=msg.fingerprint, more=True, ranges=msg.ranges)
                else:
                    step = _Input.STRONG_NOW
                    msg = Message(fingerprint=msg.fingerprint, ranges=(self._restart(),))
        self._send(msg)
        self._fire(step)

    def _check_weak_pass(self) -> None:
        """The final check failed: a weak collision, unless the strong pass already ran."""
        if self._state is not State.WAITING:
            raise RemoteProtocolError("peer's fingerprint does not match the ids it reported")

    def _restart(self) -> Fingerprint:
        """The strong pass's first range: my full fingerprint of [ZERO, INF)."""
        return Fingerprint(upper=INF, fingerprint=self._whole_fp())

    def _compose(self) -> Message:
        """Take as many queued ranges, in key order, as fit in one frame."""
        fp = self._whole_fp() if self._send_fp else None
        self._send_fp = False
        # header: fixarray, version, scope nil, fingerprint, more, array32 header
        budget = self._limit - (1 + 1 + 1 + (2 + FINGERPRINT_LEN if fp else 1) + 1 + 5)
        self._backlog.sort(key=lambda w: w[0])
        chosen: list[Range] = []
        prev = ZERO
        taken = 0
        for lower, r in self._backlog:
            if lower < prev:
                raise RemoteProtocolError("peer sent ranges overlapping work queued here")
            parts: list[Range] = [r] if lower == prev else [Skip(upper=lower), r]
            size, p = 0, prev
            for part in parts:
                size += len(_packb(_pack_range(part, p)))
                p = part.upper
            if size > budget:
                break
            budget -= size
            chosen += parts
            prev = r.upper
            taken += 1
        assert taken or not self._backlog, "a single range always fits in a frame"
        del self._backlog[:taken]
        return Message(fingerprint=fp, more=bool(self._backlog), ranges=tuple(chosen))

    def _send(self, msg: Message) -> None:
        data = encode_message(msg)
        assert len(data) <= self._limit
        self._tx += data
        self._stats[0] += 1
        self._stats[2] += len(data)
