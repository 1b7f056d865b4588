"""One pure-ASGI middleware: incident ids, body limits, URL hygiene, security headers,
access log.

Kept as raw ASGI (not ``BaseHTTPMiddleware``) so it adds microseconds, not a task per
request, and so it can cut an oversized body off while it streams in.

A URL whose path or query decodes to a NUL byte or to invalid UTF-8 is refused with a
400: the server would otherwise see U+FFFD where the client sent something else (a
``%FF`` reaction becomes a real emoji), and PostgreSQL refuses NUL in text (a 500).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException as StarletteHTTPException

from redoubt.core.logging import get_logger

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestGuard", "incident_id_of", "loggable_path", "outer_error_headers"]

_log = get_logger("redoubt.access")

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
_DRAIN_SECONDS = 5.0


@functools.cache
def _upload_path(bot_api_prefix: str) -> re.Pattern[str]:
    """Paths that carry a file (they get the upload limit, not the body limit)."""
    bots = re.escape(bot_api_prefix)
    return re.compile(
        rf"^(?:/api/v1/rooms/[^/]+/files|{bots}/bot[^/]+/(?i:senddocument|sendphoto))/?$"
    )


@functools.cache
def _bot_path(bot_api_prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^({re.escape(bot_api_prefix)}(?:/file)?)/bot[^/]*")


def outer_error_headers(incident: str) -> dict[str, str]:
    """Headers for the generic 500, which Starlette's outermost ``ServerErrorMiddleware``
    sends past this middleware (so :class:`RequestGuard` can't add them itself)."""
    pairs = [*_SECURITY_HEADERS, _API_CSP, (b"x-request-id", incident.encode())]
    return {name.decode(): value.decode() for name, value in pairs}


def incident_id_of(request: Request) -> str:
    state = request.scope.get("state") or {}
    return str(state.get("incident_id", "unknown"))


class _TooLarge(StarletteHTTPException):
    """The body outgrew its limit.

    Raised from ``receive`` while the app reads the body, so it must be an
    ``HTTPException``: FastAPI turns any other exception from body parsing into a 400
    ("error parsing the body") and the client would never learn the body was too big.
    """

    def __init__(self) -> None:
        super().__init__(status_code=413, headers={"connection": "close"})


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        docs_prefix: str,
        bot_api_prefix: str,
    ) -> None:
        self.app = app
        self.bot_api_prefix = bot_api_prefix
        self.max_body = max_body_bytes
        # Multipart framing adds a little around the file itself.
        self.max_upload = max_upload_bytes + 64 * 1024
        self.docs_prefix = docs_prefix

    def _with_guard_headers(
        self, headers: list[tuple[bytes, bytes]], scope: Scope, incident: str
    ) -> list[tuple[bytes, bytes]]:
        out = list(headers)
        names = {k.lower() for k, _ in out}
        out.extend(h for h in _SECURITY_HEADERS if h[0] not in names)
        if b"content-security-policy" not in names and not scope["path"].startswith(
            self.docs_prefix
        ):
            out.append(_API_CSP)
        if scope.get("scheme") == "https":
            # Only over TLS: over plain HTTP browsers ignore it, and over TLS it pins
            # the next visits to TLS.
            out.append(_HSTS)
        out.append((b"x-request-id", incident.encode()))
        return out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incident = secrets.token_hex(8)
        scope.setdefault("state", {})["incident_id"] = incident
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        path: str = scope["path"]
        uploads = _upload_path(self.bot_api_prefix)
        limit = self.max_upload if uploads.match(path) else self.max_body
        declared = _content_length(scope)
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = self._with_guard_headers(message.get("headers", []), scope, incident)
                message = {**message, "headers": headers}
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    await _drain(receive, limit, more=message.get("more_body", False))
                    raise _TooLarge
            return message

        try:
            refusal = _refusal(scope, declared, limit)
            if refusal is not None:
                budget = limit if declared is None else declared
                if budget <= 2 * limit:
                    await _drain(receive, budget)
                await _reply_error(send_wrapper, incident, *refusal)
                return
            await self.app(scope, receive_wrapper, send_wrapper)
        except _TooLarge:
            if status == 0:
                await _reply_error(
                    send_wrapper, incident, 413, "too_large", "The request is too large."
                )
        except Exception:
            # Unhandled: the generic 500 goes out from outside this middleware.
            status = status or 500
            raise
        finally:
            _log.info(
                "request",
                method=scope["method"],
                # Never the query string (it may hold search terms), and never a Bot
                # API token (the path of /bot<token>/<method>).
                path=loggable_path(path, self.bot_api_prefix),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
                incident_id=incident,
            )


def loggable_path(path: str, bot_api_prefix: str = "") -> str:
    """``path`` for logs and labels: the token of a Bot API path (``/bot<token>/…``,
    ``/file/bot<token>/…``, under ``bot_api_prefix``) replaced."""
    return _bot_path(bot_api_prefix).sub(r"\1/bot<redacted>", path, count=1)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _refusal(scope: Scope, declared: int | None, limit: int) -> tuple[int, str, str] | None:
    """Status, code and message for a request refused before the app sees it."""
    if declared is not None and declared > limit:
        return 413, "too_large", "The request is too large."
    if not _url_is_clean(scope):
        return 400, "invalid_request", "The URL must be UTF-8 without NUL characters."
    return None


async def _drain(receive: Receive, budget: int, *, more: bool = True) -> None:
    """Read and drop the rest of a refused body, up to ``budget`` bytes and a few seconds.

    The 413 goes out with ``Connection: close``; closing a socket with unread bytes in it
    makes the kernel send a reset, and the client sees a broken connection instead of the
    answer. A body far over the limit is not worth reading, and isn't.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            while more and budget > 0:
                message = await receive()
                if message["type"] != "http.request":
                    return
                budget -= len(message.get("body", b""))
                more = message.get("more_body", False)


def _url_is_clean(scope: Scope) -> bool:
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    for part in (raw_path, scope.get("query_string", b"")):
        decoded = unquote_to_bytes(part)
        if b"\x00" in decoded:
            return False
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


async def _reply_error(send: Any, incident: str, status: int, code: str, message: str) -> None:
    body = json.dumps(
        {"error": {"code": code, "message": message, "incident_id": incident}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
