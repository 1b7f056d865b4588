"""Password reset tokens: only their SHA-256 is stored, with the state they are bound to.

A row is bound to a user and to a fingerprint of that user's password hash at the time
of the request, so any password change since (a reset, a change, an admin's) voids it
without anyone having to remember to. ``used_at`` is set when the token is spent or
voided by a newer request; a row is never reused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.storage._rows import from_row
from redoubt.storage.schema import password_resets

__all__ = [
    "PasswordResetRecord",
    "count_resets_since",
    "get_reset_by_token_hash",
    "insert_reset_txn",
    "password_fingerprint",
    "spend_reset_txn",
    "void_user_resets_txn",
]


@dataclasses.dataclass(frozen=True, slots=True)
class PasswordResetRecord:
    id: int
    user_id: int
    password_fingerprint: bytes
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None


def password_fingerprint(password_hash: str | None) -> bytes:
    """SHA-256 of the stored password hash ("" for none). Argon2 hashes are salted, so
    setting even the same password again gives a new fingerprint."""
    return hashlib.sha256((password_hash or "").encode()).digest()


def _reset(row: Any) -> PasswordResetRecord:
    return from_row(PasswordResetRecord, row)


async def insert_reset_txn(
    conn: AsyncConnection, reset: PasswordResetRecord, token_hash: bytes
) -> None:
    await conn.execute(
        insert(password_resets).values(
            **{f.name: getattr(reset, f.name) for f in dataclasses.fields(reset)},
            token_hash=token_hash,
        )
    )


async def get_reset_by_token_hash(
    conn: AsyncConnection, token_hash: bytes
) -> PasswordResetRecord | None:
    row = (
        await conn.execute(
            select(password_resets).where(password_resets.c.token_hash == token_hash)
        )
    ).first()
    return _reset(row) if row else None


async def void_user_resets_txn(conn: AsyncConnection, user_id: int, now: dt.datetime) -> int:
    """Mark every unspent token of the user as spent (a newer one replaces them)."""
    result = await conn.execute(
        update(password_resets)
        .where(password_resets.c.user_id == user_id, password_resets.c.used_at.is_(None))
        .values(used_at=now)
    )
    return int(result.rowcount)


async def spend_reset_txn(conn: AsyncConnection, reset_id: int, now: dt.datetime) -> bool:
    """Mark the token spent if it still can be; True if this call spent it.

    One conditional UPDATE: of two requests racing with the same token, the database
    lets exactly one change the row (the other's WHERE no longer matches).
    """
    result = await conn.execute(
        update(password_resets)
        .where(
            password_resets.c.id == reset_id,
            password_resets.c.used_at.is_(None),
            password_resets.c.expires_at > now,
        )
        .values(used_at=now)
    )
    return int(result.rowcount) == 1


async def count_resets_since(conn: AsyncConnection, user_id: int, since: dt.datetime) -> int:
    """How many tokens the user was sent since ``since`` (spent or not)."""
    count = await conn.scalar(
        select(func.count())
        .select_from(password_resets)
        .where(password_resets.c.user_id == user_id, password_resets.c.created_at >= since)
    )
    return int(count or 0)
