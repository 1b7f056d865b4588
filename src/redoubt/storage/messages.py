"""Messages, edit history, reactions, mentions, pins, and the full-text index.

History is ordered by ``position``, the commit-ordered stream position of each
message's creation, so every reader sees the same order the live stream delivered.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, column, delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.storage._rows import from_row, to_values
from redoubt.storage.records import MessageRecord
from redoubt.storage.schema import mentions, message_edits, messages, reactions

__all__ = [
    "delete_edits_txn",
    "delete_reaction_txn",
    "get_message_by_client_id",
    "get_message_by_id",
    "get_messages_by_ids",
    "index_message_txn",
    "insert_edit_txn",
    "insert_mentions_txn",
    "insert_message_txn",
    "insert_reaction_txn",
    "list_edits",
    "list_history",
    "list_mentioned_user_ids",
    "list_pinned",
    "list_reactions",
    "list_thread",
    "search_messages",
    "unindex_message_txn",
    "update_message_txn",
]


def _message(row: Any) -> MessageRecord:
    return from_row(MessageRecord, row)


async def get_message_by_id(conn: AsyncConnection, message_id: int) -> MessageRecord | None:
    row = (await conn.execute(select(messages).where(messages.c.id == message_id))).first()
    return _message(row) if row else None


async def get_messages_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> list[MessageRecord]:
    if not ids:
        return []
    rows = await conn.execute(select(messages).where(messages.c.id.in_(list(ids))))
    return [_message(r) for r in rows]


async def get_message_by_client_id(
    conn: AsyncConnection, author_id: int, client_id: str
) -> MessageRecord | None:
    row = (
        await conn.execute(
            select(messages).where(
                messages.c.author_id == author_id, messages.c.client_id == client_id
            )
        )
    ).first()
    return _message(row) if row else None


async def insert_message_txn(conn: AsyncConnection, message: MessageRecord) -> None:
    await conn.execute(insert(messages).values(**to_values(message)))


async def update_message_txn(conn: AsyncConnection, message_id: int, **fields: Any) -> None:
    await conn.execute(update(messages).where(messages.c.id == message_id).values(**fields))


async def list_history(
    conn: AsyncConnection,
    room_id: int,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int,
) -> list[MessageRecord]:
    """Messages of a room in position order.

    Args:
        before: Only messages with a smaller position (the page ending just before it).
        after: Only messages with a larger position (the page starting just after it).
        limit: Page size. With neither bound, the newest ``limit`` messages.

    Returns:
        Messages in ascending position order.
    """
    query = select(messages).where(messages.c.room_id == room_id)
    if after is not None:
        query = query.where(messages.c.position > after)
    if before is not None:
        query = query.where(messages.c.position < before)
    if after is not None and before is None:
        rows = await conn.execute(query.order_by(messages.c.position).limit(limit))
        return [_message(r) for r in rows]
    rows = await conn.execute(query.order_by(messages.c.position.desc()).limit(limit))
    return [_message(r) for r in reversed(rows.all())]


async def list_thread(
    conn: AsyncConnection, thread_id: int, *, after: int | None, limit: int
) -> list[MessageRecord]:
    query = select(messages).where(messages.c.thread_id == thread_id)
    if after is not None:
        query = query.where(messages.c.position > after)
    rows = await conn.execute(query.order_by(messages.c.position).limit(limit))
    return [_message(r) for r in rows]


async def list_pinned(conn: AsyncConnection, room_id: int, *, limit: int) -> list[MessageRecord]:
    rows = await conn.execute(
        select(messages)
        .where(messages.c.room_id == room_id, messages.c.pinned_at.is_not(None))
        .order_by(messages.c.pinned_at.desc())
        .limit(limit)
    )
    return [_message(r) for r in rows]


async def insert_edit_txn(
    conn: AsyncConnection,
    *,
    edit_id: int,
    message_id: int,
    editor_id: int,
    previous_text: str,
    edited_at: dt.datetime,
) -> None:
    await conn.execute(
        insert(message_edits).values(
            id=edit_id,
            message_id=message_id,
            editor_id=editor_id,
            previous_text=previous_text,
            edited_at=edited_at,
        )
    )


async def list_edits(conn: AsyncConnection, message_id: int) -> list[Any]:
    rows = await conn.execute(
        select(message_edits)
        .where(message_edits.c.message_id == message_id)
        .order_by(message_edits.c.edited_at, message_edits.c.id)
    )
    return list(rows)


async def delete_edits_txn(conn: AsyncConnection, message_id: int) -> None:
    await conn.execute(delete(message_edits).where(message_edits.c.message_id == message_id))


async def insert_reaction_txn(
    conn: AsyncConnection, message_id: int, user_id: int, emoji: str, now: dt.datetime
) -> bool:
    """Add a reaction; False when the user had already reacted with that emoji."""
    exists = (
        await conn.execute(
            select(reactions.c.message_id).where(
                reactions.c.message_id == message_id,
                reactions.c.user_id == user_id,
                reactions.c.emoji == emoji,
            )
        )
    ).first()
    if exists:
        return False
    await conn.execute(
        insert(reactions).values(
            message_id=message_id, user_id=user_id, emoji=emoji, created_at=now
        )
    )
    return True


async def delete_reaction_txn(
    conn: AsyncConnection, message_id: int, user_id: int, emoji: str
) -> bool:
    result = await conn.execute(
        delete(reactions).where(
            reactions.c.message_id == message_id,
            reactions.c.user_id == user_id,
            reactions.c.emoji == emoji,
        )
    )
    return bool(result.rowcount)


async def list_reactions(
    conn: AsyncConnection, message_ids: Sequence[int]
) -> dict[int, list[tuple[str, list[int]]]]:
    """Reactions per message: ``[(emoji, [user ids in reaction order])]`` in first-use order."""
    out: dict[int, list[tuple[str, list[int]]]] = {}
    if not message_ids:
        return out
    rows = await conn.execute(
        select(reactions.c.message_id, reactions.c.emoji, reactions.c.user_id)
        .where(reactions.c.message_id.in_(list(message_ids)))
        .order_by(reactions.c.created_at, reactions.c.user_id)
    )
    grouped: dict[int, dict[str, list[int]]] = defaultdict(dict)
    for message_id, emoji, user_id in rows:
        grouped[message_id].setdefault(emoji, []).append(user_id)
    for message_id, by_emoji in grouped.items():
        out[message_id] = list(by_emoji.items())
    return out


async def insert_mentions_txn(
    conn: AsyncConnection, message: MessageRecord, user_ids: Sequence[int]
) -> None:
    if not user_ids:
        return
    await conn.execute(
        insert(mentions),
        [
            {
                "message_id": message.id,
                "user_id": uid,
                "room_id": message.room_id,
                "position": message.position,
            }
            for uid in user_ids
        ],
    )


async def list_mentioned_user_ids(
    conn: AsyncConnection, message_ids: Sequence[int]
) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    if not message_ids:
        return out
    rows = await conn.execute(
        select(mentions.c.message_id, mentions.c.user_id)
        .where(mentions.c.message_id.in_(list(message_ids)))
        .order_by(mentions.c.user_id)
    )
    for message_id, user_id in rows:
        out[message_id].append(user_id)
    return out


# --- full-text search -----------------------------------------------------------------
# SQLite: an FTS5 table keyed by message id (rowid), maintained by these functions.
# PostgreSQL: a generated tsvector column with a GIN index (see the migration), so
# nothing needs maintaining there.


async def index_message_txn(conn: AsyncConnection, message_id: int, body: str) -> None:
    if conn.dialect.name == "sqlite":
        await conn.execute(
            text("INSERT OR REPLACE INTO messages_fts(rowid, text) VALUES (:id, :body)"),
            {"id": message_id, "body": body},
        )


async def unindex_message_txn(conn: AsyncConnection, message_id: int) -> None:
    if conn.dialect.name == "sqlite":
        await conn.execute(text("DELETE FROM messages_fts WHERE rowid = :id"), {"id": message_id})


_CONTROLS = dict.fromkeys([*range(32), 127], " ")


def _fts5_query(query: str) -> str:
    # Every term becomes a quoted FTS5 string (quotes doubled), so user input can never
    # be FTS5 syntax: no column filters, NEAR, or syntax errors from stray operators.
    terms = [t for t in query.split() if t]
    return " ".join('"' + t.replace('"', '""') + '"' for t in terms)


async def search_messages(
    conn: AsyncConnection,
    query: str,
    room_ids: Sequence[int],
    *,
    limit: int,
    before_position: int | None = None,
) -> list[MessageRecord]:
    """Full-text search within ``room_ids``, newest first.

    The query is plain words, all of which must match, on both backends: quotes,
    operators (``OR``, ``-``, ``*``, ``NEAR``, ``:``) and control characters are text.
    """
    # NUL ends an FTS5 string and PostgreSQL refuses it in text; controls are no words.
    query = query.translate(_CONTROLS)
    if not room_ids or not query.strip():
        return []
    base = select(messages).where(
        messages.c.room_id.in_(list(room_ids)), messages.c.deleted.is_(False)
    )
    if before_position is not None:
        base = base.where(messages.c.position < before_position)
    if conn.dialect.name == "sqlite":
        matched = text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH :q").bindparams(
            q=_fts5_query(query)
        )
        base = base.where(messages.c.id.in_(matched.columns(column("rowid", BigInteger))))
    else:
        # plainto_tsquery, not websearch_to_tsquery: the latter reads "-word" as NOT and
        # "OR" as a disjunction, so the two backends would answer the same query differently.
        base = base.where(
            text("messages.search_vector @@ plainto_tsquery('simple', :q)").bindparams(q=query)
        )
    rows = await conn.execute(base.order_by(messages.c.position.desc()).limit(limit))
    return [_message(r) for r in rows]
