"""The webhook signature scheme, one for both directions.

A signed request carries ``X-Redoubt-Timestamp`` (Unix seconds) and
``X-Redoubt-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``. Receivers
check the timestamp is within the replay window and compare signatures in constant
time; Redoubt's own receiver also refuses a signature it has accepted before.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "signature_matches",
    "timestamp_fresh",
]

SIGNATURE_HEADER = "X-Redoubt-Signature"
TIMESTAMP_HEADER = "X-Redoubt-Timestamp"
_VERSION = "v1="


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the signature header for ``body`` sent at ``timestamp``."""
    return _VERSION + _mac(secret, timestamp, body)


def signature_matches(secret: str, timestamp: int, body: bytes, presented: str) -> bool:
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), presented.encode())


def timestamp_fresh(timestamp: int, now: float, window_seconds: int) -> bool:
    """Within ``window_seconds`` of ``now`` either way (clocks drift both ways)."""
    return abs(now - timestamp) <= window_seconds
