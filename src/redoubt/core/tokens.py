"""Secret tokens: recognisable prefix, 256 bits of randomness, CRC32 checksum.

Format: ``rdt_<kind>_<43 base64url chars>_<6 base62 chars of CRC32>``. The prefix lets
secret scanners and our own log redaction spot a leaked token; the checksum lets us
reject typos and random guesses before touching the database. Only the SHA-256 of a
token is stored; lookups are by that hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import zlib

__all__ = [
    "csrf_token_for",
    "csrf_token_matches",
    "generate_token",
    "hash_token",
    "is_well_formed",
    "token_hint",
]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SHAPE = re.compile(r"rdt_([a-z]{2,8})_([A-Za-z0-9_\-]{43})_([0-9A-Za-z]{6})")


def _crc(body: str) -> str:
    value = zlib.crc32(body.encode())
    out = []
    for _ in range(6):
        value, rem = divmod(value, 62)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def generate_token(kind: str) -> str:
    """A new token of ``kind`` (e.g. ``ses`` for sessions, ``pat`` for API tokens)."""
    body = f"rdt_{kind}_{secrets.token_urlsafe(32)}"
    return f"{body}_{_crc(body)}"


def is_well_formed(token: str, kind: str | None = None) -> bool:
    match = _SHAPE.fullmatch(token)
    if match is None or (kind is not None and match.group(1) != kind):
        return False
    body = token[:-7]
    return secrets.compare_digest(_crc(body), match.group(3))


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


_CSRF_KEY = b"redoubt-csrf-v1"


def csrf_token_for(session_token: str) -> str:
    """The CSRF token bound to a browser session.

    Derived, not stored: an HMAC of the session token, which lives only in an HttpOnly
    cookie. A page on another site can make the browser send that cookie but can read
    neither it nor this value, so it cannot forge the ``X-CSRF-Token`` header; the page
    itself learns the value from ``GET /api/v1/auth/session``. Keyed with a fixed label
    only to separate it from every other hash of the token.
    """
    digest = hmac.new(_CSRF_KEY, session_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_token_matches(session_token: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token_for(session_token).encode(), presented.encode())


def token_hint(token: str) -> str:
    """What lists show of a token: its kind and the first four random characters (24
    of its 256 bits: enough to tell tokens apart, far too few to guess the rest)."""
    head, _, rest = token.partition("_")
    kind, _, random = rest.partition("_")
    return f"{head}_{kind}_{random[:4]}…"
