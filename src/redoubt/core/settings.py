"""Settings from ``REDOUBT_*`` environment variables or a TOML file.

Precedence: environment, then the TOML file named by ``REDOUBT_CONFIG``, then defaults.
Secrets (database and Redis URLs may carry passwords) come only from the environment,
the TOML file or ``REDOUBT_<NAME>_FILE`` secret files, never from command-line flags.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = ["Settings", "is_loopback_host", "load_settings", "session_limits"]

_SECRET_FIELDS = (
    "database_url",
    "redis_url",
    "ldap_bind_password",
    "secret_key",
    "smtp_password",
)
_Role = Literal["admin", "user", "guest", "bot"]


def _roles(*names: str) -> list[_Role]:
    return typing.cast("list[_Role]", list(names))


def _by_role(**values: int) -> dict[_Role, int]:
    return typing.cast("dict[_Role, int]", values)


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
    bot_api_prefix: str = Field(default="", max_length=64, pattern=r"^(/[A-Za-z0-9_-]+)*$")
    """Path prefix of the Telegram-compatible Bot API: ``""`` serves it at
    ``/bot<token>/<method>`` and ``/file/bot<token>/<path>`` (what bot libraries expect
    from ``base_url="http://HOST/bot"``); ``"/telegram"`` moves both under
    ``/telegram/bot…``, for a reverse proxy that routes by prefix."""
    ws_send_queue: int = Field(default=5_000, ge=10)
    """Frames queued for one slow client before it is disconnected (it resumes later)."""
    session_lifetime_hours: int = Field(default=24 * 14, ge=1)
    """Absolute lifetime of a session, however busy; then the user logs in again."""
    session_idle_minutes: int = Field(default=7 * 24 * 60, ge=1)
    """A session unused this long ends."""
    session_lifetime_hours_by_role: dict[_Role, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: _by_role(admin=24)
    )
    """Per-role lifetimes that replace ``session_lifetime_hours`` (admins: a day). In the
    environment, JSON: ``REDOUBT_SESSION_LIFETIME_HOURS_BY_ROLE='{"admin": 8}'``."""
    session_idle_minutes_by_role: dict[_Role, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: _by_role(admin=120)
    )
    """Per-role idle timeouts that replace ``session_idle_minutes`` (admins: two hours)."""
    cookie_secure: bool = False
    """Mark the session cookie Secure; turn on behind HTTPS."""
    secret_key: SecretStr | None = None
    """64 hex characters: the key that encrypts second-factor secrets and keys the
    fingerprints of recovery codes. Unset, the embedded default keeps one in
    ``<data_dir>/secret.key``; scale-out processes must all get the same one."""
    require_2fa_roles: list[_Role] = Field(default_factory=lambda: _roles("admin"))
    """Roles that must use a second factor; until they set one up, their sessions may
    only enrol. JSON list in the environment. Only the default: once an admin saves a
    policy (``PUT /admin/security``) the stored one applies."""
    # --- LDAP login (off unless ldap_host is set) -----------------------------------
    ldap_host: str | None = None
    """Directory host; its TLS certificate must name it. Setting it turns LDAP login on:
    every account logs in against the directory, except ``ldap_local_usernames``."""
    ldap_port: int | None = Field(default=None, ge=1, le=65535)
    ldap_mode: Literal["ldaps", "starttls"] = "ldaps"
    """TLS is not optional: LDAPS (636), or StartTLS before anything else is sent (389)."""
    ldap_ca_file: Path | None = None
    """PEM file of the CA(s) that may sign the directory's certificate (required)."""
    ldap_bind_dn: str = ""
    """The least-privilege service account that searches for users and groups."""
    ldap_bind_password: SecretStr | None = None
    ldap_user_base_dn: str = ""
    ldap_user_object_class: str = "inetOrgPerson"
    ldap_username_attribute: str = "uid"
    """``uid`` (OpenLDAP) or ``sAMAccountName`` (Active Directory)."""
    ldap_id_attribute: str = "entryUUID"
    """Immutable id the local account is linked by (``objectGUID`` on AD)."""
    ldap_display_name_attribute: str = "cn"
    ldap_email_attribute: str = "mail"
    ldap_group_member_attribute: str = "member"
    ldap_group_roles: dict[str, Literal["admin", "user", "guest"]] = Field(default_factory=dict)
    """Group DN → role; the highest wins. JSON in the environment."""
    ldap_default_role: Literal["user", "guest"] | None = None
    """Role of a directory user in no mapped group; unset refuses them."""
    ldap_local_usernames: list[str] = Field(default_factory=list)
    """Accounts that keep logging in with a local password while LDAP is on (say, a
    break-glass admin). Empty: LDAP only. JSON list in the environment."""
    ldap_timeout_seconds: int = Field(default=5, ge=1, le=60)
    """Per connection and per response; a whole login gets three times this."""
    # --- email: password reset (off unless smtp_host is set) ---------- [password reset]
    smtp_host: str | None = None
    """Mail relay. Setting it turns on password reset by email (and needs ``smtp_from``
    and ``public_url``). Unset, no mail is ever sent."""
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    """Default: 587 for ``starttls``, 465 for ``tls``, 25 for ``none``."""
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    """``starttls`` (refused if the server doesn't offer it) or ``tls`` (SMTPS), both
    with the certificate verified against ``smtp_ca_file`` or the system's CAs.
    ``none`` is plain text and only allowed for a relay on the loopback interface."""
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    """The sender address, e.g. ``Redoubt <chat@example.org>``."""
    smtp_ca_file: Path | None = None
    """PEM file of the CA(s) that may sign the relay's certificate (default: the system's)."""
    smtp_timeout_seconds: int = Field(default=15, ge=1, le=300)
    public_url: str | None = None
    """How users reach this server (``https://chat.example.org``): the base of the links
    in emails. Taken from here, never from a request's Host header, which a client
    chooses."""
    password_reset_minutes: int = Field(default=30, ge=5, le=24 * 60)
    """How long a password reset link works."""
    # ------------------------------------------------------------------ [password reset]
    web_dir: Path | None = None
    """The built web client (``index.html`` and ``assets/``). Default: ``web/dist`` of the
    source checkout, which ``scripts/run.sh`` builds."""
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    rate_login_per_minute: int = Field(default=10, ge=1)
    login_failures_per_hour: int = Field(default=20, ge=1)
    """Failed logins (passwords or codes) per account before its logins are paused; the
    budget refills one per ``3600 / n`` seconds, so the waits grow with the guessing."""
    login_failures_per_day: int = Field(default=50, ge=1)
    """A second, slower tier: past it, one more guess about every half hour."""
    rate_post_per_10s: int = Field(default=50, ge=1)
    rate_ws_frames_per_second: int = Field(default=20, ge=1)
    rate_ws_connects_per_minute: int = Field(default=60, ge=1)
    """New event-stream connections per client address."""
    rate_api_per_second: int = Field(default=50, ge=1)
    """Per-user budget for REST calls other than login and posting."""
    rate_token_failures_per_minute: int = Field(default=20, ge=1)
    """Bearer tokens that fail (unknown, malformed, revoked, expired) per client address;
    past it the address gets 429 for every token, right or wrong (no guessing)."""

    # --- API tokens ------------------------------------------------------ [integrations]
    api_token_default_days: int = Field(default=90, ge=1)
    """Expiry of a new token when its creator names none."""
    api_token_max_days: int | None = Field(default=365, ge=1)
    """The longest expiry a token may have. None allows tokens that never expire
    (``redoubt doctor`` reports each one)."""
    api_token_max_grace_hours: int = Field(default=7 * 24, ge=0)
    """How long a rotated token may stay valid beside its successor, at most."""
    api_token_rate_alert_factor: float = Field(default=10.0, gt=1)
    """Alert when a token's requests in an hour exceed this multiple of its hourly
    average over the previous week (and ``api_token_rate_alert_floor``)."""
    api_token_rate_alert_floor: int = Field(default=600, ge=1)
    """Requests in an hour below which a token never raises a rate alert."""
    api_token_usage_flush_seconds: float = Field(default=10.0, gt=0)
    """How often the per-token request counts are written to the database."""
    api_token_usage_retention_days: int = Field(default=90, ge=8)
    """How long per-token request counts are kept (at least the week the rate alert
    compares with)."""

    # --- users' own bots ---------------------------------------------------------- [bots]
    users_may_create_bots: bool = False
    """Whether users (role ``user``) may create bots they own; the default until an admin
    sets it at run time (Admin -> Bots, ``/admin/bot-settings``)."""
    max_bots_per_user: int = Field(default=5, ge=0, le=1000)
    """How many (active) bots one user may own through self-service; the default until
    an admin sets it at run time. Admins and the CLI aren't limited."""

    # --- bot activity monitoring (T7) ------------------------------------------- [bots]
    bot_flood_floor: int = Field(default=30, ge=1)
    """Posts per minute below which a bot is never quarantined for flooding."""
    bot_flood_factor: float = Field(default=5.0, gt=1)
    """A bot posting more in a minute than this multiple of its busiest minute of the
    past week (and more than ``bot_flood_floor``) is quarantined."""
    bot_max_rooms_per_minute: int = Field(default=5, ge=1)
    """A bot posting to more distinct rooms than this within a minute is quarantined."""
    bot_max_mentions: int = Field(default=10, ge=1)
    """A bot message naming more users than this is refused and the bot quarantined."""
    bot_room_mention_members: int = Field(default=20, ge=0)
    """A bot message with ``@all``/``@here`` in a room of more members than this is
    refused and the bot quarantined."""
    bot_history_pages_per_minute: int = Field(default=120, ge=1)
    """A bot reading more pages of history than this within a minute is quarantined."""
    bot_activity_flush_seconds: float = Field(default=10.0, gt=0)
    """How often per-bot activity counts (the baselines) are written to the database."""
    bot_activity_retention_days: int = Field(default=30, ge=8)
    """How long per-bot hourly activity is kept (at least the week of the baseline)."""

    # --- webhooks and outbound HTTP -------------------------------------- [integrations]
    incoming_hook_per_minute: int = Field(default=60, ge=1)
    """Requests per incoming webhook per minute."""
    incoming_hook_max_bytes: int = Field(default=64 * 1024, ge=1024)
    webhook_replay_window_seconds: int = Field(default=300, ge=30)
    """How far a signed request's timestamp may be from the server's clock."""
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    """Attempts per outgoing delivery; a delivery that uses them all disables its hook
    and tells its owner."""
    webhook_retry_base_seconds: float = Field(default=2.0, gt=0)
    """First retry delay; doubles per attempt (with jitter) up to the maximum."""
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_delivery_retention_days: int = Field(default=30, ge=1)
    """How long delivered and failed webhook deliveries stay listed (pending ones stay
    until they are sent or fail)."""
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    """How often a delivery worker looks for due deliveries (it is also woken at once
    by deliveries this process enqueues)."""
    bot_webhook_retry_base_seconds: float = Field(default=1.0, gt=0)
    """A bot webhook's first retry delay after a failed delivery; doubles per failure
    (with jitter) up to the maximum. Bot webhooks are retried until they work or the
    bot deletes the webhook (getWebhookInfo shows the last error)."""
    bot_webhook_retry_max_seconds: float = Field(default=60.0, gt=0)
    bot_webhook_poll_seconds: float = Field(default=1.0, gt=0)
    """How often the bot-webhook worker looks at every webhook even when no new event
    arrived (retries that came due, webhooks set through another process)."""
    bot_webhook_concurrency: int = Field(default=16, ge=1, le=1000)
    """Bots whose updates one process delivers side by side (each bot's in order)."""
    egress_allowed_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=lambda: [80, 443]
    )
    """Ports outbound HTTP may reach. JSON list in the environment."""
    egress_allow_networks: list[str] = Field(default_factory=list)
    """CIDRs of internal addresses outbound HTTP may reach despite the guard (e.g. an
    on-premises receiver, ``10.1.2.3/32``). Empty: only public addresses."""
    egress_allow_hosts: list[str] = Field(default_factory=list)
    """Host names whose internal addresses outbound HTTP may reach."""
    egress_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    """Whole-request time limit for outbound HTTP (connect, send, read)."""
    egress_max_response_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest outbound HTTP response body read; a larger one fails the request."""

    @model_validator(mode="after")
    def _check_email(self) -> Settings:  # [password reset]
        """Refuse an email setup that would send links or passwords in the clear, or
        links pointing nowhere, at startup rather than at the first reset."""
        if self.public_url is not None:
            url = urlsplit(self.public_url)
            if url.scheme not in ("https", "http") or not url.hostname:
                raise ValueError(
                    "public_url must be an http(s) URL such as https://chat.example.org"
                )
            if url.query or url.fragment or url.username or url.password:
                raise ValueError("public_url must not have a query, fragment or credentials")
            if url.scheme == "http" and not is_loopback_host(url.hostname):
                raise ValueError("public_url must use https (http only for a loopback host)")
        if self.smtp_host is None:
            return self
        if self.smtp_security == "none" and not is_loopback_host(self.smtp_host):
            raise ValueError("smtp_security 'none' is only allowed for a loopback smtp_host")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("smtp_username and smtp_password go together")
        if self.smtp_username is not None and self.smtp_security == "none":
            raise ValueError("SMTP credentials are never sent without TLS")
        if not self.smtp_from:
            raise ValueError("email needs smtp_from (the sender address)")
        if self.public_url is None:
            raise ValueError("email needs public_url (the base of the links in mails)")
        return self

    @property
    def effective_smtp_port(self) -> int:
        if self.smtp_port is not None:
            return self.smtp_port
        return {"starttls": 587, "tls": 465, "none": 25}[self.smtp_security]

    @property
    def effective_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'redoubt.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address: traffic that never leaves the machine."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _coerce_env(name: str, raw: str) -> Any:
    field = Settings.model_fields[name]
    if field.annotation is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if typing.get_origin(field.annotation) in (dict, list):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"REDOUBT_{name.upper()} must be JSON") from exc
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


def session_limits(settings: Settings, role: str) -> tuple[int, int]:
    """(lifetime in hours, idle timeout in minutes) for a session of ``role``."""
    lifetimes = {str(k): v for k, v in settings.session_lifetime_hours_by_role.items()}
    idles = {str(k): v for k, v in settings.session_idle_minutes_by_role.items()}
    return (
        lifetimes.get(role, settings.session_lifetime_hours),
        idles.get(role, settings.session_idle_minutes),
    )
