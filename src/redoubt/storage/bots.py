"""Bot accounts: the ``bots`` row beside each bot's user (its tokens are api_tokens)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.storage.schema import bot_activity, bots, users

__all__ = [
    "DEFAULT_BOT_SCOPES",
    "ActivityRow",
    "BotRecord",
    "add_activity_txn",
    "get_bot",
    "insert_bot_txn",
    "list_bots",
    "peak_posts_per_minute",
    "prune_activity_txn",
    "set_commands_txn",
    "set_quarantine_txn",
    "set_room_ids_txn",
    "set_scopes_txn",
    "set_updates_offset_txn",
]


DEFAULT_BOT_SCOPES = ("messages:read", "messages:write")


@dataclass(frozen=True, slots=True)
class BotRecord:
    user_id: int
    owner_id: int
    description: str
    room_ids: tuple[int, ...]
    """The rooms it may be added to (and so the only ones it can ever read or post in,
    besides DMs people open with it)."""
    created_at: dt.datetime
    commands: str = "[]"
    """The JSON of its setMyCommands list."""
    updates_offset: int = 0
    """The last getUpdates offset it confirmed (an event stream position)."""
    quarantined_at: dt.datetime | None = None
    quarantine_reason: str = ""
    scopes: tuple[str, ...] = DEFAULT_BOT_SCOPES
    """What its token may do on the native REST API (never ``admin``)."""


_FIELDS = [f.name for f in dataclasses.fields(BotRecord)]


def _record(row: Any) -> BotRecord:
    m = row._mapping
    values = {name: m[name] for name in _FIELDS}
    values["room_ids"] = tuple(int(r) for r in json.loads(values["room_ids"]))
    values["scopes"] = tuple(str(s) for s in json.loads(values["scopes"]))
    return BotRecord(**values)


async def insert_bot_txn(conn: AsyncConnection, record: BotRecord) -> None:
    values = {name: getattr(record, name) for name in _FIELDS}
    values["room_ids"] = json.dumps(list(record.room_ids))
    values["scopes"] = json.dumps(list(record.scopes), separators=(",", ":"))
    await conn.execute(insert(bots).values(**values))


async def get_bot(conn: AsyncConnection, user_id: int) -> BotRecord | None:
    row = (await conn.execute(select(bots).where(bots.c.user_id == user_id))).first()
    return _record(row) if row else None


async def list_bots(
    conn: AsyncConnection, *, active_only: bool = True, owner_id: int | None = None
) -> list[BotRecord]:
    """Bots, oldest first; with ``active_only``, those whose account is not deactivated;
    with ``owner_id``, those that user owns."""
    query = select(bots).order_by(bots.c.created_at, bots.c.user_id)
    if owner_id is not None:
        query = query.where(bots.c.owner_id == owner_id)
    if active_only:
        query = query.join(users, users.c.id == bots.c.user_id).where(users.c.is_active)
    return [_record(row) for row in await conn.execute(query)]


async def set_room_ids_txn(conn: AsyncConnection, user_id: int, room_ids: tuple[int, ...]) -> None:
    await conn.execute(
        update(bots).where(bots.c.user_id == user_id).values(room_ids=json.dumps(list(room_ids)))
    )


async def set_commands_txn(conn: AsyncConnection, user_id: int, commands_json: str) -> None:
    await conn.execute(update(bots).where(bots.c.user_id == user_id).values(commands=commands_json))


async def set_updates_offset_txn(conn: AsyncConnection, user_id: int, offset: int) -> None:
    """Move the confirmed offset forward (never back)."""
    await conn.execute(
        update(bots)
        .where(bots.c.user_id == user_id, bots.c.updates_offset < offset)
        .values(updates_offset=offset)
    )


async def set_scopes_txn(conn: AsyncConnection, user_id: int, scopes: tuple[str, ...]) -> None:
    await conn.execute(
        update(bots)
        .where(bots.c.user_id == user_id)
        .values(scopes=json.dumps(list(scopes), separators=(",", ":")))
    )


async def set_quarantine_txn(
    conn: AsyncConnection, user_id: int, at: dt.datetime | None, reason: str
) -> bool:
    """Quarantine (``at`` set) or release (``at`` None) a bot; False when it already was
    in that state (quarantining keeps the first reason)."""
    already = bots.c.quarantined_at.is_(None) if at is None else bots.c.quarantined_at.isnot(None)
    result = await conn.execute(
        update(bots)
        .where(bots.c.user_id == user_id, ~already)
        .values(quarantined_at=at, quarantine_reason=reason[:256])
    )
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One hour of a bot's activity (counts to add; peaks to raise)."""

    hour: dt.datetime
    posts: int
    peak_posts_per_minute: int
    peak_rooms_per_minute: int
    mentions: int
    history_pages: int


async def add_activity_txn(conn: AsyncConnection, bot_id: int, row: ActivityRow) -> None:
    """Add counts to the bot's row for ``row.hour`` (creating it), raising its peaks."""
    key = (bot_activity.c.bot_id == bot_id, bot_activity.c.hour == row.hour)
    found = (await conn.execute(select(bot_activity).where(*key))).first()
    if found is None:
        await conn.execute(insert(bot_activity).values(bot_id=bot_id, **dataclasses.asdict(row)))
        return
    m = found._mapping
    await conn.execute(
        update(bot_activity)
        .where(*key)
        .values(
            posts=m["posts"] + row.posts,
            peak_posts_per_minute=max(m["peak_posts_per_minute"], row.peak_posts_per_minute),
            peak_rooms_per_minute=max(m["peak_rooms_per_minute"], row.peak_rooms_per_minute),
            mentions=m["mentions"] + row.mentions,
            history_pages=m["history_pages"] + row.history_pages,
        )
    )


async def peak_posts_per_minute(conn: AsyncConnection, bot_id: int, since: dt.datetime) -> int:
    """The bot's busiest minute since ``since`` (0 without history): its baseline."""
    value = (
        await conn.execute(
            select(func.max(bot_activity.c.peak_posts_per_minute)).where(
                bot_activity.c.bot_id == bot_id, bot_activity.c.hour >= since
            )
        )
    ).scalar()
    return int(value or 0)


async def prune_activity_txn(conn: AsyncConnection, before: dt.datetime) -> int:
    result = await conn.execute(delete(bot_activity).where(bot_activity.c.hour < before))
    return int(result.rowcount or 0)
