"""The audit log for admins: filters that return exactly the matching entries, an
export (CSV, JSON Lines) that matches the list, can't smuggle formulas into a
spreadsheet and is itself audited, strict refusal of bad filter values, and an audit
row for every use of an admin power."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import httpx

from redoubt.core.csv_export import csv_row, spreadsheet_safe
from redoubt.domain.enums import UserRole
from redoubt.queries.audit import EXPORT_PAGE_SIZE
from redoubt.storage.audit import AuditRecord, insert_audit_txn
from tests.harness import PASSWORD, Server, User

API = "/api/v1"
FIELDS = ["id", "at", "actor_id", "action", "target_type", "target_id", "ip", "details"]


async def get(srv: Server, path: str, user: User | None, **params: Any) -> httpx.Response:
    srv.http.cookies.clear()  # the harness keeps the last login's cookie
    return await srv.request("GET", path, user, params=params)


async def entries(srv: Server, admin: User, **params: Any) -> list[dict[str, Any]]:
    """Every entry the list returns for ``params``, following ``before`` pages."""
    out: list[dict[str, Any]] = []
    while True:
        page_params = {**params, "limit": 500}
        if out:
            page_params["before"] = out[-1]["id"]
        resp = await get(srv, f"{API}/admin/audit", admin, **page_params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        out += page
        if len(page) < 500:
            return out


async def seed_activity(srv: Server) -> tuple[User, User, User]:
    """A varied log: creations (by the CLI-like harness), logins, a room, role changes
    and a deactivation by the admin, a failed login."""
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    await srv.room(alice, "general", "channel")
    await srv.ok("PATCH", f"{API}/users/{bob.id}", admin, json={"role": "guest"})
    failed = await srv.login("alice", "not the password")
    assert failed.status_code == 401
    await srv.ok("POST", f"{API}/users/{bob.id}/deactivate", admin)
    return admin, alice, bob


def at(entry: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(entry["at"])


async def test_filters_return_exactly_the_matching_entries(any_server: Server) -> None:
    server = any_server  # LIKE and time comparisons on SQLite and on PostgreSQL
    admin, alice, bob = await seed_activity(server)
    everything = await entries(server, admin)
    ids = [int(e["id"]) for e in everything]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert len({e["action"] for e in everything}) >= 6

    middle = everything[len(everything) // 2]
    cases: list[tuple[dict[str, str], list[dict[str, Any]]]] = [
        ({"actor_id": admin.id}, [e for e in everything if e["actor_id"] == admin.id]),
        ({"action": "user."}, [e for e in everything if e["action"].startswith("user.")]),
        (
            {"action": "user.deactivate"},
            [e for e in everything if e["action"] == "user.deactivate"],
        ),
        ({"action": "auth.login"}, [e for e in everything if e["action"].startswith("auth.login")]),
        ({"target_type": "room"}, [e for e in everything if e["target_type"] == "room"]),
        ({"since": middle["at"]}, [e for e in everything if at(e) >= at(middle)]),
        ({"until": middle["at"]}, [e for e in everything if at(e) < at(middle)]),
        (
            {"actor_id": admin.id, "action": "user.", "target_type": "user"},
            [
                e
                for e in everything
                if e["actor_id"] == admin.id
                and e["action"].startswith("user.")
                and e["target_type"] == "user"
            ],
        ),
        # "_" and "." are literal characters, not LIKE wildcards.
        ({"action": "auth_login"}, []),
        ({"action": "user_"}, []),
        ({"actor_id": "4503599627370495"}, []),
    ]
    # An instant written with an offset means the same instant.
    plus_two = at(middle).astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    cases.append(({"since": plus_two}, [e for e in everything if at(e) >= at(middle)]))
    for params, expected in cases:
        got = await entries(server, admin, **params)
        assert [e["id"] for e in got] == [e["id"] for e in expected], params
        assert got == expected, params
    # The ones that should match something did.
    assert await entries(server, admin, action="user.deactivate")
    assert await entries(server, admin, actor_id=admin.id)
    # Filtered paging: pages of 1 follow the filter, without gaps or repeats.
    wanted = await entries(server, admin, action="user.")
    paged: list[str] = []
    before: str | None = None
    while True:
        params: dict[str, Any] = {"action": "user.", "limit": 1}
        if before:
            params["before"] = before
        page = (await get(server, f"{API}/admin/audit", admin, **params)).json()
        if not page:
            break
        paged.append(page[0]["id"])
        before = page[0]["id"]
    assert paged == [e["id"] for e in wanted]
    _ = (alice, bob)


BAD_FILTERS: list[tuple[dict[str, str], str]] = [
    ({"actor_id": "abc"}, "actor_id"),
    ({"actor_id": "-1"}, "actor_id"),
    ({"actor_id": "99999999999999999"}, "actor_id"),
    ({"action": "User."}, "action"),
    ({"action": "user.%"}, "action"),
    ({"action": "a" * 65}, "action"),
    ({"action": ""}, "action"),
    ({"target_type": "Room"}, "target_type"),
    ({"target_type": "room;drop"}, "target_type"),
    ({"since": "yesterday"}, "since"),
    ({"since": "1700000000"}, "since"),  # not guessed as a Unix time
    ({"since": "2025-05-01"}, "since"),
    ({"since": "2025-05-01T00:00:00"}, "since"),  # no offset: which instant?
    ({"until": "2025-05-01 00:00:00Z"}, "until"),
    ({"since": "2025-13-01T00:00:00Z"}, "since"),  # the right shape, no such month
    ({"until": "2025-02-30T00:00:00Z"}, "until"),
    ({"since": "2025-05-02T00:00:00Z", "until": "2025-05-01T00:00:00Z"}, "since"),
]


async def test_bad_filter_values_are_400_and_change_nothing(server: Server) -> None:
    admin, _alice, _bob = await seed_activity(server)
    before = await entries(server, admin)
    for path in (f"{API}/admin/audit", f"{API}/admin/audit/export"):
        for params, name in BAD_FILTERS:
            resp = await get(server, path, admin, **params)
            context = f"{path} {params}: {resp.status_code} {resp.text[:300]}"
            assert resp.status_code == 400, context
            error = resp.json()["error"]
            assert error["code"] == "invalid_request", context
            # The message or a field entry names the parameter, so the caller can fix it.
            named = [f["field"] for f in error.get("fields", [])]
            assert f"query.{name}" in named or error["message"].startswith(name), context
            assert "content-disposition" not in resp.headers
    for params in ({"format": "xml"}, {"format": "CSV"}, {"format": ""}):
        resp = await get(server, f"{API}/admin/audit/export", admin, **params)
        assert resp.status_code == 400, resp.text
        assert "query.format" in [f["field"] for f in resp.json()["error"]["fields"]]
    # Nothing was written: no export was recorded, the log is as it was.
    assert await entries(server, admin) == before


async def insert_entry(srv: Server, **fields: Any) -> int:
    ctx = srv.container.context
    entry_id = ctx.ids.next_id()
    async with ctx.db.transaction("seed_audit") as txn:
        await insert_audit_txn(
            txn.conn,
            AuditRecord(
                id=entry_id,
                at=txn.now,
                actor_id=fields.get("actor_id"),
                action=fields.get("action", "test.seeded"),
                target_type=fields.get("target_type", "user"),
                target_id=fields.get("target_id"),
                ip=fields.get("ip", ""),
                details=fields.get("details", {}),
            ),
        )
    return entry_id


def parse_csv(text: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == FIELDS
    return [dict(zip(FIELDS, row, strict=True)) for row in rows[1:]]


def as_csv_cells(entry: dict[str, Any]) -> dict[str, str]:
    """An entry of the list as the CSV writes it (before formula neutralising)."""
    out = {}
    for name in FIELDS:
        value = entry[name]
        if name == "details":
            value = json.dumps(value, sort_keys=True)
        out[name] = "" if value is None else str(value)
    return out


async def test_export_matches_the_list_and_is_audited(server: Server) -> None:
    admin, alice, _bob = await seed_activity(server)
    for params in ({}, {"action": "user."}, {"actor_id": admin.id, "target_type": "user"}):
        resp = await get(server, f"{API}/admin/audit/export", admin, format="csv", **params)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "text/csv; charset=utf-8"
        disposition = resp.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="redoubt-audit-')
        assert disposition.endswith('.csv"')
        assert resp.headers["cache-control"] == "no-store"
        assert resp.headers["x-content-type-options"] == "nosniff"
        exported = parse_csv(resp.text)
        listed = await entries(server, admin, **params)
        # Every matching entry, newest first; the export's own record leads when the
        # filters match it (it is written before the first entry is read).
        if not params:
            assert exported[0]["action"] == "audit.exported"
            assert exported[0]["actor_id"] == admin.id
        # (Exports made since are in the list, not in this file.)
        exported = [e for e in exported if e["action"] != "audit.exported"]
        listed = [e for e in listed if e["action"] != "audit.exported"]
        assert exported == [as_csv_cells(e) for e in listed], params

        resp = await get(server, f"{API}/admin/audit/export", admin, format="jsonl", **params)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "application/x-ndjson"
        assert resp.headers["content-disposition"].endswith('.jsonl"')
        lines = [json.loads(line) for line in resp.text.splitlines()]
        assert resp.text.endswith("\n")
        listed = await entries(server, admin, **params)
        assert [e for e in lines if e["action"] != "audit.exported"] == [
            e for e in listed if e["action"] != "audit.exported"
        ]
        if not params:
            assert lines[0]["action"] == "audit.exported"

    # Each export is on record: who, when, from where, which format and filters.
    records = await entries(server, admin, action="audit.exported")
    assert len(records) == 6
    newest = records[0]
    assert newest["actor_id"] == admin.id
    assert newest["ip"] == "127.0.0.1"
    assert newest["target_type"] == "audit_log"
    assert newest["details"] == {
        "format": "jsonl",
        "filters": {"actor_id": admin.id, "target_type": "user"},
    }
    assert records[-1]["details"] == {"format": "csv", "filters": {}}

    # Not for others, and a refused export leaves no record.
    for user, status in ((None, 401), (alice, 403)):
        resp = await get(server, f"{API}/admin/audit/export", user, format="csv")
        assert resp.status_code == status, resp.text
        assert "content-disposition" not in resp.headers
    assert len(await entries(server, admin, action="audit.exported")) == 6


async def test_csv_export_neutralises_formulas(server: Server) -> None:
    admin = await server.create_user("root", role=UserRole.ADMIN)
    # Today every cell is written by the server, but an address from a proxy header or
    # an action named from input must never become a live formula: seed such cells.
    hostile = {
        "action": "=cmd|' /C calc'!A0",
        "target_type": "@SUM(1+1)",
        "ip": "+1-555-0100",
    }
    seeded = await insert_entry(server, **hostile, details={"note": "=1+1"})
    for cell in ("-2+3", "\tTAB", "\rCR", '=HYPERLINK("http://x")'):
        await insert_entry(server, action="test.cell", ip=cell)
    resp = await get(server, f"{API}/admin/audit/export", admin, format="csv")
    assert resp.status_code == 200, resp.text
    rows = parse_csv(resp.text)
    row = next(r for r in rows if r["id"] == str(seeded))
    assert row["action"] == "'=cmd|' /C calc'!A0"
    assert row["target_type"] == "'@SUM(1+1)"
    assert row["ip"] == "'+1-555-0100"
    assert json.loads(row["details"]) == {"note": "=1+1"}  # JSON starts with "{"
    ips = {r["ip"] for r in rows if r["action"] == "test.cell"}
    assert ips == {"'-2+3", "'\tTAB", "'\rCR", '\'=HYPERLINK("http://x")'}
    for r in rows:
        for name, value in r.items():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, value)
    # JSON Lines is data, not a sheet: the values are exactly as stored.
    resp = await get(server, f"{API}/admin/audit/export", admin, format="jsonl")
    line = next(json.loads(x) for x in resp.text.splitlines() if json.loads(x)["id"] == str(seeded))
    assert (line["action"], line["target_type"], line["ip"]) == tuple(hostile.values())


def test_spreadsheet_safe_cells() -> None:
    for value in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert spreadsheet_safe(value) == "'" + value
    for value in ("", "1", "a=b", " =1", "'=1", "{}", "user.create"):
        assert spreadsheet_safe(value) == value
    assert csv_row(["=1", 'a "b"', "x,y", "l1\nl2"]) == '\'=1,"a ""b""","x,y","l1\nl2"\r\n'


async def test_export_pages_through_every_entry(any_server: Server) -> None:
    server = any_server
    """More entries than a page: all of them, once each, newest first."""
    admin = await server.create_user("root", role=UserRole.ADMIN)
    ctx = server.container.context
    async with ctx.db.transaction("seed_many") as txn:
        for n in range(2 * EXPORT_PAGE_SIZE + 7):
            await insert_audit_txn(
                txn.conn,
                AuditRecord(
                    id=ctx.ids.next_id(),
                    at=txn.now,
                    actor_id=None,
                    action="test.bulk",
                    target_type="user",
                    target_id=n + 1,
                    ip="",
                    details={"n": n},
                ),
            )
    resp = await get(server, f"{API}/admin/audit/export", admin, format="jsonl", action="test.")
    assert resp.status_code == 200
    lines = [json.loads(x) for x in resp.text.splitlines()]
    assert len(lines) == 2 * EXPORT_PAGE_SIZE + 7
    ids = [int(e["id"]) for e in lines]
    assert ids == sorted(set(ids), reverse=True)
    assert sorted(e["details"]["n"] for e in lines) == list(range(2 * EXPORT_PAGE_SIZE + 7))


# --- every use of an admin power leaves a record ---------------------------------------


async def test_every_admin_power_is_audited_with_actor_time_and_address(server: Server) -> None:
    srv = server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    channel = await srv.room(alice, "general", "channel", bob)
    message = await srv.post(bob, channel, "pin me")
    other = await srv.post(bob, channel, "delete me")
    started = dt.datetime.now(dt.UTC)

    # Moderator rights used by an admin who isn't a moderator there.
    await srv.ok("PATCH", f"{API}/rooms/{channel}", admin, json={"topic": "set by an admin"})
    await srv.ok("PUT", f"{API}/messages/{message['id']}/pin", admin)
    await srv.ok("DELETE", f"{API}/messages/{message['id']}/pin", admin)
    await srv.ok("DELETE", f"{API}/messages/{other['id']}", admin)
    await srv.ok("DELETE", f"{API}/rooms/{channel}/members/{bob.id}", admin)
    await srv.ok("PATCH", f"{API}/rooms/{channel}", admin, json={"archived": True})
    # Account powers.
    created = await srv.ok(
        "POST",
        f"{API}/users",
        admin,
        json={"username": "carol", "password": PASSWORD, "role": "user"},
    )
    await srv.ok("PATCH", f"{API}/users/{alice.id}", admin, json={"role": "guest"})
    carol = await srv.new_session(User(created["id"], "carol", "", "user"))
    await srv.ok("DELETE", f"{API}/admin/users/{carol.id}/sessions", admin)
    await srv.ok("DELETE", f"{API}/admin/users/{carol.id}/2fa", admin)
    await srv.ok("POST", f"{API}/users/{carol.id}/deactivate", admin)
    await srv.ok("PUT", f"{API}/admin/security", admin, json={"require_2fa_roles": []})

    by_admin = [e for e in await entries(srv, admin, actor_id=admin.id) if at(e) >= started]
    actions = [e["action"] for e in reversed(by_admin)]
    expected = [
        "room.topic_by_admin",
        "message.pin_by_admin",
        "message.unpin_by_admin",
        "message.delete_other",
        "room.member_remove",
        "room.archive",
        "user.create",
        "user.set_role",
        "auth.sessions_revoked",
        "2fa.reset_by_admin",
        "user.deactivate",
        "settings.require_2fa_roles",
    ]
    assert actions == expected, actions
    for entry in by_admin:
        assert entry["ip"] == "127.0.0.1", entry
        assert started <= at(entry) <= dt.datetime.now(dt.UTC), entry
    revoked = next(e for e in by_admin if e["action"] == "auth.sessions_revoked")
    assert (revoked["target_id"], revoked["details"]["by_admin"]) == (carol.id, True)

    # The same changes made with the room's own rights are not uses of admin powers.
    room = await srv.room(admin, "admins-own", "channel")
    note = await srv.post(admin, room, "mine")
    await srv.ok("PATCH", f"{API}/rooms/{room}", admin, json={"topic": "owner's topic"})
    await srv.ok("PUT", f"{API}/messages/{note['id']}/pin", admin)
    assert len(await entries(srv, admin, action="room.topic_by_admin")) == 1
    assert len(await entries(srv, admin, action="message.pin_by_admin")) == 1
    # Ending one's own sessions is not one either.
    await srv.ok("DELETE", f"{API}/sessions", bob)
    mine = (await entries(srv, admin, actor_id=bob.id, action="auth.sessions_revoked"))[0]
    assert mine["details"]["by_admin"] is False
