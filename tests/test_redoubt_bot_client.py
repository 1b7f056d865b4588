"""The ``redoubt_bot`` framework's edge against a real server (issue 6, part 3): the
HTTP client (``ApiClient``) and the event stream (``EventStream``).

Round trips of every call the framework makes; 429 waited out and retried; a stream
that resumes after a dropped connection without losing or repeating an update; a
revoked token stopping the stream (4401, no retry); and T1: the token never appears in
the log of a run that includes failing requests, nor in an error's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from redoubt.actions.bots import do_set_bot_scopes
from redoubt.domain.enums import UserRole
from redoubt_bot.client import ApiClient, ApiConnectionError, ApiError
from redoubt_bot.secrets import BotToken, remove_redaction
from redoubt_bot.stream import EventStream, StreamUnauthorized
from redoubt_bot.types import Button, RoomKind, Update, UpdateKind
from tests.harness import Bot, Server, User, free_port, run_server, sqlite_database, test_settings

API = "/api/v1"


@pytest.fixture(autouse=True)
def _no_lingering_redaction() -> Iterator[None]:
    """ApiClient installs its log filter on the root handlers; take it off afterwards
    so the run's secret detector keeps judging raw records."""
    yield
    remove_redaction()


@dataclass
class Setup:
    alice: User
    bot: Bot
    group: str
    dm: str
    token: BotToken


async def setup(server: Server) -> Setup:
    """alice; a bot in her private group; her DM with the bot."""
    alice = await server.create_user("alice")
    group = await server.room(alice, "team", "private")
    bot = await server.create_bot(alice, "helper_bot", group)
    await server.ok("POST", f"{API}/rooms/{group}/members", alice, json={"user_id": bot.id})
    dm = await server.ok("POST", f"{API}/dms", alice, json={"user_ids": [bot.id]})
    return Setup(alice, bot, group, str(dm["id"]), BotToken(bot.token, _source="test"))


@contextlib.asynccontextmanager
async def client(server: Server, token: BotToken, **kwargs: object) -> AsyncIterator[ApiClient]:
    api = ApiClient(server.base_url, token, **kwargs)  # type: ignore[arg-type]
    try:
        yield api
    finally:
        await api.aclose()


async def click(server: Server, user: User, message_id: str, row: int, column: int) -> Any:
    return await server.ok(
        "POST", f"{API}/messages/{message_id}/buttons", user, json={"row": row, "column": column}
    )


# --- HTTP ---------------------------------------------------------------------------------


async def test_send_edit_buttons_delete_round_trip(server: Server) -> None:
    s = await setup(server)
    async with client(server, s.token) as api:
        sent = await api.send_message(
            s.group,
            "Choose:",
            buttons=[
                [Button("One", data="opaque-1"), Button("Two", data="opaque-2")],
                [Button("Docs", url="https://example.com/docs")],
            ],
        )
        assert sent.author_id == s.bot.id
        assert sent.room_id == s.group
        view = await server.ok("GET", f"{API}/messages/{sent.id}", s.alice)
        assert view["text"] == "Choose:"
        assert [[b["text"] for b in row] for row in view["inline_keyboard"]] == [
            ["One", "Two"],
            ["Docs"],
        ]
        assert "opaque-1" not in str(view)  # callback data stays with the server

        edited = await api.edit_message(sent.id, "Choose again:")
        assert edited.text == "Choose again:"
        await api.set_buttons(sent.id, [[Button("Three", data="opaque-3")]])
        view = await server.ok("GET", f"{API}/messages/{sent.id}", s.alice)
        assert [[b["text"] for b in row] for row in view["inline_keyboard"]] == [["Three"]]
        await api.set_buttons(sent.id, [])
        view = await server.ok("GET", f"{API}/messages/{sent.id}", s.alice)
        assert not view["inline_keyboard"]

        threaded = await api.send_message(s.group, "in a thread", thread_id=sent.id)
        assert threaded.thread_id == sent.id
        await api.add_reaction(sent.id, "👍")
        view = await server.ok("GET", f"{API}/messages/{sent.id}", s.alice)
        assert view["reactions"]

        await api.delete_message(threaded.id)
        view = await server.ok("GET", f"{API}/messages/{threaded.id}", s.alice)
        assert view["deleted"]

        assert await api.get_room_kind(s.group) is RoomKind.PRIVATE
        assert await api.get_room_kind(s.dm) is RoomKind.DM
        # Without users:read the server won't say: role policies deny.
        assert await api.get_user_role(s.alice.id) == "unknown"


async def test_roles_come_from_the_server_with_users_read(server: Server) -> None:
    """A bot given ``users:read`` learns people's roles, so ``roles(...)`` policies work."""
    s = await setup(server)
    admin = await server.create_user("root", role=UserRole.ADMIN)
    await do_set_bot_scopes(
        server.container.context,
        acting_user=None,
        bot_id=int(s.bot.id),
        scopes=["messages:read", "messages:write", "users:read"],
    )
    async with client(server, s.token) as api:
        assert await api.get_user_role(s.alice.id) == "user"
        assert await api.get_user_role(admin.id) == "admin"
        assert await api.get_user_role(s.bot.id) == "bot"

        with pytest.raises(ValueError, match="callback data"):
            await api.send_message(s.dm, "x", buttons=[[Button("Big", data="x" * 65)]])


async def test_answer_callback_once(server: Server) -> None:
    s = await setup(server)
    async with client(server, s.token) as api:
        sent = await api.send_message(s.dm, "Press", buttons=[[Button("Go", data="go")]])
        async with server.events(s.alice) as alice_events:
            clicked = await click(server, s.alice, sent.id, 0, 0)
            callback_id = clicked["callback_id"]
            await api.answer_callback(callback_id, text="Done", show_alert=True)
            answer = await alice_events.until("bot.callback_answer")
            assert answer["data"] == {
                "callback_id": callback_id,
                "text": "Done",
                "show_alert": True,
            }
        with pytest.raises(ApiError) as second:
            await api.answer_callback(callback_id)
        assert second.value.status == 400
        clicked = await click(server, s.alice, sent.id, 0, 0)
        await api.answer_callback(clicked["callback_id"])  # no text


async def test_errors_carry_code_and_incident_never_token(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """T1: a run with failing requests (refused, unauthorised, unreachable) logs
    nothing with the token in it, and no error's text has the token or a URL."""
    s = await setup(server)
    caplog.set_level(logging.DEBUG)
    other = await server.post(s.alice, s.group, "alice's own")
    errors: list[ApiError] = []
    async with client(server, s.token) as api:
        for call in (
            api.edit_message(other["id"], "hijacked"),
            api.delete_message("999999999"),
            api.send_message("123456789", "nowhere"),
        ):
            with pytest.raises(ApiError) as info:
                await call
            errors.append(info.value)
    assert {e.status for e in errors} <= {403, 404}
    assert all(e.code and e.incident_id for e in errors)
    bad = BotToken(s.bot.token[:-4] + "AAAA", _source="test")
    async with client(server, bad) as api:
        with pytest.raises(ApiError) as info:
            await api.send_message(s.group, "with a wrong token")
        assert info.value.status == 401
        errors.append(info.value)
    # A failure inside a handler that logs the exception, token in its message.
    try:
        raise RuntimeError(f"something went wrong with {s.bot.token}")
    except RuntimeError:
        logging.getLogger("my_bot").exception("handler failed")
    unreachable = ApiClient(
        f"http://127.0.0.1:{free_port()}", s.token, max_retries=1, sleep=_no_sleep
    )
    async with unreachable as api:
        with pytest.raises(ApiConnectionError) as down:
            await api.get_room_kind(s.group)
        errors.append(down.value)
    for error in errors:
        for text in (str(error), repr(error)):
            assert s.bot.token not in text
            assert bad.reveal() not in text
            assert "http" not in text
    assert "something went wrong with" in caplog.text
    assert s.bot.token not in caplog.text
    assert bad.reveal() not in caplog.text
    assert s.bot.token.split(":")[1] not in caplog.text
    for record in caplog.records:
        assert s.bot.token not in record.getMessage()


async def _no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


async def test_429_retry_after_is_honoured(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Over the post rate the server answers 429 + Retry-After: the client waits that
    long (capped) and retries; every message gets posted once."""
    await asyncio.to_thread(sqlite_database, tmp_path / "data")
    async with run_server(test_settings(tmp_path / "data", rate_post_per_10s=5)) as server:
        s = await setup(server)
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            await asyncio.sleep(seconds)

        caplog.set_level(logging.WARNING, logger="redoubt_bot.client")
        async with client(server, s.token, sleep=sleep, max_retry_after=5.0) as api:
            sent = [await api.send_message(s.group, f"m{i}") for i in range(7)]
            assert waits, "the server never rate-limited"
            assert all(1.0 <= w <= 5.0 for w in waits)
            history = await server.ok("GET", f"{API}/rooms/{s.group}/messages", s.alice)
            texts = [m["text"] for m in history if m["author_id"] == s.bot.id]
            assert texts == [f"m{i}" for i in range(7)]
            assert len({m.id for m in sent}) == 7
            assert "Rate limited" in caplog.text
        # No retries left: the 429 is raised, with the server's Retry-After.
        async with client(server, s.token, max_retries=0) as api:

            async def burst() -> None:
                for i in range(10):
                    await api.send_message(s.group, f"burst {i}")

            with pytest.raises(ApiError) as info:
                await burst()
            assert info.value.status == 429
            assert info.value.retry_after is not None
            assert info.value.retry_after >= 1


# --- the event stream ---------------------------------------------------------------------


@dataclass
class Proxy:
    """A TCP relay to the server whose connections a test can cut (or refuse for a
    while): the network failing under the bot's event stream."""

    target_port: int
    refusing: bool = False
    port: int = 0
    _links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._links.append((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.transport.abort()

    def cut(self) -> None:
        """Drop every open connection at once (no close frame)."""
        for a, b in self._links:
            a.transport.abort()
            b.transport.abort()
        self._links.clear()

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def proxy_to(server: Server) -> AsyncIterator[Proxy]:
    proxy = Proxy(int(server.base_url.rsplit(":", 1)[1]))
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@dataclass
class Collector:
    """Runs an EventStream in a task; updates land in a queue."""

    stream: EventStream
    updates: asyncio.Queue[Update] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async for update in self.stream:
            self.updates.put_nowait(update)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def next(self, timeout: float = 10.0) -> Update:
        return await asyncio.wait_for(self.updates.get(), timeout)

    async def ready(self, connections: int = 1, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while self.stream.connections < connections:
                if self.task is not None and self.task.done():
                    self.task.result()
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        await self.stream.aclose()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def test_stream_updates_and_resume_after_a_dropped_connection(server: Server) -> None:
    s = await setup(server)
    async with client(server, s.token) as api, proxy_to(server) as proxy:
        stream = EventStream(proxy.url, s.token, api=api, initial_backoff=0.2, max_backoff=1.0)
        collector = Collector(stream)
        collector.start()
        try:
            await collector.ready()
            assert stream.bot_user_id == s.bot.id

            first = await server.post(s.alice, s.group, "one")
            update = await collector.next()
            assert update.kind is UpdateKind.MESSAGE
            assert update.message is not None
            assert update.message.text == "one"
            assert update.user_id == s.alice.id
            assert update.room_kind is RoomKind.PRIVATE
            assert update.seq == stream.last_seq

            # The bot's own messages are not updates for it.
            mine = await api.send_message(s.group, "from the bot")
            # An edit is an EDITED_MESSAGE; a pin of the same message is not an update.
            await server.ok("PATCH", f"{API}/messages/{first['id']}", s.alice, json={"text": "1"})
            edited = await collector.next()
            assert edited.kind is UpdateKind.EDITED_MESSAGE
            assert edited.message is not None
            assert edited.message.text == "1"
            await server.ok("PUT", f"{API}/messages/{first['id']}/pin", s.alice)
            await server.ok("PUT", f"{API}/messages/{mine.id}/reactions/🎉", s.alice)
            reaction = await collector.next()
            assert reaction.kind is UpdateKind.REACTION, reaction
            assert reaction.reaction is not None
            assert reaction.reaction.emoji == "🎉"
            assert reaction.reaction.added

            # The network fails; the server can't be reached for a while.
            proxy.refusing = True
            proxy.cut()
            for text in ("two", "three", "four"):
                await server.post(s.alice, s.group, text)
            dm_message = await server.post(s.alice, s.dm, "in the dm")
            await asyncio.sleep(0.5)  # a failed attempt or two
            assert collector.updates.empty()
            proxy.refusing = False
            await collector.ready(connections=2)
            replayed = [await collector.next() for _ in range(4)]
            assert [u.message.text for u in replayed if u.message] == [
                "two",
                "three",
                "four",
                "in the dm",
            ]
            assert replayed[-1].room_kind is RoomKind.DM
            assert replayed[-1].message is not None
            assert replayed[-1].message.id == dm_message["id"]
            seqs = [u.seq for u in replayed]
            assert seqs == sorted(seqs)
            assert seqs[0] > update.seq

            # Live again; a click arrives as a callback update.
            await server.post(s.alice, s.group, "five")
            assert (await collector.next()).message.text == "five"  # type: ignore[union-attr]
            sent = await api.send_message(s.group, "Press", buttons=[[Button("Go", data="go")]])
            clicked = await click(server, s.alice, sent.id, 0, 0)
            callback = await collector.next()
            assert callback.kind is UpdateKind.CALLBACK
            assert callback.callback is not None
            assert callback.callback.id == clicked["callback_id"]
            assert callback.callback.data == "go"
            assert callback.callback.user_id == s.alice.id
            assert callback.callback.message_id == sent.id

            # A cut while connected, with nothing missed: nothing is repeated.
            proxy.cut()
            await collector.ready(connections=3)
            await server.post(s.alice, s.group, "six")
            assert (await collector.next()).message.text == "six"  # type: ignore[union-attr]
            await asyncio.sleep(0.2)
            assert collector.updates.empty()
        finally:
            await collector.stop()


async def test_stream_member_updates(server: Server) -> None:
    s = await setup(server)
    bob = await server.create_user("bob")
    async with client(server, s.token) as api:
        collector = Collector(EventStream(server.base_url, s.token, api=api))
        collector.start()
        try:
            await collector.ready()
            await server.ok(
                "POST", f"{API}/rooms/{s.group}/members", s.alice, json={"user_id": bob.id}
            )
            update = await collector.next()
            assert update.kind is UpdateKind.MEMBER
            assert update.member is not None
            assert update.member.user_id == bob.id
            assert update.member.joined
            assert update.member.room_kind is RoomKind.PRIVATE
        finally:
            await collector.stop()


async def test_revoked_token_stops_the_stream(server: Server) -> None:
    """4401: a token the server no longer accepts stops the stream with an error; it
    does not retry."""
    s = await setup(server)
    admin = await server.create_user("root", role=UserRole.ADMIN)
    async with client(server, s.token) as api, proxy_to(server) as proxy:
        stream = EventStream(proxy.url, s.token, api=api, initial_backoff=0.1, max_backoff=0.5)
        collector = Collector(stream)
        collector.start()
        try:
            await collector.ready()
            resp = await server.request("DELETE", f"{API}/admin/bots/{s.bot.id}/token", admin)
            assert resp.status_code == 204, resp.text
            proxy.cut()
            assert collector.task is not None
            with pytest.raises(StreamUnauthorized) as info:
                await asyncio.wait_for(collector.task, 10)
            assert info.value.code == 4401
            assert s.bot.token not in str(info.value)
            assert stream.connections == 1
        finally:
            await collector.stop()


async def test_wrong_token_never_connects(server: Server) -> None:
    s = await setup(server)
    bad = BotToken(s.bot.token[:-4] + "AAAA", _source="test")
    async with client(server, s.token) as api:
        stream = EventStream(server.base_url, bad, api=api)

        async def consume() -> None:
            async with asyncio.timeout(10):
                async for _update in stream:
                    pass

        with pytest.raises(StreamUnauthorized):
            await consume()
        await stream.aclose()
