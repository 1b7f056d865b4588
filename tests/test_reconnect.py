"""The WebSocket event stream: resume, restart, handshake errors, audience, limits.

Resume must give exactly the events a client missed, in order, with no duplicates,
whether they come from the in-memory ring, from the database, or from a server that
was restarted in between. Frames that carry no position (typing, presence) are never
replayed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from redoubt.core.settings import Settings
from redoubt.domain.enums import UserRole
from tests.harness import (
    EventClient,
    Server,
    User,
    run_server,
    sqlite_database,
    test_settings,
)
from tests.harness import deployment as harness_deployment

JSON = dict[str, Any]
SettingsFactory = Callable[..., Settings]


# --- helpers -------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SettingsFactory]:
    """Settings for servers sharing one data dir / database (to restart or tune them)."""
    async with harness_deployment(request.param, tmp_path / "data") as settings:
        yield settings


async def settle(server: Server) -> int:
    """Wait until the dispatcher has processed every committed event; the position."""
    position = await server.container.database.current_position()
    dispatcher = server.container.dispatcher
    async with asyncio.timeout(5):
        while dispatcher.last_seq < position:  # noqa: ASYNC110 - no change notification
            await asyncio.sleep(0.005)
    return position


async def received(stream: EventClient) -> list[JSON]:
    """Every frame queued for this client so far, pong excluded (call after settle).

    The pong is queued behind everything already delivered, so no timer is needed.
    """
    await stream.ws.send('{"type": "ping"}')
    frames: list[JSON] = []
    while True:
        frame = await stream.next()
        if frame["type"] == "pong":
            return frames
        frames.append(frame)


def positioned(frames: list[JSON]) -> list[JSON]:
    return [f for f in frames if "seq" in f]


def seqs(frames: list[JSON]) -> list[int]:
    return [f["seq"] for f in positioned(frames)]


async def events_now(server: Server, stream: EventClient) -> list[JSON]:
    await settle(server)
    return positioned(await received(stream))


async def read_forever(ws: Any, into: list[JSON]) -> None:
    """Collect frames until the socket closes (raises) or 5 s pass."""
    async with asyncio.timeout(5):
        while True:
            into.append(json.loads(await ws.recv()))


async def refused(server: Server, first: str | bytes) -> tuple[list[JSON], int, str]:
    """Send one frame on a fresh socket; the frames before the close, its code, reason."""
    frames: list[JSON] = []
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(first)
        with pytest.raises(ConnectionClosed) as info:
            await read_forever(ws, frames)
    close = info.value.rcvd
    assert close is not None, "the server did not send a close frame"
    return frames, close.code, close.reason


async def closed_with(stream: EventClient) -> int:
    """Read until the server closes the socket; the close code."""
    with pytest.raises(ConnectionClosed) as info:
        await read_forever(stream.ws, [])
    close = info.value.rcvd
    assert close is not None, "the server did not send a close frame"
    return int(close.code)


def hello(user: User, since: int | None = None) -> str:
    return json.dumps({"type": "hello", "token": user.token, "since": since})


async def two_users(server: Server) -> tuple[User, User, str]:
    alice, bob = await asyncio.gather(server.create_user("alice"), server.create_user("bob"))
    room = await server.room(alice, "general", "channel", bob)
    return alice, bob, room


# --- resume --------------------------------------------------------------------------


async def test_resume_from_memory_gets_exactly_the_missed_events(any_server: Server) -> None:
    server = any_server
    alice, bob, room = await two_users(server)
    other = await server.room(alice, "elsewhere", "private")  # bob is not a member
    async with server.events(bob) as first:
        await server.post(alice, room, "seen live")
        live = await events_now(server, first)
    last_seen = live[-1]["seq"]

    missed = [await server.post(alice, room, f"missed {i}") for i in range(5)]
    await server.post(alice, other, "not for bob")
    await settle(server)
    assert server.container.dispatcher.replay_from_ring(last_seen, await settle(server))

    async with server.events(bob, since=last_seen) as resumed:
        replayed = await events_now(server, resumed)
        assert [e["data"]["id"] for e in replayed] == [m["id"] for m in missed]
        assert seqs(replayed) == [m["position"] for m in missed]
        # Live delivery continues after the replay without repeating it.
        after = await server.post(alice, room, "live again")
        live = await events_now(server, resumed)
    assert [e["data"]["id"] for e in live] == [after["id"]]


async def test_resume_from_the_database(
    deployment: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ring of 5 can't serve 20 missed events: they come from the database, in pages."""
    monkeypatch.setattr("redoubt.realtime.gateway._REPLAY_PAGE", 3)
    async with run_server(deployment(ws_replay_buffer=5)) as server:
        alice, bob, room = await two_users(server)
        other = await server.room(alice, "elsewhere", "private")
        async with server.events(bob) as stream:
            start = stream.ready_seq
        missed = []
        for i in range(20):
            missed.append(await server.post(alice, room, f"m{i}"))
            await server.post(alice, other, f"hidden {i}")
        position = await settle(server)
        assert server.container.dispatcher.replay_from_ring(start, position) is None

        async with server.events(bob, since=start) as resumed:
            assert resumed.ready_seq == position
            replayed = await events_now(server, resumed)
        assert [e["data"]["id"] for e in replayed] == [m["id"] for m in missed]

        # Resuming from the middle gets exactly the tail.
        middle = missed[9]["position"]
        async with server.events(bob, since=middle) as resumed:
            tail = await events_now(server, resumed)
        assert [e["data"]["id"] for e in tail] == [m["id"] for m in missed[10:]]

        # Resuming from the current position gets nothing.
        async with server.events(bob, since=position) as resumed:
            assert await events_now(server, resumed) == []


async def test_resume_across_a_restart(deployment: SettingsFactory) -> None:
    async with run_server(deployment()) as first:
        alice, bob, room = await two_users(first)
        async with first.events(bob) as stream:
            await first.post(alice, room, "before")
            seen = await events_now(first, stream)
        last_seen = seen[-1]["seq"]
        missed = [await first.post(alice, room, "while away, before the restart")]
        await settle(first)

    async with run_server(deployment()) as second:
        assert second.container.dispatcher.last_seq == missed[-1]["position"]
        missed.append(await second.post(alice, room, "while away, after the restart"))
        async with second.events(bob, since=last_seen) as resumed:
            replayed = await events_now(second, resumed)
            assert [e["data"]["id"] for e in replayed] == [m["id"] for m in missed]
            assert seqs(replayed) == sorted(set(seqs(replayed)))
            latest = await second.post(alice, room, "live on the new server")
            live = await events_now(second, resumed)
        assert [e["data"]["id"] for e in live] == [latest["id"]]
        assert live[0]["seq"] > replayed[-1]["seq"]


async def test_resume_ahead_of_the_server_is_refused(server: Server) -> None:
    _alice, bob, _room = await two_users(server)
    position = await settle(server)
    frames, code, _ = await refused(server, hello(bob, since=position + 1))
    assert code == 4409
    assert [f["code"] for f in frames] == ["invalid_since"]


async def test_resume_does_not_show_what_happened_before_joining(server: Server) -> None:
    """A resumed stream delivers what a live one would have: a room's events from
    before the user joined stay hidden (a deleted message's text, for one)."""
    alice, bob, _room = await two_users(server)
    secret = await server.room(alice, "secret", "private")
    async with server.events(bob) as stream:
        start = stream.ready_seq
    gone = await server.post(alice, secret, "deleted before bob came")
    await server.ok("DELETE", f"/api/v1/messages/{gone['id']}", alice)
    await server.ok("POST", f"/api/v1/rooms/{secret}/members", alice, json={"user_id": bob.id})
    welcome = await server.post(alice, secret, "welcome bob")
    async with server.events(bob, since=start) as resumed:
        replayed = await events_now(server, resumed)
    assert [e["type"] for e in replayed] == ["room.member_added", "message.created"]
    assert replayed[1]["data"]["id"] == welcome["id"]
    assert "deleted before bob came" not in json.dumps(replayed)


async def test_resume_keeps_what_happened_before_leaving(server: Server) -> None:
    """Events from before a removal were the user's; after it, nothing more."""
    alice, bob, room = await two_users(server)
    async with server.events(bob) as stream:
        start = stream.ready_seq
    before = await server.post(alice, room, "still a member")
    await server.ok("DELETE", f"/api/v1/rooms/{room}/members/{bob.id}", alice)
    await server.post(alice, room, "bob is gone")
    async with server.events(bob, since=start) as resumed:
        replayed = await events_now(server, resumed)
    assert [e["type"] for e in replayed] == ["message.created", "room.member_removed"]
    assert replayed[0]["data"]["id"] == before["id"]


# --- the handshake -------------------------------------------------------------------


BAD_HELLOS = [
    "not json",
    "[]",
    '"hello"',
    json.dumps({"type": "ping"}),
    json.dumps({"token": "x", "since": None}),
    json.dumps({"type": "hello", "since": None, "extra": 1}),
    json.dumps({"type": "hello", "since": "5"}),
    json.dumps({"type": "hello", "since": -1}),
    json.dumps({"type": "hello", "since": 1.5}),
    json.dumps({"type": "hello", "since": True}),
    json.dumps({"type": "hello", "token": 12345}),
    json.dumps({"type": "hello", "token": ["a"]}),
    json.dumps({"type": "hello", "token": {"a": "b"}}),
    json.dumps({"type": "hello", "token": "x" * 300}),
]


async def test_bad_hello_is_refused_with_4400(server: Server) -> None:
    bob = await server.create_user("bob")
    # A binary frame is refused even when it holds a valid hello: the protocol is text.
    cases: list[str | bytes] = [*BAD_HELLOS, b"\x00\x01", hello(bob).encode()]
    for first in cases:
        frames, code, _ = await refused(server, first)
        assert code == 4400, first
        assert [f["code"] for f in frames] == ["invalid_hello"], first


async def test_a_binary_frame_is_an_invalid_frame(server: Server) -> None:
    bob = await server.create_user("bob")
    async with server.events(bob) as stream:
        await stream.ws.send(b"\x00\x01")
        assert (await stream.until("error"))["code"] == "invalid_frame"
        await stream.ws.send('{"type": "ping"}')
        assert (await stream.until("pong")) == {"type": "pong"}


async def test_bad_token_is_refused_with_4401_and_never_echoed(server: Server) -> None:
    bob = await server.create_user("bob")
    real = bob.token
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    for token in (forged, "rdt_ses_garbage", "", None):
        payload = json.dumps({"type": "hello", "token": token, "since": None})
        frames, code, reason = await refused(server, payload)
        assert code == 4401
        assert [f["code"] for f in frames] == ["unauthorized"]
        wire = json.dumps(frames) + reason
        assert forged not in wire
        assert real not in wire
    # Nor in any frame of a working session.
    alice = await server.create_user("alice")
    room = await server.room(alice, "general", "channel", bob)
    async with server.events(bob) as stream:
        await server.post(alice, room, "hi")
        await server.ok("PATCH", "/api/v1/users/me", bob, json={"display_name": "B"})
        frames = await events_now(server, stream)
    assert len(frames) == 2
    wire = json.dumps(frames)
    assert bob.token not in wire
    assert alice.token not in wire


async def test_logged_out_token_is_refused(server: Server) -> None:
    bob = await server.create_user("bob")
    await server.ok("POST", "/api/v1/auth/logout", bob)
    _frames, code, _ = await refused(server, hello(bob))
    assert code == 4401


# --- audience and order ----------------------------------------------------------------


async def test_every_client_of_a_room_sees_the_same_order(any_server: Server) -> None:
    server = any_server
    users = await asyncio.gather(*(server.create_user(n) for n in ("ann", "ben", "cat", "dan")))
    room = await server.room(users[0], "general", "channel", *users[1:])
    async with (
        server.events(users[0]) as s0,
        server.events(users[1]) as s1,
        server.events(users[1]) as s1b,
        server.events(users[2]) as s2,
    ):
        posts = await asyncio.gather(
            *(server.post(users[i % 4], room, f"concurrent {i}") for i in range(40))
        )
        streams = [await events_now(server, s) for s in (s0, s1, s1b, s2)]
    orders = [[e["data"]["id"] for e in frames] for frames in streams]
    assert all(order == orders[0] for order in orders)
    assert sorted(orders[0]) == sorted(p["id"] for p in posts)
    assert seqs(streams[0]) == sorted(set(seqs(streams[0])))


async def test_removed_member_stops_receiving_and_added_starts(any_server: Server) -> None:
    server = any_server
    alice, bob, room = await two_users(server)
    async with server.events(bob) as stream:
        await server.post(alice, room, "one")
        await server.ok("DELETE", f"/api/v1/rooms/{room}/members/{bob.id}", alice)
        await server.post(alice, room, "two: bob is gone")
        await server.ok("PATCH", f"/api/v1/rooms/{room}", alice, json={"topic": "no bob"})
        frames = await events_now(server, stream)
        assert [f["type"] for f in frames] == ["message.created", "room.member_removed"]
        assert frames[1]["data"]["user_id"] == bob.id

        await server.ok("POST", f"/api/v1/rooms/{room}/members", alice, json={"user_id": bob.id})
        three = await server.post(alice, room, "three: bob is back")
        frames = await events_now(server, stream)
    assert [f["type"] for f in frames] == ["room.member_added", "message.created"]
    assert frames[1]["data"]["id"] == three["id"]


async def test_deactivation_closes_the_stream_and_refuses_the_token(any_server: Server) -> None:
    server = any_server
    admin = await server.create_user("admin", role=UserRole.ADMIN)
    bob = await server.create_user("bob")
    async with server.events(bob) as stream:
        await server.ok("POST", f"/api/v1/users/{bob.id}/deactivate", admin)
        assert await closed_with(stream) == 4003
    _frames, code, _ = await refused(server, hello(bob))
    assert code == 4401
    assert not server.container.dispatcher.connections_of(int(bob.id))


# --- ephemeral frames ------------------------------------------------------------------


async def test_typing_reaches_members_only_and_is_never_replayed(any_server: Server) -> None:
    server = any_server
    alice, bob, room = await two_users(server)
    carol = await server.create_user("carol")  # not in the room
    async with (
        server.events(alice) as a,
        server.events(bob) as b,
        server.events(carol) as c,
    ):
        start = a.ready_seq
        await settle(server)
        for s in (a, b, c):
            await received(s)  # presence of the others connecting
        await b.ws.send(json.dumps({"type": "typing", "room_id": room}))
        typing = await a.until("typing")
        assert typing == {"type": "typing", "data": {"room_id": room, "user_id": bob.id}}
        assert "seq" not in typing
        assert [f for f in await received(c) if f["type"] == "typing"] == []
        # Typing in a room one isn't in is refused and reaches nobody.
        await c.ws.send(json.dumps({"type": "typing", "room_id": room}))
        assert (await c.until("error"))["code"] == "not_found"
        assert [f for f in await received(a) if f["type"] == "typing"] == []
    async with server.events(alice, since=start) as resumed:
        replay = await received(resumed)
    assert [f for f in replay if f["type"] == "typing"] == []


async def test_presence_online_and_offline(any_server: Server) -> None:
    server = any_server
    alice, bob, _room = await two_users(server)
    async with server.events(alice) as a:
        async with server.events(bob):
            online = await presence_of(a, bob)
            assert online == {"user_id": bob.id, "status": "online"}
            assert bob.id in await server.ok("GET", "/api/v1/presence", alice)
            async with server.events(bob):
                pass  # a second connection of bob's comes and goes: bob stays online
            assert bob.id in await server.ok("GET", "/api/v1/presence", alice)
        offline = await presence_of(a, bob)
        assert offline == {"user_id": bob.id, "status": "offline"}
        assert bob.id not in await server.ok("GET", "/api/v1/presence", alice)
        # Only one "online" and one "offline" for bob in all of that.
        await settle(server)
        assert [f for f in await received(a) if f["type"] == "presence"] == []


async def presence_of(stream: EventClient, user: User) -> JSON:
    """The next presence change for ``user`` (frames are batches without a position)."""
    while True:
        frame = await stream.until("presence")
        assert "seq" not in frame
        for change in frame["data"]["changes"]:
            if change["user_id"] == user.id:
                return dict(change)


# --- limits ----------------------------------------------------------------------------


async def test_oversized_frame_closes_with_1009(server: Server) -> None:
    bob = await server.create_user("bob")
    limit = server.container.settings.ws_max_frame_bytes
    async with server.events(bob) as stream:
        await stream.ws.send(json.dumps({"type": "typing", "room_id": "x" * limit}))
        assert await closed_with(stream) == 1009
    # The hello itself is held to the same limit.
    _frames, code, _ = await refused(server, "x" * (limit + 1))
    assert code == 1009


async def test_excess_frames_are_rate_limited(tmp_path: Path) -> None:
    await asyncio.to_thread(sqlite_database, tmp_path / "data")
    async with run_server(test_settings(tmp_path / "data", rate_ws_frames_per_second=5)) as server:
        bob = await server.create_user("bob")
        async with server.events(bob) as stream:
            for _ in range(15):
                await stream.ws.send('{"type": "ping"}')
            frames: list[JSON] = []
            while len(frames) < 15:
                frame = await stream.next()
                if frame["type"] != "presence":
                    frames.append(frame)
            pongs = [f for f in frames if f["type"] == "pong"]
            errors = [f for f in frames if f["type"] == "error"]
            assert len(pongs) >= 5  # the burst
            assert len(pongs) + len(errors) == 15
            assert errors
            assert {e["code"] for e in errors} == {"rate_limited"}
            assert all(e["retry_after"] > 0 for e in errors)
            # Persisting is a policy violation: the server hangs up.
            for _ in range(60):
                await stream.ws.send('{"type": "ping"}')
            assert await closed_with(stream) == 1008
