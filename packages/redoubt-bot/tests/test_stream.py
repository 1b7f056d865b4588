"""EventStream against a scripted WebSocket server: frame -> Update mapping, what is
ignored, and the close codes (4409 resume from scratch, 4429 back off, 4401 stop).
Resuming against the real server is in tests/test_redoubt_bot_client.py."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from redoubt_bot.client import ApiClient
from redoubt_bot.secrets import BotToken, remove_redaction
from redoubt_bot.stream import EventStream, StreamUnauthorized
from redoubt_bot.types import RoomKind, Update, UpdateKind

TOKEN = "4242:" + "s" * 43
ME = "4242"


@pytest.fixture(autouse=True)
def _redaction_off() -> Iterator[None]:
    yield
    remove_redaction()


def view(mid: str, author: str = "7", text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "id": mid,
        "room_id": "5",
        "author_id": author,
        "text": text,
        "files": [],
        "edited_at": None,
        "pinned_at": None,
        "deleted": False,
        **extra,
    }


Script = Callable[[ServerConnection, dict[str, Any], int], Awaitable[None]]


@asynccontextmanager
async def fake_server(script: Script) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A server running ``script(ws, hello, n)`` for the n-th connection; yields its
    base URL and the hellos it got."""
    hellos: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        hello = json.loads(await ws.recv())
        hellos.append(hello)
        await script(ws, hello, len(hellos))

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}", hellos


def api() -> ApiClient:
    def rooms(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "5", "kind": "channel"})

    return ApiClient(
        "http://127.0.0.1:1", BotToken(TOKEN, _source="test"), transport=httpx.MockTransport(rooms)
    )


async def take(stream: EventStream, n: int, timeout: float = 5.0) -> list[Update]:
    out: list[Update] = []

    async def run() -> None:
        async for update in stream:
            out.append(update)
            if len(out) == n:
                return

    await asyncio.wait_for(run(), timeout)
    return out


def frame(seq: int, kind: str, data: dict[str, Any]) -> str:
    return json.dumps({"seq": seq, "type": kind, "data": data})


async def test_mapping_and_what_is_ignored() -> None:
    async def script(ws: ServerConnection, hello: dict[str, Any], n: int) -> None:
        assert hello == {"type": "hello", "token": TOKEN, "since": None}
        await ws.send(json.dumps({"type": "ready", "seq": 10, "user_id": ME}))
        await ws.send(json.dumps({"type": "typing", "data": {"room_id": "5", "user_id": "7"}}))
        await ws.send(json.dumps({"type": "presence", "data": {"changes": []}}))
        await ws.send(frame(11, "message.created", view("1", author=ME)))  # our own
        await ws.send(frame(12, "message.created", view("2", text="/start")))
        await ws.send(frame(13, "message.updated", view("2", edited_at="2026-01-01T00:00:01Z")))
        await ws.send(
            frame(
                14,
                "message.updated",
                view("2", edited_at="2026-01-01T00:00:01Z", pinned_at="2026-01-01T00:00:02Z"),
            )
        )
        await ws.send(frame(15, "read.updated", {"room_id": "5"}))
        await ws.send(
            frame(16, "reaction.added", {"message": view("2"), "user_id": "7", "emoji": "👍"})
        )
        await ws.send(
            frame(17, "reaction.removed", {"message": view("2"), "user_id": ME, "emoji": "👍"})
        )
        room = {"id": "6", "kind": "dm"}
        await ws.send(frame(18, "room.member_added", {"room": room, "user_id": "7"}))
        callback = {
            "callback_id": "cb1",
            "message_id": "2",
            "room_id": "5",
            "user_id": "7",
            "data": "tok",
        }
        await ws.send(frame(19, "bot.callback_query", callback))
        await ws.send(frame(19, "bot.callback_query", callback))  # a repeat: dropped
        await ws.send(frame(20, "message.created", view("3", text="last")))
        await ws.wait_closed()

    client = api()
    async with fake_server(script) as (url, _hellos):
        stream = EventStream(url, BotToken(TOKEN, _source="test"), api=client)
        updates = await take(stream, 6)
        await stream.aclose()
    await client.aclose()
    assert [u.kind for u in updates] == [
        UpdateKind.MESSAGE,
        UpdateKind.EDITED_MESSAGE,
        UpdateKind.REACTION,
        UpdateKind.MEMBER,
        UpdateKind.CALLBACK,
        UpdateKind.MESSAGE,
    ]
    assert [u.seq for u in updates] == [12, 13, 16, 18, 19, 20]
    assert stream.bot_user_id == ME
    assert updates[0].room_kind is RoomKind.CHANNEL
    assert updates[3].member is not None
    assert updates[3].member.room_kind is RoomKind.DM
    assert updates[4].callback is not None
    assert (updates[4].callback.id, updates[4].callback.data) == ("cb1", "tok")
    assert stream.last_seq == 20


async def test_close_codes() -> None:
    """4409: resume with since=None; 4429: back off; 4401: stop without retrying."""

    async def script(ws: ServerConnection, hello: dict[str, Any], n: int) -> None:
        if n == 1:
            await ws.send(json.dumps({"type": "ready", "seq": 3, "user_id": ME}))
            await ws.send(frame(4, "message.created", view("1")))
            await ws.close(1011, "restart")  # an ordinary failure: resume after 4
        elif n == 2:
            await ws.close(4409, "invalid position")
        elif n == 3:
            await ws.send(json.dumps({"type": "error", "code": "rate_limited", "retry_after": 1}))
            await ws.close(4429, "too many connections")
        elif n == 4:
            await ws.send(json.dumps({"type": "ready", "seq": 50, "user_id": ME}))
            await ws.send(frame(51, "message.created", view("2")))
            await ws.close(4401, "unauthorized")
        else:
            raise AssertionError("retried after 4401")

    client = api()
    async with fake_server(script) as (url, hellos):
        stream = EventStream(url, BotToken(TOKEN, _source="test"), api=client, initial_backoff=0.05)
        seen: list[Update] = []
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def consume() -> None:
            async for update in stream:
                seen.append(update)

        with pytest.raises(StreamUnauthorized):
            await asyncio.wait_for(consume(), 10)
        elapsed = loop.time() - started
        await stream.aclose()
    await client.aclose()
    assert [h["since"] for h in hellos] == [None, 4, None, None]
    assert [u.seq for u in seen] == [4, 51]
    assert elapsed >= 1.0  # the 4429 wait (retry_after) was honoured


async def test_hello_frame_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    """T1: websockets logs frames at DEBUG, cut short (a partial token the redactor
    can't always recognise): the stream's frames stay out of a DEBUG log."""
    token = "4242:AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde"

    async def script(ws: ServerConnection, hello: dict[str, Any], n: int) -> None:
        await ws.close(4401, "unauthorized")

    caplog.set_level(logging.DEBUG)
    client = api()
    async with fake_server(script) as (url, _hellos):
        stream = EventStream(url, BotToken(token, _source="test"), api=client)
        with pytest.raises(StreamUnauthorized):
            await take(stream, 1)
        await stream.aclose()
    await client.aclose()
    assert "AbCdEf" not in caplog.text
    assert "abcde" not in caplog.text
