"""ApiClient without a server (httpx.MockTransport): headers, retries, error parsing,
caches. The round trips against a real server are in tests/test_redoubt_bot_client.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from redoubt_bot.client import ApiClient, ApiConnectionError, ApiError
from redoubt_bot.secrets import BotToken, remove_redaction
from redoubt_bot.types import Button, RoomKind

TOKEN = "4242:" + "s" * 43
BASE = "http://127.0.0.1:8000"
VIEW = {"id": "9", "room_id": "5", "author_id": "4242", "text": "hi", "files": []}


@pytest.fixture(autouse=True)
def _redaction_off() -> Iterator[None]:
    yield
    remove_redaction()


Handler = Callable[[httpx.Request], httpx.Response]


def make(handler: Handler, **kwargs: object) -> tuple[ApiClient, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    api = ApiClient(
        BASE,
        BotToken(TOKEN, _source="test"),
        transport=httpx.MockTransport(handler),
        sleep=sleep,
        **kwargs,  # type: ignore[arg-type]
    )
    return api, waits


async def test_token_in_header_never_in_url() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=VIEW)

    api, _ = make(handler)
    message = await api.send_message(
        "5", "hi", buttons=[[Button("A", data="x"), Button("Docs", url="https://e.org")]]
    )
    await api.aclose()
    assert message.id == "9"
    (request,) = seen
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)
    assert request.url.path == "/api/v1/rooms/5/messages"
    body = json.loads(request.content)
    assert body["buttons"] == [
        [{"text": "A", "callback_data": "x"}, {"text": "Docs", "url": "https://e.org"}]
    ]
    assert body["client_id"]  # idempotent retries


async def test_429_waits_retry_after_capped_then_gives_up() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls <= 2:
            return httpx.Response(
                429,
                headers={"Retry-After": "100" if calls == 1 else "2"},
                json={
                    "error": {"code": "rate_limited", "message": "Slow down.", "incident_id": "i1"}
                },
            )
        return httpx.Response(201, json=VIEW)

    api, waits = make(handler, max_retry_after=30.0)
    await api.send_message("5", "hi")
    assert waits == [30.0, 2.0]
    await api.aclose()

    def always(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "1"}, json={"error": {}})

    api, waits = make(always, max_retries=2)
    with pytest.raises(ApiError) as info:
        await api.delete_message("9")
    await api.aclose()
    assert waits == [1.0, 1.0]
    assert info.value.status == 429
    assert info.value.retry_after == 1.0


async def test_errors_parsed_and_clean() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/1"):
            return httpx.Response(
                403,
                json={
                    "error": {
                        "code": "forbidden",
                        "message": f"nope {TOKEN}",
                        "incident_id": "abc123",
                    }
                },
            )
        if request.url.path.endswith("/2"):
            return httpx.Response(502, text="<html>bad gateway</html>")
        return httpx.Response(301, headers={"Location": "http://evil.example/"})

    api, _ = make(handler)
    with pytest.raises(ApiError) as forbidden:
        await api.edit_message("1", "x")
    with pytest.raises(ApiError) as gateway:
        await api.edit_message("2", "x")
    with pytest.raises(ApiError) as redirect:
        await api.edit_message("3", "x")
    await api.aclose()
    assert (forbidden.value.status, forbidden.value.code, forbidden.value.incident_id) == (
        403,
        "forbidden",
        "abc123",
    )
    assert str(forbidden.value) == "403 forbidden: nope 4242:**** (incident abc123)"
    assert (gateway.value.status, gateway.value.code) == (502, "http_error")
    assert redirect.value.status == 301  # not followed: the header never goes elsewhere
    for err in (forbidden.value, gateway.value, redirect.value):
        assert TOKEN not in str(err) + repr(err)
        assert "http" not in str(err).replace("http_error", "")


async def test_connection_errors_retry_idempotent_only() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    api, _ = make(handler, max_retries=2)
    with pytest.raises(ApiConnectionError) as info:
        await api.get_room_kind("5")
    assert calls == 3
    calls = 0
    with pytest.raises(ApiConnectionError):
        await api.answer_callback("cb")  # answering twice would be refused: no retry
    assert calls == 1
    await api.aclose()
    assert "127.0.0.1" not in str(info.value)
    assert info.value.status == 0


async def test_room_kind_and_role_caches() -> None:
    paths: list[str] = []
    roles = {"7": (200, {"id": "7", "role": "admin"}), "8": (403, {"error": {"code": "x"}})}

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path.startswith("/api/v1/rooms/"):
            return httpx.Response(200, json={"id": "5", "kind": "dm"})
        status, body = roles.get(request.url.path.rsplit("/", 1)[1], (200, {"id": "9"}))
        return httpx.Response(status, json=body)

    api, _ = make(handler, role_ttl=60.0)
    assert await api.get_room_kind("5") is RoomKind.DM
    assert await api.get_room_kind("5") is RoomKind.DM
    assert paths.count("/api/v1/rooms/5") == 1
    assert await api.get_user_role("7") == "admin"
    assert await api.get_user_role("7") == "admin"
    assert paths.count("/api/v1/users/7") == 1
    assert await api.get_user_role("8") == "unknown"  # refused: policies deny
    assert await api.get_user_role("9") == "unknown"  # the server didn't say
    api.note_user_role("7", "user")
    assert await api.get_user_role("7") == "user"
    api.forget_user_role("7")
    assert await api.get_user_role("7") == "admin"
    await api.aclose()

    expired, _ = make(handler, role_ttl=0.0)
    await expired.get_user_role("7")
    await expired.get_user_role("7")
    await expired.aclose()
    assert paths.count("/api/v1/users/7") == 4


async def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        ApiClient(BASE, TOKEN)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="credentials"):
        ApiClient("https://user:pw@chat.example.org", BotToken(TOKEN, _source="test"))
    with pytest.raises(ValueError, match="http"):
        ApiClient("ftp://chat.example.org", BotToken(TOKEN, _source="test"))
    api, _ = make(lambda r: httpx.Response(201, json=VIEW))
    with pytest.raises(ValueError, match="1-64 bytes"):
        await api.set_buttons("9", [[Button("x", data="")]])
    await api.aclose()


async def test_plain_http_to_a_remote_host_warns(caplog: pytest.LogCaptureFixture) -> None:
    await ApiClient("http://chat.example.org", BotToken(TOKEN, _source="test")).aclose()
    assert "unencrypted" in caplog.text
