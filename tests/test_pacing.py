"""The rate limits, pure: time is passed in, so every case is exact."""

from __future__ import annotations

import pytest

from cercle.node.pacing import SlidingWindow, TokenBucket


def test_sliding_window_never_exceeds_limit() -> None:
    w = SlidingWindow(8, 1.0)
    now, times = 0.0, []
    for _ in range(50):
        d = w.delay(now)
        now += d
        assert w.delay(now) == 0.0
        w.take(now)
        times.append(now)
    for t in times:  # like py-libp2p's check: count in (t - 1.0, t]
        assert sum(1 for u in times if t - 1.0 < u <= t) <= 8
    assert times[7] == 0.0 and times[8] == pytest.approx(1.0)
    assert times[-1] == pytest.approx(6.0)  # 50 messages: 8 now, then 8 per second


def test_token_bucket_allows_a_second_of_burst_then_the_rate_per_peer() -> None:
    bucket = TokenBucket(5.0)
    assert [bucket.allow("p", 0.0) for _ in range(6)] == [True] * 5 + [False]
    assert bucket.allow("q", 0.0)  # per peer
    assert not bucket.allow("p", 0.1)  # 0.5 token back: not enough
    assert bucket.allow("p", 0.2)  # one token back after 1/rate s
    assert not bucket.allow("p", 0.2)
    assert [bucket.allow("p", 10.0) for _ in range(6)] == [True] * 5 + [False]  # capped at 5


def test_sliding_window_refuses_a_bad_configuration() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(0, 1.0)
    with pytest.raises(ValueError):
        SlidingWindow(8, 0)
