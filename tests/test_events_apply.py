"""The realtime contract, Zulip's ``apply_events`` way.

A client fetches its state over REST, then applies the events its WebSocket delivers.
For every event type, a scenario performs the action that emits it, and the state
fetched *before* the action with the received events applied must equal a fresh fetch
*after* it: the events carry everything a client needs, including unread and mention
counts. The state is the observer's own user view, its room list (room, role, read
state), and per room the history, pins and members, plus the public profiles of the
people in those rooms.

Rooms the observer joins while connected have no history, pins or member list in the
client yet (an event can't carry a room's whole history): the reducer marks them to be
fetched lazily, as a real client would when the room is opened, and the comparison
fetches exactly those parts. Everything else must come from the events.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import inspect
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from typing_extensions import override

from redoubt.core.signing import sign
from redoubt.domain.enums import UserRole
from redoubt.domain.events import EventType
from tests.harness import (
    PASSWORD,
    EventClient,
    Server,
    User,
    deployment,
    run_server,
)

JSON = dict[str, Any]
SETTLE_TIMEOUT = 5.0


# --- client state ------------------------------------------------------------------


@dataclass
class ClientState:
    me: JSON
    rooms: dict[str, JSON]
    """MembershipView by room id."""
    last_position: dict[str, int]
    """Newest message position per room (orders the room list, as the server does)."""
    messages: dict[str, list[JSON] | None]
    """History per room in position order; None: to be fetched when opened."""
    pins: dict[str, list[JSON] | None]
    members: dict[str, list[JSON] | None]
    users: dict[str, JSON]
    """Public profiles (id, username, display_name) of people the client knows."""
    inactive: set[str] = field(default_factory=set)
    """Users the client learned were deactivated."""
    ended_sessions: list[str | None] = field(default_factory=list)
    """Sessions of this user the client learned had ended (None: all of them)."""
    callback_answers: list[JSON] = field(default_factory=list)
    """Bots' answers to this user's button clicks (shown as notices, never refetched)."""


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _pin_key(message: JSON) -> tuple[float, str]:
    return (-_parse_time(message["pinned_at"]).timestamp(), message["id"])


def _public(user: JSON) -> JSON:
    return {k: user[k] for k in ("id", "username", "display_name")}


async def _get(server: Server, user: User, path: str) -> Any:
    return await server.ok("GET", path, user)


async def fetch_room_parts(
    server: Server, user: User, room_id: str
) -> tuple[list[JSON], list[JSON], list[JSON]]:
    messages, pins, members = await asyncio.gather(
        _get(server, user, f"/api/v1/rooms/{room_id}/messages?limit=200"),
        _get(server, user, f"/api/v1/rooms/{room_id}/pins"),
        _get(server, user, f"/api/v1/rooms/{room_id}/members"),
    )
    # The API orders pins newest first.
    times = [_parse_time(p["pinned_at"]) for p in pins]
    assert times == sorted(times, reverse=True), "pins are not newest-first"
    return messages, pins, members


async def fetch_users(server: Server, user: User, user_ids: set[str]) -> dict[str, JSON]:
    views = await asyncio.gather(*(_get(server, user, f"/api/v1/users/{u}") for u in user_ids))
    return {v["id"]: v for v in views}


async def fetch_state(server: Server, user: User) -> ClientState:
    me, room_list = await asyncio.gather(
        _get(server, user, "/api/v1/users/me"), _get(server, user, "/api/v1/rooms")
    )
    state = ClientState(
        me=me, rooms={}, last_position={}, messages={}, pins={}, members={}, users={}
    )
    parts = await asyncio.gather(
        *(fetch_room_parts(server, user, m["room"]["id"]) for m in room_list)
    )
    for membership, (messages, pins, members) in zip(room_list, parts, strict=True):
        room_id = membership["room"]["id"]
        state.rooms[room_id] = membership
        state.messages[room_id] = messages
        state.pins[room_id] = pins
        state.members[room_id] = members
        state.last_position[room_id] = max((m["position"] for m in messages), default=0)
    # The server orders the room list by latest activity, then id: so does snapshot().
    order = [m["room"]["id"] for m in room_list]
    assert order == sorted(order, key=lambda r: (-state.last_position[r], int(r)))
    known = {m["user_id"] for ms in state.members.values() if ms for m in ms} | {me["id"]}
    state.users = await fetch_users(server, user, known)
    return state


async def complete(server: Server, user: User, state: ClientState) -> list[str]:
    """Fetch what the reducer marked as unknown (rooms joined meanwhile, new people)."""
    lazily: list[str] = []
    for room_id in state.rooms:
        if state.messages[room_id] is None:
            messages, pins, members = await fetch_room_parts(server, user, room_id)
            state.messages[room_id] = messages
            state.pins[room_id] = pins
            state.members[room_id] = members
            lazily.append(room_id)
    wanted = {m["user_id"] for ms in state.members.values() if ms for m in ms}
    missing = wanted - set(state.users)
    state.users.update(await fetch_users(server, user, missing))
    return lazily


def snapshot(state: ClientState) -> JSON:
    """The comparable form: the room list in the server's order, per-room parts."""
    order = sorted(state.rooms, key=lambda r: (-state.last_position.get(r, 0), int(r)))
    member_ids = {m["user_id"] for ms in state.members.values() if ms for m in ms}
    return {
        "me": state.me,
        "rooms": [state.rooms[r] for r in order],
        "messages": {r: state.messages[r] for r in order},
        # Pins pinned within the same clock tick may come in either order.
        "pins": {r: sorted(state.pins[r] or [], key=_pin_key) for r in order},
        "members": {r: state.members[r] for r in order},
        "users": {u: _public(state.users[u]) for u in sorted(member_ids | {state.me["id"]})},
    }


# --- the reducer ---------------------------------------------------------------------


def _counts(state: ClientState, message: JSON | None) -> tuple[int, int]:
    """What one message contributes to its room's (unread, mention) counts."""
    if message is None or message["deleted"]:
        return 0, 0
    me = state.me["id"]
    read = state.rooms[message["room_id"]]["read"]
    if message["author_id"] == me or message["position"] <= read["last_read_position"]:
        return 0, 0
    mentioned = message["mentions_room"] or me in message["mentions"]
    return 1, int(mentioned)


def _find(state: ClientState, message: JSON) -> JSON | None:
    for old in state.messages.get(message["room_id"]) or ():
        if old["id"] == message["id"]:
            return old
    return None


def _require_room(state: ClientState, room_id: str, event: JSON) -> None:
    """Room events reach members only: one for another room is a leak."""
    assert room_id in state.rooms, f"got an event of a room the client is not in: {event}"


def _put_message(state: ClientState, message: JSON) -> None:
    room_id = message["room_id"]
    old = _find(state, message)
    before = _counts(state, old)
    after = _counts(state, message)
    read = state.rooms[room_id]["read"]
    read["unread_count"] += after[0] - before[0]
    read["mention_count"] += after[1] - before[1]
    state.last_position[room_id] = max(state.last_position.get(room_id, 0), message["position"])
    history = state.messages[room_id]
    if history is not None:
        if old is not None:
            history[history.index(old)] = message
        else:
            history.append(message)
            history.sort(key=lambda m: m["position"])
            del history[:-200]  # the client keeps the page size it fetched
    pins = state.pins[room_id]
    if pins is not None:
        pins[:] = [p for p in pins if p["id"] != message["id"]]
        if message["pinned_at"] is not None:
            pins.append(message)
            pins.sort(key=_pin_key)


def _put_member(state: ClientState, room_id: str, user_id: str, role: str) -> None:
    members = state.members.get(room_id)
    if members is None:
        return
    for member in members:
        if member["user_id"] == user_id:
            member["role"] = role
            return
    members.append({"user_id": user_id, "role": role})


def apply_event(state: ClientState, event: JSON) -> None:
    """Bring ``state`` up to date with one event, using only what the event carries."""
    kind = EventType(event["type"])
    data: JSON = event["data"]
    me = state.me["id"]
    match kind:
        case EventType.MESSAGE_CREATED | EventType.MESSAGE_UPDATED | EventType.MESSAGE_DELETED:
            _require_room(state, data["room_id"], event)
            _put_message(state, data)
        case EventType.REACTION_ADDED | EventType.REACTION_REMOVED:
            _require_room(state, data["message"]["room_id"], event)
            _put_message(state, data["message"])
        case EventType.ROOM_UPDATED:
            room = data["room"]
            _require_room(state, room["id"], event)
            state.rooms[room["id"]]["room"] = room
        case EventType.MEMBER_ADDED:
            room = data["room"]
            room_id = room["id"]
            if data["user_id"] == me:
                state.rooms[room_id] = {"room": room, "role": data["role"], "read": data["read"]}
                state.last_position[room_id] = data["read"]["last_read_position"]
                state.messages[room_id] = None
                state.pins[room_id] = None
                state.members[room_id] = None
            else:
                _require_room(state, room_id, event)
                state.rooms[room_id]["room"] = room
                _put_member(state, room_id, data["user_id"], data["role"])
        case EventType.MEMBER_REMOVED:
            room_id = data["room"]["id"]
            _require_room(state, room_id, event)
            if data["user_id"] == me:
                for part in (
                    state.rooms,
                    state.messages,
                    state.pins,
                    state.members,
                    state.last_position,
                ):
                    part.pop(room_id, None)
            else:
                state.rooms[room_id]["room"] = data["room"]
                members = state.members[room_id]
                if members is not None:
                    members[:] = [m for m in members if m["user_id"] != data["user_id"]]
        case EventType.MEMBER_UPDATED:
            room_id = data["room_id"]
            _require_room(state, room_id, event)
            if data["user_id"] == me:
                state.rooms[room_id]["role"] = data["role"]
            _put_member(state, room_id, data["user_id"], data["role"])
        case EventType.READ_UPDATED:
            _require_room(state, data["room_id"], event)
            state.rooms[data["room_id"]]["read"] = data
        case EventType.USER_UPDATED:
            if data["id"] == me:
                state.me = data
            state.users[data["id"]] = _public(data)
            if not data["is_active"]:
                state.inactive.add(data["id"])
        case EventType.SESSION_ENDED:
            # A stream on that session closes; nothing a client fetched changes.
            state.ended_sessions.append(data["session_id"])
        case EventType.BOT_CALLBACK_ANSWER:
            # A notice about the user's own click; nothing a client fetched changes.
            state.callback_answers.append(data)


# --- scenarios -----------------------------------------------------------------------


@dataclass
class World:
    server: Server
    admin: User
    alice: User
    """Owner of ``room`` and ``private``."""
    bob: User
    """The observer: its client state is what every scenario checks."""
    carol: User
    dave: User
    """Not in any of the rooms at first."""
    room: str
    """A channel: alice (owner), bob, carol."""
    private: str
    """A private group: alice (owner), carol; bob is not in it."""
    notes: dict[str, Any] = field(default_factory=dict)


_worlds = itertools.count(1)


async def make_world(server: Server) -> World:
    """A fresh cast and rooms (names unique, so worlds can share a server)."""
    n = next(_worlds)
    admin, alice, bob, carol, dave = await asyncio.gather(
        server.create_user(f"admin{n}", role=UserRole.ADMIN),
        *(server.create_user(f"{name}{n}") for name in ("alice", "bob", "carol", "dave")),
    )
    room, private = await asyncio.gather(
        server.room(alice, f"general{n}", "channel", bob, carol),
        server.room(alice, f"secret{n}", "private", carol),
    )
    await server.post(alice, room, "welcome")
    await server.post(carol, private, "psst")
    return World(server, admin, alice, bob, carol, dave, room, private)


Action = Callable[[World], AsyncIterator[None]]
"""An async generator: setup before its ``yield``, the action under test after it."""


@dataclass(frozen=True)
class Scenario:
    name: str
    covers: frozenset[EventType]
    run: Action

    @override
    def __str__(self) -> str:
        return self.name


SCENARIOS: list[Scenario] = []


def scenario(*covers: EventType) -> Callable[[Action], Action]:
    def register(fn: Action) -> Action:
        SCENARIOS.append(Scenario(fn.__name__, frozenset(covers), fn))
        return fn

    return register


def _room_of(state: ClientState, room_id: str) -> JSON:
    return state.rooms[room_id]


@scenario(EventType.MESSAGE_CREATED)
async def post_by_other_is_unread(w: World) -> AsyncIterator[None]:
    yield
    await w.server.post(w.alice, w.room, "hello bob")
    await w.server.post(w.carol, w.room, "and again")


@scenario(EventType.MESSAGE_CREATED)
async def own_post_is_not_unread(w: World) -> AsyncIterator[None]:
    yield
    await w.server.post(w.bob, w.room, "my own words")


@scenario(EventType.MESSAGE_CREATED)
async def mention_counts(w: World) -> AsyncIterator[None]:
    yield
    await w.server.post(w.alice, w.room, f"@{w.bob.username} look at this")
    await w.server.post(w.alice, w.room, "@all meeting now")
    await w.server.post(w.carol, w.room, "@here anyone?")
    await w.server.post(w.alice, w.room, f"@{w.carol.username} only you")
    await w.server.post(w.alice, w.room, f"`@{w.bob.username}` in code is no mention")


@scenario(EventType.MESSAGE_CREATED, EventType.MESSAGE_UPDATED)
async def thread_reply(w: World) -> AsyncIterator[None]:
    root = await w.server.post(w.alice, w.room, "a question")
    yield
    await w.server.post(w.carol, w.room, f"an answer @{w.bob.username}", thread_id=root["id"])
    await w.server.post(w.bob, w.room, "my answer", thread_id=root["id"])


@scenario(EventType.MESSAGE_UPDATED)
async def edit(w: World) -> AsyncIterator[None]:
    message = await w.server.post(w.alice, w.room, "frist")
    yield
    await w.server.ok("PATCH", f"/api/v1/messages/{message['id']}", w.alice, json={"text": "first"})


@scenario(EventType.MESSAGE_DELETED)
async def delete_unread_mention(w: World) -> AsyncIterator[None]:
    message = await w.server.post(w.alice, w.room, f"@{w.bob.username} oops, wrong room")
    await w.server.post(w.alice, w.room, "@all stays")
    yield
    await w.server.ok("DELETE", f"/api/v1/messages/{message['id']}", w.alice)


@scenario(EventType.MESSAGE_DELETED)
async def delete_read_and_own(w: World) -> AsyncIterator[None]:
    read = await w.server.post(w.alice, w.room, "already read")
    await w.server.ok(
        "PUT", f"/api/v1/rooms/{w.room}/read", w.bob, json={"position": read["position"]}
    )
    own = await w.server.post(w.bob, w.room, "mine")
    yield
    await w.server.ok("DELETE", f"/api/v1/messages/{read['id']}", w.alice)
    # The owner deletes bob's message (moderation).
    await w.server.ok("DELETE", f"/api/v1/messages/{own['id']}", w.alice)


@scenario(EventType.REACTION_ADDED, EventType.REACTION_REMOVED)
async def react_and_unreact(w: World) -> AsyncIterator[None]:
    message = await w.server.post(w.alice, w.room, "react to me")
    base = f"/api/v1/messages/{message['id']}/reactions"
    yield
    await w.server.ok("PUT", f"{base}/thumbs_up", w.carol)
    await w.server.ok("PUT", f"{base}/thumbs_up", w.bob)
    await w.server.ok("PUT", f"{base}/tada", w.alice)
    await w.server.ok("DELETE", f"{base}/thumbs_up", w.carol)


@scenario(EventType.MESSAGE_UPDATED)
async def pin_and_unpin(w: World) -> AsyncIterator[None]:
    first = await w.server.post(w.alice, w.room, "pin me")
    second = await w.server.post(w.carol, w.room, "pin me too")
    third = await w.server.post(w.carol, w.room, "pinned, then unpinned")
    await w.server.ok("PUT", f"/api/v1/messages/{third['id']}/pin", w.alice)
    yield
    await w.server.ok("PUT", f"/api/v1/messages/{first['id']}/pin", w.alice)
    await w.server.ok("PUT", f"/api/v1/messages/{second['id']}/pin", w.alice)
    await w.server.ok("DELETE", f"/api/v1/messages/{third['id']}/pin", w.alice)


@scenario(EventType.MESSAGE_DELETED)
async def delete_pinned(w: World) -> AsyncIterator[None]:
    message = await w.server.post(w.carol, w.room, "pinned then deleted")
    await w.server.ok("PUT", f"/api/v1/messages/{message['id']}/pin", w.alice)
    await w.server.ok("PUT", f"/api/v1/messages/{message['id']}/reactions/tada", w.bob)
    yield
    await w.server.ok("DELETE", f"/api/v1/messages/{message['id']}", w.carol)


@scenario(EventType.ROOM_UPDATED)
async def topic_change(w: World) -> AsyncIterator[None]:
    yield
    await w.server.ok("PATCH", f"/api/v1/rooms/{w.room}", w.alice, json={"topic": "Releases"})


@scenario(EventType.ROOM_UPDATED)
async def archive(w: World) -> AsyncIterator[None]:
    yield
    await w.server.ok("PATCH", f"/api/v1/rooms/{w.room}", w.alice, json={"archived": True})


@scenario(EventType.ROOM_UPDATED)
async def unarchive(w: World) -> AsyncIterator[None]:
    await w.server.ok("PATCH", f"/api/v1/rooms/{w.room}", w.alice, json={"archived": True})
    yield
    await w.server.ok("PATCH", f"/api/v1/rooms/{w.room}", w.alice, json={"archived": False})


@scenario(EventType.MEMBER_ADDED)
async def add_other_member(w: World) -> AsyncIterator[None]:
    yield
    await w.server.ok(
        "POST", f"/api/v1/rooms/{w.room}/members", w.alice, json={"user_id": w.dave.id}
    )
    await w.server.post(w.dave, w.room, "hi all, I'm new")


@scenario(EventType.MEMBER_ADDED, EventType.MESSAGE_CREATED)
async def add_me(w: World) -> AsyncIterator[None]:
    yield
    await w.server.ok(
        "POST", f"/api/v1/rooms/{w.private}/members", w.alice, json={"user_id": w.bob.id}
    )
    await w.server.post(w.carol, w.private, f"welcome @{w.bob.username}")
    w.notes["lazy"] = [w.private]


@scenario(EventType.MEMBER_ADDED, EventType.MESSAGE_CREATED)
async def dm_opened_with_me(w: World) -> AsyncIterator[None]:
    yield
    dm = await w.server.ok("POST", "/api/v1/dms", w.carol, json={"user_ids": [w.bob.id]})
    await w.server.post(w.carol, dm["id"], "a private word")
    w.notes["lazy"] = [dm["id"]]


@scenario(EventType.MEMBER_REMOVED)
async def remove_other_member(w: World) -> AsyncIterator[None]:
    yield
    await w.server.ok("DELETE", f"/api/v1/rooms/{w.room}/members/{w.carol.id}", w.alice)


@scenario(EventType.MEMBER_REMOVED)
async def kick_me(w: World) -> AsyncIterator[None]:
    yield
    await w.server.ok("DELETE", f"/api/v1/rooms/{w.room}/members/{w.bob.id}", w.alice)
    await w.server.post(w.alice, w.room, "talking behind bob's back")


@scenario(EventType.MEMBER_REMOVED)
async def leave(w: World) -> AsyncIterator[None]:
    yield
    await w.server.ok("POST", f"/api/v1/rooms/{w.room}/leave", w.bob)


@scenario(EventType.MEMBER_UPDATED)
async def member_role_change(w: World) -> AsyncIterator[None]:
    yield
    path = f"/api/v1/rooms/{w.room}/members"
    await w.server.ok("PATCH", f"{path}/{w.carol.id}", w.alice, json={"role": "moderator"})
    await w.server.ok("PATCH", f"{path}/{w.bob.id}", w.alice, json={"role": "owner"})


@scenario(EventType.READ_UPDATED)
async def mark_read(w: World) -> AsyncIterator[None]:
    first = await w.server.post(w.alice, w.room, f"@{w.bob.username} one")
    await w.server.post(w.alice, w.room, f"@{w.bob.username} two")
    await w.server.post(w.carol, w.room, "three")
    yield
    await w.server.ok(
        "PUT", f"/api/v1/rooms/{w.room}/read", w.bob, json={"position": first["position"]}
    )


@scenario(EventType.USER_UPDATED)
async def profile_updates(w: World) -> AsyncIterator[None]:
    yield
    await w.server.ok("PATCH", "/api/v1/users/me", w.bob, json={"display_name": "Robert"})
    await w.server.ok("PATCH", "/api/v1/users/me", w.carol, json={"display_name": "Caroline"})


@scenario(EventType.USER_UPDATED)
async def deactivate_other(w: World) -> AsyncIterator[None]:
    yield
    await w.server.ok("POST", f"/api/v1/users/{w.carol.id}/deactivate", w.admin)
    w.notes["inactive"] = {w.carol.id}


@scenario(
    EventType.MEMBER_ADDED,
    EventType.MESSAGE_CREATED,
    EventType.USER_UPDATED,
    EventType.MEMBER_REMOVED,
)
async def incoming_hook(w: World) -> AsyncIterator[None]:
    """[incoming webhooks] The hook's account joins, posts with attachments, is renamed,
    and goes (deactivated) with the hook."""
    yield
    s = w.server
    made = await s.ok(
        "POST", "/api/v1/admin/hooks/incoming", w.admin, json={"name": "CI", "room_id": w.room}
    )
    hook_id, secret = made["hook"]["id"], made["secret"]
    body = json.dumps(
        {"text": "build ok", "attachments": [{"title": "#42", "color": "#00ff00"}]}
    ).encode()
    ts = int(time.time())
    headers = {
        "content-type": "application/json",
        "X-Redoubt-Timestamp": str(ts),
        "X-Redoubt-Signature": sign(secret, ts, body),
    }
    posted = await s.http.post(f"/api/v1/hooks/{hook_id}", content=body, headers=headers)
    assert posted.status_code == 200, posted.text
    path = f"/api/v1/admin/hooks/incoming/{hook_id}"
    await s.ok("PATCH", path, w.admin, json={"name": "CI 2"})
    await s.ok("DELETE", path, w.admin)
    w.notes["inactive"] = {made["hook"]["user_id"]}


@scenario(EventType.SESSION_ENDED)
async def logout_other_session(w: World) -> AsyncIterator[None]:
    yield
    s = w.server
    resp = await s.http.post(
        "/api/v1/auth/login", json={"username": w.bob.username, "password": PASSWORD}
    )
    s.http.cookies.clear()
    other = resp.json()["token"]
    await s.ok("POST", "/api/v1/auth/logout", headers={"Authorization": f"Bearer {other}"})
    w.notes["ended_sessions"] = 1


@scenario(
    EventType.MESSAGE_CREATED,
    EventType.MESSAGE_UPDATED,
    EventType.MESSAGE_DELETED,
    EventType.REACTION_ADDED,
    EventType.READ_UPDATED,
    EventType.MEMBER_ADDED,
    EventType.MEMBER_UPDATED,
)
async def busy_mix(w: World) -> AsyncIterator[None]:
    """Many kinds of events interleaved: the reducer must hold up over a sequence."""
    yield
    s = w.server
    posted = [
        await s.post(w.alice if i % 2 else w.carol, w.room, f"m{i} @{w.bob.username}")
        for i in range(6)
    ]
    await s.ok(
        "PUT", f"/api/v1/rooms/{w.room}/read", w.bob, json={"position": posted[2]["position"]}
    )
    await s.ok("DELETE", f"/api/v1/messages/{posted[4]['id']}", w.carol)
    await s.ok("DELETE", f"/api/v1/messages/{posted[1]['id']}", w.alice)
    await s.ok("PATCH", f"/api/v1/messages/{posted[3]['id']}", w.alice, json={"text": "edited"})
    await s.ok("PUT", f"/api/v1/messages/{posted[5]['id']}/reactions/eyes", w.bob)
    await s.post(w.bob, w.room, "reply", thread_id=posted[0]["id"])
    await s.ok("POST", f"/api/v1/rooms/{w.room}/members", w.bob, json={"user_id": w.dave.id})
    await s.ok(
        "PATCH", f"/api/v1/rooms/{w.room}/members/{w.dave.id}", w.alice, json={"role": "moderator"}
    )
    await s.post(w.dave, w.room, f"@{w.bob.username} hello from a moderator")


@scenario(EventType.BOT_CALLBACK_ANSWER, EventType.MESSAGE_UPDATED)
async def bot_answers_click(w: World) -> AsyncIterator[None]:
    """bob clicks a bot's button; the bot answers and swaps the keyboard (as bots do)."""
    s = w.server
    bot = await s.create_bot(w.alice, f"kbd{w.room}", w.room)
    await s.ok("POST", f"/api/v1/rooms/{w.room}/members", w.alice, json={"user_id": bot.id})
    sent = await s.http.post(
        f"/bot{bot.token}/sendMessage",
        json={
            "chat_id": -int(w.room),
            "text": "Pick one",
            "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
        },
    )
    message_id = sent.json()["result"]["message_id"]
    clicked = await s.ok(
        "POST", f"/api/v1/messages/{message_id}/buttons", w.bob, json={"row": 0, "column": 0}
    )
    w.notes["callback_id"] = clicked["callback_id"]
    yield
    answered = await s.http.post(
        f"/bot{bot.token}/answerCallbackQuery",
        json={"callback_query_id": clicked["callback_id"], "text": "Got A"},
    )
    assert answered.status_code == 200, answered.text
    edited = await s.http.post(
        f"/bot{bot.token}/editMessageReplyMarkup",
        json={
            "chat_id": -int(w.room),
            "message_id": message_id,
            "reply_markup": {"inline_keyboard": [[{"text": "B", "url": "https://example.com"}]]},
        },
    )
    assert edited.status_code == 200, edited.text


# --- running a scenario ----------------------------------------------------------------


async def settle(server: Server) -> int:
    """Wait until this server's dispatcher has processed every committed event."""
    position = await server.container.database.current_position()
    dispatcher = server.container.dispatcher
    async with asyncio.timeout(SETTLE_TIMEOUT):
        while dispatcher.last_seq < position:  # noqa: ASYNC110 - no change notification
            await asyncio.sleep(0.005)
    return position


async def received(stream: EventClient) -> list[JSON]:
    """Every positioned event queued for this client so far (call after :func:`settle`).

    A ping's pong is queued behind everything the dispatcher has already delivered, so
    it marks the end without waiting on a timer.
    """
    await stream.ws.send('{"type": "ping"}')
    events: list[JSON] = []
    while True:
        frame = await stream.next()
        if frame["type"] == "pong":
            return events
        if "seq" in frame:
            events.append(frame)


@dataclass
class Outcome:
    world: World
    before: ClientState
    after: ClientState
    events: list[JSON]


async def run_scenario(server: Server, sc: Scenario) -> Outcome:
    world = await make_world(server)
    steps = sc.run(world)
    await anext(steps)  # setup
    await settle(server)
    async with server.events(world.bob) as stream:
        before = await fetch_state(server, world.bob)
        with pytest.raises(StopAsyncIteration):
            await anext(steps)  # the action
        await settle(server)
        events = await received(stream)

    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), "events out of order or repeated"
    assert all(s > stream.ready_seq for s in seqs)
    types = {EventType(e["type"]) for e in events}
    assert sc.covers <= types, f"{sc.name} did not produce {sc.covers - types}"

    state = copy.deepcopy(before)
    for event in copy.deepcopy(events):
        apply_event(state, event)
    lazily = await complete(server, world.bob, state)
    assert sorted(lazily) == sorted(world.notes.get("lazy", []))
    after = await fetch_state(server, world.bob)
    assert snapshot(state) == snapshot(after)
    assert state.inactive == world.notes.get("inactive", set())
    assert len(state.ended_sessions) == world.notes.get("ended_sessions", 0)

    # A client resuming from the same position gets exactly the same events.
    async with server.events(world.bob, since=stream.ready_seq) as resumed:
        await settle(server)
        assert await received(resumed) == events
    return Outcome(world, before, after, events)


CHECKS: dict[str, Callable[[Outcome], None]] = {}
"""Scenario-specific expectations beyond "applied equals refetched"."""


def check(name: str) -> Callable[[Callable[[Outcome], None]], Callable[[Outcome], None]]:
    def register(fn: Callable[[Outcome], None]) -> Callable[[Outcome], None]:
        CHECKS[name] = fn
        return fn

    return register


def _read(state: ClientState, room_id: str) -> JSON:
    return dict(state.rooms[room_id]["read"])


@check("post_by_other_is_unread")
def _two_more_unread(out: Outcome) -> None:
    before, after = _read(out.before, out.world.room), _read(out.after, out.world.room)
    assert after["unread_count"] - before["unread_count"] == 2
    assert after["mention_count"] == before["mention_count"]


@check("own_post_is_not_unread")
def _own_post_changes_no_count(out: Outcome) -> None:
    assert _read(out.before, out.world.room) == _read(out.after, out.world.room)


@check("mention_counts")
def _mentions_count_by_the_rules(out: Outcome) -> None:
    before, after = _read(out.before, out.world.room), _read(out.after, out.world.room)
    # @bob, @all and @here are mentions; @carol and a code span aren't; all are unread.
    assert after["unread_count"] - before["unread_count"] == 5
    assert after["mention_count"] - before["mention_count"] == 3


@check("delete_unread_mention")
def _deleting_an_unread_mention_lowers_both_counts(out: Outcome) -> None:
    before, after = _read(out.before, out.world.room), _read(out.after, out.world.room)
    assert (before["unread_count"], before["mention_count"]) == (3, 2)
    assert (after["unread_count"], after["mention_count"]) == (2, 1)  # welcome, @all stays


@check("delete_read_and_own")
def _deleting_read_or_own_messages_changes_no_count(out: Outcome) -> None:
    assert _read(out.before, out.world.room) == _read(out.after, out.world.room)


@check("mark_read")
def _marking_read_leaves_what_is_after(out: Outcome) -> None:
    after = _read(out.after, out.world.room)
    assert (after["unread_count"], after["mention_count"]) == (2, 1)


@check("kick_me")
def _a_kicked_member_hears_nothing_more(out: Outcome) -> None:
    assert [e["type"] for e in out.events] == [EventType.MEMBER_REMOVED]
    assert out.world.room not in out.after.rooms


@check("bot_answers_click")
def _the_clicker_hears_the_answer_once(out: Outcome) -> None:
    answers = [e["data"] for e in out.events if e["type"] == EventType.BOT_CALLBACK_ANSWER]
    assert answers == [
        {"callback_id": out.world.notes["callback_id"], "text": "Got A", "show_alert": False}
    ]
    (message,) = [m for m in out.after.messages[out.world.room] or [] if m["text"] == "Pick one"]
    assert message["inline_keyboard"] == [
        [{"text": "B", "kind": "url", "url": "https://example.com"}]
    ]


@check("add_me")
def _a_new_member_counts_from_joining(out: Outcome) -> None:
    after = _read(out.after, out.world.private)
    assert (after["unread_count"], after["mention_count"]) == (1, 1)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    """One server per backend for all scenarios (each builds its own world in it)."""
    data_dir = tmp_path_factory.mktemp("apply") / "data"
    async with deployment(request.param, data_dir) as settings, run_server(settings()) as srv:
        yield srv


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("sc", SCENARIOS, ids=str)
async def test_apply_events_equals_refetch(shared_server: Server, sc: Scenario) -> None:
    out = await run_scenario(shared_server, sc)
    # The scenario changed something the observer can see (no vacuous passes), except
    # deactivation, which changes nothing in a member's fetched state but the event.
    if sc.name not in ("deactivate_other", "logout_other_session"):
        assert snapshot(out.before) != snapshot(out.after)
    if sc.name in CHECKS:
        CHECKS[sc.name](out)


def test_checks_name_real_scenarios() -> None:
    assert set(CHECKS) <= {sc.name for sc in SCENARIOS}


def test_every_event_type_has_an_apply_test() -> None:
    covered: set[EventType] = set().union(*(sc.covers for sc in SCENARIOS))
    missing = set(EventType) - covered
    assert not missing, f"event types without an apply_events scenario: {sorted(missing)}"
    # ... and the reducer has a branch for each of them.
    source = inspect.getsource(apply_event)
    unhandled = [t for t in EventType if f"EventType.{t.name}" not in source]
    assert not unhandled, f"apply_event ignores {unhandled}"
