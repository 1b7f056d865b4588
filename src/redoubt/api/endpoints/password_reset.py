"""Password reset by email, and the email address it goes to (T13)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from redoubt.actions.password_reset import do_confirm_password_reset, do_request_password_reset
from redoubt.actions.users import do_set_email
from redoubt.api.deps import Auth, Ctx, client_ip, rate_limit
from redoubt.api.schemas import PasswordResetBody, PasswordResetConfirmBody, SetEmailBody
from redoubt.core.ratelimit import Rate

__all__ = ["router"]

router = APIRouter(tags=["password reset"])

ACCEPTED_MESSAGE = (
    "If that account exists and has an email address, a link to reset its password is on its way."
)


class ResetRequestedResponse(BaseModel):
    message: str


class EmailResponse(BaseModel):
    email: str | None


@router.post("/auth/password-reset", status_code=202, response_model=ResetRequestedResponse)
async def request_password_reset(
    body: PasswordResetBody, request: Request, ctx: Ctx
) -> ResetRequestedResponse:
    """Mail a reset link to the account with this username or email address.

    Always ``202`` with the same body, answered before anything about the account is
    looked up (the lookup and the mail happen afterwards), so neither the answer nor its
    timing says whether the account exists, has an address, or is a directory account.
    Rate-limited per client address and per name asked for; each account also gets at
    most a few mails an hour, silently.
    """
    ip = client_ip(request)
    per_minute = Rate(ctx.settings.rate_login_per_minute, 60.0)
    await rate_limit(request, f"reset-ip:{ip}", per_minute)
    await rate_limit(request, f"reset-name:{body.username_or_email.strip().lower()}", per_minute)
    ctx.background.spawn(
        do_request_password_reset(ctx, username_or_email=body.username_or_email, ip=ip),
        name="password_reset_request",
    )
    return ResetRequestedResponse(message=ACCEPTED_MESSAGE)


@router.post("/auth/password-reset/confirm", status_code=204)
async def confirm_password_reset(
    body: PasswordResetConfirmBody, request: Request, ctx: Ctx
) -> Response:
    """Set a new password with the token from a reset link.

    Every session of the account ends (their event streams close); sign in again with
    the new password. Any problem with the token (unknown, used, expired, or the
    password changed since it was sent) is the same ``400``; a password the policy
    refuses is a ``400`` naming the rule, and the link keeps working.
    """
    ip = client_ip(request)
    await rate_limit(
        request, f"reset-confirm-ip:{ip}", Rate(ctx.settings.rate_login_per_minute, 60.0)
    )
    await do_confirm_password_reset(ctx, token=body.token, new_password=body.new_password, ip=ip)
    return Response(status_code=204)


@router.get("/users/me/email", response_model=EmailResponse)
async def get_my_email(requester: Auth) -> EmailResponse:
    """Your email address (only you and the server see it)."""
    return EmailResponse(email=requester.user.email)


@router.put("/users/me/email", response_model=EmailResponse)
async def set_my_email(
    body: SetEmailBody, requester: Auth, request: Request, ctx: Ctx
) -> EmailResponse:
    """Set or remove your email address; needs your current password (``403`` if
    wrong). The previous address is told about the change. ``409`` if another account
    has the address."""
    await rate_limit(
        request,
        f"password-change:{requester.id}",
        Rate(ctx.settings.rate_login_per_minute, 60.0),
    )
    email = await do_set_email(
        ctx, email=body.email, current_password=body.current_password, acting_user=requester
    )
    return EmailResponse(email=email)
