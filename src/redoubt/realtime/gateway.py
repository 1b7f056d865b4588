"""The WebSocket event stream, independent of the web framework.

Protocol (``GET /api/v1/events``):

1. Client: ``{"type": "hello", "token": "...", "since": N | null}``. The token is never
   in the URL (URLs get logged); a browser may omit it and rely on its session cookie.
2. Server: ``{"type": "ready", "seq": P, "user_id": "..."}`` where P is the current
   position, then every event in ``(since, P]`` the user may see (from memory, or from
   the database when memory no longer has them), then live events after P, in order,
   each ``{"seq": N, "type": "...", "data": {...}}``.
3. Client may send ``{"type": "typing", "room_id": "..."}`` and ``{"type": "ping"}``.
4. Presence arrives batched, at most about four times a second:
   ``{"type": "presence", "data": {"changes": [{"user_id": "...", "status": "online"}]}}``.

Ephemeral frames (``typing``, ``presence``) carry no ``seq``. Errors are
``{"type": "error", "code": "...", "message": "..."}``; fatal ones close the socket with
a 4xxx code (4401 for a missing or dead session, 4403 for an enrol-only one: its role
requires a second factor it hasn't set up yet).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from redoubt.core.errors import ErrorCode, Unauthorized
from redoubt.core.ids import format_id, parse_id
from redoubt.core.ratelimit import Rate, RateLimiter
from redoubt.domain.bots import bot_id_of_token
from redoubt.domain.events import EphemeralType
from redoubt.domain.scopes import Scope
from redoubt.queries.auth import authenticate
from redoubt.queries.bots import authenticate_bot
from redoubt.queries.context import Context, Requester
from redoubt.queries.events import events_for_user, room_ids_at
from redoubt.realtime.bus import EphemeralEvent, EventBus
from redoubt.realtime.connection import Connection
from redoubt.realtime.dispatcher import Dispatcher, replay_filter
from redoubt.realtime.presence import PresenceBatcher, PresenceTracker
from redoubt.storage.records import SessionRecord

__all__ = [
    "CLOSE_BAD_HELLO",
    "CLOSE_BAD_POSITION",
    "CLOSE_ENROL_ONLY",
    "CLOSE_RATE_LIMITED",
    "CLOSE_UNAUTHORIZED",
    "Gateway",
    "Transport",
]

CLOSE_BAD_HELLO = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_POSITION = 4409
CLOSE_RATE_LIMITED = 4429
CLOSE_ENROL_ONLY = 4403
CLOSE_POLICY = 1008
_HELLO_TIMEOUT = 10.0
_REPLAY_PAGE = 2_000
_MAX_BAD_FRAMES = 20
_PRESENCE_BATCH_SECONDS = 0.25

_Id = Annotated[str, StringConstraints(min_length=1, max_length=20)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Hello(_Frame):
    type: Literal["hello"]
    token: Annotated[str, StringConstraints(max_length=256)] | None = None
    since: Annotated[int, Field(ge=0, le=2**62)] | None = None


class TypingFrame(_Frame):
    type: Literal["typing"]
    room_id: _Id


class PingFrame(_Frame):
    type: Literal["ping"]


ClientFrame = Annotated[TypingFrame | PingFrame, Field(discriminator="type")]
_client_frame: TypeAdapter[TypingFrame | PingFrame] = TypeAdapter(ClientFrame)


class Transport(Protocol):
    async def receive_text(self) -> str: ...
    async def send_text(self, data: str) -> None: ...
    async def close(self, code: int, reason: str) -> None: ...


def _error(code: str, message: str, **extra: object) -> str:
    return json.dumps({"type": "error", "code": code, "message": message, **extra})


class Gateway:
    def __init__(
        self,
        ctx: Context,
        *,
        dispatcher: Dispatcher,
        bus: EventBus,
        limiter: RateLimiter,
        presence: PresenceTracker,
    ) -> None:
        self._ctx = ctx
        self._dispatcher = dispatcher
        self._bus = bus
        self._limiter = limiter
        self._frame_rate = Rate(ctx.settings.rate_ws_frames_per_second, 1.0)
        self._connect_rate = Rate(ctx.settings.rate_ws_connects_per_minute, 60.0)
        self._presence = PresenceBatcher(
            presence, self._announce_presence, delay=_PRESENCE_BATCH_SECONDS
        )
        dispatcher.on_user_online = self._presence.changed

    async def _announce_presence(self, changes: dict[int, bool]) -> None:
        frame = json.dumps(
            {
                "type": EphemeralType.PRESENCE.value,
                "data": {
                    "changes": [
                        {"user_id": format_id(u), "status": "online" if on else "offline"}
                        for u, on in changes.items()
                    ]
                },
            }
        )
        await self._bus.publish_ephemeral(EphemeralEvent(frame, None))

    async def stop(self) -> None:
        await self._presence.stop()

    async def serve(self, transport: Transport, *, cookie_token: str | None, ip: str) -> None:
        """Run one client session until it disconnects."""
        connects = await self._limiter.hit(f"ws-ip:{ip}", self._connect_rate)
        if not connects.allowed:
            await transport.send_text(
                _error("rate_limited", "Too many connections.", retry_after=connects.retry_after)
            )
            await transport.close(CLOSE_RATE_LIMITED, "too many connections")
            return
        try:
            raw = await asyncio.wait_for(transport.receive_text(), _HELLO_TIMEOUT)
            hello = Hello.model_validate_json(raw)
        except (TimeoutError, ValidationError, ValueError):
            await transport.send_text(
                _error("invalid_hello", 'The first frame must be {"type": "hello", ...}.')
            )
            await transport.close(CLOSE_BAD_HELLO, "invalid hello")
            return
        token = hello.token or cookie_token
        try:
            if token is None:
                raise Unauthorized
            requester, session = await self._authenticate(token, ip)
        except Unauthorized:
            await transport.send_text(_error("unauthorized", "Authentication required."))
            await transport.close(CLOSE_UNAUTHORIZED, "unauthorized")
            return
        if session is not None and session.enrol_only:
            # Its role requires a second factor it hasn't set up: it may enrol over the
            # API and nothing else (a session only ever leaves this state, never enters).
            await transport.send_text(
                _error(
                    ErrorCode.TWO_FACTOR_ENROLMENT_REQUIRED.value,
                    "Set up two-factor authentication to continue.",
                )
            )
            await transport.close(CLOSE_ENROL_ONLY, "two-factor enrolment required")
            return

        conn = Connection(
            user_id=requester.id,
            session_id=session.id if session is not None else None,
            send_text=transport.send_text,
            close=transport.close,
            max_queue=self._ctx.settings.ws_send_queue,
        )
        conn.read_only = requester.grant is not None and requester.grant.quarantined
        dispatcher = self._dispatcher
        current = dispatcher.begin_sync(conn)
        try:
            # A logout or deactivation committed between the first check and
            # begin_sync would not be among the held events: check once more. Anything
            # later is held and closes the stream in go_live.
            try:
                await self._authenticate(token, ip)
            except Unauthorized:
                await transport.send_text(_error("unauthorized", "Authentication required."))
                await transport.close(CLOSE_UNAUTHORIZED, "unauthorized")
                return
            if hello.since is not None and hello.since > current:
                await transport.send_text(
                    _error("invalid_since", "That position is ahead of the server's.")
                )
                await transport.close(CLOSE_BAD_POSITION, "invalid position")
                return
            # The rooms as of the position the stream starts from; the replay and the
            # held events then follow the user's joins and removals one by one.
            start = current if hello.since is None else hello.since
            conn.room_ids, changed = await room_ids_at(self._ctx, requester.id, start)
            await transport.send_text(
                json.dumps({"type": "ready", "seq": current, "user_id": format_id(requester.id)})
            )
            if hello.since is not None:
                await self._replay(transport, conn, hello.since, current, changed)
            conn.start()
            dispatcher.go_live(conn)
            await self._read_loop(transport, conn)
        finally:
            dispatcher.remove(conn)
            await conn.stop()

    async def _authenticate(self, token: str, ip: str) -> tuple[Requester, SessionRecord | None]:
        """A session's token, or a bot's (``<bot id>:<secret>``, no session): a bot
        needs the messages:read scope; its stream holds the rooms it is a member of,
        which are only its allowed rooms and the DMs opened with it."""
        if bot_id_of_token(token) is None:
            return await authenticate(self._ctx, token, ip=ip)
        requester, _bot = await authenticate_bot(self._ctx, token, ip=ip)
        if requester.grant is None or not requester.grant.allows(Scope.MESSAGES_READ):
            raise Unauthorized
        return requester, None

    async def _replay(
        self, transport: Transport, conn: Connection, since: int, upto: int, joined: set[int]
    ) -> None:
        """Send the user's events in ``(since, upto]``; ``joined``: rooms whose membership
        changed after ``since`` (their events are read, then filtered by the walk)."""
        in_memory = self._dispatcher.replay_from_ring(since, upto)
        if in_memory is not None:
            for frame in replay_filter(conn, in_memory):
                await transport.send_text(frame)
            return
        candidates = conn.room_ids | joined
        after = since
        while after < upto:
            page = await events_for_user(
                self._ctx, conn.user_id, candidates, after=after, upto=upto, limit=_REPLAY_PAGE
            )
            for frame in replay_filter(conn, page):
                await transport.send_text(frame)
            if len(page) < _REPLAY_PAGE:
                break
            after = page[-1].seq

    async def _read_loop(self, transport: Transport, conn: Connection) -> None:
        bad = 0
        # Per user, not per connection: more sockets don't buy a bigger budget, and the
        # key means the same thing in every process sharing the Redis limiter.
        key = f"ws-frames:{conn.user_id}"
        while not conn.closing:
            raw = await transport.receive_text()
            decision = await self._limiter.hit(key, self._frame_rate)
            if not decision.allowed:
                conn.enqueue(
                    _error("rate_limited", "Too many frames.", retry_after=decision.retry_after)
                )
                bad += 1
            else:
                try:
                    frame = _client_frame.validate_json(raw)
                except ValidationError:
                    conn.enqueue(_error("invalid_frame", "Unknown or malformed frame."))
                    bad += 1
                else:
                    await self._handle(conn, frame)
            if bad > _MAX_BAD_FRAMES:
                conn.close_soon(CLOSE_POLICY, "too many invalid or excess frames")

    async def _handle(self, conn: Connection, frame: TypingFrame | PingFrame) -> None:
        if isinstance(frame, PingFrame):
            conn.enqueue('{"type":"pong"}')
            return
        room_id = parse_id(frame.room_id)
        if room_id is None or room_id not in conn.room_ids or conn.read_only:
            conn.enqueue(_error("not_found", "Not found."))
            return
        payload = json.dumps(
            {
                "type": EphemeralType.TYPING.value,
                "data": {"room_id": frame.room_id, "user_id": format_id(conn.user_id)},
            }
        )
        await self._bus.publish_ephemeral(EphemeralEvent(payload, room_id))
