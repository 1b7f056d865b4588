"""Resolving an API token to its requester, and reading tokens and their activity."""

from __future__ import annotations

from redoubt.core.errors import NotFound, Unauthorized
from redoubt.core.ids import format_id
from redoubt.core.tokens import hash_token, is_well_formed
from redoubt.domain.enums import UserRole
from redoubt.domain.scopes import Scope, TokenGrant
from redoubt.domain.tokens import (
    TokenUsageView,
    TokenView,
    address_in,
    token_status,
)
from redoubt.queries.context import Context, Requester
from redoubt.queries.users import public_view
from redoubt.storage import api_tokens as token_store
from redoubt.storage import users as user_store
from redoubt.storage.api_tokens import ApiTokenRecord
from redoubt.storage.records import UserRecord

__all__ = [
    "PAT_KIND",
    "authenticate_token",
    "get_token_activity",
    "list_all_tokens",
    "list_my_tokens",
    "token_view",
]

# A token type tag (the "pat" in rdt_pat_...), not a secret.
PAT_KIND = "pat"

_USAGE_ROWS = 24 * 7 * 4


async def authenticate_token(
    ctx: Context, token: str, *, ip: str
) -> tuple[Requester, ApiTokenRecord]:
    """Resolve an API token to its owner, with the token's grant.

    Raises:
        Unauthorized: malformed, unknown, revoked or expired token, a deactivated
            owner, or an address outside the token's ranges; the same answer for each.
    """
    if not is_well_formed(token, PAT_KIND):
        raise Unauthorized
    async with ctx.db.read("authenticate_token") as conn:
        found = await token_store.get_token_and_user(conn, hash_token(token))
    if found is None:
        raise Unauthorized
    record, user = found
    now = ctx.clock.now()
    if (
        record.revoked_at is not None
        or (record.expires_at is not None and record.expires_at <= now)
        or not user.is_active
        or (record.networks is not None and not address_in(ip, record.networks))
    ):
        raise Unauthorized
    scopes = frozenset(Scope(s) for s in record.scopes if s in Scope._value2member_map_)
    if user.role is not UserRole.ADMIN:
        scopes -= {Scope.ADMIN}  # demoted since: the token can't keep what its owner lost
    grant = TokenGrant(
        token_id=record.id,
        scopes=scopes,
        room_ids=None if record.room_ids is None else frozenset(record.room_ids),
    )
    return Requester(user=user, session_id=None, ip=ip, grant=grant), record


def token_view(ctx: Context, record: ApiTokenRecord, owner: UserRecord | None = None) -> TokenView:
    return TokenView(
        id=format_id(record.id),
        name=record.name,
        kind=record.kind,
        hint=record.hint,
        scopes=list(record.scopes),
        room_ids=None if record.room_ids is None else [format_id(r) for r in record.room_ids],
        networks=None if record.networks is None else list(record.networks),
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        replaced_by=None if record.replaced_by is None else format_id(record.replaced_by),
        last_used_at=record.last_used_at,
        last_used_ip=record.last_used_ip,
        status=token_status(
            revoked_at=record.revoked_at,
            expires_at=record.expires_at,
            replaced_by=record.replaced_by,
            now=ctx.clock.now(),
        ),
        owner=None if owner is None else public_view(owner),
    )


async def list_my_tokens(ctx: Context, requester: Requester) -> list[TokenView]:
    async with ctx.db.read("list_my_tokens") as conn:
        records = await token_store.list_tokens(conn, user_id=requester.id, kind=PAT_KIND)
    return [token_view(ctx, r) for r in records]


async def list_all_tokens(ctx: Context) -> list[TokenView]:
    """Every user's API tokens, for the admin page (admin routes check the role)."""
    async with ctx.db.read("list_all_tokens") as conn:
        records = await token_store.list_tokens(conn, kind=PAT_KIND)
        owners = {
            u.id: u
            for u in await user_store.get_users_by_ids(conn, list({r.user_id for r in records}))
        }
    return [token_view(ctx, r, owners.get(r.user_id)) for r in records]


async def get_token_activity(
    ctx: Context, requester: Requester, token_id: int
) -> tuple[TokenView, list[TokenUsageView]]:
    """One of the requester's tokens and what it did, hour by hour (four weeks).

    Raises:
        NotFound: no such token of the requester's.
    """
    async with ctx.db.read("token_activity") as conn:
        record = await token_store.get_token(conn, token_id)
        if record is None or record.user_id != requester.id:
            raise NotFound
        rows = await token_store.list_usage(conn, token_id, limit=_USAGE_ROWS)
    usage = [
        TokenUsageView(hour=r.hour, network=r.network, operation=r.operation, requests=r.requests)
        for r in rows
    ]
    return token_view(ctx, record), usage
