"""Bot activity monitoring (T7) in scale-out: the one-minute windows and the quarantine
are the deployment's, not each process's.

Two servers on one PostgreSQL database and one Redis: a bot alternating its requests
between them is quarantined at the same threshold as on one server, and a quarantine
tripped on one server refuses writes on the other at once (before the database row is
written). The Lua window store on its own, against the real Redis: counts, limits,
trimming, TTLs, atomicity, markers, and the defined failure when Redis is down.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from redoubt.core import bot_windows
from redoubt.core.bot_windows import MARKER_TTL_S, RedisBotWindows
from redoubt.core.errors import ServiceUnavailable
from redoubt.domain.enums import UserRole
from redoubt.storage import bots as bot_store
from tests.harness import Bot, Server, User, deployment, run_server

API = "/api/v1"
OVERRIDES: dict[str, Any] = {
    "bot_flood_floor": 5,
    "bot_max_rooms_per_minute": 3,
    "bot_history_pages_per_minute": 6,
    "bot_activity_flush_seconds": 0.2,
}


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Server, Server]]:
    """Two servers of one deployment (PostgreSQL + Redis), low thresholds."""
    async with (
        deployment("postgres", tmp_path / "data") as settings,
        run_server(settings(**OVERRIDES)) as one,
        run_server(settings(**OVERRIDES)) as two,
    ):
        yield one, two


def as_user(bot: Bot) -> User:
    return User(bot.id, bot.username, bot.token, role="bot")


async def setup(srv: Server, *names: str) -> tuple[User, Bot, list[str]]:
    """An admin (returned), alice's rooms and a bot member of them."""
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    rooms = [await srv.room(alice, name) for name in names]
    bot = await srv.create_bot(alice, "spread_bot", *rooms)
    for room in rooms:
        await srv.ok("POST", f"{API}/rooms/{room}/members", alice, json={"user_id": bot.id})
    return admin, bot, rooms


async def send(srv: Server, bot: Bot, room: str, text: str) -> int:
    resp = await srv.request(
        "POST", f"{API}/rooms/{room}/messages", as_user(bot), json={"text": text}
    )
    return resp.status_code


async def quarantined_at(srv: Server, bot: Bot) -> Any:
    async with srv.container.context.db.read("test") as conn:
        record = await bot_store.get_bot(conn, int(bot.id))
    assert record is not None
    return record.quarantined_at


async def test_spread_flood_trips_at_the_one_server_threshold(
    pair: tuple[Server, Server],
) -> None:
    """T7 in scale-out: five posts alternating between the servers pass, the sixth
    (floor 5) is refused wherever it lands, as on one server. Tripped on server one,
    the quarantine refuses writes through server two at once: before the recorder has
    written it (server one's recorder is held back here), REST and Bot API writes on
    server two answer 403, reads still work."""
    one, two = pair
    admin, bot, (room,) = await setup(one, "ops")
    await one.container.bot_activity.stop()  # the database row waits: only Redis tells
    for i in range(5):
        assert await send((two, one)[i % 2], bot, room, f"m{i}") == 201
    assert await send(one, bot, room, "sixth") == 403  # 3 + 3 per process before
    assert await quarantined_at(one, bot) is None  # not written yet
    assert await send(two, bot, room, "after") == 403
    sent = await two.http.post(
        f"/bot{bot.token}/sendMessage", json={"chat_id": -int(room), "text": "x"}
    )
    assert sent.status_code == 403
    assert sent.json()["description"] == "Forbidden: bot is quarantined"
    assert (
        await two.http.post(f"/bot{bot.token}/setMyCommands", json={"commands": []})
    ).status_code == 403
    assert (await two.http.post(f"/bot{bot.token}/getMe")).json()["ok"] is True
    # Server one's recorder writes the durable record (one row, rule flood).
    await one.container.bot_activity.flush()
    assert await quarantined_at(two, bot) is not None
    listed = await two.ok("GET", f"{API}/admin/bots", admin)
    assert next(b for b in listed if b["id"] == bot.id)["quarantine_reason"].startswith("flood")


async def test_spread_rooms_and_history_trip_deployment_wide(
    pair: tuple[Server, Server],
) -> None:
    """Distinct rooms and history pages are counted across the servers too: a fourth
    room (limit 3) via the other server is refused, and after a release (windows
    afresh), seven pages read alternately (limit 6) quarantine the bot."""
    one, two = pair
    admin, bot, rooms = await setup(one, "r1", "r2", "r3", "r4")
    for i, room in enumerate(rooms[:3]):
        assert await send((one, two)[i % 2], bot, room, "status") == 201
    assert await send(two, bot, rooms[3], "status") == 403
    for _ in range(100):
        if await quarantined_at(one, bot) is not None:
            break
        await asyncio.sleep(0.05)
    await one.ok("POST", f"{API}/admin/bots/{bot.id}/release", admin)
    # Released on server one: server two lets it write again at once.
    assert await send(two, bot, rooms[0], "back") == 201
    for i in range(7):
        resp = await (one, two)[i % 2].request(
            "GET", f"{API}/rooms/{rooms[0]}/messages", as_user(bot)
        )
        assert resp.status_code == 200
    # The seventh page (on server one) tripped: server two refuses writes at once.
    assert await send(two, bot, rooms[0], "x") == 403


async def test_per_process_windows_let_a_spread_flood_through(
    pair: tuple[Server, Server],
) -> None:
    """The problem the shared windows solve, shown on the old path (each process's
    in-memory windows, the embedded default's): six posts alternating between two
    servers pass a floor of 5, since each server sees three."""
    one, two = pair
    for srv in (one, two):
        object.__setattr__(srv.container.context, "bot_windows", None)
    _alice, bot, (room,) = await setup(one, "ops")
    codes = [await send((two, one)[i % 2], bot, room, f"m{i}") for i in range(6)]
    assert codes == [201] * 6


# --- the Lua window store against the real Redis --------------------------------------


@pytest.fixture
async def windows(redis: Redis) -> AsyncIterator[RedisBotWindows]:
    prefix = f"redoubt:test-botact:{uuid.uuid4().hex}:"
    try:
        yield RedisBotWindows(redis, prefix=prefix)
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)


async def test_store_counts_posts_and_rooms(windows: RedisBotWindows, redis: Redis) -> None:
    """Counts include the post judged; a post over a limit isn't counted; keys expire
    a little after the window."""
    got = [await windows.post(7, room, max_posts=3, max_rooms=2) for room in (1, 1, 2)]
    assert [(c.posts, c.rooms, c.recorded) for c in got] == [
        (1, 1, True),
        (2, 1, True),
        (3, 2, True),
    ]
    over = await windows.post(7, 1, max_posts=3, max_rooms=2)
    assert (over.posts, over.rooms, over.recorded) == (4, 2, False)
    again = await windows.post(7, 1, max_posts=3, max_rooms=2)
    assert again.posts == 4  # the refused one wasn't counted
    third_room = await windows.post(7, 3, max_posts=10, max_rooms=2)
    assert (third_room.posts, third_room.rooms, third_room.recorded) == (4, 3, False)
    assert (await windows.post(8, 3, max_posts=10, max_rooms=2)).posts == 1  # per bot
    for kind in ("posts", "rooms"):
        ttl = await redis.pttl(windows._key(7, kind))
        assert 0 < ttl <= 61_000


async def test_store_windows_slide(redis: Redis) -> None:
    prefix = f"redoubt:test-botact:{uuid.uuid4().hex}:"
    short = RedisBotWindows(redis, prefix=prefix, window_ms=300)
    try:
        for room in (1, 2):
            await short.post(7, room, max_posts=10, max_rooms=10)
        assert await short.history_page(7) == 1
        assert await short.history_page(7) == 2
        await asyncio.sleep(0.35)
        moved = await short.post(7, 3, max_posts=10, max_rooms=10)
        assert (moved.posts, moved.rooms) == (1, 1)
        assert await short.history_page(7) == 1
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)


async def test_store_is_atomic_under_concurrency(windows: RedisBotWindows) -> None:
    """Fifty posts at once against a limit of ten: exactly ten are counted."""
    got = await asyncio.gather(*(windows.post(7, 1, max_posts=10, max_rooms=5) for _ in range(50)))
    assert sum(c.recorded for c in got) == 10
    assert sorted(c.posts for c in got)[:10] == list(range(1, 11))


async def test_store_marker_and_forget(windows: RedisBotWindows, redis: Redis) -> None:
    assert not await windows.is_marked(7)
    await windows.mark_quarantined(7)
    assert await windows.is_marked(7)
    assert not await windows.is_marked(8)
    assert 0 < await redis.ttl(windows._key(7, "q")) <= MARKER_TTL_S
    await windows.post(7, 1, max_posts=5, max_rooms=5)
    await windows.history_page(7)
    await windows.forget(7)
    assert not await windows.is_marked(7)
    assert (await windows.post(7, 1, max_posts=5, max_rooms=5)).posts == 1
    assert await windows.history_page(7) == 1


async def test_store_fails_closed_when_redis_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis unreachable: 503 (ServiceUnavailable) and a warning, never a pass."""
    warned: list[str] = []

    class Log:
        def warning(self, event: str, **_kw: Any) -> None:
            warned.append(event)

    monkeypatch.setattr(bot_windows, "_log", Log())
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    store = RedisBotWindows(dead, prefix="redoubt:test-botact:dead:")
    try:
        with pytest.raises(ServiceUnavailable):
            await store.post(7, 1, max_posts=5, max_rooms=5)
        with pytest.raises(ServiceUnavailable):
            await store.is_marked(7)
        assert warned == ["bot_activity_unavailable"] * 2
    finally:
        await dead.aclose()
