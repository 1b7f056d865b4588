"""Node numbers leased in Redis, so that two processes never mint ids with the same one.

Ids carry a 4-bit node number (:mod:`redoubt.core.ids`): two processes with the same
number can produce the same id in the same millisecond. In scale-out each process (a
server, or a CLI command that writes) leases a number: ``SET key token NX PX ttl``,
refreshed every ``ttl / 3`` seconds and deleted on a clean stop, so a crashed process's
number frees itself after ``ttl``. With ``REDOUBT_NODE_ID`` set explicitly the process
leases exactly that number and refuses to start when another process holds it.

Not guaranteed: a process cut off from Redis for longer than ``ttl`` (while still
reaching the database) can lose its number to a new process; ids are primary keys, so
the worst case is a rejected write, not two rows sharing an id. When the refresh finds
the number taken it moves to a free one and logs an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from redoubt.core.ids import IdGenerator
from redoubt.core.logging import describe_error, get_logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["NODE_COUNT", "NodeLease", "NodeLeaseError"]

NODE_COUNT = 16
"""How many node numbers the id layout has room for (4 bits)."""

_log = get_logger(__name__)

# Keep our number: extend it when we hold it, take it back when it lapsed (a Redis
# restart, a long pause); 0 when another process holds it now.
_REFRESH_LUA = """
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# Delete the key only if it is still ours (it may have lapsed and been taken).
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class NodeLeaseError(RuntimeError):
    """No node number could be leased."""


class NodeLease:
    """One process's lease on a node number; sets the number on its id generator.

    Args:
        redis: The shared Redis client.
        ids: The generator whose node number follows the lease.
        prefix: Key prefix naming the deployment (numbers are per deployment).
        fixed: Lease exactly this number (``REDOUBT_NODE_ID`` set explicitly).
        ttl: Seconds a number stays leased without a refresh.
    """

    def __init__(
        self,
        redis: Redis,
        ids: IdGenerator,
        *,
        prefix: str = "redoubt:",
        fixed: int | None = None,
        ttl: float = 30.0,
    ) -> None:
        if fixed is not None and not 0 <= fixed < NODE_COUNT:
            raise ValueError(f"node must be in [0, {NODE_COUNT})")
        self._redis = redis
        self._ids = ids
        self._prefix = prefix + "node:"
        self._fixed = fixed
        self._ttl_ms = int(ttl * 1000)
        self._token = secrets.token_hex(16)
        self._refresh = redis.register_script(_REFRESH_LUA)
        self._release = redis.register_script(_RELEASE_LUA)
        self._task: asyncio.Task[None] | None = None
        self.node: int | None = None
        """The number held now; None before :meth:`acquire` and after :meth:`stop`."""

    def _key(self, node: int) -> str:
        return f"{self._prefix}{node}"

    async def acquire(self) -> int:
        """Lease a free number and switch the id generator to it.

        Returns:
            The node number.

        Raises:
            NodeLeaseError: All numbers (or the fixed one) are held by other processes.
        """
        candidates = [self._fixed] if self._fixed is not None else list(range(NODE_COUNT))
        for node in candidates:
            if await self._redis.set(self._key(node), self._token, nx=True, px=self._ttl_ms):
                self.node = node
                self._ids.set_node(node)
                _log.info("node_lease_acquired", node=node)
                return node
        ttl_s = self._ttl_ms / 1000
        if self._fixed is not None:
            raise NodeLeaseError(
                f"Node number {self._fixed} (REDOUBT_NODE_ID) is held by another Redoubt "
                f"process of this deployment. Give every process its own REDOUBT_NODE_ID, or "
                f"leave it unset to lease a free one. A crashed process's number frees "
                f"itself within {ttl_s:g} s."
            )
        raise NodeLeaseError(
            f"All {NODE_COUNT} node numbers are held by running Redoubt processes of this "
            f"deployment; at most {NODE_COUNT} processes can share one database. Numbers "
            f"of crashed processes free themselves within {ttl_s:g} s."
        )

    async def refresh(self) -> None:
        """Extend the lease; move to a free number if another process took ours."""
        if self.node is None:
            await self.acquire()
            return
        if await self._refresh(keys=[self._key(self.node)], args=[self._token, self._ttl_ms]):
            return
        _log.error("node_lease_lost", node=self.node)
        lost, self.node = self.node, None
        node = await self.acquire()
        _log.warning("node_lease_moved", old_node=lost, node=node)

    async def start(self) -> None:
        """Acquire a number and keep it refreshed in the background until :meth:`stop`."""
        await self.acquire()
        self._task = asyncio.create_task(self._keep(), name="node-lease")

    async def stop(self) -> None:
        """Stop refreshing and give the number back."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.node is None:
            return
        node, self.node = self.node, None
        try:
            await self._release(keys=[self._key(node)], args=[self._token])
        except (RedisError, OSError) as exc:
            # The number frees itself after the ttl.
            _log.warning("node_lease_release_failed", node=node, error=describe_error(exc))

    async def _keep(self) -> None:
        interval = self._ttl_ms / 3000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except (RedisError, OSError, NodeLeaseError) as exc:
                # Keep the current number and try again: while Redis is unreachable no
                # other process can lease it either.
                _log.warning("node_lease_refresh_failed", node=self.node, error=describe_error(exc))
