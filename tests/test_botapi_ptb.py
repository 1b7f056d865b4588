"""Contract test: python-telegram-bot's own ``echobot.py`` runs, unmodified, against
Redoubt (issue 6, part 2).

The example comes from the source distribution of the installed release (``pip
download --no-binary``; never committed) and runs in a subprocess through
tests/ptb_runner.py, which injects only the token and the base URLs. A person DMs the
bot through the REST API: ``/start`` gets the greeting (sent with ``parse_mode=HTML``,
a ``tg://user`` mention and a ``ForceReply`` markup), ``/help`` its answer, and text
comes back as an echo.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import telegram

from redoubt.domain.botapi import escape_markdown
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

__all__ = ["bot_process"]  # the fixture, used here


@pytest.fixture(scope="module")
def echobot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``examples/echobot.py`` of the installed python-telegram-bot's sdist."""
    where = tmp_path_factory.mktemp("ptb-sdist")
    version = telegram.__version__
    return sdist_examples(where, "python-telegram-bot", version, ["echobot.py"])["echobot.py"]


@pytest.mark.timeout(300)
async def test_echobot_runs_unmodified(
    server: Server, echobot: Path, bot_process: list[asyncio.subprocess.Process], tmp_path: Path
) -> None:
    alice, bot, room_id = await bot_in_dm(server, "echo_bot")
    proc, output, log = await start_bot(
        server, bot, PTB_RUNNER, echobot, workdir=tmp_path, started=bot_process
    )

    await server.post(alice, room_id, "/start")
    got = await replies(server, alice, room_id, bot.id, 1)
    assert got == ["Hi Alice\\!"], log()
    await server.post(alice, room_id, "/help")
    await server.post(alice, room_id, "hello there 😀 (echo)")
    got = await replies(server, alice, room_id, bot.id, 3)
    assert got == ["Hi Alice\\!", "Help\\!", escape_markdown("hello there 😀 (echo)")], log()
    await stop_cleanly(proc, output, bot, log)
