"""Rate limits per account and per address: login, posting, WebSocket connects and frames.

Each test builds a server with a small budget, spends it, and checks the next request
is refused with 429 and a Retry-After header (or an error frame), changing nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets

from tests.harness import PASSWORD, Server, run_server, sqlite_database, test_settings


@pytest.fixture
async def strict_server(tmp_path: Path) -> AsyncIterator[Server]:
    await asyncio.to_thread(sqlite_database, tmp_path / "data")
    settings = test_settings(
        tmp_path / "data",
        rate_login_per_minute=3,
        rate_post_per_10s=5,
        rate_ws_frames_per_second=5,
        rate_ws_connects_per_minute=4,
    )
    async with run_server(settings) as srv:
        yield srv


async def test_login_is_throttled_per_account(strict_server: Server) -> None:
    await strict_server.create_user("victim", login=False)
    statuses = []
    for _ in range(3):
        resp = await strict_server.http.post(
            "/api/v1/auth/login", json={"username": "victim", "password": "wrong-password"}
        )
        statuses.append(resp.status_code)
    assert statuses == [401, 401, 401]
    # Even the right password is refused while the account's budget is spent.
    resp = await strict_server.http.post(
        "/api/v1/auth/login", json={"username": "victim", "password": PASSWORD}
    )
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1
    body = resp.json()["error"]
    assert body["code"] == "rate_limited"
    assert body["retry_after"] >= 1
    assert "token" not in resp.text


async def test_login_throttle_is_per_address_too(strict_server: Server) -> None:
    # Spraying different accounts from one address hits the address budget.
    statuses = []
    for name in ("a1", "a2", "a3", "a4"):
        resp = await strict_server.http.post(
            "/api/v1/auth/login", json={"username": name, "password": "whatever-password"}
        )
        statuses.append(resp.status_code)
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3] == 429


async def test_posting_is_throttled_and_refused_posts_change_nothing(tmp_path: Path) -> None:
    await asyncio.to_thread(sqlite_database, tmp_path / "data")
    settings = test_settings(tmp_path / "data", rate_post_per_10s=5)
    async with run_server(settings) as srv:
        alice = await srv.create_user("alice")
        room = await srv.room(alice, "general")
        for i in range(5):
            await srv.post(alice, room, f"message {i}")
        resp = await srv.request(
            "POST", f"/api/v1/rooms/{room}/messages", alice, json={"text": "one too many"}
        )
        assert resp.status_code == 429
        assert int(resp.headers["Retry-After"]) >= 1
        history = await srv.ok("GET", f"/api/v1/rooms/{room}/messages", alice)
        assert [m["text"] for m in history] == [f"message {i}" for i in range(5)]


async def test_websocket_connects_are_throttled_per_address(strict_server: Server) -> None:
    alice = await strict_server.create_user("alice")
    for _ in range(4):
        async with strict_server.events(alice):
            pass
    async with websockets.connect(strict_server.ws_url) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["type"] == "error"
        assert frame["code"] == "rate_limited"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4429


async def test_websocket_frames_are_throttled(strict_server: Server) -> None:
    alice = await strict_server.create_user("alice")
    async with strict_server.events(alice) as stream:
        for _ in range(12):
            await stream.ws.send('{"type":"ping"}')
        frames = await stream.drain()
    kinds = [f["type"] for f in frames]
    assert kinds.count("pong") == 5
    assert "error" in kinds
    errors = [f for f in frames if f["type"] == "error"]
    assert all(e["code"] == "rate_limited" and e["retry_after"] > 0 for e in errors)
