"""Password login against an LDAP directory (T10): search-then-bind over verified TLS.

The flow, for ``authenticate(config, username, password)``:

1. **Refuse locally, before any network traffic,** everything that can't be a real login:
   a username that isn't a valid Redoubt username (that alone stops ``*``, ``admin*``,
   ``*)(uid=*``, NUL bytes and DNs typed as usernames), and an empty, blank or
   over-long password (an empty password is an RFC 4513 "unauthenticated bind", which
   many servers answer with *success*, as anonymous).
2. Open a TLS connection (LDAPS, or StartTLS before anything else is sent) whose
   certificate is checked against the configured CA **and** the host name during the
   handshake, bind as the least-privilege service account and search the user base for
   exactly one entry whose username attribute equals the username. The value is
   escaped anyway (defence in depth).
3. Bind as the DN *the directory returned* (never one built from input) with the
   password, on a fresh connection, and confirm with "Who am I?" that the bind wasn't
   anonymous.
4. Read the user's groups (the user's DN, escaped, in a filter on each mapped group)
   and map them to a role; the highest wins.

Outcomes: an :class:`LdapIdentity`; ``None`` for anything that is not a valid login
(bad input, unknown or ambiguous user, wrong password, no mapped group), identical in
every case so callers can't tell them apart; or :class:`LdapUnavailable` when the
directory can't be asked (down, slow, certificate rejected, service account refused),
which is about the deployment, never about the user, and must not fall back to a
local password.

ldap3 is synchronous; each login runs in a worker thread under socket timeouts and an
overall deadline, so a slow directory can't stall the event loop. The user's password
lives only on the stack of that thread and is never logged or kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import re
import socket
import ssl
import warnings
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from typing_extensions import override

from redoubt.core.logging import get_logger
from redoubt.domain.enums import UserRole
from redoubt.domain.text import is_valid_username

with warnings.catch_warnings():
    # ldap3 2.9.1 still uses names that pyasn1 0.6 deprecated (tagMap, typeMap); the
    # warning says nothing about our use, and under "warnings are errors" (the tests)
    # it would make the import fail.
    warnings.filterwarnings(
        "ignore", message=r"(tagMap|typeMap) is deprecated", category=DeprecationWarning
    )
    from ldap3 import (  # type: ignore[import-untyped]
        BASE,
        DEREF_NEVER,
        NO_ATTRIBUTES,
        NONE,
        SIMPLE,
        SUBTREE,
        Connection,
        Server,
        Tls,
    )
    from ldap3.core.exceptions import (  # type: ignore[import-untyped]
        LDAPException,
        LDAPNoSuchObjectResult,
        LDAPOperationResult,
        LDAPSizeLimitExceededResult,
    )
    from ldap3.protocol.sasl.sasl import validate_simple_password  # type: ignore[import-untyped]
    from ldap3.utils.conv import escape_filter_chars  # type: ignore[import-untyped]
    from ldap3.utils.dn import parse_dn  # type: ignore[import-untyped]

__all__ = [
    "LdapConfig",
    "LdapDirectory",
    "LdapIdentity",
    "LdapMode",
    "LdapUnavailable",
    "authenticate",
]

_log = get_logger(__name__)

MAX_PASSWORD_LENGTH: Final = 1024
"""Longer passwords are refused unsent; no directory needs more, and it caps the work."""

_ROLE_RANK: Final = {UserRole.GUEST: 1, UserRole.USER: 2, UserRole.ADMIN: 3}
# Attribute descriptions and object class names go into filters unescaped (escaping is
# for values), so the configuration may only name them with this grammar (RFC 4512
# descr, or a numeric OID).
_DESCR = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}|[0-9]+(?:\.[0-9]+)+")


class LdapMode(enum.StrEnum):
    """How the connection is protected. There is deliberately no plaintext mode."""

    LDAPS = "ldaps"
    """TLS from the first byte (port 636)."""
    STARTTLS = "starttls"
    """Plain TCP upgraded with StartTLS before any bind (port 389); failure is fatal."""


class LdapUnavailable(Exception):
    """The directory could not be asked: unreachable, too slow, a certificate that didn't
    verify, or the service account refused. Says nothing about the user; the login
    fails closed (no local-password fallback)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LdapConfig:
    """One directory, as the deployment configures it.

    ``bind_password`` is excluded from ``repr`` (and so from logs and tracebacks that
    render the config).
    """

    host: str
    """Host name or address; the server certificate must name it (SAN)."""
    mode: LdapMode
    ca_file: Path
    """PEM bundle of the CA(s) that may sign the directory's certificate. Required: the
    system store is not trusted for the directory, so a certificate that any public CA
    issued for the name is not enough."""
    bind_dn: str
    """The service account used only to search; give it read access to the user and
    group entries (not to passwords) and nothing else."""
    bind_password: str = field(repr=False)
    user_base_dn: str
    port: int | None = None
    """Defaults to 636 (LDAPS) or 389 (StartTLS)."""
    user_object_class: str = "inetOrgPerson"
    username_attribute: str = "uid"
    """``uid`` for OpenLDAP; ``sAMAccountName`` for Active Directory."""
    id_attribute: str = "entryUUID"
    """An immutable id to link the local account by (``objectGUID`` on AD), so a rename
    in the directory keeps the account and a recycled username doesn't inherit it."""
    display_name_attribute: str = "cn"
    email_attribute: str = "mail"
    group_member_attribute: str = "member"
    """The group attribute that lists member DNs (``member``; ``uniqueMember`` for
    groupOfUniqueNames)."""
    group_roles: Mapping[str, UserRole] = field(default_factory=dict)
    """Group DN → role. A user gets the highest role among the groups they're in."""
    default_role: UserRole | None = None
    """Role for a user in none of the mapped groups; ``None`` refuses them."""
    connect_timeout: float = 5.0
    """Seconds for the TCP connect, per connection."""
    receive_timeout: int = 5
    """Whole seconds to wait for each response (and the TLS handshake); ldap3 sets it
    with ``SO_RCVTIMEO`` as an integer."""
    total_timeout: float = 15.0
    """Deadline for the whole login, however many round trips it takes."""

    def __post_init__(self) -> None:
        # A private read-only copy: the caller's dict can't change a config in use.
        object.__setattr__(self, "group_roles", MappingProxyType(dict(self.group_roles)))
        if not self.ca_file.is_file():
            raise ValueError("LDAP CA file does not exist")
        if not self.host or not self.bind_dn or not self.bind_password or not self.user_base_dn:
            raise ValueError("LDAP host, bind DN, bind password and user base DN are required")
        for dn in (self.bind_dn, self.user_base_dn, *self.group_roles):
            try:
                parse_dn(dn)
            except LDAPException:
                raise ValueError(f"not a valid LDAP DN: {dn!r}") from None
        names = (
            self.user_object_class,
            self.username_attribute,
            self.id_attribute,
            self.display_name_attribute,
            self.email_attribute,
            self.group_member_attribute,
        )
        for name in names:
            if not _DESCR.fullmatch(name):
                raise ValueError(f"not an LDAP attribute or object class name: {name!r}")
        roles = [*self.group_roles.values(), self.default_role]
        if UserRole.BOT in roles:
            raise ValueError("LDAP users can't be bots")
        if not all(dn.strip() for dn in self.group_roles):
            raise ValueError("empty group DN in the LDAP group mapping")
        if isinstance(self.receive_timeout, bool) or not isinstance(self.receive_timeout, int):
            raise ValueError("the LDAP receive timeout is a whole number of seconds")
        if min(self.connect_timeout, self.receive_timeout, self.total_timeout) <= 0:
            raise ValueError("LDAP timeouts must be positive")

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 636 if self.mode is LdapMode.LDAPS else 389


@dataclass(frozen=True, slots=True, kw_only=True)
class LdapIdentity:
    """Who the directory says logged in. Holds no password."""

    dn: str
    external_id: str
    """The ``id_attribute`` value: link the local account by this, not by name or email."""
    username: str
    """Lower-cased; a valid Redoubt username."""
    display_name: str | None
    email: str | None
    role: UserRole


async def authenticate(
    config: LdapConfig, username: str, password: str, *, executor: Executor | None = None
) -> LdapIdentity | None:
    """Check ``username``/``password`` against the directory.

    Returns the identity, or ``None`` for every kind of refusal (never saying which).
    Raises :class:`LdapUnavailable` when the directory can't answer within
    ``config.total_timeout``. Pass a small dedicated ``executor`` so a hung directory
    ties up at most its threads, not the default pool that password hashing uses.
    """
    if not _acceptable(username, password):
        return None
    work = functools.partial(_authenticate_blocking, config, username.lower(), password)
    try:
        async with asyncio.timeout(config.total_timeout):
            return await asyncio.get_running_loop().run_in_executor(executor, work)
    except TimeoutError:
        # The worker thread still ends on its own, bounded by the socket timeouts.
        _log.warning("ldap_timeout", host=config.host)
        raise LdapUnavailable("the directory did not answer in time") from None


def _acceptable(username: str, password: str) -> bool:
    """Whether the input could be a real login; decided without any network traffic.

    The username must be a Redoubt username (ASCII only, so no Unicode case folding can
    turn one name into another). The password must not be empty or blank, before or
    after SASLprep (which ldap3 applies, and which maps some characters to nothing or to
    a space). Empty passwords make "unauthenticated binds" that many servers accept as
    anonymous, and a blank one becomes empty wherever something trims it; Redoubt's own
    password policy never allows one either. The cost: a directory account whose
    password really is only spaces can't log in here. NUL is refused because C servers
    and proxies may cut the password there.
    """
    if not username.isascii() or not is_valid_username(username.lower()):
        return False
    if not password.strip() or len(password) > MAX_PASSWORD_LENGTH or "\x00" in password:
        return False
    try:
        prepared: bytes = validate_simple_password(password)
    except LDAPException:
        return False
    return bool(prepared.strip())


class _VerifyingTls(Tls):  # type: ignore[misc]
    """ldap3's ``Tls`` with verification done by OpenSSL inside the handshake.

    ldap3 turns off the context's ``check_hostname`` and compares names itself after the
    handshake, with ``ssl.match_hostname`` (deprecated; and ``'*'`` in ``valid_names``
    disables it). Here the context verifies both the chain and the name before a single
    LDAP byte is exchanged, and sends SNI.
    """

    def __init__(self, context: ssl.SSLContext, server_hostname: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self._context = context
        self._server_hostname = server_hostname

    @override
    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        # LDAP is request/response with small writes; without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms to a round trip after the handshake.
        connection.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.socket = self._context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=self._server_hostname,
        )


def _tls_context(config: LdapConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    context.load_verify_locations(cafile=config.ca_file)
    return context


class _Refused(Exception):
    """The directory answered a bind with a refusal (wrong password, locked account, an
    anonymous result): a "no" about this identity, not a fault of the directory."""


class _Session:
    """The connections of one login attempt, all to one server with one TLS context."""

    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        self.server = Server(
            config.host,
            port=config.effective_port,
            use_ssl=config.mode is LdapMode.LDAPS,
            tls=_VerifyingTls(_tls_context(config), config.host),
            get_info=NONE,
            connect_timeout=config.connect_timeout,
        )

    def bind(self, dn: str, password: str) -> Any:
        """A fresh connection, encrypted and then bound as ``dn``.

        Raises :class:`_Refused` when the directory says no to the credentials, ldap3
        errors when the connection or TLS fails, and :class:`LdapUnavailable` if the
        connection somehow isn't encrypted when the bind is due.
        """
        conn = Connection(
            self.server,
            user=dn,
            password=password,
            authentication=SIMPLE,
            read_only=True,
            auto_referrals=False,
            raise_exceptions=True,
            receive_timeout=self.config.receive_timeout,
        )
        try:
            conn.open()
            if self.config.mode is LdapMode.STARTTLS:
                conn.start_tls()  # raises on any failure; nothing was sent in the clear
            if not isinstance(conn.socket, ssl.SSLSocket):  # never a plaintext bind
                raise LdapUnavailable("the directory connection is not encrypted")
            try:
                conn.bind()
                # A server may turn odd binds into anonymous ones; only a named
                # identity counts (RFC 4532 "Who am I?" answers "" for anonymous).
                anonymous = not conn.extend.standard.who_am_i()
            except LDAPOperationResult as exc:
                raise _Refused(type(exc).__name__) from None
            if anonymous:
                raise _Refused("anonymous")
        except BaseException:
            _close(conn)
            raise
        return conn


def _close(conn: Any) -> None:
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()
    # ldap3 leaves the socket open when connect() or the TLS handshake failed.
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


def _authenticate_blocking(config: LdapConfig, username: str, password: str) -> LdapIdentity | None:
    try:
        session = _Session(config)
        service = session.bind(config.bind_dn, config.bind_password)
    except _Refused as exc:
        _log.error("ldap_service_bind_refused", host=config.host, result=str(exc))
        raise LdapUnavailable("the directory refused the service account") from None
    except (LDAPException, OSError) as exc:  # OSError: the CA file, TLS, sockets
        _log.warning("ldap_unreachable", host=config.host, error=type(exc).__name__)
        raise LdapUnavailable("the directory is unreachable") from exc
    try:
        entry = _find_user(service, config, username)
        if entry is None:
            # Spend what a wrong password costs (a fresh TLS connection and a bind), so
            # timing doesn't tell an unknown user from a known one.
            _equalise(session, config)
            return None
        dn, attributes = entry
        try:
            _close(session.bind(dn, password))
        except _Refused as exc:
            # A wrong password, or a locked or expired account: the same "no".
            _log.info("ldap_bind_refused", result=str(exc))
            return None
        role = _role(service, config, dn)
    except (LDAPException, OSError) as exc:
        _log.warning("ldap_failed", host=config.host, error=type(exc).__name__)
        raise LdapUnavailable("the directory failed during login") from exc
    finally:
        _close(service)
    if role is None:
        _log.info("ldap_no_mapped_group", username=username)
        return None
    external_id = _first(attributes, config.id_attribute)
    if external_id is None:
        _log.warning("ldap_entry_without_id", attribute=config.id_attribute)
        return None
    return LdapIdentity(
        dn=dn,
        external_id=external_id,
        username=username,
        display_name=_first(attributes, config.display_name_attribute),
        email=_first(attributes, config.email_attribute),
        role=role,
    )


def _find_user(
    service: Any, config: LdapConfig, username: str
) -> tuple[str, Mapping[str, Any]] | None:
    """The one entry in the user base whose username attribute is ``username``."""
    user_filter = (
        f"(&(objectClass={config.user_object_class})"
        f"({config.username_attribute}={escape_filter_chars(username)}))"
    )
    try:
        service.search(
            config.user_base_dn,
            user_filter,
            search_scope=SUBTREE,
            dereference_aliases=DEREF_NEVER,
            attributes=[
                config.username_attribute,
                config.id_attribute,
                config.display_name_attribute,
                config.email_attribute,
            ],
            size_limit=2,
            time_limit=config.receive_timeout,
        )
    except LDAPSizeLimitExceededResult:
        _log.warning("ldap_ambiguous_username", username=username)
        return None
    entries = [r for r in service.response if r.get("type") == "searchResEntry"]
    if len(entries) != 1:
        if entries:
            _log.warning("ldap_ambiguous_username", username=username)
        return None
    dn, attributes = entries[0]["dn"], entries[0]["attributes"]
    # The server matched with the attribute's own rules; insist on the exact name too.
    names = {value.lower() for value in _values(attributes, config.username_attribute)}
    if not isinstance(dn, str) or not dn or username not in names:
        return None
    return dn, attributes


def _equalise(session: _Session, config: LdapConfig) -> None:
    with contextlib.suppress(_Refused, LDAPException, OSError):  # "no such user" anyway
        _close(session.bind(config.bind_dn, config.bind_password))


def _role(service: Any, config: LdapConfig, user_dn: str) -> UserRole | None:
    """The highest role among the mapped groups that list ``user_dn``.

    Each mapped group is read by its own DN with the member DN in the filter, so the
    server compares DNs by its matching rules (case, spacing, escapes) and nothing here
    has to parse or normalise a DN.
    """
    member_filter = f"({config.group_member_attribute}={escape_filter_chars(user_dn)})"
    best: UserRole | None = None
    for group_dn, role in config.group_roles.items():
        if best is not None and _ROLE_RANK[role] <= _ROLE_RANK[best]:
            continue
        try:
            service.search(
                group_dn,
                member_filter,
                search_scope=BASE,
                dereference_aliases=DEREF_NEVER,
                attributes=NO_ATTRIBUTES,
            )
        except LDAPNoSuchObjectResult:
            _log.warning("ldap_mapped_group_missing", group=group_dn)
            continue
        if any(r.get("type") == "searchResEntry" for r in service.response):
            best = role
    return best if best is not None else config.default_role


def _values(attributes: Mapping[str, Any], name: str) -> list[str]:
    """An attribute's values as text (binary ones, like AD's objectGUID, as hex)."""
    raw = next((v for k, v in attributes.items() if k.lower() == name.lower()), None)
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [item.hex() if isinstance(item, bytes) else str(item) for item in items]


def _first(attributes: Mapping[str, Any], name: str) -> str | None:
    for value in _values(attributes, name):
        if value.strip():
            return value.strip()
    return None


class LdapDirectory:
    """The deployment's directory: its config and a small thread pool of its own, so a
    hung directory ties up at most these threads (not the ones password hashing and
    file reads use)."""

    def __init__(self, config: LdapConfig, *, threads: int = 4) -> None:
        self.config = config
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ldap")

    @override
    def __repr__(self) -> str:
        return f"LdapDirectory({self.config.host!r})"

    async def authenticate(self, username: str, password: str) -> LdapIdentity | None:
        """See :func:`authenticate`."""
        return await authenticate(self.config, username, password, executor=self._pool)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
