"""End to end through the Telegram-compatible Bot API: python-telegram-bot's own
``echobot.py``, unmodified, against a Redoubt server.

One person posts into their DM with the bot over REST and waits, on their WebSocket,
for the bot's echo before posting the next (a closed loop: the client posts as fast as
the bot answers). The bot long-polls ``getUpdates`` and answers with ``sendMessage``,
so each reply is: REST post -> stored event -> the bot's long poll wakes -> the bot's
HTTP request -> stored event -> the person's WebSocket.

    uv run python bench/bot_echo.py --duration 10

Prints replies per second, latency percentiles, CPU per reply of the server and of the
bot, checks that every message was echoed exactly once and in order (exit 1 if not),
and the command that reproduces the figures. The example comes from the pinned
release's source distribution (``pip download``, never committed), as in the contract
tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from ws_fanout import (
    HOST,
    REQUEST_TIMEOUT,
    SETUP_TIMEOUT,
    Children,
    bench_env,
    free_port,
    login_all,
    machine,
    machine_busy_seconds,
    percentile,
    proc_cpu_seconds,
    redoubt_command,
    run_benchmark,
    start_server,
    upgrade_database,
)

__all__ = ["main"]

SCRIPT = Path(__file__).resolve()
REPO_ROOT = SCRIPT.parent.parent
PTB_VERSION = "22.8"
BOT_START_TIMEOUT = 60.0

sys.path.insert(0, str(REPO_ROOT))  # the contract tests' example fetcher and runner
from tests.bot_examples import PTB_RUNNER, sdist_examples  # noqa: E402


@dataclass
class Seeded:
    person: str
    password: str
    bot_token: str
    bot_id: str
    dm_id: str


async def seed(env: dict[str, str]) -> Seeded:
    """A person, a bot they own, and their DM, straight through the actions."""
    from redoubt.actions.bots import do_create_bot
    from redoubt.actions.rooms import do_open_dm
    from redoubt.actions.users import do_create_user
    from redoubt.container import Container
    from redoubt.core.settings import load_settings
    from redoubt.domain.enums import UserRole
    from redoubt.queries.context import Requester

    container = Container(load_settings(env))
    ctx = container.context
    password = secrets.token_urlsafe(18)
    try:
        person = await do_create_user(
            ctx,
            username="bench-person",
            display_name=None,
            password=password,
            role=UserRole.USER,
            acting_user=None,
        )
        _bot, bot_user, token = await do_create_bot(
            ctx,
            acting_user=None,
            username="bench_echo_bot",
            display_name=None,
            description="echo benchmark",
            owner_id=person.id,
            room_ids=[],
        )
        me = Requester(user=person, session_id=None, ip=HOST)
        dm, _created = await do_open_dm(ctx, user_ids=[bot_user.id], acting_user=me)
    finally:
        await container.database.dispose()
    return Seeded("bench-person", password, token, str(bot_user.id), dm.id)


class Echoes:
    """The person's event stream: the bot's messages in the DM, as they arrive."""

    def __init__(self, ws: Any, bot_id: str, dm_id: str) -> None:
        self._ws = ws
        self._bot_id = bot_id
        self._dm_id = dm_id

    async def next_echo(self) -> str:
        while True:
            frame = json.loads(await asyncio.wait_for(self._ws.recv(), REQUEST_TIMEOUT))
            if frame.get("type") != "message.created":
                continue
            data = frame["data"]
            if data["room_id"] == self._dm_id and data["author_id"] == self._bot_id:
                return str(data["text"])


@dataclass
class Round:
    sent: list[str]
    echoed: list[str]
    latencies: list[float]
    seconds: float


async def closed_loop(
    http: httpx.AsyncClient,
    token: str,
    echoes: Echoes,
    dm_id: str,
    *,
    tag: str,
    seconds: float,
    at_least: int = 0,
) -> Round:
    headers = {"Authorization": f"Bearer {token}"}
    sent: list[str] = []
    echoed: list[str] = []
    latencies: list[float] = []
    start = time.perf_counter()
    while len(sent) < at_least or time.perf_counter() - start < seconds:
        text = f"echo {tag} {len(sent)}"
        t0 = time.perf_counter()
        resp = await http.post(
            f"/api/v1/rooms/{dm_id}/messages", json={"text": text}, headers=headers
        )
        if resp.status_code != 201:
            raise RuntimeError(f"post failed: HTTP {resp.status_code} {resp.text[:200]}")
        sent.append(text)
        echoed.append(await echoes.next_echo())
        latencies.append(time.perf_counter() - t0)
    return Round(sent, echoed, latencies, time.perf_counter() - start)


async def run(args: argparse.Namespace, children: Children, work: Path) -> int:
    print(
        f"Redoubt Bot API end to end: python-telegram-bot {PTB_VERSION} echobot.py, "
        f"one closed-loop client for {args.duration:g} s",
        flush=True,
    )
    examples = await asyncio.to_thread(
        sdist_examples, work, "python-telegram-bot", PTB_VERSION, ["echobot.py"]
    )
    data_dir = work / "data"
    env = bench_env(data_dir)
    # A bot answering hundreds of messages a minute is a flood by the default rule (it
    # gets quarantined, as it should); this one is the benchmark.
    env["REDOUBT_BOT_FLOOD_FLOOR"] = "10000000"
    cmd = redoubt_command()
    await upgrade_database(cmd, env, data_dir)
    seeded = await asyncio.wait_for(seed(env), SETUP_TIMEOUT)
    port = free_port()
    base_url, server = await start_server(children, cmd, env, work, data_dir, port=port)
    (token,) = await login_all(base_url, [seeded.person], seeded.password)

    bot_env = {**env, "REDOUBT_BOT_TOKEN": seeded.bot_token, "REDOUBT_BASE_URL": base_url}
    with (work / "echobot.log").open("wb") as log:
        bot = children.start(
            [sys.executable, str(PTB_RUNNER), str(examples["echobot.py"])],
            env=bot_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    print(f"  bot: pid {bot.pid} (log {work / 'echobot.log'})", flush=True)

    async with (
        httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT) as http,
        websockets.connect(f"ws://{HOST}:{port}/api/v1/events") as ws,
    ):
        await ws.send(json.dumps({"type": "hello", "token": token, "since": None}))
        ready = json.loads(await asyncio.wait_for(ws.recv(), REQUEST_TIMEOUT))
        if ready.get("type") != "ready":
            raise RuntimeError(f"event stream refused: {ready}")
        echoes = Echoes(ws, seeded.bot_id, seeded.dm_id)
        # The bot is up once it answers; the first answers also warm the server up.
        try:
            first = await asyncio.wait_for(
                closed_loop(
                    http, token, echoes, seeded.dm_id, tag="first", seconds=0.0, at_least=1
                ),
                BOT_START_TIMEOUT,
            )
        except TimeoutError:
            raise RuntimeError(
                f"the bot didn't answer within {BOT_START_TIMEOUT:.0f} s; see its log"
                " (--keep keeps it)"
            ) from None
        warm = await closed_loop(
            http, token, echoes, seeded.dm_id, tag="warm2", seconds=args.warmup
        )
        cpu0 = (proc_cpu_seconds(server.pid), proc_cpu_seconds(bot.pid), machine_busy_seconds())
        measured = await closed_loop(
            http, token, echoes, seeded.dm_id, tag="run", seconds=args.duration
        )
        cpu1 = (proc_cpu_seconds(server.pid), proc_cpu_seconds(bot.pid), machine_busy_seconds())

    ok = all(r.sent == r.echoed for r in (first, warm, measured))
    count = len(measured.sent)
    lat = sorted(measured.latencies)
    result: dict[str, Any] = {
        "replies": count,
        "seconds": measured.seconds,
        "replies_per_second": count / measured.seconds,
        "latency_ms": {q: percentile(lat, q) * 1000 for q in (50, 90, 99)},
        "server_cpu_ms_per_reply": (cpu1[0] - cpu0[0]) / count * 1000,
        "bot_cpu_ms_per_reply": (cpu1[1] - cpu0[1]) / count * 1000,
        "machine_busy_cores": (cpu1[2] - cpu0[2]) / measured.seconds,
        "echoed_exactly_in_order": ok,
        "machine": machine(),
        "command": reproduce_command(args),
    }
    print_report(result)
    if args.out:
        text = json.dumps(result, indent=2, default=str)
        await asyncio.to_thread(Path(args.out).write_text, text)
    return 0 if ok else 1


def print_report(r: dict[str, Any]) -> None:
    lat = r["latency_ms"]
    verdict = (
        "every message echoed once, in order"
        if r["echoed_exactly_in_order"]
        else "ECHOES LOST, REPEATED OR OUT OF ORDER"
    )
    print(
        f"\n  replies        {r['replies']} in {r['seconds']:.1f} s: "
        f"{r['replies_per_second']:.1f} replies/s\n"
        f"  latency        p50 {lat[50]:.1f} ms, p90 {lat[90]:.1f} ms, p99 {lat[99]:.1f} ms"
        " (post to echo on the poster's WebSocket)\n"
        f"  CPU per reply  server {r['server_cpu_ms_per_reply']:.2f} ms, "
        f"bot {r['bot_cpu_ms_per_reply']:.2f} ms "
        f"(machine busy: {r['machine_busy_cores']:.2f} cores)\n"
        f"  check          {verdict}\n"
        f"\n  reproduce: {r['command']}",
        flush=True,
    )


def reproduce_command(args: argparse.Namespace) -> str:
    argv = ["uv", "run", "python", "bench/bot_echo.py", "--duration", f"{args.duration:g}"]
    return shlex.join(argv)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/bot_echo.py",
        description="python-telegram-bot's echobot.py against Redoubt's Bot API: replies/s.",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--out", help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.suppress(AttributeError):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return run_benchmark(run, args, prefix="redoubt-bot-echo-")


if __name__ == "__main__":
    sys.exit(main())
