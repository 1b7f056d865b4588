"""Scale-out: two real server processes sharing one PostgreSQL database and one Redis.

Started the way an operator starts them (``redoubt serve`` with ``REDOUBT_*`` variables,
users made with ``redoubt admin create-user``), on two ports. Proves that a message
posted on either process reaches WebSocket clients of both exactly once, that both see
one order (the stream position), that a client leaving one process resumes on the other
with exactly the events it missed, and that the processes mint ids with distinct node
numbers. PostgreSQL and Redis are required: when they can't be reached this test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from redis.asyncio import Redis

from redoubt.actions.users import do_create_user
from redoubt.container import Container
from redoubt.domain.enums import UserRole
from tests.harness import (
    PASSWORD,
    REDIS_URL,
    SCALE_OUT_SECRET_KEY,
    drop_postgres_database,
    free_port,
    postgres_database,
    test_settings,
)

# Generous: starting an interpreter with the app costs ~4 s of CPU, and these machines
# are often busy; a quiet machine runs this test in well under 15 s.
pytestmark = pytest.mark.timeout(150)

REDOUBT = Path(sys.executable).with_name("redoubt")
"""The installed console script, exactly what an operator runs."""


@dataclass
class Process:
    name: str
    port: int
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/events"

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def deployment_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDOUBT_")}
    env.update(
        REDOUBT_DATABASE_URL=database_url,
        REDOUBT_REDIS_URL=REDIS_URL,
        REDOUBT_SECRET_KEY=SCALE_OUT_SECRET_KEY,
        REDOUBT_DATA_DIR=str(data_dir),
        REDOUBT_ARGON2_TIME_COST="1",
        REDOUBT_ARGON2_MEMORY_KIB="64",
        REDOUBT_RATE_POST_PER_10S="100000",
        REDOUBT_RATE_LOGIN_PER_MINUTE="1000",
        REDOUBT_RATE_API_PER_SECOND="100000",
        REDOUBT_RATE_WS_FRAMES_PER_SECOND="1000",
    )
    return env


def spawn(name: str, env: dict[str, str], tmp_path: Path) -> Process:
    port = free_port()
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [str(REDOUBT), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Process(name, port, popen, log)


def stop(process: Process) -> None:
    if process.popen.poll() is None:
        process.popen.terminate()
        try:
            process.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait(timeout=10)


async def wait_ready(process: Process, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=process.base_url, timeout=2) as http:
        while True:
            if process.popen.poll() is not None:
                raise AssertionError(f"{process.name} exited:\n{process.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/readyz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{process.name} not ready:\n{process.log_tail()}")
            await asyncio.sleep(0.1)


async def create_users(database_url: str, data_dir: Path, *names: str) -> str:
    """Through the actions, as ``redoubt admin create-user`` does (same container calls:
    in scale-out the command leases a node number too). In-process because each extra
    interpreter start costs seconds of CPU on a busy 2-core machine.

    Returns the deployment's Redis prefix."""
    settings = test_settings(data_dir, database_url=database_url, redis_url=REDIS_URL)
    container = Container(settings)
    try:
        await container.start_command()
        for name in names:
            await do_create_user(
                container.context,
                username=name,
                display_name=name.title(),
                password=PASSWORD,
                role=UserRole.USER,
                acting_user=None,
            )
        return container.redis_prefix
    finally:
        await container.stop_command()


@dataclass
class Client:
    """A WebSocket client that records every positioned frame it gets."""

    ws: Any
    ready_seq: int
    frames: list[dict[str, Any]] = field(default_factory=list)

    @property
    def created(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "message.created"]

    async def collect_messages(self, count: int, within: float = 30.0) -> None:
        """Read until ``count`` message.created frames arrived in total."""
        async with asyncio.timeout(within):
            while len(self.created) < count:
                await self._read_one(None)

    async def drain(self, quiet: float = 0.5) -> None:
        """Read until nothing arrives for ``quiet`` seconds."""
        with contextlib.suppress(TimeoutError):
            while True:
                await self._read_one(quiet)

    async def _read_one(self, wait: float | None) -> None:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), wait))
        if "seq" in frame and frame["type"] != "ready":
            self.frames.append(frame)


@contextlib.asynccontextmanager
async def connect(process: Process, token: str, since: int | None) -> AsyncIterator[Client]:
    async with websockets.connect(process.ws_url, max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "since": since}))
        ready = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ready["type"] == "ready", ready
        yield Client(ws, ready["seq"])


def node_of(id_: str) -> int:
    """The node number inside an id (see core/ids.py)."""
    return (int(id_) >> 6) & 0xF


async def login(http: httpx.AsyncClient, username: str) -> str:
    resp = await http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


async def test_two_processes_share_one_ordered_stream(tmp_path: Path) -> None:
    database_url = await postgres_database()
    processes: list[Process] = []
    bus = Redis.from_url(REDIS_URL)
    listener = bus.pubsub()
    try:
        env_a = deployment_env(database_url, tmp_path / "data-a")
        env_b = deployment_env(database_url, tmp_path / "data-b")
        processes += [spawn("a", env_a, tmp_path), spawn("b", env_b, tmp_path)]
        a, b = processes
        prefix, *_ = await asyncio.gather(
            create_users(database_url, tmp_path / "data-cli", "alice", "bob"),
            wait_ready(a),
            wait_ready(b),
        )
        async with (
            httpx.AsyncClient(base_url=a.base_url, timeout=10) as http_a,
            httpx.AsyncClient(base_url=b.base_url, timeout=10) as http_b,
        ):
            alice = await login(http_a, "alice")
            bob = await login(http_b, "bob")
            auth_a = {"Authorization": f"Bearer {alice}"}
            auth_b = {"Authorization": f"Bearer {bob}"}
            bob_id = (await http_b.get("/api/v1/users/me", headers=auth_b)).json()["id"]
            room = (
                await http_a.post(
                    "/api/v1/rooms", headers=auth_a, json={"name": "scale", "kind": "channel"}
                )
            ).json()["id"]
            added = await http_a.post(
                f"/api/v1/rooms/{room}/members", headers=auth_a, json={"user_id": bob_id}
            )
            assert added.status_code < 300, added.text

            posted: dict[str, tuple[int, str]] = {}  # message id -> (position, process)

            async def post(via: str, n: int) -> None:
                http, headers = (http_a, auth_a) if via == "a" else (http_b, auth_b)
                resp = await http.post(
                    f"/api/v1/rooms/{room}/messages", headers=headers, json={"text": f"m{n}"}
                )
                assert resp.status_code < 300, resp.text
                body = resp.json()
                posted[body["id"]] = (body["position"], via)

            # --- 50 messages, posted on both processes, partly at the same time ------
            # Listen on the deployment's bus channel too: the events must travel through
            # Redis (the dispatchers' database poll alone would also deliver them, late).
            channel = f"{prefix}bus"
            await listener.subscribe(channel)
            async with connect(a, alice, None) as on_a, connect(b, bob, None) as on_b:
                n = 0
                for round_ in range(10):
                    vias = ["a", "b", "a", "b", "a"] if round_ % 2 else ["b", "a", "b", "a", "b"]
                    if round_ % 3 == 0:  # one after another
                        for via in vias:
                            await post(via, n := n + 1)
                    else:  # at the same time
                        await asyncio.gather(*(post(via, n + i + 1) for i, via in enumerate(vias)))
                        n += len(vias)
                await asyncio.gather(on_a.collect_messages(50), on_b.collect_messages(50))
                await asyncio.gather(on_a.drain(0.3), on_b.drain(0.3))

                subscribers = dict(await bus.pubsub_numsub(channel))
                assert subscribers[channel.encode()] == 3  # a, b and this test
                on_the_bus: set[int] = set()
                while (message := await listener.get_message(timeout=0.2)) is not None:
                    if message["type"] == "message":
                        _origin, kind, *rest = json.loads(message["data"])
                        if kind == "e":
                            on_the_bus.update(row[0] for row in rest[0])
                assert {f["seq"] for f in on_a.created} <= on_the_bus

                for client in (on_a, on_b):
                    ids = [f["data"]["id"] for f in client.created]
                    assert len(ids) == len(set(ids)) == 50  # every message exactly once
                    assert set(ids) == set(posted)
                    for frame in client.created:
                        assert frame["seq"] == posted[frame["data"]["id"]][0]
                    seqs = [f["seq"] for f in client.frames]
                    assert seqs == sorted(set(seqs))  # increasing, no repeats
                # Both processes deliver the same events in the same order.
                assert [f["seq"] for f in on_a.created] == [f["seq"] for f in on_b.created]
                common = max(on_a.ready_seq, on_b.ready_seq)
                assert [f for f in on_a.frames if f["seq"] > common] == [
                    f for f in on_b.frames if f["seq"] > common
                ]

                # The processes leased distinct node numbers for their ids.
                nodes = {
                    via: {node_of(i) for i, (_, v) in posted.items() if v == via} for via in "ab"
                }
                assert len(nodes["a"]) == len(nodes["b"]) == 1
                assert nodes["a"] != nodes["b"]

                # --- alice leaves process A; 10 more messages; she resumes on B ---------
                last_seen = on_a.frames[-1]["seq"]
                await on_a.ws.close()
                before = len(posted)
                for i in range(10):
                    await post("a" if i % 2 else "b", 100 + i)
                await on_b.collect_messages(60)
                await on_b.drain(0.3)
                missed = [f for f in on_b.frames if f["seq"] > last_seen]
                assert len([f for f in missed if f["type"] == "message.created"]) == 10

            async with connect(b, alice, last_seen) as resumed:
                await resumed.collect_messages(10)
                await resumed.drain()
            # Exactly the missed events, in order: nothing lost, nothing repeated.
            assert resumed.frames == missed
            assert {f["data"]["id"] for f in resumed.created} == set(list(posted)[before:])
    finally:
        for process in processes:
            stop(process)
        await listener.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        await bus.aclose()
        await drop_postgres_database(database_url)
    for process in processes:
        # uvicorn re-raises the SIGTERM it handled, once the shutdown is complete.
        assert process.popen.returncode in (0, -signal.SIGTERM), process.log_tail()
        log = process.log.read_text(errors="replace")
        assert "Application shutdown complete" in log
        assert '"level": "error"' not in log, process.log_tail()
