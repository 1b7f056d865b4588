"""API tokens and webhooks: what each costs, as a ratio against its peer path in Redoubt.

Run from the repository root::

    uv run python bench/integrations.py                        # 10 s per path, 4 clients
    uv run python bench/integrations.py --duration 30 --concurrency 8
    uv run python bench/integrations.py --out-rate 50          # outgoing hook at 50 posts/s

These machines are shared and noisy, so absolute numbers drift from run to run; what
this benchmark is for is the *ratio* between a feature's path and the path it adds to,
measured in the same run against the same server:

1. **Token authentication.** Closed-loop ``GET /api/v1/users/me`` with a session bearer
   token vs with a personal access token (scope ``users:read``, made over
   ``POST /api/v1/tokens``); and ``POST /api/v1/rooms/{id}/messages`` with a session vs
   a token with ``messages:write``. The difference is the token lookup (hash, expiry,
   scope and address checks) and the in-memory usage count.
2. **Incoming webhook.** Closed-loop signed ``POST /api/v1/hooks/{id}`` (made over the
   admin API, signed with :func:`redoubt.core.signing.sign`, each request unique so the
   replay check accepts it) vs a plain session-authenticated post into the same room.
   The difference is the hook lookup, the secret's decryption, the signature check, the
   nonce written in the posting transaction and the strict payload schema.
3. **Outgoing webhook.** An outgoing hook on a room points at a plain asyncio HTTP
   receiver started by this script on loopback (the server is allowed to reach
   ``127.0.0.1`` on that port through ``REDOUBT_EGRESS_ALLOW_NETWORKS`` and
   ``REDOUBT_EGRESS_ALLOWED_PORTS``). Messages are posted at a fixed rate (open loop);
   each delivery's post-to-receipt time is compared with the same message's delivery to
   a WebSocket member of the room. Every message must arrive exactly once (by
   ``X-Redoubt-Delivery`` id), correctly signed; anything lost, repeated or unsigned
   fails the run.

Each pair of closed-loop paths is measured in alternating slices (A B, B A, A B, ...),
each path alone on the server for ``--duration`` seconds in total, so load from other
processes falls on both sides alike. Server CPU per request (``/proc/<pid>/stat``) is
reported beside throughput and latency: it is the figure noise moves least.

The server is ``redoubt serve`` in a separate process on a free loopback port, set up by
the helpers ``ws_fanout.py`` uses (temporary data folder, ``redoubt db upgrade``,
accounts through the actions, every ``REDOUBT_RATE_*`` raised, inherited ``REDOUBT_*``
dropped), plus: the per-hook incoming rate limit raised and no second factor required of
admins (the bench's admin creates the hooks). Webhook worker settings are the defaults.

Exit codes: 0 when every request succeeded and every outgoing delivery arrived exactly
once, 1 when one failed, 2 when the run itself broke, 130 on Ctrl-C. The server is
stopped on every path. Results go to ``bench/results/integrations-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import secrets
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from redoubt.core.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    signature_matches,
)
from ws_fanout import (
    HOST,
    REQUEST_TIMEOUT,
    SETUP_TIMEOUT,
    Children,
    HttpConnection,
    WsReceiver,
    bench_env,
    connect_reader,
    free_port,
    install_uvloop,
    login_all,
    machine,
    machine_busy_seconds,
    percentile,
    proc_cpu_seconds,
    redoubt_command,
    run_benchmark,
    self_cpu_seconds,
    start_server,
    upgrade_database,
)

__all__ = ["main"]

SCRIPT = Path(__file__).resolve()
BENCH_DIR = SCRIPT.parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
API = "/api/v1"

WARMUP_S = 0.5
"""Each closed-loop path runs this long unmeasured first (first-use SQL compilation)."""
OUT_WARMUP_POSTS = 10
"""Posts into the hooked room before the measured ones (counted in the check only)."""
OUT_CONNECTIONS = 8
DRAIN_TIMEOUT = 30.0
DUPLICATE_GRACE = 1.0
"""After the last delivery, how long to keep listening for a repeated one."""
MAX_FAILURES = 100
"""A closed-loop client stops after this many failed requests (a broken path would
otherwise spin)."""
DELIVERY_HEADER = "x-redoubt-delivery"


def _ms(values: Sequence[float], q: float) -> float | None:
    return round(percentile(values, q) * 1000.0, 2) if values else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return round(numerator / denominator, 3)


_REQUEST_ERRORS = (
    OSError,
    TimeoutError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ValueError,
)


# --------------------------------------------------------------------------------------
# Closed loop: one path, C clients, in alternating slices with its peer
# --------------------------------------------------------------------------------------


Build = Callable[[int], tuple[dict[str, str], bytes]]
"""Request number -> (headers, body)."""


@dataclass
class Target:
    key: str
    label: str
    method: str
    path: str
    expect: int
    build: Build
    conns: list[HttpConnection] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    window_s: float = 0.0
    server_cpu_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        n = len(lat)
        return {
            "label": self.label,
            "request": f"{self.method} {self.path}",
            "requests": n,
            "window_s": round(self.window_s, 3),
            "per_s": round(n / self.window_s, 1) if self.window_s else None,
            "p50_ms": _ms(lat, 50),
            "p99_ms": _ms(lat, 99),
            "server_cpu_ms_per_request": round(self.server_cpu_s / n * 1e3, 3) if n else None,
            "failures": len(self.failures),
            "failure_examples": self.failures[:5],
        }


async def run_slice(
    target: Target, length: float, counter: Iterator[int], *, record: bool = True
) -> None:
    """Every client of ``target`` sends, one request after the other, for ``length`` s."""
    until = time.monotonic() + length
    latencies: list[float] = target.latencies if record else []

    async def client(conn: HttpConnection) -> None:
        while time.monotonic() < until and len(target.failures) < MAX_FAILURES:
            headers, body = target.build(next(counter))
            start = time.monotonic()
            try:
                status, raw = await asyncio.wait_for(
                    conn.request(target.method, target.path, headers, body), REQUEST_TIMEOUT
                )
            except _REQUEST_ERRORS as exc:
                target.failures.append(f"{type(exc).__name__}: {exc}")
                await conn.open()  # the connection is in an unknown state
                continue
            if status != target.expect:
                target.failures.append(f"HTTP {status}: {raw[:160]!r}")
                continue
            latencies.append(time.monotonic() - start)

    await asyncio.gather(*(client(c) for c in target.conns))


async def measure_pair(
    a: Target,
    b: Target,
    *,
    duration: float,
    slice_s: float,
    server_pid: int,
    counter: Iterator[int],
) -> None:
    """Warm both up, then A B, B A, A B, ... until each had ``duration`` seconds."""
    for target in (a, b):
        await run_slice(target, WARMUP_S, counter, record=False)
    slices = max(2, 2 * round(duration / (2 * slice_s)))
    length = duration / slices
    for k in range(slices):
        for target in (a, b) if k % 2 == 0 else (b, a):
            cpu0 = proc_cpu_seconds(server_pid)
            t0 = time.monotonic()
            await run_slice(target, length, counter)
            target.window_s += time.monotonic() - t0
            target.server_cpu_s += proc_cpu_seconds(server_pid) - cpu0


def compare(base: Target, other: Target) -> dict[str, Any]:
    """``other`` divided by ``base``, figure by figure."""
    x, y = base.summary(), other.summary()
    return {
        "base": base.key,
        "other": other.key,
        "per_s": _ratio(y["per_s"], x["per_s"]),
        "p50": _ratio(y["p50_ms"], x["p50_ms"]),
        "p99": _ratio(y["p99_ms"], x["p99_ms"]),
        "server_cpu_per_request": _ratio(
            y["server_cpu_ms_per_request"], x["server_cpu_ms_per_request"]
        ),
    }


# --------------------------------------------------------------------------------------
# Outgoing webhooks: a loopback receiver, open-loop posts, a WebSocket peer
# --------------------------------------------------------------------------------------


@dataclass
class Receipt:
    delivery_id: str
    message_id: str
    t: float


class HookReceiver:
    """A plain asyncio HTTP/1.1 server that answers every request 200 and records the
    deliveries (checking each signature against the hook's secret)."""

    def __init__(self) -> None:
        self.secret = ""
        self.receipts: list[Receipt] = []
        self.errors: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # the sender closed the connection (egress never keeps it)
                headers: dict[str, str] = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self._record(headers, body, time.monotonic())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
                writer.write(b"Content-Length: 2\r\n\r\nok")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _record(self, headers: dict[str, str], body: bytes, now: float) -> None:
        try:
            timestamp = int(headers.get(TIMESTAMP_HEADER.lower(), ""))
            presented = headers.get(SIGNATURE_HEADER.lower(), "")
            if not signature_matches(self.secret, timestamp, body, presented):
                self.errors.append("a delivery with a wrong signature")
                return
            data = json.loads(body)
            delivery_id = headers.get(DELIVERY_HEADER, "")
            if data.get("delivery_id") != delivery_id or not delivery_id:
                self.errors.append(f"delivery id header {delivery_id!r} does not match the body")
                return
            self.receipts.append(Receipt(delivery_id, str(data["message"]["id"]), now))
        except (ValueError, KeyError, TypeError) as exc:
            self.errors.append(f"undecodable delivery: {type(exc).__name__}: {body[:120]!r}")


@dataclass
class Post:
    index: int
    due: float
    ack: float = float("nan")
    message_id: str = ""
    error: str = ""


async def post_open_loop(
    pool: asyncio.Queue[HttpConnection], path: str, token: str, *, rate: float, count: int, tag: str
) -> list[Post]:
    """``count`` posts due at start + i / rate, whatever the answers to earlier ones do."""
    posts: list[Post] = []
    tasks: list[asyncio.Task[None]] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def send(post: Post) -> None:
        conn = await pool.get()
        body = json.dumps({"text": f"integrations bench {tag} {post.index}"}).encode()
        try:
            status, raw = await asyncio.wait_for(
                conn.request("POST", path, headers, body), REQUEST_TIMEOUT
            )
        except _REQUEST_ERRORS as exc:
            post.error = f"{type(exc).__name__}: {exc}"
            conn.close()  # reopened by its next request
            return
        finally:
            pool.put_nowait(conn)
        post.ack = time.monotonic()
        if status != 201:
            post.error = f"HTTP {status}: {raw[:160]!r}"
            return
        post.message_id = str(json.loads(raw)["id"])

    start = time.monotonic() + 0.05
    for i in range(count):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        post = Post(i, due)
        posts.append(post)
        tasks.append(asyncio.create_task(send(post)))
    await asyncio.gather(*tasks)
    return posts


async def wait_delivered(
    receiver: HookReceiver, reader: WsReceiver, posts: list[Post], within: float
) -> None:
    """Until every acknowledged post reached both the hook receiver and the WebSocket."""
    wanted = {p.message_id for p in posts if p.message_id}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        hooked = {r.message_id for r in receiver.receipts}
        if wanted <= hooked and wanted <= set(reader.msg_id):
            return
        await asyncio.sleep(0.05)


@dataclass
class DeliveryCheck:
    messages: int = 0
    delivered_once: int = 0
    lost: int = 0
    duplicated: int = 0
    repeated_delivery_ids: int = 0
    unexpected: int = 0
    ws_missing: int = 0
    post_failures: int = 0
    receiver_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.duplicated
            or self.repeated_delivery_ids
            or self.unexpected
            or self.ws_missing
            or self.post_failures
            or self.receiver_errors
        )

    def summary(self) -> str:
        if self.ok:
            return (
                f"{self.delivered_once} of {self.messages} messages delivered exactly once "
                "(by delivery id), every signature valid"
            )
        parts = [
            f"{self.delivered_once} of {self.messages} delivered exactly once",
            f"{self.lost} lost",
            f"{self.duplicated} sent as more than one delivery",
            f"{self.repeated_delivery_ids} delivery ids received more than once",
            f"{self.unexpected} unexpected",
            f"{self.ws_missing} missing on the WebSocket",
            f"{self.post_failures} posts failed",
            f"{len(self.receiver_errors)} bad deliveries",
        ]
        return "FAILED: " + ", ".join(parts)


def check_deliveries(
    posts: list[Post], receiver: HookReceiver, reader: WsReceiver
) -> DeliveryCheck:
    check = DeliveryCheck(messages=len(posts), receiver_errors=receiver.errors[:10])
    check.post_failures = sum(1 for p in posts if not p.message_id)
    posted = {p.message_id for p in posts if p.message_id}
    by_message: dict[str, list[str]] = {}
    receipts_per_delivery: dict[str, int] = {}
    for r in receiver.receipts:
        by_message.setdefault(r.message_id, []).append(r.delivery_id)
        receipts_per_delivery[r.delivery_id] = receipts_per_delivery.get(r.delivery_id, 0) + 1
    for message_id in posted:
        got = by_message.get(message_id, [])
        if not got:
            check.lost += 1
        elif len(got) == 1:
            check.delivered_once += 1
        else:
            check.duplicated += 1
    check.repeated_delivery_ids = sum(1 for n in receipts_per_delivery.values() if n > 1)
    check.unexpected = sum(1 for m in by_message if m not in posted)
    check.ws_missing = len(posted - set(reader.msg_id))
    return check


def delivery_figures(
    posts: list[Post], arrivals: Mapping[str, float], *, window_end: float | None = None
) -> dict[str, Any]:
    """Due-to-arrival latency of ``posts`` (first arrival of each) and arrivals per second
    from the first due time to the last arrival."""
    timed = [(p, arrivals[p.message_id]) for p in posts if p.message_id in arrivals]
    lat = sorted(t - p.due for p, t in timed)
    if not timed:
        return {"deliveries": 0, "per_s": None, "p50_ms": None, "p99_ms": None}
    first = min(p.due for p, _ in timed)
    last = window_end if window_end is not None else max(t for _, t in timed)
    fifth = max(1, len(timed) // 5)
    ordered = sorted(timed, key=lambda pt: pt[0].index)
    head = sorted(t - p.due for p, t in ordered[:fifth])
    tail = sorted(t - p.due for p, t in ordered[-fifth:])
    return {
        "deliveries": len(timed),
        "per_s": round(len(timed) / max(last - first, 1e-9), 1),
        "p50_ms": _ms(lat, 50),
        "p99_ms": _ms(lat, 99),
        "max_ms": _ms(lat, 100),
        "p50_first_fifth_ms": _ms(head, 50),
        "p50_last_fifth_ms": _ms(tail, 50),
    }


# --------------------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------------------


@dataclass
class Seeded:
    admin: str
    sender: str
    reader: str
    password: str
    auth_room: str
    hook_in_room: str
    hook_out_room: str


async def seed_accounts(env: dict[str, str]) -> Seeded:
    """An admin (makes the hooks), a sender (every measured request) and a reader (the
    WebSocket peer), and three channels, through the actions before serving."""
    from redoubt.actions.rooms import do_add_member, do_create_room
    from redoubt.actions.users import do_create_user
    from redoubt.container import Container
    from redoubt.core.ids import parse_id
    from redoubt.core.settings import load_settings
    from redoubt.domain.enums import RoomKind, UserRole
    from redoubt.queries.context import Requester

    container = Container(load_settings(env))
    ctx = container.context
    password = secrets.token_urlsafe(18)
    try:
        users = {}
        for name, role in (
            ("bench-admin", UserRole.ADMIN),
            ("bench-sender", UserRole.USER),
            ("bench-reader", UserRole.USER),
        ):
            users[name] = await do_create_user(
                ctx,
                username=name,
                display_name=None,
                password=password,
                role=role,
                acting_user=None,
            )
        owner = Requester(user=users["bench-sender"], session_id=None, ip=HOST)
        rooms = {}
        for name in ("bench-auth", "bench-hook-in", "bench-hook-out"):
            room = await do_create_room(
                ctx, name=name, kind=RoomKind.CHANNEL, topic="", acting_user=owner
            )
            room_id = parse_id(room.id)
            assert room_id is not None
            rooms[name] = room.id
            if name != "bench-auth":
                await do_add_member(ctx, room_id, users["bench-admin"].id, acting_user=owner)
            if name == "bench-hook-out":
                await do_add_member(ctx, room_id, users["bench-reader"].id, acting_user=owner)
    finally:
        await container.database.dispose()
    return Seeded(
        admin="bench-admin",
        sender="bench-sender",
        reader="bench-reader",
        password=password,
        auth_room=rooms["bench-auth"],
        hook_in_room=rooms["bench-hook-in"],
        hook_out_room=rooms["bench-hook-out"],
    )


def server_env(data_dir: Path, receiver_port: int) -> dict[str, str]:
    env = bench_env(data_dir)
    env.update(
        {
            # The bench's admin signs in with a password only (it makes the hooks).
            "REDOUBT_REQUIRE_2FA_ROLES": "[]",
            # One hook takes every signed request (the default is 60 a minute).
            "REDOUBT_INCOMING_HOOK_PER_MINUTE": "10000000",
            # The outgoing hook's receiver is this script, on loopback.
            "REDOUBT_EGRESS_ALLOW_NETWORKS": json.dumps([f"{HOST}/32"]),
            "REDOUBT_EGRESS_ALLOWED_PORTS": json.dumps([80, 443, receiver_port]),
        }
    )
    return env


async def api_post(
    http: httpx.AsyncClient, path: str, token: str, body: dict[str, Any]
) -> dict[str, Any]:
    resp = await http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    if resp.status_code not in (200, 201):
        raise RuntimeError(f"setup request {path} failed: HTTP {resp.status_code} {resp.text}")
    data: dict[str, Any] = resp.json()
    return data


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


def bearer(token: str) -> Build:
    headers = {"Authorization": f"Bearer {token}"}
    return lambda _i: (headers, b"")


def bearer_post(token: str, tag: str) -> Build:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def build(i: int) -> tuple[dict[str, str], bytes]:
        return headers, json.dumps({"text": f"integrations bench {tag} {i}"}).encode()

    return build


def signed_hook_post(secret: str) -> Build:
    def build(i: int) -> tuple[dict[str, str], bytes]:
        # A different body each time: a signature is accepted once (replay protection).
        body = json.dumps({"text": f"integrations bench hook {i}"}).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        return headers, body

    return build


async def run(args: argparse.Namespace, children: Children, work: Path) -> int:
    out_count = max(10, round(args.out_rate * args.duration))
    print(
        f"Redoubt integrations benchmark: {args.concurrency} closed-loop clients, "
        f"{args.duration:g} s per path in alternating slices of ~{args.slice:g} s; "
        f"outgoing hook: {out_count} posts at {args.out_rate:g}/s",
        flush=True,
    )
    receiver = HookReceiver()
    await receiver.start()
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    targets: list[Target] = []
    try:
        return await _run(
            args, children, work, receiver=receiver, pool=pool, targets=targets, out_count=out_count
        )
    finally:
        receiver.close()
        while not pool.empty():
            pool.get_nowait().close()
        for target in targets:
            for conn in target.conns:
                conn.close()


async def _run(
    args: argparse.Namespace,
    children: Children,
    work: Path,
    *,
    receiver: HookReceiver,
    pool: asyncio.Queue[HttpConnection],
    targets: list[Target],
    out_count: int,
) -> int:
    data_dir = work / "data"
    env = server_env(data_dir, receiver.port)
    cmd = redoubt_command()
    t0 = time.monotonic()
    await upgrade_database(cmd, env, data_dir)
    seeded = await asyncio.wait_for(seed_accounts(env), SETUP_TIMEOUT)
    print(f"  setup: database, 3 users, 3 rooms in {time.monotonic() - t0:.1f} s", flush=True)

    port = free_port()
    base_url, server = await start_server(children, cmd, env, work, data_dir, port=port)
    admin_token, sender_token, reader_token = await login_all(
        base_url, [seeded.admin, seeded.sender, seeded.reader], seeded.password
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
        read_pat = await api_post(
            http, f"{API}/tokens", sender_token, {"name": "bench-read", "scopes": ["users:read"]}
        )
        write_pat = await api_post(
            http,
            f"{API}/tokens",
            sender_token,
            {"name": "bench-write", "scopes": ["messages:write"]},
        )
        hook_in = await api_post(
            http,
            f"{API}/admin/hooks/incoming",
            admin_token,
            {"name": "bench-in", "room_id": seeded.hook_in_room},
        )
        hook_out = await api_post(
            http,
            f"{API}/admin/hooks/outgoing",
            admin_token,
            {
                "name": "bench-out",
                "url": f"http://{HOST}:{receiver.port}/hook",
                "room_ids": [seeded.hook_out_room],
                "events": ["message.posted"],
            },
        )
    receiver.secret = str(hook_out["secret"])
    print(
        f"  tokens, incoming hook {hook_in['hook']['id']} and outgoing hook "
        f"{hook_out['hook']['id']} (to {HOST}:{receiver.port}) made over the API",
        flush=True,
    )

    auth_messages = f"{API}/rooms/{seeded.auth_room}/messages"
    hook_in_messages = f"{API}/rooms/{seeded.hook_in_room}/messages"
    me = f"{API}/users/me"
    pairs: list[tuple[str, Target, Target]] = [
        (
            "GET /users/me",
            Target("me_session", "session", "GET", me, 200, bearer(sender_token)),
            Target("me_token", "token users:read", "GET", me, 200, bearer(read_pat["secret"])),
        ),
        (
            "POST message",
            Target(
                "post_session",
                "session",
                "POST",
                auth_messages,
                201,
                bearer_post(sender_token, "session"),
            ),
            Target(
                "post_token",
                "token messages:write",
                "POST",
                auth_messages,
                201,
                bearer_post(write_pat["secret"], "token"),
            ),
        ),
        (
            "incoming webhook",
            Target(
                "in_plain",
                "plain POST (session)",
                "POST",
                hook_in_messages,
                201,
                bearer_post(sender_token, "plain"),
            ),
            Target(
                "in_hook",
                "signed POST /hooks/{id}",
                "POST",
                f"{API}/hooks/{hook_in['hook']['id']}",
                200,
                signed_hook_post(str(hook_in["secret"])),
            ),
        ),
    ]
    for _, a, b in pairs:
        targets += [a, b]
    for target in targets:
        target.conns = [HttpConnection(port) for _ in range(args.concurrency)]
        for conn in target.conns:
            await conn.open()

    counter = itertools.count()
    cpu_server_0 = proc_cpu_seconds(server.pid)
    cpu_self_0 = self_cpu_seconds()
    cpu_all_0 = machine_busy_seconds()
    t_start = time.monotonic()
    for title, a, b in pairs:
        await measure_pair(
            a,
            b,
            duration=args.duration,
            slice_s=args.slice,
            server_pid=server.pid,
            counter=counter,
        )
        print_pair(title, a, b)

    # --- outgoing webhook ------------------------------------------------------------
    for _ in range(OUT_CONNECTIONS):
        conn = HttpConnection(port)
        await conn.open()
        pool.put_nowait(conn)
    reader = await connect_reader(port, reader_token)
    try:
        out_path = f"{API}/rooms/{seeded.hook_out_room}/messages"
        warm = await post_open_loop(
            pool, out_path, sender_token, rate=args.out_rate, count=OUT_WARMUP_POSTS, tag="warm"
        )
        await wait_delivered(receiver, reader, warm, DRAIN_TIMEOUT)
        cpu0 = proc_cpu_seconds(server.pid)
        posts = await post_open_loop(
            pool, out_path, sender_token, rate=args.out_rate, count=out_count, tag="out"
        )
        await wait_delivered(receiver, reader, posts, DRAIN_TIMEOUT + out_count / args.out_rate)
        out_cpu = proc_cpu_seconds(server.pid) - cpu0
        await asyncio.sleep(DUPLICATE_GRACE)
        check = check_deliveries(warm + posts, receiver, reader)
        hook_arrival: dict[str, float] = {}
        for r in receiver.receipts:
            hook_arrival.setdefault(r.message_id, r.t)
        ws_arrival = dict(zip(reader.msg_id, reader.msg_t, strict=True))
    finally:
        reader.close()
    elapsed = time.monotonic() - t_start
    cpu_server = proc_cpu_seconds(server.pid) - cpu_server_0
    cpu_self = self_cpu_seconds() - cpu_self_0
    cpu_other = machine_busy_seconds() - cpu_all_0 - cpu_server - cpu_self

    acked = sorted(p.ack - p.due for p in posts if p.message_id)
    hook_figures = delivery_figures(posts, hook_arrival)
    ws_figures = delivery_figures(posts, ws_arrival)
    outgoing = {
        "rate": args.out_rate,
        "posts": out_count,
        "warmup_posts": OUT_WARMUP_POSTS,
        "post_ack_ms": {"p50": _ms(acked, 50), "p99": _ms(acked, 99)},
        "webhook": hook_figures,
        "websocket": ws_figures,
        "ratio_webhook_to_websocket": {
            "per_s": _ratio(hook_figures["per_s"], ws_figures["per_s"]),
            "p50": _ratio(hook_figures["p50_ms"], ws_figures["p50_ms"]),
            "p99": _ratio(hook_figures["p99_ms"], ws_figures["p99_ms"]),
        },
        "server_cpu_ms_per_message": round(out_cpu / max(len(acked), 1) * 1e3, 3),
        "check": check.summary(),
        "ok": check.ok,
        "lost": check.lost,
        "duplicated": check.duplicated,
        "receiver_errors": check.receiver_errors,
        "post_failure_examples": [p.error for p in posts if p.error][:5],
    }
    print_outgoing(outgoing)

    report: dict[str, Any] = {
        "benchmark": "integrations",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": reproduce_command(args),
        "duration_s": args.duration,
        "concurrency": args.concurrency,
        "slice_s": args.slice,
        "paths": {t.key: t.summary() for t in targets},
        "ratios": {
            "token_to_session_users_me": compare(pairs[0][1], pairs[0][2]),
            "token_to_session_post": compare(pairs[1][1], pairs[1][2]),
            "incoming_hook_to_plain_post": compare(pairs[2][1], pairs[2][2]),
        },
        "outgoing": outgoing,
        "server_cpu_s": round(cpu_server, 3),
        "load_generator_cpu_s": round(cpu_self, 3),
        "other_processes_cores": round(max(cpu_other, 0.0) / elapsed, 2),
        "machine": machine(),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result_path = RESULTS_DIR / f"integrations-{stamp}.json"
    result_path.write_text(json.dumps(report, indent=2) + "\n")
    if report["other_processes_cores"] > 0.15:
        print(
            f"  WARNING: other processes kept {report['other_processes_cores']:.2f} cores busy "
            "on average during the run; absolute figures understate the server (the ratios "
            "are measured in alternating slices and hold up better)"
        )
    mach = report["machine"]
    print(
        f"  note: server and load generator share this machine's {mach['nproc']} cores "
        f"({mach['cpu']}, Python {mach['python']})"
    )
    print(f"  result file: {result_path.relative_to(REPO_ROOT)}")
    print(f"  reproduce:   {report['command']}")
    failed = any(t.failures for t in targets) or not check.ok
    return 1 if failed else 0


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _row(group: str, label: str, cells: Sequence[str]) -> str:
    per_s, p50, p99, cpu = cells
    return f"  {group:<18} {label:<26} {per_s:>10} {p50:>9} {p99:>9} {cpu:>14}".rstrip()


def print_pair(title: str, a: Target, b: Target) -> None:
    print()
    print(_row("", "", ("req/s", "p50 ms", "p99 ms", "server CPU ms")))
    for group, target in ((title, a), ("", b)):
        s = target.summary()
        cells = (
            _fmt(s["per_s"], ",.1f"),
            _fmt(s["p50_ms"], ".2f"),
            _fmt(s["p99_ms"], ".2f"),
            _fmt(s["server_cpu_ms_per_request"], ".3f"),
        )
        print(_row(group, s["label"], cells))
        if s["failures"]:
            print(f"  {'':<18} FAILED: {s['failures']} requests, e.g. {s['failure_examples'][0]}")
    r = compare(a, b)
    label = "ratio hook / plain" if title.startswith("incoming") else "ratio token / session"
    ratios = (r["per_s"], r["p50"], r["p99"], r["server_cpu_per_request"])
    print(_row("", label, tuple(_fmt(x, ".2f") + "x" for x in ratios)), flush=True)


def print_outgoing(o: dict[str, Any]) -> None:
    print()
    print(_row("", "", ("deliv./s", "p50 ms", "p99 ms", "")))
    for group, label, f in (
        ("outgoing webhook", "WebSocket member", o["websocket"]),
        ("", "webhook receiver", o["webhook"]),
    ):
        cells = (_fmt(f["per_s"], ",.1f"), _fmt(f["p50_ms"], ".2f"), _fmt(f["p99_ms"], ".2f"), "")
        print(_row(group, label, cells))
    r = o["ratio_webhook_to_websocket"]
    ratios = tuple(_fmt(r[k], ".2f") + "x" for k in ("per_s", "p50", "p99"))
    print(_row("", "ratio webhook / WebSocket", (*ratios, "")))
    hook = o["webhook"]
    print(
        f"  {o['posts']} posts at {o['rate']:g}/s (open loop, latency from the due time); "
        f"post ack p50 {_fmt(o['post_ack_ms']['p50'], '.2f')} ms, "
        f"p99 {_fmt(o['post_ack_ms']['p99'], '.2f')} ms; webhook p50 first fifth "
        f"{_fmt(hook.get('p50_first_fifth_ms'), '.2f')} ms, last fifth "
        f"{_fmt(hook.get('p50_last_fifth_ms'), '.2f')} ms; server CPU "
        f"{o['server_cpu_ms_per_message']:.2f} ms per message (post + WebSocket + delivery)"
    )
    print(f"  check: {o['check']}", flush=True)


def reproduce_command(args: argparse.Namespace) -> str:
    argv = ["uv", "run", "python", "bench/integrations.py"]
    argv += ["--duration", f"{args.duration:g}", "--concurrency", str(args.concurrency)]
    argv += ["--slice", f"{args.slice:g}", "--out-rate", f"{args.out_rate:g}"]
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness:
        argv = ["nice", "-n", str(niceness), *argv]
    return shlex.join(argv)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Redoubt API token and webhook costs as ratios against their peer paths "
        "(starts its own server)."
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="seconds per closed-loop path; the outgoing phase posts for as long (default 10)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="closed-loop clients per path, each on its own connection (default 4)",
    )
    parser.add_argument(
        "--slice",
        type=float,
        default=1.0,
        help="length of one alternating slice of a pair, in seconds (default 1)",
    )
    parser.add_argument(
        "--out-rate",
        type=float,
        default=20.0,
        help="posts per second into the room with the outgoing hook (default 20)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary data folder and server log"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 600:
        parser.error("--duration must be 1..600")
    if not 1 <= args.concurrency <= 256:
        parser.error("--concurrency must be 1..256")
    if not 0.1 <= args.slice <= args.duration:
        parser.error("--slice must be 0.1..--duration")
    if not 0 < args.out_rate <= 1000:
        parser.error("--out-rate must be in (0, 1000]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    install_uvloop()
    return run_benchmark(run, args, prefix="redoubt-bench-integrations-")


if __name__ == "__main__":
    sys.exit(main())
