"""File uploads: sniffed types, safe downloads, storage by id, access and size limits."""

from __future__ import annotations

import asyncio
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

import httpx

from tests.harness import Server, User, run_server, sqlite_database, test_settings


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = _png()
JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + bytes(64)
    + b"\xff\xd9"
)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(2)</script></svg>"
)


async def _upload(
    srv: Server,
    user: User,
    room: str,
    name: str,
    data: bytes,
    *,
    ctype: str = "application/octet-stream",
) -> httpx.Response:
    return await srv.request(
        "POST", f"/api/v1/rooms/{room}/files", user, files={"file": (name, data, ctype)}
    )


async def _uploaded(
    srv: Server,
    user: User,
    room: str,
    name: str,
    data: bytes,
    *,
    ctype: str = "application/octet-stream",
) -> dict[str, Any]:
    resp = await _upload(srv, user, room, name, data, ctype=ctype)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def _raw_upload(srv: Server, user: User, room: str, name: str, data: bytes) -> httpx.Response:
    """A multipart upload built by hand, so the filename goes out byte for byte."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/html\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return await srv.request(
        "POST",
        f"/api/v1/rooms/{room}/files",
        user,
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def _stored_path(srv: Server, file_id: str) -> Path:
    """Where the bytes of ``file_id`` live: the data folder's uploads, named by id only."""
    matches = [p for p in (srv.container.settings.data_dir / "uploads").rglob("*") if p.is_file()]
    found = [p for p in matches if p.name.lstrip("0") == file_id]
    assert len(found) == 1, (file_id, matches)
    return found[0]


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


async def test_sniffed_types_and_safe_download(server: Server) -> None:
    srv = server
    alice = await srv.create_user("alice")
    room = await srv.room(alice, "general")

    cases = [
        ("pixel.png", PNG, "image/png", "image/png"),
        ("photo.jpg", JPEG, "image/jpeg", "image/jpeg"),
        ("doc.pdf", PDF, "application/pdf", "application/pdf"),
        # Types are sniffed, never taken from the client: active content is inert bytes.
        ("page.html", HTML, "text/html", "application/octet-stream"),
        ("logo.svg", SVG, "image/svg+xml", "application/octet-stream"),
        ("fake.png", HTML, "image/png", "application/octet-stream"),
        ("notes.txt", b"just text", "text/plain", "application/octet-stream"),
        # The client's claim doesn't matter the other way round either.
        ("renamed.bin", PNG, "text/html", "image/png"),
    ]
    for name, data, claimed, expected in cases:
        info = await _uploaded(srv, alice, room, name, data, ctype=claimed)
        assert info["content_type"] == expected, (name, info)
        assert info["filename"] == name
        assert info["size"] == len(data)
        assert info["room_id"] == room

        resp = await srv.request("GET", f"/api/v1/files/{info['id']}", alice)
        assert resp.status_code == 200
        assert resp.content == data
        assert resp.headers["content-type"].split(";")[0] == expected
        disposition = resp.headers["content-disposition"]
        assert disposition.startswith("attachment;"), disposition
        assert f'filename="{name}"' in disposition
        assert resp.headers["x-content-type-options"] == "nosniff"
        csp = resp.headers["content-security-policy"]
        assert "sandbox" in csp
        assert "default-src 'none'" in csp
        assert "no-store" in resp.headers["cache-control"]

        # Stored in the data folder's uploads, byte for byte, named by id only.
        path = _stored_path(srv, info["id"])
        assert path.read_bytes() == data
        assert name not in str(path)


async def test_hostile_filenames_stay_metadata(server: Server, tmp_path: Path) -> None:
    srv = server
    alice = await srv.create_user("alice")
    room = await srv.room(alice, "general")
    data_dir = srv.container.settings.data_dir
    before = _all_files(tmp_path)

    # Sent as raw multipart: httpx would percent-escape control characters.
    names = {
        "../../etc/passwd": "passwd",
        "..\\..\\windows\\win.ini": "win.ini",
        "/absolute/path.txt": "path.txt",
        "..": "file",
        "....": "file",
        "a\x01b\x7fc\x1b\td.txt": "abcd.txt",
        "../\x00evil\x00.html": "evil.html",
        "\x00": "file",
        "\u202etxt.exe": "txt.exe",
        "r\u00e9sum\u00e9.pdf": "r\u00e9sum\u00e9.pdf",
    }
    stored: list[Path] = []
    for name, expected in names.items():
        resp = await _raw_upload(srv, alice, room, name, HTML)
        assert resp.status_code == 201, (name, resp.text)
        info = resp.json()
        assert info["filename"] == expected, (name, info["filename"])
        assert info["content_type"] == "application/octet-stream"
        stored.append(_stored_path(srv, info["id"]))
        resp = await srv.request("GET", f"/api/v1/files/{info['id']}", alice)
        assert resp.content == HTML
        disposition = resp.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        assert "/" not in disposition.split("filename*=")[0]
        assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in disposition)

    # Nothing was written outside the uploads folder; every stored name is digits only.
    uploads = (data_dir / "uploads").resolve()
    new = _all_files(tmp_path) - before
    assert new == set(stored)
    for path in new:
        assert path.resolve().is_relative_to(uploads)
        assert path.name.isdigit()
        assert path.parent.parent.resolve() == uploads


async def test_download_access_and_attachments(server: Server) -> None:
    srv = server
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    mallory = await srv.create_user("mallory")
    room = await srv.room(alice, "team", "private", bob)
    other = await srv.room(alice, "other", "private", bob)
    await srv.room(mallory, "mallorys", "private")

    info = await _uploaded(srv, alice, room, "plan.pdf", PDF)
    fid = info["id"]
    # An upload not yet attached to a message: its uploader only.
    assert (await srv.request("GET", f"/api/v1/files/{fid}", alice)).status_code == 200
    assert (await srv.request("GET", f"/api/v1/files/{fid}", bob)).status_code == 404
    # Someone else's upload, or one from another room, can't be attached.
    resp = await srv.request(
        "POST", f"/api/v1/rooms/{room}/messages", bob, json={"text": "mine", "file_ids": [fid]}
    )
    assert resp.status_code == 404
    elsewhere = await _uploaded(srv, alice, other, "x.png", PNG)
    resp = await srv.request(
        "POST",
        f"/api/v1/rooms/{room}/messages",
        alice,
        json={"text": "wrong room", "file_ids": [elsewhere["id"]]},
    )
    assert resp.status_code == 404
    resp = await srv.request(
        "POST",
        f"/api/v1/rooms/{room}/messages",
        alice,
        json={"text": "missing", "file_ids": ["123456789012"]},
    )
    assert resp.status_code == 404
    assert await srv.ok("GET", f"/api/v1/rooms/{room}/messages", alice) == []

    # Attached (a message may be just files): now every member can download it.
    msg = await srv.post(alice, room, "", file_ids=[fid])
    assert [f["id"] for f in msg["files"]] == [fid]
    assert msg["files"][0]["content_type"] == "application/pdf"
    resp = await srv.request("GET", f"/api/v1/files/{fid}", bob)
    assert resp.status_code == 200
    assert resp.content == PDF
    # Attaching twice is refused.
    resp = await srv.request(
        "POST", f"/api/v1/rooms/{room}/messages", alice, json={"text": "again", "file_ids": [fid]}
    )
    assert resp.status_code == 404

    # Non-members, members of other rooms, and anonymous callers get nothing.
    missing = await srv.request("GET", "/api/v1/files/123456789012", mallory)
    denied = await srv.request("GET", f"/api/v1/files/{fid}", mallory)
    assert denied.status_code == missing.status_code == 404
    assert denied.json()["error"]["code"] == missing.json()["error"]["code"]
    async with httpx.AsyncClient(base_url=srv.base_url) as anonymous:
        assert (await anonymous.get(f"/api/v1/files/{fid}")).status_code == 401
        resp = await anonymous.post(
            f"/api/v1/rooms/{room}/files", files={"file": ("a.png", PNG, "image/png")}
        )
        assert resp.status_code == 401
    assert (await _upload(srv, mallory, room, "a.png", PNG)).status_code == 404
    # Kicked or left: no more access.
    await srv.ok("POST", f"/api/v1/rooms/{room}/leave", bob)
    assert (await srv.request("GET", f"/api/v1/files/{fid}", bob)).status_code == 404

    # Deleting the message removes the file, bytes included.
    path = _stored_path(srv, fid)
    await srv.ok("DELETE", f"/api/v1/messages/{msg['id']}", alice)
    assert not path.exists()
    assert (await srv.request("GET", f"/api/v1/files/{fid}", alice)).status_code == 404


async def _declare_only(srv: Server, user: User, room: str, length: int) -> bytes:
    """Send only the headers of an upload of ``length`` bytes; return the status line."""
    port = int(srv.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            (
                f"POST /api/v1/rooms/{room}/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {user.token}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {length}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


async def test_size_limit(tmp_path: Path) -> None:
    sqlite_database(tmp_path / "data")
    async with run_server(test_settings(tmp_path / "data", max_upload_bytes=2048)) as srv:
        alice = await srv.create_user("alice")
        room = await srv.room(alice, "general")
        ok = await _uploaded(srv, alice, room, "exact.bin", PNG + bytes(2048 - len(PNG)))
        assert ok["size"] == 2048
        resp = await _upload(srv, alice, room, "big.bin", bytes(2049))
        assert resp.status_code == 413, resp.text
        assert resp.json()["error"]["code"] == "too_large"
        # A declared length far over the limit is refused before any body is read.
        status_line = await _declare_only(srv, alice, room, 50_000_000)
        assert status_line.startswith(b"HTTP/1.1 413"), status_line
        stored = _all_files(tmp_path / "data" / "uploads")
        assert {p.name.lstrip("0") for p in stored} == {ok["id"]}
        # A missing file part is a 400.
        resp = await srv.request(
            "POST", f"/api/v1/rooms/{room}/files", alice, files={"other": ("a", b"a", "text/plain")}
        )
        assert resp.status_code == 400


async def test_upload_roundtrip_on_both_backends(any_server: Server) -> None:
    srv = any_server
    alice = await srv.create_user("alice")
    bob = await srv.create_user("bob")
    room = await srv.room(alice, "general", "channel", bob)
    png = await _uploaded(srv, alice, room, "a.png", PNG, ctype="image/png")
    svg = await _uploaded(srv, alice, room, "b.svg", SVG, ctype="image/svg+xml")
    msg = await srv.post(alice, room, "two files", file_ids=[png["id"], svg["id"]])
    assert sorted(f["id"] for f in msg["files"]) == sorted([png["id"], svg["id"]])
    history = await srv.ok("GET", f"/api/v1/rooms/{room}/messages", bob)
    assert {f["content_type"] for f in history[0]["files"]} == {
        "image/png",
        "application/octet-stream",
    }
    for info, data in ((png, PNG), (svg, SVG)):
        resp = await srv.request("GET", f"/api/v1/files/{info['id']}", bob)
        assert resp.status_code == 200
        assert resp.content == data
        assert resp.headers["content-disposition"].startswith("attachment;")
    paths = [_stored_path(srv, png["id"]), _stored_path(srv, svg["id"])]
    tomb = await srv.ok("DELETE", f"/api/v1/messages/{msg['id']}", alice)
    assert tomb["files"] == []
    assert not any(p.exists() for p in paths)
    assert (await srv.request("GET", f"/api/v1/files/{png['id']}", bob)).status_code == 404
