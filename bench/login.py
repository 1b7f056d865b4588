"""Login throughput at the default Argon2id cost, and what a login load does to chat.

Run from the repository root::

    uv run python bench/login.py                              # concurrency 1 2 4 8, 10 s each
    uv run python bench/login.py --concurrency 1 4 16 --duration 20
    uv run python bench/login.py --probe-rate 0               # logins only, no delivery probe

What it does, in order:

1. Creates a temporary data folder, runs ``redoubt db upgrade`` in it and creates the
   accounts through the real actions with the *default* Argon2id parameters (the
   fan-out benchmark lowers them; here they are what is measured).
2. Starts ``redoubt serve`` as a separate process on a free loopback port (the
   embedded default: SQLite, in-process bus) with every rate limit raised, since one
   address logs in over and over.
3. For each concurrency level C: C closed-loop clients, each with its own account and
   keep-alive connection, log in again as soon as the previous login answered, for
   ``--duration`` seconds. Meanwhile a probe posts into a room at ``--probe-rate``
   messages per second (open loop) and a WebSocket member of that room times each
   delivery from the moment the post was due: the price the rest of the server pays
   for the logins. Login throughput is useless if chat stops while it runs.
4. Prints logins/s, login latency, server CPU and the probe's delivery latency per
   level, with the single-hash time measured in this process for reference (one
   process can't log in faster than ``cores / hash time``), and writes everything to
   ``bench/results/login-<time>.json``.

Exit codes: 0 when every login succeeded and every probe message was delivered, 1 when
one failed, 2 when the run itself broke, 130 on Ctrl-C. The server is stopped on every
path.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import argon2
import httpx

from redoubt.core.settings import Settings
from ws_fanout import (
    REQUEST_TIMEOUT,
    SETUP_TIMEOUT,
    Children,
    HttpConnection,
    WsReceiver,
    bench_env,
    connect_reader,
    free_port,
    install_uvloop,
    machine,
    machine_busy_seconds,
    percentile,
    proc_cpu_seconds,
    redoubt_command,
    run_benchmark,
    seed,
    self_cpu_seconds,
    start_server,
    upgrade_database,
)

__all__ = ["main"]

SCRIPT = Path(__file__).resolve()
BENCH_DIR = SCRIPT.parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
ARGON2_FIELDS = ("argon2_time_cost", "argon2_memory_kib", "argon2_parallelism")
PROBE_CONNECTIONS = 16
"""Keep-alive connections the probe's posts take turns on (more only if all are busy)."""
DRAIN_TIMEOUT = 30.0


def default_argon2() -> dict[str, int]:
    return {name: int(Settings.model_fields[name].default) for name in ARGON2_FIELDS}


def time_one_hash(repeats: int = 5) -> float:
    """Median time of one Argon2id verify at the default parameters, in this process."""
    params = default_argon2()
    hasher = argon2.PasswordHasher(
        time_cost=params["argon2_time_cost"],
        memory_cost=params["argon2_memory_kib"],
        parallelism=params["argon2_parallelism"],
        type=argon2.Type.ID,
    )
    encoded = hasher.hash("bench-password")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        hasher.verify(encoded, "bench-password")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def server_env(data_dir: Path) -> dict[str, str]:
    """``bench_env`` (no rate limits, no inherited ``REDOUBT_*``) with the default cost."""
    env = bench_env(data_dir)
    for name in ARGON2_FIELDS:
        env.pop(f"REDOUBT_{name.upper()}", None)
    return env


def _ms(values: Sequence[float], q: float) -> float | None:
    return round(percentile(values, q) * 1000.0, 1) if values else None


# --------------------------------------------------------------------------------------
# Load: closed-loop logins and the open-loop delivery probe
# --------------------------------------------------------------------------------------


@dataclass
class LoginLoad:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def login_client(
    http: httpx.AsyncClient, username: str, password: str, until: float, out: LoginLoad
) -> None:
    """Log in as ``username`` again and again until ``until`` (closed loop)."""
    body = {"username": username, "password": password}
    while time.monotonic() < until:
        start = time.monotonic()
        try:
            resp = await http.post("/api/v1/auth/login", json=body)
        except httpx.HTTPError as exc:
            out.failures.append(f"{type(exc).__name__}: {exc}")
            continue
        if resp.status_code != 200:
            out.failures.append(f"HTTP {resp.status_code}")
            continue
        out.latencies.append(time.monotonic() - start)


@dataclass
class Probe:
    due: dict[str, float] = field(default_factory=dict)
    """Message id -> when its post was due."""
    failures: list[str] = field(default_factory=list)


async def probe_posts(
    pool: asyncio.Queue[HttpConnection],
    *,
    path: str,
    token: str,
    rate: float,
    until: float,
    out: Probe,
) -> None:
    """Post at ``rate`` per second until ``until``, whatever the server's answers do."""
    posts: list[asyncio.Task[None]] = []
    first = time.monotonic()

    async def post(index: int, due: float) -> None:
        conn = await pool.get()
        try:
            body = json.dumps({"text": f"login-bench probe {index}"}).encode()
            status, raw = await asyncio.wait_for(conn.post_json(path, body, token), REQUEST_TIMEOUT)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            out.failures.append(f"{type(exc).__name__}: {exc}")
            return
        finally:
            pool.put_nowait(conn)
        if status != 201:
            out.failures.append(f"HTTP {status}: {raw[:120]!r}")
            return
        out.due[str(json.loads(raw)["id"])] = due

    index = 0
    while True:
        due = first + index / rate
        if due >= until:
            break
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        posts.append(asyncio.create_task(post(index, due)))
        index += 1
    await asyncio.gather(*posts)


async def delivery_latencies(reader: WsReceiver, probe: Probe) -> tuple[list[float], int]:
    """Due-to-arrival times of the probe's messages (waits for stragglers); and how many
    never arrived."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        arrived = set(reader.msg_id)
        if all(i in arrived for i in probe.due):
            break
        await asyncio.sleep(0.05)
    arrival = dict(zip(reader.msg_id, reader.msg_t, strict=True))
    latencies = sorted(arrival[i] - due for i, due in probe.due.items() if i in arrival)
    return latencies, len(probe.due) - len(latencies)


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


async def run_level(
    *,
    base_url: str,
    port: int,
    server_pid: int,
    concurrency: int,
    users: list[str],
    password: str,
    duration: float,
    probe_rate: float,
    probe_path: str,
    poster_token: str,
    pool: asyncio.Queue[HttpConnection],
    reader: WsReceiver | None,
) -> dict[str, Any]:
    load = LoginLoad()
    probe = Probe()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT, limits=limits) as http:
        # Open the connections first, so the measured window has no TCP setup in it.
        await asyncio.gather(*(http.get("/readyz") for _ in range(concurrency)))
        cpu_server_0 = proc_cpu_seconds(server_pid)
        cpu_self_0 = self_cpu_seconds()
        cpu_all_0 = machine_busy_seconds()
        start = time.monotonic()
        until = start + duration
        tasks = [login_client(http, users[i], password, until, load) for i in range(concurrency)]
        if probe_rate > 0:
            tasks.append(
                probe_posts(
                    pool,
                    path=probe_path,
                    token=poster_token,
                    rate=probe_rate,
                    until=until,
                    out=probe,
                )
            )
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
        cpu_server = proc_cpu_seconds(server_pid) - cpu_server_0
        cpu_self = self_cpu_seconds() - cpu_self_0
        cpu_other = machine_busy_seconds() - cpu_all_0 - cpu_server - cpu_self
    latencies, lost = await delivery_latencies(reader, probe) if reader is not None else ([], 0)
    logins = sorted(load.latencies)
    return {
        "concurrency": concurrency,
        "window_s": round(elapsed, 3),
        "logins": len(logins),
        "logins_per_s": round(len(logins) / elapsed, 2),
        "login_ms": {"p50": _ms(logins, 50), "p95": _ms(logins, 95), "max": _ms(logins, 100)},
        "login_failures": len(load.failures),
        "login_failure_examples": load.failures[:5],
        "server_cpu_s": round(cpu_server, 3),
        "server_cores_busy": round(cpu_server / elapsed, 2),
        "server_cpu_ms_per_login": round(cpu_server / len(logins) * 1e3, 1) if logins else None,
        "load_generator_cpu_s": round(cpu_self, 3),
        "other_processes_cores": round(max(cpu_other, 0.0) / elapsed, 2),
        "probe_rate": probe_rate,
        "probe_messages": len(probe.due) + len(probe.failures),
        "probe_failures": len(probe.failures) + lost,
        "probe_failure_examples": probe.failures[:5],
        "delivery_ms": {
            "p50": _ms(latencies, 50),
            "p95": _ms(latencies, 95),
            "max": _ms(latencies, 100),
        },
    }


async def run(args: argparse.Namespace, children: Children, work: Path) -> int:
    levels: list[int] = args.concurrency
    params = default_argon2()
    print(
        "Redoubt login benchmark: Argon2id "
        + ", ".join(f"{k.removeprefix('argon2_')}={v}" for k, v in params.items())
        + f" (the defaults); concurrency {' '.join(map(str, levels))}, {args.duration:g} s each",
        flush=True,
    )
    hash_s = await asyncio.to_thread(time_one_hash)
    cores = os.cpu_count() or 1
    print(
        f"  one Argon2id verify in this process: {hash_s * 1e3:.1f} ms "
        f"(ceiling for one process on {cores} cores: {cores / hash_s:.1f} logins/s)",
        flush=True,
    )

    env = server_env(work / "data")
    cmd = redoubt_command()
    t0 = time.monotonic()
    await upgrade_database(cmd, env, work / "data")
    # bench-r00000 reads the probe room; the others are the login clients' accounts.
    seeded = await asyncio.wait_for(seed(env, max(levels) + 1), SETUP_TIMEOUT)
    print(f"  setup: database and {max(levels) + 2} users in {time.monotonic() - t0:.1f} s")

    port = free_port()
    base_url, server = await start_server(children, cmd, env, work, work / "data", port=port)

    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
        tokens = []
        for name in (seeded.sender, seeded.receivers[0]):
            resp = await http.post(
                "/api/v1/auth/login", json={"username": name, "password": seeded.password}
            )
            if resp.status_code != 200:
                raise RuntimeError(f"login of {name} failed: HTTP {resp.status_code}")
            tokens.append(str(resp.json()["token"]))
    poster_token, reader_token = tokens
    probe_path = f"/api/v1/rooms/{seeded.room_id}/messages"
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    reader: WsReceiver | None = None
    results: list[dict[str, Any]] = []
    try:
        if args.probe_rate > 0:
            for _ in range(PROBE_CONNECTIONS):
                conn = HttpConnection(port)
                await conn.open()
                pool.put_nowait(conn)
            reader = await connect_reader(port, reader_token)
            # First use of the post and delivery paths (SQL compilation) is not measured.
            warm = Probe()
            await probe_posts(
                pool,
                path=probe_path,
                token=poster_token,
                rate=20.0,
                until=time.monotonic() + 0.5,
                out=warm,
            )
            await delivery_latencies(reader, warm)
        for level in levels:
            result = await run_level(
                base_url=base_url,
                port=port,
                server_pid=server.pid,
                concurrency=level,
                users=seeded.receivers[1:],
                password=seeded.password,
                duration=args.duration,
                probe_rate=args.probe_rate,
                probe_path=probe_path,
                poster_token=poster_token,
                pool=pool,
                reader=reader,
            )
            results.append(result)
            print_level(result)
    finally:
        if reader is not None:
            reader.close()
        while not pool.empty():
            pool.get_nowait().close()

    report: dict[str, Any] = {
        "benchmark": "login",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": reproduce_command(args),
        "argon2": params,
        "hash_ms_in_process": round(hash_s * 1e3, 2),
        "ceiling_logins_per_s": round(cores / hash_s, 2),
        "duration_s": args.duration,
        "levels": results,
        "machine": machine(),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result_path = RESULTS_DIR / f"login-{stamp}.json"
    result_path.write_text(json.dumps(report, indent=2) + "\n")
    busy = max(r["other_processes_cores"] for r in results)
    if busy > 0.15:
        print(
            f"  WARNING: other processes kept up to {busy:.2f} cores busy during the run; "
            "these figures understate the server"
        )
    mach = report["machine"]
    print(
        f"  note: server and load generator share this machine's {mach['nproc']} cores "
        f"({mach['cpu']}, Python {mach['python']})"
    )
    print(f"  result file: {result_path.relative_to(REPO_ROOT)}")
    print(f"  reproduce:   {report['command']}")
    failed = any(r["login_failures"] or r["probe_failures"] for r in results)
    return 1 if failed else 0


def print_level(r: dict[str, Any]) -> None:
    login = r["login_ms"]
    line = (
        f"  C={r['concurrency']:<3} {r['logins_per_s']:6.2f} logins/s  "
        f"login p50 {login['p50']} ms, p95 {login['p95']} ms  "
        f"server CPU {r['server_cores_busy']:.2f} cores ({r['server_cpu_ms_per_login']} ms/login)"
    )
    if r["probe_rate"]:
        delivery = r["delivery_ms"]
        line += (
            f"  delivery p50 {delivery['p50']} ms, p95 {delivery['p95']} ms, "
            f"max {delivery['max']} ms"
        )
    if r["login_failures"] or r["probe_failures"]:
        line += f"  FAILURES: {r['login_failures']} logins, {r['probe_failures']} probe posts"
    print(line, flush=True)


def reproduce_command(args: argparse.Namespace) -> str:
    argv = ["uv", "run", "python", "bench/login.py", "--concurrency"]
    argv += [str(c) for c in args.concurrency]
    argv += ["--duration", f"{args.duration:g}", "--probe-rate", f"{args.probe_rate:g}"]
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness:
        argv = ["nice", "-n", str(niceness), *argv]
    return shlex.join(argv)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Redoubt login throughput at the default Argon2id cost (starts its own server)."
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 2, 4, 8],
        help="closed-loop login clients per level (default: 1 2 4 8)",
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per level (default 10)"
    )
    parser.add_argument(
        "--probe-rate",
        type=float,
        default=10.0,
        help="probe posts per second whose WebSocket delivery is timed (default 10; 0: off)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary data folder and server log"
    )
    args = parser.parse_args(argv)
    if not all(1 <= c <= 256 for c in args.concurrency):
        parser.error("--concurrency levels must be 1..256")
    if not 1 <= args.duration <= 600:
        parser.error("--duration must be 1..600")
    if not 0 <= args.probe_rate <= 1000:
        parser.error("--probe-rate must be 0..1000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    install_uvloop()
    return run_benchmark(run, args, prefix="redoubt-bench-login-")


if __name__ == "__main__":
    sys.exit(main())
