"""The delivery worker: sends the webhook outbox, with retries that survive restarts.

Each round claims due deliveries in one short transaction (a lease in
``locked_until``, one more attempt counted; see :mod:`redoubt.storage.outgoing_hooks`),
then POSTs each one through the egress guard *outside* any transaction, then records
the result in its own transaction. A 2xx answer delivers it. Anything else (another
status, a network error or timeout, a refusal by the egress guard) schedules the next
attempt after ``base * 2^(attempts-1)`` seconds (capped, ±20 % jitter); the delivery
that uses up ``webhook_max_attempts`` fails, and its hook is disabled, its owner gets
a security notice and the audit log a row.

Delivery is at least once: a process that dies mid-send leaves its claims to run out,
then any worker sends those rows again, with the same ``X-Redoubt-Delivery`` id, which
receivers de-duplicate on. Deliveries to one hook go out one at a time, oldest due
first; different hooks are served side by side. Order across retries is not kept (a
retry goes out after later deliveries that succeeded).

The worker runs every ``webhook_poll_seconds``, and at once when an action of this
process wrote deliveries (``Context.deliveries_due``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass

from redoubt.actions._common import audit
from redoubt.actions.notices import leave_notice_txn
from redoubt.actions.outgoing_hooks import secret_context
from redoubt.core.egress import EgressError, EgressRefused
from redoubt.core.ids import format_id
from redoubt.core.logging import get_logger
from redoubt.core.secretbox import DecryptionError
from redoubt.core.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from redoubt.domain.outgoing_hooks import DeliveryStatus, retry_delay, short_error
from redoubt.queries.context import Context
from redoubt.storage import outgoing_hooks as hook_store
from redoubt.storage.database import Txn
from redoubt.storage.outgoing_hooks import ClaimedDelivery

__all__ = [
    "DELIVERY_HEADER",
    "USER_AGENT",
    "WEBHOOK_DISABLED",
    "DeliveryWorker",
    "prune_deliveries",
    "run_delivery_round",
]

log = get_logger(__name__)

DELIVERY_HEADER = "X-Redoubt-Delivery"
USER_AGENT = "Redoubt-Webhook/1"
WEBHOOK_DISABLED = "webhook_disabled"
"""Security notice kind: one of your outgoing webhooks was disabled after failing."""
BATCH = 50
LEASE_MARGIN_SECONDS = 5.0
"""A claim lasts the egress time limit plus this (claiming, signing, recording)."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    delivered: bool
    status_code: int | None
    error: str
    """Why the attempt failed ("" when it didn't): short, never a secret."""


async def _attempt(ctx: Context, claimed: ClaimedDelivery) -> _Outcome:
    """POST one delivery through the egress guard, signed with the hook's secret."""
    delivery = claimed.delivery
    try:
        secret = ctx.secrets.decrypt(
            claimed.hook_secret_enc, context=secret_context(delivery.hook_id)
        ).decode()
    except DecryptionError:
        return _Outcome(False, None, "The hook's secret can't be read (server key changed?).")
    body = delivery.body.encode()
    timestamp = int(ctx.clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: format_id(delivery.id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    try:
        response = await ctx.egress.post(claimed.hook_url, content=body, headers=headers)
    except EgressRefused as exc:
        return _Outcome(False, None, short_error(f"refused by the egress guard: {exc}"))
    except EgressError as exc:
        return _Outcome(False, None, short_error(str(exc) or type(exc).__name__))
    except Exception as exc:
        # A bug, not the receiver's fault; still an attempt, so a hook can't be retried
        # forever by it. The class only: a message may quote the request.
        log.error("webhook.attempt_crashed", delivery_id=delivery.id, error=type(exc).__name__)
        return _Outcome(False, None, "Internal error while sending.")
    if 200 <= response.status_code < 300:
        return _Outcome(True, response.status_code, "")
    return _Outcome(False, response.status_code, f"HTTP {response.status_code}")


def _jitter_unit() -> float:
    return secrets.randbelow(1 << 20) / (1 << 20)


async def _record(ctx: Context, claimed: ClaimedDelivery, outcome: _Outcome) -> bool:
    """Store the outcome; True when it disabled the hook."""
    delivery = claimed.delivery
    s = ctx.settings
    async with ctx.db.transaction("record_webhook_delivery") as txn:
        if outcome.delivered:
            await hook_store.record_attempt_txn(
                txn.conn,
                delivery,
                status=DeliveryStatus.DELIVERED.value,
                next_attempt_at=delivery.next_attempt_at,
                delivered_at=txn.now,
                last_status_code=outcome.status_code,
                last_error="",
            )
            return False
        log.info(
            "webhook.attempt_failed",
            delivery_id=delivery.id,
            hook_id=delivery.hook_id,
            attempts=delivery.attempts,
            status_code=outcome.status_code,
        )
        if delivery.attempts < s.webhook_max_attempts:
            delay = retry_delay(
                delivery.attempts,
                base=s.webhook_retry_base_seconds,
                maximum=s.webhook_retry_max_seconds,
                jitter_unit=_jitter_unit(),
            )
            await hook_store.record_attempt_txn(
                txn.conn,
                delivery,
                status=DeliveryStatus.PENDING.value,
                next_attempt_at=txn.now + dt.timedelta(seconds=delay),
                delivered_at=None,
                last_status_code=outcome.status_code,
                last_error=outcome.error,
            )
            return False
        recorded = await hook_store.record_attempt_txn(
            txn.conn,
            delivery,
            status=DeliveryStatus.FAILED.value,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=None,
            last_status_code=outcome.status_code,
            last_error=outcome.error,
        )
        if not recorded:
            return False
        return await _disable_hook_txn(ctx, txn, claimed, outcome)


async def _disable_hook_txn(
    ctx: Context, txn: Txn, claimed: ClaimedDelivery, outcome: _Outcome
) -> bool:
    """Turn off the hook whose delivery ran out of attempts; tell its owner, audit it."""
    delivery = claimed.delivery
    reason = short_error(
        f"Disabled after {delivery.attempts} failed attempts to deliver "
        f"{format_id(delivery.id)}: {outcome.error}"
    )
    if not await hook_store.disable_hook_txn(txn.conn, delivery.hook_id, reason):
        return False
    details = {
        "hook_id": format_id(delivery.hook_id),
        "hook_name": claimed.hook_name,
        "delivery_id": format_id(delivery.id),
        "attempts": delivery.attempts,
        "last_error": outcome.error,
    }
    await leave_notice_txn(ctx, txn, claimed.hook_owner_id, WEBHOOK_DISABLED, details)
    await audit(
        ctx,
        txn,
        "hook.outgoing.disabled",
        acting_user=None,
        target_type="outgoing_hook",
        target_id=delivery.hook_id,
        details={"reason": "delivery_failed", **details},
    )
    log.warning("webhook.hook_disabled", hook_id=delivery.hook_id, delivery_id=delivery.id)
    return True


async def _send_in_order(ctx: Context, claims: list[ClaimedDelivery]) -> None:
    """One hook's claimed deliveries, one after another."""
    for index, claimed in enumerate(claims):
        outcome = await _attempt(ctx, claimed)
        if await _record(ctx, claimed, outcome):
            rest = [c.delivery for c in claims[index + 1 :]]
            if rest:
                async with ctx.db.transaction("release_webhook_claims") as txn:
                    await hook_store.release_claims_txn(txn.conn, rest)
            return


async def run_delivery_round(ctx: Context, *, limit: int = BATCH) -> int:
    """Claim due deliveries and attempt each once; returns how many were claimed."""
    lease = dt.timedelta(seconds=ctx.settings.egress_timeout_seconds + LEASE_MARGIN_SECONDS)
    async with ctx.db.read("due_webhook_deliveries") as conn:
        if not await hook_store.any_due_delivery(conn, ctx.clock.now()):
            return 0
    async with ctx.db.transaction("claim_webhook_deliveries") as txn:
        claimed = await hook_store.claim_due_deliveries_txn(
            txn.conn, now=txn.now, lease_until=txn.now + lease, limit=limit
        )
    if not claimed:
        return 0
    by_hook: defaultdict[int, list[ClaimedDelivery]] = defaultdict(list)
    for item in claimed:
        by_hook[item.delivery.hook_id].append(item)
    results = await asyncio.gather(
        *(_send_in_order(ctx, group) for group in by_hook.values()), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            if isinstance(result, asyncio.CancelledError):
                raise result
            # Its claims run out and the rows are retried; the class only, as above.
            log.error("webhook.send_failed", error=type(result).__name__)
    return len(claimed)


PRUNE_EVERY_SECONDS = 3600.0
_PRUNE_BATCH = 1000


async def prune_deliveries(ctx: Context) -> int:
    """Delete finished deliveries older than the retention period, in small batches
    (short write transactions); returns how many went."""
    before = ctx.clock.now() - dt.timedelta(days=ctx.settings.webhook_delivery_retention_days)
    total = 0
    while True:
        async with ctx.db.transaction("prune_webhook_deliveries") as txn:
            gone = await hook_store.prune_deliveries_txn(txn.conn, before, limit=_PRUNE_BATCH)
        total += gone
        if gone < _PRUNE_BATCH:
            return total


class DeliveryWorker:
    """This process's sender of the webhook outbox (one per server process)."""

    def __init__(self, ctx: Context, *, stop_grace_seconds: float = 2.0) -> None:
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_grace = stop_grace_seconds

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="webhook_delivery")

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._ctx.deliveries_due.set()

    async def stop(self) -> None:
        """Let the round in progress finish (up to a short grace), then cancel it:
        an interrupted send's claim runs out and the delivery is retried later."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self.wake()
        done, _ = await asyncio.wait({task}, timeout=self._stop_grace)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _stop_requested(self) -> bool:
        return self._stopping

    async def _run(self) -> None:
        due = self._ctx.deliveries_due
        pruned_at = -PRUNE_EVERY_SECONDS
        while not self._stop_requested():
            if time.monotonic() - pruned_at >= PRUNE_EVERY_SECONDS:
                pruned_at = time.monotonic()
                try:
                    await prune_deliveries(self._ctx)
                except Exception as exc:
                    log.error("webhook.prune_failed", error=type(exc).__name__)
            due.clear()
            try:
                count = await run_delivery_round(self._ctx)
            except Exception as exc:
                log.error("webhook.round_failed", error=type(exc).__name__)
                count = 0
            if self._stop_requested():
                return
            if count >= BATCH:
                continue  # more may be due already
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(due.wait(), self._ctx.settings.webhook_poll_seconds)
