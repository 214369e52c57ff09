"""Shared fixtures: a private real Redis server, settings, the app, signed Twilio requests,
and real ``hotline worker`` processes."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from hotline.app import create_app
from settings import Settings, load_settings
from workers.child_process import ChildProcess, python_module, stop_all
from workers.redis_server import RedisProcess
from workers.services import Services, build_services

#: Fixtures of whole-call tests (a served Hotline, the stand-in, workers): tests/served.py.
pytest_plugins = ["tests.served"]

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_BASE_URL = "https://hotline.example.org"
ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
API_TOKEN = "test-api-token-0123456789"
#: The call center's time zone in tests: not UTC, so a report that ignored it would show.
TIME_ZONE = "America/Los_Angeles"
ZONE = ZoneInfo(TIME_ZONE)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A redis-server of our own for the whole run (never the machine's shared one)."""
    server = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def env(redis_server: RedisProcess) -> dict[str, str]:
    """The environment a Hotline process gets in tests; tests may change it first."""
    return {
        "REDIS_URL": redis_server.url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": "http://127.0.0.1:9",  # nothing listens: a test that dials
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,  # must point it at a stand-in
        "HOTLINE_API_TOKEN": API_TOKEN,
        "SECRET_KEY": "test-secret-key-0123456789",
        "CALLING_HOURS": "00:00-23:59",
        "REPORT_TIME_ZONE": TIME_ZONE,
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    """Settings built from ``env``, exactly as a process would build them."""
    return load_settings(env)


@pytest.fixture
def r(redis_server: RedisProcess) -> Iterator[redis.Redis]:
    """A client of the private server, emptied after each test (our server, our data)."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def services(settings: Settings, r: redis.Redis) -> Services:
    """Shared clients for the app under test."""
    return build_services(settings)


@pytest.fixture
def app(settings: Settings, services: Services) -> Flask:
    """The app, built by the factory from the test settings."""
    return create_app(settings, services, test_config={"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


class Twilio:
    """Sends requests to our webhooks the way Twilio does: form-encoded and signed."""

    def __init__(self, client: FlaskClient, auth_token: str = AUTH_TOKEN):
        self.client = client
        self.validator = RequestValidator(auth_token)

    def signature(self, path: str, params: dict[str, str]) -> str:
        """X-Twilio-Signature for a POST of ``params`` to ``path``."""
        return str(self.validator.compute_signature(PUBLIC_BASE_URL + path, params))

    def post(self, path: str, params: dict[str, str], **kwargs: Any) -> Any:
        """POST signed, as Twilio would."""
        headers = {"X-Twilio-Signature": self.signature(path, params)}
        headers.update(kwargs.pop("headers", {}))
        return self.client.post(path, data=params, headers=headers, **kwargs)


@pytest.fixture
def twilio(client: FlaskClient) -> Twilio:
    """Signed-webhook helper."""
    return Twilio(client)


def parse_twiml(response: Any) -> ElementTree.Element:
    """The TwiML document of a response, checked to be XML served as text/xml."""
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    return ElementTree.fromstring(response.data)


class WorkerProcesses:
    """Real ``hotline worker`` processes, stopped at the end of the test."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.processes: list[ChildProcess] = []

    def start(self, count: int = 1, **extra_env: str) -> list[ChildProcess]:
        """Start ``count`` workers with the test environment (plus ``extra_env``)."""
        env = {**os.environ, **self.env, **extra_env}
        started = [
            python_module("hotline", ["worker"], env, cwd=ROOT, own_group=False)
            for _ in range(count)
        ]
        self.processes.extend(started)
        return started

    def stop(self) -> None:
        """Stop every worker started (SIGTERM: RQ's warm shutdown; SIGKILL after 10 s)."""
        stop_all(self.processes)


@pytest.fixture
def workers(env: dict[str, str]) -> Iterator[WorkerProcesses]:
    """Start real worker processes with ``workers.start(n)``."""
    pool = WorkerProcesses(env)
    yield pool
    pool.stop()


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


# --- Web users (issue 5: console and dashboard) -----------------------------------------
WEB_PASSWORD = "correct horse battery"


class AuthActions:
    """Create web users and sign in and out through the real forms (with their CSRF token)."""

    def __init__(self, client: FlaskClient, r: redis.Redis):
        self.client = client
        self.r = r

    def create(self, username: str, role: str, counselor_id: str = "") -> Any:
        """A user with WEB_PASSWORD."""
        from hotline.users import create_user

        return create_user(self.r, username, WEB_PASSWORD, role, counselor_id=counselor_id)

    def csrf_token(self, path: str = "/login") -> str:
        """The CSRF token of the form on ``path`` (read from the page, as a browser would)."""
        import re

        page = self.client.get(path, follow_redirects=True).get_data(as_text=True)
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
            r'name="csrf-token" content="([^"]+)"', page
        )
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self, username: str, password: str = WEB_PASSWORD) -> Any:
        """POST the sign-in form."""
        token = self.csrf_token("/login")
        return self.client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )

    def logout(self) -> Any:
        """POST the sign-out form."""
        return self.client.post("/logout", data={"csrf_token": self.csrf_token("/login")})

    def as_role(self, role: str, counselor_id: str = "") -> Any:
        """Create a user of ``role`` (a counselor gets a counselor record) and sign in."""
        if role == "counselor" and not counselor_id:
            from routing.counselors import create_counselor

            counselor_id = create_counselor(self.r, "Dana", "+12125550100", ["en"]).id
        user = self.create(f"{role}-{counselor_id or 'x'}", role, counselor_id=counselor_id)
        response = self.login(user.username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user


@pytest.fixture
def auth(client: FlaskClient, r: redis.Redis) -> AuthActions:
    """Sign-in helper for the web pages."""
    return AuthActions(client, r)


# --- Twilio stand-in (issue 4) ---------------------------------------------------------


@pytest.fixture
def standin(env: dict[str, str]) -> Iterator[Any]:
    """A local Twilio stand-in served in this process on a free port.

    It sets ``env["TWILIO_API_BASE_URL"]`` to itself, so request it *before* ``settings``,
    ``app`` or ``workers`` (list it first in the test's arguments): everything built from
    ``env`` afterwards talks to it. ``standin.calls`` records REST-created calls with their
    parameters; ``standin.fail_next(429, 20429, "Too Many Requests")`` injects REST errors.
    The voice side is off (calls are only recorded) until ``standin.connect(url)`` or
    ``standin.attach(app, PUBLIC_BASE_URL)``; time runs 50 times faster than real time.
    """
    from twilio_standin import Clock, StandIn

    stand_in = StandIn(
        env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"], clock=Clock(50.0)
    ).start()
    env["TWILIO_API_BASE_URL"] = stand_in.url
    yield stand_in
    stand_in.stop()


# --- Callers (issue 2: intake) ---------------------------------------------------------


@pytest.fixture
def dial_in(twilio: Twilio) -> Any:
    """``dial_in(number="+12125550147")``: a new inbound caller (see tests/callers.py)."""
    from tests.callers import Caller

    def new_caller(number: str | None = "+12125550147", call_sid: str = "") -> Caller:
        return Caller(twilio, number, call_sid)

    return new_caller


class Floor:
    """The call floor for web tests, driven through the routing modules' public functions:
    callers waiting, counselors, and a callback going from offer to bridge to hang-up."""

    def __init__(self, r: redis.Redis, settings: Settings):
        self.r = r
        self.settings = settings
        self.phones = iter(f"+1212555{n:04d}" for n in range(1000, 9999))

    def caller_waiting(self, ago: float = 60, **fields: Any) -> Any:
        """A lead in line that first called ``ago`` seconds ago."""
        from routing import leads, queue
        from tests import records

        now = time.time()
        lead = leads.Lead(
            id=records.new_lead_id(self.r),
            call_sid="CA" + "0" * 32,
            phone=next(self.phones),
            first_call_at=now - ago,
            created_at=now - ago,
            consent_at=now - ago,
            status=leads.LeadStatus.WAITING.value,
            **fields,
        )
        records.save_lead(self.r, lead)
        self.r.zadd(keys_mod().LEADS_BY_TIME, {lead.id: lead.created_at})
        queue.add_waiting(self.r, self.settings, lead)
        return lead

    def counselor(
        self, name: str = "Dana", languages: tuple[str, ...] = ("en",), available: bool = True
    ) -> Any:
        """A counselor (available unless told otherwise)."""
        from routing import counselors

        c = counselors.create_counselor(self.r, name, next(self.phones), list(languages))
        if available:
            counselors.make_available(self.r, c)
        return counselors.get_counselor(self.r, c.id)

    def offer(self) -> list[str]:
        """Run matching: the reservation ids made."""
        from routing.matching import match

        return match(self.r, self.settings)

    def bridge(self, reservation_id: str) -> None:
        """The counselor answers, accepts, and the caller picks up (a person, per AMD)."""
        from routing import callbacks

        r, settings = self.r, self.settings
        callbacks.call_placed(r, settings, reservation_id, "CA" + "1" * 32)
        assert callbacks.counselor_answered(r, settings, reservation_id, "human")
        assert callbacks.accept(r, settings, reservation_id)
        assert callbacks.caller_answered(r, settings, reservation_id, "CA" + "2" * 32)
        callbacks.machine_detected(r, reservation_id, "human")
        assert callbacks.screen(r, settings, reservation_id, None) is callbacks.Screen.BRIDGE

    def hang_up(self, reservation_id: str) -> str:
        """The bridged call ends (the counselor goes into wrap-up; their phone hangs up)."""
        from routing import callbacks

        result = callbacks.DialResult("completed", bridged=True, parent_status="in-progress")
        ended = callbacks.caller_leg_ended(self.r, self.settings, reservation_id, result)
        callbacks.counselor_leg_ended(self.r, self.settings, reservation_id, "completed")
        return ended.lead_status if ended is not None else ""


def keys_mod() -> Any:
    """routing.keys (imported late, like the other domain modules here)."""
    from routing import keys

    return keys


@pytest.fixture
def floor(r: redis.Redis, settings: Settings) -> Floor:
    """Callers, counselors and callbacks for web tests."""
    return Floor(r, settings)
