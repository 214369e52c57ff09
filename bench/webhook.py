"""1. Webhook speed: signed IVR step requests through ``hotline web`` (gunicorn, the production
server) against a bare Flask endpoint returning a fixed <Gather> through the same gunicorn
configuration, measured in the same run, alternating, at 16 and 64 connections.

Bar (issue 14): IVR throughput at least 0.6 of the bare endpoint's at 16 and at 64
connections; p99 under 30 ms at 16 connections (issue 6's were 0.7 x and 50 ms).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from xml.etree import ElementTree

import redis

from bench.common import (
    ACCOUNT_SID,
    ROOT,
    free_port,
    hotline_env,
    hotline_process,
    median,
    private_redis,
    redis_cpu_seconds,
    scratch_dir,
    signed_post,
    standalone,
    wait_http,
)
from bench.loadgen import LoadResult, Request, ensure_wrk, load
from bench.results import Result
from workers.child_process import python_module

THROUGHPUT_BAR = 0.6
P99_BAR_MS = 30.0
CONNECTIONS = (16, 64)
#: Calls walked step by step together; far more than the connections of a wrk thread, so a
#: call's next step is only sent long after its previous step was answered.
BLOCK = 256
#: wrk threads (each takes its own calls).
THREADS = 2
#: The lead a <Gather> action names.
LEAD_IN_ACTION = re.compile(rb"[?&]lead=(L[0-9]+)")


def call_sid(n: int) -> str:
    """A Twilio-shaped CallSid for the n-th simulated call."""
    return f"CA{n:032x}"


def caller_number(n: int) -> str:
    """A distinct valid US number per call (so no caller finds a pending callback)."""
    return f"+1415{201 + (n // 10000) % 799:03d}{n % 10000:04d}"


def inbound_params(n: int) -> dict[str, str]:
    """What Twilio sends with every request of an inbound call."""
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid(n),
        "From": caller_number(n),
        "To": "+18004927848",
        "Direction": "inbound",
        "CallStatus": "in-progress",
        "ApiVersion": "2010-04-01",
    }


def walk(n: int, lead_id: str = "", opens: int | None = None) -> list[Request]:
    """Every request of one caller's whole IVR, answers varied by call: the inbound call,
    language, situation, urgency, insurance, then confirming the caller ID (which queues
    the lead and asks for matching). Each step's URL names the call's lead (``lead_id``),
    as the <Gather> action Twilio follows does; ``opens``: the inbound call is another
    call's, the one the next run steps through (call ``n`` was opened before)."""
    params = inbound_params(n)
    query = f"?lead={lead_id}" if lead_id else ""
    keys = [
        ("language", "1" if n % 10 < 7 else "2"),
        ("situation", "1" if n % 5 < 3 else "2"),
        ("urgency", "1" if n % 10 == 0 else "2"),
        ("insurance", str(1 + n % 6)),
        ("caller-id", "1"),
    ]
    inbound = ("/twilio/voice", inbound_params(n if opens is None else opens))
    return [inbound] + [
        (f"/twilio/ivr/{step}{query}", {**params, "Digits": digits}) for step, digits in keys
    ]


def walk_through(post: Callable[[str, dict[str, str]], bytes], n: int) -> None:
    """Walk call ``n`` through the IVR with ``post`` (path, form -> body), each step naming
    the lead the inbound call's answer named, as Twilio follows the <Gather> action."""
    lead = ""
    for path, params in walk(n):
        body = post(path + (f"?lead={lead}" if lead else ""), params)
        if not lead:
            found = LEAD_IN_ACTION.search(body)
            lead = found.group(1).decode() if found else ""


def calls_for(requests: int) -> int:
    """Calls whose whole IVR makes about ``requests`` requests (whole blocks per thread)."""
    calls = max(BLOCK * THREADS, -(-requests // len(walk(0))))
    return -(-calls // (BLOCK * THREADS)) * BLOCK * THREADS


def partitions(
    first_call: int, requests: int, opened: dict[int, str] | None = None
) -> tuple[list[list[Request]], int]:
    """About ``requests`` requests, one list per wrk thread, in blocks of BLOCK calls sent
    step by step; and the next unused call number. With ``opened`` (call number -> lead id
    of calls whose inbound request was already answered), each walk steps through one of
    them, naming its lead, and its inbound request opens a fresh call instead."""
    per_call = len(walk(0))
    calls = calls_for(requests)
    ready = sorted(opened or {})[:calls]
    calls = len(ready) - len(ready) % (BLOCK * THREADS) if opened is not None else calls
    parts: list[list[Request]] = [[] for _ in range(THREADS)]
    n, i = first_call, 0
    while i < calls:
        for part in parts:
            if opened is None:
                walks = [walk(n + j) for j in range(BLOCK)]
            else:
                walks = [walk(c, opened[c], n + j) for j, c in enumerate(ready[i : i + BLOCK])]
            n += BLOCK
            i += BLOCK
            for step in range(per_call):
                part.extend(w[step] for w in walks)
    return parts, n


def open_calls(base: str, r: redis.Redis, first_call: int, count: int) -> dict[int, str]:
    """Answer the inbound request of ``count`` fresh calls (untimed, 16 at a time) and
    return them by number with their leads: the calls a timed run steps through."""
    from concurrent.futures import ThreadPoolExecutor

    numbers = range(first_call, first_call + count)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: signed_post(base, "/twilio/voice", inbound_params(n)), numbers))
    return lead_ids(r, numbers)


def lead_ids(r: redis.Redis, numbers: range | list[int]) -> dict[int, str]:
    """The lead of each of these calls that has one (its inbound request was answered)."""
    from routing import keys

    pipe = r.pipeline(transaction=False)
    for n in numbers:
        pipe.get(keys.CALL_LEAD.format(call_sid(n)))
    return {n: lead for n, lead in zip(numbers, pipe.execute(), strict=True) if lead}


def signed_parts(parts: list[list[Request]]) -> list[list[Request]]:
    """The same requests to the bare app's signature-checking route (signed for it)."""
    return [[("/signed" + path, params) for path, params in part] for part in parts]


def noop_partitions() -> list[list[Request]]:
    """Hotline's cheapest signed webhook: an inbound call's "ringing" status callback, which
    goes through the signature check and every request hook but touches no Redis. Its pace
    is the most any webhook of this app could reach on this machine."""
    return [
        [
            ("/twilio/status", {**inbound_params(n), "CallStatus": "ringing"})
            for n in range(t, 2000, THREADS)
        ]
        for t in range(THREADS)
    ]


def check_walk(base: str, r: redis.Redis, n: int) -> None:
    """Walk one call through the IVR over HTTP, checking each answer is the TwiML that leads
    to the next step and that the lead ends up waiting: the load exercises the real path."""
    from routing import keys

    requests = walk(n)
    path = requests[0][0]
    for i, (_, params) in enumerate(requests):
        root = ElementTree.fromstring(signed_post(base, path, params))
        if i + 1 < len(requests):
            gather = root.find("Gather")
            action = gather.get("action", "") if gather is not None else ""
            lead_id = r.get(keys.CALL_LEAD.format(call_sid(n)))
            expected = f"{requests[i + 1][0]}?lead={lead_id}"
            if not action.endswith(expected):
                raise RuntimeError(f"{path} did not lead to {expected}: {action!r}")
            path = expected
        elif root.find("Hangup") is None:
            raise RuntimeError(f"the IVR did not end with <Hangup> after {path}")
    lead_id = r.get(keys.CALL_LEAD.format(call_sid(n)))
    status = r.hget(keys.LEAD.format(lead_id), "status") if lead_id else None
    if status != "waiting":
        raise RuntimeError(f"the walked call's lead is {status!r}, not waiting")


def run(quick: bool = False) -> Result:
    """Measure, alternating bare and IVR runs so both see the same machine noise."""
    result = Result("webhook", "Webhook speed (IVR steps vs bare <Gather>, gunicorn)")
    wrk = ensure_wrk()
    seconds = 1.0 if quick else 5.0
    rounds = 1 if quick else 3
    workdir = scratch_dir("webhook")
    runs: dict[tuple[str, int], list[LoadResult]] = {}
    #: CPU per request of each run (us): the server's processes, redis-server.
    cpu: dict[tuple[str, int], list[tuple[float, float]]] = {}
    with private_redis("webhook-redis") as redis_server:
        r = redis.Redis.from_url(redis_server.url, decode_responses=True)
        env = hotline_env(redis_server.url)
        ivr_port, bare_port = free_port(), free_port()
        ivr = hotline_process(
            ["web", "--bind", f"127.0.0.1:{ivr_port}"], env, workdir / "hotline-web.log"
        )
        bare = python_module(
            "bench.bare_app",
            ["--bind", f"127.0.0.1:{bare_port}", "--workers", str(_web_concurrency(env))],
            env,
            workdir / "bare-web.log",
            cwd=ROOT,
        )
        try:
            ivr_base, bare_base = f"http://127.0.0.1:{ivr_port}", f"http://127.0.0.1:{bare_port}"
            wait_http(ivr_base + "/healthz", ivr)
            wait_http(bare_base + "/healthz", bare)
            check_walk(ivr_base, r, 1)
            ping_us = redis_round_trip_us(r)
            # Warm both (imports, first requests, pools) and size the runs from the IVR's pace.
            parts, next_call = partitions(2, 600 if quick else 3000)  # whole walks, unnamed
            warm = load(ivr_base, parts, 16, 1, workdir, wrk)
            load(bare_base, parts, 16, 1, workdir, wrk)
            per_run = int(max(warm.rps, 100) * seconds * 4)
            noop = noop_partitions()
            for _ in range(rounds):
                for connections in CONNECTIONS:
                    # Fresh calls for every run: each IVR request is a real step of a call.
                    count = calls_for(per_run)
                    opened = open_calls(ivr_base, r, next_call, count)
                    parts, next_call = partitions(next_call + count, per_run, opened)
                    for name, base, load_parts, server in (
                        ("bare", bare_base, parts, bare),
                        ("ivr", ivr_base, parts, ivr),
                        ("signed no-op", ivr_base, noop, ivr),
                        ("bare + signature check", bare_base, signed_parts(parts), bare),
                    ):
                        before = (server.cpu_seconds(), redis_cpu_seconds(r))
                        done = load(base, load_parts, connections, seconds, workdir, wrk)
                        runs.setdefault((name, connections), []).append(done)
                        cpu.setdefault((name, connections), []).append(
                            (
                                1e6 * (server.cpu_seconds() - before[0]) / max(1, done.requests),
                                1e6 * (redis_cpu_seconds(r) - before[1]) / max(1, done.requests),
                            )
                        )
                        if not ivr.alive() or not bare.alive():
                            raise RuntimeError("a server died under load")
                        time.sleep(0.2)
            from routing.queue import waiting_count

            queued = waiting_count(r)
        finally:
            ivr.stop()
            bare.stop()
            r.close()
    tool = next(iter(runs.values()))[0].tool
    result.notes.append(
        f"Load: {tool}; {rounds} round(s) of {seconds:g} s per server and connection count, "
        "bare and IVR alternating; figures are the median round. Every IVR request is a real, "
        "signed step of a fresh call walked through the whole IVR in order (inbound call, "
        "language, situation, urgency, insurance, caller-ID confirmation that queues the lead "
        f"and enqueues matching); {queued:,} leads were queued by the load. Each step's URL "
        "names the call's lead, as the <Gather> action Twilio follows does: the calls stepped "
        "through were opened (their inbound request answered) untimed just before the run, "
        "and each walk's inbound request opens another call. The bare server "
        "gets the same requests (same sizes) and answers a fixed <Gather>."
    )
    if any(x.wrapped for (name, _), rs in runs.items() if name == "ivr" for x in rs):
        result.notes.append("Warning: an IVR run used up its prepared calls and repeated them.")
    result.notes.append(
        '"signed no-op" is hotline web answering an inbound call\'s "ringing" status '
        "callback: signature check, every request hook (sessions, CSRF, rate limiter), empty "
        "TwiML, no Redis. Its ratio to bare is the ceiling for any Hotline webhook here. "
        '"bare + signature check" is the bare app validating X-Twilio-Signature with '
        "twilio's RequestValidator before its fixed <Gather>: a second baseline that does the "
        "one piece of work no webhook may skip."
    )
    result.notes.append(
        "Both servers: gunicorn gthread, WEB_CONCURRENCY workers x 8 threads, access log on "
        "(hotline web's configuration), LOG_LEVEL=WARNING; the load generator shares the "
        "machine's cores."
    )
    result.table.append(
        [
            "server",
            "connections",
            "requests/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "errors",
            "server CPU us/request",
            "Redis CPU us/request",
        ]
    )
    for (name, connections), rs in sorted(runs.items(), key=lambda x: (x[0][1], x[0][0])):
        used = cpu[(name, connections)]
        result.table.append(
            [
                name,
                str(connections),
                f"{median([x.rps for x in rs]):.0f}",
                f"{median([x.p50_ms for x in rs]):.1f}",
                f"{median([x.p90_ms for x in rs]):.1f}",
                f"{median([x.p99_ms for x in rs]):.1f}",
                str(sum(x.errors for x in rs)),
                f"{median([u[0] for u in used]):.0f}",
                f"{median([u[1] for u in used]):.0f}",
            ]
        )
    result.notes.append(
        "CPU per request: user + system time of the server's processes (gunicorn's master "
        "and workers) and of redis-server over each run, divided by the requests answered; "
        "the machine's other work (wrk, the kernel's share outside them) is not in it."
    )
    result.add("Redis round trip (PING, median of 2,000, one client)", round(ping_us), "us")
    for connections in CONNECTIONS:
        ivr_runs, bare_runs = runs[("ivr", connections)], runs[("bare", connections)]
        ivr_rps = median([x.rps for x in ivr_runs])
        bare_rps = median([x.rps for x in bare_runs])
        ratio = ivr_rps / bare_rps if bare_rps else 0.0
        result.add(
            f"IVR / bare throughput, {connections} connections",
            round(ratio, 3),
            "x",
            f">= {THROUGHPUT_BAR}",
            ratio >= THROUGHPUT_BAR,
        )
        result.add(f"IVR requests/s, {connections} connections", round(ivr_rps), "req/s")
        result.add(f"bare requests/s, {connections} connections", round(bare_rps), "req/s")
        p50 = median([x.p50_ms for x in ivr_runs])
        p99 = median([x.p99_ms for x in ivr_runs])
        result.add(f"IVR p50 latency, {connections} connections", round(p50, 2), "ms")
        if connections == 16:
            result.add(
                "IVR p99 latency, 16 connections",
                round(p99, 2),
                "ms",
                f"< {P99_BAR_MS:g} ms",
                p99 < P99_BAR_MS,
            )
        else:
            result.add(f"IVR p99 latency, {connections} connections", round(p99, 2), "ms")
        noop_rps = median([x.rps for x in runs[("signed no-op", connections)]])
        result.add(
            f"signed no-op webhook / bare throughput, {connections} connections",
            round(noop_rps / bare_rps if bare_rps else 0.0, 3),
            "x",
        )
        signed_rps = median([x.rps for x in runs[("bare + signature check", connections)]])
        result.add(
            f"IVR / signature-checking bare throughput, {connections} connections",
            round(ivr_rps / signed_rps if signed_rps else 0.0, 3),
            "x",
        )
        result.add(
            f"bare p99 latency, {connections} connections",
            round(median([x.p99_ms for x in bare_runs]), 2),
            "ms",
        )
        bad = sum(x.errors for x in runs[("bare + signature check", connections)])
        if bad:  # a refused signature would make that baseline meaningless: say so
            result.notes.append(
                f"Warning: the signature-checking bare endpoint failed {bad} requests at "
                f"{connections} connections."
            )
        errors = sum(x.errors for x in ivr_runs)
        result.add(
            f"IVR errors (non-2xx, socket), {connections} connections",
            errors,
            "",
            "= 0",
            errors == 0,
        )
    return result


def redis_round_trip_us(r: redis.Redis, count: int = 2000) -> float:
    """Median microseconds of one PING on this machine: the floor under each of the IVR's
    Redis round trips (a menu step makes two), which the bare endpoint never pays."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        r.ping()
        samples.append((time.perf_counter() - started) * 1e6)
    return median(samples)


def _web_concurrency(env: dict[str, str]) -> int:
    return int(env.get("WEB_CONCURRENCY") or 2)


if __name__ == "__main__":
    standalone(run)
