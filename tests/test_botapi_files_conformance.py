"""Every update with a file, and every file Message a bot gets back, parses in both
client libraries (issue 6: "a hypothesis test generates messages of every kind").

Hypothesis uploads files of every kind we show differently (PNGs and GIFs of random
sizes, JPEG and WebP headers, truncated images, PDFs, arbitrary bytes, HTML) under
random names (unicode, path parts, control characters) with random captions (astral
characters, /commands, @mentions); each update must parse with
``telegram.Update.de_json`` and ``aiogram.types.Update.model_validate`` and carry the
file as ``photo`` (images with a readable size) or ``document`` (everything else) and
the text as ``caption``. sendDocument / sendPhoto answers must parse as ``Message``.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiogram.types
import pytest
import pytest_asyncio
import telegram
from hypothesis import given
from hypothesis import strategies as st

from redoubt.actions.files import sanitize_filename
from tests.harness import Bot, Server, User
from tests.test_botapi_conformance import examples, texts, unthrottled_server
from tests.test_botapi_files import HTML, PDF, png

module_loop = pytest.mark.asyncio(loop_scope="module")
_PTB_BOT = telegram.Bot("1:" + "A" * 43)


@dataclass
class World:
    server: Server
    bot: Bot
    alice: User
    dm: str
    offset: int = 0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    # The bot sends dozens of files here on purpose: no flood quarantine.
    async with unthrottled_server(tmp_path_factory, "botapi-files-conformance") as server:
        alice = await server.create_user("alice")
        bot = await server.create_bot(alice, "files_bot")
        dm = await server.ok("POST", "/api/v1/dms", alice, json={"user_ids": [bot.id]})
        yield World(server, bot, alice, str(dm["id"]))


def _gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b";"


def _jpeg(width: int, height: int) -> bytes:
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\xff\xc0\x00\x11\x08"
        + struct.pack(">HH", height, width)
        + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
        + b"\xff\xd9"
    )


def _webp(width: int, height: int) -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + bytes(4)
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


_sizes = st.integers(min_value=1, max_value=4000)
# (bytes, the (width, height) a photo must show, or None for a document)
files = st.one_of(
    st.builds(lambda w, h: (png(w % 64 + 1, h % 64 + 1), (w % 64 + 1, h % 64 + 1)), _sizes, _sizes),
    st.builds(lambda w, h: (_gif(w, h), (w, h)), _sizes, _sizes),
    st.builds(lambda w, h: (_jpeg(w, h), (w, h)), _sizes, _sizes),
    st.builds(lambda w, h: (_webp(w, h), (w, h)), _sizes, _sizes),
    st.sampled_from([(png(2, 2)[:20], None), (b"\xff\xd8\xff\xe0\x00\x10JFIF", None)]),
    st.sampled_from([(PDF, None), (HTML, None), (b"<svg onload=alert(1)>", None)]),
    st.binary(min_size=1, max_size=300).map(lambda b: (b"\x00" + b, None)),
)
names = st.one_of(
    st.sampled_from(["a.png", "../../etc/passwd", "C:\\x\\y.pdf", "x\u202egnp.exe", "  .  "]),
    st.text(min_size=1, max_size=40),
)
captions = st.one_of(st.just(""), texts)


def check_message(message: dict[str, Any], *, size: tuple[int, int] | None, name: str) -> None:
    ptb = telegram.Message.de_json(message, _PTB_BOT)
    aio = aiogram.types.Message.model_validate(message)
    assert ptb is not None
    if size is not None:
        assert ptb.photo
        assert aio.photo
        assert (ptb.photo[-1].width, ptb.photo[-1].height) == size
        assert aio.photo[-1].file_id == ptb.photo[-1].file_id
        assert ptb.document is None
    else:
        assert ptb.document is not None
        assert aio.document is not None
        assert ptb.document.file_name == aio.document.file_name == name
        assert not ptb.photo


@module_loop
@pytest.mark.timeout(300)
@examples(40)
@given(file=files, name=names, caption=captions)
async def test_every_file_update_parses_in_both_libraries(
    world: World, file: tuple[bytes, tuple[int, int] | None], name: str, caption: str
) -> None:
    server = world.server
    data, size = file
    info = await server.upload(world.alice, world.dm, name, data, "image/png")
    posted = await server.post(world.alice, world.dm, caption, file_ids=[info["id"]])
    resp = await server.http.post(
        f"/bot{world.bot.token}/getUpdates", data={"offset": str(world.offset), "timeout": "5"}
    )
    (update,) = resp.json()["result"]
    world.offset = update["update_id"] + 1
    assert telegram.Update.de_json(update, _PTB_BOT) is not None
    aiogram.types.Update.model_validate(update)
    message = update["message"]
    # The name as stored (httpx encodes a few characters of multipart file names).
    stored_name = info["filename"]
    assert stored_name == sanitize_filename(stored_name)
    check_message(message, size=size, name=stored_name)
    assert message.get("caption", "") == posted["text"]
    assert "text" not in message

    # The bot sends it back as a document and (when it is a photo) as a photo.
    for method, field in (("sendDocument", "document"), ("sendPhoto", "photo")):
        if field == "photo" and size is None:
            continue
        resp = await server.http.post(
            f"/bot{world.bot.token}/{method}",
            data={"chat_id": world.alice.id, "caption": caption},
            files={field: (name, data)},
        )
        assert resp.status_code == 200, resp.text
        check_message(resp.json()["result"], size=size, name=stored_name)
