"""Users and sessions."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import LABEL_STYLE_TABLENAME_PLUS_COL, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.domain.enums import UserRole
from redoubt.storage._rows import from_row, to_values
from redoubt.storage.records import SessionRecord, UserRecord
from redoubt.storage.schema import sessions, users

__all__ = [
    "clear_enrol_only_txn",
    "delete_session_txn",
    "delete_sessions_txn",
    "get_session_and_user",
    "get_session_by_token_hash",
    "get_user_by_email",
    "get_user_by_external_id",
    "get_user_by_id",
    "get_user_by_username",
    "get_users_by_ids",
    "get_users_by_usernames",
    "insert_session_txn",
    "insert_user_txn",
    "list_active_admin_ids",
    "list_user_sessions",
    "list_users",
    "touch_session_txn",
    "update_user_txn",
]


_SESSION_FIELDS = [f.name for f in dataclasses.fields(SessionRecord)]
_USER_FIELDS = [f.name for f in dataclasses.fields(UserRecord) if f.name != "role"]


def _user(row: Any) -> UserRecord:
    return from_row(UserRecord, row, role=UserRole)


def _session(row: Any) -> SessionRecord:
    return from_row(SessionRecord, row)


async def get_user_by_id(conn: AsyncConnection, user_id: int) -> UserRecord | None:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    return _user(row) if row else None


async def get_user_by_external_id(conn: AsyncConnection, external_id: str) -> UserRecord | None:
    row = (await conn.execute(select(users).where(users.c.external_id == external_id))).first()
    return _user(row) if row else None


async def get_user_by_username(conn: AsyncConnection, username: str) -> UserRecord | None:
    row = (await conn.execute(select(users).where(users.c.username == username.lower()))).first()
    return _user(row) if row else None


async def get_user_by_email(conn: AsyncConnection, email: str) -> UserRecord | None:
    """The account with this (already normalised) email address."""
    row = (await conn.execute(select(users).where(users.c.email == email))).first()
    return _user(row) if row else None


async def get_users_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> list[UserRecord]:
    if not ids:
        return []
    rows = await conn.execute(select(users).where(users.c.id.in_(list(ids))))
    return [_user(r) for r in rows]


async def get_users_by_usernames(conn: AsyncConnection, names: Sequence[str]) -> list[UserRecord]:
    if not names:
        return []
    rows = await conn.execute(select(users).where(users.c.username.in_(list(names))))
    return [_user(r) for r in rows]


async def list_active_admin_ids(conn: AsyncConnection) -> list[int]:
    rows = await conn.execute(
        select(users.c.id).where(users.c.role == UserRole.ADMIN.value, users.c.is_active)
    )
    return [row.id for row in rows]


async def list_users(conn: AsyncConnection, *, limit: int, after_id: int = 0) -> list[UserRecord]:
    rows = await conn.execute(
        select(users).where(users.c.id > after_id).order_by(users.c.id).limit(limit)
    )
    return [_user(r) for r in rows]


async def insert_user_txn(conn: AsyncConnection, user: UserRecord) -> None:
    await conn.execute(insert(users).values(**to_values(user)))


async def update_user_txn(conn: AsyncConnection, user_id: int, **fields: Any) -> None:
    """Update only the named columns (never a whole-row save)."""
    if "role" in fields and isinstance(fields["role"], UserRole):
        fields["role"] = fields["role"].value
    await conn.execute(update(users).where(users.c.id == user_id).values(**fields))


async def insert_session_txn(
    conn: AsyncConnection, session: SessionRecord, token_hash: bytes
) -> None:
    await conn.execute(insert(sessions).values(**to_values(session), token_hash=token_hash))


async def get_session_by_token_hash(
    conn: AsyncConnection, token_hash: bytes
) -> SessionRecord | None:
    # An indexed equality lookup on a SHA-256 of a 256-bit secret: no timing signal
    # about the secret itself can be had from it.
    row = (await conn.execute(select(sessions).where(sessions.c.token_hash == token_hash))).first()
    return _session(row) if row else None


async def get_session_and_user(
    conn: AsyncConnection, token_hash: bytes
) -> tuple[SessionRecord, UserRecord] | None:
    """The session with this token hash and its user, in one query (every request)."""
    row = (
        await conn.execute(
            select(sessions, users)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == token_hash)
            .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL)
        )
    ).first()
    if row is None:
        return None
    m = row._mapping
    session = SessionRecord(**{f: m[f"sessions_{f}"] for f in _SESSION_FIELDS})
    user = UserRecord(**{f: m[f"users_{f}"] for f in _USER_FIELDS}, role=UserRole(m["users_role"]))
    return session, user


async def touch_session_txn(conn: AsyncConnection, session_id: int, now: dt.datetime) -> None:
    await conn.execute(update(sessions).where(sessions.c.id == session_id).values(last_seen_at=now))


async def clear_enrol_only_txn(conn: AsyncConnection, session_id: int) -> None:
    """The session may do everything its role allows from now on (a second factor was
    set up with it)."""
    await conn.execute(update(sessions).where(sessions.c.id == session_id).values(enrol_only=False))


async def delete_session_txn(conn: AsyncConnection, session_id: int) -> None:
    await conn.execute(delete(sessions).where(sessions.c.id == session_id))


async def list_user_sessions(conn: AsyncConnection, user_id: int) -> list[SessionRecord]:
    """A user's sessions, most recently used first."""
    rows = await conn.execute(
        select(sessions)
        .where(sessions.c.user_id == user_id)
        .order_by(sessions.c.last_seen_at.desc(), sessions.c.id.desc())
    )
    return [_session(r) for r in rows]


async def delete_sessions_txn(
    conn: AsyncConnection,
    user_id: int,
    *,
    only: Collection[int] | None = None,
    keep: int | None = None,
) -> list[int]:
    """End sessions of one user: those in ``only`` (every one when None), never ``keep``.

    Returns the ids that ended, in order. One statement (DELETE ... RETURNING), so a
    session inserted meanwhile can't slip between a read of the ids and their deletion;
    ids of other users' sessions match nothing.
    """
    condition = sessions.c.user_id == user_id
    if only is not None:
        if not only:
            return []
        condition &= sessions.c.id.in_(list(only))
    if keep is not None:
        condition &= sessions.c.id != keep
    result = await conn.execute(delete(sessions).where(condition).returning(sessions.c.id))
    return sorted(int(row.id) for row in result)
