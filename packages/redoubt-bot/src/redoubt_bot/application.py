"""The application: handler registry, dispatch, persistence, jobs, and the run loop.

::

    app = (
        ApplicationBuilder()
        .token(BotToken.from_env("REDOUBT_BOT_TOKEN"))
        .base_url("http://127.0.0.1:8000")
        .persistence(SqlitePersistence("bot.db"))
        .concurrency(16)
        .build()
    )
    app.add_handler(CommandHandler("start", start, allow=everyone()))
    app.run()

Updates of one room are processed one at a time, in order; at most ``concurrency``
updates are processed at once overall.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, Final

from redoubt_bot.callbacks import NOTICES, CallbackStatus, CallbackStore
from redoubt_bot.client import ApiClient, BotApi
from redoubt_bot.context import Context
from redoubt_bot.conversation import ConversationHandler, TimeoutCallback
from redoubt_bot.errors import (
    AccessPolicyMissing,
    StopPropagation,
    generic_error_text,
    logger,
    new_incident_id,
)
from redoubt_bot.handlers import Handler
from redoubt_bot.jobs import Job, JobQueue
from redoubt_bot.persistence import (
    BOT_DATA,
    CALLBACKS,
    CHAT_DATA,
    STREAM,
    USER_DATA,
    MemoryPersistence,
    Persistence,
    conversation_namespace,
)
from redoubt_bot.secrets import BotToken, install_redaction
from redoubt_bot.stream import EventStream
from redoubt_bot.types import Update, UpdateKind

__all__ = ["Application", "ApplicationBuilder", "ErrorHandler"]

ErrorHandler = Callable[[Update | None, Context], Awaitable[Any]]

_MESSAGE: Final = UpdateKind.MESSAGE
_CALLBACK: Final = UpdateKind.CALLBACK
_OK: Final = CallbackStatus.OK
_BOT_KEY: Final = "bot"
_POSITION_KEY: Final = "position"

Plan = tuple[tuple[Handler, ...], ...]


class _JobRun:
    __slots__ = ("job",)

    def __init__(self, job: Job) -> None:
        self.job = job


class _TimeoutRun:
    __slots__ = ("callback", "update")

    def __init__(self, callback: TimeoutCallback, update: Update) -> None:
        self.callback = callback
        self.update = update


_Item = Update | _JobRun | _TimeoutRun


class Application:
    """Build it with :class:`ApplicationBuilder`."""

    def __init__(
        self,
        *,
        api: BotApi,
        updates: AsyncIterable[Update] | None = None,
        persistence: Persistence | None = None,
        concurrency: int = 16,
        bot_user_id: str | None = None,
        flush_interval: float | None = None,
        drain_timeout: float = 10.0,
        max_pending: int = 10_000,
        owns_api: bool = False,
        owns_updates: bool = False,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.api = api
        self.updates = updates
        self.persistence: Persistence = persistence or MemoryPersistence()
        self.concurrency = concurrency
        self._me = bot_user_id or ""
        self._flush_interval = flush_interval
        self._drain_timeout = drain_timeout
        self._max_pending = max_pending
        self._owns_api = owns_api
        self._owns_updates = owns_updates
        self.job_queue = JobQueue(self)
        self.callbacks = CallbackStore(self._callback_dirty)
        self.user_data: dict[str, dict[str, Any]] = {}
        self.chat_data: dict[str, dict[str, Any]] = {}
        self.bot_data: dict[str, Any] = {}
        self._groups: dict[int, list[Handler]] = {}
        self._error_handlers: list[ErrorHandler] = []
        self._conversations: dict[str, ConversationHandler] = {}
        self._all_conversations: list[ConversationHandler] = []
        self._needs_role = False
        # Dispatch plans: per update kind, and per command name, the handlers of each
        # group (in group order) that could match. Rebuilt on registration.
        self._by_kind: dict[UpdateKind, Plan] = {}
        self._by_command: dict[str, Plan] = {}
        self._plain_messages: Plan = ()
        # Persistence bookkeeping: (namespace, key) changed since the last flush.
        self._dirty: set[tuple[str, str]] = set()
        self._flush_lock = asyncio.Lock()
        # Written after every update once loaded (a store written before it was loaded
        # would lose what it held).
        self._write_through = False
        self._loaded = False
        # Run state.
        self._initialized = False
        self._sem = asyncio.Semaphore(concurrency)
        self._lanes: dict[str, deque[_Item]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._stop: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None
        # The stream position every update up to which has been processed (persisted,
        # so a restarted bot resumes there): updates in other rooms' lanes may finish
        # out of order, so it is one below the oldest still in flight.
        self._in_flight: set[int] = set()
        self._read_upto = 0

    # -- registration --------------------------------------------------------------------

    def add_handler(self, handler: Handler, group: int = 0) -> None:
        """Register ``handler`` in ``group`` (lower groups run first)."""
        if not isinstance(handler, Handler):
            raise TypeError(f"{handler!r} is not a handler")
        for policy in handler.policies():
            if policy is None:  # pragma: no cover - Handler.__init__ refuses it first
                raise AccessPolicyMissing(f"{handler!r} has no allow= policy")
        if isinstance(handler, ConversationHandler):
            if handler.name is not None:
                if handler.name in self._conversations:
                    raise ValueError(f"two conversations named {handler.name!r}")
                self._conversations[handler.name] = handler
            handler.attach(self)
            self._all_conversations.append(handler)
        self._groups.setdefault(group, []).append(handler)
        self._rebuild()

    def add_handlers(self, handlers: list[Handler], group: int = 0) -> None:
        for h in handlers:
            self.add_handler(h, group)

    def remove_handler(self, handler: Handler, group: int = 0) -> None:
        self._groups[group].remove(handler)
        if not self._groups[group]:
            del self._groups[group]
        if isinstance(handler, ConversationHandler):
            self._all_conversations.remove(handler)
            if handler.name is not None:
                self._conversations.pop(handler.name, None)
        self._rebuild()

    def add_error_handler(self, callback: ErrorHandler) -> None:
        """``callback(update_or_None, context)`` runs after a handler or job fails, with
        ``context.error`` and ``context.incident_id`` set."""
        self._error_handlers.append(callback)

    def _rebuild(self) -> None:
        groups = [self._groups[g] for g in sorted(self._groups)]
        self._needs_role = any(p.needs_role() for hs in groups for h in hs for p in h.policies())

        def plan(pick: Callable[[Handler], bool]) -> Plan:
            out = []
            for hs in groups:
                chosen = tuple(h for h in hs if pick(h))
                if chosen:
                    out.append(chosen)
            return tuple(out)

        def of_kind(kind: UpdateKind) -> Callable[[Handler], bool]:
            return lambda h: kind in h.kinds

        def for_command(name: str) -> Callable[[Handler], bool]:
            return lambda h: _MESSAGE in h.kinds and (h.commands is None or name in h.commands)

        self._by_kind = {k: plan(of_kind(k)) for k in UpdateKind}
        self._plain_messages = plan(lambda h: _MESSAGE in h.kinds and h.commands is None)
        names = {c for hs in groups for h in hs if h.commands for c in h.commands}
        self._by_command = {name: plan(for_command(name)) for name in names}

    # -- data ----------------------------------------------------------------------------

    @property
    def bot_user_id(self) -> str:
        """The bot's own user id (from the builder, the token, or the stream)."""
        if not self._me:
            found = getattr(self.updates, "bot_user_id", None)
            if found:
                self._me = str(found)
        return self._me

    def user_data_for(self, user_id: str) -> dict[str, Any]:
        self._dirty.add((USER_DATA, user_id))
        d = self.user_data.get(user_id)
        if d is None:
            d = self.user_data[user_id] = {}
        return d

    def chat_data_for(self, room_id: str) -> dict[str, Any]:
        self._dirty.add((CHAT_DATA, room_id))
        d = self.chat_data.get(room_id)
        if d is None:
            d = self.chat_data[room_id] = {}
        return d

    def bot_data_for(self) -> dict[str, Any]:
        self._dirty.add((BOT_DATA, _BOT_KEY))
        return self.bot_data

    def _callback_dirty(self, token: str) -> None:
        self._dirty.add((CALLBACKS, token))

    def mark_conversation_dirty(self, conv: ConversationHandler, key: str) -> None:
        if conv.name is not None:
            self._dirty.add((conversation_namespace(conv.name), key))

    def request_flush(self) -> None:
        """Flush soon (from outside an update: timers)."""
        if self._write_through and self._initialized:
            task = asyncio.get_running_loop().create_task(self.flush())
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    def _value_of(self, ns: str, key: str) -> tuple[bool, Any]:
        """Whether ``key`` of namespace ``ns`` exists now, and its value."""
        if ns == USER_DATA:
            return key in self.user_data, self.user_data.get(key)
        if ns == CHAT_DATA:
            return key in self.chat_data, self.chat_data.get(key)
        if ns in (BOT_DATA, STREAM):
            return True, self.bot_data if ns == BOT_DATA else self.processed_position
        if ns == CALLBACKS:
            rec = self.callbacks.records.get(key)
            return rec is not None, rec
        conv = self._conversations.get(ns.partition(":")[2])
        value = conv.snapshot_value(key) if conv is not None else None
        return value is not None, value

    async def flush(self) -> None:
        """Write what changed to the persistence backend."""
        if not self._dirty:
            return
        if not self._loaded:
            raise RuntimeError("load the data first: `async with app:` or app.initialize()")
        async with self._flush_lock:
            dirty, self._dirty = self._dirty, set()
            try:
                await self._write(dirty)
            except BaseException:
                self._dirty |= dirty  # retried by the next flush
                raise

    async def _write(self, dirty: set[tuple[str, str]]) -> None:
        upserts: dict[str, dict[str, Any]] = {}
        deletes: dict[str, set[str]] = {}
        for ns, key in dirty:
            present, value = self._value_of(ns, key)
            if present and value is not None and (value or ns not in (USER_DATA, CHAT_DATA)):
                upserts.setdefault(ns, {})[key] = value
            else:
                deletes.setdefault(ns, set()).add(key)
        try:
            await self.persistence.apply(upserts, deletes)
        except (TypeError, ValueError):
            # A handler stored something that isn't JSON: drop that key, keep the rest.
            incident = new_incident_id()
            bad = []
            for ns, d in upserts.items():
                for key, value in list(d.items()):
                    try:
                        json.dumps(value, allow_nan=False)
                    except (TypeError, ValueError):
                        del d[key]
                        bad.append(f"{ns}/{key}")
            logger.exception(
                "Persisting bot data failed: not JSON-serialisable: %s (incident %s); "
                "the rest is saved",
                ", ".join(sorted(bad)),
                incident,
            )
            await self.persistence.apply(upserts, deletes)

    async def _load(self) -> None:
        snap = await self.persistence.load()
        self.user_data = {k: v for k, v in snap.get(USER_DATA, {}).items() if isinstance(v, dict)}
        self.chat_data = {k: v for k, v in snap.get(CHAT_DATA, {}).items() if isinstance(v, dict)}
        bot = snap.get(BOT_DATA, {}).get(_BOT_KEY)
        self.bot_data = bot if isinstance(bot, dict) else {}
        self.callbacks.load(snap.get(CALLBACKS, {}))
        for name, conv in self._conversations.items():
            conv.load(snap.get(conversation_namespace(name), {}))
        position = snap.get(STREAM, {}).get(_POSITION_KEY)
        if isinstance(position, int) and position > 0:
            self._read_upto = position
            if isinstance(self.updates, EventStream) and self.updates.last_seq is None:
                # Resume where the last run stopped. Updates of other rooms processed
                # after that point come again (at least once, never lost).
                self.updates.last_seq = position

    @property
    def processed_position(self) -> int:
        """The stream position up to which every update has been processed."""
        if self._in_flight:
            return min(self._in_flight) - 1
        return self._read_upto

    # -- dispatch ------------------------------------------------------------------------

    async def process_update(self, update: Update) -> None:
        """Dispatch one update to the handlers (in this task). Never raises for a
        handler's error: that is reported (incident id, log, error handlers, generic
        reply)."""
        try:
            await self._dispatch(update)
        except Exception as exc:  # a bug outside handlers (a filter, the API)
            await self._report(exc, update, None, None)
        if self._write_through and self._dirty:
            try:
                await self.flush()
            except Exception:
                logger.exception("Persisting bot data failed")

    async def _dispatch(self, update: Update) -> None:
        me = self._me or self.bot_user_id
        if me and update.user_id == me:
            return  # never react to ourselves
        kind = update.kind
        hint: Any = None
        if kind is _MESSAGE:
            msg = update.message
            text = msg.text if msg is not None else ""
            if text[:1] == "/" and len(text) > 1:
                hint = text[1:].split(None, 1)[0].lower()
                plan = self._by_command.get(hint) or self._plain_messages
            else:
                plan = self._plain_messages
        elif kind is _CALLBACK:
            cq = update.callback
            if cq is None:
                return
            status, hint = self.callbacks.resolve(cq.data, update.user_id, update.room_id)
            if status is not _OK:
                logger.info(
                    "Refused a button click by user %s in room %s: %s",
                    update.user_id,
                    update.room_id,
                    status.value,
                )
                await self._answer_quietly(cq.id, NOTICES[status])
                return
            if self._write_through and self._dirty:
                await self.flush()  # a used single-use token stays used after a crash
            plan = self._by_kind[_CALLBACK]
            ctx = await self._run_plan(plan, update, hint, me, hint)
            if ctx is None or not ctx.answered:
                await self._answer_quietly(cq.id, None)
            return
        else:
            plan = self._by_kind[kind]
        if plan:
            await self._run_plan(plan, update, hint, me, None)

    async def _run_plan(
        self, plan: Plan, update: Update, hint: Any, me: str, payload: Any
    ) -> Context | None:
        role: str | None = None
        if self._needs_role:
            role = await self._role_of(update.user_id)
        ran: Context | None = None
        for handlers in plan:
            for h in handlers:
                m = h.check(update, hint, me, role)
                if m is None:
                    continue
                if not h.allow.allows(update, role):
                    logger.debug("Access denied: %r for user %s", h, update.user_id)
                    continue
                ctx = Context(self, update, update.room_id, update.user_id, m, payload)
                ran = ctx
                try:
                    await h.handle(update, ctx, m)
                except StopPropagation:
                    return ran
                except Exception as exc:
                    await self._report(exc, update, ctx, h)
                    return ran
                break
        return ran

    async def _answer_quietly(self, callback_id: str, text: str | None) -> None:
        """Answer a click; a failure (already answered by the handler through the API,
        network) is only logged: the click itself was handled."""
        try:
            await self.api.answer_callback(callback_id, text=text)
        except Exception as exc:
            logger.debug("Could not answer callback %s: %s", callback_id, type(exc).__name__)

    async def _role_of(self, user_id: str) -> str | None:
        try:
            return await self.api.get_user_role(user_id)
        except Exception as exc:  # no users:read scope, network: deny role policies
            logger.warning("Could not look up the role of user %s: %s", user_id, type(exc).__name__)
            return None

    async def _report(
        self,
        exc: BaseException,
        update: Update | None,
        ctx: Context | None,
        source: object,
    ) -> None:
        incident = new_incident_id()
        logger.error(
            "%s failed on %s (incident %s)",
            repr(source) if source is not None else "Dispatch",
            f"update {update.seq} ({update.kind.value}) in room {update.room_id}"
            if update is not None
            else "a job",
            incident,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        if ctx is None:
            ctx = Context(
                self,
                update,
                update.room_id if update is not None else None,
                update.user_id if update is not None else None,
            )
        ctx.error = exc
        ctx.incident_id = incident
        for eh in self._error_handlers:
            try:
                await eh(update, ctx)
            except Exception:
                logger.exception("An error handler failed (incident %s)", incident)
        room = ctx.room_id
        if room is not None:
            try:
                await self.api.send_message(
                    room, generic_error_text(incident), thread_id=ctx.thread_id
                )
            except Exception as send_exc:
                logger.warning(
                    "Could not send the error notice (incident %s): %s",
                    incident,
                    type(send_exc).__name__,
                )

    # -- jobs and lanes ------------------------------------------------------------------

    def submit_job(self, job: Job) -> None:
        """Queue a due job in its lane (its room's, or its own)."""
        self._enqueue(job.lane, _JobRun(job))

    def run_conversation_timeout(self, callback: TimeoutCallback, update: Update) -> None:
        self._enqueue(update.chat_key, _TimeoutRun(callback, update))

    async def _run_job(self, job: Job) -> None:
        ctx = Context(self, None, job.room_id, job.user_id)
        ctx.job = job
        try:
            await job.callback(ctx)
        except Exception as exc:
            await self._report(exc, None, ctx, job)
        if self._write_through and self._dirty:
            await self.flush()

    async def _run_timeout(self, run: _TimeoutRun) -> None:
        update = run.update
        ctx = Context(self, update, update.room_id, update.user_id)
        try:
            await run.callback(update, ctx)
        except Exception as exc:
            await self._report(exc, update, ctx, run.callback)
        if self._write_through and self._dirty:
            await self.flush()

    def _enqueue(self, lane: str, item: _Item) -> None:
        q = self._lanes.get(lane)
        self._pending += 1
        if self._pending >= self._max_pending:
            self._has_room.clear()
        if q is not None:
            q.append(item)
            return
        q = self._lanes[lane] = deque((item,))
        task = asyncio.get_running_loop().create_task(self._lane_worker(lane, q))
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _lane_worker(self, lane: str, q: deque[_Item]) -> None:
        sem = self._sem
        try:
            while q:
                item = q[0]
                try:
                    async with sem:
                        if isinstance(item, Update):
                            await self.process_update(item)
                        elif isinstance(item, _JobRun):
                            await self._run_job(item.job)
                        else:
                            await self._run_timeout(item)
                except Exception:  # pragma: no cover - process_update reports its own
                    logger.exception("Processing failed in lane %s", lane)
                q.popleft()
                if isinstance(item, Update):
                    self._in_flight.discard(item.seq)
                    self._dirty.add((STREAM, _POSITION_KEY))
                self._pending -= 1
                if self._pending < self._max_pending:
                    self._has_room.set()
        finally:
            if self._lanes.get(lane) is q:
                del self._lanes[lane]
            self._pending -= len(q)

    async def enqueue_update(self, update: Update) -> None:
        """Queue ``update`` in its room's lane, waiting while too many are pending."""
        await self._has_room.wait()
        self._in_flight.add(update.seq)
        self._read_upto = max(self._read_upto, update.seq)
        self._enqueue(update.chat_key, update)

    async def join(self) -> None:
        """Wait until every queued update and job run has been processed."""
        while self._workers:
            await asyncio.gather(*list(self._workers), return_exceptions=True)

    # -- lifecycle -----------------------------------------------------------------------

    async def initialize(self) -> None:
        """Load persisted data and start the job queue (``async with app`` does it)."""
        if self._initialized:
            return
        await self._load()
        self._loaded = True
        self._write_through = self.persistence.durable and self._flush_interval is None
        self._initialized = True
        await self.job_queue.start()
        if self._flush_interval is not None and self._flush_interval > 0:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_every())

    async def _flush_every(self) -> None:
        interval = self._flush_interval
        if interval is None:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except Exception:
                logger.exception("Persisting bot data failed")

    async def shutdown(self) -> None:
        """Stop jobs, finish (or after ``drain_timeout`` cancel) queued work, write the
        data, close the store and the client."""
        if not self._initialized:
            return
        self._initialized = False
        self._write_through = False
        await self.job_queue.stop()
        if self._workers:
            _, late = await asyncio.wait(set(self._workers), timeout=self._drain_timeout)
            for t in late:
                t.cancel()
            for t in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        for conv in self._all_conversations:
            conv.cancel_timers()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        try:
            await self.flush()
        finally:
            await self.persistence.close()
            closer = getattr(self.updates, "aclose", None)
            if self._owns_updates and closer is not None:
                await closer()
            if self._owns_api:
                await self.api.aclose()

    async def __aenter__(self) -> Application:
        await self.initialize()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    def stop(self) -> None:
        """Ask :meth:`run_async` to return (safe from a signal handler)."""
        if self._stop is not None:
            self._stop.set()

    async def run_async(self) -> None:
        """Read updates until the source ends or :meth:`stop` is called, processing them
        per room in order with bounded concurrency; then wait for queued work."""
        if not self._initialized:
            raise RuntimeError("use `async with app: await app.run_async()`")
        if self.updates is None:
            raise RuntimeError("no update source: give the builder .updates(...) or a token")
        self._stop = asyncio.Event()
        reader = asyncio.create_task(self._read(self.updates))
        stopper = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (reader, stopper):
                t.cancel()
            for t in (reader, stopper):
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            self._stop = None
        await self.join()

    async def _read(self, source: AsyncIterable[Update]) -> None:
        it: AsyncIterator[Update] = aiter(source)
        try:
            async for update in it:
                await self.enqueue_update(update)
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    def run(self) -> None:
        """Run until SIGINT/SIGTERM (or the update source ends), then shut down cleanly."""
        asyncio.run(self._main())

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.stop)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not main thread
                pass
        try:
            async with self:
                await self.run_async()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)


class ApplicationBuilder:
    """Fluent builder for :class:`Application`."""

    def __init__(self) -> None:
        self._token: BotToken | None = None
        self._base_url: str | None = None
        self._api: BotApi | None = None
        self._updates: AsyncIterable[Update] | None = None
        self._persistence: Persistence | None = None
        self._flush_interval: float | None = None
        self._concurrency = 16
        self._bot_user_id: str | None = None
        self._drain_timeout = 10.0
        self._max_pending = 10_000

    def token(self, token: BotToken) -> ApplicationBuilder:
        """The bot token: ``BotToken.from_env(...)`` or ``BotToken.from_file(...)``."""
        if not isinstance(token, BotToken):
            raise TypeError("token() takes a BotToken (BotToken.from_env / from_file)")
        self._token = token
        return self

    def base_url(self, url: str) -> ApplicationBuilder:
        """The server, ``http(s)://host:port``."""
        self._base_url = url.rstrip("/")
        return self

    def api(self, api: BotApi) -> ApplicationBuilder:
        """Use this client instead of building one from token and base URL."""
        self._api = api
        return self

    def updates(self, source: AsyncIterable[Update]) -> ApplicationBuilder:
        """Read updates from this source instead of the server's event stream."""
        self._updates = source
        return self

    def persistence(
        self, persistence: Persistence, *, flush_interval: float | None = None
    ) -> ApplicationBuilder:
        """Where data lives. By default changes are written after every update;
        ``flush_interval=seconds`` writes periodically instead (and at shutdown)."""
        self._persistence = persistence
        self._flush_interval = flush_interval
        return self

    def concurrency(self, n: int) -> ApplicationBuilder:
        """At most ``n`` updates processed at once (across rooms)."""
        self._concurrency = n
        return self

    def bot_user_id(self, user_id: str) -> ApplicationBuilder:
        self._bot_user_id = user_id
        return self

    def drain_timeout(self, seconds: float) -> ApplicationBuilder:
        """How long shutdown waits for queued work before cancelling it."""
        self._drain_timeout = seconds
        return self

    def max_pending(self, n: int) -> ApplicationBuilder:
        """How many updates may wait in lanes before reading pauses."""
        self._max_pending = n
        return self

    def build(self) -> Application:
        install_redaction(self._token)
        api = self._api
        updates = self._updates
        owns_api = owns_updates = False
        if api is None or updates is None:
            if self._token is None or self._base_url is None:
                raise ValueError(
                    "give .token(...) and .base_url(...), or .api(...) and .updates(...)"
                )
            if api is None:
                api = ApiClient(self._base_url, self._token)
                owns_api = True
            if updates is None:
                updates = EventStream(
                    self._base_url,
                    self._token,
                    api=api if isinstance(api, ApiClient) else None,
                )
                owns_updates = True
        me = self._bot_user_id
        if me is None and self._token is not None:
            me = self._token.bot_id
        if api is None:  # pragma: no cover - made above
            raise RuntimeError("no API client")
        return Application(
            api=api,
            updates=updates,
            persistence=self._persistence,
            concurrency=self._concurrency,
            bot_user_id=me,
            flush_interval=self._flush_interval,
            drain_timeout=self._drain_timeout,
            max_pending=self._max_pending,
            owns_api=owns_api,
            owns_updates=owns_updates,
        )
