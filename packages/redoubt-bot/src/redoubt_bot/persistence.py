"""Where the bot keeps what must survive a restart: ``user_data``, ``chat_data``,
``bot_data``, conversation states and callback-button tokens.

Everything is JSON: values must be JSON-serialisable (dicts, lists, strings, numbers,
booleans, ``None``). There is no pickle anywhere: unpickling a file an attacker could
write is code execution.

A backend is a key-value store in namespaces (``"user_data"``, ``"chat_data"``,
``"bot_data"``, ``"callbacks"``, ``"conversation:<name>"``). The
:class:`~redoubt_bot.application.Application` loads everything at start, keeps it in
memory, and writes back what changed (after every update by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any, Final

from redoubt_bot._compat import override

__all__ = [
    "BOT_DATA",
    "CALLBACKS",
    "CHAT_DATA",
    "USER_DATA",
    "JsonPersistence",
    "MemoryPersistence",
    "Persistence",
    "PersistenceError",
    "SqlitePersistence",
    "conversation_namespace",
]

USER_DATA: Final = "user_data"
CHAT_DATA: Final = "chat_data"
BOT_DATA: Final = "bot_data"
CALLBACKS: Final = "callbacks"
STREAM: Final = "stream"

#: Namespace -> key -> JSON value.
Snapshot = dict[str, dict[str, Any]]


def conversation_namespace(name: str) -> str:
    return f"conversation:{name}"


class PersistenceError(Exception):
    """The store could not be read or written (the message never contains values)."""


def _encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class Persistence(ABC):
    """A JSON key-value store in namespaces.

    ``durable`` says whether writes outlive the process; the application writes a
    non-durable store only at shutdown.
    """

    durable: bool = True

    @abstractmethod
    async def load(self) -> Snapshot:
        """Everything stored: ``{namespace: {key: value}}``."""

    @abstractmethod
    async def apply(
        self, upserts: Mapping[str, Mapping[str, Any]], deletes: Mapping[str, Set[str]]
    ) -> None:
        """Store ``upserts`` and remove ``deletes``, atomically if the backend can.

        Raises:
            TypeError / ValueError: a value is not JSON-serialisable (nothing is written).
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections."""


class MemoryPersistence(Persistence):
    """Keeps values in this process only (the default). Values are stored as JSON text, so
    what a handler stores behaves as it would with a durable backend."""

    durable = False

    def __init__(self) -> None:
        self._data: dict[str, dict[str, str]] = {}

    @override
    async def load(self) -> Snapshot:
        return {ns: {k: json.loads(v) for k, v in d.items()} for ns, d in self._data.items()}

    @override
    async def apply(
        self, upserts: Mapping[str, Mapping[str, Any]], deletes: Mapping[str, Set[str]]
    ) -> None:
        encoded = {ns: {k: _encode(v) for k, v in d.items()} for ns, d in upserts.items()}
        for ns, keys in deletes.items():
            d = self._data.get(ns)
            if d is not None:
                for k in keys:
                    d.pop(k, None)
        for ns, d in encoded.items():
            self._data.setdefault(ns, {}).update(d)


class JsonPersistence(Persistence):
    """One JSON file, rewritten atomically (temp file in the same directory, fsync,
    ``os.replace``), readable and writable by the owner only (mode 0600).

    Fine for small bots; every write rewrites the whole file. Use
    :class:`SqlitePersistence` for many users.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # ns -> key -> JSON text: a snapshot, so later mutation by handlers isn't
        # written without being marked as changed.
        self._data: dict[str, dict[str, str]] = {}
        self._loaded = False
        self._lock = asyncio.Lock()

    @override
    async def load(self) -> Snapshot:
        raw = await asyncio.to_thread(self._read)
        self._loaded = True
        if raw is None:
            self._data = {}
            return {}
        try:
            doc = json.loads(raw.decode("utf-8"))
            data = doc["data"]
            if doc.get("version") != 1 or not isinstance(data, dict):
                raise TypeError("bad document")
            snapshot: Snapshot = {
                str(ns): {str(k): v for k, v in values.items()} for ns, values in data.items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PersistenceError(f"{self.path} is not a redoubt_bot JSON store") from exc
        self._data = {ns: {k: _encode(v) for k, v in d.items()} for ns, d in snapshot.items()}
        return snapshot

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    @override
    async def apply(
        self, upserts: Mapping[str, Mapping[str, Any]], deletes: Mapping[str, Set[str]]
    ) -> None:
        encoded = {ns: {k: _encode(v) for k, v in d.items()} for ns, d in upserts.items()}
        if not self._loaded:
            await self.load()  # never replace a file with only the latest changes
        async with self._lock:
            for ns, keys in deletes.items():
                d = self._data.get(ns)
                if d is not None:
                    for k in keys:
                        d.pop(k, None)
                    if not d:
                        del self._data[ns]
            for ns, values in encoded.items():
                self._data.setdefault(ns, {}).update(values)
            text = self._render()
            await asyncio.to_thread(self._write, text)

    def _render(self) -> str:
        parts = []
        for ns in sorted(self._data):
            values = self._data[ns]
            body = ",".join(f"{json.dumps(k)}:{values[k]}" for k in sorted(values))
            parts.append(f"{json.dumps(ns)}:{{{body}}}")
        return '{"version":1,"data":{' + ",".join(parts) + "}}\n"

    def _write(self, text: str) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


class SqlitePersistence(Persistence):
    """A SQLite database (stdlib ``sqlite3``), one row per key, JSON values; every call
    runs in a worker thread so the event loop never blocks on disk. The file is created
    with mode 0600."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if str(self.path) != ":memory:" and not self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS redoubt_bot_kv ("
                " ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
                " PRIMARY KEY (ns, key))"
            )
            self._conn = conn
        return self._conn

    @override
    async def load(self) -> Snapshot:
        return await asyncio.to_thread(self._load)

    def _load(self) -> Snapshot:
        with self._lock:
            rows = self._connect().execute("SELECT ns, key, value FROM redoubt_bot_kv").fetchall()
        out: Snapshot = {}
        for ns, key, value in rows:
            out.setdefault(ns, {})[key] = json.loads(value)
        return out

    @override
    async def apply(
        self, upserts: Mapping[str, Mapping[str, Any]], deletes: Mapping[str, Set[str]]
    ) -> None:
        rows = [(ns, k, _encode(v)) for ns, d in upserts.items() for k, v in d.items()]
        gone = [(ns, k) for ns, keys in deletes.items() for k in keys]
        if rows or gone:
            await asyncio.to_thread(self._apply, rows, gone)

    def _apply(self, rows: list[tuple[str, str, str]], gone: list[tuple[str, str]]) -> None:
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("DELETE FROM redoubt_bot_kv WHERE ns = ? AND key = ?", gone)
                conn.executemany(
                    "INSERT INTO redoubt_bot_kv (ns, key, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
                    rows,
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @override
    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
