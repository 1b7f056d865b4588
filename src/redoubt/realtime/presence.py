"""Deployment-wide presence: who has at least one open event stream, on any process.

Each process knows its own connections (the dispatcher's index). A tracker turns this
process's changes into deployment-wide ones: in the embedded default they are the same
thing; in scale-out each process keeps its online users in a Redis set of its own
(refreshed, with a TTL, so a crashed process's users fade out), and a user is online
while any process's set has them. Only changes of the deployment-wide status are
announced, so a second connection on another process doesn't say "online" twice and
closing one of two doesn't say "offline".
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from typing_extensions import override

from redoubt.core.logging import get_logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["MemoryPresence", "PresenceBatcher", "PresenceTracker", "RedisPresence"]

_log = get_logger(__name__)
_NODES = 16  # node numbers are 4 bits (core/ids.py)

LocalOnline = Callable[[], list[int]]

# KEYS: this process's set, then every other process's. ARGV: ttl ms, then user/state
# pairs (state "1" online here, "0" gone here). Returns the users whose status changed
# deployment-wide: those no other process has.
_APPLY_LUA = """
local own = KEYS[1]
local out = {}
for i = 2, #ARGV, 2 do
  local user = ARGV[i]
  if ARGV[i + 1] == '1' then
    redis.call('SADD', own, user)
  else
    redis.call('SREM', own, user)
  end
  local elsewhere = false
  for k = 2, #KEYS do
    if redis.call('SISMEMBER', KEYS[k], user) == 1 then
      elsewhere = true
      break
    end
  end
  if not elsewhere then
    table.insert(out, user)
  end
end
if redis.call('EXISTS', own) == 1 then
  redis.call('PEXPIRE', own, ARGV[1])
end
return out
"""

# KEYS: this process's set. ARGV: ttl ms, then every user online here.
_REPLACE_LUA = """
redis.call('DEL', KEYS[1])
if #ARGV > 1 then
  redis.call('SADD', KEYS[1], unpack(ARGV, 2))
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1
"""


class PresenceTracker(abc.ABC):
    async def start(self) -> None:  # noqa: B027 - optional hook
        """Begin keeping this process's presence visible to the others."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Withdraw this process's presence."""

    @abc.abstractmethod
    async def apply(self, changes: Mapping[int, bool]) -> dict[int, bool]:
        """Record this process's changes (user id → online here); return those that
        change the user's deployment-wide status."""

    @abc.abstractmethod
    async def online_user_ids(self) -> list[int]:
        """Users online anywhere in the deployment, sorted."""


class MemoryPresence(PresenceTracker):
    """One process is the whole deployment."""

    def __init__(self, local: LocalOnline) -> None:
        self._local = local

    @override
    async def apply(self, changes: Mapping[int, bool]) -> dict[int, bool]:
        return dict(changes)

    @override
    async def online_user_ids(self) -> list[int]:
        return sorted(self._local())


class RedisPresence(PresenceTracker):
    """One Redis set per process node, refreshed every ``refresh`` s, expiring after ``ttl``."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        node: Callable[[], int],
        local: LocalOnline,
        ttl: float = 30.0,
        refresh: float = 10.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._node = node
        self._local = local
        self._ttl_ms = int(ttl * 1000)
        self._refresh = refresh
        self._task: asyncio.Task[None] | None = None
        self._apply = redis.register_script(_APPLY_LUA)
        self._replace = redis.register_script(_REPLACE_LUA)

    def _key(self, node: int) -> str:
        return f"{self._prefix}{node}"

    def _other_keys(self) -> list[str]:
        me = self._node()
        return [self._key(n) for n in range(_NODES) if n != me]

    @override
    async def start(self) -> None:
        await self._publish_local()
        self._task = asyncio.create_task(self._keep_alive(), name="presence-refresh")

    @override
    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._key(self._node()))

    async def _publish_local(self) -> None:
        """Rewrite this process's set from its connections (also after a Redis restart
        or a change of node number) and extend its life."""
        await self._replace(keys=[self._key(self._node())], args=[self._ttl_ms, *self._local()])

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            try:
                await self._publish_local()
            except (RedisError, OSError):
                _log.warning("presence_refresh_failed")

    @override
    async def apply(self, changes: Mapping[int, bool]) -> dict[int, bool]:
        if not changes:
            return {}
        args: list[int] = [self._ttl_ms]
        for user, online in changes.items():
            args += [user, int(online)]
        keys = [self._key(self._node()), *self._other_keys()]
        changed = await self._apply(keys=keys, args=args)
        return {int(u): changes[int(u)] for u in changed}

    @override
    async def online_user_ids(self) -> list[int]:
        # Other processes' sets, plus this process's own connections as they are now
        # (its set is written in batches, a moment after the change).
        members = await self._redis.sunion(self._other_keys())
        return sorted({int(m) for m in members} | set(self._local()))


Announce = Callable[[dict[int, bool]], Awaitable[None]]


class PresenceBatcher:
    """Collects this process's changes and announces the deployment-wide ones in batches.

    When every client reconnects at once (a restart), one frame per change to every
    client would be N² frames; a batch every ``delay`` seconds is N. A change that
    arrives while a batch is being applied goes into the next batch, never nowhere.
    """

    def __init__(self, tracker: PresenceTracker, announce: Announce, *, delay: float) -> None:
        self._tracker = tracker
        self._announce = announce
        self._delay = delay
        self._pending: dict[int, bool] = {}
        """Changes not yet applied (last state wins)."""
        self._task: asyncio.Task[None] | None = None

    def changed(self, user_id: int, online: bool) -> None:
        self._pending[user_id] = online
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="presence-batch")

    async def _run(self) -> None:
        # The task ends only when nothing is pending: `changed` starts a new one only
        # once this one is done, so a change made during an await below is picked up
        # by the next turn of this loop.
        while self._pending:
            await asyncio.sleep(self._delay)
            batch, self._pending = self._pending, {}
            try:
                changes = await self._tracker.apply(batch)
                if changes:
                    await self._announce(changes)
            except Exception:
                # Presence is a courtesy: never let it take the stream down.
                _log.exception("presence_update_failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
