"""Callback buttons: opaque, user-bound, expiring, single use (T2: a callback from a
different user and a replayed callback don't run)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from botfakes import ALICE, BOB, ROOM, button_data, click, make_app, msg
from redoubt_bot import (
    CallbackHandler,
    CommandHandler,
    Context,
    Update,
    everyone,
)
from redoubt_bot.callbacks import NOTICES, CallbackStatus, CallbackStore


def _app(**button_kw: Any) -> tuple[Any, Any, list[Any]]:
    app, api = make_app()
    got: list[Any] = []

    async def menu(update: Update, context: Context) -> None:
        await context.reply(
            "pick",
            buttons=[context.button("Buy", {"item": 7, "qty": [1, 2]}, **button_kw)],
        )

    async def on_click(update: Update, context: Context) -> None:
        got.append((update.user_id, context.payload))
        await context.answer("done")

    app.add_handler(CommandHandler("menu", menu, allow=everyone()))
    app.add_handler(CallbackHandler(on_click, allow=everyone()))
    return app, api, got


async def test_token_is_opaque_and_click_resolves_payload() -> None:
    app, api, got = _app()
    await app.process_update(msg("/menu"))
    data = button_data(api.sent[0])
    assert "item" not in data
    assert len(data.encode()) <= 64
    await app.process_update(click(data))
    assert got == [(ALICE, {"item": 7, "qty": [1, 2]})]
    assert api.answers[-1][1] == "done"


async def test_click_by_other_user_runs_nothing() -> None:
    app, api, got = _app()
    await app.process_update(msg("/menu", user=ALICE))
    data = button_data(api.sent[0])
    await app.process_update(click(data, user=BOB))
    assert got == []
    assert api.answers[-1][1] == NOTICES[CallbackStatus.WRONG_USER]
    # Still usable by the user it was sent to.
    await app.process_update(click(data, user=ALICE))
    assert got == [(ALICE, {"item": 7, "qty": [1, 2]})]


async def test_replayed_click_runs_nothing() -> None:
    app, api, got = _app()
    await app.process_update(msg("/menu"))
    data = button_data(api.sent[0])
    await app.process_update(click(data))
    await app.process_update(click(data))
    assert len(got) == 1
    assert api.answers[-1][1] == NOTICES[CallbackStatus.USED]


async def test_multi_use_button() -> None:
    app, api, got = _app(single_use=False)
    await app.process_update(msg("/menu"))
    data = button_data(api.sent[0])
    await app.process_update(click(data))
    await app.process_update(click(data))
    assert len(got) == 2


async def test_other_room_and_forged_tokens_run_nothing() -> None:
    app, api, got = _app()
    await app.process_update(msg("/menu"))
    data = button_data(api.sent[0])
    await app.process_update(click(data, room="777"))
    await app.process_update(click("forged-token"))
    await app.process_update(click(data[:-1] + ("A" if data[-1] != "A" else "B")))
    assert got == []
    assert api.answers[-1][1] == NOTICES[CallbackStatus.UNKNOWN]


async def test_expired_token_runs_nothing() -> None:
    now = [1000.0]
    store = CallbackStore(lambda token: None, clock=lambda: now[0])
    token = store.create(
        {"a": 1}, user_id=ALICE, room_id=ROOM, ttl=timedelta(seconds=5), single_use=True
    )
    now[0] += 6
    assert store.resolve(token, ALICE, ROOM) == (CallbackStatus.EXPIRED, None)
    assert store.resolve(token, ALICE, ROOM) == (CallbackStatus.UNKNOWN, None)


async def test_expired_click_through_the_app() -> None:
    app, api, got = _app(ttl=0.001)
    await app.process_update(msg("/menu"))
    data = button_data(api.sent[0])
    import asyncio

    await asyncio.sleep(0.01)
    await app.process_update(click(data))
    assert got == []
    assert api.answers[-1][1] == NOTICES[CallbackStatus.EXPIRED]


async def test_button_for_another_user() -> None:
    app, api = make_app()
    got: list[str] = []

    async def menu(update: Update, context: Context) -> None:
        await context.reply("for bob", buttons=[context.button("Yes", 1, for_user=BOB)])

    async def on_click(update: Update, context: Context) -> None:
        got.append(update.user_id)

    app.add_handler(CommandHandler("menu", menu, allow=everyone()))
    app.add_handler(CallbackHandler(on_click, allow=everyone()))
    await app.process_update(msg("/menu", user=ALICE))
    data = button_data(api.sent[0])
    await app.process_update(click(data, user=ALICE))
    await app.process_update(click(data, user=BOB))
    assert got == [BOB]


async def test_payload_predicate_and_auto_answer() -> None:
    app, api = make_app()
    got: list[Any] = []

    async def menu(update: Update, context: Context) -> None:
        await context.reply("x", buttons=[[context.button("A", "a"), context.button("B", "b")]])

    async def only_b(update: Update, context: Context) -> None:
        got.append(context.payload)

    app.add_handler(CommandHandler("menu", menu, allow=everyone()))
    app.add_handler(CallbackHandler(only_b, allow=everyone(), pattern=lambda p: p == "b"))
    await app.process_update(msg("/menu"))
    sent = api.sent[0]
    await app.process_update(click(button_data(sent, 0, 0)))
    await app.process_update(click(button_data(sent, 0, 1)))
    assert got == ["b"]
    # Every click is answered exactly once (no text when the handler didn't answer).
    assert [a[1] for a in api.answers] == [None, None]


async def test_payload_must_be_json() -> None:
    app, _ = make_app()

    async def menu(update: Update, context: Context) -> None:
        context.button("x", object())

    app.add_handler(CommandHandler("menu", menu, allow=everyone()))
    store = app.callbacks
    with pytest.raises(TypeError, match="JSON"):
        store.create(object(), user_id=ALICE, room_id=None, ttl=60, single_use=True)


async def test_handler_answering_through_the_api_is_not_an_error() -> None:
    app, api = make_app()

    async def answer_twice(
        callback_id: str, *, text: str | None = None, show_alert: bool = False
    ) -> None:
        if any(a[0] == callback_id for a in api.answers):
            raise RuntimeError("400 already answered")
        api.answers.append((callback_id, text))

    api.answer_callback = answer_twice  # type: ignore[method-assign]

    async def menu(update: Update, context: Context) -> None:
        await context.reply("x", buttons=[context.button("A", "a")])

    async def clicked(update: Update, context: Context) -> None:
        assert update.callback is not None
        await context.api.answer_callback(update.callback.id, text="raw")

    app.add_handler(CommandHandler("menu", menu, allow=everyone()))
    app.add_handler(CallbackHandler(clicked, allow=everyone()))
    await app.process_update(msg("/menu"))
    await app.process_update(click(button_data(api.sent[0])))
    assert api.texts == ["x"]  # no "Something went wrong"
    assert [a[1] for a in api.answers] == ["raw"]
