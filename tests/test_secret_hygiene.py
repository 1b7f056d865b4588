"""T1 / T11 / T13 groundwork: passwords and tokens never reach a log line or a repr.

A server runs with the root logger at DEBUG (so SQLAlchemy's statements, aiosqlite's
calls and the WebSocket libraries' frame logs are all on) while passwords and tokens
are used in every way a client can use them, right and wrong, and while the database
fails underneath; every line the server's log handler would write is then searched
for each password and each issued token. The redaction step is unit-tested on its
own, the objects that hold secrets are checked for what their repr and str show, and
the session-wide detector in ``conftest.py`` is shown to catch a leaked token.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import sqlite3
import traceback
from pathlib import Path
from typing import Any

import pytest
import websockets
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from websockets.exceptions import ConnectionClosed

from redoubt.actions.auth import LoginResult
from redoubt.api import schemas as request_models
from redoubt.api.schemas import CreateUserBody, LoginBody
from redoubt.container import Container
from redoubt.core.logging import REDACTED, get_logger, redact_event, redact_text
from redoubt.core.settings import load_settings
from redoubt.core.tokens import generate_token, is_well_formed
from redoubt.domain.enums import UserRole
from redoubt.storage.records import SessionRecord, UserRecord
from redoubt.storage.users import insert_user_txn
from tests.conftest import LogSecretDetector
from tests.harness import (
    PASSWORD,
    Server,
    ServerLog,
    run_server,
    server_log,
    server_log_formatter,
    sqlite_database,
)
from tests.harness import test_settings as harness_settings

API = "/api/v1"
SECOND_PASSWORD = "tangerine submarine 42 orbit"
WRONG_PASSWORD = "correct horse battery stapler"
FAKE_BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"


async def _ws_exchange(server: Server, hello: Any, *, url: str | None = None) -> list[str]:
    """Send one hello (a dict, or raw text) and collect frames until the server closes
    the socket or goes quiet."""
    frames: list[str] = []
    async with websockets.connect(url or server.ws_url) as ws:
        await ws.send(hello if isinstance(hello, str) else json.dumps(hello))
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            while True:
                frames.append(str(await asyncio.wait_for(ws.recv(), 0.5)))
    return frames


async def _use_secrets_every_way(server: Server, data_dir: Path) -> list[str]:
    """Everything a client does with passwords and tokens; returns the tokens issued."""
    admin = await server.create_user("root", role=UserRole.ADMIN)
    alice = await server.create_user("alice")
    tokens = [admin.token, alice.token]
    # An admin creates an account with its own password; it logs in.
    await server.ok(
        "POST",
        f"{API}/users",
        admin,
        json={"username": "carol", "password": SECOND_PASSWORD, "role": "user"},
    )
    resp = await server.login("carol", SECOND_PASSWORD)
    assert resp.status_code == 200
    carol_token = resp.json()["token"]
    tokens.append(carol_token)
    # Failed logins: wrong password, unknown user, the password as the username, a body
    # with an extra field, an oversize password.
    for username, password in (
        ("alice", WRONG_PASSWORD),
        ("nobody", PASSWORD),
        (PASSWORD[:64], PASSWORD),
        ("carol", SECOND_PASSWORD + "x" * 1100),
    ):
        assert (await server.login(username, password)).status_code in (400, 401)
    resp = await server.http.post(
        f"{API}/auth/login",
        json={"username": "alice", "password": PASSWORD, "remember": PASSWORD},
    )
    assert resp.status_code == 400
    # Tokens: right and wrong, in every place a client might put one.
    room = await server.room(alice, "general")
    await server.post(alice, room, "hello")
    for header in (
        f"Bearer {alice.token}",
        f"bearer {alice.token}",
        f"Bearer  {alice.token}",
        f"Token {alice.token}",
        f"Bearer {alice.token}x",
        f"Bearer {alice.token[:-1]}",
        f"Bearer {FAKE_BOT_TOKEN}",
        f"Basic {alice.token}",
    ):
        server.http.cookies.clear()
        await server.http.get(f"{API}/users/me", headers={"Authorization": header})
    server.http.cookies.clear()
    await server.http.get(f"{API}/users/me", headers={"Cookie": f"redoubt_session={carol_token}"})
    # Tokens where they don't belong: in the path, in the query, in a bot-style path.
    await server.request("GET", f"{API}/rooms/{alice.token}", alice)
    await server.request("GET", f"{API}/search", alice, params={"q": "x", "token": alice.token})
    await server.request("GET", f"/bot{FAKE_BOT_TOKEN}/getMe")
    await server.request("GET", f"/bot{alice.token}/getMe")
    # The event stream: a good hello, a hello with an extra field, a wrong token, an
    # oversize one, a token in the URL (which the hello protocol forbids).
    async with server.events(alice) as stream:
        await stream.drain(0.2)
    await _ws_exchange(server, {"type": "hello", "token": alice.token, "since": 0, "pw": PASSWORD})
    await _ws_exchange(server, {"type": "hello", "token": alice.token + "x", "since": None})
    await _ws_exchange(server, {"type": "hello", "token": alice.token * 5, "since": None})
    await _ws_exchange(server, f'{{"type": "hello", "token": "{alice.token}"')
    await _ws_exchange(
        server,
        {"type": "hello", "token": alice.token, "since": None},
        url=f"{server.ws_url}?token={alice.token}",
    )
    # Logout, then the dead token again.
    await server.ok("POST", f"{API}/auth/logout", alice)
    assert (await server.request("GET", f"{API}/users/me", alice)).status_code == 401
    # The database fails under authenticated calls and a login: tracebacks get logged.
    conn = sqlite3.connect(data_dir / "redoubt.db", isolation_level=None)
    try:
        conn.execute('ALTER TABLE "sessions" RENAME TO "sessions_gone"')
    finally:
        conn.close()
    for token in (admin.token, carol_token):
        server.http.cookies.clear()
        resp = await server.http.get(
            f"{API}/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status_code == 500
    assert (await server.login("carol", SECOND_PASSWORD)).status_code == 500
    await _ws_exchange(server, {"type": "hello", "token": admin.token, "since": None})
    return tokens


async def test_no_password_or_token_reaches_any_log_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await asyncio.to_thread(sqlite_database, data_dir)
    with server_log(logging.DEBUG) as log:
        async with run_server(harness_settings(data_dir)) as server:
            tokens = await _use_secrets_every_way(server, data_dir)
    text = "\n".join(log.lines)
    # The capture really was at DEBUG and really saw the failures and the redactions.
    assert len(log.lines) > 300
    assert '"level": "debug"' in text
    assert "unhandled_error" in text
    assert "Traceback" in text
    assert REDACTED in text
    for secret in (PASSWORD, SECOND_PASSWORD, WRONG_PASSWORD, FAKE_BOT_TOKEN, *tokens):
        leaking = [line[:200] for line in log.lines if secret in line]
        assert not leaking, f"a secret ({secret[:4]}...) is in {len(leaking)} log lines"
    assert not [line for line in log.lines if PASSWORD[:12] in line]
    detector = LogSecretDetector(server_log_formatter())
    for line in log.lines:
        assert not detector.scan(line), line[:300]


# ------------------------------------------------------------------- reprs


def _user_record() -> UserRecord:
    return UserRecord(
        id=1,
        username="alice",
        display_name="Alice",
        role=UserRole.USER,
        password_hash="$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        is_active=True,
        created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    )


def _shown(obj: object) -> str:
    return f"{obj!r} {obj!s} {obj}"


_SECRET_FIELD = re.compile(r"password|token|code|challenge|secret")


def test_every_secret_field_of_a_request_body_stays_out_of_reprs() -> None:
    """Request bodies keep secrets out of reprs with ``Field(repr=False)`` on the field,
    not hand-written ``__repr__`` methods; a new body with a secret field that forgets
    it fails here."""
    bodies = [
        model
        for model in vars(request_models).values()
        if isinstance(model, type)
        and issubclass(model, BaseModel)
        and model.__name__.endswith("Body")
    ]
    assert len(bodies) > 15
    secret_fields = 0
    for model in bodies:
        assert "__repr__" not in vars(model), f"{model.__name__}: use Field(repr=False)"
        for name, info in model.model_fields.items():
            if _SECRET_FIELD.search(name):
                secret_fields += 1
                assert info.repr is False, f"{model.__name__}.{name} would show in reprs"
    assert secret_fields >= 8


def test_reprs_of_objects_holding_secrets_hide_them() -> None:
    user = _user_record()
    assert user.password_hash is not None
    assert "argon2" not in _shown(user)
    assert "alice" in repr(user)

    login = LoginBody(username="alice", password=PASSWORD)
    assert PASSWORD not in _shown(login)
    assert "alice" in repr(login)
    created = CreateUserBody(username="carol", password=SECOND_PASSWORD)
    assert SECOND_PASSWORD not in _shown(created)

    token = generate_token("ses")
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    session = SessionRecord(
        id=2, user_id=1, created_at=now, last_seen_at=now, expires_at=now, user_agent="", ip=""
    )
    result = LoginResult(token=token, user=user, session=session)
    assert token not in _shown(result)
    assert "argon2" not in _shown(result)


def test_validation_errors_do_not_quote_the_password() -> None:
    with pytest.raises(ValidationError) as too_long:
        LoginBody.model_validate({"username": "alice", "password": PASSWORD * 50})
    assert PASSWORD not in str(too_long.value)
    assert PASSWORD not in repr(too_long.value)
    with pytest.raises(ValidationError) as extra:
        LoginBody.model_validate({"username": "alice", "password": "x", "token": PASSWORD})
    assert PASSWORD not in str(extra.value)


def test_settings_and_engine_hide_database_and_redis_passwords(tmp_path: Path) -> None:
    pg_password = "db-Pa55-word"  # a test credential, never used to connect
    redis_password = "redis-Pa55"  # a test credential, never used to connect
    settings = load_settings(
        {
            "REDOUBT_DATABASE_URL": f"postgresql+asyncpg://redoubt:{pg_password}@db.internal/rd",
            "REDOUBT_REDIS_URL": f"redis://:{redis_password}@cache.internal:6379/0",
        },
        data_dir=tmp_path,
    )
    assert pg_password in settings.effective_database_url
    shown = _shown(settings) + settings.model_dump_json() + str(settings.model_dump())
    assert pg_password not in shown
    assert redis_password not in shown
    engine = Container(settings).database.engine
    assert pg_password not in repr(engine) + str(engine.url) + repr(engine.url)
    # And should a URL ever be logged, redaction masks its password.
    assert pg_password not in redact_text(settings.effective_database_url)
    assert settings.redis_url is not None
    assert redis_password not in redact_text(settings.redis_url.get_secret_value())


# ------------------------------------------------------------------ redaction


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (generate_token("ses"), None),
        (f"token={generate_token('pat')}&x=1", None),
        (f"/api/v1/rooms/{generate_token('ses')}/messages", None),
        (f"GET /bot{generate_token('bot')}/getMe", None),
        ("Authorization: Bearer abc.DEF-ghi_jkl~mno+pqr/stu==", "abc.DEF-ghi_jkl~mno+pqr/stu=="),
        ("authorization: bearer opaque-session-value", "opaque-session-value"),
        (f"bot token {FAKE_BOT_TOKEN} here", FAKE_BOT_TOKEN),
        (f"GET /bot{FAKE_BOT_TOKEN}/sendMessage", FAKE_BOT_TOKEN.split(":")[1]),
        ("postgresql+asyncpg://redoubt:s3cr3t@db:5432/rd", "s3cr3t"),
        ("redis://:s3cr3t-r3dis@cache:6379/0", "s3cr3t-r3dis"),
        ("redis://default:s3cr3t-r3dis@cache:6379/0", "s3cr3t-r3dis"),
        ("ldaps://cn=admin:dir-s3cret@ldap.internal", "dir-s3cret"),
    ],
)
def test_redact_text_masks_token_shapes(text: str, secret: str | None) -> None:
    redacted = redact_text(text)
    assert REDACTED in redacted
    if secret is None:
        assert "rdt_" not in redacted
    else:
        assert secret not in redacted


def test_redact_text_leaves_ordinary_text_alone() -> None:
    for text in (
        "GET /api/v1/rooms/61024935485440/messages",
        "2026-11-21T19:14:13.682260Z",
        "http://127.0.0.1:8080/api/v1/events",
        "user alice posted 12:30 in general",
        "incident 3ca748bf42a665be",
    ):
        assert redact_text(text) == text


def test_redact_event_masks_secret_keys_at_any_depth() -> None:
    token = generate_token("ses")
    event: dict[str, Any] = {
        "event": f"login for alice with {token}",
        "password": PASSWORD,
        "new_password": PASSWORD,
        "token": "opaque",
        "api_key": "k",
        "headers": {"Authorization": f"Bearer {token}", "Cookie": f"redoubt_session={token}"},
        "attempts": [{"secret": "s"}, f"Bearer {token}"],
        "url": "redis://:pw-in-url@cache:6379",
        "count": 3,
    }
    out = redact_event(None, "info", event)
    rendered = json.dumps(out)
    assert token not in rendered
    assert PASSWORD not in rendered
    assert "pw-in-url" not in rendered
    assert out["password"] == REDACTED
    assert out["headers"] == {"Authorization": REDACTED, "Cookie": REDACTED}
    assert out["attempts"][0] == {"secret": REDACTED}
    assert out["count"] == 3


def test_the_log_pipeline_redacts_messages_fields_and_tracebacks() -> None:
    token = generate_token("ses")
    lines = ServerLog()
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(lines)
    logger.propagate = False
    try:
        get_logger("tests.redaction").info("session", token=token, note=f"with {token}")
        logger.warning("stdlib record with %s", token)
        try:
            raise RuntimeError(f"failed for Bearer {token}")
        except RuntimeError:
            get_logger("tests.redaction").exception("boom")
    finally:
        logger.removeHandler(lines)
        logger.propagate = True
    assert len(lines.lines) == 3
    text = "\n".join(lines.lines)
    assert token not in text
    assert "Traceback" in text
    assert REDACTED in text


# ------------------------------------------------------- the session detector


def test_the_session_detector_is_attached_and_knows_harness_tokens(
    secret_log_detector: LogSecretDetector,
) -> None:
    marker = "detector-marker-7f3a"
    before = secret_log_detector.records_seen
    logging.getLogger("tests.marker").warning(marker)
    assert secret_log_detector.records_seen > before
    assert any(marker in line for line in secret_log_detector.recent)
    assert PASSWORD in secret_log_detector.others


async def test_harness_logins_register_their_tokens(
    server: Server, secret_log_detector: LogSecretDetector
) -> None:
    user = await server.create_user("dora")
    assert user.token in secret_log_detector.tokens


def test_the_detector_catches_a_logged_token_and_fails(
    secret_log_detector: LogSecretDetector,
) -> None:
    """A detector like the session's, fed through a separate logger whose plain
    formatter (no redaction) stands for a redaction bug. It must flag the lines and
    fail; the session's detector must not see any of it."""
    token = generate_token("ses")
    unregistered = generate_token("pat")
    assert is_well_formed(unregistered)
    detector = LogSecretDetector(logging.Formatter("%(name)s %(message)s"))
    detector.remember(token)
    detector.remember(SECOND_PASSWORD)
    logger = logging.getLogger("tests.detector_selftest")
    logger.addHandler(detector)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    seen_by_session = secret_log_detector.records_seen
    try:
        logger.info("harmless line")
        assert detector.findings == []
        logger.info("oops, Authorization was %s", token)
        logger.info("password was %s", SECOND_PASSWORD)
        logger.info("an unregistered token %sX", unregistered)  # glued to other text
        logger.info("a token with a broken checksum %s", token[:-1] + "!")
    finally:
        logger.removeHandler(detector)
        logger.propagate = True
    assert secret_log_detector.records_seen == seen_by_session
    assert len(detector.findings) == 3, detector.findings
    assert all(token not in finding for finding in detector.findings)
    with pytest.raises(pytest.fail.Exception, match="Secrets reached the log"):
        detector.assert_clean()
    # Through the real (redacting) formatter the same token is masked, and clean.
    redacting = LogSecretDetector(server_log_formatter())
    redacting.remember(token)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "oops %s", (token,), None)
    redacting.handle(record)
    assert redacting.findings == []
    redacting.assert_clean()


async def test_database_errors_do_not_carry_statement_parameters(tmp_path: Path) -> None:
    """A failed INSERT's exception (logged with every 500) must not quote the row: the
    parameters hold password hashes and token hashes."""
    await asyncio.to_thread(sqlite_database, tmp_path / "data")
    container = Container(harness_settings(tmp_path / "data"))
    try:
        user = UserRecord(
            id=1,
            username="dup",
            display_name="Dup",
            role=UserRole.USER,
            password_hash="$argon2id$v=19$m=64,t=1,p=1$SECRETHASHVALUE",
            is_active=True,
            created_at=dt.datetime.now(dt.UTC),
        )
        async with container.database.transaction("seed") as txn:
            await insert_user_txn(txn.conn, user)
        with pytest.raises(IntegrityError) as failure:
            async with container.database.transaction("dup") as txn:
                await insert_user_txn(txn.conn, user)
        rendered = "".join(traceback.format_exception(failure.value))
        assert "SECRETHASHVALUE" not in rendered
        assert "UNIQUE" in rendered  # the error itself still says what went wrong
    finally:
        await container.database.dispose()
