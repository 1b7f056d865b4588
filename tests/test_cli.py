"""The ``redoubt`` command, run as a real subprocess against a data folder in tmp_path."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from redoubt.storage.migrate import head_revision
from tests.cli_runner import CHEAP_HASHING, Result, run_redoubt
from tests.harness import PASSWORD, free_port, run_server, sqlite_database, test_settings


async def redoubt(data_dir: Path, *args: str, stdin: str = "", limit_s: float = 60) -> Result:
    """``redoubt *args`` with the harness's cheap password hashing."""
    return await run_redoubt(data_dir, *args, stdin=stdin, limit_s=limit_s, **CHEAP_HASHING)


@pytest.mark.timeout(120)
async def test_help_and_serve_refuses_unmigrated_database(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    port = free_port()
    top, serve_help, serve = await asyncio.gather(
        redoubt(tmp_path, "--help"),
        redoubt(tmp_path, "serve", "--help"),
        redoubt(fresh, "serve", "--port", str(port), limit_s=30),
    )

    assert top.code == 0, top
    for word in ("serve", "db", "admin"):
        assert word in top.out

    assert serve_help.code == 0, serve_help
    for option in ("--host", "--port", "--data-dir"):
        assert option in serve_help.out
    lowered = serve_help.out.lower()
    for secret in ("--database-url", "--redis-url", "password", "token", "secret", "--db-url"):
        assert secret not in lowered, secret

    # An empty database: a clear message, a non-zero exit, and no server started.
    assert serve.code != 0, serve
    assert "Run `redoubt db upgrade` first" in serve.text, serve.text
    assert head_revision() in serve.text
    assert "listening" not in serve.text.lower()
    assert "Traceback" not in serve.text


@pytest.mark.timeout(240)  # a dozen interpreter starts; slow on a loaded 2-core machine
async def test_db_upgrade_admin_commands_and_login(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert not data.exists()

    result = await redoubt(data, "db", "upgrade")
    assert result.code == 0, result
    assert (data / "redoubt.db").is_file()
    assert "up to date" in result.text
    # WAL from the first statement: two processes switching a rollback-journal database
    # to WAL at once fail "database is locked" without waiting (the commands below).
    with contextlib.closing(sqlite3.connect(data / "redoubt.db")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # Nothing the server writes is readable by other accounts on the host.
    assert data.stat().st_mode & 0o777 == 0o700
    for written in data.iterdir():
        assert written.stat().st_mode & 0o077 == 0, written.name

    # The password comes from standard input and is never echoed.
    root, bob = await asyncio.gather(
        redoubt(data, "admin", "create-user", "root", "--admin", stdin=PASSWORD + "\n"),
        redoubt(data, "admin", "create-user", "bob", stdin=PASSWORD + "\n"),
    )
    for result, name in ((root, "root"), (bob, "bob")):
        assert result.code == 0, result
        assert name in result.text
        assert PASSWORD not in result.out + result.err

    # Refusals: a taken name, a weak password, conflicting flags, a bad role, an unknown
    # user. Each exits non-zero with a message and no traceback; nothing changes.
    again, taken, weak, both, bad_role, nobody = await asyncio.gather(
        redoubt(data, "db", "upgrade"),  # idempotent
        redoubt(data, "admin", "create-user", "bob", stdin=PASSWORD + "\n"),
        redoubt(data, "admin", "create-user", "carol", stdin="short\n"),
        redoubt(data, "admin", "create-user", "dave", "--admin", "--guest", stdin=PASSWORD + "\n"),
        redoubt(data, "admin", "set-role", "bob", "superuser"),
        redoubt(data, "admin", "deactivate-user", "nobody"),
    )
    assert again.code == 0, again
    assert taken.code != 0, taken
    assert "taken" in taken.text, taken
    assert weak.code != 0, weak
    assert "Passwords must be" in weak.text, weak
    assert both.code != 0, both
    assert bad_role.code != 0, bad_role
    assert "admin, user or guest" in bad_role.text, bad_role
    assert nobody.code != 0, nobody
    assert "No user named nobody" in nobody.text, nobody
    for result in (taken, weak, both, bad_role, nobody):
        assert "Traceback" not in result.text, result

    result = await redoubt(data, "admin", "list-users")
    assert result.code == 0, result
    rows = [line.split() for line in result.out.splitlines() if "root" in line or "bob" in line]
    assert len(rows) == 2, result.out
    assert any("root" in r and "admin" in r and "yes" in r for r in rows), rows
    assert any("bob" in r and "user" in r and "yes" in r for r in rows), rows
    assert "carol" not in result.out
    assert "dave" not in result.out

    # A server on that data folder: the CLI-made admin logs in over HTTP.
    async with run_server(test_settings(data)) as srv:
        resp = await srv.http.post(
            "/api/v1/auth/login", json={"username": "root", "password": PASSWORD}
        )
        assert resp.status_code == 200, resp.text
        token = resp.json()["token"]
        me = await srv.http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["username"] == "root"
        assert me.json()["role"] == "admin"
        resp = await srv.http.post(
            "/api/v1/auth/login", json={"username": "bob", "password": PASSWORD}
        )
        assert resp.status_code == 200
        bob_token = resp.json()["token"]

        # Admin chores from the CLI while the server runs, on the same database.
        result = await redoubt(data, "admin", "set-role", "bob", "guest")
        assert result.code == 0, result
        # A role change ends the user's sessions.
        me = await srv.http.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {bob_token}"}
        )
        assert me.status_code == 401
        resp = await srv.http.post(
            "/api/v1/auth/login", json={"username": "bob", "password": PASSWORD}
        )
        assert resp.status_code == 200
        assert resp.json()["user"]["role"] == "guest"

        result = await redoubt(data, "admin", "deactivate-user", "bob")
        assert result.code == 0, result
        resp = await srv.http.post(
            "/api/v1/auth/login", json={"username": "bob", "password": PASSWORD}
        )
        assert resp.status_code == 401

    users, audit, only = await asyncio.gather(
        redoubt(data, "admin", "list-users"),
        redoubt(data, "admin", "audit", "--limit", "50"),
        redoubt(data, "admin", "audit", "--action", "user.deactivate"),
    )
    bob_row = next(line.split() for line in users.out.splitlines() if "bob" in line)
    assert "guest" in bob_row, bob_row
    assert "no" in bob_row, bob_row
    assert audit.code == 0, audit
    for action in ("user.create", "user.set_role", "user.deactivate", "auth.login"):
        assert action in audit.out, (action, audit.out)
    assert only.code == 0, only
    assert "user.deactivate" in only.out, only
    assert "user.create" not in only.out


@pytest.mark.timeout(120)
async def test_serve_refuses_outdated_schema(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await asyncio.to_thread(sqlite_database, data)  # migrated to head
    # Pretend the database was migrated by another version of Redoubt.
    with sqlite3.connect(data / "redoubt.db") as db:
        db.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    serve, users = await asyncio.gather(
        redoubt(data, "serve", "--port", str(free_port()), limit_s=30),
        redoubt(data, "admin", "list-users"),
    )
    for result in (serve, users):
        assert result.code != 0, result
        assert "ffffffffffff" in result.text
        assert "Run `redoubt db upgrade` first" in result.text
        assert "Traceback" not in result.text


@pytest.mark.timeout(240)
async def test_token_commands(tmp_path: Path) -> None:
    """Create, list, rotate and revoke API tokens from the CLI; a running server honours
    each step at once, and no token shows anywhere but in the create/rotate output."""
    data = tmp_path / "data"
    assert (await redoubt(data, "db", "upgrade")).code == 0
    assert (await redoubt(data, "admin", "create-user", "alice", stdin=PASSWORD + "\n")).code == 0

    bad = await redoubt(data, "tokens", "create", "alice", "--name", "x", "--scope", "root")
    assert bad.code == 2, bad
    assert "Unknown scope 'root'" in bad.text
    nobody = await redoubt(
        data, "tokens", "create", "nobody", "--name", "x", "--scope", "users:read"
    )
    assert nobody.code == 1, nobody
    assert "No user named nobody" in nobody.text

    made = await redoubt(
        data,
        "tokens",
        "create",
        "alice",
        "--name",
        "deploy bot",
        "--scope",
        "users:read",
        "--network",
        "127.0.0.0/8",
        "--days",
        "30",
    )
    assert made.code == 0, made
    secret = made.out.strip()
    assert secret.startswith("rdt_pat_")
    assert "shown only this once" in made.err

    async with run_server(test_settings(data)) as srv:
        auth = {"Authorization": f"Bearer {secret}"}
        me = await srv.http.get("/api/v1/users/me", headers=auth)
        assert me.status_code == 200
        assert me.json()["username"] == "alice"

        listed = await redoubt(data, "tokens", "list", "alice")
        assert listed.code == 0, listed
        assert "deploy bot" in listed.out
        assert "active" in listed.out
        assert secret not in listed.out
        token_id = next(
            line.split()[1] for line in listed.out.splitlines() if "deploy" in line
        ).strip("│ ")

        rotated = await redoubt(data, "tokens", "rotate", token_id, "--grace-hours", "0")
        assert rotated.code == 0, rotated
        successor = rotated.out.strip()
        assert successor.startswith("rdt_pat_")
        assert successor != secret
        assert (await srv.http.get("/api/v1/users/me", headers=auth)).status_code == 401
        new_auth = {"Authorization": f"Bearer {successor}"}
        assert (await srv.http.get("/api/v1/users/me", headers=new_auth)).status_code == 200

        new_id = next(
            line.split()[1]
            for line in (await redoubt(data, "tokens", "list")).out.splitlines()
            if "active" in line
        ).strip("│ ")
        revoked = await redoubt(data, "tokens", "revoke", new_id)
        assert revoked.code == 0, revoked
        assert (await srv.http.get("/api/v1/users/me", headers=new_auth)).status_code == 401
        assert "Traceback" not in revoked.text + rotated.text + listed.text
