"""Contract test: python-telegram-bot's own ``inlinekeyboard.py`` runs, unmodified,
against Redoubt (issue 6, part 2, second slice).

As for echobot (test_botapi_ptb.py): the example comes from the installed release's
source distribution and runs through tests/ptb_runner.py. A person DMs ``/start``, gets
the three-button keyboard, clicks "Option 3" through the REST API, hears the bot's
answer (``bot.callback_answer``) and sees the message edited to "Selected option: 3"
with the keyboard gone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import telegram

from tests.bot_examples import (
    PTB_RUNNER,
    bot_in_dm,
    bot_process,
    replies,
    sdist_examples,
    start_bot,
    stop_cleanly,
)
from tests.harness import Server, User

__all__ = ["bot_process"]  # the fixture, used here


@pytest.fixture(scope="module")
def inlinekeyboard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``examples/inlinekeyboard.py`` of the installed python-telegram-bot's sdist."""
    where = tmp_path_factory.mktemp("ptb-sdist-inline")
    version = telegram.__version__
    name = "inlinekeyboard.py"
    return sdist_examples(where, "python-telegram-bot", version, [name])[name]


async def message_until(server: Server, user: User, message_id: str, text: str) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for _ in range(200):
        view = await server.ok("GET", f"/api/v1/messages/{message_id}", user)
        if view["text"] == text:
            return view
        await asyncio.sleep(0.1)
    return view


@pytest.mark.timeout(300)
async def test_inlinekeyboard_runs_unmodified(
    server: Server,
    inlinekeyboard: Path,
    bot_process: list[asyncio.subprocess.Process],
    tmp_path: Path,
) -> None:
    alice, bot, room_id = await bot_in_dm(server, "inline_bot")
    proc, output, log = await start_bot(
        server, bot, PTB_RUNNER, inlinekeyboard, workdir=tmp_path, started=bot_process
    )

    await server.post(alice, room_id, "/start")
    got = await replies(server, alice, room_id, bot.id, 1)
    assert got == ["Please choose:"], log()
    history = await server.ok("GET", f"/api/v1/rooms/{room_id}/messages", alice)
    (keyboard_message,) = [m for m in history if m["author_id"] == bot.id]
    assert keyboard_message["inline_keyboard"] == [
        [
            {"text": "Option 1", "kind": "callback", "url": None},
            {"text": "Option 2", "kind": "callback", "url": None},
        ],
        [{"text": "Option 3", "kind": "callback", "url": None}],
    ], log()

    async with server.events(alice) as stream:
        clicked = await server.ok(
            "POST",
            f"/api/v1/messages/{keyboard_message['id']}/buttons",
            alice,
            json={"row": 1, "column": 0},
        )
        answer = await stream.until("bot.callback_answer", timeout=30)
        assert answer["data"] == {
            "callback_id": clicked["callback_id"],
            "text": None,
            "show_alert": False,
        }
    view = await message_until(server, alice, keyboard_message["id"], "Selected option: 3")
    assert view["text"] == "Selected option: 3", log()
    assert view["inline_keyboard"] is None
    assert view["edited_at"] is not None
    await stop_cleanly(proc, output, bot, log)
