"""API tokens against a running server: the attacks of T11 and T1 (server side) fail.

A revoked, expired, rotated-past-grace, wrong-scope, wrong-room and wrong-address token
each fails; a token can't make tokens or touch its owner's password or second factor,
nor reach past its owner's rights; guessing is throttled; use from a new address range
and a jump in request rate raise alerts; nothing issued leaks into responses or metrics.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update

from redoubt.core.tokens import generate_token, hash_token
from redoubt.domain.enums import UserRole
from redoubt.storage.schema import api_token_usage, api_tokens
from tests.harness import PASSWORD, Server, User, deployment, run_server

API = "/api/v1"
TOKEN_SHAPE = re.compile(r"rdt_pat_[A-Za-z0-9_\-]{43}_[0-9A-Za-z]{6}")


@pytest.fixture(params=["sqlite", "postgres"])
async def srv(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    async with (
        deployment(request.param, tmp_path / "data") as settings,
        run_server(
            settings(
                api_token_usage_flush_seconds=0.1,
                rate_token_failures_per_minute=1000,
                api_token_rate_alert_floor=20,
            )
        ) as server,
    ):
        yield server


async def _set_token(srv: Server, token_id: str, **values: Any) -> None:
    async with srv.container.database.transaction("test") as txn:
        await txn.conn.execute(
            update(api_tokens).where(api_tokens.c.id == int(token_id)).values(**values)
        )


async def _flushed(srv: Server) -> None:
    await srv.container.token_usage.flush()


async def test_create_use_list_and_activity(srv: Server) -> None:
    alice = await srv.create_user("alice")
    room = await srv.room(alice, "general")
    resp = await srv.request(
        "POST",
        f"{API}/tokens",
        alice,
        json={"name": "ci", "scopes": ["messages:read", "messages:write"]},
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    secret = created["secret"]
    assert TOKEN_SHAPE.fullmatch(secret)
    view = created["token"]
    assert view["status"] == "active"
    assert view["hint"].startswith("rdt_pat_")
    assert secret.startswith(view["hint"].rstrip("…"))
    assert len(view["hint"]) < 16
    # Default expiry: the server's default (90 days) from now.
    expires = dt.datetime.fromisoformat(view["expires_at"])
    assert dt.timedelta(days=89) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=90)

    bot = User(alice.id, "alice", secret)
    posted = await srv.ok("POST", f"{API}/rooms/{room}/messages", bot, json={"text": "via token"})
    assert posted["author_id"] == alice.id  # acts as its owner, nobody else
    history = await srv.ok("GET", f"{API}/rooms/{room}/messages", bot)
    assert [m["text"] for m in history] == ["via token"]

    listed = await srv.ok("GET", f"{API}/tokens", alice)
    assert [t["id"] for t in listed] == [view["id"]]
    assert secret not in str(listed)  # shown once: never again

    await _flushed(srv)
    activity = await srv.ok("GET", f"{API}/tokens/{view['id']}/activity", alice)
    operations = {(u["operation"], u["requests"]) for u in activity["usage"]}
    assert ("POST /api/v1/rooms/{room_id}/messages", 1) in operations
    assert ("GET /api/v1/rooms/{room_id}/messages", 1) in operations
    assert {u["network"] for u in activity["usage"]} == {"127.0.0.0/24"}
    assert activity["token"]["last_used_ip"] == "127.0.0.1"
    assert activity["token"]["last_used_at"] is not None

    # Another user can't see or touch it.
    bob = await srv.create_user("bob")
    for method, path in (
        ("GET", f"{API}/tokens/{view['id']}/activity"),
        ("DELETE", f"{API}/tokens/{view['id']}"),
        ("POST", f"{API}/tokens/{view['id']}/rotate"),
    ):
        body = {"grace_hours": 0} if path.endswith("rotate") else None
        assert (await srv.request(method, path, bob, json=body)).status_code == 404
    assert await srv.ok("GET", f"{API}/rooms/{room}/messages", bot)  # still works


async def test_revoked_expired_and_rotated_tokens_fail(srv: Server) -> None:
    alice = await srv.create_user("alice")
    revoked = await srv.create_token(alice, "users:read")
    expired = await srv.create_token(alice, "users:read")
    rotated = await srv.create_token(alice, "users:read")
    graced = await srv.create_token(alice, "users:read")
    for token in (revoked, expired, rotated, graced):
        assert (await srv.request("GET", f"{API}/users/me", token)).status_code == 200

    assert (
        await srv.request("DELETE", f"{API}/tokens/{revoked.token_id}", alice)
    ).status_code == 204
    await _set_token(srv, str(expired.token_id), expires_at=dt.datetime.now(dt.UTC))

    # Rotation with no grace: the old token stops at once, the new one works.
    new = await srv.ok(
        "POST", f"{API}/tokens/{rotated.token_id}/rotate", alice, json={"grace_hours": 0}
    )
    successor = User(alice.id, "alice", new["secret"])
    assert (await srv.request("GET", f"{API}/users/me", successor)).status_code == 200
    # With a grace period both work, until it ends.
    new2 = await srv.ok(
        "POST", f"{API}/tokens/{graced.token_id}/rotate", alice, json={"grace_hours": 2}
    )
    assert (await srv.request("GET", f"{API}/users/me", graced)).status_code == 200
    assert (
        await srv.request("GET", f"{API}/users/me", User(alice.id, "a", new2["secret"]))
    ).status_code == 200
    statuses = {t["id"]: t["status"] for t in await srv.ok("GET", f"{API}/tokens", alice)}
    assert statuses[graced.token_id] == "grace"
    await _set_token(srv, str(graced.token_id), expires_at=dt.datetime.now(dt.UTC))  # grace over

    for token in (revoked, expired, rotated, graced):
        resp = await srv.request("GET", f"{API}/users/me", token)
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"]["code"] == "unauthorized"
    statuses = {t["id"]: t["status"] for t in await srv.ok("GET", f"{API}/tokens", alice)}
    assert statuses[revoked.token_id] == "revoked"
    assert statuses[expired.token_id] == "expired"
    assert statuses[rotated.token_id] == "expired"

    # A rotated token can't be rotated again (its successor is the one to rotate), nor
    # can a revoked one; grace beyond the admin's maximum is refused.
    for token in (rotated, revoked):
        resp = await srv.request(
            "POST", f"{API}/tokens/{token.token_id}/rotate", alice, json={"grace_hours": 0}
        )
        assert resp.status_code == 404
    resp = await srv.request(
        "POST", f"{API}/tokens/{new['token']['id']}/rotate", alice, json={"grace_hours": 10_000}
    )
    assert resp.status_code == 400

    audit = await _audit(srv, alice)
    assert {"token.created", "token.revoked", "token.rotated"} <= {a["action"] for a in audit}


async def _audit(srv: Server, user: User) -> list[dict[str, Any]]:
    admin = await srv.create_user(f"auditor{id(user) % 10_000}", role=UserRole.ADMIN)
    return await srv.ok("GET", f"{API}/admin/audit", admin, params={"limit": 200})  # type: ignore[no-any-return]


async def test_scopes_rooms_and_session_only_routes(srv: Server) -> None:
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    allowed = await srv.room(alice, "allowed", "private")
    other = await srv.room(alice, "other", "private")
    secret_room = await srv.room(bob, "bobs", "private")
    await srv.post(alice, other, "not for the token")

    reader = await srv.create_token(alice, "messages:read", room_ids=[allowed])
    # Wrong scope: reading is allowed, writing is not, and nothing gets posted.
    assert (await srv.request("GET", f"{API}/rooms/{allowed}/messages", reader)).status_code == 200
    resp = await srv.request("POST", f"{API}/rooms/{allowed}/messages", reader, json={"text": "x"})
    assert resp.status_code == 403
    assert "messages:write" in resp.json()["error"]["message"]
    assert await srv.ok("GET", f"{API}/rooms/{allowed}/messages", alice) == []
    # Wrong room: as if it didn't exist; the room list and search stay inside the list.
    assert (await srv.request("GET", f"{API}/rooms/{other}/messages", reader)).status_code == 404
    assert (await srv.request("GET", f"{API}/rooms/{other}", reader)).status_code == 404
    rooms = await srv.ok("GET", f"{API}/rooms", reader)
    assert [r["room"]["id"] for r in rooms] == [allowed]
    assert await srv.ok("GET", f"{API}/search", reader, params={"q": "token"}) == []
    assert await srv.ok("GET", f"{API}/search", alice, params={"q": "token"}) != []
    # The owner's own limits hold: a room the owner isn't in stays invisible...
    wide = await srv.create_token(alice, "messages:read", "messages:write")
    assert (await srv.request("GET", f"{API}/rooms/{secret_room}", wide)).status_code == 404
    # ...and a token can't be made for a room its owner can't read.
    resp = await srv.request(
        "POST",
        f"{API}/tokens",
        alice,
        json={"name": "x", "scopes": ["messages:read"], "room_ids": [secret_room]},
    )
    assert resp.status_code == 400

    # Session-only routes: a token can never make tokens, change the password or the
    # second factor, or manage sessions, whatever its scopes.
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    everything = await srv.create_token(
        admin, "messages:read", "messages:write", "rooms:manage", "users:read", "admin"
    )
    for method, path, body in (
        ("POST", f"{API}/tokens", {"name": "child", "scopes": ["users:read"]}),
        ("GET", f"{API}/tokens", None),
        ("POST", f"{API}/tokens/{everything.token_id}/rotate", {"grace_hours": 0}),
        ("DELETE", f"{API}/tokens/{everything.token_id}", None),
        (
            "POST",
            f"{API}/users/me/password",
            {"current_password": PASSWORD, "new_password": "another long passphrase 9"},
        ),
        ("POST", f"{API}/users/me/2fa/totp", None),
        ("DELETE", f"{API}/users/me/2fa", {"password": PASSWORD, "code": "123456"}),
        ("GET", f"{API}/sessions", None),
        ("DELETE", f"{API}/sessions", None),
        ("PUT", f"{API}/admin/security", {"require_2fa_roles": []}),
        ("PATCH", f"{API}/users/me", {"display_name": "Mallory"}),
        (
            "PUT",
            f"{API}/admin/bot-settings",
            {"users_may_create_bots": True, "max_bots_per_user": 5},
        ),
        ("GET", f"{API}/bots", None),
        ("POST", f"{API}/bots", {"username": "tokenbot"}),
    ):
        resp = await srv.request(method, path, everything, json=body)
        assert resp.status_code == 403, (method, path, resp.text)
    assert len(await srv.ok("GET", f"{API}/tokens", admin)) == 1  # no child token
    login = await srv.request(
        "POST", f"{API}/auth/login", json={"username": "root", "password": PASSWORD}
    )
    assert login.status_code == 200  # the password is unchanged

    # Admin scope: only for admins, and only while they are admins.
    resp = await srv.request(
        "POST", f"{API}/tokens", alice, json={"name": "x", "scopes": ["admin"]}
    )
    assert resp.status_code == 403
    assert (await srv.request("GET", f"{API}/admin/users", everything)).status_code == 200
    no_admin_scope = await srv.create_token(admin, "users:read")
    assert (await srv.request("GET", f"{API}/admin/users", no_admin_scope)).status_code == 403
    other_admin = await srv.create_user("root2", role=UserRole.ADMIN)
    await srv.ok("PATCH", f"{API}/users/{admin.id}", other_admin, json={"role": "user"})
    assert (await srv.request("GET", f"{API}/admin/users", everything)).status_code == 403
    assert (await srv.request("GET", f"{API}/users/me", everything)).status_code == 200


async def test_address_ranges(srv: Server) -> None:
    alice = await srv.create_user("alice")
    office = await srv.create_token(alice, "users:read", networks=["10.20.0.0/16"])
    loopback = await srv.create_token(alice, "users:read", networks=["127.0.0.1"])
    assert (await srv.request("GET", f"{API}/users/me", office)).status_code == 401
    assert (await srv.request("GET", f"{API}/users/me", loopback)).status_code == 200
    listed = {t["id"]: t for t in await srv.ok("GET", f"{API}/tokens", alice)}
    assert listed[loopback.token_id]["networks"] == ["127.0.0.1/32"]
    resp = await srv.request(
        "POST",
        f"{API}/tokens",
        alice,
        json={"name": "x", "scopes": ["users:read"], "networks": ["10.0.0.0/33"]},
    )
    assert resp.status_code == 400
    assert "address range" in resp.json()["error"]["message"]


async def test_expiry_policy(tmp_path: Path) -> None:
    async with deployment("sqlite", tmp_path / "data") as settings:
        async with run_server(settings(api_token_max_days=30, api_token_default_days=90)) as srv:
            alice = await srv.create_user("alice")
            first_session = alice
            policy = await srv.ok("GET", f"{API}/token-policy", alice)
            assert policy["default_days"] == 30
            assert policy["max_days"] == 30
            for days in (31, 0):  # past the maximum; "never" where the admin demands expiry
                resp = await srv.request(
                    "POST",
                    f"{API}/tokens",
                    alice,
                    json={"name": "x", "scopes": ["users:read"], "expires_in_days": days},
                )
                assert resp.status_code == 400, resp.text
            assert await srv.ok("GET", f"{API}/tokens", alice) == []
        async with run_server(settings().model_copy(update={"api_token_max_days": None})) as srv:
            alice = await srv.new_session(first_session)
            created = await srv.ok(
                "POST",
                f"{API}/tokens",
                alice,
                json={"name": "forever", "scopes": ["users:read"], "expires_in_days": 0},
            )
            assert created["token"]["expires_at"] is None


async def test_token_guessing_is_throttled(tmp_path: Path) -> None:
    async with (
        deployment("sqlite", tmp_path / "data") as settings,
        run_server(settings(rate_token_failures_per_minute=5)) as srv,
    ):
        alice = await srv.create_user("alice")
        good = await srv.create_token(alice, "users:read")
        for _ in range(5):
            guess = User(alice.id, "alice", generate_token("pat"))
            assert (await srv.request("GET", f"{API}/users/me", guess)).status_code == 401
        guess = User(alice.id, "alice", generate_token("pat"))
        resp = await srv.request("GET", f"{API}/users/me", guess)
        assert resp.status_code == 429
        assert int(resp.headers["retry-after"]) >= 1
        # Even the right token gets no answer from that address now: a guess can't
        # be told from a hit while the budget is spent.
        assert (await srv.request("GET", f"{API}/users/me", good)).status_code == 429
        # Another address is not affected.
        other = {"X-Forwarded-For": "198.51.100.7"}
        assert (await srv.request("GET", f"{API}/users/me", good, headers=other)).status_code == 200


async def test_new_network_and_rate_jump_alerts(srv: Server) -> None:
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    token = await srv.create_token(alice, "users:read")
    # First use sets the baseline: no alert.
    await srv.ok("GET", f"{API}/users/me", token, headers={"X-Forwarded-For": "203.0.113.5"})
    await _flushed(srv)
    assert await _notices(srv, alice, "token_new_network") == []
    # Same /24: still no alert.
    await srv.ok("GET", f"{API}/users/me", token, headers={"X-Forwarded-For": "203.0.113.77"})
    await _flushed(srv)
    assert await _notices(srv, alice, "token_new_network") == []
    # Another range: owner and admins are told, and it's audited.
    await srv.ok("GET", f"{API}/users/me", token, headers={"X-Forwarded-For": "198.51.100.9"})
    await _flushed(srv)
    for user in (alice, admin):
        found = await _notices(srv, user, "token_new_network")
        assert len(found) == 1, found
        assert found[0]["details"]["network"] == "198.51.100.0/24"
        assert found[0]["details"]["token_id"] == token.token_id
    audit = await srv.ok("GET", f"{API}/admin/audit", admin, params={"limit": 100})
    assert any(a["action"] == "token.alert.new_network" for a in audit)

    # Rate: a token with a steady history of ~100 requests an hour may do 30 now; one
    # that was quiet for two days and suddenly makes 30 raises the alert (floor 20).
    steady = await srv.create_token(alice, "users:read", name="steady")
    quiet = await srv.create_token(alice, "users:read", name="quiet")
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    two_days_ago = now - dt.timedelta(days=2)
    for t in (steady, quiet):
        await _set_token(srv, str(t.token_id), created_at=two_days_ago)
    async with srv.container.database.transaction("test") as txn:
        await txn.conn.execute(
            insert(api_token_usage),
            [
                {
                    "token_id": int(str(steady.token_id)),
                    "hour": now - dt.timedelta(hours=h),
                    "network": "127.0.0.0/24",
                    "operation": "GET /api/v1/users/me",
                    "requests": 100,
                }
                for h in range(1, 48)
            ],
        )
    await asyncio.gather(
        *(srv.request("GET", f"{API}/users/me", t) for t in (steady, quiet) for _ in range(30))
    )
    await _flushed(srv)
    jumps = await _notices(srv, alice, "token_rate_jump")
    assert [n["details"]["token_name"] for n in jumps] == ["quiet"], jumps
    assert jumps[0]["details"]["requests"] >= 20  # a flush may fall amid the burst
    # One alert a day per token, not one per flush.
    await asyncio.gather(*(srv.request("GET", f"{API}/users/me", quiet) for _ in range(30)))
    await _flushed(srv)
    assert len(await _notices(srv, alice, "token_rate_jump")) == 1


async def _notices(srv: Server, user: User, kind: str) -> list[dict[str, Any]]:
    return [n for n in await srv.ok("GET", f"{API}/users/me/notices", user) if n["kind"] == kind]


async def test_issued_tokens_never_leak_into_responses_or_metrics(srv: Server) -> None:
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    tokens = [await srv.create_token(alice, "users:read") for _ in range(3)]
    await srv.ok(
        "POST", f"{API}/tokens/{tokens[0].token_id}/rotate", alice, json={"grace_hours": 1}
    )
    for t in tokens:
        await srv.request("GET", f"{API}/users/me", t)
        await srv.request("POST", f"{API}/tokens", t, json={"name": "x", "scopes": ["users:read"]})
        await srv.request("GET", f"{API}/nope/{t.token}", t)
    bodies = [
        (await srv.request("GET", path, who)).text
        for path, who in (
            (f"{API}/tokens", alice),
            (f"{API}/admin/tokens", admin),
            (f"{API}/admin/audit", admin),
            (f"{API}/tokens/{tokens[0].token_id}/activity", alice),
            ("/metrics", None),
        )
    ]
    everything = "\n".join(bodies)
    for t in tokens:
        assert t.token not in everything
    assert not TOKEN_SHAPE.search(everything)
    # The stored form is the hash, never the token.
    async with srv.container.database.read("test") as conn:
        from sqlalchemy import select

        rows = (await conn.execute(select(api_tokens.c.token_hash))).all()
    assert {hash_token(t.token) for t in tokens} <= {r.token_hash for r in rows}


# What API tokens may call, and with which scope: every other route is for signed-in
# sessions only (deny by default). Widening this table is a decision, made here.
TOKEN_ROUTES = {
    ("GET", "/api/v1/admin/audit"): "admin",
    ("GET", "/api/v1/admin/audit/export"): "admin",
    ("GET", "/api/v1/admin/doctor"): "admin",
    ("GET", "/api/v1/admin/rooms"): "admin",
    ("GET", "/api/v1/admin/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("PATCH", "/api/v1/users/{user_id}"): "admin",
    ("POST", "/api/v1/users/{user_id}/deactivate"): "admin",
    ("GET", "/api/v1/directory"): "messages:read",
    ("GET", "/api/v1/files/{file_id}"): "messages:read",
    ("GET", "/api/v1/messages/{message_id}"): "messages:read",
    ("GET", "/api/v1/messages/{message_id}/edits"): "messages:read",
    ("GET", "/api/v1/messages/{message_id}/thread"): "messages:read",
    ("GET", "/api/v1/rooms"): "messages:read",
    ("GET", "/api/v1/rooms/{room_id}"): "messages:read",
    ("GET", "/api/v1/rooms/{room_id}/members"): "messages:read",
    ("GET", "/api/v1/rooms/{room_id}/messages"): "messages:read",
    ("GET", "/api/v1/rooms/{room_id}/pins"): "messages:read",
    ("GET", "/api/v1/search"): "messages:read",
    ("DELETE", "/api/v1/messages/{message_id}"): "messages:write",
    ("PATCH", "/api/v1/messages/{message_id}"): "messages:write",
    ("POST", "/api/v1/messages/{message_id}/buttons"): "messages:write",
    ("PUT", "/api/v1/messages/{message_id}/buttons"): "messages:write",
    ("POST", "/api/v1/callbacks/{callback_id}/answer"): "messages:write",
    ("GET", "/api/v1/rooms/{room_id}/bot-commands"): "messages:read",
    ("DELETE", "/api/v1/messages/{message_id}/pin"): "messages:write",
    ("PUT", "/api/v1/messages/{message_id}/pin"): "messages:write",
    ("DELETE", "/api/v1/messages/{message_id}/reactions/{emoji}"): "messages:write",
    ("PUT", "/api/v1/messages/{message_id}/reactions/{emoji}"): "messages:write",
    ("POST", "/api/v1/rooms/{room_id}/files"): "messages:write",
    ("POST", "/api/v1/rooms/{room_id}/messages"): "messages:write",
    ("PUT", "/api/v1/rooms/{room_id}/read"): "messages:write",
    ("POST", "/api/v1/dms"): "rooms:manage",
    ("POST", "/api/v1/rooms"): "rooms:manage",
    ("PATCH", "/api/v1/rooms/{room_id}"): "rooms:manage",
    ("POST", "/api/v1/rooms/{room_id}/join"): "rooms:manage",
    ("POST", "/api/v1/rooms/{room_id}/leave"): "rooms:manage",
    ("POST", "/api/v1/rooms/{room_id}/members"): "rooms:manage",
    ("DELETE", "/api/v1/rooms/{room_id}/members/{user_id}"): "rooms:manage",
    ("PATCH", "/api/v1/rooms/{room_id}/members/{user_id}"): "rooms:manage",
    ("GET", "/api/v1/presence"): "users:read",
    ("GET", "/api/v1/users"): "users:read",
    ("GET", "/api/v1/users/me"): "users:read",
    ("GET", "/api/v1/users/{user_id}"): "users:read",
}


async def test_routes_open_to_tokens_are_exactly_the_listed_ones(srv: Server) -> None:
    spec = await srv.ok("GET", f"{API}/openapi.json")
    open_to_tokens = {
        (method.upper(), path): op["x-token-scope"]
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if "x-token-scope" in op
    }
    assert open_to_tokens == TOKEN_ROUTES
    # And the server enforces what the spec says: a token with every scope but the
    # right one is refused on each listed route; session-only routes refuse them all.
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    all_scopes = {"messages:read", "messages:write", "rooms:manage", "users:read", "admin"}
    tokens = {
        scope: await srv.create_token(admin, *sorted(all_scopes - {scope}), name=scope)
        for scope in all_scopes
    }
    for (method, path), scope in TOKEN_ROUTES.items():
        url = re.sub(r"\{\w+\}", "1", path)
        resp = await srv.request(method, url, tokens[scope])
        assert resp.status_code == 403, (method, path, resp.status_code)
        assert scope in resp.json()["error"]["message"]


async def test_old_usage_counts_are_pruned(srv: Server) -> None:
    alice = await srv.create_user("alice")
    token = await srv.create_token(alice, "users:read")
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    async with srv.container.database.transaction("test") as txn:
        await txn.conn.execute(
            insert(api_token_usage),
            [
                {
                    "token_id": int(str(token.token_id)),
                    "hour": now - dt.timedelta(days=days),
                    "network": "127.0.0.0/24",
                    "operation": "GET /api/v1/users/me",
                    "requests": 1,
                }
                for days in (200, 91, 89, 1)
            ],
        )
    assert await srv.container.token_usage.prune() == 2
    activity = await srv.ok("GET", f"{API}/tokens/{token.token_id}/activity", alice)
    ages = sorted((now - dt.datetime.fromisoformat(u["hour"])).days for u in activity["usage"])
    assert ages == [1, 89]
