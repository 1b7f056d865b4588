"""Deployment-wide settings admins change at run time, with the config as the default.

Each read goes to the database inside the caller's own read or transaction: no
process-local cache, so every process of a scaled-out deployment enforces the same
policy the moment an admin's change commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.core.errors import Forbidden
from redoubt.core.settings import Settings
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Context, Requester
from redoubt.storage.server_settings import get_setting

__all__ = [
    "MAX_BOTS_PER_USER_KEY",
    "REQUIRE_2FA_ROLES_KEY",
    "USERS_MAY_CREATE_BOTS_KEY",
    "UserBotPolicy",
    "read_required_2fa_roles",
    "read_user_bot_policy",
    "required_2fa_roles",
    "user_bot_policy",
]

REQUIRE_2FA_ROLES_KEY = "require_2fa_roles"


async def required_2fa_roles(conn: AsyncConnection, settings: Settings) -> frozenset[UserRole]:
    """The roles that must use a second factor: what an admin stored, else the
    deployment's ``require_2fa_roles``."""
    stored = await get_setting(conn, REQUIRE_2FA_ROLES_KEY)
    if stored is None:
        return frozenset(UserRole(str(r)) for r in settings.require_2fa_roles)
    # Only do_set_required_2fa_roles writes it, from a validated list of role names;
    # anything else is a corrupt row, and UserRole() refusing it fails closed (500)
    # rather than silently dropping a requirement.
    return frozenset(UserRole(r) for r in stored)


async def read_required_2fa_roles(ctx: Context, requester: Requester) -> frozenset[UserRole]:
    """The second-factor policy, for an admin's settings page."""
    if requester.user.role is not UserRole.ADMIN:
        raise Forbidden
    async with ctx.db.read("required_2fa_roles") as conn:
        return await required_2fa_roles(conn, ctx.settings)


USERS_MAY_CREATE_BOTS_KEY = "users_may_create_bots"
MAX_BOTS_PER_USER_KEY = "max_bots_per_user"


@dataclass(frozen=True, slots=True)
class UserBotPolicy:
    """Whether users may create bots they own, and how many each."""

    users_may_create_bots: bool
    max_bots_per_user: int


async def user_bot_policy(conn: AsyncConnection, settings: Settings) -> UserBotPolicy:
    """The self-service bot policy: what an admin stored, else the deployment config."""
    allowed = await get_setting(conn, USERS_MAY_CREATE_BOTS_KEY)
    limit = await get_setting(conn, MAX_BOTS_PER_USER_KEY)
    # Only do_set_user_bot_policy writes them, from validated values; a corrupt row
    # fails closed (off, no bots) rather than opening self-service.
    return UserBotPolicy(
        users_may_create_bots=(
            settings.users_may_create_bots if allowed is None else allowed is True
        ),
        max_bots_per_user=(
            settings.max_bots_per_user
            if limit is None
            else (limit if isinstance(limit, int) and not isinstance(limit, bool) else 0)
        ),
    )


async def read_user_bot_policy(ctx: Context) -> UserBotPolicy:
    """The self-service bot policy. Not a secret: every signed-in user may read it (the
    web client shows "My bots" when it is on); only admins change it."""
    async with ctx.db.read("user_bot_policy") as conn:
        return await user_bot_policy(conn, ctx.settings)
