"""Engine, named transactions, and events that go out only after commit.

Every write runs in :meth:`Database.transaction`. Inside it, :meth:`Txn.append_event`
takes the next deployment-wide stream position and stores the client frame in the
``events`` table in the same transaction; after the commit succeeds the events are
handed to the event sink (the bus) in position order. A rolled-back transaction emits
nothing and consumes no position.

SQLite (the embedded default) allows one writer at a time. Writes in this process are
serialised by an asyncio lock and open with ``BEGIN IMMEDIATE``, so they never meet
"database is locked"; other processes (the CLI) wait on ``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import Histogram
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from redoubt.core.logging import get_logger
from redoubt.storage.schema import events, stream_position

__all__ = ["Database", "EventSink", "StoredEvent", "Txn", "configure_sqlite"]

_log = get_logger(__name__)

_TXN_SECONDS = Histogram(
    "redoubt_db_transaction_seconds", "Database transaction duration", ["name", "kind"]
)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored and as sent: ``frame`` is the exact client JSON."""

    seq: int
    type: str
    room_id: int | None
    user_id: int | None
    broadcast: bool
    frame: str


EventSink = Callable[[Sequence[StoredEvent]], Awaitable[None]]


def build_frame(seq: int, type_: str, data_json: str) -> str:
    # Built by hand once per event: cheaper than a dict round-trip, and the parts are
    # already JSON (type names are fixed identifiers chosen by the server).
    return f'{{"seq":{seq},"type":"{type_}","data":{data_json}}}'


class Txn:
    """One open write transaction."""

    def __init__(self, conn: AsyncConnection, now: dt.datetime) -> None:
        self.conn = conn
        self.now = now
        self.events: list[StoredEvent] = []
        self._after_commit: list[Callable[[], Awaitable[None]]] = []

    async def next_seq(self) -> int:
        """Take the next stream position (for an event appended later in this txn)."""
        result = await self.conn.execute(
            update(stream_position)
            .where(stream_position.c.id == 1)
            .values(position=stream_position.c.position + 1)
            .returning(stream_position.c.position)
        )
        return int(result.scalar_one())

    async def append_event(
        self,
        type_: str,
        data_json: str,
        *,
        room_id: int | None = None,
        user_id: int | None = None,
        broadcast: bool = False,
        seq: int | None = None,
    ) -> StoredEvent:
        """Store an event and queue it for delivery after commit.

        Args:
            type_: Event type, e.g. ``message.created``.
            data_json: The event's ``data`` object, already serialised.
            room_id: Deliver to the members of this room.
            user_id: Deliver to this user as well (e.g. the member just removed).
            broadcast: Deliver to every connected user.
            seq: A position taken earlier with :meth:`next_seq`; events must be
                appended in the order their positions were taken.

        Returns:
            The stored event with its stream position.
        """
        if seq is None:
            seq = await self.next_seq()
        frame = build_frame(seq, type_, data_json)
        await self.conn.execute(
            insert(events).values(
                seq=seq,
                type=type_,
                room_id=room_id,
                user_id=user_id,
                broadcast=broadcast,
                frame=frame,
                created_at=self.now,
            )
        )
        stored = StoredEvent(seq, type_, room_id, user_id, broadcast, frame)
        self.events.append(stored)
        return stored

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` once the transaction has committed (never on rollback)."""
        self._after_commit.append(callback)


class Database:
    """The storage handle: an async engine plus transaction helpers."""

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], dt.datetime],
        pool_size: int = 10,
    ) -> None:
        self.url = url
        self.dialect: Literal["sqlite", "postgresql"] = (
            "sqlite" if url.startswith("sqlite") else "postgresql"
        )
        self._clock = clock
        # Statement parameters hold password and token hashes: keep them out of the
        # exception texts that 500s and failed publishes log with their tracebacks.
        kwargs: dict[str, Any] = {"hide_parameters": True}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._sink: EventSink | None = None
        if self.dialect == "sqlite":
            configure_sqlite(self.engine)

    def set_event_sink(self, sink: EventSink | None) -> None:
        self._sink = sink

    @contextlib.asynccontextmanager
    async def transaction(self, name: str) -> AsyncIterator[Txn]:
        """Open a write transaction; commit on success, roll back on any exception."""
        lock = self._write_lock or contextlib.nullcontext()
        started = time.perf_counter()
        async with lock, self.engine.connect() as raw_conn:
            conn = raw_conn
            if self.dialect == "sqlite":
                conn = await raw_conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            async with conn.begin():
                txn = Txn(conn, self._clock())
                yield txn
        _TXN_SECONDS.labels(name, "write").observe(time.perf_counter() - started)
        if txn.events and self._sink is not None:
            try:
                await self._sink(txn.events)
            except Exception:
                # The commit stands; other processes and reconnecting clients read the
                # events from the table, so a failed publish loses nothing.
                _log.exception("event_publish_failed", txn=name)
        for callback in txn._after_commit:
            await callback()

    @contextlib.asynccontextmanager
    async def read(self, name: str) -> AsyncIterator[AsyncConnection]:
        """A read-only connection (one consistent snapshot on both backends)."""
        started = time.perf_counter()
        async with self.engine.connect() as conn, conn.begin():
            yield conn
        _TXN_SECONDS.labels(name, "read").observe(time.perf_counter() - started)

    async def current_position(self) -> int:
        async with self.read("current_position") as conn:
            result = await conn.execute(
                select(stream_position.c.position).where(stream_position.c.id == 1)
            )
            return int(result.scalar_one_or_none() or 0)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def identity(self) -> str:
        """Name this database the same way from every host, unlike its URL (host aliases,
        poolers). Scale-out keys its Redis namespace on it, so that deployments sharing
        one Redis never hear each other's events."""
        if self.dialect == "sqlite":
            return f"sqlite:{self.engine.url.database}"
        async with self.read("database_identity") as conn:
            name, oid = (
                await conn.execute(
                    text("SELECT datname, oid FROM pg_database WHERE datname = current_database()")
                )
            ).one()
            try:
                async with conn.begin_nested():
                    # Random per cluster (set at initdb); readable by any role by default.
                    cluster = (
                        await conn.execute(
                            text("SELECT system_identifier FROM pg_control_system()")
                        )
                    ).scalar_one()
            except DBAPIError:
                # Revoked on some managed services: fall back to the address in the URL.
                cluster = f"{self.engine.url.host}:{self.engine.url.port or 5432}"
        return f"postgresql:{cluster}:{oid}:{name}"

    async def dispose(self) -> None:
        await self.engine.dispose()


def configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys, and transactions we open ourselves (pysqlite's are broken).

    Migrations use it too, so a database is in WAL mode from its first statement:
    switching a rollback-journal database to WAL needs an exclusive lock, and two
    processes that open a fresh one at once (two CLI commands after ``db upgrade``)
    would fail "database is locked" at once, without waiting on ``busy_timeout``.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None  # pysqlite-specific: we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        for pragma in (
            # First: opening a WAL database whose -shm another process is rebuilding
            # (the first opener after the last one closed) is busy for a moment, and
            # every statement before this one would fail at once instead of waiting.
            "PRAGMA busy_timeout=10000",
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))
