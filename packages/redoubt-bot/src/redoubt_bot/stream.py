"""The server's event stream as :class:`~redoubt_bot.types.Update` objects.

``async for update in EventStream(base_url, token): ...`` connects to
``/api/v1/events``, sends the token in the first frame (never in the URL), and yields
one update per event a bot cares about. After a dropped connection it reconnects with
exponential back-off and jitter and resumes after the last event it yielded, so no
update is lost or repeated. A dead token (close code 4401) stops it with
:class:`StreamUnauthorized`; it never retries with a token the server refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from redoubt_bot.client import ApiClient, ApiError
from redoubt_bot.secrets import BotToken, install_redaction
from redoubt_bot.types import (
    CallbackQuery,
    MemberChange,
    Message,
    Reaction,
    RoomKind,
    Update,
    UpdateKind,
)

__all__ = [
    "CLOSE_BAD_POSITION",
    "CLOSE_FORBIDDEN",
    "CLOSE_RATE_LIMITED",
    "CLOSE_UNAUTHORIZED",
    "EventStream",
    "StreamError",
    "StreamUnauthorized",
]

_log = logging.getLogger("redoubt_bot.stream")
_ws_log = _log.getChild("ws")
# websockets logs every frame at DEBUG, the hello (with the token) included, cut short
# so that the redactor can't always recognise it: frames stay out of the log even when
# the root logger is at DEBUG (set this logger's level explicitly to see them).
_ws_log.setLevel(logging.INFO)

CLOSE_BAD_HELLO: Final = 4400
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_BAD_POSITION: Final = 4409
CLOSE_RATE_LIMITED: Final = 4429
_EDIT_CACHE_SIZE: Final = 10_000
_random = secrets.SystemRandom()
_Converter = Callable[[int, str, dict[str, Any]], Awaitable[Update | None]]


class StreamError(Exception):
    """The stream stopped for good (the server refused the bot)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"event stream closed ({code}): {message}")
        self.code = code


class StreamUnauthorized(StreamError):
    """4401: the token is wrong, revoked or expired, or the bot lacks messages:read.
    Not retried: get a new token."""


class _Reconnect(Exception):
    def __init__(self, delay: float | None = None, *, reset_position: bool = False) -> None:
        super().__init__()
        self.delay = delay
        self.reset_position = reset_position


def events_url(base_url: str) -> str:
    """``ws(s)://host/api/v1/events`` for the server at ``base_url``."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError("base_url must be an http(s) URL like https://chat.example.org")
    path = parts.path.rstrip("/") + "/api/v1/events"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class EventStream:
    """The bot's updates, from the server's event stream.

    Args:
        base_url: the server (``https://...``; the ``wss://`` URL is derived from it).
        token: the bot's :class:`BotToken`.
        api: an :class:`ApiClient` to look room kinds up with (one is made, and closed
            with the stream, if not given).
        since: resume after this position (a position saved by an earlier run).
        max_backoff: the longest wait between reconnection attempts, in seconds.
    """

    def __init__(
        self,
        base_url: str,
        token: BotToken,
        *,
        api: ApiClient | None = None,
        since: int | None = None,
        max_backoff: float = 30.0,
        initial_backoff: float = 0.5,
        open_timeout: float = 10.0,
    ) -> None:
        if not isinstance(token, BotToken):
            raise TypeError("token must be a BotToken (BotToken.from_env(...))")
        install_redaction(token)
        self.url = events_url(base_url)
        self._token = token
        self._own_api = api is None
        self._api = api if api is not None else ApiClient(base_url, token)
        self.last_seq: int | None = since
        """The position of the last event handled; a reconnect resumes after it."""
        self.bot_user_id: str | None = token.bot_id
        """The bot's user id (from the server's ``ready`` frame)."""
        self._max_backoff = max_backoff
        self._initial_backoff = initial_backoff
        self._open_timeout = open_timeout
        self._ws: ClientConnection | None = None
        self._closed = False
        self._edited: OrderedDict[str, str | None] = OrderedDict()
        self.connections = 0
        self._converters: dict[str, _Converter] = {
            "message.created": self._message,
            "message.updated": self._message,
            "reaction.added": self._reaction,
            "reaction.removed": self._reaction,
            "room.member_added": self._member,
            "room.member_removed": self._member,
            "bot.callback_query": self._callback,
        }
        """How many times the stream has connected (and got ``ready``)."""

    async def aclose(self) -> None:
        """Stop: the iteration ends after the current frame."""
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
        if self._own_api:
            await self._api.aclose()

    def _stopped(self) -> bool:
        return self._closed

    async def __aiter__(self) -> AsyncIterator[Update]:
        failures = 0
        try:
            while not self._closed:
                try:
                    async with contextlib.aclosing(self._session()) as session:
                        async for update in session:
                            failures = 0
                            yield update
                    delay: float | None = None
                except _Reconnect as again:
                    if again.reset_position:
                        _log.warning("The server no longer has our position; resuming live")
                        self.last_seq = None
                    delay = again.delay
                except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                    _log.warning("Event stream connection failed: %s", type(exc).__name__)
                    delay = None
                if self._stopped():
                    return
                if delay is None:
                    failures += 1
                    ceiling = min(self._max_backoff, self._initial_backoff * 2 ** (failures - 1))
                    delay = _random.uniform(ceiling / 2, ceiling)  # jitter
                if delay > 0:
                    _log.info("Reconnecting to the event stream in %.1f s", delay)
                    await asyncio.sleep(delay)
        finally:
            self._ws = None

    async def _session(self) -> AsyncGenerator[Update, None]:
        """One connection: hello, ready, then updates until it closes."""
        try:
            ws = await connect(
                self.url,
                open_timeout=self._open_timeout,
                max_size=2**22,
                ping_interval=20,
                ping_timeout=20,
                close_timeout=5,
                logger=_ws_log,
            )
        except InvalidURI:
            raise ValueError("invalid event stream URL") from None
        self._ws = ws
        retry_after: float | None = None
        try:
            await ws.send(
                json.dumps({"type": "hello", "token": self._token.reveal(), "since": self.last_seq})
            )
            while True:
                try:
                    raw = await ws.recv()
                except ConnectionClosed as closed:
                    self._on_close(closed, retry_after)
                    raise _Reconnect() from None
                frame = _parse(raw)
                if frame is None:
                    continue
                kind = frame.get("type")
                seq = frame.get("seq")
                if kind == "ready":
                    self._ready(frame)
                elif kind == "error":
                    value = frame.get("retry_after")
                    if isinstance(value, int | float):
                        retry_after = float(value)
                    _log.debug("Event stream error frame: %s", frame.get("code"))
                elif isinstance(seq, int) and (self.last_seq is None or seq > self.last_seq):
                    # (no seq: typing, presence, pong; seq <= last: a replay overlap)
                    update = await self._update_of(seq, str(kind), frame.get("data"))
                    self.last_seq = seq
                    if update is not None:
                        yield update
        finally:
            self._ws = None
            await ws.close()

    def _ready(self, frame: dict[str, Any]) -> None:
        self.connections += 1
        if isinstance(frame.get("user_id"), str):
            self.bot_user_id = frame["user_id"]
        if self.last_seq is None and isinstance(frame.get("seq"), int):
            self.last_seq = frame["seq"]

    def _on_close(self, closed: ConnectionClosed, retry_after: float | None) -> None:
        code = closed.rcvd.code if closed.rcvd is not None else None
        reason = closed.rcvd.reason if closed.rcvd is not None else ""
        if self._closed:
            return
        if code == CLOSE_UNAUTHORIZED:
            raise StreamUnauthorized(code, reason or "unauthorized")
        if code in (CLOSE_FORBIDDEN, CLOSE_BAD_HELLO):
            raise StreamError(code, reason or "refused")
        if code == CLOSE_BAD_POSITION:
            raise _Reconnect(0.0, reset_position=True)
        if code == CLOSE_RATE_LIMITED:
            wait = min(max(retry_after or self._max_backoff / 2, 1.0), self._max_backoff)
            raise _Reconnect(wait + _random.uniform(0, 1))
        _log.warning("Event stream closed (%s); reconnecting", code)

    # --- events -> updates ------------------------------------------------------------

    async def _room_kind(self, room_id: str) -> RoomKind | None:
        try:
            return await self._api.get_room_kind(room_id)
        except (ApiError, KeyError, ValueError) as exc:
            _log.warning("Could not look up the kind of a room: %s", exc)
            return None

    async def _update_of(self, seq: int, kind: str, data: Any) -> Update | None:
        if not isinstance(data, dict):
            return None
        try:
            return await self._convert(seq, kind, data)
        except (KeyError, TypeError, ValueError):
            _log.warning("Ignored a malformed %s event at %d", kind, seq)
            return None

    async def _convert(self, seq: int, kind: str, data: dict[str, Any]) -> Update | None:
        convert = self._converters.get(kind)
        if convert is not None:
            return await convert(seq, kind, data)
        if kind == "user.updated":
            # A role change: the cached role must not outlive it.
            user_id, role = data.get("id"), data.get("role")
            if isinstance(user_id, str):
                if isinstance(role, str):
                    self._api.note_user_role(user_id, role)
                else:
                    self._api.forget_user_role(user_id)
        return None

    async def _message(self, seq: int, kind: str, data: dict[str, Any]) -> Update | None:
        message = Message.from_view(data)
        if kind == "message.created":
            self._remember_edit(message.id, data.get("edited_at"))
            update_kind = UpdateKind.MESSAGE
        elif self._is_edit(message.id, data):
            update_kind = UpdateKind.EDITED_MESSAGE
        else:
            return None  # a pin, a reaction or reply count: not the bot's business
        if message.author_id == self.bot_user_id or data.get("deleted"):
            return None
        return Update(
            seq=seq,
            kind=update_kind,
            user_id=message.author_id,
            room_id=message.room_id,
            room_kind=await self._room_kind(message.room_id),
            message=message,
            raw=data,
        )

    async def _reaction(self, seq: int, kind: str, data: dict[str, Any]) -> Update | None:
        view = data["message"]
        user_id = str(data["user_id"])
        if user_id == self.bot_user_id:
            return None
        room_id = str(view["room_id"])
        return Update(
            seq=seq,
            kind=UpdateKind.REACTION,
            user_id=user_id,
            room_id=room_id,
            room_kind=await self._room_kind(room_id),
            reaction=Reaction(
                message_id=str(view["id"]),
                room_id=room_id,
                user_id=user_id,
                emoji=str(data["emoji"]),
                added=kind == "reaction.added",
            ),
            raw=data,
        )

    async def _member(self, seq: int, kind: str, data: dict[str, Any]) -> Update | None:
        room = data["room"]
        room_id = str(room["id"])
        room_kind = RoomKind(room["kind"])
        self._api.note_room_kind(room_id, room_kind)
        user_id = str(data["user_id"])
        return Update(
            seq=seq,
            kind=UpdateKind.MEMBER,
            user_id=user_id,
            room_id=room_id,
            room_kind=room_kind,
            member=MemberChange(
                room_id=room_id,
                room_kind=room_kind,
                user_id=user_id,
                joined=kind == "room.member_added",
            ),
            raw=data,
        )

    async def _callback(self, seq: int, kind: str, data: dict[str, Any]) -> Update | None:
        del kind
        room_id = str(data["room_id"])
        query = CallbackQuery(
            id=str(data["callback_id"]),
            message_id=str(data["message_id"]),
            room_id=room_id,
            user_id=str(data["user_id"]),
            data=str(data["data"]),
        )
        return Update(
            seq=seq,
            kind=UpdateKind.CALLBACK,
            user_id=query.user_id,
            room_id=room_id,
            room_kind=await self._room_kind(room_id),
            callback=query,
            raw=data,
        )

    def _remember_edit(self, message_id: str, edited_at: Any) -> None:
        self._edited[message_id] = edited_at if isinstance(edited_at, str) else None
        self._edited.move_to_end(message_id)
        while len(self._edited) > _EDIT_CACHE_SIZE:
            self._edited.popitem(last=False)

    def _is_edit(self, message_id: str, data: dict[str, Any]) -> bool:
        """Whether a ``message.updated`` is a text edit (not a pin, a reaction count, a
        thread reply count): its ``edited_at`` moved."""
        edited_at = data.get("edited_at")
        if not isinstance(edited_at, str):
            return False
        known = message_id in self._edited
        previous = self._edited.get(message_id)
        self._remember_edit(message_id, edited_at)
        if known:
            return edited_at != previous
        # A message from before this run: an edit unless a later pin explains the
        # update.
        pinned_at = data.get("pinned_at")
        return not (isinstance(pinned_at, str) and pinned_at >= edited_at)


def _parse(raw: str | bytes) -> dict[str, Any] | None:
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None
