"""Secrets at rest: encryption bound to its row, keyed fingerprints, the key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from redoubt.core.secretbox import DecryptionError, SecretBox, load_or_create_key


def test_ciphertexts_only_open_where_they_were_made(tmp_path: Path) -> None:
    box = SecretBox(load_or_create_key(tmp_path / "k"))
    blob = box.encrypt(b"JBSWY3DPEHPK3PXP", context=b"totp:1")
    assert b"JBSWY3DP" not in blob
    assert box.decrypt(blob, context=b"totp:1") == b"JBSWY3DPEHPK3PXP"
    assert box.encrypt(b"same", context=b"c") != box.encrypt(b"same", context=b"c")  # nonces
    with pytest.raises(DecryptionError):
        box.decrypt(blob, context=b"totp:2")  # copied onto another user's row
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        box.decrypt(tampered, context=b"totp:1")
    other = SecretBox(load_or_create_key(tmp_path / "other"))
    with pytest.raises(DecryptionError):
        other.decrypt(blob, context=b"totp:1")


def test_fingerprints_are_keyed_and_kept_apart_by_purpose(tmp_path: Path) -> None:
    box = SecretBox(load_or_create_key(tmp_path / "k"))
    other = SecretBox(load_or_create_key(tmp_path / "other"))
    assert box.mac(b"code", purpose=b"recovery") == box.mac(b"code", purpose=b"recovery")
    assert box.mac(b"code", purpose=b"recovery") != box.mac(b"code", purpose=b"device")
    assert box.mac(b"code", purpose=b"recovery") != other.mac(b"code", purpose=b"recovery")


def test_the_key_file_is_created_once_for_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key  # read back, not replaced
    assert key.hex() not in repr(SecretBox(key))
    path.write_text("not hex\n")
    with pytest.raises(ValueError, match="hex"):
        load_or_create_key(path)
    path.write_text("abcd\n")
    with pytest.raises(ValueError, match="32-byte"):
        load_or_create_key(path)
