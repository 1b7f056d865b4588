"""Incoming webhooks: admins manage them; senders post through them.

Receiving (``POST /hooks/{hook_id}``) checks, in this order: the body size (read here
with a cap), that the hook exists and is enabled, the timestamp (within
``webhook_replay_window_seconds``), the signature over the raw bytes, the hook's rate
limit, then the JSON against the strict schema; then one transaction spends the
request's nonce (a replay is refused) and posts. The legacy route
(``POST /hooks/{hook_id}/{url_token}``) replaces timestamp, signature and nonce by the
token in the URL, for hooks an admin put in legacy mode.

An unknown hook, a disabled hook, a missing or wrong signature, a stale timestamp, a
replay and a wrong URL token all get the same 401, so ids can't be probed. Every
refusal is audited as ``hook.incoming.refused`` with its reason, at most once a minute
per hook and reason (a flood can't flood the audit log). Bodies larger than the
server-wide ``max_body_bytes`` are cut off by the request guard before any route runs
(and logged there, not audited).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from redoubt.actions.incoming_hooks import (
    do_audit_hook_refusal,
    do_create_incoming_hook,
    do_delete_incoming_hook,
    do_post_incoming_hook_message,
    do_rotate_incoming_hook_secret,
    do_update_incoming_hook,
)
from redoubt.api.deps import Admin, Ctx, client_ip, container_of, path_id
from redoubt.api.schemas import CreateIncomingHookBody, UpdateIncomingHookBody
from redoubt.core.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
)
from redoubt.core.ids import parse_id
from redoubt.core.ratelimit import Rate
from redoubt.core.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from redoubt.domain.incoming_hooks import (
    HookPayload,
    HookRefused,
    IncomingHookView,
    Refusal,
    parse_hook_payload,
)
from redoubt.queries.context import Context
from redoubt.queries.incoming_hooks import (
    HookRequest,
    check_legacy_request,
    check_signed_request,
    list_incoming_hooks,
)

router = APIRouter(tags=["incoming-hooks"])

_NO_STORE = "no-store"
_AUDIT_RATE = Rate(1, 60.0)
"""Refusals audited per hook and reason: one a minute."""

_UNAUTHENTICATED = {
    Refusal.UNKNOWN_HOOK,
    Refusal.DISABLED,
    Refusal.UNSIGNED,
    Refusal.STALE_TIMESTAMP,
    Refusal.BAD_SIGNATURE,
    Refusal.BAD_URL_TOKEN,
    Refusal.REPLAY,
}


class CreatedIncomingHookResponse(BaseModel):
    hook: IncomingHookView
    secret: str = Field(repr=False)
    """The signing secret (HMAC-SHA256 key), shown this once."""
    legacy_url: str | None = Field(repr=False)
    """In legacy mode: the path with the URL token in it, shown this once. Anyone who
    sees it (proxy logs, browser history) can post as the hook."""


class RotatedIncomingHookSecretResponse(BaseModel):
    secret: str = Field(repr=False)
    legacy_url: str | None = Field(repr=False)


class HookAccepted(BaseModel):
    ok: bool
    message_id: str


@router.get("/admin/hooks/incoming", response_model=list[IncomingHookView])
async def list_hooks(admin: Admin, ctx: Ctx) -> list[IncomingHookView]:
    """Every incoming hook (never its secret)."""
    return await list_incoming_hooks(ctx, admin)


@router.post("/admin/hooks/incoming", response_model=CreatedIncomingHookResponse, status_code=201)
async def create_hook(
    body: CreateIncomingHookBody, admin: Admin, response: Response, ctx: Ctx
) -> CreatedIncomingHookResponse:
    """Create a hook that posts into one room as its own bot account. Answers the
    signing secret (and, in legacy mode, the URL with its token) this once."""
    created = await do_create_incoming_hook(
        ctx,
        name=body.name,
        room_id=path_id(body.room_id),
        avatar_url=body.avatar_url,
        legacy_url_token=body.legacy_url_token,
        acting_user=admin,
    )
    response.headers["Cache-Control"] = _NO_STORE
    return CreatedIncomingHookResponse(
        hook=created.hook, secret=created.secret, legacy_url=created.legacy_url
    )


@router.patch("/admin/hooks/incoming/{hook_id}", response_model=IncomingHookView)
async def update_hook(
    hook_id: str, body: UpdateIncomingHookBody, admin: Admin, ctx: Ctx
) -> IncomingHookView:
    """Rename (the bot account's display name follows), change the avatar, enable or
    disable, or end legacy URL mode (``legacy_url_token: false``)."""
    return await do_update_incoming_hook(
        ctx,
        path_id(hook_id),
        name=body.name,
        avatar_url=body.avatar_url,
        enabled=body.enabled,
        legacy_url_token=body.legacy_url_token,
        acting_user=admin,
    )


@router.post(
    "/admin/hooks/incoming/{hook_id}/secret", response_model=RotatedIncomingHookSecretResponse
)
async def rotate_hook_secret(
    hook_id: str, admin: Admin, response: Response, ctx: Ctx
) -> RotatedIncomingHookSecretResponse:
    """A new signing secret (and URL token, in legacy mode); the old ones stop working
    at once. Answers them this once."""
    rotated = await do_rotate_incoming_hook_secret(ctx, path_id(hook_id), acting_user=admin)
    response.headers["Cache-Control"] = _NO_STORE
    return RotatedIncomingHookSecretResponse(secret=rotated.secret, legacy_url=rotated.legacy_url)


@router.delete("/admin/hooks/incoming/{hook_id}", status_code=204)
async def delete_hook(hook_id: str, admin: Admin, ctx: Ctx) -> Response:
    """Delete a hook; its bot account is deactivated, its messages stay."""
    await do_delete_incoming_hook(ctx, path_id(hook_id), acting_user=admin)
    return Response(status_code=204)


# --- receiving --------------------------------------------------------------------------


async def _read_capped(request: Request, cap: int) -> bytes | None:
    """The raw body, or None when it is longer than ``cap`` bytes (read to its end all
    the same, within the request guard's limit, so the client gets the answer rather
    than a reset connection)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= cap:
            parts.append(chunk)
    return None if size > cap else b"".join(parts)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json"


async def _within_rate(request: Request, ctx: Context, hook_id: int) -> None:
    limiter = container_of(request).rate_limiter
    rate = Rate(ctx.settings.incoming_hook_per_minute, 60.0)
    decision = await limiter.hit(f"hook-in:{hook_id}", rate)
    if not decision.allowed:
        raise HookRefused(Refusal.FLOOD, hook_id=hook_id, retry_after=decision.retry_after)


def _payload(request: Request, ctx: Context, body: bytes, hook_id: int) -> HookPayload:
    if not _is_json(request.headers.get("content-type")):
        raise HookRefused(Refusal.UNSUPPORTED_MEDIA_TYPE, hook_id=hook_id)
    try:
        return parse_hook_payload(body, max_text_chars=ctx.settings.max_message_chars)
    except HookRefused as refusal:
        raise HookRefused(refusal.reason, hook_id=hook_id) from None


async def _post(request: Request, ctx: Context, accepted: HookRequest) -> HookAccepted:
    """The steps after authentication: rate limit, schema, then nonce and post."""
    hook_id = accepted.hook.id
    await _within_rate(request, ctx, hook_id)
    payload = _payload(request, ctx, accepted.body, hook_id)
    message = await do_post_incoming_hook_message(
        ctx, hook_id, payload=payload, nonce=accepted.nonce, ip=client_ip(request)
    )
    return HookAccepted(ok=True, message_id=message.id)


def _error_for(refusal: HookRefused) -> ApiError:
    """What the sender is told: generic, and the same for every authentication failure."""
    if refusal.reason in _UNAUTHENTICATED:
        return Unauthorized()
    match refusal.reason:
        case Refusal.TOO_LARGE:
            return PayloadTooLarge()
        case Refusal.FLOOD:
            return RateLimited(refusal.retry_after)
        case Refusal.UNSUPPORTED_MEDIA_TYPE:
            return UnsupportedMediaType("Send the payload as application/json.")
        case Refusal.WRONG_ROOM | Refusal.ROOM_UNAVAILABLE:
            return Forbidden("This hook posts only into its own room.")
        case _:
            return BadRequest("The payload does not match the incoming webhook format.")


async def _refuse(
    request: Request, ctx: Context, refusal: HookRefused, presented_id: int | None
) -> ApiError:
    limiter = container_of(request).rate_limiter
    subject = str(refusal.hook_id) if refusal.hook_id is not None else "unknown"
    if (await limiter.hit(f"hook-refused:{subject}:{refusal.reason}", _AUDIT_RATE)).allowed:
        await do_audit_hook_refusal(ctx, refusal, presented_id=presented_id, ip=client_ip(request))
    return _error_for(refusal)


@router.post("/hooks/{hook_id}", response_model=HookAccepted)
async def receive(hook_id: str, request: Request, ctx: Ctx) -> HookAccepted:
    """Post into the hook's room. Sign the raw body: ``X-Redoubt-Timestamp: <unix
    seconds>`` and ``X-Redoubt-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." +
    body)>``; the timestamp must be within the replay window (5 minutes by default) of
    the server's clock, and each signed request is accepted once.

    Body (``application/json``, strict: unknown keys and wrong types are refused):
    ``text`` (string), ``attachments`` (up to 10 of ``{title, title_link (http/https),
    text, color ("#rrggbb"), author_name, fields: [{title, value, short}] (up to 20),
    fallback}``), ``channel`` (optional; must name this hook's room). ``username``,
    ``icon_url`` and ``icon_emoji`` are accepted and ignored: the hook's name and avatar
    are set by the admin. Text is shown as text (markdown like any message); attachment
    strings as plain text.

    Refusals: 401 for every authentication failure (unknown or disabled hook, missing or
    wrong signature, stale timestamp, replay), 413 too large, 415 not JSON, 400 not the
    format, 403 ``channel`` names another room, 429 over the hook's rate limit.
    """
    presented = parse_id(hook_id)
    try:
        body = await _read_capped(request, ctx.settings.incoming_hook_max_bytes)
        accepted = await check_signed_request(
            ctx,
            presented,
            body=body,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
        )
        return await _post(request, ctx, accepted)
    except HookRefused as refusal:
        raise await _refuse(request, ctx, refusal, presented) from None


@router.post("/hooks/{hook_id}/{url_token}", response_model=HookAccepted)
async def receive_legacy(hook_id: str, url_token: str, request: Request, ctx: Ctx) -> HookAccepted:
    """Legacy URL-token mode, for senders that can't sign (Slack-style clients): the
    secret is the token in the URL, so no signature, timestamp or replay check. Only
    for hooks an admin created in this mode. Same body, size and rate limits as the
    signed route; the same 401 for any wrong token."""
    presented = parse_id(hook_id)
    try:
        body = await _read_capped(request, ctx.settings.incoming_hook_max_bytes)
        accepted = await check_legacy_request(ctx, presented, body=body, url_token=url_token)
        return await _post(request, ctx, accepted)
    except HookRefused as refusal:
        raise await _refuse(request, ctx, refusal, presented) from None
