"""Echo bot: repeats what people write to it, and answers /start.

Run:  REDOUBT_URL=https://chat.example.org REDOUBT_BOT_TOKEN=... python echo_bot.py

The token comes from the environment (never from source code). Every handler says who
may use it (``allow=``); this one lets everyone in the rooms the bot was added to.
"""

from __future__ import annotations

import os

from redoubt_bot import (
    ApplicationBuilder,
    BotToken,
    CommandHandler,
    Context,
    MessageHandler,
    Update,
    everyone,
    filters,
)


async def start(update: Update, context: Context) -> None:
    await context.reply("Hello! Write anything and I'll echo it.")


async def echo(update: Update, context: Context) -> None:
    if update.message is not None:
        await context.reply(update.message.text)


def main() -> None:
    app = (
        ApplicationBuilder()
        .token(BotToken.from_env("REDOUBT_BOT_TOKEN"))
        .base_url(os.environ["REDOUBT_URL"])
        .build()
    )
    app.add_handler(CommandHandler("start", start, allow=everyone()))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo, allow=everyone()))
    app.run()


if __name__ == "__main__":
    main()
