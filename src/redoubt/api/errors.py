"""Turning every failure into a small JSON body with an incident id.

No response ever carries a traceback, SQL, a path, a config value or the client's own
input echoed back: validation errors name the field and the rule, not the value.
Unexpected errors are logged with their incident id and answered generically.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from redoubt.api.middleware import incident_id_of, outer_error_headers
from redoubt.core.errors import ApiError, ErrorCode, RateLimited
from redoubt.core.logging import get_logger

__all__ = ["install_error_handlers"]

_log = get_logger(__name__)

_HTTP_CODES = {
    404: (ErrorCode.NOT_FOUND, "Not found."),
    405: (ErrorCode.INVALID_REQUEST, "Method not allowed."),
    413: (ErrorCode.TOO_LARGE, "The request is too large."),
    415: (ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Unsupported content type."),
}


def _body(request: Request, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "error": {"code": code, "message": message, "incident_id": incident_id_of(request), **extra}
    }


def _describe(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for err in errors[:20]:
        # Field names can be the client's own (an unknown key): bounded, like the rest.
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")[:100]
        out.append({"field": loc or "body", "problem": str(err.get("msg", "invalid"))[:200]})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        body = exc.to_body()
        body["error"]["incident_id"] = incident_id_of(request)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return JSONResponse(body, status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            _body(
                request,
                ErrorCode.INVALID_REQUEST,
                "The request is invalid.",
                fields=_describe(list(exc.errors())),
            ),
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _HTTP_CODES.get(
            exc.status_code, (ErrorCode.INVALID_REQUEST, "The request is invalid.")
        )
        return JSONResponse(
            _body(request, code, message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        incident = incident_id_of(request)
        _log.error("unhandled_error", incident_id=incident, exc_info=exc)
        return JSONResponse(
            _body(
                request,
                ErrorCode.INTERNAL_ERROR,
                "Something went wrong on our side. Quote the incident id to your administrator.",
            ),
            status_code=500,
            headers=outer_error_headers(incident),
        )
