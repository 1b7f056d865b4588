"""The ``redoubt`` command: serve, database migrations, admin chores.

Secrets never come from flags (they would show in ``ps`` and shell history): database
and Redis URLs come from ``REDOUBT_*`` variables, secret files or the TOML config, and
passwords from standard input.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from redoubt.core.errors import ApiError
from redoubt.core.logging import configure_logging
from redoubt.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from redoubt.container import Container
    from redoubt.queries.context import Context
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
admin_app = typer.Typer(help="Administration: users and the audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")

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
    settings.data_dir.mkdir(parents=True, exist_ok=True)
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
    settings.data_dir.mkdir(parents=True, exist_ok=True)
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
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. auth.login.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Show the newest audit log entries."""
    from redoubt.queries.audit import read_audit_log

    async def work(container: Container) -> list[AuditRecord]:
        return await read_audit_log(
            container.context, None, action=action, before_id=None, limit=limit
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


def main() -> None:
    app()
