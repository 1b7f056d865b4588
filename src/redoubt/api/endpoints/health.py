"""Liveness, readiness and Prometheus metrics (outside /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from redoubt.api.deps import container_of
from redoubt.core.logging import get_logger

router = APIRouter(tags=["health"])
_log = get_logger(__name__)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """The database (and Redis, in scale-out) answer."""
    container = container_of(request)
    checks: dict[str, str] = {}
    try:
        await container.database.ping()
        checks["database"] = "ok"
    except Exception:
        _log.exception("readiness_database_failed")
        checks["database"] = "unavailable"
    if container.redis is not None:
        try:
            await container.redis.ping()
            checks["redis"] = "ok"
        except Exception:
            _log.exception("readiness_redis_failed")
            checks["redis"] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
