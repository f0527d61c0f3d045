"""Bytes a peer has sent and a machine has not parsed yet (h11's ``ReceiveBuffer``).

Every sans-IO machine here is fed with ``receive_data(data)``, where ``b""`` means
the peer closed its side; feeding it after that is our caller's mistake. This is the
one implementation of that rule for the sync machine and the sync stream session.
"""

from __future__ import annotations

from .errors import LocalProtocolError


class ReceiveBuffer:
    __slots__ = ("closed", "data")

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False  # the peer has closed its side

    def feed(self, data: bytes) -> None:
        """Append ``data``; ``b""`` marks the end of the stream."""
        if self.closed:
            raise LocalProtocolError("receive_data() after end of stream")
        if data:
            self.data += data
        else:
            self.closed = True
