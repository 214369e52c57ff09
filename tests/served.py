"""Hotline served over HTTP for whole-call tests (end-to-end and browser): the real app on
a free port, the Twilio stand-in connected to it, and real worker processes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import requests
from werkzeug.serving import make_server

from hotline.app import create_app
from routing import keys
from settings import load_settings
from tests.conftest import API_TOKEN, WorkerProcesses, wait_until
from twilio_standin import Script, StandIn
from workers.services import build_services

#: Settings that make a whole day's timers fit in a test (real seconds on our side).
FAST_ENV = {
    "COUNSELOR_RING_SECONDS": "5",
    "CALLER_RING_SECONDS": "5",
    "RETRY_DELAYS": "1,1",
    "WRAPUP_SECONDS": "1",
    "SWEEP_INTERVAL": "1",
    "CALLS_PER_SECOND": "100",
    "LEASE_SECONDS": "30",
}


@dataclass
class Line:
    """A running Hotline and its stand-in Twilio, with helpers that read like the behaviour."""

    base: str
    standin: StandIn
    r: redis.Redis
    workers: WorkerProcesses

    def api(self, method: str, path: str, json: Any = None) -> requests.Response:
        """Call the JSON API with the bearer token."""
        return requests.request(
            method,
            self.base + path,
            json=json,
            timeout=10,
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )

    def counselor(
        self,
        name: str,
        phone: str,
        script: Script | list[Script],
        languages: tuple[str, ...] = ("en", "es"),
        insurance: tuple[str, ...] = (),
    ) -> str:
        """Add a counselor whose phone follows ``script``, and make them available."""
        self.standin.phone(phone, script)
        created = self.api(
            "POST",
            "/api/counselors",
            {
                "name": name,
                "phone": phone,
                "languages": list(languages),
                "insurance": list(insurance),
            },
        )
        assert created.status_code == 201, created.text
        counselor_id = str(created.json()["id"])
        made = self.api("POST", f"/api/counselors/{counselor_id}/status", {"status": "available"})
        assert made.status_code == 200, made.text
        return counselor_id

    def calls_in(self, number: str, ivr: tuple[str | None, ...], *callbacks: Script) -> Any:
        """A person at ``number`` calls and answers the IVR with ``ivr``; their phone then
        behaves as ``callbacks`` (one per callback attempt, the last repeating)."""
        self.standin.phone(
            number, [Script.caller(*ivr), *callbacks] if callbacks else [Script.caller(*ivr)]
        )
        return self.standin.dial_in(number)

    def lead_of(self, call: Any, timeout: float = 20) -> str:
        """The lead id created for an inbound call."""
        return str(wait_until(lambda: self.r.get(keys.CALL_LEAD.format(call.sid)), timeout))

    def lead(self, lead_id: str) -> dict[str, Any]:
        """GET /api/leads/<id>."""
        response = self.api("GET", f"/api/leads/{lead_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_status(self, lead_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
        """The lead once its status is one of ``statuses``."""
        found: dict[str, Any] = {}

        def reached() -> bool:
            found.update(self.lead(lead_id))
            return found["status"] in statuses

        try:
            wait_until(reached, timeout, interval=0.1)
        except AssertionError:
            raise AssertionError(
                f"lead {lead_id} is {found.get('status')}, not {statuses}; "
                f"events {found.get('events')}; stand-in errors {self.standin.webhook_errors}"
            ) from None
        return found

    def counselor_state(self, counselor_id: str) -> dict[str, Any]:
        """GET /api/counselors/<id>."""
        return self.api("GET", f"/api/counselors/{counselor_id}").json()  # type: ignore[no-any-return]

    def legs_to(self, number: str) -> list[Any]:
        """Every call leg the stand-in placed to ``number``, oldest first."""
        return [c for c in self.standin.legs if c.to == number]

    def settle(self) -> None:
        """Wait until every call on the stand-in has ended."""
        wait_until(lambda: all(c.is_final for c in self.standin.legs), 30, interval=0.1)


@pytest.fixture
def start_line(
    standin: StandIn, env: dict[str, str], r: redis.Redis, workers: WorkerProcesses
) -> Iterator[Callable[..., Line]]:
    """``start_line(workers=2, **env)``: serve Hotline over HTTP on a free port (its
    PUBLIC_BASE_URL), connect the stand-in to it, start real worker processes."""
    servers: list[Any] = []

    def start(worker_count: int = 2, speed: float = 50.0, **extra_env: str) -> Line:
        holder: dict[str, Any] = {}
        # Bind first, so PUBLIC_BASE_URL (what Twilio signs) is known before the app exists.
        server = make_server("127.0.0.1", 0, lambda e, s: holder["app"](e, s), threaded=True)
        base = f"http://127.0.0.1:{server.server_port}"
        env.update(FAST_ENV)
        env.update(extra_env)
        env["PUBLIC_BASE_URL"] = base
        settings = load_settings(env)
        holder["app"] = create_app(settings, build_services(settings))
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        servers.append(server)
        standin.clock.set_factor(speed)
        standin.connect(base)
        workers.start(worker_count)
        return Line(base, standin, r, workers)

    yield start
    # Workers first: a dial job running after the stand-in stopped would fail (and log it).
    workers.stop()
    standin.stop()
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def line(start_line: Callable[..., Line]) -> Line:
    """A running Hotline with the fast test timers and two workers."""
    return start_line()
