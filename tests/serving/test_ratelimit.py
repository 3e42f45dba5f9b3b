"""Token-bucket rate limiter (serving/security/ratelimit.py)."""
from __future__ import annotations

from serving.security.ratelimit import RateLimiter


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_burst_then_refill():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)  # 1 token per second
    assert [limiter.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("k")
    assert 0.99 <= wait <= 1.0
    clock.t += 1.0
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("k") > 0


def test_keys_have_separate_buckets():
    limiter = RateLimiter(per_minute=60, burst=1, clock=Clock())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_zero_rate_disables():
    limiter = RateLimiter(per_minute=0, burst=1)
    assert not limiter.enabled
    assert all(limiter.acquire("k") == 0.0 for _ in range(100))


def test_retry_after_rounds_up_to_whole_seconds():
    assert RateLimiter.retry_after_header(0.2) == "1"
    assert RateLimiter.retry_after_header(1.01) == "2"
