"""Rooms and membership over real HTTP, on both deployments (SQLite and PostgreSQL+Redis).

Covers creation rules, the caller's room list, topic and archive, join / leave / invite /
kick, member roles, and direct messages (one room per set of people, in any order).
"""

from __future__ import annotations

from typing import Any

import httpx

from redoubt.domain.enums import UserRole
from tests.harness import Server, User


def _error_code(resp: httpx.Response) -> str:
    body: dict[str, Any] = resp.json()
    return str(body["error"]["code"])


async def _my_room_ids(server: Server, user: User) -> list[str]:
    rooms = await server.ok("GET", "/api/v1/rooms", user)
    return [entry["room"]["id"] for entry in rooms]


async def _member_roles(server: Server, user: User, room_id: str) -> dict[str, str]:
    members = await server.ok("GET", f"/api/v1/rooms/{room_id}/members", user)
    return {m["user_id"]: m["role"] for m in members}


async def test_create_rooms_name_rules_and_topic(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")

    resp = await srv.request(
        "POST", "/api/v1/rooms", alice, json={"name": "General", "kind": "channel", "topic": "hi"}
    )
    assert resp.status_code == 201, resp.text
    general = resp.json()
    assert general["name"] == "general"  # names are case-insensitive, stored lower-case
    assert general["kind"] == "channel"
    assert general["topic"] == "hi"
    assert general["archived"] is False
    assert general["created_by"] == alice.id
    assert general["member_count"] == 1
    assert general["dm_user_ids"] == []
    assert await _member_roles(srv, alice, general["id"]) == {alice.id: "owner"}

    private = await srv.ok(
        "POST", "/api/v1/rooms", alice, json={"name": "ops_team-2", "kind": "private"}
    )
    assert private["kind"] == "private"
    assert private["topic"] == ""

    # Valid names at the edges: one character, 64 characters.
    for name in ("x", "9" + "a" * 63):
        resp = await srv.request(
            "POST", "/api/v1/rooms", alice, json={"name": name, "kind": "channel"}
        )
        assert resp.status_code == 201, (name, resp.text)

    for bad in (
        "",
        "-leading",
        "_leading",
        "has space",
        "dot.name",
        "slash/name",
        "é",
        "a" * 65,
        "tab\tname",
        "nul\x00name",
    ):
        resp = await srv.request(
            "POST", "/api/v1/rooms", alice, json={"name": bad, "kind": "channel"}
        )
        assert resp.status_code == 400, (bad, resp.text)
        assert _error_code(resp) == "invalid_request"

    # Duplicate names conflict whatever their case or kind.
    for dup, kind in (("general", "channel"), ("GENERAL", "private"), ("ops_team-2", "channel")):
        resp = await srv.request("POST", "/api/v1/rooms", alice, json={"name": dup, "kind": kind})
        assert resp.status_code == 409, (dup, resp.text)
        assert _error_code(resp) == "name_taken"

    # DMs are not created through /rooms; unknown kinds are rejected.
    for kind in ("dm", "public", ""):
        resp = await srv.request("POST", "/api/v1/rooms", alice, json={"name": "zz", "kind": kind})
        assert resp.status_code == 400, (kind, resp.text)

    # Topic limit: 512 characters.
    resp = await srv.request(
        "POST", "/api/v1/rooms", alice, json={"name": "long", "kind": "channel", "topic": "t" * 513}
    )
    assert resp.status_code == 400
    resp = await srv.request(
        "POST", "/api/v1/rooms", alice, json={"name": "long", "kind": "channel", "topic": "t" * 512}
    )
    assert resp.status_code == 201

    # Nothing that failed was created.
    names = {e["room"]["name"] for e in await srv.ok("GET", "/api/v1/rooms", alice)}
    assert names == {"general", "ops_team-2", "x", "9" + "a" * 63, "long"}


async def test_guests_cannot_create_rooms_or_dms(any_server: Server) -> None:
    srv = any_server
    guest = await srv.create_user("guest1", role=UserRole.GUEST)
    alice = await srv.create_user("alice")
    for kind in ("channel", "private"):
        resp = await srv.request(
            "POST", "/api/v1/rooms", guest, json={"name": f"g-{kind}", "kind": kind}
        )
        assert resp.status_code == 403, resp.text
        assert _error_code(resp) == "forbidden"
    resp = await srv.request("POST", "/api/v1/dms", guest, json={"user_ids": [alice.id]})
    assert resp.status_code == 403
    assert await _my_room_ids(srv, guest) == []
    # A guest doesn't even see public channels it wasn't invited to.
    channel = await srv.room(alice, "lobby")
    resp = await srv.request("GET", f"/api/v1/rooms/{channel}", guest)
    assert resp.status_code == 404
    resp = await srv.request("POST", f"/api/v1/rooms/{channel}/join", guest)
    assert resp.status_code == 404


async def test_list_get_and_visibility(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    channel = await srv.room(alice, "general")
    private = await srv.room(alice, "secret", "private")
    bobs = await srv.room(bob, "bobs-room", "private")

    assert set(await _my_room_ids(srv, alice)) == {channel, private}
    assert await _my_room_ids(srv, bob) == [bobs]

    # Newest activity first.
    await srv.post(alice, private, "ping")
    assert (await _my_room_ids(srv, alice))[0] == private
    await srv.post(alice, channel, "pong")
    assert (await _my_room_ids(srv, alice))[0] == channel

    # A public channel is visible to any user; a private room is indistinguishable from
    # a room that doesn't exist for a non-member.
    got = await srv.ok("GET", f"/api/v1/rooms/{channel}", bob)
    assert got["id"] == channel
    assert got["name"] == "general"
    hidden = await srv.request("GET", f"/api/v1/rooms/{private}", bob)
    missing = await srv.request("GET", "/api/v1/rooms/123456789012", bob)
    assert hidden.status_code == missing.status_code == 404
    assert _error_code(hidden) == _error_code(missing) == "not_found"
    for path in (f"/api/v1/rooms/{private}/members", f"/api/v1/rooms/{private}/messages"):
        assert (await srv.request("GET", path, bob)).status_code == 404
    # Anonymous callers learn nothing. (A fresh client: the harness's client keeps the
    # session cookie of the last login.)
    async with httpx.AsyncClient(base_url=srv.base_url) as anonymous:
        assert (await anonymous.get(f"/api/v1/rooms/{channel}")).status_code == 401
        assert (await anonymous.get("/api/v1/rooms")).status_code == 401


async def test_topic_archive_and_unarchive(any_server: Server) -> None:
    srv = any_server
    owner = await srv.create_user("owner")
    mod = await srv.create_user("mod")
    member = await srv.create_user("member")
    room = await srv.room(owner, "general", "channel", mod, member)
    await srv.ok(
        "PATCH", f"/api/v1/rooms/{room}/members/{mod.id}", owner, json={"role": "moderator"}
    )
    first = await srv.post(member, room, "before archive")

    # Topic: moderators and owners; not plain members.
    got = await srv.ok("PATCH", f"/api/v1/rooms/{room}", mod, json={"topic": "Release week"})
    assert got["topic"] == "Release week"
    resp = await srv.request("PATCH", f"/api/v1/rooms/{room}", member, json={"topic": "mine"})
    assert resp.status_code == 403
    resp = await srv.request("PATCH", f"/api/v1/rooms/{room}", owner, json={"topic": "x" * 513})
    assert resp.status_code == 400
    assert (await srv.ok("GET", f"/api/v1/rooms/{room}", member))["topic"] == "Release week"

    # Archive: owners only.
    resp = await srv.request("PATCH", f"/api/v1/rooms/{room}", mod, json={"archived": True})
    assert resp.status_code == 403
    got = await srv.ok("PATCH", f"/api/v1/rooms/{room}", owner, json={"archived": True})
    assert got["archived"] is True

    # An archived room is read-only: no posts, reactions, edits or topic changes.
    resp = await srv.request("POST", f"/api/v1/rooms/{room}/messages", member, json={"text": "hey"})
    assert resp.status_code == 403
    assert _error_code(resp) == "room_archived"
    resp = await srv.request("PUT", f"/api/v1/messages/{first['id']}/reactions/thumbsup", member)
    assert resp.status_code == 403
    assert _error_code(resp) == "room_archived"
    resp = await srv.request("PATCH", f"/api/v1/messages/{first['id']}", member, json={"text": "e"})
    assert resp.status_code == 403
    assert _error_code(resp) == "room_archived"
    resp = await srv.request("PATCH", f"/api/v1/rooms/{room}", owner, json={"topic": "new"})
    assert resp.status_code == 403
    assert _error_code(resp) == "room_archived"
    # ... but still readable.
    history = await srv.ok("GET", f"/api/v1/rooms/{room}/messages", member)
    assert [m["text"] for m in history] == ["before archive"]
    assert history[0]["reactions"] == []

    got = await srv.ok("PATCH", f"/api/v1/rooms/{room}", owner, json={"archived": False})
    assert got["archived"] is False
    posted = await srv.post(member, room, "after unarchive")
    assert posted["text"] == "after unarchive"
    reacted = await srv.ok("PUT", f"/api/v1/messages/{first['id']}/reactions/thumbsup", member)
    assert reacted["reactions"] == [{"emoji": "thumbsup", "user_ids": [member.id]}]


async def test_join_leave_and_invite(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    carol = await srv.create_user("carol")
    channel = await srv.room(alice, "general")
    private = await srv.room(alice, "secret", "private")

    # Join a public channel (idempotent); a private group can't be joined.
    joined = await srv.ok("POST", f"/api/v1/rooms/{channel}/join", bob)
    assert joined["member_count"] == 2
    joined = await srv.ok("POST", f"/api/v1/rooms/{channel}/join", bob)
    assert joined["member_count"] == 2
    assert (await srv.request("POST", f"/api/v1/rooms/{private}/join", bob)).status_code == 404
    assert channel in await _my_room_ids(srv, bob)
    assert (await _member_roles(srv, bob, channel))[bob.id] == "member"

    # Any channel member may invite into a channel.
    await srv.ok("POST", f"/api/v1/rooms/{channel}/members", bob, json={"user_id": carol.id})
    assert set(await _member_roles(srv, alice, channel)) == {alice.id, bob.id, carol.id}

    # Private groups: moderators invite; members can't; outsiders get 404.
    resp = await srv.request(
        "POST", f"/api/v1/rooms/{private}/members", bob, json={"user_id": carol.id}
    )
    assert resp.status_code == 404
    await srv.ok("POST", f"/api/v1/rooms/{private}/members", alice, json={"user_id": bob.id})
    resp = await srv.request(
        "POST", f"/api/v1/rooms/{private}/members", bob, json={"user_id": carol.id}
    )
    assert resp.status_code == 403
    assert private not in await _my_room_ids(srv, carol)
    # Inviting twice is harmless; inviting a user that doesn't exist is 404.
    again = await srv.ok(
        "POST", f"/api/v1/rooms/{private}/members", alice, json={"user_id": bob.id}
    )
    assert again["member_count"] == 2
    resp = await srv.request(
        "POST", f"/api/v1/rooms/{private}/members", alice, json={"user_id": "987654321"}
    )
    assert resp.status_code == 404

    # Leave, by either endpoint; afterwards the private room is gone for the leaver.
    resp = await srv.request("POST", f"/api/v1/rooms/{private}/leave", bob)
    assert resp.status_code == 204
    assert (await srv.request("GET", f"/api/v1/rooms/{private}", bob)).status_code == 404
    assert private not in await _my_room_ids(srv, bob)
    resp = await srv.request("DELETE", f"/api/v1/rooms/{channel}/members/{carol.id}", carol)
    assert resp.status_code == 204
    assert set(await _member_roles(srv, alice, channel)) == {alice.id, bob.id}
    # A non-member can't post; leaving a room one isn't in is refused.
    resp = await srv.request("POST", f"/api/v1/rooms/{channel}/messages", carol, json={"text": "x"})
    assert resp.status_code == 403
    assert (await srv.request("POST", f"/api/v1/rooms/{channel}/leave", carol)).status_code == 403


async def test_kick_rules(any_server: Server) -> None:
    srv = any_server
    owner = await srv.create_user("owner")
    mod = await srv.create_user("mod")
    mod2 = await srv.create_user("mod2")
    member = await srv.create_user("member")
    other = await srv.create_user("other")
    room = await srv.room(owner, "team", "private", mod, mod2, member, other)
    for m in (mod, mod2):
        await srv.ok(
            "PATCH", f"/api/v1/rooms/{room}/members/{m.id}", owner, json={"role": "moderator"}
        )

    def kick(actor: User, target: User) -> Any:
        return srv.request("DELETE", f"/api/v1/rooms/{room}/members/{target.id}", actor)

    assert (await kick(member, other)).status_code == 403  # members can't kick
    assert (await kick(mod, owner)).status_code == 403  # moderators can't kick owners
    assert (await kick(mod, mod2)).status_code == 403  # ... nor their peers
    assert (await kick(mod, other)).status_code == 204  # ... but members, yes
    assert (await kick(owner, mod2)).status_code == 204  # owners kick moderators
    assert (await kick(owner, other)).status_code == 404  # not a member any more
    assert set(await _member_roles(srv, owner, room)) == {owner.id, mod.id, member.id}
    # The kicked can no longer see the private room.
    assert (await srv.request("GET", f"/api/v1/rooms/{room}", mod2)).status_code == 404
    assert room not in await _my_room_ids(srv, other)


async def test_member_roles_and_last_owner(any_server: Server) -> None:
    srv = any_server
    owner = await srv.create_user("owner")
    bob = await srv.create_user("bob")
    carol = await srv.create_user("carol")
    room = await srv.room(owner, "team", "private", bob, carol)
    path = f"/api/v1/rooms/{room}/members"

    # The only owner can't step down.
    resp = await srv.request("PATCH", f"{path}/{owner.id}", owner, json={"role": "member"})
    assert resp.status_code == 400
    # Only owners set roles.
    resp = await srv.request("PATCH", f"{path}/{carol.id}", bob, json={"role": "moderator"})
    assert resp.status_code == 403
    await srv.ok("PATCH", f"{path}/{bob.id}", owner, json={"role": "moderator"})
    resp = await srv.request("PATCH", f"{path}/{carol.id}", bob, json={"role": "moderator"})
    assert resp.status_code == 403  # moderators can't either
    resp = await srv.request("PATCH", f"{path}/{owner.id}", owner, json={"role": "admin"})
    assert resp.status_code == 400  # not a room role
    resp = await srv.request("PATCH", f"{path}/987654321", owner, json={"role": "member"})
    assert resp.status_code == 404

    # With a second owner, the first may step down, and then has no owner rights.
    await srv.ok("PATCH", f"{path}/{carol.id}", owner, json={"role": "owner"})
    await srv.ok("PATCH", f"{path}/{owner.id}", owner, json={"role": "member"})
    assert await _member_roles(srv, carol, room) == {
        owner.id: "member",
        bob.id: "moderator",
        carol.id: "owner",
    }
    resp = await srv.request("PATCH", f"{path}/{bob.id}", owner, json={"role": "member"})
    assert resp.status_code == 403
    resp = await srv.request("PATCH", f"{path}/{carol.id}", carol, json={"role": "member"})
    assert resp.status_code == 400  # carol is now the last owner
    # The room list shows each member's role.
    entries = {e["room"]["id"]: e for e in await srv.ok("GET", "/api/v1/rooms", bob)}
    assert entries[room]["role"] == "moderator"

    # The last owner leaving hands the room over: moderators before members (even older
    # ones), so a room with members always has an owner who can manage it.
    resp = await srv.request("POST", f"/api/v1/rooms/{room}/leave", carol)
    assert resp.status_code == 204
    assert await _member_roles(srv, bob, room) == {owner.id: "member", bob.id: "owner"}
    assert (await srv.ok("PATCH", f"/api/v1/rooms/{room}", bob, json={"archived": True}))[
        "archived"
    ]
    # ... and with only members left, the longest-standing one.
    solo = await srv.room(carol, "solo", "private", owner, bob)
    await srv.ok("POST", f"/api/v1/rooms/{solo}/leave", carol)
    assert await _member_roles(srv, bob, solo) == {owner.id: "owner", bob.id: "member"}
    await srv.ok("POST", f"/api/v1/rooms/{solo}/leave", bob)
    await srv.ok("POST", f"/api/v1/rooms/{solo}/leave", owner)  # the last one out
    assert solo not in await _my_room_ids(srv, owner)


async def test_direct_messages(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    carol = await srv.create_user("carol")
    admin = await srv.create_user("root", role=UserRole.ADMIN)

    # 1:1: created once, then the same room whoever opens it.
    resp = await srv.request("POST", "/api/v1/dms", alice, json={"user_ids": [bob.id]})
    assert resp.status_code == 201, resp.text
    dm = resp.json()
    assert dm["created"] is True
    assert dm["kind"] == "dm"
    assert dm["name"] is None
    assert sorted(dm["dm_user_ids"]) == sorted([alice.id, bob.id])
    assert dm["member_count"] == 2
    for actor, ids in (
        (alice, [bob.id]),
        (bob, [alice.id]),
        (bob, [alice.id, bob.id]),
        (alice, [bob.id, bob.id]),
    ):
        resp = await srv.request("POST", "/api/v1/dms", actor, json={"user_ids": ids})
        assert resp.status_code == 200, resp.text
        assert resp.json()["id"] == dm["id"]
        assert resp.json()["created"] is False

    # Group DM: a different room from the 1:1, same for every order and opener.
    resp = await srv.request("POST", "/api/v1/dms", alice, json={"user_ids": [bob.id, carol.id]})
    assert resp.status_code == 201
    group = resp.json()
    assert group["id"] != dm["id"]
    assert group["member_count"] == 3
    for actor, ids in (
        (carol, [bob.id, alice.id]),
        (bob, [carol.id, alice.id]),
        (alice, [carol.id, bob.id]),
    ):
        resp = await srv.request("POST", "/api/v1/dms", actor, json={"user_ids": ids})
        assert resp.status_code == 200
        assert resp.json()["id"] == group["id"]
        assert resp.json()["created"] is False

    # The members see the DMs in their room list and can talk; outsiders see nothing.
    assert {dm["id"], group["id"]} <= set(await _my_room_ids(srv, bob))
    assert dm["id"] not in await _my_room_ids(srv, carol)
    await srv.post(bob, dm["id"], "hi alice")
    for outsider in (carol, admin):  # admins don't read other people's DMs
        assert (await srv.request("GET", f"/api/v1/rooms/{dm['id']}", outsider)).status_code == 404
        resp = await srv.request("GET", f"/api/v1/rooms/{dm['id']}/messages", outsider)
        assert resp.status_code == 404
    # Nobody joins, leaves, or is invited into a DM.
    resp = await srv.request(
        "POST", f"/api/v1/rooms/{dm['id']}/members", alice, json={"user_id": carol.id}
    )
    assert resp.status_code == 403
    assert (await srv.request("POST", f"/api/v1/rooms/{dm['id']}/join", carol)).status_code == 404
    assert (await srv.request("POST", f"/api/v1/rooms/{dm['id']}/leave", alice)).status_code == 403

    # A user that doesn't exist, or is deactivated, can't be DMed (404, nothing created).
    resp = await srv.request("POST", "/api/v1/dms", alice, json={"user_ids": ["987654321"]})
    assert resp.status_code == 404
    dave = await srv.create_user("dave")
    await srv.ok("POST", f"/api/v1/users/{dave.id}/deactivate", admin)
    resp = await srv.request("POST", "/api/v1/dms", alice, json={"user_ids": [dave.id]})
    assert resp.status_code == 404
    resp = await srv.request("POST", "/api/v1/dms", alice, json={"user_ids": [bob.id, dave.id]})
    assert resp.status_code == 404
    assert set(await _my_room_ids(srv, alice)) == {dm["id"], group["id"]}
    # Bad shapes are 400.
    bad_bodies: list[dict[str, Any]] = [
        {"user_ids": []},
        {"user_ids": bob.id},
        {"user_ids": [{"id": bob.id}]},
        {"user_ids": [bob.id], "name": "x"},
    ]
    for body in bad_bodies:
        assert (await srv.request("POST", "/api/v1/dms", alice, json=body)).status_code == 400


async def test_reopen_and_retopic_in_one_request_is_one_change(server: Server) -> None:
    owner = await server.create_user("owner")
    admin = await server.create_user("root", role=UserRole.ADMIN)
    room = await server.room(owner, "reopened", "private")
    await server.ok("PATCH", f"/api/v1/rooms/{room}", owner, json={"archived": True})
    async with server.events(owner) as stream:
        view = await server.ok(
            "PATCH", f"/api/v1/rooms/{room}", owner, json={"archived": False, "topic": "back"}
        )
        event = await stream.next_event()
        await stream.ws.send('{"type": "ping"}')
        rest = [f for f in await stream.drain() if "seq" in f]
    assert (view["archived"], view["topic"]) == (False, "back")
    assert event["type"] == "room.updated"
    assert event["data"]["room"] == view
    assert rest == []  # one event for both changes
    audit = await server.ok(
        "GET", "/api/v1/admin/audit", admin, params={"action": "room.unarchive"}
    )
    assert [a["target_id"] for a in audit] == [room]
