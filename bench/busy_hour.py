"""5. Busy hour: 20,000 callers in 10 compressed minutes with 200 counselors, through the Twilio
stand-in (its scripted callers and counselors: ``twilio_standin.simulate``), ``hotline web``
(gunicorn) and real ``hotline worker`` processes.

Time is compressed by SPEED: the stand-in's call time runs SPEED times faster, and Hotline's
own timers (wrap-up, widening, retry delays, the calls-per-second limit) are scaled to match,
so 10 minutes of calls take 10/SPEED real minutes. Every webhook the stand-in sends is timed
as Twilio sees it. Bars: every webhook answered, zero anomalies, webhook p99 under 100 ms.
What limits the hour is read from the CPU each process used (web, workers, the stand-in,
redis-server) and from how close the workers came to the calls-per-second pacing.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from bench.common import (
    API_TOKEN,
    ROOT,
    free_port,
    hotline_env,
    hotline_process,
    median,
    missing,
    percentile,
    private_redis,
    redis_cpu_seconds,
    scratch_dir,
    standalone,
    wait_http,
)
from bench.dispatch import wait_workers
from bench.results import Result
from workers.child_process import ChildProcess, python_module

CALLERS = 20_000
COUNSELORS = 200
#: Compressed minutes over which the callers arrive.
MINUTES = 10
#: Call time runs this many times faster than real time. Under 1 here: on a 2-core machine
#: the stand-in (one Python process simulating Twilio and every phone) needs about as much
#: CPU per caller as Hotline does and cannot dial in more than ~14 callers a real second,
#: so the 10 call-time minutes are played over 25 real ones (the CPU figures show it).
SPEED = 0.4
WORKERS = 3
#: Real seconds between the stand-in's gc.freeze() calls (bench/standin_timed.py): it keeps
#: every call it placed, and each full pass of the collector would walk them all again
#: with every thread stopped.
GC_FREEZE_EVERY = 30.0
#: Leads read at once when the run is over (GET /api/leads/<id>, on the simulator's session).
READERS = 8
#: Compressed minutes after the last arrival before the leads are read (callbacks under way).
DRAIN_MINUTES = 1.0


def scaled_env(speed: float) -> dict[str, str]:
    """Hotline's real-time timers compressed like the stand-in's call time."""

    def s(seconds: float) -> str:
        return str(max(1, round(seconds / speed)))

    return {
        "WRAPUP_SECONDS": s(60),
        "WIDEN_AFTER_SECONDS": s(120),
        "RETRY_DELAYS": ",".join(s(x) for x in (300, 900, 3600)),
        "CALLS_PER_SECOND": f"{1.0 * speed:g}",
        "SWEEP_INTERVAL": "1",
    }


def _simulation_class() -> Any:
    """``twilio_standin.simulate.Simulation``, reading the leads once at the end instead of
    polling them every 2 s during the run (the polling would be load on the hotline too)."""
    from twilio_standin.simulate import Simulation

    class OneReadSimulation(Simulation):  # type: ignore[misc,valid-type]
        def _wait(self, inbound: dict[str, str], first: int, timeout: float) -> Any:
            time.sleep(timeout)
            return self._scan_leads(first)

        def _read_leads(self, lead_ids: list[str]) -> list[dict[str, Any] | None]:
            # READERS at a time: one by one, reading 20,000 leads took 20 minutes.
            with ThreadPoolExecutor(READERS) as pool:
                return list(pool.map(self._lead, lead_ids))

    return OneReadSimulation


def _cpu(parts: dict[str, list[ChildProcess]], r: redis.Redis) -> dict[str, float]:
    """CPU seconds used so far by each part of the system, redis-server's from INFO."""
    used = {name: sum(p.cpu_seconds() for p in ps) for name, ps in parts.items()}
    used["redis-server"] = redis_cpu_seconds(r)
    return used


def _placed(r: redis.Redis) -> int:
    """Counselor calls placed so far (each callback attempt is one, paced)."""
    from routing.metrics import CALLBACKS_PLACED, counters

    return counters(r).get(CALLBACKS_PLACED, 0)


def _limits(
    result: Result,
    cpu: dict[str, float],
    elapsed: float,
    placed: int,
    calls_per_second: float,
    speed: float,
    callers: int,
) -> None:
    """What limited the hour: each part's CPU as cores busy over the run, and the paced
    counselor calls against what the pacing allowed."""
    for name, seconds in cpu.items():
        result.add(f"CPU of {name}", round(seconds / elapsed, 2), "cores")
    for name, seconds in cpu.items():
        result.add(f"CPU of {name} per caller", round(1000 * seconds / callers, 1), "ms")
    allowed = calls_per_second * elapsed
    result.add("counselor calls placed", placed, "")
    result.add(
        "of the pacing's allowance (CALLS_PER_SECOND x run time)",
        round(100 * placed / allowed, 1) if allowed else 0.0,
        "%",
    )
    result.notes.append(
        f"CPU is averaged over the {elapsed:.0f} s run on {os.cpu_count()} cores; the "
        f"pacing allowed {calls_per_second:g} counselor calls a real second "
        f"({calls_per_second / speed:g} a call-time second, Twilio's default)."
    )


#: Lets the benchmark read hotline web's own webhook timings (GET /metrics).
METRICS_TOKEN = "bench-metrics-token-0123456789abcdef"


def _server_histogram(base: str) -> dict[float, float]:
    """hotline web's own webhook timings so far (every route, every process): how many
    were answered within each bucket's bound, in seconds."""
    from prometheus_client.parser import text_string_to_metric_families

    request = urllib.request.Request(
        base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # loopback
        text = response.read().decode()
    counts: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "hotline_webhook_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                counts[bound] = counts.get(bound, 0.0) + sample.value
    return counts


def _server_side(result: Result, before: dict[float, float], after: dict[float, float]) -> None:
    """What hotline web measured itself, from its histogram: the share answered within
    100 ms, and the bucket the 99th percentile falls in (the load generator's own delays,
    which the stand-in's timings include, are not in these)."""
    counts = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    total = counts.get(float("inf"), 0.0)
    if not total:
        return
    within = counts.get(0.1, 0.0)
    result.add(
        "answered within 100 ms, as hotline web timed them", round(100 * within / total, 2), "%"
    )
    p99_bound = min(b for b, n in counts.items() if n >= 0.99 * total)
    result.add("webhook latency p99 at the server, at most", round(1000 * p99_bound, 1), "ms")


def run(quick: bool = False) -> Result:
    """Run the scenario and summarise what Twilio and the callers saw."""
    callers = 40 if quick else CALLERS
    counselors = 4 if quick else COUNSELORS
    result = Result(
        "busy_hour",
        f"Busy hour ({callers:,} callers, {counselors} counselors, compressed time)",
    )
    reason = missing("twilio_standin.simulate")
    if reason:
        result.error = reason
        return result
    from twilio_standin.simulate import Scenario

    speed = 20.0 if quick else SPEED
    arrival = MINUTES * 60 / speed if not quick else 3.0
    drain = DRAIN_MINUTES * 60 / speed if not quick else 5.0
    workdir = scratch_dir("busy-hour")
    timings_path = workdir / "webhooks.json"
    with private_redis("busy-hour") as server:
        web_port, standin_port = free_port(), free_port()
        base, standin_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{standin_port}"
        env = hotline_env(
            server.url,
            PUBLIC_BASE_URL=base,
            TWILIO_API_BASE_URL=standin_url,
            METRICS_TOKEN=METRICS_TOKEN,
            **scaled_env(speed),
        )
        processes: list[ChildProcess] = []
        r = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            standin = python_module(
                "bench.standin_timed",
                ["--port", str(standin_port), "--hotline-url", base, "--speed", f"{speed:g}"]
                + ["--out", str(timings_path), "--gc-freeze-every", f"{GC_FREEZE_EVERY:g}"],
                env,
                workdir / "standin.log",
                cwd=ROOT,
            )
            processes.append(standin)
            web = hotline_process(
                ["web", "--bind", f"127.0.0.1:{web_port}"], env, workdir / "web.log"
            )
            processes.append(web)
            workers = [
                hotline_process(["worker"], env, workdir / f"worker-{i}.log")
                for i in range(WORKERS)
            ]
            processes += workers
            wait_http(base + "/healthz", web)
            wait_http(standin_url + "/_standin/health", standin)
            wait_workers(server.url, WORKERS, workers)
            scenario = Scenario(
                callers=callers,
                counselors=counselors,
                seed=6,
                arrival_seconds=arrival,
                timeout=drain,
                speed=speed,
            )
            simulation = _simulation_class()(base, standin_url, API_TOKEN, echo=lambda _: None)
            histogram_before = _server_histogram(base)
            parts = {"web": [web], "workers": workers, "stand-in": [standin]}
            cpu_before = _cpu(parts, r)
            placed_before = _placed(r)
            started = time.monotonic()
            summary = simulation.run(scenario)
            elapsed = time.monotonic() - started
            ended = time.time()
            cpu_used = {k: v - cpu_before[k] for k, v in _cpu(parts, r).items()}
            placed = _placed(r) - placed_before
            histogram_after = _server_histogram(base)
            from routing.queue import waiting_count

            still_waiting = waiting_count(r)
            dead = [str(p.log_path or p.args[0]) for p in processes if not p.alive()]
        finally:
            # The stand-in first: nothing it sends after this is counted, and no webhook of
            # a call still running meets a server already gone.
            for p in processes:
                p.stop()
            r.close()
    data = json.loads(timings_path.read_text()) if timings_path.exists() else {"timings": []}
    # Only what was sent while the run went on (not calls cut short by the teardown).
    timings = [t for t in data["timings"] if t[4] <= ended]
    if not timings:
        raise RuntimeError("the stand-in recorded no webhook")
    latencies = [t[2] for t in timings]
    unanswered = [t for t in timings if t[1] != 200]
    failures = data.get("connection_failures", [])
    result.add("webhooks sent by the stand-in", len(timings), "")
    result.add(
        "webhook connections that failed (each retried once, as Twilio does)", len(failures), ""
    )
    result.add(
        "webhooks answered",
        len(timings) - len(unanswered),
        "",
        f"= {len(timings)} (all)",
        not unanswered,
    )
    result.add("webhook latency p50", round(percentile(latencies, 50), 1), "ms")
    p99 = percentile(latencies, 99)
    result.add("webhook latency p99", round(p99, 1), "ms", "< 100 ms", p99 < 100)
    _server_side(result, histogram_before, histogram_after)
    result.add(
        "webhook latency max",
        round(max(latencies), 1),
        "ms",
        "< 15000 ms (Twilio's timeout)",
        max(latencies) < 15000,
    )
    result.add("anomalies", len(summary.anomalies), "", "= 0", not summary.anomalies)
    if dead:
        result.add("processes that died", len(dead), "", "= 0", False)
    result.add("callers", summary.callers, "")
    result.add(
        "callers dialed in over (real s)",
        round(summary.dialing_seconds),
        "s",
        f"<= {arrival * 1.1:.0f} s (the plan, +10 %)",
        summary.dialing_seconds <= arrival * 1.1 + 1,
    )
    result.add("leads created", summary.leads, "")
    result.add("callbacks connected", summary.connected, "")
    waits = summary.callback_seconds
    if waits:
        for pct in (50, 90):
            value = percentile(waits, pct) * speed / 60
            result.add(f"time to callback p{pct}", round(value, 1), "compressed min")
        result.add("time to callback max", round(max(waits) * speed / 60, 1), "compressed min")
        minutes_waited = [w * speed / 60 for w in waits]
        edges = [0, 1, 2, 5, 10, 15, 30, 60]
        buckets = [
            f"{lo}-{hi} min: {sum(1 for m in minutes_waited if lo <= m < hi)}"
            for lo, hi in zip(edges, edges[1:], strict=False)
        ]
        over = sum(1 for m in minutes_waited if m >= edges[-1])
        result.notes.append(
            "Time to callback distribution (compressed minutes): "
            + ", ".join(buckets)
            + (f", {edges[-1]}+ min: {over}" if over else "")
            + "."
        )
    else:
        result.notes.append("No callback was connected during the run: no time to callback.")
    result.add("still waiting at the end", still_waiting, "")
    _limits(
        result,
        cpu_used,
        elapsed,
        placed,
        float(env["CALLS_PER_SECOND"]),
        speed,
        max(1, summary.callers),
    )
    minutes = round(arrival * speed / 60, 1)
    result.table.append(["webhook", "requests", "p50 ms", "p99 ms", "max ms", "not 200"])
    by_path: dict[str, list[Any]] = {}
    for t in timings:
        path = t[0].split("?", 1)[0]  # an IVR step's ?lead=<id> is one row per path, not per lead
        key = (
            path.split("/twilio/callback/")[0] + "/twilio/callback/<r>/" + path.rsplit("/", 1)[-1]
            if "/twilio/callback/" in path
            else path
        )
        by_path.setdefault(key, []).append(t)
    for path, rows in sorted(by_path.items(), key=lambda x: -len(x[1])):
        ms = [x[2] for x in rows]
        result.table.append(
            [
                path,
                str(len(rows)),
                f"{median(ms):.1f}",
                f"{percentile(ms, 99):.1f}",
                f"{max(ms):.1f}",
                str(sum(1 for x in rows if x[1] != 200)),
            ]
        )
    result.notes.append(
        f"{summary.callers:,} callers dialed in over {arrival:.0f} real s "
        f"({minutes:g} compressed min, speed {speed:g}), {counselors} counselors, "
        f"{WORKERS} workers, "
        f"hotline web with {env.get('WEB_CONCURRENCY', '2')} gunicorn workers; leads read "
        f"{drain:.0f} real s after the last arrival; {elapsed:.0f} s in all. Callers and "
        "counselors are twilio_standin.simulate's (mixed languages, insurance, urgency; busy, "
        "unanswered, voicemail and declined legs). Hotline's timers scaled by the speed: "
        + ", ".join(f"{k}={v}" for k, v in scaled_env(speed).items())
        + ". Lead statuses: "
        + json.dumps(dict(sorted(summary.statuses.items())))
        + "."
    )
    result.notes.append(
        "Time to callback is from the first call to the bridged callback, for the callbacks "
        "connected during the run, in compressed minutes (real seconds x speed): with "
        f"{counselors} counselors the line cannot drain {summary.callers:,} callers in "
        f"{minutes:g} minutes, so this is the head of the line."
    )
    if summary.anomalies:
        result.notes.append("Anomalies: " + "; ".join(summary.anomalies[:20]))
    if gc_seen := data.get("gc"):
        result.notes.append(
            "The stand-in's garbage collector (every thread stops during a pass): "
            + ", ".join(
                f"generation {g}: {gc_seen['passes'][g]} passes, {gc_seen['seconds'][g]:g} s, "
                f"longest {gc_seen['longest_ms'][g]:g} ms"
                for g in range(3)
            )
            + f"; gc.freeze() every {GC_FREEZE_EVERY:g} s ({gc_seen['freezes']} times, "
            f"{gc_seen['frozen_objects']:,} objects frozen at the end)."
        )
    if failures:
        result.notes.append(
            "Failed webhook connections, each retried once as Twilio does by default "
            f"(connection overrides rc=1; retried by {data.get('retried_by')}): "
            + "; ".join(f"{p} ({e})" for p, e in failures[:10])
        )
    if unanswered:
        result.notes.append(
            "Not answered 200: " + "; ".join(f"{t[0]} -> {t[1] or t[3]}" for t in unanswered[:20])
        )
    return result


if __name__ == "__main__":
    standalone(run)
