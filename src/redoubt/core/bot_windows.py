"""Deployment-wide per-bot activity windows (T7), in Redis.

The embedded default counts each bot's last minute in process memory
(``domain.bot_activity.BotActivity``): one process is the whole deployment. In
scale-out a bot whose requests are spread over N processes would be judged on 1/N of
its activity by each, so the windows live in Redis instead, shared by every process:

* one Lua script per check, one round trip: it drops entries older than the window,
  records the post (or the history page), refreshes the keys' TTL and returns the
  counts the rules need (the rules themselves stay pure, in the domain);
* a post over a limit the caller passes isn't recorded (refused posts don't count, as
  in memory);
* a quarantine tripped on any process sets a marker the grant check of every process
  reads (``queries.bots.authenticate_bot``), so writes stop everywhere at once; the
  database row written by the activity recorder stays the durable record, the marker
  only bridges the moment until it is written.

Time is Redis's (``TIME``), one clock for every process. When Redis can't be reached
the check fails closed, like the rate limiter (whose Redis errors refuse the request):
:class:`ServiceUnavailable` (503) and a logged warning, never a bot let through
uncounted. This module sits in core so that the history reads (queries) and the post
pipeline (actions) can both use it through the context.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from redis.exceptions import RedisError
from typing_extensions import override

from redoubt.core.errors import ServiceUnavailable
from redoubt.core.logging import get_logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["BotWindows", "PostCounts", "RedisBotWindows"]

_log = get_logger(__name__)
_T = TypeVar("_T")

WINDOW_MS = 60_000
MARKER_TTL_S = 3600
"""How long a quarantine marker outlives its trip (the recorder writes the database
row within seconds; the marker is only the bridge)."""


@dataclass(frozen=True, slots=True)
class PostCounts:
    posts: int
    """Posts in the last minute, this one included."""
    rooms: int
    """Distinct rooms posted to in the last minute, this one included."""
    recorded: bool
    """False when the post was over a limit and so not counted."""


class BotWindows(abc.ABC):
    """Per-bot one-minute windows shared by every process of a deployment."""

    @abc.abstractmethod
    async def post(
        self, bot_id: int, room_id: int, *, max_posts: int, max_rooms: int
    ) -> PostCounts:
        """Count a post the bot is about to make, unless it would bring the minute's
        posts above ``max_posts`` or its distinct rooms above ``max_rooms``."""

    @abc.abstractmethod
    async def history_page(self, bot_id: int) -> int:
        """Count a page of history the bot read; the pages of the last minute."""

    @abc.abstractmethod
    async def mark_quarantined(self, bot_id: int) -> None:
        """Make every process refuse the bot's writes from now on."""

    @abc.abstractmethod
    async def is_marked(self, bot_id: int) -> bool:
        """Whether a process tripped a quarantine not necessarily written yet."""

    @abc.abstractmethod
    async def forget(self, bot_id: int) -> None:
        """Start the bot's windows afresh and drop its marker (after a release)."""


# KEYS: posts (list of times, ms, oldest first), rooms (zset room -> last post time).
# ARGV: room, max posts, max rooms, window ms. Returns {posts, rooms, recorded}.
_POST_LUA = """
local posts, rooms = KEYS[1], KEYS[2]
local room = ARGV[1]
local window = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cutoff = now - window
while true do
  local first = redis.call('LINDEX', posts, 0)
  if not first or tonumber(first) > cutoff then break end
  redis.call('LPOP', posts)
end
redis.call('ZREMRANGEBYSCORE', rooms, '-inf', cutoff)
local n = redis.call('LLEN', posts) + 1
local r = redis.call('ZCARD', rooms)
if not redis.call('ZSCORE', rooms, room) then r = r + 1 end
local recorded = 0
if n <= tonumber(ARGV[2]) and r <= tonumber(ARGV[3]) then
  redis.call('RPUSH', posts, now)
  redis.call('ZADD', rooms, now, room)
  recorded = 1
end
redis.call('PEXPIRE', posts, window + 1000)
redis.call('PEXPIRE', rooms, window + 1000)
return {n, r, recorded}
"""

# KEYS: pages (list of times, ms). ARGV: window ms. Returns the pages of the window.
_PAGE_LUA = """
local pages = KEYS[1]
local window = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cutoff = now - window
while true do
  local first = redis.call('LINDEX', pages, 0)
  if not first or tonumber(first) > cutoff then break end
  redis.call('LPOP', pages)
end
local n = redis.call('RPUSH', pages, now)
redis.call('PEXPIRE', pages, window + 1000)
return n
"""


class RedisBotWindows(BotWindows):
    """The windows as Redis keys under ``prefix`` (the deployment's), one Lua script
    per check."""

    def __init__(
        self, redis: Redis, *, prefix: str | Callable[[], str], window_ms: int = WINDOW_MS
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        """The keys' prefix, or how to learn it (the deployment's, known once started)."""
        self._window_ms = window_ms
        self._post = redis.register_script(_POST_LUA)
        self._page = redis.register_script(_PAGE_LUA)

    def _key(self, bot_id: int, kind: str) -> str:
        prefix = self._prefix if isinstance(self._prefix, str) else self._prefix()
        return f"{prefix}{bot_id}:{kind}"

    async def _guard(self, operation: str, call: Awaitable[_T]) -> _T:
        try:
            return await call
        except (RedisError, OSError) as exc:
            # Fail closed, as the rate limiter does: an uncounted bot is what T7 is about.
            _log.warning("bot_activity_unavailable", operation=operation, error=str(exc))
            raise ServiceUnavailable from exc

    @override
    async def post(
        self, bot_id: int, room_id: int, *, max_posts: int, max_rooms: int
    ) -> PostCounts:
        keys = [self._key(bot_id, "posts"), self._key(bot_id, "rooms")]
        raw = await self._guard(
            "post",
            self._post(keys=keys, args=[room_id, max_posts, max_rooms, self._window_ms]),
        )
        posts, rooms, recorded = (int(v) for v in raw)
        return PostCounts(posts=posts, rooms=rooms, recorded=bool(recorded))

    @override
    async def history_page(self, bot_id: int) -> int:
        raw = await self._guard(
            "history", self._page(keys=[self._key(bot_id, "pages")], args=[self._window_ms])
        )
        return int(raw)

    @override
    async def mark_quarantined(self, bot_id: int) -> None:
        await self._guard("quarantine", self._redis.set(self._key(bot_id, "q"), 1, ex=MARKER_TTL_S))

    @override
    async def is_marked(self, bot_id: int) -> bool:
        return bool(await self._guard("grant", self._redis.exists(self._key(bot_id, "q"))))

    @override
    async def forget(self, bot_id: int) -> None:
        keys = [self._key(bot_id, k) for k in ("posts", "rooms", "pages", "q")]
        await self._guard("forget", self._redis.delete(*keys))
