"""Runs one of aiogram's example bots, unmodified, against a Redoubt server.

Usage: ``python tests/aiogram_runner.py EXAMPLE.py`` with ``REDOUBT_BOT_TOKEN`` and
``REDOUBT_BASE_URL`` (``http://host:port``) in the environment (never on the command
line, where ``ps`` would show the token).

aiogram's examples read the token from ``BOT_TOKEN`` and build ``Bot(token=...)`` with
the default session, which talks to api.telegram.org. This runner sets ``BOT_TOKEN``
and wraps ``Bot.__init__`` so that a bot built without a session gets one for Redoubt's
Bot API (``TelegramAPIServer.from_base``: ``/bot<token>/<method>`` and
``/file/bot<token>/<path>``). The example file itself is run as ``__main__`` exactly as
downloaded.
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

_init = Bot.__init__


def _init_for_redoubt(self: Bot, token: str, session: Any = None, **kwargs: Any) -> None:
    if session is None:
        server = TelegramAPIServer.from_base(os.environ["REDOUBT_BASE_URL"])
        session = AiohttpSession(api=server)
    _init(self, token, session=session, **kwargs)


def main() -> None:
    os.environ["BOT_TOKEN"] = os.environ["REDOUBT_BOT_TOKEN"]
    Bot.__init__ = _init_for_redoubt  # type: ignore[method-assign,assignment]
    runpy.run_path(sys.argv[1], run_name="__main__")


if __name__ == "__main__":
    main()
