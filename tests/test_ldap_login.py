"""LDAP login through the server's one authentication pipeline (T10, T13), against a
real slapd: provisioning, roles from groups, injection payloads over HTTP, LDAP-only vs
named local accounts, and an unreachable or untrusted directory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from redoubt.actions.users import do_create_user
from redoubt.domain.enums import UserRole
from redoubt.storage.ldap import LdapMode
from redoubt.storage.schema import audit_log, users
from tests.harness import PASSWORD, Server, run_server, sqlite_database, test_settings
from tests.ldap_server import (  # the fixture is registered by importing it
    GROUPS,
    PASSWORDS,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Slapd,
    slapd_fixture,  # noqa: F401
)

API = "/api/v1"


def _ldap_settings(slapd: Slapd, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ldap_host": slapd.host,
        "ldap_port": slapd.ldaps_port,
        "ldap_mode": LdapMode.LDAPS.value,
        "ldap_ca_file": slapd.ca_file,
        "ldap_bind_dn": SERVICE_DN,
        "ldap_bind_password": SERVICE_PASSWORD,
        "ldap_user_base_dn": PEOPLE,
        "ldap_group_roles": {
            GROUPS["admins"]: "admin",
            GROUPS["users"]: "user",
            GROUPS["guests"]: "guest",
        },
        "ldap_timeout_seconds": 2,
    }
    values.update(overrides)
    return values


@contextlib.asynccontextmanager
async def _server(tmp_path: Path, slapd: Slapd, **overrides: Any) -> AsyncIterator[Server]:
    data = tmp_path / "data"
    await asyncio.to_thread(sqlite_database, data)
    settings = test_settings(data, **_ldap_settings(slapd, **overrides))
    async with run_server(settings) as server:
        yield server


async def _stored(server: Server, username: str) -> dict[str, Any] | None:
    async with server.container.database.read("test") as conn:
        row = (await conn.execute(select(users).where(users.c.username == username))).first()
    return dict(row._mapping) if row else None


async def test_first_login_provisions_the_account_with_the_directory_role(
    tmp_path: Path, slapd: Slapd
) -> None:
    async with _server(tmp_path, slapd) as server:
        resp = await server.login("alice", PASSWORDS["alice"])
        assert resp.status_code == 200, resp.text
        assert resp.json()["user"]["role"] == "user"
        admin = await server.login("ADMIN", PASSWORDS["admin"])
        assert admin.status_code == 200
        assert admin.json()["user"]["username"] == "admin"
        assert admin.json()["user"]["role"] == "admin"
        stored = await _stored(server, "alice")
        assert stored is not None
        assert stored["auth_source"] == "ldap"
        assert stored["password_hash"] is None  # no copy of the directory password
        assert stored["external_id"]
        # In no mapped group (and no default role): the directory says yes, we say no.
        assert (await server.login("bob", PASSWORDS["bob"])).status_code == 401
        assert await _stored(server, "bob") is None
        # A second login finds the same account (linked by the directory's id).
        again = await server.login("alice", PASSWORDS["alice"])
        assert again.json()["user"]["id"] == resp.json()["user"]["id"]
        # The token works like any other.
        token = again.json()["token"]
        me = await server.http.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["username"] == "alice"


async def test_injection_payloads_neither_log_in_nor_tell_who_exists(
    tmp_path: Path, slapd: Slapd
) -> None:
    """The issue's payloads, each with a real user's real password (so only the
    username can make the difference), over HTTP against the running server."""
    async with _server(tmp_path, slapd) as server:
        wrong = await server.login("alice", "not-her-password-1")
        unknown = await server.login("nobody-here", "whatever-password-1")
        assert wrong.status_code == unknown.status_code == 401
        reference = {k: v for k, v in wrong.json()["error"].items() if k != "incident_id"}
        assert reference == {k: v for k, v in unknown.json()["error"].items() if k != "incident_id"}
        payloads = [
            "*",
            "admin*",
            "*)(uid=*",
            "admin)(|(uid=*",
            "alice)(objectClass=*",
            f"uid=alice,{PEOPLE}",
            "uid=admin",
            " alice",
            "alice ",
        ]
        for username in payloads:
            for password in (PASSWORDS["alice"], PASSWORDS["admin"]):
                resp = await server.login(username, password)
                assert resp.status_code == 401, username
                body = {k: v for k, v in resp.json()["error"].items() if k != "incident_id"}
                assert body == reference, username
        # Blank passwords never reach a bind (an "unauthenticated bind" succeeds).
        for password in (" ", "   ", "\t"):
            resp = await server.login("alice", password)
            assert resp.status_code == 401
        # NUL is refused by the request schema before anything else: same for everyone.
        for username in ("\x00", "admin\x00", "alice\x00*"):
            resp = await server.login(username, PASSWORDS["admin"])
            assert resp.status_code == 400
        async with server.container.database.read("test") as conn:
            names = {r.username for r in await conn.execute(select(users.c.username))}
        assert names == set()  # nothing was provisioned by any of it


async def test_ldap_only_refuses_local_passwords_and_never_merges_accounts(
    tmp_path: Path, slapd: Slapd
) -> None:
    async with _server(tmp_path, slapd, ldap_local_usernames=["breakglass"]) as server:
        ctx = server.container.context
        for name in ("breakglass", "alice", "localonly"):
            await do_create_user(
                ctx,
                username=name,
                display_name=name,
                password=PASSWORD,
                role=UserRole.ADMIN if name == "breakglass" else UserRole.USER,
                acting_user=None,
            )
        # The named local account keeps its local password.
        assert (await server.login("breakglass", PASSWORD)).status_code == 200
        # Everyone else goes to the directory: a local password opens nothing.
        assert (await server.login("localonly", PASSWORD)).status_code == 401
        # "alice" exists locally and in the directory: the directory's alice doesn't take
        # over the local account, and the local password doesn't work either.
        assert (await server.login("alice", PASSWORDS["alice"])).status_code == 401
        assert (await server.login("alice", PASSWORD)).status_code == 401
        stored = await _stored(server, "alice")
        assert stored is not None
        assert stored["auth_source"] == "local"
        assert stored["external_id"] is None
        async with server.container.database.read("test") as conn:
            actions = [r.action for r in await conn.execute(select(audit_log.c.action))]
        assert "auth.ldap_username_taken" in actions


async def test_an_unreachable_or_untrusted_directory_fails_closed(
    tmp_path: Path, slapd: Slapd
) -> None:
    """503, not a login and not a fallback to local passwords."""
    cases = {
        "down": {"ldap_port": 1},
        "wrong CA": {"ldap_ca_file": slapd.other_ca_file},
        "wrong host": {"ldap_host": slapd.mismatched_host},
    }
    for name, overrides in cases.items():
        async with _server(tmp_path / name.replace(" ", "-"), slapd, **overrides) as server:
            resp = await server.login("alice", PASSWORDS["alice"])
            assert resp.status_code == 503, (name, resp.text)
            assert resp.json()["error"]["code"] == "unavailable"
            assert await _stored(server, "alice") is None


async def test_starttls_mode_logs_in(tmp_path: Path, slapd: Slapd) -> None:
    async with _server(tmp_path, slapd, ldap_mode="starttls", ldap_port=slapd.ldap_port) as server:
        resp = await server.login("carol", PASSWORDS["carol"])
        assert resp.status_code == 200, resp.text
