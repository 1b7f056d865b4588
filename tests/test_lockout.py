"""Brute force against one account (T13): failed guesses pause its logins with waits
that grow, the same way for a name that doesn't exist, and the owner is told."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from redoubt.domain.enums import UserRole
from tests.harness import PASSWORD, Server, deployment, run_server

API = "/api/v1"


@contextlib.asynccontextmanager
async def _guarded(backend: str, tmp_path: Path) -> AsyncIterator[Server]:
    async with deployment(backend, tmp_path) as settings:
        limits = settings(login_failures_per_hour=3, login_failures_per_day=1000)
        async with run_server(limits) as server:
            yield server


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_guessing_pauses_the_account_and_tells_its_owner(
    backend: str, tmp_path: Path
) -> None:
    async with _guarded(backend, tmp_path) as server:
        alice = await server.create_user("alice")
        admin = await server.create_user("root", role=UserRole.ADMIN)
        for _ in range(3):
            assert (await server.login("alice", "wrong-guess-123")).status_code == 401
        # Paused now: even the right password waits (a guesser learns nothing from it).
        locked = await server.login("alice", PASSWORD)
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) >= 60  # a budget of 3/hour refills slowly
        assert locked.json()["error"]["code"] == "rate_limited"
        # ... and stays paused.
        assert (await server.login("alice", PASSWORD)).status_code == 429

        # A name that doesn't exist behaves exactly the same (no enumeration).
        for _ in range(3):
            assert (await server.login("ghost", "wrong-guess-123")).status_code == 401
        ghost = await server.login("ghost", PASSWORD)
        assert ghost.status_code == 429
        assert ghost.json()["error"]["message"] == locked.json()["error"]["message"]

        # The owner is told once, in the app; the audit log has both locks.
        notices = await server.ok("GET", f"{API}/users/me/notices", alice)
        assert [n["kind"] for n in notices] == ["account_locked"]
        assert notices[0]["details"]["ip"] == "127.0.0.1"
        entries = await server.ok(
            "GET", f"{API}/admin/audit", admin, params={"action": "auth.lockout"}
        )
        assert sorted(str(e["target_id"]) for e in entries) == sorted([alice.id, "None"])

        # Other accounts are unaffected.
        bob = await server.create_user("bob")
        assert bob.token


async def test_a_successful_login_forgets_earlier_failures(tmp_path: Path) -> None:
    async with _guarded("sqlite", tmp_path) as server:
        await server.create_user("carol", login=False)
        for _round in range(3):
            for _ in range(2):
                assert (await server.login("carol", "wrong-guess-123")).status_code == 401
            assert (await server.login("carol", PASSWORD)).status_code == 200
