"""Deny by default; allowlists by id (T2: a non-allowlisted user's command doesn't run)."""

from __future__ import annotations

import pytest

from botfakes import ALICE, BOB, ROOM, make_app, msg, recorder
from redoubt_bot import (
    AccessPolicyMissing,
    CallbackHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    ReactionHandler,
    everyone,
    filters,
    roles,
    rooms,
    users,
)


async def _noop(update: object, context: object) -> None:
    return None


def test_handler_without_allow_is_refused() -> None:
    with pytest.raises(AccessPolicyMissing, match="allow="):
        CommandHandler("start", _noop)
    with pytest.raises(AccessPolicyMissing):
        MessageHandler(filters.TEXT, _noop)
    with pytest.raises(AccessPolicyMissing):
        CallbackHandler(_noop)
    with pytest.raises(AccessPolicyMissing):
        ReactionHandler(_noop)
    with pytest.raises(TypeError):
        CommandHandler("start", _noop, allow="everyone")  # type: ignore[arg-type]


def test_ids_only_never_usernames() -> None:
    with pytest.raises(ValueError, match="not names"):
        users("@alice")
    with pytest.raises(ValueError, match="not names"):
        users("alice")
    with pytest.raises(ValueError, match="not names"):
        rooms("general")
    with pytest.raises(ValueError, match="unknown roles"):
        roles("owner")
    with pytest.raises(ValueError, match="at least one"):
        users()
    assert repr(users(5, "7") | roles("admin")) == "users(5, 7) | roles(admin)"


async def test_non_allowlisted_users_command_does_not_run() -> None:
    app, api = make_app()
    calls, make = recorder()
    app.add_handler(CommandHandler("admin", make("admin"), allow=users(ALICE)))
    await app.process_update(msg("/admin", user=BOB))
    assert calls == []
    assert api.sent == []
    await app.process_update(msg("/admin", user=ALICE))
    assert [c[0] for c in calls] == ["admin"]


async def test_denied_handler_falls_through_to_the_next_in_group() -> None:
    app, _ = make_app()
    calls, make = recorder()
    app.add_handler(CommandHandler("admin", make("admin"), allow=users(ALICE)))
    app.add_handler(CommandHandler("admin", make("refuse"), allow=everyone()))
    await app.process_update(msg("/admin", user=BOB))
    assert [c[0] for c in calls] == ["refuse"]


async def test_rooms_and_union() -> None:
    app, _ = make_app()
    calls, make = recorder()
    app.add_handler(CommandHandler("x", make("x"), allow=rooms("555") | users(BOB)))
    await app.process_update(msg("/x", user=ALICE, room=ROOM))
    assert calls == []
    await app.process_update(msg("/x", user=ALICE, room="555"))
    await app.process_update(msg("/x", user=BOB, room=ROOM))
    assert len(calls) == 2


async def test_roles_looked_up_and_denied_when_unknown() -> None:
    app, api = make_app()
    api.roles = {ALICE: "admin", BOB: "user"}
    calls, make = recorder()
    app.add_handler(CommandHandler("ban", make("ban"), allow=roles("admin")))
    await app.process_update(msg("/ban", user=BOB))
    await app.process_update(msg("/ban", user="3"))  # lookup fails -> deny
    assert calls == []
    await app.process_update(msg("/ban", user=ALICE))
    assert len(calls) == 1
    assert api.role_lookups == 3


async def test_no_role_lookup_without_role_policies() -> None:
    app, api = make_app()
    calls, make = recorder()
    app.add_handler(CommandHandler("x", make("x"), allow=everyone()))
    await app.process_update(msg("/x"))
    assert api.role_lookups == 0
    assert len(calls) == 1


async def test_conversation_inner_policies_apply() -> None:
    app, _ = make_app()
    calls, make = recorder()
    conv = ConversationHandler(
        entry_points=[CommandHandler("go", make("go", "s1"), allow=users(ALICE))],
        states={"s1": [MessageHandler(filters.TEXT, make("s1", -1), allow=everyone())]},
    )
    app.add_handler(conv)
    await app.process_update(msg("/go", user=BOB))
    await app.process_update(msg("text", user=BOB))
    assert calls == []
