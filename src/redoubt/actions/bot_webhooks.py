"""Bot webhooks: setWebhook / deleteWebhook, and the worker that delivers updates.

A webhook is the server polling on the bot's behalf: the worker reads the same
``Update`` objects getUpdates would return (:func:`redoubt.queries.botapi.read_updates`,
from the bot's confirmed offset up to the stream position this process has seen
committed), POSTs them one at a time in ``update_id`` order through the egress guard
(which checks the URL's addresses again on every request: DNS rebinding), and confirms
each one's offset after a 2xx answer. Anything else (another status, a network error or
timeout, a refusal by the guard) stops the bot's delivery and schedules the next try
after ``base * 2^(failures-1)`` seconds (capped, ±20 % jitter); getWebhookInfo shows
the last error (status or reason only, never a response body). Updates the bot did not
ask for (``allowed_updates``) are confirmed without being sent.

Every request carries ``Content-Type: application/json`` and
``X-Telegram-Bot-Api-Secret-Token``: the secret is required when the webhook is set
(a receiver that can't tell our requests from forged ones accepts forged updates), is
stored sealed (:class:`redoubt.core.secretbox.SecretBox`, bound to the bot), and is
never logged nor returned.

Scale-out: each process runs a worker; a bot's updates go out only from the process
holding its lease (storage/bot_webhooks.py), which lasts the egress time limit plus a
margin and is renewed with every confirmed update, so a request can't outlive it. A
process that dies mid-request leaves the lease to run out; the next holder sends the
unconfirmed update again (at least once, exactly once while processes stay up).

Wake-up: the worker sleeps until the stream position this process has seen moves (the
dispatcher wakes it, as it wakes getUpdates' long polls); it reads the database only
then, when :meth:`BotWebhookWorker.wake` is called, when a retry comes due, or every
``bot_webhook_poll_seconds`` (webhooks set through another process).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from redoubt.actions._common import audit
from redoubt.core.egress import MAX_URL_LENGTH, EgressError, EgressPolicy, EgressRefused, check_url
from redoubt.core.errors import BadRequest
from redoubt.core.logging import get_logger
from redoubt.core.secretbox import DecryptionError
from redoubt.domain.outgoing_hooks import retry_delay, short_error
from redoubt.queries.botapi import StreamPosition, read_updates, update_kind
from redoubt.queries.context import Context, Requester
from redoubt.storage import bot_webhooks as webhook_store
from redoubt.storage import bots as bot_store
from redoubt.storage.bot_webhooks import BotWebhookRecord

__all__ = [
    "SECRET_HEADER",
    "SECRET_REQUIRED",
    "BotWebhookWorker",
    "do_delete_webhook",
    "do_set_webhook",
    "webhook_secret_context",
]

log = get_logger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105  # nosec B105 - a header name
USER_AGENT = "Redoubt-Bot-Webhook/1"
SECRET_REQUIRED = (
    "secret_token is required: Redoubt refuses webhooks without a secret, because a "  # noqa: S105  # nosec B105
    "receiver that can't tell our requests from forged ones accepts forged updates"
)
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_MAX_ALLOWED_UPDATES = 32
_BATCH = 100
CRASH_PAUSE_SECONDS = 5.0
LEASE_MARGIN_SECONDS = 5.0
"""A lease lasts the egress time limit plus this (reading updates, recording)."""


def webhook_secret_context(bot_id: int) -> bytes:
    """The AES-GCM associated data that binds a sealed secret to its bot."""
    return f"bot_webhook:{bot_id}".encode()


def _check_allowed(allowed_updates: Sequence[Any] | None) -> list[str] | None:
    if allowed_updates is None:
        return None
    if len(allowed_updates) > _MAX_ALLOWED_UPDATES or not all(
        isinstance(a, str) and 0 < len(a) <= 64 for a in allowed_updates
    ):
        raise BadRequest("allowed_updates must be a list of update types")
    # An empty list means every kind (Telegram: "the previous setting is used"; here
    # there is no kind off by default).
    return sorted(set(allowed_updates)) or None


async def do_set_webhook(
    ctx: Context,
    *,
    url: str,
    secret_token: str | None,
    max_connections: int | None,
    allowed_updates: Sequence[Any] | None,
    drop_pending_updates: bool,
    position: int,
    acting_user: Requester,
) -> None:
    """Set (or replace) the bot's webhook.

    Args:
        position: The stream position this process has seen committed; with
            ``drop_pending_updates`` every update up to it is confirmed.

    Raises:
        BadRequest: no or a malformed secret, a URL the egress policy refuses, a bad
            ``max_connections`` or ``allowed_updates``.
    """
    if not secret_token:
        raise BadRequest(SECRET_REQUIRED)
    if not _SECRET.fullmatch(secret_token):
        raise BadRequest(
            "secret_token must be 1-256 characters, only A-Z, a-z, 0-9, _ and - allowed"
        )
    if len(url) > MAX_URL_LENGTH:
        raise BadRequest("bad webhook: the URL is too long")
    problem = check_url(url, EgressPolicy.from_settings(ctx.settings))
    if problem is not None:
        raise BadRequest(f"bad webhook: {problem}")
    connections = 40 if max_connections is None else max_connections
    if not 1 <= connections <= 100:
        raise BadRequest("bad webhook: max_connections must be between 1 and 100")
    allowed = _check_allowed(allowed_updates)
    bot_id = acting_user.id
    sealed = ctx.secrets.encrypt(secret_token.encode(), context=webhook_secret_context(bot_id))
    async with ctx.db.transaction("botapi_set_webhook") as txn:
        await webhook_store.replace_webhook_txn(
            txn.conn,
            bot_id=bot_id,
            url=url,
            secret_enc=sealed,
            max_connections=connections,
            allowed_updates=allowed,
            now=txn.now,
        )
        if drop_pending_updates:
            await bot_store.set_updates_offset_txn(txn.conn, bot_id, position + 1)
        await audit(
            ctx,
            txn,
            "bot.webhook_set",
            acting_user=acting_user,
            target_type="bot",
            target_id=bot_id,
            # The host only: a URL's path or query may carry a secret.
            details={"host": urlsplit(url).hostname or "", "drop_pending": drop_pending_updates},
        )


async def do_delete_webhook(
    ctx: Context, *, drop_pending_updates: bool, position: int, acting_user: Requester
) -> None:
    """Remove the bot's webhook (if any); getUpdates works again."""
    bot_id = acting_user.id
    async with ctx.db.transaction("botapi_delete_webhook") as txn:
        deleted = await webhook_store.delete_webhook_txn(txn.conn, bot_id)
        if drop_pending_updates:
            await bot_store.set_updates_offset_txn(txn.conn, bot_id, position + 1)
        if deleted:
            await audit(
                ctx,
                txn,
                "bot.webhook_deleted",
                acting_user=acting_user,
                target_type="bot",
                target_id=bot_id,
                details={"drop_pending": drop_pending_updates},
            )


# --- delivery ---------------------------------------------------------------------------


def _jitter_unit() -> float:
    return secrets.randbelow(1 << 20) / (1 << 20)


class BotWebhookWorker:
    """This process's sender of bot webhook updates (one per server process)."""

    def __init__(
        self, ctx: Context, stream: StreamPosition, *, stop_grace_seconds: float = 2.0
    ) -> None:
        """``stream``: the stream position this process has seen committed (the
        realtime dispatcher); updates past it are not read yet."""
        self._ctx = ctx
        self._stream = stream
        self._owner = uuid.uuid4().hex
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_grace = stop_grace_seconds
        self._busy: dict[int, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(ctx.settings.bot_webhook_concurrency)
        self._cooldown: dict[int, float] = {}
        self._next_due = float("inf")
        """When the earliest retry comes due (``time.monotonic()``)."""
        self._seen: dict[int, tuple[int, int]] = {}
        """Per bot: (confirmed offset, position read up to without finding anything):
        a bot is looked at again only when one of them changed."""

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="bot_webhooks")

    def wake(self) -> None:
        """Look at every webhook now (one was set or changed in this process)."""
        self._seen.clear()
        self._wake.set()

    async def stop(self) -> None:
        """Let deliveries in progress finish (up to a short grace), then cancel them:
        an interrupted request's lease runs out and its update is sent again later."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        pending = {task, *self._busy.values()}
        _done, late = await asyncio.wait(pending, timeout=self._stop_grace)
        for item in late:
            item.cancel()
        for item in late:
            with contextlib.suppress(asyncio.CancelledError):
                await item

    async def _run(self) -> None:
        poll = self._ctx.settings.bot_webhook_poll_seconds
        seen_position = -1
        looked_at = -poll
        while not self._stopping:
            position = self._stream.last_seq
            now = time.monotonic()
            if (
                position != seen_position
                or self._wake.is_set()
                or now - looked_at >= poll
                or now >= self._next_due
            ):
                self._wake.clear()
                seen_position, looked_at = position, now
                try:
                    await self._round(position)
                except Exception as exc:
                    log.error("bot_webhook.round_failed", error=type(exc).__name__)
            wait = min(looked_at + poll, self._next_due) - time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wait, 0.0)):
                    await self._stream.wait_beyond(seen_position, unless=self._wake)

    async def _round(self, position: int) -> None:
        """Start delivering for every bot that is due and may have news."""
        ctx = self._ctx
        async with ctx.db.read("bot_webhooks_due") as conn:
            hooks = await webhook_store.list_webhooks(conn)
        now = ctx.clock.now()
        self._next_due = float("inf")
        current = {hook.bot_id for hook in hooks}
        for bot_id in list(self._seen):
            if bot_id not in current:
                del self._seen[bot_id]
        for hook in hooks:
            if hook.next_attempt_at > now:
                wait = (hook.next_attempt_at - now).total_seconds()
                self._next_due = min(self._next_due, time.monotonic() + wait)
                continue
            if hook.bot_id in self._busy or self._cooldown.get(hook.bot_id, 0) > time.monotonic():
                continue
            if (
                hook.lease_owner
                and hook.lease_owner != self._owner
                and hook.locked_until is not None
                and hook.locked_until > now
            ):
                continue  # another process is delivering
            seen = self._seen.get(hook.bot_id)
            if seen is not None and seen[0] == hook.updates_offset and seen[1] >= position:
                continue  # nothing new since we last looked
            task = asyncio.create_task(self._serve(hook, position), name="bot_webhook")
            self._busy[hook.bot_id] = task
            task.add_done_callback(functools.partial(self._done, hook.bot_id))

    def _done(self, bot_id: int, _task: asyncio.Task[None]) -> None:
        self._busy.pop(bot_id, None)
        self._wake.set()  # more may have arrived while it was busy

    def _lease_until(self, now: dt.datetime) -> dt.datetime:
        seconds = self._ctx.settings.egress_timeout_seconds + LEASE_MARGIN_SECONDS
        return now + dt.timedelta(seconds=seconds)

    async def _serve(self, hook: BotWebhookRecord, position: int) -> None:
        async with self._slots:
            try:
                await self._deliver(hook, position)
            except Exception as exc:
                # A bug, not the receiver's fault: a later round tries again, not at
                # once. The class only: a message may quote the request.
                self._cooldown[hook.bot_id] = time.monotonic() + CRASH_PAUSE_SECONDS
                log.error(
                    "bot_webhook.delivery_crashed", bot_id=hook.bot_id, error=type(exc).__name__
                )

    async def _deliver(self, hook: BotWebhookRecord, position: int) -> None:
        """Claim the bot's lease, send its pending updates in order, let go."""
        ctx = self._ctx
        bot_id = hook.bot_id
        # Look before claiming: most moves of the stream are nothing for this bot, and
        # finding that out takes no write.
        offset = hook.updates_offset
        seen = self._seen.get(bot_id)
        after = max(offset - 1, 0)
        if seen is not None and seen[0] == offset:
            after = max(after, seen[1])
        found, scanned = await read_updates(ctx, bot_id, after=after, upto=position, limit=1)
        if not found:
            self._seen[bot_id] = (offset, scanned)
            return
        async with ctx.db.transaction("bot_webhook_claim") as txn:
            claimed = await webhook_store.claim_txn(
                txn.conn,
                bot_id,
                owner=self._owner,
                now=txn.now,
                lease_until=self._lease_until(txn.now),
            )
            bot = await bot_store.get_bot(txn.conn, bot_id) if claimed else None
        if bot is None:
            return
        try:
            secret = ctx.secrets.decrypt(
                hook.secret_enc, context=webhook_secret_context(bot_id)
            ).decode()
        except DecryptionError:
            await self._failed(hook, "The webhook's secret can't be read (server key changed?)")
            return
        released = False
        try:
            released = await self._send_pending(hook, secret, bot.updates_offset, position)
        finally:
            if not released:
                async with ctx.db.transaction("bot_webhook_release") as txn:
                    await webhook_store.release_txn(txn.conn, bot_id, owner=self._owner)

    async def _send_pending(
        self, hook: BotWebhookRecord, secret: str, offset: int, position: int
    ) -> bool:
        """Send the updates after ``offset`` up to ``position``, in order, confirming
        each; True when the lease is gone already (a failure let it go, or this worker
        no longer holds it)."""
        ctx = self._ctx
        bot_id = hook.bot_id
        while not self._stopping:
            seen = self._seen.get(bot_id)
            after = max(offset - 1, 0)
            if seen is not None and seen[0] == offset:
                after = max(after, seen[1])
            updates, scanned = await read_updates(
                ctx, bot_id, after=after, upto=position, limit=_BATCH
            )
            for update in updates:
                update_id = int(update["update_id"])
                allowed = hook.allowed_updates
                if allowed is None or update_kind(update) in allowed:
                    error = await self._post(hook.url, secret, update)
                    if error is not None:
                        await self._failed(hook, error)
                        return True
                async with ctx.db.transaction("bot_webhook_confirm") as txn:
                    still_mine = await webhook_store.advance_txn(
                        txn.conn,
                        bot_id,
                        owner=self._owner,
                        offset=update_id + 1,
                        lease_until=self._lease_until(txn.now),
                    )
                if not still_mine:
                    return True  # replaced, deleted or taken over
                offset = update_id + 1
            if len(updates) < _BATCH:
                # Fewer than asked for: the stream was read up to ``scanned``.
                self._seen[bot_id] = (offset, scanned)
                return False
        return False

    async def _post(self, url: str, secret: str, update: dict[str, Any]) -> str | None:
        """POST one update; None when the receiver took it, else why not (never a
        response body, the URL or the secret)."""
        body = json.dumps(update, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SECRET_HEADER: secret,
        }
        try:
            response = await self._ctx.egress.post(url, content=body, headers=headers)
        except EgressRefused as exc:
            return short_error(f"Refused by the egress guard: {exc}")
        except EgressError as exc:
            return short_error(str(exc) or type(exc).__name__)
        if 200 <= response.status_code < 300:
            return None
        return f"Wrong response from the webhook: HTTP {response.status_code}"

    async def _failed(self, hook: BotWebhookRecord, error: str) -> None:
        ctx = self._ctx
        s = ctx.settings
        async with ctx.db.transaction("bot_webhook_failed") as txn:
            current = await webhook_store.get_webhook(txn.conn, hook.bot_id)
            failures = (current.failures if current is not None else hook.failures) + 1
            delay = retry_delay(
                failures,
                base=s.bot_webhook_retry_base_seconds,
                maximum=s.bot_webhook_retry_max_seconds,
                jitter_unit=_jitter_unit(),
            )
            recorded = await webhook_store.record_failure_txn(
                txn.conn,
                hook.bot_id,
                owner=self._owner,
                failures=failures,
                next_attempt_at=txn.now + dt.timedelta(seconds=delay),
                error=error,
                now=txn.now,
            )
        if recorded:
            log.info("bot_webhook.attempt_failed", bot_id=hook.bot_id, failures=failures)
