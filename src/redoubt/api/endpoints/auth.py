"""Login, logout and the browser's view of its session."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from redoubt.actions.auth import LoginChallenge, LoginResult, do_finish_login, do_login, do_logout
from redoubt.actions.notices import do_note_lockout
from redoubt.api.deps import (
    SESSION_COOKIE,
    Ctx,
    EnrolAuth,
    client_ip,
    container_of,
    origin_matches_host,
    rate_limit,
    session_of,
    session_token_of,
)
from redoubt.api.schemas import LoginBody, LoginTwoFactorBody
from redoubt.core.errors import Forbidden, RateLimited, Unauthorized
from redoubt.core.ratelimit import Rate
from redoubt.core.tokens import csrf_token_for
from redoubt.domain.views import UserView
from redoubt.queries.two_factor import challenge_owner
from redoubt.queries.users import user_view

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginResponse(BaseModel):
    status: Literal["ok", "two_factor_required"] = "ok"
    """``ok``: signed in. ``two_factor_required``: the password was right; send
    ``challenge`` with a code to ``POST /auth/login/2fa`` (no session exists yet)."""
    challenge: str | None = None
    """``two_factor_required`` only: good for 5 minutes, 5 wrong codes, one use."""
    methods: list[Literal["totp", "recovery_code"]] | None = None
    """``two_factor_required`` only: the kinds of code the second step accepts."""
    token: str | None
    """Token mode only: send as ``Authorization: Bearer <token>``. Shown once; store it
    like a password. Null in cookie mode: the token is only in the HttpOnly cookie."""
    csrf_token: str | None
    """Cookie mode only: send as ``X-CSRF-Token`` on every request that changes state."""
    user: UserView | None
    """Null until signed in."""


class SessionResponse(BaseModel):
    user: UserView
    csrf_token: str
    """Send as ``X-CSRF-Token`` on every cookie-authenticated request that changes state."""
    enrol_only: bool
    """The account's role requires a second factor it hasn't set up: this session may
    only set one up (``/users/me/2fa``), read ``/users/me`` and this, and sign out."""


async def _login_rate_limits(request: Request, ctx: Ctx, username: str | None) -> None:
    """Per address and per account: every guess at a password or a code spends both."""
    per_minute = Rate(ctx.settings.rate_login_per_minute, 60.0)
    await rate_limit(request, f"login-ip:{client_ip(request)}", per_minute)
    if username is not None:
        await rate_limit(request, f"login-user:{username.lower()}", per_minute)


def _failure_keys(ctx: Ctx, username: str) -> list[tuple[str, Rate]]:
    """The failed-login budgets of one account name (existing or not: a name that
    doesn't exist locks exactly like one that does, so a lock tells nothing)."""
    name = username.lower()
    return [
        (f"login-fail-h:{name}", Rate(ctx.settings.login_failures_per_hour, 3600.0)),
        (f"login-fail-d:{name}", Rate(ctx.settings.login_failures_per_day, 86400.0)),
    ]


async def _refuse_if_locked(request: Request, ctx: Ctx, username: str | None) -> None:
    if username is None:
        return
    limiter = container_of(request).rate_limiter
    for key, rate in _failure_keys(ctx, username):
        decision = await limiter.peek(key, rate)
        if not decision.allowed:
            raise RateLimited(decision.retry_after)


async def _count_failure(request: Request, ctx: Ctx, username: str | None) -> None:
    """Spend one failure; when that used up a budget, the account is now locked: note
    it (once: later attempts are refused before they count)."""
    if username is None:
        return
    limiter = container_of(request).rate_limiter
    locked_for = 0.0
    for key, rate in _failure_keys(ctx, username):
        await limiter.hit(key, rate)
        after = await limiter.peek(key, rate)
        if not after.allowed:
            locked_for = max(locked_for, after.retry_after)
    if locked_for:
        await do_note_lockout(ctx, username=username, ip=client_ip(request), seconds=locked_for)


async def _forget_failures(request: Request, ctx: Ctx, username: str) -> None:
    limiter = container_of(request).rate_limiter
    for key, _rate in _failure_keys(ctx, username):
        await limiter.reset(key)


def _refuse_cross_site_cookie_login(request: Request, mode: Literal["token", "cookie"]) -> None:
    """Login CSRF: a page on another site could post the attacker's own credentials
    in cookie mode and leave the victim's browser signed in to the attacker's account
    (so what the victim then types lands there). Browsers send Origin on every POST."""
    if mode == "cookie" and not origin_matches_host(
        request.headers.get("origin"), request.headers.get("host")
    ):
        raise Forbidden("Cross-origin request refused.")


def _signed_in(
    result: LoginResult, mode: Literal["token", "cookie"], response: Response, ctx: Ctx
) -> LoginResponse:
    """The answer to a login that opened a session (either step)."""
    user = user_view(result.user)
    if mode == "token":
        return LoginResponse(token=result.token, csrf_token=None, user=user)
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=ctx.settings.session_lifetime_hours * 3600,
        httponly=True,
        secure=ctx.settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return LoginResponse(token=None, csrf_token=csrf_token_for(result.token), user=user)


@router.post("/login", response_model=LoginResponse)
async def login(body: LoginBody, request: Request, response: Response, ctx: Ctx) -> LoginResponse:
    """Exchange a username and password for a session.

    Scripts use ``mode: "token"`` (the default) and get a bearer token. Browsers use
    ``mode: "cookie"``: the session goes into an HttpOnly, SameSite=Strict cookie and
    the answer holds only a CSRF token. An account with a second factor gets
    ``status: "two_factor_required"`` and a challenge instead (no token, no cookie).
    """
    _refuse_cross_site_cookie_login(request, body.mode)
    await _login_rate_limits(request, ctx, body.username)
    await _refuse_if_locked(request, ctx, body.username)
    try:
        result = await do_login(
            ctx,
            username=body.username,
            password=body.password,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    except Unauthorized:
        await _count_failure(request, ctx, body.username)
        raise
    if isinstance(result, LoginChallenge):
        return LoginResponse(
            status="two_factor_required",
            challenge=result.challenge,
            methods=["totp", "recovery_code"],
            token=None,
            csrf_token=None,
            user=None,
        )
    await _forget_failures(request, ctx, body.username)
    return _signed_in(result, body.mode, response, ctx)


@router.post("/login/2fa", response_model=LoginResponse)
async def login_second_factor(
    body: LoginTwoFactorBody, request: Request, response: Response, ctx: Ctx
) -> LoginResponse:
    """The second step: the challenge from ``POST /auth/login`` and a TOTP or recovery
    code. Answers like a password-only login. Every failure (wrong code; unknown,
    expired or used-up challenge) is the same ``401``."""
    # The same budgets as the password step: per address, and per account (the
    # challenge's), so the two steps together get no more guesses than one.
    _refuse_cross_site_cookie_login(request, body.mode)
    owner = await challenge_owner(ctx, body.challenge)
    await _login_rate_limits(request, ctx, owner)
    await _refuse_if_locked(request, ctx, owner)
    try:
        result = await do_finish_login(
            ctx,
            challenge=body.challenge,
            code=body.code,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    except Unauthorized:
        await _count_failure(request, ctx, owner)
        raise
    await _forget_failures(request, ctx, result.user.username)
    return _signed_in(result, body.mode, response, ctx)


@router.get("/session", response_model=SessionResponse)
async def session(requester: EnrolAuth, request: Request) -> SessionResponse:
    """Who is signed in, and the CSRF token of this session (the web client calls this
    on load, since it can't read its HttpOnly cookie)."""
    return SessionResponse(
        user=user_view(requester.user),
        csrf_token=csrf_token_for(session_token_of(request)),
        enrol_only=session_of(request).enrol_only,
    )


@router.post("/logout", status_code=204)
async def logout(requester: EnrolAuth, response: Response, ctx: Ctx) -> Response:
    """End the current session."""
    await do_logout(ctx, acting_user=requester)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response
