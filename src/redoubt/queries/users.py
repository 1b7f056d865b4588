"""User lookups and their public views."""

from __future__ import annotations

from redoubt.core.errors import NotFound
from redoubt.core.ids import format_id
from redoubt.domain.views import UserPublicView, UserView
from redoubt.queries.context import Context, Requester
from redoubt.storage import users as user_store
from redoubt.storage.records import UserRecord

__all__ = ["access_user", "find_user_by_username", "public_view", "user_view"]


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
        id=format_id(user.id), username=user.username, display_name=user.display_name
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
