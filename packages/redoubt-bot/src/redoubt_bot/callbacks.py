"""Callback buttons whose data the user can't forge, replay or use for someone else.

``context.button(text, payload)`` keeps ``payload`` on the bot's side (in persistence)
under a random opaque token and puts only the token on the button. The token is bound
to one user (by default the user of the update being handled) and to the room, expires
(one hour by default) and works once by default. A click by another user, after expiry,
or a second click answers the callback with a short notice and runs no handler.
"""

from __future__ import annotations

import enum
import json
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final

__all__ = ["NOTICES", "CallbackStatus", "CallbackStore"]

_TOKEN_BYTES: Final = 18  # 24 url-safe characters, well under the 64-byte limit
_SWEEP_EVERY: Final = 256
_USED_KEEP: Final = 24 * 3600.0  # remember a used token's tombstone at most this long


class CallbackStatus(enum.Enum):
    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    WRONG_USER = "wrong_user"


NOTICES: Final[dict[CallbackStatus, str]] = {
    CallbackStatus.UNKNOWN: "This button has expired.",
    CallbackStatus.EXPIRED: "This button has expired.",
    CallbackStatus.USED: "This button was already used.",
    CallbackStatus.WRONG_USER: "This button isn't for you.",
}


class CallbackStore:
    """Tokens -> records ``{"p": payload, "u": user id, "r": room id | None,
    "e": expiry (epoch seconds), "s": single use, "x": used}``.

    ``mark_dirty(token)`` is called on every change so the application persists it.
    """

    __slots__ = ("_clock", "_created", "mark_dirty", "records")

    def __init__(
        self,
        mark_dirty: Callable[[str], None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.mark_dirty = mark_dirty
        self._clock = clock
        self._created = 0

    def load(self, records: dict[str, Any]) -> None:
        now = self._clock()
        self.records = {
            token: rec
            for token, rec in records.items()
            if isinstance(rec, dict) and float(rec.get("e", 0)) > now - _USED_KEEP
        }

    def create(
        self,
        payload: Any,
        *,
        user_id: str,
        room_id: str | None,
        ttl: timedelta | float,
        single_use: bool,
    ) -> str:
        seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
        if seconds <= 0:
            raise ValueError("a button's ttl must be positive")
        try:
            # Store what a JSON backend would give back, and fail now, not at flush.
            stored = json.loads(json.dumps(payload, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise TypeError("a button's payload must be JSON-serialisable") from exc
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        self.records[token] = {
            "p": stored,
            "u": user_id,
            "r": room_id,
            "e": self._clock() + seconds,
            "s": single_use,
            "x": False,
        }
        self.mark_dirty(token)
        self._created += 1
        if self._created % _SWEEP_EVERY == 0:
            self.sweep()
        return token

    def resolve(self, token: str, user_id: str, room_id: str) -> tuple[CallbackStatus, Any]:
        """Check a click; on success consume a single-use token and return its payload."""
        rec = self.records.get(token)
        if rec is None:
            return CallbackStatus.UNKNOWN, None
        if rec["x"]:
            return CallbackStatus.USED, None
        if rec["e"] <= self._clock():
            del self.records[token]
            self.mark_dirty(token)
            return CallbackStatus.EXPIRED, None
        if rec["u"] != user_id or (rec["r"] is not None and rec["r"] != room_id):
            return CallbackStatus.WRONG_USER, None
        payload = rec["p"]
        if rec["s"]:
            # Keep a tombstone until expiry, so a replay says "already used".
            rec["x"] = True
            rec["p"] = None
            self.mark_dirty(token)
        return CallbackStatus.OK, payload

    def revoke(self, token: str) -> None:
        if self.records.pop(token, None) is not None:
            self.mark_dirty(token)

    def sweep(self) -> int:
        """Drop expired tokens; returns how many."""
        now = self._clock()
        dead = [t for t, rec in self.records.items() if rec["e"] <= now]
        for token in dead:
            del self.records[token]
            self.mark_dirty(token)
        return len(dead)
