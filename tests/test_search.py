"""Full-text search on both deployments (SQLite FTS5, PostgreSQL full-text): scope,
deletes and edits, hostile query syntax, filters and paging."""

from __future__ import annotations

from typing import Any

from tests.harness import Server, User


async def _search(srv: Server, user: User, q: str, **params: Any) -> list[dict[str, Any]]:
    resp = await srv.request("GET", "/api/v1/search", user, params={"q": q, **params})
    assert resp.status_code == 200, (q, resp.status_code, resp.text)
    results: list[dict[str, Any]] = resp.json()
    return results


async def _ids(srv: Server, user: User, q: str, **params: Any) -> list[str]:
    return [m["id"] for m in await _search(srv, user, q, **params)]


async def test_search_scope(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    carol = await srv.create_user("carol")
    general = await srv.room(alice, "general", "channel", bob)
    secret = await srv.room(carol, "secret", "private")
    unjoined = await srv.room(carol, "announcements", "channel")

    m1 = await srv.post(alice, general, "The quarterly budget meeting is on Tuesday")
    m2 = await srv.post(bob, general, "budget spreadsheet attached")
    await srv.post(carol, secret, "secret budget numbers: layoffs planned")
    await srv.post(carol, unjoined, "budget announcement for everyone")
    await srv.post(alice, general, "unrelated chatter")

    # Words anywhere in the text, case-insensitive, newest first.
    assert await _ids(srv, bob, "budget") == [m2["id"], m1["id"]]
    assert await _ids(srv, bob, "BUDGET") == [m2["id"], m1["id"]]
    assert await _ids(srv, bob, "quarterly") == [m1["id"]]
    # Every word must match.
    assert await _ids(srv, bob, "budget tuesday") == [m1["id"]]
    assert await _ids(srv, bob, "budget nonexistentword") == []
    # Another user's private room never shows up; an unjoined channel isn't searched.
    assert await _ids(srv, bob, "layoffs") == []
    assert await _ids(srv, bob, "announcement") == []
    assert len(await _ids(srv, carol, "budget")) == 2  # carol: her own two rooms
    # Joining the channel brings it into scope.
    await srv.ok("POST", f"/api/v1/rooms/{unjoined}/join", bob)
    assert len(await _ids(srv, bob, "announcement")) == 1
    # A private room id as filter is 404 for a non-member, as for a missing room.
    for room_id in (secret, "123456789012"):
        resp = await srv.request(
            "GET", "/api/v1/search", bob, params={"q": "budget", "room_id": room_id}
        )
        assert resp.status_code == 404
    # Leaving a room takes it out of scope.
    await srv.ok("POST", f"/api/v1/rooms/{general}/leave", bob)
    assert await _ids(srv, bob, "spreadsheet") == []
    # Results carry the message view (and nothing from rooms out of scope).
    hits = await _search(srv, alice, "spreadsheet")
    assert [(h["room_id"], h["author_id"], h["text"]) for h in hits] == [
        (general, bob.id, "budget spreadsheet attached")
    ]


async def test_search_follows_edits_and_deletes(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    room = await srv.room(alice, "general")
    msg = await srv.post(alice, room, "the release is on monday")
    gone = await srv.post(alice, room, "the release candidate is broken")

    assert set(await _ids(srv, alice, "release")) == {msg["id"], gone["id"]}
    await srv.ok("DELETE", f"/api/v1/messages/{gone['id']}", alice)
    assert await _ids(srv, alice, "release") == [msg["id"]]
    assert await _ids(srv, alice, "broken") == []
    assert await _ids(srv, alice, "candidate") == []

    await srv.ok(
        "PATCH", f"/api/v1/messages/{msg['id']}", alice, json={"text": "the launch is on friday"}
    )
    assert await _ids(srv, alice, "friday") == [msg["id"]]
    assert await _ids(srv, alice, "launch") == [msg["id"]]
    assert await _ids(srv, alice, "monday") == []
    assert await _ids(srv, alice, "release") == []


async def test_search_query_syntax_never_errors(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    room = await srv.room(alice, "general")
    plain = await srv.post(alice, room, "hello world from alice")
    await srv.post(alice, room, "text colon: rowid value")

    hostile = [
        '"',
        '""',
        '"hello',
        'hello"',
        "'",
        "''",
        "*",
        "hello*",
        "*hello",
        "**",
        "NEAR(",
        "NEAR(hello world)",
        "NEAR(hello world, 2)",
        "hello OR",
        "OR",
        "AND",
        "NOT",
        "hello NOT world",
        "-",
        "-hello",
        "--",
        ":",
        "text:hello",
        "rowid:1",
        "text:",
        ":hello",
        "{text}: hello",
        "^hello",
        "(",
        ")",
        "(hello",
        "hello)",
        "()",
        "+",
        "&",
        "|",
        "!",
        "hello & world",
        "hello | world",
        "!hello",
        "<->",
        "hello <-> world",
        "\\",
        "%",
        "_",
        "%_%",
        ";",
        "'; DROP TABLE messages; --",
        "\t",
        "\u00e9",
        "\U0001f44d",
        "a" * 256,
        "hello:*",
        "hello:A",
        "'hello':*",
        "messages_fts",
        "MATCH",
        "hello) OR (1=1",
        'hello" OR "1"="1',
    ]
    for q in hostile:
        results = await _search(srv, alice, q)
        assert isinstance(results, list)
        for hit in results:
            assert hit["room_id"] == room
    # NUL can't be in any URL we accept: a clear 400, not a search and not a 500.
    resp = await srv.request("GET", "/api/v1/search", alice, params={"q": "a\x00b"})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_request"
    # Operators are words, not syntax, on both backends: every word must match.
    assert await _ids(srv, alice, "hello") == [plain["id"]]
    assert await _ids(srv, alice, "hello OR nonexistent") == []
    assert await _ids(srv, alice, "-world hello") == [plain["id"]]
    assert await _ids(srv, alice, '"hello world"') == [plain["id"]]
    # Blank, oversize or missing queries are 400, not 500.
    for params in (
        {"q": ""},
        {"q": "a" * 257},
        {},
        {"q": "x", "limit": 0},
        {"q": "x", "before": -1},
        {"q": "x", "room_id": "not-an-id"},
    ):
        resp = await srv.request("GET", "/api/v1/search", alice, params=params)
        assert 400 <= resp.status_code < 500, (params, resp.text)
    # The table is still there and still indexed.
    assert plain["id"] in await _ids(srv, alice, "world")


async def test_search_room_filter_and_paging(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    one = await srv.room(alice, "one")
    two = await srv.room(alice, "two")
    in_one = [await srv.post(alice, one, f"deploy number {i}") for i in range(7)]
    in_two = [await srv.post(alice, two, f"deploy other {i}") for i in range(3)]

    assert await _ids(srv, alice, "deploy", room_id=two) == [m["id"] for m in reversed(in_two)]
    assert await _ids(srv, alice, "deploy", room_id=one, limit=3) == [
        m["id"] for m in reversed(in_one[-3:])
    ]
    assert len(await _ids(srv, alice, "deploy")) == 10

    # Page newest-first with `before` (a position): each message exactly once.
    seen: list[str] = []
    before: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 4, "room_id": one}
        if before is not None:
            params["before"] = before
        page = await _search(srv, alice, "deploy", **params)
        if not page:
            break
        assert len(page) <= 4
        seen.extend(m["id"] for m in page)
        before = page[-1]["position"]
    assert seen == [m["id"] for m in reversed(in_one)]
    assert await _ids(srv, alice, "deploy", before=in_one[0]["position"]) == []
