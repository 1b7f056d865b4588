"""Admins choose which roles must use a second factor (T13), against a running server.

The deployment's ``require_2fa_roles`` is only the default: once an admin saves a
policy it is stored in the database and read inside each login's transaction, so
every process of a deployment applies the same one from the next login on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from redoubt.domain.enums import UserRole
from tests.harness import Server, User, deployment, run_server

API = "/api/v1"
SECURITY = f"{API}/admin/security"
_ENROL_ONLY = "two_factor_enrolment_required"


@contextlib.asynccontextmanager
async def _servers(
    tmp_path: Path, backend: str, count: int = 1, **overrides: Any
) -> AsyncIterator[list[Server]]:
    """``count`` server processes of one deployment (one database)."""
    async with (
        deployment(backend, tmp_path / "data") as settings,
        contextlib.AsyncExitStack() as stack,
    ):
        yield [
            await stack.enter_async_context(run_server(settings(**overrides))) for _ in range(count)
        ]


async def _login(srv: Server, username: str) -> dict[str, Any]:
    resp = await srv.login(username)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def _policy_audit(srv: Server, admin: User) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await srv.ok(
        "GET", f"{API}/admin/audit", admin, params={"action": "settings.require_2fa_roles"}
    )
    return rows


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_default_comes_from_the_deployment_config(tmp_path: Path, backend: str) -> None:
    async with _servers(tmp_path, backend, require_2fa_roles=["guest"]) as (srv,):
        # The admin's own role isn't required here, so its session is a normal one.
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        assert await srv.ok("GET", SECURITY, admin) == {"require_2fa_roles": ["guest"]}
        assert await _policy_audit(srv, admin) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_required_role_applies_from_the_next_login_on_every_process(
    tmp_path: Path, backend: str
) -> None:
    async with _servers(tmp_path, backend, count=2, require_2fa_roles=[]) as (one, two):
        admin = await one.create_user("root", role=UserRole.ADMIN)
        bob = await one.create_user("bob")
        guest = await one.create_user("gus", role=UserRole.GUEST)
        assert await one.ok("GET", SECURITY, admin) == {"require_2fa_roles": []}

        saved = await one.ok("PUT", SECURITY, admin, json={"require_2fa_roles": ["user"]})
        assert saved == {"require_2fa_roles": ["user"]}
        # The other process agrees at once: nothing is cached per process.
        assert await two.ok("GET", SECURITY, admin) == {"require_2fa_roles": ["user"]}

        # Existing sessions are not ended by the change.
        assert (await one.request("GET", f"{API}/rooms", bob)).status_code == 200
        # bob's next login, on the other process, gets an enrol-only session.
        body = await _login(two, "bob")
        assert body["status"] == "ok"
        fresh = User(bob.id, "bob", body["token"], "user")
        assert (await two.ok("GET", f"{API}/auth/session", fresh))["enrol_only"] is True
        refused = await two.request("GET", f"{API}/rooms", fresh)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == _ENROL_ONLY
        assert (await two.ok("GET", f"{API}/users/me/2fa", fresh))["required"] is True
        # Other roles are untouched.
        for name in ("gus", "root"):
            other = await _login(one, name)
            token = User("0", name, other["token"])
            assert (await one.ok("GET", f"{API}/auth/session", token))["enrol_only"] is False
        assert (await one.request("GET", f"{API}/rooms", guest)).status_code == 200

        rows = await _policy_audit(one, admin)
        assert len(rows) == 1
        assert rows[0]["actor_id"] == admin.id
        assert rows[0]["target_type"] == "server"
        assert rows[0]["details"] == {"from": [], "to": ["user"]}

        # Taking the requirement away again: the next login is a normal one.
        await two.ok("PUT", SECURITY, admin, json={"require_2fa_roles": []})
        again = await _login(one, "bob")
        token = User(bob.id, "bob", again["token"])
        assert (await one.ok("GET", f"{API}/auth/session", token))["enrol_only"] is False
        details = [r["details"] for r in await _policy_audit(one, admin)]
        assert details == [{"from": ["user"], "to": []}, {"from": [], "to": ["user"]}]


async def test_only_admins_read_or_change_the_policy(tmp_path: Path) -> None:
    async with _servers(tmp_path, "sqlite", require_2fa_roles=[]) as (srv,):
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        for role in (UserRole.USER, UserRole.GUEST, UserRole.BOT):
            caller = await srv.create_user(f"not-{role.value}", role=role)
            assert (await srv.request("GET", SECURITY, caller)).status_code == 403
            put = await srv.request("PUT", SECURITY, caller, json={"require_2fa_roles": []})
            assert put.status_code == 403
            # Not even a way to lock the admins out or let themselves off.
            put = await srv.request("PUT", SECURITY, caller, json={"require_2fa_roles": ["admin"]})
            assert put.status_code == 403
        assert (await srv.request("GET", SECURITY)).status_code == 401
        anonymous = await srv.request("PUT", SECURITY, json={"require_2fa_roles": ["user"]})
        assert anonymous.status_code == 401
        assert await srv.ok("GET", SECURITY, admin) == {"require_2fa_roles": []}
        assert await _policy_audit(srv, admin) == []


@pytest.mark.parametrize(
    "body",
    [
        {"require_2fa_roles": ["bot"]},
        {"require_2fa_roles": ["USER"]},
        {"require_2fa_roles": ["user", "user"]},
        {"require_2fa_roles": ["admin", "user", "guest", "admin"]},
        {"require_2fa_roles": "user"},
        {"require_2fa_roles": [1]},
        {"require_2fa_roles": [None]},
        {"require_2fa_roles": None},
        {"require_2fa_roles": ["user"], "also": True},
        {},
        ["user"],
    ],
)
async def test_bad_bodies_are_refused_and_change_nothing(tmp_path: Path, body: Any) -> None:
    async with _servers(tmp_path, "sqlite", require_2fa_roles=["guest"]) as (srv,):
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        resp = await srv.request("PUT", SECURITY, admin, json=body)
        assert resp.status_code == 400, resp.text
        assert await srv.ok("GET", SECURITY, admin) == {"require_2fa_roles": ["guest"]}
        assert await _policy_audit(srv, admin) == []


async def test_an_admin_who_must_still_enrol_cannot_change_it(tmp_path: Path) -> None:
    """A stolen admin password alone (an enrol-only session) can't lift the requirement."""
    async with _servers(tmp_path, "sqlite", require_2fa_roles=["admin"]) as (srv,):
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        for method, kw in (("GET", {}), ("PUT", {"json": {"require_2fa_roles": []}})):
            resp = await srv.request(method, SECURITY, admin, **kw)
            assert resp.status_code == 403
            assert resp.json()["error"]["code"] == _ENROL_ONLY
        # Still required at the next login.
        body = await _login(srv, "root")
        token = User(admin.id, "root", body["token"])
        assert (await srv.ok("GET", f"{API}/auth/session", token))["enrol_only"] is True
