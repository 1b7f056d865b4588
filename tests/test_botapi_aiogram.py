"""Contract test: aiogram's own ``examples/echo_bot.py`` runs, unmodified, against
Redoubt (issue 6, part 2).

The example comes from aiogram's source distribution on PyPI (it holds ``examples/``;
the wheel doesn't), downloaded with pip for the installed release and never
committed, and runs in a subprocess through tests/aiogram_runner.py, which injects only
the token (``BOT_TOKEN``) and the base URL. A person DMs the bot through the REST API:
``/start`` gets ``Hello, <b>Alice</b>!`` (HTML parse mode by default), text is copied
back, and a photo comes back too: ``Message.send_copy`` re-sends it by ``file_id``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiogram
import pytest

from redoubt.domain.botapi import escape_markdown
from tests.bot_examples import (
    AIOGRAM_RUNNER,
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


@pytest.fixture(scope="module")
def echo_bot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``examples/echo_bot.py`` of the installed aiogram's sdist."""
    where = tmp_path_factory.mktemp("aiogram-sdist")
    version = aiogram.__version__
    return sdist_examples(where, "aiogram", version, ["echo_bot.py"])["echo_bot.py"]


@pytest.mark.timeout(300)
async def test_aiogram_echo_bot_runs_unmodified(
    server: Server, echo_bot: Path, bot_process: list[asyncio.subprocess.Process], tmp_path: Path
) -> None:
    alice, bot, room_id = await bot_in_dm(server, "aiogram_bot")
    proc, output, log = await start_bot(
        server, bot, AIOGRAM_RUNNER, echo_bot, workdir=tmp_path, started=bot_process
    )

    await server.post(alice, room_id, "/start")
    assert await replies(server, alice, room_id, bot.id, 1) == ["Hello, **Alice**\\!"], log()
    await server.post(alice, room_id, "hello there 😀 (echo)")
    got = await replies(server, alice, room_id, bot.id, 2)
    assert got[1] == escape_markdown("hello there 😀 (echo)"), log()

    photo = png(5, 5)
    upload = await server.upload(alice, room_id, "cat.png", photo, "image/png")
    await server.post(alice, room_id, "", file_ids=[upload["id"]])
    await replies(server, alice, room_id, bot.id, 3)
    history = await server.ok("GET", f"/api/v1/rooms/{room_id}/messages", alice)
    copy = [m for m in history if m["author_id"] == bot.id][-1]
    assert [f["content_type"] for f in copy["files"]] == ["image/png"], log()
    assert copy["files"][0]["id"] != upload["id"]
    resp = await server.request("GET", f"/api/v1/files/{copy['files'][0]['id']}", alice)
    assert resp.content == photo

    await stop_cleanly(proc, output, bot, log)
