"""Local API: the sans-IO codec, params checks, the trio server, both clients, the CLI.

The server is tested against a fake in-memory backend on a real Unix socket; the
blocking client and the CLI run in a worker thread (trio.to_thread), the asyncio
client in its own event loop in a worker thread. No fixed sleeps: every wait is on
an event, bounded by trio.fail_after or asyncio.timeout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import stat
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cercle.node.api import server as node_api
from cercle.node.api.client import ApiClient, NodeNotRunning
from cercle.node.api.server import ApiServer, EventHub, SocketInUse, serve_api
from cercle.node.cli.main import main
from cercle.node.cli.parse import parse_deadline, parse_scores
from cercle.protocol import localapi as L
from cercle.protocol.errors import LocalProtocolError, Reason, Rejected, RemoteProtocolError
from cercle.tui import client as tui_client
from tests.factory import gtin

HEX_A = "ab" * 32
HEX_B = "cd" * 32
COMMUNITY = "11" * 32
GTIN = gtin(42)

# --------------------------------------------------------------------------- codec


def decode_all(data: bytes, role: L.Role = L.Role.CLIENT) -> list[L.Message]:
    conn = L.Connection(role)
    conn.receive_data(data)
    out = []
    while (msg := conn.next_message()) is not None:
        out.append(msg)
    return out


MESSAGES: list[L.Message] = [
    L.Response(id=1, result={"a": [1, "x", None, True, 1.5, b"\x00"]}),
    L.ErrorReply(id=2, code=L.NOT_FOUND, message="no such thing"),
    L.ErrorReply(id=3, code=L.REJECTED, message="bad", reason="bad_gtin"),
    L.ErrorReply(id=4, code=L.BAD_PARAMS, message="gtin: wrong check digit", field="gtin"),
    L.Event(event="record", data={"id": HEX_A}),
    L.Response(id=L.MAX_ID, result=None),
]


def test_round_trip() -> None:
    data = b"".join(L.encode(m) for m in MESSAGES)
    assert decode_all(data) == MESSAGES
    req = L.Request(id=0, method="status", params={"x": [1]})
    assert decode_all(L.encode(req), L.Role.SERVER) == [req]


@given(st.data())
def test_split_anywhere_gives_the_same_messages(data: st.DataObject) -> None:
    stream = b"".join(L.encode(m) for m in MESSAGES)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    conn = L.Connection(L.Role.CLIENT)
    out: list[L.Message] = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        if a == b:
            continue  # b"" would mean end of stream
        conn.receive_data(stream[a:b])
        while (msg := conn.next_message()) is not None:
            out.append(msg)
    assert out == MESSAGES


def drain(conn: L.Connection) -> None:
    """Read until more bytes are needed or a fatal error; only RemoteProtocolError allowed."""
    for _ in range(10_000):
        try:
            if conn.next_message() is None:
                return
        except L.MessageError as e:
            if e.fatal:
                with pytest.raises(RemoteProtocolError):
                    conn.next_message()
                return


@given(st.binary(max_size=300), st.sampled_from(L.Role), st.booleans())
def test_random_bytes_raise_only_remote_protocol_error(
    data: bytes, role: L.Role, eof: bool
) -> None:
    conn = L.Connection(role, max_frame=200)
    conn.receive_data(data)
    if eof:
        conn.receive_data(b"")
    drain(conn)


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text()
    | st.binary(),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=4)
    ),
    max_leaves=12,
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 2, True, "1"]),
        "id": st.sampled_from([0, 5, -1, 2**32, "5", None]),
        "method": st.sampled_from(["status", "", 5]) | st.text(max_size=70),
        "params": st.sampled_from([{}, [], None]) | msgpack_values,
        "result": msgpack_values,
        "error": msgpack_values | st.fixed_dictionaries({"code": msgpack_values}),
        "event": st.sampled_from(["record", ""]) | msgpack_values,
        "data": msgpack_values,
        "extra": msgpack_values,
    },
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(shaped | msgpack_values, st.sampled_from(L.Role))
def test_random_msgpack_raises_only_remote_protocol_error(obj: Any, role: L.Role) -> None:
    payload = msgpack.packb(obj, use_bin_type=True)
    conn = L.Connection(role)
    conn.receive_data(struct.pack(">I", len(payload)) + payload)
    try:
        msg = conn.next_message()
    except L.MessageError as e:
        assert not e.fatal
        assert e.request_id is None or role is L.Role.SERVER
    else:  # whatever was accepted encodes back to the same message
        assert msg is not None
        assert decode_all(L.encode(msg), role) == [msg]


@given(st.binary(min_size=1, max_size=40), st.integers(1, 39))
def test_truncated_frame_at_eof_is_fatal(payload: bytes, keep: int) -> None:
    frame = struct.pack(">I", len(payload)) + payload
    conn = L.Connection(L.Role.CLIENT)
    conn.receive_data(frame[: min(keep, len(frame) - 1)])
    assert conn.next_message() is None
    conn.receive_data(b"")
    with pytest.raises(L.MessageError) as e:
        conn.next_message()
    assert e.value.fatal


def test_oversize_frame_is_fatal_before_the_payload_arrives() -> None:
    conn = L.Connection(L.Role.SERVER, max_frame=100)
    conn.receive_data(struct.pack(">I", 101))
    with pytest.raises(L.MessageError, match="exceeds") as e:
        conn.next_message()
    assert e.value.fatal and e.value.request_id is None
    with pytest.raises(L.MessageError):
        conn.next_message()
    conn.receive_data(L.encode_request(1, "status"))  # nothing more is read
    with pytest.raises(L.MessageError):
        conn.next_message()


def frame_of(obj: Any) -> bytes:
    payload = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(payload)) + payload


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"v": 2, "id": 7, "method": "status", "params": {}}, "version"),
        ({"v": 1, "id": 7, "method": 5, "params": {}}, "method"),
        ({"v": 1, "id": 7, "method": "status", "params": []}, "params"),
        ({"v": 1, "id": 7, "method": "status", "params": {}, "x": 1}, "exactly"),
        (
            {"v": 1, "id": 7, "method": "status", "params": {"a": msgpack.ExtType(1, b"")}},
            "ExtType",
        ),
    ],
)
def test_bad_request_with_known_id_is_recoverable(obj: Any, match: str) -> None:
    conn = L.Connection(L.Role.SERVER)
    conn.receive_data(frame_of(obj) + L.encode_request(8, "status"))
    with pytest.raises(L.MessageError) as e:
        conn.next_message()
    assert e.value.request_id == 7 and not e.value.fatal
    assert match in str(e.value)
    assert conn.next_message() == L.Request(id=8, method="status", params={})


def test_client_refuses_requests_and_server_refuses_responses() -> None:
    with pytest.raises(L.MessageError):
        decode_all(L.encode_request(1, "status"), L.Role.CLIENT)
    with pytest.raises(L.MessageError):
        decode_all(L.encode_response(1, None), L.Role.SERVER)


def test_timestamp_ext_and_non_string_keys_rejected() -> None:
    ts = msgpack.packb({"v": 1, "event": "e", "data": msgpack.Timestamp(1)}, use_bin_type=True)
    with pytest.raises(L.MessageError, match="unsupported value"):
        decode_all(struct.pack(">I", len(ts)) + ts)
    with pytest.raises(L.MessageError):
        decode_all(frame_of({"v": 1, "event": "e", "data": {b"k": 1}}))


def test_deep_nesting_rejected() -> None:
    deep: Any = 1
    for _ in range(L.MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(L.MessageError, match="nested"):
        decode_all(frame_of({"v": 1, "event": "e", "data": deep}))
    with pytest.raises(LocalProtocolError):
        L.encode_event("e", deep)


def test_encode_errors_are_local() -> None:
    with pytest.raises(LocalProtocolError):
        L.encode_response(1, object())
    with pytest.raises(LocalProtocolError, match="exceeds"):
        L.encode_response(1, "x" * 200, max_frame=100)
    with pytest.raises(LocalProtocolError):
        L.encode_request(-1, "status")
    with pytest.raises(LocalProtocolError):
        L.encode_request(1, "")
    with pytest.raises(LocalProtocolError):
        L.encode_error(1, "", "m")


# --------------------------------------------------------------------------- params


def test_method_table_names() -> None:
    assert set(L.METHODS) == {
        "status", "identity.get", "profile.set", "communities.list", "communities.get",
        "communities.create", "communities.join", "communities.leave", "products.search",
        "products.get", "products.ranked", "products.put", "ratings.list", "ratings.put",
        "petitions.list", "petitions.get", "petitions.create", "petitions.sign",
        "petitions.signatures", "records.get", "records.retract", "feed", "vouch",
        "vouches.list", "peers.list", "peers.connect", "subscribe",
        "petitions.export", "moderation.list", "moderation.set", "communities.set_min_trust",
    }  # fmt: skip


def test_every_method_is_specified_and_implemented() -> None:
    from pathlib import Path

    from cercle.node.api.handlers import HANDLERS

    spec = (Path(__file__).parent.parent / "specs" / "local-api.md").read_text()
    assert [m for m in L.METHODS if f"`{m}`" not in spec] == []
    assert set(L.METHODS) - {"subscribe"} == set(HANDLERS)


def test_check_params_fills_defaults() -> None:
    out = L.check_params("products.ranked", {"community": COMMUNITY})
    assert out == {"community": COMMUNITY, "limit": 50, "trusted": False}
    out = L.check_params("products.put", {"community": COMMUNITY, "gtin": GTIN, "name": "N"})
    assert out["labels"] == [] and out["brand"] == ""
    out["labels"].append("x")  # defaults are not shared
    assert (
        L.check_params("products.put", {"community": COMMUNITY, "gtin": GTIN, "name": "N"})[
            "labels"
        ]
        == []
    )
    assert L.check_params("vouch", {"subject": HEX_A, "trust": True, "community": None}) == {
        "subject": HEX_A,
        "trust": True,
    }


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("communities.get", {}, "id: missing"),
        ("communities.get", {"id": HEX_A.upper()}, "id: an id or key is 64 hexadecimal"),
        ("communities.get", {"id": HEX_A[:-2]}, "id:"),
        ("communities.get", {"id": HEX_A, "x": 1}, "x: unknown parameter"),
        ("products.get", {"community": COMMUNITY, "gtin": "1234567890123"}, "gtin:"),
        ("feed", {"community": COMMUNITY, "limit": 0}, "limit: 0 is out of range: from 1 to 500"),
        ("feed", {"community": COMMUNITY, "limit": 501}, "limit:"),
        ("feed", {"community": COMMUNITY, "limit": True}, "limit: expected an integer"),
        ("feed", {"community": COMMUNITY, "cursor": ""}, "cursor: must not be empty"),
        ("ratings.put", {"community": COMMUNITY, "gtin": GTIN, "scores": [6]}, "scores[0]:"),
        ("ratings.put", {"community": COMMUNITY, "gtin": GTIN, "scores": []}, "scores: 0 items"),
        (
            "communities.create",
            {"name": "n", "description": "", "values": ["a", "a"], "criteria": ["c"]},
            "values: duplicate",
        ),
        (
            "communities.create",
            {"name": " ", "description": "", "values": [], "criteria": ["c"]},
            "name: must not be empty",
        ),
        ("subscribe", {"events": ["nope"]}, "events[0]: expected one of"),
        ("vouch", {"subject": HEX_A, "trust": 1}, "trust: expected true or false"),
        ("profile.set", {"display_name": "x" * 65}, "display_name: 65 characters"),
    ],
)
def test_check_params_names_the_bad_field(method: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(L.ApiError) as e:
        L.check_params(method, params)
    assert e.value.code == L.BAD_PARAMS
    assert e.value.message.startswith(field)
    assert e.value.field == field.split(":")[0].split("[")[0]  # the parameter, as data


def test_unknown_method() -> None:
    with pytest.raises(L.ApiError) as e:
        L.check_params("nope", {})
    assert e.value.code == L.UNKNOWN_METHOD


# --------------------------------------------------------------------------- server


class FakeBackend:
    """In-memory stand-in for the node: canned answers and a few misbehaviours."""

    def __init__(self) -> None:
        self.hub = EventHub(buffer=8)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.gate = trio.Event()
        self.gate_entered = trio.Event()
        self.communities: dict[str, dict[str, Any]] = {
            COMMUNITY: {
                "id": COMMUNITY,
                "name": "Vegans",
                "criteria": ["taste", "ethics"],
                "joined": True,
            },
        }

    async def handle(self, method: str, params: dict[str, Any]) -> Any:
        self.calls.append((method, params))
        if method == "status":
            return {"node": "fake", "peers": 0, "author": HEX_A}
        if method == "records.get" and params["id"] == HEX_B:  # blocks until the gate opens
            self.gate_entered.set()
            await self.gate.wait()
            return {"id": HEX_B}
        if method in ("communities.get", "petitions.get"):
            if params["id"] not in self.communities:
                raise L.ApiError(L.NOT_FOUND, f"no community {params['id'][:8]}…")
            return self.communities[params["id"]]
        if method == "communities.list":
            return {"items": list(self.communities.values())}
        if method == "products.put" and params["name"] == "reject":
            raise Rejected(Reason.BAD_FIELD, "name: refused")
        if method == "peers.connect":
            raise RuntimeError("bug")
        if method == "feed":
            return {"items": [object()]}  # cannot be encoded
        return {"id": HEX_A}

    def subscribe(self) -> trio.abc.ReceiveChannel[tuple[str, Any]]:
        return self.hub.subscribe()

    def unsubscribe(self, channel: trio.abc.ReceiveChannel[tuple[str, Any]]) -> None:
        self.hub.unsubscribe(channel)


@pytest.fixture
async def served(short_dir: Path) -> AsyncIterator[tuple[Path, FakeBackend, ApiServer]]:
    backend = FakeBackend()
    path = short_dir / "api.sock"
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_api, path, backend)
        yield path, backend, server
        nursery.cancel_scope.cancel()


class RawClient:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = L.Connection(L.Role.CLIENT)

    @classmethod
    async def open(cls, path: Path) -> RawClient:
        return cls(await trio.open_unix_socket(str(path)))

    async def send(self, request_id: int, method: str, **params: Any) -> None:
        await self.stream.send_all(L.encode_request(request_id, method, params))

    async def receive(self) -> L.Message | None:
        """The next message, or None at end of stream."""
        with trio.fail_after(5):
            while (msg := self.conn.next_message()) is None:
                data = await self.stream.receive_some()
                if not data:
                    return None
                self.conn.receive_data(data)
        return msg

    async def call(self, request_id: int, method: str, **params: Any) -> L.Message | None:
        await self.send(request_id, method, **params)
        return await self.receive()


async def test_request_response(served: tuple[Path, FakeBackend, ApiServer]) -> None:
    path, _, server = served
    c = await RawClient.open(path)
    assert await c.call(1, "status") == L.Response(id=1, result=backend_status())
    assert server.stats.requests == 1 and server.stats.connections == 1


def backend_status() -> dict[str, Any]:
    return {"node": "fake", "peers": 0, "author": HEX_A}


async def test_errors_are_answered_and_counted(
    served: tuple[Path, FakeBackend, ApiServer],
) -> None:
    path, _, server = served
    c = await RawClient.open(path)

    async def code_of(method: str, **params: Any) -> tuple[str, str | None]:
        msg = await c.call(9, method, **params)
        assert isinstance(msg, L.ErrorReply), msg
        return msg.code, msg.reason

    assert await code_of("nope") == (L.UNKNOWN_METHOD, None)
    assert await code_of("communities.get", id="zz") == (L.BAD_PARAMS, None)
    assert await code_of("communities.get", id=HEX_B) == (L.NOT_FOUND, None)
    assert await code_of("products.put", community=COMMUNITY, gtin=GTIN, name="reject") == (
        L.REJECTED,
        "bad_field",
    )
    assert await code_of("peers.connect", addr="/ip4/1.2.3.4") == (L.INTERNAL, None)
    assert await code_of("feed", community=COMMUNITY) == (L.INTERNAL, None)
    await c.stream.send_all(frame_of({"v": 1, "id": 3, "method": "status", "params": 1}))
    reply = await c.receive()
    assert isinstance(reply, L.ErrorReply) and (reply.id, reply.code) == (3, L.BAD_REQUEST)
    assert await c.call(4, "status") == L.Response(id=4, result=backend_status())
    assert server.stats.errors == {
        L.UNKNOWN_METHOD: 1, L.BAD_PARAMS: 1, L.NOT_FOUND: 1, L.REJECTED: 1, L.INTERNAL: 2,
        L.BAD_REQUEST: 1,
    }  # fmt: skip
    assert server.stats.open_connections == 1


async def test_concurrent_requests(served: tuple[Path, FakeBackend, ApiServer]) -> None:
    path, backend, _ = served
    c = await RawClient.open(path)
    await c.send(1, "records.get", id=HEX_B)  # blocks in the backend
    with trio.fail_after(5):
        await backend.gate_entered.wait()
    await c.send(1, "status")  # same id while in flight: refused
    dup = await c.receive()
    assert isinstance(dup, L.ErrorReply) and dup.code == L.BAD_REQUEST
    assert await c.call(2, "status") == L.Response(id=2, result=backend_status())
    backend.gate.set()
    assert await c.receive() == L.Response(id=1, result={"id": HEX_B})


async def test_events_after_subscribe(served: tuple[Path, FakeBackend, ApiServer]) -> None:
    path, backend, _ = served
    c = await RawClient.open(path)
    backend.hub.publish("record", "before")  # no subscriber yet: not delivered
    assert await c.call(1, "subscribe", events=["record", "sync"]) == L.Response(
        id=1, result={"events": ["record", "sync"]}
    )
    backend.hub.publish("peer", "filtered out")
    backend.hub.publish("record", {"n": 1})
    backend.hub.publish("sync", {"n": 2})
    assert await c.receive() == L.Event(event="record", data={"n": 1})
    assert await c.receive() == L.Event(event="sync", data={"n": 2})
    assert await c.call(2, "subscribe", events=["peer"]) == L.Response(
        id=2, result={"events": ["peer"]}
    )
    backend.hub.publish("record", 3)
    backend.hub.publish("peer", 4)
    assert await c.receive() == L.Event(event="peer", data=4)
    assert backend.hub.statistics().subscribers == 1
    await c.stream.aclose()
    with trio.fail_after(5):
        while backend.hub.statistics().subscribers:  # unsubscribed when the client left
            await trio.sleep(0)


async def test_event_hub_overflow_marker_never_blocks() -> None:
    hub = EventHub(buffer=2)
    ch = hub.subscribe()
    for i in range(5):
        hub.publish("record", i)
    got = [ch.receive_nowait() for _ in range(3)]
    assert got == [("record", 0), ("record", 1), (L.EVENT_OVERFLOW, None)]
    with pytest.raises(trio.WouldBlock):
        ch.receive_nowait()
    hub.publish("record", 5)
    assert ch.receive_nowait() == ("record", 5)
    assert hub.statistics().dropped == 3
    hub.unsubscribe(ch)
    hub.publish("record", 6)  # no subscribers: fine
    ch2 = hub.subscribe()
    await ch2.aclose()
    hub.publish("record", 7)  # a closed receiver is forgotten
    assert hub.statistics().subscribers == 0


async def test_garbage_from_one_client_does_not_affect_another(
    served: tuple[Path, FakeBackend, ApiServer],
) -> None:
    path, _, server = served
    good = await RawClient.open(path)
    assert isinstance(await good.call(1, "status"), L.Response)
    for garbage in (
        b"\x00\x00\x00\x05hello",  # not msgpack
        struct.pack(">I", L.MAX_FRAME + 1),  # oversize
        frame_of([1, 2, 3]),  # not a map
        frame_of({"v": 1, "id": "x", "method": "status", "params": {}}),  # no usable id
    ):
        bad = await RawClient.open(path)
        await bad.stream.send_all(garbage)
        assert await bad.receive() is None  # the server hung up on it
    truncated = await RawClient.open(path)
    await truncated.stream.send_all(L.encode_request(1, "status")[:-1])
    await truncated.stream.aclose()
    assert await good.call(2, "status") == L.Response(id=2, result=backend_status())
    assert server.stats.closed_bad_input >= 4


async def test_socket_mode_and_removal(short_dir: Path) -> None:
    path = short_dir / "api.sock"
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_api, path, FakeBackend())
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
        with pytest.raises(SocketInUse, match="already running"):
            await serve_api(path, FakeBackend())
        nursery.cancel_scope.cancel()
    assert not path.exists()


async def test_stale_socket_replaced(short_dir: Path) -> None:
    path = short_dir / "api.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))  # bound, never listening: what a crashed node leaves behind
    s.close()
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_api, path, FakeBackend())
        c = await RawClient.open(path)
        assert isinstance(await c.call(1, "status"), L.Response)
        nursery.cancel_scope.cancel()


async def test_not_a_socket_refused(short_dir: Path) -> None:
    path = short_dir / "api.sock"
    path.write_text("x")
    with pytest.raises(SocketInUse, match="not a socket"):
        await serve_api(path, FakeBackend())


# --------------------------------------------------------------------------- clients


async def test_blocking_client(served: tuple[Path, FakeBackend, ApiServer]) -> None:
    path, _, _ = served

    def work() -> None:
        with ApiClient(path, timeout=5) as c:
            assert c.call("status") == backend_status()
            with pytest.raises(L.ApiError) as e:
                c.call("communities.get", id=HEX_B)
            assert e.value.code == L.NOT_FOUND
            assert c.call("vouch", subject=HEX_A, trust=True, community=None) == {"id": HEX_A}

    await trio.to_thread.run_sync(work)


def test_blocking_client_errors(short_dir: Path) -> None:
    c = ApiClient(short_dir / "api.sock")
    with pytest.raises(NodeNotRunning, match=f"data directory {short_dir}; start one with"):
        c.call("status")
    with pytest.raises(L.ApiError) as e:  # checked locally, before connecting
        c.call("communities.get", id="xyz")
    assert e.value.code == L.BAD_PARAMS


async def test_asyncio_client(served: tuple[Path, FakeBackend, ApiServer]) -> None:
    path, backend, _ = served
    token = trio.lowlevel.current_trio_token()

    async def scenario() -> None:
        async with asyncio.timeout(10):
            c = tui_client.ApiClient(path)
            await c.connect()
            slow = asyncio.create_task(c.call("records.get", id=HEX_B))
            assert await c.call("status") == backend_status()  # concurrent with `slow`
            with pytest.raises(L.ApiError) as e:
                await c.call("communities.get", id=HEX_B)
            assert e.value.code == L.NOT_FOUND
            assert await c.call("subscribe", events=["record"]) == {"events": ["record"]}
            trio.from_thread.run_sync(backend.hub.publish, "record", {"n": 1}, trio_token=token)
            events = c.events()
            assert await anext(events) == L.Event(event="record", data={"n": 1})
            trio.from_thread.run_sync(backend.gate.set, trio_token=token)
            assert await slow == {"id": HEX_B}
            await c.close()
            with pytest.raises(StopAsyncIteration):
                await anext(events)  # a clean close ends the iterator quietly
            with pytest.raises(tui_client.ConnectionLost):
                await c.call("status")

            missing = tui_client.ApiClient(path.with_name("nope.sock"))
            with pytest.raises(tui_client.NodeNotRunning):
                await missing.connect()

    await trio.to_thread.run_sync(asyncio.run, scenario())


async def test_asyncio_client_connection_lost(short_dir: Path) -> None:
    path = short_dir / "api.sock"
    backend = FakeBackend()
    token = trio.lowlevel.current_trio_token()
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_api, path, backend)
        server_scope = nursery.cancel_scope

        async def scenario() -> None:
            async with asyncio.timeout(10):
                c = tui_client.ApiClient(path)
                await c.connect()
                await c.call("subscribe", events=["record"])
                pending = asyncio.create_task(c.call("records.get", id=HEX_B))
                await asyncio.to_thread(  # wait without blocking this loop
                    trio.from_thread.run, backend.gate_entered.wait, trio_token=token
                )
                trio.from_thread.run_sync(server_scope.cancel, trio_token=token)
                with pytest.raises(tui_client.ConnectionLost):
                    await pending
                with pytest.raises(tui_client.ConnectionLost):
                    async for _ in c.events():
                        pass
                await c.close()

        await trio.to_thread.run_sync(asyncio.run, scenario())


# --------------------------------------------------------------------------- CLI


def test_parse_scores_and_deadline() -> None:
    assert parse_scores(["Ethics=5", "taste=3"], ["taste", "ethics"]) == [3, 5]
    for pairs, match in [
        (["price=3", "taste=1", "ethics=1"], "unknown criterion 'price'; this community rates"),
        (["taste=3"], "missing score for 'ethics'"),
        (["taste=6", "ethics=1"], "out of range: from 1 to 5"),
        (["taste=x", "ethics=1"], "whole number"),
        (["taste", "ethics=1"], "expected CRITERION=N"),
        (["taste=1", "taste=2", "ethics=1"], "scored twice"),
    ]:
        with pytest.raises(Exception, match=match):
            parse_scores(pairs, ["taste", "ethics"])
    now = int(dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    assert parse_deadline("2030-01-01", now) == now + 86_400_000 - 1
    with pytest.raises(Exception, match="must be in the future"):
        parse_deadline("2029-12-31", now)
    with pytest.raises(Exception, match="YYYY-MM-DD"):
        parse_deadline("tomorrow", now)


async def run_cli(served: tuple[Path, FakeBackend, ApiServer], *argv: str) -> int:
    path = served[0]
    return await trio.to_thread.run_sync(main, ["--data-dir", str(path.parent), *argv])


async def test_cli_status_and_json(
    served: tuple[Path, FakeBackend, ApiServer], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli(served, "status") == 0
    out = capsys.readouterr().out
    assert "node    fake" in out and HEX_A in out
    assert await run_cli(served, "status", "--json") == 0
    assert json.loads(capsys.readouterr().out) == backend_status()
    assert await run_cli(served, "community", "list") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["ID", "NAME", "JOINED", "CRITERIA"]
    assert "Vegans" in out and "taste, ethics" in out


async def test_cli_does_not_pass_terminal_commands_through(
    served: tuple[Path, FakeBackend, ApiServer], capsys: pytest.CaptureFixture[str]
) -> None:
    _, backend, _ = served
    backend.communities[COMMUNITY]["name"] = "Veg\x1b]0;pwned\x07ans\u202e"
    assert await run_cli(served, "community", "list") == 0
    out = capsys.readouterr().out
    assert "Veg\ufffd]0;pwned\ufffdans\ufffd" in out and "\x1b" not in out
    assert await run_cli(served, "community", "list", "--json") == 0  # not a terminal: as sent
    assert json.loads(capsys.readouterr().out)["items"][0]["name"] == "Veg\x1b]0;pwned\x07ans\u202e"


async def test_cli_rate_maps_criteria(
    served: tuple[Path, FakeBackend, ApiServer], capsys: pytest.CaptureFixture[str]
) -> None:
    _, backend, _ = served
    argv = ["rate", GTIN, "--community", COMMUNITY, "--score", "ethics=5", "--score", "taste=2"]
    assert await run_cli(served, *argv, "--text", "good") == 0
    assert backend.calls[-1] == (
        "ratings.put",
        {"community": COMMUNITY, "gtin": GTIN, "scores": [2, 5], "text": "good"},
    )
    assert f"Rated: {HEX_A}" in capsys.readouterr().out
    n = len(backend.calls)
    assert await run_cli(served, *argv[:-2], "--score", "price=3") == 1
    err = capsys.readouterr().err
    assert err.startswith("cercle: error: unknown criterion 'price'") and err.count("\n") == 1
    assert await run_cli(served, *argv[:-1], "taste=9") == 1
    assert "out of range: from 1 to 5" in capsys.readouterr().err
    assert [m for m, _ in backend.calls[n:]] == ["communities.get", "communities.get"]


async def test_cli_commands_build_the_right_calls(
    served: tuple[Path, FakeBackend, ApiServer], capsys: pytest.CaptureFixture[str]
) -> None:
    _, backend, _ = served
    cases: list[tuple[list[str], tuple[str, dict[str, Any]]]] = [
        (["community", "create", "Vegans", "--value", "vegan", "--criterion", "taste"],
         ("communities.create", {"name": "Vegans", "description": "", "values": ["vegan"],
                                 "criteria": ["taste"], "pow_bits": 0})),
        (["community", "join", COMMUNITY], ("communities.join", {"id": COMMUNITY})),
        (["product", "add", GTIN, "--community", COMMUNITY, "--name", "Oat", "--label", "bio"],
         ("products.put", {"community": COMMUNITY, "gtin": GTIN, "name": "Oat", "brand": "",
                           "labels": ["bio"]})),
        (["petition", "create", "--community", COMMUNITY, "--title", "T", "--text", "X",
          "--goal", "10", "--deadline", "2099-01-01"],
         ("petitions.create", {"community": COMMUNITY, "title": "T", "text": "X", "target": "",
                               "goal": 10, "deadline_ms": 4070995199999})),
        (["petition", "sign", HEX_B], ("petitions.sign", {"id": HEX_B})),
        (["retract", HEX_B], ("records.retract", {"id": HEX_B})),
        (["vouch", HEX_B, "--distrust", "--community", COMMUNITY],
         ("vouch", {"subject": HEX_B, "trust": False, "community": COMMUNITY})),
        (["vouch", HEX_B], ("vouch", {"subject": HEX_B, "trust": True})),
        (["peers"], ("peers.list", {})),
    ]  # fmt: skip
    for argv, call in cases:
        assert await run_cli(served, *argv) == 0, argv
        assert backend.calls[-1] == call
    capsys.readouterr()
    assert await run_cli(served, "petition", "show", COMMUNITY, "--json") == 0
    assert json.loads(capsys.readouterr().out)["name"] == "Vegans"


async def test_cli_errors_are_one_line(
    served: tuple[Path, FakeBackend, ApiServer], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli(served, "community", "join", HEX_B[:-1]) == 1
    assert capsys.readouterr().err.startswith("cercle: error: id: an id or key is 64 hexadecimal")
    assert await run_cli(served, "petition", "show", HEX_B) == 1
    assert capsys.readouterr().err == f"cercle: error: no community {HEX_B[:8]}… [not_found]\n"
    argv = ["product", "add", GTIN, "--community", COMMUNITY, "--name", "reject"]
    assert await run_cli(served, *argv) == 1
    assert capsys.readouterr().err == "cercle: error: record rejected (bad_field): name: refused\n"
    assert (
        await run_cli(served, "product", "add", "123", "--community", COMMUNITY, "--name", "x") == 1
    )
    assert "a GTIN has 8, 12, 13 or 14 digits, not 3" in capsys.readouterr().err


def test_cli_no_node_running(short_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(short_dir), "status", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"cercle: error: no Cercle node is running for data directory {short_dir}; "
        "start one with `cercle node`\n"
    )


def test_tui_client_does_not_import_node_or_storage() -> None:
    source = Path(tui_client.__file__).read_text()
    assert "cercle.node" not in source.replace("``cercle.node``", "")
    assert "cercle.storage" not in source.replace("``cercle.storage``", "")
    assert node_api.ApiBackend  # the interface the node implements
