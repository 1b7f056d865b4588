"""Bot webhooks (setWebhook / deleteWebhook / getWebhookInfo) against a real server.

A loopback receiver (tests/http_receiver.py) plays the bot's webhook endpoint; loopback
is what the egress guard forbids, so the servers reach it only through an allowlist
entry (``egress_allow_networks``), as in tests/test_outgoing_hooks.py. What is proved:
no webhook without a secret (T1/forged updates), none to a private address (T6),
updates arrive in order with ``Content-Type: application/json`` exactly and the secret
header, parse with python-telegram-bot and aiogram, are retried after a failure and
confirmed once delivered (never sent again), getUpdates answers 409 while a webhook is
set, getWebhookInfo never shows the secret nor a response body, the secret and the
bot token never reach the log, and two processes on PostgreSQL deliver each update
exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiogram.types
import httpx
import pytest
import telegram
from typing_extensions import override

from redoubt.storage import bot_webhooks as webhook_store
from tests.conftest import LogSecretDetector
from tests.harness import Bot, Server, User, deployment, run_server, server_log
from tests.http_receiver import LoopbackServer, read_request, reply

_PTB_BOT = telegram.Bot("1:" + "A" * 43)
CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


@dataclass
class Hit:
    at: float
    headers: dict[str, str]
    body: bytes

    @property
    def update(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver(LoopbackServer):
    """The bot's webhook endpoint: records every request, answers ``respond(index)``."""

    def __init__(self, respond: Callable[[int], int] | None = None) -> None:
        super().__init__()
        self.respond = respond or (lambda _n: 200)
        self.hits: list[Hit] = []
        self.arrived = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram/hook"

    @override
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        index = len(self.hits)
        self.hits.append(Hit(time.monotonic(), request.headers, request.body))
        self.arrived.set()
        status = self.respond(index)
        await reply(writer, status, b"receiver-private-body" if status >= 300 else b"ok")

    def delivered(self) -> list[dict[str, Any]]:
        return [hit.update for hit in self.hits]

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.hits) < count:
                self.arrived.clear()
                await self.arrived.wait()


def webhook_settings(port: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "egress_allow_networks": ["127.0.0.1/32"],
        "egress_allowed_ports": [port],
        "egress_timeout_seconds": 3.0,
        "bot_webhook_retry_base_seconds": 0.2,
        "bot_webhook_retry_max_seconds": 1.0,
        "bot_webhook_poll_seconds": 0.2,
    }
    values.update(overrides)
    return values


@contextlib.asynccontextmanager
async def webhook_server(tmp_path: Path, receiver: Receiver) -> AsyncIterator[Server]:
    async with (
        deployment("sqlite", tmp_path / "data") as settings,
        run_server(settings(**webhook_settings(receiver.port))) as server,
    ):
        yield server


async def call(server: Server, bot: Bot, method: str, **data: Any) -> httpx.Response:
    return await server.http.post(f"/bot{bot.token}/{method}", data=data)


async def result(server: Server, bot: Bot, method: str, **data: Any) -> Any:
    resp = await call(server, bot, method, **data)
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


async def setup(server: Server) -> tuple[User, Bot, str]:
    """alice, a bot, and their DM."""
    alice = await server.create_user("alice")
    bot = await server.create_bot(alice, "hook_bot")
    room = await server.ok("POST", "/api/v1/dms", alice, json={"user_ids": [bot.id]})
    return alice, bot, str(room["id"])


def new_secret() -> str:
    return "whs_" + secrets.token_urlsafe(32)


async def stored_webhook(server: Server, bot: Bot) -> webhook_store.BotWebhookRecord | None:
    async with server.container.context.db.read("test") as conn:
        return await webhook_store.get_webhook(conn, int(bot.id))


async def test_set_webhook_needs_a_secret_and_a_public_url(server: Server) -> None:
    """No secret, a malformed one, a private or loopback address, another scheme, a
    custom certificate: 400 with a clear description, and nothing is stored."""
    _alice, bot, _dm = await setup(server)
    resp = await call(server, bot, "setWebhook", url="https://example.com/hook")
    assert resp.status_code == 400
    description = resp.json()["description"]
    assert description.startswith("Bad Request: secret_token is required")
    assert "forged" in description
    assert await stored_webhook(server, bot) is None
    assert (await result(server, bot, "getWebhookInfo"))["url"] == ""

    refused = [
        {"url": "https://example.com/hook", "secret_token": "has space"},
        {"url": "https://example.com/hook", "secret_token": "x" * 257},
        {"url": "http://127.0.0.1/hook", "secret_token": new_secret()},
        {"url": "http://10.1.2.3/hook", "secret_token": new_secret()},
        {"url": "http://169.254.169.254/latest", "secret_token": new_secret()},
        {"url": "http://localhost/hook", "secret_token": new_secret()},
        {"url": "ftp://example.com/hook", "secret_token": new_secret()},
        {"url": "https://example.com/hook", "secret_token": new_secret(), "max_connections": "0"},
    ]
    for data in refused:
        resp = await call(server, bot, "setWebhook", **data)
        assert resp.status_code == 400, (data, resp.text)
        assert resp.json()["ok"] is False
    resp = await server.http.post(
        f"/bot{bot.token}/setWebhook",
        data={"url": "https://example.com/hook", "secret_token": new_secret()},
        files={"certificate": ("cert.pem", b"-----BEGIN CERTIFICATE-----", "text/plain")},
    )
    assert resp.status_code == 400
    assert "certificate" in resp.json()["description"]
    assert await stored_webhook(server, bot) is None
    # getUpdates still works: no webhook was set.
    assert await result(server, bot, "getUpdates") == []


async def test_updates_arrive_in_order_with_the_secret_header(
    tmp_path: Path, secret_log_detector: LogSecretDetector
) -> None:
    """Updates POSTed in order, exactly ``application/json``, with the secret header;
    both client libraries parse them; 409 for getUpdates while set; getWebhookInfo
    without the secret; deleteWebhook brings getUpdates back. The secret and the bot
    token appear in no log line (root logger at DEBUG)."""
    async with Receiver() as receiver, webhook_server(tmp_path, receiver) as server:
        alice, bot, dm = await setup(server)
        secret = new_secret()
        secret_log_detector.remember(secret)
        with server_log(logging.DEBUG) as log:
            assert (
                await result(
                    server,
                    bot,
                    "setWebhook",
                    url=receiver.url,
                    secret_token=secret,
                    max_connections="5",
                )
                is True
            )
            stored = await stored_webhook(server, bot)
            assert stored is not None
            assert secret.encode() not in stored.secret_enc  # sealed at rest

            texts = [f"message {n}" for n in range(6)]
            posted_at = []
            post_took = []
            for n, text in enumerate(texts):
                posted_at.append(time.monotonic())
                await server.post(alice, dm, text)
                post_took.append(time.monotonic() - posted_at[-1])
                if n < len(texts) // 2:  # one at a time: latency; then a burst: order
                    await receiver.wait_for(n + 1)
            await receiver.wait_for(len(texts))
            await asyncio.sleep(0.3)  # nothing more arrives
            assert len(receiver.hits) == len(texts)

            updates = receiver.delivered()
            ids = [u["update_id"] for u in updates]
            assert ids == sorted(ids)
            assert len(set(ids)) == len(ids)
            assert [u["message"]["text"] for u in updates] == texts
            for hit in receiver.hits:
                assert hit.headers["content-type"] == "application/json"
                assert hit.headers["x-telegram-bot-api-secret-token"] == secret
                ptb = telegram.Update.de_json(hit.update, _PTB_BOT)
                aio = aiogram.types.Update.model_validate(hit.update)
                assert ptb is not None
                assert ptb.message is not None
                assert aio.message is not None
                assert ptb.message.text == aio.message.text == hit.update["message"]["text"]
            latencies = [hit.at - at for hit, at in zip(receiver.hits, posted_at, strict=True)][
                : len(texts) // 2
            ]
            # From the start of the POST that made the message to its arrival, and the
            # POST's own round trip for comparison.
            print(
                f"webhook latency: median {statistics.median(latencies) * 1000:.0f} ms, "
                f"max {max(latencies) * 1000:.0f} ms; the post itself: median "
                f"{statistics.median(post_took) * 1000:.0f} ms"
            )
            assert max(latencies) < 2.0

            resp = await call(server, bot, "getUpdates")
            assert resp.status_code == 409
            assert resp.json() == {"ok": False, "error_code": 409, "description": CONFLICT}

            info = await result(server, bot, "getWebhookInfo")
            assert info == {
                "url": receiver.url,
                "has_custom_certificate": False,
                "pending_update_count": 0,
                "max_connections": 5,
            }
            assert secret not in json.dumps(info)
            assert telegram.WebhookInfo.de_json(info, _PTB_BOT) is not None
            assert aiogram.types.WebhookInfo.model_validate(info).url == receiver.url

            assert await result(server, bot, "deleteWebhook") is True
            assert await stored_webhook(server, bot) is None
            assert await result(server, bot, "getUpdates") == []  # all confirmed
            await server.post(alice, dm, "after delete")
            polled = await result(server, bot, "getUpdates", timeout="5")
            assert [u["message"]["text"] for u in polled] == ["after delete"]
            assert len(receiver.hits) == len(texts)
        text = log.text()
        assert log.lines
        assert secret not in text
        assert bot.token not in text
        assert bot.token.split(":", 1)[1] not in text


async def test_a_failed_delivery_is_retried_then_sent_once(tmp_path: Path) -> None:
    """500 then 200: the same update again, then the next; each exactly once after it
    succeeded. getWebhookInfo shows the error without the receiver's body."""
    async with (
        Receiver(lambda n: 500 if n == 0 else 200) as receiver,
        webhook_server(tmp_path, receiver) as server,
    ):
        alice, bot, dm = await setup(server)
        secret = new_secret()
        await result(server, bot, "setWebhook", url=receiver.url, secret_token=secret)
        await server.post(alice, dm, "first")
        await receiver.wait_for(2)
        info = await result(server, bot, "getWebhookInfo")
        assert info["last_error_message"] == "Wrong response from the webhook: HTTP 500"
        assert isinstance(info["last_error_date"], int)
        assert "receiver-private-body" not in json.dumps(info)
        await server.post(alice, dm, "second")
        await receiver.wait_for(3)
        await asyncio.sleep(0.5)
        texts = [u["message"]["text"] for u in receiver.delivered()]
        assert texts == ["first", "first", "second"]
        first, again, _second = receiver.delivered()
        assert first == again
        assert (await result(server, bot, "getWebhookInfo"))["pending_update_count"] == 0


async def test_drop_pending_and_allowed_updates(tmp_path: Path) -> None:
    """drop_pending_updates confirms what was waiting; allowed_updates without
    "message" sends no message (they are confirmed all the same); an empty url removes
    the webhook, as Telegram does."""
    async with Receiver() as receiver, webhook_server(tmp_path, receiver) as server:
        alice, bot, dm = await setup(server)
        await server.post(alice, dm, "old news")
        assert (await result(server, bot, "getWebhookInfo"))["pending_update_count"] == 1
        await result(
            server,
            bot,
            "setWebhook",
            url=receiver.url,
            secret_token=new_secret(),
            drop_pending_updates="true",
            allowed_updates='["callback_query"]',
        )
        info = await result(server, bot, "getWebhookInfo")
        assert info["pending_update_count"] == 0
        assert info["allowed_updates"] == ["callback_query"]
        await server.post(alice, dm, "not wanted")
        await asyncio.sleep(0.8)
        assert receiver.hits == []
        assert (await result(server, bot, "getWebhookInfo"))["pending_update_count"] == 0

        await result(server, bot, "setWebhook", url=receiver.url, secret_token=new_secret())
        await server.post(alice, dm, "wanted")
        await receiver.wait_for(1)
        assert [u["message"]["text"] for u in receiver.delivered()] == ["wanted"]
        assert await result(server, bot, "setWebhook", url="") is True
        assert await stored_webhook(server, bot) is None


async def test_two_processes_deliver_each_update_once(tmp_path: Path) -> None:
    """PostgreSQL + Redis, two servers, messages posted through both: every update
    reaches the receiver exactly once, in order (one lease holder per bot)."""
    async with Receiver() as receiver, deployment("postgres", tmp_path / "data") as settings:
        options = webhook_settings(receiver.port)
        async with run_server(settings(**options)) as a, run_server(settings(**options)) as b:
            alice, bot, dm = await setup(a)
            bob = await a.create_user("bob")
            group = await a.room(alice, "team", "private", bob)
            bot2 = await a.create_bot(alice, "group_bot", group)
            await a.ok("POST", f"/api/v1/rooms/{group}/members", alice, json={"user_id": bot2.id})
            bob_on_b = await b.new_session(bob)
            alice_on_b = await b.new_session(alice)
            await result(b, bot, "setWebhook", url=receiver.url, secret_token=new_secret())
            await result(a, bot2, "setWebhook", url=receiver.url, secret_token=new_secret())
            count = 20
            for n in range(count):
                await asyncio.gather(
                    (a if n % 2 else b).post(alice if n % 2 else alice_on_b, dm, f"dm {n}"),
                    (b if n % 2 else a).post(bob_on_b if n % 2 else bob, group, f"group {n}"),
                )
            await receiver.wait_for(2 * count, timeout=20)
            await asyncio.sleep(1.0)
            updates = receiver.delivered()
            assert len(updates) == 2 * count
            for prefix in ("dm", "group"):
                mine = [u for u in updates if u["message"]["text"].startswith(prefix)]
                ids = [u["update_id"] for u in mine]
                assert len(set(ids)) == count
                assert ids == sorted(ids)


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/hook"])
async def test_delivery_is_checked_again_by_the_egress_guard(tmp_path: Path, url: str) -> None:
    """A webhook set while its address was allowed is refused at delivery once the
    policy no longer allows it (the guard runs for every request): the error shows in
    getWebhookInfo and nothing is confirmed."""
    async with deployment("sqlite", tmp_path / "data") as settings:
        async with run_server(settings(**webhook_settings(1))) as server:
            alice, bot, dm = await setup(server)
            await result(server, bot, "setWebhook", url=url, secret_token=new_secret())
        async with run_server(settings(**webhook_settings(1, egress_allow_networks=[]))) as server:
            await server.post(alice, dm, "hello")
            info: dict[str, Any] = {}
            for _ in range(50):
                info = await result(server, bot, "getWebhookInfo")
                if "last_error_message" in info:
                    break
                await asyncio.sleep(0.1)
            assert info["last_error_message"].startswith("Refused by the egress guard")
            assert info["pending_update_count"] == 1
