"""Files through the Telegram-compatible Bot API (issue 6, part 2, second slice):
photos and documents in updates, getFile and the download route, sendDocument and
sendPhoto (multipart parts, ``attach://`` references, re-sending by ``file_id``),
forwardMessage and copyMessage.

Each test names the attack it shuts out: a ``file_id`` is a plain id, so every use of
one (getFile, download, re-send, copy) must check that the bot can read the file's room.
"""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path
from typing import Any

import aiogram
import aiogram.types
import httpx
import telegram
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BufferedInputFile
from typing_extensions import override

from redoubt.api.middleware import loggable_path
from redoubt.domain.botapi import image_size
from tests.harness import Bot, Server, User, deployment, run_server, server_log
from tests.test_botapi import call, dm_with, result

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PHOTO = png(3, 2)


def check_parses(update_or_message: dict[str, Any], *, message: bool = False) -> None:
    """Both client libraries accept it (a malformed object would stall a bot)."""
    if message:
        assert telegram.Message.de_json(update_or_message, None) is not None
        aiogram.types.Message.model_validate(update_or_message)
    else:
        assert telegram.Update.de_json(update_or_message, None) is not None
        aiogram.types.Update.model_validate(update_or_message)


async def upload_and_post(
    server: Server, user: User, room: str, name: str, data: bytes, *, text: str = ""
) -> tuple[str, Any]:
    info = await server.upload(user, room, name, data, "application/octet-stream")
    message = await server.post(user, room, text, file_ids=[info["id"]])
    return str(info["id"]), message


async def setup(server: Server) -> tuple[User, Bot, str, str]:
    """alice; a bot in her private group and in a DM with her."""
    alice = await server.create_user("alice")
    group = await server.room(alice, "team", "private")
    bot = await server.create_bot(alice, "files_bot", group)
    await server.ok("POST", f"/api/v1/rooms/{group}/members", alice, json={"user_id": bot.id})
    return alice, bot, group, await dm_with(server, alice, bot)


async def download(server: Server, token: str, path: str) -> httpx.Response:
    return await server.http.get(f"/file/bot{token}/{path}")


async def test_photo_and_document_in_updates_get_file_and_download(any_server: Server) -> None:
    """An image arrives as ``photo`` (its size read from the header), anything else as
    ``document``, the text as ``caption``; getFile's path carries no token and no
    server path; the download route serves the bytes with the REST download's safe
    headers; both client libraries parse every object."""
    server = any_server
    alice, bot, group, dm = await setup(server)
    photo_id, _ = await upload_and_post(server, alice, dm, "me.png", PHOTO, text="it's me /start")
    doc_id, _ = await upload_and_post(server, alice, group, "page.html", HTML)
    updates = await result(server, bot, "getUpdates", data={"timeout": "5"})
    assert len(updates) == 2
    for update in updates:
        check_parses(update)
    first, second = (u["message"] for u in updates)
    assert first["photo"] == [
        {
            "file_id": photo_id,
            "file_unique_id": photo_id,
            "width": 3,
            "height": 2,
            "file_size": len(PHOTO),
        }
    ]
    assert first["caption"] == "it's me /start"
    assert first["caption_entities"] == [{"type": "bot_command", "offset": 8, "length": 6}]
    assert "text" not in first
    assert "entities" not in first
    # The stored type comes from the bytes: the HTML page is an octet stream.
    assert second["document"] == {
        "file_id": doc_id,
        "file_unique_id": doc_id,
        "file_name": "page.html",
        "mime_type": "application/octet-stream",
        "file_size": len(HTML),
    }
    assert "caption" not in second

    info = await result(server, bot, "getFile", data={"file_id": photo_id})
    assert info == {
        "file_id": photo_id,
        "file_unique_id": photo_id,
        "file_size": len(PHOTO),
        "file_path": f"photos/{photo_id}.png",
    }
    assert telegram.File.de_json(info, None) is not None
    aiogram.types.File.model_validate(info)
    doc_info = await result(server, bot, "getFile", params={"file_id": doc_id})
    assert doc_info["file_path"] == f"documents/{doc_id}"
    secret = bot.token.partition(":")[2]
    for path in (info["file_path"], doc_info["file_path"]):
        assert secret not in path
        assert bot.id not in path
        assert "/" not in path.partition("/")[2]

    resp = await download(server, bot.token, info["file_path"])
    assert resp.status_code == 200
    assert resp.content == PHOTO
    assert resp.headers["content-type"] == "image/png"
    assert resp.headers["content-disposition"].startswith('attachment; filename="me.png"')
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert resp.headers["cache-control"] == "private, no-store"
    resp = await download(server, bot.token, doc_info["file_path"])
    assert resp.content == HTML
    assert resp.headers["content-type"] == "application/octet-stream"


async def test_bot_reads_only_files_of_its_rooms(server: Server) -> None:
    """A file id names nothing a bot can't read: a file in a room it isn't in, another
    bot's room, a file uploaded but not posted, or made-up paths all fail the same way,
    on getFile, on the download route and when re-sent; another bot's token can't
    download the first bot's files; wrong tokens are 401."""
    alice, bot, group, dm = await setup(server)
    bob = await server.create_user("bob")
    elsewhere = await server.room(bob, "elsewhere", "private")
    foreign_id, _ = await upload_and_post(server, bob, elsewhere, "secret.pdf", PDF)
    mine_id, _ = await upload_and_post(server, alice, group, "ours.pdf", PDF)
    unposted = (await server.upload(alice, dm, "draft.pdf", PDF))["id"]
    other_bot = await server.create_bot(bob, "other_bot", elsewhere)
    await server.ok(
        "POST", f"/api/v1/rooms/{elsewhere}/members", bob, json={"user_id": other_bot.id}
    )

    for file_id in (foreign_id, unposted, "123456789012"):
        resp = await call(server, bot.token, "getFile", data={"file_id": file_id})
        assert resp.status_code == 400, resp.text
        assert resp.json() == {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: wrong file_id or the file is temporarily unavailable",
        }
        for path in (f"documents/{file_id}", f"photos/{file_id}.png"):
            resp = await download(server, bot.token, path)
            assert resp.status_code == 404
            assert resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        resp = await call(
            server, bot.token, "sendDocument", data={"chat_id": alice.id, "document": file_id}
        )
        assert resp.status_code == 400
        assert "wrong file_id" in resp.json()["description"]
    for bad in ("x", "-1", "0", "1e3", "../1", "documents/1"):
        resp = await call(server, bot.token, "getFile", data={"file_id": bad})
        assert resp.status_code == 400
    for path in (
        f"documents/{mine_id}/x",
        f"../{mine_id}",
        f"documents/%2e%2e/{mine_id}",
        f"etc/{mine_id}",
        f"documents/{mine_id}.exe.png",
    ):
        resp = await download(server, bot.token, path)
        assert resp.status_code == 404, path
    # The same file: fine for its bot, not for another bot or a wrong token.
    assert (await download(server, bot.token, f"documents/{mine_id}")).status_code == 200
    resp = await download(server, other_bot.token, f"documents/{mine_id}")
    assert resp.status_code == 404
    assert (await download(server, other_bot.token, f"documents/{foreign_id}")).content == PDF
    wrong = bot.token[:-4] + ("AAAA" if not bot.token.endswith("AAAA") else "BBBB")
    resp = await download(server, wrong, f"documents/{mine_id}")
    assert resp.status_code == 401
    assert resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    # A user's session token in the path is not a bot token.
    assert (await download(server, alice.token, f"documents/{mine_id}")).status_code == 401
    # Once removed from the room, the bot can't read its files any more.
    await server.ok("DELETE", f"/api/v1/rooms/{group}/members/{bot.id}", alice)
    assert (await download(server, bot.token, f"documents/{mine_id}")).status_code == 404


async def test_send_document_and_photo(any_server: Server) -> None:
    """sendDocument / sendPhoto with a direct multipart part (python-telegram-bot's
    form), an ``attach://`` reference (aiogram's), and a ``file_id`` the bot can read
    (re-send into another room: a copy); captions in a parse mode are rendered safely;
    the stored type is sniffed; not-images and URLs are refused."""
    server = any_server
    alice, bot, group, dm = await setup(server)
    sent = await result(
        server,
        bot,
        "sendDocument",
        data={"chat_id": alice.id, "caption": "<b>report</b> <i>v2</i>", "parse_mode": "HTML"},
        files={"document": ("report.pdf", PDF, "text/html")},
    )
    check_parses(sent, message=True)
    assert sent["document"]["file_name"] == "report.pdf"
    assert sent["document"]["mime_type"] == "application/pdf"
    assert sent["caption"] == "**report** *v2*"
    assert sent["from"]["id"] == int(bot.id)
    doc_id = sent["document"]["file_id"]

    photo = await result(
        server,
        bot,
        "sendPhoto",
        data={"chat_id": str(-int(group)), "photo": "attach://pic", "caption": "a.b"},
        files={"pic": ("pic.png", PHOTO, "image/png")},
    )
    check_parses(photo, message=True)
    assert photo["chat"]["id"] == -int(group)
    assert photo["photo"][0]["width"] == 3
    assert photo["photo"][0]["height"] == 2
    assert photo["caption"] == "a\\.b"
    photo_id = photo["photo"][-1]["file_id"]

    # Re-send by file_id into the other chat: a new file, same bytes.
    again = await result(
        server, bot, "sendPhoto", json={"chat_id": int(alice.id), "photo": photo_id}
    )
    new_id = again["photo"][0]["file_id"]
    assert new_id != photo_id
    resp = await server.request("GET", f"/api/v1/files/{new_id}", alice)
    assert resp.content == PHOTO
    # The people in the rooms see ordinary messages with the files.
    history = await server.ok("GET", f"/api/v1/rooms/{dm}/messages", alice)
    assert [m["files"][0]["id"] for m in history if m["author_id"] == bot.id] == [doc_id, new_id]
    resp = await server.request("GET", f"/api/v1/files/{doc_id}", alice)
    assert resp.content == PDF

    cases = [
        ({"chat_id": alice.id}, {"photo": ("x.pdf", PDF)}, "IMAGE_PROCESS_FAILED"),
        ({"chat_id": alice.id, "photo": doc_id}, None, "IMAGE_PROCESS_FAILED"),
        ({"chat_id": alice.id}, None, "there is no document in the request"),
        (
            {"chat_id": alice.id, "document": "attach://missing"},
            {"other": ("a.pdf", PDF)},
            "there is no document in the request",
        ),
        (
            {"chat_id": alice.id, "document": "https://example.com/a.pdf"},
            None,
            "wrong file identifier/HTTP URL specified",
        ),
        ({"chat_id": "-1"}, {"document": ("a.pdf", PDF)}, "chat not found"),
        (
            {"chat_id": alice.id, "caption": "<script>", "parse_mode": "HTML"},
            {"document": ("a.pdf", PDF)},
            'Can\'t parse entities: Unsupported start tag "script"',
        ),
        (
            {"chat_id": alice.id, "caption": "x" * 1025},
            {"document": ("a.pdf", PDF)},
            "message caption is too long",
        ),
    ]
    for data, files, description in cases:
        method = "sendPhoto" if "photo" in data or (files and "photo" in files) else "sendDocument"
        resp = await call(server, bot.token, method, data=data, files=files)
        assert resp.status_code == 400, (data, resp.text)
        assert resp.json()["description"] == f"Bad Request: {description}"
    assert await result(server, bot, "getUpdates") == []  # the bot's own posts


async def test_upload_size_limit(tmp_path: Path) -> None:
    """The upload limit holds for bots: a file one byte over it is refused in
    Telegram's envelope (413), a body far over it by the request guard; a file bigger
    than the ordinary request-body limit but within the upload limit goes through."""
    async with (
        deployment("sqlite", tmp_path / "data") as settings,
        run_server(settings(max_body_bytes=4096, max_upload_bytes=64 * 1024)) as server,
    ):
        alice, bot, _group, _dm = await setup(server)
        fits = PDF + b"%" * (60 * 1024)
        sent = await result(
            server, bot, "sendDocument", data={"chat_id": alice.id}, files={"document": ("a", fits)}
        )
        assert sent["document"]["file_size"] == len(fits)
        over = PDF + b"%" * (64 * 1024 + 1 - len(PDF))
        resp = await call(
            server, bot.token, "sendDocument", data={"chat_id": alice.id}, files={"d": ("a", over)}
        )
        assert resp.status_code == 413
        assert resp.json() == {
            "ok": False,
            "error_code": 413,
            "description": "Request Entity Too Large: The request is too large.",
        }
        resp = await call(
            server,
            bot.token,
            "sendPhoto",
            data={"chat_id": alice.id},
            files={"photo": ("a", b"x" * (200 * 1024))},
        )
        assert resp.status_code == 413
        # Other methods keep the ordinary body limit.
        resp = await call(
            server, bot.token, "sendMessage", data={"chat_id": alice.id, "text": "x" * 8000}
        )
        assert resp.status_code == 413
        history = await server.ok("GET", f"/api/v1/rooms/{_dm}/messages", alice)
        assert len(history) == 1


async def test_forward_and_copy(any_server: Server) -> None:
    """forwardMessage and copyMessage between rooms the bot is in, files copied; never a
    message of a room it isn't in, one named with the wrong chat, or a deleted one."""
    server = any_server
    alice, bot, group, dm = await setup(server)
    bob = await server.create_user("bob")
    elsewhere = await server.room(bob, "elsewhere", "private")
    hidden = await server.post(bob, elsewhere, "not for bots")
    file_id, posted = await upload_and_post(
        server, alice, group, "plan.pdf", PDF, text="the **plan**"
    )

    forwarded = await result(
        server,
        bot,
        "forwardMessage",
        data={"chat_id": alice.id, "from_chat_id": str(-int(group)), "message_id": posted["id"]},
    )
    check_parses(forwarded, message=True)
    assert forwarded["caption"] == "the **plan**"
    assert forwarded["document"]["file_name"] == "plan.pdf"
    assert forwarded["document"]["file_id"] != file_id
    assert forwarded["forward_origin"]["type"] == "user"
    assert forwarded["forward_origin"]["sender_user"]["id"] == int(alice.id)
    copied = await result(
        server,
        bot,
        "copyMessage",
        json={
            "chat_id": int(alice.id),
            "from_chat_id": -int(group),
            "message_id": int(posted["id"]),
            "caption": "<i>copy</i>",
            "parse_mode": "HTML",
        },
    )
    assert set(copied) == {"message_id"}
    history = await server.ok("GET", f"/api/v1/rooms/{dm}/messages", alice)
    texts = {m["id"]: m["text"] for m in history}
    assert texts[str(copied["message_id"])] == "*copy*"
    assert texts[str(forwarded["message_id"])] == "the **plan**"
    # A text-only copy from the DM back to the group.
    greeting = await server.post(alice, dm, "hello bot")
    copy2 = await result(
        server,
        bot,
        "copyMessage",
        data={"chat_id": str(-int(group)), "from_chat_id": alice.id, "message_id": greeting["id"]},
    )
    group_history = await server.ok("GET", f"/api/v1/rooms/{group}/messages", alice)
    assert group_history[-1]["id"] == str(copy2["message_id"])
    assert group_history[-1]["text"] == "hello bot"

    deleted = await server.post(alice, group, "gone")
    await server.ok("DELETE", f"/api/v1/messages/{deleted['id']}", alice)
    in_group = str(-int(group))
    gone = "message to copy not found"
    refusals = [
        ({"from_chat_id": str(-int(elsewhere)), "message_id": hidden["id"]}, gone),
        ({"from_chat_id": in_group, "message_id": hidden["id"]}, gone),
        ({"from_chat_id": alice.id, "message_id": posted["id"]}, gone),
        ({"from_chat_id": in_group, "message_id": deleted["id"]}, gone),
        ({"from_chat_id": in_group, "message_id": "x"}, "invalid message_id specified"),
        ({"from_chat_id": in_group}, "message identifier is not specified"),
    ]
    for method in ("forwardMessage", "copyMessage"):
        for data, description in refusals:
            resp = await call(server, bot.token, method, data={"chat_id": alice.id, **data})
            assert resp.status_code == 400, (method, data, resp.text)
            assert resp.json()["description"] == f"Bad Request: {description}"


class _RawRecords(logging.Handler):
    """Log records as the code made them, before any redaction step."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.raw: list[str] = []

    @override
    def emit(self, record: logging.LogRecord) -> None:
        self.raw.append(f"{record.msg!r} {record.args!r}")


async def test_file_token_never_logged_or_in_metrics(server: Server) -> None:
    """T1/T7: ``/file/bot<token>/…`` and the send methods never put the token in the
    access log (redacted by the access log itself, not only by the formatter), in
    errors, or in the metrics."""
    alice, bot, _group, dm = await setup(server)
    file_id, _ = await upload_and_post(server, alice, dm, "me.png", PHOTO)
    secret = bot.token.partition(":")[2]
    raw = _RawRecords()
    root = logging.getLogger()
    root.addHandler(raw)
    try:
        with server_log(logging.DEBUG) as log:
            info = await result(server, bot, "getFile", data={"file_id": file_id})
            assert (await download(server, bot.token, info["file_path"])).status_code == 200
            assert (await download(server, bot.token, "documents/1")).status_code == 404
            assert (await download(server, bot.token + "x", "documents/1")).status_code == 401
            await call(
                server,
                bot.token,
                "sendDocument",
                data={"chat_id": alice.id},
                files={"document": ("a.pdf", PDF)},
            )
    finally:
        root.removeHandler(raw)
    text = log.text()
    assert f"/file/bot<redacted>/{info['file_path']}" in text
    assert "/bot<redacted>/sendDocument" in text
    assert secret not in text
    raw_text = "\n".join(raw.raw)
    assert "/file/bot<redacted>/" in raw_text
    assert secret not in raw_text
    metrics = (await server.http.get("/metrics")).text
    assert secret not in metrics
    assert loggable_path(f"/file/bot{bot.token}/photos/1.png") == "/file/bot<redacted>/photos/1.png"


def test_image_size() -> None:
    """Width and height from PNG, GIF, JPEG and WebP headers; None for anything else
    (such a file is shown as a document, never with made-up dimensions)."""
    assert image_size(png(640, 480)) == (640, 480)
    assert image_size(b"GIF89a" + struct.pack("<HH", 20, 10) + bytes(8)) == (20, 10)
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\xff\xc0\x00\x11\x08"
        + struct.pack(">HH", 300, 400)
        + bytes(10)
    )
    assert image_size(jpeg) == (400, 300)
    vp8x = b"RIFF" + bytes(4) + b"WEBPVP8X" + bytes(8) + (99).to_bytes(3, "little") * 2
    assert image_size(vp8x) == (100, 100)
    assert image_size(b"\xff\xd8\xff\xe0\x00\x10JFIF") is None
    assert image_size(PDF) is None
    assert image_size(png(0, 5)) is None
    assert image_size(b"") is None


async def test_client_libraries_send_and_fetch_files(server: Server) -> None:
    """The real clients' multipart forms work: python-telegram-bot sends files as parts
    named after the parameter, aiogram as ``attach://`` references; both fetch a file
    through getFile and the download route."""
    alice, bot, group, _dm = await setup(server)
    async with telegram.Bot(
        bot.token,
        base_url=f"{server.base_url}/bot",
        base_file_url=f"{server.base_url}/file/bot",
    ) as ptb:
        photo = await ptb.send_photo(
            int(alice.id), photo=PHOTO, caption="<b>hi</b>", parse_mode="HTML"
        )
        assert photo.photo[-1].width == 3
        assert photo.caption == "**hi**"
        document = await ptb.send_document(-int(group), document=PDF, filename="a.pdf")
        assert document.document is not None
        assert document.document.file_name == "a.pdf"
        fetched = await ptb.get_file(photo.photo[-1].file_id)
        assert bot.token not in str(fetched.file_path).removeprefix(
            f"{server.base_url}/file/bot{bot.token}/"
        )
        assert bytes(await fetched.download_as_bytearray()) == PHOTO

    session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))
    aiobot = aiogram.Bot(bot.token, session=session)
    try:
        sent = await aiobot.send_document(
            int(alice.id), BufferedInputFile(PDF, "b.pdf"), caption="from aiogram"
        )
        assert sent.document is not None
        assert sent.document.file_name == "b.pdf"
        pic = await aiobot.send_photo(-int(group), BufferedInputFile(PHOTO, "p.png"))
        assert pic.photo is not None
        info = await aiobot.get_file(pic.photo[-1].file_id)
        assert info.file_path is not None
        assert bot.token not in info.file_path
        buffer = await aiobot.download_file(info.file_path)
        assert buffer is not None
        assert buffer.read() == PHOTO
    finally:
        await session.close()
