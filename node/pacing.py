"""Rate limits, sans-IO: the caller passes the time, so they are tested exactly.

Two shapes, for two jobs:

* :class:`SlidingWindow` — at most ``limit`` events in *any* window of ``window``
  seconds. ``net.py`` paces everything a node sends on a topic with it, because it
  is the exact rule py-libp2p's receivers enforce (10 messages per forwarder, topic
  and sliding second); a token bucket of the same rate would allow twice the burst.
* :class:`TokenBucket` — a rate with a burst, per key: a relay's per-peer limit on
  the records it accepts by gossip (``max_records_per_s``);
* :class:`Budget` — several token buckets per key spent together (messages, records,
  bytes): what the gossip validator allows each forwarding peer and each publishing
  origin (``gossip.py``), in place of py-libp2p's own per-message spam limit.

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
    """Per-key rate limit: ``rate`` units/s, with a burst of ``burst`` (default: 1 s's worth).

    Keys that have been idle long enough to be full again are forgotten now and then,
    so a stream of new keys (peers come and go) does not grow the table for ever.
    """

    PRUNE_EVERY = 4096  # spends between two passes over the table

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else rate
        self._tokens: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._spends = 0

    def _level(self, key: str, now: float) -> float:
        tokens, last = self._tokens.get(key, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - last) * self.rate)

    def can(self, key: str, now: float, cost: float = 1.0) -> bool:
        """Would ``cost`` units for ``key`` fit now? (Nothing is taken.)"""
        return self._level(key, now) >= cost

    def take(self, key: str, now: float, cost: float = 1.0) -> None:
        """Take ``cost`` units for ``key`` (may go below zero: a debt to pay back first)."""
        self._tokens[key] = (self._level(key, now) - cost, now)
        self._spends += 1
        if self._spends % self.PRUNE_EVERY == 0:
            self._prune(now)

    def allow(self, key: str, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` units for ``key`` if they fit; False (and nothing taken) if not."""
        if not self.can(key, now, cost):
            self._tokens[key] = (self._level(key, now), now)
            return False
        self.take(key, now, cost)
        return True

    def _prune(self, now: float) -> None:
        full = [k for k in self._tokens if self._level(k, now) >= self.burst]
        for k in full:
            del self._tokens[k]

    def __len__(self) -> int:
        return len(self._tokens)


class Budget:
    """Several token buckets spent together: messages, records and bytes of one key.

    :meth:`spend` charges all of them or none, and names the first one exhausted,
    so a sender that floods in any of the three is stopped, and counted by which.
    """

    def __init__(self, **limits: tuple[float, float]) -> None:
        """``name=(rate per second, burst)`` for each quantity."""
        self.buckets = {name: TokenBucket(rate, burst) for name, (rate, burst) in limits.items()}

    def spend(self, key: str, now: float, **amounts: float) -> str | None:
        """Charge ``amounts`` to ``key``; None if they fit, else the exhausted quantity."""
        for name, amount in amounts.items():
            if not self.buckets[name].can(key, now, amount):
                return name
        for name, amount in amounts.items():
            self.buckets[name].take(key, now, amount)
        return None
