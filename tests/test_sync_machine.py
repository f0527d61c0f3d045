"""History-sync machine (cercle.protocol.sync): socket-free, through a fake link.

Like h11's ConnectionPair, :class:`Pair` wires an initiator and a responder, moves
bytes between them and counts bytes and round trips. Hypothesis checks that any two
sets reconcile to exactly their differences, that equal sets take one round trip, and
that no input bytes raise anything but RemoteProtocolError.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cercle.protocol import sync as S
from cercle.protocol.sync import (
    NEED_DATA,
    Done,
    HaveIds,
    LocalProtocolError,
    NeedIds,
    RemoteProtocolError,
    Role,
    ScopeRequest,
    SortedItems,
    State,
    SyncMachine,
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


def rid(k: int) -> bytes:
    return hashlib.sha256(k.to_bytes(8, "big")).digest()


@dataclass
class Pair:
    """An initiator and a responder joined by a lossless in-memory link."""

    a_items: list[Item]
    b_items: list[Item]
    params: dict[str, int] = field(default_factory=dict)
    scope: bytes = SCOPE
    transcript: list[tuple[Role, bytes]] = field(default_factory=list)
    events: dict[Role, list[object]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        a_store = SortedItems(self.a_items)
        self.a = SyncMachine(Role.INITIATOR, a_store, scope=self.scope, **self.params)
        self.b = SyncMachine(Role.RESPONDER, **self.params)
        self.events = {Role.INITIATOR: [], Role.RESPONDER: []}

    def drain(self, m: SyncMachine) -> None:
        while (ev := m.next_event()) is not NEED_DATA:
            if isinstance(ev, ScopeRequest):
                m.accept(SortedItems(self.b_items))
            self.events[m.role].append(ev)

    def run(self, mutate: object = None) -> None:
        """Run to the end. mutate(index, data) -> data may corrupt message `index`."""
        self.a.initiate()
        src, dst = self.a, self.b
        while data := src.data_to_send():
            if callable(mutate):
                data = mutate(len(self.transcript), data)
            self.transcript.append((src.role, data))
            dst.receive_data(data)
            self.drain(dst)
            src, dst = dst, src
        for m in (self.a, self.b):  # nobody speaks: whoever still waits sees EOF
            if m.state is not State.DONE:
                m.receive_data(b"")
                self.drain(m)

    @property
    def bytes(self) -> int:
        return sum(len(d) for _, d in self.transcript)

    @property
    def round_trips(self) -> int:
        return (len(self.transcript) + 1) // 2

    def ids(self, role: Role, kind: type) -> list[bytes]:
        return [i for e in self.events[role] if isinstance(e, kind) for i in e.ids]


def assert_reconciled(p: Pair) -> None:
    a, b = {i for _, i in p.a_items}, {i for _, i in p.b_items}
    ini, res = Role.INITIATOR, Role.RESPONDER
    for role, kind, want in [
        (ini, NeedIds, b - a),
        (ini, HaveIds, a - b),
        (res, NeedIds, a - b),
        (res, HaveIds, b - a),
    ]:
        got = p.ids(role, kind)
        assert len(got) == len(set(got)), "an id was reported twice"
        assert set(got) == want
    assert p.a.state is State.DONE and p.b.state is State.DONE
    assert p.b.scope == p.scope
    for role in (ini, res):
        assert isinstance(p.events[role][-1], Done)
        assert sum(isinstance(e, Done) for e in p.events[role]) == 1
    limit = p.params.get("frame_size_limit", S.MAX_FRAME_SIZE)
    assert all(len(d) <= limit for _, d in p.transcript)


# --- strategies ------------------------------------------------------------------------

# Few distinct timestamps and id bytes drawn from tiny alphabets: equal timestamps force
# id-prefix bounds, shared 4-byte prefixes force weak-leaf collisions (strong pass).
_ts = st.integers(0, 6) | st.sampled_from([S.MAX_TS, 1_700_000_000_000])
_id = st.builds(
    lambda head, tail: (head + tail)[:32],
    st.sampled_from([b"", b"\x01\x02\x03\x04", b"\x01\x02\x03\x05", b"\x00\x00", b"\xff"]),
    st.binary(min_size=32, max_size=32),
) | st.binary(min_size=1, max_size=2).map(lambda h: h + bytes(32 - len(h)))
_item = st.tuples(_ts, _id)
# each pooled item is in A only (0), B only (1) or both (2)
_pool = st.lists(st.tuples(_item, st.integers(0, 2)), max_size=60, unique_by=lambda t: t[0][1])
_params = st.fixed_dictionaries(
    {
        "branching": st.integers(2, 16),
        "leaf_threshold": st.integers(1, 6),
        "frame_size_limit": st.sampled_from([4096, 65536]),
    }
)


def split_pool(pool: list[tuple[Item, int]]) -> tuple[list[Item], list[Item]]:
    return [it for it, w in pool if w != 1], [it for it, w in pool if w != 0]


# --- reconciliation ----------------------------------------------------------------------


@settings(FAST, max_examples=400)
@given(pool=_pool, params=_params)
def test_any_two_sets_reconcile_to_their_differences(
    pool: list[tuple[Item, int]], params: dict[str, int]
) -> None:
    a, b = split_pool(pool)
    p = Pair(a, b, params)
    p.run()
    assert_reconciled(p)
    event(f"strong pass: {p.a.statistics().strong_pass}, round trips: {min(p.round_trips, 5)}")


@settings(FAST, max_examples=200)
@given(items=st.lists(_item, max_size=80, unique_by=lambda t: t[1]), params=_params)
def test_equal_sets_finish_in_one_round_trip(items: list[Item], params: dict[str, int]) -> None:
    p = Pair(items, list(reversed(items)), params)
    p.run()
    assert_reconciled(p)
    assert len(p.transcript) == 2
    assert p.events[Role.INITIATOR] == [Done()]
    assert p.events[Role.RESPONDER] == [ScopeRequest(scope=SCOPE), Done()]


@settings(FAST, max_examples=25)
@given(
    n=st.integers(300, 3000),
    seed=st.integers(0, 2**32),
    a_only=st.floats(0, 0.3),
    b_only=st.floats(0, 0.3),
    params=_params,
)
def test_bigger_sets_reconcile_across_frames(
    n: int, seed: int, a_only: float, b_only: float, params: dict[str, int]
) -> None:
    rnd = random.Random(seed)
    items = [(rnd.randrange(n), rnd.randbytes(32)) for _ in range(n)]
    where = [rnd.random() for _ in items]
    a = [it for it, w in zip(items, where, strict=True) if w >= b_only]
    b = [it for it, w in zip(items, where, strict=True) if not b_only <= w < b_only + a_only]
    p = Pair(a, b, params)
    p.run()
    assert_reconciled(p)


def test_weak_collision_triggers_strong_pass() -> None:
    common = [(k, rid(k)) for k in range(50)]
    x = (99, b"\x01\x02\x03\x04" + b"\xaa" * 28)
    y = (99, b"\x01\x02\x03\x04" + b"\xbb" * 28)
    p = Pair([*common, x], [*common, y])
    p.run()
    assert_reconciled(p)
    assert p.a.statistics().strong_pass  # the weak pass could not see the difference


# --- strong pass states (§7): a fake responder whose whole-set fingerprint lies ------------

BOGUS = bytes(range(16))  # a whole-set fingerprint that no reported ids can match
A = (1, rid(1))


def answer(m: SyncMachine, data: bytes) -> S.Message | None:
    """Feed one message to m, drain its events, and decode its reply (None if silent)."""
    feed(m, data, eof=False)
    out = m.data_to_send()
    return S.decode_message(out) if out else None


def is_restart(msg: S.Message | None) -> bool:
    """Is msg the strong pass's start: my full fingerprint of [ZERO, INF), nothing else?"""
    full = S.fingerprint(int.from_bytes(A[1], "little"), 1)
    return msg is not None and msg.ranges == (S.Fingerprint(upper=S.INF, fingerprint=full),)


def test_strong_pass_restarts_at_once_when_nothing_else_is_said() -> None:
    # No question and nothing queued: the initiator's check fails, the restart goes now.
    m = started_initiator([A])
    assert is_restart(answer(m, reply(fp=BOGUS)))
    assert m.state is State.STRONG and m.statistics().strong_pass
    # The peer answers nothing in the strong pass and the check still fails: its fault.
    assert_remote_error(m, reply(fp=None), eof=False)


def test_strong_pass_restarts_in_a_message_of_its_own() -> None:
    # A question whose answer is empty (the peer lists my own item): the reply is the restart.
    m = started_initiator([A])
    assert is_restart(answer(m, reply([None, b"", 2, 4, A[1][:4]], fp=BOGUS)))
    assert m.state is State.STRONG


def test_strong_pass_restart_is_deferred_after_ranges() -> None:
    # The peer lists nothing: my Diff (no question) goes first, with more=True ...
    m = started_initiator([A])
    first = answer(m, reply([None, b"", 2, 4, b""], fp=BOGUS))
    assert first is not None and first.more and isinstance(first.ranges[0], S.Diff)
    assert m.state is State.STRONG_PENDING and not m.statistics().strong_pass
    # ... and the restart in my next message, whatever the peer said.
    assert is_restart(answer(m, reply(fp=None)))
    assert m.state is State.STRONG and m.statistics().strong_pass


def test_strong_pass_pending_then_garbage() -> None:
    m = started_initiator([A])
    answer(m, reply([None, b"", 2, 4, b""], fp=BOGUS))
    assert m.state is State.STRONG_PENDING
    assert_remote_error(m, b"\xc1", eof=False)


def fired_transitions(monkeypatch: pytest.MonkeyPatch) -> set[tuple[object, ...]]:
    """Record every (role, state, input) that SyncMachine._fire is given from now on."""
    seen: set[tuple[object, ...]] = set()
    fire = SyncMachine._fire

    def recording(self: SyncMachine, inp: S._Input) -> None:
        seen.add((self.role, self._state, inp))
        fire(self, inp)

    monkeypatch.setattr(SyncMachine, "_fire", recording)
    return seen


def test_every_transition_in_the_table_is_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = fired_transitions(monkeypatch)
    common = [(k, rid(k)) for k in range(50)]
    x = (99, b"\x01\x02\x03\x04" + b"\xaa" * 28)
    y = (99, b"\x01\x02\x03\x04" + b"\xbb" * 28)
    for a, b in [
        ([], []),  # equal: the responder finishes on accept
        ([A], []),
        ([*common, x], [*common, y]),  # weak collision: the restart goes at once
        ([*common, x, (98, rid(1000))], [*common, y]),  # ... or after the Ids
    ]:
        Pair(a, b).run()
    # remote errors in every state: the strong pass's, then the others'
    test_strong_pass_restarts_at_once_when_nothing_else_is_said()
    test_strong_pass_pending_then_garbage()
    test_peer_closes_early_or_talks_out_of_turn()  # initiator: IDLE, WAITING, DONE
    test_peer_ends_session_inconsistently()  # responder: WAITING
    assert_remote_error(SyncMachine(Role.RESPONDER), b"\xc1")  # responder: IDLE
    ini = SyncMachine(Role.INITIATOR, SortedItems([]), scope=SCOPE)
    ini.initiate()
    accepting = SyncMachine(Role.RESPONDER)
    accepting.receive_data(ini.data_to_send())
    assert isinstance(accepting.next_event(), ScopeRequest)
    assert_remote_error(accepting, b"\x90", eof=False)  # responder: ACCEPTING
    p = Pair([A], [A])
    p.run()
    assert_remote_error(p.b, reply(fp=None), eof=False)  # responder: DONE
    assert set(S._TRANSITIONS) - seen == set()


def test_large_difference_spans_many_frames() -> None:
    rnd = random.Random(7)
    items = [(rnd.randrange(10**9), rnd.randbytes(32)) for _ in range(6000)]
    p = Pair(items, items[:500], {"frame_size_limit": 4096})
    p.run()
    assert_reconciled(p)
    assert len(p.transcript) > 40  # 5500 ids cannot fit in a few 4 KiB frames


def efficiency(n: int, diff: int, one_sided: bool) -> Pair:
    rnd = random.Random(n + diff)
    t0 = 1_700_000_000_000
    items = [(t0 + rnd.randrange(365 * 86_400_000), rnd.randbytes(32)) for _ in range(n)]
    lost = set(rnd.sample(range(n), diff))
    a = items if one_sided else [it for k, it in enumerate(items) if k not in lost or k % 2]
    b = [it for k, it in enumerate(items) if k not in lost or (not one_sided and k % 2 == 0)]
    p = Pair(a, b)
    p.run()
    assert_reconciled(p)
    return p


@pytest.mark.parametrize("one_sided", [False, True], ids=["split-1pct", "one-sided-1pct"])
def test_bandwidth_20k_items_1pct_difference(one_sided: bool) -> None:
    n = 20_000
    p = efficiency(n, n // 100, one_sided)
    ratio = p.bytes / (n * 32)
    print(f"\n20k/1% {one_sided=}: {p.bytes} bytes, ratio {ratio:.4f}, {p.round_trips} RTT")
    assert ratio <= 0.1
    assert p.round_trips <= 6


# --- garbage and protocol violations -------------------------------------------------------


def feed(m: SyncMachine, data: bytes, eof: bool = True) -> None:
    """Feed data (and EOF), draining events; accept any scope with an empty set."""
    if data:
        m.receive_data(data)
    if eof:
        m.receive_data(b"")
    while (ev := m.next_event()) is not NEED_DATA:
        if isinstance(ev, ScopeRequest):
            m.accept(SortedItems([]))


def assert_remote_error(m: SyncMachine, data: bytes, eof: bool = True) -> None:
    with pytest.raises(RemoteProtocolError):
        feed(m, data, eof)
    assert m.state is State.ERROR
    with pytest.raises(LocalProtocolError):
        m.next_event()
    with pytest.raises(LocalProtocolError):
        m.receive_data(b"x")


def started_initiator(items: list[Item] | None = None) -> SyncMachine:
    m = SyncMachine(Role.INITIATOR, SortedItems(items or []), scope=SCOPE)
    m.initiate()
    m.data_to_send()
    return m


@settings(FAST, max_examples=1000)
@given(data=st.binary(max_size=200))
def test_garbage_into_either_side_is_a_remote_error(data: bytes) -> None:
    assert_remote_error(SyncMachine(Role.RESPONDER), data)
    assert_remote_error(started_initiator([(1, rid(1))]), data)


def test_truncated_opening_message() -> None:
    opening = Pair([(1, rid(1))], [])
    opening.a.initiate()
    data = opening.a.data_to_send()
    for cut in range(len(data)):
        assert_remote_error(SyncMachine(Role.RESPONDER), data[:cut])


_mutation = st.tuples(
    st.sampled_from(["truncate", "flip", "insert", "delete", "replace", "append"]),
    st.integers(0, 10**6),
    st.integers(1, 255),
)


@settings(FAST, max_examples=600)
@given(pool=_pool, params=_params, which=st.integers(0, 12), mutation=_mutation)
def test_corrupted_message_mid_session_only_raises_remote_errors(
    pool: list[tuple[Item, int]],
    params: dict[str, int],
    which: int,
    mutation: tuple[str, int, int],
) -> None:
    kind, pos, byte = mutation

    def mutate(index: int, data: bytes) -> bytes:
        if index != which:
            return data
        at = pos % (len(data) + 1)
        if kind == "truncate":
            return data[:at]
        if kind == "flip" and data:
            at %= len(data)
            return data[:at] + bytes([data[at] ^ byte]) + data[at + 1 :]
        if kind == "insert":
            return data[:at] + bytes([byte]) + data[at:]
        if kind == "delete":
            return data[:at] + data[at + 1 :]
        if kind == "append":
            return data + bytes([byte]) * (pos % 5 + 1)
        return random.Random(pos).randbytes(len(data))

    p = Pair(*split_pool(pool), params)
    try:
        p.run(mutate)
    except RemoteProtocolError:
        failed = [m for m in (p.a, p.b) if m.state is State.ERROR]
        assert failed
        with pytest.raises(LocalProtocolError):
            failed[0].next_event()
    else:
        if which >= len(p.transcript):
            assert_reconciled(p)  # nothing was corrupted


def msg(*fields: object) -> bytes:
    data: bytes = msgpack.packb(list(fields), use_bin_type=True)
    return data


FP = bytes(16)
INF_RANGE_FP = [None, b"", 1, b"\0" * 4]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("map", msgpack.packb({1: 2})),
        ("version 2", msg(2, SCOPE, FP, False, [])),
        ("non-canonical version", b"\x95\xcc\x01" + msg(SCOPE, FP, False, [])[1:]),
        ("scope as str", b"\x95\x01\xd9\x20" + b"a" * 32 + msg(FP, False, [])[1:]),
        ("short scope", msg(1, SCOPE[:31], FP, False, [])),
        ("no fingerprint", msg(1, SCOPE, None, False, [])),
        ("opening with ranges", msg(1, SCOPE, FP, False, [INF_RANGE_FP])),
        ("opening with more", msg(1, SCOPE, FP, True, [INF_RANGE_FP])),
        ("two messages", msg(1, SCOPE, FP, False, []) * 2),
        ("trailing byte", msg(1, SCOPE, FP, False, []) + b"\0"),
        ("float", msg(1, SCOPE, FP, 0.5, [])),
        ("oversize", b"\xc6\x00\x01\x20\x00" + bytes(70_000)),
        ("oversize header only", b"\xdd\xff\xff\xff\xff"),
    ],
)
def test_bad_opening_message(name: str, data: bytes) -> None:
    assert_remote_error(SyncMachine(Role.RESPONDER), data, eof=name != "oversize")


def reply(*ranges: list[object], fp: bytes | None = FP, more: bool = False) -> bytes:
    return msg(1, None, fp, more, list(ranges))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("scope in reply", msg(1, SCOPE, FP, False, [])),
        ("no fingerprint in first reply", reply(fp=None)),
        ("fingerprint of 15", reply(fp=bytes(15))),
        ("more without ranges", reply(more=True)),
        ("unknown mode", reply([None, b"", 9])),
        ("bad arity", reply([None, b"", 1])),
        ("mode as bool", reply([None, b"", True, b"\0" * 4])),
        ("fingerprint of 5", reply([None, b"", 1, b"\0" * 5])),
        ("negative delta", reply([-1, b"", 1, b"\0" * 4])),
        ("prefix ends in zero", reply([5, b"\x01\x00", 1, b"\0" * 4])),
        ("prefix of 33", reply([5, b"\x01" * 33, 1, b"\0" * 4])),
        ("timestamp over u64", reply([2**64 - 1, b"\x01", 0], [1, b"", 1, b"\0" * 4])),
        ("INF spelled as a timestamp", reply([2**64 - 1, b"\x01", 0], [1, b"", 1, FP[:4]])),
        ("scope as int", msg(1, 5, FP, False, [])),
        ("fingerprint as int", reply(fp=5)),  # type: ignore[arg-type]
        ("range not an array", reply(b"range")),  # type: ignore[arg-type]
        ("field of wrong type", reply([None, b"", 1, 4])),
        ("bitmap of 9 bytes", reply([None, b"", 3, b"\1" * 9, b""])),
        ("bounds not increasing", reply([5, b"", 1, FP[:4]], [0, b"", 1, FP[:4]])),
        ("range after INF", reply([None, b"", 1, FP[:4]], [0, b"", 1, FP[:4]])),
        ("trailing skip", reply([5, b"", 0])),
        ("two skips", reply([5, b"", 0], [5, b"", 0], [None, b"", 1, FP[:4]])),
        ("INF with prefix", reply([None, b"\x01", 1, FP[:4]])),
        ("prefix_len 5", reply([None, b"", 2, 5, b"\0" * 10])),
        ("65 prefixes", reply([None, b"", 2, 4, b"\1" * 4 * 65])),
        ("ragged prefixes", reply([None, b"", 2, 4, b"\1" * 5])),
        ("empty diff", reply([None, b"", 3, b"\0", b""])),
        ("ragged ids", reply([None, b"", 4, b"\1" * 33])),
        ("empty ids", reply([None, b"", 4, b""])),
        ("duplicate ids", reply([None, b"", 4, b"\1" * 64])),
        ("diff bitmap wrong length", reply([None, b"", 3, b"\1\0", b""])),
        ("diff claims I lack my id", reply([None, b"", 3, b"\0", rid(1)])),
        ("ids I already have", reply([None, b"", 4, rid(1)])),
    ],
)
def test_bad_reply(name: str, data: bytes) -> None:
    assert_remote_error(started_initiator([(1, rid(1))]), data)


def test_decode_message_rejects_garbage() -> None:
    for bad in (b"", b"\xc1", b"\x95", msg(1, None, None, False, []) + b"\0", bytes(70_000)):
        with pytest.raises(RemoteProtocolError):
            S.decode_message(bad)


def test_peer_ranges_overlapping_queued_work() -> None:
    # The initiator has queued more answers than fit in one frame; the peer then asks
    # about a range that overlaps that queue: its fault.
    items = [(k, rid(k)) for k in range(5000)]
    m = SyncMachine(Role.INITIATOR, SortedItems(items), scope=SCOPE, frame_size_limit=4096)
    m.initiate()
    m.data_to_send()
    wrong = [[25, b"", 1, b"\0" * 4] for _ in range(200)]  # 200 ranges of 25 items
    feed(m, reply(*wrong), eof=False)
    first = S.decode_message(m.data_to_send())
    assert first.more and m.state is State.WAITING
    assert_remote_error(m, reply([None, b"", 1, b"\0" * 4], fp=None), eof=False)


def test_statistics_count_messages_and_bytes() -> None:
    p = Pair([(1, rid(1)), (2, rid(2))], [(1, rid(1)), (3, rid(3))])
    p.run()
    sa, sb = p.a.statistics(), p.b.statistics()
    sent_by_a = [d for r, d in p.transcript if r is Role.INITIATOR]
    assert sa.messages_sent == len(sent_by_a) == sb.messages_received
    assert sa.bytes_sent == sum(map(len, sent_by_a)) == sb.bytes_received
    assert sa.bytes_sent + sb.bytes_sent == p.bytes


def test_ids_for_a_range_never_listed() -> None:
    items = [(k, rid(k)) for k in range(100)]
    assert_remote_error(started_initiator(items), reply([None, b"", 4, rid(1000)]))


def test_peer_closes_early_or_talks_out_of_turn() -> None:
    assert_remote_error(started_initiator(), b"")  # EOF while waiting
    m = SyncMachine(Role.INITIATOR, SortedItems([]), scope=SCOPE)
    assert_remote_error(m, reply(), eof=False)  # peer spoke before we initiated
    p = Pair([(1, rid(1))], [(1, rid(1))])
    p.run()
    assert_remote_error(p.a, reply(fp=None), eof=False)  # data after the end
    p.b.receive_data(b"")  # a clean EOF after the end is fine
    assert p.b.next_event() is NEED_DATA


def test_peer_ends_session_inconsistently() -> None:
    # The initiator claims (by sending nothing more) that we are done; our sets differ.
    p = Pair([(1, rid(1))], [(1, rid(1))])
    p.a.initiate()
    b = SyncMachine(Role.RESPONDER)
    b.receive_data(p.a.data_to_send())
    assert isinstance(b.next_event(), ScopeRequest)
    b.accept(SortedItems([(1, rid(1)), (2, rid(2))]))
    sent = S.decode_message(b.data_to_send())
    assert isinstance(sent.ranges[0], S.IdList)
    assert_remote_error(b, reply(fp=None), eof=False)  # a reply that answers nothing


# --- misuse ----------------------------------------------------------------------------------


def test_local_misuse() -> None:
    store = SortedItems([])
    with pytest.raises(LocalProtocolError):
        SyncMachine(Role.INITIATOR, store)  # no scope
    with pytest.raises(LocalProtocolError):
        SyncMachine(Role.RESPONDER, store)
    with pytest.raises(LocalProtocolError):
        SyncMachine(Role.INITIATOR, store, scope=b"short")
    for bad in ({"branching": 1}, {"leaf_threshold": 65}, {"frame_size_limit": 1000}):
        with pytest.raises(LocalProtocolError):
            SyncMachine(Role.RESPONDER, **bad)
    with pytest.raises(LocalProtocolError):
        SyncMachine(Role.RESPONDER).initiate()
    with pytest.raises(LocalProtocolError):
        SyncMachine(Role.RESPONDER).accept(store)  # no ScopeRequest yet
    m = SyncMachine(Role.INITIATOR, store, scope=SCOPE)
    with pytest.raises(LocalProtocolError):
        m.accept(store)
    m.initiate()
    with pytest.raises(LocalProtocolError):
        m.initiate()  # twice
    m.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        m.receive_data(b"more")  # after EOF
    p = Pair([(1, rid(1))], [(1, rid(1))])
    p.run()
    with pytest.raises(LocalProtocolError):
        p.a.initiate()  # sending after done
    with pytest.raises(LocalProtocolError):
        p.b.accept(store)


def test_events_and_items_validate() -> None:
    with pytest.raises(ValueError):
        NeedIds(ids=())
    with pytest.raises(ValueError):
        HaveIds(ids=(b"short",))
    with pytest.raises(ValueError):
        ScopeRequest(scope=b"")
    with pytest.raises(ValueError):
        SortedItems([(1, rid(1)), (2, rid(1))])  # duplicate id
    with pytest.raises(ValueError):
        SortedItems([(-1, rid(1))])
    with pytest.raises(ValueError):
        S.Fingerprint(upper=(1, b"\x01\x00"), fingerprint=bytes(4))


def test_sorted_items_bounds_and_sums() -> None:
    a, b, c = (5, b"\x01" + bytes(31)), (5, b"\x01\x02" + bytes(30)), (6, b"\xff" * 32)
    s = SortedItems([c, b, a])
    assert list(s.items(0, 3)) == [a, b, c]
    assert s.bisect(5, b"") == 0
    assert s.bisect(5, b"\x01") == 0  # (5, 01 00..) equals item a: a is not below it
    assert s.bisect(5, b"\x01\x01") == 1
    assert s.bisect(*S.INF) == 3
    total = sum(int.from_bytes(i, "little") for _, i in (a, b, c)) % 2**256
    assert s.id_sum(0, 3) == total
    assert s.id_sum(1, 2) == int.from_bytes(b[1], "little")


# --- test vectors ------------------------------------------------------------------------------


def test_fingerprint_vectors() -> None:
    for v in VECTORS["fingerprints"]:
        s = SortedItems((ts, bytes.fromhex(i)) for ts, i in v["items"])
        assert S.fingerprint(s.id_sum(0, len(s)), len(s)).hex() == v["fingerprint"]
    # the definition, spelled out once
    assert S.fingerprint(0, 0) == hashlib.sha256(bytes(32) + b"\0").digest()[:16]
    assert S.fingerprint(1, 300) == hashlib.sha256(b"\1" + bytes(31) + b"\x82\x2c").digest()[:16]


@pytest.mark.parametrize("v", VECTORS["sessions"], ids=lambda v: v["name"])
def test_session_vectors(v: dict[str, object]) -> None:
    def items(key: str) -> list[Item]:
        raw = v[key]
        assert isinstance(raw, list)
        return [(ts, bytes.fromhex(i)) for ts, i in raw]

    params = v["params"]
    assert isinstance(params, dict)
    scope = bytes.fromhex(str(v["scope"]))
    p = Pair(items("initiator_items"), items("responder_items"), params, scope)
    p.run()
    got = [{"from": role.value, "hex": data.hex()} for role, data in p.transcript]
    assert got == v["transcript"]
    for role in (Role.INITIATOR, Role.RESPONDER):
        expected = v[role.value]
        assert isinstance(expected, dict)
        assert [i.hex() for i in p.ids(role, NeedIds)] == expected["need"]
        assert [i.hex() for i in p.ids(role, HaveIds)] == expected["have"]
    for _, data in p.transcript:  # every message decodes and re-encodes to itself
        assert S.encode_message(S.decode_message(data)) == data
