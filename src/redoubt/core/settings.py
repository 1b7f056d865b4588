"""Settings from ``REDOUBT_*`` environment variables or a TOML file.

Precedence: environment, then the TOML file named by ``REDOUBT_CONFIG``, then defaults.
Secrets (database and Redis URLs may carry passwords) come only from the environment,
the TOML file or ``REDOUBT_<NAME>_FILE`` secret files, never from command-line flags.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["Settings", "load_settings"]

_SECRET_FIELDS = ("database_url", "redis_url")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path("redoubt-data")
    """Folder for the SQLite database, uploads and other state; created when missing."""
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    database_url: SecretStr | None = None
    """SQLAlchemy URL; None means SQLite in ``data_dir``. Scale-out: postgresql+asyncpg://…"""
    redis_url: SecretStr | None = None
    """Redis URL for event fan-out, rate limits and presence across processes."""
    node_id: int = Field(default=0, ge=0, le=15)
    """Node number inside generated ids. With Redis, leave it unset: each process leases a
    free one (core/node_lease.py); set, it is leased exactly and must be distinct."""
    log_level: str = "info"
    log_json: bool = True
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    """Largest JSON request body accepted."""
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_message_chars: int = Field(default=10_000, ge=1)
    ws_max_frame_bytes: int = Field(default=16 * 1024, ge=512)
    ws_replay_buffer: int = Field(default=10_000, ge=0)
    """Events kept in memory for fast resume; older ones are read from the database."""
    ws_send_queue: int = Field(default=5_000, ge=10)
    """Frames queued for one slow client before it is disconnected (it resumes later)."""
    session_lifetime_hours: int = Field(default=24 * 14, ge=1)
    cookie_secure: bool = False
    """Mark the session cookie Secure; turn on behind HTTPS."""
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    rate_login_per_minute: int = Field(default=10, ge=1)
    rate_post_per_10s: int = Field(default=50, ge=1)
    rate_ws_frames_per_second: int = Field(default=20, ge=1)
    rate_ws_connects_per_minute: int = Field(default=60, ge=1)
    """New event-stream connections per client address."""
    rate_api_per_second: int = Field(default=50, ge=1)
    """Per-user budget for REST calls other than login and posting."""

    @property
    def effective_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'redoubt.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


def _coerce_env(name: str, raw: str) -> Any:
    field = Settings.model_fields[name]
    if field.annotation is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return raw


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment (and TOML file), then apply overrides.

    Overrides are for the CLI's non-secret flags and for tests.
    """
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    config_path = env.get("REDOUBT_CONFIG")
    if config_path:
        with Path(config_path).open("rb") as fh:
            values.update(tomllib.load(fh))
    for name in Settings.model_fields:
        key = f"REDOUBT_{name.upper()}"
        if key in env:
            values[name] = _coerce_env(name, env[key])
        elif name in _SECRET_FIELDS and f"{key}_FILE" in env:
            values[name] = Path(env[f"{key}_FILE"]).read_text().strip()
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings.model_validate(values)
