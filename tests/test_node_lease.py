"""Node numbers for ids, leased in a real Redis: two processes never share one."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis

from redoubt.container import Container
from redoubt.core.ids import IdGenerator
from redoubt.core.node_lease import NODE_COUNT, NodeLease, NodeLeaseError
from tests.harness import REDIS_URL, sqlite_database, test_settings

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def prefix() -> str:
    """One deployment's key prefix, unique to the test."""
    return f"test:{uuid.uuid4().hex}:"


def node_of(id_: int) -> int:
    return (id_ >> 6) & 0xF


async def test_processes_get_distinct_numbers_and_ids(redis: Redis, prefix: str) -> None:
    generators = [IdGenerator() for _ in range(3)]
    leases = [NodeLease(redis, ids, prefix=prefix) for ids in generators]
    try:
        for lease in leases:
            await lease.start()
        nodes = [lease.node for lease in leases]
        assert len(set(nodes)) == 3
        for lease, ids in zip(leases, generators, strict=True):
            assert ids.node == lease.node  # the generator follows the lease
            assert node_of(ids.next_id()) == lease.node
    finally:
        for lease in leases:
            await lease.stop()
    assert [k async for k in redis.scan_iter(match=prefix + "*")] == []


async def test_all_numbers_taken_fails_clearly(redis: Redis, prefix: str) -> None:
    leases = [NodeLease(redis, IdGenerator(), prefix=prefix) for _ in range(NODE_COUNT)]
    extra = NodeLease(redis, IdGenerator(), prefix=prefix)
    try:
        for lease in leases:
            await lease.acquire()
        assert sorted(lease.node or 0 for lease in leases) == list(range(NODE_COUNT))
        with pytest.raises(NodeLeaseError, match="All 16 node numbers are held"):
            await extra.acquire()
        # A stopped process gives its number back at once.
        await leases[5].stop()
        assert await extra.acquire() == 5
    finally:
        for lease in [*leases, extra]:
            await lease.stop()


async def test_an_explicit_number_is_exclusive(redis: Redis, prefix: str) -> None:
    first = NodeLease(redis, IdGenerator(), prefix=prefix, fixed=7)
    second = NodeLease(redis, IdGenerator(), prefix=prefix, fixed=7)
    other_deployment = NodeLease(redis, IdGenerator(), prefix=prefix + "x:", fixed=7)
    try:
        assert await first.acquire() == 7
        with pytest.raises(NodeLeaseError, match="REDOUBT_NODE_ID"):
            await second.acquire()
        assert await other_deployment.acquire() == 7  # numbers are per deployment
    finally:
        for lease in (first, second, other_deployment):
            await lease.stop()


async def test_refresh_extends_and_reclaims_a_lapsed_lease(redis: Redis, prefix: str) -> None:
    lease = NodeLease(redis, IdGenerator(), prefix=prefix, ttl=5)
    try:
        node = await lease.acquire()
        key = f"{prefix}node:{node}"
        await redis.pexpire(key, 100)
        await lease.refresh()
        assert await redis.pttl(key) > 1000
        await redis.delete(key)  # e.g. Redis restarted without persistence
        await lease.refresh()
        assert lease.node == node
        assert await redis.exists(key)
    finally:
        await lease.stop()


async def test_a_lost_number_moves_the_generator_to_a_free_one(redis: Redis, prefix: str) -> None:
    ids = IdGenerator()
    lease = NodeLease(redis, ids, prefix=prefix)
    try:
        node = await lease.acquire()
        before = ids.next_id()
        # Another process took the number while this one couldn't refresh.
        await redis.set(f"{prefix}node:{node}", "someone-else")
        await lease.refresh()
        assert lease.node is not None
        assert lease.node != node
        after = ids.next_id()
        assert node_of(after) == lease.node
        assert after > before  # ids stay increasing across the switch
        await lease.stop()
        # Stopping released only our own key, not the other process's.
        assert await redis.get(f"{prefix}node:{node}") == b"someone-else"
    finally:
        await lease.stop()
        await redis.delete(f"{prefix}node:{node}")


async def test_containers_lease_distinct_numbers_and_pinned_ones_exclusively(
    tmp_path: Path,
) -> None:
    """The wiring: a process with Redis leases a number unless REDOUBT_NODE_ID pins one."""
    await asyncio.to_thread(sqlite_database, tmp_path)
    first = Container(test_settings(tmp_path, redis_url=REDIS_URL))
    second = Container(test_settings(tmp_path, redis_url=REDIS_URL))
    containers = [first, second]
    try:
        await first.start_command()
        await second.start_command()
        assert first.context.ids.node != second.context.ids.node
        pinned = Container(
            test_settings(tmp_path, redis_url=REDIS_URL, node_id=first.context.ids.node)
        )
        containers.append(pinned)
        with pytest.raises(NodeLeaseError, match="REDOUBT_NODE_ID"):
            await pinned.start_command()
        # Once the first process stops, its number is free for the pinned one.
        await first.stop_command()
        containers.remove(first)
        await pinned.start_command()
        assert pinned.context.ids.node == first.context.ids.node
    finally:
        for container in containers:
            await container.stop_command()
