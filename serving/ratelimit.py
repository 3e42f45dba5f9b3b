"""Per-key token buckets, in process.

Each key may burst up to ``burst`` requests and refills at ``per_minute / 60`` per second. With
several worker processes each keeps its own buckets, so the effective limit is per worker; put a
shared limiter (gateway, Redis) in front when that matters.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable, Hashable


class RateLimiter:
    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = per_minute / 60.0  # tokens per second
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, key: Hashable, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; 0.0 if allowed, otherwise the seconds until it would be."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self.rate

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """Retry-After takes whole seconds; round up so a client that obeys it succeeds."""
        return str(max(1, math.ceil(wait_s)))
