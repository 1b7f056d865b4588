"""Dispatch: command index, handler groups, filters, kinds, ordering, concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from botfakes import (
    BOB,
    BOT_ID,
    ROOM,
    FakeApi,
    FakeUpdates,
    make_app,
    member,
    msg,
    reaction,
    recorder,
)
from redoubt_bot import (
    CommandHandler,
    Context,
    MemberHandler,
    MessageHandler,
    ReactionHandler,
    StopPropagation,
    Update,
    everyone,
    filters,
)
from redoubt_bot.types import RoomKind


async def test_command_runs_with_args() -> None:
    app, api = make_app()
    seen: list[list[str]] = []

    async def start(update: Update, context: Context) -> None:
        seen.append(context.args)
        await context.reply("hi")

    app.add_handler(CommandHandler("start", start, allow=everyone()))
    await app.process_update(msg("/start a  b"))
    await app.process_update(msg("/START"))
    await app.process_update(msg("/stop"))
    await app.process_update(msg("start"))
    assert seen == [["a", "b"], []]
    assert api.texts == ["hi", "hi"]
    assert api.sent[0].room_id == ROOM


async def test_command_with_bot_suffix_is_not_ours() -> None:
    app, _ = make_app()
    calls, make = recorder()
    app.add_handler(CommandHandler("start", make("start"), allow=everyone()))
    await app.process_update(msg("/start@otherbot"))
    assert calls == []


async def test_group_first_match_wins_and_every_group_gets_a_chance() -> None:
    app, _ = make_app()
    calls, make = recorder()
    app.add_handler(MessageHandler(filters.TEXT, make("text0"), allow=everyone()))
    app.add_handler(CommandHandler("x", make("cmd0"), allow=everyone()))
    app.add_handler(CommandHandler("x", make("cmd1"), allow=everyone()), group=1)
    app.add_handler(MessageHandler(filters.ALL, make("all1"), allow=everyone()), group=1)
    app.add_handler(MessageHandler(filters.ALL, make("all-1"), allow=everyone()), group=-1)
    await app.process_update(msg("/x"))
    # Group -1 first; in group 0 the text handler was registered first so it wins.
    assert [c[0] for c in calls] == ["all-1", "text0", "cmd1"]
    calls.clear()
    await app.process_update(msg("plain"))
    assert [c[0] for c in calls] == ["all-1", "text0", "all1"]


async def test_stop_propagation() -> None:
    app, _ = make_app()
    calls, make = recorder()

    async def stopper(update: Update, context: Context) -> None:
        calls.append(("stop", update))
        raise StopPropagation

    app.add_handler(CommandHandler("x", stopper, allow=everyone()))
    app.add_handler(MessageHandler(filters.ALL, make("later"), allow=everyone()), group=1)
    await app.process_update(msg("/x"))
    assert [c[0] for c in calls] == ["stop"]
    await app.process_update(msg("y"))
    assert [c[0] for c in calls] == ["stop", "later"]


async def test_filters() -> None:
    app, _ = make_app()
    matches: list[tuple[str, Any]] = []

    def make(name: str) -> Any:
        async def h(update: Update, context: Context) -> None:
            matches.append((name, context.match))

        return h

    app.add_handler(
        MessageHandler(
            filters.regex(r"^order (\d+)$") & filters.DM, make("order"), allow=everyone()
        )
    )
    app.add_handler(MessageHandler(filters.MENTIONS_ME, make("mention"), allow=everyone()), group=1)
    app.add_handler(MessageHandler(filters.THREAD, make("thread"), allow=everyone()), group=2)
    app.add_handler(MessageHandler(filters.HAS_FILES, make("files"), allow=everyone()), group=3)
    app.add_handler(
        MessageHandler(
            filters.TEXT & ~filters.COMMAND & (filters.CHANNEL | filters.PRIVATE),
            make("room-text"),
            allow=everyone(),
        ),
        group=4,
    )
    await app.process_update(msg("order 42"))
    assert matches[0][0] == "order"
    assert matches[0][1].group(1) == "42"
    matches.clear()
    await app.process_update(msg("order 42", kind=RoomKind.CHANNEL))
    assert [m[0] for m in matches] == ["room-text"]
    matches.clear()
    await app.process_update(msg("hey", mentions=(BOT_ID,), thread_id="7", files=("f",)))
    assert [m[0] for m in matches] == ["mention", "thread", "files"]
    matches.clear()
    await app.process_update(msg("/cmd", kind=RoomKind.PRIVATE))
    await app.process_update(msg("hey", mentions=("12",)))
    assert matches == []


async def test_edited_messages_only_when_asked() -> None:
    app, _ = make_app()
    calls, make = recorder()
    app.add_handler(MessageHandler(filters.TEXT, make("new"), allow=everyone()))
    app.add_handler(
        MessageHandler(filters.TEXT, make("edit"), allow=everyone(), edited_only=True), group=1
    )
    app.add_handler(CommandHandler("x", make("cmd"), allow=everyone()), group=2)
    await app.process_update(msg("/x", edited=True))
    assert [c[0] for c in calls] == ["edit"]


async def test_reaction_and_member_handlers() -> None:
    app, _ = make_app()
    calls, make = recorder()
    app.add_handler(ReactionHandler(make("thumb"), allow=everyone(), emoji="👍"))
    app.add_handler(MemberHandler(make("join"), allow=everyone(), joined=True))
    app.add_handler(MemberHandler(make("left"), allow=everyone(), joined=False), group=1)
    await app.process_update(reaction("👎"))
    await app.process_update(reaction("👍", added=False))
    await app.process_update(reaction("👍"))
    await app.process_update(member(BOB, joined=True))
    await app.process_update(member(BOB, joined=False))
    assert [c[0] for c in calls] == ["thumb", "join", "left"]


async def test_own_messages_are_ignored() -> None:
    app, _ = make_app()
    calls, make = recorder()
    app.add_handler(MessageHandler(filters.ALL, make("all"), allow=everyone()))
    await app.process_update(msg("echo", user=BOT_ID))
    assert calls == []


async def _run_rooms(n_rooms: int, per_room: int, concurrency: int) -> dict[str, Any]:
    updates = FakeUpdates()
    app, _ = make_app(concurrency=concurrency, updates=updates)
    stats: dict[str, Any] = {"running": 0, "peak": 0, "overlap": False, "order": {}}
    active_rooms: set[str] = set()

    async def slow(update: Update, context: Context) -> None:
        if update.room_id in active_rooms:
            stats["overlap"] = True
        active_rooms.add(update.room_id)
        stats["running"] += 1
        stats["peak"] = max(stats["peak"], stats["running"])
        n = int(update.message.text)  # type: ignore[union-attr]
        # Later updates are quicker: without per-room lanes they would finish first.
        await asyncio.sleep(0.001 * (per_room - n))
        stats["order"].setdefault(update.room_id, []).append(n)
        stats["running"] -= 1
        active_rooms.discard(update.room_id)

    app.add_handler(MessageHandler(filters.TEXT, slow, allow=everyone()))
    rooms = [str(200 + r) for r in range(n_rooms)]
    for i in range(per_room):
        for r in rooms:
            updates.put(msg(str(i), room=r))
    updates.close()
    async with app:
        await app.run_async()
    stats["complete"] = all(stats["order"][r] == list(range(per_room)) for r in rooms)
    return stats


async def test_per_chat_sequential_order() -> None:
    stats = await _run_rooms(n_rooms=2, per_room=10, concurrency=8)
    assert not stats["overlap"]
    assert stats["complete"]
    assert stats["peak"] == 2  # the two rooms did run side by side


async def test_bounded_global_concurrency() -> None:
    stats = await _run_rooms(n_rooms=8, per_room=5, concurrency=3)
    assert stats["peak"] == 3
    assert not stats["overlap"]
    assert stats["complete"]


async def test_stop_ends_run_and_shutdown_closes_cleanly() -> None:
    updates = FakeUpdates()
    app, api = make_app(updates=updates)
    calls, make = recorder()
    app.add_handler(MessageHandler(filters.ALL, make("all"), allow=everyone()))
    async with app:
        runner = asyncio.create_task(app.run_async())
        updates.put(msg("1"), msg("2", user=BOB))
        for _ in range(100):
            if len(calls) == 2:
                break
            await asyncio.sleep(0.001)
        app.stop()
        await asyncio.wait_for(runner, 2)
    assert len(calls) == 2
    assert not api.closed  # an injected client belongs to the caller


async def test_run_requires_initialisation() -> None:
    app, _ = make_app()
    with pytest.raises(RuntimeError):
        await app.run_async()


def test_builder_needs_token_or_fakes() -> None:
    from redoubt_bot import ApplicationBuilder

    with pytest.raises(ValueError, match="token"):
        ApplicationBuilder().api(FakeApi()).build()


async def test_builder_from_token_makes_client_and_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    from redoubt_bot import ApiClient, ApplicationBuilder, BotToken, EventStream

    monkeypatch.setenv("REDOUBT_BOT_TOKEN", "4242:" + "A" * 43)
    app = (
        ApplicationBuilder()
        .token(BotToken.from_env())
        .base_url("http://127.0.0.1:9/")
        .concurrency(2)
        .build()
    )
    try:
        assert isinstance(app.api, ApiClient)
        assert isinstance(app.updates, EventStream)
        assert app.bot_user_id == "4242"
    finally:
        await app.updates.aclose()
        await app.api.aclose()


def test_builder_refuses_a_plain_string_token() -> None:
    from redoubt_bot import ApplicationBuilder

    with pytest.raises(TypeError, match="BotToken"):
        ApplicationBuilder().token("4242:" + "A" * 43)  # type: ignore[arg-type]
