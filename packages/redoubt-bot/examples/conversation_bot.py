"""Conversation bot: /order asks three questions in turn (size, drink, confirm).

Each person's conversation is separate (per room and user). In a step, only that step's
handlers run: an answer that doesn't fit is refused, a later step can't be reached early
and an earlier one isn't replayed. Five idle minutes end the conversation; /cancel ends
it any time.

Run:  REDOUBT_URL=... REDOUBT_BOT_TOKEN=... python conversation_bot.py
"""

from __future__ import annotations

import os
from datetime import timedelta

from redoubt_bot import (
    END,
    ApplicationBuilder,
    BotToken,
    CommandHandler,
    Context,
    ConversationHandler,
    MessageHandler,
    Update,
    everyone,
    filters,
)

SIZE, DRINK, CONFIRM = "size", "drink", "confirm"
ANSWER = filters.TEXT & ~filters.COMMAND
YES_OR_NO = filters.regex(r"(?i)^\s*(yes|no)\s*$")


def text_of(update: Update) -> str:
    return update.message.text.strip() if update.message is not None else ""


async def order(update: Update, context: Context) -> str:
    await context.reply("What size: small, medium or large?")
    return SIZE


async def size(update: Update, context: Context) -> str | None:
    value = text_of(update).lower()
    if value not in ("small", "medium", "large"):
        await context.reply("Please answer small, medium or large.")
        return None  # stay in this step
    context.user_data["size"] = value
    await context.reply("Which drink?")
    return DRINK


async def drink(update: Update, context: Context) -> str:
    context.user_data["drink"] = text_of(update)
    await context.reply(
        f"A {context.user_data['size']} {context.user_data['drink']}. Confirm? (yes/no)"
    )
    return CONFIRM


async def confirm(update: Update, context: Context) -> int:
    if text_of(update).lower() == "yes":
        await context.reply(f"Ordered: {context.user_data['size']} {context.user_data['drink']}.")
    else:
        await context.reply("Order dropped.")
    return END


async def cancel(update: Update, context: Context) -> int:
    await context.reply("Cancelled.")
    return END


async def timed_out(update: Update, context: Context) -> None:
    await context.reply("Your order timed out.")


def main() -> None:
    app = (
        ApplicationBuilder()
        .token(BotToken.from_env("REDOUBT_BOT_TOKEN"))
        .base_url(os.environ["REDOUBT_URL"])
        .build()
    )
    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("order", order, allow=everyone())],
            states={
                SIZE: [MessageHandler(ANSWER, size, allow=everyone())],
                DRINK: [MessageHandler(ANSWER, drink, allow=everyone())],
                CONFIRM: [MessageHandler(YES_OR_NO, confirm, allow=everyone())],
            },
            fallbacks=[CommandHandler("cancel", cancel, allow=everyone())],
            name="order",
            timeout=timedelta(minutes=5),
            on_timeout=timed_out,
        )
    )
    app.run()


if __name__ == "__main__":
    main()
