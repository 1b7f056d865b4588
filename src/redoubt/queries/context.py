"""What queries and actions need from the outside world, built by the composition root."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from redoubt.core.background import BackgroundJobs
from redoubt.core.bot_windows import BotWindows
from redoubt.core.clock import Clock
from redoubt.core.egress import Egress
from redoubt.core.ids import IdGenerator
from redoubt.core.mailer import Mailer
from redoubt.core.passwords import PasswordHasher
from redoubt.core.secretbox import SecretBox
from redoubt.core.settings import Settings
from redoubt.domain.bot_activity import BotActivity
from redoubt.domain.scopes import TokenGrant
from redoubt.storage.database import Database
from redoubt.storage.filestore import LocalFileStore
from redoubt.storage.ldap import LdapDirectory
from redoubt.storage.records import UserRecord

__all__ = ["Context", "Requester"]


@dataclass(frozen=True, slots=True)
class Context:
    db: Database
    clock: Clock
    ids: IdGenerator
    settings: Settings
    passwords: PasswordHasher
    files: LocalFileStore
    secrets: SecretBox
    egress: Egress
    """Every outbound HTTP request goes through it (the SSRF guard)."""
    ldap: LdapDirectory | None = None
    """Set when logins go to an LDAP directory."""
    # [password reset] mail, and work a request starts but doesn't wait for (sending it).
    mailer: Mailer = field(default_factory=lambda: Mailer(None))
    """Disabled (sends nothing) unless SMTP is configured."""
    background: BackgroundJobs = field(default_factory=BackgroundJobs)
    """Drained when the server stops."""
    # [outgoing webhooks]
    deliveries_due: asyncio.Event = field(default_factory=asyncio.Event)
    """Set after a commit that wrote webhook deliveries: wakes this process's delivery
    worker at once (workers of other processes find them by polling)."""
    # [bots] per-bot activity windows and counts of this process (T7).
    bot_activity: BotActivity = field(default_factory=BotActivity)
    bot_activity_due: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a quarantine is pending (a history-read burst): wakes the flush."""
    bot_windows: BotWindows | None = None
    """Scale-out: the one-minute windows and quarantine markers in Redis, shared by every
    process (None: the embedded default, windows in ``bot_activity``)."""


@dataclass(frozen=True, slots=True)
class Requester:
    """The authenticated caller of a request, as loaded by the server."""

    user: UserRecord
    session_id: int | None
    ip: str
    grant: TokenGrant | None = None
    """Set when an API token authenticated the request: what it may do beyond its
    owner's rights (None: a session login, all of the user's rights)."""

    @property
    def id(self) -> int:
        return self.user.id
