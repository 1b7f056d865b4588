"""Bot webhooks (setWebhook): one row per bot that has one, with its delivery lease.

Several server processes may run a delivery worker; only the one holding a bot's lease
(``lease_owner`` with ``locked_until`` in the future) sends that bot's updates. The
lease is claimed with one conditional UPDATE (on PostgreSQL a concurrent claim waits
for the row lock and then re-checks the condition, so exactly one claimant wins), and
every confirmed update renews it, only while the claimant still holds it: a
replaced webhook (setWebhook again) or a lease another process took over stops the
old holder before it confirms anything more.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from typing_extensions import override

from redoubt.storage.schema import bot_webhooks, bots, users

__all__ = [
    "BotWebhookRecord",
    "advance_txn",
    "claim_txn",
    "delete_webhook_txn",
    "get_webhook",
    "list_webhooks",
    "record_failure_txn",
    "release_txn",
    "replace_webhook_txn",
]


@dataclass(frozen=True, slots=True)
class BotWebhookRecord:
    bot_id: int
    url: str
    secret_enc: bytes
    """AES-GCM ciphertext of the secret_token, bound to ``bot_webhook:<bot id>``."""
    max_connections: int
    allowed_updates: tuple[str, ...] | None
    """None: every kind of update."""
    created_at: dt.datetime
    failures: int
    next_attempt_at: dt.datetime
    locked_until: dt.datetime | None
    lease_owner: str
    last_error_at: dt.datetime | None
    last_error: str
    updates_offset: int = 0
    """The bot's confirmed offset (from ``bots``; filled by :func:`list_webhooks`)."""

    @override
    def __repr__(self) -> str:  # the URL (its path or query may hold a secret) stays out
        return f"BotWebhookRecord(bot_id={self.bot_id}, failures={self.failures})"


def _record(row: Any, offset: int = 0) -> BotWebhookRecord:
    m = row._mapping
    allowed = json.loads(m["allowed_updates"]) if m["allowed_updates"] else None
    return BotWebhookRecord(
        bot_id=m["bot_id"],
        url=m["url"],
        secret_enc=bytes(m["secret_enc"]),
        max_connections=m["max_connections"],
        allowed_updates=tuple(str(a) for a in allowed) if allowed is not None else None,
        created_at=m["created_at"],
        failures=m["failures"],
        next_attempt_at=m["next_attempt_at"],
        locked_until=m["locked_until"],
        lease_owner=m["lease_owner"],
        last_error_at=m["last_error_at"],
        last_error=m["last_error"],
        updates_offset=offset,
    )


async def get_webhook(conn: AsyncConnection, bot_id: int) -> BotWebhookRecord | None:
    row = (await conn.execute(select(bot_webhooks).where(bot_webhooks.c.bot_id == bot_id))).first()
    return _record(row) if row else None


async def list_webhooks(conn: AsyncConnection) -> list[BotWebhookRecord]:
    """The webhooks of active bots, each with the bot's confirmed offset."""
    query = (
        select(bot_webhooks, bots.c.updates_offset)
        .select_from(
            bot_webhooks.join(bots, bots.c.user_id == bot_webhooks.c.bot_id).join(
                users, users.c.id == bot_webhooks.c.bot_id
            )
        )
        .where(users.c.is_active)
        .order_by(bot_webhooks.c.bot_id)
    )
    return [_record(row, int(row.updates_offset)) for row in await conn.execute(query)]


async def replace_webhook_txn(
    conn: AsyncConnection,
    *,
    bot_id: int,
    url: str,
    secret_enc: bytes,
    max_connections: int,
    allowed_updates: list[str] | None,
    now: dt.datetime,
) -> None:
    """Set the bot's webhook (a new row: no lease, no failures, no last error)."""
    await conn.execute(delete(bot_webhooks).where(bot_webhooks.c.bot_id == bot_id))
    await conn.execute(
        insert(bot_webhooks).values(
            bot_id=bot_id,
            url=url,
            secret_enc=secret_enc,
            max_connections=max_connections,
            allowed_updates=json.dumps(allowed_updates) if allowed_updates is not None else "",
            created_at=now,
            failures=0,
            next_attempt_at=now,
            locked_until=None,
            lease_owner="",
            last_error_at=None,
            last_error="",
        )
    )


async def delete_webhook_txn(conn: AsyncConnection, bot_id: int) -> bool:
    result = await conn.execute(delete(bot_webhooks).where(bot_webhooks.c.bot_id == bot_id))
    return bool(result.rowcount)


async def claim_txn(
    conn: AsyncConnection,
    bot_id: int,
    *,
    owner: str,
    now: dt.datetime,
    lease_until: dt.datetime,
) -> bool:
    """Take (or renew) the lease on a due webhook; True when ``owner`` now holds it."""
    w = bot_webhooks
    result = await conn.execute(
        update(w)
        .where(
            w.c.bot_id == bot_id,
            w.c.next_attempt_at <= now,
            or_(w.c.locked_until.is_(None), w.c.locked_until < now, w.c.lease_owner == owner),
        )
        .values(locked_until=lease_until, lease_owner=owner)
    )
    return bool(result.rowcount)


async def advance_txn(
    conn: AsyncConnection, bot_id: int, *, owner: str, offset: int, lease_until: dt.datetime
) -> bool:
    """After a delivered (or skipped) update: confirm ``offset``, clear the failure
    count and renew the lease, only while ``owner`` holds it. False: it doesn't
    (nothing is written)."""
    w = bot_webhooks
    result = await conn.execute(
        update(w)
        .where(w.c.bot_id == bot_id, w.c.lease_owner == owner)
        .values(failures=0, locked_until=lease_until)
    )
    if not result.rowcount:
        return False
    await conn.execute(
        update(bots)
        .where(bots.c.user_id == bot_id, bots.c.updates_offset < offset)
        .values(updates_offset=offset)
    )
    return True


async def record_failure_txn(
    conn: AsyncConnection,
    bot_id: int,
    *,
    owner: str,
    failures: int,
    next_attempt_at: dt.datetime,
    error: str,
    now: dt.datetime,
) -> bool:
    """A failed attempt: the next one waits until ``next_attempt_at``; the lease is let
    go. Only while ``owner`` holds the lease."""
    w = bot_webhooks
    result = await conn.execute(
        update(w)
        .where(w.c.bot_id == bot_id, w.c.lease_owner == owner)
        .values(
            failures=failures,
            next_attempt_at=next_attempt_at,
            last_error_at=now,
            last_error=error[:256],
            locked_until=None,
            lease_owner="",
        )
    )
    return bool(result.rowcount)


async def release_txn(conn: AsyncConnection, bot_id: int, *, owner: str) -> None:
    w = bot_webhooks
    await conn.execute(
        update(w)
        .where(w.c.bot_id == bot_id, w.c.lease_owner == owner)
        .values(locked_until=None, lease_owner="")
    )
