"""Rate limits, sans-IO: the caller passes the time, so they are tested exactly.

Two shapes, for two jobs:

* :class:`SlidingWindow` — at most ``limit`` events in *any* window of ``window``
  seconds. ``net.py`` paces everything a node sends on a topic with it, because it
  is the exact rule py-libp2p's receivers enforce (10 messages per forwarder, topic
  and sliding second); a token bucket of the same rate would allow twice the burst.
* :class:`TokenBucket` — a rate with a one-second burst, per peer: a relay's
  per-peer limit on the gossip it accepts (``max_records_per_s``).

Where the numbers are set: ``net.Network`` (``publish_rate``, ``publish_window``)
for pacing, ``files/config.py`` (``[relay] max_records_per_s``) for relays.
"""

from __future__ import annotations

from collections import deque


class SlidingWindow:
    """At most ``limit`` events in any window of ``window`` seconds (sans-IO: pass now)."""

    __slots__ = ("_times", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def delay(self, now: float) -> float:
        """Seconds to wait before the next event may happen (0.0: now)."""
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.window - now

    def take(self, now: float) -> None:
        """Record an event at ``now`` (call only when ``delay(now) == 0``)."""
        self._times.append(now)


class TokenBucket:
    """Per-peer rate limit: ``rate`` events/s, with a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens: dict[str, tuple[float, float]] = {}  # peer -> (tokens, last time)

    def allow(self, peer: str, now: float) -> bool:
        """Take one token for ``peer`` at time ``now``; False if it has none left."""
        tokens, last = self._tokens.get(peer, (self.rate, now))
        tokens = min(self.rate, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._tokens[peer] = (tokens, now)
            return False
        self._tokens[peer] = (tokens - 1, now)
        return True
