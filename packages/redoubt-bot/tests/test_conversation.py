"""Conversations: states, fallbacks, timeouts, per-(room, user) state (T2: an
out-of-order step doesn't run)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from botfakes import ALICE, BOB, ROOM, make_app, msg, recorder
from redoubt_bot import (
    END,
    CommandHandler,
    Context,
    ConversationHandler,
    MessageHandler,
    Update,
    everyone,
    filters,
)


def _conv(make: Any, **kw: Any) -> ConversationHandler:
    return ConversationHandler(
        entry_points=[CommandHandler("order", make("start", "size"), allow=everyone())],
        states={
            "size": [
                MessageHandler(
                    filters.regex(r"^(S|M|L)$"), make("size", "colour"), allow=everyone()
                )
            ],
            "colour": [
                MessageHandler(
                    filters.regex(r"^(red|blue)$"), make("colour", "confirm"), allow=everyone()
                )
            ],
            "confirm": [
                MessageHandler(filters.regex(r"^yes$"), make("confirm", END), allow=everyone())
            ],
        },
        fallbacks=[CommandHandler("cancel", make("cancel", END), allow=everyone())],
        **kw,
    )


async def test_steps_in_order() -> None:
    app, _ = make_app()
    calls, make = recorder()
    conv = _conv(make)
    app.add_handler(conv)
    for text in ["/order", "M", "red", "yes"]:
        await app.process_update(msg(text))
    assert [c[0] for c in calls] == ["start", "size", "colour", "confirm"]
    assert conv.state_of(ROOM, ALICE) is None


async def test_out_of_order_step_does_not_run() -> None:
    app, _ = make_app()
    calls, make = recorder()
    conv = _conv(make)
    app.add_handler(conv)
    # Not in the conversation: no step runs.
    await app.process_update(msg("red"))
    await app.process_update(msg("yes"))
    assert calls == []
    await app.process_update(msg("/order"))
    # Skipping ahead: "yes" (confirm) and "red" (colour) while in "size".
    await app.process_update(msg("yes"))
    await app.process_update(msg("red"))
    assert [c[0] for c in calls] == ["start"]
    assert conv.state_of(ROOM, ALICE) == "size"
    # Replaying an earlier step: the entry point doesn't restart it.
    await app.process_update(msg("M"))
    await app.process_update(msg("/order"))
    await app.process_update(msg("M"))
    assert [c[0] for c in calls] == ["start", "size"]
    assert conv.state_of(ROOM, ALICE) == "colour"


async def test_other_handlers_still_see_unmatched_updates() -> None:
    app, _ = make_app()
    calls, make = recorder()
    app.add_handler(_conv(make))
    app.add_handler(MessageHandler(filters.TEXT, make("other"), allow=everyone()))
    await app.process_update(msg("/order"))
    await app.process_update(msg("nonsense"))
    assert [c[0] for c in calls] == ["start", "other"]


async def test_fallback_and_reentry() -> None:
    app, _ = make_app()
    calls, make = recorder()
    conv = _conv(make, allow_reentry=True)
    app.add_handler(conv)
    await app.process_update(msg("/order"))
    await app.process_update(msg("M"))
    await app.process_update(msg("/order"))
    assert conv.state_of(ROOM, ALICE) == "size"
    await app.process_update(msg("/cancel"))
    assert conv.state_of(ROOM, ALICE) is None
    assert [c[0] for c in calls] == ["start", "size", "start", "cancel"]


async def test_state_is_per_room_and_user() -> None:
    app, _ = make_app()
    calls, make = recorder()
    conv = _conv(make)
    app.add_handler(conv)
    await app.process_update(msg("/order", user=ALICE))
    await app.process_update(msg("M", user=BOB))
    await app.process_update(msg("M", user=ALICE, room="101"))
    assert [c[0] for c in calls] == ["start"]
    assert conv.state_of(ROOM, BOB) is None


async def test_timeout_ends_and_calls_the_timeout_handler() -> None:
    app, api = make_app()
    calls, make = recorder()

    async def timed_out(update: Update, context: Context) -> None:
        await context.reply("Timed out.")

    conv = _conv(make, timeout=0.3, on_timeout=timed_out, name="order")
    app.add_handler(conv)
    async with app:
        await app.process_update(msg("/order"))
        await asyncio.sleep(0.2)
        await app.process_update(msg("M"))  # restarts the timeout
        await asyncio.sleep(0.2)
        assert conv.state_of(ROOM, ALICE) == "colour"
        await asyncio.sleep(0.3)
        await app.join()
        assert conv.state_of(ROOM, ALICE) is None
        await app.process_update(msg("red"))
    assert [c[0] for c in calls] == ["start", "size"]
    assert api.texts == ["Timed out."]


async def test_bad_next_state_is_an_error() -> None:
    app, api = make_app()
    calls, make = recorder()
    conv = ConversationHandler(
        entry_points=[CommandHandler("go", make("go", "nowhere"), allow=everyone())],
        states={"s": [MessageHandler(filters.TEXT, make("s"), allow=everyone())]},
    )
    app.add_handler(conv)
    await app.process_update(msg("/go"))
    assert [c[0] for c in calls] == ["go"]
    assert api.texts[0].startswith("Something went wrong (incident ")
    assert conv.state_of(ROOM, ALICE) is None


def test_construction_checks() -> None:
    _, make = recorder()
    with pytest.raises(ValueError, match="entry points"):
        ConversationHandler(entry_points=[], states={})
    inner = ConversationHandler(
        entry_points=[CommandHandler("a", make("a"), allow=everyone())], states={}
    )
    with pytest.raises(TypeError, match="nested"):
        ConversationHandler(entry_points=[inner], states={})
