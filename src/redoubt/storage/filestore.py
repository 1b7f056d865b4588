"""Upload bytes on disk, in the data folder, never under any served directory.

Files are named by their numeric id only; the client's filename is metadata and never
becomes part of a path.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LocalFileStore"]


class LocalFileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, file_id: int) -> Path:
        name = f"{file_id:016d}"
        return self.root / name[-3:] / name

    def save(self, file_id: int, data: bytes) -> None:
        path = self._path(file_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".part")
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)

    def load(self, file_id: int) -> bytes:
        return self._path(file_id).read_bytes()

    def head(self, file_id: int, size: int) -> bytes:
        """The first ``size`` bytes (fewer for a shorter file; empty if it's gone)."""
        try:
            with self._path(file_id).open("rb") as fh:
                return fh.read(size)
        except FileNotFoundError:
            return b""

    def delete(self, file_id: int) -> None:
        self._path(file_id).unlink(missing_ok=True)
