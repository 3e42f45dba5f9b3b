"""Per-key token buckets: in process (the default) or in Redis, shared by every replica.

Each key may burst up to ``burst`` requests and refills at ``per_minute / 60`` per second. The
in-memory :class:`RateLimiter` keeps its buckets per process, so with N worker processes or N pods
a key gets N times the limit. With ``TRIAGE_RATE_LIMIT_REDIS_URL`` set, :class:`RedisRateLimiter`
keeps the same bucket in Redis and every process and replica draws from it.

Why a 15-line Lua script over the redis client rather than the ``limits`` library: ``limits`` offers
fixed, moving and sliding windows but no token bucket, so moving to it would change what
``TRIAGE_RATE_LIMIT_BURST`` means and the Retry-After a client is told, depending on the backend.
The script is the same bucket as the in-memory one, evaluated atomically in one round trip (EVALSHA)
on Redis's clock (replicas' clocks may differ). When Redis does not answer within
``TRIAGE_RATE_LIMIT_REDIS_TIMEOUT_S`` the request is let through and counted
(``triage_ratelimit_backend_errors``): a rate limiter must not turn a Redis outage into a service
outage, and the check runs on the event loop's async client so a slow Redis never blocks other
requests.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Hashable

from classifier.errors import InvalidSetting

log = logging.getLogger("triage.ratelimit")


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

    async def acquire_async(self, key: Hashable, cost: float = 1.0) -> float:
        return self.acquire(key, cost)

    async def aclose(self) -> None:
        return None

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """Retry-After takes whole seconds; round up so a client that obeys it succeeds."""
        return str(max(1, math.ceil(wait_s)))


# KEYS[1]: the bucket; ARGV: rate (tokens/s), burst, cost. Returns the wait in seconds (0: allowed).
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class RedisRateLimiter:
    """The token bucket of :class:`RateLimiter`, kept in Redis (see the module docstring)."""

    def __init__(self, url: str, per_minute: float, burst: int, prefix: str = "triage:ratelimit:",
                 timeout_s: float = 0.25, on_error: Callable[[], None] | None = None):
        import redis.asyncio as aredis

        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.prefix = prefix
        self.on_error = on_error
        try:
            self._client = aredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        except ValueError as exc:
            raise InvalidSetting(f"TRIAGE_RATE_LIMIT_REDIS_URL is not a Redis URL ({exc}); "
                                 "expected redis://HOST:PORT/DB or rediss://…",
                                 details={"setting": "rate_limit_redis_url"}) from None
        self._script = self._client.register_script(_TOKEN_BUCKET)
        self._last_warning = 0.0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    async def acquire_async(self, key: Hashable, cost: float = 1.0) -> float:
        if not self.enabled:
            return 0.0
        try:
            wait = await self._script(keys=[f"{self.prefix}{key}"], args=[self.rate, self.burst, cost])
            return float(wait)
        except Exception as exc:  # noqa: BLE001 - redis errors, timeouts, a closed loop: fail open
            if self.on_error:
                self.on_error()
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                log.warning("rate limit not checked, Redis unavailable (%s); letting requests through", type(exc).__name__)
            return 0.0

    async def aclose(self) -> None:
        await self._client.aclose()

    retry_after_header = staticmethod(RateLimiter.retry_after_header)


def make_limiter(settings: Any, metrics: Any = None) -> RateLimiter | RedisRateLimiter:
    """The limiter the settings ask for: Redis when ``rate_limit_redis_url`` is set, else in memory."""
    if settings.rate_limit_redis_url:
        return RedisRateLimiter(
            settings.rate_limit_redis_url, settings.rate_limit_per_minute, settings.rate_limit_burst,
            prefix=settings.rate_limit_redis_prefix, timeout_s=settings.rate_limit_redis_timeout_s,
            on_error=metrics.ratelimit_backend_errors.inc if metrics is not None else None,
        )
    return RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
