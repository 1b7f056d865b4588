"""Persistence: JSON and SQLite survive a restart of the Application; no pickle."""

from __future__ import annotations

import json
import logging
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from botfakes import ALICE, BOB, ROOM, button_data, click, make_app, msg
from redoubt_bot import (
    END,
    Application,
    CallbackHandler,
    CommandHandler,
    Context,
    ConversationHandler,
    JsonPersistence,
    MemoryPersistence,
    MessageHandler,
    Persistence,
    PersistenceError,
    SqlitePersistence,
    Update,
    everyone,
    filters,
)

Factory = Callable[[Path], Persistence]
BACKENDS: list[Any] = [
    pytest.param(lambda d: JsonPersistence(d / "bot.json"), id="json"),
    pytest.param(lambda d: SqlitePersistence(d / "bot.db"), id="sqlite"),
]


def _install(app: Application, clicks: list[Any]) -> ConversationHandler:
    async def remember(update: Update, context: Context) -> None:
        context.user_data["name"] = context.args[0]
        context.chat_data.setdefault("count", 0)
        context.chat_data["count"] += 1
        context.bot_data["last"] = update.user_id

    async def menu(update: Update, context: Context) -> None:
        await context.reply(
            "pick",
            buttons=[
                [context.button("once", {"n": 1}), context.button("many", [2], single_use=False)]
            ],
        )

    async def clicked(update: Update, context: Context) -> None:
        clicks.append(context.payload)

    async def start(update: Update, context: Context) -> str:
        return "second"

    async def second(update: Update, context: Context) -> int:
        clicks.append("second-step")
        return END

    app.add_handler(CommandHandler("remember", remember, allow=everyone()))
    app.add_handler(CommandHandler("menu", menu, allow=everyone()))
    app.add_handler(CallbackHandler(clicked, allow=everyone()))
    conv = ConversationHandler(
        entry_points=[CommandHandler("begin", start, allow=everyone())],
        states={"second": [MessageHandler(filters.TEXT, second, allow=everyone())]},
        name="flow",
    )
    app.add_handler(conv, group=1)
    return conv


@pytest.mark.parametrize("factory", BACKENDS)
async def test_survives_restart(tmp_path: Path, factory: Factory) -> None:
    clicks: list[Any] = []
    app, api = make_app(persistence=factory(tmp_path))
    _install(app, clicks)
    async with app:
        await app.process_update(msg("/remember Alice", user=ALICE))
        await app.process_update(msg("/remember Bob", user=BOB))
        await app.process_update(msg("/menu"))
        once, many = button_data(api.sent[0], 0, 0), button_data(api.sent[0], 0, 1)
        await app.process_update(click(once))
        await app.process_update(msg("/begin"))
    assert clicks == [{"n": 1}]

    # A new Application (a restart) on the same store.
    app2, api2 = make_app(persistence=factory(tmp_path))
    conv2 = _install(app2, clicks)
    async with app2:
        assert app2.user_data == {ALICE: {"name": "Alice"}, BOB: {"name": "Bob"}}
        assert app2.chat_data == {ROOM: {"count": 2}}
        assert app2.bot_data == {"last": BOB}
        assert conv2.state_of(ROOM, ALICE) == "second"
        await app2.process_update(click(once))  # replay after restart
        await app2.process_update(click(many))
        await app2.process_update(click(many, user=BOB))
        await app2.process_update(msg("go on"))
    assert clicks == [{"n": 1}, [2], "second-step"]
    assert api2.answers[0][1] == "This button was already used."
    assert api2.answers[2][1] == "This button isn't for you."

    app3, _ = make_app(persistence=factory(tmp_path))
    conv3 = _install(app3, clicks)
    async with app3:
        assert conv3.state_of(ROOM, ALICE) is None


async def test_written_after_each_update_without_shutdown(tmp_path: Path) -> None:
    app, _ = make_app(persistence=JsonPersistence(tmp_path / "bot.json"))
    _install(app, [])
    await app.initialize()
    await app.process_update(msg("/remember Alice"))
    doc = json.loads((tmp_path / "bot.json").read_text())
    assert doc["data"]["user_data"] == {ALICE: {"name": "Alice"}}
    await app.shutdown()


async def test_json_file_is_private_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "state" / "bot.json"
    p = JsonPersistence(path)
    await p.load()
    await p.apply({"user_data": {"1": {"a": "é"}}}, {})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    await p.apply({"user_data": {"2": {"b": 2}}}, {"user_data": {"1"}})
    assert json.loads(path.read_text()) == {"version": 1, "data": {"user_data": {"2": {"b": 2}}}}
    assert [f.name for f in path.parent.iterdir()] == ["bot.json"]  # no temp files left
    with pytest.raises(TypeError):
        await p.apply({"user_data": {"3": {"x": {1, 2}}}}, {})
    assert json.loads(path.read_text())["data"]["user_data"] == {"2": {"b": 2}}


async def test_json_refuses_garbage(tmp_path: Path) -> None:
    path = tmp_path / "bot.json"
    path.write_bytes(b"\x80\x04\x95 not json (a pickle, say)")
    with pytest.raises(PersistenceError):
        await JsonPersistence(path).load()


async def test_sqlite_file_is_private_and_json(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    p = SqlitePersistence(path)
    await p.apply({"bot_data": {"bot": {"k": [1, None]}}}, {})
    await p.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT ns, key, value FROM redoubt_bot_kv").fetchall()
    conn.close()
    assert rows == [("bot_data", "bot", '{"k":[1,null]}')]


async def test_non_json_user_data_is_logged_and_the_rest_saved(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(persistence=SqlitePersistence(tmp_path / "bot.db"))

    async def bad(update: Update, context: Context) -> None:
        context.user_data["s"] = {1, 2}
        context.chat_data["ok"] = True

    app.add_handler(CommandHandler("bad", bad, allow=everyone()))
    with caplog.at_level(logging.ERROR, logger="redoubt_bot"):
        async with app:
            await app.process_update(msg("/bad"))
    assert any("JSON" in r.getMessage() for r in caplog.records)
    snap = await (p := SqlitePersistence(tmp_path / "bot.db")).load()
    await p.close()
    assert snap == {"chat_data": {ROOM: {"ok": True}}}


async def test_memory_persistence_is_the_default() -> None:
    app, _ = make_app()
    assert isinstance(app.persistence, MemoryPersistence)
    _install(app, [])
    async with app:
        await app.process_update(msg("/remember A"))
    assert (await app.persistence.load())["user_data"] == {ALICE: {"name": "A"}}
