"""The ``hotline worker`` process: an RQ worker with RQ's scheduler, plus the sweep."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker
from rq.exceptions import StopRequested
from rq.serializers import JSONSerializer

from settings import Settings
from workers import context, jobs
from workers.services import DEFAULT_QUEUE, DIAL_QUEUE, Services, build_services

log = logging.getLogger(__name__)

#: Seconds a worker waits before working again after losing Redis.
REDIS_RETRY = 1.0
#: RQ's worker TTL (420 s by default): an idle worker heartbeats every TTL - 15 s (its
#: blocking pop's timeout), so 60 makes a heartbeat at least every 45 s, which is what
#: ``hotline worker-ready`` (a container's healthcheck) looks for.
WORKER_TTL = 60


def _sweep_forever(services: Services, stop: threading.Event) -> None:
    """Run the periodic sweep every SWEEP_INTERVAL seconds until ``stop`` is set.

    Written here rather than with RQ's CronScheduler: the sweep must run even when the
    queues are backed up, and each of its moves is a compare-and-set, safe to run from every
    worker process at once. It has clients of its own: RQ forks work horses from this
    process, and a forked child must never share a live connection with this thread.
    """
    settings = services.settings
    while not stop.wait(settings.sweep_interval):
        try:
            jobs.sweep_now(services)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("sweep: no Redis (%s); retrying in %ss", exc, settings.sweep_interval)
        except Exception:  # the next tick tries again; never kill the thread
            log.exception("sweep failed; retrying in %ss", settings.sweep_interval)


def run_worker(settings: Settings, burst: bool = False) -> None:
    """Work the dial and default queues until stopped (or empty, with ``burst``)."""
    services = build_services(settings)
    context.use(services)  # built once: every forked job inherits it
    stop = threading.Event()
    if not burst:
        sweeper = build_services(settings)
        threading.Thread(target=_sweep_forever, args=(sweeper, stop), daemon=True).start()
    try:
        while True:
            try:
                # Built inside the try: RQ's Worker talks to Redis as soon as it is made.
                worker = Worker(
                    [services.queue(DIAL_QUEUE), services.queue(DEFAULT_QUEUE)],
                    connection=services.rq_redis,
                    serializer=JSONSerializer,
                    worker_ttl=WORKER_TTL,
                )
                worker.work(with_scheduler=True, burst=burst, logging_level=settings.log_level)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.error("worker lost Redis (%s); starting again in %ss", exc, REDIS_RETRY)
            else:
                if burst or worker._stop_requested or worker._shutdown_requested_date:
                    return
                # RQ's loop also quits by itself on a Redis timeout or an error it did not
                # expect; a blink of Redis must cost seconds, not the worker.
                log.error("worker loop ended unasked; starting again in %ss", REDIS_RETRY)
            try:
                time.sleep(REDIS_RETRY)
            except StopRequested:  # SIGTERM while waiting (RQ's handler raises it)
                return
    finally:
        stop.set()


def ready_workers(
    services: Services, max_age: float, hostname: str | None = None, now: datetime | None = None
) -> list[str]:
    """Names of the RQ workers on ``hostname`` (default this host) whose last heartbeat is
    at most ``max_age`` seconds old: a worker process that is alive and still talks to
    Redis (``hotline worker-ready``)."""
    hostname = socket.gethostname() if hostname is None else hostname
    now = datetime.now(UTC) if now is None else now
    return sorted(
        worker.name
        for worker in Worker.all(connection=services.rq_redis, serializer=JSONSerializer)
        if worker.hostname == hostname
        and worker.last_heartbeat is not None
        and (now - worker.last_heartbeat).total_seconds() <= max_age
    )
