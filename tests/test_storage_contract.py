"""The storage contract, run against both backends: SQLite (embedded) and PostgreSQL.

What the rest of the server relies on: stream positions are gap-free and increasing
whatever the concurrency (several processes included), a rolled-back transaction leaves
no trace, events reach the sink only after commit and in position order, datetimes come
back as aware UTC, full-text search treats user input as words, never as syntax, and
a database has one identity whatever URL reaches it.
PostgreSQL is a real server; when it can't be reached these tests fail, they do not skip.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Sequence

import pytest
import pytest_asyncio
from sqlalchemy import select, update
from sqlalchemy.exc import StatementError

from redoubt.domain.enums import RoomKind, UserRole
from redoubt.storage.database import Database, StoredEvent
from redoubt.storage.events import list_events_between
from redoubt.storage.messages import index_message_txn, insert_message_txn, search_messages
from redoubt.storage.records import MessageRecord, RoomRecord, UserRecord
from redoubt.storage.rooms import insert_room_txn
from redoubt.storage.schema import events, users
from redoubt.storage.users import insert_user_txn
from tests.harness import (
    PG_ADMIN_URL,
    drop_postgres_database,
    postgres_database,
    sqlite_database,
)

pytestmark = pytest.mark.timeout(40)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated database of each backend, shared by this module's tests (creating a
    PostgreSQL database costs a second or two); every test works relative to the
    position it starts from."""
    if request.param == "sqlite":
        data = tmp_path_factory.mktemp("storage")
        await asyncio.to_thread(sqlite_database, data)
        yield f"sqlite+aiosqlite:///{data / 'redoubt.db'}"
        return
    url = await postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, clock=utc_now)
    try:
        yield database
    finally:
        await database.dispose()


class Sink:
    """Records what a database hands to its event sink, and checks it was committed."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls: list[list[int]] = []
        self.committed: list[bool] = []

    async def __call__(self, batch: Sequence[StoredEvent]) -> None:
        seqs = [e.seq for e in batch]
        self.calls.append(seqs)
        # Another connection must already see exactly these events: the commit is done.
        async with self.db.read("test_sink_check") as conn:
            stored = await list_events_between(conn, seqs[0] - 1, seqs[-1])
        self.committed.append([e.seq for e in stored] == seqs and list(batch) == stored)


async def test_positions_are_gap_free_under_concurrent_transactions(db: Database) -> None:
    # Two Database objects are two processes (each with its own pool and, on SQLite,
    # its own in-process write lock); 20 transactions run at once across them.
    other = Database(db.url, clock=utc_now)
    sinks = [Sink(db), Sink(other)]
    db.set_event_sink(sinks[0])
    other.set_event_sink(sinks[1])
    start = await db.current_position()
    inside = 0
    peak = 0

    async def write(database: Database, n: int) -> list[int]:
        nonlocal inside, peak
        async with database.transaction("test_concurrent") as txn:
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.02)  # let the others open their transactions
            taken = [
                (await txn.append_event("test.event", json.dumps({"n": n, "k": k}))).seq
                for k in range(3)
            ]
            inside -= 1
        return taken

    try:
        results = await asyncio.gather(*(write((db, other)[n % 2], n) for n in range(20)))
    finally:
        await other.dispose()

    every = sorted(seq for taken in results for seq in taken)
    assert every == list(range(start + 1, start + 61))
    for taken in results:
        # A transaction's positions are consecutive: nobody commits in between.
        assert taken == list(range(taken[0], taken[0] + 3))
    calls = sinks[0].calls + sinks[1].calls
    assert sorted(calls) == sorted(results)
    assert all(sinks[0].committed + sinks[1].committed)
    assert await db.current_position() == start + 60
    if db.dialect == "postgresql":
        # Really concurrent: transactions were open at the same time (SQLite has one writer).
        assert peak > 1
    async with db.read("test_check") as conn:
        stored = await list_events_between(conn, start, start + 100)
    assert [e.seq for e in stored] == every


async def test_rolled_back_transaction_takes_no_position_and_emits_nothing(db: Database) -> None:
    sink = Sink(db)
    db.set_event_sink(sink)
    ran: list[str] = []
    start = await db.current_position()

    async def after() -> None:
        ran.append("after")

    async def fail() -> None:
        async with db.transaction("test_rollback") as txn:
            await txn.append_event("test.event", "{}")
            await txn.append_event("test.event", "{}")
            txn.after_commit(after)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail()
    assert await db.current_position() == start
    assert sink.calls == []
    assert ran == []

    async with db.transaction("test_after_rollback") as txn:
        stored = await txn.append_event("test.event", '{"ok":true}', room_id=5)
        txn.after_commit(after)
    assert stored.seq == start + 1
    assert sink.calls == [[start + 1]]
    assert sink.committed == [True]
    assert ran == ["after"]
    async with db.read("test_check") as conn:
        assert await list_events_between(conn, start, start + 10) == [stored]


async def test_sink_gets_a_transactions_events_after_commit_in_position_order(
    db: Database,
) -> None:
    sink = Sink(db)
    db.set_event_sink(sink)
    start = await db.current_position()
    async with db.transaction("test_order") as txn:
        # A position may be taken first and used later (a message's own position).
        reserved = await txn.next_seq()
        first = await txn.append_event("test.first", "{}", seq=reserved)
        others = [await txn.append_event("test.more", f'{{"k":{k}}}', user_id=k) for k in range(4)]
    assert first.seq == start + 1
    assert [e.seq for e in others] == list(range(start + 2, start + 6))
    assert sink.calls == [list(range(start + 1, start + 6))]
    assert sink.committed == [True]
    assert json.loads(others[2].frame) == {"seq": start + 4, "type": "test.more", "data": {"k": 2}}


async def test_a_failing_sink_does_not_undo_the_commit(db: Database) -> None:
    async def broken(_events: Sequence[StoredEvent]) -> None:
        raise ConnectionError("bus down")

    db.set_event_sink(broken)
    start = await db.current_position()
    async with db.transaction("test_broken_sink") as txn:
        await txn.append_event("test.event", "{}")
    # Readers (other processes, resuming clients) still get the event from the table.
    assert await db.current_position() == start + 1
    async with db.read("test_check") as conn:
        assert [e.seq for e in await list_events_between(conn, start, start + 1)] == [start + 1]


async def test_datetimes_round_trip_as_aware_utc(db_url: str) -> None:
    local = dt.timezone(dt.timedelta(hours=5, minutes=30))
    moment = dt.datetime(2026, 3, 29, 7, 30, 15, 123456, tzinfo=local)
    db = Database(db_url, clock=lambda: moment)
    try:
        async with db.transaction("test_datetime") as txn:
            stored = await txn.append_event("test.event", "{}")
        async with db.read("test_check") as conn:
            created = (
                await conn.execute(select(events.c.created_at).where(events.c.seq == stored.seq))
            ).scalar_one()
        assert created == moment
        assert created.utcoffset() == dt.timedelta(0)
        assert created.tzinfo == dt.UTC
        assert created.isoformat() == "2026-03-29T02:00:15.123456+00:00"

        # A naive datetime is refused before it reaches the database.
        naive = dt.datetime(2026, 1, 1, 12, 0)  # noqa: DTZ001 - the point of the test

        async def write_naive() -> None:
            async with db.transaction("test_naive") as txn:
                await txn.conn.execute(
                    update(events).where(events.c.seq == stored.seq).values(created_at=naive)
                )

        with pytest.raises(StatementError, match="naive datetime"):
            await write_naive()
    finally:
        await db.dispose()


async def test_identity_names_the_database_not_its_url(db: Database) -> None:
    """Scale-out namespaces Redis by it: processes reaching one database through
    different host names must agree, and another database must differ."""
    identity = await db.identity()
    alias = Database(db.url.replace("@127.0.0.1:", "@localhost:"), clock=utc_now)
    assert db.dialect == "sqlite" or alias.url != db.url
    try:
        assert await alias.identity() == identity
    finally:
        await alias.dispose()
    if db.dialect == "postgresql":
        other = Database(PG_ADMIN_URL, clock=utc_now)
        try:
            assert await other.identity() != identity
        finally:
            await other.dispose()


# --- full-text search ---------------------------------------------------------------


async def seed_messages(db: Database, texts: dict[int, tuple[int, str]]) -> None:
    """Messages by id: ``{id: (room_id, text)}``, in two rooms 100 and 200."""
    now = utc_now()
    async with db.transaction("test_seed") as txn:
        conn = txn.conn
        if (await conn.execute(select(users.c.id).where(users.c.id == 1))).first():
            return  # seeded by an earlier test on this database
        await insert_user_txn(conn, UserRecord(1, "alice", "Alice", UserRole.USER, None, True, now))
        for room_id in (100, 200):
            await insert_room_txn(
                conn,
                RoomRecord(room_id, RoomKind.CHANNEL, f"room{room_id}", "", False, None, 1, now, 0),
            )
        for message_id, (room_id, body) in texts.items():
            position = await txn.next_seq()
            await insert_message_txn(
                conn,
                MessageRecord(
                    id=message_id,
                    room_id=room_id,
                    author_id=1,
                    position=position,
                    content_type="text",
                    text=body,
                    thread_id=None,
                    reply_count=0,
                    mentions_room=False,
                    client_id=None,
                    created_at=now,
                    edited_at=None,
                    deleted=False,
                    pinned_at=None,
                    pinned_by=None,
                ),
            )
            await index_message_txn(conn, message_id, body)


async def search(db: Database, query: str, rooms: Sequence[int] = (100,)) -> set[int]:
    async with db.read("test_search") as conn:
        return {m.id for m in await search_messages(conn, query, rooms, limit=50)}


SEARCH_CORPUS = {
    1: (100, "Hello world, the deploy is done"),
    2: (100, "goodbye world"),
    3: (100, "Lunch near the station or the park?"),
    4: (100, "the release notes: version two"),
    5: (200, "hello from the other room"),
}

# Each query is plain words: operators and quotes are punctuation, never syntax.
PLAIN_TEXT_QUERIES = {
    "hello": {1},
    "HELLO": {1},
    "world": {1, 2},
    "world hello": {1},  # every word, in any order
    '"hello': {1},  # a stray quote
    '"hello world"': {1},
    "hello*": {1},  # not a prefix search
    "hel*": set(),
    "hello:*": {1},  # PostgreSQL's prefix syntax, as text
    "-hello": {1},  # not a negation
    "!hello": {1},
    "hello -world": {1},
    "hello OR nothing": set(),  # not a disjunction: "or" and "nothing" are words
    "hello | goodbye": set(),
    "goodbye & world": {2},
    "NEAR(hello world)": set(),  # not FTS5's NEAR: "near" is a word here
    "near station": {3},
    "text:hello": set(),  # not a column filter
    "notes: version": {4},
    "(world": {1, 2},
    "^hello": {1},
    "%": set(),
    "_": set(),
    "*": set(),
    '"': set(),
    "OR": {3},
    "AND": set(),
    "NOT": set(),
    "'; DROP TABLE messages; --": set(),
    "\\": set(),
    "hello\x00": {1},  # NUL: ends an FTS5 string, and PostgreSQL refuses it
    "hello\x01world": {1},
    "\tworld\n": {1, 2},
}


async def test_full_text_search_finds_words(db: Database) -> None:
    await seed_messages(db, SEARCH_CORPUS)
    assert await search(db, "deploy") == {1}
    assert await search(db, "hello", (100, 200)) == {1, 5}
    assert await search(db, "hello", (200,)) == {5}  # only the rooms asked for
    assert await search(db, "hello", ()) == set()
    assert await search(db, "   ") == set()
    assert await search(db, "nonexistent") == set()


async def test_full_text_search_treats_syntax_as_plain_text(db: Database) -> None:
    await seed_messages(db, SEARCH_CORPUS)
    # One database for all queries (a fresh PostgreSQL database per query would be slow);
    # every mismatch is reported at once.
    found = {query: await search(db, query) for query in PLAIN_TEXT_QUERIES}
    wrong = {
        q: (got, PLAIN_TEXT_QUERIES[q]) for q, got in found.items() if got != PLAIN_TEXT_QUERIES[q]
    }
    assert not wrong, f"query: (found, expected): {wrong}"
