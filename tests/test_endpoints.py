"""Every endpoint of the OpenAPI spec: its allowed case and its denials.

``ENDPOINTS`` names each route of ``GET /api/v1/openapi.json`` with

* an allowed request, run and checked for its effect;
* the denials every protected route must give: 401 without credentials and for a
  deactivated user's token; 404 for a member of another room where the route reaches
  into a room (private here) the caller is not in; 403 for non-admins on admin routes.

The meta-test compares the table with the served spec, so a new endpoint without an
entry here fails the build (and so does an entry for a route that went away).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets

from redoubt.domain.enums import UserRole
from tests.harness import PASSWORD, EventClient, Server, User

API = "/api/v1"
EMOJI = "thumbs_up"
FILE_BYTES = b"%PDF-1.4\n% endpoint test\n"


async def send(
    srv: Server, method: str, path: str, user: User | None = None, **kwargs: Any
) -> httpx.Response:
    """A request as ``user`` only: the harness's client keeps the session cookie of the
    last login, which would quietly authenticate "anonymous" requests."""
    srv.http.cookies.clear()
    return await srv.request(method, path, user, **kwargs)


@dataclass
class World:
    srv: Server
    admin: User
    alice: User
    """Owner of ``room`` and ``channel``."""
    bob: User
    """Member of ``room``."""
    olga: User
    """Member of another private room only: the "member of another room"."""
    target: User
    """An account the admin routes act on (in the denial loops)."""
    deactivated: User
    """Was a member of ``room``; token issued before the deactivation."""
    room: str
    """A private group."""
    channel: str
    message: str
    """Alice's message in ``room``: edited once, one reply, a reaction, pinned."""
    reply: str
    file: str
    """A file attached to a message in ``room``."""
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    async def fresh_user(self) -> User:
        return await self.srv.create_user(self.name("fresh"))

    async def fresh_message(self, author: User, *, pinned: bool = False) -> str:
        msg = await self.srv.post(author, self.room, self.name("fresh message "))
        if pinned:
            await self.srv.ok("PUT", f"{API}/messages/{msg['id']}/pin", self.alice)
        return str(msg["id"])

    async def fresh_member(self) -> User:
        user = await self.srv.create_user(self.name("member"))
        await self.srv.ok(
            "POST", f"{API}/rooms/{self.room}/members", self.alice, json={"user_id": user.id}
        )
        return user


async def build_world(srv: Server) -> World:
    admin = await srv.create_user("admin", role=UserRole.ADMIN)
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    olga = await srv.create_user("olga")
    target = await srv.create_user("target")
    deactivated = await srv.create_user("dee")
    room = await srv.room(alice, "ep-room", "private", bob, deactivated)
    await srv.room(olga, "olgas-room", "private")
    channel = await srv.room(alice, "ep-channel", "channel")
    msg = await srv.post(alice, room, "endpointword first")
    await srv.ok(
        "PATCH", f"{API}/messages/{msg['id']}", alice, json={"text": "endpointword second"}
    )
    reply = await srv.post(bob, room, "a reply", thread_id=msg["id"])
    await srv.ok("PUT", f"{API}/messages/{msg['id']}/reactions/{EMOJI}", bob)
    await srv.ok("PUT", f"{API}/messages/{msg['id']}/pin", alice)
    upload = await srv.upload(alice, room, "doc.pdf", FILE_BYTES)
    await srv.post(alice, room, "file", file_ids=[upload["id"]])
    await srv.ok("POST", f"{API}/users/{deactivated.id}/deactivate", admin)
    return World(
        srv,
        admin,
        alice,
        bob,
        olga,
        target,
        deactivated,
        room,
        channel,
        msg["id"],
        reply["id"],
        upload["id"],
    )


@dataclass
class Req:
    """A request an allowed caller makes, and what must come back."""

    actor: User | None
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    check: Callable[[httpx.Response], Awaitable[None]] | None = None


Factory = Callable[[World], Awaitable[Req]]


@dataclass(frozen=True)
class Entry:
    allowed: Factory
    outsider: int | None = None
    """The status for a member of another room (None: the route is not room-scoped)."""
    admin_only: bool = False
    public: bool = False
    """Deliberately reachable without credentials."""


# --- allowed cases -----------------------------------------------------------------


async def _login(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        body = r.json()
        assert body["user"]["id"] == w.bob.id
        assert body["token"]
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        token_user = User(w.bob.id, "bob", body["token"], "user")
        assert (await send(w.srv, "GET", f"{API}/users/me", token_user)).status_code == 200
        wrong = await send(
            w.srv,
            "POST",
            f"{API}/auth/login",
            json={"username": "bob", "password": "wrong password!"},
        )
        unknown = await send(
            w.srv,
            "POST",
            f"{API}/auth/login",
            json={"username": "nobody", "password": "wrong password!"},
        )
        for denied in (wrong, unknown):
            assert denied.status_code == 401
            assert denied.json()["error"]["message"] == "Invalid username or password."
            assert "set-cookie" not in denied.headers

    return Req(
        None, f"{API}/auth/login", {"json": {"username": "bob", "password": PASSWORD}}, check=check
    )


async def _logout(w: World) -> Req:
    resp = await send(
        w.srv, "POST", f"{API}/auth/login", json={"username": "bob", "password": PASSWORD}
    )
    session = User(w.bob.id, "bob", resp.json()["token"], "user")

    async def check(r: httpx.Response) -> None:
        after = await send(w.srv, "GET", f"{API}/users/me", session)
        assert after.status_code == 401
        # Only that session ended.
        assert (await send(w.srv, "GET", f"{API}/users/me", w.bob)).status_code == 200

    return Req(session, f"{API}/auth/logout", status=204, check=check)


async def _me(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json() == {
            "id": w.bob.id,
            "username": "bob",
            "display_name": "Bob",
            "role": "user",
            "is_active": True,
        }

    return Req(w.bob, f"{API}/users/me", check=check)


async def _update_me(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert r.json()["display_name"] == "New Name"
        me = await w.srv.ok("GET", f"{API}/users/me", user)
        assert me["display_name"] == "New Name"

    return Req(user, f"{API}/users/me", {"json": {"display_name": "New Name"}}, check=check)


async def _find_users(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json() == [{"id": w.alice.id, "username": "alice", "display_name": "Alice"}]

    return Req(w.bob, f"{API}/users", {"params": {"username": "alice"}}, check=check)


async def _get_user(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json() == {"id": w.alice.id, "username": "alice", "display_name": "Alice"}

    return Req(w.bob, f"{API}/users/{w.alice.id}", check=check)


async def _create_user(w: World) -> Req:
    username = w.name("created")

    async def check(r: httpx.Response) -> None:
        assert (r.json()["username"], r.json()["role"]) == (username, "guest")
        login = await send(
            w.srv, "POST", f"{API}/auth/login", json={"username": username, "password": PASSWORD}
        )
        assert login.status_code == 200
        assert login.json()["user"]["role"] == "guest"

    return Req(
        w.admin,
        f"{API}/users",
        {"json": {"username": username, "password": PASSWORD, "role": "guest"}},
        status=201,
        check=check,
    )


async def _set_user_role(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert (r.json()["id"], r.json()["role"]) == (user.id, "guest")
        # A privilege change ends the account's sessions.
        assert (await send(w.srv, "GET", f"{API}/users/me", user)).status_code == 401

    return Req(w.admin, f"{API}/users/{user.id}", {"json": {"role": "guest"}}, check=check)


async def _deactivate(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert (r.json()["id"], r.json()["is_active"]) == (user.id, False)
        assert (await send(w.srv, "GET", f"{API}/users/me", user)).status_code == 401

    return Req(w.admin, f"{API}/users/{user.id}/deactivate", check=check)


async def _presence(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert isinstance(r.json(), list)
        async with w.srv.events(w.alice):
            online = await w.srv.ok("GET", f"{API}/presence", w.bob)
        assert w.alice.id in online

    return Req(w.bob, f"{API}/presence", check=check)


async def _my_rooms(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        mine = {m["room"]["id"]: m["role"] for m in r.json()}
        assert mine == {w.room: "member"}

    return Req(w.bob, f"{API}/rooms", check=check)


async def _create_room(w: World) -> Req:
    name = w.name("made-")

    async def check(r: httpx.Response) -> None:
        assert (r.json()["name"], r.json()["kind"]) == (name, "private")
        mine = await w.srv.ok("GET", f"{API}/rooms", w.olga)
        assert {m["room"]["id"]: m["role"] for m in mine}[r.json()["id"]] == "owner"

    return Req(
        w.olga, f"{API}/rooms", {"json": {"name": name, "kind": "private"}}, status=201, check=check
    )


async def _get_room(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert (r.json()["id"], r.json()["kind"], r.json()["name"]) == (
            w.room,
            "private",
            "ep-room",
        )

    return Req(w.bob, f"{API}/rooms/{w.room}", check=check)


async def _update_room(w: World) -> Req:
    topic = w.name("topic ")

    async def check(r: httpx.Response) -> None:
        assert r.json()["topic"] == topic
        assert (await w.srv.ok("GET", f"{API}/rooms/{w.room}", w.bob))["topic"] == topic

    return Req(w.alice, f"{API}/rooms/{w.room}", {"json": {"topic": topic}}, check=check)


async def _members_of(w: World, room: str) -> dict[str, str]:
    members = await w.srv.ok("GET", f"{API}/rooms/{room}/members", w.alice)
    return {m["user_id"]: m["role"] for m in members}


async def _join(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert r.json()["id"] == w.channel
        assert (await _members_of(w, w.channel))[user.id] == "member"

    return Req(user, f"{API}/rooms/{w.channel}/join", check=check)


async def _leave(w: World) -> Req:
    user = await w.fresh_member()

    async def check(r: httpx.Response) -> None:
        assert user.id not in await _members_of(w, w.room)

    return Req(user, f"{API}/rooms/{w.room}/leave", status=204, check=check)


async def _list_members(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        members = {m["user_id"]: m["role"] for m in r.json()}
        assert (members[w.alice.id], members[w.bob.id]) == ("owner", "member")

    return Req(w.bob, f"{API}/rooms/{w.room}/members", check=check)


async def _add_member(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert (await _members_of(w, w.room))[user.id] == "member"

    return Req(
        w.alice, f"{API}/rooms/{w.room}/members", {"json": {"user_id": user.id}}, check=check
    )


async def _remove_member(w: World) -> Req:
    user = await w.fresh_member()

    async def check(r: httpx.Response) -> None:
        assert user.id not in await _members_of(w, w.room)

    return Req(w.alice, f"{API}/rooms/{w.room}/members/{user.id}", status=204, check=check)


async def _set_member_role(w: World) -> Req:
    user = await w.fresh_member()

    async def check(r: httpx.Response) -> None:
        assert (await _members_of(w, w.room))[user.id] == "moderator"

    return Req(
        w.alice,
        f"{API}/rooms/{w.room}/members/{user.id}",
        {"json": {"role": "moderator"}},
        status=204,
        check=check,
    )


async def _mark_read(w: World) -> Req:
    await w.fresh_message(w.alice)

    async def check(r: httpx.Response) -> None:
        assert (r.json()["room_id"], r.json()["unread_count"]) == (w.room, 0)
        mine = await w.srv.ok("GET", f"{API}/rooms", w.bob)
        assert mine[0]["read"] == r.json()

    return Req(w.bob, f"{API}/rooms/{w.room}/read", {"json": {"position": 2**40}}, check=check)


async def _open_dm(w: World) -> Req:
    user = await w.fresh_user()

    async def check(r: httpx.Response) -> None:
        assert (r.json()["created"], r.json()["kind"]) == (True, "dm")
        again = await send(w.srv, "POST", f"{API}/dms", w.bob, json={"user_ids": [user.id]})
        assert again.status_code == 200
        assert (again.json()["id"], again.json()["created"]) == (r.json()["id"], False)

    return Req(w.bob, f"{API}/dms", {"json": {"user_ids": [user.id]}}, status=201, check=check)


async def _post_message(w: World) -> Req:
    client_id = w.name("client-")

    async def check(r: httpx.Response) -> None:
        assert (r.json()["text"], r.json()["author_id"]) == ("hello", w.bob.id)
        again = await w.srv.ok(
            "POST",
            f"{API}/rooms/{w.room}/messages",
            w.bob,
            json={"text": "hello", "client_id": client_id},
        )
        assert again["id"] == r.json()["id"]

    return Req(
        w.bob,
        f"{API}/rooms/{w.room}/messages",
        {"json": {"text": "hello", "client_id": client_id}},
        status=201,
        check=check,
    )


async def _history(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        ids = [m["id"] for m in r.json()]
        assert {w.message, w.reply} <= set(ids)
        positions = [m["position"] for m in r.json()]
        assert positions == sorted(positions)

    return Req(w.bob, f"{API}/rooms/{w.room}/messages", check=check)


async def _pins(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert w.message in [m["id"] for m in r.json()]

    return Req(w.bob, f"{API}/rooms/{w.room}/pins", check=check)


async def _get_message(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        body = r.json()
        assert (body["id"], body["text"], body["reply_count"]) == (
            w.message,
            "endpointword second",
            1,
        )

    return Req(w.bob, f"{API}/messages/{w.message}", check=check)


async def _edit_message(w: World) -> Req:
    message = await w.fresh_message(w.bob)

    async def check(r: httpx.Response) -> None:
        assert r.json()["text"] == "changed"
        assert r.json()["edited_at"] is not None

    return Req(w.bob, f"{API}/messages/{message}", {"json": {"text": "changed"}}, check=check)


async def _delete_message(w: World) -> Req:
    message = await w.fresh_message(w.bob)

    async def check(r: httpx.Response) -> None:
        assert (r.json()["deleted"], r.json()["text"]) == (True, "")
        got = await w.srv.ok("GET", f"{API}/messages/{message}", w.alice)
        assert got["deleted"] is True

    return Req(w.bob, f"{API}/messages/{message}", check=check)


async def _thread(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert [m["id"] for m in r.json()] == [w.reply]

    return Req(w.bob, f"{API}/messages/{w.message}/thread", check=check)


async def _edits(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert [(e["editor_id"], e["previous_text"]) for e in r.json()] == [
            (w.alice.id, "endpointword first")
        ]

    return Req(w.bob, f"{API}/messages/{w.message}/edits", check=check)


async def _add_reaction(w: World) -> Req:
    message = await w.fresh_message(w.alice)

    async def check(r: httpx.Response) -> None:
        assert r.json()["reactions"] == [{"emoji": EMOJI, "user_ids": [w.bob.id]}]

    return Req(w.bob, f"{API}/messages/{message}/reactions/{EMOJI}", check=check)


async def _remove_reaction(w: World) -> Req:
    message = await w.fresh_message(w.alice)
    await w.srv.ok("PUT", f"{API}/messages/{message}/reactions/{EMOJI}", w.bob)

    async def check(r: httpx.Response) -> None:
        assert r.json()["reactions"] == []

    return Req(w.bob, f"{API}/messages/{message}/reactions/{EMOJI}", check=check)


async def _pin(w: World) -> Req:
    message = await w.fresh_message(w.bob)

    async def check(r: httpx.Response) -> None:
        assert r.json()["pinned_by"] == w.alice.id
        pins = await w.srv.ok("GET", f"{API}/rooms/{w.room}/pins", w.bob)
        assert message in [m["id"] for m in pins]

    return Req(w.alice, f"{API}/messages/{message}/pin", check=check)


async def _unpin(w: World) -> Req:
    message = await w.fresh_message(w.bob, pinned=True)

    async def check(r: httpx.Response) -> None:
        assert r.json()["pinned_at"] is None
        pins = await w.srv.ok("GET", f"{API}/rooms/{w.room}/pins", w.bob)
        assert message not in [m["id"] for m in pins]

    return Req(w.alice, f"{API}/messages/{message}/pin", check=check)


async def _search(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert [m["id"] for m in r.json()] == [w.message]

    return Req(
        w.bob, f"{API}/search", {"params": {"q": "endpointword", "room_id": w.room}}, check=check
    )


async def _upload(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        body = r.json()
        assert (body["room_id"], body["filename"], body["size"], body["content_type"]) == (
            w.room,
            "report.pdf",
            len(FILE_BYTES),
            "application/pdf",
        )

    return Req(
        w.bob,
        f"{API}/rooms/{w.room}/files",
        {"files": {"file": ("report.pdf", FILE_BYTES, "text/html")}},
        status=201,
        check=check,
    )


async def _download(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.content == FILE_BYTES
        assert r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff"

    return Req(w.bob, f"{API}/files/{w.file}", check=check)


async def _audit(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        entries = r.json()
        actions = {e["action"] for e in entries}
        assert {"user.deactivate", "room.create", "auth.login"} <= actions
        deactivation = next(
            e
            for e in entries
            if e["action"] == "user.deactivate" and e["target_id"] == w.deactivated.id
        )
        assert deactivation["actor_id"] == w.admin.id
        ids = [int(e["id"]) for e in entries]
        assert ids == sorted(ids, reverse=True)

    return Req(w.admin, f"{API}/admin/audit", {"params": {"limit": 500}}, check=check)


async def _healthz(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json() == {"status": "ok"}

    return Req(None, "/healthz", check=check)


async def _readyz(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.json()["status"] == "ok"
        assert r.json()["checks"]["database"] == "ok"

    return Req(None, "/readyz", check=check)


async def _metrics(w: World) -> Req:
    async def check(r: httpx.Response) -> None:
        assert r.headers["content-type"].startswith("text/plain")
        assert "# TYPE" in r.text

    return Req(None, "/metrics", check=check)


ENDPOINTS: dict[tuple[str, str], Entry] = {
    ("POST", "/api/v1/auth/login"): Entry(_login, public=True),
    ("POST", "/api/v1/auth/logout"): Entry(_logout),
    ("GET", "/api/v1/users/me"): Entry(_me),
    ("PATCH", "/api/v1/users/me"): Entry(_update_me),
    ("GET", "/api/v1/users"): Entry(_find_users),
    ("POST", "/api/v1/users"): Entry(_create_user, admin_only=True),
    ("GET", "/api/v1/users/{user_id}"): Entry(_get_user),
    ("PATCH", "/api/v1/users/{user_id}"): Entry(_set_user_role, admin_only=True),
    ("POST", "/api/v1/users/{user_id}/deactivate"): Entry(_deactivate, admin_only=True),
    ("GET", "/api/v1/presence"): Entry(_presence),
    ("GET", "/api/v1/rooms"): Entry(_my_rooms),
    ("POST", "/api/v1/rooms"): Entry(_create_room),
    ("GET", "/api/v1/rooms/{room_id}"): Entry(_get_room, outsider=404),
    ("PATCH", "/api/v1/rooms/{room_id}"): Entry(_update_room, outsider=404),
    ("POST", "/api/v1/rooms/{room_id}/join"): Entry(_join, outsider=404),
    ("POST", "/api/v1/rooms/{room_id}/leave"): Entry(_leave, outsider=404),
    ("GET", "/api/v1/rooms/{room_id}/members"): Entry(_list_members, outsider=404),
    ("POST", "/api/v1/rooms/{room_id}/members"): Entry(_add_member, outsider=404),
    ("DELETE", "/api/v1/rooms/{room_id}/members/{user_id}"): Entry(_remove_member, outsider=404),
    ("PATCH", "/api/v1/rooms/{room_id}/members/{user_id}"): Entry(_set_member_role, outsider=404),
    ("PUT", "/api/v1/rooms/{room_id}/read"): Entry(_mark_read, outsider=404),
    ("POST", "/api/v1/dms"): Entry(_open_dm),
    ("POST", "/api/v1/rooms/{room_id}/messages"): Entry(_post_message, outsider=404),
    ("GET", "/api/v1/rooms/{room_id}/messages"): Entry(_history, outsider=404),
    ("GET", "/api/v1/rooms/{room_id}/pins"): Entry(_pins, outsider=404),
    ("GET", "/api/v1/messages/{message_id}"): Entry(_get_message, outsider=404),
    ("PATCH", "/api/v1/messages/{message_id}"): Entry(_edit_message, outsider=404),
    ("DELETE", "/api/v1/messages/{message_id}"): Entry(_delete_message, outsider=404),
    ("GET", "/api/v1/messages/{message_id}/thread"): Entry(_thread, outsider=404),
    ("GET", "/api/v1/messages/{message_id}/edits"): Entry(_edits, outsider=404),
    ("PUT", "/api/v1/messages/{message_id}/reactions/{emoji}"): Entry(_add_reaction, outsider=404),
    ("DELETE", "/api/v1/messages/{message_id}/reactions/{emoji}"): Entry(
        _remove_reaction, outsider=404
    ),
    ("PUT", "/api/v1/messages/{message_id}/pin"): Entry(_pin, outsider=404),
    ("DELETE", "/api/v1/messages/{message_id}/pin"): Entry(_unpin, outsider=404),
    ("GET", "/api/v1/search"): Entry(_search, outsider=404),
    ("POST", "/api/v1/rooms/{room_id}/files"): Entry(_upload, outsider=404),
    ("GET", "/api/v1/files/{file_id}"): Entry(_download, outsider=404),
    ("GET", "/api/v1/admin/audit"): Entry(_audit, admin_only=True),
    ("GET", "/healthz"): Entry(_healthz, public=True),
    ("GET", "/readyz"): Entry(_readyz, public=True),
    ("GET", "/metrics"): Entry(_metrics, public=True),
}


def denial_path(w: World, template: str) -> str:
    """The route with the ids of the shared private room: for the denial loops, which
    must aim at something that exists (so a 404 means "hidden", not "missing")."""
    ids = {
        "room_id": w.room,
        "message_id": w.message,
        "file_id": w.file,
        "emoji": EMOJI,
        # Room routes act on a member of the room; account routes on the target.
        "user_id": w.bob.id if template.startswith("/api/v1/rooms/") else w.target.id,
    }
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)


def error_of(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}, body
    error = dict(body["error"])
    assert isinstance(error.pop("incident_id"), str)
    return error


async def test_openapi_spec_routes_are_all_covered(server: Server) -> None:
    spec = await server.ok("GET", f"{API}/openapi.json")
    served = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete", "head", "options")
    }
    missing = sorted(served - set(ENDPOINTS))
    stale = sorted(set(ENDPOINTS) - served)
    assert not missing, f"endpoints without tests (add them to ENDPOINTS): {missing}"
    assert not stale, f"ENDPOINTS lists routes the server no longer serves: {stale}"
    # Every route that reaches into a room or a message says what outsiders get.
    for (_method, path), entry in ENDPOINTS.items():
        if re.search(r"\{(room|message|file)_id\}", path):
            assert entry.outsider == 404, path


async def run_allowed(w: World) -> list[str]:
    failures: list[str] = []
    for (method, template), entry in ENDPOINTS.items():
        req = await entry.allowed(w)
        resp = await send(w.srv, method, req.path, req.actor, **req.kwargs)
        where = f"{method} {template}"
        if resp.status_code != req.status:
            failures.append(
                f"{where}: expected {req.status}, got {resp.status_code} {resp.text[:200]}"
            )
        elif req.check is not None:
            try:
                await req.check(resp)
            except (AssertionError, KeyError) as exc:
                failures.append(f"{where}: allowed, but {exc!r}")
    return failures


async def test_every_endpoint_allowed_case(server: Server) -> None:
    w = await build_world(server)
    failures = await run_allowed(w)
    assert not failures, "\n".join(failures)


async def test_every_endpoint_allowed_case_on_both_backends(any_server: Server) -> None:
    """The same allowed cases on SQLite/memory and PostgreSQL/Redis."""
    w = await build_world(any_server)
    failures = await run_allowed(w)
    assert not failures, "\n".join(failures)


async def test_every_protected_endpoint_denies_anonymous_and_deactivated(
    server: Server,
) -> None:
    w = await build_world(server)
    failures: list[str] = []
    bad_credentials: list[tuple[str, dict[str, str]]] = [
        ("no credentials", {}),
        ("malformed bearer token", {"Authorization": "Bearer not-a-token"}),
        ("unknown token", {"Authorization": "Bearer " + w.bob.token[:-4] + "AAAA"}),
        ("wrong scheme", {"Authorization": f"Basic {w.bob.token}"}),
        ("bare scheme", {"Authorization": "Bearer"}),
    ]
    for (method, template), entry in ENDPOINTS.items():
        req = await entry.allowed(w)
        path = denial_path(w, template)
        if entry.public:
            resp = await send(w.srv, method, req.path, None, **req.kwargs)
            if resp.status_code != req.status:
                failures.append(f"{method} {template} is public but gave {resp.status_code}")
            continue
        attempts: list[tuple[str, User | None, dict[str, str]]] = [
            (label, None, headers) for label, headers in bad_credentials
        ]
        attempts.append(("deactivated user's token", w.deactivated, {}))
        for label, user, headers in attempts:
            resp = await send(w.srv, method, path, user, headers=headers, **req.kwargs)
            if resp.status_code != 401:
                failures.append(
                    f"{method} {template} [{label}]: {resp.status_code} {resp.text[:160]}"
                )
            elif error_of(resp) != {"code": "unauthorized", "message": "Authentication required."}:
                failures.append(f"{method} {template} [{label}]: body {resp.text[:160]}")
    assert not failures, "\n".join(failures)
    # None of it changed anything a member can see.
    assert (await server.ok("GET", f"{API}/messages/{w.message}", w.bob))["pinned_at"]
    members = await server.ok("GET", f"{API}/rooms/{w.room}/members", w.alice)
    assert {m["user_id"] for m in members} >= {w.alice.id, w.bob.id}
    me = await server.ok("GET", f"{API}/users/me", w.target)
    assert (me["role"], me["is_active"]) == ("user", True)


async def test_members_of_other_rooms_get_404_on_every_room_route(server: Server) -> None:
    w = await build_world(server)
    before = await room_state(w)
    failures: list[str] = []
    for (method, template), entry in ENDPOINTS.items():
        if entry.outsider is None:
            continue
        req = await entry.allowed(w)
        resp = await send(w.srv, method, denial_path(w, template), w.olga, **req.kwargs)
        if resp.status_code != entry.outsider or error_of(resp) != {
            "code": "not_found",
            "message": "Not found.",
        }:
            failures.append(f"{method} {template}: {resp.status_code} {resp.text[:160]}")
    assert not failures, "\n".join(failures)
    after = await room_state(w)
    # The allowed-case factories add fresh messages and members; compare the rest.
    assert after["room"]["topic"] == before["room"]["topic"]
    assert after["message"] == before["message"]
    assert w.olga.id not in {m["user_id"] for m in after["members"]}
    assert {m["id"] for m in before["pins"]} <= {m["id"] for m in after["pins"]}


async def room_state(w: World) -> dict[str, Any]:
    return {
        "room": await w.srv.ok("GET", f"{API}/rooms/{w.room}", w.alice),
        "members": await w.srv.ok("GET", f"{API}/rooms/{w.room}/members", w.alice),
        "message": await w.srv.ok("GET", f"{API}/messages/{w.message}", w.alice),
        "pins": await w.srv.ok("GET", f"{API}/rooms/{w.room}/pins", w.alice),
    }


async def test_admin_endpoints_refuse_non_admins(server: Server) -> None:
    w = await build_world(server)
    guest = await server.create_user("guest", role=UserRole.GUEST)
    failures: list[str] = []
    created: list[str] = []
    for (method, template), entry in ENDPOINTS.items():
        if not entry.admin_only:
            continue
        req = await entry.allowed(w)
        if method == "POST" and template == "/api/v1/users":
            created.append(req.kwargs["json"]["username"])
        for user in (w.alice, guest):
            resp = await send(w.srv, method, denial_path(w, template), user, **req.kwargs)
            if resp.status_code != 403 or error_of(resp)["code"] != "forbidden":
                failures.append(
                    f"{method} {template} as {user.username}: {resp.status_code} {resp.text[:160]}"
                )
    assert not failures, "\n".join(failures)
    # Nothing changed: the target keeps its role, stays active and signed in, and no
    # account was created.
    me = await server.ok("GET", f"{API}/users/me", w.target)
    assert (me["role"], me["is_active"]) == ("user", True)
    for username in created:
        assert await server.ok("GET", f"{API}/users", w.bob, params={"username": username}) == []
    # Nor can an admin act on their own account through these routes.
    own = await send(server, "POST", f"{API}/users/{w.admin.id}/deactivate", w.admin)
    assert own.status_code == 400
    assert (await send(server, "GET", f"{API}/users/me", w.admin)).status_code == 200


async def read_until_closed(stream: EventClient) -> None:
    """Read frames until the server closes the stream (raises ConnectionClosed)."""
    while True:
        await stream.next(timeout=5)


async def test_deactivation_ends_every_session_at_once(any_server: Server) -> None:
    srv = any_server
    admin = await srv.create_user("admin", role=UserRole.ADMIN)
    dora = await srv.create_user("dora")
    second = User(
        dora.id,
        "dora",
        (
            await srv.ok(
                "POST", f"{API}/auth/login", json={"username": "dora", "password": PASSWORD}
            )
        )["token"],
        "user",
    )
    room = await srv.room(admin, "lobby", "channel", dora)
    for session in (dora, second):
        assert (await send(srv, "GET", f"{API}/users/me", session)).status_code == 200

    async with srv.events(dora) as stream:
        await srv.ok("POST", f"{API}/users/{dora.id}/deactivate", admin)
        # The very next request with either token fails; no grace period.
        for session in (dora, second):
            for method, path, kwargs in (
                ("GET", f"{API}/users/me", {}),
                ("GET", f"{API}/rooms/{room}/messages", {}),
                ("POST", f"{API}/rooms/{room}/messages", {"json": {"text": "still here?"}}),
            ):
                resp = await send(srv, method, path, session, **kwargs)
                assert resp.status_code == 401, (method, path, resp.text)
        # The open event stream is closed by the server.
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await read_until_closed(stream)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4003

    login = await send(
        srv, "POST", f"{API}/auth/login", json={"username": "dora", "password": PASSWORD}
    )
    assert login.status_code == 401
    assert login.json()["error"]["message"] == "Invalid username or password."
    history = await srv.ok("GET", f"{API}/rooms/{room}/messages", admin)
    assert "still here?" not in [m["text"] for m in history]
    view = await srv.ok("GET", f"{API}/users/{dora.id}", admin)
    assert view["username"] == "dora"
    audit = await srv.ok("GET", f"{API}/admin/audit", admin, params={"action": "user.deactivate"})
    assert [(e["target_id"], e["actor_id"]) for e in audit] == [(dora.id, admin.id)]


async def test_event_stream_requires_a_valid_token(server: Server) -> None:
    """The WebSocket route (not in the OpenAPI spec) has the same gate."""
    admin = await server.create_user("admin", role=UserRole.ADMIN)
    gone = await server.create_user("gone")
    await server.ok("POST", f"{API}/users/{gone.id}/deactivate", admin)
    for token in ("", "not-a-token", gone.token, admin.token[:-4] + "AAAA"):
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(json.dumps({"type": "hello", "token": token, "since": None}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (frame["type"], frame["code"]) == ("error", "unauthorized"), frame
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4401
    async with server.events(admin) as stream:
        assert stream.ready_seq >= 0


async def test_session_cookie_only_counts_for_same_origin_writes(server: Server) -> None:
    """Browsers send the cookie on cross-site requests too; writes that rely on it must
    come from our own origin (the bearer header needs no such check)."""
    alice = await server.create_user("alice")
    room = await server.room(alice, "cookies", "channel")
    server.http.cookies.clear()
    server.http.cookies.set("redoubt_session", alice.token)
    try:
        me = await server.http.get(f"{API}/users/me")
        assert me.status_code == 200
        assert me.json()["id"] == alice.id
        path = f"{API}/rooms/{room}/messages"
        for origin in (None, "https://evil.example", "http://127.0.0.1:1"):
            headers = {"Origin": origin} if origin else {}
            resp = await server.http.post(path, json={"text": "csrf"}, headers=headers)
            assert resp.status_code == 403, (origin, resp.text)
            assert resp.json()["error"]["code"] == "forbidden"
        same = await server.http.post(
            path, json={"text": "same origin"}, headers={"Origin": server.base_url}
        )
        assert same.status_code == 201, same.text
    finally:
        server.http.cookies.clear()
    history = await server.ok("GET", f"{API}/rooms/{room}/messages", alice)
    assert [m["text"] for m in history] == ["same origin"]
