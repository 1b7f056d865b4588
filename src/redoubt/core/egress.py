"""The one way the server makes outbound HTTP requests: an SSRF guard (T6).

Outgoing webhooks, bot webhooks and anything else that fetches a URL an admin or a user
typed goes through :class:`Egress`. For every hop (the first request and each redirect):

1. The URL is checked without DNS (:func:`check_url`): only ``http``/``https``, only an
   admin-approved port, no user name or password, no IPv6 zone, at most
   :data:`MAX_URL_LENGTH` characters, and no numeric host in a non-standard form
   (``2130706433``, ``0177.0.0.1``, ``0x7f.0.0.1``, ``127.1``: C resolvers read those as
   127.0.0.1; they are refused outright rather than second-guessed).
2. The host name is resolved here, and the request is refused when *any* address is not
   public: loopback, private, link-local (cloud metadata at 169.254.169.254), CGNAT,
   unique-local, site-local, reserved, multicast, unspecified, and IPv4 addresses
   wrapped in IPv6 (``::ffff:127.0.0.1``, NAT64 ``64:ff9b::/96``, 6to4), which are
   unwrapped and judged as the IPv4 address they carry. Python's ``is_global`` alone
   misses some of these (multicast, site-local, NAT64 and 6to4 wrappers), hence the
   explicit list. ``allow_networks`` and ``allow_hosts`` (admin settings) open chosen
   internal addresses; multicast and unspecified addresses never.
3. The connection goes to the address that was checked (the URL's host replaced by the
   IP), never to a second resolution of the name, so a name that answers a public
   address first and 127.0.0.1 next (DNS rebinding) can't slip through. The original
   ``Host`` header is sent, and for https the certificate is verified against the host
   name (TLS SNI), not the IP.
4. Redirects are followed here (never by httpx), each target through steps 1-3 again;
   https never redirects down to http.

The whole request, redirects included, has one time limit, and the response body is
read in a stream and abandoned past ``max_response_bytes``. Connections are not kept
alive between requests: a pooled connection is keyed by IP and port only, and must not
carry a request for another host name than the one its certificate was checked for.
No proxy settings are read from the environment.

Logs name the method, host, port and status only: URLs carry secrets (Slack-style hook
URLs keep theirs in the path, others in the query). Error messages are safe to log and
to show to an admin for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
from typing_extensions import override

from redoubt.core.logging import get_logger

if TYPE_CHECKING:
    from redoubt.core.settings import Settings

__all__ = [
    "MAX_URL_LENGTH",
    "Egress",
    "EgressError",
    "EgressPolicy",
    "EgressRefused",
    "EgressResponse",
    "Resolver",
    "check_url",
]

log = get_logger(__name__)

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_METHOD = re.compile(r"[A-Z]{1,16}")
_CANONICAL_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
# Headers that must not follow a redirect to another origin.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses`` as strings; raises :class:`OSError` when it can't."""


class EgressError(Exception):
    """An outbound request failed: network error, timeout, response too large.

    The message names the host at most (never the path or query) and is safe to log
    and to show to an admin.
    """


class EgressRefused(EgressError):
    """The policy refused the request: forbidden address, scheme, port or redirect."""


@dataclass(frozen=True, slots=True)
class EgressResponse:
    status_code: int
    headers: Mapping[str, str]
    """Lower-case names; repeated headers joined with ``", "``."""
    body: bytes
    """As received (``Accept-Encoding: identity`` is asked for; not decompressed)."""


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    allowed_ports: frozenset[int]
    allow_networks: tuple[IPNetwork, ...]
    """Internal addresses that may be reached despite the guard."""
    allow_hosts: frozenset[str]
    """Host names (lower case, no trailing dot) whose addresses may be internal."""
    timeout_seconds: float
    max_response_bytes: int
    max_redirects: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        """The policy of the ``egress_*`` settings.

        Raises:
            ValueError: an entry of ``egress_allow_networks`` is not a network (at
                startup, not at the first request). Host bits must be zero: a typo
                such as ``10.1.2.3/8`` must not silently open all of 10/8.
        """
        networks: list[IPNetwork] = []
        for raw in settings.egress_allow_networks:
            try:
                networks.append(ipaddress.ip_network(raw.strip(), strict=True))
            except ValueError as exc:
                raise ValueError(
                    f"REDOUBT_EGRESS_ALLOW_NETWORKS: {raw!r} is not a network "
                    f"such as 10.1.2.3/32 ({exc})"
                ) from None
        return cls(
            allowed_ports=frozenset(settings.egress_allowed_ports),
            allow_networks=tuple(networks),
            allow_hosts=frozenset(_normalise_name(h) for h in settings.egress_allow_hosts),
            timeout_seconds=settings.egress_timeout_seconds,
            max_response_bytes=settings.egress_max_response_bytes,
        )


def _normalise_name(host: str) -> str:
    name = host.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if not name.isascii():
        with contextlib.suppress(UnicodeError):
            name = name.encode("idna").decode("ascii")
    return name


# ---------------------------------------------------------------------------
# Static checks (no DNS)


@dataclass(frozen=True, slots=True)
class _Target:
    url: httpx.URL
    scheme: str
    host: str
    """ASCII (IDNA) host, lower case; IPv6 without brackets."""
    port: int
    literal: IPAddress | None
    """The address when the host is an IP literal."""
    host_allowed: bool
    """The host is in ``allow_hosts``."""

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """What the C library's ``inet_aton`` makes of ``host`` (decimal, octal with a
    leading 0, hex with 0x; one to four parts, the last filling the remaining bytes)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                values.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part[1:], 8))
            else:
                values.append(int(part, 10))
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = last
    for i, value in enumerate(head):
        number |= value << (24 - 8 * i)
    return ipaddress.IPv4Address(number)


def _numeric_host_problem(host: str) -> str | None:
    """Refuse a host that URL parsers and C resolvers read as an IPv4 address unless it
    is written as four plain decimal numbers (WHATWG: a host "ending in a number")."""
    if ":" in host:
        return None
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    if not _NUMERIC_LABEL.fullmatch(labels[-1]) or _CANONICAL_IPV4.fullmatch(host):
        return None
    meaning = _inet_aton(host.rstrip("."))
    means = f" (it would mean {meaning})" if meaning is not None else ""
    return (
        f"The host {host!r} is a numeric address in a non-standard form{means}; "
        "write IPv4 addresses as four decimal numbers, such as 192.0.2.10."
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside a NAT64 or 6to4 address."""
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


_NOT_PUBLIC: tuple[tuple[Callable[[IPAddress], bool], str], ...] = (
    (lambda ip: ip.is_loopback, "a loopback address"),
    (lambda ip: ip.is_link_local, "a link-local address"),
    (lambda ip: isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "a shared (CGNAT) address"),
    (lambda ip: ip.is_private, "a private address"),
    (lambda ip: isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "a site-local address"),
    (lambda ip: ip.is_reserved, "a reserved address"),
    (lambda ip: not ip.is_global, "not a public address"),
)


def _not_public(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address (None when it is)."""
    return next((reason for test, reason in _NOT_PUBLIC if test(ip)), None)


def _address_problem(ip: IPAddress, policy: EgressPolicy, *, host_allowed: bool) -> str | None:
    """Why the guard refuses to connect to ``ip`` (None: allowed).

    An IPv4 address wrapped in IPv6 (mapped, NAT64, 6to4) is judged as the IPv4 address
    it carries as well.
    """
    original = ip
    ip = _unwrap(ip)
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        candidates.append(inner)

    def explain(candidate: IPAddress, reason: str) -> str:
        return reason if candidate == original else f"{reason} (it wraps {candidate})"

    for candidate in candidates:
        if candidate.is_unspecified or candidate.is_multicast or candidate == _BROADCAST:
            return explain(candidate, "not a unicast address")
    if host_allowed:
        return None
    if any(c in net for c in candidates for net in policy.allow_networks):
        return None
    for candidate in candidates:
        reason = _not_public(candidate)
        if reason is not None:
            return explain(candidate, reason)
    return None


def _unwrap(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _parse_form(url: str) -> httpx.URL:
    """The URL parsed, if its form is acceptable (scheme, credentials, host spelling).

    Raises:
        EgressRefused: with a message for a human.
    """
    if len(url) > MAX_URL_LENGTH:
        raise EgressRefused(f"The URL is too long (at most {MAX_URL_LENGTH} characters).")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise EgressRefused("The URL must not contain spaces or control characters.")
    try:
        split = urlsplit(url)
        split_host = split.hostname
        split_credentials = split.username is not None or split.password is not None
    except ValueError:
        raise EgressRefused("This is not a valid URL.") from None
    if split.scheme.lower() not in _DEFAULT_PORTS:
        raise EgressRefused("Only http:// and https:// URLs are allowed.")
    # Checked before httpx parses (it rejects some forms with a less helpful message).
    if split_host and (problem := _numeric_host_problem(split_host)) is not None:
        raise EgressRefused(problem)
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise EgressRefused("This is not a valid URL.") from None
    if parsed.scheme not in _DEFAULT_PORTS:
        raise EgressRefused("Only http:// and https:// URLs are allowed.")
    if parsed.userinfo or split_credentials:
        raise EgressRefused("The URL must not contain a user name or password.")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise EgressRefused("The URL has no host.")
    if "%" in host:
        raise EgressRefused("The URL's host must not contain a zone or escaped characters.")
    if (problem := _numeric_host_problem(host)) is not None:
        raise EgressRefused(problem)
    return parsed


def _parse(url: str, policy: EgressPolicy) -> _Target:
    """Check everything that can be checked without DNS.

    Raises:
        EgressRefused: with a message for a human.
    """
    parsed = _parse_form(url)
    scheme = parsed.scheme
    host = parsed.raw_host.decode("ascii").lower()
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS[scheme]
    if port not in policy.allowed_ports:
        allowed = ", ".join(str(p) for p in sorted(policy.allowed_ports)) or "none"
        raise EgressRefused(f"Port {port} is not allowed (allowed ports: {allowed}).")
    host_allowed = _normalise_name(host) in policy.allow_hosts
    literal: IPAddress | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        problem = _address_problem(literal, policy, host_allowed=host_allowed)
        if problem is not None:
            raise EgressRefused(
                f"The address {literal} is {problem}; outgoing requests may not reach it."
            )
        literal = _unwrap(literal)
    else:
        name = host.rstrip(".")
        if (name == "localhost" or name.endswith(".localhost")) and not host_allowed:
            raise EgressRefused(
                f"The host {name!r} is this machine; outgoing requests may not reach it."
            )
    return _Target(
        url=parsed,
        scheme=scheme,
        host=host,
        port=port,
        literal=literal,
        host_allowed=host_allowed,
    )


def check_url(url: str, policy: EgressPolicy) -> str | None:
    """Why ``url`` can't be used for outbound requests, or None if it may be.

    A static check for forms (no DNS): scheme, port, credentials, length, numeric
    hosts in odd forms, literal addresses the guard refuses. A URL that passes can
    still be refused when it is requested (its name may resolve to a private address).
    """
    try:
        _parse(url, policy)
    except EgressRefused as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------------
# Requests


async def _system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _connect_problem(exc: httpx.HTTPError) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "its TLS certificate could not be verified"
    if "SSL" in text or "TLS" in text:
        return "the TLS handshake failed"
    return "the connection failed"


class Egress:
    """Outbound HTTP through the guard (see the module docstring).

    One instance per process (built by the container); its HTTP client is created on
    first use, so building one costs nothing.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``resolver`` replaces the system's (tests); ``ssl_context`` replaces the
        default trust store (certifi's CAs), say for a private CA. It must verify."""
        if ssl_context is not None and (
            ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname
        ):
            raise ValueError("the TLS context must verify certificates and host names")
        self.policy = policy
        self._resolver: Resolver = resolver or _system_resolver
        self._ssl_context = ssl_context
        self._client: httpx.AsyncClient | None = None  # noqa: TID251 - this module owns it
        self._closed = False

    @override
    def __repr__(self) -> str:
        return f"Egress(ports={sorted(self.policy.allowed_ports)})"

    def _http(self) -> httpx.AsyncClient:  # noqa: TID251 - this module owns it
        if self._closed:
            raise EgressError("Outbound HTTP is shut down.")
        if self._client is None:
            # The one client of the server: every request reaches it through the guard.
            self._client = httpx.AsyncClient(  # noqa: TID251 - the guarded client itself
                trust_env=False,
                follow_redirects=False,
                verify=self._ssl_context if self._ssl_context is not None else True,
                timeout=httpx.Timeout(self.policy.timeout_seconds),
                limits=httpx.Limits(max_keepalive_connections=0),
                headers={"User-Agent": "Redoubt", "Accept-Encoding": "identity"},
            )
        return self._client

    async def aclose(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def post(
        self, url: str, *, content: bytes, headers: Mapping[str, str] | None = None
    ) -> EgressResponse:
        return await self.request("POST", url, content=content, headers=headers)

    async def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> EgressResponse:
        """Send the request, following redirects through the guard.

        Raises:
            EgressRefused: the policy refused a hop.
            EgressError: the request failed, took longer than the policy's time limit
                or answered more than its size limit.
        """
        method = method.upper()
        if not _METHOD.fullmatch(method):
            raise ValueError("not an HTTP method")
        hops: list[_Target] = []
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.policy.timeout_seconds):
                response = await self._follow(method, url, content, dict(headers or {}), hops)
        except TimeoutError:
            where = hops[-1].host if hops else "the server"
            log.warning("egress.timeout", method=method, host=where)
            raise EgressError(
                f"The request to {where} took longer than {self.policy.timeout_seconds:g} s."
            ) from None
        except EgressRefused as exc:
            log.warning("egress.refused", method=method, reason=str(exc))
            raise
        except EgressError as exc:
            log.warning("egress.failed", method=method, reason=str(exc))
            raise
        last = hops[-1]
        log.info(
            "egress.response",
            method=method,
            host=last.host,
            port=last.port,
            status=response.status_code,
            redirects=len(hops) - 1,
            ms=round((time.monotonic() - started) * 1000),
        )
        return response

    async def _follow(
        self,
        method: str,
        url: str,
        content: bytes | None,
        headers: dict[str, str],
        hops: list[_Target],
    ) -> EgressResponse:
        current = url
        while True:
            try:
                target = _parse(current, self.policy)
            except EgressRefused as exc:
                if hops:
                    raise EgressRefused(f"Redirect from {hops[-1].host} refused: {exc}") from None
                raise
            if hops:
                previous = hops[-1]
                if previous.scheme == "https" and target.scheme == "http":
                    raise EgressRefused(
                        f"Redirect from {previous.host} refused: it goes from https to http."
                    )
                if previous.origin != target.origin:
                    headers = {
                        k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS
                    }
            hops.append(target)
            addresses = await self._resolve(target)
            response = await self._send(target, addresses, method, content, headers)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECT_STATUSES or location is None:
                return response
            if len(hops) > self.policy.max_redirects:
                raise EgressError(
                    f"{target.host} redirected more than {self.policy.max_redirects} times."
                )
            try:
                current = str(target.url.join(location))
            except httpx.InvalidURL:
                raise EgressRefused(
                    f"Redirect from {target.host} refused: not a valid URL."
                ) from None
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                # As browsers do: the next hop is a GET without the body.
                method = "HEAD" if method == "HEAD" else "GET"
                content = None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}

    async def _resolve(self, target: _Target) -> list[IPAddress]:
        """The target's addresses, each checked; refused if any is forbidden."""
        if target.literal is not None:
            return [target.literal]
        try:
            answers = await self._resolver(target.host, target.port)
        except (OSError, UnicodeError):
            raise EgressError(f"The host {target.host} could not be resolved.") from None
        addresses: list[IPAddress] = []
        for answer in answers:
            try:
                ip = ipaddress.ip_address(answer)
            except ValueError:
                raise EgressRefused(
                    f"The host {target.host} resolves to something that is not an address."
                ) from None
            problem = _address_problem(ip, self.policy, host_allowed=target.host_allowed)
            if problem is not None:
                # The category only: the address itself would tell an admin of the chat
                # server about the internal network.
                raise EgressRefused(
                    f"The host {target.host} resolves to {problem}; "
                    "outgoing requests may not reach it."
                )
            ip = _unwrap(ip)
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise EgressError(f"The host {target.host} could not be resolved.")
        return addresses

    async def _send(
        self,
        target: _Target,
        addresses: list[IPAddress],
        method: str,
        content: bytes | None,
        headers: Mapping[str, str],
    ) -> EgressResponse:
        """Send to the first of the checked ``addresses`` that accepts a connection."""
        client = self._http()
        send_headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        send_headers["Host"] = target.url.netloc.decode("ascii")
        # TLS: the certificate must name the host (SNI and check); an IP literal is
        # checked against the IP itself.
        extensions = (
            {"sni_hostname": target.host.rstrip(".")}
            if target.scheme == "https" and target.literal is None
            else {}
        )
        problem = "the connection failed"
        for ip in addresses:
            pinned = target.url.copy_with(host=str(ip))
            request = client.build_request(
                method, pinned, content=content, headers=send_headers, extensions=extensions
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.ConnectError as exc:
                problem = _connect_problem(exc)
                continue
            except httpx.TimeoutException:
                raise EgressError(f"The request to {target.host} timed out.") from None
            except httpx.HTTPError as exc:
                raise EgressError(
                    f"The request to {target.host} failed ({type(exc).__name__})."
                ) from None
            try:
                body = await self._read_body(response, target)
            finally:
                await response.aclose()
            return EgressResponse(
                status_code=response.status_code,
                headers=dict(response.headers.items()),
                body=body,
            )
        raise EgressError(f"Could not connect to {target.host}: {problem}.")

    async def _read_body(self, response: httpx.Response, target: _Target) -> bytes:
        limit = self.policy.max_response_bytes
        too_large = EgressError(f"The response from {target.host} is larger than {limit} bytes.")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        total = 0
        try:
            async for chunk in response.aiter_raw():
                total += len(chunk)
                if total > limit:
                    raise too_large
                chunks.append(chunk)
        except httpx.TimeoutException:
            raise EgressError(f"The request to {target.host} timed out.") from None
        except httpx.HTTPError as exc:
            raise EgressError(
                f"Reading the response from {target.host} failed ({type(exc).__name__})."
            ) from None
        return b"".join(chunks)
