"""A Redis that is down or hung: every client times out in time, and /healthz says so in JSON.

A hung Redis is a private redis-server stopped with SIGSTOP: it still accepts connections
on its socket (the kernel does that) but never answers, which is what a wedged or swapping
server looks like to a client.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from rq import Queue, Worker
from rq.exceptions import DequeueTimeout
from rq.serializers import JSONSerializer

from hotline.app import create_app
from settings import Settings, load_settings
from workers.child_process import ChildProcess
from workers.redis_server import RedisProcess
from workers.services import HEALTH_CHECK_INTERVAL, Services, build_services

#: Small timeouts, so a hung Redis is noticed quickly in tests.
SOCKET_TIMEOUT = 0.5
CONNECT_TIMEOUT = 0.3


class Server:
    """A private redis-server of one test, which the test may hang or stop."""

    def __init__(self, process: RedisProcess):
        self.process = process
        self.url = process.url

    @property
    def child(self) -> ChildProcess:
        assert self.process.process is not None
        return self.process.process

    def hangs(self) -> None:
        """The server stops answering (SIGSTOP) but keeps its socket."""
        self.child.signal(signal.SIGSTOP)

    def resumes(self) -> None:
        """The server answers again (SIGCONT), if it still runs."""
        self.child.signal(signal.SIGCONT)

    def stops(self) -> None:
        """The server is gone (its socket file stays, refusing connections)."""
        self.resumes()  # a stopped process would not act on SIGTERM
        self.process.stop()


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A redis-server for this test only (the session's one is never hung)."""
    own = Server(RedisProcess(tmp_path_factory.mktemp("hung")).start())
    try:
        yield own
    finally:
        own.stops()


@pytest.fixture
def hung_settings(env: dict[str, str], server: Server) -> Settings:
    """Settings pointing at the test's own server, with small Redis timeouts."""
    return load_settings(
        {
            **env,
            "REDIS_URL": server.url,
            "REDIS_SOCKET_TIMEOUT": str(SOCKET_TIMEOUT),
            "REDIS_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        }
    )


@pytest.fixture
def own_services(hung_settings: Settings) -> Iterator[Services]:
    built = build_services(hung_settings)
    yield built
    built.redis.close()
    built.rq_redis.close()


@pytest.fixture
def health_app(own_services: Services) -> Flask:
    """The whole app (every blueprint and hook) on the test's own server."""
    return create_app(own_services.settings, own_services, test_config={"TESTING": True})


# --- the clients ---------------------------------------------------------------------------


def test_every_client_carries_the_timeouts_from_settings(env: dict[str, str]) -> None:
    settings = load_settings({**env, "REDIS_SOCKET_TIMEOUT": "4.5", "REDIS_CONNECT_TIMEOUT": "1"})
    built = build_services(settings)
    for client in (built.redis, built.rq_redis):
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == 4.5
        assert kwargs["socket_connect_timeout"] == 1.0
        assert kwargs["health_check_interval"] == HEALTH_CHECK_INTERVAL == 30
        connection = client.connection_pool.make_connection()
        assert connection.retry.get_retries() == 0  # a timed-out write is never sent again
        connection.disconnect()


def test_defaults_answer_before_twilio_gives_up(settings: Settings) -> None:
    # Twilio waits 15 s for a webhook: connecting and one command must fit, with room left.
    assert (settings.redis_socket_timeout, settings.redis_connect_timeout) == (5.0, 2.0)
    kwargs = build_services(settings).redis.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] + kwargs["socket_connect_timeout"] < 15


@pytest.mark.parametrize("which", ["redis", "rq_redis"])
def test_a_hung_redis_raises_a_timeout_within_the_socket_timeout(
    server: Server, own_services: Services, which: str
) -> None:
    client: redis.Redis = getattr(own_services, which)
    assert client.ping()  # a pooled connection, made while the server answered
    server.hangs()
    for _ in range(2):  # on that connection, then on a new one (the socket still accepts)
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.set("hotline:test", "1")
        assert time.monotonic() - started < SOCKET_TIMEOUT + 1.5  # one try: no retry
    server.resumes()
    assert client.ping()  # it recovers once the server does


def test_a_stopped_redis_is_a_connection_error(server: Server, own_services: Services) -> None:
    server.stops()
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        own_services.redis.ping()
    assert time.monotonic() - started < CONNECT_TIMEOUT + 1.5


def test_an_idle_worker_outlives_the_socket_timeout(server: Server, own_services: Services) -> None:
    """RQ's worker blocks in BLPOP longer than REDIS_SOCKET_TIMEOUT; RQ raises the socket
    timeout of the client it is given, so an empty queue is a DequeueTimeout, not an error."""
    queue = Queue("hotline-test", connection=own_services.rq_redis, serializer=JSONSerializer)
    worker = Worker([queue], connection=own_services.rq_redis, worker_ttl=17)
    assert worker.dequeue_timeout == 2 > SOCKET_TIMEOUT
    timeout = own_services.rq_redis.connection_pool.connection_kwargs["socket_timeout"]
    assert timeout > worker.dequeue_timeout
    started = time.monotonic()
    with pytest.raises(DequeueTimeout):
        Queue.dequeue_any([queue], worker.dequeue_timeout, connection=own_services.rq_redis)
    assert time.monotonic() - started >= worker.dequeue_timeout
    # Why it matters: with the web app's short timeout, the same idle wait is an error.
    short = build_services(own_services.settings).rq_redis
    with pytest.raises(redis.TimeoutError):
        Queue.dequeue_any([queue], 2, connection=short)
    short.close()


# --- /healthz -------------------------------------------------------------------------------


def test_healthz_ok_when_redis_answers(health_app: Flask) -> None:
    response = health_app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "redis": "ok"}


def test_healthz_is_503_json_when_redis_hangs(server: Server, health_app: Flask) -> None:
    client = health_app.test_client()
    assert client.get("/healthz").status_code == 200
    server.hangs()
    started = time.monotonic()
    response = client.get("/healthz")
    assert time.monotonic() - started < SOCKET_TIMEOUT + 1.5
    assert response.status_code == 503 and response.mimetype == "application/json"
    assert response.get_json() == {"status": "unavailable", "redis": "TimeoutError"}
    server.resumes()
    assert client.get("/healthz").get_json() == {"status": "ok", "redis": "ok"}


def test_healthz_is_503_json_when_redis_is_down(server: Server, health_app: Flask) -> None:
    server.stops()
    response = health_app.test_client().get("/healthz")
    assert response.status_code == 503 and response.mimetype == "application/json"
    assert response.get_json() == {"status": "unavailable", "redis": "ConnectionError"}
