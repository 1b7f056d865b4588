"""User lookups and their public views."""

from __future__ import annotations

from redoubt.core.errors import Forbidden, NotFound
from redoubt.core.ids import format_id
from redoubt.domain.enums import UserRole
from redoubt.domain.views import UserPublicView, UserView
from redoubt.queries.context import Context, Requester
from redoubt.storage import users as user_store
from redoubt.storage.records import UserRecord

__all__ = [
    "access_user",
    "find_user_by_username",
    "list_users_for_admin",
    "public_view",
    "user_view",
]


def user_view(user: UserRecord) -> UserView:
    return UserView(
        id=format_id(user.id),
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        is_active=user.is_active,
    )


def public_view(user: UserRecord) -> UserPublicView:
    return UserPublicView(
        id=format_id(user.id),
        username=user.username,
        display_name=user.display_name,
        role=user.role,
    )


async def access_user(ctx: Context, requester: Requester, user_id: int) -> UserRecord:
    """Any signed-in user may look up another account's public profile.

    Raises:
        NotFound: no such user.
    """
    del requester  # every signed-in user may; kept for the uniform access_ signature
    async with ctx.db.read("access_user") as conn:
        user = await user_store.get_user_by_id(conn, user_id)
    if user is None:
        raise NotFound
    return user


async def find_user_by_username(ctx: Context, username: str) -> UserRecord | None:
    async with ctx.db.read("find_user_by_username") as conn:
        return await user_store.get_user_by_username(conn, username)


async def list_users_for_admin(
    ctx: Context, requester: Requester, *, limit: int, after_id: int = 0
) -> list[UserRecord]:
    """Every account in id order, deactivated ones too.

    Raises:
        Forbidden: not an admin.
    """
    if requester.user.role is not UserRole.ADMIN:
        raise Forbidden
    async with ctx.db.read("list_users_for_admin") as conn:
        return await user_store.list_users(conn, limit=limit, after_id=after_id)
