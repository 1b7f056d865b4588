"""The deployment review behind ``redoubt doctor`` and ``GET /admin/doctor``.

It looks at the configuration (``domain/doctor.py``), at the modes of the files that
hold secrets, and at credentials and integrations in the database, and returns
findings with advice, worst first. It only reads: nothing is changed or fixed. The CLI
runs it straight on the database, so it works while the server is down.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from redoubt.core.errors import Forbidden
from redoubt.core.settings import Settings
from redoubt.domain.doctor import (
    Finding,
    FindingId,
    Severity,
    finding,
    mode_open_to_others,
    settings_findings,
    sort_findings,
)
from redoubt.domain.enums import UserRole
from redoubt.domain.scopes import Scope
from redoubt.queries.context import Context, Requester
from redoubt.queries.server_settings import required_2fa_roles
from redoubt.storage import doctor as store

__all__ = ["LIST_LIMIT", "UNUSED_DAYS", "DoctorReport", "review_deployment"]

UNUSED_DAYS = 90
"""Tokens and incoming hooks idle this long are reported."""
LIST_LIMIT = 50
"""Findings listed per check; past it one more finding says there are more."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DoctorReport:
    findings: list[Finding]
    """Worst first (see :func:`redoubt.domain.doctor.sort_findings`)."""
    checked_at: dt.datetime

    @property
    def has_high(self) -> bool:
        return any(f.severity is Severity.HIGH for f in self.findings)


async def review_deployment(
    ctx: Context, requester: Requester | None, *, show_paths: bool = False
) -> DoctorReport:
    """Review the deployment and return what needs an admin's attention.

    Args:
        requester: An admin, or None for the CLI.
        show_paths: Name files by their full path (the CLI, run by the operator on the
            machine). Otherwise paths are shown relative to the data folder, so the
            server never tells a client where it keeps its files.

    Raises:
        Forbidden: the requester is not an admin.
    """
    if requester is not None and requester.user.role is not UserRole.ADMIN:
        raise Forbidden
    now = ctx.clock.now()
    findings = settings_findings(ctx.settings)
    findings += await asyncio.to_thread(_file_findings, ctx.settings, show_paths)
    findings += await _database_findings(ctx, now)
    return DoctorReport(sort_findings(findings), now)


# --- files -----------------------------------------------------------------------------


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None


def _file_findings(settings: Settings, show_paths: bool) -> list[Finding]:
    data_dir = settings.data_dir.resolve()

    def shown(path: Path) -> str:
        path = path.resolve()
        if show_paths:
            return str(path)
        if path == data_dir:
            return "<data dir>"
        if path.is_relative_to(data_dir):
            return "<data dir>/" + path.relative_to(data_dir).as_posix()
        return path.name

    out = []
    for folder in (data_dir, data_dir / "uploads"):
        mode = _mode(folder)
        if mode is not None and mode_open_to_others(mode):
            out.append(finding(FindingId.DATA_DIR_PERMISSIONS, f"{shown(folder)} (mode {mode:o})"))
    # With REDOUBT_SECRET_KEY set the key lives in the environment (or a _FILE the
    # server doesn't keep the name of): nothing on disk to check, unless an old key
    # file is still lying around.
    secret_files = [data_dir / "secret.key"]
    database = store.sqlite_file(settings.effective_database_url)
    if database is not None:
        # The write-ahead log holds recent pages of the database in the clear.
        secret_files += [database, database.with_name(database.name + "-wal")]
    for path in secret_files:
        mode = _mode(path)
        if mode is not None and mode_open_to_others(mode):
            out.append(finding(FindingId.SECRET_FILE_PERMISSIONS, f"{shown(path)} (mode {mode:o})"))
    return out


# --- the database ----------------------------------------------------------------------


def _day(at: dt.datetime | None) -> str:
    return at.strftime("%Y-%m-%d") if at is not None else "never"


def _listed(
    id_: FindingId,
    items: Sequence[T],
    subject: Callable[[T], str],
    severity: Callable[[T], Severity | None] = lambda _item: None,
) -> list[Finding]:
    """One finding per item (``items`` holds up to LIST_LIMIT + 1), then "and more"."""
    out = [finding(id_, subject(i), severity=severity(i)) for i in items[:LIST_LIMIT]]
    if len(items) > LIST_LIMIT:
        out.append(finding(id_, f"and more: only the first {LIST_LIMIT} are listed"))
    return out


def _token(t: store.TokenItem) -> str:
    return f"token {t.name!r} ({t.kind}, id {t.id}) of {t.owner}"


def _idle_token(t: store.TokenItem) -> str:
    used = f"last used {_day(t.last_used_at)}" if t.last_used_at else "never used"
    return f"{_token(t)}, {used}, created {_day(t.created_at)}"


def _hook(h: store.HookItem) -> str:
    room = f"#{h.room}" if h.room else "a room"
    state = "" if h.enabled else ", disabled"
    return f"incoming hook {h.name!r} (id {h.id}) in {room}{state}"


def _idle_hook(h: store.HookItem) -> str:
    used = f"last used {_day(h.last_used_at)}" if h.last_used_at else "never used"
    return f"{_hook(h)}, {used}, created {_day(h.created_at)}"


async def _database_findings(ctx: Context, now: dt.datetime) -> list[Finding]:
    cutoff = now - dt.timedelta(days=UNUSED_DAYS)
    n = LIST_LIMIT + 1
    async with ctx.db.read("doctor") as conn:
        forever = await store.tokens_without_expiry(conn, limit=n)
        idle_tokens = await store.unused_tokens(conn, now=now, cutoff=cutoff, limit=n)
        idle_hooks = await store.unused_incoming_hooks(conn, cutoff=cutoff, limit=n)
        legacy = await store.legacy_url_hooks(conn, limit=n)
        failed = await store.disabled_outgoing_hooks(conn, limit=n)
        admins = await store.active_admins_without_second_factor(conn, limit=n)
        required = await required_2fa_roles(conn, ctx.settings)
    out = _listed(
        FindingId.TOKEN_WITHOUT_EXPIRY,
        forever,
        _token,
        # An admin-scoped token that never expires is a standing master key.
        lambda t: Severity.HIGH if Scope.ADMIN.value in t.scopes else None,
    )
    out += _listed(FindingId.TOKEN_UNUSED, idle_tokens, _idle_token)
    out += _listed(FindingId.INCOMING_HOOK_UNUSED, idle_hooks, _idle_hook)
    out += _listed(
        FindingId.INCOMING_HOOK_LEGACY_URL_TOKEN,
        legacy,
        _hook,
        # A disabled hook accepts nothing; its mode matters again once re-enabled.
        lambda h: None if h.enabled else Severity.LOW,
    )
    out += _listed(
        FindingId.OUTGOING_HOOK_DISABLED,
        failed,
        lambda o: f"outgoing hook {o.name!r} (id {o.id}) of {o.owner}: {o.disabled_reason}",
    )
    out += _listed(FindingId.ADMIN_WITHOUT_2FA, admins, lambda a: f"admin {a.username}")
    if UserRole.ADMIN not in required:
        roles = ", ".join(sorted(r.value for r in required)) or "none"
        out.append(finding(FindingId.ADMIN_2FA_NOT_REQUIRED, f"roles that must use 2FA: {roles}"))
    return out
