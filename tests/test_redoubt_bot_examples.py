"""The ``redoubt_bot`` examples, run as real processes against a real server (issue 6,
part 3): each example is started the way its docstring says (``REDOUBT_URL`` and
``REDOUBT_BOT_TOKEN`` in the environment), people talk to it over the REST API, and
the replies are checked. Each bot process is stopped with SIGTERM and must exit
cleanly, without the token in anything it printed (T1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Bot, EventClient, Server, User

API = "/api/v1"
EXAMPLES = Path(__file__).resolve().parents[1] / "packages" / "redoubt-bot" / "examples"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals")


@dataclass
class BotProcess:
    proc: asyncio.subprocess.Process
    output: bytes = b""


@contextlib.asynccontextmanager
async def running(server: Server, bot: Bot, example: str) -> AsyncIterator[BotProcess]:
    """``example`` running as its own process until the block ends (SIGTERM)."""
    env = {
        **os.environ,
        "REDOUBT_URL": server.base_url,
        "REDOUBT_BOT_TOKEN": bot.token,
        "PYTHONUNBUFFERED": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / example),
        env=env,
        cwd=EXAMPLES,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    handle = BotProcess(proc)
    try:
        await until_online(server, bot, proc)
        yield handle
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            handle.output, _ = await asyncio.wait_for(proc.communicate(), 15)
        except TimeoutError:
            proc.kill()
            handle.output, _ = await proc.communicate()
    assert bot.token not in handle.output.decode(errors="replace")
    assert proc.returncode == 0, handle.output.decode(errors="replace")


async def until_online(server: Server, bot: Bot, proc: asyncio.subprocess.Process) -> None:
    """Wait until the bot's event stream is open (it is in the presence list)."""
    watcher = await server.create_user(f"watcher{os.urandom(3).hex()}")
    for _ in range(300):
        if proc.returncode is not None:
            out = await proc.stdout.read() if proc.stdout else b""
            raise AssertionError(f"the bot exited: {out.decode(errors='replace')}")
        online = await server.ok("GET", f"{API}/presence", watcher)
        if bot.id in online:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the bot never connected")


async def bot_says(events: EventClient, bot: Bot, timeout: float = 10.0) -> dict[str, Any]:
    """The next message (created or updated) by the bot on ``events``."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await events.next_event(timeout)
            if frame["type"] in ("message.created", "message.updated"):
                data: dict[str, Any] = frame["data"]
                if data["author_id"] == bot.id:
                    return data


async def callback_answer(events: EventClient, timeout: float = 10.0) -> dict[str, Any]:
    frame = await events.until("bot.callback_answer", timeout)
    data: dict[str, Any] = frame["data"]
    return data


async def setup(server: Server, *members: str) -> tuple[User, Bot, str, str, list[User]]:
    """alice; others; a bot in her private group (with them); her DM with the bot."""
    alice = await server.create_user("alice")
    others = [await server.create_user(name) for name in members]
    group = await server.room(alice, "team", "private", *others)
    bot = await server.create_bot(alice, "example_bot", group)
    await server.ok("POST", f"{API}/rooms/{group}/members", alice, json={"user_id": bot.id})
    dm = await server.ok("POST", f"{API}/dms", alice, json={"user_ids": [bot.id]})
    return alice, bot, group, str(dm["id"]), others


async def test_echo_bot(server: Server) -> None:
    alice, bot, group, dm, _ = await setup(server)
    async with running(server, bot, "echo_bot.py"), server.events(alice) as events:
        await server.post(alice, dm, "/start")
        assert (await bot_says(events, bot))["text"].startswith("Hello!")
        await server.post(alice, dm, "echo me")
        reply = await bot_says(events, bot)
        assert reply["text"] == "echo me"
        assert reply["room_id"] == dm
        await server.post(alice, group, "in the group")
        reply = await bot_says(events, bot)
        assert (reply["text"], reply["room_id"]) == ("in the group", group)


async def test_buttons_bot_buttons_are_bound_to_the_asker(server: Server) -> None:
    alice, bot, group, _dm, (bob,) = await setup(server, "bob")

    async with (
        running(server, bot, "buttons_bot.py"),
        server.events(alice) as alice_events,
        server.events(bob) as bob_events,
    ):
        await server.post(alice, group, "/vote")
        question = await bot_says(alice_events, bot)
        assert question["text"] == "Tea or coffee?"
        keyboard = question["inline_keyboard"]
        assert [b["text"] for b in keyboard[0]] == ["Tea", "Coffee"]

        async def click(user: User, column: int) -> None:
            await server.ok(
                "POST",
                f"{API}/messages/{question['id']}/buttons",
                user,
                json={"row": 0, "column": column},
            )

        # Bob presses alice's button: refused, nothing counted.
        await click(bob, 0)
        assert (await callback_answer(bob_events))["text"] == "This button isn't for you."
        # Alice presses it: counted, the question edited, the tally posted.
        await click(alice, 0)
        assert (await callback_answer(alice_events))["text"] == "Counted: tea"
        edited = await bot_says(alice_events, bot)
        assert edited["text"] == "You chose tea."
        tally = await bot_says(alice_events, bot)
        assert tally["text"] == "Votes so far: tea: 1"
        # A second press of the same (single-use) button does nothing.
        await click(alice, 0)
        assert "already used" in (await callback_answer(alice_events))["text"]
        await asyncio.sleep(0.3)
        history = await server.ok("GET", f"{API}/rooms/{group}/messages", alice)
        assert [m["text"] for m in history if m["author_id"] == bot.id].count(
            "Votes so far: tea: 1"
        ) == 1
        assert not any("tea: 2" in m["text"] for m in history)


async def test_conversation_bot_three_states(server: Server) -> None:
    alice, bot, _group, dm, _ = await setup(server)
    async with running(server, bot, "conversation_bot.py"), server.events(alice) as events:

        async def say(text: str) -> str:
            await server.post(alice, dm, text)
            return str((await bot_says(events, bot))["text"])

        # Answers out of turn run nothing: no conversation yet.
        await server.post(alice, dm, "yes")
        assert await say("/order") == "What size: small, medium or large?"
        assert await say("huge") == "Please answer small, medium or large."
        assert await say("large") == "Which drink?"
        assert await say("flat white") == "A large flat white. Confirm? (yes/no)"
        assert await say("yes") == "Ordered: large flat white."
        # Over: a stray "yes" doesn't replay the last step.
        await server.post(alice, dm, "yes")
        assert await say("/order") == "What size: small, medium or large?"
        assert await say("/cancel") == "Cancelled."
