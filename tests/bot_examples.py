"""Shared setup for the contract tests that run a library's own example bot, unmodified,
against a Redoubt server (test_botapi_ptb*.py, test_botapi_aiogram.py).

The examples come from the installed release's source distribution (``pip download
--no-binary``; never committed) and run in a subprocess through tests/ptb_runner.py or
tests/aiogram_runner.py, which inject only the token and the base URL (from the
environment, never the command line).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest_asyncio

from redoubt.core.logging import redact_text
from tests.harness import Bot, Server, User

PTB_RUNNER = Path(__file__).with_name("ptb_runner.py")
AIOGRAM_RUNNER = Path(__file__).with_name("aiogram_runner.py")


def sdist_examples(
    where: Path, distribution: str, version: str, names: Iterable[str]
) -> dict[str, Path]:
    """``examples/<name>`` of ``distribution==version``'s sdist, written to ``where``, by
    name."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"{distribution}=={version}",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--quiet",
            "-d",
            str(where),
        ],
        check=True,
        timeout=240,
    )
    stem = distribution.replace("-", "_")
    (archive,) = where.glob(f"{stem}-*.tar.gz")
    out = {}
    with tarfile.open(archive) as tar:
        for name in names:
            source = tar.extractfile(f"{stem}-{version}/examples/{name}")
            assert source is not None
            out[name] = where / name
            out[name].write_bytes(source.read())
    return out


@pytest_asyncio.fixture
async def bot_process() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """Bot subprocesses a test started, stopped at its end whatever happened."""
    started: list[asyncio.subprocess.Process] = []
    yield started
    for proc in started:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def bot_in_dm(server: Server, username: str) -> tuple[User, Bot, str]:
    """Alice, a bot ``username`` she owns and the id of their DM room."""
    alice = await server.create_user("alice")
    bot = await server.create_bot(alice, username)
    dm = await server.ok("POST", "/api/v1/dms", alice, json={"user_ids": [bot.id]})
    return alice, bot, str(dm["id"])


async def start_bot(
    server: Server,
    bot: Bot,
    runner: Path,
    example: Path,
    *,
    workdir: Path,
    started: list[asyncio.subprocess.Process],
    cwd: Path | None = None,
) -> tuple[asyncio.subprocess.Process, Path, Callable[[], str]]:
    """Run ``example`` through ``runner`` as ``bot``, its output in ``workdir``; the
    process, its output file and a redacted tail of that output for failure messages."""
    output = workdir / f"{example.stem}.log"
    env = {**os.environ, "REDOUBT_BOT_TOKEN": bot.token, "REDOUBT_BASE_URL": server.base_url}
    with output.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(runner),
            str(example),
            env=env,
            stdout=sink,
            stderr=sink,
            cwd=cwd,
        )
    started.append(proc)

    def log() -> str:
        return redact_text(output.read_text(errors="replace"))[-4000:]

    return proc, output, log


async def replies(server: Server, user: User, room_id: str, bot_id: str, count: int) -> list[Any]:
    """Wait until the bot has posted ``count`` messages in the room; their texts."""
    for _ in range(200):
        history = await server.ok("GET", f"/api/v1/rooms/{room_id}/messages", user)
        mine = [m["text"] for m in history if m["author_id"] == bot_id]
        if len(mine) >= count:
            return mine
        await asyncio.sleep(0.1)
    return mine


async def stop_cleanly(
    proc: asyncio.subprocess.Process, output: Path, bot: Bot, log: Callable[[], str]
) -> None:
    """Stop the still running bot: it exits 0 with no error and no token in its output.

    PTB confirms the last updates with one more getUpdates on the way out (the server
    runs in this event loop, so wait without blocking it)."""
    assert proc.returncode is None, log()
    proc.terminate()
    assert await asyncio.wait_for(proc.wait(), 15) == 0, log()
    text = await asyncio.to_thread(output.read_text, errors="replace")
    assert "ERROR" not in text, log()
    assert "Traceback" not in text, log()
    assert bot.token.partition(":")[2] not in text
