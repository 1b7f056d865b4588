"""What the deployment-wide bot activity windows (T7, scale-out) add to a bot's post.

Run from the repository root, with Redis on 127.0.0.1:6379 (or ``--redis``)::

    uv run python bench/bot_windows.py               # 5000 checks, sequential
    uv run python bench/bot_windows.py -n 20000 --concurrency 8

Times ``--checks`` calls of each operation the post and read paths make against the
real Redis, under a throwaway key prefix (deleted afterwards): the post check (one
Lua script: trim, count, record, TTL), the grant's marker read (one ``EXISTS``, every
bot-token request) and the history page (one Lua script); and, for reference, the
in-memory check of the embedded default (``BotActivity.check_post``). Each bot keeps
a full window (limits high enough that every post is recorded), the worst case for
the trim. Prints the mean and percentiles per call.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from redoubt.core.bot_windows import RedisBotWindows
from redoubt.domain.bot_activity import ActivityRules, BotActivity


def summary(name: str, samples: list[float]) -> str:
    samples = sorted(samples)
    pct = lambda p: samples[min(len(samples) - 1, int(p * len(samples)))]  # noqa: E731
    return (
        f"{name:<28} mean {statistics.fmean(samples) * 1e6:8.1f} µs   "
        f"p50 {pct(0.5) * 1e6:8.1f}   p99 {pct(0.99) * 1e6:8.1f}   "
        f"max {samples[-1] * 1e6:8.1f}"
    )


async def timed(n: int, concurrency: int, call: Callable[[int], Awaitable[object]]) -> list[float]:
    out: list[float] = []

    async def worker(w: int) -> None:
        for i in range(w, n, concurrency):
            start = time.perf_counter()
            await call(i)
            out.append(time.perf_counter() - start)

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--checks", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--bots", type=int, default=10)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    redis = Redis.from_url(args.redis)
    prefix = f"redoubt:bench-botact:{uuid.uuid4().hex}:"
    store = RedisBotWindows(redis, prefix=prefix)
    bots = args.bots
    try:
        await timed(200, 1, lambda i: store.post(i % bots, i % 7, max_posts=10**9, max_rooms=10**9))
        post = await timed(
            args.checks,
            args.concurrency,
            lambda i: store.post(i % bots, i % 7, max_posts=10**9, max_rooms=10**9),
        )
        marker = await timed(args.checks, args.concurrency, lambda i: store.is_marked(i % bots))
        page = await timed(args.checks, args.concurrency, lambda i: store.history_page(i % bots))
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()

    rules = ActivityRules(10**9, 5.0, 10**9, 10, 20, 10**9)
    memory = BotActivity()
    wall = dt.datetime.now(dt.UTC)
    local: list[float] = []
    for i in range(args.checks):
        start = time.perf_counter()
        memory.check_post(
            i % bots,
            i % 7,
            now=time.monotonic(),
            wall=wall,
            mentioned_users=0,
            mentions_room=False,
            room_members=0,
            baseline=0,
            rules=rules,
        )
        local.append(time.perf_counter() - start)

    per_bot = (args.checks + 200) // bots
    print(
        f"{args.checks} checks, concurrency {args.concurrency}, {bots} bots, "
        f"~{per_bot} posts in each bot's window"
    )
    print(summary("post check (Lua)", post))
    print(summary("grant marker (EXISTS)", marker))
    print(summary("history page (Lua)", page))
    print(summary("in memory (embedded)", local))


if __name__ == "__main__":
    asyncio.run(main())
