"""Rate limit for wrong or revoked API keys, per client address.

A valid key is limited per key (serving/security/ratelimit.py); an invalid one has no key to charge, and
each costs a database lookup (only misses of the auth cache, but a guesser never repeats). So
failures are counted per client address in a token bucket, and an address over its budget is
refused (429 E528) before the lookup, until the bucket refills.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from serving.security.ratelimit import RateLimiter

MAX_ADDRESSES = 100_000  # memory bound: the blocked list is cleared when it grows past this


class InvalidKeyGuard:
    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic):
        self.limiter = RateLimiter(per_minute, max(1, int(per_minute)), clock=clock)
        self.clock = clock
        self._blocked: dict[str, float] = {}  # address -> monotonic time it may try again
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limiter.enabled

    def wait(self, address: str) -> float:
        """Seconds this address must wait before its next key is looked up (0: go ahead)."""
        with self._lock:
            until = self._blocked.get(address)
        return max(0.0, until - self.clock()) if until else 0.0

    def failed(self, address: str) -> float:
        """Count a failed attempt; returns the seconds to wait when the address is now over budget."""
        wait = self.limiter.acquire(address)
        if wait > 0:
            with self._lock:
                if len(self._blocked) >= MAX_ADDRESSES:
                    self._blocked.clear()
                self._blocked[address] = self.clock() + wait
        return wait
