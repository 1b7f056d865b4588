"""Request dependencies: the container, the authenticated requester, rate limits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from redoubt.actions.auth import do_touch_session
from redoubt.container import Container
from redoubt.core.errors import (
    Forbidden,
    NotFound,
    RateLimited,
    TwoFactorEnrolmentRequired,
    Unauthorized,
)
from redoubt.core.ids import parse_id
from redoubt.core.ratelimit import Rate
from redoubt.core.tokens import csrf_token_matches
from redoubt.domain.bots import bot_id_of_token
from redoubt.domain.enums import UserRole
from redoubt.domain.scopes import READ_SCOPES, Scope
from redoubt.queries.api_tokens import PAT_KIND, authenticate_token
from redoubt.queries.auth import authenticate
from redoubt.queries.bots import authenticate_bot
from redoubt.queries.context import Context, Requester
from redoubt.queries.rooms import QUARANTINED_MESSAGE
from redoubt.storage.records import SessionRecord

__all__ = [
    "SESSION_COOKIE",
    "Admin",
    "Auth",
    "Ctx",
    "EnrolAuth",
    "client_ip",
    "container_of",
    "origin_matches_host",
    "path_id",
    "rate_limit",
    "scoped",
    "session_of",
    "session_token_of",
    "token_failure_guard",
]

SESSION_COOKIE = "redoubt_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


SCOPE_EXTRA_KEY = "x-token-scope"
API_PREFIX = "/api/v1"


def scoped(scope: Scope) -> dict[str, object]:
    """``openapi_extra`` for a route API tokens may call with ``scope``::

        @router.get("/rooms", openapi_extra=scoped(Scope.MESSAGES_READ))

    A route without it is for session logins only: tokens get 403 there. The scope is
    listed in the OpenAPI document, so token users can see what each route needs.
    """
    return {SCOPE_EXTRA_KEY: scope.value}


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def _ctx(request: Request) -> Context:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool, which
    # cost a thread hop on every request.
    return container_of(request).context


Ctx = Annotated[Context, Depends(_ctx)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def origin_matches_host(origin: str | None, host: str | None) -> bool:
    """Same-origin check for cookie-authenticated requests (CSRF, cross-site WebSocket)."""
    if not origin or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


async def rate_limit(request: Request, key: str, rate: Rate) -> None:
    decision = await container_of(request).rate_limiter.hit(key, rate)
    if not decision.allowed:
        raise RateLimited(decision.retry_after)


async def _any_session(request: Request) -> Requester:
    """The caller, from a bearer token or the session cookie (with CSRF checks for
    cookie writes), enrol-only sessions included."""
    container = container_of(request)
    ctx = container.context
    header = request.headers.get("authorization")
    token: str | None = None
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise Unauthorized
        token = value.strip()
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if token is not None and request.method not in _SAFE_METHODS:
            # A cookie travels with cross-site requests; bearer headers don't. Two
            # independent checks: the browser-set Origin, and a header only our own
            # page can know (the HMAC of the session token, from /auth/session).
            if not origin_matches_host(request.headers.get("origin"), request.headers.get("host")):
                raise Forbidden("Cross-origin request refused.")
            if not csrf_token_matches(token, request.headers.get(CSRF_HEADER)):
                raise Forbidden("Missing or wrong CSRF token.")
    if not token:
        raise Unauthorized
    ip = client_ip(request)
    if header is not None:
        requester = await _bearer(request, container, token, ip)
    else:
        requester, session = await authenticate(ctx, token, ip=ip)
        request.state.session_token = token
        request.state.session = session
    await rate_limit(
        request, f"api:{requester.id}", Rate(ctx.settings.rate_api_per_second * 5, 5.0)
    )
    if requester.grant is None:
        await do_touch_session(ctx, session_of(request))
    return requester


@contextlib.asynccontextmanager
async def token_failure_guard(container: Container, ip: str) -> AsyncIterator[None]:
    """Around a token check: refuse at once (429) when this address used up its budget
    of failed tokens, and count an :class:`Unauthorized` from the check against it.
    Shared by bearer tokens and the Bot API's tokens in URLs."""
    guard_key = f"token-fail:{ip}"
    guard = Rate(container.context.settings.rate_token_failures_per_minute, 60.0)
    peeked = await container.rate_limiter.peek(guard_key, guard)
    if not peeked.allowed:
        raise RateLimited(peeked.retry_after)
    try:
        yield
    except Unauthorized:
        await container.rate_limiter.hit(guard_key, guard)
        raise


async def _bearer(request: Request, container: Container, token: str, ip: str) -> Requester:
    """A bearer token: a session's or an API token. Failures are counted per address;
    past the budget every bearer token from there gets 429, so tokens can't be guessed
    (and a right one can't be told from a wrong one while it lasts)."""
    ctx = container.context
    async with token_failure_guard(container, ip):
        if token.startswith(f"rdt_{PAT_KIND}_"):
            requester, record = await authenticate_token(ctx, token, ip=ip)
            operation = _check_scope(request, requester)
            container.token_usage.note(record.id, ip=ip, operation=operation)
            request.state.session = None
            return requester
        if bot_id_of_token(token) is not None:
            # A bot's token on the native API: its grant holds the bot's scopes and
            # rooms (and its quarantine), so the same checks as for API tokens apply.
            requester, _bot = await authenticate_bot(ctx, token, ip=ip)
            operation = _check_scope(request, requester)
            if requester.grant is not None:
                container.token_usage.note(requester.grant.token_id, ip=ip, operation=operation)
            request.state.session = None
            return requester
        requester, session = await authenticate(ctx, token, ip=ip)
    request.state.session_token = token
    request.state.session = session
    return requester


def _check_scope(request: Request, requester: Requester) -> str:
    """Refuse a token on a route outside its scopes (or on a session-only route);
    return the route's name for the token's activity log."""
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    needed = extra.get(SCOPE_EXTRA_KEY)
    grant = requester.grant
    if needed is None or grant is None:
        raise Forbidden("API tokens can't use this route; it needs a signed-in session.")
    if not grant.allows(Scope(needed)):
        raise Forbidden(f"This token lacks the {needed} scope.")
    if grant.quarantined and Scope(needed) not in READ_SCOPES:
        raise Forbidden(QUARANTINED_MESSAGE)
    path = str(getattr(route, "path", "?"))
    if not path.startswith(API_PREFIX):
        path = API_PREFIX + path  # routes of included routers hold their own part only
    return f"{request.method} {path}"


EnrolAuth = Annotated[Requester, Depends(_any_session)]
"""For the few routes an enrol-only session may call (its role requires a second factor
it hasn't set up): reading its session and account, setting up the factor, signing
out. Every other route takes :data:`Auth`, which refuses such sessions."""


async def _requester(request: Request, requester: EnrolAuth) -> Requester:
    if requester.grant is None and session_of(request).enrol_only:
        raise TwoFactorEnrolmentRequired
    return requester


Auth = Annotated[Requester, Depends(_requester)]


def session_token_of(request: Request) -> str:
    """The token that authenticated this request (after :data:`Auth` ran)."""
    token: str = request.state.session_token
    return token


def session_of(request: Request) -> SessionRecord:
    """The session that authenticated this request (after :data:`Auth` ran)."""
    session: SessionRecord = request.state.session
    return session


async def _admin(requester: Auth) -> Requester:
    if requester.user.role is not UserRole.ADMIN:
        raise Forbidden
    return requester


Admin = Annotated[Requester, Depends(_admin)]


def path_id(value: str) -> int:
    """An id from the URL; anything that can't be one of ours is simply not found."""
    parsed = parse_id(value)
    if parsed is None:
        raise NotFound
    return parsed
