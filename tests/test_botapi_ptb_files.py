"""Contract tests: python-telegram-bot's own ``timerbot.py`` and ``conversationbot.py``
run, unmodified, against Redoubt (issue 6, part 2, second slice).

As for echobot (test_botapi_ptb.py): the examples come from the installed release's
source distribution (downloaded with pip, never committed) and run in a subprocess
through tests/ptb_runner.py, which injects only the token and the base URLs.

- timerbot: ``/set 1`` schedules a JobQueue job (the ``[job-queue]`` extra,
  APScheduler) whose ``sendMessage`` arrives a second later.
- conversationbot: ``/start``, the gender typed as the reply keyboard's label, a photo
  (the bot calls getFile and downloads it from ``/file/bot<token>/…`` into
  ``user_photo.jpg``: the test compares the bytes), ``/skip`` for the location, a bio.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import telegram

from redoubt.domain.botapi import render_text
from tests.bot_examples import (
    PTB_RUNNER,
    bot_in_dm,
    bot_process,
    replies,
    sdist_examples,
    start_bot,
    stop_cleanly,
)
from tests.harness import Server
from tests.test_botapi_files import png

__all__ = ["bot_process"]  # the fixture, used here

_EXAMPLES = ("timerbot.py", "conversationbot.py")


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``examples/<name>`` of the installed python-telegram-bot's sdist, by name."""
    where = tmp_path_factory.mktemp("ptb-sdist-files")
    return sdist_examples(where, "python-telegram-bot", telegram.__version__, _EXAMPLES)


@pytest.mark.timeout(300)
async def test_timerbot_runs_unmodified(
    server: Server,
    examples: dict[str, Path],
    bot_process: list[asyncio.subprocess.Process],
    tmp_path: Path,
) -> None:
    alice, bot, room_id = await bot_in_dm(server, "timer_bot")
    proc, output, log = await start_bot(
        server,
        bot,
        PTB_RUNNER,
        examples["timerbot.py"],
        workdir=tmp_path,
        started=bot_process,
        cwd=tmp_path,
    )
    await server.post(alice, room_id, "/set 1")
    got = await replies(server, alice, room_id, bot.id, 2)
    expected = ["Timer successfully set!", "Beep! 1.0 seconds are over!"]
    assert got == [render_text(text, None) for text in expected], log()
    await stop_cleanly(proc, output, bot, log)


@pytest.mark.timeout(300)
async def test_conversationbot_runs_unmodified(
    server: Server,
    examples: dict[str, Path],
    bot_process: list[asyncio.subprocess.Process],
    tmp_path: Path,
) -> None:
    alice, bot, room_id = await bot_in_dm(server, "conversation_bot")
    proc, output, log = await start_bot(
        server,
        bot,
        PTB_RUNNER,
        examples["conversationbot.py"],
        workdir=tmp_path,
        started=bot_process,
        cwd=tmp_path,
    )
    photo = png(4, 3)
    answers = [
        "Hi! My name is Professor Bot. I will hold a conversation with you. "
        "Send /cancel to stop talking to me.\n\nAre you a boy or a girl?",
        "I see! Please send me a photo of yourself, "
        "so I know what you look like, or send /skip if you don't want to.",
        "Gorgeous! Now, send me your location please, or send /skip if you don't want to.",
        "You seem a bit paranoid! At last, tell me something about yourself.",
        "Thank you! I hope we can talk again some day.",
    ]
    expected = [render_text(text, None) for text in answers]

    await server.post(alice, room_id, "/start")
    assert await replies(server, alice, room_id, bot.id, 1) == expected[:1], log()
    # The reply keyboard's label, sent as an ordinary message (what a tap does).
    await server.post(alice, room_id, "Boy")
    assert await replies(server, alice, room_id, bot.id, 2) == expected[:2], log()
    upload = await server.upload(alice, room_id, "me.png", photo, "image/png")
    await server.post(alice, room_id, "", file_ids=[upload["id"]])
    assert await replies(server, alice, room_id, bot.id, 3) == expected[:3], log()
    # The bot fetched the photo through getFile and the file route.
    assert (tmp_path / "user_photo.jpg").read_bytes() == photo
    await server.post(alice, room_id, "/skip")
    assert await replies(server, alice, room_id, bot.id, 4) == expected[:4], log()
    await server.post(alice, room_id, "I like long walks.")
    assert await replies(server, alice, room_id, bot.id, 5) == expected, log()
    await stop_cleanly(proc, output, bot, log)
