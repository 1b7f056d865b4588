"""Reads for the deployment review (``redoubt doctor``): credentials and integrations
that need an admin's look. Read-only; each list is bounded by ``limit``."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.storage.schema import (
    api_tokens,
    incoming_hooks,
    outgoing_hooks,
    rooms,
    totp_credentials,
    users,
)

__all__ = [
    "AccountItem",
    "HookItem",
    "OutgoingHookItem",
    "TokenItem",
    "active_admins_without_second_factor",
    "disabled_outgoing_hooks",
    "legacy_url_hooks",
    "sqlite_file",
    "tokens_without_expiry",
    "unused_incoming_hooks",
    "unused_tokens",
]


@dataclass(frozen=True, slots=True)
class TokenItem:
    id: int
    name: str
    kind: str
    owner: str
    """The owner's username."""
    scopes: tuple[str, ...]
    created_at: dt.datetime
    last_used_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class HookItem:
    id: int
    name: str
    room: str | None
    """The room's name (None for a room without one)."""
    enabled: bool
    created_at: dt.datetime
    last_used_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class OutgoingHookItem:
    id: int
    name: str
    owner: str
    disabled_reason: str


@dataclass(frozen=True, slots=True)
class AccountItem:
    id: int
    username: str


def _scopes(raw: str) -> tuple[str, ...]:
    try:
        value = json.loads(raw)
    except ValueError:
        return ()
    return tuple(str(s) for s in value) if isinstance(value, list) else ()


_TOKEN_COLUMNS = (
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.kind,
    users.c.username,
    api_tokens.c.scopes,
    api_tokens.c.created_at,
    api_tokens.c.last_used_at,
)


async def _tokens(conn: AsyncConnection, where: ColumnElement[bool], limit: int) -> list[TokenItem]:
    rows = await conn.execute(
        select(*_TOKEN_COLUMNS)
        .join(users, users.c.id == api_tokens.c.user_id)
        .where(where)
        .order_by(api_tokens.c.id)
        .limit(limit)
    )
    return [
        TokenItem(r.id, r.name, r.kind, r.username, _scopes(r.scopes), r.created_at, r.last_used_at)
        for r in rows
    ]


async def tokens_without_expiry(conn: AsyncConnection, *, limit: int) -> list[TokenItem]:
    """Tokens that are not revoked and have no expiry: valid until someone acts. Bot
    tokens never expire by design (like Telegram's; rotated and revoked by admins), so
    they're not listed here; unused ones still are, as unused."""
    return await _tokens(
        conn,
        and_(
            api_tokens.c.expires_at.is_(None),
            api_tokens.c.revoked_at.is_(None),
            api_tokens.c.kind != "bot",
        ),
        limit,
    )


async def unused_tokens(
    conn: AsyncConnection, *, now: dt.datetime, cutoff: dt.datetime, limit: int
) -> list[TokenItem]:
    """Tokens still valid at ``now`` (not revoked, not expired) whose last use is before
    ``cutoff``, or never used and created before it."""
    return await _tokens(
        conn,
        and_(
            api_tokens.c.revoked_at.is_(None),
            or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
            _idle_since(api_tokens.c.last_used_at, api_tokens.c.created_at, cutoff),
        ),
        limit,
    )


def _idle_since(
    last_used: ColumnElement[Any], created: ColumnElement[Any], cutoff: dt.datetime
) -> ColumnElement[bool]:
    """Not used since ``cutoff``: last used before it, or never and created before it."""
    return or_(last_used < cutoff, and_(last_used.is_(None), created < cutoff))


_HOOK_COLUMNS = (
    incoming_hooks.c.id,
    incoming_hooks.c.name,
    rooms.c.name.label("room"),
    incoming_hooks.c.enabled,
    incoming_hooks.c.created_at,
    incoming_hooks.c.last_used_at,
)


async def _hooks(conn: AsyncConnection, where: ColumnElement[bool], limit: int) -> list[HookItem]:
    rows = await conn.execute(
        select(*_HOOK_COLUMNS)
        .join(rooms, rooms.c.id == incoming_hooks.c.room_id)
        .where(where)
        .order_by(incoming_hooks.c.id)
        .limit(limit)
    )
    return [
        HookItem(r.id, r.name, r.room, bool(r.enabled), r.created_at, r.last_used_at) for r in rows
    ]


async def unused_incoming_hooks(
    conn: AsyncConnection, *, cutoff: dt.datetime, limit: int
) -> list[HookItem]:
    """Enabled incoming hooks not used since ``cutoff`` (or never, and older than it)."""
    return await _hooks(
        conn,
        and_(
            incoming_hooks.c.enabled == true(),
            _idle_since(incoming_hooks.c.last_used_at, incoming_hooks.c.created_at, cutoff),
        ),
        limit,
    )


async def legacy_url_hooks(conn: AsyncConnection, *, limit: int) -> list[HookItem]:
    """Incoming hooks that accept a secret in the URL (legacy mode), enabled or not."""
    return await _hooks(conn, incoming_hooks.c.legacy_token_hash.is_not(None), limit)


async def disabled_outgoing_hooks(conn: AsyncConnection, *, limit: int) -> list[OutgoingHookItem]:
    """Outgoing hooks the server turned off (they carry the reason; an admin's own
    switch-off leaves none)."""
    rows = await conn.execute(
        select(
            outgoing_hooks.c.id,
            outgoing_hooks.c.name,
            users.c.username,
            outgoing_hooks.c.disabled_reason,
        )
        .join(users, users.c.id == outgoing_hooks.c.owner_id)
        .where(outgoing_hooks.c.enabled == false(), outgoing_hooks.c.disabled_reason != "")
        .order_by(outgoing_hooks.c.id)
        .limit(limit)
    )
    return [OutgoingHookItem(r.id, r.name, r.username, r.disabled_reason) for r in rows]


async def active_admins_without_second_factor(
    conn: AsyncConnection, *, limit: int
) -> list[AccountItem]:
    """Active admin accounts with no confirmed TOTP credential (a pending enrolment,
    ``confirmed_at`` NULL, is not a second factor yet)."""
    enrolled = exists().where(
        totp_credentials.c.user_id == users.c.id, totp_credentials.c.confirmed_at.is_not(None)
    )
    rows = await conn.execute(
        select(users.c.id, users.c.username)
        .where(users.c.role == "admin", users.c.is_active == true(), ~enrolled)
        .order_by(users.c.id)
        .limit(limit)
    )
    return [AccountItem(r.id, r.username) for r in rows]


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a SQLite URL (None: another database, or in memory)."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)
