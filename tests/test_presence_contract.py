"""Presence trackers: the same contract in memory and in Redis, and across two servers.

The Redis cases use two trackers with different node numbers as two processes, each
with its own set of local connections, against the real Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from pathlib import Path

from redis.asyncio import Redis

from redoubt.realtime.presence import MemoryPresence, PresenceBatcher, RedisPresence
from tests.harness import EventClient, deployment, run_server


def _tracker(
    redis: Redis, prefix: str, node: int, local: set[int], **timing: float
) -> RedisPresence:
    return RedisPresence(
        redis, prefix=prefix, node=lambda: node, local=lambda: sorted(local), **timing
    )


async def test_memory_presence_is_this_process() -> None:
    local = {7, 3}
    tracker = MemoryPresence(lambda: sorted(local))
    assert await tracker.apply({5: True, 6: False}) == {5: True, 6: False}
    assert await tracker.online_user_ids() == [3, 7]


class _SlowTracker(MemoryPresence):
    """Holds the first batch inside `apply` until released."""

    def __init__(self) -> None:
        super().__init__(list)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def apply(self, changes: Mapping[int, bool]) -> dict[int, bool]:
        self.entered.set()
        await self.release.wait()
        return dict(changes)


async def test_a_change_made_while_a_batch_is_applied_is_announced() -> None:
    tracker = _SlowTracker()
    announced: list[dict[int, bool]] = []
    both = asyncio.Event()

    async def announce(changes: dict[int, bool]) -> None:
        announced.append(changes)
        if len(announced) == 2:
            both.set()

    batcher = PresenceBatcher(tracker, announce, delay=0.01)
    try:
        batcher.changed(1, True)
        await asyncio.wait_for(tracker.entered.wait(), 5)
        batcher.changed(2, True)  # the first batch is inside the tracker right now
        tracker.release.set()
        await asyncio.wait_for(both.wait(), 5)
        assert announced == [{1: True}, {2: True}]
    finally:
        await batcher.stop()


async def test_redis_presence_announces_only_deployment_wide_changes(redis: Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex}:presence:"
    here, there = set[int](), set[int]()
    a, b = _tracker(redis, prefix, 1, here), _tracker(redis, prefix, 2, there)
    await a.start()
    await b.start()
    try:
        here.add(42)
        assert await a.apply({42: True}) == {42: True}  # first connection anywhere
        there.add(42)
        assert await b.apply({42: True}) == {}  # already online on the other process
        assert await a.online_user_ids() == [42]
        here.discard(42)
        assert await a.apply({42: False}) == {}  # still connected to b
        assert await b.online_user_ids() == [42]
        there.discard(42)
        assert await b.apply({42: False}) == {42: False}  # last connection gone
        assert await a.online_user_ids() == []
        # Several users in one batch, mixed.
        here.update({1, 2})
        there.add(2)
        await b.apply({2: True})
        assert await a.apply({1: True, 2: True}) == {1: True}
    finally:
        await a.stop()
        await b.stop()
    assert await redis.keys(prefix + "*") == []  # a clean stop withdraws its set


async def test_a_crashed_process_fades_out_and_a_live_one_rebuilds(redis: Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex}:presence:"
    crashed_local, live_local = {10}, {20}
    crashed = _tracker(redis, prefix, 3, crashed_local, ttl=0.5, refresh=60)
    live = _tracker(redis, prefix, 4, live_local, ttl=0.5, refresh=0.1)
    await crashed.start()
    await live.start()
    try:
        assert await live.online_user_ids() == [10, 20]
        # The crashed process never refreshes again: its users expire with its set.
        await asyncio.sleep(1.0)
        assert await live.online_user_ids() == [20]
        # Redis lost everything (a restart): the live process puts its users back.
        await redis.delete(*[f"{prefix}{n}" for n in range(16)])
        await asyncio.sleep(0.3)
        assert await live.online_user_ids() == [20]
    finally:
        await live.stop()
        await crashed.stop()


async def test_two_servers_agree_on_presence(tmp_path: Path) -> None:
    """Two processes on one PostgreSQL + Redis: one user connected to both is online
    until the last connection closes, and both processes report the same list."""
    async with (
        deployment("postgres", tmp_path / "data") as settings,
        run_server(settings()) as one,
        run_server(settings()) as two,
    ):
        alice = await one.create_user("alice")
        watcher = await one.create_user("watcher")
        async with one.events(watcher) as watching:
            async with one.events(alice):
                assert await _next_presence(watching, alice.id) == "online"
                async with two.events(alice):
                    await asyncio.sleep(0.6)  # a batch or two
                    for server in (one, two):
                        listed = await server.ok("GET", "/api/v1/presence", watcher)
                        assert alice.id in listed
                # alice still has her connection to `one`: no "offline".
                await asyncio.sleep(0.6)
                assert await _presence_frames(watching, alice.id) == []
                assert alice.id in await two.ok("GET", "/api/v1/presence", watcher)
            assert await _next_presence(watching, alice.id) == "offline"
            for server in (one, two):
                assert alice.id not in await server.ok("GET", "/api/v1/presence", watcher)


async def _next_presence(stream: EventClient, user_id: str) -> str:
    while True:
        frame = await stream.until("presence")
        for change in frame["data"]["changes"]:
            if change["user_id"] == user_id:
                return str(change["status"])


async def _presence_frames(stream: EventClient, user_id: str) -> list[dict[str, str]]:
    frames = await stream.drain(quiet=0.3)
    return [
        c
        for f in frames
        if f.get("type") == "presence"
        for c in f["data"]["changes"]
        if c["user_id"] == user_id
    ]
