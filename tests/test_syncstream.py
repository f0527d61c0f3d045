"""The sync stream session (cercle.protocol.syncstream): socket-free, through a fake link.

Like h11's ConnectionPair, :class:`Link` wires an initiator and a responder session,
moves bytes between them in pieces of any size and in any interleaving (the transfer
is full duplex), and plays the node's part: accept or refuse the scope, push the
records asked for in chunks, collect what arrives. Records are stand-ins (any bytes;
the id is their SHA-256): the session never decodes them. Hypothesis checks that both
sides get each other's records whatever the interleaving, that the wire bytes are the
framing of specs/sync.md §14 around the machine's messages, and that no input bytes
raise anything but RemoteProtocolError.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cercle.protocol import sync as S
from cercle.protocol import syncstream as W
from cercle.protocol.errors import LocalProtocolError, RemoteProtocolError
from cercle.protocol.records import MAX_RECORD_BYTES
from cercle.protocol.syncstream import (
    NEED_DATA,
    Done,
    EndOfRecords,
    FrameType,
    PushRecords,
    RecordsReceived,
    Role,
    ScopeRefused,
    ScopeRequested,
    SessionState,
    SyncSession,
)

SCOPE = hashlib.sha256(b"test scope").digest()
VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "specs" / "vectors" / "sync.json").read_text()
)
FAST = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
Item = tuple[int, bytes]


def envelope(k: int) -> bytes:
    """A stand-in for record envelope number k."""
    return b"record %d " % k + bytes(k % 40)


def rid(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def item(raw: bytes) -> Item:
    return (len(raw) * 1000 + raw[-1], rid(raw))


def frame(kind: int, payload: bytes = b"") -> bytes:
    """specs/sync.md §14, written out: type u8, length u32 big-endian, payload."""
    return bytes([kind]) + len(payload).to_bytes(4, "big") + payload


END = frame(3)


@dataclass
class Side:
    """One node: its session, the records it holds, and what happened to it."""

    session: SyncSession
    raws: dict[bytes, bytes]  # id -> envelope
    items: list[Item]
    hosts: bool = True
    chunk: int = 3
    push: list[bytes] | None = None  # ids still to push, once PushRecords came
    pushed_end: bool = False
    received: list[bytes] = field(default_factory=list)
    events: list[object] = field(default_factory=list)
    report: W.SyncReport | None = None
    out: bytearray = field(default_factory=bytearray)  # bytes not yet delivered
    wire: bytearray = field(default_factory=bytearray)  # every byte it sent

    def collect(self) -> None:
        data = self.session.data_to_send()
        self.out += data
        self.wire += data

    def drain(self) -> None:
        """Take events until NEED_DATA, answering them as the node does."""
        s = self.session
        while self.report is None and (ev := s.next_event()) is not NEED_DATA:
            self.events.append(ev)
            if isinstance(ev, ScopeRequested):
                if self.hosts:
                    s.accept(S.SortedItems(self.items))
                else:
                    s.refuse()
            elif isinstance(ev, PushRecords):
                self.push = list(ev.ids)
            elif isinstance(ev, RecordsReceived):
                self.received += ev.raws
            elif isinstance(ev, Done):
                self.report = ev.report
        self.collect()

    def can_push(self) -> bool:
        return self.push is not None and not self.pushed_end

    def push_some(self) -> None:
        assert self.push is not None
        ids, self.push = self.push[: self.chunk], self.push[self.chunk :]
        if ids:  # records we no longer hold are left out, as get_raws does
            self.session.send_records([self.raws[i] for i in ids if i in self.raws])
        else:
            self.session.end_records()
            self.pushed_end = True
        self.drain()


class Link:
    """An initiator (records a) and a responder (records b) joined by a lossless link."""

    def __init__(
        self,
        a: list[bytes],
        b: list[bytes],
        *,
        hosts: bool = True,
        chunk: int = 3,
        items: tuple[list[Item], list[Item]] | None = None,
        scope: bytes = SCOPE,
        tamper: Callable[[Side, bytes], bytes] | None = None,
        **params: int,
    ) -> None:
        a_items, b_items = items or ([item(r) for r in a], [item(r) for r in b])
        ini = SyncSession(Role.INITIATOR, S.SortedItems(a_items), scope=scope, **params)
        self.a = Side(ini, {rid(r): r for r in a}, a_items, chunk=chunk)
        res = SyncSession(Role.RESPONDER, **params)
        self.b = Side(res, {rid(r): r for r in b}, b_items, hosts=hosts, chunk=chunk)
        self.a.collect()
        self.tamper = tamper  # may change bytes on their way

    def deliver(self, src: Side, dst: Side, rng: random.Random | None) -> None:
        n = rng.randint(1, len(src.out)) if rng else len(src.out)
        piece = bytes(src.out[:n])
        del src.out[:n]
        if self.tamper:
            piece = self.tamper(src, piece)
        dst.session.receive_data(piece)
        dst.drain()

    def run(self, rng: random.Random | None = None, *, push: bool = True) -> None:
        """Until nothing can happen; rng picks the pieces and the interleaving."""
        for _ in range(100_000):
            actions: list[Callable[[], None]] = []
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                if src.out:
                    actions.append(lambda s=src, d=dst: self.deliver(s, d, rng))
                if push and src.can_push():
                    actions.append(src.push_some)
            if not actions:
                return
            (rng.choice(actions) if rng else actions[0])()
        raise AssertionError("the sessions never stopped")


def records(n: int, offset: int = 0) -> list[bytes]:
    return [envelope(offset + k) for k in range(n)]


def assert_converged(link: Link, a: list[bytes], b: list[bytes], batch: int = 1000) -> None:
    only_a = [r for r in a if r not in b]
    only_b = [r for r in b if r not in a]
    for side, gets, gives in ((link.a, only_b, only_a), (link.b, only_a, only_b)):
        assert sorted(side.received) == sorted(gets)
        rep = side.report
        assert rep is not None and isinstance(side.events[-1], Done)
        assert (rep.needed, rep.received, rep.offered, rep.sent) == (
            len(gets),
            len(gets),
            len(gives),
            len(gives),
        )
        assert rep.scope == SCOPE and not rep.refused and rep.unrequested == 0
        assert side.session.state is SessionState.DONE
        kinds = [type(e) for e in side.events]
        assert kinds.count(PushRecords) == kinds.count(EndOfRecords) == kinds.count(Done) == 1
        assert kinds.index(PushRecords) < kinds.index(EndOfRecords) < kinds.index(Done)
        sizes = [len(e.raws) for e in side.events if isinstance(e, RecordsReceived)]
        assert all(n == batch for n in sizes[:-1]) and all(0 < n <= batch for n in sizes)
        side.session.receive_data(b"")  # a clean end of stream after the end is fine
        assert side.session.next_event() is NEED_DATA
    ra, rb = link.a.report, link.b.report
    assert ra is not None and rb is not None
    assert ra.bytes_sent == rb.bytes_received == len(link.a.wire)
    assert rb.bytes_sent == ra.bytes_received == len(link.b.wire)
    assert ra.round_trips == rb.round_trips
    assert isinstance(link.b.events[0], ScopeRequested)


# --- sessions that work ----------------------------------------------------------------------

_pool = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 2)), max_size=60, unique_by=lambda t: t[0]
)


@settings(FAST, max_examples=300)
@given(
    pool=_pool,
    seed=st.integers(0, 2**32),
    chunk=st.integers(1, 8),
    batch=st.integers(1, 5),
    leaf=st.integers(1, 8),
)
def test_sessions_converge_and_move_records_both_ways_in_any_interleaving(
    pool: list[tuple[int, int]], seed: int, chunk: int, batch: int, leaf: int
) -> None:
    a = [envelope(k) for k, w in pool if w != 1]
    b = [envelope(k) for k, w in pool if w != 0]
    link = Link(a, b, chunk=chunk, record_batch=batch, leaf_threshold=leaf, branching=2)
    link.run(random.Random(seed))
    assert_converged(link, a, b, batch)


def test_catch_up_in_batches_of_a_thousand() -> None:
    b = records(2500)
    link = Link([], b, chunk=256)
    link.run()
    assert_converged(link, [], b)
    sizes = [len(e.raws) for e in link.a.events if isinstance(e, RecordsReceived)]
    assert sizes == [1000, 1000, 500]


def split_frames(data: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos + 1 : pos + 5], "big")
        out.append((data[pos], data[pos + 5 : pos + 5 + size]))
        pos += 5 + size
    return out


def test_wire_bytes_are_the_framed_machine_messages_then_records_then_end() -> None:
    a, b = records(3), [envelope(0), envelope(2), envelope(3)]
    link = Link(a, b)
    link.run()
    assert_converged(link, a, b)
    # The same reconciliation by the bare machines.
    ini = S.SyncMachine(Role.INITIATOR, S.SortedItems([item(r) for r in a]), scope=SCOPE)
    res = S.SyncMachine(Role.RESPONDER)
    ini.initiate()
    sent: dict[Role, list[bytes]] = {Role.INITIATOR: [], Role.RESPONDER: []}
    src, dst = ini, res
    while data := src.data_to_send():
        sent[src.role].append(data)
        dst.receive_data(data)
        while (ev := dst.next_event()) is not S.NEED_DATA:
            if isinstance(ev, S.ScopeRequest):
                dst.accept(S.SortedItems([item(r) for r in b]))
        src, dst = dst, src
    assert bytes(link.a.wire) == b"".join(
        [*(frame(1, m) for m in sent[Role.INITIATOR]), frame(2, envelope(1)), END]
    )
    assert bytes(link.b.wire) == b"".join(
        [*(frame(1, m) for m in sent[Role.RESPONDER]), frame(2, envelope(3)), END]
    )


@pytest.mark.parametrize("v", VECTORS["sessions"], ids=lambda v: v["name"])
def test_session_vectors_framed(v: dict[str, object]) -> None:
    def items(key: str) -> list[Item]:
        raw = v[key]
        assert isinstance(raw, list)
        return [(ts, bytes.fromhex(i)) for ts, i in raw]

    params = v["params"]
    assert isinstance(params, dict)
    both = (items("initiator_items"), items("responder_items"))
    link = Link([], [], items=both, scope=bytes.fromhex(str(v["scope"])), **params)
    link.run()
    transcript = v["transcript"]
    assert isinstance(transcript, list)
    for side, role in ((link.a, "initiator"), (link.b, "responder")):
        frames = split_frames(bytes(side.wire))
        assert frames[-1] == (3, b"")  # no records to move: the stand-ins are not held
        assert [p.hex() for t, p in frames if t == 1] == [
            m["hex"] for m in transcript if m["from"] == role
        ]
        expected = v[role]
        assert isinstance(expected, dict)
        push = [e for e in side.events if isinstance(e, PushRecords)]
        assert [i.hex() for i in push[0].ids] == expected["have"]
        assert side.report is not None and side.report.needed == len(expected["need"])


def test_refusal() -> None:
    link = Link(records(2), records(2), hosts=False)
    link.run()
    assert link.a.events == [ScopeRefused(scope=SCOPE), Done(report=link.a.report)]
    assert [type(e) for e in link.b.events] == [ScopeRequested, Done]
    for side in (link.a, link.b):
        assert side.report is not None and side.report.refused
        assert side.report.scope == SCOPE and side.report.round_trips == 1
    assert bytes(link.b.wire) == b"\x04\x00\x00\x00\x00"
    assert [t for t, _ in split_frames(bytes(link.a.wire))] == [1]  # the opening only


def in_transfer(a: list[bytes], b: list[bytes]) -> Link:
    """Both sessions reconciled, nothing pushed yet."""
    link = Link(a, b)
    link.run(push=False)
    assert link.a.session.state is link.b.session.state is SessionState.TRANSFER
    return link


def test_unrequested_records_are_dropped_and_counted() -> None:
    x, y = envelope(1), envelope(2)
    link = in_transfer([], [x, y])
    s = link.a.session
    s.receive_data(
        frame(2, b"junk")
        + frame(2, x)
        + frame(2, x)  # twice: the second was not asked for any more
        + frame(2, envelope(9))  # a real-looking record nobody asked for
        + frame(2, b"")
        + frame(2, y)
        + END
    )
    assert s.next_event() == RecordsReceived(raws=(x, y))
    assert s.next_event() == EndOfRecords()
    s.end_records()
    done = s.next_event()
    assert isinstance(done, Done)
    assert (done.report.received, done.report.unrequested, done.report.needed) == (2, 4, 2)


def test_records_may_go_missing_and_end_may_come_first() -> None:
    # The peer sends fewer records than it offered (it lost one) and ends before we do.
    x, y = envelope(1), envelope(2)
    link = in_transfer([], [x, y])
    s = link.a.session
    s.receive_data(frame(2, y) + END)
    assert s.next_event() == RecordsReceived(raws=(y,))
    assert s.next_event() == EndOfRecords()
    assert s.state is SessionState.THEIRS_ENDED
    assert s.next_event() is NEED_DATA
    s.end_records()
    assert s.state is SessionState.DONE
    done = s.next_event()
    assert isinstance(done, Done) and done.report.received == 1 and done.report.needed == 2
    assert s.data_to_send() == END


# --- malformed input: always the peer's fault ----------------------------------------------------

A3 = records(3)
PHASES = [
    "responder-opening",
    "initiator-opening",
    "responder-reconciling",
    "initiator-reconciling",
    "initiator-transfer",
    "responder-transfer",
    "initiator-ours-ended",
    "responder-ours-ended",
    "initiator-theirs-ended",
    "responder-theirs-ended",
    "initiator-done",
    "responder-done",
]


def at(phase: str) -> SyncSession:
    """A session in the given phase, its output drained."""
    role, _, where = phase.partition("-")
    if where == "opening":
        if role == "responder":
            return SyncSession(Role.RESPONDER)
        s = SyncSession(Role.INITIATOR, S.SortedItems([item(A3[0])]), scope=SCOPE)
        s.data_to_send()
        return s
    if where == "reconciling":
        # the initiator answers a Diff with a question: it waits; the responder waits too
        link = Link(A3[:1], A3[1:2]) if role == "initiator" else Link(A3, A3[:1] + A3[2:])
        link.deliver(link.a, link.b, None)
        if role == "initiator":
            link.deliver(link.b, link.a, None)
        s = link.a.session if role == "initiator" else link.b.session
        assert s.state is SessionState.RECONCILING
        s.data_to_send()
        return s
    link = in_transfer(A3[:2], A3[1:])
    side = link.a if role == "initiator" else link.b
    s = side.session
    s.data_to_send()
    if where in ("ours-ended", "done"):
        s.end_records()
        s.data_to_send()
    if where in ("theirs-ended", "done"):
        s.receive_data(frame(2, A3[0] if role == "responder" else A3[2]) + END)
        while not isinstance(s.next_event(), EndOfRecords | Done):
            pass
    if where == "done":
        assert isinstance(s.next_event(), Done)
    return s


def drive(s: SyncSession, data: bytes, *, eof: bool, pieces: int = 1) -> None:
    """Feed data (in pieces, then EOF if asked) and answer events, until NEED_DATA."""
    step = max(1, len(data) // pieces)
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    for k, chunk in enumerate([*chunks, *([b""] if eof else [])]):
        s.receive_data(chunk)
        while (ev := s.next_event()) is not NEED_DATA:
            if isinstance(ev, ScopeRequested):
                s.accept(S.SortedItems([item(A3[1])]) if k % 2 else S.SortedItems([]))
            elif isinstance(ev, PushRecords) and s.state is not SessionState.DONE:
                s.end_records()


def assert_remote_error(s: SyncSession, data: bytes, *, eof: bool = False) -> None:
    with pytest.raises(RemoteProtocolError):
        drive(s, data, eof=eof)
    assert s.state is SessionState.ERROR
    with pytest.raises(LocalProtocolError):
        s.next_event()
    with pytest.raises(LocalProtocolError):
        s.receive_data(b"x")


def header(kind: int, size: int) -> bytes:
    return bytes([kind]) + size.to_bytes(4, "big")


BAD_EVERYWHERE = [
    ("unknown type 0", header(0, 0)),
    ("unknown type 5", header(5, 0)),
    ("unknown type 255", header(255, 1 << 31)),
    ("oversize sync", header(1, 65537)),
    ("oversize record", header(2, MAX_RECORD_BYTES + 1)),
    ("end with a payload", header(3, 1)),
    ("refusal with a payload", header(4, 1)),
]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize(("name", "data"), BAD_EVERYWHERE, ids=[n for n, _ in BAD_EVERYWHERE])
def test_bad_frame_header_in_any_phase(phase: str, name: str, data: bytes) -> None:
    assert_remote_error(at(phase), data)  # the header alone is enough to tell


BAD_IN_PHASE = [
    ("responder-opening", "end of stream", b"", True),
    ("initiator-opening", "end of stream", b"", True),
    ("responder-reconciling", "end of stream", b"", True),
    ("initiator-transfer", "end of stream", b"", True),
    ("responder-ours-ended", "end of stream", b"", True),
    ("responder-opening", "end mid-header", b"\x01\x00\x00", True),
    ("initiator-transfer", "end mid-payload", frame(2, b"abc")[:-1], True),
    ("initiator-theirs-ended", "end mid-frame after the end", b"\x02", True),
    ("responder-opening", "record before reconciliation", frame(2, b"r"), False),
    ("initiator-opening", "record before reconciliation", frame(2, b"r"), False),
    ("responder-reconciling", "record before reconciliation", frame(2, b"r"), False),
    ("initiator-reconciling", "end of records before reconciliation", END, False),
    ("responder-opening", "refusal from the initiator", frame(4), False),
    ("initiator-reconciling", "refusal after the first reply", frame(4), False),
    ("initiator-transfer", "refusal during transfer", frame(4), False),
    ("responder-transfer", "sync message during transfer", frame(1, b"\x90"), False),
    ("responder-opening", "empty sync frame", frame(1), False),
    ("responder-opening", "garbage sync message", frame(1, b"\xc1garbage"), False),
    ("initiator-opening", "garbage sync message", frame(1, b"\x95\x01"), True),
    ("initiator-theirs-ended", "record after the end", frame(2, A3[0]), False),
    ("responder-theirs-ended", "second end", END, False),
    ("initiator-done", "data after the session", frame(2, A3[0]), False),
]


@pytest.mark.parametrize(
    ("phase", "name", "data", "eof"), BAD_IN_PHASE, ids=[f"{p}: {n}" for p, n, _, _ in BAD_IN_PHASE]
)
def test_malformed_input_is_a_remote_error(phase: str, name: str, data: bytes, eof: bool) -> None:
    assert_remote_error(at(phase), data, eof=eof)


def test_clean_end_of_stream_after_the_peers_end_is_fine() -> None:
    for phase in ("initiator-theirs-ended", "responder-done"):
        s = at(phase)
        s.receive_data(b"")
        assert s.next_event() is NEED_DATA


@settings(FAST, max_examples=500)
@given(
    phase=st.sampled_from(["responder-opening", "initiator-opening", *PHASES[2:6]]),
    data=st.binary(max_size=300),
    eof=st.booleans(),
    pieces=st.integers(1, 5),
)
def test_any_bytes_raise_only_remote_errors(
    phase: str, data: bytes, eof: bool, pieces: int
) -> None:
    s = at(phase)
    try:
        drive(s, data, eof=eof, pieces=pieces)
    except RemoteProtocolError:
        assert s.state is SessionState.ERROR


_frames = st.lists(
    st.tuples(
        st.sampled_from([1, 1, 2, 2, 2, 3, 4, 0, 9]),
        st.binary(max_size=40) | st.sampled_from([b"", A3[0], A3[1], A3[2]]),
    ),
    max_size=8,
)


@settings(FAST, max_examples=500)
@given(phase=st.sampled_from(PHASES), frames=_frames, eof=st.booleans())
def test_any_frames_raise_only_remote_errors(
    phase: str, frames: list[tuple[int, bytes]], eof: bool
) -> None:
    s = at(phase)
    try:
        drive(s, b"".join(header(k, len(p)) + p for k, p in frames), eof=eof, pieces=3)
    except RemoteProtocolError:
        assert s.state is SessionState.ERROR


@settings(FAST, max_examples=300)
@given(
    pool=_pool,
    seed=st.integers(0, 2**32),
    at_byte=st.integers(0, 10**6),
    xor=st.integers(1, 255),
    direction=st.booleans(),
)
def test_a_corrupted_byte_mid_session_raises_only_remote_errors(
    pool: list[tuple[int, int]], seed: int, at_byte: int, xor: int, direction: bool
) -> None:
    a = [envelope(k) for k, w in pool if w != 1]
    b = [envelope(k) for k, w in pool if w != 0]
    clean = Link(a, b, leaf_threshold=2, branching=2)
    clean.run(random.Random(seed))
    at_byte %= len((clean.b if direction else clean.a).wire)  # a byte that is sent
    seen = [0]

    def flip(src: Side, piece: bytes) -> bytes:
        if (src is link.b) is direction:
            k = at_byte - seen[0]
            seen[0] += len(piece)
            if 0 <= k < len(piece):
                return piece[:k] + bytes([piece[k] ^ xor]) + piece[k + 1 :]
        return piece

    link = Link(a, b, leaf_threshold=2, branching=2, tamper=flip)
    try:
        link.run(random.Random(seed))
        for side in (link.a, link.b):  # a stalled side sees the stream close
            if side.report is None:
                side.session.receive_data(b"")
                side.drain()
    except RemoteProtocolError:
        assert SessionState.ERROR in (link.a.session.state, link.b.session.state)
        event("remote error")
    else:  # the byte fell in a record (dropped as unrequested) or in an id's tail
        assert link.a.report is not None and link.b.report is not None
        event("no error")


# --- misuse: always our caller's fault --------------------------------------------------------


def test_local_misuse_is_refused_and_changes_nothing() -> None:
    with pytest.raises(LocalProtocolError):
        SyncSession(Role.INITIATOR)  # no items or scope
    with pytest.raises(LocalProtocolError):
        SyncSession(Role.INITIATOR, S.SortedItems([]), scope=b"short")
    with pytest.raises(LocalProtocolError):
        SyncSession(Role.RESPONDER, record_batch=0)
    with pytest.raises(LocalProtocolError):
        W.encode_frame(FrameType.END, b"x")

    def refused(s: SyncSession, call: Callable[[], object]) -> None:
        before = s.state
        with pytest.raises(LocalProtocolError):
            call()
        assert s.state is before

    ini = at("initiator-opening")
    refused(ini, lambda: ini.accept(S.SortedItems([])))
    refused(ini, ini.refuse)
    refused(ini, ini.end_records)
    refused(ini, lambda: ini.send_records([]))
    res = SyncSession(Role.RESPONDER)
    refused(res, lambda: res.accept(S.SortedItems([])))  # no ScopeRequested yet
    opening = SyncSession(Role.INITIATOR, S.SortedItems([]), scope=SCOPE).data_to_send()
    res.receive_data(opening)
    assert isinstance(res.next_event(), ScopeRequested)
    refused(res, res.next_event)  # answer first
    res.accept(S.SortedItems([]))
    refused(res, res.refuse)
    refused(res, lambda: res.accept(S.SortedItems([])))

    link = in_transfer([], A3[:2])
    s = link.b.session
    refused(s, lambda: s.send_records([A3[2]]))  # the peer does not lack it
    refused(s, lambda: s.send_records([A3[0], A3[0]]))  # twice in one call
    s.send_records([A3[0]])
    refused(s, lambda: s.send_records([A3[0]]))  # already sent
    s.end_records()
    refused(s, s.end_records)
    refused(s, lambda: s.send_records([A3[1]]))  # after the end
    s.receive_data(b"")
    refused(s, lambda: s.receive_data(b"more"))  # after end of stream


def test_an_oversize_record_is_not_sent() -> None:
    big = b"x" * (MAX_RECORD_BYTES + 1)
    link = Link([], [big])
    link.run(push=False)
    with pytest.raises(LocalProtocolError, match="over"):
        link.b.session.send_records([big])


def test_events_validate() -> None:
    with pytest.raises(ValueError):
        ScopeRequested(scope=b"short")
    with pytest.raises(ValueError):
        PushRecords(ids=(b"short",))
    with pytest.raises(ValueError):
        RecordsReceived(raws=())
    with pytest.raises(ValueError):
        RecordsReceived(raws=(bytes(MAX_RECORD_BYTES + 1),))


# --- the table ----------------------------------------------------------------------------------


def test_every_transition_in_the_table_is_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[tuple[object, ...]] = set()
    fire = SyncSession._fire

    def recording(self: SyncSession, inp: W._Input, *, remote: bool = False) -> None:
        seen.add((self.role, self.state, inp))
        fire(self, inp, remote=remote)

    monkeypatch.setattr(SyncSession, "_fire", recording)
    Link(A3[:2], A3[1:]).run()  # the initiator favoured: its end reaches the responder first
    for seed in range(8):  # and the other orders
        Link(A3[:2], A3[1:]).run(random.Random(seed))
    Link(A3, A3, hosts=False).run()
    for phase in PHASES:
        with pytest.raises(RemoteProtocolError):
            drive(at(phase), header(9, 0), eof=False)
    assert set(W._TRANSITIONS) - seen == set()
