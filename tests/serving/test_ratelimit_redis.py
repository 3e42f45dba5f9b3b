"""Rate limits shared across replicas, against the real Redis on 127.0.0.1:6379.

Two apps (two "replicas") with the same TRIAGE_RATE_LIMIT_REDIS_URL share one bucket per key; a
Redis that does not answer lets requests through and counts it.
"""
from __future__ import annotations

import asyncio
import uuid

import pytest

from classifier.errors import InvalidSetting
from serving.http.metrics import Metrics
from serving.security.ratelimit import RateLimiter, RedisRateLimiter, make_limiter
from serving.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="module")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} unreachable: {type(exc).__name__}")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url):
    name = f"triage-test:{uuid.uuid4().hex[:10]}:"
    yield name
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)


def run(coro):
    return asyncio.run(coro)


def test_two_limiters_share_one_bucket(redis_url, prefix):
    async def scenario():
        a = RedisRateLimiter(redis_url, per_minute=60, burst=3, prefix=prefix)  # 1 token/s
        b = RedisRateLimiter(redis_url, per_minute=60, burst=3, prefix=prefix)
        try:
            waits = [await a.acquire_async("k"), await b.acquire_async("k"), await a.acquire_async("k")]
            over = await b.acquire_async("k")  # the 4th request, whichever replica gets it
            other_key = await b.acquire_async("other")
            await asyncio.sleep(1.05)
            refilled = await a.acquire_async("k")
            return waits, over, other_key, refilled
        finally:
            await a.aclose()
            await b.aclose()

    waits, over, other_key, refilled = run(scenario())
    assert waits == [0.0, 0.0, 0.0]
    assert 0.9 <= over <= 1.0  # same Retry-After arithmetic as the in-memory bucket
    assert other_key == 0.0 and refilled == 0.0


def test_redis_down_fails_open_and_is_counted():
    metrics = Metrics()
    settings = Settings(rate_limit_redis_url="redis://127.0.0.1:1/0", rate_limit_burst=1, rate_limit_redis_timeout_s=0.2)

    async def scenario():
        limiter = make_limiter(settings, metrics)
        try:
            return [await limiter.acquire_async("k") for _ in range(3)]
        finally:
            await limiter.aclose()

    assert run(scenario()) == [0.0, 0.0, 0.0]  # burst 1, yet all three pass: nobody could count them
    assert metrics.ratelimit_backend_errors._value.get() == 3


def test_settings_choose_the_backend(redis_url):
    assert isinstance(make_limiter(Settings()), RateLimiter)
    assert isinstance(make_limiter(Settings(rate_limit_redis_url=redis_url)), RedisRateLimiter)
    with pytest.raises(InvalidSetting) as info:
        make_limiter(Settings(rate_limit_redis_url="http://127.0.0.1:6379"))
    assert info.value.code == "E301" and "TRIAGE_RATE_LIMIT_REDIS_URL" in info.value.message


def test_two_replicas_share_the_limit_through_the_api(make_client, fake_classifier, redis_url, prefix, tmp_path):
    common = dict(rate_limit_redis_url=redis_url, rate_limit_redis_prefix=prefix, rate_limit_per_minute=6,
                  rate_limit_burst=2, database_url=f"sqlite:///{tmp_path / 'shared.db'}")
    first = make_client(fake_classifier, **common)
    second = make_client(fake_classifier, **common)
    # The same key on both replicas (they share the database, as replicas do).
    headers = first.headers("ingest")
    item = [{"id": "1", "text": "花呗怎么还款"}]
    codes = [first.client.post("/v1/classify", json={"items": item}, headers=headers).status_code,
             second.client.post("/v1/classify", json={"items": item}, headers=headers).status_code]
    third = second.client.post("/v1/classify", json={"items": item}, headers=headers)
    assert codes == [200, 200]
    assert third.status_code == 429 and third.json()["error"]["code"] == "E503"
    assert int(third.headers["Retry-After"]) >= 1
    # Each in-memory limiter would have allowed 2 per replica: prove the bucket is the shared one.
    assert first.client.post("/v1/classify", json={"items": item}, headers=headers).status_code == 429
