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

from botfakes import ALICE, FakeUpdates, make_app, msg
from redoubt_bot import Context, MessageHandler, Update, everyone, filters

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
