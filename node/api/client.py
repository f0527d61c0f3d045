"""A small blocking client of the local API, for the CLI.

The CLI makes one or two calls and exits, so a plain ``socket`` with a timeout is
simpler and faster to start than an event loop. Params are checked locally with
the same :func:`check_params` the server uses, so a typo is reported before any
round trip and with the same message. Events pushed by the node (if a caller
subscribes) are kept in :attr:`ApiClient.events` rather than lost.
"""

from __future__ import annotations

import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from cercle.protocol.errors import CercleError
from cercle.protocol.localapi import (
    MAX_FRAME,
    MAX_ID,
    UNAVAILABLE,
    ApiError,
    Connection,
    ErrorReply,
    Event,
    Response,
    Role,
    check_params,
    encode_request,
)

DEFAULT_TIMEOUT = 30.0


class NodeNotRunning(CercleError):
    """Nothing answers on the API socket of this data directory."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        super().__init__(
            f"no Cercle node is running for data directory {socket_path.parent}; "
            "start one with `cercle node`"
        )


class ApiClient:
    """``ApiClient(path).call("status")``; connects on first use, one call at a time."""

    def __init__(
        self, path: Path, *, timeout: float = DEFAULT_TIMEOUT, max_frame: int = MAX_FRAME
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.max_frame = max_frame
        self.events: list[Event] = []
        self._sock: socket.socket | None = None
        self._conn = Connection(Role.CLIENT, max_frame=max_frame)
        self._next_id = 1

    def connect(self) -> None:
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            sock.close()
            raise NodeNotRunning(self.path) from None
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def call(self, method: str, **params: Any) -> Any:
        """Call ``method``; return its result or raise :class:`ApiError`."""
        params = {k: v for k, v in params.items() if v is not None}
        check_params(method, params)
        self.connect()
        assert self._sock is not None
        request_id = self._next_id
        self._next_id = self._next_id % MAX_ID + 1
        try:
            self._sock.sendall(encode_request(request_id, method, params, max_frame=self.max_frame))
            while True:
                msg = self._conn.next_message()
                if msg is None:
                    data = self._sock.recv(64 * 1024)
                    if not data:
                        raise ApiError(UNAVAILABLE, "the node closed the connection")
                    self._conn.receive_data(data)
                elif isinstance(msg, Event):
                    self.events.append(msg)
                elif msg.id != request_id:
                    continue  # an answer to an earlier, abandoned call
                elif isinstance(msg, ErrorReply):
                    raise msg.to_exception()
                else:
                    assert isinstance(msg, Response)
                    return msg.result
        except TimeoutError:
            self.close()
            raise ApiError(
                UNAVAILABLE, f"the node did not answer {method} within {self.timeout:g} s"
            ) from None
        except (ConnectionError, BrokenPipeError):
            self.close()
            raise ApiError(UNAVAILABLE, "the connection to the node was lost") from None
