"""T13: the password policy, changing a password, and Argon2id parameter upgrades.

Everything runs against a real server: weak passwords are refused wherever a password
is set (admin API, CLI, change password) with a message naming the rule; a password
change needs the current password, ends every other session (their tokens and open
event streams) and keeps the one that made it; a wrong current password changes
nothing and is audited; hashes made with old Argon2 parameters are upgraded at login.
The session's log detector is told every password used here, so none may reach a log.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import argon2
import httpx
import pytest
import websockets

from redoubt.api.schemas import ChangePasswordBody
from redoubt.core.errors import BadRequest
from redoubt.core.passwords import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    check_password_policy,
    is_common_password,
)
from redoubt.domain.enums import UserRole
from redoubt.storage import users as user_store
from tests.conftest import LogSecretDetector
from tests.harness import PASSWORD, EventClient, Server, User, deployment, run_server
from tests.test_cli import redoubt

API = "/api/v1"
NEW_PASSWORD = "quartz lantern 71 meadow"
OTHER_PASSWORD = "velvet harbour 38 comet"
WRONG_PASSWORD = "correct horse battery stapler"
DISPLAY_NAME_PASSWORD = "kim WEXLER esq"
KIMCHI_PASSWORD = "kimchi and 42 rice cakes"

# (password, the message that names the broken rule) for an account named "alice"
# with the display name "Alice".
WEAK: list[tuple[str, str]] = [
    ("Zq8!vL2#p", f"Passwords must be at least {MIN_PASSWORD_CHARS} characters long."),
    ("password123", "That password is one of the most common passwords; choose another."),
    ("PaSsWoRd123", "That password is one of the most common passwords; choose another."),
    ("  qwertyuiop ", "That password is one of the most common passwords; choose another."),
    ("aaaaaaaaaaaa", "Passwords must not be one repeated character or a simple sequence."),
    ("            ", "Passwords must not be one repeated character or a simple sequence."),
    ("abcdefghijklm", "Passwords must not be one repeated character or a simple sequence."),
    ("alicealicealice", "Passwords must not contain the username."),
    ("my name is ALICE!", "Passwords must not contain the username."),
]


@pytest.fixture
def detector(secret_log_detector: LogSecretDetector) -> LogSecretDetector:
    """The session-wide log scanner, told this module's passwords (the distinctive
    ones: a run like ``aaaaaaaaaaaa`` also turns up in other tests' junk URLs)."""
    for password, _ in WEAK:
        if len(set(password.strip())) > 2 and not password.isalpha():
            secret_log_detector.remember(password)
    for password in (
        NEW_PASSWORD,
        OTHER_PASSWORD,
        WRONG_PASSWORD,
        DISPLAY_NAME_PASSWORD,
        KIMCHI_PASSWORD,
        "wonderland QUEEN",
    ):
        secret_log_detector.remember(password)
    return secret_log_detector


async def send(
    srv: Server, method: str, path: str, user: User | None = None, **kwargs: Any
) -> httpx.Response:
    """A request as ``user`` only (the shared client may hold a login's cookie)."""
    srv.http.cookies.clear()
    return await srv.request(method, path, user, **kwargs)


async def new_session(
    srv: Server, user: User, detector: LogSecretDetector, password: str = PASSWORD
) -> User:
    session = await srv.new_session(user, password=password)
    detector.remember(session.token)
    return session


async def change(srv: Server, user: User, current: str, new: str) -> httpx.Response:
    return await send(
        srv,
        "POST",
        f"{API}/users/me/password",
        user,
        json={"current_password": current, "new_password": new},
    )


async def audit(srv: Server, admin: User, action: str) -> list[dict[str, Any]]:
    """Entries of exactly ``action`` (the route's filter is a prefix)."""
    entries: list[dict[str, Any]] = await srv.ok(
        "GET", f"{API}/admin/audit", admin, params={"action": action}
    )
    return [e for e in entries if e["action"] == action]


async def stored_hash(srv: Server, user_id: str) -> str:
    async with srv.container.context.db.read("test_hash") as conn:
        user = await user_store.get_user_by_id(conn, int(user_id))
    assert user is not None
    assert user.password_hash is not None
    return user.password_hash


async def read_until_closed(stream: EventClient) -> None:
    while True:
        await stream.next(timeout=5)


def error_message(resp: httpx.Response) -> str:
    return str(resp.json()["error"]["message"])


def assert_not_echoed(password: str, resp: httpx.Response) -> None:
    if password.strip():
        assert password.strip() not in resp.text


# --- the policy ----------------------------------------------------------------------


def test_the_common_password_list_ships_and_matches_regardless_of_case() -> None:
    from redoubt.core.passwords import _common_passwords

    assert len(_common_passwords()) >= 10_000
    assert sum(len(p) >= MIN_PASSWORD_CHARS for p in _common_passwords()) >= 1_000
    for common in ("password1234", "Password1234", "QWERTYUIOP", " iloveyou123 "):
        assert is_common_password(common), common
    for fine in (PASSWORD, NEW_PASSWORD, "#1pimp"):  # comment-like lines are not entries
        assert not is_common_password(fine), fine


def test_policy_limits_and_what_it_lets_through() -> None:
    # No maximum below 128: long passphrases up to the schema's 1024 are fine.
    assert MAX_PASSWORD_CHARS >= 1024
    check_password_policy("x1" + "long passphrase " * 63, username="alice")  # 1010 chars
    check_password_policy("n" * 5 + "Q7;" + "m" * 2, username="alice")  # exactly 10
    with pytest.raises(BadRequest, match="at most 1024"):
        check_password_policy("ab" * 513, username="alice")
    # A username too short to matter may appear inside; being it is always refused.
    check_password_policy("always fresh apricots", username="al")
    with pytest.raises(BadRequest, match="contain the username"):
        check_password_policy("Alice.Liddell", username="alice.liddell")
    # Nor is a sequence with a gap in it (or a mixed one) a "simple sequence".
    check_password_policy("acegikmoqs", username="bob")


async def test_admin_create_user_refuses_each_weak_password(
    server: Server, detector: LogSecretDetector
) -> None:
    admin = await server.create_user("root", role=UserRole.ADMIN)
    cases = [*WEAK, ("wonderland QUEEN", "Passwords must not be the same as the display name.")]
    for password, message in cases:
        resp = await send(
            server,
            "POST",
            f"{API}/users",
            admin,
            json={"username": "alice", "password": password, "display_name": "Wonderland Queen"},
        )
        assert resp.status_code == 400, (password, resp.text)
        assert resp.json()["error"]["code"] == "invalid_request"
        assert error_message(resp) == message, password
        assert_not_echoed(password, resp)
    # Nothing was created, then a strong password goes through and logs in.
    assert await server.ok("GET", f"{API}/users", admin, params={"username": "alice"}) == []
    created = await send(
        server,
        "POST",
        f"{API}/users",
        admin,
        json={"username": "alice", "password": NEW_PASSWORD, "display_name": "Wonderland Queen"},
    )
    assert created.status_code == 201, created.text
    assert (await server.login("alice", NEW_PASSWORD)).status_code == 200
    # Longer than the schema allows is a 400 as well, without echoing the value.
    too_long = await send(
        server,
        "POST",
        f"{API}/users",
        admin,
        json={"username": "bob", "password": NEW_PASSWORD * 50},
    )
    assert too_long.status_code == 400
    assert NEW_PASSWORD not in too_long.text


@pytest.mark.timeout(120)
async def test_cli_create_user_applies_the_policy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert (await redoubt(data, "db", "upgrade")).code == 0
    common, named, good = await asyncio.gather(
        redoubt(data, "admin", "create-user", "carol", stdin="Password1234\n"),
        redoubt(data, "admin", "create-user", "daniel", stdin="daniel-2024-x\n"),
        redoubt(data, "admin", "create-user", "erin", stdin=NEW_PASSWORD + "\n"),
    )
    assert common.code != 0, common
    assert "most common passwords" in common.text, common
    assert named.code != 0, named
    assert "contain the username" in named.text, named
    assert good.code == 0, good
    for result in (common, named, good):
        assert "Traceback" not in result.text, result
        assert "Password1234" not in result.text
        assert NEW_PASSWORD not in result.text
    listed = await redoubt(data, "admin", "list-users")
    assert "erin" in listed.out
    assert "carol" not in listed.out
    assert "daniel" not in listed.out


# --- changing a password -------------------------------------------------------------


async def test_change_password_ends_other_sessions_and_keeps_this_one(
    any_server: Server, detector: LogSecretDetector
) -> None:
    srv = any_server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    laptop = await new_session(srv, alice, detector)
    phone = await new_session(srv, alice, detector)
    room = await srv.room(alice, "lobby", "channel", bob)

    async with (
        srv.events(alice) as mine,
        srv.events(laptop) as laptop_stream,
        srv.events(phone) as phone_stream,
        srv.events(bob) as bobs,
    ):
        resp = await change(srv, alice, PASSWORD, NEW_PASSWORD)
        assert resp.status_code == 204, resp.text
        assert not resp.content
        # The other sessions are gone at the very next request; this one and other
        # users' are not.
        for session in (laptop, phone):
            assert (await send(srv, "GET", f"{API}/users/me", session)).status_code == 401
        assert (await send(srv, "GET", f"{API}/users/me", alice)).status_code == 200
        assert (await send(srv, "GET", f"{API}/users/me", bob)).status_code == 200
        # Their open streams are closed by the server ("session ended").
        for stream in (laptop_stream, phone_stream):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await read_until_closed(stream)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4401
        # The stream of the session that made the change stays open and live.
        await srv.post(bob, room, "still connected?")
        frame = await mine.until("message.created")
        assert frame["data"]["text"] == "still connected?"
        await bobs.until("message.created")

    # The new password logs in; the old one doesn't.
    assert (await srv.login("alice", PASSWORD)).status_code == 401
    fresh = await new_session(srv, alice, detector, NEW_PASSWORD)
    assert (await send(srv, "GET", f"{API}/users/me", fresh)).status_code == 200
    # Stored with the current Argon2id parameters.
    stored = await stored_hash(srv, alice.id)
    assert stored.startswith("$argon2id$")
    assert not srv.container.context.passwords.needs_rehash(stored)
    # One audit row, by alice, counting the two sessions that ended.
    rows = await audit(srv, admin, "user.password_change")
    assert [(r["actor_id"], r["target_id"], r["details"]) for r in rows] == [
        (alice.id, alice.id, {"sessions_ended": 2})
    ]
    assert not await audit(srv, admin, "user.password_change_failed")


async def test_wrong_current_password_changes_nothing_and_is_audited(
    server: Server, detector: LogSecretDetector
) -> None:
    admin = await server.create_user("root", role=UserRole.ADMIN)
    alice = await server.create_user("alice")
    other = await new_session(server, alice, detector)
    before = await stored_hash(server, alice.id)

    for current in (WRONG_PASSWORD, NEW_PASSWORD, PASSWORD.upper(), PASSWORD + " "):
        resp = await change(server, alice, current, NEW_PASSWORD)
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"] == {
            "code": "forbidden",
            "message": "The current password is wrong.",
            "incident_id": resp.json()["error"]["incident_id"],
        }
    # A weak new password with a wrong current one: still only "wrong password" (the
    # policy isn't consulted for someone who hasn't proved who they are).
    resp = await change(server, alice, WRONG_PASSWORD, "password123")
    assert (resp.status_code, error_message(resp)) == (403, "The current password is wrong.")

    assert await stored_hash(server, alice.id) == before
    for session in (alice, other):
        assert (await send(server, "GET", f"{API}/users/me", session)).status_code == 200
    assert (await server.login("alice", PASSWORD)).status_code == 200
    assert (await server.login("alice", NEW_PASSWORD)).status_code == 401
    rows = await audit(server, admin, "user.password_change_failed")
    assert len(rows) == 5
    assert {(r["actor_id"], r["target_id"]) for r in rows} == {(alice.id, alice.id)}
    assert {r["details"]["reason"] for r in rows} == {"wrong_current_password"}
    assert not await audit(server, admin, "user.password_change")


async def test_change_password_refuses_weak_new_passwords(
    server: Server, detector: LogSecretDetector
) -> None:
    alice = await server.create_user("alice")
    other = await new_session(server, alice, detector)
    before = await stored_hash(server, alice.id)
    # The harness's display name for "alice" is "Alice": too short to test equality
    # with here (the length rule comes first), so WEAK covers everything else.
    cases = [*WEAK, (PASSWORD, "The new password must differ from the current one.")]
    for new, message in cases:
        resp = await change(server, alice, PASSWORD, new)
        assert resp.status_code == 400, (new, resp.text)
        assert error_message(resp) == message, new
        assert_not_echoed(new, resp)
    assert await stored_hash(server, alice.id) == before
    assert (await send(server, "GET", f"{API}/users/me", other)).status_code == 200
    assert (await server.login("alice", PASSWORD)).status_code == 200


async def test_change_password_refuses_the_display_name(
    server: Server, detector: LogSecretDetector
) -> None:
    kim = await server.create_user("kim")
    await server.ok("PATCH", f"{API}/users/me", kim, json={"display_name": "Kim Wexler Esq"})
    resp = await change(server, kim, PASSWORD, DISPLAY_NAME_PASSWORD)
    assert (resp.status_code, error_message(resp)) == (
        400,
        "Passwords must not be the same as the display name.",
    )
    # A three-letter username inside a password is no reason to refuse it.
    assert (await change(server, kim, PASSWORD, KIMCHI_PASSWORD)).status_code == 204


async def test_change_password_body_is_strict_and_hides_passwords(
    server: Server, detector: LogSecretDetector
) -> None:
    alice = await server.create_user("alice")
    for body in (
        {"current_password": PASSWORD},
        {"new_password": NEW_PASSWORD},
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "user_id": alice.id},
        {"current_password": PASSWORD, "new_password": 1234567890},
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD + "\x00"},
        {"current_password": PASSWORD, "new_password": "x" * 1025},
    ):
        resp = await send(server, "POST", f"{API}/users/me/password", alice, json=body)
        assert resp.status_code == 400, (sorted(body), resp.text)
        assert PASSWORD not in resp.text
        assert NEW_PASSWORD not in resp.text
    assert (await server.login("alice", PASSWORD)).status_code == 200
    parsed = ChangePasswordBody(current_password=PASSWORD, new_password=NEW_PASSWORD)
    for shown in (repr(parsed), str(parsed)):
        assert PASSWORD not in shown
        assert NEW_PASSWORD not in shown


async def test_change_password_is_rate_limited_per_account(
    tmp_path: Path, detector: LogSecretDetector
) -> None:
    async with (
        deployment("sqlite", tmp_path / "data") as settings,
        run_server(settings(rate_login_per_minute=3)) as srv,
    ):
        # (Two logins of the budget of three per address; the checks below read the
        # database rather than log in again.)
        alice = await srv.create_user("alice")
        bob = await srv.create_user("bob")
        before = await stored_hash(srv, alice.id)
        statuses = [
            (await change(srv, alice, WRONG_PASSWORD, NEW_PASSWORD)).status_code for _ in range(4)
        ]
        assert statuses == [403, 403, 403, 429]
        # The budget is spent: even the right password waits, and nothing changes.
        assert (await change(srv, alice, PASSWORD, NEW_PASSWORD)).status_code == 429
        assert await stored_hash(srv, alice.id) == before
        # Another account's budget is its own.
        assert (await change(srv, bob, PASSWORD, NEW_PASSWORD)).status_code == 204


async def test_a_stale_password_hash_is_upgraded_at_login(
    tmp_path: Path, detector: LogSecretDetector
) -> None:
    """A hash made with weaker Argon2id parameters than the server's (a deployment that
    raised them) is replaced at the next successful login; a failed one leaves it."""
    async with (
        deployment("sqlite", tmp_path / "data") as settings,
        run_server(settings(argon2_time_cost=2, argon2_memory_kib=128)) as srv,
    ):
        alice = await srv.create_user("alice", login=False)
        cheap = argon2.PasswordHasher(
            time_cost=1, memory_cost=64, parallelism=1, type=argon2.Type.ID
        ).hash(PASSWORD)
        async with srv.container.context.db.transaction("test_cheap_hash") as txn:
            await user_store.update_user_txn(txn.conn, int(alice.id), password_hash=cheap)
        hasher = srv.container.context.passwords
        assert hasher.needs_rehash(cheap)

        assert (await srv.login("alice", WRONG_PASSWORD)).status_code == 401
        assert await stored_hash(srv, alice.id) == cheap

        resp = await srv.login("alice", PASSWORD)
        assert resp.status_code == 200, resp.text
        detector.remember(resp.json()["token"])
        upgraded = await stored_hash(srv, alice.id)
        assert upgraded != cheap
        assert "$m=128,t=2,p=1$" in upgraded
        assert not hasher.needs_rehash(upgraded)
        # Still the same password, and the next login leaves the hash alone.
        second = await srv.login("alice", PASSWORD)
        assert second.status_code == 200
        detector.remember(second.json()["token"])
        assert await stored_hash(srv, alice.id) == upgraded


async def test_cookie_sessions_need_the_csrf_token_to_change_the_password(
    server: Server, detector: LogSecretDetector
) -> None:
    alice = await server.create_user("alice", login=False)
    server.http.cookies.clear()
    resp = await server.http.post(
        f"{API}/auth/login",
        json={"username": "alice", "password": PASSWORD, "mode": "cookie"},
        headers={"Origin": server.base_url},
    )
    assert resp.status_code == 200
    csrf = resp.json()["csrf_token"]
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    before = await stored_hash(server, alice.id)
    forged = await server.http.post(f"{API}/users/me/password", json=body)
    assert forged.status_code == 403
    assert await stored_hash(server, alice.id) == before
    ok = await server.http.post(
        f"{API}/users/me/password",
        json=body,
        headers={"X-CSRF-Token": csrf, "Origin": server.base_url},
    )
    assert ok.status_code == 204, ok.text
    # The cookie session that changed it is still signed in.
    assert (await server.http.get(f"{API}/users/me")).status_code == 200
    server.http.cookies.clear()
