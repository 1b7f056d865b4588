"""Messages over real HTTP on both deployments: posting, idempotency, edits, deletes,
threads, reactions, mentions, pins, read positions and history pagination."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from redoubt.actions.messages import do_add_reaction, do_post_message
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Requester
from redoubt.queries.users import find_user_by_username
from tests.harness import Server, User


def _error_code(resp: httpx.Response) -> str:
    body: dict[str, Any] = resp.json()
    return str(body["error"]["code"])


async def _as(server: Server, user: User) -> Requester:
    """``user`` as the actions see a caller, for seeding many rows without HTTP."""
    record = await find_user_by_username(server.container.context, user.username)
    assert record is not None
    return Requester(user=record, session_id=None, ip="127.0.0.1")


def _reaction_path(message_id: str, emoji: str) -> str:
    return f"/api/v1/messages/{message_id}/reactions/{quote(emoji, safe='')}"


async def _read_state(server: Server, user: User, room_id: str) -> dict[str, Any]:
    for entry in await server.ok("GET", "/api/v1/rooms", user):
        if entry["room"]["id"] == room_id:
            read: dict[str, Any] = entry["read"]
            return read
    raise AssertionError(f"{user.username} is not in room {room_id}")


async def _history(server: Server, user: User, room_id: str, **params: int) -> list[dict[str, Any]]:
    page: list[dict[str, Any]] = await server.ok(
        "GET", f"/api/v1/rooms/{room_id}/messages", user, params=params
    )
    return page


async def test_post_validation_and_client_id(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    room = await srv.room(alice, "general", "channel", bob)
    other = await srv.room(alice, "random", "channel", bob)

    msg = await srv.post(alice, room, "hello world")
    assert msg["text"] == "hello world"
    assert msg["author_id"] == alice.id
    assert msg["room_id"] == room
    assert msg["deleted"] is False
    assert msg["edited_at"] is None
    assert msg["thread_id"] is None
    assert msg["reply_count"] == 0
    assert msg["client_id"] is None
    got = await srv.ok("GET", f"/api/v1/messages/{msg['id']}", bob)
    assert got == msg

    # Empty, blank and oversize texts are refused; wrong shapes too.
    for body in (
        {"text": ""},
        {"text": "   \n\t"},
        {"text": "x" * 10_001},
        {"text": 5},
        {"text": ["a"]},
        {"text": "a", "thread_id": "abc"},
        {"text": "a", "thread_id": {"id": msg["id"]}},
        {"text": "a", "extra": 1},
        {"text": "a", "client_id": ""},
        {"text": "a", "client_id": "c" * 65},
    ):
        resp = await srv.request("POST", f"/api/v1/rooms/{room}/messages", alice, json=body)
        assert resp.status_code == 400, (body, resp.text)
    long = await srv.post(alice, room, "y" * 10_000)
    assert len(long["text"]) == 10_000

    # client_id: the same key returns the first message instead of posting twice.
    first = await srv.post(bob, room, "once", client_id="c-1")
    assert first["client_id"] == "c-1"
    again = await srv.post(bob, room, "once", client_id="c-1")
    assert again["id"] == first["id"]
    changed = await srv.post(bob, room, "different text", client_id="c-1")
    assert changed["id"] == first["id"]
    assert changed["text"] == "once"
    # ... the key is per author: another user's identical key is a different message.
    alices = await srv.post(alice, room, "mine", client_id="c-1")
    assert alices["id"] != first["id"]
    # ... and reusing it in another room is a conflict, not a post.
    resp = await srv.request(
        "POST", f"/api/v1/rooms/{other}/messages", bob, json={"text": "once", "client_id": "c-1"}
    )
    assert resp.status_code == 409
    assert await _history(srv, bob, other) == []
    texts = [m["text"] for m in await _history(srv, bob, room)]
    assert texts == ["hello world", "y" * 10_000, "once", "mine"]


async def test_message_in_another_room_is_not_found(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    mallory = await srv.create_user("mallory")
    secret = await srv.room(alice, "secret", "private")
    await srv.room(mallory, "mine", "private")
    msg = await srv.post(alice, secret, "private words")
    missing = "123456789012"
    for method, path, body in (
        ("GET", "/api/v1/messages/{id}", None),
        ("PATCH", "/api/v1/messages/{id}", {"text": "pwned"}),
        ("DELETE", "/api/v1/messages/{id}", None),
        ("PUT", "/api/v1/messages/{id}/reactions/smile", None),
        ("PUT", "/api/v1/messages/{id}/pin", None),
        ("GET", "/api/v1/messages/{id}/edits", None),
        ("GET", "/api/v1/messages/{id}/thread", None),
    ):
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        real = await srv.request(method, path.format(id=msg["id"]), mallory, **kwargs)
        fake = await srv.request(method, path.format(id=missing), mallory, **kwargs)
        assert real.status_code == fake.status_code == 404, (method, path, real.text)
        assert _error_code(real) == _error_code(fake) == "not_found"
    # Nothing changed.
    after = await srv.ok("GET", f"/api/v1/messages/{msg['id']}", alice)
    assert after == msg


async def test_edit_keeps_history_and_only_author_edits(any_server: Server) -> None:
    srv = any_server
    owner = await srv.create_user("owner")
    bob = await srv.create_user("bob")
    room = await srv.room(owner, "general", "channel", bob)
    msg = await srv.post(bob, room, "v1 text")

    edited = await srv.ok("PATCH", f"/api/v1/messages/{msg['id']}", bob, json={"text": "v2 text"})
    assert edited["text"] == "v2 text"
    assert edited["edited_at"] is not None
    assert edited["position"] == msg["position"]  # an edit doesn't move the message
    await srv.ok("PATCH", f"/api/v1/messages/{msg['id']}", bob, json={"text": "v3 text"})
    # Saving the same text again adds no history.
    await srv.ok("PATCH", f"/api/v1/messages/{msg['id']}", bob, json={"text": "v3 text"})

    edits = await srv.ok("GET", f"/api/v1/messages/{msg['id']}/edits", owner)
    assert [e["previous_text"] for e in edits] == ["v1 text", "v2 text"]
    assert {e["editor_id"] for e in edits} == {bob.id}
    assert (await srv.ok("GET", f"/api/v1/messages/{msg['id']}", owner))["text"] == "v3 text"

    # Only the author edits: not the room owner, not an admin.
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    await srv.ok("POST", f"/api/v1/rooms/{room}/join", admin)
    for other in (owner, admin):
        resp = await srv.request(
            "PATCH", f"/api/v1/messages/{msg['id']}", other, json={"text": "x"}
        )
        assert resp.status_code == 403, resp.text
    for body in ({"text": ""}, {"text": "z" * 10_001}, {"text": None}, {"text": "a", "x": 1}):
        resp = await srv.request("PATCH", f"/api/v1/messages/{msg['id']}", bob, json=body)
        assert resp.status_code == 400, (body, resp.text)
    assert (await srv.ok("GET", f"/api/v1/messages/{msg['id']}", bob))["text"] == "v3 text"
    assert len(await srv.ok("GET", f"/api/v1/messages/{msg['id']}/edits", bob)) == 2


async def test_delete_tombstone_and_moderator_audit(any_server: Server) -> None:
    srv = any_server
    owner = await srv.create_user("owner")
    mod = await srv.create_user("mod")
    bob = await srv.create_user("bob")
    carol = await srv.create_user("carol")
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    room = await srv.room(owner, "team", "private", mod, bob, carol)
    await srv.ok(
        "PATCH", f"/api/v1/rooms/{room}/members/{mod.id}", owner, json={"role": "moderator"}
    )

    own = await srv.post(bob, room, "my own words")
    await srv.ok("PATCH", f"/api/v1/messages/{own['id']}", bob, json={"text": "my edited words"})
    await srv.ok("PUT", _reaction_path(own["id"], "👍"), carol)
    await srv.ok("PUT", f"/api/v1/messages/{own['id']}/pin", mod)

    # Plain members can't delete other people's messages.
    resp = await srv.request("DELETE", f"/api/v1/messages/{own['id']}", carol)
    assert resp.status_code == 403
    # The author can: a tombstone stays, with text, edits, reactions and pin gone.
    tomb = await srv.ok("DELETE", f"/api/v1/messages/{own['id']}", bob)
    assert tomb["id"] == own["id"]
    assert tomb["deleted"] is True
    assert tomb["text"] == ""
    assert tomb["reactions"] == []
    assert tomb["pinned_at"] is None
    assert tomb["position"] == own["position"]
    assert await srv.ok("GET", f"/api/v1/messages/{own['id']}/edits", bob) == []
    history = await srv.ok("GET", f"/api/v1/rooms/{room}/messages", carol)
    assert [(m["id"], m["deleted"], m["text"]) for m in history] == [(own["id"], True, "")]
    assert await srv.ok("GET", f"/api/v1/rooms/{room}/pins", carol) == []
    # Deleting again is harmless; a tombstone can't be edited or reacted to.
    assert (await srv.ok("DELETE", f"/api/v1/messages/{own['id']}", bob))["deleted"] is True
    resp = await srv.request("PATCH", f"/api/v1/messages/{own['id']}", bob, json={"text": "back"})
    assert resp.status_code == 404
    assert (await srv.request("PUT", _reaction_path(own["id"], "smile"), bob)).status_code == 404

    # A moderator deletes someone else's message: allowed, and audited.
    theirs = await srv.post(carol, room, "rude words")
    tomb = await srv.ok("DELETE", f"/api/v1/messages/{theirs['id']}", mod)
    assert tomb["deleted"] is True
    assert tomb["text"] == ""
    # Admins have no power over private rooms they are not in, and only admins read audit.
    resp = await srv.request("DELETE", f"/api/v1/messages/{theirs['id']}", admin)
    assert resp.status_code == 404
    assert (await srv.request("GET", "/api/v1/admin/audit", mod)).status_code == 403

    audit = await srv.ok(
        "GET", "/api/v1/admin/audit", admin, params={"action": "message.delete_other"}
    )
    assert len(audit) == 1  # the author's own delete is not a moderation action
    entry = audit[0]
    assert entry["actor_id"] == mod.id
    assert entry["target_type"] == "message"
    assert entry["target_id"] == theirs["id"]
    assert entry["details"] == {"room_id": room, "author_id": carol.id}
    assert entry["ip"] == "127.0.0.1"


async def test_threads(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    room = await srv.room(alice, "general", "channel", bob)
    other = await srv.room(alice, "random", "channel", bob)

    root = await srv.post(alice, room, "root message")
    reply1 = await srv.post(bob, room, "first reply", thread_id=root["id"])
    assert reply1["thread_id"] == root["id"]
    # A reply to a reply lands in the root's thread.
    reply2 = await srv.post(alice, room, "reply to reply", thread_id=reply1["id"])
    assert reply2["thread_id"] == root["id"]
    await srv.post(alice, room, "not in the thread")

    got_root = await srv.ok("GET", f"/api/v1/messages/{root['id']}", bob)
    assert got_root["reply_count"] == 2
    assert got_root["thread_id"] is None
    thread = await srv.ok("GET", f"/api/v1/messages/{root['id']}/thread", bob)
    assert [m["id"] for m in thread] == [reply1["id"], reply2["id"]]
    page = await srv.ok(
        "GET",
        f"/api/v1/messages/{root['id']}/thread",
        bob,
        params={"after": reply1["position"], "limit": 5},
    )
    assert [m["id"] for m in page] == [reply2["id"]]

    # A thread root from another room, a deleted root, or a missing one: 404.
    elsewhere = await srv.post(alice, other, "other room")
    for thread_id in (elsewhere["id"], "123456789012"):
        resp = await srv.request(
            "POST",
            f"/api/v1/rooms/{room}/messages",
            bob,
            json={"text": "x", "thread_id": thread_id},
        )
        assert resp.status_code == 404, resp.text
    gone = await srv.post(alice, room, "soon gone")
    await srv.ok("DELETE", f"/api/v1/messages/{gone['id']}", alice)
    resp = await srv.request(
        "POST", f"/api/v1/rooms/{room}/messages", bob, json={"text": "x", "thread_id": gone["id"]}
    )
    assert resp.status_code == 404
    assert (await srv.ok("GET", f"/api/v1/messages/{root['id']}", bob))["reply_count"] == 2


async def test_reactions(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    outsider = await srv.create_user("outsider")
    room = await srv.room(alice, "general", "channel", bob)
    msg = await srv.post(alice, room, "react to me")
    mid = msg["id"]

    got = await srv.ok("PUT", _reaction_path(mid, "👍"), bob)
    assert got["reactions"] == [{"emoji": "👍", "user_ids": [bob.id]}]
    # Idempotent: reacting twice counts once.
    got = await srv.ok("PUT", _reaction_path(mid, "👍"), bob)
    assert got["reactions"] == [{"emoji": "👍", "user_ids": [bob.id]}]
    got = await srv.ok("PUT", _reaction_path(mid, "👍"), alice)
    assert got["reactions"] == [{"emoji": "👍", "user_ids": [bob.id, alice.id]}]

    # Shortcodes and multi-codepoint emoji (ZWJ sequence, skin tone, flag, keycap).
    england = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    valid = ["thumbs_up", "+1", "100", "👩\u200d💻", "👍🏽", "🇫🇷", "❤️", "#️⃣", "1️⃣", england]
    for emoji in valid:
        resp = await srv.request("PUT", _reaction_path(mid, emoji), bob)
        assert resp.status_code == 200, (emoji, resp.text)
    got = await srv.ok("GET", f"/api/v1/messages/{mid}", alice)
    assert [r["emoji"] for r in got["reactions"]] == ["👍", *valid]

    # Not emoji: 400, and nothing added.
    for bad in (
        "hello world",
        "<script>",
        "ABC",
        "é",
        "a" * 65,
        "👍" * 17,
        "a👍",
        "^",
        "`",
        "\u200d",
        "\ufe0f",
        "🏽",
        "\u202e👍",
    ):
        resp = await srv.request("PUT", _reaction_path(mid, bad), bob)
        assert resp.status_code == 400, (bad, resp.text)
    assert len((await srv.ok("GET", f"/api/v1/messages/{mid}", alice))["reactions"]) == 1 + len(
        valid
    )

    # Remove one's own reaction (idempotent); others' stay.
    got = await srv.ok("DELETE", _reaction_path(mid, "👍"), bob)
    assert got["reactions"][0] == {"emoji": "👍", "user_ids": [alice.id]}
    got = await srv.ok("DELETE", _reaction_path(mid, "👍"), bob)
    assert got["reactions"][0] == {"emoji": "👍", "user_ids": [alice.id]}

    # Non-members can't react in a channel they haven't joined.
    assert (await srv.request("PUT", _reaction_path(mid, "smile"), outsider)).status_code == 403

    # At most 50 distinct reactions per message; more users on an existing one are fine.
    msg2 = await srv.post(alice, room, "popular")
    as_bob = await _as(srv, bob)
    for i in range(49):  # seeded through the action itself; the last ones over HTTP
        await do_add_reaction(
            srv.container.context, int(msg2["id"]), f"e{i:02d}", acting_user=as_bob
        )
    await srv.ok("PUT", _reaction_path(msg2["id"], "e49"), bob)
    resp = await srv.request("PUT", _reaction_path(msg2["id"], "e50"), bob)
    assert resp.status_code == 400
    got = await srv.ok("PUT", _reaction_path(msg2["id"], "e00"), alice)
    assert len(got["reactions"]) == 50
    assert got["reactions"][0] == {"emoji": "e00", "user_ids": [bob.id, alice.id]}


async def test_mentions(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    await srv.create_user("carol")  # exists, but not a member
    room = await srv.room(alice, "general", "channel", bob)

    async def mentions(text: str) -> tuple[list[str], bool]:
        msg = await srv.post(alice, room, text)
        return sorted(msg["mentions"]), msg["mentions_room"]

    assert await mentions("hey @bob") == ([bob.id], False)
    assert await mentions("@BOB, look") == ([bob.id], False)
    assert await mentions("@bob and @alice") == (sorted([alice.id, bob.id]), False)
    assert await mentions("hey @carol") == ([], False)  # only members are mentioned
    assert await mentions("hey @nobody") == ([], False)
    assert await mentions("mail bob@example.com") == ([], False)
    assert await mentions("@here standup") == ([], True)
    assert await mentions("attention @all") == ([], True)
    assert await mentions("`@bob` in code") == ([], False)
    assert await mentions("```\n@bob @all\n```") == ([], False)
    assert await mentions("`@here` but @bob") == ([bob.id], False)
    assert await mentions("thanks @bob.") == ([bob.id], False)  # punctuation isn't a name
    assert await mentions("see x/@bob and a+@bob") == ([], False)

    # Bob's mention count: the seven messages that name him or the room.
    read = await _read_state(srv, bob, room)
    assert read["mention_count"] == 7
    assert read["unread_count"] == 13


async def test_pins(any_server: Server) -> None:
    srv = any_server
    owner = await srv.create_user("owner")
    bob = await srv.create_user("bob")
    room = await srv.room(owner, "general", "channel", bob)
    m1 = await srv.post(bob, room, "one")
    m2 = await srv.post(bob, room, "two")

    assert (await srv.request("PUT", f"/api/v1/messages/{m1['id']}/pin", bob)).status_code == 403
    pinned = await srv.ok("PUT", f"/api/v1/messages/{m1['id']}/pin", owner)
    assert pinned["pinned_at"] is not None
    assert pinned["pinned_by"] == owner.id
    await srv.ok("PUT", f"/api/v1/messages/{m2['id']}/pin", owner)
    await srv.ok("PUT", f"/api/v1/messages/{m2['id']}/pin", owner)  # idempotent
    pins = await srv.ok("GET", f"/api/v1/rooms/{room}/pins", bob)
    assert sorted(m["id"] for m in pins) == sorted([m1["id"], m2["id"]])
    unpinned = await srv.ok("DELETE", f"/api/v1/messages/{m1['id']}/pin", owner)
    assert unpinned["pinned_at"] is None
    assert unpinned["pinned_by"] is None
    assert [m["id"] for m in await srv.ok("GET", f"/api/v1/rooms/{room}/pins", bob)] == [m2["id"]]

    # In a DM either side may pin.
    dm = await srv.ok("POST", "/api/v1/dms", bob, json={"user_ids": [owner.id]})
    note = await srv.post(owner, dm["id"], "remember this")
    assert (await srv.ok("PUT", f"/api/v1/messages/{note['id']}/pin", bob))["pinned_by"] == bob.id
    assert [m["id"] for m in await srv.ok("GET", f"/api/v1/rooms/{dm['id']}/pins", owner)] == [
        note["id"]
    ]


async def test_unread_counts_and_read_position(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    room = await srv.room(alice, "general", "channel", bob)
    quiet = await srv.room(alice, "quiet", "channel", bob)

    initial = await _read_state(srv, bob, room)
    assert (initial["unread_count"], initial["mention_count"]) == (0, 0)
    m1 = await srv.post(alice, room, "one")
    m2 = await srv.post(alice, room, "two @bob")
    m3 = await srv.post(alice, room, "three @here")
    await srv.post(bob, room, "my own message doesn't count")
    m5 = await srv.post(alice, room, "five")
    gone = await srv.post(alice, room, "deleted @bob")
    await srv.ok("DELETE", f"/api/v1/messages/{gone['id']}", alice)

    read = await _read_state(srv, bob, room)
    assert (read["unread_count"], read["mention_count"]) == (4, 2)
    assert (await _read_state(srv, alice, room))["unread_count"] == 1
    assert (await _read_state(srv, bob, quiet))["unread_count"] == 0

    state = await srv.ok(
        "PUT", f"/api/v1/rooms/{room}/read", bob, json={"position": m2["position"]}
    )
    assert state == {
        "room_id": room,
        "last_read_position": m2["position"],
        "unread_count": 2,
        "mention_count": 1,
    }
    assert await _read_state(srv, bob, room) == state
    # Never backwards.
    state = await srv.ok(
        "PUT", f"/api/v1/rooms/{room}/read", bob, json={"position": m1["position"]}
    )
    assert state["last_read_position"] == m2["position"]
    state = await srv.ok("PUT", f"/api/v1/rooms/{room}/read", bob, json={"position": 0})
    assert state["last_read_position"] == m2["position"]
    # Never past the room's latest message.
    state = await srv.ok("PUT", f"/api/v1/rooms/{room}/read", bob, json={"position": 2**62})
    assert state["last_read_position"] == gone["position"]
    assert (state["unread_count"], state["mention_count"]) == (0, 0)
    assert m3["position"] < m5["position"] < gone["position"]
    # Other rooms' positions don't leak in: marking "quiet" at a later position clamps to
    # quiet's own latest (nothing posted there: stays put).
    state = await srv.ok("PUT", f"/api/v1/rooms/{quiet}/read", bob, json={"position": 2**62})
    assert state["last_read_position"] == 0

    for body in ({"position": -1}, {"position": "5"}, {"position": 2**62 + 1}, {}):
        resp = await srv.request("PUT", f"/api/v1/rooms/{room}/read", bob, json=body)
        assert resp.status_code == 400, body
    # Only members have a read position.
    carol = await srv.create_user("carol")
    resp = await srv.request("PUT", f"/api/v1/rooms/{room}/read", carol, json={"position": 1})
    assert resp.status_code == 403


async def test_history_pagination(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    room = await srv.room(alice, "general")
    noise = await srv.room(alice, "noise")
    # Seeded through the post action (HTTP is exercised by the other tests), with another
    # room's messages interleaved so that positions have gaps.
    ctx = srv.container.context
    as_alice = await _as(srv, alice)
    posted: list[dict[str, Any]] = []
    for i in range(120):
        view = await do_post_message(
            ctx,
            int(room),
            text=f"message {i}",
            thread_id=None,
            client_id=None,
            file_ids=[],
            acting_user=as_alice,
        )
        posted.append(view.model_dump(mode="json"))
        if i % 10 == 0:
            await srv.post(alice, noise, f"noise {i}")
    positions = [m["position"] for m in posted]
    assert positions == sorted(positions)
    assert len(set(positions)) == 120
    ids = [m["id"] for m in posted]

    # Newest page by default (50), in ascending order.
    newest = await _history(srv, alice, room)
    assert [m["id"] for m in newest] == ids[-50:]
    # Paging backwards through everything yields each message once, in order.
    seen: list[str] = []
    page = await _history(srv, alice, room, limit=17)
    pages = 0
    while page:
        pages += 1
        assert len(page) <= 17
        seen = [m["id"] for m in page] + seen
        page = await _history(srv, alice, room, before=page[0]["position"], limit=17)
    assert seen == ids
    assert pages == 8  # ceil(120 / 17)

    # Forwards with after.
    page = await _history(srv, alice, room, after=positions[9], limit=10)
    assert [m["id"] for m in page] == ids[10:20]
    assert await _history(srv, alice, room, after=positions[-1]) == []
    assert await _history(srv, alice, room, before=positions[0]) == []
    # before + after: a window, newest end.
    page = await _history(srv, alice, room, after=positions[4], before=positions[30], limit=10)
    assert [m["id"] for m in page] == ids[20:30]
    # Around a position: the message itself with older and newer ones.
    page = await _history(srv, alice, room, around=positions[60], limit=10)
    assert [m["id"] for m in page] == ids[55:65]
    page = await _history(srv, alice, room, around=positions[1], limit=10)
    assert [m["id"] for m in page] == ids[0:10]  # fewer older ones: more newer ones
    # Limits.
    assert [m["id"] for m in await _history(srv, alice, room, limit=200)] == ids
    assert len(await _history(srv, alice, room, limit=1)) == 1
    for params in ({"limit": 0}, {"limit": 201}, {"before": -1}, {"around": 5, "before": 9}):
        resp = await srv.request("GET", f"/api/v1/rooms/{room}/messages", alice, params=params)
        assert resp.status_code == 400, (params, resp.text)
