"""A throwaway OpenLDAP server for the LDAP login tests (T10).

``slapd`` (Debian's package) runs as the test user from a temporary directory, on free
loopback ports, with LDAPS and StartTLS from a throwaway CA. The directory is seeded
offline with ``slapadd`` (so no administrator password exists at all) with data chosen
to break naive code: a DN with a comma, parentheses, an asterisk and non-ASCII
characters; a username that two entries share; a user outside the user base; a user
whose password really is three spaces.

The configuration holds the server to what a careful deployment does:

* ``security simple_bind=128``: a simple bind without TLS is refused
  (``confidentialityRequired``), so a test that passes proves the client bound over TLS;
* the service account may read people and groups but not passwords, and write nothing;
* everyone else may only authenticate.

Also made: a second, unrelated CA (for "wrong certificate" tests), and the server
listens on 127.0.0.2 too, where its certificate (``localhost``, ``127.0.0.1``) doesn't
name the address (for "certificate for another host" tests).

Use the ``slapd`` fixture (import ``slapd_fixture`` into the test module). Without a
``slapd`` binary the tests fail (``scripts/test.sh`` installs it): a skipped attack
test would read as a passed one.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from redoubt.domain.enums import UserRole
from redoubt.storage.ldap import LdapConfig, LdapMode

__all__ = [
    "BASE_DN",
    "GROUPS",
    "PASSWORDS",
    "Slapd",
    "make_ca",
    "make_server_cert",
    "running_slapd",
    "slapd_fixture",
]

BASE_DN = "dc=example,dc=org"
PEOPLE = f"ou=people,{BASE_DN}"
GROUPS_BASE = f"ou=groups,{BASE_DN}"
SERVICE_DN = f"cn=svc-chat,ou=system,{BASE_DN}"
SERVICE_PASSWORD = "svc-Bind-Secret-4f1c9e"
JDOE_DN = f"cn=Doe\\, José (Ops)*,{PEOPLE}"
"""A DN that breaks string-built filters and DNs: ``,`` ``(`` ``)`` ``*`` and UTF-8."""

PASSWORDS = {
    "alice": "alice-Wonderland-7",
    "admin": "admin-Rabbit-Hole-9",
    "bob": "bob-Builder-3",
    "carol": "carol-Singer-5",
    "jdoe": "jdoe-Comma-Name-2",
    "twin": "twin-Twin-Twin-8",
    "outsider": "outsider-Elsewhere-6",
    "spacey": "   ",
}
"""Every directory user's real password (``spacey``'s is three spaces)."""

GROUPS = {
    "admins": f"cn=chat-admins,{GROUPS_BASE}",
    "users": f"cn=chat-users,{GROUPS_BASE}",
    "guests": f"cn=chat-guests,{GROUPS_BASE}",
}
GROUP_ROLES = {
    GROUPS["admins"]: UserRole.ADMIN,
    GROUPS["users"]: UserRole.USER,
    GROUPS["guests"]: UserRole.GUEST,
}

_SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def _person(dn: str, uid: str, cn: str, mail: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "dn": dn,
        "objectClass": ["inetOrgPerson"],
        "uid": uid,
        "cn": cn,
        "sn": cn.rsplit(maxsplit=1)[-1],
        "userPassword": PASSWORDS[uid],
    }
    if mail:
        entry["mail"] = mail
    return entry


def _seed() -> list[dict[str, Any]]:
    def ou(name: str, parent: str = BASE_DN) -> dict[str, Any]:
        return {"dn": f"ou={name},{parent}", "objectClass": ["organizationalUnit"], "ou": name}

    def group(key: str, *members: str) -> dict[str, Any]:
        dn = GROUPS[key]
        return {
            "dn": dn,
            "objectClass": ["groupOfNames"],
            "cn": dn.split(",")[0].removeprefix("cn="),
            "member": list(members),
        }

    alice, admin = f"uid=alice,{PEOPLE}", f"uid=admin,{PEOPLE}"
    carol, spacey, twin = f"uid=carol,{PEOPLE}", f"uid=spacey,{PEOPLE}", f"uid=twin,{PEOPLE}"
    twin2 = f"uid=twin,ou=contractors,{PEOPLE}"
    return [
        {
            "dn": BASE_DN,
            "objectClass": ["dcObject", "organization"],
            "dc": "example",
            "o": "Example",
        },
        ou("people"),
        ou("contractors", PEOPLE),
        ou("groups"),
        ou("system"),
        {
            "dn": SERVICE_DN,
            "objectClass": ["organizationalRole", "simpleSecurityObject"],
            "cn": "svc-chat",
            "userPassword": SERVICE_PASSWORD,
        },
        _person(alice, "alice", "Alice Liddell", "alice@example.org"),
        _person(admin, "admin", "Ada Admin", "admin@example.org"),
        _person(f"uid=bob,{PEOPLE}", "bob", "Bob Builder"),
        _person(carol, "carol", "Carol Singer", "carol@example.org"),
        _person(JDOE_DN, "jdoe", "John Doe", "jdoe@example.org"),
        _person(spacey, "spacey", "Spacey Spaces"),
        _person(twin, "twin", "Twin One"),
        _person(twin2, "twin", "Twin Two"),
        _person(f"uid=outsider,ou=system,{BASE_DN}", "outsider", "Out Sider"),
        group("admins", admin),
        group("users", alice, admin, JDOE_DN, spacey, twin, twin2),
        group("guests", carol),
    ]


def _ldif_value(attr: str, value: str) -> str:
    """One LDIF line; base64 when the value isn't a plain SAFE-STRING (RFC 2849)."""
    safe = (
        value.isascii()
        and value.isprintable()
        and not value.startswith((" ", ":", "<"))
        and not value.endswith(" ")
    )
    if safe:
        return f"{attr}: {value}"
    return f"{attr}:: {base64.b64encode(value.encode()).decode()}"


def _ldif(entries: list[dict[str, Any]]) -> str:
    blocks = []
    for entry in entries:
        lines = []
        for attr, values in entry.items():
            for value in values if isinstance(values, list) else [values]:
                lines.append(_ldif_value(attr, value))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _slapd_conf(d: Path) -> str:
    svc = f'dn.exact="{SERVICE_DN}"'
    return f"""\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile  {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile  {d}/ca.crt
TLSCertificateFile    {d}/server.crt
TLSCertificateKeyFile {d}/server.key
TLSProtocolMin 3.3
security simple_bind=128
database mdb
maxsize 10485760
suffix "{BASE_DN}"
rootdn "cn=nobody,{BASE_DN}"
directory {d}/db
index objectClass,uid eq
access to attrs=userPassword
    by anonymous auth
    by * none
access to dn.subtree="{PEOPLE}"
    by {svc} read
    by * none
access to dn.subtree="{GROUPS_BASE}"
    by {svc} read
    by * none
access to *
    by * none
"""


def _binary(name: str) -> str | None:
    return shutil.which(name, path=_SBIN_PATH)


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=30)


def make_ca(d: Path, name: str) -> None:
    _run(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", f"/CN={name}",
        "-keyout", f"{name}.key", "-out", f"{name}.crt",
        cwd=d,
    )  # fmt: skip


def make_server_cert(d: Path) -> None:
    (d / "ext.cnf").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    _run(
        "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr",
        cwd=d,
    )  # fmt: skip
    _run(
        "openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt",
        cwd=d,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"slapd exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        if time.monotonic() > deadline:
            raise RuntimeError("slapd did not start listening")
        time.sleep(0.05)


@dataclass
class Slapd:
    """A running test directory and what a test needs to talk to it."""

    directory: Path
    ldaps_port: int
    ldap_port: int
    process: subprocess.Popen[bytes] = field(repr=False)
    host: str = "127.0.0.1"
    mismatched_host: str = "127.0.0.2"
    """Reaches the same server, but its certificate doesn't name this address."""

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def other_ca_file(self) -> Path:
        """A CA that signed nothing this server presents."""
        return self.directory / "other-ca.crt"

    @property
    def log_path(self) -> Path:
        return self.directory / "slapd.log"

    def config(self, mode: LdapMode = LdapMode.LDAPS, /, **overrides: Any) -> LdapConfig:
        """The adapter's configuration for this server; ``overrides`` replace fields."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.ldaps_port if mode is LdapMode.LDAPS else self.ldap_port,
            "mode": mode,
            "ca_file": self.ca_file,
            "bind_dn": SERVICE_DN,
            "bind_password": SERVICE_PASSWORD,
            "user_base_dn": PEOPLE,
            "group_roles": dict(GROUP_ROLES),
            "connect_timeout": 2.0,
            "receive_timeout": 2,
            "total_timeout": 5.0,
        }
        values.update(overrides)
        return LdapConfig(**values)

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        """What slapd logged (``stats`` level: connections, binds, searches) after ``offset``."""
        with self.log_path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The server accepts connections (the kernel does) but never answers."""
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def running_slapd(directory: Path) -> Iterator[Slapd]:
    """Configure, seed and start slapd in ``directory``; stop it (and wait) on exit."""
    slapd, slapadd = _binary("slapd"), _binary("slapadd")
    if slapd is None or slapadd is None or shutil.which("openssl") is None:
        pytest.fail("slapd (Debian package slapd) and openssl are needed for the LDAP tests")
    d = directory
    (d / "db").mkdir(parents=True)
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    make_server_cert(d)
    (d / "slapd.conf").write_text(_slapd_conf(d))
    (d / "seed.ldif").write_text(_ldif(_seed()))
    _run(slapadd, "-q", "-f", "slapd.conf", "-l", "seed.ldif", cwd=d)
    ldaps_port, ldap_port = _free_port(), _free_port()
    urls = [
        f"ldaps://{host}:{ldaps_port}/ ldap://{host}:{ldap_port}/"
        for host in ("127.0.0.1", "127.0.0.2")
    ]
    with (d / "slapd.log").open("wb") as log:
        # -d 256 (stats) keeps slapd in the foreground and logs every connection,
        # bind (with its DN) and search, which the tests read.
        proc = subprocess.Popen(
            [slapd, "-f", str(d / "slapd.conf"), "-h", " ".join(urls), "-d", "256"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 10
        for port in (ldaps_port, ldap_port):
            _wait_listening("127.0.0.1", port, proc, deadline)
        # The two probe connections are logged asynchronously; let them land, so no
        # test's slice of the log starts before them.
        while (d / "slapd.log").read_text(errors="replace").count(" closed") < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("slapd did not log the readiness probes")
            time.sleep(0.02)
        yield Slapd(directory=d, ldaps_port=ldaps_port, ldap_port=ldap_port, process=proc)
    finally:
        proc.send_signal(signal.SIGCONT)  # in case a test left it paused
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session", name="slapd")
def slapd_fixture(
    tmp_path_factory: pytest.TempPathFactory, secret_log_detector: Any
) -> Iterator[Slapd]:
    """One slapd for the session. Its passwords are registered with the run's log
    detector, so a password that reaches any log line fails the run."""
    secret_log_detector.remember(SERVICE_PASSWORD)
    for password in PASSWORDS.values():
        if password.strip():  # "   " would match every log line
            secret_log_detector.remember(password)
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server
