"""JobQueue: run_once, run_repeating, cancel, room context, errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from botfakes import ALICE, ROOM, make_app
from redoubt_bot import Context


async def test_run_once_with_room_context() -> None:
    app, api = make_app()
    seen: list[object] = []

    async def remind(context: Context) -> None:
        assert context.job is not None
        seen.append((context.job.data, context.user_id))
        context.user_data["reminded"] = True
        await context.reply("tea!")

    async with app:
        app.job_queue.run_once(
            remind, timedelta(milliseconds=10), data="tea", room_id=ROOM, user_id=ALICE
        )
        await asyncio.sleep(0.05)
        await app.join()
    assert seen == [("tea", ALICE)]
    assert api.texts == ["tea!"]
    assert app.user_data[ALICE] == {"reminded": True}
    assert app.job_queue.jobs() == []


async def test_jobs_added_before_start_run_after_start() -> None:
    app, _ = make_app()
    runs: list[int] = []

    async def tick(context: Context) -> None:
        runs.append(1)

    app.job_queue.run_once(tick, 0)
    await asyncio.sleep(0.02)
    assert runs == []
    async with app:
        await asyncio.sleep(0.02)
        await app.join()
    assert runs == [1]


async def test_run_repeating_and_cancel() -> None:
    app, _ = make_app()
    runs: list[int] = []

    async def tick(context: Context) -> None:
        runs.append(1)

    async with app:
        job = app.job_queue.run_repeating(tick, 0.01, first=0, name="tick")
        await asyncio.sleep(0.1)
        assert app.job_queue.cancel("tick") == 1
        n = len(runs)
        await asyncio.sleep(0.03)
        await app.join()
    assert 3 <= n <= 12
    assert len(runs) == n
    assert job.removed


async def test_failing_job_reports_an_incident() -> None:
    app, api = make_app()

    async def boom(context: Context) -> None:
        raise RuntimeError("secret-value")

    async with app:
        app.job_queue.run_once(boom, 0, room_id=ROOM)
        await asyncio.sleep(0.02)
        await app.join()
    assert len(api.texts) == 1
    assert api.texts[0].startswith("Something went wrong (incident ")
    assert "secret" not in api.texts[0]


async def test_shutdown_cancels_pending_jobs() -> None:
    app, _ = make_app()
    runs: list[int] = []

    async def later(context: Context) -> None:
        runs.append(1)

    async with app:
        app.job_queue.run_once(later, 10)
    await asyncio.sleep(0.01)
    assert runs == []


def test_when_validation() -> None:
    app, _ = make_app()

    async def noop(context: Context) -> None:
        return None

    with pytest.raises(ValueError, match="aware"):
        app.job_queue.run_once(noop, datetime(2030, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="positive"):
        app.job_queue.run_repeating(noop, 0)
    job = app.job_queue.run_once(noop, datetime.now(UTC) + timedelta(hours=1))
    job.cancel()
    assert app.job_queue.jobs() == []
