"""Web processes on more than one machine: two ``hotline web`` processes behind one port (a
round-robin proxy, as a load balancer would be), a busy period of callers through the
stand-in, and people signing in on one process and working on the other. Nothing a request
needs is held in one web process: sessions are signed cookies, CSRF tokens signed, sign-in
limits and everything else in Redis."""

from __future__ import annotations

import itertools
import os
import random
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from routing import keys
from routing.leads import get_lead
from tests.conftest import ROOT, WorkerProcesses, free_port, wait_until
from tests.served import FAST_ENV, Line
from tests.test_commands import healthz
from tests.test_e2e_busy_hour import FINAL, caller, overlaps
from twilio_standin import StandIn
from twilio_standin.simulate import plan_counselor
from workers.child_process import ChildProcess, python_module, stop_all

pytestmark = pytest.mark.e2e

CALLERS = 60
COUNSELORS = 4
#: Hop-by-hop headers a proxy does not pass on (RFC 9110 7.6.1), and what requests redoes.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class RoundRobin:
    """A minimal load balancer: each request goes to the next backend in turn (no stickiness
    at all, the hardest case for state held in a process)."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.turn = itertools.count()
        self.lock = threading.Lock()
        self.served: Counter[int] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            index = next(self.turn) % len(self.backends)
            self.served[index] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = requests.request(
            request.method,
            self.backends[index] + request.full_path.rstrip("?"),
            headers=headers,
            data=request.get_data(),
            allow_redirects=False,
            timeout=30,
        )
        response = Response(upstream.content, upstream.status_code)
        for name, value in upstream.raw.headers.items():
            if name.lower() not in HOP_BY_HOP:
                response.headers.add(name, value)
        return response(environ, start_response)


@pytest.fixture
def two_webs(
    standin: StandIn, env: dict[str, str], r: redis.Redis, workers: WorkerProcesses, tmp_path: Path
) -> Iterator[tuple[Line, RoundRobin]]:
    """Two ``hotline web`` processes (one gunicorn worker each) behind a round-robin proxy
    whose address is PUBLIC_BASE_URL; the stand-in connected to it; two workers."""
    proxy = RoundRobin([])
    server = make_server("127.0.0.1", 0, proxy, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    env.update(FAST_ENV)
    env["PUBLIC_BASE_URL"] = base
    processes: list[ChildProcess] = []
    ports: list[int] = []
    for n in range(2):
        port = free_port()
        ports.append(port)
        processes.append(
            python_module(
                "hotline",
                ["web", "--bind", f"127.0.0.1:{port}"],
                {**os.environ, **env, "WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING"},
                tmp_path / f"web{n}.log",
                cwd=ROOT,
            )
        )
        proxy.backends.append(f"http://127.0.0.1:{port}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        for port in ports:
            wait_until(lambda p=port: healthz(p), timeout=30)
        standin.clock.set_factor(200.0)
        standin.connect(base)
        workers.start(2)
        yield Line(base, standin, r, workers), proxy
    finally:
        workers.stop()
        standin.stop()
        server.shutdown()
        thread.join()
        server.server_close()
        stop_all(processes, 15)


def test_a_busy_period_through_two_web_processes_loses_nothing(
    two_webs: tuple[Line, RoundRobin],
) -> None:
    line, proxy = two_webs
    rng = random.Random(20261203)
    for i in range(COUNSELORS):
        line.counselor(f"C{i}", f"+1212555{2000 + i}", plan_counselor(rng, offers=200))
    numbers = [f"+1415{n}" for n in rng.sample(range(2000000, 9999999), CALLERS)]
    inbound = {}
    for number in numbers:
        ivr, callbacks, _ = caller(rng)
        inbound[number] = line.calls_in(number, ivr, *callbacks)
    wait_until(lambda: all(c.is_final for c in inbound.values()), 60, interval=0.2)

    ids = {n: line.r.get(keys.CALL_LEAD.format(c.sid)) for n, c in inbound.items()}
    assert all(ids.values()), "a caller who reached the IVR has no lead"

    def settled() -> bool:
        return all(get_lead(line.r, i).status in FINAL for i in ids.values())  # type: ignore[union-attr,arg-type]

    wait_until(settled, 90, interval=0.5)
    line.settle()
    assert line.standin.webhook_errors == []
    assert overlaps(line.standin.legs) == []
    statuses = Counter(get_lead(line.r, i).status for i in ids.values())  # type: ignore[union-attr,arg-type]
    assert statuses["connected"] > 0, statuses
    # Both processes served the call steps, alternately.
    assert min(proxy.served.values()) > CALLERS, proxy.served


def test_a_person_signs_in_on_one_process_and_works_on_the_other(
    two_webs: tuple[Line, RoundRobin], r: redis.Redis
) -> None:
    """Each request of a sign-in and a form goes to the other process than the last: the
    sign-in form's CSRF token, the session cookie and a state change all work across them."""
    from hotline import users

    line, proxy = two_webs
    counselor_id = line.counselor("Dana", "+12125553001", plan_counselor(random.Random(1)))
    users.create_user(r, "dana", "a-long-enough-password", "counselor", counselor_id=counselor_id)
    browser = requests.Session()
    served_before = sum(proxy.served.values())

    form = browser.get(f"{line.base}/login", timeout=10)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form.text)
    assert token, form.text[:500]
    signed_in = browser.post(
        f"{line.base}/login",
        data={
            "csrf_token": token.group(1),
            "username": "dana",
            "password": "a-long-enough-password",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    console = browser.get(f"{line.base}/console", timeout=10)
    assert console.status_code == 200 and "Dana" in console.text
    page_token = re.search(r'name="csrf_token" value="([^"]+)"', console.text)
    assert page_token
    offline = browser.post(
        f"{line.base}/console/state",
        data={"csrf_token": page_token.group(1), "state": "offline"},
        allow_redirects=False,
        timeout=10,
    )
    assert offline.status_code in (200, 302, 303), offline.text[:500]
    assert line.counselor_state(counselor_id)["status"] == "offline"
    assert sum(proxy.served.values()) - served_before >= 4
    assert len(proxy.served) == 2
