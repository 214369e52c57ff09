"""6. Durability cost: the same intake load against Redis with AOF ``appendfsync everysec``
and ``appendfsync always``, side by side (alternating rounds, same machine noise).

Two loads: (a) intake itself, callers walked through the IVR by ``routing.intake`` on 8
threads (Redis is the only server in the path, so fsync's share is as large as it gets);
(b) the same callers as signed webhooks through ``hotline web`` (gunicorn) with wrk, what
Twilio's traffic costs end to end. The shipped configuration is everysec
(workers/redis_server.py for the embedded server, docker-compose.yml for the stack).
"""

from __future__ import annotations

import itertools
import threading
import time
from contextlib import ExitStack

import redis

from bench.common import (
    free_port,
    hotline_env,
    hotline_process,
    median,
    missing,
    percentile,
    private_redis,
    scratch_dir,
    settings_for,
    standalone,
    wait_http,
)
from bench.loadgen import LoadResult, ensure_wrk, load
from bench.memory import create_lead
from bench.results import Result
from bench.webhook import partitions
from workers.child_process import ChildProcess

MODES = ("everysec", "always")
THREADS = 8


def intake_load(
    url: str, settings: object, calls: itertools.count, seconds: float
) -> tuple[int, float, list[float]]:
    """Callers through the IVR on THREADS threads for ``seconds``: (leads queued, elapsed,
    milliseconds per caller)."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def caller_loop() -> None:
        r = redis.Redis.from_url(url, decode_responses=True)
        mine = []
        while time.monotonic() < deadline:
            started = time.perf_counter()
            create_lead(r, settings, next(calls))
            mine.append((time.perf_counter() - started) * 1000)
        r.close()
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=caller_loop) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), time.monotonic() - started, latencies


def run(quick: bool = False) -> Result:
    """Alternate rounds of both loads against an everysec and an always server."""
    result = Result("durability", "Durability cost (AOF appendfsync everysec vs always)")
    reason = missing("routing.intake")
    if reason:
        result.error = reason
        return result
    seconds = 1.0 if quick else 5.0
    rounds = 1 if quick else 3
    wrk = ensure_wrk()
    workdir = scratch_dir("durability")
    domain: dict[str, list[tuple[int, float, list[float]]]] = {m: [] for m in MODES}
    web: dict[str, list[LoadResult]] = {m: [] for m in MODES}
    calls = itertools.count(1_000_000)
    with ExitStack() as stack:
        servers = {
            m: stack.enter_context(private_redis(f"aof-{m}", appendonly=True, appendfsync=m))
            for m in MODES
        }
        envs = {m: hotline_env(s.url) for m, s in servers.items()}
        settings = {m: settings_for(e) for m, e in envs.items()}
        webs: dict[str, ChildProcess] = {}
        bases: dict[str, str] = {}
        try:
            for m in MODES:
                port = free_port()
                webs[m] = hotline_process(
                    ["web", "--bind", f"127.0.0.1:{port}"], envs[m], workdir / f"web-{m}.log"
                )
                bases[m] = f"http://127.0.0.1:{port}"
            for m in MODES:
                wait_http(bases[m] + "/healthz", webs[m])
                check = redis.Redis.from_url(servers[m].url, decode_responses=True)
                aof = check.config_get("appendfsync")["appendfsync"]
                check.close()
                if aof != m:
                    raise RuntimeError(f"server for {m} runs appendfsync {aof}")
            next_call = 5_000_000
            for m in MODES:  # warm the servers (imports, first requests)
                parts, next_call = partitions(next_call, 500)
                load(bases[m], parts, 4, 1, workdir, wrk)
            for _ in range(rounds):
                for m in MODES:
                    domain[m].append(intake_load(servers[m].url, settings[m], calls, seconds))
                for m in MODES:
                    parts, next_call = partitions(next_call, int(2000 * seconds))
                    web[m].append(load(bases[m], parts, 16, seconds, workdir, wrk))
                    if not webs[m].alive():
                        raise RuntimeError(f"hotline web ({m}) died:\n{webs[m].tail()}")
        finally:
            for p in webs.values():
                p.stop()
    rate = {m: median([n / s for n, s, _ in domain[m]]) for m in MODES}
    p99 = {m: median([percentile(lat, 99) for _, _, lat in domain[m]]) for m in MODES}
    web_rps = {m: median([x.rps for x in web[m]]) for m in MODES}
    web_p99 = {m: median([x.p99_ms for x in web[m]]) for m in MODES}
    result.add(
        "intake throughput, always / everysec", round(rate["always"] / rate["everysec"], 3), "x"
    )
    result.add(
        "webhook throughput, always / everysec",
        round(web_rps["always"] / web_rps["everysec"], 3),
        "x",
    )
    result.add("webhook p99 at 16 connections, always", round(web_p99["always"], 1), "ms")
    result.add("webhook p99 at 16 connections, everysec", round(web_p99["everysec"], 1), "ms")
    errors = sum(x.errors for m in MODES for x in web[m])
    result.add("webhook errors (both modes)", errors, "", "= 0", errors == 0)
    result.table.append(
        [
            "appendfsync",
            "intake callers/s",
            "caller p99 ms (6 steps)",
            "webhook req/s (16 conn.)",
            "webhook p50 ms",
            "webhook p99 ms",
        ]
    )
    for m in MODES:
        result.table.append(
            [
                m,
                f"{rate[m]:.0f}",
                f"{p99[m]:.1f}",
                f"{web_rps[m]:.0f}",
                f"{median([x.p50_ms for x in web[m]]):.1f}",
                f"{web_p99[m]:.1f}",
            ]
        )
    result.notes.append(
        f"{rounds} round(s) of {seconds:g} s per mode and load, modes alternating. Intake: "
        f"{THREADS} threads each walking fresh callers through routing.intake (inbound call "
        "and five IVR steps, the last queueing the lead). Webhooks: wrk, 16 connections, the "
        "webhook measurement's signed IVR walks. Redis data under bench/out on this machine's "
        f"disk ({_filesystem()})."
    )
    result.notes.append(
        "Shipped: `appendfsync everysec` (workers/redis_server.py starts the embedded Redis "
        "with it; docker-compose.yml runs redis-server with it). Why: with everysec Redis "
        "still hands each write to the kernel before answering (unless a slow disk makes it "
        "postpone, at most 2 s), so a crash of the Redis process alone loses next to nothing, "
        "and only a crash of the machine itself (kernel, power) can lose the last second or "
        "two of writes; `always` instead puts an fsync of the disk in the path of every write "
        "of every webhook. A deployment that cannot accept that "
        "second can set `always` on its Redis and pay the cost measured above."
    )
    return result


def _filesystem() -> str:
    import subprocess

    from bench.common import OUT_DIR

    out = subprocess.run(
        ["df", "-T", str(OUT_DIR)], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return out[-1].split()[1] if len(out) > 1 else "unknown"


if __name__ == "__main__":
    standalone(run)
