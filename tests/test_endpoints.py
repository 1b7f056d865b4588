"""Every endpoint of the OpenAPI spec: its allowed case and its denials.

``ENDPOINTS`` names each route of ``GET /api/v1/openapi.json`` with

* an allowed request, run and checked for its effect;
* the denials every protected route must give: 401 without credentials and for a
  deactivated user's token; 404 for a member of another room where the route reaches
  into a room (private here) the caller is not in; 403 for non-admins on admin routes.

The meta-test compares the table with the served spec, so a new endpoint without an
entry here fails the build (and so does an entry for a route that went away).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
import pytest
import websockets

from redoubt.actions.bot_activity import do_quarantine_bot
from redoubt.actions.password_reset import issue_password_reset
from redoubt.actions.server_settings import do_set_user_bot_policy
from redoubt.core.errors import Unauthorized
from redoubt.core.signing import sign as sign_hook
from redoubt.domain.bot_activity import Trip
from redoubt.domain.enums import UserRole
from redoubt.queries.bots import authenticate_bot
from redoubt.queries.server_settings import UserBotPolicy
from tests.harness import PASSWORD, EventClient, Server, User

API = "/api/v1"
EMOJI = "thumbs_up"
FILE_BYTES = b"%PDF-1.4\n% endpoint test\n"


async def send(
    srv: Server, method: str, path: str, user: User | None = None, **kwargs: Any
) -> httpx.Response:
    """A request as ``user`` only: the harness's client keeps the session cookie of the
    last login, which would quietly authenticate "anonymous" requests."""
    srv.http.cookies.clear()
    return await srv.request(method, path, user, **kwargs)


@dataclass
class World:
    srv: Server
    admin: User
    alice: User
    """Owner of ``room`` and ``channel``."""
    bob: User
    """Member of ``room``."""
    olga: User
    """Member of another private room only: the "member of another room"."""
    target: User
    """An account the admin routes act on (in the denial loops)."""
    deactivated: User
    """Was a member of ``room``; token issued before the deactivation."""
    room: str
    """A private group."""
    channel: str
    message: str
    """Alice's message in ``room``: edited once, one reply, a reaction, pinned."""
    reply: str
    file: str
    """A file attached to a message in ``room``."""
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    async def fresh_user(self) -> User:
        return await self.srv.create_user(self.name("fresh"))

    async def fresh_message(self, author: User, *, pinned: bool = False) -> str:
        msg = await self.srv.post(author, self.room, self.name("fresh message "))
        if pinned:
            await self.srv.ok("PUT", f"{API}/messages/{msg['id']}/pin", self.alice)
        return str(msg["id"])

    async def fresh_member(self) -> User:
        user = await self.srv.create_user(self.name("member"))
        await self.srv.ok(
            "POST", f"{API}/rooms/{self.room}/members", self.alice, json={"user_id": user.id}
        )
        return user


async def build_world(srv: Server) -> World:
    admin = await srv.create_user("admin", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    olga = await srv.create_user("olga")
    target = await srv.create_user("target")
    deactivated = await srv.create_user("dee")
    room = await srv.room(alice, "ep-room", "private", bob, deactivated)
    await srv.room(olga, "olgas-room", "private")
    channel = await srv.room(alice, "ep-channel", "channel")
    msg = await srv.post(alice, room, "endpointword first")
    await srv.ok(
        "PATCH", f"{API}/messages/{msg['id']}", alice, json={"text": "endpointword second"}
    )
    reply = await srv.post(bob, room, "a reply", thread_id=msg["id"])
    await srv.ok("PUT", f"{API}/messages/{msg['id']}/reactions/{EMOJI}", bob)
    await srv.ok("PUT", f"{API}/messages/{msg['id']}/pin", alice)
    upload = await srv.upload(alice, room, "doc.pdf", FILE_BYTES)
    await srv.post(alice, room, "file", file_ids=[upload["id"]])
    await srv.ok("POST", f"{API}/users/{deactivated.id}/deactivate", admin)
    return World(
        srv,
        admin,
        alice,
        bob,
        olga,
        target,
        deactivated,
        room,
        channel,
        msg["id"],
        reply["id"],
        upload["id"],
    )


@dataclass
class Req:
    """A request an allowed caller makes, and what must come back."""

    actor: User | None
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    check: Callable[[httpx.Response], Awaitable[None]] | None = None


Factory = Callable[[World], Awaitable[Req]]


@dataclass(frozen=True)
class Entry:
    allowed: Factory
    outsider: int | None = None
    """The status for a member of another room (None: the route is not room-scoped)."""
    admin_only: bool = False
    public: bool = False
    """Deliberately reachable without credentials."""


# --- allowed cases -----------------------------------------------------------------


async def _login(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        body = r.json()
        assert body["user"]["id"] == w.bob.id
        assert body["token"]
        assert body["csrf_token"] is None
        assert "set-cookie" not in r.headers  # token mode: no ambient cookie as well
        token_user = User(w.bob.id, "bob", body["token"], "user")
        assert (await send(w.srv, "GET", f"{API}/users/me", token_user)).status_code == 200
        wrong = await send(
            w.srv,
            "POST",
            f"{API}/auth/login",
            json={"username": "bob", "password": "wrong password!"},
        )
        unknown = await send(
            w.srv,
            "POST",
            f"{API}/auth/login",
            json={"username": "nobody", "password": "wrong password!"},
        )
        for denied in (wrong, unknown):
            assert denied.status_code == 401
            assert denied.json()["error"]["message"] == "Invalid username or password."
            assert "set-cookie" not in denied.headers

    return Req(
        None, f"{API}/auth/login", {"json": {"username": "bob", "password": PASSWORD}}, check=check
    )


async def _logout(w: World) -> Req:
    resp = await send(
        w.srv, "POST", f"{API}/auth/login", json={"username": "bob", "password": PASSWORD}
    )
    session = User(w.bob.id, "bob", resp.json()["token"], "user")

    async def check(r: httpx.Response) -> None:
        after = await send(w.srv, "GET", f"{API}/users/me", session)
        assert after.status_code == 401
        # Only that session ended.
        assert (await send(w.srv, "GET", f"{API}/users/me", w.bob)).status_code == 200

    return Req(session, f"{API}/auth/logout", status=204, check=check)


async def _me(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json() == {
            "id": w.bob.id,
            "username": "bob",
            "display_name": "Bob",
            "role": "user",
            "is_active": True,
        }

    return Req(w.bob, f"{API}/users/me", check=check)


async def _session(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json()["user"]["id"] == w.bob.id
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", r.json()["csrf_token"])
        assert r.json()["enrol_only"] is False

    return Req(w.bob, f"{API}/auth/session", check=check)


async def _sessions(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert [s["current"] for s in r.json()].count(True) == 1
        assert all(s["ip"] == "127.0.0.1" for s in r.json())

    return Req(w.bob, f"{API}/sessions", check=check)


async def _end_session(w: World) -> Req:
    user = await w.fresh_user()
    other = await w.srv.new_session(user)
    listed = await w.srv.ok("GET", f"{API}/sessions", other)
    mine = next(s["id"] for s in listed if s["current"])

    async def check(r: httpx.Response) -> None:
        assert (await send(w.srv, "GET", f"{API}/users/me", other)).status_code == 401
        assert (await send(w.srv, "GET", f"{API}/users/me", user)).status_code == 200

    return Req(user, f"{API}/sessions/{mine}", status=204, check=check)


async def _end_other_sessions(w: World) -> Req:
    user = await w.fresh_user()
    other = await w.srv.new_session(user)

    async def check(r: httpx.Response) -> None:
        assert r.json() == {"ended": 1}
        assert (await send(w.srv, "GET", f"{API}/users/me", other)).status_code == 401
        assert (await send(w.srv, "GET", f"{API}/users/me", user)).status_code == 200

    return Req(user, f"{API}/sessions", check=check)


async def _admin_user_sessions(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json()
        assert not any(s["current"] for s in r.json())  # none is the admin's own

    return Req(w.admin, f"{API}/admin/users/{w.bob.id}/sessions", check=check)


async def _admin_end_user_sessions(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert r.json() == {"ended": 1}
        assert (await send(w.srv, "GET", f"{API}/users/me", user)).status_code == 401

    return Req(w.admin, f"{API}/admin/users/{user.id}/sessions", check=check)


async def _token_policy(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        body = r.json()
        assert {s["scope"] for s in body["scopes"]} >= {"messages:read", "admin"}
        assert body["default_days"] >= 1

    return Req(w.bob, f"{API}/token-policy", check=check)


async def _my_tokens(w: World) -> Req:
    user = await w.fresh_user()
    token = await w.srv.create_token(user, "users:read")

    async def check(r: httpx.Response) -> None:
        assert [t["id"] for t in r.json()] == [token.token_id]
        assert token.token not in r.text

    return Req(user, f"{API}/tokens", check=check)


async def _create_token(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        made = User(user.id, user.username, r.json()["secret"])
        assert (await send(w.srv, "GET", f"{API}/users/me", made)).status_code == 200

    return Req(
        user,
        f"{API}/tokens",
        {"json": {"name": "ci", "scopes": ["users:read"]}},
        status=201,
        check=check,
    )


async def _rotate_token(w: World) -> Req:
    user = await w.fresh_user()
    token = await w.srv.create_token(user, "users:read")

    async def check(r: httpx.Response) -> None:
        made = User(user.id, user.username, r.json()["secret"])
        assert (await send(w.srv, "GET", f"{API}/users/me", made)).status_code == 200
        assert (await send(w.srv, "GET", f"{API}/users/me", token)).status_code == 401

    return Req(
        user,
        f"{API}/tokens/{token.token_id}/rotate",
        {"json": {"grace_hours": 0}},
        status=201,
        check=check,
    )


async def _revoke_token(w: World) -> Req:
    user = await w.fresh_user()
    token = await w.srv.create_token(user, "users:read")

    async def check(r: httpx.Response) -> None:
        assert (await send(w.srv, "GET", f"{API}/users/me", token)).status_code == 401

    return Req(user, f"{API}/tokens/{token.token_id}", status=204, check=check)


async def _token_activity(w: World) -> Req:
    user = await w.fresh_user()
    token = await w.srv.create_token(user, "users:read")
    await w.srv.ok("GET", f"{API}/users/me", token)
    await w.srv.container.token_usage.flush()

    async def check(r: httpx.Response) -> None:
        usage = r.json()["usage"]
        assert [(u["operation"], u["requests"]) for u in usage] == [("GET /api/v1/users/me", 1)]

    return Req(user, f"{API}/tokens/{token.token_id}/activity", check=check)


async def _admin_tokens(w: World) -> Req:
    user = await w.fresh_user()
    token = await w.srv.create_token(user, "users:read")

    async def check(r: httpx.Response) -> None:
        listed = {t["id"]: t for t in r.json()}
        assert listed[str(token.token_id)]["owner"]["id"] == user.id
        assert token.token not in r.text

    return Req(w.admin, f"{API}/admin/tokens", check=check)


async def _admin_revoke_token(w: World) -> Req:
    user = await w.fresh_user()
    token = await w.srv.create_token(user, "users:read")

    async def check(r: httpx.Response) -> None:
        assert (await send(w.srv, "GET", f"{API}/users/me", token)).status_code == 401

    return Req(w.admin, f"{API}/admin/tokens/{token.token_id}", status=204, check=check)


# [outgoing webhooks] Hooks on the channel that fire only on "deploy ..." messages, at a
# name that never resolves: the allowed cases make no outbound request that could land.
OUT_HOOKS = f"{API}/admin/hooks/outgoing"


def _out_hook_body(w: World) -> dict[str, Any]:
    return {
        "name": w.name("hook"),
        "url": "https://hooks.example.invalid/in",
        "room_ids": [w.channel],
        "events": ["message.posted"],
        "trigger_words": ["deploy"],
    }


async def _fresh_out_hook(w: World) -> dict[str, Any]:
    return dict(await w.srv.ok("POST", OUT_HOOKS, w.admin, json=_out_hook_body(w)))


async def _out_hooks(w: World) -> Req:
    created = await _fresh_out_hook(w)

    async def check(r: httpx.Response) -> None:
        assert created["hook"] in r.json()
        assert created["secret"] not in r.text

    return Req(w.admin, OUT_HOOKS, check=check)


async def _create_out_hook(w: World) -> Req:
    body = _out_hook_body(w)

    async def check(r: httpx.Response) -> None:
        created = r.json()
        assert created["secret"].startswith("rdt_whs_")
        assert created["hook"]["name"] == body["name"]
        assert created["hook"]["owner_id"] == w.admin.id
        assert created["hook"] in await w.srv.ok("GET", OUT_HOOKS, w.admin)

    return Req(w.admin, OUT_HOOKS, {"json": body}, status=201, check=check)


async def _update_out_hook(w: World) -> Req:
    hook = (await _fresh_out_hook(w))["hook"]

    async def check(r: httpx.Response) -> None:
        updated = r.json()
        assert (updated["name"], updated["enabled"]) == ("renamed", False)
        assert updated["disabled_reason"]
        assert updated in await w.srv.ok("GET", OUT_HOOKS, w.admin)

    return Req(
        w.admin,
        f"{OUT_HOOKS}/{hook['id']}",
        {"json": {"name": "renamed", "enabled": False}},
        check=check,
    )


async def _rotate_out_hook(w: World) -> Req:
    created = await _fresh_out_hook(w)

    async def check(r: httpx.Response) -> None:
        secret = r.json()["secret"]
        assert secret.startswith("rdt_whs_")
        assert secret != created["secret"]

    return Req(w.admin, f"{OUT_HOOKS}/{created['hook']['id']}/secret", check=check)


async def _delete_out_hook(w: World) -> Req:
    hook = (await _fresh_out_hook(w))["hook"]

    async def check(r: httpx.Response) -> None:
        listed = await w.srv.ok("GET", OUT_HOOKS, w.admin)
        assert hook["id"] not in {h["id"] for h in listed}

    return Req(w.admin, f"{OUT_HOOKS}/{hook['id']}", status=204, check=check)


async def _out_hook_deliveries(w: World) -> Req:
    room = await w.srv.room(w.alice, w.name("hooked"), "channel")
    body = {**_out_hook_body(w), "room_ids": [room]}
    hook = (await w.srv.ok("POST", OUT_HOOKS, w.admin, json=body))["hook"]
    await w.srv.post(w.alice, room, "not a trigger")
    await w.srv.post(w.alice, room, "deploy now")

    async def check(r: httpx.Response) -> None:
        (delivery,) = r.json()
        assert delivery["event"] == "message.posted"
        assert delivery["status"] in ("pending", "failed")

    return Req(w.admin, f"{OUT_HOOKS}/{hook['id']}/deliveries", check=check)


async def _noticed_user(w: World) -> tuple[User, str]:
    """A fresh user who has logged in from a second device (so has one notice)."""
    user = await w.fresh_user()
    resp = await send(
        w.srv,
        "POST",
        f"{API}/auth/login",
        json={"username": user.username, "password": PASSWORD},
        headers={"User-Agent": "Another/1"},
    )
    assert resp.status_code == 200, resp.text
    notices = await w.srv.ok("GET", f"{API}/users/me/notices", user)
    return user, notices[0]["id"]


async def _notices(w: World) -> Req:
    user, notice = await _noticed_user(w)

    async def check(r: httpx.Response) -> None:
        assert [n["id"] for n in r.json()] == [notice]
        assert r.json()[0]["kind"] == "new_device_login"

    return Req(user, f"{API}/users/me/notices", check=check)


async def _read_notice(w: World) -> Req:
    user, notice = await _noticed_user(w)

    async def check(r: httpx.Response) -> None:
        listed = await w.srv.ok("GET", f"{API}/users/me/notices", user)
        assert listed[0]["read_at"] is not None

    return Req(user, f"{API}/users/me/notices/{notice}/read", status=204, check=check)


async def _update_me(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert r.json()["display_name"] == "New Name"
        me = await w.srv.ok("GET", f"{API}/users/me", user)
        assert me["display_name"] == "New Name"

    return Req(user, f"{API}/users/me", {"json": {"display_name": "New Name"}}, check=check)


async def _change_password(w: World) -> Req:
    user = await w.fresh_user()
    other = await send(
        w.srv, "POST", f"{API}/auth/login", json={"username": user.username, "password": PASSWORD}
    )
    other_session = User(user.id, user.username, other.json()["token"], "user")
    new_password = "fresh endpoint passphrase 7"

    async def check(r: httpx.Response) -> None:
        # Every other session ended; this one stays; only the new password logs in.
        assert (await send(w.srv, "GET", f"{API}/users/me", other_session)).status_code == 401
        assert (await send(w.srv, "GET", f"{API}/users/me", user)).status_code == 200
        for password, status in ((PASSWORD, 401), (new_password, 200)):
            login = await send(
                w.srv,
                "POST",
                f"{API}/auth/login",
                json={"username": user.username, "password": password},
            )
            assert login.status_code == status

    return Req(
        user,
        f"{API}/users/me/password",
        {"json": {"current_password": PASSWORD, "new_password": new_password}},
        status=204,
        check=check,
    )


# --- password reset and the email address it goes to [password reset] ---------------


async def _set_email(w: World, user: User) -> str:
    address = f"{user.username}@example.org"
    await w.srv.ok(
        "PUT",
        f"{API}/users/me/email",
        user,
        json={"email": address, "current_password": PASSWORD},
    )
    return address


async def _request_reset(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert set(r.json()) == {"message"}

    return Req(
        None,
        f"{API}/auth/password-reset",
        {"json": {"username_or_email": "bob"}},
        status=202,
        check=check,
    )


async def _confirm_reset(w: World) -> Req:
    user = await w.fresh_user()
    await _set_email(w, user)
    token = await issue_password_reset(w.srv.container.context, int(user.id), ip="")
    assert token is not None
    new_password = "fresh reset passphrase 9"

    async def check(r: httpx.Response) -> None:
        # Every session ended; only the new password logs in.
        assert (await send(w.srv, "GET", f"{API}/users/me", user)).status_code == 401
        for password, status in ((PASSWORD, 401), (new_password, 200)):
            resp = await send(
                w.srv,
                "POST",
                f"{API}/auth/login",
                json={"username": user.username, "password": password},
            )
            assert resp.status_code == status

    return Req(
        None,
        f"{API}/auth/password-reset/confirm",
        {"json": {"token": token, "new_password": new_password}},
        status=204,
        check=check,
    )


async def _get_email(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json() == {"email": None}

    return Req(w.bob, f"{API}/users/me/email", check=check)


async def _put_email(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert r.json() == {"email": f"{user.username}@example.org"}
        got = await send(w.srv, "GET", f"{API}/users/me/email", user)
        assert got.json() == r.json()

    return Req(
        user,
        f"{API}/users/me/email",
        {"json": {"email": f"{user.username.upper()}@Example.org", "current_password": PASSWORD}},
        check=check,
    )


# --- the second factor ---------------------------------------------------------------


def _totp(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def _start_enrolment(w: World, user: User) -> str:
    return str((await w.srv.ok("POST", f"{API}/users/me/2fa/totp", user))["secret"])


async def _enrolled_user(w: World) -> tuple[User, str]:
    """A fresh user with TOTP on (confirmed with the current 30-second step)."""
    user = await w.fresh_user()
    secret = await _start_enrolment(w, user)
    await w.srv.ok("POST", f"{API}/users/me/2fa/totp/confirm", user, json={"code": _totp(secret)})
    return user, secret


async def _login_2fa(w: World) -> Req:
    user, secret = await _enrolled_user(w)
    first = await send(
        w.srv, "POST", f"{API}/auth/login", json={"username": user.username, "password": PASSWORD}
    )
    assert first.json()["status"] == "two_factor_required"
    assert first.json()["token"] is None

    async def check(r: httpx.Response) -> None:
        assert (r.json()["status"], r.json()["user"]["id"]) == ("ok", user.id)
        session = User(user.id, user.username, r.json()["token"], "user")
        assert (await send(w.srv, "GET", f"{API}/users/me", session)).status_code == 200

    return Req(
        None,
        f"{API}/auth/login/2fa",
        {"json": {"challenge": first.json()["challenge"], "code": _totp(secret, 1)}},
        check=check,
    )


async def _two_factor_status(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json() == {"totp": "none", "recovery_codes_left": 0, "required": False}

    return Req(w.bob, f"{API}/users/me/2fa", check=check)


async def _start_totp(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert r.json()["otpauth_uri"].startswith(f"otpauth://totp/Redoubt:{user.username}?")
        assert (await w.srv.ok("GET", f"{API}/users/me/2fa", user))["totp"] == "pending"

    return Req(user, f"{API}/users/me/2fa/totp", check=check)


async def _confirm_totp(w: World) -> Req:
    user = await w.fresh_user()
    other = await w.srv.new_session(user)
    secret = await _start_enrolment(w, user)

    async def check(r: httpx.Response) -> None:
        assert len(r.json()["recovery_codes"]) == 10
        assert (await w.srv.ok("GET", f"{API}/users/me/2fa", user))["totp"] == "active"
        assert (await send(w.srv, "GET", f"{API}/users/me", other)).status_code == 401

    return Req(
        user, f"{API}/users/me/2fa/totp/confirm", {"json": {"code": _totp(secret)}}, check=check
    )


async def _recovery_codes(w: World) -> Req:
    user, secret = await _enrolled_user(w)

    async def check(r: httpx.Response) -> None:
        assert len(set(r.json()["recovery_codes"])) == 10
        assert (await w.srv.ok("GET", f"{API}/users/me/2fa", user))["recovery_codes_left"] == 10

    return Req(
        user,
        f"{API}/users/me/2fa/recovery-codes",
        {"json": {"code": _totp(secret, 1)}},
        check=check,
    )


async def _disable_two_factor(w: World) -> Req:
    user, secret = await _enrolled_user(w)

    async def check(r: httpx.Response) -> None:
        assert (await w.srv.ok("GET", f"{API}/users/me/2fa", user))["totp"] == "none"

    return Req(
        user,
        f"{API}/users/me/2fa",
        {"json": {"password": PASSWORD, "code": _totp(secret, 1)}},
        status=204,
        check=check,
    )


async def _admin_reset_two_factor(w: World) -> Req:
    user, _secret = await _enrolled_user(w)

    async def check(r: httpx.Response) -> None:
        assert (await send(w.srv, "GET", f"{API}/users/me", user)).status_code == 401
        login = await send(
            w.srv,
            "POST",
            f"{API}/auth/login",
            json={"username": user.username, "password": PASSWORD},
        )
        assert login.json()["status"] == "ok"

    return Req(w.admin, f"{API}/admin/users/{user.id}/2fa", status=204, check=check)


async def _find_users(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json() == [
            {"id": w.alice.id, "username": "alice", "display_name": "Alice", "role": "user"}
        ]

    return Req(w.bob, f"{API}/users", {"params": {"username": "alice"}}, check=check)


async def _get_user(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json() == {
            "id": w.alice.id,
            "username": "alice",
            "display_name": "Alice",
            "role": "user",
        }

    return Req(w.bob, f"{API}/users/{w.alice.id}", check=check)


async def _create_user(w: World) -> Req:
    username = w.name("created")

    async def check(r: httpx.Response) -> None:
        assert (r.json()["username"], r.json()["role"]) == (username, "guest")
        login = await send(
            w.srv, "POST", f"{API}/auth/login", json={"username": username, "password": PASSWORD}
        )
        assert login.status_code == 200
        assert login.json()["user"]["role"] == "guest"

    return Req(
        w.admin,
        f"{API}/users",
        {"json": {"username": username, "password": PASSWORD, "role": "guest"}},
        status=201,
        check=check,
    )


async def _set_user_role(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert (r.json()["id"], r.json()["role"]) == (user.id, "guest")
        # A privilege change ends the account's sessions.
        assert (await send(w.srv, "GET", f"{API}/users/me", user)).status_code == 401

    return Req(w.admin, f"{API}/users/{user.id}", {"json": {"role": "guest"}}, check=check)


async def _deactivate(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert (r.json()["id"], r.json()["is_active"]) == (user.id, False)
        assert (await send(w.srv, "GET", f"{API}/users/me", user)).status_code == 401

    return Req(w.admin, f"{API}/users/{user.id}/deactivate", check=check)


async def _presence(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert isinstance(r.json(), list)
        async with w.srv.events(w.alice):
            online = await w.srv.ok("GET", f"{API}/presence", w.bob)
        assert w.alice.id in online

    return Req(w.bob, f"{API}/presence", check=check)


async def _my_rooms(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        mine = {m["room"]["id"]: m["role"] for m in r.json()}
        assert mine == {w.room: "member"}

    return Req(w.bob, f"{API}/rooms", check=check)


async def _directory(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        listed = {room["id"] for room in r.json()}
        # Bob isn't in the channel, yet it is listed; the private group he is in isn't.
        assert w.channel in listed
        assert w.room not in listed
        assert {room["kind"] for room in r.json()} == {"channel"}

    return Req(w.bob, f"{API}/directory", check=check)


async def _create_room(w: World) -> Req:
    name = w.name("made-")

    async def check(r: httpx.Response) -> None:
        assert (r.json()["name"], r.json()["kind"]) == (name, "private")
        mine = await w.srv.ok("GET", f"{API}/rooms", w.olga)
        assert {m["room"]["id"]: m["role"] for m in mine}[r.json()["id"]] == "owner"

    return Req(
        w.olga, f"{API}/rooms", {"json": {"name": name, "kind": "private"}}, status=201, check=check
    )


async def _get_room(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert (r.json()["id"], r.json()["kind"], r.json()["name"]) == (
            w.room,
            "private",
            "ep-room",
        )

    return Req(w.bob, f"{API}/rooms/{w.room}", check=check)


async def _update_room(w: World) -> Req:
    topic = w.name("topic ")

    async def check(r: httpx.Response) -> None:
        assert r.json()["topic"] == topic
        assert (await w.srv.ok("GET", f"{API}/rooms/{w.room}", w.bob))["topic"] == topic

    return Req(w.alice, f"{API}/rooms/{w.room}", {"json": {"topic": topic}}, check=check)


async def _members_of(w: World, room: str) -> dict[str, str]:
    members = await w.srv.ok("GET", f"{API}/rooms/{room}/members", w.alice)
    return {m["user_id"]: m["role"] for m in members}


async def _join(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert r.json()["id"] == w.channel
        assert (await _members_of(w, w.channel))[user.id] == "member"

    return Req(user, f"{API}/rooms/{w.channel}/join", check=check)


async def _leave(w: World) -> Req:
    user = await w.fresh_member()

    async def check(r: httpx.Response) -> None:
        assert user.id not in await _members_of(w, w.room)

    return Req(user, f"{API}/rooms/{w.room}/leave", status=204, check=check)


async def _list_members(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        members = {m["user_id"]: m["role"] for m in r.json()}
        assert (members[w.alice.id], members[w.bob.id]) == ("owner", "member")

    return Req(w.bob, f"{API}/rooms/{w.room}/members", check=check)


async def _add_member(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert (await _members_of(w, w.room))[user.id] == "member"

    return Req(
        w.alice, f"{API}/rooms/{w.room}/members", {"json": {"user_id": user.id}}, check=check
    )


async def _remove_member(w: World) -> Req:
    user = await w.fresh_member()

    async def check(r: httpx.Response) -> None:
        assert user.id not in await _members_of(w, w.room)

    return Req(w.alice, f"{API}/rooms/{w.room}/members/{user.id}", status=204, check=check)


async def _set_member_role(w: World) -> Req:
    user = await w.fresh_member()

    async def check(r: httpx.Response) -> None:
        assert (await _members_of(w, w.room))[user.id] == "moderator"

    return Req(
        w.alice,
        f"{API}/rooms/{w.room}/members/{user.id}",
        {"json": {"role": "moderator"}},
        status=204,
        check=check,
    )


async def _mark_read(w: World) -> Req:
    await w.fresh_message(w.alice)

    async def check(r: httpx.Response) -> None:
        assert (r.json()["room_id"], r.json()["unread_count"]) == (w.room, 0)
        mine = await w.srv.ok("GET", f"{API}/rooms", w.bob)
        assert mine[0]["read"] == r.json()

    return Req(w.bob, f"{API}/rooms/{w.room}/read", {"json": {"position": 2**40}}, check=check)


async def _open_dm(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert (r.json()["created"], r.json()["kind"]) == (True, "dm")
        again = await send(w.srv, "POST", f"{API}/dms", w.bob, json={"user_ids": [user.id]})
        assert again.status_code == 200
        assert (again.json()["id"], again.json()["created"]) == (r.json()["id"], False)

    return Req(w.bob, f"{API}/dms", {"json": {"user_ids": [user.id]}}, status=201, check=check)


async def _post_message(w: World) -> Req:
    client_id = w.name("client-")

    async def check(r: httpx.Response) -> None:
        assert (r.json()["text"], r.json()["author_id"]) == ("hello", w.bob.id)
        again = await w.srv.ok(
            "POST",
            f"{API}/rooms/{w.room}/messages",
            w.bob,
            json={"text": "hello", "client_id": client_id},
        )
        assert again["id"] == r.json()["id"]

    return Req(
        w.bob,
        f"{API}/rooms/{w.room}/messages",
        {"json": {"text": "hello", "client_id": client_id}},
        status=201,
        check=check,
    )


async def _history(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        ids = [m["id"] for m in r.json()]
        assert {w.message, w.reply} <= set(ids)
        positions = [m["position"] for m in r.json()]
        assert positions == sorted(positions)

    return Req(w.bob, f"{API}/rooms/{w.room}/messages", check=check)


async def _pins(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert w.message in [m["id"] for m in r.json()]

    return Req(w.bob, f"{API}/rooms/{w.room}/pins", check=check)


async def _get_message(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        body = r.json()
        assert (body["id"], body["text"], body["reply_count"]) == (
            w.message,
            "endpointword second",
            1,
        )

    return Req(w.bob, f"{API}/messages/{w.message}", check=check)


async def _edit_message(w: World) -> Req:
    message = await w.fresh_message(w.bob)

    async def check(r: httpx.Response) -> None:
        assert r.json()["text"] == "changed"
        assert r.json()["edited_at"] is not None

    return Req(w.bob, f"{API}/messages/{message}", {"json": {"text": "changed"}}, check=check)


async def _delete_message(w: World) -> Req:
    message = await w.fresh_message(w.bob)

    async def check(r: httpx.Response) -> None:
        assert (r.json()["deleted"], r.json()["text"]) == (True, "")
        got = await w.srv.ok("GET", f"{API}/messages/{message}", w.alice)
        assert got["deleted"] is True

    return Req(w.bob, f"{API}/messages/{message}", check=check)


async def _thread(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert [m["id"] for m in r.json()] == [w.reply]

    return Req(w.bob, f"{API}/messages/{w.message}/thread", check=check)


async def _edits(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert [(e["editor_id"], e["previous_text"]) for e in r.json()] == [
            (w.alice.id, "endpointword first")
        ]

    return Req(w.bob, f"{API}/messages/{w.message}/edits", check=check)


async def _add_reaction(w: World) -> Req:
    message = await w.fresh_message(w.alice)

    async def check(r: httpx.Response) -> None:
        assert r.json()["reactions"] == [{"emoji": EMOJI, "user_ids": [w.bob.id]}]

    return Req(w.bob, f"{API}/messages/{message}/reactions/{EMOJI}", check=check)


async def _remove_reaction(w: World) -> Req:
    message = await w.fresh_message(w.alice)
    await w.srv.ok("PUT", f"{API}/messages/{message}/reactions/{EMOJI}", w.bob)

    async def check(r: httpx.Response) -> None:
        assert r.json()["reactions"] == []

    return Req(w.bob, f"{API}/messages/{message}/reactions/{EMOJI}", check=check)


async def _pin(w: World) -> Req:
    message = await w.fresh_message(w.bob)

    async def check(r: httpx.Response) -> None:
        assert r.json()["pinned_by"] == w.alice.id
        pins = await w.srv.ok("GET", f"{API}/rooms/{w.room}/pins", w.bob)
        assert message in [m["id"] for m in pins]

    return Req(w.alice, f"{API}/messages/{message}/pin", check=check)


async def _unpin(w: World) -> Req:
    message = await w.fresh_message(w.bob, pinned=True)

    async def check(r: httpx.Response) -> None:
        assert r.json()["pinned_at"] is None
        pins = await w.srv.ok("GET", f"{API}/rooms/{w.room}/pins", w.bob)
        assert message not in [m["id"] for m in pins]

    return Req(w.alice, f"{API}/messages/{message}/pin", check=check)


async def _search(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert [m["id"] for m in r.json()] == [w.message]

    return Req(
        w.bob, f"{API}/search", {"params": {"q": "endpointword", "room_id": w.room}}, check=check
    )


async def _upload(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        body = r.json()
        assert (body["room_id"], body["filename"], body["size"], body["content_type"]) == (
            w.room,
            "report.pdf",
            len(FILE_BYTES),
            "application/pdf",
        )

    return Req(
        w.bob,
        f"{API}/rooms/{w.room}/files",
        {"files": {"file": ("report.pdf", FILE_BYTES, "text/html")}},
        status=201,
        check=check,
    )


async def _download(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.content == FILE_BYTES
        assert r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff"

    return Req(w.bob, f"{API}/files/{w.file}", check=check)


async def _admin_users(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        by_name = {u["username"]: u for u in r.json()}
        assert by_name["dee"]["is_active"] is False
        assert by_name["admin"]["role"] == "admin"
        ids = [int(u["id"]) for u in r.json()]
        assert ids == sorted(ids)

    return Req(w.admin, f"{API}/admin/users", {"params": {"limit": 500}}, check=check)


async def _admin_rooms(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        listed = {room["id"] for room in r.json()}
        assert w.channel in listed
        assert w.room not in listed  # private groups stay with their members

    return Req(w.admin, f"{API}/admin/rooms", {"params": {"limit": 500}}, check=check)


async def _audit(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        entries = r.json()
        actions = {e["action"] for e in entries}
        assert {"user.deactivate", "room.create", "auth.login"} <= actions
        deactivation = next(
            e
            for e in entries
            if e["action"] == "user.deactivate" and e["target_id"] == w.deactivated.id
        )
        assert deactivation["actor_id"] == w.admin.id
        ids = [int(e["id"]) for e in entries]
        assert ids == sorted(ids, reverse=True)

    return Req(w.admin, f"{API}/admin/audit", {"params": {"limit": 500}}, check=check)


async def _audit_export(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.headers["content-disposition"].startswith("attachment;")
        lines = [json.loads(line) for line in r.text.splitlines()]
        assert lines
        assert all(e["action"].startswith("user.") for e in lines)
        assert any(
            e["action"] == "user.deactivate" and e["target_id"] == w.deactivated.id for e in lines
        )
        exports = await w.srv.ok(
            "GET", f"{API}/admin/audit", w.admin, params={"action": "audit.exported"}
        )
        assert exports[0]["actor_id"] == w.admin.id
        assert exports[0]["details"]["filters"] == {"action": "user."}

    return Req(
        w.admin,
        f"{API}/admin/audit/export",
        {"params": {"format": "jsonl", "action": "user."}},
        check=check,
    )


async def _doctor(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        findings = r.json()["findings"]
        ids = {f["id"] for f in findings}
        # The harness's cheap Argon2 and its policy without 2FA for admins.
        assert {"weak-password-hashing", "admin-2fa-not-required", "admin-without-2fa"} <= ids
        for f in findings:
            assert set(f) == {"id", "severity", "title", "advice", "subject"}

    return Req(w.admin, f"{API}/admin/doctor", check=check)


async def _get_security(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json() == {"require_2fa_roles": []}  # the harness's config

    return Req(w.admin, f"{API}/admin/security", check=check)


async def _put_security(w: World) -> Req:
    # Sets what the harness config already says: no later call's login changes.
    async def check(r: httpx.Response) -> None:
        assert r.json() == {"require_2fa_roles": []}
        entries = await w.srv.ok(
            "GET",
            f"{API}/admin/audit",
            w.admin,
            params={"action": "settings.require_2fa_roles"},
        )
        assert entries[0]["actor_id"] == w.admin.id

    return Req(w.admin, f"{API}/admin/security", {"json": {"require_2fa_roles": []}}, check=check)


async def _healthz(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json() == {"status": "ok"}

    return Req(None, "/healthz", check=check)


async def _readyz(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json()["status"] == "ok"
        assert r.json()["checks"]["database"] == "ok"

    return Req(None, "/readyz", check=check)


async def _metrics(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.headers["content-type"].startswith("text/plain")
        assert "# TYPE" in r.text

    return Req(None, "/metrics", check=check)


# --- incoming webhooks [integrations] ------------------------------------------------


async def _new_incoming_hook(w: World, *, legacy: bool = False) -> dict[str, Any]:
    body = {"name": w.name("Hook "), "room_id": w.channel, "legacy_url_token": legacy}
    return dict(await w.srv.ok("POST", f"{API}/admin/hooks/incoming", w.admin, json=body))


def _signed_hook_post(secret: str, text: str) -> dict[str, Any]:
    body = json.dumps({"text": text}).encode()
    ts = int(time.time())
    return {
        "content": body,
        "headers": {
            "content-type": "application/json",
            "X-Redoubt-Timestamp": str(ts),
            "X-Redoubt-Signature": sign_hook(secret, ts, body),
        },
    }


async def _hook_post_status(w: World, hook_id: str, secret: str) -> int:
    path = f"{API}/hooks/{hook_id}"
    resp = await send(w.srv, "POST", path, **_signed_hook_post(secret, w.name("probe ")))
    return resp.status_code


async def _list_incoming_hooks(w: World) -> Req:
    made = await _new_incoming_hook(w)

    async def check(r: httpx.Response) -> None:
        assert made["hook"] in r.json()
        assert made["secret"] not in r.text

    return Req(w.admin, f"{API}/admin/hooks/incoming", check=check)


async def _create_incoming_hook(w: World) -> Req:
    name = w.name("Hook ")

    async def check(r: httpx.Response) -> None:
        hook = r.json()["hook"]
        assert (hook["name"], hook["room_id"], hook["enabled"]) == (name, w.channel, True)
        assert r.json()["secret"].startswith("rdt_whs_")
        assert await _hook_post_status(w, hook["id"], r.json()["secret"]) == 200

    return Req(
        w.admin,
        f"{API}/admin/hooks/incoming",
        {"json": {"name": name, "room_id": w.channel}},
        status=201,
        check=check,
    )


async def _update_incoming_hook(w: World) -> Req:
    made = await _new_incoming_hook(w)
    hook_id = made["hook"]["id"]

    async def check(r: httpx.Response) -> None:
        assert (r.json()["id"], r.json()["enabled"]) == (hook_id, False)
        assert await _hook_post_status(w, hook_id, made["secret"]) == 401

    return Req(
        w.admin, f"{API}/admin/hooks/incoming/{hook_id}", {"json": {"enabled": False}}, check=check
    )


async def _rotate_incoming_hook_secret(w: World) -> Req:
    made = await _new_incoming_hook(w)
    hook_id = made["hook"]["id"]

    async def check(r: httpx.Response) -> None:
        assert await _hook_post_status(w, hook_id, made["secret"]) == 401
        assert await _hook_post_status(w, hook_id, r.json()["secret"]) == 200

    return Req(w.admin, f"{API}/admin/hooks/incoming/{hook_id}/secret", check=check)


async def _delete_incoming_hook(w: World) -> Req:
    made = await _new_incoming_hook(w)
    hook_id = made["hook"]["id"]

    async def check(r: httpx.Response) -> None:
        assert await _hook_post_status(w, hook_id, made["secret"]) == 401
        listed = await w.srv.ok("GET", f"{API}/admin/hooks/incoming", w.admin)
        assert hook_id not in {h["id"] for h in listed}

    return Req(w.admin, f"{API}/admin/hooks/incoming/{hook_id}", status=204, check=check)


# --- bot accounts [bots] -------------------------------------------------------------

BOTS = f"{API}/admin/bots"


async def _bot_token_works(w: World, token: str) -> bool:
    try:
        await authenticate_bot(w.srv.container.context, token, ip="127.0.0.1")
    except Unauthorized:
        return False
    return True


async def _list_bots(w: World) -> Req:
    bot = await w.srv.create_bot(w.alice, w.name("lbot"), w.channel)

    async def check(r: httpx.Response) -> None:
        listed = {b["id"]: b for b in r.json()}
        assert listed[bot.id]["room_ids"] == [w.channel]
        assert listed[bot.id]["token_hint"] == f"{bot.id}:{bot.token.split(':')[1][:4]}…"
        assert bot.token not in r.text

    return Req(w.admin, BOTS, check=check)


async def _create_bot(w: World) -> Req:
    name = w.name("cbot")

    async def check(r: httpx.Response) -> None:
        body = r.json()
        assert (body["bot"]["username"], body["bot"]["owner"]["id"]) == (name, w.alice.id)
        assert body["token"].startswith(f"{body['bot']['id']}:")
        assert r.headers["cache-control"] == "no-store"
        assert await _bot_token_works(w, body["token"])

    body = {"username": name, "owner_id": w.alice.id, "room_ids": [w.channel]}
    return Req(w.admin, BOTS, {"json": body}, status=201, check=check)


async def _rotate_bot_token(w: World) -> Req:
    bot = await w.srv.create_bot(w.alice, w.name("rbot"))

    async def check(r: httpx.Response) -> None:
        assert r.headers["cache-control"] == "no-store"
        assert await _bot_token_works(w, r.json()["token"])
        assert not await _bot_token_works(w, bot.token)  # no grace asked for

    return Req(w.admin, f"{BOTS}/{bot.id}/token", {"json": {"grace_hours": 0}}, check=check)


async def _revoke_bot_tokens(w: World) -> Req:
    bot = await w.srv.create_bot(w.alice, w.name("vbot"))

    async def check(r: httpx.Response) -> None:
        assert not await _bot_token_works(w, bot.token)

    return Req(w.admin, f"{BOTS}/{bot.id}/token", status=204, check=check)


async def _set_bot_rooms(w: World) -> Req:
    bot = await w.srv.create_bot(w.alice, w.name("sbot"))

    async def check(r: httpx.Response) -> None:
        assert r.json()["room_ids"] == [w.channel]

    return Req(w.admin, f"{BOTS}/{bot.id}/rooms", {"json": {"room_ids": [w.channel]}}, check=check)


async def _set_bot_scopes(w: World) -> Req:
    bot = await w.srv.create_bot(w.alice, w.name("pbot"))

    async def check(r: httpx.Response) -> None:
        assert r.json()["scopes"] == ["messages:read", "users:read"]
        requester, _bot = await authenticate_bot(w.srv.container.context, bot.token, ip="127.0.0.1")
        assert requester.grant is not None
        assert {s.value for s in requester.grant.scopes} == {"messages:read", "users:read"}

    body = {"scopes": ["users:read", "messages:read"]}
    return Req(w.admin, f"{BOTS}/{bot.id}/scopes", {"json": body}, check=check)


async def _release_bot(w: World) -> Req:
    bot = await w.srv.create_bot(w.alice, w.name("qbot"))
    await do_quarantine_bot(w.srv.container.context, int(bot.id), Trip("flood", {"posts": 9}))

    async def check(r: httpx.Response) -> None:
        assert r.json()["quarantined_at"] is None
        requester, _bot = await authenticate_bot(w.srv.container.context, bot.token, ip="127.0.0.1")
        assert requester.grant is not None
        assert not requester.grant.quarantined

    return Req(w.admin, f"{BOTS}/{bot.id}/release", check=check)


async def _delete_bot(w: World) -> Req:
    bot = await w.srv.create_bot(w.alice, w.name("dbot"))

    async def check(r: httpx.Response) -> None:
        assert not await _bot_token_works(w, bot.token)
        listed = await w.srv.ok("GET", BOTS, w.admin)
        assert bot.id not in {b["id"] for b in listed}

    return Req(w.admin, f"{BOTS}/{bot.id}", status=204, check=check)


# --- users' own bots [bots] ----------------------------------------------------------

OWN_BOTS = f"{API}/bots"


async def _allow_user_bots(w: World) -> None:
    await do_set_user_bot_policy(
        w.srv.container.context,
        UserBotPolicy(users_may_create_bots=True, max_bots_per_user=1000),
        acting_user=None,
    )


async def _get_bot_settings(w: World) -> Req:
    await _allow_user_bots(w)

    async def check(r: httpx.Response) -> None:
        assert r.json() == {"users_may_create_bots": True, "max_bots_per_user": 1000}

    return Req(w.admin, f"{API}/admin/bot-settings", check=check)


async def _put_bot_settings(w: World) -> Req:
    body = {"users_may_create_bots": True, "max_bots_per_user": 1000}

    async def check(r: httpx.Response) -> None:
        assert r.json() == body
        entries = await w.srv.ok(
            "GET", f"{API}/admin/audit", w.admin, params={"action": "settings.user_bots"}
        )
        assert entries[0]["actor_id"] == w.admin.id
        assert entries[0]["details"]["to"] == body

    return Req(w.admin, f"{API}/admin/bot-settings", {"json": body}, check=check)


async def _own_bot_policy(w: World) -> Req:
    await _allow_user_bots(w)

    async def check(r: httpx.Response) -> None:
        assert r.json() == {
            "users_may_create_bots": True,
            "max_bots_per_user": 1000,
            "may_create": True,
        }

    return Req(w.alice, f"{API}/bot-policy", check=check)


async def _list_own_bots(w: World) -> Req:
    mine = await w.srv.create_bot(w.alice, w.name("obot"))
    theirs = await w.srv.create_bot(w.bob, w.name("obot"))

    async def check(r: httpx.Response) -> None:
        ids = {b["id"] for b in r.json()}
        assert mine.id in ids
        assert theirs.id not in ids
        assert mine.token not in r.text

    return Req(w.alice, OWN_BOTS, check=check)


async def _create_own_bot(w: World) -> Req:
    await _allow_user_bots(w)
    name = w.name("ubot")

    async def check(r: httpx.Response) -> None:
        body = r.json()
        assert (body["bot"]["username"], body["bot"]["owner"]["id"]) == (name, w.alice.id)
        assert body["bot"]["room_ids"] == [w.channel]
        assert r.headers["cache-control"] == "no-store"
        assert await _bot_token_works(w, body["token"])

    body = {"username": name, "room_ids": [w.channel]}
    return Req(w.alice, OWN_BOTS, {"json": body}, status=201, check=check)


async def _rotate_own_bot_token(w: World) -> Req:
    bot = await w.srv.create_bot(w.alice, w.name("urbot"))

    async def check(r: httpx.Response) -> None:
        assert r.headers["cache-control"] == "no-store"
        assert await _bot_token_works(w, r.json()["token"])
        assert not await _bot_token_works(w, bot.token)

    return Req(w.alice, f"{OWN_BOTS}/{bot.id}/token", {"json": {"grace_hours": 0}}, check=check)


async def _revoke_own_bot_tokens(w: World) -> Req:
    bot = await w.srv.create_bot(w.alice, w.name("uvbot"))

    async def check(r: httpx.Response) -> None:
        assert not await _bot_token_works(w, bot.token)

    return Req(w.alice, f"{OWN_BOTS}/{bot.id}/token", status=204, check=check)


async def _set_own_bot_rooms(w: World) -> Req:
    bot = await w.srv.create_bot(w.alice, w.name("usbot"))

    async def check(r: httpx.Response) -> None:
        assert r.json()["room_ids"] == [w.channel]

    body = {"json": {"room_ids": [w.channel]}}
    return Req(w.alice, f"{OWN_BOTS}/{bot.id}/rooms", body, check=check)


async def _delete_own_bot(w: World) -> Req:
    bot = await w.srv.create_bot(w.alice, w.name("udbot"))

    async def check(r: httpx.Response) -> None:
        assert not await _bot_token_works(w, bot.token)
        listed = await w.srv.ok("GET", OWN_BOTS, w.alice)
        assert bot.id not in {b["id"] for b in listed}

    return Req(w.alice, f"{OWN_BOTS}/{bot.id}", status=204, check=check)


async def _click_button(w: World) -> Req:
    """bob clicks the callback button of a bot's message in the room; the bot gets the
    click as a callback_query update."""
    bot = await w.srv.create_bot(w.alice, w.name("kbot"), w.room)
    await w.srv.ok("POST", f"{API}/rooms/{w.room}/members", w.alice, json={"user_id": bot.id})
    keyboard = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    sent = await w.srv.http.post(
        f"/bot{bot.token}/sendMessage",
        json={"chat_id": -int(w.room), "text": "pick", "reply_markup": keyboard},
    )
    assert sent.status_code == 200, sent.text
    message = sent.json()["result"]["message_id"]

    async def check(r: httpx.Response) -> None:
        callback_id = r.json()["callback_id"]
        polled = await w.srv.http.post(f"/bot{bot.token}/getUpdates", json={"timeout": 0})
        queries = [u["callback_query"] for u in polled.json()["result"] if "callback_query" in u]
        assert [(q["id"], q["data"], q["from"]["id"]) for q in queries] == [
            (callback_id, "go", int(w.bob.id))
        ]

    return Req(
        w.bob,
        f"{API}/messages/{message}/buttons",
        {"json": {"row": 0, "column": 0}},
        status=202,
        check=check,
    )


async def _bot_in_room_with_buttons(w: World, name: str) -> tuple[User, str]:
    """A bot in the room and a message of its with one callback button (native API)."""
    bot = await w.srv.create_bot(w.alice, w.name(name), w.room)
    await w.srv.ok("POST", f"{API}/rooms/{w.room}/members", w.alice, json={"user_id": bot.id})
    as_user = User(bot.id, bot.username, bot.token, "bot")
    buttons = [[{"text": "Go", "callback_data": "go"}]]
    sent = await w.srv.post(as_user, w.room, "pick", buttons=buttons)
    return as_user, str(sent["id"])


async def _set_buttons(w: World) -> Req:
    bot, message = await _bot_in_room_with_buttons(w, "sbbot")

    async def check(r: httpx.Response) -> None:
        assert r.json()["inline_keyboard"] == [
            [{"text": "Done", "kind": "url", "url": "https://x.test/"}]
        ]

    buttons = [[{"text": "Done", "url": "https://x.test/"}]]
    return Req(
        bot, f"{API}/messages/{message}/buttons", {"json": {"buttons": buttons}}, check=check
    )


async def _answer_callback(w: World) -> Req:
    """The bot answers bob's click; bob gets the notice (a second answer is refused)."""
    bot, message = await _bot_in_room_with_buttons(w, "acbot")
    clicked = await w.srv.ok(
        "POST", f"{API}/messages/{message}/buttons", w.bob, json={"row": 0, "column": 0}
    )
    path = f"{API}/callbacks/{clicked['callback_id']}/answer"

    async def check(r: httpx.Response) -> None:
        again = await send(w.srv, "POST", path, bot, json={})
        assert again.status_code == 400

    return Req(bot, path, {"json": {"text": "Going"}}, status=204, check=check)


async def _bot_commands(w: World) -> Req:
    """The commands of the bots in the room, for the composer."""
    bot = await w.srv.create_bot(w.alice, w.name("cmdbot"), w.room)
    await w.srv.ok("POST", f"{API}/rooms/{w.room}/members", w.alice, json={"user_id": bot.id})
    commands = [{"command": "deploy", "description": "Deploy main"}]
    made = await w.srv.http.post(f"/bot{bot.token}/setMyCommands", json={"commands": commands})
    assert made.status_code == 200, made.text

    async def check(r: httpx.Response) -> None:
        assert {
            "bot_id": bot.id,
            "bot_username": bot.username,
            "command": "deploy",
            "description": "Deploy main",
        } in r.json()

    return Req(w.bob, f"{API}/rooms/{w.room}/bot-commands", check=check)


async def _hook_posted(w: World, made: dict[str, Any], text: str) -> None:
    last = (await w.srv.ok("GET", f"{API}/rooms/{w.channel}/messages", w.alice))[-1]
    assert (last["text"], last["author_id"]) == (text, made["hook"]["user_id"])


async def _receive_incoming_hook(w: World) -> Req:
    made = await _new_incoming_hook(w)
    text = w.name("hooked ")

    async def check(r: httpx.Response) -> None:
        assert r.json()["ok"] is True
        await _hook_posted(w, made, text)

    path = f"{API}/hooks/{made['hook']['id']}"
    return Req(None, path, _signed_hook_post(made["secret"], text), check=check)


async def _receive_legacy_incoming_hook(w: World) -> Req:
    made = await _new_incoming_hook(w, legacy=True)
    text = w.name("legacy ")

    async def check(r: httpx.Response) -> None:
        await _hook_posted(w, made, text)

    return Req(None, made["legacy_url"], {"json": {"text": text}}, check=check)


ENDPOINTS: dict[tuple[str, str], Entry] = {
    ("POST", "/api/v1/auth/login"): Entry(_login, public=True),
    ("POST", "/api/v1/auth/logout"): Entry(_logout),
    ("GET", "/api/v1/auth/session"): Entry(_session),
    ("GET", "/api/v1/sessions"): Entry(_sessions),
    ("GET", "/api/v1/users/me/notices"): Entry(_notices),
    ("POST", "/api/v1/users/me/notices/{notice_id}/read"): Entry(_read_notice),
    ("DELETE", "/api/v1/sessions"): Entry(_end_other_sessions),
    ("DELETE", "/api/v1/sessions/{session_id}"): Entry(_end_session),
    ("GET", "/api/v1/admin/users/{user_id}/sessions"): Entry(_admin_user_sessions, admin_only=True),
    ("DELETE", "/api/v1/admin/users/{user_id}/sessions"): Entry(
        _admin_end_user_sessions, admin_only=True
    ),
    ("GET", "/api/v1/token-policy"): Entry(_token_policy),
    ("GET", "/api/v1/tokens"): Entry(_my_tokens),
    ("POST", "/api/v1/tokens"): Entry(_create_token),
    ("POST", "/api/v1/tokens/{token_id}/rotate"): Entry(_rotate_token),
    ("DELETE", "/api/v1/tokens/{token_id}"): Entry(_revoke_token),
    ("GET", "/api/v1/tokens/{token_id}/activity"): Entry(_token_activity),
    ("GET", "/api/v1/admin/tokens"): Entry(_admin_tokens, admin_only=True),
    ("DELETE", "/api/v1/admin/tokens/{token_id}"): Entry(_admin_revoke_token, admin_only=True),
    ("GET", "/api/v1/admin/hooks/outgoing"): Entry(_out_hooks, admin_only=True),
    ("POST", "/api/v1/admin/hooks/outgoing"): Entry(_create_out_hook, admin_only=True),
    ("PATCH", "/api/v1/admin/hooks/outgoing/{hook_id}"): Entry(_update_out_hook, admin_only=True),
    ("POST", "/api/v1/admin/hooks/outgoing/{hook_id}/secret"): Entry(
        _rotate_out_hook, admin_only=True
    ),
    ("DELETE", "/api/v1/admin/hooks/outgoing/{hook_id}"): Entry(_delete_out_hook, admin_only=True),
    ("GET", "/api/v1/admin/hooks/outgoing/{hook_id}/deliveries"): Entry(
        _out_hook_deliveries, admin_only=True
    ),
    ("GET", "/api/v1/users/me"): Entry(_me),
    ("PATCH", "/api/v1/users/me"): Entry(_update_me),
    ("POST", "/api/v1/users/me/password"): Entry(_change_password),
    ("POST", "/api/v1/auth/login/2fa"): Entry(_login_2fa, public=True),
    ("GET", "/api/v1/users/me/2fa"): Entry(_two_factor_status),
    ("POST", "/api/v1/users/me/2fa/totp"): Entry(_start_totp),
    ("POST", "/api/v1/users/me/2fa/totp/confirm"): Entry(_confirm_totp),
    ("POST", "/api/v1/users/me/2fa/recovery-codes"): Entry(_recovery_codes),
    ("DELETE", "/api/v1/users/me/2fa"): Entry(_disable_two_factor),
    ("DELETE", "/api/v1/admin/users/{user_id}/2fa"): Entry(
        _admin_reset_two_factor, admin_only=True
    ),
    ("POST", "/api/v1/auth/password-reset"): Entry(_request_reset, public=True),
    ("POST", "/api/v1/auth/password-reset/confirm"): Entry(_confirm_reset, public=True),
    ("GET", "/api/v1/users/me/email"): Entry(_get_email),
    ("PUT", "/api/v1/users/me/email"): Entry(_put_email),
    ("GET", "/api/v1/users"): Entry(_find_users),
    ("POST", "/api/v1/users"): Entry(_create_user, admin_only=True),
    ("GET", "/api/v1/users/{user_id}"): Entry(_get_user),
    ("PATCH", "/api/v1/users/{user_id}"): Entry(_set_user_role, admin_only=True),
    ("POST", "/api/v1/users/{user_id}/deactivate"): Entry(_deactivate, admin_only=True),
    ("GET", "/api/v1/presence"): Entry(_presence),
    ("GET", "/api/v1/rooms"): Entry(_my_rooms),
    ("POST", "/api/v1/rooms"): Entry(_create_room),
    ("GET", "/api/v1/directory"): Entry(_directory),
    ("GET", "/api/v1/rooms/{room_id}"): Entry(_get_room, outsider=404),
    ("PATCH", "/api/v1/rooms/{room_id}"): Entry(_update_room, outsider=404),
    ("POST", "/api/v1/rooms/{room_id}/join"): Entry(_join, outsider=404),
    ("POST", "/api/v1/rooms/{room_id}/leave"): Entry(_leave, outsider=404),
    ("GET", "/api/v1/rooms/{room_id}/members"): Entry(_list_members, outsider=404),
    ("POST", "/api/v1/rooms/{room_id}/members"): Entry(_add_member, outsider=404),
    ("DELETE", "/api/v1/rooms/{room_id}/members/{user_id}"): Entry(_remove_member, outsider=404),
    ("PATCH", "/api/v1/rooms/{room_id}/members/{user_id}"): Entry(_set_member_role, outsider=404),
    ("PUT", "/api/v1/rooms/{room_id}/read"): Entry(_mark_read, outsider=404),
    ("POST", "/api/v1/dms"): Entry(_open_dm),
    ("POST", "/api/v1/rooms/{room_id}/messages"): Entry(_post_message, outsider=404),
    ("GET", "/api/v1/rooms/{room_id}/messages"): Entry(_history, outsider=404),
    ("GET", "/api/v1/rooms/{room_id}/pins"): Entry(_pins, outsider=404),
    ("GET", "/api/v1/messages/{message_id}"): Entry(_get_message, outsider=404),
    ("PATCH", "/api/v1/messages/{message_id}"): Entry(_edit_message, outsider=404),
    ("DELETE", "/api/v1/messages/{message_id}"): Entry(_delete_message, outsider=404),
    ("GET", "/api/v1/messages/{message_id}/thread"): Entry(_thread, outsider=404),
    ("GET", "/api/v1/messages/{message_id}/edits"): Entry(_edits, outsider=404),
    ("PUT", "/api/v1/messages/{message_id}/reactions/{emoji}"): Entry(_add_reaction, outsider=404),
    ("DELETE", "/api/v1/messages/{message_id}/reactions/{emoji}"): Entry(
        _remove_reaction, outsider=404
    ),
    ("PUT", "/api/v1/messages/{message_id}/pin"): Entry(_pin, outsider=404),
    ("DELETE", "/api/v1/messages/{message_id}/pin"): Entry(_unpin, outsider=404),
    ("GET", "/api/v1/search"): Entry(_search, outsider=404),
    ("POST", "/api/v1/rooms/{room_id}/files"): Entry(_upload, outsider=404),
    ("GET", "/api/v1/files/{file_id}"): Entry(_download, outsider=404),
    ("GET", "/api/v1/admin/audit"): Entry(_audit, admin_only=True),
    ("GET", "/api/v1/admin/audit/export"): Entry(_audit_export, admin_only=True),
    ("GET", "/api/v1/admin/doctor"): Entry(_doctor, admin_only=True),
    ("GET", "/api/v1/admin/users"): Entry(_admin_users, admin_only=True),
    ("GET", "/api/v1/admin/rooms"): Entry(_admin_rooms, admin_only=True),
    ("GET", "/api/v1/admin/security"): Entry(_get_security, admin_only=True),
    ("PUT", "/api/v1/admin/security"): Entry(_put_security, admin_only=True),
    ("GET", "/api/v1/admin/hooks/incoming"): Entry(_list_incoming_hooks, admin_only=True),
    ("POST", "/api/v1/admin/hooks/incoming"): Entry(_create_incoming_hook, admin_only=True),
    ("PATCH", "/api/v1/admin/hooks/incoming/{hook_id}"): Entry(
        _update_incoming_hook, admin_only=True
    ),
    ("POST", "/api/v1/admin/hooks/incoming/{hook_id}/secret"): Entry(
        _rotate_incoming_hook_secret, admin_only=True
    ),
    ("DELETE", "/api/v1/admin/hooks/incoming/{hook_id}"): Entry(
        _delete_incoming_hook, admin_only=True
    ),
    ("GET", "/api/v1/admin/bots"): Entry(_list_bots, admin_only=True),
    ("POST", "/api/v1/admin/bots"): Entry(_create_bot, admin_only=True),
    ("POST", "/api/v1/admin/bots/{bot_id}/token"): Entry(_rotate_bot_token, admin_only=True),
    ("DELETE", "/api/v1/admin/bots/{bot_id}/token"): Entry(_revoke_bot_tokens, admin_only=True),
    ("PUT", "/api/v1/admin/bots/{bot_id}/rooms"): Entry(_set_bot_rooms, admin_only=True),
    ("PUT", "/api/v1/admin/bots/{bot_id}/scopes"): Entry(_set_bot_scopes, admin_only=True),
    ("POST", "/api/v1/admin/bots/{bot_id}/release"): Entry(_release_bot, admin_only=True),
    ("DELETE", "/api/v1/admin/bots/{bot_id}"): Entry(_delete_bot, admin_only=True),
    ("GET", "/api/v1/admin/bot-settings"): Entry(_get_bot_settings, admin_only=True),
    ("PUT", "/api/v1/admin/bot-settings"): Entry(_put_bot_settings, admin_only=True),
    ("GET", "/api/v1/bot-policy"): Entry(_own_bot_policy),
    ("GET", "/api/v1/bots"): Entry(_list_own_bots),
    ("POST", "/api/v1/bots"): Entry(_create_own_bot),
    ("POST", "/api/v1/bots/{bot_id}/token"): Entry(_rotate_own_bot_token),
    ("DELETE", "/api/v1/bots/{bot_id}/token"): Entry(_revoke_own_bot_tokens),
    ("PUT", "/api/v1/bots/{bot_id}/rooms"): Entry(_set_own_bot_rooms),
    ("DELETE", "/api/v1/bots/{bot_id}"): Entry(_delete_own_bot),
    ("POST", "/api/v1/messages/{message_id}/buttons"): Entry(_click_button, outsider=404),
    ("PUT", "/api/v1/messages/{message_id}/buttons"): Entry(_set_buttons, outsider=404),
    ("POST", "/api/v1/callbacks/{callback_id}/answer"): Entry(_answer_callback),
    ("GET", "/api/v1/rooms/{room_id}/bot-commands"): Entry(_bot_commands, outsider=404),
    # Public: authenticated by the signature (or the URL token), not by a session.
    ("POST", "/api/v1/hooks/{hook_id}"): Entry(_receive_incoming_hook, public=True),
    ("POST", "/api/v1/hooks/{hook_id}/{url_token}"): Entry(
        _receive_legacy_incoming_hook, public=True
    ),
    ("GET", "/healthz"): Entry(_healthz, public=True),
    ("GET", "/readyz"): Entry(_readyz, public=True),
    ("GET", "/metrics"): Entry(_metrics, public=True),
}


def denial_path(w: World, template: str) -> str:
    """The route with the ids of the shared private room: for the denial loops, which
    must aim at something that exists (so a 404 means "hidden", not "missing")."""
    ids = {
        "room_id": w.room,
        "message_id": w.message,
        "file_id": w.file,
        "emoji": EMOJI,
        "session_id": "1",
        "notice_id": "1",  # never issued; the denial loops are refused before lookup
        "token_id": "1",
        "hook_id": "1",  # never issued; admin-only routes refuse before any lookup
        "bot_id": "1",  # never issued; admin-only routes refuse before any lookup
        "callback_id": "never-issued",  # refused before any lookup
        "url_token": "x",  # the public hook routes are never aimed at by the denial loops
        # Room routes act on a member of the room; account routes on the target.
        "user_id": w.bob.id if template.startswith("/api/v1/rooms/") else w.target.id,
    }
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)


def error_of(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}, body
    error = dict(body["error"])
    assert isinstance(error.pop("incident_id"), str)
    return error


async def test_openapi_spec_routes_are_all_covered(server: Server) -> None:
    spec = await server.ok("GET", f"{API}/openapi.json")
    served = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete", "head", "options")
    }
    missing = sorted(served - set(ENDPOINTS))
    stale = sorted(set(ENDPOINTS) - served)
    assert not missing, f"endpoints without tests (add them to ENDPOINTS): {missing}"
    assert not stale, f"ENDPOINTS lists routes the server no longer serves: {stale}"
    # Every route that reaches into a room or a message says what outsiders get.
    for (_method, path), entry in ENDPOINTS.items():
        if re.search(r"\{(room|message|file)_id\}", path):
            assert entry.outsider == 404, path


async def run_allowed(w: World) -> list[str]:
    failures: list[str] = []
    for (method, template), entry in ENDPOINTS.items():
        req = await entry.allowed(w)
        resp = await send(w.srv, method, req.path, req.actor, **req.kwargs)
        where = f"{method} {template}"
        if resp.status_code != req.status:
            failures.append(
                f"{where}: expected {req.status}, got {resp.status_code} {resp.text[:200]}"
            )
        elif req.check is not None:
            try:
                await req.check(resp)
            except (AssertionError, KeyError) as exc:
                failures.append(f"{where}: allowed, but {exc!r}")
    return failures


async def test_every_endpoint_allowed_case(server: Server) -> None:
    w = await build_world(server)
    failures = await run_allowed(w)
    assert not failures, "\n".join(failures)


async def test_every_endpoint_allowed_case_on_both_backends(any_server: Server) -> None:
    """The same allowed cases on SQLite/memory and PostgreSQL/Redis."""
    w = await build_world(any_server)
    failures = await run_allowed(w)
    assert not failures, "\n".join(failures)


async def test_every_protected_endpoint_denies_anonymous_and_deactivated(
    server: Server,
) -> None:
    w = await build_world(server)
    failures: list[str] = []
    bad_credentials: list[tuple[str, dict[str, str]]] = [
        ("no credentials", {}),
        ("malformed bearer token", {"Authorization": "Bearer not-a-token"}),
        ("unknown token", {"Authorization": "Bearer " + w.bob.token[:-4] + "AAAA"}),
        ("wrong scheme", {"Authorization": f"Basic {w.bob.token}"}),
        ("bare scheme", {"Authorization": "Bearer"}),
    ]
    for (method, template), entry in ENDPOINTS.items():
        req = await entry.allowed(w)
        path = denial_path(w, template)
        if entry.public:
            resp = await send(w.srv, method, req.path, None, **req.kwargs)
            if resp.status_code != req.status:
                failures.append(f"{method} {template} is public but gave {resp.status_code}")
            continue
        attempts: list[tuple[str, User | None, dict[str, str]]] = [
            (label, None, headers) for label, headers in bad_credentials
        ]
        attempts.append(("deactivated user's token", w.deactivated, {}))
        for label, user, headers in attempts:
            resp = await send(w.srv, method, path, user, headers=headers, **req.kwargs)
            if resp.status_code != 401:
                failures.append(
                    f"{method} {template} [{label}]: {resp.status_code} {resp.text[:160]}"
                )
            elif error_of(resp) != {"code": "unauthorized", "message": "Authentication required."}:
                failures.append(f"{method} {template} [{label}]: body {resp.text[:160]}")
    assert not failures, "\n".join(failures)
    # None of it changed anything a member can see.
    assert (await server.ok("GET", f"{API}/messages/{w.message}", w.bob))["pinned_at"]
    members = await server.ok("GET", f"{API}/rooms/{w.room}/members", w.alice)
    assert {m["user_id"] for m in members} >= {w.alice.id, w.bob.id}
    me = await server.ok("GET", f"{API}/users/me", w.target)
    assert (me["role"], me["is_active"]) == ("user", True)


async def test_members_of_other_rooms_get_404_on_every_room_route(server: Server) -> None:
    w = await build_world(server)
    before = await room_state(w)
    failures: list[str] = []
    for (method, template), entry in ENDPOINTS.items():
        if entry.outsider is None:
            continue
        req = await entry.allowed(w)
        resp = await send(w.srv, method, denial_path(w, template), w.olga, **req.kwargs)
        if resp.status_code != entry.outsider or error_of(resp) != {
            "code": "not_found",
            "message": "Not found.",
        }:
            failures.append(f"{method} {template}: {resp.status_code} {resp.text[:160]}")
    assert not failures, "\n".join(failures)
    after = await room_state(w)
    # The allowed-case factories add fresh messages and members; compare the rest.
    assert after["room"]["topic"] == before["room"]["topic"]
    assert after["message"] == before["message"]
    assert w.olga.id not in {m["user_id"] for m in after["members"]}
    assert {m["id"] for m in before["pins"]} <= {m["id"] for m in after["pins"]}


async def room_state(w: World) -> dict[str, Any]:
    return {
        "room": await w.srv.ok("GET", f"{API}/rooms/{w.room}", w.alice),
        "members": await w.srv.ok("GET", f"{API}/rooms/{w.room}/members", w.alice),
        "message": await w.srv.ok("GET", f"{API}/messages/{w.message}", w.alice),
        "pins": await w.srv.ok("GET", f"{API}/rooms/{w.room}/pins", w.alice),
    }


async def test_admin_endpoints_refuse_non_admins(server: Server) -> None:
    w = await build_world(server)
    guest = await server.create_user("guest", role=UserRole.GUEST)
    failures: list[str] = []
    created: list[str] = []
    for (method, template), entry in ENDPOINTS.items():
        if not entry.admin_only:
            continue
        req = await entry.allowed(w)
        if method == "POST" and template == "/api/v1/users":
            created.append(req.kwargs["json"]["username"])
        for user in (w.alice, guest):
            resp = await send(w.srv, method, denial_path(w, template), user, **req.kwargs)
            if resp.status_code != 403 or error_of(resp)["code"] != "forbidden":
                failures.append(
                    f"{method} {template} as {user.username}: {resp.status_code} {resp.text[:160]}"
                )
    assert not failures, "\n".join(failures)
    # Nothing changed: the target keeps its role, stays active and signed in, and no
    # account was created.
    me = await server.ok("GET", f"{API}/users/me", w.target)
    assert (me["role"], me["is_active"]) == ("user", True)
    for username in created:
        assert await server.ok("GET", f"{API}/users", w.bob, params={"username": username}) == []
    # Nor can an admin act on their own account through these routes.
    own = await send(server, "POST", f"{API}/users/{w.admin.id}/deactivate", w.admin)
    assert own.status_code == 400
    assert (await send(server, "GET", f"{API}/users/me", w.admin)).status_code == 200


async def read_until_closed(stream: EventClient) -> None:
    """Read frames until the server closes the stream (raises ConnectionClosed)."""
    while True:
        await stream.next(timeout=5)


async def test_deactivation_ends_every_session_at_once(any_server: Server) -> None:
    srv = any_server
    admin = await srv.create_user("admin", role=UserRole.ADMIN)
    dora = await srv.create_user("dora")
    second = User(
        dora.id,
        "dora",
        (
            await srv.ok(
                "POST", f"{API}/auth/login", json={"username": "dora", "password": PASSWORD}
            )
        )["token"],
        "user",
    )
    room = await srv.room(admin, "lobby", "channel", dora)
    for session in (dora, second):
        assert (await send(srv, "GET", f"{API}/users/me", session)).status_code == 200
    # And a browser's cookie session, with its CSRF token.
    browser = await srv.http.post(
        f"{API}/auth/login",
        json={"username": "dora", "password": PASSWORD, "mode": "cookie"},
        headers={"Origin": srv.base_url},
    )
    cookie = {
        "Cookie": f"redoubt_session={browser.cookies['redoubt_session']}",
        "Origin": srv.base_url,
        "X-CSRF-Token": browser.json()["csrf_token"],
    }
    srv.http.cookies.clear()
    assert (await srv.http.get(f"{API}/users/me", headers=cookie)).status_code == 200

    async with srv.events(dora) as stream:
        await srv.ok("POST", f"{API}/users/{dora.id}/deactivate", admin)
        # The very next request with either token fails; no grace period.
        for session in (dora, second):
            for method, path, kwargs in (
                ("GET", f"{API}/users/me", {}),
                ("GET", f"{API}/rooms/{room}/messages", {}),
                ("POST", f"{API}/rooms/{room}/messages", {"json": {"text": "still here?"}}),
            ):
                resp = await send(srv, method, path, session, **kwargs)
                assert resp.status_code == 401, (method, path, resp.text)
        for method, path in (("GET", f"{API}/users/me"), ("POST", f"{API}/rooms/{room}/messages")):
            resp = await srv.http.request(method, path, headers=cookie, json={"text": "by cookie?"})
            assert resp.status_code == 401, (method, path, resp.text)
        # The open event stream is closed by the server.
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await read_until_closed(stream)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4003

    login = await send(
        srv, "POST", f"{API}/auth/login", json={"username": "dora", "password": PASSWORD}
    )
    assert login.status_code == 401
    assert login.json()["error"]["message"] == "Invalid username or password."
    history = await srv.ok("GET", f"{API}/rooms/{room}/messages", admin)
    assert {"still here?", "by cookie?"}.isdisjoint(m["text"] for m in history)
    view = await srv.ok("GET", f"{API}/users/{dora.id}", admin)
    assert view["username"] == "dora"
    audit = await srv.ok("GET", f"{API}/admin/audit", admin, params={"action": "user.deactivate"})
    assert [(e["target_id"], e["actor_id"]) for e in audit] == [(dora.id, admin.id)]


async def test_event_stream_requires_a_valid_token(server: Server) -> None:
    """The WebSocket route (not in the OpenAPI spec) has the same gate."""
    admin = await server.create_user("admin", role=UserRole.ADMIN)
    gone = await server.create_user("gone")
    await server.ok("POST", f"{API}/users/{gone.id}/deactivate", admin)
    for token in ("", "not-a-token", gone.token, admin.token[:-4] + "AAAA"):
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(json.dumps({"type": "hello", "token": token, "since": None}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (frame["type"], frame["code"]) == ("error", "unauthorized"), frame
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4401
    async with server.events(admin) as stream:
        assert stream.ready_seq >= 0


async def test_session_cookie_only_counts_for_same_origin_writes(server: Server) -> None:
    """Browsers send the cookie on cross-site requests too; writes that rely on it must
    come from our own origin and carry the session's CSRF token (the bearer header needs
    neither)."""
    alice = await server.create_user("alice")
    room = await server.room(alice, "cookies", "channel")
    server.http.cookies.clear()
    login = await server.http.post(
        f"{API}/auth/login",
        json={"username": "alice", "password": PASSWORD, "mode": "cookie"},
        headers={"Origin": server.base_url},
    )
    assert login.status_code == 200, login.text
    assert login.json()["token"] is None  # the browser's script never sees the token
    csrf = login.json()["csrf_token"]
    assert "httponly" in login.headers["set-cookie"].lower()
    assert "samesite=strict" in login.headers["set-cookie"].lower()
    try:
        me = await server.http.get(f"{API}/auth/session")
        assert me.status_code == 200
        assert me.json()["user"]["id"] == alice.id
        assert me.json()["csrf_token"] == csrf
        path = f"{API}/rooms/{room}/messages"
        same_origin = {"Origin": server.base_url}
        attempts: list[dict[str, str]] = [
            {},
            {"Origin": "https://evil.example", "X-CSRF-Token": csrf},
            {"Origin": "http://127.0.0.1:1", "X-CSRF-Token": csrf},
            same_origin,  # right origin, no token
            {**same_origin, "X-CSRF-Token": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")},
            {**same_origin, "X-CSRF-Token": ""},
        ]
        for headers in attempts:
            resp = await server.http.post(path, json={"text": "csrf"}, headers=headers)
            assert resp.status_code == 403, (headers, resp.text)
            assert resp.json()["error"]["code"] == "forbidden"
        same = await server.http.post(
            path, json={"text": "same origin"}, headers={**same_origin, "X-CSRF-Token": csrf}
        )
        assert same.status_code == 201, same.text
    finally:
        server.http.cookies.clear()
    history = await server.ok("GET", f"{API}/rooms/{room}/messages", alice)
    assert [m["text"] for m in history] == ["same origin"]
