"""Handler errors: the chat gets only a generic reply with an incident id (T3)."""

from __future__ import annotations

import logging
import re

import pytest

from botfakes import make_app, msg
from redoubt_bot import CommandHandler, Context, MessageHandler, Update, everyone, filters

SECRET = "hunter2-SUPER-SECRET-db-password"
GENERIC = re.compile(r"^Something went wrong \(incident ([0-9a-f]{12})\)\.$")


async def test_handler_error_sends_only_the_generic_reply(caplog: pytest.LogCaptureFixture) -> None:
    app, api = make_app()
    seen: list[tuple[str | None, str]] = []

    async def boom(update: Update, context: Context) -> None:
        raise RuntimeError(f"cannot connect with password={SECRET}")

    async def on_error(update: Update | None, context: Context) -> None:
        seen.append((context.incident_id, str(context.error)))

    app.add_handler(CommandHandler("boom", boom, allow=everyone()))
    app.add_error_handler(on_error)
    with caplog.at_level(logging.ERROR, logger="redoubt_bot"):
        await app.process_update(msg("/boom", thread_id="77"))
    assert len(api.sent) == 1
    m = GENERIC.match(api.sent[0].text)
    assert m is not None
    assert SECRET not in api.sent[0].text
    assert "RuntimeError" not in api.sent[0].text
    assert api.sent[0].thread_id == "77"
    incident = m.group(1)
    # The detail is in the log and the error handler, under the same incident id.
    assert seen == [(incident, f"cannot connect with password={SECRET}")]
    records = [r for r in caplog.records if r.name == "redoubt_bot"]
    # The redaction filter may have rendered the traceback into exc_text.
    assert any(incident in r.getMessage() and (r.exc_info or r.exc_text) for r in records)


async def test_failing_error_handler_and_later_groups(caplog: pytest.LogCaptureFixture) -> None:
    app, api = make_app()
    ran: list[str] = []

    async def boom(update: Update, context: Context) -> None:
        raise ValueError(SECRET)

    async def bad_error_handler(update: Update | None, context: Context) -> None:
        raise KeyError(SECRET)

    async def later(update: Update, context: Context) -> None:
        ran.append("later")

    app.add_handler(MessageHandler(filters.TEXT, boom, allow=everyone()))
    app.add_handler(MessageHandler(filters.TEXT, later, allow=everyone()), group=1)
    app.add_error_handler(bad_error_handler)
    with caplog.at_level(logging.ERROR, logger="redoubt_bot"):
        await app.process_update(msg("x"))
    assert ran == []  # processing of a failed update stops
    assert len(api.sent) == 1
    assert GENERIC.match(api.sent[0].text)
    assert all(SECRET not in s.text for s in api.sent)


async def test_incident_ids_differ() -> None:
    app, api = make_app()

    async def boom(update: Update, context: Context) -> None:
        raise RuntimeError

    app.add_handler(CommandHandler("boom", boom, allow=everyone()))
    await app.process_update(msg("/boom"))
    await app.process_update(msg("/boom"))
    assert len(set(api.texts)) == 2
