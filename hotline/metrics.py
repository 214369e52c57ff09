"""``GET /metrics``: Prometheus' exposition, for a scraper holding ``METRICS_TOKEN``.

Two sources make one answer:

- **Redis, read at scrape time** (:class:`RedisCollector` over routing.metrics): the floor
  (callbacks waiting by priority and language, the longest wait, counselors by state) and
  the lifetime counters every process adds to (callbacks placed, connected and not,
  Twilio REST errors by code, sweep runs and repairs). Every web process answers the same,
  and a restarted worker loses no count.
- **This web server's own webhook timings** (:data:`WEBHOOK_SECONDS`), kept without a Redis
  round trip: a webhook's time is a caller waiting. Under ``hotline web`` (gunicorn, several
  processes) it is prometheus_client's multiprocess mode: each process writes its samples
  to files under ``PROMETHEUS_MULTIPROC_DIR``, which ``hotline web`` sets under the var
  directory before gunicorn forks, and a scrape adds them up. Without it (tests, a bare
  Flask server), the histogram is this process's.

Who may read it: nobody until ``METRICS_TOKEN`` is set (404, as if there were no such
page: the floor's numbers are not for the internet); then whoever sends it as a bearer
token (Prometheus' ``authorization`` scrape setting). Labels never hold a number or an id.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, abort, request
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from redis import Redis
from redis.exceptions import RedisError

from hotline.services import get_redis, get_settings
from routing import metrics
from routing.endings import Ending

bp = Blueprint("metrics", __name__)

#: Environment variable of prometheus_client's multiprocess mode (a directory).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Path prefix of the requests timed: Twilio's webhooks.
WEBHOOK_PREFIX = "/twilio/"

#: Seconds Twilio's webhooks took here, by route (the URL rule, never the URL: no ids).
#: Buckets up to Twilio's own 15 s limit.
WEBHOOK_SECONDS = Histogram(
    "hotline_webhook_duration_seconds",
    "Time to answer a Twilio webhook (/twilio/*), by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0),
    registry=None,  # collected per scrape: see registry()
)


class RedisCollector:
    """The floor and the lifetime counters, read from Redis when Prometheus scrapes."""

    def __init__(self, r: Redis):
        self.r = r

    def describe(self) -> list[Metric]:
        """Nothing up front, so registering reads no Redis (names are all ``hotline_``)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every metric read from Redis; only ``hotline_redis_up 0`` when it cannot be read."""
        up = GaugeMetricFamily("hotline_redis_up", "Whether this scrape could read Redis")
        try:
            floor = metrics.floor(self.r)
            counts = metrics.counters(self.r)
        except RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _floor_metrics(floor)
        yield from _counter_metrics(counts)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _floor_metrics(floor: metrics.Floor) -> Iterator[Metric]:
    waiting = GaugeMetricFamily(
        "hotline_callbacks_waiting",
        "Callbacks waiting in line for a counselor, by priority and language",
        labels=["priority", "language"],
    )
    for (priority, language), n in sorted(floor.waiting.items()):
        waiting.add_metric([priority, language], n)
    yield waiting
    yield _gauge(
        "hotline_longest_wait_seconds",
        "Seconds the longest-waiting caller in line has waited since their first call",
        floor.longest_wait_seconds,
    )
    counselors = GaugeMetricFamily(
        "hotline_counselors", "Counselors by state (break: offline for a break)", labels=["state"]
    )
    for state, n in sorted(floor.counselors.items()):
        counselors.add_metric([state], n)
    yield counselors
    yield _gauge(
        "hotline_callbacks_in_progress",
        "Callbacks being placed or on the phone (live reservations)",
        floor.in_progress,
    )
    yield _gauge(
        "hotline_callbacks_scheduled",
        "Callbacks waiting for a retry or for the caller's calling hours",
        floor.scheduled,
    )
    yield _gauge(
        "hotline_dialing_paused",
        "1 while dialing is paused for an account-level Twilio error",
        int(floor.dialing_paused),
    )


def _counter(
    name: str, documentation: str, labels: list[str], values: Iterable[tuple[list[str], int]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for label_values, n in values:
        family.add_metric(label_values, n)
    return family


def _counter_metrics(counts: dict[str, int]) -> Iterator[Metric]:
    ended = metrics.by_label(counts, metrics.CALLBACKS_ENDED)
    yield _counter(
        "hotline_callbacks_placed",
        "Callback attempts placed (a counselor's call accepted by Twilio)",
        [],
        [([], counts.get(metrics.CALLBACKS_PLACED, 0))],
    )
    yield _counter(
        "hotline_callbacks_connected",
        "Callbacks that bridged the caller to a counselor",
        [],
        [([], ended.get(Ending.CONNECTED.value, 0))],
    )
    yield _counter(
        "hotline_callbacks_failed",
        "Callbacks that ended without bridging the caller, by how they ended",
        ["outcome"],
        [([e.value], ended.get(e.value, 0)) for e in Ending if e is not Ending.CONNECTED],
    )
    yield _counter(
        "hotline_twilio_rest_errors",
        "Twilio REST requests refused (by Twilio error code) or unanswered (connection, timeout)",
        ["code"],
        [
            ([code], n)
            for code, n in sorted(metrics.by_label(counts, metrics.TWILIO_ERRORS).items())
        ],
    )
    yield _counter(
        "hotline_sweep_runs",
        "Sweeps run by the workers",
        [],
        [([], counts.get(metrics.SWEEP_RUNS, 0))],
    )
    repairs = metrics.by_label(counts, metrics.SWEEP_REPAIRS)
    yield _counter(
        "hotline_sweep_repairs",
        "What the sweeps repaired, by kind (leases reclaimed, calls reconciled with Twilio, "
        "wrap-ups ended, due callbacks requeued)",
        ["kind"],
        [([kind], repairs.get(kind, 0)) for kind in metrics.REPAIRS],
    )


def multiprocess_dir() -> str | None:
    """The multiprocess directory this process writes its samples to, if any."""
    return os.environ.get(MULTIPROC_ENV) or None


def registry(r: Redis) -> CollectorRegistry:
    """A registry for one scrape: the Redis collector and the webhook histogram (every
    gunicorn process's, in multiprocess mode)."""
    found = CollectorRegistry()
    if multiprocess_dir():
        MultiProcessCollector(found)
    else:
        found.register(WEBHOOK_SECONDS)
    found.register(RedisCollector(r))
    return found


def _authorized(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return (
        scheme.lower() == "bearer"
        and bool(given)
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


@bp.get("/metrics")
def scrape() -> Response:
    """The exposition; 404 without METRICS_TOKEN, 401 without the right bearer token."""
    token = get_settings().metrics_token
    if not token:
        abort(404)
    if not _authorized(token):
        response = Response("send Authorization: Bearer <METRICS_TOKEN>\n", 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="hotline-metrics"'
        return response
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry(get_redis())), content_type=content_type)


# --- Timing the webhooks ---------------------------------------------------------------


class WebhookTimer:
    """WSGI middleware: observes the time of every /twilio/ request in WEBHOOK_SECONDS
    (the view's whole work: Flask has the response ready when it returns), by the URL
    rule Flask matched (:func:`_note_route` leaves it in the environ). No Redis."""

    def __init__(self, wsgi_app: Callable[..., Any]):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve the request, timing it if it is a webhook."""
        if not environ.get("PATH_INFO", "").startswith(WEBHOOK_PREFIX):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            route = environ.get(ROUTE_KEY, "unmatched")
            WEBHOOK_SECONDS.labels(route).observe(time.perf_counter() - started)


#: Where :func:`_note_route` leaves the matched URL rule for :class:`WebhookTimer` (Flask
#: takes the request out of the environ when it is done with it).
ROUTE_KEY = "hotline.route"


def _note_route() -> None:
    """The URL rule of this request, kept in its environ (unmatched: nothing kept)."""
    if request.url_rule is not None:
        request.environ[ROUTE_KEY] = request.url_rule.rule


def init_metrics(app: Flask) -> None:
    """Time the webhooks of ``app``. The route is noted by the first before-request hook,
    so one that answers early (a bad signature) is still timed under its route."""
    app.before_request_funcs.setdefault(None, []).insert(0, _note_route)
    app.wsgi_app = WebhookTimer(app.wsgi_app)  # type: ignore[method-assign]
