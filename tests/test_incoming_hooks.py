"""Incoming webhooks (T6, and T1 for their secrets): attacks against a running server.

A hook posts into exactly one room as its own bot account, and only for requests signed
with its secret (HMAC-SHA256 over timestamp and body, 5-minute window, each signature
once) or, in legacy mode, carrying its URL token. Unsigned, wrongly signed, replayed,
stale, future, oversized, malformed and wrong-typed requests, a flood, a hook aimed at
another room, a disabled and an unknown hook: each is refused, posts nothing, and is
audited (once a minute per hook and reason, so a flood can't flood the audit log).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from redoubt.core.signing import SIGNATURE_HEADER, sign
from redoubt.domain.enums import UserRole
from tests.harness import (
    PASSWORD,
    Server,
    User,
    deployment,
    run_server,
    server_log,
    signed_request,
    sqlite_database,
    test_settings,
)

API = "/api/v1"
MAX_BYTES = 2048
_SECRET_SHAPE = re.compile(r"rdt_whs_[A-Za-z0-9_\-]{43}_[0-9A-Za-z]{6}")
_URL_TOKEN_SHAPE = re.compile(r"rdt_whu_[A-Za-z0-9_\-]{43}_[0-9A-Za-z]{6}")
GENERIC_401 = {"code": "unauthorized", "message": "Authentication required."}


@dataclass
class World:
    srv: Server
    admin: User
    alice: User
    room: str
    """``deploys``, a channel; the hooks post here."""
    other_room: str
    """``secrets``, a private group alice owns (the admin isn't in it)."""


@dataclass
class Hook:
    id: str
    user_id: str
    secret: str
    legacy_url: str | None
    view: dict[str, Any]


async def make_world(srv: Server) -> World:
    admin = await srv.create_user("admin", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    room = await srv.room(admin, "deploys", "channel", alice)
    other = await srv.room(alice, "secrets", "private")
    return World(srv, admin, alice, room, other)


@contextlib.asynccontextmanager
async def hook_world(tmp_path: Path, **overrides: Any) -> AsyncIterator[World]:
    await asyncio.to_thread(sqlite_database, tmp_path / "data")
    settings = test_settings(tmp_path / "data", incoming_hook_max_bytes=MAX_BYTES, **overrides)
    async with run_server(settings) as srv:
        yield await make_world(srv)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with hook_world(tmp_path) as w:
        yield w


async def create_hook(
    w: World, name: str = "CI Bot", *, legacy: bool = False, room: str | None = None
) -> Hook:
    resp = await w.srv.request(
        "POST",
        f"{API}/admin/hooks/incoming",
        w.admin,
        json={"name": name, "room_id": room or w.room, "legacy_url_token": legacy},
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    return Hook(
        body["hook"]["id"], body["hook"]["user_id"], body["secret"], body["legacy_url"], body
    )


async def send(w: World, path: str, **kwargs: Any) -> httpx.Response:
    w.srv.http.cookies.clear()
    return await w.srv.http.post(path, **kwargs)


async def history(w: World, room: str | None = None) -> list[dict[str, Any]]:
    return list(
        await w.srv.ok(
            "GET", f"{API}/rooms/{room or w.room}/messages", w.alice, params={"limit": 200}
        )
    )


async def refusals(w: World) -> list[dict[str, Any]]:
    rows = await w.srv.ok(
        "GET",
        f"{API}/admin/audit",
        w.admin,
        params={"action": "hook.incoming.refused", "limit": 500},
    )
    return [r for r in rows if r["action"] == "hook.incoming.refused"]


def error_of(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}, body
    error = dict(body["error"])
    assert re.fullmatch(r"[0-9a-f]{16}", error.pop("incident_id"))
    error.pop("retry_after", None)
    return error


# --- the signed path -----------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    async with (
        deployment(request.param, tmp_path / "data") as settings,
        run_server(settings(incoming_hook_max_bytes=MAX_BYTES)) as srv,
    ):
        yield await make_world(srv)


async def test_a_signed_post_appears_in_the_room_as_the_hook(any_world: World) -> None:
    w = any_world
    hook = await create_hook(w, "Deploy Bot")
    assert _SECRET_SHAPE.fullmatch(hook.secret)
    assert hook.legacy_url is None
    view = hook.view["hook"]
    assert view["url"] == f"{API}/hooks/{hook.id}"
    assert (view["room_id"], view["room_name"], view["enabled"]) == (w.room, "deploys", True)
    assert view["legacy_url_token"] is False

    attachments = [
        {
            "title": "<img src=x onerror=alert(1)>",
            "title_link": "https://ci.example/builds/42?x=<b>",
            "text": "**not markdown** <script>alert(1)</script>",
            "color": "#36a64f",
            "author_name": "CI",
            "fields": [{"title": "branch", "value": "main", "short": True}, {"value": "x"}],
            "fallback": "build 42 passed",
        }
    ]
    payload = {
        "text": "Build 42 passed",
        "attachments": attachments,
        "channel": "#deploys",
        # Accepted and ignored: the identity is the admin's choice.
        "username": "admin",
        "icon_url": "https://evil.example/a.png",
        "icon_emoji": ":ghost:",
    }
    async with w.srv.events(w.alice) as stream:
        resp = await send(w, f"{API}/hooks/{hook.id}", **signed_request(hook.secret, payload))
        assert resp.status_code == 200, resp.text
        assert resp.json()["ok"] is True
        frame = await stream.until("message.created")
    message = frame["data"]
    assert message["id"] == resp.json()["message_id"]
    assert (message["room_id"], message["author_id"]) == (w.room, hook.user_id)
    assert message["text"] == "Build 42 passed"
    stored = [
        {
            "title": "<img src=x onerror=alert(1)>",
            "title_link": "https://ci.example/builds/42?x=<b>",
            "text": "**not markdown** <script>alert(1)</script>",
            "color": "#36a64f",
            "author_name": "CI",
            "fields": [
                {"title": "branch", "value": "main", "short": True},
                {"title": "", "value": "x", "short": False},
            ],
        }
    ]
    assert message["attachments"] == stored  # as given (validated), text only; no fallback
    last = (await history(w))[-1]
    assert last == message
    author = await w.srv.ok("GET", f"{API}/users/{hook.user_id}", w.alice)
    assert author == {
        "id": hook.user_id,
        "username": f"hook-{hook.id}",
        "display_name": "Deploy Bot",
        "role": "bot",  # people can tell a hook's posts from a person's
    }
    members = await w.srv.ok("GET", f"{API}/rooms/{w.room}/members", w.alice)
    assert hook.user_id in {m["user_id"] for m in members}

    # The room by id, and without a channel at all; ordinary messages have no attachments.
    for extra in ({"channel": w.room}, {"channel": "deploys"}, {}):
        ok = await send(
            w, f"{API}/hooks/{hook.id}", **signed_request(hook.secret, {"text": "hi", **extra})
        )
        assert ok.status_code == 200, (extra, ok.text)
    plain = await w.srv.post(w.alice, w.room, "a human")
    assert plain["attachments"] == []
    listed = await w.srv.ok("GET", f"{API}/admin/hooks/incoming", w.admin)
    assert listed[0]["last_used_at"] is not None

    # The hook's account can't sign in: no password, so no session and no token.
    login = await w.srv.login(f"hook-{hook.id}", PASSWORD)
    assert login.status_code == 401
    created = await w.srv.ok(
        "GET", f"{API}/admin/audit", w.admin, params={"action": "hook.incoming.created"}
    )
    assert [(r["target_id"], r["actor_id"]) for r in created] == [(hook.id, w.admin.id)]


# --- refusals --------------------------------------------------------------------------


async def test_every_bad_request_is_refused_posts_nothing_and_is_audited(world: World) -> None:
    w = world
    hook = await create_hook(w)
    disabled = await create_hook(w, "Old Bot")
    await w.srv.ok(
        "PATCH", f"{API}/admin/hooks/incoming/{disabled.id}", w.admin, json={"enabled": False}
    )
    url = f"{API}/hooks/{hook.id}"
    good = {"text": "fine"}
    now = int(time.time())

    # The replayed request was accepted once.
    replayed = signed_request(hook.secret, {"text": "once"})
    assert (await send(w, url, **replayed)).status_code == 200
    before = await history(w)
    assert before[-1]["text"] == "once"

    unsigned_body = json.dumps(good).encode()
    oversized = {"text": "z" * (MAX_BYTES + 10)}
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        (
            "unsigned",
            url,
            {"content": unsigned_body, "headers": {"content-type": "application/json"}},
            401,
            "unsigned",
        ),
        (
            "signature without timestamp",
            url,
            {
                "content": unsigned_body,
                "headers": {SIGNATURE_HEADER: sign(hook.secret, now, unsigned_body)},
            },
            401,
            "unsigned",
        ),
        ("wrong secret", url, signed_request(disabled.secret, good), 401, "bad_signature"),
        (
            "signature of another body",
            url,
            {**signed_request(hook.secret, good), "content": b'{"text": "tampered"}'},
            401,
            "bad_signature",
        ),
        ("replayed", url, replayed, 401, "replay"),
        (
            "6 minutes old",
            url,
            signed_request(hook.secret, good, ts=now - 360),
            401,
            "stale_timestamp",
        ),
        (
            "6 minutes ahead",
            url,
            signed_request(hook.secret, good, ts=now + 360),
            401,
            "stale_timestamp",
        ),
        ("oversized", url, signed_request(hook.secret, oversized), 413, "too_large"),
        ("not json", url, signed_request(hook.secret, None, raw=b"{text: fine"), 400, "malformed"),
        ("text: 123", url, signed_request(hook.secret, {"text": 123}), 400, "invalid_payload"),
        (
            'attachments: "x"',
            url,
            signed_request(hook.secret, {"attachments": "x"}),
            400,
            "invalid_payload",
        ),
        (
            "extra field",
            url,
            signed_request(hook.secret, {"text": "a", "x": 1}),
            400,
            "invalid_payload",
        ),
        (
            "javascript: link",
            url,
            signed_request(
                hook.secret, {"attachments": [{"title": "t", "title_link": "javascript:x()"}]}
            ),
            400,
            "invalid_payload",
        ),
        (
            "colour name",
            url,
            signed_request(hook.secret, {"attachments": [{"title": "t", "color": "red"}]}),
            400,
            "invalid_payload",
        ),
        (
            "short as a string",
            url,
            signed_request(
                hook.secret, {"attachments": [{"fields": [{"value": "v", "short": "true"}]}]}
            ),
            400,
            "invalid_payload",
        ),
        (
            "eleven attachments",
            url,
            signed_request(hook.secret, {"attachments": [{"title": "t"}] * 11}),
            400,
            "invalid_payload",
        ),
        ("empty text", url, signed_request(hook.secret, {"text": "  "}), 400, "invalid_payload"),
        (
            "form-encoded",
            url,
            {
                **signed_request(hook.secret, good),
                "headers": {
                    **signed_request(hook.secret, good)["headers"],
                    "content-type": "application/x-www-form-urlencoded",
                },
            },
            415,
            "unsupported_media_type",
        ),
        (
            "another room by name",
            url,
            signed_request(hook.secret, {"text": "x", "channel": "#secrets"}),
            403,
            "wrong_room",
        ),
        (
            "another room by id",
            url,
            signed_request(hook.secret, {"text": "x", "channel": w.other_room}),
            403,
            "wrong_room",
        ),
        (
            "disabled hook",
            f"{API}/hooks/{disabled.id}",
            signed_request(disabled.secret, good),
            401,
            "disabled",
        ),
        (
            "unknown hook",
            f"{API}/hooks/1234567",
            signed_request(hook.secret, good),
            401,
            "unknown_hook",
        ),
        ("not an id", f"{API}/hooks/abc", signed_request(hook.secret, good), 401, "unknown_hook"),
        (
            "legacy route of a signed-only hook",
            f"{API}/hooks/{hook.id}/rdt_whu_" + "A" * 43 + "_AAAAAA",
            {"json": good},
            401,
            "bad_url_token",
        ),
    ]
    bodies_401: list[dict[str, Any]] = []
    for label, path, kwargs, status, _reason in cases:
        resp = await send(w, path, **kwargs)
        assert resp.status_code == status, (label, resp.status_code, resp.text)
        error = error_of(resp)
        assert set(error) <= {"code", "message", "fields"}, (label, error)
        assert "fields" not in error, label  # nothing that helps shape the next attempt
        for secret in (hook.secret, disabled.secret):
            assert secret not in resp.text
        if status == 401:
            bodies_401.append(error)
        # Nothing was posted: every room is as it was.
        assert await history(w) == before, label
    # Unknown, disabled, unsigned, wrong signature, stale, replayed: one answer.
    assert all(e == GENERIC_401 for e in bodies_401)
    assert await history(w, w.other_room) == []

    rows = await refusals(w)
    audited = {r["details"]["reason"] for r in rows}
    assert audited == {reason for *_rest, reason in cases}
    # One row per hook and reason (a burst of one kind is one row), never the secret.
    keys = [(r["target_id"], r["details"]["reason"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert all(r["actor_id"] is None and r["ip"] == "127.0.0.1" for r in rows)
    assert next(r for r in rows if r["details"]["reason"] == "unsigned")["target_id"] == hook.id
    assert next(r for r in rows if r["details"]["reason"] == "disabled")["target_id"] == disabled.id
    unknown = [r for r in rows if r["details"]["reason"] == "unknown_hook"]
    assert len(unknown) == 1  # "1234567" and "abc": one row a minute for all unknown ids
    assert unknown[0]["target_id"] is None
    text = json.dumps(rows)
    assert hook.secret not in text
    assert "rdt_" not in text


async def test_a_flood_is_cut_off_at_the_hooks_rate_and_audited_once(tmp_path: Path) -> None:
    async with hook_world(tmp_path, incoming_hook_per_minute=5) as w:
        hook = await create_hook(w)
        other = await create_hook(w, "Other Bot")
        statuses = []
        for n in range(12):
            resp = await send(
                w, f"{API}/hooks/{hook.id}", **signed_request(hook.secret, {"text": f"#{n}"})
            )
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                assert error_of(resp)["code"] == "rate_limited"
                assert int(resp.headers["retry-after"]) >= 1
        assert statuses == [200] * 5 + [429] * 7
        assert [m["text"] for m in await history(w)] == [f"#{n}" for n in range(5)]
        # Per hook: another hook still posts.
        resp = await send(
            w, f"{API}/hooks/{other.id}", **signed_request(other.secret, {"text": "other"})
        )
        assert resp.status_code == 200
        floods = [r for r in await refusals(w) if r["details"]["reason"] == "flood"]
        assert [r["target_id"] for r in floods] == [hook.id]


# --- legacy URL-token mode -------------------------------------------------------------


async def test_legacy_url_mode_works_and_its_token_stays_out_of_logs(world: World) -> None:
    w = world
    with server_log() as log:
        hook = await create_hook(w, "Slacky", legacy=True)
        assert hook.legacy_url is not None
        assert hook.view["hook"]["legacy_url_token"] is True
        prefix = f"{API}/hooks/{hook.id}/"
        assert hook.legacy_url.startswith(prefix)
        token = hook.legacy_url.removeprefix(prefix)
        assert _URL_TOKEN_SHAPE.fullmatch(token)

        resp = await send(w, hook.legacy_url, json={"text": "from slack"})
        assert resp.status_code == 200, resp.text
        assert (await history(w))[-1]["text"] == "from slack"
        # Same schema and room binding as the signed route.
        bad = await send(w, hook.legacy_url, json={"text": 1})
        assert bad.status_code == 400
        wrong_room = await send(w, hook.legacy_url, json={"text": "x", "channel": "secrets"})
        assert wrong_room.status_code == 403
        # A wrong token, a token of the wrong shape: the generic 401.
        for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x", "rdt_whu_short"):
            denied = await send(w, prefix + wrong, json={"text": "nope"})
            assert denied.status_code == 401, wrong
            assert error_of(denied) == GENERIC_401
        # The signed route keeps working for it.
        signed_ok = await send(
            w, f"{API}/hooks/{hook.id}", **signed_request(hook.secret, {"text": "s"})
        )
        assert signed_ok.status_code == 200
        assert [m["text"] for m in await history(w)] == ["from slack", "s"]
    logged = "\n".join(log.lines)
    assert token not in logged
    assert hook.secret not in logged
    access = [json.loads(line) for line in log.lines if '"request"' in line and "hooks" in line]
    assert any(a["path"] == f"{prefix}[REDACTED]" for a in access), access

    listed = await w.srv.ok("GET", f"{API}/admin/hooks/incoming", w.admin)
    assert [h["legacy_url_token"] for h in listed] == [True]
    # Turning legacy mode off ends the token at once (and it can't be turned back on
    # without a rotation showing a new one).
    off = await w.srv.ok(
        "PATCH", f"{API}/admin/hooks/incoming/{hook.id}", w.admin, json={"legacy_url_token": False}
    )
    assert off["legacy_url_token"] is False
    assert (await send(w, hook.legacy_url, json={"text": "again"})).status_code == 401
    on = await w.srv.request(
        "PATCH", f"{API}/admin/hooks/incoming/{hook.id}", w.admin, json={"legacy_url_token": True}
    )
    assert on.status_code == 400
    reasons = {r["details"]["reason"] for r in await refusals(w)}
    assert {"bad_url_token", "invalid_payload", "wrong_room"} <= reasons


# --- secrets and management --------------------------------------------------------------


async def test_secrets_show_once_live_sealed_and_rotate(world: World, tmp_path: Path) -> None:
    w = world
    hook = await create_hook(w, legacy=True)
    assert hook.legacy_url is not None
    old_token = hook.legacy_url.rsplit("/", 1)[1]
    # Nowhere but the create answer: not in lists, updates or the audit log.
    listed = await w.srv.request("GET", f"{API}/admin/hooks/incoming", w.admin)
    patched = await w.srv.request(
        "PATCH", f"{API}/admin/hooks/incoming/{hook.id}", w.admin, json={"name": "Renamed"}
    )
    audit = await w.srv.request("GET", f"{API}/admin/audit", w.admin)
    for resp in (listed, patched, audit):
        assert resp.status_code == 200
        assert hook.secret not in resp.text
        assert old_token not in resp.text
        assert "rdt_wh" not in resp.text
    assert patched.json()["name"] == "Renamed"
    user = await w.srv.ok("GET", f"{API}/users/{hook.user_id}", w.alice)
    assert user["display_name"] == "Renamed"
    # At rest the secret is sealed and the URL token hashed: neither is in the database.
    data = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("redoubt.db*") if p.is_file())
    assert hook.secret.encode() not in data
    assert old_token.encode() not in data

    rotated = await w.srv.request("POST", f"{API}/admin/hooks/incoming/{hook.id}/secret", w.admin)
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    new_secret, new_url = rotated.json()["secret"], rotated.json()["legacy_url"]
    assert _SECRET_SHAPE.fullmatch(new_secret)
    assert new_secret != hook.secret
    assert new_url is not None
    assert new_url != hook.legacy_url
    url = f"{API}/hooks/{hook.id}"
    assert (await send(w, url, **signed_request(hook.secret, {"text": "old"}))).status_code == 401
    assert (await send(w, hook.legacy_url, json={"text": "old"})).status_code == 401
    assert (await send(w, url, **signed_request(new_secret, {"text": "new"}))).status_code == 200
    assert (await send(w, new_url, json={"text": "new url"})).status_code == 200
    assert [m["text"] for m in await history(w)] == ["new", "new url"]
    actions = [
        r["action"]
        for r in await w.srv.ok("GET", f"{API}/admin/audit", w.admin, params={"limit": 500})
        if r["action"].startswith("hook.incoming.") and r["action"] != "hook.incoming.refused"
    ]
    assert actions == [
        "hook.incoming.secret_rotated",
        "hook.incoming.updated",
        "hook.incoming.created",
    ]


async def test_only_admins_manage_hooks(world: World) -> None:
    w = world
    guest = await w.srv.create_user("guest", role=UserRole.GUEST)
    hook = await create_hook(w)
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"{API}/admin/hooks/incoming", {}),
        ("POST", f"{API}/admin/hooks/incoming", {"json": {"name": "x", "room_id": w.room}}),
        ("PATCH", f"{API}/admin/hooks/incoming/{hook.id}", {"json": {"enabled": False}}),
        ("POST", f"{API}/admin/hooks/incoming/{hook.id}/secret", {}),
        ("DELETE", f"{API}/admin/hooks/incoming/{hook.id}", {}),
    ]
    for user in (w.alice, guest):
        for method, path, kwargs in calls:
            resp = await w.srv.request(method, path, user, **kwargs)
            assert resp.status_code == 403, (user.username, method, path, resp.text)
            assert hook.secret not in resp.text
    for method, path, kwargs in calls:
        w.srv.http.cookies.clear()
        assert (await w.srv.http.request(method, path, **kwargs)).status_code == 401
    listed = await w.srv.ok("GET", f"{API}/admin/hooks/incoming", w.admin)
    assert [(h["id"], h["enabled"]) for h in listed] == [(hook.id, True)]
    ok = await send(
        w, f"{API}/hooks/{hook.id}", **signed_request(hook.secret, {"text": "still mine"})
    )
    assert ok.status_code == 200
    # Admins, too, only into rooms they may invite into: not alice's private group.
    resp = await w.srv.request(
        "POST", f"{API}/admin/hooks/incoming", w.admin, json={"name": "x", "room_id": w.other_room}
    )
    assert resp.status_code == 404
    for bad in (
        {"name": "x", "room_id": w.room, "avatar_url": "http://plain.example/a.png"},
        {"name": "x", "room_id": w.room, "avatar_url": "javascript:alert(1)"},
        {"name": "\u202ex", "room_id": w.room},
    ):
        resp = await w.srv.request("POST", f"{API}/admin/hooks/incoming", w.admin, json=bad)
        assert resp.status_code == 400, bad


async def test_a_deleted_or_archived_hook_posts_nothing(world: World) -> None:
    w = world
    hook = await create_hook(w)
    url = f"{API}/hooks/{hook.id}"
    assert (
        await send(w, url, **signed_request(hook.secret, {"text": "before"}))
    ).status_code == 200
    # Its room archived: refused (403), nothing posted.
    await w.srv.ok("PATCH", f"{API}/rooms/{w.room}", w.admin, json={"archived": True})
    archived = await send(w, url, **signed_request(hook.secret, {"text": "archived"}))
    assert archived.status_code == 403
    await w.srv.ok("PATCH", f"{API}/rooms/{w.room}", w.admin, json={"archived": False})
    resp = await w.srv.request("DELETE", f"{API}/admin/hooks/incoming/{hook.id}", w.admin)
    assert resp.status_code == 204
    gone = await send(w, url, **signed_request(hook.secret, {"text": "after"}))
    assert gone.status_code == 401
    assert error_of(gone) == GENERIC_401
    assert [m["text"] for m in await history(w)] == ["before"]  # its messages stay
    members = await w.srv.ok("GET", f"{API}/rooms/{w.room}/members", w.alice)
    assert hook.user_id not in {m["user_id"] for m in members}
    users = await w.srv.ok("GET", f"{API}/admin/users", w.admin)
    bot = next(u for u in users if u["id"] == hook.user_id)
    assert (bot["role"], bot["is_active"]) == ("bot", False)
    assert await w.srv.ok("GET", f"{API}/admin/hooks/incoming", w.admin) == []
    reasons = {r["details"]["reason"] for r in await refusals(w)}
    assert {"room_unavailable", "unknown_hook"} <= reasons
