"""Authorization end to end: actor x room kind x action over real HTTP (threat T2).

One written table says which status every (action, actor, room kind) gets:

* 401 for anonymous callers and for a deactivated user's token (issued before the
  deactivation);
* 404 wherever the room must stay invisible, with exactly the body of a missing object;
* 403 where the room is visible but the action is not allowed;
* 2xx where it is allowed, and then the effect is checked.

After every denied write the room is fetched again by a user who may see everything
(and its memberships and files read from the database): nothing may have changed.

The IDOR tests name objects of rooms the caller can't see (messages, files, rooms,
threads, attachments) and compare the answer with the one for an id that doesn't exist:
same status, same body apart from the incident id.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from redoubt.domain.enums import UserRole
from redoubt.storage import rooms as room_store
from redoubt.storage import schema
from tests.harness import Server, User

API = "/api/v1"
KINDS: tuple[str, ...] = ("channel", "private", "dm")
EMOJI = "thumbs_up"
FILE_BYTES = b"%PDF-1.4\n% a small test document\n"

# Statuses per room kind, "channel/private/dm"; "-" where the actor can't exist (there
# are no moderators or owners in a DM) or has nothing to act on (no own message).
# Row order is the order the cases run in; "leave" runs last so the owner leaving ends
# the run instead of breaking later cases.
TABLE = """
                 anonymous    outsider     guest        admin        deactivated  member       moderator    owner
read_room        401/401/401  200/404/404  404/404/404  200/404/404  401/401/401  200/200/200  200/200/-    200/200/-
list_members     401/401/401  200/404/404  404/404/404  200/404/404  401/401/401  200/200/200  200/200/-    200/200/-
history          401/401/401  200/404/404  404/404/404  200/404/404  401/401/401  200/200/200  200/200/-    200/200/-
pins             401/401/401  200/404/404  404/404/404  200/404/404  401/401/401  200/200/200  200/200/-    200/200/-
get_message      401/401/401  200/404/404  404/404/404  200/404/404  401/401/401  200/200/200  200/200/-    200/200/-
thread           401/401/401  200/404/404  404/404/404  200/404/404  401/401/401  200/200/200  200/200/-    200/200/-
edits            401/401/401  200/404/404  404/404/404  200/404/404  401/401/401  200/200/200  200/200/-    200/200/-
search_room      401/401/401  200/404/404  404/404/404  200/404/404  401/401/401  200/200/200  200/200/-    200/200/-
download         401/401/401  200/404/404  404/404/404  200/404/404  401/401/401  200/200/200  200/200/-    200/200/-
post             401/401/401  403/404/404  404/404/404  403/404/404  401/401/401  201/201/201  201/201/-    201/201/-
upload           401/401/401  403/404/404  404/404/404  403/404/404  401/401/401  201/201/201  201/201/-    201/201/-
edit_own         401/401/401  -/-/-        -/-/-        -/-/-        401/401/401  200/200/200  200/200/-    200/200/-
delete_own       401/401/401  -/-/-        -/-/-        -/-/-        401/401/401  200/200/200  200/200/-    200/200/-
edit_other       401/401/401  403/404/404  404/404/404  403/404/404  401/401/401  403/403/403  403/403/-    403/403/-
delete_other     401/401/401  403/404/404  404/404/404  200/404/404  401/401/401  403/403/403  200/200/-    200/200/-
react            401/401/401  403/404/404  404/404/404  403/404/404  401/401/401  200/200/200  200/200/-    200/200/-
unreact          401/401/401  403/404/404  404/404/404  403/404/404  401/401/401  200/200/200  200/200/-    200/200/-
pin              401/401/401  403/404/404  404/404/404  200/404/404  401/401/401  403/403/200  200/200/-    200/200/-
unpin            401/401/401  403/404/404  404/404/404  200/404/404  401/401/401  403/403/200  200/200/-    200/200/-
mark_read        401/401/401  403/404/404  404/404/404  403/404/404  401/401/401  200/200/200  200/200/-    200/200/-
invite           401/401/401  403/404/404  404/404/404  200/404/404  401/401/401  200/403/403  200/200/-    200/200/-
kick             401/401/401  403/404/404  404/404/404  204/404/404  401/401/401  403/403/403  204/204/-    204/204/-
set_topic        401/401/401  403/404/404  404/404/404  200/404/404  401/401/401  403/403/403  200/200/-    200/200/-
set_member_role  401/401/401  403/404/404  404/404/404  204/404/404  401/401/401  403/403/403  403/403/-    204/204/-
archive          401/401/401  403/404/404  404/404/404  200/404/404  401/401/401  403/403/403  403/403/-    200/200/-
join             401/401/401  200/404/404  404/404/404  200/404/404  401/401/401  200/200/200  200/200/-    200/200/-
leave            401/401/401  403/404/404  404/404/404  403/404/404  401/401/401  204/204/403  204/204/-    204/204/-
"""  # noqa: E501 - one row per action reads better than wrapped rows


async def send(
    srv: Server, method: str, path: str, user: User | None, **kwargs: Any
) -> httpx.Response:
    """A request as ``user`` only: the harness's client keeps the session cookie of the
    last login, which would quietly authenticate "anonymous" requests."""
    srv.http.cookies.clear()
    return await srv.request(method, path, user, **kwargs)


def _parse(table: str) -> tuple[list[str], list[str], dict[tuple[str, str, str], int | None]]:
    lines = [line for line in table.strip("\n").splitlines() if line.strip()]
    actors = lines[0].split()
    actions: list[str] = []
    out: dict[tuple[str, str, str], int | None] = {}
    for line in lines[1:]:
        action, *cells = line.split()
        assert len(cells) == len(actors), line
        actions.append(action)
        for actor, cell in zip(actors, cells, strict=True):
            codes = cell.split("/")
            assert len(codes) == len(KINDS), line
            for kind, code in zip(KINDS, codes, strict=True):
                out[(action, actor, kind)] = None if code == "-" else int(code)
    return actors, actions, out


ACTORS, ACTIONS, EXPECTED = _parse(TABLE)
WRITES = {
    "post", "upload", "edit_own", "delete_own", "edit_other", "delete_other", "react",
    "unreact", "pin", "unpin", "mark_read", "invite", "kick", "set_topic",
    "set_member_role", "archive", "join", "leave",
}  # fmt: skip


@dataclass
class Call:
    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    verify: Callable[[httpx.Response], Awaitable[None]] | None = None
    """Checks the effect of an allowed call (and puts shared state back)."""


@dataclass
class World:
    srv: Server
    users: dict[str, User]
    bystander: User
    rooms: dict[str, str]
    viewer: dict[str, User]
    """Per room kind, a member who sees everything (for before/after snapshots)."""
    other_msg: dict[str, str]
    """A message by the bystander: pinned, edited once, with a reply and a reaction."""
    reply: dict[str, str]
    own_msg: dict[tuple[str, str], str]
    file_id: dict[str, str]
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def actor(self, name: str) -> User | None:
        return None if name == "anonymous" else self.users[name]

    def actor_id(self, name: str) -> str:
        user = self.actor(name)
        assert user is not None
        return user.id

    async def fresh_message(self, kind: str, author: User | None = None) -> str:
        n = next(self.counter)
        msg = await self.srv.post(author or self.bystander, self.rooms[kind], f"fresh {n}")
        return str(msg["id"])

    async def fresh_user(self) -> User:
        return await self.srv.create_user(f"fresh{next(self.counter)}", login=False)

    async def fresh_member(self, kind: str) -> User:
        assert kind != "dm", "DM membership is fixed at creation"
        user = await self.fresh_user()
        await self.srv.ok(
            "POST",
            f"{API}/rooms/{self.rooms[kind]}/members",
            self.viewer[kind],
            json={"user_id": user.id},
        )
        return user

    async def role_of(self, kind: str, user_id: str) -> str | None:
        async with self.srv.container.context.db.read("test") as conn:
            m = await room_store.get_membership(conn, int(self.rooms[kind]), int(user_id))
        return None if m is None else m.role.value

    async def snapshot(self, kind: str) -> dict[str, Any]:
        """Everything a denied write could have changed in the room: what a member who
        sees everything fetches, plus the rows behind it and the stored upload bytes."""
        srv, viewer, room = self.srv, self.viewer[kind], self.rooms[kind]
        history = await srv.ok("GET", f"{API}/rooms/{room}/messages?limit=200", viewer)
        assert len(history) < 200
        files, edits = schema.files.c, schema.message_edits.c
        async with srv.container.context.db.read("test") as conn:
            members = await room_store.list_members(conn, int(room))
            file_rows = (
                await conn.execute(
                    select(files.id, files.message_id)
                    .where(files.room_id == int(room))
                    .order_by(files.id)
                )
            ).all()
            edit_rows = (
                await conn.execute(
                    select(edits.id, edits.message_id, edits.previous_text)
                    .join(schema.messages, schema.messages.c.id == edits.message_id)
                    .where(schema.messages.c.room_id == int(room))
                    .order_by(edits.id)
                )
            ).all()
        root = srv.container.context.files.root
        return {
            "room": await srv.ok("GET", f"{API}/rooms/{room}", viewer),
            "history": history,
            "members": sorted((m.user_id, m.role.value, m.last_read_position) for m in members),
            "files": [tuple(row) for row in file_rows],
            "edits": [tuple(row) for row in edit_rows],
            "stored": sorted(p.name for p in root.rglob("*") if p.is_file()),
        }


async def build_world(srv: Server) -> World:
    """Three rooms (channel, private group, group DM) with every kind of actor."""
    names = ("owner", "moderator", "member", "outsider", "deactivated", "bystander", "candidate")
    users = {n: await srv.create_user(n) for n in names}
    users["guest"] = await srv.create_user("guest", role=UserRole.GUEST)
    users["admin"] = await srv.create_user("admin", role=UserRole.ADMIN)
    owner, bystander = users["owner"], users["bystander"]
    members = [users["moderator"], users["member"], users["deactivated"], bystander]
    rooms = {
        "channel": await srv.room(owner, "authz-channel", "channel", *members),
        "private": await srv.room(owner, "authz-private", "private", *members),
    }
    for kind in ("channel", "private"):
        await srv.ok(
            "PATCH",
            f"{API}/rooms/{rooms[kind]}/members/{users['moderator'].id}",
            owner,
            json={"role": "moderator"},
        )
    dm = await srv.ok(
        "POST",
        f"{API}/dms",
        bystander,
        json={"user_ids": [users["member"].id, users["deactivated"].id]},
    )
    rooms["dm"] = dm["id"]
    viewer = {"channel": owner, "private": owner, "dm": bystander}

    other_msg: dict[str, str] = {}
    reply: dict[str, str] = {}
    own_msg: dict[tuple[str, str], str] = {}
    file_id: dict[str, str] = {}
    for kind, room in rooms.items():
        msg = await srv.post(bystander, room, f"needle{kind} first version")
        other_msg[kind] = msg["id"]
        await srv.ok(
            "PATCH",
            f"{API}/messages/{msg['id']}",
            bystander,
            json={"text": f"needle{kind} second version"},
        )
        reply[kind] = (await srv.post(users["member"], room, "a reply", thread_id=msg["id"]))["id"]
        await srv.ok("PUT", f"{API}/messages/{msg['id']}/reactions/{EMOJI}", bystander)
        await srv.ok("PUT", f"{API}/messages/{msg['id']}/pin", viewer[kind])
        for actor in ("member", "moderator", "owner", "deactivated"):
            if kind == "dm" and actor in ("moderator", "owner"):
                continue
            own_msg[(actor, kind)] = (await srv.post(users[actor], room, f"by {actor}"))["id"]
        upload = await srv.upload(bystander, room, "doc.pdf", FILE_BYTES)
        await srv.post(bystander, room, "attached", file_ids=[upload["id"]])
        file_id[kind] = upload["id"]

    # The deactivated user's token was issued (at create_user) before this.
    await srv.ok("POST", f"{API}/users/{users['deactivated'].id}/deactivate", users["admin"])
    return World(srv, users, bystander, rooms, viewer, other_msg, reply, own_msg, file_id)


# --- one function per action: the request, and the effect to check when allowed ---


async def _read_room(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert r.json()["id"] == w.rooms[kind]
        assert r.json()["kind"] == kind

    return Call("GET", f"{API}/rooms/{w.rooms[kind]}", verify=verify)


async def _list_members(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert w.viewer[kind].id in {m["user_id"] for m in r.json()}

    return Call("GET", f"{API}/rooms/{w.rooms[kind]}/members", verify=verify)


async def _history(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert w.other_msg[kind] in {m["id"] for m in r.json()}

    return Call("GET", f"{API}/rooms/{w.rooms[kind]}/messages", verify=verify)


async def _pins(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert w.other_msg[kind] in {m["id"] for m in r.json()}

    return Call("GET", f"{API}/rooms/{w.rooms[kind]}/pins", verify=verify)


async def _get_message(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert r.json()["id"] == w.other_msg[kind]
        assert r.json()["text"] == f"needle{kind} second version"

    return Call("GET", f"{API}/messages/{w.other_msg[kind]}", verify=verify)


async def _thread(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert [m["id"] for m in r.json()] == [w.reply[kind]]

    return Call("GET", f"{API}/messages/{w.other_msg[kind]}/thread", verify=verify)


async def _edits(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert [e["previous_text"] for e in r.json()] == [f"needle{kind} first version"]

    return Call("GET", f"{API}/messages/{w.other_msg[kind]}/edits", verify=verify)


async def _search_room(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert [m["id"] for m in r.json()] == [w.other_msg[kind]]

    return Call(
        "GET",
        f"{API}/search",
        {"params": {"q": f"needle{kind}", "room_id": w.rooms[kind]}},
        verify=verify,
    )


async def _download(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert r.content == FILE_BYTES
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff"

    return Call("GET", f"{API}/files/{w.file_id[kind]}", verify=verify)


async def _post(w: World, actor: str, kind: str, allowed: bool) -> Call:
    text = f"posted by {actor} {next(w.counter)}"

    async def verify(r: httpx.Response) -> None:
        body = r.json()
        assert (body["text"], body["author_id"], body["room_id"]) == (
            text,
            w.actor_id(actor),
            w.rooms[kind],
        )

    return Call(
        "POST", f"{API}/rooms/{w.rooms[kind]}/messages", {"json": {"text": text}}, verify=verify
    )


async def _upload(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        body = r.json()
        assert (body["room_id"], body["size"]) == (w.rooms[kind], len(FILE_BYTES))

    return Call(
        "POST",
        f"{API}/rooms/{w.rooms[kind]}/files",
        {"files": {"file": ("up.pdf", FILE_BYTES, "application/pdf")}},
        verify=verify,
    )


def _own_message(w: World, actor: str, kind: str) -> str:
    return w.own_msg[("member" if actor == "anonymous" else actor, kind)]


async def _edit_own(w: World, actor: str, kind: str, allowed: bool) -> Call:
    text = f"edited {next(w.counter)}"

    async def verify(r: httpx.Response) -> None:
        assert r.json()["text"] == text
        assert r.json()["edited_at"] is not None

    return Call(
        "PATCH",
        f"{API}/messages/{_own_message(w, actor, kind)}",
        {"json": {"text": text}},
        verify=verify,
    )


async def _delete_own(w: World, actor: str, kind: str, allowed: bool) -> Call:
    if allowed:
        message = await w.fresh_message(kind, w.users[actor])
    else:
        message = _own_message(w, actor, kind)

    async def verify(r: httpx.Response) -> None:
        assert (r.json()["id"], r.json()["deleted"], r.json()["text"]) == (message, True, "")

    return Call("DELETE", f"{API}/messages/{message}", verify=verify)


async def _edit_other(w: World, actor: str, kind: str, allowed: bool) -> Call:
    return Call("PATCH", f"{API}/messages/{w.other_msg[kind]}", {"json": {"text": "hijacked"}})


async def _delete_other(w: World, actor: str, kind: str, allowed: bool) -> Call:
    # Denied calls aim at a shared message (they must leave it alone); allowed ones
    # get a message of their own to destroy.
    message = await w.fresh_message(kind) if allowed else w.other_msg[kind]

    async def verify(r: httpx.Response) -> None:
        assert (r.json()["id"], r.json()["deleted"]) == (message, True)

    return Call("DELETE", f"{API}/messages/{message}", verify=verify)


def _reactors(body: dict[str, Any]) -> set[str]:
    return {u for r in body["reactions"] if r["emoji"] == EMOJI for u in r["user_ids"]}


async def _react(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert w.actor_id(actor) in _reactors(r.json())

    return Call("PUT", f"{API}/messages/{w.other_msg[kind]}/reactions/{EMOJI}", verify=verify)


async def _unreact(w: World, actor: str, kind: str, allowed: bool) -> Call:
    # Runs after "react": allowed actors have a reaction to take back.
    async def verify(r: httpx.Response) -> None:
        assert w.actor_id(actor) not in _reactors(r.json())
        assert w.bystander.id in _reactors(r.json())

    return Call("DELETE", f"{API}/messages/{w.other_msg[kind]}/reactions/{EMOJI}", verify=verify)


async def _pin(w: World, actor: str, kind: str, allowed: bool) -> Call:
    message = await w.fresh_message(kind) if allowed else w.reply[kind]  # reply: unpinned

    async def verify(r: httpx.Response) -> None:
        assert r.json()["pinned_at"] is not None
        assert r.json()["pinned_by"] == w.actor_id(actor)

    return Call("PUT", f"{API}/messages/{message}/pin", verify=verify)


async def _unpin(w: World, actor: str, kind: str, allowed: bool) -> Call:
    message = w.other_msg[kind]  # pinned
    if allowed:
        message = await w.fresh_message(kind)
        await w.srv.ok("PUT", f"{API}/messages/{message}/pin", w.viewer[kind])

    async def verify(r: httpx.Response) -> None:
        assert (r.json()["pinned_at"], r.json()["pinned_by"]) == (None, None)

    return Call("DELETE", f"{API}/messages/{message}/pin", verify=verify)


async def _mark_read(w: World, actor: str, kind: str, allowed: bool) -> Call:
    if allowed:
        await w.fresh_message(kind)  # something unread

    async def verify(r: httpx.Response) -> None:
        body = r.json()
        assert (body["room_id"], body["unread_count"]) == (w.rooms[kind], 0)

    return Call(
        "PUT", f"{API}/rooms/{w.rooms[kind]}/read", {"json": {"position": 2**40}}, verify=verify
    )


async def _invite(w: World, actor: str, kind: str, allowed: bool) -> Call:
    invitee = await w.fresh_user() if allowed else w.users["candidate"]

    async def verify(r: httpx.Response) -> None:
        assert await w.role_of(kind, invitee.id) == "member"

    return Call(
        "POST",
        f"{API}/rooms/{w.rooms[kind]}/members",
        {"json": {"user_id": invitee.id}},
        verify=verify,
    )


async def _kick(w: World, actor: str, kind: str, allowed: bool) -> Call:
    victim = await w.fresh_member(kind) if allowed else w.bystander

    async def verify(r: httpx.Response) -> None:
        assert await w.role_of(kind, victim.id) is None

    return Call("DELETE", f"{API}/rooms/{w.rooms[kind]}/members/{victim.id}", verify=verify)


async def _set_topic(w: World, actor: str, kind: str, allowed: bool) -> Call:
    topic = f"topic by {actor} {next(w.counter)}"

    async def verify(r: httpx.Response) -> None:
        assert r.json()["topic"] == topic

    return Call("PATCH", f"{API}/rooms/{w.rooms[kind]}", {"json": {"topic": topic}}, verify=verify)


async def _set_member_role(w: World, actor: str, kind: str, allowed: bool) -> Call:
    target = await w.fresh_member(kind) if allowed else w.bystander

    async def verify(r: httpx.Response) -> None:
        assert await w.role_of(kind, target.id) == "moderator"

    return Call(
        "PATCH",
        f"{API}/rooms/{w.rooms[kind]}/members/{target.id}",
        {"json": {"role": "moderator"}},
        verify=verify,
    )


async def _archive(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert r.json()["archived"] is True
        # Read-only now, for everyone; then the owner reopens it for the next cases.
        denied = await send(
            w.srv,
            "POST",
            f"{API}/rooms/{w.rooms[kind]}/messages",
            w.viewer[kind],
            json={"text": "frozen"},
        )
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "room_archived"
        reopened = await w.srv.ok(
            "PATCH", f"{API}/rooms/{w.rooms[kind]}", w.viewer[kind], json={"archived": False}
        )
        assert reopened["archived"] is False

    return Call(
        "PATCH", f"{API}/rooms/{w.rooms[kind]}", {"json": {"archived": True}}, verify=verify
    )


async def _join(w: World, actor: str, kind: str, allowed: bool) -> Call:
    was_member = await w.role_of(kind, w.actor_id(actor)) if actor != "anonymous" else None

    async def verify(r: httpx.Response) -> None:
        assert r.json()["id"] == w.rooms[kind]
        assert await w.role_of(kind, w.actor_id(actor)) == (was_member or "member")
        if was_member is None:  # put things back: outsiders leave again
            await w.srv.ok("POST", f"{API}/rooms/{w.rooms[kind]}/leave", w.actor(actor))

    return Call("POST", f"{API}/rooms/{w.rooms[kind]}/join", verify=verify)


async def _leave(w: World, actor: str, kind: str, allowed: bool) -> Call:
    async def verify(r: httpx.Response) -> None:
        assert await w.role_of(kind, w.actor_id(actor)) is None
        if actor == "owner":
            return  # the last case of the run
        await w.srv.ok(
            "POST",
            f"{API}/rooms/{w.rooms[kind]}/members",
            w.viewer[kind],
            json={"user_id": w.actor_id(actor)},
        )
        if actor == "moderator":
            await w.srv.ok(
                "PATCH",
                f"{API}/rooms/{w.rooms[kind]}/members/{w.actor_id(actor)}",
                w.viewer[kind],
                json={"role": "moderator"},
            )

    return Call("POST", f"{API}/rooms/{w.rooms[kind]}/leave", verify=verify)


PREPARE: dict[str, Callable[[World, str, str, bool], Awaitable[Call]]] = {
    "read_room": _read_room,
    "list_members": _list_members,
    "history": _history,
    "pins": _pins,
    "get_message": _get_message,
    "thread": _thread,
    "edits": _edits,
    "search_room": _search_room,
    "download": _download,
    "post": _post,
    "upload": _upload,
    "edit_own": _edit_own,
    "delete_own": _delete_own,
    "edit_other": _edit_other,
    "delete_other": _delete_other,
    "react": _react,
    "unreact": _unreact,
    "pin": _pin,
    "unpin": _unpin,
    "mark_read": _mark_read,
    "invite": _invite,
    "kick": _kick,
    "set_topic": _set_topic,
    "set_member_role": _set_member_role,
    "archive": _archive,
    "join": _join,
    "leave": _leave,
}

ERROR_CODES = {401: {"unauthorized"}, 403: {"forbidden"}, 404: {"not_found"}}


def error_shape(resp: httpx.Response) -> dict[str, Any]:
    """The error body without its incident id (which differs on every response)."""
    body = resp.json()
    assert set(body) == {"error"}, body
    error = dict(body["error"])
    incident = error.pop("incident_id")
    assert isinstance(incident, str), body
    assert len(incident) == 16, body
    return error


def test_table_is_complete() -> None:
    assert ACTORS == [
        "anonymous",
        "outsider",
        "guest",
        "admin",
        "deactivated",
        "member",
        "moderator",
        "owner",
    ]
    assert set(ACTIONS) == set(PREPARE)
    assert ACTIONS[-1] == "leave"
    assert ACTORS[-1] == "owner"
    assert set(ACTIONS) >= WRITES
    # Anonymous callers and deactivated tokens never get past authentication.
    for (_action, actor, _kind), code in EXPECTED.items():
        if actor in ("anonymous", "deactivated"):
            assert code == 401
        if actor == "guest":  # a guest who is in no room sees no room
            assert code in (404, None)


async def run_matrix(w: World, kinds: tuple[str, ...]) -> tuple[int, list[str]]:
    """Run every case of the table; return how many ran and the readable failures.

    Per action and room kind, the denied cases run first as one block between two
    snapshots of the room (a change is reported with the block's actors), then the
    allowed ones, each followed by a check of its effect.
    """
    failures: list[str] = []
    ran = 0
    for action in ACTIONS:
        for kind in kinds:
            cases = [(a, EXPECTED[(action, a, kind)]) for a in ACTORS]
            denied = [(a, code) for a, code in cases if code is not None and code >= 400]
            allowed = [(a, code) for a, code in cases if code is not None and code < 400]
            # Prepare the denied block first: preparing may write (fresh targets).
            calls = {a: await PREPARE[action](w, a, kind, False) for a, _ in denied}
            write = action in WRITES
            before = await w.snapshot(kind) if write else None
            for actor, expected in [*denied, *allowed]:
                ran += 1
                where = f"{action:<16} {actor:<12} {kind:<8}"
                call = calls.get(actor) or await PREPARE[action](w, actor, kind, True)
                resp = await send(w.srv, call.method, call.path, w.actor(actor), **call.kwargs)
                if resp.status_code != expected:
                    failures.append(
                        f"{where} expected {expected}, got {resp.status_code}: {resp.text[:200]}"
                    )
                elif expected >= 400:
                    error = error_shape(resp)
                    if error["code"] not in ERROR_CODES[expected]:
                        failures.append(f"{where} error code {error['code']!r}")
                    if expected == 404 and error != {"code": "not_found", "message": "Not found."}:
                        failures.append(f"{where} 404 unlike a missing object: {error}")
                elif call.verify is not None:
                    try:
                        await call.verify(resp)
                    except AssertionError as exc:
                        failures.append(f"{where} allowed, but the effect is wrong: {exc!r}")
                if before is not None and (actor, expected) == denied[-1]:
                    after = await w.snapshot(kind)
                    if after != before:
                        changed = sorted(k for k in before if before[k] != after[k])
                        failures.append(
                            f"{action:<16} {kind:<8} denied calls by "
                            f"{[a for a, _ in denied]} changed {changed}"
                        )
    return ran, failures


async def test_authorization_matrix(server: Server) -> None:
    world = await build_world(server)
    ran, failures = await run_matrix(world, KINDS)
    assert ran == sum(1 for code in EXPECTED.values() if code is not None)
    assert not failures, f"{len(failures)} of {ran} cases failed:\n" + "\n".join(failures)


async def test_archived_rooms_are_read_only(server: Server) -> None:
    """Archiving freezes writes for everyone (403 room_archived) but not reads; the
    owner can reopen it, and nothing written while archived got through."""
    world = await build_world(server)
    owner, member = world.users["owner"], world.users["member"]
    failures: list[str] = []
    for kind in ("channel", "private"):
        room = world.rooms[kind]
        await server.ok("PATCH", f"{API}/rooms/{room}", owner, json={"archived": True})
        before = await world.snapshot(kind)
        writes: list[tuple[User, str, str, dict[str, Any]]] = [
            (member, "POST", f"{API}/rooms/{room}/messages", {"json": {"text": "x"}}),
            (
                member,
                "PATCH",
                f"{API}/messages/{world.own_msg[('member', kind)]}",
                {"json": {"text": "x"}},
            ),
            (member, "PUT", f"{API}/messages/{world.other_msg[kind]}/reactions/{EMOJI}", {}),
            (
                member,
                "POST",
                f"{API}/rooms/{room}/files",
                {"files": {"file": ("a.pdf", FILE_BYTES, "application/pdf")}},
            ),
            (owner, "PATCH", f"{API}/rooms/{room}", {"json": {"topic": "x"}}),
            (owner, "DELETE", f"{API}/messages/{world.other_msg[kind]}", {}),
            (owner, "DELETE", f"{API}/messages/{world.other_msg[kind]}/pin", {}),
            (owner, "DELETE", f"{API}/rooms/{room}/members/{world.users['member'].id}", {}),
            (
                owner,
                "POST",
                f"{API}/rooms/{room}/members",
                {"json": {"user_id": world.users["outsider"].id}},
            ),
        ]
        for user, method, path, kwargs in writes:
            resp = await send(server, method, path, user, **kwargs)
            if resp.status_code != 403 or error_shape(resp)["code"] != "room_archived":
                failures.append(f"{kind} {method} {path}: {resp.status_code} {resp.text[:120]}")
        if await world.snapshot(kind) != before:
            failures.append(f"{kind}: a write to the archived room got through")
        for path in (f"/rooms/{room}", f"/rooms/{room}/messages", f"/rooms/{room}/members"):
            if (await send(server, "GET", API + path, member)).status_code != 200:
                failures.append(f"{kind}: GET {path} refused while archived")
        reopened = await server.ok("PATCH", f"{API}/rooms/{room}", owner, json={"archived": False})
        assert reopened["archived"] is False
        await server.post(member, room, "writable again")
    assert not failures, "\n".join(failures)


async def test_partly_refused_room_update_changes_nothing(server: Server) -> None:
    """PATCH /rooms/{id} carries two changes with different rights: a moderator may set
    the topic but not archive, so asking for both is refused as a whole."""
    owner = await server.create_user("owner")
    moderator = await server.create_user("moderator")
    room = await server.room(owner, "two-changes", "private", moderator)
    path = f"{API}/rooms/{room}"
    await server.ok("PATCH", f"{path}/members/{moderator.id}", owner, json={"role": "moderator"})
    await server.ok("PATCH", path, owner, json={"topic": "original"})

    denied = await send(server, "PATCH", path, moderator, json={"topic": "x", "archived": True})
    assert denied.status_code == 403
    state = await server.ok("GET", path, owner)
    assert (state["topic"], state["archived"]) == ("original", False)

    # Owners may do both, in either direction.
    both = await server.ok("PATCH", path, owner, json={"topic": "frozen", "archived": True})
    assert (both["topic"], both["archived"]) == ("frozen", True)
    denied = await send(server, "PATCH", path, moderator, json={"topic": "y", "archived": False})
    assert denied.status_code == 403
    assert (await server.ok("GET", path, owner))["archived"] is True
    reopened = await server.ok("PATCH", path, owner, json={"topic": "open", "archived": False})
    assert (reopened["topic"], reopened["archived"]) == ("open", False)


async def test_members_act_only_on_lower_ranks_and_never_promote_themselves(
    server: Server,
) -> None:
    """Kicks follow rank (moderators act on members only; owners and channel admins on
    anyone), and nobody raises their own role."""
    owner = await server.create_user("owner")
    mod1 = await server.create_user("mod1")
    mod2 = await server.create_user("mod2")
    member = await server.create_user("member")
    member2 = await server.create_user("member2")
    admin = await server.create_user("admin", role=UserRole.ADMIN)
    rooms = {
        kind: await server.room(owner, f"ranks-{kind}", kind, mod1, mod2, member, member2)
        for kind in ("channel", "private")
    }
    for room in rooms.values():
        for mod in (mod1, mod2):
            await server.ok(
                "PATCH", f"{API}/rooms/{room}/members/{mod.id}", owner, json={"role": "moderator"}
            )
    failures: list[str] = []

    async def expect(user: User, method: str, path: str, status: int, **kwargs: Any) -> None:
        resp = await send(server, method, path, user, **kwargs)
        if resp.status_code != status:
            failures.append(f"{user.username} {method} {path}: {resp.status_code} != {status}")

    for kind, room in rooms.items():
        members = f"{API}/rooms/{room}/members"
        before = await server.ok("GET", members, owner)
        await expect(mod1, "DELETE", f"{members}/{mod2.id}", 403)
        await expect(mod1, "DELETE", f"{members}/{owner.id}", 403)
        await expect(member, "DELETE", f"{members}/{member2.id}", 403)
        for user, role in ((member, "moderator"), (mod1, "owner"), (member, "owner")):
            await expect(user, "PATCH", f"{members}/{user.id}", 403, json={"role": role})
        await expect(mod1, "PATCH", f"{members}/{member.id}", 403, json={"role": "moderator"})
        # The last owner can't step down and leave the room without one.
        await expect(owner, "PATCH", f"{members}/{owner.id}", 400, json={"role": "member"})
        if await server.ok("GET", members, owner) != before:
            failures.append(f"{kind}: a refused membership change went through")
        await expect(mod1, "DELETE", f"{members}/{member2.id}", 204)
        # Admins moderate public channels (any rank) but can't see private groups.
        await expect(admin, "DELETE", f"{members}/{mod2.id}", 204 if kind == "channel" else 404)
    assert not failures, "\n".join(failures)


# --- IDOR: foreign ids answer exactly like ids that don't exist ---


@dataclass
class Idor:
    srv: Server
    bob: User
    """Member of room A (private) and of channel C; not of B or the DM."""
    room_a: str
    room_b: str
    room_c: str
    dm: str
    foreign_msgs: dict[str, str]
    foreign_files: dict[str, str]
    missing: str
    carol: User


async def build_idor(srv: Server) -> Idor:
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    carol = await srv.create_user("carol")
    dave = await srv.create_user("dave")
    room_a = await srv.room(alice, "room-a", "private", bob)
    room_b = await srv.room(carol, "room-b", "private", dave)
    room_c = await srv.room(carol, "room-c", "channel", bob)
    dm = (await srv.ok("POST", f"{API}/dms", carol, json={"user_ids": [dave.id]}))["id"]
    foreign_msgs: dict[str, str] = {}
    foreign_files: dict[str, str] = {}
    for name, room in (("private", room_b), ("dm", dm)):
        msg = await srv.post(carol, room, f"secret{name} words")
        await srv.ok(
            "PATCH",
            f"{API}/messages/{msg['id']}",
            carol,
            json={"text": f"secret{name} words, edited"},
        )
        await srv.post(dave, room, "reply", thread_id=msg["id"])
        await srv.ok("PUT", f"{API}/messages/{msg['id']}/reactions/{EMOJI}", dave)
        foreign_msgs[name] = msg["id"]
        upload = await srv.upload(carol, room, "s.pdf", FILE_BYTES)
        await srv.post(carol, room, "file", file_ids=[upload["id"]])
        foreign_files[name] = upload["id"]
    # An upload not yet attached to a message is its uploader's alone, even in a
    # channel the caller reads.
    pending = await srv.upload(carol, room_c, "p.pdf", FILE_BYTES)
    foreign_files["unattached"] = pending["id"]
    missing = str(srv.container.context.ids.next_id())  # an id no object will ever have
    return Idor(srv, bob, room_a, room_b, room_c, dm, foreign_msgs, foreign_files, missing, carol)


def idor_requests(w: Idor, foreign: str, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Requests naming ``foreign`` where an id of ``kind`` (message, file, room) belongs."""
    a = w.room_a
    match kind:
        case "message":
            return [
                ("GET", f"{API}/messages/{foreign}", {}),
                ("PATCH", f"{API}/messages/{foreign}", {"json": {"text": "x"}}),
                ("DELETE", f"{API}/messages/{foreign}", {}),
                ("GET", f"{API}/messages/{foreign}/thread", {}),
                ("GET", f"{API}/messages/{foreign}/edits", {}),
                ("PUT", f"{API}/messages/{foreign}/reactions/{EMOJI}", {}),
                ("DELETE", f"{API}/messages/{foreign}/reactions/{EMOJI}", {}),
                ("PUT", f"{API}/messages/{foreign}/pin", {}),
                ("DELETE", f"{API}/messages/{foreign}/pin", {}),
                # A reply in the caller's own room to a thread of a room it can't see.
                (
                    "POST",
                    f"{API}/rooms/{a}/messages",
                    {"json": {"text": "x", "thread_id": foreign}},
                ),
            ]
        case "file":
            return [
                ("GET", f"{API}/files/{foreign}", {}),
                # Attaching someone else's upload to a message in the caller's room.
                (
                    "POST",
                    f"{API}/rooms/{a}/messages",
                    {"json": {"text": "x", "file_ids": [foreign]}},
                ),
            ]
        case _:
            return [
                ("GET", f"{API}/rooms/{foreign}", {}),
                ("PATCH", f"{API}/rooms/{foreign}", {"json": {"topic": "x"}}),
                ("PATCH", f"{API}/rooms/{foreign}", {"json": {"archived": True}}),
                ("GET", f"{API}/rooms/{foreign}/members", {}),
                ("GET", f"{API}/rooms/{foreign}/messages", {}),
                ("GET", f"{API}/rooms/{foreign}/pins", {}),
                ("POST", f"{API}/rooms/{foreign}/messages", {"json": {"text": "x"}}),
                ("POST", f"{API}/rooms/{foreign}/join", {}),
                ("POST", f"{API}/rooms/{foreign}/leave", {}),
                ("POST", f"{API}/rooms/{foreign}/members", {"json": {"user_id": w.bob.id}}),
                ("DELETE", f"{API}/rooms/{foreign}/members/{w.carol.id}", {}),
                ("PATCH", f"{API}/rooms/{foreign}/members/{w.bob.id}", {"json": {"role": "owner"}}),
                ("PUT", f"{API}/rooms/{foreign}/read", {"json": {"position": 1}}),
                (
                    "POST",
                    f"{API}/rooms/{foreign}/files",
                    {"files": {"file": ("a.pdf", FILE_BYTES, "application/pdf")}},
                ),
                ("GET", f"{API}/search", {"params": {"q": "secretprivate", "room_id": foreign}}),
            ]


async def idor_state(w: Idor) -> list[Any]:
    out: list[Any] = []
    for room in (w.room_b, w.dm):
        history = await w.srv.ok("GET", f"{API}/rooms/{room}/messages", w.carol)
        out.append(await w.srv.ok("GET", f"{API}/rooms/{room}", w.carol))
        out.append(await w.srv.ok("GET", f"{API}/rooms/{room}/members", w.carol))
        out.append(history)
        for msg in history:
            out.append(await w.srv.ok("GET", f"{API}/messages/{msg['id']}/edits", w.carol))
    async with w.srv.container.context.db.read("test") as conn:
        files = (await conn.execute(select(schema.files.c.id, schema.files.c.message_id))).all()
    out.append(sorted(tuple(f) for f in files))
    return out


async def test_foreign_ids_are_indistinguishable_from_missing_ones(any_server: Server) -> None:
    srv = any_server
    w = await build_idor(srv)
    guest = await srv.create_user("gus", role=UserRole.GUEST)
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    before = await idor_state(w)
    failures: list[str] = []
    cases: list[tuple[str, str]] = [
        *((m, "message") for m in w.foreign_msgs.values()),
        *((f, "file") for f in w.foreign_files.values()),
        (w.room_b, "room"),
        (w.dm, "room"),
    ]
    # Ids of one kind where another belongs are just as unknown.
    crossed: list[tuple[str, str]] = [
        (w.room_b, "message"),
        (w.foreign_msgs["private"], "room"),
        (w.foreign_files["private"], "message"),
    ]
    references: dict[tuple[str, str, int], httpx.Response] = {}
    for actor, actor_cases in ((w.bob, cases + crossed), (admin, cases)):
        for foreign, kind in actor_cases:
            for i, ((method, path, kwargs), (_, missing_path, missing_kwargs)) in enumerate(
                zip(idor_requests(w, foreign, kind), idor_requests(w, w.missing, kind), strict=True)
            ):
                if actor is not w.bob and f"/rooms/{w.room_a}/" in path:
                    continue  # the admin is not in room A
                got = await send(srv, method, path, actor, **kwargs)
                key = (actor.id, kind, i)
                if key not in references:
                    references[key] = await send(srv, method, missing_path, actor, **missing_kwargs)
                ref = references[key]
                where = f"{actor.username} {method} {path} ({kind})"
                if ref.status_code != 404:
                    failures.append(f"{where}: a missing id gave {ref.status_code} {ref.text}")
                elif got.status_code != 404 or error_shape(got) != error_shape(ref):
                    failures.append(
                        f"{where}: {got.status_code} {got.text[:160]} vs missing {ref.text[:160]}"
                    )
                elif got.headers.get("content-type") != ref.headers.get("content-type"):
                    failures.append(f"{where}: content types differ")
    # Malformed ids are simply not found, too.
    for path in (
        f"{API}/messages/abc",
        f"{API}/rooms/-1",
        f"{API}/files/0",
        f"{API}/rooms/{'9' * 40}/messages",
    ):
        resp = await send(srv, "GET", path, w.bob)
        if resp.status_code != 404 or error_shape(resp)["message"] != "Not found.":
            failures.append(f"GET {path}: {resp.status_code} {resp.text[:160]}")
    # Search never reaches into rooms the caller can't read.
    for actor in (w.bob, guest, admin):
        for word in ("secretprivate", "secretdm"):
            found = await srv.ok("GET", f"{API}/search", actor, params={"q": word})
            if found:
                failures.append(f"{actor.username} found {word!r}: {found}")
    if await idor_state(w) != before:
        failures.append("a request naming foreign ids changed the foreign rooms")
    assert not failures, "\n".join(failures)


async def test_former_members_lose_access_to_their_own_messages(server: Server) -> None:
    """Access follows current membership: after a kick, the room and everything in it
    (one's own messages and uploads included) answer 404 like missing objects."""
    carol = await server.create_user("carol")
    eve = await server.create_user("eve")
    room = await server.room(carol, "secret", "private", eve)
    own = (await server.post(eve, room, "eveword before the kick"))["id"]
    upload = await server.upload(eve, room, "e.pdf", FILE_BYTES)
    await server.post(eve, room, "with file", file_ids=[upload["id"]])
    await server.ok("DELETE", f"{API}/rooms/{room}/members/{eve.id}", carol)

    failures: list[str] = []
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"{API}/rooms/{room}", {}),
        ("GET", f"{API}/rooms/{room}/messages", {}),
        ("POST", f"{API}/rooms/{room}/messages", {"json": {"text": "back?"}}),
        ("POST", f"{API}/rooms/{room}/join", {}),
        ("GET", f"{API}/messages/{own}", {}),
        ("PATCH", f"{API}/messages/{own}", {"json": {"text": "rewritten"}}),
        ("DELETE", f"{API}/messages/{own}", {}),
        ("GET", f"{API}/files/{upload['id']}", {}),
    ]
    for method, path, kwargs in requests:
        resp = await send(server, method, path, eve, **kwargs)
        if resp.status_code != 404 or error_shape(resp) != {
            "code": "not_found",
            "message": "Not found.",
        }:
            failures.append(f"{method} {path}: {resp.status_code} {resp.text[:160]}")
    if await server.ok("GET", f"{API}/search", eve, params={"q": "eveword"}):
        failures.append("search still finds the former room's messages")
    if room in {r["room"]["id"] for r in await server.ok("GET", f"{API}/rooms", eve)}:
        failures.append("the room is still in the former member's room list")
    message = await server.ok("GET", f"{API}/messages/{own}", carol)
    assert (message["text"], message["deleted"]) == ("eveword before the kick", False)
    assert not failures, "\n".join(failures)
