"""The web client's pages and assets: served with the security headers of threat T12.

The browser tests (tests/browser/) show the policy holds up in Chromium; these check
every page route and asset answer carries it, on plain HTTP and over TLS.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from pathlib import Path

import httpx
import pytest

from redoubt.api.app import create_app
from redoubt.container import Container
from tests.harness import Server, test_settings

_BUILT_INDEX = Path(__file__).resolve().parents[1] / "web" / "dist" / "index.html"
PAGE_ROUTES = [
    "/",
    "/login",
    "/reset",
    "/search",
    "/settings",
    "/admin",
    "/admin/users",
    "/admin/audit",
    "/r/123",
    "/r/123/m/456",
]


def _directives(policy: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        assert name not in out, f"directive {name} given twice"
        out[name] = value.strip()
    return out


def assert_page_policy(headers: httpx.Headers) -> None:
    csp = _directives(headers["content-security-policy"])
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no hosts
    assert csp["object-src"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["require-trusted-types-for"] == "'script'"
    assert set(csp["trusted-types"].split()) == {"dompurify", "redoubt"}
    assert "unsafe" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


@pytest.fixture
def built_client(tmp_path: Path) -> Path:
    """A stand-in for ``web/dist``: what these tests check is the server, not the build."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(
        '<!doctype html><html><head><script type="module" src="/assets/app-abc123.js">'
        "</script></head><body><div id=app></div></body></html>"
    )
    (root / "assets" / "app-abc123.js").write_text("console.log('x');\n" * 200)
    return root


async def _client(tmp_path: Path, web_dir: Path, scheme: str) -> httpx.AsyncClient:
    container = Container(test_settings(tmp_path / "data", web_dir=web_dir))
    app = create_app(container)  # pages and assets need no started container
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"{scheme}://t")


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_every_page_route_carries_the_strict_policy(
    tmp_path: Path, built_client: Path, scheme: str
) -> None:
    async with await _client(tmp_path, built_client, scheme) as client:
        for path in PAGE_ROUTES:
            resp = await client.get(path)
            assert resp.status_code == 200, path
            assert resp.headers["content-type"].startswith("text/html")
            assert "<div id=app>" in resp.text
            assert resp.headers["cache-control"] == "no-cache"
            assert_page_policy(resp.headers)
            hsts = resp.headers.get("strict-transport-security")
            if scheme == "https":
                assert hsts is not None
                assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31536000  # type: ignore[union-attr]
            else:
                assert hsts is None  # meaningless (and ignored) over plain HTTP
            head = await client.head(path)  # monitors and link checkers ask with HEAD
            assert head.status_code == 200, path
            assert head.content == b""
            assert_page_policy(head.headers)


async def test_assets_are_cached_forever_and_compressed(tmp_path: Path, built_client: Path) -> None:
    async with await _client(tmp_path, built_client, "http") as client:
        resp = await client.get("/assets/app-abc123.js", headers={"Accept-Encoding": "gzip"})
        assert resp.status_code == 200
        assert resp.headers["content-encoding"] == "gzip"
        assert "immutable" in resp.headers["cache-control"]
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.text.startswith("console.log")
        raw = await client.get("/assets/app-abc123.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers
        assert len(gzip.compress(raw.content)) < len(raw.content)
        # No escaping the assets folder.
        for probe in ("/assets/../index.html", "/assets/%2e%2e/index.html", "/assets/nope.js"):
            assert (await client.get(probe)).status_code == 404, probe


async def test_unknown_paths_are_not_pages(tmp_path: Path, built_client: Path) -> None:
    """Only client routes answer with the page: a mistyped API path is a JSON 404."""
    async with await _client(tmp_path, built_client, "http") as client:
        for path in ("/nope", "/api/v1/nope", "/rooms/1", "/index.html", "/.env"):
            resp = await client.get(path)
            assert resp.status_code == 404, path
            assert resp.json()["error"]["code"] == "not_found"


async def test_without_a_built_client_the_page_says_how_to_build_it(tmp_path: Path) -> None:
    async with await _client(tmp_path, tmp_path / "missing", "http") as client:
        resp = await client.get("/")
        assert resp.status_code == 503
        assert "scripts/run.sh" in resp.text
        assert_page_policy(resp.headers)


async def test_the_real_build_has_no_inline_script(server: Server) -> None:
    """The built index.html must work under ``script-src 'self'``: every script is a
    file from our origin, and nothing inline (not even Vite's preload helper)."""
    assert await asyncio.to_thread(_BUILT_INDEX.is_file), "build the client: npm run build"
    resp = await server.http.get("/")
    assert resp.status_code == 200
    assert_page_policy(resp.headers)
    html = resp.text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S | re.I)
    assert scripts, "the page loads no script at all"
    for attrs, body in scripts:
        assert body.strip() == "", "inline script in index.html"
        src = re.search(r'src="([^"]+)"', attrs)
        assert src is not None, attrs
        assert src.group(1).startswith("/assets/"), attrs
        asset = await server.http.get(src.group(1))
        assert asset.status_code == 200
        assert "javascript" in asset.headers["content-type"]
    assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I), "inline event handler"
    assert "style=" not in html
