"""Messages: post, history, edit, delete, threads, reactions, pins."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from redoubt.actions.bot_activity import note_bot_history
from redoubt.actions.botmarkup import do_answer_callback, do_click_button, do_set_buttons
from redoubt.actions.messages import (
    do_add_reaction,
    do_delete_message,
    do_edit_message,
    do_pin_message,
    do_post_message,
    do_remove_reaction,
)
from redoubt.api.deps import Auth, Ctx, client_ip, path_id, rate_limit, scoped
from redoubt.api.schemas import (
    AnswerCallbackBody,
    ButtonBody,
    ClickButtonBody,
    EditMessageBody,
    PostMessageBody,
    SetButtonsBody,
)
from redoubt.core.errors import BadRequest
from redoubt.core.ratelimit import Rate
from redoubt.domain.botmarkup import InlineButton, MarkupError, parse_inline_keyboard
from redoubt.domain.scopes import Scope
from redoubt.domain.views import MessageView
from redoubt.queries.messages import (
    get_history,
    get_message_edits,
    get_message_view,
    get_pinned,
    get_thread,
)

router = APIRouter(tags=["messages"])

Position = Annotated[int | None, Query(ge=0, le=2**62)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post(
    "/rooms/{room_id}/messages",
    openapi_extra=scoped(Scope.MESSAGES_WRITE),
    response_model=MessageView,
    status_code=201,
)
async def post_message(
    room_id: str, body: PostMessageBody, requester: Auth, ctx: Ctx, request: Request
) -> MessageView:
    """Post a message. Repeating a ``client_id`` returns the first message instead."""
    post_rate = Rate(ctx.settings.rate_post_per_10s, 10.0)
    await rate_limit(request, f"post:{requester.id}", post_rate)
    # Per address too, with room for several people behind one NAT.
    await rate_limit(
        request, f"post-ip:{client_ip(request)}", Rate(post_rate.limit * 4, post_rate.period)
    )
    return await do_post_message(
        ctx,
        path_id(room_id),
        text=body.text,
        thread_id=path_id(body.thread_id) if body.thread_id else None,
        client_id=body.client_id,
        file_ids=[path_id(f) for f in body.file_ids],
        acting_user=requester,
        buttons=_keyboard(body.buttons) if body.buttons is not None else None,
    )


def _keyboard(rows: list[list[ButtonBody]]) -> tuple[tuple[InlineButton, ...], ...] | None:
    """The native ``buttons`` as checked markup (None for no rows)."""
    if not any(rows):
        return None
    try:
        return parse_inline_keyboard(
            [[b.model_dump(exclude_none=True) for b in row] for row in rows]
        )
    except MarkupError as exc:
        raise BadRequest(str(exc)) from None


@router.get(
    "/rooms/{room_id}/messages",
    openapi_extra=scoped(Scope.MESSAGES_READ),
    response_model=list[MessageView],
)
async def history(
    *,
    room_id: str,
    requester: Auth,
    ctx: Ctx,
    before: Position = None,
    after: Position = None,
    around: Position = None,
    limit: Limit = 50,
) -> list[MessageView]:
    """A page of history in position order: the newest page, or ``before`` /
    ``after`` / ``around`` a position (positions are in every message and event)."""
    if around is not None and (before is not None or after is not None):
        raise BadRequest("Use 'around' on its own.")
    page = await get_history(
        ctx, requester, path_id(room_id), before=before, after=after, around=around, limit=limit
    )
    await note_bot_history(ctx, requester)
    return page


@router.get(
    "/rooms/{room_id}/pins",
    openapi_extra=scoped(Scope.MESSAGES_READ),
    response_model=list[MessageView],
)
async def pins(room_id: str, requester: Auth, ctx: Ctx, limit: Limit = 50) -> list[MessageView]:
    return await get_pinned(ctx, requester, path_id(room_id), limit=limit)


@router.get(
    "/messages/{message_id}", openapi_extra=scoped(Scope.MESSAGES_READ), response_model=MessageView
)
async def get_message(message_id: str, requester: Auth, ctx: Ctx) -> MessageView:
    return await get_message_view(ctx, requester, path_id(message_id))


@router.patch(
    "/messages/{message_id}", openapi_extra=scoped(Scope.MESSAGES_WRITE), response_model=MessageView
)
async def edit_message(
    message_id: str, body: EditMessageBody, requester: Auth, ctx: Ctx
) -> MessageView:
    """Edit one's own message; the earlier text is kept in its edit history."""
    return await do_edit_message(ctx, path_id(message_id), text=body.text, acting_user=requester)


@router.delete(
    "/messages/{message_id}", openapi_extra=scoped(Scope.MESSAGES_WRITE), response_model=MessageView
)
async def delete_message(message_id: str, requester: Auth, ctx: Ctx) -> MessageView:
    """Delete a message, leaving a tombstone (authors; moderators for anyone's)."""
    return await do_delete_message(ctx, path_id(message_id), acting_user=requester)


@router.get(
    "/messages/{message_id}/thread",
    openapi_extra=scoped(Scope.MESSAGES_READ),
    response_model=list[MessageView],
)
async def thread(
    message_id: str, requester: Auth, ctx: Ctx, after: Position = None, limit: Limit = 50
) -> list[MessageView]:
    replies = await get_thread(ctx, requester, path_id(message_id), after=after, limit=limit)
    await note_bot_history(ctx, requester)
    return replies


class EditView(BaseModel):
    editor_id: str
    previous_text: str
    edited_at: dt.datetime


@router.get(
    "/messages/{message_id}/edits",
    openapi_extra=scoped(Scope.MESSAGES_READ),
    response_model=list[EditView],
)
async def edits(message_id: str, requester: Auth, ctx: Ctx) -> list[EditView]:
    rows = await get_message_edits(ctx, requester, path_id(message_id))
    return [EditView(editor_id=e, previous_text=t, edited_at=at) for e, t, at in rows]


@router.put(
    "/messages/{message_id}/reactions/{emoji}",
    openapi_extra=scoped(Scope.MESSAGES_WRITE),
    response_model=MessageView,
)
async def add_reaction(message_id: str, emoji: str, requester: Auth, ctx: Ctx) -> MessageView:
    return await do_add_reaction(ctx, path_id(message_id), emoji, acting_user=requester)


@router.delete(
    "/messages/{message_id}/reactions/{emoji}",
    openapi_extra=scoped(Scope.MESSAGES_WRITE),
    response_model=MessageView,
)
async def remove_reaction(message_id: str, emoji: str, requester: Auth, ctx: Ctx) -> MessageView:
    return await do_remove_reaction(ctx, path_id(message_id), emoji, acting_user=requester)


@router.put(
    "/messages/{message_id}/pin",
    openapi_extra=scoped(Scope.MESSAGES_WRITE),
    response_model=MessageView,
)
async def pin(message_id: str, requester: Auth, ctx: Ctx) -> MessageView:
    return await do_pin_message(ctx, path_id(message_id), pinned=True, acting_user=requester)


@router.delete(
    "/messages/{message_id}/pin",
    openapi_extra=scoped(Scope.MESSAGES_WRITE),
    response_model=MessageView,
)
async def unpin(message_id: str, requester: Auth, ctx: Ctx) -> MessageView:
    return await do_pin_message(ctx, path_id(message_id), pinned=False, acting_user=requester)


class ButtonClicked(BaseModel):
    callback_id: str
    """The click's id; the bot's answer (``bot.callback_answer`` event) names it."""


@router.post(
    "/messages/{message_id}/buttons",
    openapi_extra=scoped(Scope.MESSAGES_WRITE),
    response_model=ButtonClicked,
    status_code=202,
)
async def click_button(
    message_id: str, body: ClickButtonBody, requester: Auth, ctx: Ctx, request: Request
) -> ButtonClicked:
    """Click a callback button of a bot's inline keyboard (by row and column): the bot
    receives a ``callback_query`` update; its answer arrives as a ``bot.callback_answer``
    event. Link buttons are opened by the client, not clicked here."""
    await rate_limit(request, f"click:{requester.id}", Rate(ctx.settings.rate_post_per_10s, 10.0))
    callback_id = await do_click_button(
        ctx, path_id(message_id), row=body.row, column=body.column, acting_user=requester
    )
    return ButtonClicked(callback_id=callback_id)


@router.put(
    "/messages/{message_id}/buttons",
    openapi_extra=scoped(Scope.MESSAGES_WRITE),
    response_model=MessageView,
)
async def set_buttons(
    message_id: str, body: SetButtonsBody, requester: Auth, ctx: Ctx
) -> MessageView:
    """Bots: replace the inline keyboard of one of their own messages (``[]`` removes
    it). Setting the same keyboard again changes nothing."""
    return await do_set_buttons(
        ctx, path_id(message_id), buttons=_keyboard(body.buttons), acting_user=requester
    )


@router.post(
    "/callbacks/{callback_id}/answer",
    openapi_extra=scoped(Scope.MESSAGES_WRITE),
    status_code=204,
)
async def answer_callback(
    callback_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: AnswerCallbackBody,
    requester: Auth,
    ctx: Ctx,
) -> None:
    """Bots: answer a click on one of their buttons (the ``callback_id`` of its
    ``bot.callback_query`` event), at most once, within 15 minutes. The person who
    clicked gets the text as a notice (a ``bot.callback_answer`` event)."""
    await do_answer_callback(
        ctx,
        callback_id=callback_id,
        text=body.text,
        show_alert=body.show_alert,
        acting_user=requester,
    )
