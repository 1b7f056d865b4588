"""The Telegram-compatible Bot API: ``GET|POST /bot<token>/<method>`` at the server root.

Bots written for Telegram (python-telegram-bot, aiogram, …) run against Redoubt by
setting their base URL to ``http(s)://HOST/bot``. Telegram's conventions throughout:
parameters from the query string and from a form-urlencoded, multipart (text fields)
or JSON body, every value as text and unknown ones ignored; answers
``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": N, "description": …}``
with the status equal to ``error_code``; method names case-insensitive.

The token is part of the URL, so this router stays out of the OpenAPI document, the
access log writes ``/bot<redacted>/…`` (api/middleware.py), errors never echo the path,
and a wrong token counts against the same per-address budget as wrong bearer tokens.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from redoubt.actions.bot_webhooks import do_delete_webhook, do_set_webhook
from redoubt.actions.botapi import do_confirm_updates, do_send_message, do_set_commands
from redoubt.actions.botapi_files import Upload
from redoubt.actions.botmarkup import (
    do_answer_callback,
    do_delete_bot_message,
    do_edit_bot_message,
)
from redoubt.api.deps import client_ip, container_of, rate_limit, token_failure_guard
from redoubt.api.endpoints.botapi_files import FILE_METHODS, file_download
from redoubt.api.middleware import incident_id_of
from redoubt.container import Container
from redoubt.core.errors import (
    ApiError,
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from redoubt.core.ids import format_id
from redoubt.core.logging import get_logger
from redoubt.core.ratelimit import Rate
from redoubt.domain.botapi import error_body, ok_body, parse_chat_id
from redoubt.domain.botmarkup import Markup, MarkupError, parse_reply_markup
from redoubt.domain.events import EphemeralType
from redoubt.queries.botapi import (
    MAX_POLL_SECONDS,
    WEBHOOK_CONFLICT,
    bot_me,
    get_chat,
    get_chat_member,
    get_commands,
    has_webhook,
    member_room_id,
    poll_updates,
    webhook_info,
)
from redoubt.queries.bots import READ_METHODS, authenticate_bot, require_bot_write
from redoubt.queries.context import Requester
from redoubt.realtime.bus import EphemeralEvent
from redoubt.storage.bots import BotRecord

__all__ = ["router"]

router = APIRouter()
_log = get_logger(__name__)

_MAX_TOKEN_CHARS = 80
_MAX_FIELDS = 100
_MAX_NAME_CHARS = 64
_INT = re.compile(r"-?[0-9]{1,19}")
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_BOOLS = {"true": True, "1": True, "false": False, "0": False}

# One getUpdates request per bot at a time: a newer one ends the older with 409, as
# Telegram does. Per process (a bot polls one server at a time; scale-out noted in
# docs/bots.md).
_pollers: dict[int, asyncio.Event] = {}


class _Call:
    """One Bot API request: the bot, its parameters, and typed access to them."""

    def __init__(
        self,
        request: Request,
        container: Container,
        requester: Requester,
        bot: BotRecord,
        params: dict[str, str],
    ) -> None:
        self.request = request
        self.container = container
        self.ctx = container.context
        self.requester = requester
        self.bot = bot
        self.params = params
        self.files: dict[str, Upload] = {}
        """Multipart file parts by name (see api/endpoints/botapi_files.py)."""

    def text(self, name: str) -> str | None:
        return self.params.get(name)

    def integer(self, name: str) -> int | None:
        value = self.params.get(name)
        if value is None or value == "":
            return None
        if not _INT.fullmatch(value.strip()):
            raise BadRequest(f"invalid {name} specified")
        return int(value)

    def flag(self, name: str) -> bool:
        value = self.params.get(name)
        if value is None or value == "":
            return False
        found = _BOOLS.get(value.strip().lower())
        if found is None:
            raise BadRequest(f"invalid {name} specified")
        return found

    def json_value(self, name: str) -> Any:
        value = self.params.get(name)
        if value is None or value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise BadRequest(f"can't parse {name} JSON object") from None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


async def _body_params(request: Request, body: bytes, files: dict[str, Upload]) -> dict[str, str]:
    """The body's parameters, by content type (other bodies are ignored); multipart
    file parts go to ``files``, each within the upload size limit."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    params: dict[str, str] = {}
    if kind == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise BadRequest("can't parse JSON body") from None
        if not isinstance(data, dict):
            raise BadRequest("the JSON body must be an object")
        for key, value in data.items():
            text = _as_text(value)
            if text is not None:
                params[key] = text
    elif kind == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
            params.update(parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS))
        except ValueError:
            raise BadRequest("can't parse the form body") from None
    elif kind == "multipart/form-data":
        await _multipart(request, params, files)
    return params


async def _multipart(request: Request, params: dict[str, str], files: dict[str, Upload]) -> None:
    """A multipart body's text fields into ``params``, its file parts into ``files``."""
    try:
        form = await request.form(max_files=_MAX_FIELDS, max_fields=_MAX_FIELDS)
    except Exception:
        raise BadRequest("can't parse the multipart body") from None
    try:
        limit = container_of(request).context.settings.max_upload_bytes
        for key, value in form.multi_items():
            if isinstance(value, str):
                params[key] = value
                continue
            data = await value.read(limit + 1)
            if len(data) > limit:
                raise PayloadTooLarge
            files[key] = Upload(filename=value.filename or key, data=data)
    finally:
        await form.close()


async def _params(request: Request, files: dict[str, Upload]) -> dict[str, str]:
    """Every parameter as text: the query string's, then the body's (which win)."""
    params = dict(request.query_params.multi_items())
    body = await request.body()
    if body:
        params.update(await _body_params(request, body, files))
    if len(params) + len(files) > _MAX_FIELDS or any(len(key) > _MAX_NAME_CHARS for key in params):
        raise BadRequest("too many parameters")
    if any("\x00" in value for value in params.values()):
        raise BadRequest("parameters can't contain NUL characters")
    return params


# --- methods --------------------------------------------------------------------------


async def _get_me(call: _Call) -> Any:
    return bot_me(call.requester)


async def _get_updates(call: _Call) -> Any:
    if await has_webhook(call.ctx, call.requester.id):
        raise Conflict(WEBHOOK_CONFLICT)
    offset = call.integer("offset")
    limit = min(max(call.integer("limit") or 100, 1), 100)
    timeout = min(max(call.integer("timeout") or 0, 0), MAX_POLL_SECONDS)
    call.json_value("allowed_updates")  # accepted; only messages exist so far
    confirmed = call.bot.updates_offset
    if offset is not None and offset > confirmed:
        await do_confirm_updates(call.ctx, offset=offset, acting_user=call.requester)
        confirmed = offset
    # Negative offsets (Telegram: "the last N updates") read from the confirmed offset.
    after = max(confirmed - 1, 0)
    bot_id = call.requester.id
    previous = _pollers.get(bot_id)
    if previous is not None:
        previous.set()
    mine = asyncio.Event()
    _pollers[bot_id] = mine
    dispatcher = call.container.dispatcher
    # A client that hangs up ends its poll (a restarted bot's next poll would anyway).
    watcher = asyncio.create_task(_until_disconnect(call.request, mine))
    try:
        return await poll_updates(
            call.ctx,
            bot_id,
            after=after,
            limit=limit,
            wait_seconds=timeout,
            stream=dispatcher,
            superseded=mine,
        )
    finally:
        watcher.cancel()
        if _pollers.get(bot_id) is mine:
            del _pollers[bot_id]


async def _until_disconnect(request: Request, event: asyncio.Event) -> None:
    """Set ``event`` when the client goes away (the body was read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    event.set()


def _chat_id(call: _Call) -> int:
    raw_chat = call.text("chat_id")
    if not raw_chat:
        raise BadRequest("chat_id is empty")
    chat_id = parse_chat_id(raw_chat.strip())
    if chat_id is None:
        raise BadRequest("chat not found")
    return chat_id


def _markup(call: _Call) -> Markup:
    try:
        return parse_reply_markup(call.json_value("reply_markup"))
    except MarkupError as exc:
        raise BadRequest(str(exc)) from None


def _message_id(call: _Call) -> int:
    if call.text("inline_message_id"):
        raise BadRequest("inline messages are not supported")
    message_id = call.integer("message_id")
    if message_id is None or message_id <= 0:
        raise BadRequest("message identifier is not specified")
    return message_id


async def _send_message(call: _Call) -> Any:
    chat_id = _chat_id(call)
    # Accepted and not used yet: reply_parameters, entities, link_preview_options,
    # disable_notification, protect_content, message_thread_id, …
    return await do_send_message(
        call.ctx,
        chat_id=chat_id,
        text=call.text("text") or "",
        parse_mode=call.text("parse_mode"),
        acting_user=call.requester,
        markup=_markup(call),
    )


async def _edit_message_text(call: _Call) -> Any:
    message_id = _message_id(call)
    return await do_edit_bot_message(
        call.ctx,
        chat_id=_chat_id(call),
        message_id=message_id,
        text=call.text("text") or "",
        parse_mode=call.text("parse_mode"),
        markup=_markup(call),
        acting_user=call.requester,
    )


async def _edit_message_reply_markup(call: _Call) -> Any:
    message_id = _message_id(call)
    return await do_edit_bot_message(
        call.ctx,
        chat_id=_chat_id(call),
        message_id=message_id,
        text=None,
        parse_mode=None,
        markup=_markup(call),
        acting_user=call.requester,
    )


async def _delete_message(call: _Call) -> Any:
    message_id = _message_id(call)
    await do_delete_bot_message(
        call.ctx, chat_id=_chat_id(call), message_id=message_id, acting_user=call.requester
    )
    return True


async def _answer_callback_query(call: _Call) -> Any:
    callback_id = call.text("callback_query_id")
    if not callback_id or len(callback_id) > _MAX_NAME_CHARS:
        raise BadRequest("query is too old and response timeout expired or query ID is invalid")
    # url (open a game) and cache_time are accepted and ignored.
    await do_answer_callback(
        call.ctx,
        callback_id=callback_id,
        text=call.text("text"),
        show_alert=call.flag("show_alert"),
        acting_user=call.requester,
    )
    return True


_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


async def _send_chat_action(call: _Call) -> Any:
    """Every action shows as our typing indicator."""
    chat_id = _chat_id(call)
    if (call.text("action") or "") not in _CHAT_ACTIONS:
        raise BadRequest("wrong parameter action in request")
    room_id = await member_room_id(call.ctx, call.requester, chat_id)
    frame = json.dumps(
        {
            "type": EphemeralType.TYPING.value,
            "data": {"room_id": format_id(room_id), "user_id": format_id(call.requester.id)},
        }
    )
    await call.container.bus.publish_ephemeral(EphemeralEvent(frame, room_id))
    return True


async def _get_chat(call: _Call) -> Any:
    return await get_chat(call.ctx, call.requester, _chat_id(call))


async def _get_chat_member(call: _Call) -> Any:
    chat_id = _chat_id(call)
    user_id = call.integer("user_id")
    if user_id is None or user_id <= 0:
        raise BadRequest("user not found")
    return await get_chat_member(call.ctx, call.requester, chat_id, user_id)


async def _delete_webhook(call: _Call) -> Any:
    await do_delete_webhook(
        call.ctx,
        drop_pending_updates=call.flag("drop_pending_updates"),
        position=call.container.dispatcher.last_seq,
        acting_user=call.requester,
    )
    return True


async def _set_webhook(call: _Call) -> Any:
    """setWebhook: a ``secret_token`` is required (actions/bot_webhooks.py); an empty
    ``url`` removes the webhook, as Telegram does; ``ip_address`` is ignored (the URL's
    name is resolved and checked on every request); custom certificates are refused."""
    if "certificate" in call.files or call.text("certificate"):
        raise BadRequest(
            "custom certificates are not supported: use a certificate a public CA signed"
        )
    url = (call.text("url") or "").strip()
    if not url:
        return await _delete_webhook(call)
    allowed = call.json_value("allowed_updates")
    if allowed is not None and not isinstance(allowed, list):
        raise BadRequest("allowed_updates must be a list of update types")
    await do_set_webhook(
        call.ctx,
        url=url,
        secret_token=call.text("secret_token"),
        max_connections=call.integer("max_connections"),
        allowed_updates=allowed,
        drop_pending_updates=call.flag("drop_pending_updates"),
        position=call.container.dispatcher.last_seq,
        acting_user=call.requester,
    )
    poller = _pollers.get(call.requester.id)
    if poller is not None:
        poller.set()  # a getUpdates poll in progress ends (409), as on Telegram
    call.container.bot_webhook_worker.wake()
    return True


async def _get_webhook_info(call: _Call) -> Any:
    return await webhook_info(
        call.ctx,
        call.requester.id,
        offset=call.bot.updates_offset,
        upto=call.container.dispatcher.last_seq,
    )


def _default_scope(call: _Call) -> bool:
    """Commands are kept for the default scope and language only; others are accepted
    and not stored (every user sees the default list)."""
    scope = call.json_value("scope")
    if scope is not None and (not isinstance(scope, dict) or scope.get("type") != "default"):
        return False
    return not call.text("language_code")


async def _set_my_commands(call: _Call) -> Any:
    raw = call.json_value("commands")
    if not isinstance(raw, list):
        raise BadRequest("commands must be an array")
    commands: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise BadRequest("command must be an object")
        name, description = item.get("command"), item.get("description")
        if not isinstance(name, str) or not _COMMAND.fullmatch(name.removeprefix("/")):
            raise BadRequest("command must be 1-32 characters of a-z, 0-9 and _")
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
            raise BadRequest("command description must be 1-256 characters")
        commands.append({"command": name.removeprefix("/"), "description": description.strip()})
    if _default_scope(call):
        await do_set_commands(call.ctx, commands=commands, acting_user=call.requester)
    return True


async def _get_my_commands(call: _Call) -> Any:
    if not _default_scope(call):
        return []
    return await get_commands(call.ctx, call.requester.id)


async def _delete_my_commands(call: _Call) -> Any:
    if _default_scope(call):
        await do_set_commands(call.ctx, commands=[], acting_user=call.requester)
    return True


async def _true(_call: _Call) -> Any:
    return True


_METHODS: dict[str, Callable[[_Call], Awaitable[Any]]] = {
    **FILE_METHODS,
    "getme": _get_me,
    "getupdates": _get_updates,
    "sendmessage": _send_message,
    "editmessagetext": _edit_message_text,
    "editmessagereplymarkup": _edit_message_reply_markup,
    "deletemessage": _delete_message,
    "answercallbackquery": _answer_callback_query,
    "sendchataction": _send_chat_action,
    "getchat": _get_chat,
    "getchatmember": _get_chat_member,
    "deletewebhook": _delete_webhook,
    "setwebhook": _set_webhook,
    "getwebhookinfo": _get_webhook_info,
    "setmycommands": _set_my_commands,
    "getmycommands": _get_my_commands,
    "deletemycommands": _delete_my_commands,
    "logout": _true,
    "close": _true,
}


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def _error(exc: ApiError) -> Response:
    if isinstance(exc, RateLimited):
        body = error_body(429, retry_after=exc.retry_after)
        return _answer(429, body, {"Retry-After": str(exc.retry_after)})
    status = exc.http_status
    return _answer(status, error_body(status, exc.message))


async def _handle(request: Request, token: str, method: str) -> Response:
    container = container_of(request)
    ctx = container.context
    ip = client_ip(request)
    async with token_failure_guard(container, ip):
        if len(token) > _MAX_TOKEN_CHARS:
            raise Unauthorized
        requester, bot = await authenticate_bot(ctx, token, ip=ip)
    name = method.lower()
    handler = _METHODS.get(name)
    if handler is None:
        raise NotFound
    if name not in READ_METHODS:
        require_bot_write(requester)  # T7: quarantined, or without messages:write
    if requester.grant is not None:
        container.token_usage.note(requester.grant.token_id, ip=ip, operation=f"bot {name}")
    await rate_limit(
        request, f"api:{requester.id}", Rate(ctx.settings.rate_api_per_second * 5, 5.0)
    )
    files: dict[str, Upload] = {}
    call = _Call(request, container, requester, bot, await _params(request, files))
    call.files = files
    return _answer(200, ok_body(await handler(call)))


@router.api_route("/bot{token}/{method}", methods=["GET", "POST"], include_in_schema=False)
async def bot_api(request: Request, token: str, method: str) -> Response:
    """Every Bot API method (see the module docstring)."""
    try:
        return await _handle(request, token, method)
    except ApiError as exc:
        return _error(exc)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening
    except Exception as exc:
        # Logged without the path (it holds the token); the redaction step would mask
        # a token anyway.
        _log.error(
            "botapi_error",
            method=method[:64],
            incident_id=incident_id_of(request),
            exc_info=exc,
        )
        return _answer(500, error_body(500))


@router.get("/file/bot{token}/{file_path:path}", include_in_schema=False)
async def bot_file(request: Request, token: str, file_path: str) -> Response:
    """A file by getFile's ``file_path`` (see api/endpoints/botapi_files.py); errors
    in the Bot API's envelope, the path (with its token) never logged."""
    try:
        container = container_of(request)
        ip = client_ip(request)
        async with token_failure_guard(container, ip):
            if len(token) > _MAX_TOKEN_CHARS:
                raise Unauthorized
            requester, _bot = await authenticate_bot(container.context, token, ip=ip)
        await rate_limit(
            request,
            f"api:{requester.id}",
            Rate(container.context.settings.rate_api_per_second * 5, 5.0),
        )
        return await file_download(container.context, requester, file_path)
    except ApiError as exc:
        return _error(exc)
