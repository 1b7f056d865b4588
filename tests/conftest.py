from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from redoubt.core.logging import configure_logging
from tests.harness import (
    REDIS_URL,
    Server,
    drop_postgres_database,
    postgres_database,
    run_server,
    sqlite_database,
    test_settings,
)

configure_logging("info", json=True)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """The embedded default: SQLite + in-process bus."""
    await asyncio.to_thread(sqlite_database, tmp_path / "data")
    async with run_server(test_settings(tmp_path / "data")) as srv:
        yield srv


@pytest.fixture(params=["sqlite", "postgres"])
async def any_server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    """The same tests on both deployments: SQLite/memory and PostgreSQL/Redis."""
    if request.param == "sqlite":
        await asyncio.to_thread(sqlite_database, tmp_path / "data")
        async with run_server(test_settings(tmp_path / "data")) as srv:
            yield srv
        return
    url = await postgres_database()
    try:
        settings = test_settings(tmp_path / "data", database_url=url, redis_url=REDIS_URL)
        async with run_server(settings) as srv:
            yield srv
    finally:
        await drop_postgres_database(url)
