"""Bot accounts: create, rotate and revoke their tokens, choose their rooms, delete.

A bot is a user with role ``bot`` (no password, never an admin) plus a ``bots`` row:
its owner, a description and the rooms it may be added to. Its tokens are api_tokens
rows of kind ``bot`` in Telegram's ``<bot id>:<secret>`` shape, hashed, shown once.
Admins (and the CLI, ``acting_user`` None) manage every bot. A user (role ``user``)
manages the bots they own, and may create bots of their own when an admin allowed it
(the ``users_may_create_bots`` server setting, up to ``max_bots_per_user`` each), with
only rooms they own or moderate. Anyone else is told the bot doesn't exist (404), so
bot ids don't leak. Turning the setting off stops new bots only.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.actions._common import account_names, audit, payload
from redoubt.actions.rooms import remove_member_txn
from redoubt.core.errors import BadRequest, Conflict, ErrorCode, Forbidden, NotFound
from redoubt.core.tokens import hash_token
from redoubt.domain.bots import (
    BOT_KIND,
    MAX_BOT_ROOMS,
    MAX_DESCRIPTION_CHARS,
    bot_token_hint,
)
from redoubt.domain.enums import MemberRole, RoomKind, UserRole
from redoubt.domain.events import EventType
from redoubt.domain.permissions import RoomAction
from redoubt.domain.scopes import Scope
from redoubt.domain.tokens import parse_networks
from redoubt.queries.bots import current_token
from redoubt.queries.context import Context, Requester
from redoubt.queries.rooms import access_room_conn
from redoubt.queries.server_settings import user_bot_policy
from redoubt.queries.users import user_view
from redoubt.storage import api_tokens as token_store
from redoubt.storage import bots as bot_store
from redoubt.storage import rooms as room_store
from redoubt.storage import users as user_store
from redoubt.storage.api_tokens import ApiTokenRecord
from redoubt.storage.bots import DEFAULT_BOT_SCOPES, BotRecord
from redoubt.storage.database import Txn
from redoubt.storage.records import UserRecord

__all__ = [
    "do_create_bot",
    "do_delete_bot",
    "do_revoke_bot_tokens",
    "do_rotate_bot_token",
    "do_set_bot_rooms",
    "do_set_bot_scopes",
    "new_bot_token",
]

_LABEL = "bot"


def new_bot_token(bot_id: int) -> str:
    """``<bot id>:<43 base64url characters>`` (256 random bits)."""
    return f"{bot_id}:{secrets.token_urlsafe(32)}"


def _require_session(acting_user: Requester | None) -> None:
    if acting_user is not None and acting_user.grant is not None:
        # The routes are session-only already; this is the second lock on the same door.
        raise Forbidden("API tokens can't manage bots; sign in.")


def _require_admin(acting_user: Requester | None) -> None:
    _require_session(acting_user)
    if acting_user is not None and acting_user.user.role is not UserRole.ADMIN:
        raise Forbidden("Only admins can manage bots.")


def _non_admin(acting_user: Requester | None) -> Requester | None:
    """``acting_user`` when it is neither the CLI (the host's operator) nor an admin."""
    if acting_user is None or acting_user.user.role is UserRole.ADMIN:
        return None
    return acting_user


def _require_manager(acting_user: Requester | None, bot: BotRecord, *, own_only: bool) -> None:
    """May ``acting_user`` manage ``bot``? Its owner (a user or admin) may; an admin may
    manage any bot unless ``own_only`` (the self-service routes, where an admin too sees
    only their own). Anyone else: the bot doesn't exist for them.

    Raises:
        Forbidden: an API token (session-only).
        NotFound: not the bot's owner (nor an admin, outside ``own_only``).
    """
    _require_session(acting_user)
    if acting_user is None:
        return
    role = acting_user.user.role
    if bot.owner_id == acting_user.id and role in (UserRole.USER, UserRole.ADMIN):
        return
    if role is UserRole.ADMIN and not own_only:
        return
    raise NotFound("No such bot.")


_NOT_MODERATED = "A bot's rooms are rooms you own or moderate."


async def _allowed_rooms(
    conn: AsyncConnection, acting_user: Requester | None, room_ids: Sequence[int]
) -> tuple[int, ...]:
    """Check a bot's room list: channels and groups the admin can see (any room for the
    CLI), never DMs (people open those with the bot themselves). A user (not an admin)
    may only list rooms they own or moderate (who may add members to a group); any
    other room, existing or not, is refused alike (403)."""
    unique = tuple(dict.fromkeys(room_ids))
    if len(unique) > MAX_BOT_ROOMS:
        raise BadRequest(f"At most {MAX_BOT_ROOMS} rooms.")
    user = _non_admin(acting_user)
    if user is not None:
        for room_id in unique:
            room = await room_store.get_room_by_id(conn, room_id)
            member = await room_store.get_membership(conn, room_id, user.id)
            if (
                room is None
                or room.kind is RoomKind.DM
                or member is None
                or member.role.rank < MemberRole.MODERATOR.rank
            ):
                raise Forbidden(_NOT_MODERATED)
        return unique
    for room_id in unique:
        room = await room_store.get_room_by_id(conn, room_id)
        if room is not None and acting_user is not None:
            try:
                await access_room_conn(conn, acting_user, room_id, RoomAction.READ)
            except NotFound:
                room = None
        if room is None:
            raise BadRequest("A listed room doesn't exist or isn't visible to you.")
        if room.kind is RoomKind.DM:
            raise BadRequest("A bot's rooms are channels or groups, not DMs.")
    return unique


def _scopes(values: Sequence[str]) -> tuple[str, ...]:
    """A bot's scopes, checked: known ones, never ``admin`` (T7: least privilege)."""
    if not values:
        raise BadRequest("Choose at least one scope.")
    if any(v not in Scope._value2member_map_ for v in values):
        raise BadRequest("Unknown scope.")
    if Scope.ADMIN.value in values:
        raise BadRequest("A bot can't hold the admin scope.")
    return tuple(sorted(set(values)))


async def do_set_bot_scopes(
    ctx: Context, *, acting_user: Requester | None, bot_id: int, scopes: Sequence[str]
) -> tuple[str, ...]:
    """Replace what the bot's token may do on the native REST API.

    Raises:
        Forbidden: not an admin.
        NotFound: no such (active) bot.
        BadRequest: no scope, an unknown one, or ``admin``.
    """
    _require_admin(acting_user)
    chosen = _scopes(scopes)
    async with ctx.db.transaction("set_bot_scopes") as txn:
        bot, _user = await _load_bot(txn.conn, bot_id)
        await bot_store.set_scopes_txn(txn.conn, bot_id, chosen)
        await audit(
            ctx,
            txn,
            "bot.scopes_set",
            acting_user=acting_user,
            target_type="bot",
            target_id=bot_id,
            details={"scopes": list(chosen), "previous": list(bot.scopes)},
        )
    return chosen


async def _load_bot(conn: AsyncConnection, bot_id: int) -> tuple[BotRecord, UserRecord]:
    bot = await bot_store.get_bot(conn, bot_id)
    user = await user_store.get_user_by_id(conn, bot_id)
    if bot is None or user is None or not user.is_active:
        raise NotFound("No such bot.")
    return bot, user


async def _insert_token(
    ctx: Context, txn: Txn, bot_id: int, networks: tuple[str, ...] | None
) -> tuple[ApiTokenRecord, str]:
    token = new_bot_token(bot_id)
    record = ApiTokenRecord(
        id=ctx.ids.next_id(),
        user_id=bot_id,
        kind=BOT_KIND,
        name=_LABEL,
        token_hash=hash_token(token),
        hint=bot_token_hint(token),
        scopes=(),
        room_ids=None,
        networks=networks,
        created_at=txn.now,
        expires_at=None,
    )
    await token_store.insert_token_txn(txn.conn, record)
    return record, token


async def do_create_bot(
    ctx: Context,
    *,
    acting_user: Requester | None,
    username: str,
    display_name: str | None,
    description: str,
    owner_id: int,
    room_ids: Sequence[int],
    networks: Sequence[str] | None = None,
    scopes: Sequence[str] = DEFAULT_BOT_SCOPES,
) -> tuple[BotRecord, UserRecord, str]:
    """Create a bot account and its first token.

    Returns:
        The bot, its user, and its token (shown once; the server keeps only its hash).

    An admin (or the CLI) creates a bot for any owner. A user (role ``user``) may
    create one they own themselves, when the server allows it (``users_may_create_bots``),
    up to ``max_bots_per_user`` active bots, with rooms they own or moderate only.

    Raises:
        Forbidden: an API token; a guest or bot; a user creating one for someone else,
            or while the server doesn't allow it; a room the user doesn't own or
            moderate.
        BadRequest: invalid username, description, address ranges, scopes or rooms; an
            owner that is a bot, a guest or deactivated.
        Conflict: the username is taken; the user owns ``max_bots_per_user`` bots already.
    """
    _require_session(acting_user)
    self_service = _non_admin(acting_user)
    if self_service is not None:
        if self_service.user.role is not UserRole.USER:
            raise Forbidden("Only users and admins can own bots.")
        if owner_id != self_service.id:
            raise Forbidden("Only admins can create bots for others.")
    bot_scopes = _scopes(scopes)
    username, display_name = account_names(username, display_name)
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise BadRequest(f"Descriptions are at most {MAX_DESCRIPTION_CHARS} characters.")
    try:
        parsed_networks = parse_networks(list(networks)) if networks else None
    except ValueError as exc:
        raise BadRequest(f"Allowed addresses: {exc}.") from None
    async with ctx.db.transaction("create_bot") as txn:
        conn = txn.conn
        if self_service is not None:
            await _check_self_service_txn(ctx, conn, owner_id)
        owner = await user_store.get_user_by_id(conn, owner_id)
        if owner is None or not owner.is_active or owner.role in (UserRole.BOT, UserRole.GUEST):
            raise BadRequest("A bot's owner is an active user or admin.")
        if await user_store.get_user_by_username(conn, username) is not None:
            raise Conflict("That username is taken.", code=ErrorCode.NAME_TAKEN)
        rooms = await _allowed_rooms(conn, acting_user, room_ids)
        user = UserRecord(
            id=ctx.ids.next_id(),
            username=username,
            display_name=display_name,
            role=UserRole.BOT,
            password_hash=None,  # never signs in: its token is its only credential
            is_active=True,
            created_at=txn.now,
        )
        await user_store.insert_user_txn(conn, user)
        bot = BotRecord(
            user_id=user.id,
            owner_id=owner.id,
            description=description,
            room_ids=rooms,
            created_at=txn.now,
            scopes=bot_scopes,
        )
        await bot_store.insert_bot_txn(conn, bot)
        record, token = await _insert_token(ctx, txn, user.id, parsed_networks)
        await audit(
            ctx,
            txn,
            "bot.created",
            acting_user=acting_user,
            target_type="bot",
            target_id=user.id,
            details={
                "username": username,
                "owner_id": str(owner.id),
                "room_ids": [str(r) for r in rooms],
                "token_id": str(record.id),
                "networks": list(parsed_networks) if parsed_networks else None,
                "scopes": list(bot_scopes),
            },
        )
    return bot, user, token


async def _check_self_service_txn(ctx: Context, conn: AsyncConnection, owner_id: int) -> None:
    """A user's own new bot: allowed now, and within their limit (read in the same
    transaction, so an admin's change applies from the moment it commits)."""
    policy = await user_bot_policy(conn, ctx.settings)
    if not policy.users_may_create_bots:
        raise Forbidden("Users can't create bots on this server; ask an admin.")
    owned = await bot_store.list_bots(conn, owner_id=owner_id)
    if len(owned) >= policy.max_bots_per_user:
        raise Conflict(
            f"You own {len(owned)} bots; the limit is {policy.max_bots_per_user}. Delete one first."
        )


async def do_rotate_bot_token(
    ctx: Context,
    *,
    acting_user: Requester | None,
    bot_id: int,
    grace_hours: int,
    own_only: bool = False,
) -> str:
    """Issue a new token for the bot; its current one keeps working for ``grace_hours``
    (0: it stops now). A bot whose tokens were all revoked simply gets a new one.

    Raises:
        Forbidden: an API token.
        NotFound: no such (active) bot, or not one the caller may manage (its owner;
            admins any, unless ``own_only``).
        BadRequest: a grace period beyond the server's maximum.
    """
    _require_session(acting_user)
    if not 0 <= grace_hours <= ctx.settings.api_token_max_grace_hours:
        raise BadRequest(
            f"The grace period is 0 to {ctx.settings.api_token_max_grace_hours} hours."
        )
    async with ctx.db.transaction("rotate_bot_token") as txn:
        bot, _user = await _load_bot(txn.conn, bot_id)
        _require_manager(acting_user, bot, own_only=own_only)
        old = await current_token(txn.conn, bot_id, txn.now)
        new, token = await _insert_token(ctx, txn, bot_id, old.networks if old else None)
        grace_end = txn.now + dt.timedelta(hours=grace_hours)
        superseded = []
        for record in await token_store.list_tokens(txn.conn, user_id=bot_id, kind=BOT_KIND):
            if (
                record.id != new.id
                and record.replaced_by is None
                and record.revoked_at is None
                and (record.expires_at is None or record.expires_at > txn.now)
            ):
                end = grace_end if record.expires_at is None else min(grace_end, record.expires_at)
                await token_store.supersede_token_txn(
                    txn.conn, record.id, replaced_by=new.id, expires_at=end
                )
                superseded.append(str(record.id))
        if grace_hours == 0 and superseded:
            await _close_streams_txn(txn, bot_id, reason="token_rotated")
        await audit(
            ctx,
            txn,
            "bot.token_rotated",
            acting_user=acting_user,
            target_type="bot",
            target_id=bot_id,
            details={"token_id": str(new.id), "previous": superseded, "grace_hours": grace_hours},
        )
    return token


async def do_revoke_bot_tokens(
    ctx: Context, *, acting_user: Requester | None, bot_id: int, own_only: bool = False
) -> int:
    """Revoke every token of the bot at once (those in a grace period too).

    Returns:
        How many tokens stopped working.

    Raises:
        Forbidden: an API token.
        NotFound: no such (active) bot, or not one the caller may manage.
    """
    _require_session(acting_user)
    async with ctx.db.transaction("revoke_bot_tokens") as txn:
        bot, _user = await _load_bot(txn.conn, bot_id)
        _require_manager(acting_user, bot, own_only=own_only)
        revoked = await _revoke_all(txn, bot_id)
        await _close_streams_txn(txn, bot_id, reason="token_revoked")
        await audit(
            ctx,
            txn,
            "bot.token_revoked",
            acting_user=acting_user,
            target_type="bot",
            target_id=bot_id,
            details={"token_ids": revoked},
        )
    return len(revoked)


async def _close_streams_txn(txn: Txn, bot_id: int, *, reason: str) -> None:
    """Close the bot's open event streams (4401): a stream is authenticated once, at
    its hello, so without this one opened with a revoked token would go on reading."""
    await txn.append_event(
        EventType.SESSION_ENDED, payload(session_id=None, reason=reason), user_id=bot_id
    )


async def _revoke_all(txn: Txn, bot_id: int) -> list[str]:
    revoked = []
    for record in await token_store.list_tokens(txn.conn, user_id=bot_id, kind=BOT_KIND):
        if await token_store.revoke_token_txn(txn.conn, record.id, txn.now):
            revoked.append(str(record.id))
    return revoked


async def do_set_bot_rooms(
    ctx: Context,
    *,
    acting_user: Requester | None,
    bot_id: int,
    room_ids: Sequence[int],
    own_only: bool = False,
) -> tuple[int, ...]:
    """Replace the list of rooms the bot may be added to. It leaves every room it is in
    that is no longer on the list, at once.

    Raises:
        Forbidden: an API token; for a user (its owner), a room they don't own or
            moderate.
        NotFound: no such (active) bot, or not one the caller may manage.
        BadRequest: a room that doesn't exist, isn't visible to the admin, or is a DM.
    """
    _require_session(acting_user)
    async with ctx.db.transaction("set_bot_rooms") as txn:
        conn = txn.conn
        bot, _user = await _load_bot(conn, bot_id)
        _require_manager(acting_user, bot, own_only=own_only)
        rooms = await _allowed_rooms(conn, acting_user, room_ids)
        await bot_store.set_room_ids_txn(conn, bot_id, rooms)
        removed = []
        for membership in await room_store.list_memberships_of_user(conn, bot_id):
            if membership.room_id in rooms:
                continue
            room = await room_store.get_room_by_id(conn, membership.room_id)
            if room is None or room.kind is RoomKind.DM:
                continue  # DMs people opened with the bot are theirs to leave
            await remove_member_txn(ctx, txn, room, bot_id)
            removed.append(str(room.id))
        await audit(
            ctx,
            txn,
            "bot.rooms_set",
            acting_user=acting_user,
            target_type="bot",
            target_id=bot_id,
            details={
                "room_ids": [str(r) for r in rooms],
                "previous": [str(r) for r in bot.room_ids],
                "removed_from": removed,
            },
        )
    return rooms


async def do_delete_bot(
    ctx: Context, *, acting_user: Requester | None, bot_id: int, own_only: bool = False
) -> None:
    """Delete a bot: its account is deactivated (its messages stay) and every token of
    it is revoked.

    Raises:
        Forbidden: an API token.
        NotFound: no such (active) bot, or not one the caller may manage.
    """
    _require_session(acting_user)
    async with ctx.db.transaction("delete_bot") as txn:
        conn = txn.conn
        bot, _user = await _load_bot(conn, bot_id)
        _require_manager(acting_user, bot, own_only=own_only)
        await user_store.update_user_txn(conn, bot_id, is_active=False)
        revoked = await _revoke_all(txn, bot_id)
        updated = await user_store.get_user_by_id(conn, bot_id)
        await audit(
            ctx,
            txn,
            "bot.deleted",
            acting_user=acting_user,
            target_type="bot",
            target_id=bot_id,
            details={"owner_id": str(bot.owner_id), "token_ids": revoked},
        )
        if updated is not None:
            await txn.append_event(
                EventType.USER_UPDATED, user_view(updated).model_dump_json(), broadcast=True
            )
