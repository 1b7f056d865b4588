"""WebSocket fan-out benchmark: one sender, N receivers in one room, M messages.

Run from the repository root::

    uv run python bench/ws_fanout.py --clients 100 --messages 1000
    uv run python bench/ws_fanout.py --clients 1000 --messages 200
    uv run python bench/ws_fanout.py --clients 1000 --messages 240 --rate 20

What it does, in order:

1. Creates a temporary data folder and runs ``redoubt db upgrade`` in it.
2. Creates a sender and N receivers through the real actions
   (``do_create_user``, ``do_create_room``, ``do_add_member``) with a cheap Argon2
   cost for these benchmark accounts, and puts everyone in one channel.
3. Starts ``redoubt serve`` as a separate process on a free loopback port (the
   embedded default: SQLite, in-process bus) with generous rate limits.
4. Logs everyone in over REST and connects N WebSocket clients (hello frame with the
   token) from one or more receiver processes, then waits until the connect-time
   presence traffic has died down.
5. Posts M messages over one keep-alive HTTP connection, one after the other (closed
   loop), or at a fixed rate over a small connection pool (``--rate``, open loop).
6. Checks that every client got every message exactly once and in order, prints the
   figures and writes them to ``bench/results/*.json``. Exits 1 when a delivery was
   lost, repeated or out of order, or when a post failed.

Clock: send and receive times are ``time.monotonic()`` (CLOCK_MONOTONIC, one clock for
every process on a Linux machine), so post-to-delivery latency is comparable across
the sender and receiver processes.

The receivers use a minimal WebSocket client written for this benchmark (server
frames are unmasked and parsed straight from the socket buffer; no JSON decoding on
the hot path) so that the load generator costs well under half the CPU per delivery
that the server it measures does. The server still shares the machine's cores with the load
generator; the output says how much CPU each side used.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

from typing_extensions import override

__all__ = ["main"]

SCRIPT = Path(__file__).resolve()
BENCH_DIR = SCRIPT.parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"
ROOM_NAME = "bench-fanout"
WS_PATH = "/api/v1/events"
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Time limits (seconds). Every wait in this file is bounded by one of these.
SERVER_START_TIMEOUT = 60.0
SETUP_TIMEOUT = 300.0
CONNECT_TIMEOUT = 180.0
QUIET_PERIOD = 0.5
REQUEST_TIMEOUT = 30.0
DRAIN_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

WARMUP = 20
"""Posts to a receiver-less room before measuring (first-use SQL compilation)."""
_LOGIN_CONCURRENCY = 16
_CONNECT_CONCURRENCY = 64

# Server frames are built as {"seq":N,"type":"...","data":{...}} (see
# redoubt.storage.database.build_frame) and a message's first field is its id.
_FAST_MESSAGE = re.compile(rb'\{"seq":(\d+),"type":"([a-z_.]+)","data":\{"id":"(\d+)"')
_FAST_SEQ = re.compile(rb'\{"seq":(\d+),"type":"([a-z_.]+)"')
_MESSAGE_CREATED = b"message.created"


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already-sorted values (q in [0, 100])."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100.0 * len(sorted_values))))
    return float(sorted_values[rank - 1])


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit (inherited by the server and the receivers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    if soft < needed:
        raise SystemExit(
            f"RLIMIT_NOFILE is {soft} (hard {hard}); this run needs about {needed} "
            "file descriptors. Raise the hard limit (ulimit -Hn) and retry."
        )
    return soft, hard


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS (KiB) of a process."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "Threads"):
            out[key] = int(value.split()[0])
    return out


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = raw.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used (all cores), from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return float("nan")
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait
    busy = sum(int(x) for i, x in enumerate(first[1:9]) if i not in (3, 4))
    return busy / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def install_uvloop() -> str:
    """Use uvloop when it is there (a server dependency): a cheaper load generator."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


# --------------------------------------------------------------------------------------
# A minimal WebSocket client (RFC 6455 + RFC 7692), receive side optimised
# --------------------------------------------------------------------------------------


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if n == 0:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked, final client frame."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    key = os.urandom(4)
    return head + key + _mask(payload, key)


class WsReceiver(asyncio.Protocol):
    """One receiving client: handshake, hello, then record every event it is sent."""

    def __init__(
        self,
        index: int,
        *,
        host: str,
        port: int,
        token: str,
        deflate: bool,
        expected: int,
        on_frame: Callable[[float], None],
        on_done: Callable[[WsReceiver], None],
    ) -> None:
        self.index = index
        self._host = host
        self._port = port
        self._token = token
        self._offer_deflate = deflate
        self.expected = expected
        self._on_frame = on_frame
        self._on_done = on_done
        self._transport: asyncio.Transport | None = None
        self._key = base64.b64encode(os.urandom(16))
        self._buf = bytearray()
        self._handshaken = False
        self._inflate: Any = None  # zlib decompressobj when permessage-deflate is on
        self._reset_inflate = False
        self._fragments: list[bytes] = []
        self._fragment_compressed = False
        self.ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.ready_seq = -1
        self.msg_seq: list[int] = []
        self.msg_id: list[str] = []
        self.msg_t: list[float] = []
        self.last_seq = -1
        self.seq_frames = 0
        self.seq_order_errors = 0
        self.ephemeral_frames = 0
        self.other_events: dict[str, int] = {}
        self.errors: list[str] = []
        self.close_code: int | None = None
        self.done = False
        self.deflate = False

    # --- asyncio.Protocol -----------------------------------------------------------

    @override
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)  # uvloop's isn't a subclass
        lines = [
            f"GET {WS_PATH} HTTP/1.1",
            f"Host: {self._host}:{self._port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if self._offer_deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        self._transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    @override
    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done:
            self.errors.append(
                f"connection lost before all messages arrived (close code {self.close_code}, "
                f"{exc!r})"
            )
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"client {self.index}: connection lost"))
        self._finish()

    @override
    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self._buf
        buf += data
        if not self._handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 4]
            if not self._handshake(head):
                return
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            start = pos + 2
            if length == 126:
                if size - start < 2:
                    break
                length = int.from_bytes(buf[start : start + 2], "big")
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = int.from_bytes(buf[start : start + 8], "big")
                start += 8
            if b1 & 0x80:  # servers never mask
                self._fail("masked frame from the server")
                return
            end = start + length
            if end > size:
                break
            payload = bytes(buf[start:end])
            pos = end
            self._frame(b0, payload, now)
            if self._transport is None:
                return
        if pos:
            del buf[:pos]

    # --- internals ------------------------------------------------------------------

    def _handshake(self, head: str) -> bool:
        status_line, *header_lines = head.split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        digest = hashlib.sha1(self._key + _WS_GUID).digest()  # noqa: S324 - RFC 6455 says SHA-1
        accept = base64.b64encode(digest).decode()
        if not status_line.startswith("HTTP/1.1 101") or (
            headers.get("sec-websocket-accept") != accept
        ):
            self._fail(f"WebSocket handshake refused: {status_line!r}")
            return False
        extensions = headers.get("sec-websocket-extensions", "")
        if "permessage-deflate" in extensions:
            self._inflate = zlib.decompressobj(-15)
            self._reset_inflate = "server_no_context_takeover" in extensions
            self.deflate = True
        self._handshaken = True
        hello = json.dumps({"type": "hello", "token": self._token, "since": None}).encode()
        assert self._transport is not None
        self._transport.write(_client_frame(0x1, hello))
        return True

    def _frame(self, b0: int, payload: bytes, now: float) -> None:
        opcode = b0 & 0x0F
        if opcode >= 0x8:  # control frames: never fragmented, never compressed
            if opcode == 0x9:
                assert self._transport is not None
                self._transport.write(_client_frame(0xA, payload))
            elif opcode == 0x8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if not self.done:
                    self.errors.append(
                        f"server closed the connection: {self.close_code} "
                        f"{payload[2:].decode(errors='replace')}"
                    )
                self._close_transport()
            return
        if opcode != 0x0:
            self._fragment_compressed = bool(b0 & 0x40)
        if not b0 & 0x80:
            self._fragments.append(payload)
            return
        if self._fragments:
            payload = b"".join(self._fragments) + payload
            self._fragments = []
        if self._fragment_compressed:
            payload = self._inflate.decompress(payload + b"\x00\x00\xff\xff")
            if self._reset_inflate:
                self._inflate = zlib.decompressobj(-15)
        self._message(payload, now)

    def _message(self, payload: bytes, now: float) -> None:
        self._on_frame(now)  # data frames only: the server's pings never stop
        match = _FAST_MESSAGE.match(payload)
        if match is not None:
            seq, type_, id_ = int(match[1]), match[2], match[3]
        else:
            match = _FAST_SEQ.match(payload)
            if match is not None:
                seq, type_, id_ = int(match[1]), match[2], b""
            else:
                self._slow_message(payload)
                return
        if seq <= self.last_seq:
            self.seq_order_errors += 1
        self.last_seq = seq
        self.seq_frames += 1
        if type_ == _MESSAGE_CREATED:
            if not id_:
                id_ = str(json.loads(payload)["data"]["id"]).encode()
            self.msg_seq.append(seq)
            self.msg_id.append(id_.decode())
            self.msg_t.append(now)
            if len(self.msg_id) >= self.expected and not self.done:
                self.done = True
                self._on_done(self)
        else:
            name = type_.decode()
            self.other_events[name] = self.other_events.get(name, 0) + 1

    def _slow_message(self, payload: bytes) -> None:
        try:
            frame = json.loads(payload)
        except ValueError:
            self.errors.append(f"undecodable frame: {payload[:80]!r}")
            return
        kind = frame.get("type")
        if kind == "ready":
            self.ready_seq = int(frame["seq"])
            self.last_seq = self.ready_seq
            if not self.ready.done():
                self.ready.set_result(self.ready_seq)
        elif "seq" in frame:
            self.errors.append(f"event frame in an unexpected shape: {payload[:80]!r}")
        elif kind == "error":
            self.errors.append(f"server error frame: {frame}")
            if not self.ready.done():
                self.ready.set_exception(ConnectionError(f"client {self.index}: {frame}"))
        else:
            self.ephemeral_frames += 1

    def _fail(self, reason: str) -> None:
        self.errors.append(reason)
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"client {self.index}: {reason}"))
        self._close_transport()

    def _close_transport(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _finish(self) -> None:
        self._transport = None

    def close(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.write(_client_frame(0x8, (1000).to_bytes(2, "big")))
            self.done = True  # a close we asked for is not an error
            self._close_transport()

    def result(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "ready_seq": self.ready_seq,
            "msg_seq": self.msg_seq,
            "msg_id": self.msg_id,
            "msg_t": self.msg_t,
            "seq_frames": self.seq_frames,
            "seq_order_errors": self.seq_order_errors,
            "ephemeral_frames": self.ephemeral_frames,
            "other_events": self.other_events,
            "errors": self.errors[:10],
            "close_code": self.close_code,
            "deflate": self.deflate,
        }


# --------------------------------------------------------------------------------------
# Receiver process (``--worker``): config on stdin, "ready"/"done" lines on stdout
# --------------------------------------------------------------------------------------


@dataclass
class WorkerConfig:
    port: int
    tokens: list[str]
    first_index: int
    expected: int
    deflate: bool
    out_path: str
    deadline_s: float


async def _worker_main(out: TextIO) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    first = await asyncio.wait_for(reader.readline(), SETUP_TIMEOUT)
    if not first:
        return
    config = WorkerConfig(**json.loads(first))
    last_frame = [time.monotonic()]
    remaining = [len(config.tokens)]
    all_done = asyncio.Event()

    def on_frame(now: float) -> None:
        last_frame[0] = now

    def on_done(_client: WsReceiver) -> None:
        remaining[0] -= 1
        if remaining[0] <= 0:
            all_done.set()

    stop_requested = asyncio.Event()
    exit_requested = asyncio.Event()

    async def watch_stdin() -> None:
        # "stop": report what arrived so far. "exit" (or EOF: the parent is gone): close.
        while True:
            line = (await reader.readline()).strip()
            if line == b"stop":
                stop_requested.set()
            elif not line or line == b"exit":
                stop_requested.set()
                exit_requested.set()
                return

    watcher = asyncio.create_task(watch_stdin())
    clients: list[WsReceiver] = []
    semaphore = asyncio.Semaphore(_CONNECT_CONCURRENCY)

    async def connect(i: int, token: str) -> WsReceiver:
        async with semaphore:
            client: WsReceiver | None = None

            def factory() -> WsReceiver:
                nonlocal client
                client = WsReceiver(
                    config.first_index + i,
                    host=HOST,
                    port=config.port,
                    token=token,
                    deflate=config.deflate,
                    expected=config.expected,
                    on_frame=on_frame,
                    on_done=on_done,
                )
                return client

            await loop.create_connection(factory, HOST, config.port)
            assert client is not None
            await asyncio.wait_for(client.ready, REQUEST_TIMEOUT)
            return client

    started = time.monotonic()
    try:
        clients = list(
            await asyncio.wait_for(
                asyncio.gather(*(connect(i, t) for i, t in enumerate(config.tokens))),
                CONNECT_TIMEOUT,
            )
        )
        connected = time.monotonic()
        # Wait for the connect-time presence frames (one per user, to every client) to stop.
        for _ in range(int(CONNECT_TIMEOUT / 0.1)):
            if time.monotonic() - last_frame[0] >= QUIET_PERIOD:
                break
            await asyncio.sleep(0.1)
        ephemeral = sum(c.ephemeral_frames for c in clients)
        cpu_ready = self_cpu_seconds()
        print(
            json.dumps(
                {
                    "ready": True,
                    "connect_s": connected - started,
                    "settle_s": time.monotonic() - connected,
                    "ephemeral_frames": ephemeral,
                }
            ),
            file=out,
            flush=True,
        )
        if config.expected == 0:
            all_done.set()
        done_wait = asyncio.create_task(all_done.wait())
        stop_wait = asyncio.create_task(stop_requested.wait())
        await asyncio.wait(
            {done_wait, stop_wait}, timeout=config.deadline_s, return_when=asyncio.FIRST_COMPLETED
        )
        done_wait.cancel()
        stop_wait.cancel()
        finished = time.monotonic()
        cpu_finished = self_cpu_seconds()
        # Anything extra (a duplicate) would arrive right behind the last message.
        await asyncio.sleep(0.3)
        report = json.dumps(
            {
                "clients": [c.result() for c in clients],
                "cpu_s": cpu_finished - cpu_ready,
                "finished_at": finished,
                "complete": remaining[0] <= 0,
            }
        )
        await asyncio.to_thread(Path(config.out_path).write_text, report)
        print(json.dumps({"done": True}), file=out, flush=True)
        # Stay connected until the parent has read the server's figures: a thousand
        # disconnects cost the server a presence storm that isn't part of the run.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(exit_requested.wait(), SETUP_TIMEOUT)
    finally:
        watcher.cancel()
        for client in clients:
            client.close()


def run_worker() -> int:
    install_uvloop()
    # stdout carries the protocol lines; keep a private handle so prints elsewhere can't
    # interleave with them.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr
    try:
        asyncio.run(_worker_main(out))
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), file=out, flush=True)
        return 1
    return 0


# --------------------------------------------------------------------------------------
# A minimal keep-alive HTTP/1.1 client for the sender
# --------------------------------------------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection: ``request`` answers (status, body)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.close()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, self._port), REQUEST_TIMEOUT
        )
        self._reader, self._writer = reader, writer
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._reader = None

    async def post_json(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return await self.request("POST", path, headers, body)

    async def request(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes]:
        if self._reader is None or self._writer is None:
            await self.open()
        assert self._reader is not None
        assert self._writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self._port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self._reader.readexactly(size + 2))
                if size == 0:
                    break
            return status, b"".join(p[:-2] for p in parts)
        if length < 0:
            raise RuntimeError("response without Content-Length on a keep-alive connection")
        return status, await self._reader.readexactly(length)


async def connect_reader(port: int, token: str) -> WsReceiver:
    """A WebSocket member that only waits for ``ready`` (latencies are read from it)."""
    loop = asyncio.get_running_loop()
    receiver: WsReceiver | None = None

    def factory() -> WsReceiver:
        nonlocal receiver
        receiver = WsReceiver(
            0,
            host=HOST,
            port=port,
            token=token,
            deflate=False,
            expected=sys.maxsize,
            on_frame=lambda _now: None,
            on_done=lambda _client: None,
        )
        return receiver

    await loop.create_connection(factory, HOST, port)
    assert receiver is not None
    await asyncio.wait_for(receiver.ready, REQUEST_TIMEOUT)
    return receiver


@dataclass
class Sent:
    index: int
    t_send: float
    """When the request was due (open loop) or written (closed loop): latency origin."""
    t_written: float
    t_ack: float = float("nan")
    status: int = 0
    message_id: str = ""
    position: int = -1
    error: str = ""


async def _post_one(conn: HttpConnection, sent: Sent, path: str, token: str) -> None:
    body = json.dumps({"text": f"bench {sent.index} t={sent.t_send:.6f}"}).encode()
    try:
        status, raw = await asyncio.wait_for(conn.post_json(path, body, token), REQUEST_TIMEOUT)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        sent.error = f"{type(exc).__name__}: {exc}"
        raise
    sent.t_ack = time.monotonic()
    sent.status = status
    if status != 201:
        sent.error = f"HTTP {status}: {raw[:200]!r}"
        return
    view = json.loads(raw)
    sent.message_id = str(view["id"])
    sent.position = int(view["position"])


async def send_closed_loop(port: int, path: str, token: str, count: int) -> list[Sent]:
    conn = HttpConnection(port)
    await conn.open()
    out: list[Sent] = []
    try:
        for i in range(count):
            now = time.monotonic()
            sent = Sent(i, now, now)
            out.append(sent)
            try:
                await _post_one(conn, sent, path, token)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                break
    finally:
        conn.close()
    return out


async def send_open_loop(
    port: int, path: str, token: str, *, count: int, rate: float, connections: int
) -> list[Sent]:
    """Requests due at start + i / rate, whatever happened to earlier ones."""
    queue: asyncio.Queue[Sent | None] = asyncio.Queue()
    out: list[Sent] = []
    broken: list[str] = []

    conns = [HttpConnection(port) for _ in range(connections)]
    await asyncio.wait_for(asyncio.gather(*(c.open() for c in conns)), REQUEST_TIMEOUT)

    async def worker(conn: HttpConnection) -> None:
        try:
            while (sent := await queue.get()) is not None:
                sent.t_written = time.monotonic()
                try:
                    await _post_one(conn, sent, path, token)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                    broken.append(sent.error)
                    return
        finally:
            conn.close()

    workers = [asyncio.create_task(worker(c)) for c in conns]
    start = time.monotonic() + 0.05
    try:
        for i in range(count):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if broken:
                break
            sent = Sent(i, due, float("nan"))
            out.append(sent)
            queue.put_nowait(sent)
        for _ in workers:
            queue.put_nowait(None)
        await asyncio.wait_for(asyncio.gather(*workers), REQUEST_TIMEOUT + count / rate)
    finally:
        for task in workers:
            task.cancel()
        for conn in conns:
            conn.close()
    return out


async def warm_up(port: int, path: str, token: str, count: int) -> None:
    """Posts to a room no receiver is in: compiles the post path's SQL before measuring."""
    conn = HttpConnection(port)
    await conn.open()
    try:
        for i in range(count):
            sent = Sent(-1 - i, time.monotonic(), time.monotonic())
            await _post_one(conn, sent, path, token)
            if sent.error:
                raise RuntimeError(f"warm-up post failed: {sent.error}")
    finally:
        conn.close()


# --------------------------------------------------------------------------------------
# Child processes: the server and the receivers
# --------------------------------------------------------------------------------------


@dataclass
class Children:
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        # A session of its own: Ctrl-C reaches only this script, which stops the children
        # in order (server last) instead of every process dying at once.
        proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(STOP_TIMEOUT)
        self.procs.clear()


def bench_env(data_dir: Path) -> dict[str, str]:
    """The environment for ``redoubt``: the embedded default, cheap hashes, no limits.

    Inherited ``REDOUBT_*`` variables are dropped so that a developer's PostgreSQL or
    Redis settings can't turn this into a different benchmark.
    """
    from redoubt.core.settings import Settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("REDOUBT_")}
    # Every rate limit (login, posting, connects per address, ...) out of the way: one
    # address opens all the connections and one user posts everything.
    for name in Settings.model_fields:
        if name.startswith("rate_"):
            env[f"REDOUBT_{name.upper()}"] = "10000000"
    env.update(
        {
            "REDOUBT_DATA_DIR": str(data_dir),
            # Benchmark accounts only: a cheap Argon2 cost so that 1000 logins take seconds.
            "REDOUBT_ARGON2_TIME_COST": "1",
            "REDOUBT_ARGON2_MEMORY_KIB": "64",
            # The defaults (JSON access log at info): what a deployment runs with.
            "REDOUBT_LOG_JSON": "true",
            "REDOUBT_LOG_LEVEL": "info",
        }
    )
    return env


def redoubt_command() -> list[str]:
    script = Path(sys.executable).parent / "redoubt"
    if script.exists():
        return [str(script)]
    found = shutil.which("redoubt")
    if found is None:
        raise SystemExit("The `redoubt` command is not installed; run `uv sync` first.")
    return [found]


@dataclass
class Seed:
    sender: str
    receivers: list[str]
    password: str
    room_id: str
    warmup_room_id: str


async def seed(env: dict[str, str], receivers: int) -> Seed:
    """Users, one room, memberships: straight through the actions, before serving."""
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
    names = [f"bench-r{i:05d}" for i in range(receivers)]
    try:
        sender = await do_create_user(
            ctx,
            username="bench-sender",
            display_name="Bench Sender",
            password=password,
            role=UserRole.USER,
            acting_user=None,
        )
        receiver_ids = []
        for name in names:
            user = await do_create_user(
                ctx,
                username=name,
                display_name=None,
                password=password,
                role=UserRole.USER,
                acting_user=None,
            )
            receiver_ids.append(user.id)
        owner = Requester(user=sender, session_id=None, ip=HOST)
        warmup = await do_create_room(
            ctx, name=f"{ROOM_NAME}-warmup", kind=RoomKind.CHANNEL, topic="", acting_user=owner
        )
        room = await do_create_room(
            ctx,
            name=ROOM_NAME,
            kind=RoomKind.CHANNEL,
            topic="fan-out benchmark",
            acting_user=owner,
        )
        room_id = parse_id(room.id)
        assert room_id is not None
        for user_id in receiver_ids:
            await do_add_member(ctx, room_id, user_id, acting_user=owner)
    finally:
        await container.database.dispose()
    return Seed(
        sender="bench-sender",
        receivers=names,
        password=password,
        room_id=room.id,
        warmup_room_id=warmup.id,
    )


async def upgrade_database(cmd: list[str], env: dict[str, str], data_dir: Path) -> None:
    """``redoubt db upgrade`` into ``data_dir``, as a fresh deployment does it."""
    await asyncio.to_thread(
        subprocess.run,
        [*cmd, "db", "upgrade", "--data-dir", str(data_dir)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=SETUP_TIMEOUT,
    )


async def start_server(
    children: Children,
    cmd: list[str],
    env: dict[str, str],
    work: Path,
    data_dir: Path,
    *,
    port: int,
) -> tuple[str, subprocess.Popen[bytes]]:
    """``redoubt serve`` as a child process on loopback ``port``, its output in
    ``work/server.log``; its base URL and process, once it answers."""
    base_url = f"http://{HOST}:{port}"
    log_path = work / "server.log"
    with log_path.open("wb") as log:
        server = children.start(
            [*cmd, "serve", "--host", HOST, "--port", str(port), "--data-dir", str(data_dir)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    await wait_ready(base_url, server, log_path)
    print(f"  server: pid {server.pid} on {base_url} (log {log_path})", flush=True)
    return base_url, server


async def wait_ready(base_url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    import httpx

    deadline = time.monotonic() + SERVER_START_TIMEOUT
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                tail = (await asyncio.to_thread(log_path.read_text, errors="replace"))[-3000:]
                raise RuntimeError(f"the server exited with {server.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the server was not ready within {SERVER_START_TIMEOUT:.0f} s")


async def login_all(base_url: str, usernames: list[str], password: str) -> list[str]:
    import httpx

    semaphore = asyncio.Semaphore(_LOGIN_CONCURRENCY)
    limits = httpx.Limits(max_connections=_LOGIN_CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT, limits=limits) as http:

        async def login(name: str) -> str:
            async with semaphore:
                resp = await http.post(
                    "/api/v1/auth/login", json={"username": name, "password": password}
                )
                if resp.status_code != 200:
                    raise RuntimeError(f"login of {name} failed: {resp.status_code} {resp.text}")
                return str(resp.json()["token"])

        return list(await asyncio.gather(*(login(n) for n in usernames)))


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass
class Verdict:
    clients_ok: int = 0
    clients_bad: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    reordered_clients: int = 0
    seq_mismatches: int = 0
    seq_order_errors: int = 0
    client_errors: list[str] = field(default_factory=list)
    post_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.clients_bad == 0 and not self.post_errors

    def summary(self) -> str:
        if self.ok:
            return "every client got every message exactly once, in order"
        parts = [
            f"{self.clients_bad} client(s) wrong",
            f"lost {self.lost}",
            f"duplicated {self.duplicated}",
            f"unexpected {self.unexpected}",
            f"out of order on {self.reordered_clients} client(s)",
            f"seq/position mismatches {self.seq_mismatches}",
            f"seq order errors {self.seq_order_errors}",
        ]
        if self.post_errors:
            parts.append(f"{len(self.post_errors)} failed post(s), first: {self.post_errors[0]}")
        return "FAILED: " + ", ".join(parts)


def verify(sent: list[Sent], clients: list[dict[str, Any]], expected_clients: int) -> Verdict:
    verdict = Verdict()
    verdict.post_errors = [s.error for s in sent if s.error]
    acked = sorted((s for s in sent if s.message_id), key=lambda s: s.position)
    expected_ids = [s.message_id for s in acked]
    position_of = {s.message_id: s.position for s in acked}
    expected_set = set(expected_ids)
    if len(clients) != expected_clients:
        verdict.clients_bad += expected_clients - len(clients)
        verdict.client_errors.append(f"{expected_clients - len(clients)} client(s) never reported")
    for client in clients:
        ids: list[str] = client["msg_id"]
        seqs: list[int] = client["msg_seq"]
        bad = False
        if ids != expected_ids:
            bad = True
            got = set(ids)
            verdict.lost += len(expected_set - got)
            verdict.duplicated += len(ids) - len(got)
            verdict.unexpected += len(got - expected_set)
            in_expected = [i for i in dict.fromkeys(ids) if i in expected_set]
            if in_expected != [i for i in expected_ids if i in got]:
                verdict.reordered_clients += 1
        mismatched = sum(1 for i, s in zip(ids, seqs, strict=True) if position_of.get(i) != s)
        if mismatched or client["seq_order_errors"]:
            bad = True
        verdict.seq_mismatches += mismatched
        verdict.seq_order_errors += client["seq_order_errors"]
        if client["errors"]:
            bad = True
            verdict.client_errors.append(f"client {client['index']}: {client['errors'][0]}")
        if bad:
            verdict.clients_bad += 1
        else:
            verdict.clients_ok += 1
    return verdict


def sustained(
    rate: float | None,
    acked_at: Sequence[float],
    first_send: float,
    head: Sequence[float],
    tail: Sequence[float],
) -> bool | None:
    """Open loop: the acks kept pace with the schedule and latency did not grow."""
    if rate is None or not acked_at or not head or not tail:
        return None
    pace = len(acked_at) / max(max(acked_at) - first_send, 1e-9)
    growth_ok = percentile(tail, 50) <= 2 * percentile(head, 50) + 0.020
    return pace >= 0.97 * rate and growth_ok


def _ms(values: Sequence[float], q: float) -> float:
    return round(percentile(values, q) * 1000.0, 3)


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "niceness": os.getpriority(os.PRIO_PROCESS, 0),
    }


def reproduce_command(args: argparse.Namespace) -> str:
    argv = [
        "uv",
        "run",
        "python",
        "bench/ws_fanout.py",
        "--clients",
        str(args.clients),
        "--messages",
        str(args.messages),
    ]
    if args.rate is not None:
        argv += ["--rate", f"{args.rate:g}", "--connections", str(args.connections)]
    if args.receiver_procs != 1:
        argv += ["--receiver-procs", str(args.receiver_procs)]
    if args.deflate:
        argv.append("--deflate")
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness:
        argv = ["nice", "-n", str(niceness), *argv]
    return shlex.join(argv)


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


async def line_reader(proc: subprocess.Popen[bytes]) -> asyncio.StreamReader:
    """An asyncio reader on a child's stdout (a timed-out readline loses no data)."""
    assert proc.stdout is not None
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), proc.stdout)
    return reader


async def _read_line(
    proc: subprocess.Popen[bytes], reader: asyncio.StreamReader, limit_s: float, what: str
) -> dict[str, Any]:
    try:
        line = await asyncio.wait_for(reader.readline(), limit_s)
    except TimeoutError:
        raise RuntimeError(
            f"a receiver process did not report {what} within {limit_s:.0f} s"
        ) from None
    if not line:
        raise RuntimeError(f"a receiver process exited (code {proc.poll()}) before {what}")
    message: dict[str, Any] = json.loads(line)
    if "error" in message:
        raise RuntimeError(f"a receiver process failed: {message['error']}")
    return message


def _tell(proc: subprocess.Popen[bytes], line: str) -> None:
    if proc.stdin is not None and proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()


async def run(args: argparse.Namespace, children: Children, work: Path) -> int:
    env = bench_env(work / "data")
    cmd = redoubt_command()
    n, m = args.clients, args.messages
    print(
        f"Redoubt WebSocket fan-out benchmark: N={n} clients, M={m} messages"
        + (f", open loop at {args.rate:g} msg/s" if args.rate else ", closed loop"),
        flush=True,
    )

    t0 = time.monotonic()
    await upgrade_database(cmd, env, work / "data")
    seeded = await asyncio.wait_for(seed(env, n), SETUP_TIMEOUT)
    setup_s = time.monotonic() - t0
    print(f"  setup: database and {n + 1} users in {setup_s:.1f} s", flush=True)

    port = free_port()
    base_url, server = await start_server(children, cmd, env, work, work / "data", port=port)

    t0 = time.monotonic()
    tokens = await asyncio.wait_for(
        login_all(base_url, [seeded.sender, *seeded.receivers], seeded.password), SETUP_TIMEOUT
    )
    sender_token, receiver_tokens = tokens[0], tokens[1:]
    login_s = time.monotonic() - t0
    print(f"  login: {n + 1} users in {login_s:.1f} s", flush=True)

    cpu_connect_0 = proc_cpu_seconds(server.pid)
    procs = max(1, min(args.receiver_procs, n))
    workers: list[subprocess.Popen[bytes]] = []
    out_paths: list[Path] = []
    per = -(-n // procs)
    run_deadline = float(args.timeout)
    t0 = time.monotonic()
    for w in range(procs):
        chunk = receiver_tokens[w * per : (w + 1) * per]
        if not chunk:
            break
        out_path = work / f"receiver-{w}.json"
        out_paths.append(out_path)
        proc = children.start(
            [sys.executable, str(SCRIPT), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO_ROOT,
        )
        workers.append(proc)
        config = WorkerConfig(
            port=port,
            tokens=chunk,
            first_index=w * per,
            expected=m,
            deflate=args.deflate,
            out_path=str(out_path),
            deadline_s=run_deadline,
        )
        _tell(proc, json.dumps(config.__dict__))
    readers = [await line_reader(p) for p in workers]
    ready = [
        await _read_line(p, r, CONNECT_TIMEOUT * 2, "ready")
        for p, r in zip(workers, readers, strict=True)
    ]
    ephemeral = sum(int(r["ephemeral_frames"]) for r in ready)
    connect_cpu = proc_cpu_seconds(server.pid) - cpu_connect_0
    print(
        f"  connect: {n} WebSocket clients in {max(r['connect_s'] for r in ready):.1f} s, "
        f"then {max(r['settle_s'] for r in ready):.1f} s until quiet "
        f"({ephemeral:,} presence frames to the clients while connecting; "
        f"{connect_cpu:.1f} s of server CPU)",
        flush=True,
    )

    await warm_up(port, f"/api/v1/rooms/{seeded.warmup_room_id}/messages", sender_token, WARMUP)
    rss_before = proc_status(server.pid)
    path = f"/api/v1/rooms/{seeded.room_id}/messages"
    await asyncio.sleep(0.2)
    profiler = None
    if args.py_spy:
        profiler = start_profiler(args.py_spy, server.pid, children)
        await asyncio.sleep(1.0)  # let it attach before the first post
    cpu_server_0 = proc_cpu_seconds(server.pid)
    cpu_self_0 = self_cpu_seconds()
    cpu_all_0 = machine_busy_seconds()
    t_start = time.monotonic()
    try:
        if args.rate:
            sent = await asyncio.wait_for(
                send_open_loop(
                    port, path, sender_token, count=m, rate=args.rate, connections=args.connections
                ),
                run_deadline,
            )
        else:
            sent = await asyncio.wait_for(
                send_closed_loop(port, path, sender_token, m), run_deadline
            )
    except TimeoutError:
        print(f"  sending did not finish within --timeout {args.timeout} s", flush=True)
        sent = []
    t_sent = time.monotonic()
    cpu_self_1 = self_cpu_seconds()
    print(
        f"  sent: {sum(1 for s in sent if s.message_id)} of {m} messages acknowledged in "
        f"{t_sent - t_start:.2f} s",
        flush=True,
    )
    if len(sent) < m or any(s.error for s in sent):
        for proc in workers:
            _tell(proc, "stop")
    # Deliveries may trail the last ack (open loop above capacity); give them as long
    # again as sending took, at least DRAIN_TIMEOUT, at most what --timeout leaves.
    drain = min(
        max(DRAIN_TIMEOUT, t_sent - t_start), max(DRAIN_TIMEOUT, run_deadline - (t_sent - t_start))
    )
    drain_until = time.monotonic() + drain
    for proc, reader in zip(workers, readers, strict=True):
        try:
            await _read_line(proc, reader, max(1.0, drain_until - time.monotonic()), "its results")
        except RuntimeError as exc:
            print(
                f"  {exc} (deliveries still missing {drain:.0f} s after the last post); "
                "asking it to stop",
                flush=True,
            )
            _tell(proc, "stop")
            await _read_line(proc, reader, DRAIN_TIMEOUT, "its results")
    cpu_server_1 = proc_cpu_seconds(server.pid)
    cpu_all_1 = machine_busy_seconds()
    t_end = time.monotonic()
    rss_after = proc_status(server.pid)
    for proc in workers:
        _tell(proc, "exit")
    if profiler is not None:
        stop_profiler(profiler, args.py_spy)

    clients: list[dict[str, Any]] = []
    receiver_cpu = 0.0
    last_t = t_start
    for out_path in out_paths:
        data = json.loads(out_path.read_text())
        clients.extend(data["clients"])
        receiver_cpu += float(data["cpu_s"])
    verdict = verify(sent, clients, n)

    send_time = {s.message_id: s.t_send for s in sent if s.message_id}
    ack = sorted(s.t_ack - s.t_send for s in sent if s.message_id)
    delivery: list[float] = []
    complete_at: dict[str, float] = {}
    for client in clients:
        for msg_id, t in zip(client["msg_id"], client["msg_t"], strict=True):
            origin = send_time.get(msg_id)
            if origin is None:
                continue
            delivery.append(t - origin)
            if t > complete_at.get(msg_id, 0.0):
                complete_at[msg_id] = t
            last_t = max(last_t, t)
    delivery.sort()
    fanout_done = sorted(t - send_time[i] for i, t in complete_at.items())
    total = len(delivery)
    first_send = min((s.t_send for s in sent), default=t_start)
    acked_at = [s.t_ack for s in sent if s.message_id]
    window = max(last_t - first_send, 1e-9)
    server_cpu = cpu_server_1 - cpu_server_0
    sender_cpu = cpu_self_1 - cpu_self_0
    other_cores = (cpu_all_1 - cpu_all_0 - server_cpu - receiver_cpu - sender_cpu) / max(
        t_end - t_start, 1e-9
    )
    hwm_kib = rss_after.get("VmHWM", 0)

    # Drift: latency of the first and last fifths of the messages (open loop: does it grow?).
    by_message: dict[str, list[float]] = {}
    for client in clients:
        for msg_id, t in zip(client["msg_id"], client["msg_t"], strict=True):
            if msg_id in send_time:
                by_message.setdefault(msg_id, []).append(t - send_time[msg_id])
    order = [s.message_id for s in sorted(sent, key=lambda s: s.index) if s.message_id]
    fifth = max(1, len(order) // 5)
    head = sorted(x for i in order[:fifth] for x in by_message.get(i, ()))
    tail = sorted(x for i in order[-fifth:] for x in by_message.get(i, ()))

    result: dict[str, Any] = {
        "benchmark": "ws_fanout",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": reproduce_command(args),
        "clients": n,
        "messages": m,
        "mode": "open-loop" if args.rate else "closed-loop",
        "rate_target": args.rate,
        "rate_achieved": round(len(acked_at) / max(max(acked_at, default=0) - first_send, 1e-9), 1),
        "deflate_offered": args.deflate,
        "deflate_negotiated": sum(1 for c in clients if c.get("deflate")),
        "receiver_procs": len(workers),
        "send_to_ack_ms": {"p50": _ms(ack, 50), "p99": _ms(ack, 99), "max": _ms(ack, 100)},
        "post_to_delivery_ms": {
            "p50": _ms(delivery, 50),
            "p99": _ms(delivery, 99),
            "max": _ms(delivery, 100),
        },
        "post_to_last_receiver_ms": {"p50": _ms(fanout_done, 50), "p99": _ms(fanout_done, 99)},
        "delivery_p50_first_fifth_ms": _ms(head, 50),
        "delivery_p50_last_fifth_ms": _ms(tail, 50),
        "sustained": sustained(args.rate, acked_at, first_send, head, tail),
        "deliveries": total,
        "deliveries_expected": n * m,
        "deliveries_per_s": round(total / window, 1),
        "window_s": round(window, 3),
        "server_peak_rss_mib": round(hwm_kib / 1024, 1),
        "server_rss_before_send_mib": round(rss_before.get("VmRSS", 0) / 1024, 1),
        "server_rss_after_mib": round(rss_after.get("VmRSS", 0) / 1024, 1),
        "cpu_window_s": round(t_end - t_start, 3),
        "server_cpu_s": round(server_cpu, 3),
        "server_cpu_us_per_delivery": round(server_cpu / total * 1e6, 2) if total else None,
        "server_cpu_ms_per_post": round(server_cpu / max(len(ack), 1) * 1e3, 3),
        "receivers_cpu_s": round(receiver_cpu, 3),
        "sender_cpu_s": round(sender_cpu, 3),
        "other_processes_cores": round(max(other_cores, 0.0), 2),
        "connect_presence_frames": ephemeral,
        "connect_s": round(max(float(r["connect_s"]) for r in ready), 2),
        "connect_settle_s": round(max(float(r["settle_s"]) for r in ready), 2),
        "connect_server_cpu_s": round(connect_cpu, 2),
        "setup_s": round(setup_s, 1),
        "login_s": round(login_s, 1),
        "ok": verdict.ok,
        "verdict": verdict.summary(),
        "lost": verdict.lost,
        "duplicated": verdict.duplicated,
        "reordered_clients": verdict.reordered_clients,
        "client_errors": verdict.client_errors[:10],
        "machine": machine(),
    }
    print_report(result)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"-r{args.rate:g}" if args.rate else ""
    result_path = RESULTS_DIR / f"ws_fanout-n{n}-m{m}{suffix}-{stamp}.json"
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  result file:        {result_path.relative_to(REPO_ROOT)}")
    if not verdict.ok:
        for line in verdict.client_errors[:5]:
            print(f"    {line}")
        return 1
    return 0


def start_profiler(out: str, pid: int, children: Children) -> subprocess.Popen[bytes]:
    """py-spy on the server for the measured window (not a project dependency)."""
    exe = Path(sys.executable).parent / "py-spy"
    found = str(exe) if exe.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError(
            "--py-spy needs py-spy: `uv pip install py-spy` (not added to the project)"
        )
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(out).suffix, "raw")
    proc = children.start(
        [
            found,
            "record",
            "--nonblocking",
            "--pid",
            str(pid),
            "--rate",
            "200",
            "--format",
            fmt,
            "--output",
            out,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc


def stop_profiler(proc: subprocess.Popen[bytes], out: str) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=STOP_TIMEOUT * 3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT)
        print("  py-spy did not stop in time; no profile", flush=True)
        return
    if proc.returncode not in (0, -signal.SIGINT) and not Path(out).exists():
        print(f"  py-spy failed: {err.decode(errors='replace')[-500:]}", flush=True)
    else:
        print(f"  server profile:     {out}", flush=True)


def print_report(r: dict[str, Any]) -> None:
    mach = r["machine"]
    cores = mach["nproc"]
    window = r["window_s"]
    busy = r["server_cpu_s"] / window * 100 if window else 0.0
    load = (r["receivers_cpu_s"] + r["sender_cpu_s"]) / window * 100 if window else 0.0
    print()
    compression = (
        f"permessage-deflate on {r['deflate_negotiated']} of {r['clients']}"
        if r["deflate_offered"]
        else "uncompressed"
    )
    print(f"  clients (N):        {r['clients']}  (WebSocket frames {compression})")
    print(
        f"  messages (M):       {r['messages']}  ({r['mode']}"
        + (
            f", target {r['rate_target']:g}/s, achieved {r['rate_achieved']:g}/s)"
            if r["rate_target"]
            else ")"
        )
    )
    print(
        f"  send-to-ack:        p50 {r['send_to_ack_ms']['p50']:.2f} ms, "
        f"p99 {r['send_to_ack_ms']['p99']:.2f} ms"
    )
    print(
        f"  post-to-delivery:   p50 {r['post_to_delivery_ms']['p50']:.2f} ms, "
        f"p99 {r['post_to_delivery_ms']['p99']:.2f} ms  (last receiver: "
        f"p50 {r['post_to_last_receiver_ms']['p50']:.2f} ms, "
        f"p99 {r['post_to_last_receiver_ms']['p99']:.2f} ms)"
    )
    if r["rate_target"]:
        print(
            f"  delivery p50 drift: first fifth {r['delivery_p50_first_fifth_ms']:.2f} ms, "
            f"last fifth {r['delivery_p50_last_fifth_ms']:.2f} ms"
        )
        verdict = "yes" if r["sustained"] else "NO (the server fell behind)"
        print(
            f"  sustained:          {verdict} at {r['rate_target']:g} posts/s = "
            f"{r['rate_target'] * r['clients']:,.0f} deliveries/s offered"
        )
    print(
        f"  deliveries/s:       {r['deliveries_per_s']:,.0f}  ({r['deliveries']:,} of "
        f"{r['deliveries_expected']:,} in {window:.2f} s, first send to last delivery)"
    )
    print(
        f"  server peak RSS:    {r['server_peak_rss_mib']:.1f} MiB (VmHWM; "
        f"{r['server_rss_before_send_mib']:.1f} MiB before sending)"
    )
    print(
        f"  server CPU:         {r['server_cpu_s']:.2f} s = {busy:.0f}% of one core, "
        f"{r['server_cpu_us_per_delivery']} us per delivery"
    )
    print(
        f"  load generator CPU: {r['receivers_cpu_s'] + r['sender_cpu_s']:.2f} s = {load:.0f}% "
        f"of one core ({r['receiver_procs']} receiver process(es) + sender)"
    )
    if r["other_processes_cores"] > 0.15:
        print(
            f"  WARNING:            other processes kept {r['other_processes_cores']:.2f} cores "
            "busy during the run; these figures understate the server"
        )
    print(
        f"  note:               server and load generator share this machine's {cores} cores "
        f"({mach['cpu']}, Python {mach['python']})"
    )
    print(f"  check:              {r['verdict']}")
    print(f"  reproduce:          {r['command']}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Redoubt WebSocket fan-out benchmark (starts its own server).",
    )
    parser.add_argument("--clients", type=int, default=100, help="receivers N (default 100)")
    parser.add_argument("--messages", type=int, default=1000, help="messages M (default 1000)")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="open loop: post at this many messages per second regardless of acks",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=16,
        help="HTTP connections for the open-loop sender (default 16)",
    )
    parser.add_argument(
        "--receiver-procs",
        type=int,
        default=1,
        help="processes the receivers are spread over (default 1)",
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="offer permessage-deflate like a browser does (default: uncompressed)",
    )
    parser.add_argument(
        "--timeout", type=int, default=300, help="limit for sending and delivery (s)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary data folder and server log"
    )
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        default=None,
        help="profile the server with py-spy while sending (.svg flamegraph, .json "
        "speedscope, else collapsed stacks); needs `uv pip install py-spy`",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.worker:
        if not 1 <= args.clients <= 20_000:
            parser.error("--clients must be 1..20000")
        if not 1 <= args.messages <= 1_000_000:
            parser.error("--messages must be 1..1000000")
        if args.rate is not None and not 0 < args.rate <= 100_000:
            parser.error("--rate must be in (0, 100000]")
        if not 1 <= args.connections <= 256:
            parser.error("--connections must be 1..256")
        if not 1 <= args.receiver_procs <= 64:
            parser.error("--receiver-procs must be 1..64")
        if not 1 <= args.timeout <= 3600:
            parser.error("--timeout must be 1..3600")
    return args


BenchmarkRun = Callable[[argparse.Namespace, Children, Path], Coroutine[Any, Any, int]]


def run_benchmark(run: BenchmarkRun, args: argparse.Namespace, *, prefix: str) -> int:
    """The outer loop every benchmark here shares: SIGTERM counts as Ctrl-C, the work
    happens in a temporary folder, and the child processes are stopped and the folder
    removed (unless ``--keep``) however the run ends. ``run`` signals a failure it
    expects (a server that won't start, a browser that won't find a selector) with
    RuntimeError; the exit status is 0/1 from ``run``, 2 on such a failure, 130 on
    Ctrl-C."""

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    children = Children()
    work = Path(tempfile.mkdtemp(prefix=prefix))
    code = 1
    try:
        code = asyncio.run(run(args, children, work))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the server", file=sys.stderr)
        code = 130
    except (RuntimeError, TimeoutError, subprocess.SubprocessError, OSError) as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        code = 2
    finally:
        children.stop_all()
        if args.keep:
            print(f"  kept {work} (data folder, server log)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker()
    raise_fd_limit(2 * args.clients + 256)
    install_uvloop()
    return run_benchmark(run, args, prefix="redoubt-bench-")


if __name__ == "__main__":
    sys.exit(main())
