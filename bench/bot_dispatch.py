"""Dispatch speed: ``redoubt_bot`` against python-telegram-bot, same handlers, same updates.

Both libraries get the handler set of issue 6: ten commands, a filtered message
handler, a callback button handler and a three-state conversation (with a /cancel
fallback); and the same stream of updates, each turned into the library's own update
object before the clock starts. Handlers only count, so what is timed is dispatch:
finding the handler, checking access, building the context, conversation state. No
network: redoubt_bot gets an in-memory API, python-telegram-bot's ``process_update``
never calls its bot here.

redoubt_bot does more per update than python-telegram-bot, on purpose: every handler
has an access policy to check, and every button click resolves an opaque, user-bound,
single-use token (python-telegram-bot hands the raw callback_data over).

    uv run python bench/bot_dispatch.py --updates 20000 --rounds 5

Rounds alternate between the libraries (noise on a shared machine hits both); the
figures are each library's median round. The run fails (exit 1) if the two libraries
didn't call the same handlers the same number of times.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redoubt_bot import (
    END,
    ApplicationBuilder,
    CallbackHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    everyone,
    filters,
)
from redoubt_bot.types import Button, CallbackQuery, Message, RoomKind, Update, UpdateKind

__all__ = ["main"]

COMMANDS = [f"cmd{i}" for i in range(10)]
BOT_ID = "999"
ROOM_BASE = 5000
USERS = 50

# One conversation: /order -> size -> colour -> confirm -> END.
SIZE, COLOUR, CONFIRM = "size", "colour", "confirm"


@dataclass(frozen=True)
class Spec:
    """One update, library-neutral."""

    user: int
    text: str | None = None
    click: bool = False


def workload(count: int) -> list[Spec]:
    """A mix: commands, text the filter takes, text nobody takes, clicks, and whole
    conversations (each user's steps in order)."""
    cycle: list[Callable[[int], Spec]] = [
        *(lambda u, c=c: Spec(u, f"/{c} some args") for c in COMMANDS),
        lambda u: Spec(u, "hello there"),
        lambda u: Spec(u, "nothing to see"),
        lambda u: Spec(u, click=True),
        lambda u: Spec(u, "/order"),
        lambda u: Spec(u, "large"),
        lambda u: Spec(u, "red"),
        lambda u: Spec(u, "yes"),
    ]
    out = []
    for i in range(count):
        cycle_no, step = divmod(i, len(cycle))
        out.append(cycle[step](cycle_no % USERS + 1))
    return out


@dataclass
class Counts:
    calls: dict[str, int] = field(default_factory=dict)

    def handler(self, name: str, result: Any = None) -> Callable[..., Awaitable[Any]]:
        self.calls[name] = 0

        async def handle(_update: Any, _context: Any) -> Any:
            self.calls[name] += 1
            return result

        return handle


# --- redoubt_bot ----------------------------------------------------------------------


class NullApi:
    """The BotApi with nothing behind it (the benchmark's handlers send nothing)."""

    async def send_message(
        self,
        room_id: str,
        text: str,
        *,
        buttons: Sequence[Sequence[Button]] | None = None,
        thread_id: str | None = None,
    ) -> Message:
        return Message(id="1", room_id=room_id, author_id=BOT_ID, text=text)

    async def edit_message(self, message_id: str, text: str) -> Message:
        return Message(id=message_id, room_id="0", author_id=BOT_ID, text=text)

    async def set_buttons(self, message_id: str, buttons: Sequence[Sequence[Button]]) -> Message:
        return Message(id=message_id, room_id="0", author_id=BOT_ID, text="")

    async def delete_message(self, message_id: str) -> None:
        return None

    async def answer_callback(
        self, callback_id: str, *, text: str | None = None, show_alert: bool = False
    ) -> None:
        return None

    async def add_reaction(self, message_id: str, emoji: str) -> None:
        return None

    async def get_room_kind(self, room_id: str) -> RoomKind:
        return RoomKind.DM

    async def get_user_role(self, user_id: str) -> str:
        return "user"

    async def aclose(self) -> None:
        return None


class NoUpdates:
    bot_user_id = BOT_ID

    def __aiter__(self) -> NoUpdates:
        return self

    async def __anext__(self) -> Update:
        raise StopAsyncIteration


def redoubt_bot_app(counts: Counts) -> Any:
    app = ApplicationBuilder().api(NullApi()).updates(NoUpdates()).bot_user_id(BOT_ID).build()
    anyone = everyone()
    for c in COMMANDS:
        app.add_handler(CommandHandler(c, counts.handler(c), allow=anyone))
    text = filters.TEXT & ~filters.COMMAND & filters.regex("^hello")
    app.add_handler(MessageHandler(text, counts.handler("hello"), allow=anyone))
    app.add_handler(CallbackHandler(counts.handler("click"), allow=anyone))
    step = filters.TEXT & ~filters.COMMAND
    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("order", counts.handler("order", SIZE), allow=anyone)],
            states={
                SIZE: [MessageHandler(step, counts.handler(SIZE, COLOUR), allow=anyone)],
                COLOUR: [MessageHandler(step, counts.handler(COLOUR, CONFIRM), allow=anyone)],
                CONFIRM: [MessageHandler(step, counts.handler(CONFIRM, END), allow=anyone)],
            },
            fallbacks=[CommandHandler("cancel", counts.handler("cancel", END), allow=anyone)],
        ),
        group=1,
    )
    return app


def redoubt_bot_updates(app: Any, specs: list[Spec]) -> list[Update]:
    out = []
    for seq, spec in enumerate(specs, 1):
        user, room = str(spec.user), str(ROOM_BASE + spec.user)
        if spec.click:
            # A button the bot sent this user: a fresh single-use token per click.
            token = app.callbacks.create(
                {"choice": "yes"}, user_id=user, room_id=room, ttl=3600, single_use=True
            )
            cq = CallbackQuery(
                id=f"cb{seq}", message_id="1", room_id=room, user_id=user, data=token
            )
            out.append(Update(seq, UpdateKind.CALLBACK, user, room, RoomKind.DM, callback=cq))
        else:
            msg = Message(id=str(seq), room_id=room, author_id=user, text=spec.text or "")
            out.append(Update(seq, UpdateKind.MESSAGE, user, room, RoomKind.DM, message=msg))
    return out


# --- python-telegram-bot --------------------------------------------------------------


def ptb_app(counts: Counts) -> Any:
    from telegram.ext import (
        Application,
        CallbackQueryHandler,
    )
    from telegram.ext import CommandHandler as PtbCommand
    from telegram.ext import (
        ConversationHandler as PtbConversation,
    )
    from telegram.ext import MessageHandler as PtbMessage
    from telegram.ext import (
        filters as ptb_filters,
    )

    app = Application.builder().token("123:benchmark").updater(None).build()
    for c in COMMANDS:
        app.add_handler(PtbCommand(c, counts.handler(c)))
    text = ptb_filters.TEXT & ~ptb_filters.COMMAND & ptb_filters.Regex("^hello")
    app.add_handler(PtbMessage(text, counts.handler("hello")))
    app.add_handler(CallbackQueryHandler(counts.handler("click")))
    step = ptb_filters.TEXT & ~ptb_filters.COMMAND
    end = PtbConversation.END
    app.add_handler(
        PtbConversation(
            entry_points=[PtbCommand("order", counts.handler("order", SIZE))],
            states={
                SIZE: [PtbMessage(step, counts.handler(SIZE, COLOUR))],
                COLOUR: [PtbMessage(step, counts.handler(COLOUR, CONFIRM))],
                CONFIRM: [PtbMessage(step, counts.handler(CONFIRM, end))],
            },
            fallbacks=[PtbCommand("cancel", counts.handler("cancel", end))],
        ),
        group=1,
    )
    # process_update refuses an application that isn't initialised, and initialising
    # asks Telegram (here: nobody) for getMe. Fill in what getMe would have.
    from telegram import User

    app.bot._bot_user = User(id=int(BOT_ID), is_bot=True, first_name="bench", username="bench")
    app.bot._initialized = True
    app._initialized = True
    return app


def ptb_updates(app: Any, specs: list[Spec]) -> list[Any]:
    from telegram import Update as PtbUpdate

    out = []
    for seq, spec in enumerate(specs, 1):
        sender = {"id": spec.user, "is_bot": False, "first_name": f"u{spec.user}"}
        chat = {"id": ROOM_BASE + spec.user, "type": "private"}
        message: dict[str, Any] = {"message_id": seq, "date": 0, "chat": chat, "from": sender}
        if spec.click:
            message["from"] = {"id": int(BOT_ID), "is_bot": True, "first_name": "bench"}
            message["text"] = "Pick one"
            data = {
                "update_id": seq,
                "callback_query": {
                    "id": f"cb{seq}",
                    "from": sender,
                    "chat_instance": "1",
                    "message": message,
                    "data": "choice:yes",
                },
            }
        else:
            text = spec.text or ""
            message["text"] = text
            if text.startswith("/"):
                length = len(text.split()[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
            data = {"update_id": seq, "message": message}
        out.append(PtbUpdate.de_json(data, app.bot))
    return out


async def timed(
    build: Callable[[Counts], Any],
    convert: Callable[[Any, list[Spec]], list[Any]],
    specs: list[Spec],
) -> tuple[float, dict[str, int]]:
    """One round of one library: its app and updates built first, then only
    ``process_update`` timed."""
    counts = Counts()
    app = build(counts)
    updates = convert(app, specs)
    start = time.perf_counter()
    for update in updates:
        await app.process_update(update)
    return time.perf_counter() - start, counts.calls


async def run_redoubt_bot(specs: list[Spec]) -> tuple[float, dict[str, int]]:
    return await timed(redoubt_bot_app, redoubt_bot_updates, specs)


async def run_ptb(specs: list[Spec]) -> tuple[float, dict[str, int]]:
    return await timed(ptb_app, ptb_updates, specs)


# --- the run ---------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    import telegram

    import redoubt_bot

    specs = workload(args.updates)
    print(
        f"Bot dispatch: {args.updates} updates x {args.rounds} rounds per library, "
        f"redoubt_bot {getattr(redoubt_bot, '__version__', '0.1.0')} vs "
        f"python-telegram-bot {telegram.__version__} (Python {sys.version.split()[0]})",
        flush=True,
    )
    ours: list[float] = []
    theirs: list[float] = []
    ours_calls: dict[str, int] = {}
    their_calls: dict[str, int] = {}
    await run_redoubt_bot(specs[: min(2000, len(specs))])  # warm up both (imports, regex)
    await run_ptb(specs[: min(2000, len(specs))])
    for _ in range(args.rounds):
        seconds, ours_calls = await run_redoubt_bot(specs)
        ours.append(args.updates / seconds)
        seconds, their_calls = await run_ptb(specs)
        theirs.append(args.updates / seconds)
    a, b = statistics.median(ours), statistics.median(theirs)
    same = ours_calls == their_calls
    print(
        f"\n  redoubt_bot          {a:>10,.0f} updates/s  (rounds: "
        f"{', '.join(f'{r:,.0f}' for r in ours)})\n"
        f"  python-telegram-bot  {b:>10,.0f} updates/s  (rounds: "
        f"{', '.join(f'{r:,.0f}' for r in theirs)})\n"
        f"  ratio                {a / b:>10.1f}x  (target: at least 3x)\n"
        f"  handler calls        {sum(ours_calls.values())} each, "
        f"{'the same handlers in both' if same else f'DIFFERENT: {ours_calls} {their_calls}'}\n"
        f"\n  reproduce: {reproduce_command(args)}",
        flush=True,
    )
    return 0 if same else 1


def reproduce_command(args: argparse.Namespace) -> str:
    return shlex.join(
        [
            "uv",
            "run",
            "python",
            "bench/bot_dispatch.py",
            "--updates",
            str(args.updates),
            "--rounds",
            str(args.rounds),
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/bot_dispatch.py",
        description="Updates/s through redoubt_bot's dispatch vs python-telegram-bot's.",
    )
    parser.add_argument("--updates", type=int, default=20_000, help="updates per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per library")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
