"""The egress guard (T6, SSRF) against real HTTP servers on loopback.

Each test starts its own tiny HTTP/1.1 servers (``asyncio.start_server``) and sends
real requests through :class:`redoubt.core.egress.Egress`. Loopback is exactly what the
guard forbids, so the tests reach their receivers only through an explicit allowlist
entry, and prove the guard refuses the same receiver without it: a refusal counts only
when the receiver saw nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typing_extensions import override

from redoubt.core.egress import (
    MAX_URL_LENGTH,
    Egress,
    EgressError,
    EgressPolicy,
    EgressRefused,
    Resolver,
    check_url,
)
from redoubt.core.settings import Settings
from tests.conftest import LogSecretDetector
from tests.http_receiver import LoopbackServer, Request, read_request, reply

LOOPBACK = ipaddress.ip_network("127.0.0.1/32")


# ---------------------------------------------------------------------------
# A receiver that records every request (tests/http_receiver.py)


@dataclass
class Seen(Request):
    local: tuple[str, int]
    """The address the connection arrived at."""


Handler = Callable[[Seen, asyncio.StreamWriter], Awaitable[None]]


async def answer_ok(seen: Seen, writer: asyncio.StreamWriter) -> None:
    await reply(writer, body=json.dumps({"got": seen.method}).encode())


class Receiver(LoopbackServer):
    """An HTTP server on ``host`` (a random port) that records every request."""

    def __init__(
        self,
        handler: Handler = answer_ok,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(host, port, tls)
        self.handler = handler
        self.seen: list[Seen] = []
        self.connections = 0

    @override
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        request = await read_request(reader)
        local = writer.get_extra_info("sockname")
        seen = Seen(**vars(request), local=(str(local[0]), int(local[1])))
        self.seen.append(seen)
        await self.handler(seen, writer)


def policy(
    *ports: int,
    networks: tuple[str, ...] = (),
    hosts: tuple[str, ...] = (),
    timeout: float = 5.0,
    max_bytes: int = 64 * 1024,
    max_redirects: int = 3,
) -> EgressPolicy:
    return EgressPolicy(
        allowed_ports=frozenset(ports or (80, 443)),
        allow_networks=tuple(ipaddress.ip_network(n) for n in networks),
        allow_hosts=frozenset(hosts),
        timeout_seconds=timeout,
        max_response_bytes=max_bytes,
        max_redirects=max_redirects,
    )


@contextlib.asynccontextmanager
async def egress(
    p: EgressPolicy, *, resolver: Resolver | None = None, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Egress]:
    client = Egress(p, resolver=resolver, ssl_context=ssl_context)
    try:
        yield client
    finally:
        await client.aclose()


async def assert_refused(
    out: Egress,
    method: str,
    url: str,
    *,
    unseen: Receiver,
    match: str | None = None,
    content: bytes | None = None,
) -> None:
    """The guard refuses the request, and ``unseen`` got no connection: a refusal
    counts only when the receiver saw nothing."""
    with pytest.raises(EgressRefused, match=match):
        await out.request(method, url, content=content)
    assert unseen.connections == 0


# ---------------------------------------------------------------------------
# Static checks (no DNS)

BAD_FORMS = [
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[::127.0.0.1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[::]/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://127.0.1/",
    "http://017700000001/",
    "http://127.0.0.1./",
    "http://1.2.3.4.5/",
    "http://8.8.8.08/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://example.com:70/",
    "javascript:alert(1)",
    "//example.com/",
    "http://example.com:8080/",
    "http://example.com:22/",
    "https://user:pass@example.com/",
    "https://user@example.com/",
    "https://:pass@example.com/",
    "http://example.com\\@127.0.0.1/",
    "http:///path",
    "http://exa mple.com/",
    "http://example.com/\r\nX-Injected: 1",
    "https://example.com/" + "a" * MAX_URL_LENGTH,
]


@pytest.mark.parametrize("url", BAD_FORMS)
def test_check_url_refuses_bad_forms_without_dns(url: str) -> None:
    message = check_url(url, policy())
    assert message is not None, url
    assert message.endswith("."), message


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://2130706433/", "it would mean 127.0.0.1"),
        ("http://0177.0.0.1/", "it would mean 127.0.0.1"),
        ("http://0x7f.0.0.1/", "it would mean 127.0.0.1"),
        ("http://127.1/", "it would mean 127.0.0.1"),
        ("http://[::ffff:7f00:1]/", "loopback address (it wraps 127.0.0.1)"),
        ("http://[2002:7f00:1::]/", "loopback address (it wraps 127.0.0.1)"),
        ("http://169.254.169.254/", "link-local"),
        ("http://100.64.0.1/", "CGNAT"),
        ("https://user:pass@example.com/", "user name or password"),
        ("ftp://example.com/", "Only http:// and https://"),
        ("http://example.com:8080/", "Port 8080 is not allowed"),
    ],
)
def test_check_url_explains(url: str, words: str) -> None:
    message = check_url(url, policy())
    assert message is not None
    assert words in message
    assert "pass" not in message.replace("password", "")


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook?token=abc",
        "http://example.com:80/",
        "https://93.184.215.14/",
        "https://[2606:4700:4700::1111]/dns-query",
        "https://bücher.example/",
        "https://hooks.example.com./x",
    ],
)
def test_check_url_accepts_public_forms(url: str) -> None:
    assert check_url(url, policy()) is None


def test_allowlists_open_literal_addresses_but_never_multicast() -> None:
    p = policy(80, networks=("10.1.2.3/32",), hosts=("localhost",))
    assert check_url("http://10.1.2.3/", p) is None
    assert check_url("http://[::ffff:10.1.2.3]/", p) is None
    assert check_url("http://10.1.2.4/", p) is not None
    assert check_url("http://localhost/", p) is None
    p = policy(80, networks=("224.0.0.0/4", "0.0.0.0/32"))
    assert check_url("http://224.0.0.1/", p) is not None
    assert check_url("http://0.0.0.0/", p) is not None


def test_policy_from_settings() -> None:
    settings = Settings(
        egress_allowed_ports=[443, 8443],
        egress_allow_networks=["10.1.2.3/32", "fd00::/8"],
        egress_allow_hosts=["Hooks.Internal."],
    )
    p = EgressPolicy.from_settings(settings)
    assert p.allowed_ports == frozenset({443, 8443})
    assert p.allow_networks == (
        ipaddress.ip_network("10.1.2.3/32"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert p.allow_hosts == frozenset({"hooks.internal"})
    # A typo must not open a whole network: host bits are refused, at startup.
    with pytest.raises(ValueError, match="EGRESS_ALLOW_NETWORKS"):
        EgressPolicy.from_settings(Settings(egress_allow_networks=["10.1.2.3/8"]))
    with pytest.raises(ValueError, match="EGRESS_ALLOW_NETWORKS"):
        EgressPolicy.from_settings(Settings(egress_allow_networks=["intranet"]))


# ---------------------------------------------------------------------------
# Refusals against a live receiver

FORBIDDEN_TARGETS = [
    "http://127.0.0.1:{port}/",
    "http://10.0.0.1:{port}/",
    "http://192.168.1.1:{port}/",
    "http://172.16.0.1:{port}/",
    "http://169.254.169.254:{port}/latest/meta-data/",
    "http://100.64.0.1:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[fc00::1]:{port}/",
    "http://[fe80::1]:{port}/",
    "http://2130706433:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://0x7f000001:{port}/",
    "http://127.1:{port}/",
    "http://localhost:{port}/",
    "ftp://127.0.0.1:{port}/",
    "file:///etc/passwd",
]


async def test_guard_refuses_forbidden_targets() -> None:
    """A live receiver on 127.0.0.1 (its port allowed) sees none of these requests."""
    async with Receiver() as rx, egress(policy(rx.port)) as out:
        for template in FORBIDDEN_TARGETS:
            url = template.format(port=rx.port)
            await assert_refused(out, "POST", url, unseen=rx, content=b"{}")


async def test_guard_refuses_ipv6_loopback() -> None:
    async with Receiver(host="::1") as rx, egress(policy(rx.port)) as out:
        await assert_refused(out, "GET", f"http://[::1]:{rx.port}/", unseen=rx, match="loopback")


async def test_allow_network_opens_the_loopback_receiver() -> None:
    async with Receiver() as rx:
        url = f"http://127.0.0.1:{rx.port}/hook?x=1"
        # Without the entry: refused, nothing reaches the receiver.
        async with egress(policy(rx.port)) as out:
            await assert_refused(out, "POST", url, unseen=rx, match="loopback", content=b'{"a": 1}')
        # With it: delivered.
        async with egress(policy(rx.port, networks=("127.0.0.1/32",))) as out:
            response = await out.post(
                url, content=b'{"a": 1}', headers={"Content-Type": "application/json"}
            )
        assert response.status_code == 200
        assert json.loads(response.body) == {"got": "POST"}
        assert response.headers["content-length"] == str(len(response.body))
        [seen] = rx.seen
        assert (seen.method, seen.target, seen.body) == ("POST", "/hook?x=1", b'{"a": 1}')
        assert seen.headers["host"] == f"127.0.0.1:{rx.port}"
        assert seen.headers["content-type"] == "application/json"


async def test_the_allowed_port_is_still_required() -> None:
    async with Receiver() as rx:
        url = f"http://127.0.0.1:{rx.port}/"
        async with egress(policy(80, 443, networks=("127.0.0.1/32",))) as out:
            await assert_refused(out, "GET", url, unseen=rx, match=f"Port {rx.port}")
            await assert_refused(
                out,
                "GET",
                f"http://user:pass@127.0.0.1:{rx.port}/",
                unseen=rx,
                match="user name or password",
            )


async def test_allowed_host_name_reaches_its_internal_address() -> None:
    """``allow_hosts`` opens a name, resolved by the system resolver (localhost)."""
    async with Receiver() as rx:
        url = f"http://localhost:{rx.port}/in"
        async with egress(policy(rx.port)) as out:
            await assert_refused(out, "GET", url, unseen=rx)
        async with egress(policy(rx.port, hosts=("localhost",))) as out:
            response = await out.request("GET", url)
        assert response.status_code == 200
        [seen] = rx.seen
        assert seen.headers["host"] == f"localhost:{rx.port}"
        assert seen.local[0] == "127.0.0.1"


# ---------------------------------------------------------------------------
# Redirects


def redirect_to(location: str, status: int = 302) -> Handler:
    async def handler(seen: Seen, writer: asyncio.StreamWriter) -> None:
        del seen
        await reply(writer, status, b"", {"Location": location})

    return handler


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/internal",
        "http://[::ffff:127.0.0.1]:{port}/internal",
        "http://2130706433:{port}/internal",
        "http://127.1:{port}/internal",
        "file:///etc/passwd",
        "http://user:pw@localhost:{port}/internal",
    ],
)
async def test_redirect_to_a_forbidden_target_is_refused(location: str) -> None:
    """The first server is reachable (``localhost`` is allowed by name) and redirects to
    a loopback target that is not: the hop is checked again and never sent."""
    async with Receiver() as inner:
        target = location.format(port=inner.port)
        async with (
            Receiver(redirect_to(target)) as outer,
            egress(policy(outer.port, inner.port, hosts=("localhost",))) as out,
        ):
            with pytest.raises(EgressRefused, match="Redirect from localhost refused"):
                await out.post(f"http://localhost:{outer.port}/hook", content=b"{}")
            assert len(outer.seen) == 1
        assert inner.connections == 0


async def test_redirects_are_followed_through_the_guard() -> None:
    """Positive control for the test above: an allowed redirect target is reached;
    303 turns a POST into a GET without its body, 307 keeps both."""
    async with Receiver() as inner:
        for status, method, body in ((303, "GET", b""), (307, "POST", b"payload")):
            target = f"http://localhost:{inner.port}/next"
            async with (
                Receiver(redirect_to(target, status)) as outer,
                egress(policy(outer.port, inner.port, hosts=("localhost",))) as out,
            ):
                response = await out.post(
                    f"http://localhost:{outer.port}/hook",
                    content=b"payload",
                    headers={"Authorization": "Bearer kept-on-same-origin"},
                )
            assert response.status_code == 200
            seen = inner.seen[-1]
            assert (seen.method, seen.target, seen.body) == (method, "/next", body)
            # Another port is another origin: credentials don't follow.
            assert "authorization" not in seen.headers


async def test_too_many_redirects() -> None:
    async def loop(seen: Seen, writer: asyncio.StreamWriter) -> None:
        await reply(writer, 302, b"", {"Location": seen.target})

    async with (
        Receiver(loop) as rx,
        egress(policy(rx.port, networks=("127.0.0.1/32",), max_redirects=2)) as out,
    ):
        with pytest.raises(EgressError, match="more than 2 times") as info:
            await out.request("GET", f"http://127.0.0.1:{rx.port}/again")
        assert not isinstance(info.value, EgressRefused)
        assert len(rx.seen) == 3


# ---------------------------------------------------------------------------
# Size and time limits


async def test_response_larger_than_the_limit() -> None:
    async def declared(seen: Seen, writer: asyncio.StreamWriter) -> None:
        del seen
        await reply(writer, body=b"x" * 5000)

    async def undeclared(seen: Seen, writer: asyncio.StreamWriter) -> None:
        del seen
        await reply(writer, body=b"x" * 5000, length=False)  # ends when the server closes

    for handler in (declared, undeclared):
        async with Receiver(handler) as rx:
            url = f"http://127.0.0.1:{rx.port}/"
            async with egress(policy(rx.port, networks=("127.0.0.1/32",), max_bytes=4096)) as out:
                with pytest.raises(EgressError, match="larger than 4096 bytes"):
                    await out.request("GET", url)
            async with egress(policy(rx.port, networks=("127.0.0.1/32",), max_bytes=5000)) as out:
                assert (await out.request("GET", url)).body == b"x" * 5000


async def assert_gives_up(
    handler: Handler, timeout: float, match: str, method: str, *, content: bytes | None = None
) -> None:
    """A request to a receiver that answers with ``handler``, allowed ``timeout``
    seconds, fails with ``match`` well within 2 s."""
    async with (
        Receiver(handler) as rx,
        egress(policy(rx.port, networks=("127.0.0.1/32",), timeout=timeout)) as out,
    ):
        started = time.monotonic()
        with pytest.raises(EgressError, match=match):
            await out.request(method, f"http://127.0.0.1:{rx.port}/", content=content)
        assert time.monotonic() - started < 2.0


async def test_a_server_that_never_answers_times_out() -> None:
    async def silent(seen: Seen, writer: asyncio.StreamWriter) -> None:
        del seen, writer
        await asyncio.sleep(3600)

    await assert_gives_up(silent, 0.5, r"timed out|took longer", "POST", content=b"{}")


async def test_a_trickling_server_hits_the_total_time_limit() -> None:
    """Each read is quick, the whole answer is not: the cap is over the request."""

    async def trickle(seen: Seen, writer: asyncio.StreamWriter) -> None:
        del seen
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    await assert_gives_up(trickle, 0.6, r"took longer than 0\.6 s", "GET")


# ---------------------------------------------------------------------------
# DNS pinning and TLS


async def test_connection_goes_to_the_checked_address() -> None:
    """DNS rebinding: the name answers an allowed address first, a forbidden one after.
    The request goes to the first (checked) address; nothing resolves it again."""
    calls: list[str] = []
    answers = [["127.0.0.1"], ["127.0.0.2"]]

    async def rebinding(host: str, port: int) -> list[str]:
        del port
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]

    # The same port on both, so only the address decides where a request lands.
    async with (
        Receiver() as checked,
        Receiver(host="127.0.0.2", port=checked.port) as forbidden,
    ):
        p = policy(checked.port, networks=("127.0.0.1/32",))
        async with egress(p, resolver=rebinding) as out:
            url = f"http://rebind.test:{checked.port}/hook"
            response = await out.post(url, content=b"{}")
            assert response.status_code == 200
            assert calls == ["rebind.test"]
            [seen] = checked.seen
            assert seen.local == ("127.0.0.1", checked.port)
            assert seen.headers["host"] == f"rebind.test:{checked.port}"
            # The second answer is refused when it is the one checked.
            with pytest.raises(EgressRefused, match="loopback"):
                await out.post(url, content=b"{}")
        assert forbidden.connections == 0


def _loopback_names_in_hosts_file() -> list[str]:
    """Names other than localhost that /etc/hosts maps to loopback (the machine's own
    name, usually): resolved by the system resolver, not by the guard's name rule."""
    names = []
    with contextlib.suppress(OSError):
        for line in Path("/etc/hosts").read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2:
                continue
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(fields[0]).is_loopback:
                    names += [n for n in fields[1:] if "localhost" not in n.lower()]
    return names


async def test_a_name_that_resolves_to_loopback_is_refused() -> None:
    async def internal(host: str, port: int) -> list[str]:
        del host, port
        return ["127.0.0.1"]

    loopback = "resolves to a loopback address"
    async with Receiver() as rx, egress(policy(rx.port), resolver=internal) as out:
        await assert_refused(
            out, "GET", f"http://hooks.example.com:{rx.port}/", unseen=rx, match=loopback
        )


async def test_a_name_the_system_resolves_to_loopback_is_refused() -> None:
    """The same through the real system resolver, with names from the hosts file (the
    machine's own name: Debian maps it to 127.0.1.1, these machines to 127.0.0.1)."""
    names = _loopback_names_in_hosts_file()
    assert names, "/etc/hosts maps no name but localhost to loopback: nothing to resolve"
    async with Receiver() as rx, egress(policy(rx.port)) as out:
        for name in names:
            await assert_refused(
                out,
                "GET",
                f"http://{name}:{rx.port}/",
                unseen=rx,
                match="resolves to a loopback address",
            )


async def test_any_forbidden_answer_refuses_the_name() -> None:
    async def mixed(host: str, port: int) -> list[str]:
        del host, port
        return ["93.184.215.14", "10.0.0.1"]

    async with egress(policy(), resolver=mixed) as out:
        with pytest.raises(EgressRefused, match="private address"):
            await out.request("GET", "https://example.com/")


def _certificates(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for ``name``, client context trusting its CA)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "egress test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    return server, client


async def test_tls_is_verified_against_the_host_name_while_pinned(tmp_path: Path) -> None:
    """Connecting to the checked IP must not weaken TLS: the certificate is checked
    against the URL's host name (sent as SNI), and a certificate for another name fails."""
    server_tls, client_tls = _certificates(tmp_path, "receiver.test")
    names: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _ctx: names.append(name)

    async def resolve(host: str, port: int) -> list[str]:
        del host, port
        return ["127.0.0.1"]

    async with Receiver(tls=server_tls) as rx:
        p = policy(rx.port, networks=("127.0.0.1/32",))
        async with egress(p, resolver=resolve, ssl_context=client_tls) as out:
            response = await out.post(f"https://receiver.test:{rx.port}/hook", content=b"{}")
            assert response.status_code == 200
            assert names == ["receiver.test"]
            assert rx.seen[0].headers["host"] == f"receiver.test:{rx.port}"
            with pytest.raises(EgressError, match="certificate could not be verified"):
                await out.post(f"https://other.test:{rx.port}/hook", content=b"{}")
            # The IP itself is not in the certificate either.
            with pytest.raises(EgressError, match="certificate could not be verified"):
                await out.post(f"https://127.0.0.1:{rx.port}/hook", content=b"{}")
        assert len(rx.seen) == 1
        # Without the CA, certifi's trust store doesn't know it.
        async with egress(p, resolver=resolve) as out:
            with pytest.raises(EgressError, match="certificate"):
                await out.post(f"https://receiver.test:{rx.port}/hook", content=b"{}")


async def test_https_never_redirects_to_http(tmp_path: Path) -> None:
    server_tls, client_tls = _certificates(tmp_path, "receiver.test")

    async def resolve(host: str, port: int) -> list[str]:
        del host, port
        return ["127.0.0.1"]

    async with Receiver() as plain:
        async with (
            Receiver(redirect_to(f"http://receiver.test:{plain.port}/"), tls=server_tls) as rx,
            egress(
                policy(rx.port, plain.port, networks=("127.0.0.1/32",)),
                resolver=resolve,
                ssl_context=client_tls,
            ) as out,
        ):
            with pytest.raises(EgressRefused, match="https to http"):
                await out.request("GET", f"https://receiver.test:{rx.port}/")
        assert plain.connections == 0


def test_a_tls_context_that_does_not_verify_is_refused() -> None:
    lax = ssl.create_default_context()
    lax.check_hostname = False
    with pytest.raises(ValueError, match="must verify"):
        Egress(policy(), ssl_context=lax)


# ---------------------------------------------------------------------------
# Logs and lifecycle


async def test_logs_name_the_host_never_the_path_or_query(
    secret_log_detector: LogSecretDetector,
) -> None:
    async with Receiver() as rx, egress(policy(rx.port, networks=("127.0.0.1/32",))) as out:
        secret_log_detector.recent.clear()
        await out.post(
            f"http://127.0.0.1:{rx.port}/services/T0/B0/PathSecret1?token=QuerySecret2",
            content=b"{}",
        )
        with pytest.raises(EgressRefused):
            await out.post("http://127.1/x/PathSecret3?token=QuerySecret4", content=b"{}")
        lines = list(secret_log_detector.recent)
    assert any("egress.response" in line for line in lines), lines
    assert any("egress.refused" in line for line in lines), lines
    for secret in ("PathSecret1", "QuerySecret2", "PathSecret3", "QuerySecret4", "/services/"):
        assert not any(secret in line for line in lines), (secret, lines)


async def test_closed_egress_refuses_to_send() -> None:
    out = Egress(policy())
    await out.aclose()
    with pytest.raises(EgressError, match="shut down"):
        await out.request("GET", "https://93.184.215.14/")
