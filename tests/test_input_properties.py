"""Bad input gets a clear 4xx and changes nothing (issue 2; T3, T4 groundwork).

Every case here is derived from the OpenAPI document the server serves at
``/api/v1/openapi.json``: for each operation with a JSON body, a multipart body, or
query / path parameters, we start from a *valid* request (the bodies are checked against
the server's own request models) and apply exactly one change that makes it invalid by
the published schema (a wrong JSON type, a broken constraint, an unknown or missing
field, a non-JSON or non-UTF-8 body, a wrong content type, a NUL byte, deep nesting).
The request goes over real HTTP, signed in as an admin who owns every object named in
it, and must come back as a 4xx in the ``{"error": {...}}`` envelope, and every table,
the event position and the uploads folder must be exactly as before.

One server serves the whole module; the state it must keep is snapshotted once.
Hypothesis runs derandomized (the same examples on every run and machine) next to a
deterministic sweep that covers every field of every operation with every mutation kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redoubt.api import schemas as request_models
from redoubt.domain.enums import UserRole
from redoubt.domain.text import is_valid_emoji
from redoubt.storage.schema import metadata
from tests.harness import Server, User, run_server, sqlite_database
from tests.harness import test_settings as harness_settings

module_loop = pytest.mark.asyncio(loop_scope="module")

MAX_BODY = 64 * 1024
MAX_UPLOAD = 8 * 1024
_JSON = {"content-type": "application/json"}
_INCIDENT = re.compile(r"^[0-9a-f]{16}$")
_ERROR_KEYS = {"code", "message", "incident_id", "fields", "retry_after"}
# Operations with neither parameters nor a body take no input to get wrong.
_PATH_VALUE_NAMES = (
    "room_id",
    "user_id",
    "message_id",
    "file_id",
    "emoji",
    "session_id",
    "notice_id",
    "token_id",
    "hook_id",
    "bot_id",
    "callback_id",
    "url_token",
)


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Param:
    name: str
    location: str
    schema: dict[str, Any]
    required: bool


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    params: tuple[Param, ...]
    body_schema: dict[str, Any] | None
    body_model: str | None
    multipart: bool

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"

    def params_in(self, location: str) -> list[Param]:
        return [p for p in self.params if p.location == location]


FIELD_NAME_ECHO = 100
"""How much of a field name a 400 echoes back (api/errors.py)."""


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            return _resolve(spec, spec["components"]["schemas"][name])
        return {k: _resolve(spec, v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(spec, v) for v in node]
    return node


def operations_of(spec: dict[str, Any]) -> list[Operation]:
    """Every operation of the spec that takes input (parameters or a body)."""
    out = []
    for template, item in spec["paths"].items():
        for method, op in item.items():
            params = tuple(
                Param(
                    p["name"],
                    p["in"],
                    _resolve(spec, p.get("schema", {})),
                    p.get("required", False),
                )
                for p in op.get("parameters", [])
            )
            content = op.get("requestBody", {}).get("content", {})
            body_schema = body_model = None
            if "application/json" in content:
                ref = content["application/json"]["schema"]
                body_model = ref["$ref"].rsplit("/", 1)[1]
                body_schema = _resolve(spec, ref)
            multipart = "multipart/form-data" in content
            if params or body_schema or multipart:
                out.append(
                    Operation(method.upper(), template, params, body_schema, body_model, multipart)
                )
    return out


# ------------------------------------------------------- a small JSON-schema validator
#
# Conservative on purpose: whatever it calls valid, the server may accept; whatever it
# calls invalid, the published schema (plus the documented no-NUL, no-lone-surrogate
# rule for strings) rejects. Python's ``re`` lets ``$`` match before a final newline,
# which only makes us call more strings valid, never fewer.


_JSON_TYPES: dict[str, Any] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _type_ok(kind: str, value: Any) -> bool:
    return bool(_JSON_TYPES[kind](value))


def _clean_string(value: str) -> bool:
    return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def is_valid(schema: dict[str, Any], value: Any) -> bool:  # noqa: PLR0911 - one rule a line
    if "anyOf" in schema:
        return any(is_valid(branch, value) for branch in schema["anyOf"])
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "const" in schema and value != schema["const"]:
        return False
    kind = schema.get("type")
    if kind is not None and not _type_ok(kind, value):
        return False
    if isinstance(value, str):
        if not _clean_string(value):
            return False
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf):
            return False
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            return False
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and not schema.get("minimum", -math.inf) <= value <= schema.get(
        "maximum", math.inf
    ):
        return False
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", math.inf):
            return False
        if "items" in schema and not all(is_valid(schema["items"], v) for v in value):
            return False
    if isinstance(value, dict) and kind == "object":
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False and set(value) - set(props):
            return False
        if any(name not in value for name in schema.get("required", [])):
            return False
        return all(is_valid(props[k], v) for k, v in value.items() if k in props)
    return True


# ---------------------------------------------------------------- value strategies

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_any_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_nul_strings = st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=8), st.text(max_size=8))
_surrogate_strings = st.builds(
    lambda a, c: a + c, st.text(max_size=8), st.sampled_from(["\ud800", "\udfff", "\udbff"])
)


def _longer_than(n: int) -> st.SearchStrategy[str]:
    """Strings of more than ``n`` characters, built without drawing each one (Hypothesis
    caps how much it draws per example)."""
    return st.builds(
        lambda unit, extra, tail: (unit * (n + 1 + extra))[: n + 1 + extra] + tail,
        st.sampled_from(["y", "é", "🙂", "ab ", "<\\>"]),
        st.integers(min_value=0, max_value=2000),
        st.text(max_size=4),
    )


def _kinds(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return list(schema["anyOf"]) if "anyOf" in schema else [schema]


def _violations(branch: dict[str, Any]) -> list[st.SearchStrategy[Any]]:
    """Values of the branch's own type that break one of its constraints."""
    out: list[st.SearchStrategy[Any]] = []
    kind = branch.get("type")
    if kind == "string":
        out += [_nul_strings, _surrogate_strings]
        if branch.get("minLength", 0) > 0:
            out.append(st.text(max_size=branch["minLength"] - 1))
        if "maxLength" in branch:
            n = branch["maxLength"]
            out.append(_longer_than(n))
        if "pattern" in branch:
            out.append(st.text(max_size=24))
            out.append(st.text("0123456789", min_size=17, max_size=40))
            out.append(
                st.sampled_from(
                    ["12 3", "-1", "+1", "1.5", "\uff11\uff12\uff13", "٣", "0x1f", "1e3", "12\n"]
                )
            )
        if "enum" in branch:
            out.append(st.text(max_size=12))
            out.append(
                st.sampled_from(
                    [v.upper() for v in branch["enum"]] + [f" {v}" for v in branch["enum"]]
                )
            )
    elif kind == "integer":
        if "minimum" in branch:
            out.append(
                st.integers(max_value=branch["minimum"] - 1, min_value=branch["minimum"] - 2**80)
            )
        if "maximum" in branch:
            out.append(
                st.integers(min_value=branch["maximum"] + 1, max_value=branch["maximum"] + 2**80)
            )
        out.append(
            st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
        )
    elif kind == "array":
        items = branch.get("items", {})
        if branch.get("minItems", 0) > 0:
            out.append(st.just([]))
        if "maxItems" in branch:
            n = branch["maxItems"]
            out.append(st.lists(st.just("1"), min_size=n + 1, max_size=n + 5))
        out.append(st.lists(invalid_value(items), min_size=1, max_size=3))
    return out


def invalid_value(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Any JSON value the schema rejects: wrong types, broken constraints, junk."""
    candidates: list[st.SearchStrategy[Any]] = [_any_json]
    allowed = {b.get("type") for b in _kinds(schema)}
    wrong = {
        "null": st.none(),
        "boolean": st.booleans(),
        "integer": st.integers(min_value=-(2**70), max_value=2**70),
        "number": st.floats(allow_nan=False, allow_infinity=False).filter(
            lambda f: not f.is_integer()
        ),
        "string": st.text(max_size=16),
        "array": st.lists(_json_leaf, max_size=3),
        "object": st.dictionaries(st.text(max_size=6), _json_leaf, max_size=3),
    }
    candidates += [s for kind, s in wrong.items() if kind not in allowed]
    for branch in _kinds(schema):
        candidates += _violations(branch)
    return st.one_of(candidates).filter(lambda v: not is_valid(schema, v))


# --------------------------------------------------------------------- the world


@dataclass
class Case:
    """One request that must be refused."""

    label: str
    method: str
    url: str
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    field: str | None = None
    """A body field the 400 must name (when the body is within the size limit)."""


@dataclass
class World:
    server: Server
    admin: User
    other: User
    spec: dict[str, Any]
    operations: list[Operation]
    path_values: dict[str, str]
    data_dir: Path
    db: sqlite3.Connection
    baseline: dict[str, Any] = field(default_factory=dict)

    def valid_body(self, op: Operation) -> dict[str, Any]:
        assert op.body_schema is not None
        known: dict[str, Any] = {
            "text": "hello there",
            "name": "fresh-room",
            "topic": "a topic",
            "user_id": self.other.id,
            "user_ids": [self.other.id],
            "thread_id": self.path_values["message_id"],
            "client_id": "client-1",
            "file_ids": [],
            "archived": False,
            "position": 1,
            "display_name": "Someone",
            "username": "newcomer",
            "password": "another secret phrase",
            # Not root's password: no case may change it, even one the schema let by.
            "current_password": "another secret phrase",
            "new_password": "another secret phrase 2",
            # [password reset] No valid token: a confirm that passed the schema still fails.
            "username_or_email": "newcomer@example.org",
            "token": "rdt_rst_" + "A" * 43 + "_AAAAAA",
            "email": "newcomer@example.org",
            # [second factor] A well-formed code and challenge, neither ever valid.
            "code": "123456",
            "challenge": "rdt_chl_" + "A" * 43 + "_000000",
            # The harness's own policy: a case the schema let by changes no login.
            "require_2fa_roles": [],
            # [outgoing webhooks] Shapes the schema takes; no case gets past it.
            "url": "https://hooks.example.invalid/in",
            "room_ids": [self.path_values["room_id"]],
            "events": ["message.posted"],
            "trigger_words": ["deploy"],
            "enabled": True,
            # [API tokens] A token the case's caller could make (a session is asked).
            "scopes": ["users:read"],
            "networks": ["10.0.0.0/8"],
            "expires_in_days": 30,
            "grace_hours": 0,
            # [incoming webhooks] The room of the case; no case gets past the schema.
            "room_id": self.path_values["room_id"],
            "avatar_url": "",
            "legacy_url_token": False,
            # [bots] An owner never issued: a case past the schema makes no bot.
            "description": "a test bot",
            "owner_id": "1",
            # [users' own bots] The default policy: a case past the schema changes none.
            "users_may_create_bots": False,
            "max_bots_per_user": 5,
            # [bot buttons] A position; the case's message has no keyboard (400).
            "row": 0,
            "column": 0,
            # [native bot API] No buttons (a person's buttons are refused anyway) and a
            # plain answer to a click never issued.
            "buttons": [],
            "show_alert": False,
        }
        body = {}
        for name, prop in op.body_schema.get("properties", {}).items():
            if name in known:
                body[name] = known[name]
            elif "enum" in prop:
                body[name] = prop["enum"][-1]
            else:
                raise AssertionError(f"{op.label}: no valid value known for body field {name!r}")
        return body

    def valid_query(self, op: Operation) -> dict[str, str]:
        known = {"q": "hello", "username": "bob"}
        out = {}
        for p in op.params_in("query"):
            if p.required:
                assert p.name in known, f"{op.label}: no valid value known for ?{p.name}"
                out[p.name] = known[p.name]
        return out

    def url(
        self,
        op: Operation,
        *,
        path: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> str:
        """``path`` and ``query`` values are already percent-encoded."""
        values = {n: quote(v, safe="") for n, v in self.path_values.items()}
        values.update(path or {})
        url = op.template
        for p in op.params_in("path"):
            url = url.replace("{" + p.name + "}", values[p.name])
        encoded = {k: quote(v, safe="") for k, v in self.valid_query(op).items()}
        encoded.update(query or {})
        if encoded:
            url += "?" + "&".join(f"{k}={v}" for k, v in encoded.items())
        return url


def snapshot(world: World) -> dict[str, Any]:
    """Every row of every table (but a session's last-seen time, which any authenticated
    call may bump, and the audit rows of refused webhook requests, which T6 requires),
    including ``stream_position`` (the event position), and the files in the uploads
    folder.

    Read with the stdlib driver straight from the SQLite file: a millisecond instead of a
    dozen round trips through the async pool, and the server is idle between requests
    (each write commits before its response goes out).
    """
    out: dict[str, Any] = {}
    for table in metadata.sorted_tables:
        columns = [
            c.name for c in table.c if not (table.name == "sessions" and c.name == "last_seen_at")
        ]
        # A refused webhook request is audited (T6): the one write a refusal makes.
        where = " WHERE action != 'hook.incoming.refused'" if table.name == "audit_log" else ""
        rows = world.db.execute(
            f"SELECT {', '.join(columns)} FROM {table.name}{where}"  # noqa: S608 - our own names
        ).fetchall()
        out[table.name] = sorted(repr(row) for row in rows)
    uploads = world.data_dir / "uploads"
    out["uploads"] = (
        sorted(
            (str(p.relative_to(uploads)), p.stat().st_size)
            for p in uploads.rglob("*")
            if p.is_file()
        )
        if uploads.exists()
        else []
    )
    return out


def assert_error_envelope(resp: Any, context: str) -> dict[str, Any]:
    assert resp.headers.get("content-type", "").startswith("application/json"), context
    body = resp.json()
    assert set(body) == {"error"}, context
    error = body["error"]
    assert isinstance(error, dict), context
    assert set(error) <= _ERROR_KEYS, context
    assert isinstance(error["code"], str), context
    assert error["code"], context
    assert isinstance(error["message"], str), context
    assert error["message"], context
    assert _INCIDENT.fullmatch(error["incident_id"]), context
    assert resp.headers.get("x-request-id") == error["incident_id"], context
    return dict(error)


async def expect_refused(world: World, case: Case) -> None:
    server = world.server
    headers = {"Authorization": f"Bearer {world.admin.token}", **case.headers}
    resp = await server.http.request(
        case.method,
        case.url,
        content=case.content,
        headers=headers,
        files=case.files,
        data=case.data,
    )
    context = (
        f"{case.label}: {case.method} {case.url[:200]} -> {resp.status_code} {resp.text[:300]}"
    )
    assert 400 <= resp.status_code < 500, context
    error = assert_error_envelope(resp, context)
    if case.field is not None:
        if case.content is not None and len(case.content) > MAX_BODY:
            assert resp.status_code == 413, context
        else:
            assert resp.status_code == 400, context
            named = [f["field"] for f in error.get("fields", [])]
            # The server bounds echoed field names (they can be the client's own keys).
            field = case.field[:FIELD_NAME_ECHO]
            assert all(len(n) <= FIELD_NAME_ECHO for n in named), context
            assert any(n == field or n.startswith(field + ".") for n in named), context
    after = snapshot(world)
    if after != world.baseline:
        changed = [k for k in after if after[k] != world.baseline.get(k)]
        world.baseline = after
        raise AssertionError(f"{context}\nstate changed in: {changed}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    data_dir = tmp_path_factory.mktemp("input-properties") / "data"
    await asyncio.to_thread(sqlite_database, data_dir)
    settings_ = harness_settings(data_dir, max_body_bytes=MAX_BODY, max_upload_bytes=MAX_UPLOAD)
    async with run_server(settings_) as server:
        admin = await server.create_user("root", role=UserRole.ADMIN)
        other = await server.create_user("bob")
        room_id = await server.room(admin, "general", "channel", other)
        message = await server.post(admin, room_id, "hello @bob")
        upload = await server.ok(
            "POST", f"/api/v1/rooms/{room_id}/files", admin, files={"file": ("a.txt", b"hi there")}
        )
        await server.ok("PUT", f"/api/v1/messages/{message['id']}/reactions/thumbs_up", admin)
        spec = (await server.http.get("/api/v1/openapi.json")).json()
        w = World(
            server=server,
            admin=admin,
            other=other,
            spec=spec,
            operations=operations_of(spec),
            path_values={
                "room_id": room_id,
                "user_id": other.id,
                "message_id": str(message["id"]),
                "file_id": str(upload["id"]),
                "session_id": "1",
                "notice_id": "1",  # never issued: ending sessions would break later calls
                "token_id": "1",  # never issued
                "emoji": "thumbs_up",
                "hook_id": "1",  # never issued: no case may reach a hook
                "bot_id": "1",  # never issued: no case may reach a bot
                "callback_id": "never-issued",  # no case may answer a click
                "url_token": "rdt_whu_" + "A" * 43 + "_AAAAAA",  # never issued
            },
            data_dir=data_dir,
            db=sqlite3.connect(data_dir / "redoubt.db", isolation_level=None),
        )
        w.baseline = snapshot(w)
        assert w.baseline["stream_position"] == [
            repr((1, await server.container.database.current_position()))
        ]
        try:
            yield w
        finally:
            w.db.close()


# ------------------------------------------------------------------- the cases


def _body_case(op: Operation, label: str, body: Any, field_: str | None) -> Case:
    content = json.dumps(body).encode()
    return Case(label, op.method, "", content, dict(_JSON), field=field_)


def body_cases(world: World, op: Operation) -> st.SearchStrategy[Case]:
    """One schema-breaking change to a valid JSON body."""
    assert op.body_schema is not None
    schema = op.body_schema
    valid = world.valid_body(op)
    props: dict[str, Any] = schema.get("properties", {})
    url = world.url(op)
    strategies: list[st.SearchStrategy[Case]] = []

    def wrong_field(name: str) -> st.SearchStrategy[Case]:
        return invalid_value(props[name]).map(
            lambda v: _body_case(op, f"{name} = {v!r:.60}", {**valid, name: v}, name)
        )

    strategies += [wrong_field(name) for name in props]
    required = schema.get("required", [])
    if required:
        strategies.append(
            st.sampled_from(required).map(
                lambda n: _body_case(
                    op, f"without {n}", {k: v for k, v in valid.items() if k != n}, n
                )
            )
        )
    strategies.append(
        st.tuples(st.text(min_size=1, max_size=20).filter(lambda k: k not in props), _any_json).map(
            lambda kv: _body_case(op, f"extra {kv[0]!r}", {**valid, kv[0]: kv[1]}, kv[0])
        )
    )
    strategies.append(
        _any_json.filter(lambda v: not isinstance(v, dict)).map(
            lambda v: _body_case(op, f"body = {v!r:.60}", v, "body")
        )
    )
    return st.one_of(strategies).map(lambda c: _with_url(c, url))


def _with_url(case: Case, url: str) -> Case:
    case.url = url
    return case


def _raw_bodies(valid: dict[str, Any]) -> st.SearchStrategy[tuple[str, bytes]]:
    text = json.dumps(valid).encode()
    first = next(iter(valid))
    prefix = json.dumps({first: None})[:-5].encode()  # '{"name": '
    return st.one_of(
        st.just(("empty", b"")),
        st.integers(min_value=1, max_value=len(text) - 1).map(lambda n: ("truncated", text[:n])),
        st.binary(min_size=1, max_size=40)
        .filter(lambda b: not b.strip().startswith((b"{", b"[", b'"')) and not b.strip().isdigit())
        .map(lambda b: ("junk", b)),
        st.sampled_from([b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"\x80"]).map(
            lambda bad: ("invalid utf-8", prefix + b'"' + bad + b'"}')
        ),
        st.sampled_from([b"\x00", b"\x01", b"\n", b"\x1f"]).map(
            lambda ctl: ("raw control char", prefix + b'"a' + ctl + b'b"}')
        ),
        st.integers(min_value=1_100, max_value=MAX_BODY // 2 - 20).map(
            lambda n: ("deep nesting", prefix + b"[" * n + b"]" * n + b"}")
        ),
        st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1" + b"0" * 5000]).map(
            lambda num: ("odd number", prefix + num + b"}")
        ),
        st.sampled_from([b" x", b"}", b",", b"{}"]).map(
            lambda tail: ("trailing junk", text + tail)
        ),
    )


def raw_cases(world: World, op: Operation) -> st.SearchStrategy[Case]:
    """Bodies that aren't JSON, aren't UTF-8, or come with the wrong content type."""
    valid = world.valid_body(op)
    url = world.url(op)
    content_types = [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "application/octet-stream",
        "text/json",
    ]
    wrong_type = st.sampled_from(content_types).map(
        lambda ct: Case(
            f"content-type {ct}", op.method, url, json.dumps(valid).encode(), {"content-type": ct}
        )
    )
    raw = _raw_bodies(valid).map(lambda lb: Case(lb[0], op.method, url, lb[1], dict(_JSON)))
    return raw | wrong_type


def _url_value(text: str) -> str:
    return quote(text, safe="")


_url_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
_invalid_utf8_escape = st.sampled_from(["%FF", "%C0%80", "%ED%A0%80", "%80abc", "ab%E2%82"])


def _route_safe(value: str) -> bool:
    # Empty segments, "/" and dot segments change which route matches (and may get a
    # trailing-slash redirect); they test routing, not parameter validation.
    return value not in ("", ".", "..") and "/" not in value


def _bad_id() -> st.SearchStrategy[str]:
    return st.one_of(
        _url_text.filter(lambda s: not (s.isascii() and s.isdigit())),
        st.sampled_from(
            ["0", "00", "9999999999999999", "99999999999999999", str(2**52), str(2**63)]
        ),
        st.text("0123456789", min_size=17, max_size=40),
        st.sampled_from(["\uff11\uff12", "¹²", "١٢", "-1", "+5", "1.0", "1e3", " 1", "1 ", "0x10"]),
        _longer_than(200),
    ).filter(_route_safe)


def path_cases(world: World, op: Operation) -> st.SearchStrategy[Case]:
    params = op.params_in("path")

    def for_param(p: Param) -> st.SearchStrategy[Case]:
        if p.name == "emoji":
            plain = st.one_of(
                _url_text.filter(lambda s: not is_valid_emoji(s)),
                _longer_than(64),
            ).filter(_route_safe)
        else:
            plain = _bad_id()
        encoded = plain.map(_url_value) | _invalid_utf8_escape | st.just("%00") | st.just("1%001")
        return encoded.map(
            lambda v: Case(
                f"path {p.name} = {v[:60]}",
                op.method,
                world.url(op, path={p.name: v}),
                json.dumps(world.valid_body(op)).encode() if op.body_schema else None,
                dict(_JSON) if op.body_schema else {},
            )
        )

    return st.one_of([for_param(p) for p in params])


def _bad_query_value(p: Param) -> st.SearchStrategy[str]:
    """Percent-encoded query values the parameter must refuse."""
    branches = _kinds(p.schema)
    kinds = {b.get("type") for b in branches}
    options: list[st.SearchStrategy[str]] = [_invalid_utf8_escape, st.just("%00"), st.just("a%00b")]
    if "integer" in kinds:
        (branch,) = [b for b in branches if b.get("type") == "integer"]
        not_a_number = _url_text.filter(
            lambda s: (
                any(not (c.isdigit() or c.isspace() or c in "+-._") for c in s)
                or not any(c.isdigit() for c in s)
            )
        )
        options += [
            not_a_number.map(_url_value),
            st.integers(max_value=branch.get("minimum", 0) - 1, min_value=-(2**80)).map(str),
            st.sampled_from(["1.5", "NaN", "inf", "true", "[1]", "{}", "null", "0x10", "1e3"]),
        ]
        if "maximum" in branch:
            options.append(st.integers(min_value=branch["maximum"] + 1, max_value=2**80).map(str))
    if "string" in kinds:
        (branch,) = [b for b in branches if b.get("type") == "string"]
        if "maxLength" in branch:
            n = branch["maxLength"]
            options.append(_longer_than(n).map(_url_value))
        if branch.get("minLength", 0) > 0 and p.required:
            options.append(st.just(""))
        if "pattern" in branch:
            options.append(
                _url_text.filter(lambda s: re.search(branch["pattern"], s) is None).map(_url_value)
            )
    return st.one_of(options)


def query_cases(world: World, op: Operation) -> st.SearchStrategy[Case]:
    params = op.params_in("query")

    def for_param(p: Param) -> st.SearchStrategy[Case]:
        return _bad_query_value(p).map(
            lambda v: Case(f"?{p.name}={v[:60]}", op.method, world.url(op, query={p.name: v}))
        )

    strategies = [for_param(p) for p in params]
    for p in params:
        if p.required:
            others = {k: quote(v, safe="") for k, v in world.valid_query(op).items() if k != p.name}
            url = world.url(op).split("?", 1)[0]
            if others:
                url += "?" + "&".join(f"{k}={v}" for k, v in others.items())
            strategies.append(st.just(Case(f"without ?{p.name}", op.method, url)))
    return st.one_of(strategies)


def upload_case_list(world: World, op: Operation) -> list[Case]:
    url = world.url(op)
    return [
        Case("json instead of multipart", op.method, url, b'{"file": "x"}', dict(_JSON)),
        Case("no body", op.method, url),
        Case("file as a plain field", op.method, url, data={"file": "not a file"}),
        Case("no file field", op.method, url, files={"other": ("a.txt", b"hi")}),
        Case(
            "broken multipart",
            op.method,
            url,
            b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
            {"content-type": "multipart/form-data; boundary=xyz"},
        ),
        Case(
            "multipart without boundary",
            op.method,
            url,
            b"abc",
            {"content-type": "multipart/form-data"},
        ),
        Case(
            "file over the upload limit",
            op.method,
            url,
            files={"file": ("big.bin", b"\x00" * (MAX_UPLOAD + 1))},
        ),
    ]


def upload_cases(world: World, op: Operation) -> st.SearchStrategy[Case]:
    return st.sampled_from(upload_case_list(world, op))


def cases_for(world: World, op: Operation) -> st.SearchStrategy[Case]:
    strategies: list[st.SearchStrategy[Case]] = []
    if op.body_schema is not None:
        strategies += [body_cases(world, op), raw_cases(world, op)]
    if op.multipart:
        strategies.append(upload_cases(world, op))
    if op.params_in("path"):
        strategies.append(path_cases(world, op))
    if op.params_in("query"):
        strategies.append(query_cases(world, op))
    return st.one_of(strategies)


# ------------------------------------------------------------------- the tests


@module_loop
async def test_spec_covers_the_input_surface(world: World) -> None:
    """The spec lists the operations we expect, and every valid body we start from is
    accepted by the server's own request model (so each mutation is the only fault)."""
    labels = {op.label for op in world.operations}
    for expected in (
        "POST /api/v1/auth/login",
        "POST /api/v1/rooms",
        "PATCH /api/v1/rooms/{room_id}",
        "POST /api/v1/rooms/{room_id}/members",
        "POST /api/v1/dms",
        "POST /api/v1/rooms/{room_id}/messages",
        "GET /api/v1/rooms/{room_id}/messages",
        "PATCH /api/v1/messages/{message_id}",
        "PUT /api/v1/messages/{message_id}/reactions/{emoji}",
        "GET /api/v1/search",
        "GET /api/v1/users",
        "POST /api/v1/rooms/{room_id}/files",
    ):
        assert expected in labels
    for op in world.operations:
        for p in op.params_in("path"):
            assert p.name in _PATH_VALUE_NAMES, f"{op.label}: unknown path parameter {p.name}"
        if op.body_schema is not None:
            assert op.body_model is not None
            model = getattr(request_models, op.body_model)
            body = world.valid_body(op)
            model.model_validate_json(json.dumps(body))
            assert is_valid(op.body_schema, body), op.label
            assert op.body_schema.get("additionalProperties") is False, op.label


def _sweep_values(schema: dict[str, Any]) -> Iterator[Any]:
    """Fixed wrong values for one field: every wrong JSON type, every broken bound."""
    yield from (None, True, 0, -1, 1.5, "", "x", [], ["x"], {}, {"a": "b"}, "a\x00b", "\ud800")
    yield [[[[[[["deep"]]]]]]]
    for branch in _kinds(schema):
        if "maxLength" in branch:
            yield "y" * (branch["maxLength"] + 1)
        if "maximum" in branch:
            yield branch["maximum"] + 1
            yield 10**30
        if "maxItems" in branch:
            yield ["1"] * (branch["maxItems"] + 1)
        if "pattern" in branch:
            yield from ("12\n", "1" * 17, "\uff11\uff12", "abc")
        if "enum" in branch:
            yield branch["enum"][0].upper()


@module_loop
@pytest.mark.timeout(120)
async def test_every_field_of_every_operation_refuses_each_wrong_kind(world: World) -> None:
    """Deterministic sweep: each JSON body field gets every wrong type and broken
    bound; each body gets unknown and missing fields, non-object JSON, non-JSON,
    invalid UTF-8, deep nesting and wrong content types."""
    count = 0
    for op in world.operations:
        if op.body_schema is None:
            continue
        valid = world.valid_body(op)
        url = world.url(op)
        props = op.body_schema.get("properties", {})
        cases: list[Case] = []
        for name, prop in props.items():
            for value in _sweep_values(prop):
                if not is_valid(prop, value):
                    cases.append(
                        _body_case(op, f"{name} = {value!r:.40}", {**valid, name: value}, name)
                    )
        for name in op.body_schema.get("required", []):
            cases.append(
                _body_case(
                    op, f"without {name}", {k: v for k, v in valid.items() if k != name}, name
                )
            )
        for extra in ("unknown", "id", "__proto__", "constructor", "a\x00", "x" * 300):
            cases.append(_body_case(op, f"extra {extra[:20]!r}", {**valid, extra: 1}, extra))
        for whole in ([], [valid], "text", 1, None, True):
            cases.append(_body_case(op, f"body = {whole!r:.30}", whole, "body"))
        prefix = json.dumps({next(iter(valid)): None})[:-5].encode()
        raw = [
            b"",
            b"not json",
            b"\xff\xfe\x00\x01",
            prefix + b'"\xc3\x28"}',
            prefix + b'"a\x00b"}',
            b"[" * 5000 + b"]" * 5000,
            b'{"a":' * 3000 + b"1" + b"}" * 3000,
            prefix + b"NaN}",
            prefix + b"1" + b"0" * 5000 + b"}",
            json.dumps(valid).encode() + b"}",
            json.dumps(valid).encode()[:-1],
        ]
        cases += [Case(f"raw {r[:20]!r}", op.method, "", r, dict(_JSON)) for r in raw]
        for ct in (
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b",
        ):
            cases.append(
                Case(
                    f"content-type {ct}",
                    op.method,
                    "",
                    json.dumps(valid).encode(),
                    {"content-type": ct},
                )
            )
        for case in cases:
            case.url = url
            await expect_refused(world, case)
            count += 1
    assert count > 400


@module_loop
@pytest.mark.timeout(120)
async def test_every_parameter_refuses_malformed_values(world: World) -> None:
    """Deterministic sweep over path and query parameters."""
    count = 0
    for op in world.operations:
        body = json.dumps(world.valid_body(op)).encode() if op.body_schema else None
        headers = dict(_JSON) if op.body_schema else {}
        for p in op.params_in("path"):
            values = [
                "abc",
                "0",
                "-1",
                "1.0",
                "99999999999999999",
                "\uff11\uff12",
                "%00",
                "1%00",
                "%FF",
                "a" * 1000,
            ]
            if p.name == "emoji":
                values = ["<script>", "a b", "x" * 65, "%00", "%FF", "🙂" * 17, "A"]
            for v in values:
                encoded = v if "%" in v else quote(v, safe="")
                await expect_refused(
                    world,
                    Case(
                        f"path {p.name}={v[:20]}",
                        op.method,
                        world.url(op, path={p.name: encoded}),
                        body,
                        headers,
                    ),
                )
                count += 1
        for p in op.params_in("query"):
            kinds = {b.get("type") for b in _kinds(p.schema)}
            values = ["%00", "%FF"]
            if "integer" in kinds:
                values += ["abc", "1.5", "-1", "", "99999999999999999999999", "NaN", "1e3"]
            for b in _kinds(p.schema):
                if "maxLength" in b:
                    values.append("q" * (b["maxLength"] + 1))
                if "pattern" in b:
                    # "abc", unless the pattern takes words (an audit action prefix).
                    values.append(
                        next(v for v in ("abc", "A B!") if re.search(b["pattern"], v) is None)
                    )
                if b.get("minLength", 0) > 0 and p.required:
                    values.append("")
            for v in values:
                await expect_refused(
                    world, Case(f"?{p.name}={v[:20]}", op.method, world.url(op, query={p.name: v}))
                )
                count += 1
    assert count > 100


_HYPOTHESIS = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


@module_loop
@pytest.mark.timeout(120)
@_HYPOTHESIS
@given(data=st.data())
async def test_generated_bad_bodies_are_refused(world: World, data: st.DataObject) -> None:
    ops = [op for op in world.operations if op.body_schema is not None]
    op = data.draw(st.sampled_from(ops), label="operation")
    case = data.draw(body_cases(world, op) | raw_cases(world, op), label="case")
    await expect_refused(world, case)


@module_loop
@pytest.mark.timeout(120)
@_HYPOTHESIS
@given(data=st.data())
async def test_generated_bad_parameters_are_refused(world: World, data: st.DataObject) -> None:
    ops = [op for op in world.operations if op.params]
    op = data.draw(st.sampled_from(ops), label="operation")
    strategies = []
    if op.params_in("path"):
        strategies.append(path_cases(world, op))
    if op.params_in("query"):
        strategies.append(query_cases(world, op))
    case = data.draw(st.one_of(strategies), label="case")
    await expect_refused(world, case)


@module_loop
@pytest.mark.timeout(120)
@_HYPOTHESIS
@given(data=st.data())
async def test_generated_bad_requests_on_any_operation(world: World, data: st.DataObject) -> None:
    """Everything mixed: any operation, any of its inputs, any mutation kind."""
    op = data.draw(st.sampled_from(world.operations), label="operation")
    case = data.draw(cases_for(world, op), label="case")
    await expect_refused(world, case)


@module_loop
async def test_bad_uploads_are_refused(world: World) -> None:
    (op,) = [op for op in world.operations if op.multipart]
    for case in upload_case_list(world, op):
        await expect_refused(world, case)


# ------------------------------------------------------------- oversize bodies


async def _raw_exchange(world: World, head: bytes, chunks: list[bytes], *, finish: bool) -> bytes:
    """Send a request by hand and read whatever comes back (within 5 s)."""
    port = int(world.server.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        for chunk in chunks:
            writer.write(chunk)
        if finish:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        data = b""
        while b"\r\n\r\n" not in data or not _complete(data):
            part = await asyncio.wait_for(reader.read(65536), 5)
            if not part:
                break
            data += part
        return data
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?i)content-length:\s*(\d+)", head)
    return match is not None and len(body) >= int(match.group(1))


def _head(world: World, path: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {world.admin.token}\r\n{extra}\r\n"
    ).encode()


def _status_and_body(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


@module_loop
async def test_oversize_json_bodies_get_413_and_change_nothing(world: World) -> None:
    room = world.path_values["room_id"]
    path = f"/api/v1/rooms/{room}/messages"
    # A well-formed body that is merely too big (the client gets its 413, not a reset).
    big = json.dumps({"text": "z" * (MAX_BODY + 10)}).encode()
    await expect_refused(world, Case("oversize", "POST", path, big, dict(_JSON)))
    resp = await world.server.request("POST", path, world.admin, content=big, headers=_JSON)
    assert resp.status_code == 413
    assert assert_error_envelope(resp, "oversize")["code"] == "too_large"

    # Declared far too big: refused from the headers alone, before any body byte is sent.
    raw = await _raw_exchange(
        world,
        _head(
            world, path, f"Content-Type: application/json\r\nContent-Length: {50 * MAX_BODY}\r\n"
        ),
        [],
        finish=False,
    )
    status, body = _status_and_body(raw)
    assert status == 413
    assert body["error"]["code"] == "too_large"

    # Streamed (chunked, no length) past the limit: cut off while it streams in. Before
    # the fix this came back as a 400 ("error parsing the body").
    chunk = b'{"text": "' + b"z" * 4096
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] + [
        b"%x\r\n%s\r\n" % (4096, b"z" * 4096) for _ in range(MAX_BODY // 4096 + 2)
    ]
    raw = await _raw_exchange(
        world,
        _head(world, path, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"),
        chunks,
        finish=True,
    )
    status, body = _status_and_body(raw)
    assert status == 413, raw[:300]
    assert body["error"]["code"] == "too_large"
    assert snapshot(world) == world.baseline


@module_loop
async def test_oversize_uploads_get_413_and_store_nothing(world: World) -> None:
    room = world.path_values["room_id"]
    path = f"/api/v1/rooms/{room}/files"
    # Just over the file limit (inside the multipart allowance): the endpoint refuses it.
    resp = await world.server.request(
        "POST", path, world.admin, files={"file": ("big.bin", b"\x89PNG" + b"\x00" * MAX_UPLOAD)}
    )
    assert resp.status_code == 413, resp.text
    assert assert_error_envelope(resp, "upload")["code"] == "too_large"
    # Over the multipart allowance too: refused from the declared length.
    resp = await world.server.request(
        "POST", path, world.admin, files={"file": ("huge.bin", b"\x00" * (MAX_UPLOAD + 100 * 1024))}
    )
    assert resp.status_code == 413, resp.text
    assert assert_error_envelope(resp, "upload")["code"] == "too_large"
    # Streamed without a length: cut off mid-stream.
    boundary = "b0undary"
    start = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    piece = b"\x01" * 8192
    chunks = [b"%x\r\n%s\r\n" % (len(start), start)] + [
        b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range((MAX_UPLOAD + 64 * 1024) // 8192 + 2)
    ]
    raw = await _raw_exchange(
        world,
        _head(
            world,
            path,
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            "Transfer-Encoding: chunked\r\n",
        ),
        chunks,
        finish=True,
    )
    status, body = _status_and_body(raw)
    assert status == 413, raw[:300]
    assert body["error"]["code"] == "too_large"
    assert snapshot(world) == world.baseline
