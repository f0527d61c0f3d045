"""The node's local API server: a Unix socket the author's CLI and TUI talk to.

Why a socket in the data directory, mode 0600: whoever can write to it acts as
the author (it signs records with the author key), so only the owner may open it.
The wire format is :mod:`cercle.protocol.localapi` (spec: ``specs/local-api.md``);
this module only moves its bytes with trio and routes requests to an
:class:`ApiBackend`, which the node implements. Keeping the node behind this
small interface lets the server be tested against a fake in-memory backend.

Robustness rule: nothing a client sends can crash the server or disturb another
connection. Bad requests whose id is known get an error answer; anything else
(garbage, an oversize frame) closes that one connection. Every error is counted
in :attr:`ApiServer.stats`. Events reach clients through :class:`EventHub`,
which never blocks the node: a slow subscriber loses events and is told so.
"""

from __future__ import annotations

import errno
import logging
import os
import socket as stdlib_socket
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import trio

from cercle.protocol.errors import CercleError, LocalProtocolError, Rejected
from cercle.protocol.localapi import (
    BAD_REQUEST,
    EVENT_OVERFLOW,
    INTERNAL,
    MAX_FRAME,
    REJECTED,
    STORAGE_FULL,
    ApiError,
    Connection,
    MessageError,
    Request,
    Role,
    check_params,
    encode_error,
    encode_event,
    encode_response,
)
from cercle.storage import StorageFull

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 32  # concurrent requests per connection; the reader waits beyond this
EVENT_BUFFER = 256  # events buffered per subscriber before it overflows
READ_SIZE = 64 * 1024

EventChannel = trio.abc.ReceiveChannel[tuple[str, Any]]


class ApiBackend(Protocol):
    """What the node provides to the API server."""

    async def handle(self, method: str, params: dict[str, Any]) -> Any:
        """Run one method (params already checked by ``check_params``); return its result.

        Raise :class:`ApiError` for errors the user can act on; a
        :class:`~cercle.protocol.errors.Rejected` becomes a ``rejected`` error with
        its reason; any other exception is a bug, answered with ``internal``.
        ``subscribe`` never reaches here: the server handles it.
        """
        ...

    def subscribe(self) -> EventChannel:
        """A new channel of (event name, data) pairs, e.g. from :meth:`EventHub.subscribe`."""
        ...

    def unsubscribe(self, channel: EventChannel) -> None:
        """Forget a channel returned by :meth:`subscribe` (its connection closed)."""
        ...


class SocketInUse(CercleError):
    """Another process answers on the API socket, or the path is not a socket."""


# --------------------------------------------------------------------------- events


@dataclass(slots=True)
class _Subscriber:
    send: trio.MemorySendChannel[tuple[str, Any]]
    overflowed: bool = False
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class HubStatistics:
    subscribers: int
    published: int
    dropped: int


class EventHub:
    """Fan-out of node events to API subscribers, never blocking the publisher.

    Each subscriber has a buffer of ``buffer`` events. When it is full, the next
    event is replaced by one ``("overflow", None)`` marker (kept in a reserved
    slot) and later events are dropped until the subscriber catches up, so a
    client knows it missed something and should re-read what it shows.
    """

    def __init__(self, buffer: int = EVENT_BUFFER) -> None:
        if buffer < 1:
            raise ValueError("buffer must be at least 1")
        self._buffer = buffer
        self._subs: dict[object, _Subscriber] = {}  # keyed by the receive channel
        self._published = 0
        self._dropped = 0

    def subscribe(self) -> EventChannel:
        send, receive = trio.open_memory_channel[tuple[str, Any]](self._buffer + 1)
        self._subs[receive] = _Subscriber(send)
        return receive

    def unsubscribe(self, channel: EventChannel) -> None:
        sub = self._subs.pop(channel, None)
        if sub is not None:
            sub.send.close()

    def publish(self, event: str, data: Any = None) -> None:
        self._published += 1
        for receive, sub in list(self._subs.items()):
            try:
                used = sub.send.statistics().current_buffer_used
                if used < self._buffer:
                    sub.send.send_nowait((event, data))
                    sub.overflowed = False
                elif not sub.overflowed:
                    sub.send.send_nowait((EVENT_OVERFLOW, None))
                    sub.overflowed = True
                    sub.dropped += 1
                    self._dropped += 1
                else:
                    sub.dropped += 1
                    self._dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.WouldBlock):
                # The receiver is gone: forget it.
                self._subs.pop(receive, None)
                sub.send.close()

    def statistics(self) -> HubStatistics:
        return HubStatistics(len(self._subs), self._published, self._dropped)


# --------------------------------------------------------------------------- server


@dataclass
class ApiStats:
    """Counters for metrics and tests; ``errors`` is keyed by error code."""

    connections: int = 0
    open_connections: int = 0
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    closed_bad_input: int = 0  # connections closed because their bytes made no sense


class ApiServer:
    """Serves one :class:`ApiBackend` on a Unix socket; see :func:`serve_api`."""

    def __init__(self, backend: ApiBackend, *, max_frame: int = MAX_FRAME) -> None:
        self.backend = backend
        self.max_frame = max_frame
        self.stats = ApiStats()

    async def serve(
        self, path: Path, *, task_status: TaskStatus[ApiServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        sock = await _bind_unix(path)
        listener = trio.SocketListener(sock)
        ino = os.stat(path).st_ino
        try:
            async with trio.open_nursery() as nursery:
                task_status.started(self)
                await trio.serve_listeners(self._connection, [listener], handler_nursery=nursery)
        finally:
            with trio.CancelScope(shield=True):
                await listener.aclose()
            _unlink_if_ours(path, ino)

    async def _connection(self, stream: trio.SocketStream) -> None:
        self.stats.connections += 1
        self.stats.open_connections += 1
        try:
            await _ConnectionHandler(self, stream).run()
        except Exception:  # a bug in here must not take the server down
            log.exception("local API connection failed")
            self.stats.errors[INTERNAL] += 1
        finally:
            self.stats.open_connections -= 1
            with trio.CancelScope(shield=True):
                await stream.aclose()


async def serve_api(
    path: Path,
    backend: ApiBackend,
    *,
    max_frame: int = MAX_FRAME,
    task_status: TaskStatus[ApiServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the local API on ``path`` until cancelled; the socket is removed on exit.

    ``await nursery.start(serve_api, path, backend)`` returns the :class:`ApiServer`
    (for its ``stats``) once the socket accepts connections. Raises
    :class:`SocketInUse` if another node is listening on ``path``.
    """
    await ApiServer(backend, max_frame=max_frame).serve(path, task_status=task_status)


class _ConnectionHandler:
    def __init__(self, server: ApiServer, stream: trio.SocketStream) -> None:
        self.server = server
        self.stats = server.stats
        self.stream = stream
        self.conn = Connection(Role.SERVER, max_frame=server.max_frame)
        self.send_lock = trio.Lock()
        self.limiter = trio.CapacityLimiter(MAX_IN_FLIGHT)
        self.in_flight: set[int] = set()
        self.events: EventChannel | None = None
        self.new_events: EventChannel | None = None  # subscribed, forwarder not started yet
        self.event_filter: frozenset[str] = frozenset()
        self.closed = False

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                await self._read_loop()
                nursery.cancel_scope.cancel()  # the client left: drop its pending work
        finally:
            if self.events is not None:
                self.server.backend.unsubscribe(self.events)

    async def _read_loop(self) -> None:
        while True:
            try:
                msg = self.conn.next_message()
            except MessageError as e:
                self.stats.errors[BAD_REQUEST] += 1
                if e.request_id is None or e.fatal:
                    self.stats.closed_bad_input += 1
                    log.info("local API: closing a connection: %s", e)
                    return
                await self._send(encode_error(e.request_id, BAD_REQUEST, str(e)))
                continue
            if msg is None:
                try:
                    data = await self.stream.receive_some(READ_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                self.conn.receive_data(data)
                if not data and self.conn.buffered == 0:
                    return
                continue
            assert isinstance(msg, Request)  # Role.SERVER accepts nothing else
            self.stats.requests += 1
            if msg.id in self.in_flight:
                self.stats.errors[BAD_REQUEST] += 1
                await self._send(
                    encode_error(msg.id, BAD_REQUEST, f"request id {msg.id} is already in use")
                )
                continue
            await self.limiter.acquire_on_behalf_of(msg.id)
            self.in_flight.add(msg.id)
            self.nursery.start_soon(self._request, msg)

    async def _request(self, req: Request) -> None:
        try:
            data = await self._answer(req)
            await self._send(data)
            if req.method == "subscribe" and self.new_events is not None:  # events follow it
                self.nursery.start_soon(self._forward_events, self.new_events)
                self.new_events = None
        finally:
            self.in_flight.discard(req.id)
            self.limiter.release_on_behalf_of(req.id)

    async def _answer(self, req: Request) -> bytes:
        max_frame = self.server.max_frame
        try:
            params = check_params(req.method, req.params)
            if req.method == "subscribe":
                result: Any = self._subscribe(params["events"])
            else:
                result = await self.server.backend.handle(req.method, params)
            return encode_response(req.id, result, max_frame=max_frame)
        except ApiError as e:
            self.stats.errors[e.code] += 1
            return encode_error(
                req.id, e.code, e.message, reason=e.reason, field=e.field, max_frame=max_frame
            )
        except Rejected as e:
            self.stats.errors[REJECTED] += 1
            reason = e.reason.value
            msg = f"record rejected ({reason}): {e.detail}" if e.detail else f"rejected: {reason}"
            return encode_error(req.id, REJECTED, msg, reason=reason, max_frame=max_frame)
        except StorageFull as e:  # not the record's fault: the node's disk has no room
            self.stats.errors[STORAGE_FULL] += 1
            return encode_error(req.id, STORAGE_FULL, str(e), max_frame=max_frame)
        except LocalProtocolError as e:  # the backend's result cannot be encoded
            log.error("local API: %s returned an unencodable result: %s", req.method, e)
            self.stats.errors[INTERNAL] += 1
            return encode_error(req.id, INTERNAL, f"internal error: {e}")
        except Exception:
            log.exception("local API: %s failed", req.method)
            self.stats.errors[INTERNAL] += 1
            return encode_error(req.id, INTERNAL, f"internal error in {req.method}; see node log")

    def _subscribe(self, events: list[str]) -> dict[str, Any]:
        self.event_filter = frozenset(events)
        if self.events is None and events:
            self.events = self.new_events = self.server.backend.subscribe()
        return {"events": sorted(self.event_filter)}

    async def _forward_events(self, channel: EventChannel) -> None:
        async for name, data in channel:
            if name != EVENT_OVERFLOW and name not in self.event_filter:
                continue
            try:
                frame = encode_event(name, data, max_frame=self.server.max_frame)
            except LocalProtocolError as e:
                log.error("local API: event %s cannot be encoded: %s", name, e)
                self.stats.errors[INTERNAL] += 1
                continue
            await self._send(frame)

    async def _send(self, data: bytes) -> None:
        if self.closed:
            return
        async with self.send_lock:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.closed = True  # the client left; the reader sees EOF and cleans up


# --------------------------------------------------------------------------- socket


def _probe(path: Path) -> bool:
    """True if something accepts connections on the Unix socket at ``path``."""
    s = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    try:
        s.settimeout(1.0)
        s.connect(str(path))
    except OSError:
        return False
    finally:
        s.close()
    return True


async def _bind_unix(path: Path) -> trio.socket.SocketType:
    """A listening socket at ``path``, mode 0600, replacing a stale socket file."""
    if len(os.fsencode(path)) >= 104:  # sun_path is 104 (BSD) or 108 (Linux) bytes
        raise SocketInUse(f"socket path too long for a Unix socket: {path}; use a shorter data dir")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise SocketInUse(f"{path} exists and is not a socket; move it away")
        if await trio.to_thread.run_sync(_probe, path):
            raise SocketInUse(
                f"another Cercle node is already running with this data directory ({path})"
            )
        log.info("local API: removing stale socket %s", path)
        path.unlink(missing_ok=True)
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    try:
        try:
            await sock.bind(str(path))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise SocketInUse(f"{path} was taken by another process just now") from e
            raise
        # Connecting needs a listening socket, so nobody can connect before this chmod.
        os.chmod(path, 0o600)
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    return sock


def _unlink_if_ours(path: Path, ino: int) -> None:
    try:
        if os.lstat(path).st_ino == ino:
            path.unlink()
    except OSError:
        pass
