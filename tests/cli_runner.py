"""The ``redoubt`` command as a real subprocess on a data folder, for the tests that run it
(``tests/test_cli.py``, ``tests/test_doctor.py``, the killed-server test of outgoing hooks)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = Path(sys.executable).parent / "redoubt"

REDOUBT_COMMAND = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "from redoubt.cli import main; main()"]
)
"""The installed ``redoubt`` script, or the same entry point through this interpreter."""

CHEAP_HASHING = {"REDOUBT_ARGON2_TIME_COST": "1", "REDOUBT_ARGON2_MEMORY_KIB": "64"}
"""The harness's cheap Argon2 parameters, as environment settings."""


def redoubt_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a ``redoubt`` subprocess on ``data_dir``: this process's, without
    any ``REDOUBT_`` setting of its own, plus ``settings``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REDOUBT_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        # Each command is a fresh interpreter: cache bytecode outside the repository so
        # that only the first one compiles the dependencies (3x faster after that).
        PYTHONPYCACHEPREFIX=str(Path(tempfile.gettempdir()) / "redoubt-test-pycache"),
        REDOUBT_DATA_DIR=str(data_dir),
        **settings,
    )
    return env


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout and stderr with whitespace collapsed (rich wraps long lines)."""
        return " ".join((self.out + " " + self.err).split())


async def run_redoubt(
    data_dir: Path, *args: str, stdin: str = "", limit_s: float = 60, **settings: str
) -> Result:
    """Run ``redoubt *args`` to its end, from ``data_dir``'s parent, with
    :func:`redoubt_env` (no colours, 200 columns unless ``settings`` say otherwise)."""
    proc = await asyncio.create_subprocess_exec(
        *REDOUBT_COMMAND,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=redoubt_env(data_dir, **{"COLUMNS": "200", "NO_COLOR": "1", **settings}),
        cwd=data_dir.parent,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), limit_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())
