"""The second factor (T13): TOTP with recovery codes, the login challenge, and roles
that require it.

Every test attacks a running server. TOTP codes are computed with pyotp from the secret
the server handed out, at the real time (the server's clock); a code for the next
30-second step is within the ±1 step the server accepts, which lets a test use a step
the server hasn't seen yet.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import websockets
from pydantic import ValidationError
from sqlalchemy import select, update

from redoubt.actions.auth import LoginChallenge
from redoubt.actions.two_factor import RecoveryCodes, TotpEnrolment
from redoubt.api.schemas import DisableTwoFactorBody, LoginTwoFactorBody, TwoFactorCodeBody
from redoubt.core.secretbox import DecryptionError
from redoubt.core.tokens import generate_token
from redoubt.domain.enums import UserRole
from redoubt.storage.records import UserRecord
from redoubt.storage.schema import audit_log, login_challenges, recovery_codes, totp_credentials
from redoubt.storage.two_factor import TotpRecord
from tests.conftest import LogSecretDetector
from tests.harness import PASSWORD, Server, User, deployment, run_server

API = "/api/v1"
_ENROL_ONLY = {"code": "two_factor_enrolment_required"}


# --------------------------------------------------------------------------- helpers


@contextlib.asynccontextmanager
async def two_factor_server(
    tmp_path: Path, backend: str = "sqlite", **overrides: Any
) -> AsyncIterator[Server]:
    """A server where admins must use a second factor (the harness turns that off)."""
    overrides.setdefault("require_2fa_roles", ["admin"])
    async with (
        deployment(backend, tmp_path / "data") as settings,
        run_server(settings(**overrides)) as srv,
    ):
        yield srv


@pytest.fixture(params=["sqlite", "postgres"])
async def any_tf_server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    async with two_factor_server(tmp_path, request.param) as srv:
        yield srv


@pytest.fixture
async def tf_server(tmp_path: Path) -> AsyncIterator[Server]:
    async with two_factor_server(tmp_path) as srv:
        yield srv


def code(secret: str, steps_ahead: int = 0) -> str:
    """The TOTP code ``steps_ahead`` 30-second steps from now."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def send(srv: Server, method: str, path: str, user: User | None = None, **kw: Any) -> Any:
    srv.http.cookies.clear()  # only the credentials this call names
    return await srv.request(method, path, user, **kw)


async def enrol(srv: Server, user: User, detector: LogSecretDetector) -> tuple[str, list[str]]:
    """Set up TOTP for ``user`` (confirmed with the current step); (secret, codes)."""
    started = await send(srv, "POST", f"{API}/users/me/2fa/totp", user)
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    detector.remember(secret)
    confirmed = await send(
        srv, "POST", f"{API}/users/me/2fa/totp/confirm", user, json={"code": code(secret)}
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    for recovery in codes:
        detector.remember(recovery)
    return secret, codes


async def password_step(srv: Server, username: str, **extra: Any) -> httpx.Response:
    srv.http.cookies.clear()
    return await srv.http.post(
        f"{API}/auth/login",
        json={"username": username, "password": PASSWORD, **extra},
        headers={"Origin": srv.base_url},
    )


async def challenge_for(srv: Server, username: str) -> str:
    resp = await password_step(srv, username)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "two_factor_required", body
    return str(body["challenge"])


async def second_step(srv: Server, challenge: str, value: str, **extra: Any) -> httpx.Response:
    srv.http.cookies.clear()
    return await srv.http.post(
        f"{API}/auth/login/2fa", json={"challenge": challenge, "code": value, **extra}
    )


def as_user(user: User, token: str) -> User:
    return User(user.id, user.username, token, user.role)


async def audit_actions(srv: Server, action: str) -> list[dict[str, Any]]:
    """The audit rows of ``action``, oldest first (read from the database: the admins
    of a server that requires 2FA can't read the log before they enrol)."""
    async with srv.container.database.read("test_audit") as conn:
        rows = (
            await conn.execute(
                select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)
            )
        ).all()
    return [
        {
            "actor_id": str(r.actor_id) if r.actor_id else None,
            "target_id": str(r.target_id) if r.target_id else None,
            "details": json.loads(r.details),
        }
        for r in rows
    ]


def assert_second_step_refused(resp: httpx.Response) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == "unauthorized"
    assert resp.json()["error"]["message"] == "Invalid code, or the sign-in expired."
    assert "set-cookie" not in resp.headers


# --------------------------------------------------------------------------- tests


async def test_enrolment_then_login_needs_the_code_once(
    any_tf_server: Server, secret_log_detector: LogSecretDetector
) -> None:
    srv = any_tf_server
    alice = await srv.create_user("alice")
    assert await srv.ok("GET", f"{API}/users/me/2fa", alice) == {
        "totp": "none",
        "recovery_codes_left": 0,
        "required": False,
    }
    secret, codes = await enrol(srv, alice, secret_log_detector)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    assert await srv.ok("GET", f"{API}/users/me/2fa", alice) == {
        "totp": "active",
        "recovery_codes_left": 10,
        "required": False,
    }
    # The password alone is no longer a session: no token, no cookie.
    first = await password_step(srv, "alice")
    assert first.json() == {
        "status": "two_factor_required",
        "challenge": first.json()["challenge"],
        "methods": ["totp", "recovery_code"],
        "token": None,
        "csrf_token": None,
        "user": None,
    }
    assert "set-cookie" not in first.headers
    challenge = first.json()["challenge"]
    # The challenge isn't a session token, not even for a moment.
    for path in ("/users/me", "/auth/session", "/users/me/2fa"):
        resp = await send(srv, "GET", f"{API}{path}", as_user(alice, challenge))
        assert resp.status_code == 401, path
    # The right code: signed in, exactly like a password-only login.
    good = code(secret, 1)
    ok = await second_step(srv, challenge, good, mode="token")
    assert ok.status_code == 200, ok.text
    assert (ok.json()["status"], ok.json()["user"]["id"]) == ("ok", alice.id)
    assert ok.json()["csrf_token"] is None
    session = as_user(alice, ok.json()["token"])
    secret_log_detector.remember(session.token)
    assert (await send(srv, "GET", f"{API}/users/me", session)).status_code == 200
    # The challenge was single use.
    assert_second_step_refused(await second_step(srv, challenge, code(secret, -1)))
    # Replay: the same code with a fresh challenge, inside its window.
    assert_second_step_refused(await second_step(srv, await challenge_for(srv, "alice"), good))
    assert [e["target_id"] for e in await audit_actions(srv, "2fa.enabled")] == [alice.id]
    failed = await audit_actions(srv, "auth.2fa_failed")
    # The replay (a used challenge is simply gone: nothing to attribute it to).
    assert [(e["target_id"], e["details"]["reason"]) for e in failed] == [(alice.id, "wrong_code")]
    logins = await audit_actions(srv, "auth.login")
    assert any(e["details"].get("second_factor") == "totp" for e in logins)


async def test_one_code_on_two_challenges_at_once_signs_in_once(
    any_tf_server: Server, secret_log_detector: LogSecretDetector
) -> None:
    srv = any_tf_server
    bob = await srv.create_user("bob")
    secret, _codes = await enrol(srv, bob, secret_log_detector)
    challenges = [await challenge_for(srv, "bob") for _ in range(2)]
    value = code(secret, 1)
    async with (
        httpx.AsyncClient(base_url=srv.base_url) as one,
        httpx.AsyncClient(base_url=srv.base_url) as two,
    ):
        answers = await asyncio.gather(
            *(
                client.post(f"{API}/auth/login/2fa", json={"challenge": c, "code": value})
                for client, c in zip((one, two), challenges, strict=True)
            )
        )
    assert sorted(a.status_code for a in answers) == [200, 401]
    for answer in answers:
        if answer.status_code == 200:
            secret_log_detector.remember(answer.json()["token"])


async def test_a_recovery_code_works_once(
    server: Server, secret_log_detector: LogSecretDetector
) -> None:
    carol = await server.create_user("carol")
    _secret, codes = await enrol(server, carol, secret_log_detector)
    # Typed by hand: case, spaces and dashes don't matter.
    typed = " " + codes[3].upper().replace("-", " - ") + " "
    ok = await second_step(server, await challenge_for(server, "carol"), typed)
    assert ok.status_code == 200, ok.text
    secret_log_detector.remember(ok.json()["token"])
    session = as_user(carol, ok.json()["token"])
    assert (await server.ok("GET", f"{API}/users/me/2fa", session))["recovery_codes_left"] == 9
    again = await second_step(server, await challenge_for(server, "carol"), codes[3])
    assert_second_step_refused(again)
    # Someone else's code is no good either (dave has codes of his own).
    dave = await server.create_user("dave")
    _dave_secret, dave_codes = await enrol(server, dave, secret_log_detector)
    assert_second_step_refused(
        await second_step(server, await challenge_for(server, "carol"), dave_codes[0])
    )
    used = await audit_actions(server, "2fa.recovery_code_used")
    assert [e["target_id"] for e in used] == [carol.id]


async def test_the_second_step_without_a_valid_challenge_gets_nothing(
    server: Server, secret_log_detector: LogSecretDetector
) -> None:
    """'Calling the post-2FA endpoint directly after only the password step': forged,
    foreign, expired and used-up challenges, and the wrong kind of token."""
    erin = await server.create_user("erin")
    frank = await server.create_user("frank")
    erin_secret, _ = await enrol(server, erin, secret_log_detector)
    frank_secret, _ = await enrol(server, frank, secret_log_detector)
    good = code(erin_secret, 1)
    for forged in (
        generate_token("chl"),  # well-formed, never issued
        generate_token("ses"),
        erin.token,  # a session token is not a challenge
        "rdt_chl_" + "A" * 43 + "_000000",
        "x",
    ):
        assert_second_step_refused(await second_step(server, forged, good))
    # Frank's challenge with Erin's (valid) code: the code belongs to another account.
    assert_second_step_refused(
        await second_step(server, await challenge_for(server, "frank"), good)
    )
    # Expired: five minutes have passed (moved in the database; the clock is real).
    expired = await challenge_for(server, "erin")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with server.container.database.transaction("test_expire") as txn:
        await txn.conn.execute(
            update(login_challenges)
            .where(login_challenges.c.user_id == int(erin.id))
            .values(expires_at=past)
        )
    assert_second_step_refused(await second_step(server, expired, good))
    # Five wrong codes use a challenge up; the right one is no good after them.
    worn = await challenge_for(server, "erin")
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert_second_step_refused(await second_step(server, worn, wrong))
    assert_second_step_refused(await second_step(server, worn, good))
    async with server.container.database.read("test_read") as conn:
        left = (await conn.execute(select(login_challenges.c.user_id))).all()
    assert [int(r.user_id) for r in left] == [int(frank.id)]  # only frank's live one
    # None of it burnt the code: it still works with a good challenge.
    ok = await second_step(server, await challenge_for(server, "erin"), good)
    assert ok.status_code == 200, ok.text
    secret_log_detector.remember(ok.json()["token"])
    del frank_secret


async def test_a_deactivated_account_cannot_finish_its_login(
    server: Server, secret_log_detector: LogSecretDetector
) -> None:
    admin = await server.create_user("root", role=UserRole.ADMIN)
    gina = await server.create_user("gina")
    secret, _ = await enrol(server, gina, secret_log_detector)
    challenge = await challenge_for(server, "gina")
    await server.ok("POST", f"{API}/users/{gina.id}/deactivate", admin)
    assert_second_step_refused(await second_step(server, challenge, code(secret, 1)))


async def test_the_second_step_shares_the_login_rate_limits(
    tmp_path: Path, secret_log_detector: LogSecretDetector
) -> None:
    async with two_factor_server(tmp_path, rate_login_per_minute=4) as srv:
        hank = await srv.create_user("hank")  # one login
        secret, _ = await enrol(srv, hank, secret_log_detector)
        challenge = await challenge_for(srv, "hank")  # two
        statuses = [(await second_step(srv, challenge, "000000")).status_code for _ in range(4)]
        assert statuses[:2] == [401, 401]
        assert statuses[-1] == 429
        limited = await second_step(srv, challenge, code(secret, 1))
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"


async def _all_operations(srv: Server) -> list[tuple[str, str]]:
    spec = await srv.ok("GET", f"{API}/openapi.json")
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if path.startswith(API)
    ]


_ALLOWED_WHILE_ENROLLING = {
    ("GET", "/api/v1/auth/session"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/users/me"),
    ("GET", "/api/v1/users/me/2fa"),
    ("POST", "/api/v1/users/me/2fa/totp"),
    ("POST", "/api/v1/users/me/2fa/totp/confirm"),
    ("POST", "/api/v1/users/me/2fa/recovery-codes"),
    ("DELETE", "/api/v1/users/me/2fa"),
}


async def test_a_role_that_requires_it_can_only_enrol(
    any_tf_server: Server, secret_log_detector: LogSecretDetector
) -> None:
    srv = any_tf_server
    user = await srv.create_user("ivy")  # users aren't required to
    room = await srv.room(user, "ops", "channel")
    admin = await srv.create_user("root", role=UserRole.ADMIN)  # logged in: enrol-only
    other = as_user(admin, (await password_step(srv, "root")).json()["token"])
    secret_log_detector.remember(other.token)
    session = await srv.ok("GET", f"{API}/auth/session", admin)
    assert session["enrol_only"] is True
    assert (await srv.ok("GET", f"{API}/users/me", admin))["role"] == "admin"
    assert (await srv.ok("GET", f"{API}/auth/session", user))["enrol_only"] is False
    assert (await srv.ok("GET", f"{API}/users/me/2fa", admin))["required"] is True
    values = {
        "room_id": room,
        "user_id": user.id,
        "message_id": "1",
        "file_id": "1",
        "session_id": "1",
        "emoji": "heart",
    }
    refused = []
    for method, template in await _all_operations(srv):
        if (method, template) in _ALLOWED_WHILE_ENROLLING:
            continue
        if template.startswith(f"{API}/hooks/"):
            continue  # incoming webhooks: signed requests, no session involved
        path = template
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        if (await send(srv, method, path, None, json={})).status_code != 401:
            continue  # public (login, password reset): no session involved
        resp = await send(srv, method, path, admin, json={})
        if (
            resp.status_code != 403
            or {k: v for k, v in resp.json()["error"].items() if k == "code"} != _ENROL_ONLY
        ):
            refused.append(f"{method} {template}: {resp.status_code} {resp.text[:120]}")
    assert not refused, "\n".join(refused)
    # Not even through another spelling of a path.
    for path in (f"{API}//rooms", f"{API}/rooms/", f"{API}/users/me/../../rooms"):
        resp = await send(srv, "GET", path, admin, follow_redirects=True)
        assert resp.status_code in (403, 404), (path, resp.status_code)
    # The event stream refuses it.
    async with websockets.connect(srv.ws_url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": admin.token, "since": None}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (frame["type"], frame["code"]) == ("error", "two_factor_enrolment_required")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403
    # Turning it off is refused for a role that requires it (even mid-enrolment).
    denied = await send(
        srv, "DELETE", f"{API}/users/me/2fa", admin, json={"password": PASSWORD, "code": "1"}
    )
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "forbidden")

    # Enrolling lifts the restriction on this session and ends the other one.
    secret, _ = await enrol(srv, admin, secret_log_detector)
    assert (await srv.ok("GET", f"{API}/auth/session", admin))["enrol_only"] is False
    assert (await send(srv, "GET", f"{API}/admin/users", admin)).status_code == 200
    assert (await send(srv, "GET", f"{API}/users/me", other)).status_code == 401
    async with srv.events(admin) as stream:
        assert stream.ready_seq > 0
    # And it can't be turned off again.
    denied = await send(
        srv,
        "DELETE",
        f"{API}/users/me/2fa",
        admin,
        json={"password": PASSWORD, "code": code(secret, 1)},
    )
    assert denied.status_code == 403
    assert (await srv.ok("GET", f"{API}/users/me/2fa", admin))["totp"] == "active"
    # From now on the admin's logins ask for the code.
    assert (await password_step(srv, "root")).json()["status"] == "two_factor_required"


async def test_turning_it_off_needs_the_password_and_a_code(
    tf_server: Server, secret_log_detector: LogSecretDetector
) -> None:
    srv = tf_server
    jack = await srv.create_user("jack")
    secret, _ = await enrol(srv, jack, secret_log_detector)
    good = code(secret, 1)
    for body in (
        {"password": "not the password", "code": good},
        {"password": PASSWORD, "code": "000000" if good != "000000" else "111111"},
        {"password": PASSWORD, "code": code(secret)},  # used for the confirmation
    ):
        resp = await send(srv, "DELETE", f"{API}/users/me/2fa", jack, json=body)
        assert resp.status_code == 403, resp.text
        assert (await srv.ok("GET", f"{API}/users/me/2fa", jack))["totp"] == "active"
    # A wrong password didn't spend the code.
    resp = await send(
        srv, "DELETE", f"{API}/users/me/2fa", jack, json={"password": PASSWORD, "code": good}
    )
    assert resp.status_code == 204, resp.text
    assert await srv.ok("GET", f"{API}/users/me/2fa", jack) == {
        "totp": "none",
        "recovery_codes_left": 0,
        "required": False,
    }
    assert (await password_step(srv, "jack")).json()["status"] == "ok"


async def test_an_admin_reset_ends_every_session_of_the_user(
    server: Server, secret_log_detector: LogSecretDetector
) -> None:
    admin = await server.create_user("root", role=UserRole.ADMIN)
    kim = await server.create_user("kim")
    await enrol(server, kim, secret_log_detector)
    async with server.events(kim) as stream:
        resp = await send(server, "DELETE", f"{API}/admin/users/{kim.id}/2fa", admin)
        assert resp.status_code == 204, resp.text
        assert await stream.close_code() == 4401
    assert (await send(server, "GET", f"{API}/users/me", kim)).status_code == 401
    # The lost phone no longer stands between kim and the account; a new one can be set up.
    login = await password_step(server, "kim")
    assert login.json()["status"] == "ok"
    secret_log_detector.remember(login.json()["token"])
    (entry,) = await audit_actions(server, "2fa.reset_by_admin")
    assert (entry["actor_id"], entry["target_id"]) == (admin.id, kim.id)
    assert entry["details"] == {"had_totp": True, "sessions_ended": 1}
    # Not for non-admins, not on one's own account, not on accounts that don't exist.
    mallory = await server.create_user("mallory")
    assert (
        await send(server, "DELETE", f"{API}/admin/users/{kim.id}/2fa", mallory)
    ).status_code == 403
    assert (
        await send(server, "DELETE", f"{API}/admin/users/{admin.id}/2fa", admin)
    ).status_code == 400
    assert (
        await send(server, "DELETE", f"{API}/admin/users/4503599627370495/2fa", admin)
    ).status_code == 404


async def test_the_secret_is_encrypted_at_rest_and_kept_out_of_logs(
    server: Server, secret_log_detector: LogSecretDetector
) -> None:
    lena = await server.create_user("lena")
    started = await send(server, "POST", f"{API}/users/me/2fa/totp", lena)
    assert started.headers["cache-control"] == "no-store"
    secret = started.json()["secret"]
    secret_log_detector.remember(secret)
    assert len(base64.b32decode(secret)) * 8 >= 160
    uri = started.json()["otpauth_uri"]
    assert uri == pyotp.TOTP(secret).provisioning_uri(name="lena", issuer_name="Redoubt")
    confirmed = await send(
        server, "POST", f"{API}/users/me/2fa/totp/confirm", lena, json={"code": code(secret)}
    )
    assert confirmed.headers["cache-control"] == "no-store"
    codes = confirmed.json()["recovery_codes"]
    for recovery in codes:
        secret_log_detector.remember(recovery)
    async with server.container.database.read("test_read") as conn:
        row = (await conn.execute(select(totp_credentials))).one()
        stored_codes = (await conn.execute(select(recovery_codes.c.code_hash))).all()
    blob = bytes(row.secret_enc)
    for plain in (secret.encode(), secret.lower().encode(), base64.b32decode(secret)):
        assert plain not in blob
    box = server.container.context.secrets
    assert box.decrypt(blob, context=f"totp:{lena.id}".encode()).decode() == secret
    with pytest.raises(DecryptionError):  # moved to another user's row, it's useless
        box.decrypt(blob, context=b"totp:1")
    for (stored,) in stored_codes:
        for recovery in codes:
            assert recovery.replace("-", "").encode() not in bytes(stored)
    # Neither the secret nor a code is in any log line so far (the detector also checks
    # every later line, to the end of the run).
    for line in secret_log_detector.recent:
        assert secret not in line
        assert not any(c in line or c.replace("-", "") in line for c in codes)


async def test_cookie_mode_second_step_and_csrf_on_management(
    server: Server, secret_log_detector: LogSecretDetector
) -> None:
    mia = await server.create_user("mia")
    secret, _ = await enrol(server, mia, secret_log_detector)
    first = await password_step(server, "mia", mode="cookie")
    assert first.json()["status"] == "two_factor_required"
    assert "set-cookie" not in first.headers
    server.http.cookies.clear()
    done = await server.http.post(
        f"{API}/auth/login/2fa",
        json={"challenge": first.json()["challenge"], "code": code(secret, 1), "mode": "cookie"},
        headers={"Origin": server.base_url},
    )
    assert done.status_code == 200, done.text
    assert done.json()["token"] is None
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    csrf = done.json()["csrf_token"]
    try:
        session = await server.http.get(f"{API}/auth/session")
        assert (session.json()["csrf_token"], session.json()["enrol_only"]) == (csrf, False)
        # Management calls ride on the cookie only with our origin and the CSRF token.
        same_origin = {"Origin": server.base_url}
        for headers in ({}, same_origin, {"Origin": "https://evil.example", "X-CSRF-Token": csrf}):
            for method, path, body in (
                ("POST", "/users/me/2fa/recovery-codes", {"code": "123456"}),
                ("DELETE", "/users/me/2fa", {"password": PASSWORD, "code": "123456"}),
                ("POST", "/users/me/2fa/totp", None),
            ):
                resp = await server.http.request(method, f"{API}{path}", json=body, headers=headers)
                assert (resp.status_code, resp.json()["error"]["code"]) == (403, "forbidden"), (
                    method,
                    path,
                    headers,
                )
        assert (await server.ok("GET", f"{API}/users/me/2fa", mia))["recovery_codes_left"] == 10
        # With both, the call goes through (and reaches the action: already active).
        resp = await server.http.post(
            f"{API}/users/me/2fa/totp", headers={**same_origin, "X-CSRF-Token": csrf}
        )
        assert resp.status_code == 409, resp.text
    finally:
        server.http.cookies.clear()


def test_reprs_of_second_factor_objects_hide_their_secrets() -> None:
    secret = pyotp.random_base32()
    challenge = generate_token("chl")
    recovery = "abcde-fghij"
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    user = UserRecord(
        id=1,
        username="alice",
        display_name="Alice",
        role=UserRole.USER,
        password_hash="$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA",
        is_active=True,
        created_at=now,
    )
    objects: list[object] = [
        LoginTwoFactorBody(challenge=challenge, code="123456", mode="cookie"),
        TwoFactorCodeBody(code=recovery),
        DisableTwoFactorBody(password=PASSWORD, code="654321"),
        LoginChallenge(challenge=challenge, user=user),
        TotpEnrolment(secret=secret, otpauth_uri=f"otpauth://totp/x?secret={secret}"),
        RecoveryCodes([recovery]),
        TotpRecord(1, secret.encode(), now, None, 0),
    ]
    for obj in objects:
        shown = f"{obj!r} {obj!s}"
        for hidden in (secret, challenge, recovery, "123456", "654321", PASSWORD, "argon2"):
            assert hidden not in shown, type(obj).__name__
    with pytest.raises(ValidationError) as too_long:
        TwoFactorCodeBody.model_validate({"code": recovery * 10})
    assert recovery not in str(too_long.value)
