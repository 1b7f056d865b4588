"""Session management (T13): list your devices, end one or all others, admins end
anyone's; idle timeouts and lifetimes per role; no session fixation.

Every test attacks or uses a running server; "ended" always means both the token is
refused and any event stream opened with it closes at once.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from redoubt.domain.enums import UserRole
from redoubt.storage.schema import sessions
from tests.harness import PASSWORD, Server, User

API = "/api/v1"


async def _status(server: Server, user: User) -> int:
    return (await server.request("GET", f"{API}/users/me", user)).status_code


async def _age_sessions(server: Server, user_id: str, minutes: int) -> None:
    """Pretend the user's sessions were last used ``minutes`` ago."""
    then = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
    async with server.container.database.transaction("test_age") as txn:
        await txn.conn.execute(
            update(sessions).where(sessions.c.user_id == int(user_id)).values(last_seen_at=then)
        )


async def test_list_shows_each_device_and_marks_the_current_one(any_server: Server) -> None:
    server = any_server
    alice = await server.create_user("alice")
    phone = await server.new_session(alice, user_agent="Phone/1.0")
    laptop = await server.new_session(alice, user_agent="Laptop/2.0")
    listed = await server.ok("GET", f"{API}/sessions", laptop)
    assert len(listed) == 3
    by_agent = {s["user_agent"]: s for s in listed}
    assert by_agent["Laptop/2.0"]["current"] is True
    assert by_agent["Phone/1.0"]["current"] is False
    assert all(s["ip"] == "127.0.0.1" for s in listed)
    assert [s["current"] for s in await server.ok("GET", f"{API}/sessions", phone)].count(True) == 1
    # Bob sees only his own.
    bob = await server.create_user("bob")
    assert len(await server.ok("GET", f"{API}/sessions", bob)) == 1


async def test_ending_one_session_signs_that_device_out_at_once(server: Server) -> None:
    alice = await server.create_user("alice")
    stolen = await server.new_session(alice, user_agent="Unknown/0.1")
    listed = await server.ok("GET", f"{API}/sessions", alice)
    target = next(s["id"] for s in listed if s["user_agent"] == "Unknown/0.1")
    async with server.events(stolen) as stream:
        resp = await server.request("DELETE", f"{API}/sessions/{target}", alice)
        assert resp.status_code == 204
        assert await stream.close_code() == 4401
    assert await _status(server, stolen) == 401
    assert await _status(server, alice) == 200
    entries = await server.ok(
        "GET",
        f"{API}/admin/audit",
        await _admin(server),
        params={"action": "auth.sessions_revoked"},
    )
    (entry,) = entries
    assert entry["actor_id"] == alice.id
    assert entry["details"]["session_ids"] == [target]


async def test_nobody_ends_someone_elses_session(server: Server) -> None:
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    bobs = (await server.ok("GET", f"{API}/sessions", bob))[0]["id"]
    for path in (f"{API}/sessions/{bobs}", f"{API}/sessions/999999", f"{API}/sessions/x"):
        resp = await server.request("DELETE", path, alice)
        assert resp.status_code == 404, path
    # Same answer for an existing foreign session and a missing one: nothing to learn.
    a = await server.request("DELETE", f"{API}/sessions/{bobs}", alice)
    b = await server.request("DELETE", f"{API}/sessions/999999", alice)
    assert a.json()["error"]["code"] == b.json()["error"]["code"] == "not_found"
    assert await _status(server, bob) == 200
    for method in ("GET", "DELETE"):
        resp = await server.request(method, f"{API}/admin/users/{bob.id}/sessions", alice)
        assert resp.status_code == 403
    assert await _status(server, bob) == 200


async def test_sign_out_everywhere_else_keeps_only_this_session(server: Server) -> None:
    alice = await server.create_user("alice")
    others = [await server.new_session(alice, user_agent=f"Device/{i}") for i in range(3)]
    async with server.events(others[0]) as stream:
        ended = await server.ok("DELETE", f"{API}/sessions", alice)
        assert ended == {"ended": 3}
        assert await stream.close_code() == 4401
    for other in others:
        assert await _status(server, other) == 401
    assert await _status(server, alice) == 200
    assert [s["current"] for s in await server.ok("GET", f"{API}/sessions", alice)] == [True]


async def _admin(server: Server) -> User:
    existing = server._users.get("root")  # the harness's user cache
    return existing or await server.create_user("root", role=UserRole.ADMIN)


async def test_admin_signs_a_user_out_everywhere(server: Server) -> None:
    admin = await _admin(server)
    bob = await server.create_user("bob")
    second = await server.new_session(bob, user_agent="Tablet/3")
    listed = await server.ok("GET", f"{API}/admin/users/{bob.id}/sessions", admin)
    assert {s["user_agent"] for s in listed} >= {"Tablet/3"}
    assert not any(s["current"] for s in listed)  # none of them is the admin's
    async with server.events(bob) as one, server.events(second) as two:
        assert await server.ok("DELETE", f"{API}/admin/users/{bob.id}/sessions", admin) == {
            "ended": 2
        }
        assert await one.close_code() == 4401
        assert await two.close_code() == 4401
    assert await _status(server, bob) == 401
    assert await _status(server, second) == 401
    assert await _status(server, admin) == 200


async def test_idle_sessions_end_by_role(server: Server) -> None:
    """Admins time out after two idle hours by default, users after a week."""
    admin = await _admin(server)
    alice = await server.create_user("alice")
    await _age_sessions(server, admin.id, minutes=3 * 60)
    await _age_sessions(server, alice.id, minutes=3 * 60)
    assert await _status(server, admin) == 401
    assert await _status(server, alice) == 200
    await _age_sessions(server, alice.id, minutes=8 * 24 * 60)
    assert await _status(server, alice) == 401
    # An idle session doesn't show in the list either (seen from a fresh one).
    fresh = await server.new_session(alice, user_agent="Fresh/1")
    assert [s["user_agent"] for s in await server.ok("GET", f"{API}/sessions", fresh)] == [
        "Fresh/1"
    ]


async def test_lifetime_is_per_role(server: Server) -> None:
    admin = await _admin(server)
    alice = await server.create_user("alice")
    now = dt.datetime.now(dt.UTC)

    async def expires(user: User) -> dt.timedelta:
        listed = await server.ok("GET", f"{API}/sessions", user)
        return dt.datetime.fromisoformat(listed[0]["expires_at"]) - now

    assert dt.timedelta(hours=23) < await expires(admin) <= dt.timedelta(hours=24, minutes=1)
    assert dt.timedelta(days=13) < await expires(alice) <= dt.timedelta(days=14, minutes=1)


async def test_login_never_adopts_a_session_id_the_client_brings(server: Server) -> None:
    """Session fixation: an attacker plants a cookie (well-formed, even one that was
    valid once) before the victim logs in; login must issue a fresh token and the
    planted one must stay useless."""
    victim = await server.create_user("victim")
    planted = (await server.new_session(victim, user_agent="Attacker/1")).token
    await server.ok("DELETE", f"{API}/sessions", victim)  # the planted one is now dead
    server.http.cookies.clear()
    server.http.cookies.set("redoubt_session", planted)
    try:
        resp = await server.http.post(
            f"{API}/auth/login",
            json={"username": "victim", "password": PASSWORD, "mode": "cookie"},
            headers={"Origin": server.base_url},
        )
        assert resp.status_code == 200
        issued = resp.cookies.get("redoubt_session")
        assert issued
        assert issued != planted
    finally:
        server.http.cookies.clear()
    planted_user = User(victim.id, victim.username, planted, victim.role)
    assert await _status(server, planted_user) == 401
    cookie_user = User(victim.id, victim.username, issued, victim.role)
    assert await _status(server, cookie_user) == 200
