"""Deployment review (``redoubt doctor``): what a finding is, and the checks that need
nothing but values handed in (settings, file modes).

``queries/doctor.py`` gathers what these can't see (file modes on disk, rows in the
database) and turns both into one sorted list. Every finding id is stable (scripts and
monitoring match on it) and explained, with its fix, in ``docs/doctor.md``.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from redoubt.core.settings import Settings, is_loopback_host, session_limits

__all__ = [
    "ADMIN_MAX_IDLE_MINUTES",
    "ADMIN_MAX_LIFETIME_HOURS",
    "CATALOGUE",
    "Finding",
    "FindingId",
    "Severity",
    "finding",
    "mode_open_to_others",
    "settings_findings",
    "sort_findings",
]


class Severity(enum.StrEnum):
    HIGH = "high"
    """Fix now: a secret or an account is exposed, or protection is off."""
    MEDIUM = "medium"
    """Weakens a defence, or a failure waits for someone to notice it."""
    LOW = "low"
    """Hygiene: clutter that widens what a leak could reach."""

    @property
    def rank(self) -> int:
        """0 for the most severe; sorts findings worst first."""
        return _RANK[self]


_RANK = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2}


class FindingId(enum.StrEnum):
    """Stable identifiers of findings (documented in docs/doctor.md). Names, not
    secrets: the ``noqa: S105`` marks are for the words "token" and "secret" in them."""

    SECRET_FILE_PERMISSIONS = "secret-file-permissions"  # noqa: S105  # nosec B105
    DATA_DIR_PERMISSIONS = "data-dir-permissions"
    TOKEN_WITHOUT_EXPIRY = "token-without-expiry"  # noqa: S105  # nosec B105
    TOKEN_POLICY_NO_MAXIMUM = "token-policy-no-maximum"  # noqa: S105  # nosec B105
    TOKEN_UNUSED = "token-unused"  # noqa: S105  # nosec B105
    INCOMING_HOOK_UNUSED = "incoming-hook-unused"
    INCOMING_HOOK_LEGACY_URL_TOKEN = "incoming-hook-legacy-url-token"  # noqa: S105  # nosec B105
    OUTGOING_HOOK_DISABLED = "outgoing-hook-disabled"
    ADMIN_WITHOUT_2FA = "admin-without-2fa"
    ADMIN_2FA_NOT_REQUIRED = "admin-2fa-not-required"
    TLS_PUBLIC_URL_HTTP = "tls-public-url-http"
    TLS_COOKIE_NOT_SECURE = "tls-cookie-not-secure"
    TLS_PLAIN_HTTP_LISTENER = "tls-plain-http-listener"
    DEBUG_LOG_LEVEL = "debug-log-level"
    WEAK_PASSWORD_HASHING = "weak-password-hashing"  # noqa: S105  # nosec B105
    EGRESS_ALLOWS_INTERNAL = "egress-allows-internal"
    ADMIN_SESSIONS_LONG = "admin-sessions-long"


@dataclass(frozen=True, slots=True)
class Finding:
    id: FindingId
    severity: Severity
    title: str
    advice: str
    subject: str | None
    """What the finding is about (a file, a token, a setting); None: the deployment."""


@dataclass(frozen=True, slots=True)
class _Entry:
    severity: Severity
    title: str
    advice: str


CATALOGUE: dict[FindingId, _Entry] = {
    FindingId.SECRET_FILE_PERMISSIONS: _Entry(
        Severity.HIGH,
        "A secret file is readable or writable by other users of the machine",
        "Make it readable by the server's account only: chmod 600 on the file (and keep "
        "the data folder at 700). The database holds password hashes and sealed webhook "
        "secrets; secret.key unseals them.",
    ),
    FindingId.DATA_DIR_PERMISSIONS: _Entry(
        Severity.MEDIUM,
        "The data folder is open to other users of the machine",
        "chmod 700 the folder: other accounts can then reach none of the database, key "
        "or uploads inside, whatever the files' own modes.",
    ),
    FindingId.TOKEN_WITHOUT_EXPIRY: _Entry(
        Severity.MEDIUM,
        "An API token never expires",
        "Rotate it into a token with an expiry (POST /api/v1/tokens/{id}/rotate) or "
        "revoke it; set api_token_max_days so new tokens can't be made without one.",
    ),
    FindingId.TOKEN_POLICY_NO_MAXIMUM: _Entry(
        Severity.LOW,
        "Tokens may be created without an expiry",
        "Set REDOUBT_API_TOKEN_MAX_DAYS (default 365): a leaked token then stops "
        "working on its own.",
    ),
    FindingId.TOKEN_UNUSED: _Entry(
        Severity.LOW,
        "An API token has not been used for 90 days",
        "Revoke it if nothing needs it any more: an unused credential is only risk.",
    ),
    FindingId.INCOMING_HOOK_UNUSED: _Entry(
        Severity.LOW,
        "An incoming webhook has not been used for 90 days",
        "Delete or disable it if its sender is gone (its secret still works).",
    ),
    FindingId.INCOMING_HOOK_LEGACY_URL_TOKEN: _Entry(
        Severity.HIGH,
        "An incoming webhook takes its secret in the URL (legacy mode)",
        "The secret travels in the URL, where proxies, browsers and logs keep it, and "
        "requests aren't signed or protected against replay. Move the sender to signed "
        "requests (X-Redoubt-Signature) and turn legacy mode off, or delete the hook.",
    ),
    FindingId.OUTGOING_HOOK_DISABLED: _Entry(
        Severity.MEDIUM,
        "An outgoing webhook was disabled after failed deliveries",
        "Check the receiver and the hook's deliveries, then re-enable it (PATCH "
        "enabled=true) or delete it; events since it was disabled were not sent.",
    ),
    FindingId.ADMIN_WITHOUT_2FA: _Entry(
        Severity.HIGH,
        "An admin has no second factor",
        "Have them set up an authenticator app (Account > Two-factor) at once; a "
        "password alone guards the whole deployment.",
    ),
    FindingId.ADMIN_2FA_NOT_REQUIRED: _Entry(
        Severity.MEDIUM,
        "Admins are not required to use a second factor",
        "Add admin to the required roles (Admin > Security, or "
        'REDOUBT_REQUIRE_2FA_ROLES=["admin"]).',
    ),
    FindingId.TLS_PUBLIC_URL_HTTP: _Entry(
        Severity.HIGH,
        "The public URL is plain HTTP on a non-loopback host",
        "Serve Redoubt behind a TLS-terminating proxy and set REDOUBT_PUBLIC_URL to the "
        "https:// address; passwords and session tokens travel in the clear otherwise.",
    ),
    FindingId.TLS_COOKIE_NOT_SECURE: _Entry(
        Severity.HIGH,
        "Session cookies are not marked Secure behind HTTPS",
        "Set REDOUBT_COOKIE_SECURE=true: browsers then never send the session cookie "
        "over plain HTTP (a downgraded or mistyped http:// link).",
    ),
    FindingId.TLS_PLAIN_HTTP_LISTENER: _Entry(
        Severity.MEDIUM,
        "The server listens on a public interface, and no HTTPS address is configured",
        "Redoubt speaks plain HTTP: listen on 127.0.0.1 behind a TLS-terminating proxy, "
        "and set REDOUBT_PUBLIC_URL=https://... and REDOUBT_COOKIE_SECURE=true.",
    ),
    FindingId.DEBUG_LOG_LEVEL: _Entry(
        Severity.MEDIUM,
        "Debug logging is on",
        "Set REDOUBT_LOG_LEVEL=info: debug logs say far more about requests and users "
        "than a production log should keep.",
    ),
    FindingId.WEAK_PASSWORD_HASHING: _Entry(
        Severity.MEDIUM,
        "Password hashing is cheaper than the defaults",
        "Unset REDOUBT_ARGON2_TIME_COST / _MEMORY_KIB (defaults: 3 passes, 64 MiB), or "
        "raise them; cheap parameters are for tests. Hashes are upgraded at each login.",
    ),
    FindingId.EGRESS_ALLOWS_INTERNAL: _Entry(
        Severity.MEDIUM,
        "Outbound HTTP may reach internal addresses",
        "Keep each egress allowlist entry as narrow as a single receiver (a /32 or /128, "
        "one host name): webhook URLs are chosen by admins, and a wide entry lets one "
        "reach internal services (cloud metadata, databases, admin consoles).",
    ),
    FindingId.ADMIN_SESSIONS_LONG: _Entry(
        Severity.MEDIUM,
        "Admin sessions last very long",
        "Keep admin sessions short (defaults: 24 hours, 2 hours idle) with "
        "REDOUBT_SESSION_LIFETIME_HOURS_BY_ROLE='{\"admin\": 24}' and "
        "REDOUBT_SESSION_IDLE_MINUTES_BY_ROLE='{\"admin\": 120}'.",
    ),
}

ADMIN_MAX_LIFETIME_HOURS = 72
"""Admin session lifetimes above this are reported (the default is 24)."""
ADMIN_MAX_IDLE_MINUTES = 8 * 60
"""Admin idle timeouts above this are reported (the default is 120)."""

# Argon2id: the defaults of core/settings.py, and OWASP's floor (19 MiB with 2 passes,
# or 46 MiB with 1): below the floor offline guessing gets cheap.
_ARGON2_DEFAULT_TIME = 3
_ARGON2_DEFAULT_MEMORY_KIB = 64 * 1024
_ARGON2_FLOOR_MEMORY_KIB = 19 * 1024
_ARGON2_ONE_PASS_MEMORY_KIB = 46 * 1024

# Ranges the egress guard refuses (core/egress.py); an allowlist entry overlapping one
# opens it.
_INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "::1/128",
        "::ffff:0:0/96",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


def finding(id_: FindingId, subject: str | None, *, severity: Severity | None = None) -> Finding:
    """A finding of the catalogue's kind ``id_`` about ``subject``."""
    entry = CATALOGUE[id_]
    return Finding(id_, severity or entry.severity, entry.title, entry.advice, subject)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first, then by id and subject (a stable order for diffs and tests)."""
    return sorted(findings, key=lambda f: (f.severity.rank, f.id.value, f.subject or ""))


def mode_open_to_others(mode: int) -> bool:
    """Whether permission bits give the group or other users any access."""
    return mode & 0o077 != 0


def _internal_entries(networks: Iterable[str]) -> list[str]:
    out = []
    for entry in networks:
        try:
            net = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            out.append(entry)  # not a network: whatever it opens, it needs a look
            continue
        if any(
            net.version == internal.version and net.overlaps(internal)
            for internal in _INTERNAL_NETWORKS
        ):
            out.append(entry)
    return out


def _tls_findings(settings: Settings) -> list[Finding]:
    out = []
    url = urlsplit(settings.public_url) if settings.public_url else None
    https = url is not None and url.scheme == "https"
    # Settings refuse an http public_url on a public host; a config that bypassed the
    # check (or an older version's) is still reported.
    if url is not None and url.scheme == "http" and not is_loopback_host(url.hostname or ""):
        out.append(finding(FindingId.TLS_PUBLIC_URL_HTTP, f"REDOUBT_PUBLIC_URL={url.geturl()}"))
    if https and not settings.cookie_secure:
        out.append(finding(FindingId.TLS_COOKIE_NOT_SECURE, "REDOUBT_COOKIE_SECURE=false"))
    if not https and not is_loopback_host(settings.host):
        out.append(finding(FindingId.TLS_PLAIN_HTTP_LISTENER, f"REDOUBT_HOST={settings.host}"))
    return out


def _hashing_finding(settings: Settings) -> Finding | None:
    time_cost, memory = settings.argon2_time_cost, settings.argon2_memory_kib
    if time_cost >= _ARGON2_DEFAULT_TIME and memory >= _ARGON2_DEFAULT_MEMORY_KIB:
        return None
    below_floor = memory < _ARGON2_FLOOR_MEMORY_KIB or (
        time_cost < 2 and memory < _ARGON2_ONE_PASS_MEMORY_KIB
    )
    return finding(
        FindingId.WEAK_PASSWORD_HASHING,
        f"REDOUBT_ARGON2_TIME_COST={time_cost}, REDOUBT_ARGON2_MEMORY_KIB={memory}",
        severity=Severity.HIGH if below_floor else None,
    )


def settings_findings(settings: Settings) -> list[Finding]:
    """What the deployment's configuration alone says (unsorted)."""
    out = _tls_findings(settings)
    if settings.log_level.strip().lower() in ("debug", "trace", "notset"):
        out.append(finding(FindingId.DEBUG_LOG_LEVEL, f"REDOUBT_LOG_LEVEL={settings.log_level}"))
    if (hashing := _hashing_finding(settings)) is not None:
        out.append(hashing)
    internal = _internal_entries(settings.egress_allow_networks)
    if internal:
        out.append(
            finding(
                FindingId.EGRESS_ALLOWS_INTERNAL,
                "REDOUBT_EGRESS_ALLOW_NETWORKS: " + ", ".join(internal),
            )
        )
    if settings.egress_allow_hosts:
        out.append(
            finding(
                FindingId.EGRESS_ALLOWS_INTERNAL,
                "REDOUBT_EGRESS_ALLOW_HOSTS: " + ", ".join(settings.egress_allow_hosts),
            )
        )
    lifetime, idle = session_limits(settings, "admin")
    if lifetime > ADMIN_MAX_LIFETIME_HOURS or idle > ADMIN_MAX_IDLE_MINUTES:
        out.append(
            finding(
                FindingId.ADMIN_SESSIONS_LONG,
                f"admin sessions: {lifetime} hours, {idle} minutes idle",
            )
        )
    if settings.api_token_max_days is None:
        out.append(finding(FindingId.TOKEN_POLICY_NO_MAXIMUM, "REDOUBT_API_TOKEN_MAX_DAYS"))
    return out
