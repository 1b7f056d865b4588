"""Buttons bot: /vote shows buttons only the person who asked can press.

A button carries an opaque token, never your data: ``context.button(text, payload)``
stores the payload on the bot's side, bound to the user of the current update, for an
hour, usable once. A click by someone else, a second click or a late one never reaches
``voted``; the clicker just sees "This button isn't for you." or "This button has
expired.".

Run:  REDOUBT_URL=... REDOUBT_BOT_TOKEN=... python buttons_bot.py
Optional: REDOUBT_BOT_DATA=/var/lib/mybot/data.json keeps votes (and unused buttons)
across restarts (a JSON file, mode 0600; never pickle).
"""

from __future__ import annotations

import os
from datetime import timedelta

from redoubt_bot import (
    ApplicationBuilder,
    BotToken,
    CallbackHandler,
    CommandHandler,
    Context,
    JsonPersistence,
    Update,
    everyone,
)

CHOICES = ("tea", "coffee")


async def vote(update: Update, context: Context) -> None:
    await context.reply(
        "Tea or coffee?",
        [context.button(c.title(), {"choice": c}, ttl=timedelta(minutes=10)) for c in CHOICES],
    )


async def voted(update: Update, context: Context) -> None:
    choice = context.payload["choice"]
    tally: dict[str, int] = context.chat_data.setdefault("tally", {})
    tally[choice] = tally.get(choice, 0) + 1
    await context.answer(f"Counted: {choice}")
    if update.callback is not None:
        await context.api.edit_message(update.callback.message_id, f"You chose {choice}.")
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(tally.items()))
    await context.reply(f"Votes so far: {summary}")


def main() -> None:
    builder = (
        ApplicationBuilder()
        .token(BotToken.from_env("REDOUBT_BOT_TOKEN"))
        .base_url(os.environ["REDOUBT_URL"])
    )
    data = os.environ.get("REDOUBT_BOT_DATA")
    if data:
        builder = builder.persistence(JsonPersistence(data))
    app = builder.build()
    app.add_handler(CommandHandler("vote", vote, allow=everyone()))
    app.add_handler(CallbackHandler(voted, allow=everyone()))
    app.run()


if __name__ == "__main__":
    main()
