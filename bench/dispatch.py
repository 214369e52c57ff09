"""3. Dispatch latency: from a counselor going available (POST /api/counselors/<id>/status,
the real API view, which matches inline) to the outbound call request reaching the Twilio
stand-in's REST endpoint (POST .../Calls.json), through real ``hotline worker`` processes
(RQ dial jobs) and the real twilio client, with CALLS_PER_SECOND high enough not to pace.

One counselor at a time goes available while callbacks wait, so each figure is the path's
own latency, not queueing behind other dials. Bar: p99 under 250 ms.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any
from urllib.parse import parse_qs

import redis

from bench.common import (
    ACCOUNT_SID,
    API_TOKEN,
    AUTH_TOKEN,
    hotline_env,
    hotline_process,
    median,
    missing,
    percentile,
    private_redis,
    scratch_dir,
    settings_for,
    standalone,
)
from bench.memory import create_lead
from bench.results import Result
from workers.child_process import ChildProcess

BAR_P99_MS = 250.0
WORKERS = 4
SAMPLES = 300


class Arrivals:
    """WSGI middleware in front of the stand-in: when each call-create request arrived, by
    its To number (the body is read and handed on unchanged)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.times: dict[str, float] = {}
        self.arrived = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Time-stamp POST .../Calls.json, then let the stand-in answer."""
        arrived = time.time()
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO", "").endswith(
            "/Calls.json"
        ):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            to = parse_qs(body.decode()).get("To", [""])[0]
            with self.arrived:
                self.times.setdefault(to, arrived)
                self.arrived.notify_all()
        return self.app(environ, start_response)

    def wait_for(self, to: str, timeout: float) -> float | None:
        """Arrival time of the call to ``to``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while to not in self.times:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.arrived.wait(left)
            return self.times[to]


def counselor_phone(n: int) -> str:
    """A distinct valid number per counselor."""
    return f"+1628{201 + n // 10000:03d}{n % 10000:04d}"


def wait_workers(url: str, count: int, processes: list[ChildProcess], timeout: float = 30) -> None:
    """Until ``count`` RQ workers have registered (they are ready to take jobs)."""
    from rq import Worker

    conn = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    while len(Worker.all(connection=conn)) < count:
        dead = [p for p in processes if not p.alive()]
        if dead or time.monotonic() > deadline:
            raise RuntimeError("workers did not start:\n" + "\n".join(p.tail() for p in processes))
        time.sleep(0.1)
    conn.close()


def _job_times(
    rq_redis: redis.Redis, r: redis.Redis, counselor_id: str
) -> tuple[float, float] | None:
    """(enqueued_at, started_at) of the dial job of the counselor's reservation, Unix s."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from routing import keys

    rid = r.hget(keys.COUNSELOR.format(counselor_id), "reservation")
    try:
        job = Job.fetch(f"dial-{rid}", connection=rq_redis, serializer=JSONSerializer)
    except NoSuchJobError:
        return None
    if job.enqueued_at is None or job.started_at is None:
        return None
    as_unix = [
        (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
        for t in (job.enqueued_at, job.started_at)
    ]
    return as_unix[0], as_unix[1]


def run(quick: bool = False) -> Result:
    """Counselors go available one by one; time each until its call reaches the stand-in."""
    result = Result("dispatch", "Dispatch latency (counselor available -> Twilio REST request)")
    reason = missing("twilio_standin", "workers.jobs", "hotline.api", "routing.intake")
    if reason:
        result.error = reason
        return result
    from hotline.app import create_app
    from twilio_standin import StandIn
    from workers.services import build_services

    # The stand-in's server logs every request; the figures are what matters here.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    samples = 15 if quick else SAMPLES
    worker_count = 2 if quick else WORKERS
    warmup = 2 * worker_count
    workdir = scratch_dir("dispatch")
    with private_redis("dispatch") as server:
        standin = StandIn(ACCOUNT_SID, AUTH_TOKEN).start()
        arrivals = Arrivals(standin.app.wsgi_app)
        standin.app.wsgi_app = arrivals  # type: ignore[method-assign]
        env = hotline_env(server.url, TWILIO_API_BASE_URL=standin.url, CALLS_PER_SECOND="1000")
        settings = settings_for(env)
        r = redis.Redis.from_url(server.url, decode_responses=True)
        workers = [
            hotline_process(["worker"], env, workdir / f"worker-{i}.log")
            for i in range(worker_count)
        ]
        try:
            wait_workers(server.url, worker_count, workers)
            for n in range(samples + warmup):
                create_lead(r, settings, 50_000 + n)
            app = create_app(settings, build_services(settings))
            client = app.test_client()
            auth = {"Authorization": f"Bearer {API_TOKEN}"}
            ids = []
            for n in range(samples + warmup):
                response = client.post(
                    "/api/counselors",
                    json={
                        "name": f"Counselor {n}",
                        "phone": counselor_phone(n),
                        "languages": ["en", "es"],
                        "insurance": [],
                    },
                    headers=auth,
                )
                if response.status_code != 201:
                    raise RuntimeError(f"POST /api/counselors: {response.status_code}")
                ids.append(response.get_json()["id"])
            latencies: list[float] = []
            api_ms: list[float] = []
            queue_ms: list[float] = []
            job_ms: list[float] = []
            rq_redis = redis.Redis.from_url(server.url)
            lost = 0
            for n, counselor_id in enumerate(ids):
                started = time.time()
                response = client.post(
                    f"/api/counselors/{counselor_id}/status",
                    json={"status": "available"},
                    headers=auth,
                )
                answered = time.time()
                if response.status_code != 200:
                    raise RuntimeError(f"status change: {response.status_code}")
                arrived = arrivals.wait_for(counselor_phone(n), timeout=10)
                if n < warmup:
                    continue  # each worker's first jobs import and connect
                if arrived is None:
                    lost += 1
                    continue
                latencies.append((arrived - started) * 1000)
                api_ms.append((answered - started) * 1000)
                job_times = _job_times(rq_redis, r, counselor_id)
                if job_times is not None:
                    enqueued, job_started = job_times
                    queue_ms.append((job_started - enqueued) * 1000)
                    job_ms.append((arrived - job_started) * 1000)
                time.sleep(0.02)
        finally:
            for w in workers:
                w.stop()
            standin.stop()
            r.close()
    if not latencies:
        raise RuntimeError("no call reached the stand-in")
    p50, p90, p99 = (percentile(latencies, p) for p in (50, 90, 99))
    result.add("dispatch latency p50", round(p50, 1), "ms")
    result.add("dispatch latency p90", round(p90, 1), "ms")
    result.add(
        "dispatch latency p99", round(p99, 1), "ms", f"< {BAR_P99_MS:g} ms", p99 < BAR_P99_MS
    )
    result.add("dispatch latency max", round(max(latencies), 1), "ms")
    result.add(
        "of which the API request (inline match + enqueue), median", round(median(api_ms), 2), "ms"
    )
    if queue_ms:
        result.add(
            "of which enqueued -> dial job started (RQ pick-up and fork), median",
            round(median(queue_ms), 2),
            "ms",
        )
        result.add(
            "of which dial job started -> request at the stand-in, median",
            round(median(job_ms), 2),
            "ms",
        )
        result.add("enqueued -> dial job started, p99", round(percentile(queue_ms, 99), 1), "ms")
    result.add(
        "counselors whose call never reached the stand-in (10 s)", lost, "", "= 0", lost == 0
    )
    result.notes.append(
        f"{len(latencies)} samples after {warmup} warm-up ones; {worker_count} `hotline "
        "worker` processes (RQ, JSON serializer), CALLS_PER_SECOND=1000, callbacks waiting "
        "for every counselor. The time runs from just before POST /api/counselors/<id>/status "
        '{"status": "available"} (the app in this process) to the stand-in receiving the '
        "twilio client's POST .../Calls.json for that counselor's number (same clock)."
    )
    return result


if __name__ == "__main__":
    standalone(run)
