"""The second factor: your own set-up, and admins' reset for a lost phone.

The login side (``POST /auth/login/2fa``) is in :mod:`redoubt.api.endpoints.auth`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from redoubt.actions.two_factor import (
    RecoveryCodes,
    do_confirm_totp,
    do_disable_two_factor,
    do_regenerate_recovery_codes,
    do_reset_two_factor,
    do_start_totp,
)
from redoubt.api.deps import Admin, Ctx, EnrolAuth, path_id, rate_limit
from redoubt.api.schemas import DisableTwoFactorBody, TwoFactorCodeBody
from redoubt.core.ratelimit import Rate
from redoubt.queries.two_factor import two_factor_status

router = APIRouter(tags=["two-factor"])

_NO_STORE = "no-store"
"""For answers that hold secrets: no cache (browser or proxy) may keep a copy."""


class TwoFactorStatusResponse(BaseModel):
    totp: Literal["none", "pending", "active"]
    """``pending``: enrolment started, waiting for its first code."""
    recovery_codes_left: int
    required: bool
    """Your role requires a second factor: it can't be turned off."""


class TotpEnrolmentResponse(BaseModel):
    secret: str
    """Base32; shown this once (put it in the authenticator, or show the URI as a QR code)."""
    otpauth_uri: str


class RecoveryCodesResponse(BaseModel):
    recovery_codes: list[str]
    """Ten single-use codes, shown this once; each can replace a TOTP code at login."""


async def _code_budget(request: Request, ctx: Ctx, user_id: int) -> None:
    # Each call is a guess at a code (and for DELETE, at the password): the same budget
    # as logins, per account, so a stolen session is no fast oracle.
    await rate_limit(
        request, f"2fa-manage:{user_id}", Rate(ctx.settings.rate_login_per_minute, 60.0)
    )


def _codes(codes: RecoveryCodes, response: Response) -> RecoveryCodesResponse:
    response.headers["Cache-Control"] = _NO_STORE
    return RecoveryCodesResponse(recovery_codes=codes.codes)


@router.get("/users/me/2fa", response_model=TwoFactorStatusResponse)
async def my_two_factor(requester: EnrolAuth, ctx: Ctx) -> TwoFactorStatusResponse:
    """Your second factor: none, pending (enrolment started) or active."""
    status = await two_factor_status(ctx, requester)
    return TwoFactorStatusResponse(
        totp=status.totp, recovery_codes_left=status.recovery_codes_left, required=status.required
    )


@router.post("/users/me/2fa/totp", response_model=TotpEnrolmentResponse)
async def start_totp(requester: EnrolAuth, response: Response, ctx: Ctx) -> TotpEnrolmentResponse:
    """Start (or restart) setting up an authenticator app. It is active only once
    ``/users/me/2fa/totp/confirm`` gets a code from it. ``409`` if one is active."""
    enrolment = await do_start_totp(ctx, acting_user=requester)
    response.headers["Cache-Control"] = _NO_STORE
    return TotpEnrolmentResponse(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@router.post("/users/me/2fa/totp/confirm", response_model=RecoveryCodesResponse)
async def confirm_totp(
    body: TwoFactorCodeBody, requester: EnrolAuth, request: Request, response: Response, ctx: Ctx
) -> RecoveryCodesResponse:
    """Activate the authenticator with a first code; answers your recovery codes. Every
    other session of yours ends; this one may do everything from now on."""
    await _code_budget(request, ctx, requester.id)
    return _codes(await do_confirm_totp(ctx, acting_user=requester, code=body.code), response)


@router.post("/users/me/2fa/recovery-codes", response_model=RecoveryCodesResponse)
async def regenerate_recovery_codes(
    body: TwoFactorCodeBody, requester: EnrolAuth, request: Request, response: Response, ctx: Ctx
) -> RecoveryCodesResponse:
    """Ten new recovery codes for a TOTP code; the old ones stop working."""
    await _code_budget(request, ctx, requester.id)
    codes = await do_regenerate_recovery_codes(ctx, acting_user=requester, code=body.code)
    return _codes(codes, response)


@router.delete("/users/me/2fa", status_code=204)
async def disable_two_factor(
    body: DisableTwoFactorBody, requester: EnrolAuth, request: Request, ctx: Ctx
) -> Response:
    """Turn the second factor off, with your password and a code. ``403`` when your
    role requires one, or when either is wrong."""
    await _code_budget(request, ctx, requester.id)
    await do_disable_two_factor(ctx, acting_user=requester, password=body.password, code=body.code)
    return Response(status_code=204)


@router.delete("/admin/users/{user_id}/2fa", status_code=204)
async def reset_two_factor(user_id: str, admin: Admin, ctx: Ctx) -> Response:
    """Remove an account's second factor (a lost phone): it signs in with its password
    next and sets up a new one. Every session of the account ends."""
    await do_reset_two_factor(ctx, acting_user=admin, user_id=path_id(user_id))
    return Response(status_code=204)
