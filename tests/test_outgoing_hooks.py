"""Outgoing webhooks (T6): signed, durable, retried, guarded, admin-only.

Every test runs a real server and a real HTTP receiver on loopback, started here. The
receiver checks each request the way a real one should: the HMAC signature over
timestamp and body with the hook's secret (``core/signing.py``), a fresh timestamp, and
the delivery id in the header equal to the one in the body. Loopback is what the egress
guard forbids, so the servers reach the receiver only through an allowlist entry
(``egress_allow_networks``); one test proves the guard refuses it without one.

The durability test kills a server process (SIGKILL) while a delivery is in flight and
others wait, restarts on the same data, and checks that every message arrived at least
once, and that repeats carry the same delivery id.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select
from typing_extensions import override

from redoubt.actions.outgoing_hooks import enqueue_deliveries_txn
from redoubt.actions.webhook_delivery import prune_deliveries
from redoubt.core.ids import parse_id
from redoubt.core.signing import signature_matches, timestamp_fresh
from redoubt.domain.enums import UserRole
from redoubt.domain.outgoing_hooks import HookEvent, match_trigger, retry_delay
from redoubt.queries.context import Requester
from redoubt.storage import rooms as room_store
from redoubt.storage import users as user_store
from redoubt.storage.records import MessageRecord
from redoubt.storage.schema import webhook_deliveries
from tests.cli_runner import CHEAP_HASHING, REDOUBT_COMMAND, redoubt_env
from tests.harness import (
    PASSWORD,
    Server,
    User,
    deployment,
    free_port,
    run_server,
    sqlite_database,
    test_settings,
)
from tests.http_receiver import LoopbackServer, read_request, reply

API = "/api/v1"
HOOKS = f"{API}/admin/hooks/outgoing"

# --------------------------------------------------------------------------- receiver


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    valid: bool
    """Signature, timestamp and delivery id all check out."""

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def delivery_id(self) -> str:
        return self.headers["x-redoubt-delivery"]


Responder = Callable[[int], int | None]
"""Given the request's index (0-based), the status to answer, or None to hang."""


def always(status: int) -> Responder:
    return lambda _n: status


class Receiver(LoopbackServer):
    """A webhook receiver on 127.0.0.1 that verifies and records every request."""

    def __init__(self, respond: Responder | None = None, port: int = 0, secret: str = "") -> None:
        super().__init__(port=port)
        self.respond = respond or always(200)
        self.secret = secret
        self.received: list[Received] = []
        self._hang = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?tag=1"

    @override
    async def __aexit__(self, *exc: object) -> None:
        self._hang.set()
        await super().__aexit__(*exc)

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        try:
            timestamp = int(headers["x-redoubt-timestamp"])
            in_body = json.loads(body)["delivery_id"]
        except (KeyError, ValueError):
            return False
        return (
            signature_matches(self.secret, timestamp, body, headers.get("x-redoubt-signature", ""))
            and timestamp_fresh(timestamp, time.time(), 300)
            and in_body == headers.get("x-redoubt-delivery")
        )

    @override
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        index = len(self.received)
        self.received.append(
            Received(
                time.monotonic(),
                request.headers,
                request.body,
                self.verify(request.headers, request.body),
            )
        )
        status = self.respond(index)
        if status is None:
            await self._hang.wait()
            return
        await reply(writer, status)


# --------------------------------------------------------------------------- helpers


def hook_settings(receiver_port: int, **overrides: Any) -> dict[str, Any]:
    """Settings that let a server reach the test's receiver on loopback, and retry fast."""
    values: dict[str, Any] = {
        "egress_allow_networks": ["127.0.0.1/32"],
        "egress_allowed_ports": [receiver_port],
        "egress_timeout_seconds": 3.0,
        "webhook_retry_base_seconds": 0.05,
        "webhook_retry_max_seconds": 0.4,
        "webhook_poll_seconds": 0.05,
    }
    values.update(overrides)
    return values


@contextlib.asynccontextmanager
async def hook_server(
    tmp_path: Path, receiver: Receiver, **overrides: Any
) -> AsyncIterator[Server]:
    data_dir = tmp_path / "data"
    await asyncio.to_thread(sqlite_database, data_dir)
    settings = test_settings(data_dir, **hook_settings(receiver.port, **overrides))
    async with run_server(settings) as srv:
        yield srv


async def create_hook(
    srv: Server,
    admin: User,
    receiver: Receiver,
    room_ids: list[str],
    events: list[str],
    *,
    trigger_words: list[str] | None = None,
) -> dict[str, Any]:
    created = await srv.ok(
        "POST",
        HOOKS,
        admin,
        json={
            "name": "ci",
            "url": receiver.url,
            "room_ids": room_ids,
            "events": events,
            "trigger_words": trigger_words or [],
        },
    )
    receiver.secret = created["secret"]
    return dict(created["hook"])


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def deliveries(srv: Server, admin: User, hook_id: str) -> list[dict[str, Any]]:
    return list(await srv.ok("GET", f"{HOOKS}/{hook_id}/deliveries", admin))


async def until_deliveries(
    srv: Server,
    admin: User,
    hook_id: str,
    condition: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await deliveries(srv, admin, hook_id)
        if condition(rows):
            return rows
        assert time.monotonic() < deadline, f"timed out: {rows}"
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- pure rules


def test_trigger_words_match_the_first_word_ignoring_case() -> None:
    assert match_trigger("anything at all", []) is not None
    assert match_trigger("anything", [])
    words = ["deploy", "Status"]
    assert match_trigger("deploy now", words) == match_trigger("  DEPLOY", words)
    assert match_trigger("deploy now", words).word == "deploy"  # type: ignore[union-attr]
    assert match_trigger("status?", words) is None
    assert match_trigger("status report", words).word == "Status"  # type: ignore[union-attr]
    for text in ("please deploy", "deploying", "", "   ", "re-deploy now"):
        assert match_trigger(text, words) is None, text


def test_retry_delays_double_up_to_the_cap_with_bounded_jitter() -> None:
    plain = [retry_delay(n, base=2, maximum=60, jitter_unit=0.5) for n in range(1, 9)]
    assert plain == [2, 4, 8, 16, 32, 60, 60, 60]
    for n in range(1, 9):
        low = retry_delay(n, base=2, maximum=60, jitter_unit=0.0)
        high = retry_delay(n, base=2, maximum=60, jitter_unit=0.999999)
        assert low == pytest.approx(plain[n - 1] * 0.8)
        assert high == pytest.approx(plain[n - 1] * 1.2, rel=1e-5)
    assert retry_delay(10_000, base=2, maximum=60, jitter_unit=0.5) == 60


# --------------------------------------------------------------------------- delivery


async def test_messages_are_delivered_signed_with_a_stable_delivery_id(tmp_path: Path) -> None:
    async with Receiver() as receiver, hook_server(tmp_path, receiver) as srv:
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        alice = await srv.create_user("alice")
        room = await srv.room(alice, "ops", "channel")
        quiet = await srv.room(alice, "quiet", "channel")
        hook = await create_hook(srv, admin, receiver, [room], ["message.posted"])
        assert receiver.secret.startswith("rdt_whs_")
        assert hook["room_ids"] == [room]
        assert hook["enabled"] is True

        await srv.post(alice, quiet, "not watched")
        first = await srv.post(alice, room, "hello hooks")
        reply = await srv.post(alice, room, "a reply", thread_id=first["id"])
        await until(lambda: len(receiver.received) >= 2)
        await asyncio.sleep(0.2)  # nothing else arrives (the quiet room is not watched)
        assert len(receiver.received) == 2
        assert all(r.valid for r in receiver.received)

        got = receiver.received[0]
        assert got.headers["content-type"] == "application/json"
        assert got.headers["user-agent"] == "Redoubt-Webhook/1"
        assert got.headers["x-redoubt-signature"].startswith("v1=")
        body = got.json
        assert body == {
            "delivery_id": got.delivery_id,
            "event": "message.posted",
            "hook_id": hook["id"],
            "created_at": body["created_at"],
            "room": {"id": room, "name": "ops", "kind": "channel"},
            "user": {"id": alice.id, "username": "alice", "display_name": "Alice"},
            "message": {
                "id": first["id"],
                "text": "hello hooks",
                "thread_id": None,
                "created_at": body["message"]["created_at"],
            },
            "trigger_word": None,
        }
        assert receiver.received[1].json["message"]["thread_id"] == first["id"]
        assert receiver.received[1].json["message"]["id"] == reply["id"]
        # A changed byte fails the receiver's check: the signature covers the body.
        assert not receiver.verify(got.headers, got.body.replace(b"hello", b"jello"))
        assert "rdt_" not in got.body.decode()  # no secret or token in any payload

        rows = await until_deliveries(
            srv, admin, hook["id"], lambda rs: all(r["status"] == "delivered" for r in rs)
        )
        assert {r["id"] for r in rows} == {r.delivery_id for r in receiver.received}
        assert all(r["attempts"] == 1 and r["last_status_code"] == 200 for r in rows)
        assert all(r["delivered_at"] and r["last_error"] == "" for r in rows)


async def test_trigger_words_filter_which_messages_fire(tmp_path: Path) -> None:
    async with Receiver() as receiver, hook_server(tmp_path, receiver) as srv:
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        alice = await srv.create_user("alice")
        room = await srv.room(alice, "ops", "channel")
        await create_hook(
            srv, admin, receiver, [room], ["message.posted"], trigger_words=["deploy", "Status"]
        )
        for text in ("please deploy", "deploying now", "deploy now", "status report", "STATUS"):
            await srv.post(alice, room, text)
        await until(lambda: len(receiver.received) >= 3)
        await asyncio.sleep(0.2)
        got = sorted((r.json["message"]["text"], r.json["trigger_word"]) for r in receiver.received)
        assert got == [("STATUS", "Status"), ("deploy now", "deploy"), ("status report", "Status")]
        assert all(r.valid for r in receiver.received)


async def test_members_joining_and_leaving_are_announced(tmp_path: Path) -> None:
    async with Receiver() as receiver, hook_server(tmp_path, receiver) as srv:
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        alice = await srv.create_user("alice")
        bob = await srv.create_user("bob")
        carol = await srv.create_user("carol")
        room = await srv.room(alice, "lobby", "channel")
        await create_hook(srv, admin, receiver, [room], ["member.joined", "member.left"])
        await srv.ok("POST", f"{API}/rooms/{room}/join", bob)
        await srv.ok("POST", f"{API}/rooms/{room}/members", alice, json={"user_id": carol.id})
        await srv.post(alice, room, "messages are not among this hook's events")
        await srv.ok("POST", f"{API}/rooms/{room}/leave", bob)
        await srv.ok("DELETE", f"{API}/rooms/{room}/members/{carol.id}", alice)
        await until(lambda: len(receiver.received) >= 4)
        await asyncio.sleep(0.2)
        seen = sorted(
            (r.json["event"], r.json["user"]["username"], r.json["message"])
            for r in receiver.received
        )
        assert seen == [
            ("member.joined", "bob", None),
            ("member.joined", "carol", None),
            ("member.left", "bob", None),
            ("member.left", "carol", None),
        ]
        assert all(r.valid for r in receiver.received)
        assert {r.json["room"]["name"] for r in receiver.received} == {"lobby"}


async def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    tmp_path: Path,
) -> None:
    failures = 3
    receiver = Receiver(respond=lambda n: 500 if n < failures else 200)
    async with receiver, hook_server(tmp_path, receiver) as srv:
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        alice = await srv.create_user("alice")
        room = await srv.room(alice, "ops", "channel")
        hook = await create_hook(srv, admin, receiver, [room], ["message.posted"])
        await srv.post(alice, room, "try and try again")
        await until(lambda: len(receiver.received) >= failures + 1)
        await asyncio.sleep(0.5)  # delivered: no further attempt
        assert len(receiver.received) == failures + 1
        # One delivery, the same id and the same bytes every time, each signed.
        assert len({r.delivery_id for r in receiver.received}) == 1
        assert len({r.body for r in receiver.received}) == 1
        assert all(r.valid for r in receiver.received)
        # Backoff: at least base * 2^(n-1), less the 20 % jitter.
        gaps = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
        for n, gap in enumerate(gaps, start=1):
            assert gap >= 0.05 * 2 ** (n - 1) * 0.8 - 0.01, gaps
        (row,) = await until_deliveries(
            srv, admin, hook["id"], lambda rs: rs[0]["status"] == "delivered"
        )
        assert row["attempts"] == failures + 1
        assert row["last_status_code"] == 200
        listed = await srv.ok("GET", HOOKS, admin)
        assert listed[0]["enabled"] is True


async def test_a_receiver_that_keeps_failing_disables_the_hook_and_tells_its_owner(
    tmp_path: Path,
) -> None:
    answers = {"status": 500}
    receiver = Receiver(respond=lambda _n: answers["status"])
    async with receiver, hook_server(tmp_path, receiver, webhook_max_attempts=3) as srv:
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        other_admin = await srv.create_user("other", role=UserRole.ADMIN)
        alice = await srv.create_user("alice")
        room = await srv.room(alice, "ops", "channel")
        hook = await create_hook(srv, admin, receiver, [room], ["message.posted"])
        await srv.post(alice, room, "nobody is listening")
        (row,) = await until_deliveries(
            srv, admin, hook["id"], lambda rs: rs[0]["status"] == "failed"
        )
        assert row["attempts"] == 3
        assert row["last_status_code"] == 500
        assert row["last_error"] == "HTTP 500"
        assert len(receiver.received) == 3
        assert len({r.delivery_id for r in receiver.received}) == 1

        (listed,) = await srv.ok("GET", HOOKS, admin)
        assert listed["enabled"] is False
        assert "3 failed attempts" in listed["disabled_reason"]
        (notice,) = await srv.ok("GET", f"{API}/users/me/notices", admin)
        assert notice["kind"] == "webhook_disabled"
        assert notice["details"]["hook_id"] == hook["id"]
        assert notice["details"]["delivery_id"] == row["id"]
        assert await srv.ok("GET", f"{API}/users/me/notices", other_admin) == []
        (entry,) = await srv.ok(
            "GET", f"{API}/admin/audit", admin, params={"action": "hook.outgoing.disabled"}
        )
        assert entry["actor_id"] is None
        assert entry["target_id"] == hook["id"]
        assert entry["details"]["reason"] == "delivery_failed"

        # While disabled, events make no deliveries; enabled again, they flow.
        await srv.post(alice, room, "while it is off")
        await asyncio.sleep(0.3)
        assert len(receiver.received) == 3
        assert len(await deliveries(srv, admin, hook["id"])) == 1
        answers["status"] = 200
        enabled = await srv.ok("PATCH", f"{HOOKS}/{hook['id']}", admin, json={"enabled": True})
        assert (enabled["enabled"], enabled["disabled_reason"]) == (True, "")
        await srv.post(alice, room, "back on")
        await until(lambda: len(receiver.received) == 4)
        assert receiver.received[-1].json["message"]["text"] == "back on"
        assert receiver.received[-1].valid


async def test_the_guard_refuses_loopback_without_the_allowlist(tmp_path: Path) -> None:
    """The allowlist entry is all that lets the other tests reach their receivers: a
    server without it refuses the same URL in the admin form, and at delivery time (a
    hook created while the entry existed) the guard refuses to connect: the delivery
    fails with a "refused" error and the receiver never sees a byte."""
    data_dir = tmp_path / "data"
    await asyncio.to_thread(sqlite_database, data_dir)
    async with Receiver() as receiver:
        with_entry = test_settings(data_dir, **hook_settings(receiver.port))
        without = test_settings(
            data_dir,
            **hook_settings(receiver.port, egress_allow_networks=[]),
            webhook_max_attempts=2,
        )
        async with run_server(with_entry) as srv:
            admin = await srv.create_user("root", role=UserRole.ADMIN)
            alice = await srv.create_user("alice")
            room = await srv.room(alice, "ops", "channel")
            hook = await create_hook(srv, admin, receiver, [room], ["message.posted"])
        async with run_server(without) as srv:
            admin = await srv.create_user("root2", role=UserRole.ADMIN)
            for url in (
                receiver.url,
                f"http://[::ffff:127.0.0.1]:{receiver.port}/",
                f"http://localhost:{receiver.port}/",
                f"http://2130706433:{receiver.port}/",
                f"http://0177.0.0.1:{receiver.port}/",
                f"http://169.254.169.254:{receiver.port}/",
                f"http://10.0.0.1:{receiver.port}/",
                "https://hooks.example.org:8443/",  # a port the admin didn't approve
                "ftp://hooks.example.org/",
            ):
                resp = await srv.request(
                    "POST",
                    HOOKS,
                    admin,
                    json={"name": "x", "url": url, "room_ids": [room], "events": ["member.left"]},
                )
                assert resp.status_code == 400, (url, resp.text)
                assert resp.json()["error"]["message"].startswith("The URL can't be used")
            alice = await srv.create_user("alice2")
            await srv.ok("POST", f"{API}/rooms/{room}/join", alice)
            await srv.post(alice, room, "to loopback, please")
            rows = await until_deliveries(
                srv, admin, hook["id"], lambda rs: bool(rs) and rs[0]["status"] == "failed"
            )
            assert "refused" in rows[0]["last_error"]
            assert rows[0]["last_status_code"] is None
            assert receiver.received == []
            (listed,) = await srv.ok("GET", HOOKS, admin)
            assert listed["enabled"] is False


async def test_management_is_for_admins_and_the_secret_is_shown_once(tmp_path: Path) -> None:
    async with Receiver() as receiver, hook_server(tmp_path, receiver) as srv:
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        alice = await srv.create_user("alice")
        guest = await srv.create_user("guest", role=UserRole.GUEST)
        room = await srv.room(alice, "ops", "channel")
        secret_room = await srv.room(alice, "alice-only", "private")
        dm = (await srv.ok("POST", f"{API}/dms", alice, json={"user_ids": [admin.id]}))["id"]
        body = {"name": "ci", "url": receiver.url, "room_ids": [room], "events": ["member.left"]}

        # Validation: a DM, a private room the admin is not in, an unknown room.
        for room_ids, status in (([dm], 400), ([secret_room], 404), (["123456789"], 404)):
            resp = await srv.request("POST", HOOKS, admin, json={**body, "room_ids": room_ids})
            assert resp.status_code == status, resp.text
        for words in (["two words"], ["x" * 33]):
            resp = await srv.request("POST", HOOKS, admin, json={**body, "trigger_words": words})
            assert resp.status_code == 400, resp.text

        created = await srv.ok("POST", HOOKS, admin, json=body)
        secret = created["secret"]
        hook_id = created["hook"]["id"]
        receiver.secret = secret
        assert created["hook"]["owner_id"] == admin.id

        # Non-admins (a user, a guest) get 403 on every route; anonymous 401.
        routes: list[tuple[str, str, dict[str, Any] | None]] = [
            ("GET", HOOKS, None),
            ("POST", HOOKS, body),
            ("PATCH", f"{HOOKS}/{hook_id}", {"enabled": False}),
            ("POST", f"{HOOKS}/{hook_id}/secret", None),
            ("DELETE", f"{HOOKS}/{hook_id}", None),
            ("GET", f"{HOOKS}/{hook_id}/deliveries", None),
        ]
        for method, path, json_body in routes:
            for user in (alice, guest):
                resp = await srv.request(method, path, user, json=json_body)
                assert resp.status_code == 403, (method, path, user.username, resp.text)
                assert secret not in resp.text
            srv.http.cookies.clear()
            resp = await srv.request(method, path, None, json=json_body)
            assert resp.status_code == 401, (method, path)
        # ... and none of it changed the hook.
        (listed,) = await srv.ok("GET", HOOKS, admin)
        assert listed == created["hook"]

        # The secret is in no other answer.
        answers = [
            await srv.request("GET", HOOKS, admin),
            await srv.request(
                "PATCH",
                f"{HOOKS}/{hook_id}",
                admin,
                json={"name": "renamed", "trigger_words": ["ci"], "events": ["message.posted"]},
            ),
            await srv.request("GET", f"{HOOKS}/{hook_id}/deliveries", admin),
            await srv.request("GET", f"{API}/admin/audit", admin, params={"limit": 500}),
        ]
        for resp in answers:
            assert resp.status_code == 200, resp.text
            assert secret not in resp.text
            assert "rdt_whs_" not in resp.text
        assert answers[1].json()["name"] == "renamed"

        # Rotation: a new secret, shown once; deliveries are signed with it.
        rotated = await srv.request("POST", f"{HOOKS}/{hook_id}/secret", admin)
        assert rotated.status_code == 200
        assert rotated.headers["cache-control"] == "no-store"
        new_secret = rotated.json()["secret"]
        assert new_secret.startswith("rdt_whs_")
        assert new_secret != secret
        receiver.secret = new_secret
        await srv.post(alice, room, "ci run")
        await until(lambda: len(receiver.received) == 1)
        assert receiver.received[0].valid
        assert not signature_matches(
            secret,
            int(receiver.received[0].headers["x-redoubt-timestamp"]),
            receiver.received[0].body,
            receiver.received[0].headers["x-redoubt-signature"],
        )
        # At rest, the secret is sealed: not in the database file.
        db_bytes = await asyncio.to_thread((tmp_path / "data" / "redoubt.db").read_bytes)
        wal = tmp_path / "data" / "redoubt.db-wal"
        if wal.exists():
            db_bytes += await asyncio.to_thread(wal.read_bytes)
        assert new_secret.encode() not in db_bytes
        assert secret.encode() not in db_bytes

        resp = await srv.request("DELETE", f"{HOOKS}/{hook_id}", admin)
        assert resp.status_code == 204
        assert await srv.ok("GET", HOOKS, admin) == []
        resp = await srv.request("GET", f"{HOOKS}/{hook_id}/deliveries", admin)
        assert resp.status_code == 404

        entries = [
            e
            for e in await srv.ok("GET", f"{API}/admin/audit", admin, params={"limit": 500})
            if e["action"].startswith("hook.outgoing.")
        ]
        actions = [e["action"] for e in entries if e["target_id"] == hook_id]
        assert sorted(actions) == [
            "hook.outgoing.created",
            "hook.outgoing.deleted",
            "hook.outgoing.secret_rotated",
            "hook.outgoing.updated",
        ]
        assert all(e["actor_id"] == admin.id for e in entries)
        created_entry = next(e for e in entries if e["action"] == "hook.outgoing.created")
        # The URL's query (receivers keep tokens there) stays out of the audit log.
        assert created_entry["details"]["url"] == f"http://127.0.0.1:{receiver.port}/hook"


async def test_encrypted_and_bot_messages_are_never_announced(tmp_path: Path) -> None:
    async with Receiver() as receiver, hook_server(tmp_path, receiver) as srv:
        admin = await srv.create_user("root", role=UserRole.ADMIN)
        alice = await srv.create_user("alice")
        room = await srv.room(alice, "ops", "channel")
        robot = await srv.create_bot(alice, "robot", room)
        await srv.ok("POST", f"{API}/rooms/{room}/members", alice, json={"user_id": robot.id})
        hook = await create_hook(srv, admin, receiver, [room], ["message.posted"])
        ctx = srv.container.context
        async with ctx.db.read("test") as conn:
            room_record = await room_store.get_room_by_id(conn, int(room))
            robot_record = await user_store.get_user_by_id(conn, int(robot.id))
        assert room_record is not None
        assert robot_record is not None
        # A bot posting (an incoming webhook, say): a receiver answering through an
        # incoming webhook would otherwise loop.
        from redoubt.actions.messages import do_post_message

        await do_post_message(
            ctx,
            int(room),
            text="beep",
            thread_id=None,
            client_id=None,
            file_ids=[],
            acting_user=Requester(robot_record, None, "127.0.0.1"),
        )
        # An end-to-end encrypted message: the server can't read it and never sends it on.
        async with ctx.db.transaction("test") as txn:
            encrypted = MessageRecord(
                id=ctx.ids.next_id(),
                room_id=int(room),
                author_id=int(alice.id),
                position=0,
                content_type="encrypted",
                text="",
                thread_id=None,
                reply_count=0,
                mentions_room=False,
                client_id=None,
                created_at=txn.now,
                edited_at=None,
                deleted=False,
                pinned_at=None,
                pinned_by=None,
            )
            written = await enqueue_deliveries_txn(
                ctx,
                txn,
                room=room_record,
                event=HookEvent.MESSAGE_POSTED,
                user_id=int(alice.id),
                message=encrypted,
            )
        assert written == 0
        await srv.post(alice, room, "plain text goes out")
        await until(lambda: len(receiver.received) == 1)
        await asyncio.sleep(0.2)
        assert [r.json["message"]["text"] for r in receiver.received] == ["plain text goes out"]
        assert len(await deliveries(srv, admin, hook["id"])) == 1


# --------------------------------------------------------------------------- durability


def _serve_env(data_dir: Path, receiver_port: int) -> dict[str, str]:
    env = redoubt_env(
        data_dir,
        **CHEAP_HASHING,
        REDOUBT_REQUIRE_2FA_ROLES="[]",
        REDOUBT_RATE_POST_PER_10S="10000",
        REDOUBT_RATE_API_PER_SECOND="10000",
    )
    for name, value in hook_settings(receiver_port).items():
        env[f"REDOUBT_{name.upper()}"] = (
            json.dumps(value) if isinstance(value, list) else str(value)
        )
    return env


@pytest.mark.timeout(120)
async def test_killed_mid_delivery_and_restarted_nothing_is_lost(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await asyncio.to_thread(sqlite_database, data_dir)
    # Two deliveries go through, then the receiver holds the next request open (the
    # worker is mid-send) and the server process is killed.
    mode = {"answer": "ok-then-hang"}

    def respond(n: int) -> int | None:
        if mode["answer"] == "ok-then-hang":
            return 200 if n < 2 else None
        return 200

    async with Receiver(respond=respond) as receiver:
        settings = test_settings(data_dir, **hook_settings(receiver.port))
        async with run_server(settings) as srv:
            admin = await srv.create_user("root", role=UserRole.ADMIN)
            alice = await srv.create_user("alice")
            room = await srv.room(alice, "ops", "channel")
            hook = await create_hook(srv, admin, receiver, [room], ["message.posted"])

        port = free_port()
        log_file = await asyncio.to_thread((tmp_path / "serve.log").open, "wb")
        proc = await asyncio.create_subprocess_exec(
            *REDOUBT_COMMAND,
            "serve",
            "--port",
            str(port),
            env=_serve_env(data_dir, receiver.port),
            stdout=log_file,
            stderr=log_file,
            cwd=tmp_path,
        )
        posted: list[str] = []
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                deadline = time.monotonic() + 60
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get("/readyz")).status_code == 200:
                            break
                    assert proc.returncode is None, "the server process exited"
                    assert time.monotonic() < deadline, "the server process did not start"
                    await asyncio.sleep(0.1)
                login = await http.post(
                    f"{API}/auth/login", json={"username": "alice", "password": PASSWORD}
                )
                token = login.json()["token"]
                for n in range(6):
                    resp = await http.post(
                        f"{API}/rooms/{room}/messages",
                        json={"text": f"message {n}"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    assert resp.status_code == 201, resp.text
                    posted.append(resp.json()["id"])
                await until(lambda: len(receiver.received) >= 3)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            log_file.close()
        assert proc.returncode == -signal.SIGKILL
        hung = receiver.received[2]
        assert hung.valid  # it got the whole request; its answer never reached the server

        # Restart on the same data, the receiver answering again.
        mode["answer"] = "ok"
        async with run_server(settings) as srv:
            admin = User(admin.id, "root", "")
            admin = await srv.new_session(admin)
            rows = await until_deliveries(
                srv,
                admin,
                hook["id"],
                lambda rs: len(rs) == 6 and all(r["status"] == "delivered" for r in rs),
                timeout=40,
            )
        by_message: dict[str, set[str]] = {}
        for got in receiver.received:
            assert got.valid
            by_message.setdefault(got.json["message"]["id"], set()).add(got.delivery_id)
        # Every message arrived; repeats only under the same delivery id.
        assert set(by_message) == set(posted)
        assert all(len(ids) == 1 for ids in by_message.values()), by_message
        assert {r["id"] for r in rows} == {next(iter(ids)) for ids in by_message.values()}
        # The request that was in flight when the process died was sent again, same id.
        assert [r.delivery_id for r in receiver.received].count(hung.delivery_id) >= 2
        db = sqlite3.connect(data_dir / "redoubt.db")
        try:
            statuses = db.execute("SELECT status, locked_until FROM webhook_deliveries").fetchall()
        finally:
            db.close()
        assert statuses == [("delivered", None)] * 6


async def test_workers_of_several_processes_share_the_outbox_without_repeats(
    tmp_path: Path,
) -> None:
    """Scale-out (PostgreSQL + Redis): two processes' workers claim with ``FOR UPDATE
    SKIP LOCKED``, so each delivery goes out once although both poll the same rows."""

    receiver = Receiver()
    async with (
        receiver,
        deployment("postgres", tmp_path / "data") as make_settings,
    ):
        overrides = hook_settings(receiver.port, webhook_poll_seconds=0.01)
        async with (
            run_server(make_settings(**overrides)) as one,
            run_server(make_settings(**overrides)) as two,
        ):
            admin = await one.create_user("root", role=UserRole.ADMIN)
            alice = await one.create_user("alice")
            room = await one.room(alice, "ops", "channel")
            hook = await create_hook(one, admin, receiver, [room], ["message.posted"])
            alice_two = await two.new_session(alice)
            posts = [
                (one if n % 2 else two).post(alice if n % 2 else alice_two, room, f"m{n}")
                for n in range(30)
            ]
            sent = await asyncio.gather(*posts)
            await until(lambda: len(receiver.received) >= 30, timeout=20)
            await asyncio.sleep(0.3)
            ids = [r.delivery_id for r in receiver.received]
            assert len(ids) == len(set(ids)) == 30
            assert {r.json["message"]["id"] for r in receiver.received} == {m["id"] for m in sent}
            assert all(r.valid for r in receiver.received)
            rows = await deliveries(one, admin, hook["id"])
            assert all(r["status"] == "delivered" and r["attempts"] == 1 for r in rows)


async def test_finished_deliveries_are_pruned_after_the_retention_period(server: Server) -> None:
    """Delivered and failed rows older than the retention go; pending ones never do."""
    admin = await server.create_user("root", role=UserRole.ADMIN)
    room = await server.room(admin, "deploys")
    made = await server.ok(
        "POST",
        HOOKS,
        admin,
        json={
            "name": "ci",
            "url": "https://hooks.example.invalid/in",
            "room_ids": [room],
            "events": ["message.posted"],
        },
    )
    hook_id = parse_id(made["hook"]["id"])
    ctx = server.container.context
    now = ctx.clock.now()
    old = now - dt.timedelta(days=31)
    rows = {
        "old delivered": ("delivered", old),
        "old failed": ("failed", old),
        "old pending": ("pending", old),
        "new delivered": ("delivered", now),
    }
    ids = {}
    async with ctx.db.transaction("test") as txn:
        for name, (status, at) in rows.items():
            ids[name] = ctx.ids.next_id()
            await txn.conn.execute(
                insert(webhook_deliveries).values(
                    id=ids[name],
                    hook_id=hook_id,
                    event="message.posted",
                    body="{}",
                    status=status,
                    attempts=1,
                    created_at=at,
                    next_attempt_at=now + dt.timedelta(days=365),
                    last_error="",
                )
            )
    assert await prune_deliveries(ctx) == 2
    async with ctx.db.read("test") as conn:
        left = {r.id for r in await conn.execute(select(webhook_deliveries.c.id))}
    assert left == {ids["old pending"], ids["new delivered"]}
