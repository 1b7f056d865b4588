"""The ``redoubt`` command: serve, database migrations, admin chores.

Secrets never come from flags (they would show in ``ps`` and shell history): database
and Redis URLs come from ``REDOUBT_*`` variables, secret files or the TOML config, and
passwords from standard input.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from redoubt.core.errors import ApiError
from redoubt.core.logging import configure_logging
from redoubt.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from redoubt.container import Container
    from redoubt.queries.context import Context, Requester
    from redoubt.storage.audit import AuditRecord
    from redoubt.storage.records import UserRecord

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    help="Redoubt: a self-hosted team chat server.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema: migrations.", no_args_is_help=True)
admin_app = typer.Typer(help="Administration: users, bots and the audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
tokens_app = typer.Typer(
    help="API tokens (personal access tokens): create, list, rotate, revoke.",
    no_args_is_help=True,
)
app.add_typer(tokens_app, name="tokens")

_console = Console()
_errors = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data folder (database, uploads). Default: $REDOUBT_DATA_DIR or ./redoubt-data.",
    ),
]


def _settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    try:
        return load_settings(data_dir=data_dir, **overrides)
    except (ValueError, OSError) as exc:
        _errors.print(f"[red]Invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from None


def _run(settings: Settings, work: Callable[[Container], Awaitable[T]]) -> T:
    """Run ``work(container)`` on a started container (no HTTP server)."""
    from redoubt.container import Container, SchemaOutdatedError

    async def go() -> T:
        container = Container(settings)
        try:
            # In scale-out this also leases a node number, so ids never collide with a server's.
            await container.start_command()
            return await work(container)
        finally:
            await container.stop_command()

    try:
        return asyncio.run(go())
    except SchemaOutdatedError as exc:
        _errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(3) from None
    except ApiError as exc:
        _errors.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8080).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the server (embedded default: SQLite in the data folder, no other service)."""
    import uvicorn

    from redoubt.api.app import create_app
    from redoubt.container import Container, SchemaOutdatedError

    settings = _settings(data_dir, host=host, port=port)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    configure_logging(settings.log_level, json=settings.log_json)
    container = Container(settings)
    try:
        asyncio.run(_check(container))
    except SchemaOutdatedError as exc:
        _errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(3) from None
    _errors.print(
        f"Redoubt listening on http://{settings.host}:{settings.port} "
        f"(data in {settings.data_dir.resolve()}); API docs at /api/docs"
    )
    uvicorn.run(
        create_app(Container(settings)),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws_max_size=settings.ws_max_frame_bytes,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        server_header=False,
        proxy_headers=False,
    )


async def _check(container: Container) -> None:
    try:
        await container.check_schema()
    finally:
        await container.database.dispose()


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Create the database or bring its schema up to date."""
    from redoubt.storage.migrate import upgrade

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    upgrade(settings.effective_database_url)
    _console.print("Database schema is up to date.")


@db_app.command("current")
def db_current(data_dir: DataDir = None) -> None:
    """Show the schema version of the database and the one this code needs."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from redoubt.storage.migrate import current_revision, head_revision

    settings = _settings(data_dir)

    async def go() -> str | None:
        engine = create_async_engine(settings.effective_database_url)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    _console.print(f"database: {asyncio.run(go()) or 'empty'}; code needs: {head_revision()}")


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != first:
            _errors.print("[red]The passwords differ.[/red]")
            raise typer.Exit(1)
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@admin_app.command("create-user")
def create_user(
    name: Annotated[str, typer.Argument(help="Username (lower-case letters, digits, . _ -).")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
    guest: Annotated[bool, typer.Option("--guest", help="Make the user a guest.")] = False,
    display_name: Annotated[str | None, typer.Option(help="Name shown to others.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a user; the password is read from standard input (prompted on a terminal)."""
    from redoubt.actions.users import do_create_user
    from redoubt.domain.enums import UserRole

    if admin and guest:
        _errors.print("[red]Choose --admin or --guest, not both.[/red]")
        raise typer.Exit(2)
    role = UserRole.ADMIN if admin else UserRole.GUEST if guest else UserRole.USER
    password = _read_password()
    settings = _settings(data_dir)

    async def work(container: Container) -> str:
        ctx = container.context
        user = await do_create_user(
            ctx,
            username=name,
            display_name=display_name,
            password=password,
            role=role,
            acting_user=None,
        )
        return str(user.id)

    user_id = _run(settings, work)
    _console.print(f"Created {role.value} [bold]{name}[/bold] (id {user_id}).")


async def _find(ctx: Context, name: str) -> UserRecord:
    from redoubt.core.errors import NotFound
    from redoubt.queries.users import find_user_by_username

    user = await find_user_by_username(ctx, name)
    if user is None:
        raise NotFound(f"No user named {name}.")
    return user


@admin_app.command("deactivate-user")
def deactivate_user(
    name: Annotated[str, typer.Argument(help="Username.")], data_dir: DataDir = None
) -> None:
    """Deactivate a user: their sessions end and their connections close."""
    from redoubt.actions.users import do_deactivate_user

    async def work(container: Container) -> None:
        user = await _find(container.context, name)
        await do_deactivate_user(container.context, user.id, acting_user=None)

    _run(_settings(data_dir), work)
    _console.print(f"Deactivated {name}.")


@admin_app.command("set-role")
def set_role(
    name: Annotated[str, typer.Argument(help="Username.")],
    role: Annotated[str, typer.Argument(help="admin, user or guest.")],
    data_dir: DataDir = None,
) -> None:
    """Change a user's role (their sessions end)."""
    from redoubt.actions.users import do_set_user_role
    from redoubt.domain.enums import UserRole

    if role not in ("admin", "user", "guest"):
        _errors.print("[red]The role must be admin, user or guest.[/red]")
        raise typer.Exit(2)

    async def work(container: Container) -> None:
        user = await _find(container.context, name)
        await do_set_user_role(container.context, user.id, UserRole(role), acting_user=None)

    _run(_settings(data_dir), work)
    _console.print(f"{name} is now {role}.")


@admin_app.command("list-users")
def list_users(data_dir: DataDir = None) -> None:
    """List every account."""
    from redoubt.storage.users import list_users as load

    async def work(container: Container) -> list[UserRecord]:
        db = container.database
        out: list[UserRecord] = []
        after = 0
        while True:
            async with db.read("cli_list_users") as conn:
                page = await load(conn, limit=500, after_id=after)
            out.extend(page)
            if len(page) < 500:
                return out
            after = page[-1].id

    users = _run(_settings(data_dir), work)
    table = Table("id", "username", "display name", "role", "active")
    for u in users:
        table.add_row(
            str(u.id),
            u.username,
            u.display_name,
            u.role.value,
            "yes" if u.is_active else "no",
        )
    _console.print(table)


@admin_app.command("audit")
def audit(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many entries.")] = 50,
    action: Annotated[
        str | None,
        typer.Option(help="Only actions starting with this, e.g. auth.login or hook."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Show the newest audit log entries."""
    from redoubt.queries.audit import AuditFilter, read_audit_log

    async def work(container: Container) -> list[AuditRecord]:
        return await read_audit_log(
            container.context,
            None,
            filters=AuditFilter(action_prefix=action),
            before_id=None,
            limit=limit,
        )

    rows = _run(_settings(data_dir), work)
    table = Table("at", "action", "actor", "target", "ip", "details")
    for r in rows:
        table.add_row(
            r.at.isoformat(timespec="seconds"),
            r.action,
            str(r.actor_id or "-"),
            f"{r.target_type}:{r.target_id or '-'}",
            r.ip,
            str(r.details),
        )
    _console.print(table)


def _printable(text: str) -> Text:
    """Text shown as is: no rich markup, and no terminal control characters (names of
    tokens and hooks are chosen by users)."""
    return Text("".join(c if c.isprintable() else "?" for c in text))


_SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


_DOCTOR_HELP = (
    "Review the deployment and list what needs attention, with advice.\n\n"
    "Checks the files holding secrets (open to other users?), API tokens (no expiry, "
    "unused for 90 days), webhooks (unused, legacy URL-token mode, disabled after "
    "failures), admins without a second factor, TLS and debug settings. It reads the "
    "database directly (the server need not run) and changes nothing. Run it with the "
    "server's environment and config file: settings are part of the review.\n\n"
    "Exit status: 0 when no finding is high, 1 when any is (for cron and CI), other "
    "values on errors. Each finding is explained in docs/doctor.md."
)


@app.command(help=_DOCTOR_HELP)
def doctor(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the findings as JSON instead of a table.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    from redoubt.queries.doctor import DoctorReport, review_deployment

    async def work(container: Container) -> DoctorReport:
        return await review_deployment(container.context, None, show_paths=True)

    report = _run(_settings(data_dir), work)
    if as_json:
        findings = [
            {
                "id": f.id.value,
                "severity": f.severity.value,
                "title": f.title,
                "advice": f.advice,
                "subject": f.subject,
            }
            for f in report.findings
        ]
        body = {"findings": findings, "checked_at": report.checked_at.isoformat()}
        typer.echo(json.dumps(body, indent=2))
    elif not report.findings:
        _console.print("No findings: nothing needs attention.")
    else:
        table = Table("severity", "finding", show_lines=True)
        table.add_column("subject", overflow="fold")  # paths: all of it, not an ellipsis
        table.add_column("advice")
        for f in report.findings:
            table.add_row(
                Text(f.severity.value, style=_SEVERITY_STYLE[f.severity.value]),
                Text(f"{f.title}\n({f.id.value})"),
                _printable(f.subject or "-"),
                Text(f.advice),
            )
        _console.print(table)
        counts = Counter(f.severity.value for f in report.findings)
        total = len(report.findings)
        _console.print(
            f"{total} finding{'' if total == 1 else 's'}: "
            + ", ".join(f"{counts[s]} {s}" for s in _SEVERITY_STYLE if counts[s])
        )
    if report.has_high:
        raise typer.Exit(1)


# --- API tokens -------------------------------------------------------------------

_SCOPES_HELP = "messages:read, messages:write, rooms:manage, users:read or admin (repeat)."


def _owner_requester(user: UserRecord) -> Requester:
    from redoubt.queries.context import Requester

    # The host's operator acting for the owner: audited as the owner, from the CLI.
    return Requester(user=user, session_id=None, ip="cli")


def _show_secret(secret: str, what: str) -> None:
    # The token alone on standard output (so it can be piped into a secret store); the
    # explanation on standard error.
    _errors.print(f"{what} It is shown only this once; store it now.")
    print(secret)  # noqa: T201 - the one output meant for scripts


@tokens_app.command("create")
def tokens_create(  # noqa: PLR0917 - one option per token property (typer)
    username: Annotated[str, typer.Argument(help="The owner of the token.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    scope: Annotated[list[str], typer.Option("--scope", help=_SCOPES_HELP)],
    room: Annotated[
        list[str] | None, typer.Option("--room", help="Only this room id (repeat).")
    ] = None,
    network: Annotated[
        list[str] | None,
        typer.Option("--network", help="Only from this address range, e.g. 10.0.0.0/8 (repeat)."),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(min=0, help="Expiry in days (default: the server's; 0: never, if allowed)."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a token for a user and print it (once) on standard output."""
    from redoubt.actions.api_tokens import do_create_token
    from redoubt.core.ids import parse_id
    from redoubt.domain.scopes import Scope

    valid = {s.value for s in Scope}
    unknown = [s for s in scope if s not in valid]
    if unknown:
        _errors.print(f"[red]Unknown scope {unknown[0]!r}.[/red] Use: {', '.join(sorted(valid))}.")
        raise typer.Exit(2)
    room_ids = None if not room else [parse_id(r) or 0 for r in room]

    async def work(container: Container) -> str:
        ctx = container.context
        owner = await _find(ctx, username)
        _record, secret = await do_create_token(
            ctx,
            acting_user=_owner_requester(owner),
            name=name,
            scopes=[Scope(s) for s in scope],
            room_ids=room_ids,
            networks=network or None,
            expires_in_days=days,
        )
        return secret

    _show_secret(_run(_settings(data_dir), work), f"Created token {name!r} for {username}.")


@tokens_app.command("list")
def tokens_list(
    username: Annotated[
        str | None, typer.Argument(help="Only this user's tokens (default: everyone's).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """List API tokens: hint, owner, scopes, expiry, last use, status."""
    from redoubt.queries.api_tokens import list_all_tokens

    async def work(container: Container) -> list[Any]:
        views = await list_all_tokens(container.context)
        if username is not None:
            views = [v for v in views if v.owner is not None and v.owner.username == username]
        return views

    table = Table("id", "hint", "owner", "name", "scopes", "expires", "last used", "status")
    for v in _run(_settings(data_dir), work):
        table.add_row(
            v.id,
            _printable(v.hint),
            _printable(v.owner.username if v.owner else "-"),
            _printable(v.name),
            " ".join(v.scopes),
            v.expires_at.date().isoformat() if v.expires_at else "never",
            f"{v.last_used_at:%Y-%m-%d %H:%M} {v.last_used_ip}" if v.last_used_at else "never",
            v.status.value,
        )
    _console.print(table)


async def _token_owner(ctx: Context, token_id: str) -> tuple[int, UserRecord]:
    from redoubt.core.errors import NotFound
    from redoubt.core.ids import parse_id
    from redoubt.storage.api_tokens import get_token
    from redoubt.storage.users import get_user_by_id

    parsed = parse_id(token_id)
    async with ctx.db.read("cli_token_owner") as conn:
        record = None if parsed is None else await get_token(conn, parsed)
        owner = None if record is None else await get_user_by_id(conn, record.user_id)
    if record is None or owner is None:
        raise NotFound(f"No token with id {token_id}.")
    return record.id, owner


@tokens_app.command("rotate")
def tokens_rotate(
    token_id: Annotated[str, typer.Argument(help="The token's id (see `tokens list`).")],
    grace_hours: Annotated[
        int, typer.Option(min=0, help="How long the old token keeps working.")
    ] = 0,
    data_dir: DataDir = None,
) -> None:
    """Replace a token with a new one (printed once); the old one lasts GRACE_HOURS."""
    from redoubt.actions.api_tokens import do_rotate_token

    async def work(container: Container) -> str:
        ctx = container.context
        found, owner = await _token_owner(ctx, token_id)
        _record, secret = await do_rotate_token(
            ctx, acting_user=_owner_requester(owner), token_id=found, grace_hours=grace_hours
        )
        return secret

    _show_secret(_run(_settings(data_dir), work), f"Rotated token {token_id}.")


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (see `tokens list`).")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a token: it stops working at once."""
    from redoubt.actions.api_tokens import do_revoke_token

    async def work(container: Container) -> None:
        ctx = container.context
        found, owner = await _token_owner(ctx, token_id)
        await do_revoke_token(ctx, acting_user=_owner_requester(owner), token_id=found)

    _run(_settings(data_dir), work)
    _console.print(f"Revoked token {token_id}.")


# --- bot accounts -----------------------------------------------------------------


@admin_app.command("create-bot")
def create_bot(  # noqa: PLR0917 - one option per bot property (typer)
    name: Annotated[str, typer.Argument(help="The bot's username.")],
    owner: Annotated[str, typer.Option("--owner", help="The user responsible for it.")],
    description: Annotated[str, typer.Option(help="What the bot does.")] = "",
    display_name: Annotated[str | None, typer.Option(help="Name shown to others.")] = None,
    room: Annotated[
        list[str] | None,
        typer.Option("--room", help="A room id it may be added to (repeat)."),
    ] = None,
    network: Annotated[
        list[str] | None,
        typer.Option("--network", help="Only from this address range, e.g. 10.0.0.0/8 (repeat)."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a bot account and print its token (once) on standard output."""
    from redoubt.actions.bots import do_create_bot
    from redoubt.core.ids import parse_id

    room_ids = [parse_id(r) or 0 for r in room or ()]

    async def work(container: Container) -> str:
        ctx = container.context
        owner_user = await _find(ctx, owner)
        _bot, _user, token = await do_create_bot(
            ctx,
            acting_user=None,
            username=name,
            display_name=display_name,
            description=description,
            owner_id=owner_user.id,
            room_ids=room_ids,
            networks=network or None,
        )
        return token

    _show_secret(_run(_settings(data_dir), work), f"Created bot {name!r} (owner {owner}).")


@admin_app.command("list-bots")
def list_bots(data_dir: DataDir = None) -> None:
    """List bot accounts: id, username, owner, allowed rooms, token hint."""
    from redoubt.queries.bots import list_bot_views

    async def work(container: Container) -> list[Any]:
        return await list_bot_views(container.context)

    table = Table("id", "username", "owner", "rooms", "token", "description")
    for v in _run(_settings(data_dir), work):
        table.add_row(
            v.id,
            _printable(v.username),
            _printable(v.owner.username),
            " ".join(v.room_ids) or "-",
            _printable(v.token_hint or "none"),
            _printable(v.description),
        )
    _console.print(table)


def main() -> None:
    # Everything the server writes (database, its journal, uploads, the server key) is
    # for the server's own account only: readable by nobody else on the host.
    os.umask(0o077)
    app()
