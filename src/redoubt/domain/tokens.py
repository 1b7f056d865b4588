"""API tokens as their owners see them, and the pure rules around them."""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress

from pydantic import BaseModel, ConfigDict

from redoubt.domain.views import UserPublicView

__all__ = [
    "MAX_NETWORKS",
    "TokenStatus",
    "TokenUsageView",
    "TokenView",
    "address_in",
    "network_of",
    "parse_networks",
    "rate_jumped",
    "token_status",
]


class TokenStatus(enum.StrEnum):
    ACTIVE = "active"
    GRACE = "grace"
    """Rotated: still valid until its ``expires_at``, beside its successor."""
    EXPIRED = "expired"
    REVOKED = "revoked"


def token_status(
    *,
    revoked_at: dt.datetime | None,
    expires_at: dt.datetime | None,
    replaced_by: int | None,
    now: dt.datetime,
) -> TokenStatus:
    if revoked_at is not None:
        return TokenStatus.REVOKED
    if expires_at is not None and expires_at <= now:
        return TokenStatus.EXPIRED
    return TokenStatus.GRACE if replaced_by is not None else TokenStatus.ACTIVE


class TokenView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    kind: str
    hint: str
    """The token's first characters, to tell tokens apart; never enough to use one."""
    scopes: list[str]
    room_ids: list[str] | None
    networks: list[str] | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    replaced_by: str | None
    last_used_at: dt.datetime | None
    last_used_ip: str
    status: TokenStatus
    owner: UserPublicView | None = None
    """Set in the admin list."""


class TokenUsageView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    hour: dt.datetime
    network: str
    operation: str
    requests: int


MAX_NETWORKS = 20


def parse_networks(values: list[str]) -> tuple[str, ...]:
    """Normalise allowed address ranges (``10.0.0.0/8``, ``2001:db8::/32``, a plain
    address for one host).

    Raises:
        ValueError: a value that is not an address range, with a message naming it.
    """
    if len(values) > MAX_NETWORKS:
        raise ValueError(f"at most {MAX_NETWORKS} address ranges")
    out: list[str] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(f"not an address range: {value[:64]!r}") from None
        if str(network) not in out:
            out.append(str(network))
    return tuple(out)


def address_in(ip: str, networks: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(n) for n in networks)


def network_of(ip: str) -> str:
    """The address range a request came from, for "used from somewhere new" alerts:
    the /24 of an IPv4 address, the /48 of an IPv6 one (a site)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def rate_jumped(current: int, history: list[int], *, factor: float, floor: int) -> bool:
    """Whether an hour's ``current`` requests are far above the token's own hourly
    average over ``history`` (the hours before it, zeros included)."""
    if current < floor:
        return False
    average = sum(history) / len(history) if history else 0.0
    return current > factor * average
