"""Login and logout."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from redoubt.actions.auth import do_login, do_logout
from redoubt.api.deps import SESSION_COOKIE, Auth, Ctx, client_ip, rate_limit
from redoubt.api.schemas import LoginBody
from redoubt.core.ratelimit import Rate
from redoubt.domain.views import UserView
from redoubt.queries.users import user_view

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginResponse(BaseModel):
    token: str
    """Send as ``Authorization: Bearer <token>``. Shown once; store it like a password."""
    user: UserView


@router.post("/login", response_model=LoginResponse)
async def login(body: LoginBody, request: Request, response: Response, ctx: Ctx) -> LoginResponse:
    """Exchange a username and password for a session token (also set as a cookie)."""
    ip = client_ip(request)
    per_minute = Rate(ctx.settings.rate_login_per_minute, 60.0)
    await rate_limit(request, f"login-ip:{ip}", per_minute)
    await rate_limit(request, f"login-user:{body.username.lower()}", per_minute)
    result = await do_login(
        ctx,
        username=body.username,
        password=body.password,
        ip=ip,
        user_agent=request.headers.get("user-agent", ""),
    )
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=ctx.settings.session_lifetime_hours * 3600,
        httponly=True,
        secure=ctx.settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return LoginResponse(token=result.token, user=user_view(result.user))


@router.post("/logout", status_code=204)
async def logout(requester: Auth, response: Response, ctx: Ctx) -> Response:
    """End the current session."""
    await do_logout(ctx, acting_user=requester)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response
