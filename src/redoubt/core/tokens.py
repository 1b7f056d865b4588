"""Secret tokens: recognisable prefix, 256 bits of randomness, CRC32 checksum.

Format: ``rdt_<kind>_<43 base64url chars>_<6 base62 chars of CRC32>``. The prefix lets
secret scanners and our own log redaction spot a leaked token; the checksum lets us
reject typos and random guesses before touching the database. Only the SHA-256 of a
token is stored; lookups are by that hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

__all__ = ["generate_token", "hash_token", "is_well_formed"]

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
