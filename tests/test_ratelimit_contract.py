"""The rate-limiter contract, run against both backends (memory and real Redis).

Timing-sensitive steps are written so that a slow machine can only make them more
lenient (more refill), never fail: bursts use long periods, refill steps short ones.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from redoubt.core.ratelimit import MemoryRateLimiter, Rate, RateLimiter, RedisRateLimiter
from tests.harness import REDIS_URL

pytestmark = pytest.mark.timeout(30)

SLOW = Rate(limit=5, period=60.0)
"""A burst of 5, one more every 12 s: nothing refills during a test step."""
FAST = Rate(limit=3, period=0.3)
"""A burst of 3, one more every 0.1 s."""


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    redis = Redis.from_url(REDIS_URL)
    prefix = f"test:{uuid.uuid4().hex}:rl:"
    try:
        yield RedisRateLimiter(redis, prefix=prefix)
    finally:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def exhaust(limiter: RateLimiter, key: str, rate: Rate) -> float:
    """Hit until denied; returns the denial's retry_after."""
    for _ in range(rate.limit * 10):
        decision = await limiter.hit(key, rate)
        if not decision.allowed:
            return decision.retry_after
    raise AssertionError("never denied")


async def test_burst_is_allowed_then_denied_with_retry_after(limiter: RateLimiter) -> None:
    for _ in range(SLOW.limit):
        assert (await limiter.hit("burst", SLOW)).allowed
    denied = await limiter.hit("burst", SLOW)
    assert not denied.allowed
    assert 0 < denied.retry_after <= SLOW.interval
    # Denied hits don't use up budget: the wait doesn't grow.
    again = await limiter.hit("burst", SLOW)
    assert not again.allowed
    assert again.retry_after <= denied.retry_after


async def test_peek_tells_without_counting(limiter: RateLimiter) -> None:
    for _ in range(10):  # any number of peeks uses no budget
        assert (await limiter.peek("peeked", SLOW)).allowed
    for _ in range(SLOW.limit):
        assert (await limiter.hit("peeked", SLOW)).allowed
    refused = await limiter.peek("peeked", SLOW)
    assert not refused.allowed
    assert 0 < refused.retry_after <= SLOW.interval
    assert not (await limiter.hit("peeked", SLOW)).allowed  # and peek agreed with hit


async def test_allowed_hits_report_no_wait(limiter: RateLimiter) -> None:
    decision = await limiter.hit("fresh", SLOW)
    assert decision.allowed
    assert decision.retry_after == 0


async def test_refill_after_retry_after_and_after_the_period(limiter: RateLimiter) -> None:
    wait = await exhaust(limiter, "refill", FAST)
    assert 0 < wait <= FAST.interval
    await asyncio.sleep(wait + 0.03)
    assert (await limiter.hit("refill", FAST)).allowed
    # After a whole period the whole burst is back.
    await asyncio.sleep(FAST.period + 0.05)
    for _ in range(FAST.limit):
        assert (await limiter.hit("refill", FAST)).allowed


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    await exhaust(limiter, "user:1", SLOW)
    assert not (await limiter.hit("user:1", SLOW)).allowed
    for _ in range(SLOW.limit):
        assert (await limiter.hit("user:2", SLOW)).allowed
    assert not (await limiter.hit("user:2", SLOW)).allowed


async def test_reset_restores_the_full_burst(limiter: RateLimiter) -> None:
    await exhaust(limiter, "login:alice", SLOW)
    await limiter.reset("login:alice")
    for _ in range(SLOW.limit):
        assert (await limiter.hit("login:alice", SLOW)).allowed
    assert not (await limiter.hit("login:alice", SLOW)).allowed
    await limiter.reset("never-used")  # resetting an unknown key is fine


async def test_redis_limiters_share_the_budget_between_processes() -> None:
    """Scale-out: two processes (two clients) count against the same budget."""
    prefix = f"test:{uuid.uuid4().hex}:rl:"
    first, second = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    try:
        a, b = RedisRateLimiter(first, prefix=prefix), RedisRateLimiter(second, prefix=prefix)
        for i in range(SLOW.limit):
            assert (await (a if i % 2 else b).hit("shared", SLOW)).allowed
        assert not (await a.hit("shared", SLOW)).allowed
        assert not (await b.hit("shared", SLOW)).allowed
        await b.reset("shared")
        assert (await a.hit("shared", SLOW)).allowed
    finally:
        await first.delete(prefix + "shared")
        await first.aclose()
        await second.aclose()
