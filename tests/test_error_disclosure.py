"""T3: no response discloses internals, whatever goes wrong.

Errors are forced on every route of the served OpenAPI document (anonymous callers,
malformed and unknown ids, a member of another room, wrong methods, junk bodies,
unknown paths) and then for real: the database is broken underneath a running server
(tables renamed away, on SQLite and on PostgreSQL with a password in its URL). No body
may hold a traceback, SQL, a file or module path, the data folder, the database URL, a
password or a token; a 500 is a fixed generic body whose incident id is in the server
log next to the real exception. The human API docs load under a CSP without
``unsafe-inline`` and reference only same-origin assets.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import websockets
from typing_extensions import override
from websockets.exceptions import ConnectionClosed

from redoubt.domain.enums import UserRole
from tests.harness import (
    PASSWORD,
    Server,
    ServerLog,
    User,
    drop_postgres_database,
    postgres_database,
    run_server,
    server_log,
    sqlite_database,
)
from tests.harness import test_settings as harness_settings

API = "/api/v1"
GENERIC_500 = "Something went wrong on our side. Quote the incident id to your administrator."
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_ID_PARAMS = {"room_id", "user_id", "message_id", "file_id"}

# Case-sensitive markers of internals; each is something no error body of ours contains.
_MARKERS = (
    "Traceback",
    'File "',
    ".py",
    "line ",
    "SELECT",
    "INSERT",
    "UPDATE ",
    "DELETE FROM",
    " FROM ",
    "WHERE",
    "sqlite",
    "SQLite",
    "sqlalchemy",
    "SQLAlchemy",
    "aiosqlite",
    "asyncpg",
    "psycopg",
    "postgresql",
    "Error(",
    "Exception",
    "OperationalError",
    "ProgrammingError",
    "no such table",
    "does not exist",
    "site-packages",
    "redoubt.",
    "redoubt/",
    "/tmp/",  # noqa: S108 - a marker we look for, not a path we use
    "/work/",
    "/root/",
    "rdt_",
)


def assert_discloses_nothing(resp: httpx.Response, secrets: list[str], context: str) -> None:
    """The response (body and headers) holds no internals and none of ``secrets``."""
    text = resp.text
    where = f"{context}: {resp.request.method} {resp.request.url.path} -> {resp.status_code}"
    for marker in _MARKERS:
        assert marker not in text, f"{where} discloses {marker!r}: {text[:400]}"
    for secret in secrets:
        assert secret not in text, f"{where} discloses a secret"
    for name, value in resp.headers.items():
        for secret in secrets:
            assert secret not in value, f"{where} discloses a secret in header {name}"
        assert "Traceback" not in value
        assert ".py" not in value
    if resp.status_code >= 400:
        body = resp.json()
        assert set(body) == {"error"}, where
        assert set(body["error"]) <= {"code", "message", "incident_id", "fields", "retry_after"}
        assert re.fullmatch(r"[0-9a-f]{16}", body["error"]["incident_id"]), where


@dataclass
class Seed:
    admin: User
    alice: User
    mallory: User
    room: str
    message: str
    file: str


async def seed(server: Server) -> Seed:
    admin = await server.create_user("root", role=UserRole.ADMIN)
    alice = await server.create_user("alice")
    mallory = await server.create_user("mallory")
    room = await server.room(alice, "secret-plans", "private")
    message = await server.post(alice, room, "the plan")
    upload = await server.upload(alice, room, "plan.txt", b"step one", "text/plain")
    await server.ok("PUT", f"{API}/messages/{message['id']}/reactions/thumbs_up", alice)
    return Seed(admin, alice, mallory, room, str(message["id"]), str(upload["id"]))


def spec_operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def plausible_body(op: dict[str, Any], s: Seed) -> Any:
    """A body the operation's schema accepts (so the failure comes from further in)."""
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    name = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    bodies: dict[str, Any] = {
        "LoginBody": {"username": "alice", "password": PASSWORD},
        "CreateUserBody": {"username": "newcomer", "password": PASSWORD},
        "UpdateUserBody": {"role": "guest"},
        "UpdateMeBody": {"display_name": "Alice A."},
        # A wrong current password: changing it would break the later calls' logins.
        "ChangePasswordBody": {
            "current_password": "not the current password",
            "new_password": "another secret phrase 2",
        },
        "CreateRoomBody": {"name": "another-room", "kind": "channel"},
        "UpdateRoomBody": {"topic": "new topic"},
        "AddMemberBody": {"user_id": s.mallory.id},
        "SetMemberRoleBody": {"role": "moderator"},
        # The harness's own policy: no later login changes.
        "SecuritySettingsBody": {"require_2fa_roles": []},
        "OpenDmBody": {"user_ids": [s.mallory.id]},
        "PostMessageBody": {"text": "another message"},
        "EditMessageBody": {"text": "edited"},
        "MarkReadBody": {"position": 1},
        # [bot buttons] A position on a message without keyboard (400).
        "ClickButtonBody": {"row": 0, "column": 0},
        "SetButtonsBody": {"buttons": [[{"text": "Go", "callback_data": "go"}]]},
        "AnswerCallbackBody": {"text": "Done", "show_alert": False},
        # [second factor] Codes that are never right (alice isn't enrolled).
        "LoginTwoFactorBody": {"challenge": "rdt_chl_" + "A" * 43 + "_000000", "code": "123456"},
        "TwoFactorCodeBody": {"code": "123456"},
        "DisableTwoFactorBody": {"password": "not the password", "code": "123456"},
        # [password reset] An unknown token, and a wrong current password.
        "PasswordResetBody": {"username_or_email": "alice"},
        "PasswordResetConfirmBody": {
            "token": "rdt_rst_" + "A" * 43 + "_AAAAAA",
            "new_password": "another secret phrase 2",
        },
        "SetEmailBody": {"email": "alice@example.org", "current_password": "not the password"},
        # [outgoing webhooks] A hook at a name that never resolves.
        "CreateOutgoingHookBody": {
            "name": "ci",
            "url": "https://hooks.example.invalid/in",
            "room_ids": [s.room],
            "events": ["message.posted"],
        },
        "UpdateOutgoingHookBody": {"name": "renamed"},
        # [API tokens]
        "CreateTokenBody": {"name": "ci", "scopes": ["users:read"]},
        "RotateTokenBody": {"grace_hours": 0},
        # [incoming webhooks] Into alice's private group, which the admin can't see.
        "CreateIncomingHookBody": {"name": "ci", "room_id": s.room},
        "UpdateIncomingHookBody": {"name": "renamed"},
        # [bots] Allowed into alice's private group, which the admin can't see.
        "CreateBotBody": {"username": "cibot", "owner_id": s.mallory.id, "room_ids": [s.room]},
        "RotateBotTokenBody": {"grace_hours": 0},
        "SetBotRoomsBody": {"room_ids": [s.room]},
        "SetBotScopesBody": {"scopes": ["messages:read"]},
        # [users' own bots] A room the caller doesn't moderate; the default policy.
        "CreateOwnBotBody": {"username": "ownbot", "room_ids": [s.room]},
        "BotSettingsBody": {"users_may_create_bots": False, "max_bots_per_user": 5},
    }
    assert name in bodies, f"no plausible body for {name}: add one"
    return bodies[name]


def _send_kwargs(method: str, op: dict[str, Any], s: Seed) -> dict[str, Any]:
    body = plausible_body(op, s)
    if body is not None:
        return {"json": body}
    if "multipart/form-data" in op.get("requestBody", {}).get("content", {}):
        return {"files": {"file": ("x.txt", b"data")}}
    return {}


def _query(op: dict[str, Any]) -> dict[str, str]:
    return {
        p["name"]: {"q": "plan", "username": "alice"}.get(p["name"], "1")
        for p in op.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }


async def _send(
    server: Server, method: str, path: str, user: User | None, **kwargs: Any
) -> httpx.Response:
    server.http.cookies.clear()  # the harness client keeps the last login's cookie
    return await server.request(method, path, user, **kwargs)


async def test_client_errors_on_every_route_disclose_nothing(
    server: Server, tmp_path: Path
) -> None:
    s = await seed(server)
    spec = (await server.http.get(f"{API}/openapi.json")).json()
    operations = spec_operations(spec)
    assert len(operations) > 30
    secrets = [PASSWORD, s.admin.token, s.alice.token, s.mallory.token]
    secrets += [str(tmp_path), str(await asyncio.to_thread(tmp_path.resolve))]
    secrets.append(server.container.settings.effective_database_url)
    good = {
        "room_id": s.room,
        "user_id": s.alice.id,
        "message_id": s.message,
        "file_id": s.file,
        "session_id": "1",
        "notice_id": "1",  # never issued: ending sessions would break later calls
        "token_id": "1",  # never issued
        "emoji": "thumbs_up",
        "hook_id": "1",
        "bot_id": "1",  # never issued
        "callback_id": "never-issued",
        "url_token": "rdt_whu_" + "A" * 43 + "_AAAAAA",  # never issued
    }
    malformed = [
        "abc",
        "-1",
        "1.5",
        "0x10",
        "99999999999999999999",
        "' OR 1=1 --",
        '"; DROP TABLE users; --',
        "<script>alert(1)</script>",
        "%00",
        "%FF",
        "..%2F..%2Fetc%2Fpasswd",
        "${jndi:ldap://x}",
        "{{7*7}}",
        "a" * 500,
    ]
    responses: list[tuple[str, httpx.Response]] = []
    for method, template, op in operations:
        kwargs = _send_kwargs(method, op, s)
        query = _query(op)
        names = re.findall(r"\{(\w+)\}", template)
        url = fill(template, good)
        # Anonymous, and with a forged, a malformed and a non-bearer credential.
        responses.append(
            ("anonymous", await _send(server, method, url, None, params=query, **kwargs))
        )
        for header in (
            "Bearer rdt_ses_" + "A" * 43 + "_000000",
            "Bearer ' OR 1=1 --",
            "Basic YWxpY2U6cGFzc3dvcmQ=",
            "Bearer " + "x" * 5000,
        ):
            resp = await _send(
                server, method, url, None, params=query, headers={"Authorization": header}, **kwargs
            )
            responses.append(("forged credential", resp))
        # A member of no room (mallory) on alice's private room and its contents.
        if set(names) & {"room_id", "message_id", "file_id"}:
            resp = await _send(server, method, url, s.mallory, params=query, **kwargs)
            assert resp.status_code in (403, 404), (template, resp.status_code)
            responses.append(("other member", resp))
        for name in names:
            for value in malformed + (["1", "4503599627370495"] if name in _ID_PARAMS else []):
                bad_url = fill(template, {**good, name: value})
                resp = await _send(server, method, bad_url, s.admin, params=query, **kwargs)
                responses.append((f"{name}={value[:20]}", resp))
        if "requestBody" in op and "application/json" in op["requestBody"].get("content", {}):
            for junk in (
                b'{"unknown": "\' OR 1=1; DROP TABLE users; --"}',
                b"not json at all",
                b'{"text": ' + b"[" * 3000,
                b"\xff\xfe\x00",
            ):
                resp = await _send(
                    server,
                    method,
                    url,
                    s.admin,
                    params=query,
                    content=junk,
                    headers={"content-type": "application/json"},
                )
                responses.append(("junk body", resp))
    # Wrong methods on every path.
    for path, item in spec["paths"].items():
        url = fill(path, good)
        for method in _METHODS:
            if method.lower() not in item:
                resp = await _send(server, method, url, s.admin)
                assert resp.status_code == 405, (method, path, resp.status_code)
                responses.append(("wrong method", resp))
    # Paths that aren't routes, including traversal attempts on the static mounts.
    for url in (
        f"{API}/nope",
        "/api/v2/rooms",
        f"{API}/rooms/{s.room}/messages/extra/segments",
        "/api/docs/swagger/../../../../etc/passwd",
        "/api/docs/swagger/..%2F..%2F..%2Fapp.py",
        "/api/docs/init/%2e%2e/app.py",
        "/api/docs/init/missing.js",
        "/.env",
        "/static/../../src/redoubt/core/settings.py",
    ):
        resp = await _send(server, "GET", url, s.admin)
        assert resp.status_code == 404, (url, resp.status_code)
        responses.append(("unknown path", resp))

    errors = [(c, r) for c, r in responses if r.status_code >= 400]
    assert len(errors) > 500
    for context, resp in responses:
        assert resp.status_code < 500, (context, resp.request.url, resp.text)
    for context, resp in errors:
        assert_discloses_nothing(resp, secrets, context)


async def _hello_until_closed(server: Server, token: str) -> tuple[list[str], ConnectionClosed]:
    """Say hello on the event stream and read until the server closes it."""
    frames: list[str] = []
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "since": None}))
        try:
            while True:
                frames.append(str(await asyncio.wait_for(ws.recv(), 5)))
        except ConnectionClosed as closed:
            return frames, closed


def break_sqlite(db_file: Path, tables: list[str]) -> None:
    """Rename tables away underneath the running server (its queries then fail)."""
    conn = sqlite3.connect(db_file, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        for table in tables:
            conn.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_gone"')
    finally:
        conn.close()


def assert_generic_500(
    resp: httpx.Response, log: ServerLog, secrets: list[str], context: str
) -> None:
    assert resp.status_code == 500, (context, resp.status_code, resp.text)
    assert_discloses_nothing(resp, secrets, context)
    body = resp.json()
    incident = body["error"]["incident_id"]
    assert body == {
        "error": {"code": "internal_error", "message": GENERIC_500, "incident_id": incident}
    }, context
    assert resp.headers["x-request-id"] == incident
    assert resp.headers["x-content-type-options"] == "nosniff"
    access = [json.loads(line) for line in log.lines if incident in line and '"request"' in line]
    assert [a["status"] for a in access if a["event"] == "request"] == [500], context
    logged = [line for line in log.lines if incident in line and "unhandled_error" in line]
    assert logged, f"{context}: incident {incident} is not in the server log"
    record = json.loads(logged[0])
    assert record["level"] == "error"
    assert "Traceback" in record["exception"], "the log keeps what the client doesn't get"


# [password reset] Public routes that need neither a session nor a broken table: asking
# for a reset answers before any lookup (the work runs afterwards), and a confirm with an
# unknown token reads only password_resets. They must still disclose nothing.
# [second factor] The second login step with an unknown challenge reads only
# login_challenges: 401, like any failed second step.
_NEED_NO_BROKEN_TABLE = {
    "POST /api/v1/auth/password-reset": (202, 400),
    "POST /api/v1/auth/password-reset/confirm": (202, 400),
    "POST /api/v1/auth/login/2fa": (401,),
    # [incoming webhooks] Public: an unknown hook is refused after reading incoming_hooks.
    "POST /api/v1/hooks/{hook_id}": (401,),
    "POST /api/v1/hooks/{hook_id}/{url_token}": (401,),
}


def _assert_failed_generically(
    resp: httpx.Response, log: ServerLog, secrets: list[str], context: str
) -> None:
    if context in _NEED_NO_BROKEN_TABLE:
        assert resp.status_code in _NEED_NO_BROKEN_TABLE[context], context
        assert_discloses_nothing(resp, secrets, context)
    else:
        assert_generic_500(resp, log, secrets, context)


async def _call_every_operation(
    server: Server, spec: dict[str, Any], s: Seed, as_user: User
) -> list[tuple[str, httpx.Response]]:
    values = {
        "room_id": s.room,
        "user_id": s.mallory.id,
        "message_id": s.message,
        "file_id": s.file,
        "session_id": "1",
        "notice_id": "1",  # never issued: ending sessions would break later calls
        "token_id": "1",  # never issued
        "emoji": "heart",
        "hook_id": "1",
        "bot_id": "1",  # never issued
        "callback_id": "never-issued",
        "url_token": "rdt_whu_" + "A" * 43 + "_AAAAAA",  # never issued
    }
    out = []
    for method, template, op in spec_operations(spec):
        # Leaving the room or logging out would turn later calls into plain 404s / 401s.
        if template.startswith(API) and not template.endswith(
            ("/openapi.json", "/logout", "/leave")
        ):
            resp = await _send(
                server,
                method,
                fill(template, values),
                as_user,
                params=_query(op),
                **_send_kwargs(method, op, s),
            )
            out.append((f"{method} {template}", resp))
    return out


async def test_internal_failures_are_generic_and_logged_with_their_incident_id(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    await asyncio.to_thread(sqlite_database, data_dir)
    async with run_server(harness_settings(data_dir)) as server:
        s = await seed(server)
        spec = (await server.http.get(f"{API}/openapi.json")).json()
        secrets = [PASSWORD, s.admin.token, s.alice.token, s.mallory.token]
        secrets += [str(data_dir), str(data_dir.resolve())]
        secrets.append(server.container.settings.effective_database_url)
        db_file = data_dir / "redoubt.db"
        with server_log() as log:
            # Phase 1: the message tables vanish; authentication still works, so the
            # failures happen deep inside queries and write transactions.
            await asyncio.to_thread(
                break_sqlite, db_file, ["messages", "reactions", "message_edits", "mentions"]
            )
            results = await _call_every_operation(server, spec, s, s.alice)
            failed = [(c, r) for c, r in results if r.status_code == 500]
            for context, resp in results:
                if resp.status_code == 500:
                    assert_generic_500(resp, log, secrets, context)
                elif resp.status_code >= 400:
                    assert_discloses_nothing(resp, secrets, context)
            failed_routes = {c for c, _ in failed}
            for route in (
                "POST /api/v1/rooms/{room_id}/messages",
                "GET /api/v1/rooms/{room_id}/messages",
                "PATCH /api/v1/messages/{message_id}",
                "PUT /api/v1/messages/{message_id}/reactions/{emoji}",
                "GET /api/v1/search",
            ):
                assert route in failed_routes, f"{route} did not fail: the injection missed"

            # Phase 2: the sessions table goes too; every authenticated call fails, and
            # so does a correct login.
            await asyncio.to_thread(break_sqlite, db_file, ["sessions"])
            results = await _call_every_operation(server, spec, s, s.admin)
            for context, resp in results:
                _assert_failed_generically(resp, log, secrets, context)
            assert len(results) > 30

            # The event stream fails closed and says nothing either.
            frames, closed = await _hello_until_closed(server, s.alice.token)
            # Closed with 1011 or dropped (uvicorn aborts the connection when the handler
            # raises after accepting); either way no frame and no reason tells anything.
            rcvd = closed.rcvd
            assert rcvd is None or rcvd.code == 1011
            leaked = " ".join([*frames, rcvd.reason if rcvd else ""])
            for marker in (*_MARKERS, *secrets):
                assert marker not in leaked

            # Readiness stays terse too.
            ready = await server.http.get("/readyz")
            assert_discloses_nothing(ready, secrets, "readyz")
        assert "no such table" in log.text(), "the real cause is in the server log"


async def test_internal_failures_on_postgres_hide_the_url_and_its_password(
    tmp_path: Path,
) -> None:
    password = "pg-Secret-9f8e7d"  # a test credential (PostgreSQL trusts loopback here)
    plain_url = await postgres_database()
    url = plain_url.replace("://postgres@", f"://postgres:{password}@", 1)
    assert password in url
    try:
        settings = harness_settings(tmp_path / "data", database_url=url)
        with server_log() as log:
            async with run_server(settings) as server:
                s = await seed(server)
                spec = (await server.http.get(f"{API}/openapi.json")).json()
                secrets = [password, url, plain_url, PASSWORD, s.admin.token, s.alice.token]
                engine = server.container.database.engine
                async with engine.begin() as conn:
                    for table in ("messages", "sessions"):
                        await conn.exec_driver_sql(
                            f'ALTER TABLE "{table}" RENAME TO "{table}_gone"'
                        )
                results = await _call_every_operation(server, spec, s, s.alice)
                for context, resp in results:
                    _assert_failed_generically(resp, log, secrets, context)
                assert repr(server.container.settings).count(password) == 0
                assert password not in repr(engine) + str(engine.url)
        assert "does not exist" in log.text(), "the real cause is in the server log"
        assert password not in log.text()
    finally:
        await drop_postgres_database(plain_url)


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.inline_scripts = 0
        self.inline_styles = 0
        self._in_script = False

    @override
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for attr in ("src", "href"):
            if named.get(attr):
                self.refs.append(str(named[attr]))
        if any(name.startswith("on") for name in named) or "style" in named:
            self.inline_styles += 1
        if tag == "style":
            self.inline_styles += 1
        self._in_script = tag == "script"

    @override
    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    @override
    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


async def test_openapi_and_docs_load_from_our_own_origin_under_a_strict_csp(
    server: Server,
) -> None:
    spec_resp = await server.http.get(f"{API}/openapi.json")
    assert spec_resp.status_code == 200
    assert spec_resp.headers["content-type"].startswith("application/json")
    spec = spec_resp.json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Redoubt"
    for path in (
        f"{API}/auth/login",
        f"{API}/rooms",
        f"{API}/rooms/{{room_id}}/messages",
        f"{API}/search",
        f"{API}/users/me",
    ):
        assert path in spec["paths"]
    for marker in ("/tmp/", "/work/", "site-packages", "sqlite", "rdt_"):  # noqa: S108
        assert marker not in spec_resp.text

    docs = await server.http.get("/api/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    csp = docs.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert docs.headers["x-content-type-options"] == "nosniff"
    parser = _Refs()
    parser.feed(docs.text)
    assert parser.inline_scripts == 0
    assert parser.inline_styles == 0
    assert len(parser.refs) >= 3
    for ref in parser.refs:
        assert ref.startswith("/")
        assert not ref.startswith("//"), ref
        asset = await server.http.get(ref)
        assert asset.status_code == 200, ref
        expected = "text/css" if ref.endswith(".css") else "javascript"
        assert expected in asset.headers["content-type"], (ref, asset.headers["content-type"])
    init = next(r for r in parser.refs if "docs-init" in r)
    script = (await server.http.get(init)).text
    assert f"{API}/openapi.json" in script
    assert "http://" not in script
    assert "https://" not in script
