"""The TUI's asyncio client of the local API.

Textual runs on asyncio, so the TUI cannot use the node's trio code; it talks to
the node only through the socket, using the shared sans-IO codec in
:mod:`cercle.protocol.localapi` (this module must not import ``cercle.node`` or
``cercle.storage``). One reader task routes responses to the waiting calls by id
(so calls may run concurrently) and pushed events to :meth:`ApiClient.events`.
If the node goes away every pending call and the events iterator raise
:class:`ConnectionLost`, which the TUI shows as "node disconnected".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

from cercle.protocol.errors import CercleError, RemoteProtocolError
from cercle.protocol.localapi import (
    EVENT_OVERFLOW,
    MAX_FRAME,
    MAX_ID,
    Connection,
    ErrorReply,
    Event,
    Response,
    Role,
    encode_request,
)

EVENT_QUEUE = 1024  # events kept for a TUI that does not read them; then "overflow"


class ConnectionLost(CercleError):
    """The connection to the node is closed or broken (or was never made)."""


class NodeNotRunning(ConnectionLost):
    """Nothing answers on the API socket."""


_CLOSED = object()  # sentinel in the event queue: the connection ended


class ApiClient:
    """``async with ApiClient(path) as c: await c.call("status")``."""

    def __init__(self, path: Path, *, max_frame: int = MAX_FRAME) -> None:
        self.path = Path(path)
        self.max_frame = max_frame
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._events: asyncio.Queue[Event | object] = asyncio.Queue()
        self._overflowed = False
        self._next_id = 1
        self._lost: ConnectionLost | None = None
        self._closing = False

    async def connect(self) -> None:
        if self._writer is not None:
            return
        try:
            self._reader, self._writer = await asyncio.open_unix_connection(
                str(self.path), limit=self.max_frame + 4
            )
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            raise NodeNotRunning(
                f"no Cercle node is running for data directory {self.path.parent}; "
                "start one with `cercle node`"
            ) from None
        except OSError as e:
            raise ConnectionLost(f"cannot connect to the node at {self.path}: {e}") from None
        self._task = asyncio.create_task(self._read_loop())

    async def __aenter__(self) -> ApiClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection; pending calls and the events iterator end with ConnectionLost."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._fail(ConnectionLost("the connection to the node was closed"))

    async def call(self, method: str, **params: Any) -> Any:
        """Call ``method``; return its result, raise ApiError or ConnectionLost."""
        if self._lost is not None:
            raise self._lost
        if self._writer is None:
            raise ConnectionLost("not connected; call connect() first")
        request_id = self._next_id
        self._next_id = self._next_id % MAX_ID + 1
        params = {k: v for k, v in params.items() if v is not None}
        frame = encode_request(request_id, method, params, max_frame=self.max_frame)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._writer.write(frame)
            await self._writer.drain()
            return await future
        except (ConnectionError, OSError) as e:
            raise ConnectionLost(f"the connection to the node was lost: {e}") from None
        finally:
            self._pending.pop(request_id, None)

    async def events(self) -> AsyncIterator[Event]:
        """Pushed events (after a ``subscribe`` call) until the connection ends.

        Ends quietly after :meth:`close`; raises ConnectionLost if the node went away.
        """
        while True:
            item = await self._events.get()
            if item is _CLOSED:
                self._events.put_nowait(_CLOSED)  # for any other iterator
                if self._lost is not None and not self._closing:
                    raise self._lost
                return
            assert isinstance(item, Event)
            yield item

    def _push_event(self, event: Event) -> None:
        if self._events.qsize() < EVENT_QUEUE:
            self._events.put_nowait(event)
            self._overflowed = False
        elif not self._overflowed:
            self._events.put_nowait(Event(event=EVENT_OVERFLOW, data=None))
            self._overflowed = True

    async def _read_loop(self) -> None:
        assert self._reader is not None
        conn = Connection(Role.CLIENT, max_frame=self.max_frame)
        try:
            while True:
                msg = conn.next_message()
                if msg is None:
                    data = await self._reader.read(64 * 1024)
                    conn.receive_data(data)
                    if not data and conn.buffered == 0:
                        raise ConnectionLost("the node closed the connection")
                    continue
                if isinstance(msg, Event):
                    self._push_event(msg)
                    continue
                future = self._pending.get(msg.id)
                if future is None or future.done():
                    continue  # an answer to a call that was cancelled
                if isinstance(msg, ErrorReply):
                    future.set_exception(msg.to_exception())
                else:
                    assert isinstance(msg, Response)
                    future.set_result(msg.result)
        except ConnectionLost as e:
            self._fail(e)
        except RemoteProtocolError as e:
            self._fail(ConnectionLost(f"the node sent bad data: {e}"))
        except OSError as e:
            self._fail(ConnectionLost(f"the connection to the node was lost: {e}"))

    def _fail(self, error: ConnectionLost) -> None:
        if self._lost is None:
            self._lost = error
            self._events.put_nowait(_CLOSED)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self._lost)
        self._pending.clear()
