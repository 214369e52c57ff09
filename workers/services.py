"""Shared clients (Redis, RQ queues, Twilio), built once per process by :func:`build_services`.

Nothing connects at import time: the web app's factory and a worker's start-up build them,
and they connect lazily on first use. The web reaches them through ``hotline.services``.

Every Redis client has timeouts (REDIS_SOCKET_TIMEOUT, REDIS_CONNECT_TIMEOUT): a hung Redis
must fail a webhook in time for it to still answer Twilio, which gives up after 15 s. A
command that timed out is never retried: it may have run (a write that is not idempotent).

RQ's worker blocks in BLPOP for its dequeue timeout (worker TTL - 15 s, 405 s by default),
longer than any sensible socket timeout. RQ knows: ``Worker(connection=...)`` raises the
socket timeout in the client's pool to dequeue timeout + 10 s when it is lower
(``rq.worker.base.BaseWorker._set_connection``). That changes connections made afterwards
only, so a worker must be built on a ``rq_redis`` that has not run a command yet, as
``build_services`` returns it. The web app keeps the short timeout for its enqueues.

With REDIS_SENTINELS set, both clients come from redis-py's ``Sentinel.master_for``: the
same timeouts, health checks and no retries, over a ``SentinelConnectionPool`` that asks the
Sentinels where the primary is whenever it opens a connection, and drops connections to a
primary that was demoted (a READONLY reply). So after a failover every process finds the new
primary by itself; Lua scripts the new primary has never seen are loaded again by redis-py's
``Script`` on NOSCRIPT (routing/scripts.py). RQ takes such a client as it is: its scheduler
copies the pool's connection class and arguments, Sentinel's included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel
from rq import Queue
from rq.serializers import JSONSerializer
from twilio.rest import Client as TwilioClient

from workers.redis_server import ensure_embedded_redis

if TYPE_CHECKING:
    from settings import Settings

#: RQ queue that places outbound calls (counselor legs).
DIAL_QUEUE = "hotline-dial"
#: RQ queue for everything else (matching, timers, housekeeping).
DEFAULT_QUEUE = "hotline-default"
#: Seconds a job's result is kept; results hold ids only.
RESULT_TTL = 300
#: Seconds a pooled Redis connection may sit idle before it is checked with a PING before
#: use (a connection dropped by a restart or a NAT is then replaced, not used and failed).
HEALTH_CHECK_INTERVAL = 30


@dataclass
class Services:
    """What the app and the workers share."""

    settings: Settings
    #: Client for Hotline's own keys (str in, str out).
    redis: Redis
    #: Client for RQ, which needs bytes.
    rq_redis: Redis
    queues: dict[str, Queue] = field(default_factory=dict)
    twilio: TwilioClient | None = None

    def queue(self, name: str = DEFAULT_QUEUE) -> Queue:
        """An RQ queue by name (JSON serializer: jobs carry ids only)."""
        if name not in self.queues:
            self.queues[name] = Queue(name, connection=self.rq_redis, serializer=JSONSerializer)
        return self.queues[name]


def redis_url_for(settings: Settings) -> str:
    """The Redis URL to use, starting the embedded server if REDIS_URL is unset."""
    if settings.redis_url:
        return settings.redis_url
    return ensure_embedded_redis(settings.var_dir)


def build_twilio_client(settings: Settings) -> TwilioClient:
    """A twilio Client whose REST calls go to TWILIO_API_BASE_URL."""
    client = TwilioClient(settings.twilio_account_sid, settings.twilio_auth_token)
    # The Api domain's base URL is the one seam the library offers for another host.
    client.api.base_url = settings.twilio_api_base_url
    return client


def _client_options(settings: Settings) -> dict[str, Any]:
    """What every Redis client of Hotline's has: timeouts, health checks, no retries."""
    return {
        "socket_timeout": settings.redis_socket_timeout,
        "socket_connect_timeout": settings.redis_connect_timeout,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        # A timed-out command may have run: retrying it could apply a write twice.
        "retry": Retry(NoBackoff(), 0),
    }


def build_redis_client(url: str, settings: Settings, *, decode_responses: bool) -> Redis:
    """A Redis client with the configured timeouts, which never retries a command."""
    return Redis.from_url(url, decode_responses=decode_responses, **_client_options(settings))


def build_sentinel(settings: Settings) -> Sentinel:
    """A redis-py Sentinel manager over REDIS_SENTINELS (no connection made yet)."""
    return Sentinel(
        list(settings.redis_sentinels),
        # The Sentinels' own connections: the same timeouts, their own password.
        sentinel_kwargs={
            "socket_timeout": settings.redis_socket_timeout,
            "socket_connect_timeout": settings.redis_connect_timeout,
            "password": settings.redis_sentinel_password or None,
        },
    )


def build_sentinel_client(
    sentinel: Sentinel, settings: Settings, *, decode_responses: bool
) -> Redis:
    """A client of the primary the Sentinels name, with the options of
    ``build_redis_client``; it follows a failover by itself."""
    return sentinel.master_for(
        settings.sentinel_master,
        decode_responses=decode_responses,
        password=settings.redis_password or None,
        **_client_options(settings),
    )


def build_services(settings: Settings, redis_url: str | None = None) -> Services:
    """Create (but do not connect) every shared client."""
    if settings.redis_sentinels and redis_url is None:
        sentinel = build_sentinel(settings)
        return Services(
            settings=settings,
            redis=build_sentinel_client(sentinel, settings, decode_responses=True),
            rq_redis=build_sentinel_client(sentinel, settings, decode_responses=False),
            twilio=build_twilio_client(settings),
        )
    url = redis_url or redis_url_for(settings)
    return Services(
        settings=settings,
        redis=build_redis_client(url, settings, decode_responses=True),
        rq_redis=build_redis_client(url, settings, decode_responses=False),
        twilio=build_twilio_client(settings),
    )
