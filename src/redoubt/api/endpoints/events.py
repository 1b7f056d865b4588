"""The WebSocket event stream (protocol in :mod:`redoubt.realtime.gateway`)."""

from __future__ import annotations

import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from redoubt.api.deps import SESSION_COOKIE, container_of, origin_matches_host
from redoubt.core.logging import get_logger

router = APIRouter(tags=["events"])
_log = get_logger(__name__)


class _StarletteTransport:
    __slots__ = ("_ws",)

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws

    async def receive_text(self) -> str:
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        text = message.get("text")
        # The protocol is text frames; a binary one fails validation like any other
        # malformed frame (Starlette's receive_text would raise KeyError instead).
        return text if isinstance(text, str) else ""

    async def send_text(self, data: str) -> None:
        await self._ws.send_text(data)

    async def close(self, code: int, reason: str) -> None:
        await self._ws.close(code, reason)


@router.websocket("/events")
async def events(ws: WebSocket) -> None:
    container = container_of(ws)  # type: ignore[arg-type]  # WebSocket shares Request's app
    await ws.accept()
    # The session cookie counts only for same-origin pages (no cross-site WebSocket
    # hijacking); other clients send their token in the hello frame.
    cookie = ws.cookies.get(SESSION_COOKIE)
    if cookie is not None and not origin_matches_host(
        ws.headers.get("origin"), ws.headers.get("host")
    ):
        cookie = None
    ip = ws.client.host if ws.client else ""
    try:
        await container.gateway.serve(_StarletteTransport(ws), cookie_token=cookie, ip=ip)
    except WebSocketDisconnect:
        return
    except Exception as exc:
        # As for HTTP: the client learns only that it failed and under which incident
        # id; the log gets the details.
        incident = str((ws.scope.get("state") or {}).get("incident_id", "unknown"))
        _log.error("websocket_unhandled_error", incident_id=incident, exc_info=exc)
        with contextlib.suppress(Exception):
            await ws.send_text(
                json.dumps(
                    {
                        "type": "error",
                        "code": "internal_error",
                        "message": "Something went wrong on our side.",
                        "incident_id": incident,
                    }
                )
            )
            await ws.close(1011, "internal error")
