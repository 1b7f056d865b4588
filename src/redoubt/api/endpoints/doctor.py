"""Admin-only: the deployment review (the same as ``redoubt doctor``)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel

from redoubt.api.deps import Admin, Ctx, scoped
from redoubt.domain.doctor import Severity
from redoubt.domain.scopes import Scope
from redoubt.queries.doctor import review_deployment

router = APIRouter(prefix="/admin", tags=["admin"])


class FindingView(BaseModel):
    id: str
    """Stable identifier of the kind of finding (explained in docs/doctor.md)."""
    severity: Severity
    title: str
    advice: str
    subject: str | None
    """What it is about: a file (relative to the data folder), a token, a hook, an
    account, a setting; None: the deployment as a whole."""


class DoctorView(BaseModel):
    findings: list[FindingView]
    """Worst first; empty when nothing needs attention."""
    checked_at: dt.datetime


@router.get("/doctor", openapi_extra=scoped(Scope.ADMIN), response_model=DoctorView)
async def doctor(admin: Admin, ctx: Ctx) -> DoctorView:
    """Review the deployment: secret files open to other users, tokens without expiry
    or unused for 90 days, unused or legacy-mode webhooks, failed outgoing hooks,
    admins without a second factor, TLS and debug settings. Read-only."""
    report = await review_deployment(ctx, admin)
    return DoctorView(
        findings=[
            FindingView(
                id=f.id.value,
                severity=f.severity,
                title=f.title,
                advice=f.advice,
                subject=f.subject,
            )
            for f in report.findings
        ],
        checked_at=report.checked_at,
    )
