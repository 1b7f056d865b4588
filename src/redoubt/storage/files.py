"""Uploaded file metadata (bytes live in the file store, outside any web root)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.storage._rows import from_row, to_values
from redoubt.storage.records import FileRecord
from redoubt.storage.schema import files

__all__ = [
    "attach_files_txn",
    "delete_files_txn",
    "get_file_by_id",
    "get_files_by_ids",
    "insert_file_txn",
    "list_files_of_messages",
]


def _file(row: Any) -> FileRecord:
    return from_row(FileRecord, row)


async def insert_file_txn(conn: AsyncConnection, record: FileRecord) -> None:
    await conn.execute(insert(files).values(**to_values(record)))


async def get_file_by_id(conn: AsyncConnection, file_id: int) -> FileRecord | None:
    row = (await conn.execute(select(files).where(files.c.id == file_id))).first()
    return _file(row) if row else None


async def get_files_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> list[FileRecord]:
    if not ids:
        return []
    rows = await conn.execute(select(files).where(files.c.id.in_(list(ids))))
    return [_file(r) for r in rows]


async def attach_files_txn(conn: AsyncConnection, file_ids: Sequence[int], message_id: int) -> None:
    await conn.execute(
        update(files).where(files.c.id.in_(list(file_ids))).values(message_id=message_id)
    )


async def list_files_of_messages(
    conn: AsyncConnection, message_ids: Sequence[int]
) -> dict[int, list[FileRecord]]:
    out: dict[int, list[FileRecord]] = defaultdict(list)
    if not message_ids:
        return out
    rows = await conn.execute(
        select(files).where(files.c.message_id.in_(list(message_ids))).order_by(files.c.id)
    )
    for row in rows:
        rec = _file(row)
        out[rec.message_id or 0].append(rec)
    return out


async def delete_files_txn(conn: AsyncConnection, file_ids: Sequence[int]) -> None:
    if file_ids:
        await conn.execute(delete(files).where(files.c.id.in_(list(file_ids))))
