"""The Alembic migrations and ``storage/schema.py`` describe the same database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from redoubt.storage.migrate import alembic_config, head_revision, upgrade
from redoubt.storage.schema import metadata
from tests.harness import drop_postgres_database, postgres_database

# Objects the migration creates by hand, outside the metadata (search indexes).
_HAND_MADE = {"messages_fts", "search_vector", "ix_messages_search_vector"}


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    diffs = compare_metadata(context, metadata)
    return [d for d in diffs if not any(name in repr(d) for name in _HAND_MADE)]


async def _check(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(_diff)
            revision = await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    finally:
        await engine.dispose()
    assert revision == head_revision()
    assert diffs == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_migrations_match_schema(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        await asyncio.to_thread(upgrade, url)
        await _check(url)
        return
    url = await postgres_database()
    try:
        await _check(url)
    finally:
        await drop_postgres_database(url)


async def test_downgrade_then_upgrade_round_trips(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    await asyncio.to_thread(upgrade, url)
    await _check(url)
