"""Users' own bots (issue 6: "created by an admin, or by users when the admin allows").

An admin turns self-service on (``PUT /admin/bot-settings``, audited); a user then
creates bots they own (``POST /bots``) with rooms they own or moderate only, up to a
per-user limit, and manages those bots alone: another user's bot is not found (404) on
every per-bot route. Session only: API tokens and bot tokens are refused. Turning the
setting off stops new bots; existing ones keep working.
"""

from __future__ import annotations

from typing import Any

from redoubt.domain.enums import UserRole
from tests.harness import Server, User

API = "/api/v1"
OWN = f"{API}/bots"
ADMIN_BOTS = f"{API}/admin/bots"
SETTINGS = f"{API}/admin/bot-settings"


async def _allow(srv: Server, admin: User, *, allowed: bool = True, limit: int = 5) -> None:
    got = await srv.ok(
        "PUT",
        SETTINGS,
        admin,
        json={"users_may_create_bots": allowed, "max_bots_per_user": limit},
    )
    assert got == {"users_may_create_bots": allowed, "max_bots_per_user": limit}


async def _get_me(srv: Server, token: str) -> Any:
    resp = await srv.http.get(f"/bot{token}/getMe")
    return resp.status_code, resp.json()


async def _audit(srv: Server, admin: User, action: str) -> list[dict[str, Any]]:
    return list(await srv.ok("GET", f"{API}/admin/audit", admin, params={"action": action}))


async def _bot_usernames(srv: Server, admin: User) -> list[str]:
    return [b["username"] for b in await srv.ok("GET", ADMIN_BOTS, admin)]


async def test_setting_defaults_off_and_only_admins_change_it(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    assert await srv.ok("GET", SETTINGS, admin) == {
        "users_may_create_bots": False,
        "max_bots_per_user": 5,
    }
    policy = await srv.ok("GET", f"{API}/bot-policy", alice)
    assert policy == {"users_may_create_bots": False, "max_bots_per_user": 5, "may_create": False}
    body = {"users_may_create_bots": True, "max_bots_per_user": 3}
    assert (await srv.request("GET", SETTINGS, alice)).status_code == 403
    assert (await srv.request("PUT", SETTINGS, alice, json=body)).status_code == 403
    assert (
        await srv.request("PUT", SETTINGS, admin, json={**body, "max_bots_per_user": -1})
    ).status_code == 400
    await _allow(srv, admin, limit=3)
    assert (await srv.ok("GET", f"{API}/bot-policy", alice))["may_create"] is True
    entries = await _audit(srv, admin, "settings.user_bots")
    assert len(entries) == 1
    assert entries[0]["actor_id"] == admin.id
    assert entries[0]["details"]["to"] == body
    assert entries[0]["details"]["from"] == {"users_may_create_bots": False, "max_bots_per_user": 5}


async def test_setting_off_refuses_and_creates_nothing(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    resp = await srv.request("POST", OWN, alice, json={"username": "alicebot"})
    assert resp.status_code == 403, resp.text
    assert await _bot_usernames(srv, admin) == []
    assert await srv.ok("GET", OWN, alice) == []
    # Nothing half-made: the username is still free once allowed.
    await _allow(srv, admin)
    assert (await srv.request("POST", OWN, alice, json={"username": "alicebot"})).status_code == 201


async def test_user_creates_own_bot_whose_token_works(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    room = await srv.room(alice, "ops", "channel")
    await _allow(srv, admin)
    resp = await srv.request(
        "POST",
        OWN,
        alice,
        json={"username": "alicebot", "description": "Mine", "room_ids": [room]},
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["cache-control"] == "no-store"
    made = resp.json()
    bot, token = made["bot"], made["token"]
    assert bot["owner"]["id"] == alice.id
    assert bot["room_ids"] == [room]
    assert bot["scopes"] == ["messages:read", "messages:write"]
    assert token.startswith(f"{bot['id']}:")
    status, me = await _get_me(srv, token)
    assert status == 200, me
    assert me["result"]["username"] == "alicebot"
    # Listed for its owner (never with its token), and for admins.
    listed = await srv.ok("GET", OWN, alice)
    assert [b["id"] for b in listed] == [bot["id"]]
    assert token not in str(listed)
    assert await _bot_usernames(srv, admin) == ["alicebot"]
    # An admin scope is refused, as on the admin route.
    bad = {"username": "adminbot", "scopes": ["admin"]}
    assert (await srv.request("POST", OWN, alice, json=bad)).status_code in (400, 422)
    # An owner can't be chosen here.
    other = {"username": "otherbot", "owner_id": admin.id}
    assert (await srv.request("POST", OWN, alice, json=other)).status_code == 400


async def test_rooms_the_user_does_not_own_or_moderate_are_refused(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    await _allow(srv, admin)
    own_group = await srv.room(alice, "mine", "private")
    bobs_channel = await srv.room(bob, "bobs", "channel")
    await srv.ok("POST", f"{API}/rooms/{bobs_channel}/join", alice)  # a plain member
    bobs_group = await srv.room(bob, "secret", "private")  # not even visible to alice
    moderated = await srv.room(bob, "modded", "private", alice)
    await srv.ok(
        "PATCH",
        f"{API}/rooms/{moderated}/members/{alice.id}",
        bob,
        json={"role": "moderator"},
    )
    for refused in (bobs_channel, bobs_group, "999999999999"):
        resp = await srv.request(
            "POST", OWN, alice, json={"username": "roombot", "room_ids": [own_group, refused]}
        )
        assert resp.status_code == 403, (refused, resp.text)
    assert await srv.ok("GET", OWN, alice) == []
    made = await srv.ok(
        "POST", OWN, alice, json={"username": "roombot", "room_ids": [own_group, moderated]}
    )
    bot_id = made["bot"]["id"]
    # Re-rooming follows the same rule, and a refusal changes nothing.
    resp = await srv.request(
        "PUT", f"{OWN}/{bot_id}/rooms", alice, json={"room_ids": [bobs_channel]}
    )
    assert resp.status_code == 403, resp.text
    view = await srv.ok("PUT", f"{OWN}/{bot_id}/rooms", alice, json={"room_ids": [own_group]})
    assert view["room_ids"] == [own_group]


async def test_guests_are_refused(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    guest = await srv.create_user("visitor", role=UserRole.GUEST)
    await _allow(srv, admin)
    assert (await srv.ok("GET", f"{API}/bot-policy", guest))["may_create"] is False
    resp = await srv.request("POST", OWN, guest, json={"username": "guestbot"})
    assert resp.status_code == 403, resp.text
    assert await _bot_usernames(srv, admin) == []


async def test_per_user_limit(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    await _allow(srv, admin, limit=2)
    first = await srv.ok("POST", OWN, alice, json={"username": "one"})
    await srv.ok("POST", OWN, alice, json={"username": "two"})
    resp = await srv.request("POST", OWN, alice, json={"username": "three"})
    assert resp.status_code == 409, resp.text
    assert sorted(await _bot_usernames(srv, admin)) == ["one", "two"]
    # The limit is per user, and a deleted bot frees its place.
    await srv.ok("POST", OWN, bob, json={"username": "bobs"})
    assert (await srv.request("DELETE", f"{OWN}/{first['bot']['id']}", alice)).status_code == 204
    await srv.ok("POST", OWN, alice, json={"username": "three"})


async def test_another_users_bot_is_not_found_on_every_route(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    await _allow(srv, admin)
    made = await srv.ok("POST", OWN, alice, json={"username": "alicebot"})
    bot_id, token = made["bot"]["id"], made["token"]
    admins_bot = await srv.ok(
        "POST", ADMIN_BOTS, admin, json={"username": "bobsbot", "owner_id": bob.id}
    )
    calls: list[tuple[str, str, Any]] = [
        ("POST", f"{OWN}/{bot_id}/token", {"grace_hours": 0}),
        ("DELETE", f"{OWN}/{bot_id}/token", None),
        ("PUT", f"{OWN}/{bot_id}/rooms", {"room_ids": []}),
        ("DELETE", f"{OWN}/{bot_id}", None),
    ]
    for caller in (bob, admin):  # admins too: these are the owner's routes
        for method, path, body in calls:
            resp = await srv.request(method, path, caller, json=body)
            assert resp.status_code == 404, (caller.username, method, path, resp.text)
        assert bot_id not in str(await srv.ok("GET", OWN, caller))
    # The same answer as for an id that was never a bot.
    for method, path, body in calls:
        resp = await srv.request(method, path.replace(bot_id, "123456789"), bob, json=body)
        assert resp.status_code == 404
    assert (await _get_me(srv, token))[0] == 200
    # Bob manages the bot an admin made for him through his own routes.
    bobs_id = admins_bot["bot"]["id"]
    assert [b["id"] for b in await srv.ok("GET", OWN, bob)] == [bobs_id]
    new = await srv.ok("POST", f"{OWN}/{bobs_id}/token", bob, json={"grace_hours": 0})
    assert (await _get_me(srv, new["token"]))[0] == 200
    assert (await _get_me(srv, admins_bot["token"]))[0] == 401


async def test_owner_rotates_revokes_and_deletes(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    await _allow(srv, admin)
    made = await srv.ok("POST", OWN, alice, json={"username": "alicebot"})
    bot_id, first = made["bot"]["id"], made["token"]
    rotated = await srv.ok("POST", f"{OWN}/{bot_id}/token", alice, json={"grace_hours": 1})
    assert (await _get_me(srv, first))[0] == 200  # in its grace period
    assert (await _get_me(srv, rotated["token"]))[0] == 200
    assert (await srv.request("DELETE", f"{OWN}/{bot_id}/token", alice)).status_code == 204
    assert (await _get_me(srv, first))[0] == 401
    assert (await _get_me(srv, rotated["token"]))[0] == 401
    again = await srv.ok("POST", f"{OWN}/{bot_id}/token", alice, json={"grace_hours": 0})
    assert (await _get_me(srv, again["token"]))[0] == 200
    assert (await srv.request("DELETE", f"{OWN}/{bot_id}", alice)).status_code == 204
    assert (await _get_me(srv, again["token"]))[0] == 401
    assert await srv.ok("GET", OWN, alice) == []
    # Every change is audited with the acting user.
    for action in ("bot.created", "bot.token_rotated", "bot.token_revoked", "bot.deleted"):
        entries = await _audit(srv, admin, action)
        assert entries, action
        assert all(e["actor_id"] == alice.id for e in entries), action
        assert all(e["target_id"] == bot_id for e in entries), action
    rooms = await srv.room(alice, "ops", "channel")
    made2 = await srv.ok("POST", OWN, alice, json={"username": "roomsbot"})
    await srv.ok("PUT", f"{OWN}/{made2['bot']['id']}/rooms", alice, json={"room_ids": [rooms]})
    entries = await _audit(srv, admin, "bot.rooms_set")
    assert [e["actor_id"] for e in entries] == [alice.id]


async def test_api_and_bot_tokens_are_refused(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    await _allow(srv, admin)
    made = await srv.ok("POST", OWN, alice, json={"username": "alicebot"})
    bot_id = made["bot"]["id"]
    pat = await srv.create_token(
        alice, "messages:read", "messages:write", "rooms:manage", "users:read"
    )
    calls: list[tuple[str, str, Any]] = [
        ("GET", f"{API}/bot-policy", None),
        ("GET", OWN, None),
        ("POST", OWN, {"username": "tokenbot"}),
        ("POST", f"{OWN}/{bot_id}/token", {"grace_hours": 0}),
        ("DELETE", f"{OWN}/{bot_id}/token", None),
        ("PUT", f"{OWN}/{bot_id}/rooms", {"room_ids": []}),
        ("DELETE", f"{OWN}/{bot_id}", None),
    ]
    as_bot = {"Authorization": f"Bearer {made['token']}"}
    for method, path, body in calls:
        resp = await srv.request(method, path, pat, json=body)
        assert resp.status_code == 403, (method, path, resp.text)
        resp = await srv.http.request(method, path, headers=as_bot, json=body)
        assert resp.status_code == 403, (method, path, resp.text)
    # Bots can't own bots: nothing was made, and the bot still works.
    assert await _bot_usernames(srv, admin) == ["alicebot"]
    assert (await _get_me(srv, made["token"]))[0] == 200


async def test_turning_off_keeps_existing_bots_working(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    room = await srv.room(alice, "ops", "channel")
    await _allow(srv, admin)
    made = await srv.ok("POST", OWN, alice, json={"username": "alicebot", "room_ids": [room]})
    bot_id, token = made["bot"]["id"], made["token"]
    await _allow(srv, admin, allowed=False)
    assert (await srv.request("POST", OWN, alice, json={"username": "late"})).status_code == 403
    assert (await _get_me(srv, token))[0] == 200
    # The bot still posts where it was added.
    await srv.ok("POST", f"{API}/rooms/{room}/members", alice, json={"user_id": bot_id})
    resp = await srv.http.post(
        f"/bot{token}/sendMessage", json={"chat_id": -int(room), "text": "hi"}
    )
    assert resp.status_code == 200, resp.text
    # Its owner still manages it.
    new = await srv.ok("POST", f"{OWN}/{bot_id}/token", alice, json={"grace_hours": 0})
    assert (await _get_me(srv, new["token"]))[0] == 200
    assert [b["id"] for b in await srv.ok("GET", OWN, alice)] == [bot_id]
    assert (await srv.request("DELETE", f"{OWN}/{bot_id}", alice)).status_code == 204
