"""The bot's side of the server's HTTP API.

:class:`BotApi` is what the :class:`~redoubt_bot.application.Application` needs from a
client; :class:`ApiClient` implements it over HTTP.

The token goes in the ``Authorization`` header of every request, never in a URL (URLs
end up in error messages, proxies' and servers' access logs). Errors from the server
become :class:`ApiError` with its code, message and incident id; a 429 is waited out
(``Retry-After``, capped) and retried a bounded number of times.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Protocol
from urllib.parse import quote, urlsplit

import httpx

from redoubt_bot._compat import override
from redoubt_bot.secrets import BotToken, install_redaction, redact
from redoubt_bot.types import Button, Message, RoomKind

__all__ = ["ApiClient", "ApiConnectionError", "ApiError", "BotApi"]

_log = logging.getLogger("redoubt_bot.client")

API_PREFIX: Final = "/api/v1"
_MAX_CALLBACK_DATA: Final = 64
_ROOM_CACHE_SIZE: Final = 10_000
_ROLE_CACHE_SIZE: Final = 10_000
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


class BotApi(Protocol):
    async def send_message(
        self,
        room_id: str,
        text: str,
        *,
        buttons: Sequence[Sequence[Button]] | None = None,
        thread_id: str | None = None,
    ) -> Message: ...
    async def edit_message(self, message_id: str, text: str) -> Message: ...
    async def set_buttons(
        self, message_id: str, buttons: Sequence[Sequence[Button]]
    ) -> Message: ...  # [] removes them
    async def delete_message(self, message_id: str) -> None: ...
    async def answer_callback(
        self, callback_id: str, *, text: str | None = None, show_alert: bool = False
    ) -> None: ...
    async def add_reaction(self, message_id: str, emoji: str) -> None: ...
    async def get_room_kind(self, room_id: str) -> RoomKind: ...  # cached by the client
    async def get_user_role(
        self, user_id: str
    ) -> str: ...  # "admin" | "user" | "guest" | "bot"; cached with a TTL
    async def aclose(self) -> None: ...


class ApiError(Exception):
    """The server refused a request: its HTTP status, error code, message and incident
    id (quote it to the server's administrator). Never holds the token or a URL."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        incident_id: str | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = redact(message)
        self.incident_id = incident_id
        self.retry_after = retry_after
        super().__init__(status, code, self.message, incident_id)

    @override
    def __str__(self) -> str:
        incident = f" (incident {self.incident_id})" if self.incident_id else ""
        return f"{self.status} {self.code}: {self.message}{incident}"

    @override
    def __repr__(self) -> str:
        return (
            f"ApiError(status={self.status}, code={self.code!r}, message={self.message!r}, "
            f"incident_id={self.incident_id!r})"
        )


class ApiConnectionError(ApiError):
    """The server could not be reached, or did not answer in time (status 0)."""

    def __init__(self, what: str) -> None:
        super().__init__(0, "connection_error", what)


def _error_of(resp: httpx.Response) -> ApiError:
    code, message, incident = "http_error", f"HTTP {resp.status_code}", None
    retry_after = _retry_after(resp)
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = str(err.get("code") or code)[:100]
        message = str(err.get("message") or message)[:500]
        incident = str(err["incident_id"])[:100] if err.get("incident_id") else None
    return ApiError(resp.status_code, code, message, incident, retry_after=retry_after)


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _keyboard(buttons: Sequence[Sequence[Button]]) -> list[list[dict[str, str]]]:
    rows = []
    for row in buttons:
        out = []
        for button in row:
            if button.url is None:
                size = len((button.data or "").encode())
                if not 1 <= size <= _MAX_CALLBACK_DATA:
                    raise ValueError(
                        f"callback data must be 1-{_MAX_CALLBACK_DATA} bytes (got {size})"
                    )
            out.append(button.to_json())
        rows.append(out)
    return rows


def _seg(value: str) -> str:
    """One path segment, quoted (ids are digits; anything else must not change the
    path)."""
    return quote(value, safe="")


class ApiClient:
    """:class:`BotApi` over HTTP(S): ``ApiClient(base_url, token)``.

    Args:
        base_url: the server, e.g. ``https://chat.example.org``.
        token: the bot's :class:`BotToken`.
        timeout: seconds for each request (connect, read, write).
        max_retries: how many times a 429 (or, for idempotent requests, a lost
            connection) is retried before the error is raised.
        max_retry_after: the longest wait for one retry, in seconds.
        role_ttl: seconds a user's role is cached.
        transport: an httpx transport (tests).
    """

    def __init__(
        self,
        base_url: str,
        token: BotToken,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_retry_after: float = 30.0,
        role_ttl: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not isinstance(token, BotToken):
            raise TypeError("token must be a BotToken (BotToken.from_env(...))")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL like https://chat.example.org")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("base_url must not carry credentials, a query or a fragment")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            _log.warning(
                "The server URL is plain http on a non-loopback host: the bot token "
                "travels unencrypted; use https"
            )
        install_redaction(token)
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._max_retries = max_retries
        self._max_retry_after = max_retry_after
        self._role_ttl = role_ttl
        self._sleep = sleep
        self._room_kinds: OrderedDict[str, RoomKind] = OrderedDict()
        self._roles: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._http = httpx.AsyncClient(
            base_url=self.base_url + API_PREFIX,
            headers={
                "Authorization": f"Bearer {token.reveal()}",
                "User-Agent": "redoubt-bot/0.1",
            },
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,  # a redirect elsewhere must not take the header along
            transport=transport,
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- plumbing ---------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        idempotent: bool = False,
    ) -> Any:
        """One call to ``/api/v1`` + ``path``: its decoded JSON (None for 204).

        Raises:
            ApiError: the server's refusal (after retries for 429).
            ApiConnectionError: no answer (after retries, for idempotent requests).
        """
        attempt = 0
        while True:
            try:
                resp = await self._http.request(method, path, json=json)
            except httpx.TransportError as exc:
                # httpx's message may hold the URL: say what happened, not where.
                if idempotent and attempt < self._max_retries:
                    attempt += 1
                    await self._sleep(min(2.0**attempt / 4, self._max_retry_after))
                    continue
                raise ApiConnectionError(
                    f"{type(exc).__name__} talking to the server ({method} {_route(path)})"
                ) from None
            if resp.status_code == 429 and attempt < self._max_retries:
                attempt += 1
                wait = _retry_after(resp)
                wait = min(1.0 if wait is None else wait, self._max_retry_after)
                _log.warning(
                    "Rate limited by the server on %s %s; retrying in %.1f s (%d/%d)",
                    method,
                    _route(path),
                    wait,
                    attempt,
                    self._max_retries,
                )
                await self._sleep(wait)
                continue
            if resp.status_code >= 300:  # redirects aren't followed: the header stays here
                raise _error_of(resp)
            if resp.status_code == 204 or not resp.content:
                return None
            try:
                return resp.json()
            except ValueError:
                raise ApiError(resp.status_code, "invalid_response", "Not JSON.") from None

    # --- BotApi -----------------------------------------------------------------------

    async def send_message(
        self,
        room_id: str,
        text: str,
        *,
        buttons: Sequence[Sequence[Button]] | None = None,
        thread_id: str | None = None,
    ) -> Message:
        # A client_id makes the post idempotent: a retry after a lost answer returns
        # the first message instead of posting twice.
        body: dict[str, Any] = {"text": text, "client_id": secrets.token_urlsafe(16)}
        if thread_id is not None:
            body["thread_id"] = thread_id
        if buttons:
            body["buttons"] = _keyboard(buttons)
        view = await self.request(
            "POST", f"/rooms/{_seg(room_id)}/messages", json=body, idempotent=True
        )
        return Message.from_view(view)

    async def edit_message(self, message_id: str, text: str) -> Message:
        view = await self.request(
            "PATCH", f"/messages/{_seg(message_id)}", json={"text": text}, idempotent=True
        )
        return Message.from_view(view)

    async def set_buttons(self, message_id: str, buttons: Sequence[Sequence[Button]]) -> Message:
        view = await self.request(
            "PUT",
            f"/messages/{_seg(message_id)}/buttons",
            json={"buttons": _keyboard(buttons)},
            idempotent=True,
        )
        return Message.from_view(view)

    async def delete_message(self, message_id: str) -> None:
        await self.request("DELETE", f"/messages/{_seg(message_id)}", idempotent=True)

    async def answer_callback(
        self, callback_id: str, *, text: str | None = None, show_alert: bool = False
    ) -> None:
        await self.request(
            "POST",
            f"/callbacks/{_seg(callback_id)}/answer",
            json={"text": text, "show_alert": show_alert},
        )

    async def add_reaction(self, message_id: str, emoji: str) -> None:
        await self.request(
            "PUT", f"/messages/{_seg(message_id)}/reactions/{_seg(emoji)}", idempotent=True
        )

    async def get_room_kind(self, room_id: str) -> RoomKind:
        kind = self._room_kinds.get(room_id)
        if kind is None:
            room = await self.request("GET", f"/rooms/{_seg(room_id)}", idempotent=True)
            kind = RoomKind(room["kind"])
            self.note_room_kind(room_id, kind)
        return kind

    def note_room_kind(self, room_id: str, kind: RoomKind) -> None:
        """Remember a room's kind (a room never changes kind), e.g. from an event."""
        self._room_kinds[room_id] = kind
        self._room_kinds.move_to_end(room_id)
        while len(self._room_kinds) > _ROOM_CACHE_SIZE:
            self._room_kinds.popitem(last=False)

    async def get_user_role(self, user_id: str) -> str:
        """The user's role, or ``"unknown"`` when the server won't say (the bot lacks
        the ``users:read`` scope, no such user): role-based policies then deny."""
        now = time.monotonic()
        cached = self._roles.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            user = await self.request("GET", f"/users/{_seg(user_id)}", idempotent=True)
        except ApiError as exc:
            if exc.status in (0, 429) or exc.status >= 500:
                raise  # transient: don't cache a guess
            role = "unknown"
        else:
            role = str(user.get("role") or "unknown") if isinstance(user, dict) else "unknown"
        self.note_user_role(user_id, role, now=now)
        return role

    def note_user_role(self, user_id: str, role: str, *, now: float | None = None) -> None:
        """Remember a user's role for the TTL (e.g. from a ``user.updated`` event)."""
        at = time.monotonic() if now is None else now
        self._roles[user_id] = (at + self._role_ttl, role)
        self._roles.move_to_end(user_id)
        while len(self._roles) > _ROLE_CACHE_SIZE:
            self._roles.popitem(last=False)

    def forget_user_role(self, user_id: str) -> None:
        self._roles.pop(user_id, None)


def _route(path: str) -> str:
    """A path for a log line: only its fixed words (ids and emoji become ``{}``)."""
    return "/".join(p if p.isascii() and p.isalpha() else "{}" for p in path.split("/"))
