"""Argon2id password hashing, off the event loop, and the password policy.

Parameters are stored in each hash, so raising them later only needs
:meth:`PasswordHasher.needs_rehash` at login. Unknown users are checked against a dummy
hash so that "no such user" and "wrong password" take the same time.

The policy follows NIST SP 800-63B rather than composition rules: a minimum length, a
generous maximum (Argon2 takes any length, and passphrases are what we want people to
use), and a refusal of the passwords an attacker tries first: the most common ones, a
single repeated character or a plain run (``1234567890``), and the account's own
username or display name.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from typing_extensions import override

from redoubt.core.errors import BadRequest

__all__ = [
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "MIN_USERNAME_CHARS_TO_MATCH",
    "PasswordHasher",
    "check_password_policy",
    "is_common_password",
]

MIN_PASSWORD_CHARS = 10
# The request schemas cap passwords at the same length; the CLI has no schema, so the
# policy enforces it too. Far above anyone's passphrase, far below a hashing DoS.
MAX_PASSWORD_CHARS = 1024
# A password containing a username this short is not guessable because of it ("al" is in
# "always"); refusing it would only annoy. Equality is refused whatever the length.
MIN_USERNAME_CHARS_TO_MATCH = 4

_COMMON_PASSWORDS_RESOURCE = "data/common-passwords.txt"


def _yield_to_the_event_loop() -> None:
    """Hashing threads run at a lower priority (Linux sets nice per thread), so a burst
    of logins slows other logins, not the event loop's deliveries."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class PasswordHasher:
    """Argon2id on a pool of its own: one thread per core, at a lower priority.

    Not asyncio's default executor: with more threads than cores, a login burst takes
    CPU time from the event loop thread, and every other ``to_thread`` call (DNS
    lookups, file reads) would queue behind the hashes. Measured with
    tests/test_login_load.py: WebSocket delivery p95 during 16 concurrent logins went
    from 1-2 s on the default executor to under 100 ms.
    """

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=_cores(),
            thread_name_prefix="argon2",
            initializer=_yield_to_the_event_loop,
        )
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

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; burns the same time when there is no hash."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._verify_sync, password_hash, password)

    def _verify_sync(self, password_hash: str | None, password: str) -> bool:
        try:
            # verify() raises on mismatch; with no hash we still pay for one check.
            self._hasher.verify(password_hash or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def _normalise(text: str) -> str:
    """How passwords are compared with the list and with names: case and surrounding
    blanks don't make a guessable password any less guessable."""
    return text.strip().casefold()


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The shipped list (about 40,000 entries), read once on first use: a server that
    never sets a password never pays for it, and every later check is a set lookup."""
    text = (
        resources.files("redoubt.core")
        .joinpath(_COMMON_PASSWORDS_RESOURCE)
        .read_text(encoding="utf-8")
    )
    return frozenset(
        _normalise(line) for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def is_common_password(password: str) -> bool:
    """True when ``password`` is on the shipped list of most common passwords
    (case-insensitive, surrounding blanks ignored)."""
    return _normalise(password) in _common_passwords()


def _is_trivial_run(password: str) -> bool:
    """One character repeated, or a run of consecutive characters either way
    (``aaaaaaaaaa``, ``abcdefghijk``, ``9876543210``): the first things a guesser tries
    once the length is known, and not all of them are on the list."""
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(password)}
    return len(steps) == 1 and steps <= {-1, 0, 1}


def check_password_policy(
    password: str, *, username: str | None, display_name: str | None = None
) -> None:
    """Refuse a password that is too short, too long or too easy to guess.

    Messages name the rule that failed and never quote the password (they reach the
    client, and error bodies may be logged).

    Args:
        username: The account's username: the password may not be it or contain it.
        display_name: The account's display name: the password may not be it.

    Raises:
        BadRequest: the password breaks a rule.
    """
    if len(password) < MIN_PASSWORD_CHARS:
        raise BadRequest(f"Passwords must be at least {MIN_PASSWORD_CHARS} characters long.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise BadRequest(f"Passwords must be at most {MAX_PASSWORD_CHARS} characters long.")
    normalised = _normalise(password)
    if username:
        name = _normalise(username)
        if normalised == name or (len(name) >= MIN_USERNAME_CHARS_TO_MATCH and name in normalised):
            raise BadRequest("Passwords must not contain the username.")
    if display_name and normalised == _normalise(display_name):
        raise BadRequest("Passwords must not be the same as the display name.")
    if _is_trivial_run(password.casefold()):
        raise BadRequest("Passwords must not be one repeated character or a simple sequence.")
    if is_common_password(password):
        raise BadRequest("That password is one of the most common passwords; choose another.")
