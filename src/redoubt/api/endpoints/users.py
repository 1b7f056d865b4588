"""Accounts: me, lookups, and the admin chores."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from redoubt.actions.users import (
    do_change_password,
    do_create_user,
    do_deactivate_user,
    do_set_user_role,
    do_update_profile,
)
from redoubt.api.deps import Admin, Auth, Ctx, EnrolAuth, container_of, path_id, rate_limit, scoped
from redoubt.api.schemas import ChangePasswordBody, CreateUserBody, UpdateMeBody, UpdateUserBody
from redoubt.core.ids import format_id
from redoubt.core.ratelimit import Rate
from redoubt.domain.enums import UserRole
from redoubt.domain.scopes import Scope
from redoubt.domain.views import UserPublicView, UserView
from redoubt.queries.users import access_user, find_user_by_username, public_view, user_view

router = APIRouter(tags=["users"])


@router.get("/users/me", openapi_extra=scoped(Scope.USERS_READ), response_model=UserView)
async def get_me(requester: EnrolAuth) -> UserView:
    return user_view(requester.user)


@router.patch("/users/me", response_model=UserView)
async def update_me(body: UpdateMeBody, requester: Auth, ctx: Ctx) -> UserView:
    return user_view(
        await do_update_profile(ctx, display_name=body.display_name, acting_user=requester)
    )


@router.post("/users/me/password", status_code=204)
async def change_password(
    body: ChangePasswordBody, requester: Auth, request: Request, ctx: Ctx
) -> Response:
    """Change your password. The current one is required; every other session of yours
    ends (their event streams close), this one stays. A wrong current password is
    ``403`` and changes nothing."""
    # Each attempt is a guess at the current password: the same budget as logins, per
    # account, so a stolen session can't be turned into a fast password oracle.
    await rate_limit(
        request,
        f"password-change:{requester.id}",
        Rate(ctx.settings.rate_login_per_minute, 60.0),
    )
    await do_change_password(
        ctx,
        current_password=body.current_password,
        new_password=body.new_password,
        acting_user=requester,
    )
    return Response(status_code=204)


@router.get("/users", openapi_extra=scoped(Scope.USERS_READ), response_model=list[UserPublicView])
async def find_users(
    requester: Auth,
    ctx: Ctx,
    username: Annotated[str, Query(min_length=1, max_length=64)],
) -> list[UserPublicView]:
    """Look a user up by exact username: ids, usernames and display names only."""
    del requester
    user = await find_user_by_username(ctx, username)
    return [public_view(user)] if user is not None else []


@router.get(
    "/users/{user_id}", openapi_extra=scoped(Scope.USERS_READ), response_model=UserPublicView
)
async def get_user(user_id: str, requester: Auth, ctx: Ctx) -> UserPublicView:
    return public_view(await access_user(ctx, requester, path_id(user_id)))


@router.post("/users", openapi_extra=scoped(Scope.ADMIN), response_model=UserView, status_code=201)
async def create_user(body: CreateUserBody, admin: Admin, ctx: Ctx) -> UserView:
    """Admins create accounts (with a role: admin, user or guest)."""
    user = await do_create_user(
        ctx,
        username=body.username,
        display_name=body.display_name,
        password=body.password,
        role=UserRole(body.role),
        acting_user=admin,
        email=body.email,
    )
    return user_view(user)


@router.patch("/users/{user_id}", openapi_extra=scoped(Scope.ADMIN), response_model=UserView)
async def update_user(user_id: str, body: UpdateUserBody, admin: Admin, ctx: Ctx) -> UserView:
    return user_view(
        await do_set_user_role(ctx, path_id(user_id), UserRole(body.role), acting_user=admin)
    )


@router.post(
    "/users/{user_id}/deactivate", openapi_extra=scoped(Scope.ADMIN), response_model=UserView
)
async def deactivate_user(user_id: str, admin: Admin, ctx: Ctx) -> UserView:
    """Deactivate an account: every session ends and its WebSockets close at once."""
    return user_view(await do_deactivate_user(ctx, path_id(user_id), acting_user=admin))


@router.get("/presence", openapi_extra=scoped(Scope.USERS_READ), response_model=list[str])
async def presence(requester: Auth, request: Request) -> list[str]:
    """Ids of users with an open event stream (on any server process)."""
    del requester
    return [format_id(u) for u in await container_of(request).presence.online_user_ids()]
