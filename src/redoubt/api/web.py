"""Serves the web client: its pages under a strict Content-Security-Policy, its assets.

The client is a single-page app: every client route answers with the same
``index.html`` and the client's router takes it from there. Unknown paths are a 404, so
a typo'd API URL never comes back as a page.

The page policy (threat T12) allows script only from our own origin, no inline script,
no ``eval``, and requires Trusted Types: the browser itself refuses any string handed to
an HTML sink such as ``innerHTML`` unless it went through one of the two named policies
(``dompurify``, which the sanitiser creates, and ``redoubt``).
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from typing_extensions import override

from redoubt.core.logging import get_logger
from redoubt.core.settings import Settings

if TYPE_CHECKING:
    from starlette.types import Scope

__all__ = ["PAGE_CSP", "install_web_client", "web_dir_of"]

_log = get_logger(__name__)

PAGE_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "media-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-src 'none'",
        "worker-src 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types dompurify redoubt",
    ]
)
_PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    # The page is tiny and names hashed assets: always revalidate it, cache those.
    "Cache-Control": "no-cache",
}
_ASSET_CACHE = "public, max-age=31536000, immutable"
_CLIENT_ROUTES = ("/", "/login", "/reset", "/search", "/settings", "/admin")
_CLIENT_PREFIXES = ("/r/{rest:path}", "/admin/{rest:path}")
_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Redoubt</title></head>
<body><h1>Redoubt is running</h1><p>The web client has not been built. Run
<code>scripts/run.sh</code> (it builds it), or <code>npm ci &amp;&amp; npm run build</code>
in <code>web/</code>. The API is at <a href="/api/docs">/api/docs</a>.</p></body></html>"""


def web_dir_of(settings: Settings) -> Path:
    if settings.web_dir is not None:
        return settings.web_dir
    # src/redoubt/api/web.py -> the checkout's root.
    return Path(__file__).resolve().parents[3] / "web" / "dist"


class _ImmutableAssets(StaticFiles):
    """Vite names every asset by its content hash, so a URL never changes meaning."""

    @override
    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = _ASSET_CACHE
        return response


def install_web_client(app: FastAPI, settings: Settings) -> None:
    root = web_dir_of(settings)
    index = root / "index.html"
    if not index.is_file():
        _log.warning("web_client_not_built", hint="run scripts/run.sh or npm run build in web/")

    async def page() -> Response:
        if index.is_file():
            return FileResponse(index, media_type="text/html", headers=_PAGE_HEADERS)
        return HTMLResponse(_NOT_BUILT, status_code=503, headers=_PAGE_HEADERS)

    for path in (*_CLIENT_ROUTES, *_CLIENT_PREFIXES):
        app.add_api_route(path, page, methods=["GET", "HEAD"], include_in_schema=False)

    async def no_favicon() -> Response:
        return Response(status_code=204)

    app.add_api_route("/favicon.ico", no_favicon, methods=["GET"], include_in_schema=False)
    assets = _ImmutableAssets(directory=root / "assets", check_dir=False)
    # Compressing static files is safe (no secrets in them to guess at, unlike API
    # answers, which stay uncompressed: BREACH).
    app.mount("/assets", GZipMiddleware(assets, minimum_size=512), name="assets")
