"""Scheduled jobs on plain asyncio (no APScheduler).

::

    job = context.job_queue.run_once(remind, timedelta(minutes=5),
                                     room_id=context.room_id, user_id=context.user_id,
                                     data={"what": "tea"})
    context.job_queue.run_repeating(tick, interval=60, first=0, name="tick")
    context.job_queue.cancel("tick")

A job callback gets a :class:`~redoubt_bot.context.Context` whose ``job`` is the job and
whose ``room_id``/``user_id`` are the job's (so ``context.reply`` works when the job has
a room). A job with a room runs in that room's sequence, like its updates; a failing
job is reported like a failing handler (incident id, generic reply in its room).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from redoubt_bot._compat import override

if TYPE_CHECKING:
    from redoubt_bot.application import Application
    from redoubt_bot.context import Context

__all__ = ["Job", "JobCallback", "JobQueue"]

JobCallback = Callable[["Context"], Awaitable[Any]]

_ids = itertools.count(1)


def _seconds(when: float | timedelta | datetime) -> float:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("use an aware datetime (with a timezone)")
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    if isinstance(when, timedelta):
        return max(0.0, when.total_seconds())
    return max(0.0, float(when))


class Job:
    __slots__ = (
        "_queue",
        "_task",
        "callback",
        "data",
        "first",
        "id",
        "interval",
        "name",
        "removed",
        "room_id",
        "runs",
        "user_id",
    )

    def __init__(
        self,
        queue: JobQueue,
        callback: JobCallback,
        *,
        first: float,
        interval: float | None,
        name: str | None,
        data: Any,
        room_id: str | None,
        user_id: str | None,
    ) -> None:
        self.id = next(_ids)
        self._queue = queue
        self.callback = callback
        self.first = first
        self.interval = interval
        self.name = name if name is not None else getattr(callback, "__qualname__", "job")
        self.data = data
        self.room_id = room_id
        self.user_id = user_id
        self.removed = False
        self.runs = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def lane(self) -> str:
        """What the job's runs are serialised by: its room, else the job itself."""
        return self.room_id if self.room_id is not None else f"\x00job:{self.id}"

    def cancel(self) -> None:
        """Stop the job (a run in progress finishes)."""
        self._queue.remove(self)

    @override
    def __repr__(self) -> str:
        return f"Job({self.name!r}, interval={self.interval!r}, removed={self.removed})"


class JobQueue:
    """Jobs of one :class:`~redoubt_bot.application.Application`. Jobs added before the
    application starts are scheduled when it starts."""

    def __init__(self, app: Application) -> None:
        self._app = app
        self._jobs: dict[int, Job] = {}
        self._running = False

    def run_once(
        self,
        callback: JobCallback,
        when: float | timedelta | datetime,
        *,
        data: Any = None,
        name: str | None = None,
        room_id: str | None = None,
        user_id: str | None = None,
    ) -> Job:
        """Run ``callback`` once, after ``when`` (seconds, timedelta) or at ``when``."""
        return self._add(callback, _seconds(when), None, data, name, room_id, user_id)

    def run_repeating(
        self,
        callback: JobCallback,
        interval: float | timedelta,
        *,
        first: float | timedelta | datetime | None = None,
        data: Any = None,
        name: str | None = None,
        room_id: str | None = None,
        user_id: str | None = None,
    ) -> Job:
        """Run ``callback`` every ``interval``, the first time after ``first`` (default:
        one interval)."""
        every = _seconds(interval)
        if every <= 0:
            raise ValueError("interval must be positive")
        start = every if first is None else _seconds(first)
        return self._add(callback, start, every, data, name, room_id, user_id)

    def _add(  # noqa: PLR0917 - private, called twice
        self,
        callback: JobCallback,
        first: float,
        interval: float | None,
        data: Any,
        name: str | None,
        room_id: str | None,
        user_id: str | None,
    ) -> Job:
        job = Job(
            self,
            callback,
            first=first,
            interval=interval,
            name=name,
            data=data,
            room_id=room_id,
            user_id=user_id,
        )
        self._jobs[job.id] = job
        if self._running:
            self._start(job)
        return job

    def _start(self, job: Job) -> None:
        job._task = asyncio.get_running_loop().create_task(
            self._runner(job), name=f"redoubt_bot job {job.name}"
        )

    async def _runner(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + job.first
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            if job.removed:
                return
            job.runs += 1
            if job.interval is None:
                self._jobs.pop(job.id, None)
                job.removed = True
                self._app.submit_job(job)
                return
            self._app.submit_job(job)
            due += job.interval
            now = loop.time()
            if due < now:  # fell behind (a long pause): skip the missed runs
                due = now + job.interval - ((now - due) % job.interval)

    def remove(self, job: Job) -> None:
        job.removed = True
        self._jobs.pop(job.id, None)
        task = job._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def cancel(self, job_or_name: Job | str) -> int:
        """Cancel a job, or every job with this name; returns how many."""
        if isinstance(job_or_name, Job):
            found = 0 if job_or_name.removed else 1
            self.remove(job_or_name)
            return found
        victims = [j for j in self._jobs.values() if j.name == job_or_name]
        for job in victims:
            self.remove(job)
        return len(victims)

    def jobs(self, name: str | None = None) -> list[Job]:
        """Scheduled jobs (with this name)."""
        return [j for j in self._jobs.values() if name is None or j.name == name]

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        for job in list(self._jobs.values()):
            if job._task is None:
                self._start(job)

    async def stop(self) -> None:
        self._running = False
        tasks = [j._task for j in self._jobs.values() if j._task is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for j in self._jobs.values():
            j._task = None
