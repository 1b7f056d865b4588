"""Fire-and-forget work that must not be lost on shutdown.

A request that starts slow work it doesn't wait for (sending a mail) hands it here. The
tasks are referenced until they finish (asyncio keeps only weak references to tasks, so
an unreferenced one can vanish mid-flight), their failures are logged rather than
ignored, and stopping the server waits for them, up to a limit, before the database
closes under them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from redoubt.core.logging import get_logger

__all__ = ["BackgroundJobs", "PeriodicFlush"]

log = get_logger(__name__)


class BackgroundJobs:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def spawn(self, job: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run ``job`` in the background. After :meth:`close`, it is dropped (closed
        without running): the server is going away."""
        if self._closed:
            job.close()
            log.warning("background.dropped", job=name)
            return
        task = asyncio.create_task(self._run(job, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(job: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await job
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The class only: a message may quote data the job was handling.
            log.error("background.failed", job=name, error=type(exc).__name__)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def idle(self) -> None:
        """Wait until every job started so far (and any they start) has finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self, grace_seconds: float = 10.0) -> None:
        """Refuse new jobs, give the running ones ``grace_seconds``, cancel the rest."""
        self._closed = True
        if not self._tasks:
            return
        _done, late = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in late:
            task.cancel()
        if late:
            log.warning("background.cancelled", jobs=len(late))
            await asyncio.wait(late)


class PeriodicFlush:
    """Counters kept in memory and written every ``interval()`` seconds (or at once when
    :meth:`wake` is called), once more when stopped, plus an hourly ``prune``. A failed
    round is logged and retried at the next; the work itself keeps what it couldn't
    write. Shared by per-token request counts and per-bot activity."""

    PRUNE_EVERY_SECONDS = 3600.0

    def __init__(
        self,
        name: str,
        *,
        interval: Callable[[], float],
        flush: Callable[[], Awaitable[None]],
        prune: Callable[[], Awaitable[object]] | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        self._name = name
        self._interval = interval
        self._flush = flush
        self._prune = prune
        self._task: asyncio.Task[None] | None = None
        self._wake = wake if wake is not None else asyncio.Event()

    def wake(self) -> None:
        """Flush now rather than at the next interval."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._flush()

    async def _run(self) -> None:
        pruned_at = -self.PRUNE_EVERY_SECONDS
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval())
            self._wake.clear()
            try:
                await self._flush()
                if self._prune is not None and (
                    time.monotonic() - pruned_at >= self.PRUNE_EVERY_SECONDS
                ):
                    pruned_at = time.monotonic()
                    await self._prune()
            except Exception:
                log.exception(f"{self._name}_failed")
