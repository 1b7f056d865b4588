"""Resolving a bot token to its bot, and reading bot accounts (admin views)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.core.errors import Forbidden, NotFound, Unauthorized
from redoubt.core.ids import format_id
from redoubt.core.tokens import hash_token
from redoubt.domain.bots import BOT_KIND, BotView, bot_id_of_token
from redoubt.domain.enums import UserRole
from redoubt.domain.scopes import Scope, TokenGrant
from redoubt.domain.tokens import address_in
from redoubt.queries.context import Context, Requester
from redoubt.queries.rooms import QUARANTINED_MESSAGE
from redoubt.queries.users import public_view
from redoubt.storage import api_tokens as token_store
from redoubt.storage import bots as bot_store
from redoubt.storage import rooms as room_store
from redoubt.storage import users as user_store
from redoubt.storage.api_tokens import ApiTokenRecord
from redoubt.storage.bots import BotRecord

__all__ = [
    "READ_METHODS",
    "authenticate_bot",
    "bot_grant",
    "bot_scopes",
    "current_token",
    "get_bot_view",
    "list_bot_views",
    "list_owned_bot_views",
    "require_bot_write",
]


def _live(record: ApiTokenRecord, now: dt.datetime) -> bool:
    return record.revoked_at is None and (record.expires_at is None or record.expires_at > now)


async def authenticate_bot(ctx: Context, token: str, *, ip: str) -> tuple[Requester, BotRecord]:
    """Resolve a bot token (``<bot id>:<secret>``) to the bot's user and its bot row.

    The requester's grant is the bot's: its scopes (on the native REST API), its
    allowed rooms plus the DMs people opened with it, and whether it is quarantined
    (then it may read and nothing else: the grant is where every write path, REST,
    Bot API and the room matrix, learns it). Beyond the grant, a bot's rights are its
    user's, limited by the rooms it is a member of and the role matrix.

    Raises:
        Unauthorized: malformed, unknown, revoked or expired token (a rotated one past
            its grace period), an address outside the token's ranges, a token whose id
            part isn't its bot, a deactivated bot; the same answer for each.
    """
    bot_id = bot_id_of_token(token)
    if bot_id is None:
        raise Unauthorized
    async with ctx.db.read("authenticate_bot") as conn:
        found = await token_store.get_token_and_user(conn, hash_token(token))
        if found is None:
            raise Unauthorized
        record, user = found
        bot = await bot_store.get_bot(conn, user.id)
        dms = await room_store.list_dm_room_ids_of_user(conn, user.id)
    if (
        bot is None
        or record.kind != BOT_KIND
        or record.user_id != bot_id
        or user.role is not UserRole.BOT
        or not user.is_active
        or not _live(record, ctx.clock.now())
        or (record.networks is not None and not address_in(ip, record.networks))
    ):
        raise Unauthorized
    # Scale-out: a quarantine another process tripped and hasn't written yet.
    marked = (
        bot.quarantined_at is None
        and ctx.bot_windows is not None
        and await ctx.bot_windows.is_marked(bot.user_id)
    )
    grant = bot_grant(ctx, bot, record, dms, marked=marked)
    return Requester(user=user, session_id=None, ip=ip, grant=grant), bot


READ_METHODS = frozenset(
    {
        "getme",
        "getupdates",
        "getwebhookinfo",
        "deletewebhook",
        "getmycommands",
        "getchat",
        "getchatmember",
        "getchatmembercount",
        "getchatadministrators",
        "getfile",
        "logout",
        "close",
    }
)
"""Bot API methods (lower case) that only read, or stop the bot's own webhook delivery
so it can poll. Every other method is a write: deny by default, so a method added
later is a write until someone lists it here."""


def require_bot_write(requester: Requester) -> None:
    """The one check before a bot writes through the Bot API (the REST routes check the
    same grant by their scope, and the room matrix refuses any room write of a
    quarantined bot as a second lock).

    Raises:
        Forbidden: the bot is quarantined, or its scopes lack ``messages:write``.
    """
    grant = requester.grant
    if grant is None:
        return  # not a bot token: nothing to add to the user's own rights
    if grant.quarantined:
        raise Forbidden(QUARANTINED_MESSAGE)
    if not grant.allows(Scope.MESSAGES_WRITE):
        raise Forbidden("bot lacks the messages:write scope")


def bot_scopes(values: tuple[str, ...]) -> frozenset[Scope]:
    """The scopes a bot's row names that a bot may hold (never ``admin``)."""
    return frozenset(
        Scope(v) for v in values if v in Scope._value2member_map_ and v != Scope.ADMIN.value
    )


def bot_grant(
    ctx: Context,
    bot: BotRecord,
    record: ApiTokenRecord,
    dm_room_ids: list[int],
    *,
    marked: bool = False,
) -> TokenGrant:
    """What a bot's token may do now. A quarantine found by this process but not yet
    written (a history burst) counts already, and so does one any process found
    (``marked``: its Redis marker, in scale-out)."""
    return TokenGrant(
        token_id=record.id,
        scopes=bot_scopes(bot.scopes),
        room_ids=frozenset(bot.room_ids) | frozenset(dm_room_ids),
        quarantined=bot.quarantined_at is not None
        or marked
        or bot.user_id in ctx.bot_activity.pending,
    )


async def current_token(
    conn: AsyncConnection, bot_id: int, now: dt.datetime
) -> ApiTokenRecord | None:
    """The bot's working token that hasn't been rotated away (the newest), if any."""
    for record in await token_store.list_tokens(conn, user_id=bot_id, kind=BOT_KIND):
        if record.replaced_by is None and _live(record, now):
            return record
    return None


async def _views(ctx: Context, conn: AsyncConnection, bots: list[BotRecord]) -> list[BotView]:
    ids = list({b.user_id for b in bots} | {b.owner_id for b in bots})
    people = {u.id: u for u in await user_store.get_users_by_ids(conn, ids)}
    now = ctx.clock.now()
    out = []
    for bot in bots:
        account = people.get(bot.user_id)
        token = await current_token(conn, bot.user_id, now)
        out.append(
            BotView(
                id=format_id(bot.user_id),
                username=account.username if account else "",
                display_name=account.display_name if account else "",
                description=bot.description,
                owner=public_view(people[bot.owner_id]),
                room_ids=[format_id(r) for r in bot.room_ids],
                created_at=bot.created_at,
                token_hint=token.hint if token else None,
                quarantined_at=bot.quarantined_at,
                quarantine_reason=bot.quarantine_reason,
                scopes=list(bot.scopes),
            )
        )
    return out


async def list_bot_views(ctx: Context) -> list[BotView]:
    """Every bot whose account is active, oldest first (admin routes check the role)."""
    async with ctx.db.read("list_bots") as conn:
        return await _views(ctx, conn, await bot_store.list_bots(conn))


async def list_owned_bot_views(ctx: Context, owner_id: int) -> list[BotView]:
    """The active bots ``owner_id`` owns, oldest first (a user's "My bots")."""
    async with ctx.db.read("list_owned_bots") as conn:
        return await _views(ctx, conn, await bot_store.list_bots(conn, owner_id=owner_id))


async def get_bot_view(ctx: Context, bot_id: int) -> BotView:
    """One active bot.

    Raises:
        NotFound: no such bot, or it was deleted.
    """
    async with ctx.db.read("get_bot") as conn:
        bot = await bot_store.get_bot(conn, bot_id)
        account = await user_store.get_user_by_id(conn, bot_id)
        if bot is None or account is None or not account.is_active:
            raise NotFound("No such bot.")
        return (await _views(ctx, conn, [bot]))[0]
