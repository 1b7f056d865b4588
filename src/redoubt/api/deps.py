"""Request dependencies: the container, the authenticated requester, rate limits."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from redoubt.actions.auth import do_touch_session
from redoubt.container import Container
from redoubt.core.errors import Forbidden, NotFound, RateLimited, Unauthorized
from redoubt.core.ids import parse_id
from redoubt.core.ratelimit import Rate
from redoubt.domain.enums import UserRole
from redoubt.queries.auth import authenticate
from redoubt.queries.context import Context, Requester

__all__ = [
    "SESSION_COOKIE",
    "Admin",
    "Auth",
    "Ctx",
    "client_ip",
    "container_of",
    "origin_matches_host",
    "path_id",
    "rate_limit",
]

SESSION_COOKIE = "redoubt_session"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


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


async def _requester(request: Request) -> Requester:
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
        if (
            token is not None
            and request.method not in _SAFE_METHODS
            and not origin_matches_host(request.headers.get("origin"), request.headers.get("host"))
        ):
            # A cookie travels with cross-site requests; bearer headers don't.
            raise Forbidden("Cross-origin request refused.")
    if not token:
        raise Unauthorized
    requester, session = await authenticate(ctx, token, ip=client_ip(request))
    await rate_limit(
        request, f"api:{requester.id}", Rate(ctx.settings.rate_api_per_second * 5, 5.0)
    )
    await do_touch_session(ctx, session)
    return requester


Auth = Annotated[Requester, Depends(_requester)]


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
