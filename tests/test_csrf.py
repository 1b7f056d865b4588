"""CSRF (T13) on every state-changing route a browser can reach with its cookie, login
CSRF, and user enumeration by the timing of a login."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from pathlib import Path

import httpx

from redoubt.actions.users import do_create_user, do_deactivate_user
from redoubt.domain.enums import UserRole
from redoubt.storage.users import get_user_by_username
from tests.harness import PASSWORD, Server, run_server, sqlite_database, test_settings

API = "/api/v1"
_WRITES = ("post", "put", "patch", "delete")
# Reachable without a session, so not a CSRF target (no ambient authority to abuse:
# a reset needs the mailed token); cookie-mode login has its own check below.
_PUBLIC = {
    "/api/v1/auth/login",
    "/api/v1/auth/login/2fa",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
    # Incoming webhooks authenticate each request by its signature (or URL token),
    # never by a cookie: nothing ambient for another site to ride on.
    "/api/v1/hooks/{hook_id}",
    "/api/v1/hooks/{hook_id}/{url_token}",
}


async def _cookie_session(server: Server) -> tuple[str, str]:
    await server.create_user("alice", login=False)
    resp = await server.http.post(
        f"{API}/auth/login",
        json={"username": "alice", "password": PASSWORD, "mode": "cookie"},
        headers={"Origin": server.base_url},
    )
    assert resp.status_code == 200, resp.text
    cookie = resp.cookies["redoubt_session"]
    server.http.cookies.clear()
    return cookie, resp.json()["csrf_token"]


async def test_every_cookie_write_needs_the_csrf_token(server: Server) -> None:
    """Every write route of the API, with the session cookie and even a same-origin
    Origin but no CSRF token (what a forged form or a sibling-origin script can do), is
    refused before it does anything."""
    cookie, csrf = await _cookie_session(server)
    spec = (await server.http.get(f"{API}/openapi.json")).json()
    before = await server.container.database.current_position()
    tried = []
    for path, item in spec["paths"].items():
        for method in item:
            if method not in _WRITES or path in _PUBLIC or not path.startswith(API):
                continue
            url = re.sub(r"\{\w+\}", "1", path)
            for headers in ({"Origin": server.base_url}, {"Origin": "https://evil.example"}, {}):
                resp = await server.http.request(
                    method.upper(),
                    url,
                    json={},
                    headers={**headers, "Cookie": f"redoubt_session={cookie}"},
                )
                assert resp.status_code == 403, (method, path, headers, resp.text)
            tried.append((method, path))
    assert len(tried) > 25
    assert await server.container.database.current_position() == before
    # The same cookie with the token is a normal session.
    ok = await server.http.get(
        f"{API}/auth/session", headers={"Cookie": f"redoubt_session={cookie}"}
    )
    assert ok.json()["csrf_token"] == csrf


async def test_no_login_csrf_in_cookie_mode(server: Server) -> None:
    """A page elsewhere can't sign the visitor's browser in to the attacker's account."""
    await server.create_user("mallory", login=False)
    for origin in (None, "https://evil.example", "null"):
        headers = {"Origin": origin} if origin else {}
        resp = await server.http.post(
            f"{API}/auth/login",
            json={"username": "mallory", "password": PASSWORD, "mode": "cookie"},
            headers=headers,
        )
        assert resp.status_code == 403, (origin, resp.text)
        assert "set-cookie" not in resp.headers
    server.http.cookies.clear()


async def test_login_timing_doesnt_tell_accounts_apart(tmp_path: Path) -> None:
    """Unknown user, wrong password and deactivated account cost the same Argon2id
    verification (a dummy hash when there is no account). Run at a cost where a
    skipped hash would stand out and compare medians: the hash is tens of milliseconds
    and the rest of a login about one, so a case that skipped it would be ten times
    faster or more. The bound (3x) leaves room for a loaded machine's noise, which is
    what a tighter bound measured instead (it failed on a busy CI runner)."""
    data = tmp_path / "data"
    await asyncio.to_thread(sqlite_database, data)
    settings = test_settings(data, argon2_time_cost=2, argon2_memory_kib=32 * 1024)
    async with run_server(settings) as server:
        ctx = server.container.context
        for name in ("real", "gone"):
            await do_create_user(
                ctx,
                username=name,
                display_name=name,
                password=PASSWORD,
                role=UserRole.USER,
                acting_user=None,
            )
        async with ctx.db.read("t") as conn:
            gone_user = await get_user_by_username(conn, "gone")
        assert gone_user is not None
        await do_deactivate_user(ctx, gone_user.id, acting_user=None)

        async def timed(username: str, password: str) -> tuple[float, httpx.Response]:
            start = time.perf_counter()
            resp = await server.http.post(
                f"{API}/auth/login", json={"username": username, "password": password}
            )
            return time.perf_counter() - start, resp

        cases = {
            "unknown": ("nobody", "wrong-password-1"),
            "wrong password": ("real", "wrong-password-1"),
            "deactivated": ("gone", PASSWORD),
        }
        medians: dict[str, float] = {}
        bodies = set()
        for _round in range(2):  # the first round warms caches up
            samples: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(7):
                for name, (user, pw) in cases.items():  # interleaved: same noise for all
                    took, resp = await timed(user, pw)
                    assert resp.status_code == 401, (name, resp.text)
                    err = resp.json()["error"]
                    bodies.add((err["code"], err["message"]))
                    samples[name].append(took)
            medians = {name: statistics.median(v) for name, v in samples.items()}
        assert len(bodies) == 1, bodies  # the same answer in every case
        fastest, slowest = min(medians.values()), max(medians.values())
        assert slowest / fastest < 3.0, medians
