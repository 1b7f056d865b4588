"""Email addresses: a conservative check and one canonical form.

Conservative on purpose: an address we store is one we will put in a ``To:`` header and
hand to a relay, so it must be plain ``local@domain`` with nothing a mail header or an
SMTP command could be bent with (no spaces, quotes, angle brackets, commas, control
characters, comments or IP literals). Real addresses that need more than this are rare
enough to refuse. ``email-validator`` would also check deliverability rules; it is not a
dependency, and none of what it adds matters for safety.

Mail always goes to the address stored for the account, never to one a request typed.

Addresses are compared and stored lower-cased: the domain is case-insensitive by
definition, and no mail system in use treats the local part's case as significant, so
``Alice@Example.org`` and ``alice@example.org`` are one account's address, not two.
"""

from __future__ import annotations

import re

__all__ = ["MAX_EMAIL_CHARS", "normalise_email"]

MAX_EMAIL_CHARS = 254
"""RFC 5321's limit on a forward path, less the angle brackets."""
_MAX_LOCAL_CHARS = 64

# RFC 5322's dot-atom without the rarely used and easily misread "/`{|}".
_LOCAL = r"[a-z0-9!#$%&'*+=?^_~-]+(?:\.[a-z0-9!#$%&'*+=?^_~-]+)*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL = re.compile(rf"({_LOCAL})@((?:{_LABEL}\.)+[a-z]{{2,63}})", re.ASCII)


def normalise_email(value: str) -> str | None:
    """The canonical (lower-case) form of ``value``, or None if it isn't an address we
    accept. Surrounding blanks are ignored; anything else unusual refuses it."""
    address = value.strip()
    # ASCII before lower-casing: some non-ASCII letters lower-case to ASCII ones
    # (KELVIN SIGN to "k"), which would make two different inputs one address.
    if not address.isascii() or len(address) > MAX_EMAIL_CHARS:
        return None
    address = address.lower()
    match = _EMAIL.fullmatch(address)
    if match is None or len(match.group(1)) > _MAX_LOCAL_CHARS:
        return None
    return address
