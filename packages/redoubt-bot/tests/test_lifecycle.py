"""run(): SIGTERM stops cleanly, queued work finishes, persistence is flushed; the
reader pauses when too many updates are pending."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from botfakes import ALICE, FakeUpdates, make_app, msg
from redoubt_bot import (
    ApplicationBuilder,
    BotToken,
    Context,
    EventStream,
    JsonPersistence,
    MessageHandler,
    Update,
    everyone,
    filters,
)

_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from botfakes import FakeApi, FakeUpdates, msg
    from redoubt_bot import ApplicationBuilder, JsonPersistence, MessageHandler, everyone, filters

    updates = FakeUpdates()
    updates.put(msg("one"), msg("two"))  # never closed: only a signal ends run()
    app = (
        ApplicationBuilder().api(FakeApi()).updates(updates).bot_user_id("999")
        .persistence(JsonPersistence({path!r}), flush_interval=3600).build()
    )

    async def note(update, context):
        context.user_data.setdefault("seen", []).append(update.message.text)
        if len(context.user_data["seen"]) == 2:
            print("ready", flush=True)

    app.add_handler(MessageHandler(filters.TEXT, note, allow=everyone()))
    app.run()
    print("stopped", flush=True)
    """
)


def test_sigterm_stops_run_and_flushes(tmp_path: Path) -> None:
    path = tmp_path / "bot.json"
    script = _SCRIPT.format(tests=str(Path(__file__).parent), path=str(path))
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        assert not path.exists()  # only the shutdown flush writes (flush_interval=3600)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == "stopped"
    doc = json.loads(path.read_text())
    assert doc["data"]["user_data"] == {ALICE: {"seen": ["one", "two"]}}


async def test_reader_pauses_when_too_many_pending() -> None:
    updates = FakeUpdates()
    app, _ = make_app(updates=updates)
    app._max_pending = 3
    gate = asyncio.Event()
    done: list[str] = []

    async def slow(update: Update, context: Context) -> None:
        await gate.wait()
        done.append(update.message.text)  # type: ignore[union-attr]

    app.add_handler(MessageHandler(filters.TEXT, slow, allow=everyone()))
    for i in range(10):
        updates.put(msg(str(i), room=str(300 + i)))
    updates.close()
    async with app:
        runner = asyncio.create_task(app.run_async())
        for _ in range(200):
            if app._pending >= 3:
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)
        assert app._pending == 3  # the reader waits instead of queueing all 10
        gate.set()
        await asyncio.wait_for(runner, 5)
    assert sorted(done, key=int) == [str(i) for i in range(10)]


async def test_the_processed_position_is_saved_and_a_new_stream_resumes_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The saved position is one below the oldest update still in flight (another
    room's later update finishing first doesn't move it past a slow one), and a
    restarted bot's event stream resumes after it."""
    release = asyncio.Event()
    fast_done = asyncio.Event()

    async def handle(update: Update, context: Context) -> None:
        assert update.message is not None
        if update.message.text == "slow":
            await release.wait()
        else:
            fast_done.set()

    store = tmp_path / "bot.json"
    source = FakeUpdates()
    app, _api = make_app(persistence=JsonPersistence(store), updates=source)
    app.add_handler(MessageHandler(filters.TEXT, handle, allow=everyone()))
    slow, fast, later = msg("slow", room="1"), msg("fast", room="2"), msg("slow", room="3")
    async with app:
        runner = asyncio.create_task(app.run_async())
        source.put(slow, fast, later)
        await asyncio.wait_for(fast_done.wait(), 5)
        await asyncio.sleep(0)  # let the fast lane finish its bookkeeping
        assert app.processed_position == slow.seq - 1  # the slow one holds it back
        release.set()
        source.close()
        await runner
        assert app.processed_position == later.seq
    assert json.loads(store.read_text())["data"]["stream"] == {"position": later.seq}

    # A restart: the builder's event stream (not connected yet) resumes after it.
    monkeypatch.setenv("REDOUBT_BOT_TOKEN", "1234:" + "a" * 43)
    restarted = (
        ApplicationBuilder()
        .token(BotToken.from_env("REDOUBT_BOT_TOKEN"))
        .base_url("http://127.0.0.1:9")
        .persistence(JsonPersistence(store))
        .build()
    )
    async with restarted:
        assert isinstance(restarted.updates, EventStream)
        assert restarted.updates.last_seq == later.seq
