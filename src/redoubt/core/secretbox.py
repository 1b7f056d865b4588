"""Server-side secrets at rest.

Two uses of one 256-bit server key, each through its own derived subkey (HKDF):

* :meth:`SecretBox.encrypt` / :meth:`SecretBox.decrypt`: AES-256-GCM for what the
  server must read back (TOTP secrets). The associated data binds a ciphertext to its
  row (say ``b"totp:<user id>"``), so a ciphertext copied onto another user's row
  doesn't decrypt.
* :meth:`SecretBox.mac`: HMAC-SHA256 for what the server only compares (recovery codes,
  device fingerprints). Unlike a plain hash, a leaked database alone can't be searched
  for the low-entropy inputs.

The key comes from ``REDOUBT_SECRET_KEY`` (or its ``_FILE``); the embedded default
creates ``secret.key`` in the data folder on first start, readable by its owner only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from typing_extensions import override

__all__ = ["KEY_BYTES", "DecryptionError", "SecretBox", "load_or_create_key"]

KEY_BYTES = 32
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """The ciphertext was altered, moved to another row, or made with another key."""


def _derive(key: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(key)


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("the server secret key must be 32 bytes")
        self._aead = AESGCM(_derive(key, b"redoubt/encrypt/v1"))
        self._mac_key = _derive(key, b"redoubt/mac/v1")

    @override
    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def encrypt(self, plaintext: bytes, *, context: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def decrypt(self, blob: bytes, *, context: bytes) -> bytes:
        nonce, ciphertext = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, context)
        except (InvalidTag, ValueError):
            raise DecryptionError from None

    def mac(self, value: bytes, *, purpose: bytes) -> bytes:
        """A keyed fingerprint of ``value``; ``purpose`` keeps uses apart."""
        return hmac.new(self._mac_key, purpose + b"\x00" + value, hashlib.sha256).digest()


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path`` (hex), creating it (mode 0600) if there is none yet.

    Raises:
        ValueError: the file exists but doesn't hold a 32-byte hex key.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    key = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key


def _read_key(path: Path) -> bytes:
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise ValueError(f"{path} does not hold a hex key") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path} must hold a {KEY_BYTES}-byte key")
    return key
