"""Files: picked or dropped by one user, previewed or downloaded intact by another."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import zlib
from pathlib import Path

import pytest
from playwright.async_api import Page, Route, expect

from tests.browser.conftest import BROWSER, LiveServer, Web, make_user

pytestmark = [BROWSER, pytest.mark.timeout(90)]

# Long enough for the test to see the progress bar while the upload is held.
UPLOAD_HOLD_SECONDS = 0.8


def _png(width: int = 8, height: int = 8) -> bytes:
    """A valid RGB PNG (solid teal), built by hand to keep the test self-contained."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x00\x80\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _document(seed: str, size: int = 300_000) -> bytes:
    """Deterministic bytes that are not text: a download must match them exactly."""
    out = bytearray()
    block = seed.encode()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


async def _hold_uploads(page: Page) -> None:
    """Delay each upload a little so the progress bar is observable on loopback."""

    async def hold(route: Route) -> None:
        if route.request.method == "POST":
            await asyncio.sleep(UPLOAD_HOLD_SECONDS)
        await route.continue_()

    await page.route("**/api/v1/rooms/*/files", hold)


async def _pair(web: Web, live: LiveServer) -> tuple[Page, Page]:
    alice = await make_user(live, "alice")
    bob = await make_user(live, "bob")
    room = await live.api.room(alice, "files", "channel", bob)
    return await web.page(alice, f"/r/{room}"), await web.page(bob, f"/r/{room}")


async def _send_pending(page: Page, caption: str) -> None:
    """Send the message the uploaded file is waiting on (a caption)."""
    composer = page.locator("textarea[name=composer]")
    await composer.fill(caption)
    await composer.press("Enter")


async def _download(page: Page, name: str, tmp_path: Path) -> bytes:
    attachment = page.get_by_test_id("attachment").filter(has_text=name)
    await expect(attachment).to_be_visible()
    async with page.expect_download() as waiting:
        await attachment.click()
    download = await waiting.value
    target = tmp_path / f"downloaded-{name}"
    await download.save_as(target)
    return target.read_bytes()


async def test_upload_with_the_file_picker(web: Web, live: LiveServer, tmp_path: Path) -> None:
    alice, bob = await _pair(web, live)
    data = _document("picker")
    await _hold_uploads(alice)
    await alice.get_by_test_id("file-input").set_input_files(
        {"name": "plan.bin", "mimeType": "application/octet-stream", "buffer": data}
    )
    await expect(alice.get_by_test_id("upload-progress")).to_be_visible()
    await expect(alice.get_by_test_id("upload-progress")).to_be_hidden(timeout=10_000)
    await _send_pending(alice, "the plan")

    assert await _download(bob, "plan.bin", tmp_path) == data


async def test_upload_by_drag_and_drop(web: Web, live: LiveServer, tmp_path: Path) -> None:
    alice, bob = await _pair(web, live)
    data = _document("dropped", size=120_000)
    await _hold_uploads(alice)
    transfer = await alice.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "application/octet-stream" }));
            return transfer;
        }""",
        ["dropped.bin", base64.b64encode(data).decode()],
    )
    timeline = alice.get_by_test_id("timeline")
    for event in ("dragenter", "dragover", "drop"):
        await timeline.dispatch_event(event, {"dataTransfer": transfer})
    await expect(alice.get_by_test_id("upload-progress")).to_be_visible()
    await expect(alice.get_by_test_id("upload-progress")).to_be_hidden(timeout=10_000)
    await _send_pending(alice, "dropped it")

    assert await _download(bob, "dropped.bin", tmp_path) == data


async def test_image_upload_shows_a_preview(web: Web, live: LiveServer) -> None:
    alice, bob = await _pair(web, live)
    await alice.get_by_test_id("file-input").set_input_files(
        {"name": "teal.png", "mimeType": "image/png", "buffer": _png()}
    )
    await expect(alice.get_by_test_id("upload-progress")).to_be_hidden(timeout=10_000)
    await _send_pending(alice, "a picture")

    for page in (alice, bob):
        preview = page.get_by_test_id("attachment-image")
        await expect(preview).to_be_visible()
        # The image really loaded (a broken image has no natural size); visible can
        # come before loaded, so wait for the load when it hasn't happened yet.
        width = await preview.evaluate(
            """el => {
                const img = el.tagName === 'IMG' ? el : el.querySelector('img');
                if (img.complete) return img.naturalWidth;
                return new Promise(done => {
                    img.addEventListener('load', () => done(img.naturalWidth), {once: true});
                    img.addEventListener('error', () => done(0), {once: true});
                });
            }"""
        )
        assert width == 8
