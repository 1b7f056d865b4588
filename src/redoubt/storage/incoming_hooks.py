"""Incoming webhooks and the nonces of the signed requests they accepted.

A nonce is the digest of an accepted signature, inserted in the transaction that posts
the request's message. The insert is ``ON CONFLICT DO NOTHING`` and says whether it
inserted: two copies of one request racing each other can't both post (on SQLite one
writer at a time; on PostgreSQL the loser waits on the winner's key, then finds it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from typing_extensions import override

from redoubt.storage._rows import from_row, to_values
from redoubt.storage.schema import hook_nonces, incoming_hooks, users

__all__ = [
    "IncomingHookRecord",
    "delete_hook_txn",
    "get_hook_and_account_state",
    "get_hook_by_id",
    "insert_hook_txn",
    "insert_nonce_txn",
    "list_hooks",
    "purge_expired_nonces_txn",
    "update_hook_txn",
]


@dataclass(frozen=True, slots=True)
class IncomingHookRecord:
    id: int
    room_id: int
    user_id: int
    """The hook's own bot account (role ``bot``, no password)."""
    name: str
    avatar_url: str
    secret_enc: bytes
    """The signing secret, sealed with the server key and bound to ``incoming-hook:<id>``."""
    legacy_token_hash: bytes | None
    """SHA-256 of the legacy URL token; None when the hook accepts only signed requests."""
    enabled: bool
    created_by: int
    created_at: dt.datetime
    last_used_at: dt.datetime | None

    @override
    def __repr__(self) -> str:  # even the sealed secret and the hash stay out of logs
        return f"IncomingHookRecord(id={self.id}, room_id={self.room_id}, enabled={self.enabled})"


def _hook(row: Any) -> IncomingHookRecord:
    return from_row(IncomingHookRecord, row)


async def get_hook_by_id(conn: AsyncConnection, hook_id: int) -> IncomingHookRecord | None:
    row = (await conn.execute(select(incoming_hooks).where(incoming_hooks.c.id == hook_id))).first()
    return _hook(row) if row else None


async def get_hook_and_account_state(
    conn: AsyncConnection, hook_id: int
) -> tuple[IncomingHookRecord, bool] | None:
    """The hook and whether its bot account is active, in one query (the receiver
    costs the same whether the hook exists or not)."""
    row = (
        await conn.execute(
            select(incoming_hooks, users.c.is_active.label("account_active"))
            .join(users, users.c.id == incoming_hooks.c.user_id)
            .where(incoming_hooks.c.id == hook_id)
        )
    ).first()
    return (_hook(row), bool(row.account_active)) if row else None


async def list_hooks(conn: AsyncConnection) -> list[IncomingHookRecord]:
    """Every incoming hook, oldest first."""
    rows = await conn.execute(select(incoming_hooks).order_by(incoming_hooks.c.id))
    return [_hook(r) for r in rows]


async def insert_hook_txn(conn: AsyncConnection, hook: IncomingHookRecord) -> None:
    await conn.execute(insert(incoming_hooks).values(**to_values(hook)))


async def update_hook_txn(conn: AsyncConnection, hook_id: int, **fields: Any) -> None:
    await conn.execute(
        update(incoming_hooks).where(incoming_hooks.c.id == hook_id).values(**fields)
    )


async def delete_hook_txn(conn: AsyncConnection, hook_id: int) -> None:
    """Delete a hook and its nonces (its bot account and messages stay)."""
    await conn.execute(delete(hook_nonces).where(hook_nonces.c.hook_id == hook_id))
    await conn.execute(delete(incoming_hooks).where(incoming_hooks.c.id == hook_id))


async def insert_nonce_txn(
    conn: AsyncConnection, hook_id: int, digest: bytes, *, expires_at: dt.datetime
) -> bool:
    """Remember an accepted request; False when it was accepted before (a replay)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(hook_nonces)
        .values(hook_id=hook_id, digest=digest, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[hook_nonces.c.hook_id, hook_nonces.c.digest])
        .returning(hook_nonces.c.hook_id)
    )
    return (await conn.execute(stmt)).first() is not None


async def purge_expired_nonces_txn(
    conn: AsyncConnection, hook_id: int, *, now: dt.datetime
) -> None:
    """Forget one hook's nonces whose requests are past the replay window anyway.

    Called as the hook accepts a request, so the work is bounded by the hook's own rate
    limit (at most a window's worth of requests per call).
    """
    await conn.execute(
        delete(hook_nonces).where(hook_nonces.c.hook_id == hook_id, hook_nonces.c.expires_at < now)
    )
