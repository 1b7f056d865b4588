"""API tokens (personal access tokens, bot tokens) and what each one did."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import LABEL_STYLE_TABLENAME_PLUS_COL, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from typing_extensions import override

from redoubt.domain.enums import UserRole
from redoubt.storage.records import UserRecord
from redoubt.storage.schema import api_token_usage, api_tokens, users

__all__ = [
    "ApiTokenRecord",
    "UsageRow",
    "add_usage_txn",
    "get_token",
    "get_token_and_user",
    "hour_totals",
    "insert_token_txn",
    "known_networks",
    "list_tokens",
    "list_usage",
    "mark_rate_alert_txn",
    "prune_usage_txn",
    "revoke_token_txn",
    "set_last_used_txn",
    "supersede_token_txn",
]


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    id: int
    user_id: int
    kind: str
    name: str
    token_hash: bytes
    hint: str
    scopes: tuple[str, ...]
    room_ids: tuple[int, ...] | None
    networks: tuple[str, ...] | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None = None
    replaced_by: int | None = None
    last_used_at: dt.datetime | None = None
    last_used_ip: str = ""
    rate_alert_at: dt.datetime | None = None

    @override
    def __repr__(self) -> str:  # the hash stays out of reprs and tracebacks
        return f"ApiTokenRecord(id={self.id}, user_id={self.user_id}, name={self.name!r})"


@dataclass(frozen=True, slots=True)
class UsageRow:
    hour: dt.datetime
    network: str
    operation: str
    requests: int


_FIELDS = [f.name for f in dataclasses.fields(ApiTokenRecord)]
_USER_FIELDS = [f.name for f in dataclasses.fields(UserRecord) if f.name != "role"]


def _record(get: Any) -> ApiTokenRecord:
    """From a row mapping, through ``get(field)`` (plain or table-prefixed labels)."""
    values = {name: get(name) for name in _FIELDS}
    values["scopes"] = tuple(json.loads(values["scopes"]))
    for key in ("room_ids", "networks"):
        raw = values[key]
        values[key] = None if raw is None else tuple(json.loads(raw))
    return ApiTokenRecord(**values)


def _values(record: ApiTokenRecord) -> dict[str, Any]:
    values = {name: getattr(record, name) for name in _FIELDS}
    values["scopes"] = json.dumps(list(record.scopes))
    for key in ("room_ids", "networks"):
        raw = values[key]
        values[key] = None if raw is None else json.dumps(list(raw))
    return values


async def insert_token_txn(conn: AsyncConnection, record: ApiTokenRecord) -> None:
    await conn.execute(insert(api_tokens).values(**_values(record)))


async def get_token_and_user(
    conn: AsyncConnection, token_hash: bytes
) -> tuple[ApiTokenRecord, UserRecord] | None:
    """The token with this hash and its owner, in one indexed query (every request)."""
    row = (
        await conn.execute(
            select(api_tokens, users)
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.token_hash == token_hash)
            .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL)
        )
    ).first()
    if row is None:
        return None
    m = row._mapping
    token = _record(lambda name: m[f"api_tokens_{name}"])
    user = UserRecord(**{f: m[f"users_{f}"] for f in _USER_FIELDS}, role=UserRole(m["users_role"]))
    return token, user


async def get_token(conn: AsyncConnection, token_id: int) -> ApiTokenRecord | None:
    row = (await conn.execute(select(api_tokens).where(api_tokens.c.id == token_id))).first()
    return _record(row._mapping.__getitem__) if row else None


async def list_tokens(
    conn: AsyncConnection, *, user_id: int | None = None, kind: str | None = None
) -> list[ApiTokenRecord]:
    """Tokens, newest first: one user's, or everyone's (``user_id`` None)."""
    query = select(api_tokens).order_by(api_tokens.c.created_at.desc(), api_tokens.c.id.desc())
    if user_id is not None:
        query = query.where(api_tokens.c.user_id == user_id)
    if kind is not None:
        query = query.where(api_tokens.c.kind == kind)
    return [_record(row._mapping.__getitem__) for row in await conn.execute(query)]


async def revoke_token_txn(conn: AsyncConnection, token_id: int, now: dt.datetime) -> bool:
    """Revoke a live token; False when it was already revoked."""
    result = await conn.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)


async def supersede_token_txn(
    conn: AsyncConnection, token_id: int, *, replaced_by: int, expires_at: dt.datetime
) -> None:
    """Mark a rotated token: its successor, and the end of its grace period."""
    await conn.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id)
        .values(replaced_by=replaced_by, expires_at=expires_at)
    )


async def set_last_used_txn(conn: AsyncConnection, token_id: int, at: dt.datetime, ip: str) -> None:
    await conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.id == token_id,
            (api_tokens.c.last_used_at.is_(None)) | (api_tokens.c.last_used_at <= at),
        )
        .values(last_used_at=at, last_used_ip=ip)
    )


async def mark_rate_alert_txn(conn: AsyncConnection, token_id: int, at: dt.datetime) -> None:
    await conn.execute(
        update(api_tokens).where(api_tokens.c.id == token_id).values(rate_alert_at=at)
    )


async def known_networks(conn: AsyncConnection, token_id: int) -> set[str]:
    """The address ranges a token has been used from (before this flush)."""
    rows = await conn.execute(
        select(api_token_usage.c.network).where(api_token_usage.c.token_id == token_id).distinct()
    )
    return {row.network for row in rows}


async def add_usage_txn(
    conn: AsyncConnection,
    token_id: int,
    counts: Iterable[tuple[dt.datetime, str, str, int]],
) -> None:
    """Add request counts ``(hour, network, operation, n)``: read-then-write per key,
    safe because every write of these rows runs in a write transaction (SQLite: one
    writer; PostgreSQL: the row lock of the UPDATE, and a unique key for inserts)."""
    for hour, network, operation, n in counts:
        key = (
            (api_token_usage.c.token_id == token_id)
            & (api_token_usage.c.hour == hour)
            & (api_token_usage.c.network == network)
            & (api_token_usage.c.operation == operation)
        )
        result = await conn.execute(
            update(api_token_usage).where(key).values(requests=api_token_usage.c.requests + n)
        )
        if not result.rowcount:
            await conn.execute(
                insert(api_token_usage).values(
                    token_id=token_id, hour=hour, network=network, operation=operation, requests=n
                )
            )


async def hour_totals(
    conn: AsyncConnection, token_id: int, since: dt.datetime
) -> dict[dt.datetime, int]:
    """Requests per hour from ``since`` on."""
    rows = await conn.execute(
        select(api_token_usage.c.hour, func.sum(api_token_usage.c.requests).label("n"))
        .where(api_token_usage.c.token_id == token_id, api_token_usage.c.hour >= since)
        .group_by(api_token_usage.c.hour)
    )
    return {row.hour: int(row.n) for row in rows}


async def list_usage(conn: AsyncConnection, token_id: int, *, limit: int) -> Sequence[UsageRow]:
    """A token's activity, newest hour first."""
    rows = await conn.execute(
        select(api_token_usage)
        .where(api_token_usage.c.token_id == token_id)
        .order_by(
            api_token_usage.c.hour.desc(),
            api_token_usage.c.requests.desc(),
            api_token_usage.c.operation,
        )
        .limit(limit)
    )
    return [UsageRow(r.hour, r.network, r.operation, r.requests) for r in rows]


async def prune_usage_txn(conn: AsyncConnection, before: dt.datetime) -> int:
    """Forget request counts of hours before ``before``. Returns how many rows went."""
    result = await conn.execute(delete(api_token_usage).where(api_token_usage.c.hour < before))
    return int(result.rowcount or 0)
