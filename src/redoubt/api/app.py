"""Builds the FastAPI application around a container."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import swagger_ui_bundle
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from redoubt import __version__
from redoubt.api.deps import API_PREFIX
from redoubt.api.endpoints import (
    admin,
    auth,
    botapi,
    bots,
    doctor,
    events,
    files,
    health,
    incoming_hooks,
    messages,
    notices,
    outgoing_hooks,
    password_reset,
    rooms,
    search,
    sessions,
    tokens,
    two_factor,
    users,
)
from redoubt.api.errors import install_error_handlers
from redoubt.api.middleware import RequestGuard
from redoubt.api.web import install_web_client
from redoubt.container import Container

__all__ = ["API_PREFIX", "create_app"]

_DOCS_PREFIX = "/api/docs"
_DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Redoubt API</title>
<link rel="stylesheet" href="/api/docs/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/swagger/swagger-ui-bundle.js"></script>
<script src="/api/docs/init/docs-init.js"></script></body></html>"""
_DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'"
)


def create_app(container: Container) -> FastAPI:
    """The ASGI app; starting it starts the container (and stopping, stops it)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await container.start()
        try:
            yield
        finally:
            await container.stop()

    app = FastAPI(
        title="Redoubt",
        version=__version__,
        description="Self-hosted team chat. Authenticate with `Authorization: Bearer <token>` "
        "from `POST /api/v1/auth/login`; live events on the WebSocket `GET /api/v1/events`.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.container = container

    api = APIRouter(prefix=API_PREFIX)
    modules = (
        auth,
        two_factor,
        password_reset,
        sessions,
        tokens,
        users,
        notices,
        rooms,
        messages,
        search,
        files,
        admin,
        bots,
        doctor,
        incoming_hooks,
        outgoing_hooks,
        events,
    )
    for module in modules:
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    # [bot api] Telegram-compatible routes at the root (or the configured prefix),
    # before the web client's.
    app.include_router(botapi.router, prefix=container.settings.bot_api_prefix)

    @app.get(_DOCS_PREFIX, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_DOCS_HTML, headers={"Content-Security-Policy": _DOCS_CSP})

    app.mount(
        f"{_DOCS_PREFIX}/swagger",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="swagger",
    )
    app.mount(
        f"{_DOCS_PREFIX}/init",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="docs-init",
    )
    install_web_client(app, container.settings)
    install_error_handlers(app)
    app.add_middleware(
        RequestGuard,
        max_body_bytes=container.settings.max_body_bytes,
        max_upload_bytes=container.settings.max_upload_bytes,
        docs_prefix=_DOCS_PREFIX,
        bot_api_prefix=container.settings.bot_api_prefix,
    )
    return app
