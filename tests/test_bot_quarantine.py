"""Bot tokens on the native API, activity monitoring and quarantine (T7), against a
real server on both deployments.

Each test names the attack it performs: a bot token used beyond its scopes and rooms,
a flood, a mass mention, posts to many rooms at once, a history-read burst; and shows
that the bot ends in quarantine (writes refused on the REST API and the Bot API, reads
still served), that its owner and the admins are told, that each step is audited, and
that an admin's release restores it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from redoubt.domain.bot_activity import (
    ActivityRules,
    BotActivity,
    history_trip,
    post_limits,
    post_trip,
)
from redoubt.domain.enums import UserRole
from redoubt.storage import bots as bot_store
from tests.harness import Bot, Server, User, deployment, run_server, server_log

API = "/api/v1"
BOTS = f"{API}/admin/bots"


@pytest.fixture(params=["sqlite", "postgres"])
async def srv(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    """Low thresholds so a test can break each rule with a handful of requests."""
    async with deployment(request.param, tmp_path / "data") as settings:
        overrides: dict[str, Any] = {
            "bot_flood_floor": 5,
            "bot_max_rooms_per_minute": 3,
            "bot_max_mentions": 3,
            "bot_room_mention_members": 3,
            "bot_history_pages_per_minute": 6,
            "bot_activity_flush_seconds": 0.2,
        }
        async with run_server(settings(**overrides)) as server:
            yield server


def as_user(bot: Bot) -> User:
    """The bot's token as a REST bearer credential."""
    return User(bot.id, bot.username, bot.token, role="bot")


async def bot_call(srv: Server, bot: Bot, method: str, **kwargs: Any) -> httpx.Response:
    return await srv.http.post(f"/bot{bot.token}/{method}", **kwargs)


async def setup(srv: Server, *room_names: str) -> tuple[User, User, Bot, list[str]]:
    """An admin, alice (the bot's owner), and a bot member of alice's channels."""
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    rooms = [await srv.room(alice, name) for name in room_names]
    bot = await srv.create_bot(alice, "watched_bot", *rooms)
    for room in rooms:
        await srv.ok("POST", f"{API}/rooms/{room}/members", alice, json={"user_id": bot.id})
    return admin, alice, bot, rooms


async def quarantined(srv: Server, admin: User, bot: Bot) -> dict[str, Any]:
    """Wait for the bot's quarantine to be written (a few ms after the trip)."""
    for _ in range(100):
        view = await srv.ok("GET", f"{BOTS}", admin)
        mine = next(b for b in view if b["id"] == bot.id)
        if mine["quarantined_at"] is not None:
            return dict(mine)
        await asyncio.sleep(0.05)
    raise AssertionError("the bot was not quarantined")


async def audit_actions(srv: Server, admin: User, bot: Bot) -> list[dict[str, Any]]:
    rows = await srv.ok("GET", f"{API}/admin/audit", admin, params={"limit": 200})
    return [r for r in rows if r.get("target_id") == bot.id]


async def notices(srv: Server, user: User) -> list[dict[str, Any]]:
    found = await srv.ok("GET", f"{API}/users/me/notices", user)
    return [n for n in found if n["kind"] == "bot_quarantined"]


async def assert_writes_refused_reads_ok(srv: Server, bot: Bot, room: str) -> None:
    """Quarantine: REST writes 403, Bot API writes 403 "bot is quarantined", reads
    served on both."""
    me = as_user(bot)
    resp = await srv.request("POST", f"{API}/rooms/{room}/messages", me, json={"text": "x"})
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["message"] == "bot is quarantined"
    sent = await bot_call(srv, bot, "sendMessage", json={"chat_id": -int(room), "text": "x"})
    assert sent.status_code == 403, sent.text
    assert sent.json() == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot is quarantined",
    }
    commands = await bot_call(srv, bot, "setMyCommands", json={"commands": []})
    assert commands.status_code == 403
    # Reads: history over REST, getMe and getUpdates over the Bot API.
    assert (await srv.request("GET", f"{API}/rooms/{room}/messages", me)).status_code == 200
    assert (await bot_call(srv, bot, "getMe")).json()["ok"] is True
    assert (await bot_call(srv, bot, "getUpdates")).json()["ok"] is True


async def test_bot_token_as_rest_bearer_within_scopes_and_rooms(srv: Server) -> None:
    """T7: a bot's token on the native API works within its scopes and allowed rooms and
    nowhere else: not in a room outside its list, not on a route of another scope, not
    on session-only routes (token and bot management, its own profile)."""
    admin, alice, bot, (room,) = await setup(srv, "ops")
    other = await srv.room(alice, "elsewhere")
    me = as_user(bot)
    posted = await srv.post(me, room, "hello from the bot")
    assert posted["author_id"] == bot.id
    history = await srv.ok("GET", f"{API}/rooms/{room}/messages", me)
    assert [m["text"] for m in history][-1] == "hello from the bot"
    # A public channel it is not in (nor allowed): not there, as for a stranger.
    for method, path, body in (
        ("GET", f"{API}/rooms/{other}/messages", None),
        ("POST", f"{API}/rooms/{other}/messages", {"text": "x"}),
        ("POST", f"{API}/rooms/{other}/join", None),
    ):
        resp = await srv.request(method, path, me, json=body)
        assert resp.status_code in (403, 404), (path, resp.text)
    # Scopes: users:read isn't among its defaults; session-only routes refuse it.
    users = await srv.request("GET", f"{API}/users", me)
    assert users.status_code == 403
    assert "users:read" in users.json()["error"]["message"]
    for method, path in (
        ("GET", f"{API}/tokens"),
        ("POST", f"{API}/tokens"),
        ("GET", BOTS),
        ("PATCH", f"{API}/users/me"),
        ("GET", f"{API}/sessions"),
    ):
        resp = await srv.request(method, path, me, json={})
        assert resp.status_code in (403, 405), (method, path, resp.status_code)
        assert resp.status_code != 200
    # An admin narrows it to messages:read: posting is refused on both APIs.
    view = await srv.ok("PUT", f"{BOTS}/{bot.id}/scopes", admin, json={"scopes": ["messages:read"]})
    assert view["scopes"] == ["messages:read"]
    resp = await srv.request("POST", f"{API}/rooms/{room}/messages", me, json={"text": "x"})
    assert resp.status_code == 403
    assert "messages:write" in resp.json()["error"]["message"]
    sent = await bot_call(srv, bot, "sendMessage", json={"chat_id": -int(room), "text": "x"})
    assert sent.status_code == 403
    assert (await srv.request("GET", f"{API}/rooms/{room}/messages", me)).status_code == 200
    # Never admin, whatever the admin asks.
    refused = await srv.request("PUT", f"{BOTS}/{bot.id}/scopes", admin, json={"scopes": ["admin"]})
    assert refused.status_code == 400
    audit = await audit_actions(srv, admin, bot)
    assert any(a["action"] == "bot.scopes_set" for a in audit)


async def test_event_stream_with_a_bot_token(srv: Server) -> None:
    """The WebSocket stream accepts a bot token and delivers the events of its rooms
    only."""
    _admin, alice, bot, (room,) = await setup(srv, "ops")
    other = await srv.room(alice, "elsewhere")
    async with srv.events(as_user(bot)) as stream:
        await srv.post(alice, other, "not for the bot")
        await srv.post(alice, room, "for the bot")
        event = await stream.until("message.created")
        assert event["data"]["text"] == "for the bot"
        rest = await stream.drain()
        assert all(e.get("data", {}).get("text") != "not for the bot" for e in rest)


async def test_flood_quarantines_the_bot_and_release_restores_it(srv: Server) -> None:
    """T7: a bot posting far above its baseline (here: more than 5 in a minute, no
    history) is quarantined: the offending post is refused, writes are refused on both
    APIs while reads work, the owner and the admin get a notice, and it's audited. An
    admin releases it (audited) and it can post again."""
    admin, alice, bot, (room,) = await setup(srv, "ops")
    with server_log(logging.DEBUG) as log:
        for i in range(5):
            await srv.post(as_user(bot), room, f"message {i}")
        flood = await bot_call(srv, bot, "sendMessage", json={"chat_id": -int(room), "text": "6"})
        assert flood.status_code == 403
        assert flood.json()["description"] == "Forbidden: bot is quarantined"
        view = await quarantined(srv, admin, bot)
        assert view["quarantine_reason"].startswith("flood")
        texts = [m["text"] for m in await srv.ok("GET", f"{API}/rooms/{room}/messages", alice)]
        assert "6" not in texts
        await assert_writes_refused_reads_ok(srv, bot, room)
    # The quarantine was logged (and its requests), the token never: neither whole nor
    # its secret half, though it rode in URLs and headers throughout.
    assert "bot_quarantined" in log.text()
    assert bot.token not in log.text()
    assert bot.token.split(":")[1] not in log.text()
    assert "/bot<redacted>/sendMessage" in log.text()
    for user in (alice, admin):
        found = await notices(srv, user)
        assert len(found) == 1, found
        assert found[0]["details"]["rule"] == "flood"
        assert found[0]["details"]["bot_id"] == bot.id
    audit = await audit_actions(srv, admin, bot)
    assert [a["action"] for a in audit].count("bot.quarantined") == 1

    released = await srv.ok("POST", f"{BOTS}/{bot.id}/release", admin)
    assert released["quarantined_at"] is None
    assert any(a["action"] == "bot.released" for a in await audit_actions(srv, admin, bot))
    await srv.post(as_user(bot), room, "back to normal")
    ok = await bot_call(srv, bot, "sendMessage", json={"chat_id": -int(room), "text": "hi"})
    assert ok.status_code == 200, ok.text
    # The owner can't release it: admins only.
    assert (await srv.request("POST", f"{BOTS}/{bot.id}/release", alice)).status_code == 403


async def test_mass_mention_is_refused_and_quarantines(srv: Server) -> None:
    """T7: a bot message naming more than 3 users is refused (never posted) and the bot
    is quarantined; so is @all in a room of more than 3 members."""
    admin, alice, bot, (room,) = await setup(srv, "ops")
    people = [await srv.create_user(f"user{i}") for i in range(4)]
    for person in people:
        await srv.ok("POST", f"{API}/rooms/{room}/members", alice, json={"user_id": person.id})
    text = " ".join(f"@{p.username}" for p in people) + " look"
    resp = await srv.request(
        "POST", f"{API}/rooms/{room}/messages", as_user(bot), json={"text": text}
    )
    assert resp.status_code == 403
    view = await quarantined(srv, admin, bot)
    assert view["quarantine_reason"].startswith("mass_mention")
    history = await srv.ok("GET", f"{API}/rooms/{room}/messages", alice)
    assert all(m["text"] != text for m in history)
    for person in people:  # nobody was pinged
        rooms = await srv.ok("GET", f"{API}/rooms", person)
        assert all(r["read"]["mention_count"] == 0 for r in rooms)

    await srv.ok("POST", f"{BOTS}/{bot.id}/release", admin)
    everyone = await bot_call(
        srv, bot, "sendMessage", json={"chat_id": -int(room), "text": "@all wake up"}
    )
    assert everyone.status_code == 403
    assert everyone.json()["description"] == "Forbidden: bot is quarantined"
    await quarantined(srv, admin, bot)
    audit = await audit_actions(srv, admin, bot)
    assert [a["action"] for a in audit].count("bot.quarantined") == 2


async def test_posting_to_many_rooms_at_once_quarantines(srv: Server) -> None:
    """T7: a bot posting to more than 3 rooms within a minute is quarantined; the post
    to the fourth room is refused."""
    admin, alice, bot, rooms = await setup(srv, "r1", "r2", "r3", "r4")
    for room in rooms[:3]:
        await srv.post(as_user(bot), room, "status")
    resp = await srv.request(
        "POST", f"{API}/rooms/{rooms[3]}/messages", as_user(bot), json={"text": "status"}
    )
    assert resp.status_code == 403
    view = await quarantined(srv, admin, bot)
    assert view["quarantine_reason"].startswith("many_rooms")
    assert await srv.ok("GET", f"{API}/rooms/{rooms[3]}/messages", alice) == []
    assert len(await notices(srv, alice)) == 1


async def test_history_read_burst_quarantines(srv: Server) -> None:
    """T7: a bot reading more than 6 pages of history within a minute is quarantined
    (reads keep working; writes stop)."""
    admin, _alice, bot, (room,) = await setup(srv, "ops")
    for _ in range(7):
        resp = await srv.request("GET", f"{API}/rooms/{room}/messages", as_user(bot))
        assert resp.status_code == 200
    view = await quarantined(srv, admin, bot)
    assert view["quarantine_reason"].startswith("history_burst")
    await assert_writes_refused_reads_ok(srv, bot, room)


async def test_counts_are_flushed_and_become_the_baseline(srv: Server) -> None:
    """The hourly counts reach the database (the baselines); a bot whose busiest minute
    of the week was 4 posts may post 4 again, and flood only past 5 x 4 = 20."""
    admin, _alice, bot, (room,) = await setup(srv, "ops")
    for i in range(4):
        await srv.post(as_user(bot), room, f"m{i}")
    ctx = srv.container.context
    peak = 0
    for _ in range(100):
        async with ctx.db.read("test") as conn:
            peak = await bot_store.peak_posts_per_minute(
                conn, int(bot.id), dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
            )
        if peak == 4:
            break
        await asyncio.sleep(0.05)
    assert peak == 4
    # A fresh process (cache forgotten) reads the baseline back: 20 posts a minute pass.
    ctx.bot_activity.forget(int(bot.id))
    ctx.bot_activity.set_baseline(int(bot.id), 0, -1e9)  # expired: re-read from the DB
    for i in range(15):  # 4 + 15 = 19 in this minute: under 20
        await srv.post(as_user(bot), room, f"n{i}")
    listed = await srv.ok("GET", BOTS, admin)
    assert next(b for b in listed if b["id"] == bot.id)["quarantined_at"] is None


def test_rules_as_a_table() -> None:
    """The rules on their own: floor, factor x baseline, rooms, mentions, @all."""
    rules = ActivityRules(
        flood_floor=5,
        flood_factor=5.0,
        max_rooms_per_minute=3,
        max_mentions=3,
        room_mention_members=3,
        history_pages_per_minute=6,
    )
    wall = dt.datetime.now(dt.UTC)

    def post(
        monitor: BotActivity,
        at: float,
        room: int = 1,
        *,
        baseline: int = 0,
        mentioned_users: int = 0,
        mentions_room: bool = False,
        room_members: int = 2,
    ) -> str | None:
        trip = monitor.check_post(
            7,
            room,
            now=at,
            wall=wall,
            mentioned_users=mentioned_users,
            mentions_room=mentions_room,
            room_members=room_members,
            baseline=baseline,
            rules=rules,
        )
        return trip.reason if trip else None

    quiet = BotActivity()
    assert [post(quiet, i) for i in range(6)] == [None] * 5 + ["flood"]
    assert post(quiet, 61.0) is None  # a minute later the window has moved on
    busy = BotActivity()
    assert all(post(busy, i / 100, baseline=4) is None for i in range(20))
    assert post(busy, 0.5, baseline=4) == "flood"
    rooms = BotActivity()
    assert [post(rooms, i, room=i) for i in range(4)] == [None, None, None, "many_rooms"]
    mentions = BotActivity()
    assert post(mentions, 0, mentioned_users=3) is None
    assert post(mentions, 1, mentioned_users=4) == "mass_mention"
    assert post(mentions, 2, mentions_room=True, room_members=3) is None
    assert post(mentions, 3, mentions_room=True, room_members=4) == "mass_mention"
    pages = BotActivity()
    found = [pages.note_history(7, now=i, wall=wall, rules=rules) for i in range(7)]
    assert [t.reason if t else None for t in found] == [None] * 6 + ["history_burst"]
    assert 7 in pages.pending


def test_rules_over_counts() -> None:
    """The same rules as pure functions of a minute's counts (what scale-out judges on,
    the counts coming from the windows in Redis)."""
    rules = ActivityRules(
        flood_floor=5,
        flood_factor=5.0,
        max_rooms_per_minute=3,
        max_mentions=3,
        room_mention_members=3,
        history_pages_per_minute=6,
    )
    assert (post_limits(rules, 0).posts, post_limits(rules, 4).posts) == (5, 20)
    assert post_limits(rules, 0).rooms == 3

    def reason(posts: int, rooms: int, baseline: int = 0) -> str | None:
        trip = post_trip(rules, baseline=baseline, posts=posts, rooms=rooms)
        return trip.reason if trip else None

    assert [reason(n, 1) for n in (5, 6)] == [None, "flood"]
    assert [reason(20, 1, 4), reason(21, 1, 4)] == [None, "flood"]
    assert [reason(1, 3), reason(1, 4), reason(9, 4)] == [None, "many_rooms", "many_rooms"]
    assert history_trip(rules, 6) is None
    found = history_trip(rules, 7)
    assert found is not None
    assert found.reason == "history_burst"
    assert found.facts == {"pages_per_minute": 7, "limit": 6}
