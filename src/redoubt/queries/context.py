"""What queries and actions need from the outside world, built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from redoubt.core.clock import Clock
from redoubt.core.ids import IdGenerator
from redoubt.core.passwords import PasswordHasher
from redoubt.core.settings import Settings
from redoubt.storage.database import Database
from redoubt.storage.filestore import LocalFileStore
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


@dataclass(frozen=True, slots=True)
class Requester:
    """The authenticated caller of a request, as loaded by the server."""

    user: UserRecord
    session_id: int | None
    ip: str

    @property
    def id(self) -> int:
        return self.user.id
