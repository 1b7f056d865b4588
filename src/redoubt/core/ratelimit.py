"""Rate limits: a GCRA limiter behind one interface, in memory or in Redis.

GCRA (the generic cell rate algorithm) keeps one timestamp per key, allows a burst of
``limit`` hits and refills at ``limit / period``. Denied hits don't consume budget.
The Redis backend runs the same algorithm in one Lua script so that all processes of a
scale-out deployment share the counters.
"""

from __future__ import annotations

import abc
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from typing_extensions import override

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Decision", "MemoryRateLimiter", "Rate", "RateLimiter", "RedisRateLimiter"]


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    """Hits allowed in a burst."""
    period: float
    """Seconds over which ``limit`` hits refill."""

    @property
    def interval(self) -> float:
        return self.period / self.limit


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0


class RateLimiter(abc.ABC):
    @abc.abstractmethod
    async def hit(self, key: str, rate: Rate) -> Decision:
        """Count one hit against ``key``; say whether it is allowed."""

    @abc.abstractmethod
    async def peek(self, key: str, rate: Rate) -> Decision:
        """Whether a hit would be allowed now, without counting one."""

    @abc.abstractmethod
    async def reset(self, key: str) -> None:
        """Forget ``key`` (for example after a successful login)."""


class MemoryRateLimiter(RateLimiter):
    """In-process GCRA; the embedded default. Bounded: old keys are evicted."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._tat: OrderedDict[str, float] = OrderedDict()
        self._max_keys = max_keys

    def _check(self, key: str, rate: Rate, now: float) -> tuple[Decision, float]:
        """The decision for a hit now, and the key's theoretical arrival time."""
        tat = max(self._tat.get(key, now), now)
        allow_at = tat + rate.interval - rate.period
        return (Decision(True) if now >= allow_at else Decision(False, allow_at - now)), tat

    @override
    async def hit(self, key: str, rate: Rate) -> Decision:
        now = time.monotonic()
        decision, tat = self._check(key, rate, now)
        if not decision.allowed:
            return decision
        self._tat[key] = tat + rate.interval
        self._tat.move_to_end(key)
        while len(self._tat) > self._max_keys:
            self._tat.popitem(last=False)
        return Decision(True)

    @override
    async def peek(self, key: str, rate: Rate) -> Decision:
        return self._check(key, rate, time.monotonic())[0]

    @override
    async def reset(self, key: str) -> None:
        self._tat.pop(key, None)


_GCRA_LUA = """
local key = KEYS[1]
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local count = ARGV[3] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local allow_at = tat + interval - period
if now < allow_at then
  return tostring(allow_at - now)
end
if count then
  redis.call('SET', key, tostring(tat + interval), 'PX', math.ceil(period * 1000) + 1000)
end
return '0'
"""
"""GCRA in one script; ``ARGV[3]`` is ``1`` to count the hit, ``0`` only to peek."""


class RedisRateLimiter(RateLimiter):
    """GCRA shared by every process through Redis (scale-out)."""

    def __init__(self, redis: Redis, prefix: str = "redoubt:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_GCRA_LUA)

    async def _run(self, key: str, rate: Rate, *, count: bool) -> Decision:
        raw = await self._script(
            keys=[self._prefix + key], args=[rate.interval, rate.period, 1 if count else 0]
        )
        wait = float(raw.decode() if isinstance(raw, bytes) else raw)
        return Decision(True) if wait <= 0 else Decision(False, wait)

    @override
    async def hit(self, key: str, rate: Rate) -> Decision:
        return await self._run(key, rate, count=True)

    @override
    async def peek(self, key: str, rate: Rate) -> Decision:
        return await self._run(key, rate, count=False)

    @override
    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)
