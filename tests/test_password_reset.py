"""T13: password reset by email, attacked against a running server and a real SMTP relay.

A real SMTP server (aiosmtpd) listens on loopback and keeps what it receives; the tests
read the mail, follow its link, and try what an attacker would: reuse a link, use an
expired one, one issued before a password change, an older one after a newer request,
the same link twice at once, a weak password, and asking for accounts that don't exist,
have no address, or live in a directory, which must look exactly like asking for a real
one (same answer, comparable timing, no mail). Every token and password is registered
with the session's log detector, so none may reach a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import ssl
import statistics
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import update

from redoubt.actions.password_reset import INVALID_RESET_LINK, issue_password_reset
from redoubt.core.mailer import Mailer, MailError, SmtpConfig
from redoubt.core.settings import load_settings
from redoubt.domain.emails import normalise_email
from redoubt.domain.enums import UserRole
from redoubt.storage import users as user_store
from redoubt.storage.records import UserRecord
from redoubt.storage.schema import password_resets
from tests.conftest import LogSecretDetector
from tests.harness import PASSWORD, Server, User, deployment, run_server
from tests.ldap_server import make_ca, make_server_cert
from tests.mail_server import Inbox, inbox_fixture, mail_settings, smtp_server  # noqa: F401

API = "/api/v1"
PUBLIC_URL = "https://chat.example.org"
NEW_PASSWORD = "amber kettle 52 horizon"
LATER_PASSWORD = "silver orchard 19 tides"
CHANGED_PASSWORD = "copper meadow 83 lantern"
_LINK = re.compile(
    re.escape(PUBLIC_URL) + r"/reset#token=(rdt_rst_[A-Za-z0-9_\-]{43}_[0-9A-Za-z]{6})"
)


# --------------------------------------------------------------------- the relay


@pytest.fixture
def detector(secret_log_detector: LogSecretDetector) -> LogSecretDetector:
    for password in (NEW_PASSWORD, LATER_PASSWORD, CHANGED_PASSWORD):
        secret_log_detector.remember(password)
    return secret_log_detector


@contextlib.asynccontextmanager
async def mail_server(
    backend: str, tmp_path: Path, inbox: Inbox, **overrides: Any
) -> AsyncIterator[Server]:
    async with (
        deployment(backend, tmp_path / "data") as settings,
        run_server(settings(**mail_settings(inbox, PUBLIC_URL), **overrides)) as srv,
    ):
        yield srv


@pytest.fixture
async def server(tmp_path: Path, inbox: Inbox) -> AsyncIterator[Server]:
    async with mail_server("sqlite", tmp_path, inbox) as srv:
        yield srv


@pytest.fixture(params=["sqlite", "postgres"])
async def any_server(
    request: pytest.FixtureRequest, tmp_path: Path, inbox: Inbox
) -> AsyncIterator[Server]:
    async with mail_server(request.param, tmp_path, inbox) as srv:
        yield srv


# --------------------------------------------------------------------- helpers


async def send(
    srv: Server, method: str, path: str, user: User | None = None, **kwargs: Any
) -> httpx.Response:
    srv.http.cookies.clear()
    return await srv.request(method, path, user, **kwargs)


async def user_with_email(srv: Server, username: str, address: str | None = None) -> User:
    user = await srv.create_user(username)
    resp = await send(
        srv,
        "PUT",
        f"{API}/users/me/email",
        user,
        json={"email": address or f"{username}@example.org", "current_password": PASSWORD},
    )
    assert resp.status_code == 200, resp.text
    return user


async def ask(srv: Server, username_or_email: str) -> httpx.Response:
    resp = await send(
        srv, "POST", f"{API}/auth/password-reset", json={"username_or_email": username_or_email}
    )
    assert resp.status_code == 202, resp.text
    return resp


async def settle(srv: Server) -> None:
    """Wait for the work the requests left running in the background."""
    await srv.container.context.background.idle()


async def confirm(srv: Server, token: str, new_password: str) -> httpx.Response:
    return await send(
        srv,
        "POST",
        f"{API}/auth/password-reset/confirm",
        json={"token": token, "new_password": new_password},
    )


def token_in(message: EmailMessage, detector: LogSecretDetector) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    match = _LINK.search(body.get_content())
    assert match is not None, "no reset link in the mail"
    token = match.group(1)
    detector.remember(token)
    return token


def assert_invalid_link(resp: httpx.Response) -> None:
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "invalid_request"
    assert resp.json()["error"]["message"] == INVALID_RESET_LINK


async def audit_actions(srv: Server, admin: User) -> list[str]:
    entries = await srv.ok("GET", f"{API}/admin/audit", admin, params={"limit": 500})
    return [e["action"] for e in entries]


# --------------------------------------------------------------------- the flow


async def test_reset_by_mail_ends_every_session_and_the_link_works_once(
    any_server: Server, inbox: Inbox, detector: LogSecretDetector
) -> None:
    srv = any_server
    admin = await srv.create_user("root", role=UserRole.ADMIN)
    alice = await user_with_email(srv, "alice")
    second = await srv.login("alice", PASSWORD)
    detector.remember(second.json()["token"])
    async with srv.events(alice) as stream:
        # Asked with the address in another case and blanks: the same account.
        await ask(srv, "  Alice@EXAMPLE.org ")
        await inbox.wait_for(1)
        recipients, message = inbox.messages[0]
        assert recipients == ["alice@example.org"]  # the stored address, never the typed one
        assert message["To"] == "alice@example.org"
        assert message["From"] == "Redoubt <chat@example.org>"
        assert "reset" in str(message["Subject"]).lower()
        token = token_in(message, detector)

        resp = await confirm(srv, token, NEW_PASSWORD)
        assert resp.status_code == 204, resp.text
        # Every session ended, the streams too (4401: session ended).
        assert await stream.close_code() == 4401
    for token_ in (alice.token, second.json()["token"]):
        me = await send(srv, "GET", f"{API}/users/me", User(alice.id, "alice", token_))
        assert me.status_code == 401
    assert (await srv.login("alice", PASSWORD)).status_code == 401
    fresh = await srv.login("alice", NEW_PASSWORD)
    assert fresh.status_code == 200
    detector.remember(fresh.json()["token"])
    # Once only.
    assert_invalid_link(await confirm(srv, token, LATER_PASSWORD))
    assert (await srv.login("alice", NEW_PASSWORD)).status_code == 200
    actions = await audit_actions(srv, admin)
    assert "user.password_reset_requested" in actions
    assert "user.password_reset" in actions


async def test_a_username_works_as_well_and_exactly_one_mail_goes_out(
    server: Server, inbox: Inbox, detector: LogSecretDetector
) -> None:
    await user_with_email(server, "bob", "Bob.Builder@Example.org")
    await ask(server, "BOB")
    await settle(server)
    assert len(inbox.messages) == 1
    assert inbox.messages[0][0] == ["bob.builder@example.org"]
    assert (
        await confirm(server, token_in(inbox.messages[0][1], detector), NEW_PASSWORD)
    ).status_code == 204


async def test_an_expired_link_fails(
    server: Server, inbox: Inbox, detector: LogSecretDetector
) -> None:
    await user_with_email(server, "carol")
    await ask(server, "carol")
    await inbox.wait_for(1)
    token = token_in(inbox.messages[0][1], detector)
    async with server.container.context.db.transaction("test_expire") as txn:
        await txn.conn.execute(
            update(password_resets).values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
    assert_invalid_link(await confirm(server, token, NEW_PASSWORD))
    assert (await server.login("carol", PASSWORD)).status_code == 200


async def test_a_password_change_voids_a_link_sent_before_it(
    server: Server, inbox: Inbox, detector: LogSecretDetector
) -> None:
    dave = await user_with_email(server, "dave")
    await ask(server, "dave")
    await inbox.wait_for(1)
    token = token_in(inbox.messages[0][1], detector)
    changed = await send(
        server,
        "POST",
        f"{API}/users/me/password",
        dave,
        json={"current_password": PASSWORD, "new_password": CHANGED_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert_invalid_link(await confirm(server, token, NEW_PASSWORD))
    assert (await server.login("dave", CHANGED_PASSWORD)).status_code == 200


async def test_a_newer_request_voids_the_older_link(
    server: Server, inbox: Inbox, detector: LogSecretDetector
) -> None:
    await user_with_email(server, "erin")
    await ask(server, "erin")
    await inbox.wait_for(1)
    await ask(server, "erin@example.org")
    await inbox.wait_for(2)
    first, second = (token_in(m, detector) for _, m in inbox.messages)
    assert first != second
    assert_invalid_link(await confirm(server, first, NEW_PASSWORD))
    assert (await confirm(server, second, NEW_PASSWORD)).status_code == 204


async def test_a_weak_password_is_refused_and_the_link_keeps_working(
    server: Server, inbox: Inbox, detector: LogSecretDetector
) -> None:
    await user_with_email(server, "frank")
    await ask(server, "frank")
    await inbox.wait_for(1)
    token = token_in(inbox.messages[0][1], detector)
    for weak, rule in (
        ("password123", "most common passwords"),
        ("frankfrankfrank", "username"),
        ("short", "at least"),
    ):
        resp = await confirm(server, token, weak)
        assert resp.status_code == 400, weak
        assert rule in resp.json()["error"]["message"]
    assert (await server.login("frank", PASSWORD)).status_code == 200
    assert (await confirm(server, token, NEW_PASSWORD)).status_code == 204


async def test_the_same_link_twice_at_once_works_exactly_once(
    any_server: Server, inbox: Inbox, detector: LogSecretDetector
) -> None:
    srv = any_server
    await user_with_email(srv, "gina")
    await ask(srv, "gina")
    await inbox.wait_for(1)
    token = token_in(inbox.messages[0][1], detector)
    passwords = [NEW_PASSWORD, LATER_PASSWORD, CHANGED_PASSWORD, NEW_PASSWORD + " x"]
    for p in passwords:
        detector.remember(p)
    results = await asyncio.gather(*(confirm(srv, token, p) for p in passwords))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [204, 400, 400, 400], [r.text for r in results]
    winner = passwords[[r.status_code for r in results].index(204)]
    for p in passwords:
        expected = 200 if p == winner else 401
        assert (await srv.login("gina", p)).status_code == expected


async def test_bad_tokens_all_get_the_same_answer(
    server: Server, inbox: Inbox, detector: LogSecretDetector
) -> None:
    hank = await user_with_email(server, "hank")
    await ask(server, "hank")
    await inbox.wait_for(1)
    token = token_in(inbox.messages[0][1], detector)
    forged = token[:-10] + ("A" if token[-10] != "A" else "B") + token[-9:]  # checksum off
    for bad in ("x", "rdt_rst_" + "A" * 43 + "_AAAAAA", forged, hank.token, token + "x"):
        assert_invalid_link(await confirm(server, bad, NEW_PASSWORD))
    assert (await confirm(server, token, NEW_PASSWORD)).status_code == 204


# --------------------------------------------------------------------- no enumeration


async def _directory_account(srv: Server, username: str, address: str) -> None:
    async with srv.container.context.db.transaction("test_ldap_user") as txn:
        await user_store.insert_user_txn(
            txn.conn,
            UserRecord(
                id=srv.container.context.ids.next_id(),
                username=username,
                display_name=username,
                role=UserRole.USER,
                password_hash=None,
                is_active=True,
                created_at=txn.now,
                auth_source="ldap",
                external_id=f"uuid-{username}",
                email=address,
            ),
        )


async def test_accounts_that_cant_be_reset_look_exactly_like_ones_that_can(
    server: Server, inbox: Inbox, detector: LogSecretDetector
) -> None:
    admin = await server.create_user("root", role=UserRole.ADMIN)
    await user_with_email(server, "ivy")
    await server.create_user("noaddress")
    await _directory_account(server, "dirk", "dirk@example.org")
    gone = await user_with_email(server, "gone")
    await server.ok("POST", f"{API}/users/{gone.id}/deactivate", admin)

    real = await ask(server, "ivy")
    await settle(server)
    assert len(inbox.messages) == 1
    for name in (
        "nobody",
        "nobody@example.org",
        "noaddress",
        "dirk",
        "dirk@example.org",
        "gone",
        "gone@example.org",
        "not an address@",
        "*",
    ):
        resp = await ask(server, name)
        assert resp.content == real.content, name
        assert dict(resp.headers).keys() == dict(real.headers).keys(), name
    await settle(server)
    assert len(inbox.messages) == 1  # still only ivy's


async def test_timing_doesnt_tell_a_real_account_from_an_unknown_one(
    tmp_path: Path, detector: LogSecretDetector
) -> None:
    """A slow relay (0.3 s per mail): a request that waited for the mail, or for the
    database work that precedes it, would stand out at once. Each real account is asked
    for once (so each one really gets a mail), then one account over and over (so the
    silent per-account cap is exercised too)."""
    slow = Inbox(delay=0.3)
    rounds = 8
    with smtp_server(slow):
        async with mail_server("sqlite", tmp_path, slow) as srv:
            for i in range(rounds):
                await user_with_email(srv, f"jack{i}")
            await ask(srv, "warm-up")
            timings: dict[str, list[float]] = {"known": [], "unknown": [], "repeated": []}
            for i in range(rounds):
                for kind, name in (
                    ("known", f"jack{i}"),
                    ("unknown", f"nobody{i}"),
                    ("repeated", "jack0@example.org"),
                ):
                    started = time.perf_counter()
                    await ask(srv, name)
                    timings[kind].append(time.perf_counter() - started)
            await settle(srv)
    medians = {kind: statistics.median(values) for kind, values in timings.items()}
    fastest, slowest = min(medians.values()), max(medians.values())
    assert slowest < 0.15, timings
    assert slowest / fastest < 3 or slowest - fastest < 0.01, timings
    # Every account got its mail; the repeated one only its capped share.
    recipients = [r for rs, _ in slow.messages for r in rs]
    assert sorted(set(recipients)) == sorted(f"jack{i}@example.org" for i in range(rounds))
    assert recipients.count("jack0@example.org") == 3


async def test_requests_are_rate_limited_per_address_alike_for_any_name(
    tmp_path: Path, inbox: Inbox, detector: LogSecretDetector
) -> None:
    async with mail_server("sqlite", tmp_path, inbox, rate_login_per_minute=3) as srv:
        await user_with_email(srv, "kate")
        statuses = []
        for name in ("kate", "nobody", "kate@example.org", "someone", "kate"):
            resp = await send(
                srv, "POST", f"{API}/auth/password-reset", json={"username_or_email": name}
            )
            statuses.append(resp.status_code)
        assert statuses == [202, 202, 202, 429, 429]
        await settle(srv)


# --------------------------------------------------------------------- the address


async def test_setting_the_address_needs_the_password_and_tells_the_old_one(
    server: Server, inbox: Inbox, detector: LogSecretDetector
) -> None:
    lena = await user_with_email(server, "lena")
    await user_with_email(server, "mike")

    async def put(address: str | None, password: str = PASSWORD) -> httpx.Response:
        return await send(
            server,
            "PUT",
            f"{API}/users/me/email",
            lena,
            json={"email": address, "current_password": password},
        )

    wrong = await put("thief@evil.example", "not the password at all")
    assert wrong.status_code == 403
    assert (await put("MIKE@example.org")).status_code == 409
    for bad in (
        "no-at-sign",
        "a@b",
        "a b@example.org",
        "a@example.org\r\nBcc: x@y.org",
        "ké@example.org",
    ):
        assert (await put(bad)).status_code == 400, bad
    assert (await server.ok("GET", f"{API}/users/me/email", lena)) == {"email": "lena@example.org"}
    assert inbox.messages == []

    changed = await put("Lena.New@Example.org")
    assert changed.json() == {"email": "lena.new@example.org"}
    await settle(server)
    assert [r for r, _ in inbox.messages] == [["lena@example.org"]]
    assert "changed" in str(inbox.messages[0][1]["Subject"])
    # The email isn't in the user's public profile.
    public = await server.ok("GET", f"{API}/users/{lena.id}", lena)
    assert "email" not in public
    assert (await put(None)).json() == {"email": None}


async def test_admins_can_create_an_account_with_an_address(
    server: Server, inbox: Inbox, detector: LogSecretDetector
) -> None:
    admin = await server.create_user("root", role=UserRole.ADMIN)
    created = await send(
        server,
        "POST",
        f"{API}/users",
        admin,
        json={"username": "nina", "password": PASSWORD, "email": "Nina@Example.org"},
    )
    assert created.status_code == 201, created.text
    taken = await send(
        server,
        "POST",
        f"{API}/users",
        admin,
        json={"username": "nina2", "password": PASSWORD, "email": "nina@example.org"},
    )
    assert taken.status_code == 409
    await ask(server, "nina")
    await inbox.wait_for(1)
    assert inbox.messages[0][0] == ["nina@example.org"]
    token_in(inbox.messages[0][1], detector)


def test_email_normalisation_is_conservative() -> None:
    assert normalise_email(" Alice@Example.ORG ") == "alice@example.org"
    assert normalise_email("first.last+tag@sub.example.co.uk") == "first.last+tag@sub.example.co.uk"
    for bad in (
        "",
        "alice",
        "alice@localhost",
        "alice@[127.0.0.1]",
        '"a b"@example.org',
        "a..b@example.org",
        ".a@example.org",
        "a@-example.org",
        "a@example.org>",
        "Alice <alice@example.org>",
        "a@example.org,b@example.org",
        "a@example.org\nBcc: b@example.org",
        "\u212aate@example.org",  # KELVIN SIGN lower-cases to "k"
        "x" * 65 + "@example.org",
        "a@" + "b" * 250 + ".org",
    ):
        assert normalise_email(bad) is None, bad


# --------------------------------------------------------------------- issue without mail


async def test_without_smtp_nothing_is_issued_and_the_answer_is_the_same(
    tmp_path: Path, inbox: Inbox, detector: LogSecretDetector
) -> None:
    async with deployment("sqlite", tmp_path / "data") as settings, run_server(settings()) as srv:
        olly = await user_with_email(srv, "olly")
        resp = await ask(srv, "olly")
        assert resp.json()["message"]
        await settle(srv)
        # Nothing was issued: the action itself still works for scripting.
        async with srv.container.context.db.read("test") as conn:
            rows = (await conn.execute(password_resets.select())).all()
        assert rows == []
        token = await issue_password_reset(srv.container.context, int(olly.id), ip="")
        assert token is not None
        detector.remember(token)
        assert (await confirm(srv, token, NEW_PASSWORD)).status_code == 204


# --------------------------------------------------------------------- the mailer and settings


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("smtp-tls")
    make_ca(d, "ca")
    make_ca(d, "rogue")
    make_server_cert(d)
    return d


def _server_tls(certs: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs / "server.crt", certs / "server.key")
    return context


async def test_the_mailer_verifies_the_relays_certificate(certs: Path) -> None:
    box = Inbox()
    with smtp_server(box, tls_context=_server_tls(certs)) as port:
        good = Mailer(
            SmtpConfig("127.0.0.1", port, "starttls", "r@example.org", ca_file=certs / "ca.crt")
        )
        assert await good.send("a@example.org", "hello", "body text")
        rogue = Mailer(
            SmtpConfig("localhost", port, "starttls", "r@example.org", ca_file=certs / "rogue.crt")
        )
        with pytest.raises(MailError):
            await rogue.send("a@example.org", "hello", "body text")
    assert [r for r, _ in box.messages] == [["a@example.org"]]
    # Implicit TLS (SMTPS) the same way.
    tls_box = Inbox()
    with smtp_server(tls_box, ssl_context=_server_tls(certs)) as port:
        ok = Mailer(SmtpConfig("127.0.0.1", port, "tls", "r@example.org", ca_file=certs / "ca.crt"))
        assert await ok.send("b@example.org", "hi", "text")
        system_cas = Mailer(SmtpConfig("127.0.0.1", port, "tls", "r@example.org"))
        with pytest.raises(MailError):
            await system_cas.send("b@example.org", "hi", "text")
    assert len(tls_box.messages) == 1


async def test_the_mailer_refuses_a_relay_without_starttls(inbox: Inbox) -> None:
    mailer = Mailer(SmtpConfig("127.0.0.1", inbox.port, "starttls", "r@example.org"))
    with pytest.raises(MailError):
        await mailer.send("a@example.org", "hello", "never in clear text")
    assert inbox.messages == []
    assert not await Mailer(None).send("a@example.org", "hello", "nothing")
    assert "password" not in repr(Mailer(SmtpConfig("h", 1, "tls", "f", "u", "pw-secret")))


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"smtp_host": "mail.example.org", "smtp_security": "none"}, "loopback"),
        ({"smtp_host": "127.0.0.1", "smtp_from": "a@b.org"}, "public_url"),
        ({"smtp_host": "127.0.0.1", "public_url": PUBLIC_URL}, "smtp_from"),
        ({"public_url": "http://chat.example.org"}, "https"),
        ({"public_url": "https://chat.example.org/?next=x"}, "query"),
        ({"public_url": "javascript:alert(1)"}, "http"),
        (
            {
                "smtp_host": "127.0.0.1",
                "smtp_username": "u",
                "smtp_from": "a@b.org",
                "public_url": PUBLIC_URL,
            },
            "together",
        ),
    ],
)
def test_unsafe_email_settings_are_refused(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        load_settings({}, **overrides)


def test_the_smtp_password_comes_from_a_file_and_stays_hidden(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret-smtp-pass\n")
    settings = load_settings(
        {
            "REDOUBT_SMTP_HOST": "mail.example.org",
            "REDOUBT_SMTP_USERNAME": "chat",
            "REDOUBT_SMTP_PASSWORD_FILE": str(secret),
            "REDOUBT_SMTP_FROM": "chat@example.org",
            "REDOUBT_PUBLIC_URL": PUBLIC_URL,
        }
    )
    assert settings.smtp_password is not None
    assert settings.smtp_password.get_secret_value() == "s3cret-smtp-pass"
    assert "s3cret" not in repr(settings)
    assert settings.effective_smtp_port == 587
