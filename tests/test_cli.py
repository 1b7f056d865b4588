"""The ``redoubt`` command, run as a real subprocess against a data folder in tmp_path."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from redoubt.storage.migrate import head_revision
from tests.harness import PASSWORD, free_port, run_server, sqlite_database, test_settings

_SCRIPT = Path(sys.executable).parent / "redoubt"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout and stderr with whitespace collapsed (rich wraps long lines)."""
        return " ".join((self.out + " " + self.err).split())


def _env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REDOUBT_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        # Each command is a fresh interpreter: cache bytecode outside the repository so
        # that only the first one compiles the dependencies (3x faster after that).
        PYTHONPYCACHEPREFIX=str(Path(tempfile.gettempdir()) / "redoubt-test-pycache"),
        REDOUBT_DATA_DIR=str(data_dir),
        REDOUBT_ARGON2_TIME_COST="1",
        REDOUBT_ARGON2_MEMORY_KIB="64",
        COLUMNS="200",
        NO_COLOR="1",
    )
    return env


async def redoubt(data_dir: Path, *args: str, stdin: str = "", limit_s: float = 60) -> Result:
    command = (
        [str(_SCRIPT)]
        if _SCRIPT.exists()
        else [sys.executable, "-c", "from redoubt.cli import main; main()"]
    )
    proc = await asyncio.create_subprocess_exec(
        *command,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(data_dir),
        cwd=data_dir.parent,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), limit_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


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
