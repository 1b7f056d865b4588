"""Argon2id password hashing, off the event loop.

Parameters are stored in each hash, so raising them later only needs
:meth:`PasswordHasher.needs_rehash` at login. Unknown users are checked against a dummy
hash so that "no such user" and "wrong password" take the same time.
"""

from __future__ import annotations

import asyncio

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from typing_extensions import override

__all__ = ["PasswordHasher"]


class PasswordHasher:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._dummy = self._hasher.hash("redoubt-timing-equaliser")

    @override
    def __repr__(self) -> str:
        return "PasswordHasher(argon2id)"

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; burns the same time when there is no hash."""
        return await asyncio.to_thread(self._verify_sync, password_hash, password)

    def _verify_sync(self, password_hash: str | None, password: str) -> bool:
        try:
            # verify() raises on mismatch; with no hash we still pay for one check.
            self._hasher.verify(password_hash or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
