"""One pure-ASGI middleware: incident ids, body limits, security headers, access log.

Kept as raw ASGI (not ``BaseHTTPMiddleware``) so it adds microseconds, not a task per
request, and so it can cut an oversized body off while it streams in.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from redoubt.core.logging import get_logger

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestGuard", "incident_id_of"]

_log = get_logger("redoubt.access")

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_UPLOAD_PATH = re.compile(r"^/api/v1/rooms/[^/]+/files/?$")


def incident_id_of(request: Request) -> str:
    state = request.scope.get("state") or {}
    return str(state.get("incident_id", "unknown"))


class _TooLarge(Exception):
    pass


class RequestGuard:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int, docs_prefix: str
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        # Multipart framing adds a little around the file itself.
        self.max_upload = max_upload_bytes + 64 * 1024
        self.docs_prefix = docs_prefix

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
        limit = self.max_upload if _UPLOAD_PATH.match(path) else self.max_body
        declared = _content_length(scope)
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in names)
                if b"content-security-policy" not in names and not path.startswith(
                    self.docs_prefix
                ):
                    headers.append(_API_CSP)
                headers.append((b"x-request-id", incident.encode()))
                message = {**message, "headers": headers}
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            if declared is not None and declared > limit:
                raise _TooLarge
            await self.app(scope, receive_wrapper, send_wrapper)
        except _TooLarge:
            if status == 0:
                await _reply_too_large(send_wrapper, incident)
        finally:
            _log.info(
                "request",
                method=scope["method"],
                path=path,  # never the query string: it may hold search terms
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
                incident_id=incident,
            )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reply_too_large(send: Any, incident: str) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "too_large",
                "message": "The request is too large.",
                "incident_id": incident,
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
