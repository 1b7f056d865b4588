"""Deployment-wide settings admins change at run time."""

from __future__ import annotations

from collections.abc import Iterable

from redoubt.actions._common import audit
from redoubt.core.errors import BadRequest, Forbidden
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Context, Requester
from redoubt.queries.server_settings import (
    MAX_BOTS_PER_USER_KEY,
    REQUIRE_2FA_ROLES_KEY,
    USERS_MAY_CREATE_BOTS_KEY,
    UserBotPolicy,
    required_2fa_roles,
    user_bot_policy,
)
from redoubt.storage.server_settings import put_setting_txn

__all__ = ["do_set_required_2fa_roles", "do_set_user_bot_policy", "role_names"]

# Stable order for storage, answers and audit details (most privileged first).
_ROLE_ORDER = (UserRole.ADMIN, UserRole.USER, UserRole.GUEST, UserRole.BOT)


def role_names(roles: Iterable[UserRole]) -> list[str]:
    """``roles`` as role names in a fixed order, so equal sets always look the same."""
    chosen = set(roles)
    return [r.value for r in _ROLE_ORDER if r in chosen]


async def do_set_required_2fa_roles(
    ctx: Context, roles: frozenset[UserRole], *, acting_user: Requester | None
) -> frozenset[UserRole]:
    """Set which roles must use a second factor (stored; the config is only the default).

    Existing sessions are left alone: the policy is applied at each login (a required
    role without a second factor gets an enrol-only session) and when a user tries to
    turn their second factor off. Ending every session of a whole role on a settings
    change would be a far bigger step than the admin asked for.

    Raises:
        Forbidden: the caller is not an admin.
    """
    if acting_user is not None and acting_user.user.role is not UserRole.ADMIN:
        raise Forbidden
    async with ctx.db.transaction("set_required_2fa_roles") as txn:
        before = await required_2fa_roles(txn.conn, ctx.settings)
        await put_setting_txn(
            txn.conn,
            REQUIRE_2FA_ROLES_KEY,
            role_names(roles),
            now=txn.now,
            updated_by=acting_user.id if acting_user else None,
        )
        await audit(
            ctx,
            txn,
            "settings.require_2fa_roles",
            acting_user=acting_user,
            target_type="server",
            target_id=None,
            details={"from": role_names(before), "to": role_names(roles)},
        )
    return roles


async def do_set_user_bot_policy(
    ctx: Context, policy: UserBotPolicy, *, acting_user: Requester | None
) -> UserBotPolicy:
    """Set whether users may create bots they own, and how many each (audited as
    ``settings.user_bots``).

    Turning self-service off stops new bots only: bots users already own keep working,
    and their owners can still rotate, revoke, re-room and delete them.

    Raises:
        Forbidden: the caller is not an admin.
        BadRequest: a limit outside 0-1000.
    """
    if acting_user is not None and acting_user.user.role is not UserRole.ADMIN:
        raise Forbidden
    if not 0 <= policy.max_bots_per_user <= _MAX_BOTS_LIMIT:
        raise BadRequest(f"The limit is 0 to {_MAX_BOTS_LIMIT} bots per user.")
    async with ctx.db.transaction("set_user_bot_policy") as txn:
        before = await user_bot_policy(txn.conn, ctx.settings)
        updated_by = acting_user.id if acting_user else None
        await put_setting_txn(
            txn.conn,
            USERS_MAY_CREATE_BOTS_KEY,
            policy.users_may_create_bots,
            now=txn.now,
            updated_by=updated_by,
        )
        await put_setting_txn(
            txn.conn,
            MAX_BOTS_PER_USER_KEY,
            policy.max_bots_per_user,
            now=txn.now,
            updated_by=updated_by,
        )
        await audit(
            ctx,
            txn,
            "settings.user_bots",
            acting_user=acting_user,
            target_type="server",
            target_id=None,
            details={"from": _policy_details(before), "to": _policy_details(policy)},
        )
    return policy


_MAX_BOTS_LIMIT = 1000


def _policy_details(policy: UserBotPolicy) -> dict[str, object]:
    return {
        "users_may_create_bots": policy.users_may_create_bots,
        "max_bots_per_user": policy.max_bots_per_user,
    }
