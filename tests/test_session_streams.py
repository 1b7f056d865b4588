"""Ending a session ends the event streams opened with it (logout, privilege change)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from redoubt.domain.enums import UserRole
from tests.harness import Server


async def test_logout_closes_only_that_sessions_stream(server: Server) -> None:
    alice = await server.create_user("alice")
    other = await server.new_session(alice)
    other_token = other.token
    async with server.events(alice) as kept, server.events(other) as ended:
        await server.ok("POST", "/api/v1/auth/logout", other)
        assert await ended.close_code() == 4401
        # The other session's stream hears of it and stays open.
        frame = await kept.until("session.ended")
        assert frame["data"] == {"session_id": frame["data"]["session_id"], "reason": "logout"}
        await kept.ws.send(json.dumps({"type": "ping"}))
        assert (await kept.until("pong"))["type"] == "pong"
    # The logged-out token can't open a new stream.
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": other_token, "since": None}))
        await asyncio.wait_for(ws.recv(), 5)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_role_change_closes_every_stream_of_the_user(server: Server) -> None:
    admin = await server.create_user("root", role=UserRole.ADMIN)
    bob = await server.create_user("bob")
    second = await server.new_session(bob)
    async with server.events(bob) as one, server.events(second) as two:
        await server.ok("PATCH", f"/api/v1/users/{bob.id}", admin, json={"role": "guest"})
        codes = await asyncio.gather(one.close_code(), two.close_code())
    assert codes == [4401, 4401]
    resp = await server.request("GET", "/api/v1/users/me", bob)
    assert resp.status_code == 401
