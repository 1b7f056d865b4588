"""T10: LDAP login can't be injected, can't enumerate users and fails closed.

Every test talks to a real OpenLDAP server (``tests/ldap_server.py``) over LDAPS or
StartTLS. That server refuses simple binds without TLS, and its ``stats`` log shows
each connection, bind DN and search, which the tests read to prove what went over the
wire: that refused input never reached the directory, that the password was only ever
sent in a bind as the DN the directory returned, that a bad certificate stopped the
login before any bind.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path

import pytest

import redoubt.storage.ldap as ldap_adapter
from redoubt.domain.enums import UserRole
from redoubt.storage.ldap import LdapIdentity, LdapMode, LdapUnavailable, authenticate
from tests.ldap_server import (  # the fixture is registered by importing it
    BASE_DN,
    GROUPS,
    PASSWORDS,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Slapd,
    slapd_fixture,  # noqa: F401
)

with warnings.catch_warnings():  # pyasn1 deprecations inside ldap3, as in the adapter
    warnings.filterwarnings("ignore", r"(tagMap|typeMap) is deprecated", DeprecationWarning)
    from ldap3 import BASE, MODIFY_REPLACE, SIMPLE, Connection, Server  # type: ignore[import-untyped]
    from ldap3.core.exceptions import (  # type: ignore[import-untyped]
        LDAPConfidentialityRequiredResult,
        LDAPInsufficientAccessRightsResult,
    )

ALICE_DN = f"uid=alice,ou=people,{BASE_DN}"
_BIND = re.compile(r'BIND dn="([^"]*)" method=')


def binds(log: str) -> list[str]:
    """The DNs of the simple binds in a slice of slapd's log, in order."""
    return _BIND.findall(log)


def connections(log: str) -> int:
    return log.count(" ACCEPT from ")


# -- Logins that should work ------------------------------------------------------------


@pytest.mark.parametrize("mode", list(LdapMode))
async def test_valid_login_returns_the_identity_with_its_mapped_role(
    slapd: Slapd, mode: LdapMode
) -> None:
    identity = await authenticate(slapd.config(mode), "alice", PASSWORDS["alice"])

    assert identity is not None
    assert identity.dn == ALICE_DN
    assert identity.username == "alice"
    assert identity.display_name == "Alice Liddell"
    assert identity.email == "alice@example.org"
    assert identity.role is UserRole.USER
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", identity.external_id)


async def test_highest_mapped_role_wins_and_each_group_maps(slapd: Slapd) -> None:
    config = slapd.config()
    admin = await authenticate(config, "admin", PASSWORDS["admin"])  # admins + users
    carol = await authenticate(config, "carol", PASSWORDS["carol"])  # guests

    assert admin is not None
    assert admin.role is UserRole.ADMIN
    assert carol is not None
    assert carol.role is UserRole.GUEST


async def test_login_is_search_then_bind_as_the_dn_the_directory_returned(
    slapd: Slapd,
) -> None:
    """The service account searches; the password goes only into a bind as the found DN."""
    start = slapd.log_size()
    assert await authenticate(slapd.config(), "alice", PASSWORDS["alice"]) is not None
    log = slapd.log_since(start)

    assert binds(log) == [SERVICE_DN, ALICE_DN]
    assert 'filter="(&(objectClass=inetOrgPerson)(uid=alice))"' in log


async def test_dn_with_comma_parentheses_asterisk_and_utf8_is_handled_as_a_dn(
    slapd: Slapd,
) -> None:
    """``cn=Doe\\, José (Ops)*`` breaks a DN built from strings and a filter built
    without escaping; it logs in, and its group membership (the DN in a filter) maps."""
    start = slapd.log_size()
    identity = await authenticate(slapd.config(), "jdoe", PASSWORDS["jdoe"])
    log = slapd.log_since(start)

    assert identity is not None
    assert identity.role is UserRole.USER
    assert identity.username == "jdoe"
    user_binds = [dn for dn in binds(log) if dn != SERVICE_DN]
    assert len(user_binds) == 1
    assert "José (Ops)*" in user_binds[0]
    assert user_binds[0].startswith("cn=Doe\\")  # the comma stayed escaped, one RDN
    assert identity.dn.endswith(",ou=people,dc=example,dc=org")


async def test_username_is_case_insensitive_and_lower_cased(slapd: Slapd) -> None:
    identity = await authenticate(slapd.config(), "ALICE", PASSWORDS["alice"])

    assert identity is not None
    assert identity.username == "alice"


async def test_user_in_no_mapped_group_is_refused_unless_a_default_role_is_set(
    slapd: Slapd,
) -> None:
    assert await authenticate(slapd.config(), "bob", PASSWORDS["bob"]) is None

    guest = await authenticate(slapd.config(default_role=UserRole.GUEST), "bob", PASSWORDS["bob"])
    assert guest is not None
    assert guest.role is UserRole.GUEST


async def test_a_missing_mapped_group_is_skipped_not_fatal(slapd: Slapd) -> None:
    roles = {
        f"cn=deleted-group,ou=groups,{BASE_DN}": UserRole.ADMIN,
        GROUPS["users"]: UserRole.USER,
    }
    identity = await authenticate(slapd.config(group_roles=roles), "alice", PASSWORDS["alice"])

    assert identity is not None
    assert identity.role is UserRole.USER


# -- Logins that must fail, all alike ---------------------------------------------------


async def test_wrong_password_and_unknown_user_are_both_none(slapd: Slapd) -> None:
    config = slapd.config()

    assert await authenticate(config, "alice", PASSWORDS["bob"]) is None
    assert await authenticate(config, "alice", PASSWORDS["alice"] + "x") is None
    assert await authenticate(config, "nobody", PASSWORDS["alice"]) is None


async def test_ambiguous_username_and_user_outside_the_base_are_refused(slapd: Slapd) -> None:
    config = slapd.config()

    # Two entries have uid=twin, both with this password: neither may log in.
    assert await authenticate(config, "twin", PASSWORDS["twin"]) is None
    # uid=outsider exists, with this password, but outside the user base.
    assert await authenticate(config, "outsider", PASSWORDS["outsider"]) is None


INJECTION_USERNAMES = [
    "*",
    "admin*",
    "al*",
    "*)(uid=*",
    "admin)(|(uid=*",
    "*)(|(uid=*",
    "alice)(objectClass=*",
    "\x00",
    "admin\x00",
    "alice\x00)(uid=*",
    f"uid=alice,ou=people,{BASE_DN}",
    f"uid=admin,ou=people,{BASE_DN}",
    "alice\\2a",
    "a" * 300,
    "",
    " alice",
    "alice ",
    "\u0430lice",  # Cyrillic small a
    "\u212aelvin",  # Kelvin sign: lower() makes it "kelvin"
]


@pytest.mark.parametrize("username", INJECTION_USERNAMES)
@pytest.mark.parametrize("owner", ["alice", "admin"])
async def test_injection_usernames_never_log_in_and_never_reach_the_directory(
    slapd: Slapd, username: str, owner: str
) -> None:
    """With a real user's correct password, no payload logs in. They fail validation, so
    the directory sees no connection at all: the answer can't depend on who exists."""
    start = slapd.log_size()
    result = await authenticate(slapd.config(), username, PASSWORDS[owner])

    assert result is None
    assert connections(slapd.log_since(start)) == 0


BAD_PASSWORDS = [
    "",
    " ",
    "   ",
    "\t\n",
    "\u00ad",  # SASLprep maps soft hyphen to nothing: an empty password on the wire
    "\u00a0\u2003",  # SASLprep maps these to spaces
    "\u00ad ",  # ... and this to one space, though str.strip() sees a character
    "\u200b",  # zero-width space: not whitespace to str.strip(), a space after SASLprep
    PASSWORDS["alice"] + "\x00",  # a C server might stop at the NUL and see the real one
    "\x00" + PASSWORDS["alice"],
    "x" * 1025,
]


@pytest.mark.parametrize("password", BAD_PASSWORDS)
@pytest.mark.parametrize("username", ["alice", "spacey", "nobody"])
async def test_empty_blank_and_nul_passwords_are_refused_before_any_bind(
    slapd: Slapd, username: str, password: str
) -> None:
    """``spacey``'s password in the directory really is three spaces: still refused, as
    blank passwords are where unauthenticated binds and trimming bugs live."""
    start = slapd.log_size()
    result = await authenticate(slapd.config(), username, password)

    assert result is None
    log = slapd.log_since(start)
    assert connections(log) == 0
    assert binds(log) == []


@pytest.mark.parametrize(
    "username",
    [
        "*",
        "al*",
        "*)(uid=*",
        "admin)(|(uid=*",
        "alice)(objectClass=*",
        "\x00",
        f"uid=alice,ou=people,{BASE_DN}",
        "alice\\",
    ],
)
async def test_escaping_alone_stops_injection_when_validation_is_bypassed(
    slapd: Slapd, monkeypatch: pytest.MonkeyPatch, username: str
) -> None:
    """Defence in depth: with the username check switched off, the payloads reach the
    directory; every value is escaped, so they match nobody and alice's password is
    never sent."""
    monkeypatch.setattr(ldap_adapter, "is_valid_username", lambda _name: True)
    start = slapd.log_size()
    result = await authenticate(slapd.config(), username, PASSWORDS["alice"])
    log = slapd.log_since(start)

    assert result is None
    assert "SRCH base=" in log  # it did reach the directory this time
    assert "nentries=0" in log
    assert ALICE_DN not in binds(log)
    assert set(binds(log)) == {SERVICE_DN}


async def test_unknown_user_costs_the_same_round_trips_as_a_wrong_password(
    slapd: Slapd,
) -> None:
    """No enumeration by timing: an unknown user still opens a second TLS connection and
    binds (as the service account), like a known user with a wrong password does; and
    the measured times are of the same order."""
    config = slapd.config()
    start = slapd.log_size()
    assert await authenticate(config, "nobody", "not-the-password") is None
    unknown = slapd.log_since(start)
    start = slapd.log_size()
    assert await authenticate(config, "alice", "not-the-password") is None
    wrong = slapd.log_since(start)

    assert connections(unknown) == connections(wrong) == 2
    assert len(binds(unknown)) == len(binds(wrong)) == 2

    async def fastest(username: str) -> float:
        times = []
        for _ in range(9):
            began = time.perf_counter()
            assert await authenticate(config, username, "not-the-password") is None
            times.append(time.perf_counter() - began)
        return min(times)

    t_unknown, t_wrong = await fastest("nobody"), await fastest("alice")
    assert max(t_unknown, t_wrong) / min(t_unknown, t_wrong) < 2.5, (t_unknown, t_wrong)


# -- Transport security and failing closed -----------------------------------------------


@pytest.mark.parametrize("mode", list(LdapMode))
async def test_server_certificate_from_another_ca_fails_before_any_bind(
    slapd: Slapd, mode: LdapMode
) -> None:
    start = slapd.log_size()
    with pytest.raises(LdapUnavailable):
        await authenticate(
            slapd.config(mode, ca_file=slapd.other_ca_file), "alice", PASSWORDS["alice"]
        )
    log = slapd.log_since(start)

    assert connections(log) >= 1  # it did try
    assert binds(log) == []  # and sent no credentials


@pytest.mark.parametrize("mode", list(LdapMode))
async def test_certificate_for_another_host_fails(slapd: Slapd, mode: LdapMode) -> None:
    """Same server and CA, reached as 127.0.0.2, which its certificate doesn't name."""
    start = slapd.log_size()
    with pytest.raises(LdapUnavailable):
        await authenticate(
            slapd.config(mode, host=slapd.mismatched_host), "alice", PASSWORDS["alice"]
        )

    assert binds(slapd.log_since(start)) == []


def test_the_directory_refuses_plaintext_binds(slapd: Slapd) -> None:
    """The fixture's server requires TLS for binds, so every successful login in this
    module went over TLS."""
    conn = Connection(
        Server(slapd.host, port=slapd.ldap_port, get_info=None),
        user=SERVICE_DN,
        password=SERVICE_PASSWORD,
        authentication=SIMPLE,
        raise_exceptions=True,
    )
    conn.open()
    try:
        with pytest.raises(LDAPConfidentialityRequiredResult):
            conn.bind()
    finally:
        conn.unbind()


async def test_server_down_is_unavailable_not_a_failed_login(slapd: Slapd) -> None:
    with pytest.raises(LdapUnavailable):
        await authenticate(slapd.config(port=_closed_port()), "alice", PASSWORDS["alice"])


async def test_unknown_users_are_unavailable_too_when_the_server_is_down(slapd: Slapd) -> None:
    """Down is down for everyone: the error doesn't depend on the username."""
    config = slapd.config(port=_closed_port())
    for username in ("alice", "nobody"):
        with pytest.raises(LdapUnavailable) as caught:
            await authenticate(config, username, "some-password")
        assert str(caught.value) == "the directory is unreachable"


async def test_hung_server_times_out_without_blocking_the_event_loop(slapd: Slapd) -> None:
    config = slapd.config(connect_timeout=1.0, receive_timeout=1, total_timeout=2.0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ldap")
    try:
        with slapd.paused():
            began = time.monotonic()
            with pytest.raises(LdapUnavailable):
                await authenticate(config, "alice", PASSWORDS["alice"], executor=pool)
            elapsed = time.monotonic() - began
    finally:
        task.cancel()
        pool.shutdown(wait=True)  # the worker ended on its own receive timeout

    assert elapsed < 2.5
    assert ticks > elapsed / 0.01 / 4  # the loop kept running while the login waited
    # And the directory serves again once it wakes up.
    assert await authenticate(slapd.config(), "alice", PASSWORDS["alice"]) is not None


async def test_wrong_service_password_is_unavailable_not_none(slapd: Slapd) -> None:
    """A misconfigured service account must look like an outage, not like every user
    typing a wrong password."""
    config = slapd.config(bind_password="not-the-service-password")
    with pytest.raises(LdapUnavailable):
        await authenticate(config, "alice", PASSWORDS["alice"])


# -- Secrets ----------------------------------------------------------------------------


async def test_passwords_appear_in_no_repr_or_error(slapd: Slapd) -> None:
    config = slapd.config()
    assert SERVICE_PASSWORD not in repr(config)
    assert SERVICE_PASSWORD not in str(config)

    identity = await authenticate(config, "alice", PASSWORDS["alice"])
    assert identity is not None
    assert "password" not in {f.name for f in fields(LdapIdentity)}
    assert PASSWORDS["alice"] not in repr(identity)

    for broken in (slapd.config(port=_closed_port()), slapd.config(ca_file=slapd.other_ca_file)):
        with pytest.raises(LdapUnavailable) as caught:
            await authenticate(broken, "alice", PASSWORDS["alice"])
        chain = repr(caught.value) + repr(caught.value.__cause__)
        assert SERVICE_PASSWORD not in chain
        assert PASSWORDS["alice"] not in chain


def test_config_rejects_unsafe_names_and_roles(slapd: Slapd, tmp_path: Path) -> None:
    """Attribute and class names go into filters unescaped, so they're validated."""
    for field_name in ("username_attribute", "user_object_class", "group_member_attribute"):
        with pytest.raises(ValueError, match="not an LDAP"):
            slapd.config(LdapMode.LDAPS, **{field_name: "uid)(|(uid=*"})
    with pytest.raises(ValueError, match="bots"):
        slapd.config(default_role=UserRole.BOT)
    with pytest.raises(ValueError, match="CA file"):
        slapd.config(ca_file=tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="not a valid LDAP DN"):
        slapd.config(group_roles={"cn=x,,dc=example": UserRole.ADMIN})
    with pytest.raises(ValueError, match="required"):
        slapd.config(bind_password="")


def test_least_privilege_service_account_cannot_read_passwords_or_write(slapd: Slapd) -> None:
    """The fixture's service account is what the docs tell operators to create."""
    # Bound through the adapter's own connection code (verified TLS).
    conn = ldap_adapter._Session(slapd.config()).bind(SERVICE_DN, SERVICE_PASSWORD)
    try:
        conn.search(f"ou=people,{BASE_DN}", "(userPassword=*)", attributes=["userPassword"])
        assert conn.entries == []
        conn.search(ALICE_DN, "(objectClass=*)", search_scope=BASE, attributes=["*"])
        assert "userPassword" not in conn.response[0]["attributes"]
        conn.read_only = False  # the adapter's connections refuse writes themselves
        with pytest.raises(LDAPInsufficientAccessRightsResult):
            conn.modify(ALICE_DN, {"mail": [(MODIFY_REPLACE, ["evil@example.org"])]})
    finally:
        conn.unbind()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens once the socket is closed
