"""Bot accounts (issue 6, first slice): created by admins, tokens in Telegram's
``<bot id>:<secret>`` shape that follow the API-token discipline (hashed, shown once,
rotatable with a grace period, revocable, address ranges), limited to the rooms an
admin allowed, never admins. Threats T1 (token leaks) and T7 (a bot beyond its rights).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest

from redoubt.actions.bots import do_create_bot
from redoubt.actions.messages import do_post_message
from redoubt.actions.rooms import do_create_room, do_join_room
from redoubt.core.clock import FakeClock
from redoubt.core.errors import Forbidden, NotFound, Unauthorized
from redoubt.core.tokens import hash_token
from redoubt.domain.enums import RoomKind, UserRole
from redoubt.domain.permissions import RoomAction
from redoubt.domain.views import MessageView
from redoubt.queries.bots import authenticate_bot
from redoubt.queries.context import Context, Requester
from redoubt.queries.rooms import access_room
from redoubt.storage import api_tokens as token_store
from redoubt.storage import users as user_store
from tests.cli_runner import CHEAP_HASHING, Result, run_redoubt
from tests.conftest import LogSecretDetector
from tests.harness import (
    PASSWORD,
    Bot,
    Server,
    User,
    run_server,
    sqlite_database,
    test_settings,
)

API = "/api/v1"
BOTS = f"{API}/admin/bots"
TOKEN_SHAPE = re.compile(r"([1-9][0-9]{0,15}):[A-Za-z0-9_\-]{43}")
LOOPBACK = "127.0.0.1"


async def _works(ctx: Context, token: str, ip: str = LOOPBACK) -> bool:
    try:
        await authenticate_bot(ctx, token, ip=ip)
    except Unauthorized:
        return False
    return True


def _later(ctx: Context, hours: float) -> Context:
    """The same server, seen ``hours`` from now."""
    clock = FakeClock(ctx.clock.now() + dt.timedelta(hours=hours))
    return dataclasses.replace(ctx, clock=clock)


async def _audit(srv: Server, admin: User, action: str) -> list[dict[str, object]]:
    rows = await srv.ok("GET", f"{API}/admin/audit", admin, params={"action": action})
    return list(rows)


async def test_admin_creates_bot_token_shown_once_and_hashed(any_server: Server) -> None:
    """T1: the token is in the creation answer only (no-store), never in lists, the
    audit log or metrics; the server keeps its hash."""
    srv = any_server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    room = await srv.room(alice, "ops", "channel")
    resp = await srv.request(
        "POST",
        BOTS,
        admin,
        json={
            "username": "deploybot",
            "display_name": "Deploy Bot",
            "description": "Deploys things",
            "owner_id": alice.id,
            "room_ids": [room],
        },
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    bot, token = body["bot"], body["token"]
    match = TOKEN_SHAPE.fullmatch(token)
    assert match is not None
    assert match.group(1) == bot["id"]
    assert len(token.split(":")[1]) == 43
    assert bot == {
        "id": bot["id"],
        "username": "deploybot",
        "display_name": "Deploy Bot",
        "description": "Deploys things",
        "owner": {"id": alice.id, "username": "alice", "display_name": "Alice", "role": "user"},
        "room_ids": [room],
        "created_at": bot["created_at"],
        "token_hint": f"{bot['id']}:{token.split(':')[1][:4]}…",
        "quarantined_at": None,
        "quarantine_reason": "",
        "scopes": ["messages:read", "messages:write"],
    }

    requester, record = await authenticate_bot(srv.container.context, token, ip=LOOPBACK)
    assert (requester.id, requester.user.role) == (int(bot["id"]), UserRole.BOT)
    # Its grant: the bot's scopes and allowed rooms (tests/test_bot_quarantine.py).
    assert requester.grant is not None
    assert requester.grant.room_ids == frozenset({int(room)})
    assert not requester.grant.quarantined
    assert record.owner_id == int(alice.id)
    assert record.room_ids == (int(room),)

    async with srv.container.context.db.read("test") as conn:
        stored = await token_store.list_tokens(conn, user_id=int(bot["id"]), kind="bot")
        user = await user_store.get_user_by_id(conn, int(bot["id"]))
    assert [(t.token_hash, t.scopes) for t in stored] == [(hash_token(token), ())]
    assert user is not None
    assert user.password_hash is None  # no password: the token is its only credential

    listed = await srv.request("GET", BOTS, admin)
    audit = await srv.request("GET", f"{API}/admin/audit", admin)
    metrics = await srv.http.get("/metrics")
    secret = token.split(":")[1]
    for where in (listed, audit, metrics):
        assert where.status_code == 200
        assert secret not in where.text
    assert [b["id"] for b in listed.json()] == [bot["id"]]
    created = await _audit(srv, admin, "bot.created")
    assert [(e["actor_id"], e["target_id"]) for e in created] == [(admin.id, bot["id"])]
    # The bot's own user shows as a bot in the user lists; it can't sign in.
    login = await srv.login("deploybot", PASSWORD)
    assert login.status_code == 401


async def test_rotation_grace_and_revocation(server: Server) -> None:
    srv = server
    ctx = srv.container.context
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bot = await srv.create_bot(alice, "rotbot")

    rotated = await srv.request("POST", f"{BOTS}/{bot.id}/token", admin, json={"grace_hours": 2})
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    new = rotated.json()["token"]
    assert TOKEN_SHAPE.fullmatch(new)
    assert new.startswith(f"{bot.id}:")
    assert new != bot.token
    # Both work during the grace period; only the new one after it.
    assert await _works(ctx, bot.token)
    assert await _works(ctx, new)
    assert await _works(_later(ctx, 1.9), bot.token)
    assert not await _works(_later(ctx, 2.1), bot.token)
    assert await _works(_later(ctx, 24 * 400), new)  # bot tokens don't expire by themselves
    listed = await srv.ok("GET", BOTS, admin)
    assert listed[0]["token_hint"] == f"{bot.id}:{new.split(':')[1][:4]}…"

    # Beyond the server's maximum grace: refused, nothing changes.
    too_long = await srv.request(
        "POST", f"{BOTS}/{bot.id}/token", admin, json={"grace_hours": 10_000}
    )
    assert too_long.status_code == 400
    assert await _works(ctx, new)

    # Revocation stops every token at once, the one in its grace period too.
    resp = await srv.request("DELETE", f"{BOTS}/{bot.id}/token", admin)
    assert resp.status_code == 204
    assert not await _works(ctx, new)
    assert not await _works(ctx, bot.token)
    assert (await srv.ok("GET", BOTS, admin))[0]["token_hint"] is None
    # A fresh token after a revocation: rotation simply issues one.
    fresh = (await srv.ok("POST", f"{BOTS}/{bot.id}/token", admin, json={"grace_hours": 0}))[
        "token"
    ]
    assert await _works(ctx, fresh)
    assert not await _works(ctx, new)

    rotations = await _audit(srv, admin, "bot.token_rotated")
    revocations = await _audit(srv, admin, "bot.token_revoked")
    assert len(rotations) == 2
    assert len(revocations) == 1
    assert rotations[-1]["details"]["grace_hours"] == 2  # type: ignore[index]
    for entry in rotations + revocations:
        assert entry["target_id"] == bot.id
        assert bot.token.split(":")[1] not in str(entry)


async def test_authenticate_bot_refuses_every_bad_token(server: Server) -> None:
    """T1/T7: revoked, rotated past grace, wrong address, deleted bot, malformed, a
    token whose id part names another bot, a PAT or session token: all Unauthorized."""
    srv = server
    ctx = srv.container.context
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    plain = await srv.create_bot(alice, "plainbot")
    fenced = await srv.create_bot(alice, "fencedbot", networks=["10.20.0.0/16"])
    doomed = await srv.create_bot(alice, "doomedbot")
    other = await srv.create_bot(alice, "otherbot")

    assert await _works(ctx, plain.token)
    # Address ranges.
    assert await _works(ctx, fenced.token, "10.20.3.4")
    assert not await _works(ctx, fenced.token, LOOPBACK)
    assert not await _works(ctx, fenced.token, "not an address")
    # Ranges survive rotation.
    fenced_new = (
        await srv.ok("POST", f"{BOTS}/{fenced.id}/token", admin, json={"grace_hours": 0})
    )["token"]
    assert not await _works(ctx, fenced_new, LOOPBACK)
    assert await _works(ctx, fenced_new, "10.20.9.9")
    assert not await _works(ctx, fenced.token, "10.20.3.4")  # rotated, no grace
    # A deleted bot: its account is deactivated and its tokens revoked.
    assert (await srv.request("DELETE", f"{BOTS}/{doomed.id}", admin)).status_code == 204
    assert not await _works(ctx, doomed.token)
    assert (await srv.request("DELETE", f"{BOTS}/{doomed.id}", admin)).status_code == 404
    assert doomed.id not in {b["id"] for b in await srv.ok("GET", BOTS, admin)}
    # Shapes: the right secret under another bot's id, truncated, padded, PATs, sessions.
    secret = plain.token.split(":")[1]
    pat = await srv.create_token(alice, "users:read")
    for bad in (
        f"{other.id}:{secret}",
        f"{plain.id}:{secret[:-1]}",
        f"{plain.id}:{secret}A",
        f"0{plain.id}:{secret}",
        f" {plain.token}",
        f"{plain.token}\n",
        f"{plain.id}:{'A' * 43}",
        f"bot{plain.token}",
        "",
        pat.token,
        alice.token,
    ):
        assert not await _works(ctx, bad), bad
    assert await _works(ctx, other.token)


async def test_wrong_bot_token_on_rest_counts_as_a_failure(tmp_path: Path) -> None:
    """A bot-shaped REST bearer token with a wrong secret is refused like any wrong
    token, and counts toward the address's failed-token budget (past it, even good
    tokens get 429). A bot's real token works within its scopes: test_bot_quarantine.py."""
    settings = test_settings(tmp_path / "data", rate_token_failures_per_minute=3)
    await asyncio.to_thread(sqlite_database, tmp_path / "data")
    async with run_server(settings) as srv:
        alice = await srv.create_user("alice")
        bot = await srv.create_bot(alice, "restbot")
        forged = {"Authorization": f"Bearer {bot.id}:{'A' * 43}"}
        for _ in range(3):
            resp = await srv.http.get(f"{API}/rooms", headers=forged)
            assert resp.status_code == 401
            assert resp.json()["error"]["code"] == "unauthorized"
        throttled = await srv.request("GET", f"{API}/users/me", alice)
        assert throttled.status_code == 429


async def test_bot_only_joins_allowed_rooms(any_server: Server) -> None:
    """T7: a bot can be added to its allowed rooms only; an admin narrowing the list
    takes it out of the rooms no longer on it."""
    srv = any_server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    allowed = await srv.room(alice, "allowed", "channel")
    elsewhere = await srv.room(alice, "elsewhere", "channel")
    group = await srv.room(alice, "secret-group", "private")
    bot = await srv.create_bot(alice, "roombot", allowed)

    ok = await srv.request(
        "POST", f"{API}/rooms/{allowed}/members", alice, json={"user_id": bot.id}
    )
    assert ok.status_code == 200, ok.text
    for room in (elsewhere, group):
        resp = await srv.request(
            "POST", f"{API}/rooms/{room}/members", alice, json={"user_id": bot.id}
        )
        assert resp.status_code == 403, resp.text
        assert "rooms an admin allowed" in resp.json()["error"]["message"]
        members = await srv.ok("GET", f"{API}/rooms/{room}/members", alice)
        assert bot.id not in {m["user_id"] for m in members}
    # Even an admin can't add it past the list.
    resp = await srv.request(
        "POST", f"{API}/rooms/{elsewhere}/members", admin, json={"user_id": bot.id}
    )
    assert resp.status_code == 403

    # The admin moves it: out of "allowed" at once, and "elsewhere" opens.
    moved = await srv.request(
        "PUT", f"{BOTS}/{bot.id}/rooms", admin, json={"room_ids": [elsewhere]}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["room_ids"] == [elsewhere]
    members = await srv.ok("GET", f"{API}/rooms/{allowed}/members", alice)
    assert bot.id not in {m["user_id"] for m in members}
    resp = await srv.request(
        "POST", f"{API}/rooms/{elsewhere}/members", alice, json={"user_id": bot.id}
    )
    assert resp.status_code == 200
    entries = await _audit(srv, admin, "bot.rooms_set")
    assert entries[0]["details"] == {
        "room_ids": [elsewhere],
        "previous": [allowed],
        "removed_from": [allowed],
    }

    # The list holds channels and groups the admin can see, never DMs.
    dm = (await srv.ok("POST", f"{API}/dms", alice, json={"user_ids": [admin.id]}))["id"]
    for rooms in ([group], [dm], ["999999"]):
        resp = await srv.request("PUT", f"{BOTS}/{bot.id}/rooms", admin, json={"room_ids": rooms})
        assert resp.status_code == 400, (rooms, resp.text)
    # An incoming webhook's account (a bot without a bot row) can't be added anywhere.
    hook = await srv.ok(
        "POST", f"{API}/admin/hooks/incoming", admin, json={"name": "ci", "room_id": allowed}
    )
    resp = await srv.request(
        "POST", f"{API}/rooms/{elsewhere}/members", alice, json={"user_id": hook["hook"]["user_id"]}
    )
    assert resp.status_code == 403


async def test_bot_can_never_be_admin(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bot = await srv.create_bot(alice, "climber")
    for role in ("admin", "user", "guest"):
        resp = await srv.request("PATCH", f"{API}/users/{bot.id}", admin, json={"role": role})
        assert resp.status_code == 400, (role, resp.text)
    async with srv.container.context.db.read("test") as conn:
        user = await user_store.get_user_by_id(conn, int(bot.id))
    assert user is not None
    assert user.role is UserRole.BOT
    # No bot owns a bot, and guests own none either.
    guest = await srv.create_user("guest", role=UserRole.GUEST)
    for owner in (bot.id, guest.id, "999999"):
        resp = await srv.request(
            "POST", BOTS, admin, json={"username": "child", "owner_id": owner, "room_ids": []}
        )
        assert resp.status_code == 400, (owner, resp.text)


async def test_bot_rights_are_its_users_limited_by_the_matrix(any_server: Server) -> None:
    """T7, through the actions with the Requester authenticate_bot returns: a bot can't
    create rooms, join or read public channels by itself, or post where it isn't."""
    srv = any_server
    ctx = srv.container.context
    alice = await srv.create_user("alice")
    home = await srv.room(alice, "home", "channel")
    public = await srv.room(alice, "public", "channel")
    bot = await srv.create_bot(alice, "actbot", home)
    requester, _record = await authenticate_bot(ctx, bot.token, ip=LOOPBACK)

    for kind in (RoomKind.CHANNEL, RoomKind.PRIVATE):
        with pytest.raises(Forbidden):
            await do_create_room(ctx, name="botroom", kind=kind, topic="", acting_user=requester)
    for room in (home, public):  # not a member yet: invisible, can't join or post
        with pytest.raises(NotFound):
            await do_join_room(ctx, int(room), acting_user=requester)
        with pytest.raises(NotFound):
            await access_room(ctx, requester, int(room), RoomAction.READ)
        with pytest.raises(NotFound):
            await _post(ctx, requester, room, "hello")

    await srv.ok("POST", f"{API}/rooms/{home}/members", alice, json={"user_id": bot.id})
    posted = await _post(ctx, requester, home, "hello from the bot")
    assert posted.text == "hello from the bot"
    with pytest.raises(NotFound):
        await _post(ctx, requester, public, "spam")
    history = await srv.ok("GET", f"{API}/rooms/{home}/messages", alice)
    assert history[-1]["author_id"] == bot.id


async def _post(ctx: Context, requester: Requester, room: str, text: str) -> MessageView:
    return await do_post_message(
        ctx,
        int(room),
        text=text,
        thread_id=None,
        client_id=None,
        file_ids=[],
        acting_user=requester,
    )


async def test_only_admins_with_a_session_manage_bots(server: Server) -> None:
    srv = server
    ctx = srv.container.context
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bot = await srv.create_bot(alice, "ownedbot")
    admin_pat = await srv.create_token(admin, "admin", "users:read")
    body: dict[str, object] = {"username": "sneaky", "owner_id": alice.id, "room_ids": []}
    calls: list[tuple[str, str, dict[str, object] | None]] = [
        ("GET", BOTS, None),
        ("POST", BOTS, body),
        ("POST", f"{BOTS}/{bot.id}/token", {"grace_hours": 0}),
        ("DELETE", f"{BOTS}/{bot.id}/token", None),
        ("PUT", f"{BOTS}/{bot.id}/rooms", {"room_ids": []}),
        ("PUT", f"{BOTS}/{bot.id}/scopes", {"scopes": ["messages:read"]}),
        ("POST", f"{BOTS}/{bot.id}/release", None),
        ("DELETE", f"{BOTS}/{bot.id}", None),
    ]
    # Its owner (a plain user) can't, nor an admin's API token, whatever its scopes.
    for caller in (alice, admin_pat):
        for method, path, json_body in calls:
            resp = await srv.request(method, path, caller, json=json_body)
            assert resp.status_code == 403, (caller.username, method, path, resp.text)
    # Nor the bot, with its own token as a bearer (session-only routes).
    as_bot = {"Authorization": f"Bearer {bot.token}"}
    for method, path, json_body in calls:
        resp = await srv.http.request(method, path, headers=as_bot, json=json_body)
        assert resp.status_code == 403, (method, path, resp.text)
    # The actions say the same to callers that skip the routes.
    alice_requester = await _requester(ctx, alice)
    with pytest.raises(Forbidden):
        await do_create_bot(
            ctx,
            acting_user=alice_requester,
            username="sneaky",
            display_name=None,
            description="",
            owner_id=int(alice.id),
            room_ids=[],
        )
    assert await _works(ctx, bot.token)
    assert [b["username"] for b in await srv.ok("GET", BOTS, admin)] == ["ownedbot"]


async def _requester(ctx: Context, user: User) -> Requester:
    async with ctx.db.read("test") as conn:
        record = await user_store.get_user_by_id(conn, int(user.id))
    assert record is not None
    return Requester(user=record, session_id=None, ip=LOOPBACK)


async def test_every_bot_change_is_audited(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    room = await srv.room(alice, "ops", "channel")
    made = await srv.ok(
        "POST", BOTS, admin, json={"username": "audbot", "owner_id": alice.id, "room_ids": []}
    )
    bot_id = made["bot"]["id"]
    await srv.ok("POST", f"{BOTS}/{bot_id}/token", admin, json={"grace_hours": 1})
    await srv.ok("PUT", f"{BOTS}/{bot_id}/rooms", admin, json={"room_ids": [room]})
    assert (await srv.request("DELETE", f"{BOTS}/{bot_id}/token", admin)).status_code == 204
    assert (await srv.request("DELETE", f"{BOTS}/{bot_id}", admin)).status_code == 204
    entries = await _audit(srv, admin, "bot.")
    assert [e["action"] for e in reversed(entries)] == [
        "bot.created",
        "bot.token_rotated",
        "bot.rooms_set",
        "bot.token_revoked",
        "bot.deleted",
    ]
    for entry in entries:
        assert (entry["actor_id"], entry["target_type"], entry["target_id"]) == (
            admin.id,
            "bot",
            bot_id,
        )
        assert made["token"].split(":")[1] not in str(entry)


@pytest.mark.timeout(240)
async def test_cli_create_bot_and_list_bots(
    tmp_path: Path, secret_log_detector: LogSecretDetector
) -> None:
    """``redoubt admin create-bot`` prints the token alone on standard output, once;
    ``list-bots`` shows the hint, never the token; a running server honours it."""
    data = tmp_path / "data"

    async def redoubt(*args: str, stdin: str = "") -> Result:
        return await run_redoubt(data, *args, stdin=stdin, limit_s=60, **CHEAP_HASHING)

    assert (await redoubt("db", "upgrade")).code == 0
    made_user = await redoubt("admin", "create-user", "alice", stdin=PASSWORD + "\n")
    assert made_user.code == 0, made_user
    async with run_server(test_settings(data)) as srv:
        alice = User("0", "alice", (await srv.login("alice")).json()["token"])
        secret_log_detector.remember(alice.token)
        room = await srv.room(alice, "ops", "channel")
    missing = await redoubt("admin", "create-bot", "nobot", "--owner", "nobody")
    assert missing.code == 1, missing
    assert "No user named nobody" in missing.text
    made = await redoubt(
        "admin",
        "create-bot",
        "clibot",
        "--owner",
        "alice",
        "--description",
        "From the CLI",
        "--room",
        room,
    )
    assert made.code == 0, made
    token = made.out.strip()
    secret_log_detector.remember(token)
    match = TOKEN_SHAPE.fullmatch(token)
    assert match is not None, made.out
    assert made.out == token + "\n"  # the token alone, for piping into a secret store
    assert "shown only this once" in made.err
    listed = await redoubt("admin", "list-bots")
    assert listed.code == 0, listed
    assert "clibot" in listed.out
    assert match.group(1) in listed.out
    assert token.split(":")[1] not in listed.text
    assert token.split(":")[1][:4] in listed.out  # the hint
    async with run_server(test_settings(data)) as srv:
        requester, record = await authenticate_bot(srv.container.context, token, ip=LOOPBACK)
        assert requester.user.username == "clibot"
        assert record.room_ids == (int(room),)
        assert record.description == "From the CLI"
    assert "Traceback" not in made.text + listed.text


def test_bot_dataclass_keeps_the_token_out_of_reprs() -> None:
    bot = Bot(id="1", username="b", token="1:" + "A" * 43)
    assert "AAAA" not in repr(bot)


async def test_revoking_a_bots_tokens_closes_its_open_event_streams(server: Server) -> None:
    """T1/T7: a stream authenticates once, at its hello; one opened with a token that is
    then revoked (or rotated without grace) is closed with 4401, not left reading. A
    rotation with a grace period leaves it open: the old token still works."""
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bot = await srv.create_bot(alice, "streambot")
    as_user = User(bot.id, bot.username, bot.token, "bot")
    async with srv.events(as_user) as stream:
        await srv.ok("POST", f"{BOTS}/{bot.id}/token", admin, json={"grace_hours": 1})
        frames = await stream.drain(quiet=0.5)  # still open: presence at most
        assert {f["type"] for f in frames} <= {"presence"}, frames
        assert (await srv.request("DELETE", f"{BOTS}/{bot.id}/token", admin)).status_code == 204
        assert await stream.close_code() == 4401
    fresh = (await srv.ok("POST", f"{BOTS}/{bot.id}/token", admin, json={"grace_hours": 0}))[
        "token"
    ]
    async with srv.events(User(bot.id, bot.username, fresh, "bot")) as stream:
        await srv.ok("POST", f"{BOTS}/{bot.id}/token", admin, json={"grace_hours": 0})
        assert await stream.close_code() == 4401
