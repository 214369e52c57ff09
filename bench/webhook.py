"""1. Webhook speed: signed IVR step requests through ``hotline web`` (gunicorn, the production
server) against a bare Flask endpoint returning a fixed <Gather> through the same gunicorn
configuration, measured in the same run, alternating, at 16 and 64 connections.

Bar: IVR throughput at least 0.7 of the bare endpoint's; p99 under 50 ms at 16 connections.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from xml.etree import ElementTree

from bench.common import (
    Process,
    Result,
    free_port,
    hotline_env,
    hotline_process,
    median,
    private_redis,
    scratch_dir,
    signed_post,
    standalone,
    wait_http,
)
from bench.loadgen import LoadResult, Request, ensure_wrk, load

THROUGHPUT_BAR = 0.7
P99_BAR_MS = 50.0
CONNECTIONS = (16, 64)
#: Distinct calls the load cycles through (each its own IVR session in Redis).
CALLS = 500


def call_sid(n: int) -> str:
    """A Twilio-shaped CallSid for the n-th simulated call."""
    return f"CA{n:032x}"


def inbound_params(sid: str, n: int) -> dict[str, str]:
    """What Twilio sends with an inbound call."""
    return {
        "AccountSid": "AC" + "0" * 31 + "7",
        "CallSid": sid,
        "From": f"+1415555{n % 10000:04d}",
        "To": "+18004927848",
        "Direction": "inbound",
        "CallStatus": "in-progress",
        "ApiVersion": "2010-04-01",
    }


def first_step(twiml: bytes) -> tuple[str, str]:
    """The action path of the first <Gather> in a TwiML document and a key it accepts."""
    root = ElementTree.fromstring(twiml)
    gather = root.find(".//Gather")
    if gather is None or not gather.get("action"):
        raise RuntimeError(f"/twilio/voice answered no <Gather action=...>: {twiml[:300]!r}")
    action = gather.get("action", "")
    path = "/" + action.split("://", 1)[-1].split("/", 1)[1] if "://" in action else action
    return path, "1"


def prepare_ivr(base: str, calls: int) -> list[Request]:
    """Start ``calls`` inbound calls (POST /twilio/voice, signed) and return the load: each
    call's first IVR step (the Gather's action) pressed with a valid key.

    Pressing the same valid key on the same step again is what Twilio does when it retries a
    request, so every request of the load does the full work of a step (read the session,
    validate, save, answer the next prompt) without walking the call out of the IVR.
    """
    requests: list[Request] = []
    for n in range(calls):
        sid = call_sid(n + 1)
        params = inbound_params(sid, n)
        path, key = first_step(signed_post(base, "/twilio/voice", params))
        requests.append((path, {**params, "Digits": key}))
    # The step must answer TwiML, not a 403/404/500.
    ElementTree.fromstring(signed_post(base, *requests[0]))
    return requests


def bare_requests(calls: int) -> list[Request]:
    """The same request shapes (signed, same sizes) for the bare endpoint."""
    return [
        (
            "/twilio/ivr/situation",
            {**inbound_params(call_sid(n + 1), n), "Digits": "1"},
        )
        for n in range(calls)
    ]


def _round(
    base: str,
    requests: list[Request],
    connections: int,
    seconds: float,
    workdir: Path,
    wrk: str | None,
) -> LoadResult:
    return load(base, requests, connections, seconds, workdir, wrk)


def run(quick: bool = False) -> Result:
    """Measure, alternating bare and IVR runs so both see the same machine noise."""
    result = Result("webhook", "Webhook speed (IVR step vs bare <Gather>, gunicorn)")
    wrk = ensure_wrk()
    seconds = 1.0 if quick else 5.0
    rounds = 1 if quick else 3
    calls = 20 if quick else CALLS
    workdir = scratch_dir("webhook")
    with private_redis("webhook-redis") as redis_server:
        env = hotline_env(redis_server.url)
        ivr_port, bare_port = free_port(), free_port()
        ivr = hotline_process(
            ["web", "--bind", f"127.0.0.1:{ivr_port}"], env, workdir / "hotline-web.log"
        )
        bare = Process(
            [
                sys.executable,
                "-m",
                "bench.bare_app",
                "--bind",
                f"127.0.0.1:{bare_port}",
                "--workers",
                str(_web_concurrency(env)),
            ],
            env,
            workdir / "bare-web.log",
        )
        try:
            ivr_base, bare_base = f"http://127.0.0.1:{ivr_port}", f"http://127.0.0.1:{bare_port}"
            wait_http(ivr_base + "/healthz", ivr)
            wait_http(bare_base + "/healthz", bare)
            ivr_requests = prepare_ivr(ivr_base, calls)
            bare_reqs = bare_requests(calls)
            # Warm both (imports, first-request set-up, connection pools).
            _round(ivr_base, ivr_requests, 4, 1, workdir, wrk)
            _round(bare_base, bare_reqs, 4, 1, workdir, wrk)
            runs: dict[tuple[str, int], list[LoadResult]] = {}
            for _ in range(rounds):
                for connections in CONNECTIONS:
                    for name, base, reqs in (
                        ("bare", bare_base, bare_reqs),
                        ("ivr", ivr_base, ivr_requests),
                    ):
                        runs.setdefault((name, connections), []).append(
                            _round(base, reqs, connections, seconds, workdir, wrk)
                        )
                        if not ivr.alive() or not bare.alive():
                            raise RuntimeError("a server died under load")
                        time.sleep(0.2)
        finally:
            ivr.stop()
            bare.stop()
    tool = next(iter(runs.values()))[0].tool
    result.notes.append(
        f"Load: {tool}; {rounds} round(s) of {seconds:g} s per server and connection count, "
        "bare and IVR alternating; figures are the median round. Requests are signed "
        f"POSTs cycling through {calls} calls, each already answered at /twilio/voice; the "
        "IVR request is the first menu step with a valid key (see bench/webhook.py)."
    )
    result.notes.append(
        "Both servers: gunicorn gthread, WEB_CONCURRENCY workers x 8 threads, access log on "
        "(hotline web's configuration); the load generator runs on the same 2 cores."
    )
    result.table.append(
        ["server", "connections", "requests/s", "p50 ms", "p90 ms", "p99 ms", "errors"]
    )
    for (name, connections), rs in sorted(runs.items(), key=lambda x: (x[0][1], x[0][0])):
        result.table.append(
            [
                name,
                str(connections),
                f"{median([x.rps for x in rs]):.0f}",
                f"{median([x.p50_ms for x in rs]):.1f}",
                f"{median([x.p90_ms for x in rs]):.1f}",
                f"{median([x.p99_ms for x in rs]):.1f}",
                str(sum(x.errors for x in rs)),
            ]
        )
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
        p99 = median([x.p99_ms for x in ivr_runs])
        p50 = median([x.p50_ms for x in ivr_runs])
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
        errors = sum(x.errors for x in ivr_runs)
        result.add(
            f"IVR errors (non-2xx, socket), {connections} connections",
            errors,
            "",
            "= 0",
            errors == 0,
        )
    return result


def _web_concurrency(env: dict[str, str]) -> int:
    return int(env.get("WEB_CONCURRENCY") or 2)


if __name__ == "__main__":
    standalone(run)
