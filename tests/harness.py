"""Test harness: a real Redoubt server (uvicorn, loopback, random port) per test.

Seed data goes through the real actions; requests go over real HTTP and WebSocket.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog
import uvicorn
import websockets
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typing_extensions import override

from redoubt.actions.bots import do_create_bot
from redoubt.actions.users import do_create_user
from redoubt.api.app import create_app
from redoubt.container import Container
from redoubt.core.settings import Settings, load_settings
from redoubt.core.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from redoubt.domain.enums import UserRole
from redoubt.storage.migrate import upgrade

PG_ADMIN_URL = os.environ.get(
    "REDOUBT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("REDOUBT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery staple"
SCALE_OUT_SECRET_KEY = secrets.token_hex(32)

_sqlite_template: Path | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sqlite_database(data_dir: Path) -> None:
    """A migrated SQLite database in ``data_dir`` (migrated once, then copied)."""
    global _sqlite_template
    if _sqlite_template is None:
        template_dir = Path(tempfile.mkdtemp(prefix="redoubt-tpl-"))
        atexit.register(shutil.rmtree, template_dir, ignore_errors=True)
        upgrade(f"sqlite+aiosqlite:///{template_dir / 'redoubt.db'}")
        _sqlite_template = template_dir / "redoubt.db"
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(_sqlite_template, data_dir / "redoubt.db")


_PG_TEMPLATE = f"redoubt_tpl_{uuid.uuid4().hex[:8]}"
_pg_template_ready = False


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def postgres_database() -> str:
    """A fresh, migrated PostgreSQL database; returns its URL.

    The first call migrates a template database; later ones clone it (CREATE DATABASE
    ... TEMPLATE), which takes milliseconds instead of a migration run.
    """
    global _pg_template_ready
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        if not _pg_template_ready:
            async with engine.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{_PG_TEMPLATE}"'))
            await asyncio.to_thread(upgrade, _pg_url(_PG_TEMPLATE))
            _pg_template_ready = True
        name = f"redoubt_test_{uuid.uuid4().hex[:12]}"
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_PG_TEMPLATE}"'))
    finally:
        await engine.dispose()
    return _pg_url(name)


async def drop_postgres_template() -> None:
    """Drop the template database at the end of the session (if one was made)."""
    if _pg_template_ready:
        await drop_postgres_database(_pg_url(_PG_TEMPLATE))


async def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


def test_settings(data_dir: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
        "log_json": True,
        # Generous limits; rate-limit tests lower them explicitly.
        "rate_login_per_minute": 1000,
        "login_failures_per_hour": 100_000,
        "login_failures_per_day": 100_000,
        "rate_post_per_10s": 10_000,
        "rate_api_per_second": 10_000,
        "rate_ws_frames_per_second": 1000,
        "rate_ws_connects_per_minute": 10_000,
        "rate_token_failures_per_minute": 100_000,
        # Second-factor enforcement is tested on its own (tests/test_two_factor.py).
        "require_2fa_roles": [],
    }
    base.update(overrides)
    if base.get("redis_url") is not None:
        # Scale-out processes share one server key (the embedded default makes its own).
        base.setdefault("secret_key", SCALE_OUT_SECRET_KEY)
    return load_settings({}, **base)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


SettingsFactory = Callable[..., Settings]


@contextlib.asynccontextmanager
async def deployment(backend: str, data_dir: Path) -> AsyncIterator[SettingsFactory]:
    """A fresh deployment on ``backend``: "sqlite" (embedded default) or "postgres"
    (PostgreSQL + Redis). Yields a settings factory (overrides as keywords) for servers
    sharing it, so a test can restart or tune them; the database goes on exit."""
    if backend == "sqlite":
        await asyncio.to_thread(sqlite_database, data_dir)
        yield lambda **overrides: test_settings(data_dir, **overrides)
        return
    url = await postgres_database()
    try:
        yield lambda **overrides: test_settings(
            data_dir, database_url=url, redis_url=REDIS_URL, **overrides
        )
    finally:
        await drop_postgres_database(url)


@dataclass
class User:
    id: str
    username: str
    token: str = field(repr=False)  # failure messages end up in CI logs
    role: str = "user"
    token_id: str | None = None
    """For an API token (see :meth:`Server.create_token`): the token's id."""


@dataclass
class Bot:
    """A bot account (see :meth:`Server.create_bot`) and its token."""

    id: str
    username: str
    token: str = field(repr=False)


@dataclass
class Server:
    container: Container
    base_url: str
    ws_url: str
    http: httpx.AsyncClient
    _users: dict[str, User] = field(default_factory=dict)

    async def create_user(
        self, username: str, *, role: UserRole = UserRole.USER, login: bool = True
    ) -> User:
        user = await do_create_user(
            self.container.context,
            username=username,
            display_name=username.title(),
            password=PASSWORD,
            role=role,
            acting_user=None,
        )
        token = ""
        if login:
            resp = await self.login(username)
            assert resp.status_code == 200, resp.text
            token = resp.json()["token"]
            assert not self.http.cookies, "token-mode login must not set a cookie"
        out = User(id=str(user.id), username=username, token=token, role=role.value)
        self._users[username] = out
        return out

    async def create_bot(
        self, owner: User, name: str, *room_ids: str, networks: list[str] | None = None
    ) -> Bot:
        """A bot owned by ``owner`` that may be added to ``room_ids`` (made the way the
        CLI makes one; it is in no room until someone adds it)."""
        _bot, user, token = await do_create_bot(
            self.container.context,
            acting_user=None,
            username=name,
            display_name=None,
            description=f"{name} (test)",
            owner_id=int(owner.id),
            room_ids=[int(r) for r in room_ids],
            networks=networks,
        )
        return Bot(id=str(user.id), username=user.username, token=token)

    async def login(
        self, username: str, password: str = PASSWORD, *, user_agent: str | None = None
    ) -> httpx.Response:
        """``POST /auth/login`` in token mode, answer as is (for tests of refusals)."""
        self.http.cookies.clear()  # nothing a previous request left may ride along
        headers = {"User-Agent": user_agent} if user_agent is not None else {}
        return await self.http.post(
            "/api/v1/auth/login",
            json={"username": username, "password": password},
            headers=headers,
        )

    async def new_session(
        self, user: User, *, user_agent: str | None = None, password: str = PASSWORD
    ) -> User:
        """Another session of ``user``, as from a second device (``user_agent``)."""
        resp = await self.login(user.username, password, user_agent=user_agent)
        assert resp.status_code == 200, resp.text
        return User(user.id, user.username, resp.json()["token"], user.role)

    async def request(
        self, method: str, path: str, user: User | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if user is not None:
            headers["Authorization"] = f"Bearer {user.token}"
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, user: User | None = None, **kwargs: Any) -> Any:
        resp = await self.request(method, path, user, **kwargs)
        assert resp.status_code < 300, (resp.status_code, resp.text)
        return resp.json() if resp.content else None

    async def create_token(self, owner: User, *scopes: str, **body: Any) -> User:
        """A personal access token of ``owner``'s, as a :class:`User` that sends it
        (``id`` is the owner's; the token's own id is in ``token_id``)."""
        created = await self.ok(
            "POST",
            "/api/v1/tokens",
            owner,
            json={"name": body.pop("name", "test token"), "scopes": list(scopes), **body},
        )
        return User(
            owner.id, owner.username, created["secret"], owner.role, token_id=created["token"]["id"]
        )

    async def room(self, owner: User, name: str, kind: str = "channel", *members: User) -> str:
        room = await self.ok("POST", "/api/v1/rooms", owner, json={"name": name, "kind": kind})
        for member in members:
            await self.ok(
                "POST", f"/api/v1/rooms/{room['id']}/members", owner, json={"user_id": member.id}
            )
        return str(room["id"])

    async def upload(
        self,
        user: User,
        room_id: str,
        name: str = "doc.pdf",
        data: bytes = b"%PDF-1.4\n%test\n",
        content_type: str = "application/pdf",
    ) -> Any:
        """Upload a file into a room (unattached until a message names it)."""
        return await self.ok(
            "POST",
            f"/api/v1/rooms/{room_id}/files",
            user,
            files={"file": (name, data, content_type)},
        )

    async def post(self, user: User, room_id: str, text: str, **extra: Any) -> Any:
        return await self.ok(
            "POST", f"/api/v1/rooms/{room_id}/messages", user, json={"text": text, **extra}
        )

    @contextlib.asynccontextmanager
    async def events(self, user: User, since: int | None = None) -> AsyncIterator[EventClient]:
        async with websockets.connect(self.ws_url, max_size=2**22) as ws:
            await ws.send(json.dumps({"type": "hello", "token": user.token, "since": since}))
            ready = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert ready["type"] == "ready", ready
            yield EventClient(ws, ready["seq"])


@dataclass
class EventClient:
    ws: Any
    ready_seq: int

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        return dict(json.loads(await asyncio.wait_for(self.ws.recv(), timeout)))

    async def next_event(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame that has a position (skips presence and typing)."""
        while True:
            frame = await self.next(timeout)
            if "seq" in frame and frame.get("type") != "ready":
                return frame

    async def until(self, type_: str, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            frame = await self.next(timeout)
            if frame.get("type") == type_:
                return frame

    async def close_code(self, timeout: float = 5.0) -> int:
        """Read until the server closes the stream; its close code (fails on a timeout
        or after 100 frames without a close)."""
        for _ in range(100):
            try:
                await self.next(timeout)
            except websockets.ConnectionClosed as closed:
                if closed.rcvd is None:
                    raise AssertionError("closed without a close frame") from closed
                return closed.rcvd.code
        raise AssertionError("the stream stayed open")

    async def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        out = []
        with contextlib.suppress(TimeoutError):
            while True:
                out.append(await self.next(quiet))
        return out


@contextlib.asynccontextmanager
async def run_server(settings: Settings, *, port: int | None = None) -> AsyncIterator[Server]:
    """Start a real server on loopback (a free port unless ``port`` is given, say to
    restart on the same address); stop it on exit."""
    container = Container(settings)
    app = create_app(container)
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        ws_max_size=settings.ws_max_frame_bytes,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    assert server.started, "server did not start"
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        try:
            yield Server(container, base, f"ws://127.0.0.1:{port}/api/v1/events", http)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)


# --- the server's log ------------------------------------------------------------------


def server_log_formatter() -> logging.Formatter:
    """The formatter of the log handler ``configure_logging()`` installed (it redacts)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter):
            return handler.formatter
    raise AssertionError("configure_logging() has not installed the server's log handler")


class ServerLog(logging.Handler):
    """Every record rendered exactly as the server's own log handler renders it."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.lines: list[str] = []
        self.setFormatter(server_log_formatter())

    @override
    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


@contextlib.contextmanager
def server_log(level: int | None = None) -> Iterator[ServerLog]:
    """Every record the root logger handles while the block runs; with ``level``, the
    root logger is at that level until the block ends."""
    handler = ServerLog()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    if level is not None:
        root.setLevel(level)
    try:
        yield handler
    finally:
        if level is not None:
            root.setLevel(previous)
        root.removeHandler(handler)


def signed_request(
    secret: str, payload: Any, *, ts: int | None = None, raw: bytes | None = None
) -> dict[str, Any]:
    """httpx keywords for an incoming-webhook request signed with ``secret`` (now,
    unless ``ts``; the JSON of ``payload`` unless ``raw`` bytes are given)."""
    body = raw if raw is not None else json.dumps(payload).encode()
    ts = int(time.time()) if ts is None else ts
    return {
        "content": body,
        "headers": {
            "content-type": "application/json",
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: sign(secret, ts, body),
        },
    }
