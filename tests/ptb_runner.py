"""Runs one of python-telegram-bot's example bots, unmodified, against a Redoubt server.

Usage: ``python tests/ptb_runner.py EXAMPLE.py`` with ``REDOUBT_BOT_TOKEN`` and
``REDOUBT_BASE_URL`` (``http://host:port``) in the environment (never on the command
line, where ``ps`` would show the token).

The examples build their application with ``Application.builder().token("TOKEN")``;
this runner wraps ``ApplicationBuilder.build`` so that, just before building, the real
token and Redoubt's Bot API URLs replace the example's placeholders. The example file
itself is run as ``__main__`` exactly as downloaded.

httpx's request log is kept at WARNING before the example starts: at INFO it prints
every request URL, and Bot API URLs hold the token (PTB's docs give the same advice;
echobot and conversationbot do it themselves, timerbot doesn't).
"""

from __future__ import annotations

import logging
import os
import runpy
import sys
from typing import Any

from telegram.ext import ApplicationBuilder

_build = ApplicationBuilder.build


def _build_for_redoubt(self: Any) -> Any:
    base = os.environ["REDOUBT_BASE_URL"].rstrip("/")
    self.token(os.environ["REDOUBT_BOT_TOKEN"])
    self.base_url(f"{base}/bot")
    self.base_file_url(f"{base}/file/bot")
    return _build(self)


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    ApplicationBuilder.build = _build_for_redoubt  # type: ignore[method-assign]
    runpy.run_path(sys.argv[1], run_name="__main__")


if __name__ == "__main__":
    main()
