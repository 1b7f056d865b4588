from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections import deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from typing_extensions import override

from redoubt.actions import bots as bot_actions
from redoubt.core.logging import configure_logging
from redoubt.core.tokens import is_well_formed
from redoubt.domain.enums import UserRole
from tests.harness import (
    PASSWORD,
    REDIS_URL,
    Server,
    User,
    deployment,
    drop_postgres_template,
    run_server,
    server_log_formatter,
    sqlite_database,
    test_settings,
)

configure_logging("info", json=True)


class LogSecretDetector(logging.Handler):
    """Looks for passwords and tokens in every log line of the test run (T1, T13).

    Each record is rendered by the server's own formatter (JSON, after redaction), so
    this sees exactly what a deployment would write. A line fails when it holds a secret
    registered with :meth:`remember` (the harness password, every token the harness's
    logins issued, every bot token the server issued) or anything shaped like one of our
    tokens with a valid checksum, so a token issued outside the harness counts as well.
    """

    _TOKEN = re.compile(r"rdt_[a-z]{2,8}_[A-Za-z0-9_\-]{43}_[0-9A-Za-z]{6}")

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(formatter)
        self.tokens: set[str] = set()
        self.others: set[str] = set()
        self.findings: list[str] = []
        self.records_seen = 0
        self.recent: deque[str] = deque(maxlen=500)

    def remember(self, secret: str) -> None:
        if secret:
            (self.tokens if self._TOKEN.fullmatch(secret) else self.others).add(secret)

    def scan(self, line: str) -> list[str]:
        """What ``line`` gives away, described without repeating the secret."""
        found = []
        for match in self._TOKEN.finditer(line):
            token = match.group()
            if token in self.tokens or is_well_formed(token):
                found.append(f"a token ({token[:12]}...)")
        found += [f"a secret ({s[:3]}...)" for s in self.others if s in line]
        return found

    @override
    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record we can't render is still scanned
            line = repr(record.msg)
        self.records_seen += 1
        self.recent.append(line)
        self.findings += [f"{record.name}: {problem}" for problem in self.scan(line)]

    def assert_clean(self) -> None:
        if self.findings:
            shown = "\n  ".join(self.findings[:50])
            pytest.fail(
                f"Secrets reached the log ({len(self.findings)}):\n  {shown}", pytrace=False
            )


@pytest.fixture(scope="session", autouse=True)
def secret_log_detector() -> Iterator[LogSecretDetector]:
    """Every log record of the whole run is scanned; the run fails at its end if a
    password or an issued token shows up in one."""
    detector = LogSecretDetector(server_log_formatter())
    detector.remember(PASSWORD)
    original = Server.create_user
    issue_bot_token = bot_actions.new_bot_token

    def new_bot_token(bot_id: int) -> str:
        # Every bot token the server issues in this run (API, harness, rotation).
        token = issue_bot_token(bot_id)
        detector.remember(token)
        return token

    @functools.wraps(original)
    async def create_user(
        self: Server, username: str, *, role: UserRole = UserRole.USER, login: bool = True
    ) -> User:
        user = await original(self, username, role=role, login=login)
        detector.remember(user.token)
        return user

    root = logging.getLogger()
    root.addHandler(detector)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Server, "create_user", create_user)
        patch.setattr(bot_actions, "new_bot_token", new_bot_token)
        yield detector
    root.removeHandler(detector)
    detector.assert_clean()


@pytest.fixture(autouse=True)
def _secret_log_detector_attached(secret_log_detector: LogSecretDetector) -> Iterator[None]:
    """Re-attach the detector should a test reconfigure logging (configure_logging
    replaces the root handlers)."""
    root = logging.getLogger()
    if secret_log_detector not in root.handlers:
        root.addHandler(secret_log_detector)
    yield
    if secret_log_detector not in root.handlers:
        root.addHandler(secret_log_detector)


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_template() -> Iterator[None]:
    """The migrated template database outlives every test; drop it with the session."""
    yield
    asyncio.run(drop_postgres_template())


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A client of the real Redis the scale-out tests use."""
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """The embedded default: SQLite + in-process bus."""
    await asyncio.to_thread(sqlite_database, tmp_path / "data")
    async with run_server(test_settings(tmp_path / "data")) as srv:
        yield srv


@pytest.fixture(params=["sqlite", "postgres"])
async def any_server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    """The same tests on both deployments: SQLite/memory and PostgreSQL/Redis."""
    async with (
        deployment(request.param, tmp_path / "data") as settings,
        run_server(settings()) as srv,
    ):
        yield srv
