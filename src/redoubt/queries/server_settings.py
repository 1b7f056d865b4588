"""Deployment-wide settings admins change at run time, with the config as the default.

Each read goes to the database inside the caller's own read or transaction: no
process-local cache, so every process of a scaled-out deployment enforces the same
policy the moment an admin's change commits.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.core.errors import Forbidden
from redoubt.core.settings import Settings
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Context, Requester
from redoubt.storage.server_settings import get_setting

__all__ = ["REQUIRE_2FA_ROLES_KEY", "read_required_2fa_roles", "required_2fa_roles"]

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
