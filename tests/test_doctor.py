"""``redoubt doctor`` and ``GET /admin/doctor``: each finding shows up when its condition
is there and goes away when it is fixed, against a running server and as a real CLI
subprocess on a data folder (no server running)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import insert, update

from redoubt.core.settings import Settings, load_settings
from redoubt.core.tokens import hash_token
from redoubt.domain.doctor import FindingId, mode_open_to_others, settings_findings
from redoubt.domain.enums import UserRole
from redoubt.storage.schema import api_tokens, incoming_hooks, outgoing_hooks
from tests.cli_runner import Result, run_redoubt
from tests.harness import PASSWORD, Server, User, run_server, sqlite_database, test_settings

API = "/api/v1"
DAY = dt.timedelta(days=1)


def ids_of(report: dict[str, Any]) -> set[str]:
    return {f["id"] for f in report["findings"]}


def subjects(report: dict[str, Any], finding_id: str) -> list[str]:
    return [f["subject"] for f in report["findings"] if f["id"] == finding_id]


def severities(report: dict[str, Any], finding_id: str) -> set[str]:
    return {f["severity"] for f in report["findings"] if f["id"] == finding_id}


async def doctor(srv: Server, admin: User) -> dict[str, Any]:
    srv.http.cookies.clear()
    report: dict[str, Any] = await srv.ok("GET", f"{API}/admin/doctor", admin)
    return report


# --- seeding rows the integrations' own code writes ----------------------------------


@dataclass
class Seeder:
    srv: Server

    async def token(
        self,
        owner: User,
        name: str,
        *,
        scopes: tuple[str, ...] = ("messages:read",),
        created: dt.datetime,
        expires: dt.datetime | None,
        last_used: dt.datetime | None = None,
        revoked: dt.datetime | None = None,
    ) -> int:
        return await self._insert(
            api_tokens,
            user_id=int(owner.id),
            kind="pat",
            name=name,
            token_hash=hash_token(secrets.token_urlsafe(32)),
            hint="abcd",
            scopes=json.dumps(list(scopes)),
            room_ids=None,
            networks=None,
            created_at=created,
            expires_at=expires,
            revoked_at=revoked,
            replaced_by=None,
            last_used_at=last_used,
            last_used_ip="127.0.0.1" if last_used else "",
        )

    async def incoming(
        self,
        room_id: str,
        identity: User,
        creator: User,
        name: str,
        *,
        created: dt.datetime,
        last_used: dt.datetime | None = None,
        legacy: bool = False,
        enabled: bool = True,
    ) -> int:
        return await self._insert(
            incoming_hooks,
            room_id=int(room_id),
            user_id=int(identity.id),
            name=name,
            avatar_url="",
            secret_enc=secrets.token_bytes(60),
            legacy_token_hash=hash_token(secrets.token_urlsafe(32)) if legacy else None,
            enabled=enabled,
            created_by=int(creator.id),
            created_at=created,
            last_used_at=last_used,
        )

    async def outgoing(self, owner: User, name: str, *, enabled: bool, reason: str) -> int:
        return await self._insert(
            outgoing_hooks,
            owner_id=int(owner.id),
            name=name,
            url="https://receiver.example.org/hook",
            secret_enc=secrets.token_bytes(60),
            events=json.dumps(["message.posted"]),
            trigger_words="[]",
            enabled=enabled,
            disabled_reason=reason,
        )

    async def _insert(self, table: Any, **values: Any) -> int:
        """A row of ``table`` with a fresh id (``created_at`` the transaction's time
        unless given), written directly: no action makes these states on demand."""
        ctx = self.srv.container.context
        row_id = ctx.ids.next_id()
        async with ctx.db.transaction(f"seed_{table.name}") as txn:
            await txn.conn.execute(
                insert(table).values(id=row_id, **{"created_at": txn.now, **values})
            )
        return row_id

    async def set(self, table: Any, row_id: int, **values: Any) -> None:
        async with self.srv.container.database.transaction("seed_update") as txn:
            await txn.conn.execute(update(table).where(table.c.id == row_id).values(**values))


async def test_doctor_reports_each_condition_present_and_not_once_fixed(server: Server) -> None:
    srv = server
    data_dir = srv.container.settings.data_dir
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bot = await srv.create_user("hookbot", login=False)
    room = await srv.room(alice, "deploys", "channel")
    seed = Seeder(srv)
    now = dt.datetime.now(dt.UTC)

    # Files: the harness makes them with the default umask; set a known state first.
    for path in (data_dir / "secret.key", data_dir / "redoubt.db", data_dir / "redoubt.db-wal"):
        path.chmod(0o644)
    data_dir.chmod(0o755)

    # Tokens: no expiry (one admin-scoped), idle for 90 days, and the ones that must
    # not be reported: recently used, expired, revoked.
    forever = await seed.token(alice, "ci-forever", created=now - DAY, expires=None)
    master = await seed.token(
        admin, "master", scopes=("admin",), created=now - DAY, expires=None, last_used=now
    )
    idle = await seed.token(alice, "idle", created=now - 100 * DAY, expires=now + 30 * DAY)
    idle_used = await seed.token(
        alice,
        "idle-used",
        created=now - 200 * DAY,
        expires=now + 30 * DAY,
        last_used=now - 120 * DAY,
    )
    await seed.token(
        alice, "busy", created=now - 200 * DAY, expires=now + 30 * DAY, last_used=now - DAY
    )
    await seed.token(alice, "expired", created=now - 200 * DAY, expires=now - DAY)
    await seed.token(alice, "revoked", created=now - 200 * DAY, expires=None, revoked=now - DAY)
    # Hooks: legacy URL mode (enabled: high; disabled: low), idle, recently used, and an
    # outgoing hook the server disabled (one an admin switched off isn't reported).
    legacy = await seed.incoming(room, bot, admin, "slack-compat", created=now, legacy=True)
    legacy_off = await seed.incoming(
        room, bot, admin, "old-compat", created=now, legacy=True, enabled=False
    )
    idle_hook = await seed.incoming(room, bot, admin, "forgotten", created=now - 100 * DAY)
    await seed.incoming(
        room, bot, admin, "active", created=now - 100 * DAY, last_used=now - 2 * DAY
    )
    failing = await seed.outgoing(
        admin, "crm", enabled=False, reason="8 failed deliveries (HTTP 503)"
    )
    await seed.outgoing(admin, "paused", enabled=False, reason="")
    await seed.outgoing(admin, "fine", enabled=True, reason="")

    report = await doctor(srv, admin)
    by_id = ids_of(report)
    assert {
        FindingId.SECRET_FILE_PERMISSIONS,
        FindingId.DATA_DIR_PERMISSIONS,
        FindingId.TOKEN_WITHOUT_EXPIRY,
        FindingId.TOKEN_UNUSED,
        FindingId.INCOMING_HOOK_UNUSED,
        FindingId.INCOMING_HOOK_LEGACY_URL_TOKEN,
        FindingId.OUTGOING_HOOK_DISABLED,
        FindingId.ADMIN_WITHOUT_2FA,
        FindingId.ADMIN_2FA_NOT_REQUIRED,
        FindingId.WEAK_PASSWORD_HASHING,  # the harness's cheap Argon2 parameters
    } <= by_id, by_id
    files = subjects(report, FindingId.SECRET_FILE_PERMISSIONS)
    assert sorted(files) == [
        "<data dir>/redoubt.db (mode 644)",
        "<data dir>/redoubt.db-wal (mode 644)",
        "<data dir>/secret.key (mode 644)",
    ]
    assert subjects(report, FindingId.DATA_DIR_PERMISSIONS) == ["<data dir> (mode 755)"]
    # Where the server keeps its files is not told to a client, admin or not.
    assert str(data_dir) not in json.dumps(report)
    assert str(data_dir.resolve()) not in json.dumps(report)

    no_expiry = subjects(report, FindingId.TOKEN_WITHOUT_EXPIRY)
    assert sorted(no_expiry) == [
        f"token 'ci-forever' (pat, id {forever}) of alice",
        f"token 'master' (pat, id {master}) of root",
    ]
    by_subject = {f["subject"]: f["severity"] for f in report["findings"]}
    assert by_subject[f"token 'master' (pat, id {master}) of root"] == "high"
    assert by_subject[f"token 'ci-forever' (pat, id {forever}) of alice"] == "medium"
    unused = subjects(report, FindingId.TOKEN_UNUSED)
    assert len(unused) == 2, unused
    assert any(f"id {idle})" in s and "never used" in s for s in unused), unused
    assert any(f"id {idle_used})" in s and "last used" in s for s in unused), unused
    hooks_idle = subjects(report, FindingId.INCOMING_HOOK_UNUSED)
    assert len(hooks_idle) == 1, hooks_idle
    assert hooks_idle[0].startswith(
        f"incoming hook 'forgotten' (id {idle_hook}) in #deploys, never used, created "
    )
    legacy_found = {
        f["subject"]: f["severity"]
        for f in report["findings"]
        if f["id"] == FindingId.INCOMING_HOOK_LEGACY_URL_TOKEN
    }
    assert legacy_found == {
        f"incoming hook 'slack-compat' (id {legacy}) in #deploys": "high",
        f"incoming hook 'old-compat' (id {legacy_off}) in #deploys, disabled": "low",
    }
    assert subjects(report, FindingId.OUTGOING_HOOK_DISABLED) == [
        f"outgoing hook 'crm' (id {failing}) of root: 8 failed deliveries (HTTP 503)"
    ]
    assert subjects(report, FindingId.ADMIN_WITHOUT_2FA) == ["admin root"]
    # Worst first.
    ranks = [("high", "medium", "low").index(f["severity"]) for f in report["findings"]]
    assert ranks == sorted(ranks)
    for f in report["findings"]:
        assert f["title"]
        assert f["advice"]
    assert dt.datetime.fromisoformat(report["checked_at"]) >= now

    # Fix each one.
    for path in (data_dir / "secret.key", data_dir / "redoubt.db", data_dir / "redoubt.db-wal"):
        path.chmod(0o600)
    data_dir.chmod(0o700)
    for token_id in (forever, master):
        await seed.set(api_tokens, token_id, expires_at=now + 30 * DAY)
    await seed.set(api_tokens, idle, last_used_at=now)
    await seed.set(api_tokens, idle_used, revoked_at=now)
    for hook_id in (legacy, legacy_off):
        await seed.set(incoming_hooks, hook_id, legacy_token_hash=None)
    await seed.set(incoming_hooks, idle_hook, enabled=False)
    await seed.set(outgoing_hooks, failing, enabled=True, disabled_reason="")

    # An enrolment that is not confirmed yet is not a second factor.
    started = await srv.ok("POST", f"{API}/users/me/2fa/totp", admin)
    report = await doctor(srv, admin)
    assert subjects(report, FindingId.ADMIN_WITHOUT_2FA) == ["admin root"]
    await srv.ok(
        "POST",
        f"{API}/users/me/2fa/totp/confirm",
        admin,
        json={"code": pyotp.TOTP(started["secret"]).at(time.time())},
    )
    await srv.ok("PUT", f"{API}/admin/security", admin, json={"require_2fa_roles": ["admin"]})

    report = await doctor(srv, admin)
    # Only the harness's cheap password hashing is left.
    assert ids_of(report) == {FindingId.WEAK_PASSWORD_HASHING}, report
    assert severities(report, FindingId.WEAK_PASSWORD_HASHING) == {"high"}


async def test_doctor_is_admin_only_and_changes_nothing(server: Server) -> None:
    admin = await server.create_user("root", role=UserRole.ADMIN)
    alice = await server.create_user("alice")
    server.http.cookies.clear()
    before = await server.ok("GET", f"{API}/admin/audit", admin, params={"limit": 500})
    for user, status in ((None, 401), (alice, 403)):
        server.http.cookies.clear()
        resp = await server.request("GET", f"{API}/admin/doctor", user)
        assert resp.status_code == status, resp.text
        assert "findings" not in resp.text
    await doctor(server, admin)
    server.http.cookies.clear()
    after = await server.ok("GET", f"{API}/admin/audit", admin, params={"limit": 500})
    assert after == before  # a review reads; it writes nothing


async def test_settings_findings_on_a_running_server(tmp_path: Path) -> None:
    """Configuration findings come from the settings the server runs with."""
    data_dir = tmp_path / "data"
    await asyncio.to_thread(sqlite_database, data_dir)
    settings = test_settings(
        data_dir,
        log_level="debug",
        host="0.0.0.0",  # noqa: S104 - only read by the review; the harness binds loopback
        egress_allow_networks=["10.1.2.3/32", "8.8.8.0/24", "169.254.0.0/16"],
        egress_allow_hosts=["receiver.internal"],
        session_lifetime_hours_by_role={"admin": 24 * 30},
        argon2_time_cost=2,
        argon2_memory_kib=32 * 1024,
    ).model_copy(update={"api_token_max_days": None})  # overrides of None are ignored
    async with run_server(settings) as srv:
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        report = await doctor(srv, admin)
    assert {
        FindingId.DEBUG_LOG_LEVEL,
        FindingId.TLS_PLAIN_HTTP_LISTENER,
        FindingId.EGRESS_ALLOWS_INTERNAL,
        FindingId.ADMIN_SESSIONS_LONG,
        FindingId.TOKEN_POLICY_NO_MAXIMUM,
        FindingId.WEAK_PASSWORD_HASHING,
    } <= ids_of(report)
    egress = subjects(report, FindingId.EGRESS_ALLOWS_INTERNAL)
    assert "REDOUBT_EGRESS_ALLOW_NETWORKS: 10.1.2.3/32, 169.254.0.0/16" in egress, egress
    assert "REDOUBT_EGRESS_ALLOW_HOSTS: receiver.internal" in egress, egress
    assert not any("8.8.8.0/24" in s for s in egress)  # a public range opens nothing internal
    # Below the defaults but above OWASP's floor: medium, not high.
    assert severities(report, FindingId.WEAK_PASSWORD_HASHING) == {"medium"}
    assert subjects(report, FindingId.ADMIN_SESSIONS_LONG) == [
        "admin sessions: 720 hours, 120 minutes idle"
    ]


def _settings(**overrides: Any) -> Settings:
    return load_settings({}, data_dir=Path("unused"), **overrides)


def test_configuration_rules() -> None:
    """The pure rules, including states the settings validation refuses to build."""
    assert settings_findings(_settings()) == []  # the defaults are clean
    behind_https = _settings(public_url="https://chat.example.org", cookie_secure=False)
    assert [f.id for f in settings_findings(behind_https)] == [FindingId.TLS_COOKIE_NOT_SECURE]
    secure = _settings(public_url="https://chat.example.org", cookie_secure=True, host="0.0.0.0")  # noqa: S104
    assert settings_findings(secure) == []  # a proxy in front, declared by the URL
    assert [f.id for f in settings_findings(_settings(public_url="http://127.0.0.1:8080"))] == []
    # Validation refuses http on a public host; a config that got past it is still caught.
    plain = _settings().model_copy(update={"public_url": "http://chat.example.org"})
    found = settings_findings(plain)
    assert [(f.id, f.severity.value) for f in found] == [(FindingId.TLS_PUBLIC_URL_HTTP, "high")]
    idle = _settings(session_idle_minutes_by_role={"admin": 24 * 60})
    assert [f.id for f in settings_findings(idle)] == [FindingId.ADMIN_SESSIONS_LONG]
    for mode, open_ in (
        (0o600, False),
        (0o700, False),
        (0o640, True),
        (0o604, True),
        (0o620, True),
    ):
        assert mode_open_to_others(mode) is open_, oct(mode)


def test_every_finding_is_documented() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "doctor.md").read_text()
    for finding_id in FindingId:
        assert f"`{finding_id.value}`" in doc, finding_id


# --- the command line ----------------------------------------------------------------


async def redoubt(data_dir: Path, *args: str, **settings: str) -> Result:
    """``redoubt *args`` with the password on standard input, in 250 columns, and the
    default password hashing unless ``settings`` say otherwise."""
    return await run_redoubt(data_dir, *args, stdin=PASSWORD + "\n", COLUMNS="250", **settings)


def _lock_down(data_dir: Path) -> None:
    data_dir.chmod(0o700)
    for path in data_dir.iterdir():
        if path.is_file():
            path.chmod(0o600)


@pytest.mark.timeout(180)
async def test_cli_doctor_exit_codes_table_and_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await asyncio.to_thread(sqlite_database, data)
    # The key exists before the review, as after any server start.
    (data / "secret.key").write_text(secrets.token_hex(32) + "\n")
    _lock_down(data)

    help_, clean = await asyncio.gather(redoubt(data, "doctor", "--help"), redoubt(data, "doctor"))
    assert help_.code == 0, help_
    for word in ("--json", "--data-dir", "Exit status", "docs/doctor.md"):
        assert word in help_.out, word
    # Default settings, locked-down files, no accounts: nothing to report.
    assert (clean.code, clean.err) == (0, ""), clean
    assert "No findings" in clean.out

    # A high finding: exit status 1, the table names the file by its full path.
    (data / "redoubt.db").chmod(0o644)
    table, as_json = await asyncio.gather(
        redoubt(data, "doctor"), redoubt(data, "doctor", "--json")
    )
    assert table.code == 1, table
    assert "secret-file-permissions" in table.out
    assert "redoubt.db" in table.out  # the full path is in --json (rich wraps cells)
    assert "(mode 644)" in table.out
    assert "Traceback" not in table.out + table.err
    assert as_json.code == 1, as_json
    body = json.loads(as_json.out)
    db_file = (data / "redoubt.db").resolve()
    # SQLite gives its write-ahead log the database file's mode: reported too if open.
    found = {(f["id"], f["severity"], f["subject"]) for f in body["findings"]}
    assert ("secret-file-permissions", "high", f"{db_file} (mode 644)") in found
    assert found <= {
        ("secret-file-permissions", "high", f"{db_file} (mode 644)"),
        ("secret-file-permissions", "high", f"{db_file}-wal (mode 644)"),
    }, found
    assert dt.datetime.fromisoformat(body["checked_at"])

    # Only medium and low findings: exit status 0 (debug logging comes from the
    # environment the command runs with, as the server's would).
    _lock_down(data)
    medium = await redoubt(data, "doctor", "--json", REDOUBT_LOG_LEVEL="debug")
    assert medium.code == 0, medium
    assert [(f["id"], f["severity"]) for f in json.loads(medium.out)["findings"]] == [
        ("debug-log-level", "medium")
    ]

    # An admin made by the CLI has no second factor yet (high); so are the harness's
    # cheap Argon2 parameters.
    created = await redoubt(data, "admin", "create-user", "root", "--admin")
    assert created.code == 0, created
    _lock_down(data)
    high = await redoubt(
        data, "doctor", "--json", REDOUBT_ARGON2_TIME_COST="1", REDOUBT_ARGON2_MEMORY_KIB="64"
    )
    assert high.code == 1, high
    found = {(f["id"], f["severity"], f["subject"]) for f in json.loads(high.out)["findings"]}
    assert found == {
        ("admin-without-2fa", "high", "admin root"),
        (
            "weak-password-hashing",
            "high",
            "REDOUBT_ARGON2_TIME_COST=1, REDOUBT_ARGON2_MEMORY_KIB=64",
        ),
    }, found
